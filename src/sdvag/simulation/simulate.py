"""Run scenarios with PySD and return labelled xarray Datasets.

PySD keeps every changed parameter (and the last run's time settings) in the model object
between runs. A Simulator therefore passes all time settings on every run and reloads the model
whenever the previous run changed something this run does not: scenario A, then B, then A gives
A's results exactly both times, while runs that vary the same parameters (ensembles,
calibration) reuse the compiled model without reloading.
"""
from __future__ import annotations

import hashlib
import json
import platform
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pysd
import xarray as xr

from sdvag.version import __version__
from sdvag.errors import SdvagError, UnsupportedFeature
from sdvag.simulation.scenario import Policy, Scenario, load_scenario
from sdvag.model.pysd_errors import explain, warned_wrong
from sdvag.model.translate import load
from sdvag.model.xmile import ModelInfo, canonical, model_bytes

_SIMULATORS: dict[tuple[str, str], "Simulator"] = {}


def _policy_function(model, policy: Policy, base: float):
    """A PySD component for a lever that steps or ramps at a given time."""
    if policy.kind == "step":
        eps = 1e-9 * max(1.0, abs(policy.at))
        return lambda: policy.to if model.time() >= policy.at - eps else base
    xs, ys = [policy.at, policy.until], [base, policy.to]
    return lambda: float(np.interp(model.time(), xs, ys))


class Simulator:
    """One compiled model, run many times with different scenarios."""

    def __init__(self, path: str | Path):
        self.info, self.model = load(path)
        self._initial_time = self.model.components._control_vars["initial_time"]
        self._touched: frozenset[str] = frozenset()
        self._columns = {canonical(name): name for name in self.info.variables}

    @classmethod
    def for_model(cls, path: str | Path) -> "Simulator":
        """The process-wide simulator of a model file, compiled again if the file changed."""
        path = Path(path).resolve()
        key = (str(path), hashlib.sha256(model_bytes(path)).hexdigest())
        if key not in _SIMULATORS:
            _SIMULATORS[key] = cls(path)
        return _SIMULATORS[key]

    def params(self, scenario: Scenario) -> dict:
        """The PySD parameters for a scenario: constants, lookups, inputs and policy functions."""
        params: dict = dict(scenario.constants)
        for name, (x, y) in scenario.graphical.items():
            params[name] = pd.Series(y, index=x)
        for name, (t, v) in scenario.inputs.items():
            params[name] = pd.Series(v, index=t)
        for policy in scenario.policies:
            base = scenario.constants.get(policy.variable, self.info.variables[policy.variable].default)
            params[policy.variable] = _policy_function(self.model, policy, base)
        return params

    def time_settings(self, scenario: Scenario) -> dict[str, float]:
        sim = self.info.sim
        dt = scenario.sim.get("dt", sim.dt)
        return {
            "start": scenario.sim.get("start", sim.start),
            "stop": scenario.sim.get("stop", sim.stop),
            "dt": dt,
            "save_step": scenario.sim.get("save_step", dt if "dt" in scenario.sim else sim.save_step),
        }

    def run_frame(self, params: dict, times: dict[str, float], columns: list[str] | None = None,
                  progress: bool = False, initial: dict[str, float] | None = None) -> pd.DataFrame:
        """Run PySD with exactly these changes from the model file; returns its DataFrame.

        `initial` replaces the initial values of the stocks it names (for extreme-condition tests).
        """
        touched = frozenset(params)
        if self._touched - touched:
            self.model.reload()
        self._touched = touched
        self.model.components._control_vars["initial_time"] = (lambda: times["start"]) \
            if times["start"] != self.info.sim.start else self._initial_time
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                frame = self.model.run(
                    params=params, final_time=times["stop"], time_step=times["dt"],
                    saveper=times["save_step"], return_columns=columns, progress=progress,
                    initial_condition=(times["start"], initial) if initial else "original",
                )
            except Exception as exc:  # the model's equations failed inside PySD
                self._touched = frozenset({"<failed run>"})  # force a clean reload next time
                feature, _ = explain(exc, self.info)
                raise UnsupportedFeature(feature.replace("PySD could not translate it", "PySD failed "
                                                         "while simulating it"),
                                         self._failing_variable(exc), self.info.path) from None
        wrong = warned_wrong([str(w.message) for w in caught], self.model.namespace)
        if wrong:
            self._touched = frozenset({"<failed run>"})
            raise UnsupportedFeature(*wrong, self.info.path)
        return frame

    def _failing_variable(self, exc: BaseException) -> str | None:
        """The model variable whose equation raised: the innermost frame in the translated file."""
        source, name = str(self.model.py_model_file), None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == source:
                name = tb.tb_frame.f_code.co_name
            tb = tb.tb_next
        return {py: real for real, py in self.model.namespace.items()}.get(name)

    def run(self, scenario: Scenario, columns: list[str] | None = None, progress: bool = False) -> xr.Dataset:
        times = self.time_settings(scenario)
        frame = self.run_frame(self.params(scenario), times, columns, progress)
        return to_dataset(frame, self.info, scenario, times)


