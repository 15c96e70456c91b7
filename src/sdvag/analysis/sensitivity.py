"""Monte Carlo and Sobol sensitivity of a scenario to the constants nobody knows well.

A sensitivity specification (TOML, in scenarios/sensitivity/) names a scenario, the constants
to vary with their distributions, a sample size, a design (Latin hypercube or Sobol sequence),
the outputs and years of interest and a seed. The runs follow Saltelli's scheme: two
independent samples A and B of the parameters, then for each parameter i the sample A with
column i taken from B, so first-order and total Sobol indices (scipy.stats.sobol_indices) come
from N * (parameters + 2) runs, with bootstrap confidence intervals. Percentile bands (fan
charts) use the runs of A and B. Files are written only once everything is computed.
"""
from __future__ import annotations

import json
import math
import numbers
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats
from scipy.stats import qmc

from sdvag.simulation.ensemble import run_ensemble
from sdvag.errors import SdvagError
from sdvag.progress import Progress
from sdvag.formatting import format_number, text_table
from sdvag.simulation.scenario import Checker, Scenario, load_scenario, read_toml, suggest
from sdvag.simulation.simulate import Simulator, default_outputs

SPEC_KEYS = ("scenario", "title", "description", "parameters", "samples", "design", "seed",
             "outputs", "years", "indices", "confidence")
DESIGNS = ("sobol", "latin")
DISTRIBUTIONS = {  # name -> keys it takes
    "uniform": ("min", "max"),
    "normal": ("mean", "sd"),
    "triangular": ("min", "mode", "max"),
    "loguniform": ("min", "max"),
}
PERCENTILES = (5, 25, 50, 75, 95)
MAX_RUNS = 10_000_000  # the design matrix alone takes 8 bytes per run and parameter
BOOTSTRAP_RESAMPLES = 999


@dataclass(frozen=True)
class Parameter:
    """A constant to vary and its distribution (`args` holds the keys of DISTRIBUTIONS)."""

    name: str
    distribution: str
    args: dict
    range: tuple[float, float] | None = None

    def values(self, u: np.ndarray) -> np.ndarray:
        """Quantiles at `u` (points of the unit interval from the design)."""
        a = self.args
        if self.distribution == "uniform":
            return stats.uniform(a["min"], a["max"] - a["min"]).ppf(u)
        if self.distribution == "loguniform":
            return stats.loguniform(a["min"], a["max"]).ppf(u)
        if self.distribution == "triangular":
            width = a["max"] - a["min"]
            return stats.triang((a["mode"] - a["min"]) / width, a["min"], width).ppf(u)
        if self.range is None:
            return stats.norm(a["mean"], a["sd"]).ppf(u)
        lo, hi = ((r - a["mean"]) / a["sd"] for r in self.range)  # kept inside the model's <range>
        return stats.truncnorm(lo, hi, a["mean"], a["sd"]).ppf(u)


@dataclass
class SensitivitySpec:
    scenario: Scenario
    parameters: list[Parameter]
    samples: int = 256
    design: str = "sobol"
    seed: int = 0
    outputs: list[str] = field(default_factory=list)
    years: list[float] = field(default_factory=list)
    indices: bool = True
    confidence: float = 0.95
    title: str = ""
    path: Path | None = None

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def describe(self) -> dict:
        return {"scenario": self.scenario.describe(), "file": str(self.path or ""), "title": self.title,
                "parameters": {p.name: {"distribution": p.distribution, **p.args} for p in self.parameters},
                "samples": self.samples, "design": self.design, "seed": self.seed,
                "outputs": self.outputs, "years": self.years, "indices": self.indices,
                "confidence": self.confidence}


def _parameter(ck: Checker, scenario: Scenario, name, table) -> Parameter | None:
    key = f'parameters."{name}"'
    var = ck.variable(key, name, "constant")
    table = ck.table(key, table)
    kind = table.get("distribution", "uniform")
    if kind not in DISTRIBUTIONS:
        ck.fail(f"{key}.distribution", f"expected one of {', '.join(DISTRIBUTIONS)}, got {kind!r}")
        return None
    for k in table:
        if k != "distribution" and k not in DISTRIBUTIONS[kind]:
            ck.fail(f"{key}.{k}", f"unknown key for a {kind} distribution{suggest(k, DISTRIBUTIONS[kind])}")
    if var is None:
        return None
    if scenario.timed(var.name):
        ck.fail(key, f"{var.name!r} is a time-series input or a policy in {scenario.name}; it cannot also be varied")
    current = scenario.constants.get(var.name, var.default)
    defaults = {"mean": current, "mode": current}
    if var.range is not None:
        defaults.update(min=var.range[0], max=var.range[1])
    args = {}
    for k in DISTRIBUTIONS[kind]:
        if k in table:
            args[k] = ck.number(f"{key}.{k}", table[k])
        elif k in defaults:
            args[k] = float(defaults[k])
        else:
            ck.fail(f"{key}.{k}", f"missing ({var.name!r} has no <range> to take it from)"
                    if k in ("min", "max") else "missing")
            args[k] = None
    if None in args.values():
        return None
    if "min" in args:
        for k in ("min", "max"):
            ck.in_range(f"{key}.{k}", var, args[k])
        if not args["min"] < args["max"]:
            ck.fail(key, f"min ({args['min']:g}) must be less than max ({args['max']:g})")
        elif kind == "triangular" and not args["min"] <= args["mode"] <= args["max"]:
            ck.fail(f"{key}.mode", f"{args['mode']:g} is not between min and max")
        elif kind == "loguniform" and args["min"] <= 0:
            ck.fail(f"{key}.min", "a log-uniform distribution needs min > 0")
    else:
        ck.in_range(f"{key}.mean", var, args["mean"])
        if args["sd"] <= 0:
            ck.fail(f"{key}.sd", "must be positive")
    return Parameter(var.name, kind, args, var.range)


