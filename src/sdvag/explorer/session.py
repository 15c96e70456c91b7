"""What one explorer page holds, without any web framework: the scenario, the slider values,
the last good runs, the Monte Carlo band, and saving them.

Every change is checked and run before it is kept, so a bad value or a scenario that does not
load leaves the last good state in place and only says why (an SdvagError, shown on the page).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from sdvag.analysis.stages import STAGE_VARIABLE, stage_changes, stage_names
from sdvag.errors import SdvagError
from sdvag.model.shipped import shipped_scenarios
from sdvag.model.views import sectors
from sdvag.model.xmile import read_model
from sdvag.simulation.scenario import Scenario, load_scenario
from sdvag.simulation.simulate import columns_of, default_outputs, run

BAND_RUNS = 16  # a PySD ensemble run in this process: about 0.1-0.5 s a run on cluster_evolution
BAND_SEED = 2024
OTHER_SECTOR = "Other constants"


@dataclass(frozen=True)
class Slider:
    """A constant the user can move, within its XMILE <range>."""

    name: str
    sector: str
    low: float
    high: float
    value: float
    units: str
    doc: str


def scenario_choices(extra=()) -> dict[str, str]:
    """{label: path} of the user's scenarios and models (first) and the shipped scenarios."""
    choices = {Path(t).stem: str(Path(t).resolve()) for t in extra}
    for path in shipped_scenarios():
        choices.setdefault(path.stem, str(path))
    return choices


def parse_number(name: str, text) -> float:
    """A finite number from what the user typed, or an SdvagError naming the constant."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise SdvagError(f"{name}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SdvagError(f"{name}: {text!r} is not a finite number")
    return value


class Session:
    """The state behind one page. `load`, `set` and `band` change it only when they succeed."""

    def __init__(self, target: str | Path):
        self.band_names: list[str] = []
        self.band_data: xr.Dataset | None = None
        self.load(target)

    def load(self, target: str | Path) -> None:
        """Switch to a scenario (or a model on its defaults): its run becomes the base run."""
        base = load_scenario(target)
        base_run = run(base)
        info = read_model(base.model)
        self.base, self.base_run, self.current_run = base, base_run, base_run
        self.values: dict[str, float] = {}
        self.outputs = [column for name in base.outputs or default_outputs(info)  # arrays by element
                        for column in columns_of(base_run, name)]
        self.stage_labels = stage_names(info.variables[STAGE_VARIABLE].doc) \
            if STAGE_VARIABLE in info.variables else {}
        sector_of = sectors(info)
        self.sliders = [Slider(v.name, sector_of.get(v.name, OTHER_SECTOR), *v.range,
                               base.constants.get(v.name, v.default), v.units, " ".join(v.doc.split()))
                        for v in info.variables.values() if v.is_constant and v.range]
        self.unranged = [v.name for v in info.variables.values() if v.is_constant and not v.range]
        self.band_names = [n for n in self.band_names if n in self.slider_names()]
        self.band_data = None

    def slider_names(self) -> list[str]:
        return [s.name for s in self.sliders]

    def scenario(self, values: dict[str, float] | None = None) -> Scenario:
        """The base scenario with the slider values (or `values`) applied."""
        values = self.values if values is None else values
        return dataclasses.replace(self.base, constants={**self.base.constants, **values})

    def set(self, name: str, text) -> None:
        """Move one constant (a number or typed text): checked against its range, then run."""
        slider = next((s for s in self.sliders if s.name == name), None)
        if slider is None:
            raise SdvagError(f"{name}: not a constant with a range in {self.base.model.name}")
        value = parse_number(name, text)
        if not slider.low <= value <= slider.high:
            raise SdvagError(f"{name}: {value:g} is outside its range [{slider.low:g}, {slider.high:g}] "
                             f"({slider.units or 'no units'})")
        values = {**self.values, name: value}
        self.current_run = run(self.scenario(values))
        self.values = values
        if self.band_names:
            self.band(self.band_names)

    def band(self, names: list[str], runs: int = BAND_RUNS) -> xr.Dataset | None:
        """Percentile bands (5, 25, 50, 75, 95) of the outputs over a Latin-hypercube sample of
        the constants `names`, uniform over their ranges, around the current settings."""
        unknown = [n for n in names if n not in self.slider_names()]
        if unknown:
            raise SdvagError(f"{', '.join(unknown)}: not constants with a range in {self.base.model.name}")
        if not names:
            self.band_names, self.band_data = [], None
            return None
        elements = [o for o in self.plotted() if o not in read_model(self.base.model).variables]
        if elements:
            raise SdvagError(f"Monte Carlo bands are drawn for outputs with a single value; "
                             f"{', '.join(elements)} are elements of arrays")
        from sdvag.analysis.sensitivity import sensitivity
        result = sensitivity(self.scenario(), list(names), samples=runs, design="latin", seed=BAND_SEED,
                             indices=False, workers=1, outputs=self.plotted())
        self.band_names, self.band_data = list(names), result.bands()
        return self.band_data

    def loop_dominance(self) -> list[tuple[float, float, str, str]]:
        """(start, end, dominant loops, their polarity) in the current run, by Loops That Matter
        (computed by Simlin, the engine extra), in the feedback subsystems of more than one loop."""
        from sdvag.analysis.loops import available, loops
        if not available():
            raise SdvagError('loop dominance needs Simlin: pip install -e ".[engine]"')
        result = loops(self.scenario())
        names = dict(zip(result.loops["id"], result.loops["name"]))
        size = result.loops.groupby("partition")["id"].count()
        rows = result.dominance[result.dominance["partition"].map(size) > 1]
        return [(float(r.start), float(r.end), ", ".join(f"{i} {names[i]}" for i in r.loops), r.polarity)
                for r in rows.itertuples()]

    def plotted(self) -> list[str]:
        """The key outputs drawn as lines (the stage indicator is drawn as a band instead)."""
        return [o for o in self.outputs if o != STAGE_VARIABLE]

    def finals(self) -> dict[str, float]:
        """The final value of each plotted output in the current run."""
        return {o: float(self.current_run[o].isel(time=-1)) for o in self.plotted()}

    def stages(self, ds: xr.Dataset | None = None) -> list[tuple[float, float, int, str]]:
        """(start, end, code, name) of each stage period of a run (default: the current run)."""
        ds = self.current_run if ds is None else ds
        if STAGE_VARIABLE not in ds:
            return []
        changes = stage_changes(ds)
        end = float(ds["time"].isel(time=-1))
        ends = [t for t, _ in changes[1:]] + [end]
        return [(t, e, code, self.stage_labels.get(code, f"stage {code}"))
                for (t, code), e in zip(changes, ends)]