def to_dataset(frame: pd.DataFrame, info: ModelInfo, scenario: Scenario, times: dict) -> xr.Dataset:
    """PySD's DataFrame as a Dataset named, documented and traced to its model and scenario."""
    by_key = {canonical(name): var for name, var in info.variables.items()}
    data = {}
    for column in frame.columns:
        base, bracket, element = str(column).partition("[")  # an array's element: "Price[Boston]"
        key = canonical(base)
        if key not in by_key:  # PySD's own INITIAL TIME, FINAL TIME...: not the model's variables
            continue
        var = by_key[key]
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        data[var.name + bracket + element] = xr.DataArray(values, dims=("time",), attrs={
            "units": var.units, "doc": var.doc, "kind": var.role})
    time = np.asarray(frame.index, dtype=float)
    ds = xr.Dataset(data, coords={"time": ("time", time, {"units": info.sim.time_units or "time"})})
    ds.attrs.update({
        "model": str(info.path),
        "model_sha256": info.sha256,
        "scenario": scenario.name,
        "scenario_title": scenario.title,
        "scenario_json": json.dumps(scenario.describe()),
        "outputs": json.dumps(scenario.outputs or default_outputs(info)),
        "time_settings": json.dumps(times),
        "versions": json.dumps({
            "sdvag": __version__, "pysd": pysd.__version__, "numpy": np.__version__,
            "xarray": xr.__version__, "python": platform.python_version()}),
    })
    return ds


def default_outputs(info: ModelInfo) -> list[str]:
    """What to report when a scenario names no outputs: the stocks (what the model accumulates)."""
    stocks = [v.name for v in info.variables.values() if v.kind == "stock"]
    return stocks or [v.name for v in info.variables.values() if not v.is_constant][:6]


def outputs_of(ds: xr.Dataset) -> list[str]:
    return [name for name in json.loads(ds.attrs.get("outputs", "[]")) if name in ds]


def run(target: str | Path | Scenario, set: dict | None = None, progress: bool = False) -> xr.Dataset:
    """Run a scenario file, a bare model file (on its defaults) or a Scenario; returns a Dataset."""
    scenario = target if isinstance(target, Scenario) else load_scenario(target, set)
    if isinstance(target, Scenario) and set:
        raise SdvagError("pass overrides inside the Scenario, not with set=")
    return Simulator.for_model(scenario.model).run(scenario, progress=progress)


def compare(targets, set: dict | None = None, report=None) -> xr.Dataset:
    """Several runs side by side along a `scenario` dimension (outer join on time)."""
    targets = list(targets)
    if not targets:
        raise SdvagError("compare needs at least one scenario")
    scenarios = [t if isinstance(t, Scenario) else load_scenario(t, set) for t in targets]
    names = [s.name for s in scenarios]
    if len(frozenset(names)) != len(names):
        names = [f"{i + 1}:{n}" for i, n in enumerate(names)]
    results = []
    for i, scenario in enumerate(scenarios):
        if report:
            report(f"running {i + 1}/{len(scenarios)}: {scenario.name}")
        results.append(Simulator.for_model(scenario.model).run(scenario))
    combined = xr.concat(results, dim=pd.Index(names, name="scenario"), join="outer",
                         combine_attrs="drop_conflicts", data_vars="all", coords="minimal",
                         compat="override")
    outputs: list[str] = []
    for r in results:
        outputs += [o for o in outputs_of(r) if o not in outputs]
    combined.attrs["outputs"] = json.dumps(outputs)
    combined.attrs["scenarios"] = json.dumps([r.attrs["scenario_json"] for r in results])
    combined.attrs.pop("scenario_json", None)
    return combined