def _check_spec(raw: dict, source: str, path: Path | None = None) -> SensitivitySpec:
    """A checked SensitivitySpec from a raw table; every problem reported, one line each."""
    target = raw.get("scenario")
    if isinstance(target, Scenario):
        scenario = target
    elif isinstance(target, (str, Path)):
        scenario = load_scenario(target)
    else:
        raise SdvagError(f"{source}: scenario: missing: name a scenario (.toml) or a model file")
    sim = Simulator.for_scenario(scenario)
    ck = Checker(source, sim.info)
    for key in raw:
        if key not in SPEC_KEYS:
            ck.fail(key, f"unknown key{suggest(key, SPEC_KEYS)}")
    spec = SensitivitySpec(scenario, [], path=path)
    for key in ("title", "description"):
        if key in raw and not isinstance(raw[key], str):
            ck.fail(key, f"expected a string, got {type(raw[key]).__name__}")
    spec.title = raw.get("title", "") if isinstance(raw.get("title"), str) else ""
    table = ck.table("parameters", raw.get("parameters", {}))
    if not table:
        ck.fail("parameters", "name at least one constant to vary")
    for name, value in table.items():
        p = _parameter(ck, scenario, name, value)
        if p is not None and p.name in spec.names:
            ck.fail(f'parameters."{name}"', f"{p.name!r} is named twice (names ignore case, spaces and underscores)")
        elif p is not None:
            spec.parameters.append(p)
    design = raw.get("design", "sobol")
    if design not in DESIGNS:
        ck.fail("design", f"expected one of {', '.join(DESIGNS)}, got {design!r}")
    spec.design = design
    for key, minimum in (("samples", 4), ("seed", 0)):
        value = raw.get(key, getattr(spec, key))
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            ck.fail(key, f"expected a whole number of at least {minimum}, got {value!r}")
        else:
            setattr(spec, key, int(value))
    runs = spec.samples * (len(table) + 2 if raw.get("indices", True) is not False else 1)
    if runs > MAX_RUNS:
        ck.fail("samples", f"{spec.samples} samples make {runs:,} runs, more than {MAX_RUNS:,}")
    if (design == "sobol" or raw.get("indices", True)) and spec.samples & (spec.samples - 1):
        ck.fail("samples", f"Sobol indices and a Sobol design need a power of 2, got {spec.samples} "
                           f"(e.g. {2 ** round(math.log2(spec.samples))})")
    if not isinstance(raw.get("indices", True), bool):
        ck.fail("indices", f"expected true or false, got {raw['indices']!r}")
    spec.indices = raw.get("indices", True) is not False
    if spec.indices and len(table) == 1:
        ck.fail("parameters", "Sobol indices need at least two parameters (or set indices = false)")
    confidence = ck.number("confidence", raw.get("confidence", 0.95))
    if confidence is not None and not 0 < confidence < 1:
        ck.fail("confidence", f"must be between 0 and 1, got {confidence:g}")
    spec.confidence = confidence or 0.95
    outputs = raw.get("outputs") or scenario.outputs or default_outputs(sim.info)
    if not isinstance(outputs, list):
        ck.fail("outputs", "expected a list of variable names")
        outputs = []
    spec.outputs = [var.name for i, name in enumerate(outputs)
                    if (var := ck.variable(f"outputs[{i}]", name, "any", single=True)) is not None]
    times = sim.time_settings(scenario)
    years = raw.get("years", [times["stop"]])
    if not isinstance(years, list) or not years:
        ck.fail("years", "expected a list of years")
        years = []
    for i, year in enumerate(years):
        if (y := ck.number(f"years[{i}]", year)) is None:
            continue
        steps = (y - times["start"]) / times["save_step"]
        if not times["start"] <= y <= times["stop"] or abs(steps - round(steps)) > 1e-9:
            ck.fail(f"years[{i}]", f"{y:g} is not a save time of the run ({times['start']:g} to "
                                   f"{times['stop']:g} every {times['save_step']:g})")
        else:
            spec.years.append(y)
    if ck.problems:
        raise SdvagError("\n".join(ck.problems))
    return spec


