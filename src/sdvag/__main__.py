"""`python -m sdvag`. The command line imports the heavy modules only once its signal handlers
are in place, so Ctrl-C or SIGTERM while it starts ends as quietly as later (exit status 130)."""
import sys

try:
    from sdvag.cli.main import main
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
sys.exit(main())
