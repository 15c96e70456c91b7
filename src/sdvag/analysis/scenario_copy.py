"""A scenario baked into a model file, and the proof that it runs as the scenario does.

Another engine (Simlin, for the loop analysis) or another editor (Stella, after `export --to
xmile`) only sees the model file, so the scenario's changes are written into a copy of it
(sdvag.simulation.bake). The copy is then compiled and run by sdvag like any model, and every
variable must equal the scenario's run to 1e-9 (relative to its largest magnitude) before it
is used: a copy that does not is refused, never silently analysed in place of the scenario.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from sdvag.analysis.checks import trajectory_differences
from sdvag.errors import SdvagError
from sdvag.simulation.bake import bake
from sdvag.simulation.scenario import Scenario, load_scenario
from sdvag.simulation.simulate import Simulator

TOLERANCE = 1e-9


@dataclass
class ScenarioCopy:
    scenario: Scenario
    xmile: bytes          # the model file with the scenario applied
    run: xr.Dataset       # the scenario's run (equal to the copy's, variable by variable)
    difference: float     # the largest relative difference found between the two


def scenario_copy(scenario: Scenario) -> ScenarioCopy:
    """Bake `scenario` into a model file and check that the file runs as the scenario does."""
    sim = Simulator.for_scenario(scenario)
    ds = sim.run(scenario)
    data = bake(sim, scenario)
    with tempfile.TemporaryDirectory(prefix="sdvag-copy-") as tmp:
        path = Path(tmp) / f"{scenario.name}{scenario.model.suffix}"
        path.write_bytes(data)
        copy_run = Simulator(path).run(load_scenario(path))
    where = f"{scenario.path or scenario.model}"
    missing = ~np.isin(np.round(ds["time"].to_numpy(), 9), np.round(copy_run["time"].to_numpy(), 9))
    if missing.any():
        raise SdvagError(f"{where}: the scenario-applied copy of the model does not reach time "
                         f"{float(ds['time'][np.argmax(missing)]):g}; not used")
    diffs = trajectory_differences(ds, copy_run.to_dataframe())
    wrong = sorted((d, name) for name, d in diffs.items() if not d <= TOLERANCE)
    if wrong:
        d, name = wrong[-1]
        raise SdvagError(f"{where}: the scenario-applied copy of the model runs differently from the "
                         f"scenario ({len(wrong)} variables, '{name}' by {d:.1e}); not used")
    return ScenarioCopy(scenario, data, ds, max(diffs.values(), default=0.0))
