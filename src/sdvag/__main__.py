"""`python -m sdvag`. The command line imports the heavy modules only once its signal handlers
are in place, so Ctrl-C or SIGTERM while it starts ends as quietly as later (exit status 130)."""
import sys

if "--scheduler" not in " ".join(sys.argv):
    # xarray imports dask (about 0.4 s) whenever it is installed, only to ask whether arrays are
    # dask arrays; a command that uses no Dask cluster tells it, before xarray loads, that dask is
    # absent (a None entry in sys.modules is Python's "not importable", and xarray then skips it).
    for _name in ("dask", "distributed"):
        sys.modules.setdefault(_name, None)

try:
    from sdvag.cli.main import main
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
sys.exit(main())
