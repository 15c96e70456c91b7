"""sdvag: system-dynamics models of traditional and virtual industrial clusters.

The pipeline, one module a step: xmile (read a model file) -> support (refuse what PySD cannot
simulate) -> translate (XMILE -> PySD, cached) -> scenario (TOML, checked) -> simulate
(-> xarray.Dataset) -> stages and the other analyses -> report (tables, plots, files) -> cli.
"""
__version__ = "0.1.0"

from .errors import SdvagError, UnsupportedFeature  # noqa: E402
from .scenario import Scenario, load_scenario  # noqa: E402
from .simulate import Simulator, compare, run  # noqa: E402
from .stages import stage_changes  # noqa: E402
from .xmile import read_model  # noqa: E402


def __getattr__(name):
    """calibrate and sensitivity load scipy.optimize and scipy.stats: imported when first used,
    so that `python -m sdvag run` starts quickly. (Their modules are named differently from
    the functions, so that importing a module never hides a function.)"""
    if name == "calibrate":
        from .calibration import calibrate
        return calibrate
    if name == "sensitivity":
        from .sensitivity_analysis import sensitivity
        return sensitivity
    raise AttributeError(f"module 'sdvag' has no attribute {name!r}")


__all__ = ["SdvagError", "UnsupportedFeature", "Scenario", "load_scenario", "Simulator",
           "compare", "run", "stage_changes", "read_model", "calibrate", "sensitivity",
           "__version__"]
