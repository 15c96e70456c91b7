"""`python -m sdvag`: Ctrl-C or SIGTERM while the modules load ends quietly too (exit 130)."""
import signal
import sys


def _terminate(signum, frame):
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, _terminate)
try:
    from sdvag.cli.main import main
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
sys.exit(main())
