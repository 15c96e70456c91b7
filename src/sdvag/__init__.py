"""sdvag: system-dynamics models of traditional and virtual industrial clusters.

The pipeline, one subpackage a step, each importing only the steps before it: model (read a
model file, refuse what PySD cannot simulate, compile it) -> simulation (scenarios, runs and
ensembles, as xarray Datasets) -> analysis (stages, checks, calibration, sensitivity) -> report
(tables, plots, files, exports) -> cli. Below them all: errors, files, formatting, data.
"""
from sdvag.version import __version__  # noqa: E402
from sdvag.errors import SdvagError, UnsupportedFeature  # noqa: E402

# The public API, imported when first used: `import sdvag` (and so `python -m sdvag`) stays
# quick, and an interruption while the command line starts is handled by it. (Modules are
# named differently from the functions, so that importing a module never hides a function.)
_LAZY = {
    "Scenario": "sdvag.simulation.scenario", "load_scenario": "sdvag.simulation.scenario",
    "Simulator": "sdvag.simulation.simulate", "compare": "sdvag.simulation.simulate",
    "run": "sdvag.simulation.simulate", "stage_changes": "sdvag.analysis.stages",
    "stage_names": "sdvag.analysis.stages", "read_model": "sdvag.model.xmile",
    "calibrate": "sdvag.api", "sensitivity": "sdvag.api", "loops": "sdvag.api", "knockout": "sdvag.api",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "explore":  # Panel: an optional extra, imported only here
        from sdvag.explorer import explore
        return explore
    raise AttributeError(f"module 'sdvag' has no attribute {name!r}")


__all__ = ["SdvagError", "UnsupportedFeature", *_LAZY, "explore", "__version__"]
