"""sdvag: system-dynamics models of traditional and virtual industrial clusters.

The pipeline, one subpackage a step, each importing only the steps before it: model (read a
model file, refuse what PySD cannot simulate, compile it) -> simulation (scenarios, runs and
ensembles, as xarray Datasets) -> analysis (stages, checks, calibration, sensitivity) -> report
(tables, plots, files, exports) -> cli. Below them all: errors, files, formatting, data.
"""
from sdvag.version import __version__  # noqa: E402
from sdvag.errors import SdvagError, UnsupportedFeature  # noqa: E402
from sdvag.simulation.scenario import Scenario, load_scenario  # noqa: E402
from sdvag.simulation.simulate import Simulator, compare, run  # noqa: E402
from sdvag.analysis.stages import stage_changes  # noqa: E402
from sdvag.model.xmile import read_model  # noqa: E402


def __getattr__(name):
    """calibrate, sensitivity, loops and knockout load scipy, Simlin...: imported when first used,
    so that `python -m sdvag run` starts quickly. (Their modules are named differently from
    the functions, so that importing a module never hides a function.)"""
    if name in ("calibrate", "sensitivity", "loops", "knockout"):
        from sdvag import api
        return getattr(api, name)
    if name == "explore":  # Panel: an optional extra, imported only here
        from sdvag.explorer import explore
        return explore
    raise AttributeError(f"module 'sdvag' has no attribute {name!r}")


__all__ = ["SdvagError", "UnsupportedFeature", "Scenario", "load_scenario", "Simulator",
           "compare", "run", "stage_changes", "read_model", "calibrate", "sensitivity",
           "loops", "knockout", "explore",
           "__version__"]
