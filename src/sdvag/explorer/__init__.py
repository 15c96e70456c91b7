"""The interactive explorer (step 6): `python -m sdvag explore` and `sdvag.explore` in Jupyter.

Panel is an optional extra (`pip install -e ".[explore]"`); without it, one clear error."""
from sdvag.errors import SdvagError


def _app():
    try:
        from sdvag.explorer import app
    except ModuleNotFoundError as exc:
        if exc.name not in ("panel", "bokeh"):
            raise
        raise SdvagError('the explorer needs Panel: pip install -e ".[explore]"') from None
    return app


def explore(*targets, folder="explorer_saved"):
    """The explorer for these scenarios or models (default: the shipped scenarios, the
    traditional baseline first) as a Panel object, shown when it is a notebook cell's result."""
    return _app().explore(*targets, folder=folder)


def serve(targets=(), port=None, folder="explorer_saved", announce=print) -> None:
    """Serve the explorer on 127.0.0.1 until interrupted; `announce` gets its address."""
    _app().serve(targets, port=port, folder=folder, announce=announce)
