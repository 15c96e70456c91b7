"""sdvag: system-dynamics models of traditional and virtual industrial clusters.

The pipeline, one subpackage a step, each importing only the steps before it: model (read a
model file, refuse what PySD cannot simulate, compile it) -> simulation (scenarios, runs and
ensembles, as xarray Datasets) -> analysis (stages, checks, calibration, sensitivity) -> report
(tables, plots, files, exports) -> cli. Below them all: errors, files, formatting, data.
"""
from sdvag.version import __version__  # noqa: E402
from sdvag.errors import SdvagError, UnsupportedFeature  # noqa: E402

_LAZY = {"Scenario": "sdvag.simulation.scenario", "load_scenario": "sdvag.simulation.scenario",
         "Simulator": "sdvag.simulation.simulate", "compare": "sdvag.simulation.simulate",
         "run": "sdvag.simulation.simulate", "stage_changes": "sdvag.analysis.stages",
         "read_model": "sdvag.model.xmile", "calibrate": "sdvag.api", "sensitivity": "sdvag.api"}


def __getattr__(name):
    """The public API, imported when first used: PySD, xarray and scipy load only when needed,
    so that `python -m sdvag` can decide first whether it needs Dask (see __main__), and
    `run` starts quickly. (calibrate and sensitivity live in modules named differently from
    the functions, so that importing a module never hides a function.)"""
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sdvag' has no attribute {name!r}")


__all__ = ["SdvagError", "UnsupportedFeature", "Scenario", "load_scenario", "Simulator",
           "compare", "run", "stage_changes", "read_model", "calibrate", "sensitivity",
           "__version__"]