def load_spec(path: str | Path) -> SensitivitySpec:
    """A checked SensitivitySpec from a TOML file (paths in it are relative to the file)."""
    path = Path(path)
    raw = read_toml(path, "sensitivity specification")
    if isinstance(raw.get("scenario"), str):
        target = (path.parent / raw["scenario"]).resolve()
        if not target.is_file():
            raise SdvagError(f"{path}: scenario: file not found: {target}")
        raw["scenario"] = target
    return _check_spec(raw, str(path), path)


def design_matrix(spec: SensitivitySpec) -> tuple[np.ndarray, list[str]]:
    """The parameter values of every run (runs x parameters), and each run's block: "A", "B",
    or the parameter whose column A took from B (Saltelli's scheme; A alone without indices)."""
    d, n = len(spec.parameters), spec.samples
    dims = 2 * d if spec.indices else d
    sampler = (qmc.Sobol(dims, scramble=True, seed=np.random.default_rng(spec.seed)) if spec.design == "sobol"
               else qmc.LatinHypercube(dims, seed=np.random.default_rng(spec.seed)))
    u = sampler.random(n)
    a, b = u[:, :d], u[:, d:]
    blocks = [a]
    labels = ["A"] * n
    if spec.indices:
        blocks.append(b)
        labels += ["B"] * n
        for i, name in enumerate(spec.names):
            ab = a.copy()
            ab[:, i] = b[:, i]
            blocks.append(ab)
            labels += [name] * n
    u = np.concatenate(blocks)
    return np.column_stack([p.values(u[:, i]) for i, p in enumerate(spec.parameters)]), labels


def sobol(runs: xr.Dataset, spec: SensitivitySpec) -> xr.Dataset:
    """First-order and total indices, with bootstrap confidence intervals, for each output at
    each year of interest: variables (output, year, parameter)."""
    n, d = spec.samples, len(spec.parameters)
    y = np.stack([runs[o].sel(time=yr, method="nearest").to_numpy() for o in spec.outputs for yr in spec.years])
    f_a, f_b = y[:, :n], y[:, n:2 * n]
    f_ab = y[:, 2 * n:].reshape(len(y), d, n).transpose(1, 0, 2)

    def indices(idx):
        res = stats.sobol_indices(func={"f_A": f_a[:, idx], "f_B": f_b[:, idx], "f_AB": f_ab[..., idx]},
                                  n=len(idx))
        return np.stack([res.first_order, res.total_order])

    estimate = indices(np.arange(n))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # a constant output has a degenerate bootstrap: handled below
        boot = stats.bootstrap((np.arange(n),), indices, vectorized=False, n_resamples=BOOTSTRAP_RESAMPLES,
                               confidence_level=spec.confidence, method="percentile",
                               random_state=np.random.default_rng(spec.seed))
    flat = boot.standard_error == 0
    low = np.where(flat, estimate, boot.confidence_interval.low)
    high = np.where(flat, estimate, boot.confidence_interval.high)
    shape = (len(spec.outputs), len(spec.years), d)
    dims = ("output", "year", "parameter")
    data = {}
    for k, order in enumerate(("first_order", "total_order")):
        for suffix, values in (("", estimate), ("_low", low), ("_high", high)):
            data[order + suffix] = xr.DataArray(values[k].reshape(shape), dims=dims)
    ds = xr.Dataset(data, coords={"output": spec.outputs, "year": spec.years, "parameter": spec.names})
    ds.attrs["confidence"] = spec.confidence
    return ds


