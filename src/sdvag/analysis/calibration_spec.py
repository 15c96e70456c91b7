"""Calibration specifications (TOML): what to fit, to which observed series, checked before any run.

A specification names the scenario to start from, the constants to fit (bounds default to the
variable's XMILE <range>) and the targets: an observed series, the model variable it measures,
the factor from the variable's units to the series' unit, a weight, and for the Bayesian method
an observation-error model; each observed value keeps its `timing` (when and how it was
measured, see sdvag.analysis.observation). Every problem is reported on a line of its own, as
for scenarios.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sdvag import data as observed
from sdvag.data import window
from sdvag.errors import SdvagError
from sdvag.simulation.scenario import Checker, Scenario, ScenarioError, load_scenario, read_toml, suggest, time_settings
from sdvag.model.units import DIMENSIONLESS_NAMES
from sdvag.model.xmile import MODEL_SUFFIXES, Variable, read_model

SPEC_KEYS = ("scenario", "name", "title", "description", "data", "sheet", "method", "seed", "loss",
             "loss_scale", "options", "parameters", "targets")
METHODS = ("local", "global", "multistart", "mcmc")
LOSSES = ("linear", "soft_l1", "huber", "cauchy")
OPTION_KEYS = ("max_runs", "maxiter", "popsize", "starts", "tol", "walkers", "steps", "burn", "draws")
PARAMETER_KEYS = ("name", "min", "max", "prior")
PRIORS = ("uniform", "loguniform", "normal")
TARGET_KEYS = ("series", "variable", "factor", "weight", "denominator", "error", "sigma")
ERRORS = ("lognormal", "normal")
PERCENT_UNITS = {"percent", "%", "percentage", "pct"}


class SpecError(ScenarioError):
    """All the problems found in one calibration specification, one line each."""


@dataclass(frozen=True)
class Parameter:
    """A constant to fit, within [low, high]. `prior` (mcmc): ('uniform',), ('loguniform',) or
    ('normal', mean, sd), always truncated to the bounds."""

    name: str
    low: float
    high: float
    start: float
    prior: tuple = ("uniform",)


@dataclass(frozen=True)
class Target:
    """An observed series and the model variable that measures it (model value x factor), each
    value with its timing. `error` is the observation-error model of the Bayesian method:
    'lognormal' (multiplicative: log data = log model + N(0, sigma), sigma a relative error) or
    'normal' (additive, sigma in the series' unit); `sigma` None means estimated."""

    series: str
    variable: str
    factor: float
    weight: float
    unit: str
    years: tuple[float, ...]
    values: tuple[float, ...]
    status: tuple[str, ...]
    timings: tuple[str, ...] = ()
    denominator: str | None = None
    error: str = "lognormal"
    sigma: float | None = None

    def record(self) -> dict:
        extra = {k: v for k, v in (("denominator", self.denominator), ("sigma", self.sigma)) if v is not None}
        return {"series": self.series, "variable": self.variable, "factor": self.factor,
                "weight": self.weight, "error": self.error, **extra}

    def observations(self, years=None):
        """The model counterparts of this target's values (all, or those of `years`)."""
        from sdvag.analysis.observation import Observation
        pick = self.years if years is None else years
        timing = dict(zip(self.years, self.timings))
        return [Observation.of(self.variable, self.factor, timing.get(y, self.timings[-1]), y, self.denominator)
                for y in pick]

    def subset(self, keep) -> "Target":
        """The same target with only the values where `keep` (a boolean per year) is true."""
        keep = list(keep)
        pick = lambda values: tuple(v for v, k in zip(values, keep) if k)  # noqa: E731
        return dataclasses.replace(self, years=pick(self.years), values=pick(self.values),
                                   status=pick(self.status), timings=pick(self.timings))


@dataclass
class CalibrationSpec:
    name: str
    scenario: Scenario
    parameters: list[Parameter]
    targets: list[Target]
    title: str = ""
    description: str = ""
    path: Path | None = None
    data: Path | None = None        # None: the series shipped with sdvag
    method: str = "local"
    seed: int | None = None
    loss: str = "linear"
    loss_scale: float = 0.1
    options: dict = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # data years outside the simulated time


def unit_kind(units: str) -> str:
    """'percent', 'dimensionless' or 'dimensioned', from a units text."""
    text = " ".join(units.lower().split())
    if text in PERCENT_UNITS:
        return "percent"
    return "dimensionless" if text in DIMENSIONLESS_NAMES else "dimensioned"


def unit_problem(var: Variable, series_unit: str, factor: float) -> str | None:
    """Why a variable in its <units> cannot match a series in `series_unit` with this factor.

    A simple rule, not dimensional analysis: a units text is a percent ("percent", "%"), a
    dimensionless number ("dmnl", "fraction", none) or something with a dimension (firms,
    yuan, pieces a year...). A share can only measure a share: a dimensioned variable against
    a percent or dimensionless series is refused, and so is the reverse. Between shares the
    factor is fixed: 1 between like kinds, 100 from a fraction to percent, 0.01 back; a
    factor of 1 between a fraction and a percent is the classic slip this catches. Between
    dimensioned units any positive factor is accepted: it converts scale and naming
    (hundred_million_yuan/year to "100 million yuan", thousand firms to firms).
    """
    if not series_unit.strip():
        return None  # a user's series without a unit: nothing to check the factor against
    have, want = unit_kind(var.units), unit_kind(series_unit)
    shown = var.units or "no units"
    if (have == "dimensioned") != (want == "dimensioned"):
        return (f"units cannot match: {var.name!r} is in {shown} ({have}), the series in "
                f"{series_unit} ({want})")
    if have != "dimensioned":
        needed = {("dimensionless", "percent"): 100.0, ("percent", "dimensionless"): 0.01}.get((have, want), 1.0)
        if not math.isclose(factor, needed, rel_tol=1e-9):
            return (f"factor {factor:g} converts {shown} ({have}) to {series_unit} ({want}) "
                    f"wrongly: it must be {needed:g}")
    return None


def valid_seed(seed) -> bool:
    """None, or a whole number of at least 0 (numpy's integers too)."""
    return seed is None or (not isinstance(seed, bool) and isinstance(seed, numbers.Integral) and seed >= 0)


def plain_file_name(name: str) -> bool:
    """A name that stays inside the folder it is written to: no separator or drive, not hidden
    (so not . or ..), no control character."""
    return bool(name) and name.isprintable() and not name.startswith(".") and not set(name) & set("/\\:")


def _series_frame(raw, base: Path, ck: Checker, sheet=None) -> tuple[pd.DataFrame | None, Path | None]:
    if raw is None:
        return observed.load(), None
    if isinstance(raw, pd.DataFrame):
        try:
            return observed.from_frame(raw), None
        except SdvagError as exc:
            ck.fail("data", str(exc))
            return None, None
    if not isinstance(raw, (str, Path)):
        ck.fail("data", f"expected a series file name (CSV or Excel), got {raw!r}")
        return None, None
    file = (base / raw).resolve()
    try:
        return observed.load(file, sheet), file
    except SdvagError as exc:
        ck.fail("data", str(exc))
        return None, None


def _start_scenario(raw, base: Path, ck: Checker) -> Scenario | None:
    if isinstance(raw, Scenario):
        return raw
    if not isinstance(raw, (str, Path)):
        ck.fail("scenario", "missing: name the scenario (.toml) or model file to start from")
        return None
    file = (base / raw).resolve()
    if file.suffix.lower() not in (".toml", *MODEL_SUFFIXES) or not file.is_file():
        ck.fail("scenario", f"{raw}: no such scenario (.toml) or model file")
        return None
    try:
        return load_scenario(file)
    except SdvagError as exc:
        ck.problems.extend(str(exc).splitlines())
        return None


def parse_spec(table: dict, base: Path, source: str, path: Path | None = None) -> CalibrationSpec:
    """A checked specification from a TOML table; relative paths are relative to `base`."""
    ck = Checker(source)
    for key in table:
        if key not in SPEC_KEYS:
            ck.fail(key, f"unknown key{suggest(key, SPEC_KEYS)}")
    scenario = _start_scenario(table.get("scenario"), base, ck)
    sheet = table.get("sheet")
    if sheet is not None and (isinstance(sheet, bool) or not isinstance(sheet, (str, int))):
        ck.fail("sheet", f"expected a sheet name or index, got {sheet!r}")
        sheet = None
    frame, data_path = _series_frame(table.get("data"), base, ck, sheet)
    method = table.get("method", "local")
    if method not in METHODS:
        ck.fail("method", f"expected one of {', '.join(METHODS)}, got {method!r}")
    seed = table.get("seed")
    if not valid_seed(seed):
        ck.fail("seed", f"expected a non-negative integer, got {seed!r}")
    loss = table.get("loss", "linear")
    if loss not in LOSSES:
        ck.fail("loss", f"expected one of {', '.join(LOSSES)}, got {loss!r}")
    loss_scale = ck.number("loss_scale", table.get("loss_scale", 0.1), positive=True)
    options = table.get("options", {})
    if not isinstance(options, dict):
        ck.fail("options", "expected a table")
        options = {}
    for key, value in options.items():
        if key not in OPTION_KEYS:
            ck.fail(f"options.{key}", f"unknown key{suggest(key, OPTION_KEYS)}")
        elif (num := ck.number(f"options.{key}", value, positive=True)) is not None \
                and key != "tol" and num != int(num):
            ck.fail(f"options.{key}", f"expected a whole number, got {num:g}")
    for key in ("name", "title", "description"):
        if key in table and not isinstance(table[key], str):
            ck.fail(key, f"expected a string, got {table[key]!r}")
    if isinstance(table.get("name"), str) and not plain_file_name(table["name"]):
        ck.fail("name", f"{table['name']!r} is not a plain file name (no folders, no '..'): the "
                        f"calibrated scenario is written as NAME.toml in the output folder")
    if scenario is None:
        raise SpecError(ck.problems)
    info = ck.info = read_model(scenario.model)
    parameters = _parameters(ck, table.get("parameters"), info, scenario)
    targets, skipped = _targets(ck, table.get("targets"), info, scenario, frame)
    if ck.problems:
        raise SpecError(ck.problems)
    return CalibrationSpec(
        name=table.get("name") or (path.stem if path else scenario.name + "_calibrated"),
        scenario=scenario, parameters=parameters, targets=targets,
        title=table.get("title", ""), description=table.get("description", ""), path=path,
        data=data_path, method=method, seed=seed, loss=loss, loss_scale=loss_scale,
        options=dict(options), skipped=skipped)


def _parameters(ck: Checker, raw, info, scenario: Scenario) -> list[Parameter]:
    found, seen = [], set()
    for i, item in enumerate(ck.tables("parameters", raw)):
        key = f"parameters[{i}]"
        for k in item:
            if k not in PARAMETER_KEYS:
                ck.fail(f"{key}.{k}", f"unknown key{suggest(k, PARAMETER_KEYS)}")
        var = ck.variable(f"{key}.name", item.get("name"), "any")
        if var is None:
            continue
        if var.role != "constant":
            ck.fail(f"{key}.name", f"{var.name!r} is a {var.role}; only constants can be fitted")
            continue
        if scenario.timed(var.name):
            ck.fail(f"{key}.name", f"{var.name!r} is a time-series input or a policy in the scenario")
            continue
        if var.name in seen:
            ck.fail(f"{key}.name", f"{var.name!r} is named twice")
            continue
        seen.add(var.name)
        rng = var.range or (None, None)
        low = ck.number(f"{key}.min", item["min"]) if "min" in item else rng[0]
        high = ck.number(f"{key}.max", item["max"]) if "max" in item else rng[1]
        if low is None or high is None:
            if "min" not in item or "max" not in item:
                ck.fail(key, f"{var.name!r} has no XMILE <range>: give min and max")
            continue
        if var.range and not var.range[0] <= low < high <= var.range[1]:
            ck.fail(key, f"bounds [{low:g}, {high:g}] are outside the range of {var.name!r} "
                         f"[{var.range[0]:g}, {var.range[1]:g}] or empty")
            continue
        if not low < high:
            ck.fail(key, f"min {low:g} must be below max {high:g}")
            continue
        prior = _prior(ck, f"{key}.prior", item.get("prior", {}), low, high)
        start = scenario.constants.get(var.name, var.default)
        if prior is not None:
            found.append(Parameter(var.name, low, high, min(max(start, low), high), prior))
    return found


def _prior(ck: Checker, key: str, raw, low: float, high: float) -> tuple | None:
    """A parameter's prior from `prior = { distribution = ..., mean, sd }` (uniform by default)."""
    if not isinstance(raw, dict):
        ck.fail(key, "expected a table such as { distribution = \"normal\", mean = 1, sd = 0.2 }")
        return None
    kind = raw.get("distribution", "uniform")
    wanted = {"uniform": (), "loguniform": (), "normal": ("mean", "sd")}.get(kind)
    if wanted is None:
        ck.fail(f"{key}.distribution", f"expected one of {', '.join(PRIORS)}, got {kind!r}")
        return None
    for k in raw:
        if k != "distribution" and k not in wanted:
            ck.fail(f"{key}.{k}", f"not a parameter of a {kind} prior")
    if any(k not in raw for k in wanted):
        ck.fail(key, f"a {kind} prior needs {' and '.join(wanted)}")
        return None
    numbers = [ck.number(f"{key}.{k}", raw[k], positive=(k == "sd")) for k in wanted]
    if any(n is None for n in numbers):
        return None
    if kind == "loguniform" and low <= 0:
        ck.fail(key, f"a loguniform prior needs positive bounds, got min {low:g}")
        return None
    return (kind, *numbers)


def _targets(ck: Checker, raw, info, scenario: Scenario, frame) -> tuple[list[Target], list[str]]:
    times = time_settings(scenario, info)  # refuses computed time settings (no fixed window)
    found, skipped = [], []
    for i, item in enumerate(ck.tables("targets", raw)):
        key = f"targets[{i}]"
        for k in item:
            if k not in TARGET_KEYS:
                ck.fail(f"{key}.{k}", f"unknown key{suggest(k, TARGET_KEYS)}")
        error = item.get("error", "lognormal")
        if error not in ERRORS:
            ck.fail(f"{key}.error", f"expected one of {', '.join(ERRORS)}, got {error!r}")
        sigma = ck.number(f"{key}.sigma", item["sigma"], positive=True) if "sigma" in item else None
        denominator = ck.variable(f"{key}.denominator", item["denominator"], "any", single=True) if "denominator" in item else None
        name, variable = item.get("series"), item.get("variable")
        factor = ck.number(f"{key}.factor", item.get("factor", 1.0), positive=True)
        weight = ck.number(f"{key}.weight", item.get("weight", 1.0), positive=True)
        var = ck.variable(f"{key}.variable", variable, "any", single=True)
        rows = frame[frame["series"] == name] if frame is not None and isinstance(name, str) else None
        if frame is not None and (rows is None or rows.empty):
            ck.fail(f"{key}.series", f"unknown series {name!r}{suggest(str(name), frame['series'].unique())}")
            continue
        if var is None or factor is None or weight is None or rows is None:
            continue
        unit = str(rows["unit"].iloc[0])
        problem = unit_problem(var, unit, factor)
        if problem:
            ck.fail(key, f"{name} against {var.name}: {problem}")
            continue
        if (rows["timing"] == "annual-ratio").any() and denominator is None and "denominator" not in item:
            skipped.append(f"{name}: annual ratios compared with the annual mean of {var.name} "
                           "(name its `denominator` to compare the ratio of the two annual totals)")
        if (rows["timing"] == "trailing-12-months").any():
            skipped.append(f"{name}: people active in the 12 months to year end compared with {var.name} "
                           "at year end (the model does not track who was active when)")
        if error not in ERRORS or ("sigma" in item and sigma is None) or ("denominator" in item and denominator is None):
            continue
        spans = [window(c, y) for c, y in zip(rows["timing"], rows["year"])]
        fits = np.array([a >= times["start"] - 1e-9 and b <= times["stop"] + 1e-9 for _, a, b in spans], dtype=bool)
        inside = rows[fits]
        if inside.empty:
            ck.fail(f"{key}.series", f"no value of {name} was observed inside the simulated time "
                                     f"{times['start']:g}-{times['stop']:g}")
            continue
        for year in rows["year"][~fits]:
            skipped.append(f"{name} {year:g}: observed outside the simulated time, not used")
        found.append(Target(name, var.name, factor, weight, unit,
                            tuple(inside["year"].astype(float)), tuple(inside["value"].astype(float)),
                            tuple(inside["status"].astype(str)), tuple(inside["timing"].astype(str)),
                            denominator.name if denominator else None, error, sigma))
    if frame is not None and frame.attrs.get("timing_defaulted"):
        skipped.append(f"the series file has no timing column: every value taken as a "
                       f"{observed.DEFAULT_TIMING} level (see sdvag/data/README.md)")
    return found, skipped


def load_spec(path: str | Path) -> CalibrationSpec:
    """A checked specification from a TOML file."""
    path = Path(path)
    table = read_toml(path, "calibration specification")
    return parse_spec(table, path.resolve().parent, str(path), path.resolve())


def as_spec(spec_or_objects) -> CalibrationSpec:
    """A CalibrationSpec from a spec, a TOML file, or a dict like the TOML table (paths relative
    to the current folder; `scenario` may be a Scenario and `data` a DataFrame)."""
    if isinstance(spec_or_objects, CalibrationSpec):
        return spec_or_objects
    if isinstance(spec_or_objects, dict):
        return parse_spec(spec_or_objects, Path.cwd(), "calibration")
    if not isinstance(spec_or_objects, (str, os.PathLike)):
        raise SdvagError(f"expected a calibration specification (a TOML file, a dict or a "
                         f"CalibrationSpec), got {type(spec_or_objects).__name__}")
    return load_spec(spec_or_objects)