@dataclass
class SensitivityResult:
    """The runs and the indices in one Dataset (`data`), and the files written."""

    data: xr.Dataset
    spec: SensitivitySpec
    files: list[Path] = field(default_factory=list)

    def bands(self) -> xr.Dataset:
        """Percentiles of each output over the runs of A and B, dimensions (percentile, time)."""
        runs = self.data[self.spec.outputs]
        runs = runs.isel(run=np.isin(self.data["block"].to_numpy(), ["A", "B"]))
        q = runs.quantile([p / 100 for p in PERCENTILES], dim="run")
        return q.assign_coords(quantile=list(PERCENTILES)).rename(quantile="percentile")

    def ranking(self) -> pd.DataFrame:
        """Parameters by their largest total index over the outputs and years of interest: a
        row per parameter, most influential first, with the output and year where that index is
        largest and the first-order and total indices there with their confidence bounds."""
        columns = ["parameter", "output", "year", "total_order", "total_order_low", "total_order_high",
                   "first_order", "first_order_low", "first_order_high"]
        if "total_order" not in self.data:
            return pd.DataFrame(columns=columns)
        st = self.data["total_order"].stack(where=("output", "year"))
        rows = []
        for name in self.spec.names:
            one = st.sel(parameter=name)
            at = int(np.nanargmax(one.to_numpy())) if np.isfinite(one).any() else 0
            output, year = one["where"].to_numpy()[at]
            pick = {"output": output, "year": year, "parameter": name}
            rows.append({"parameter": name, "output": str(output), "year": float(year), **{
                key: float(self.data[key].sel(pick)) for key in
                ("total_order", "total_order_low", "total_order_high",
                 "first_order", "first_order_low", "first_order_high")}})
        rows.sort(key=lambda r: -r["total_order"] if np.isfinite(r["total_order"]) else 0)
        return pd.DataFrame(rows, columns=columns)

    def summary(self) -> str:
        """Percentile bands at the years of interest, then the ranking of the parameters."""
        spec, fmt = self.spec, format_number
        runs = self.data.sizes["run"]
        parts = [f"{spec.title or spec.scenario.name}: {runs} runs, {spec.design} design, "
                 f"{len(spec.parameters)} parameters, seed {spec.seed}"]
        bands = self.bands().sel(time=spec.years, method="nearest")
        rows = [[f"{o} / {y:g}", *(fmt(float(bands[o].sel(percentile=p).isel(time=i))) for p in PERCENTILES)]
                for o in spec.outputs for i, y in enumerate(spec.years)]
        parts.append(text_table(["output / year", *(f"p{p}" for p in PERCENTILES)], rows))
        ranking = self.ranking().to_dict("records")
        if ranking:
            level = f"{spec.confidence:.0%}"
            parts.append(text_table(
                ["parameter", "rank", f"total [{level} CI]", f"first order [{level} CI]", "largest for"],
                [[r["parameter"], str(i + 1),
                  f"{r['total_order']:.3f} [{r['total_order_low']:.3f}, {r['total_order_high']:.3f}]",
                  f"{r['first_order']:.3f} [{r['first_order_low']:.3f}, {r['first_order_high']:.3f}]",
                  f"{r['output']} / {r['year']:g}"] for i, r in enumerate(ranking)]))
        failed = [(i, str(f)) for i, f in enumerate(self.data["failed"].to_numpy()) if f] \
            if "failed" in self.data else []
        if failed:
            parts.append(f"warning: {len(failed)} of {runs} runs failed (first: run {failed[0][0]}, "
                         f"where {failed[0][1]} stopped being finite); their indices are NaN")
        bad = [o for o in spec.outputs if not np.isfinite(self.data[o].to_numpy()).all()]
        if bad:
            parts.append(f"warning: some runs give non-finite values of {', '.join(bad)}")
        return "\n\n".join(parts)


def analyse(spec: SensitivitySpec, workers: int | None = None, scheduler: str | None = None,
            progress: Progress = None) -> SensitivityResult:
    """Run the design of a checked spec and compute the indices."""
    values, blocks = design_matrix(spec)
    runs = run_ensemble(spec.scenario, spec.names, values, columns=spec.outputs, workers=workers,
                        scheduler=scheduler, progress=progress)
    runs = runs.assign_coords(block=("run", blocks))
    runs.attrs["sensitivity_json"] = json.dumps(spec.describe())
    if spec.indices:
        runs = runs.merge(sobol(runs, spec), combine_attrs="override")
    return SensitivityResult(runs, spec)


def sensitivity(scenario: str | Path | Scenario, parameters: dict | list, *, samples: int = 256,
                design: str = "sobol", seed: int = 0, outputs: list[str] | None = None,
                years: list[float] | None = None, indices: bool = True, confidence: float = 0.95,
                workers: int | None = None, scheduler: str | None = None,
                progress: Progress = None) -> SensitivityResult:
    """Sensitivity of a scenario (file, model file or Scenario) to `parameters`: a list of
    constant names (uniform over their XMILE <range>) or a dict name -> distribution table as
    in a specification file, e.g. {"Land Supply": {"distribution": "normal", "mean": 500, "sd": 50}}."""
    if isinstance(parameters, (list, tuple)):
        parameters = {name: {} for name in parameters}
    raw = {"scenario": scenario, "parameters": parameters, "samples": samples, "design": design,
           "seed": seed, "indices": indices, "confidence": confidence}
    raw.update({k: v for k, v in (("outputs", outputs), ("years", years)) if v is not None})
    source = str(scenario.path or scenario.name) if isinstance(scenario, Scenario) else str(scenario)
    return analyse(_check_spec(raw, source), workers=workers, scheduler=scheduler, progress=progress)
