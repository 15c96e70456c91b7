"""Run scenarios with PySD and return labelled xarray Datasets.

PySD keeps every changed parameter (and the last run's time settings) in the model object
between runs. A Simulator therefore passes all time settings on every run and reloads the model
whenever the previous run changed something this run does not: scenario A, then B, then A gives
A's results exactly both times, while runs that vary the same parameters (ensembles,
calibration) reuse the compiled model without reloading.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import platform
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pysd
import xarray as xr

from sdvag.version import __version__
from sdvag.errors import SdvagError, UnsupportedFeature
from sdvag.simulation.computed_time import Clock
from sdvag.simulation.scenario import Policy, Scenario, load_scenario, max_steps, time_grid_problems, time_settings
from sdvag.model.names import element_reference
from sdvag.model.rewrite import ModelCopy
from sdvag.model.support import integration_method
from sdvag.model.delay_orders import lowered_order_problem
from sdvag.model.pysd_errors import explain, warned_wrong
from sdvag.model.datafiles import data_unchanged
from sdvag.model.translate import load
from sdvag.model.xmile import ModelInfo, canonical, model_bytes, parse_model

LONG_RUN_STEPS = 100_000  # about three seconds of PySD: longer runs show progress on a terminal

_SIMULATORS: dict[tuple[str, str], "Simulator"] = {}
_METHODS: dict[tuple[str, str], str] = {}  # integration method of each model content
_TEMPLATES: dict[tuple, tuple] = {}  # see _template


def step_threshold(at: float) -> float:
    """The time from which a step policy applies: `at`, less a margin for rounding in TIME."""
    return at - 1e-9 * max(1.0, abs(at))


def _policy_function(model, policy: Policy, base: float):
    """A PySD component for a lever that steps or ramps at a given time."""
    if policy.kind == "step":
        threshold = step_threshold(policy.at)
        return lambda: policy.to if model.time() >= threshold else base
    xs, ys = [policy.at, policy.until], [base, policy.to]
    return lambda: float(np.interp(model.time(), xs, ys))


class Simulator:
    """One compiled model, run many times with different scenarios."""

    def __init__(self, path: str | Path, data: bytes | None = None):
        self.info, self.model = load(path, data)
        self._initial_time = self.model.components._control_vars["initial_time"]
        self._touched: frozenset[str] = frozenset()
        self._columns = {canonical(name): name for name in self.info.variables}
        self._copies: dict[str, Simulator] = {}
        self._arrays: dict[str, xr.DataArray] = {}  # subscripted constants as in the model file

    @classmethod
    def for_model(cls, path: str | Path, data: bytes | None = None) -> "Simulator":
        """The process-wide simulator of a model file, compiled again if the file or a data file
        it reads changed.

        `data`: the file's content as already read and checked (worker processes get it from
        their parent), so that every run uses exactly the bytes whose SHA-256 is recorded.
        """
        path = Path(path).absolute()
        data = model_bytes(path) if data is None else data
        key = (str(path), hashlib.sha256(data).hexdigest())
        if key not in _SIMULATORS or not data_unchanged(_SIMULATORS[key].info,
                                                        Path(_SIMULATORS[key].model.py_model_file)):
            _SIMULATORS[key] = cls(path, data)
        return _SIMULATORS[key]

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> "Simulator":
        """The simulator of a scenario's model, running the model bytes the scenario was
        checked against (when it was read from a file)."""
        return cls.for_model(scenario.model, scenario.model_data)

    def params(self, scenario: Scenario) -> dict:
        """The PySD parameters for a scenario: constants, lookups, inputs and policy functions."""
        if scenario.graphical:  # PySD would take a Series for a time series, silently
            raise SdvagError(f"{scenario.name}: graphical-function overrides need the model compiled "
                             f"with the new points (Simulator.with_points)")
        params: dict = dict(scenario.constants)
        for name, (t, v) in scenario.inputs.items():
            params[name] = pd.Series(v, index=t)
        for policy in scenario.policies:
            base = scenario.constants.get(policy.variable, self.info.variables[policy.variable].default)
            params[policy.variable] = _policy_function(self.model, policy, base)
        return params

    def time_settings(self, scenario: Scenario) -> dict[str, float]:
        """The scenario's time grid over the model's, refused if it cannot be run (scenario files
        are checked when read; this also covers Scenario objects built in Python)."""
        times = time_settings(scenario, self.info)
        problems = time_grid_problems(times, max_steps(scenario.sim))
        if problems:
            raise SdvagError("\n".join(f"{scenario.path or self.info.path}: {key}: {problem}"
                                       for key, problem in problems))
        return times

    def run_frame(self, params: dict, times: dict[str, float], columns: list[str] | None = None,
                  progress: bool = False, initial: dict[str, float] | None = None) -> pd.DataFrame:
        """Run PySD with exactly these changes from the model file; returns its DataFrame.

        `initial` replaces the initial values of the stocks it names (for extreme-condition tests).
        """
        params = self._whole_arrays(params)
        self._fresh(params)
        start = times["start"]  # a number, or a function for a computed INITIAL TIME (computed_time.py)
        self.model.components._control_vars["initial_time"] = start if callable(start) else \
            (lambda: start) if start != self.info.sim.start else self._initial_time
        fixed = not any(callable(value) for value in times.values())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                frame = self.model.run(
                    params=params, final_time=times["stop"], time_step=times["dt"],
                    saveper=times["save_step"], return_columns=columns,
                    progress=progress and fixed and (times["stop"] - start) / times["dt"] >= LONG_RUN_STEPS,
                    initial_condition=(start, initial) if initial else "original",
                )
            except SdvagError:  # a computed time setting refused as the run went (computed_time.py)
                self._touched = frozenset({"<failed run>"})
                raise
            except Exception as exc:  # the model's equations failed inside PySD
                self._touched = frozenset({"<failed run>"})  # force a clean reload next time
                self._refuse_what_pysd_changed(caught)  # what made it fail (a DELAY N with no stage)
                feature, _ = explain(exc, self.info)
                raise UnsupportedFeature(feature.replace("PySD could not translate it", "PySD failed "
                                                         "while simulating it"),
                                         self._failing_variable(exc), self.info.path) from None
        self._refuse_what_pysd_changed(caught)
        return frame

    def _refuse_what_pysd_changed(self, caught) -> None:
        """Raise UnsupportedFeature if PySD's warnings say it ran something else than the model
        (a delay's order lowered where the model's own software keeps it)."""
        wrong = warned_wrong([str(w.message) for w in caught], self.model.namespace,
                             partial(lowered_order_problem, self.info))
        if wrong:
            self._touched = frozenset({"<failed run>"})
            raise UnsupportedFeature(*wrong, self.info.path) from None

    def _whole_arrays(self, params: dict) -> dict:
        """`params` with each element value (`Weight[North]`) folded into its array: PySD sets a
        subscripted constant as a whole DataArray, so it gets the model's array (or the array
        filled with the whole-array value given) with the named elements changed."""
        elements = {key: element_reference(key) for key in params if isinstance(key, str)}
        elements = {key: ref for key, ref in elements.items() if ref is not None and self.info.find(key) is None}
        if not elements:
            return params
        folded = {key: value for key, value in params.items() if key not in elements}
        made: dict[str, xr.DataArray] = {}
        for key, (base, wanted) in elements.items():
            var = self.info.find(base)
            if var is None or not var.dimensions:
                raise SdvagError(f"{key}: {base!r} is not an array of {self.info.path.name}")
            if var.name not in made:
                model_value = self._model_array(var.name)
                given = folded.get(var.name)
                if not isinstance(given, (int, float, type(None))):
                    raise SdvagError(f"{key}: {var.name!r} is a time series or a policy here: its elements "
                                     f"cannot also be set")
                made[var.name] = (model_value.copy() if given is None else
                                  xr.full_like(model_value, float(given)))
            array = made[var.name]
            where = {}
            for dim, name in zip(array.dims, wanted):
                coords = {canonical(str(c)): c for c in array[dim].to_numpy()}
                if canonical(name) not in coords or len(wanted) != array.ndim:
                    raise SdvagError(f"{key}: {var.name!r} has no element [{', '.join(wanted)}]")
                where[dim] = coords[canonical(name)]
            array.loc[where] = float(params[key])
            folded[var.name] = array
        return folded

    def _model_array(self, name: str) -> xr.DataArray:
        """A subscripted constant's value in the model file (reloaded if a run changed it);
        anything else is refused: giving PySD an array would freeze its other elements."""
        if name not in self._arrays:
            if name in self._touched:
                self.model.reload()
                self._touched = frozenset()
            kinds = {canonical(str(real)): (real, kind) for real, kind in self.model.doc[["Real Name", "Type"]].to_numpy()}
            real, kind = kinds.get(canonical(name), (name, None))
            if kind != "Constant":
                raise SdvagError(f"{self.info.path.name}: {name!r} is not an array of numbers: sdvag sets "
                                 f"an element only of a constant array")
            self._arrays[name] = self.model[real]
        return self._arrays[name]

    def _fresh(self, params: dict) -> None:
        """Reload the model if the previous run changed something these parameters do not."""
        touched = frozenset(params)
        if self._touched - touched:
            self.model.reload()
        self._touched = touched

    def _failing_variable(self, exc: BaseException) -> str | None:
        """The model variable whose equation raised: the innermost frame in the translated file."""
        source, name = str(self.model.py_model_file), None
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == source:
                name = tb.tb_frame.f_code.co_name
            tb = tb.tb_next
        return {py: real for real, py in self.model.namespace.items()}.get(name)

    def uses(self) -> dict[str, list[str]]:
        """What each variable uses, by PySD's dependency graph of the compiled model (a .mdl's
        equations exist only in PySD's translation); a stock uses its flows and initial value."""
        graph, names = self.model.dependencies, {py: real for real, py in self.model.namespace.items()}

        def used(py: str, seen: frozenset = frozenset()) -> list[str]:
            found = []
            for key, value in graph.get(py, {}).items():
                inner = value if isinstance(value, dict) else {key: value}  # a stock's initial and step
                for dep in inner:
                    # through PySD's own objects and the stocks of a delay (model/delay_orders.py)
                    hidden = dep.startswith("_") or self.info.find(names.get(dep, "")) is None
                    if hidden and dep in seen:
                        continue
                    for name in used(dep, seen | {dep}) if hidden else [names.get(dep)]:
                        if name and name not in found and self.info.find(name) is not None:
                            found.append(self.info.find(name).name)
            return found
        return {var.name: used(self.model.namespace.get(var.name, "")) for var in self.info.variables.values()}

    def run(self, scenario: Scenario, columns: list[str] | None = None, progress: bool = False) -> xr.Dataset:
        if self.info.sim.computed:
            return self._run_computed(scenario, columns)
        times = self.time_settings(scenario)
        sim, plain = self.with_points(scenario)
        frame = sim.run_frame(sim.params(plain), times, columns, progress)
        return to_dataset(frame, self.info, scenario, times)

    def _run_computed(self, scenario: Scenario, columns: list[str] | None) -> xr.Dataset:
        """A run whose time settings the model computes as it goes, its times those it produced."""
        _, scenario = self.with_points(scenario)  # refuses new points for a .mdl, the only such model
        params = self._whole_arrays(self.params(scenario))
        self._fresh(params)  # before the clock takes the model's control functions
        controls = self.model.components._control_vars
        clock, own_start = Clock(self.model, self.info.path, max_steps(scenario.sim)), controls["initial_time"]
        start = None if "INITIAL TIME" in self.info.sim.computed else self.info.sim.start
        try:
            frame = self.run_frame(params, clock.times(start), columns)
        finally:
            controls["initial_time"] = own_start  # run_frame put the clock's there
        clock.check_saves(frame.index)
        return to_dataset(frame, self.info, scenario, clock.produced(frame.index, self.info.sim.computed))

    def with_points(self, scenario: Scenario) -> tuple["Simulator", Scenario]:
        """What runs a scenario: this model, or a compiled copy with the scenario's graphical
        functions' points; and the scenario without them (its other changes are parameters)."""
        if not scenario.graphical:
            return self, scenario
        return self._with_points(scenario.graphical), dataclasses.replace(scenario, graphical={})

    def _with_points(self, graphical: dict) -> "Simulator":
        """The model compiled with these graphical functions' points. PySD compiles a graphical
        function into its variable's code, and takes a Series given for the variable as a time
        series (a silently wrong run), so new points need a compiled copy of the model."""
        key = json.dumps(sorted((name, list(x), list(y)) for name, (x, y) in graphical.items()))
        if key not in self._copies:
            copy = ModelCopy(self.info)
            for name, (x, y) in graphical.items():
                copy.set_points(name, x, y)
            with tempfile.TemporaryDirectory(prefix="sdvag-points-") as tmp:
                path = Path(tmp) / self.info.path.name
                path.write_bytes(copy.to_bytes())
                self._copies[key] = Simulator(path)
        return self._copies[key]


def _template(info: ModelInfo, columns: tuple[str, ...], time: np.ndarray) -> tuple[list, xr.Dataset]:
    """(column index, variable name) of the model's variables among PySD's columns, and a
    Dataset of those variables (attributes, time coordinate) that a run's Dataset copies with
    its own values. Worked out once per model, column set and time grid (every run of a model
    has the same columns): xarray's constructor checks and aligns every variable again, a few
    per cent of a short run. A copy gets its own attributes, and the time index is read-only."""
    key = (str(info.path), info.sha256, columns)
    if key in _TEMPLATES and np.array_equal(_TEMPLATES[key][1]["time"].to_numpy(), time):
        return _TEMPLATES[key]
    by_key = {canonical(name): var for name, var in info.variables.items()}
    # PySD's own INITIAL TIME, FINAL TIME...: not the model's variables; an array's element is
    # its own column, "Price[Boston]"
    layout, data = [], {}
    for j, column in enumerate(columns):
        base, bracket, element = column.partition("[")
        var = by_key.get(canonical(base))
        if var is not None:
            layout.append((j, var.name + bracket + element))
            data[var.name + bracket + element] = (("time",), np.zeros(time.size),
                                                  {"units": var.units, "doc": var.doc, "kind": var.role})
    coords = {"time": ("time", time.copy(), {"units": info.sim.time_units or "time"})}
    _TEMPLATES[key] = layout, xr.Dataset(data, coords=coords)
    return _TEMPLATES[key]


def to_dataset(frame: pd.DataFrame, info: ModelInfo, scenario: Scenario, times: dict) -> xr.Dataset:
    """PySD's DataFrame as a Dataset named, documented and traced to its model and scenario."""
    try:
        block = frame.to_numpy(dtype=float)
    except (TypeError, ValueError):  # a column PySD left as objects
        block = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    layout, template = _template(info, tuple(map(str, frame.columns)), np.asarray(frame.index, dtype=float))
    ds = template.copy(data={name: block[:, j] for j, name in layout})
    ds.attrs.update({
        "model": str(info.path),
        "model_sha256": info.sha256,
        "scenario": scenario.name,
        "scenario_title": scenario.title,
        "scenario_json": json.dumps(scenario.describe()),
        "warnings": json.dumps(scenario.warnings),
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


def columns_of(ds: xr.Dataset, name: str) -> list[str]:
    """The Dataset's variables holding a model variable: itself, or each element of an array
    ("Firms" -> "Firms[North,Farm]", "Firms[North,Factory]" ...)."""
    if name in ds.data_vars:
        return [name]
    return [str(v) for v in ds.data_vars if str(v).startswith(name + "[")]


def outputs_of(ds: xr.Dataset) -> list[str]:
    """The run's outputs, an array output as its elements."""
    found: list[str] = []
    for name in json.loads(ds.attrs.get("outputs", "[]")):
        found += [c for c in columns_of(ds, name) if c not in found]
    return found


def run(target: str | Path | Scenario, set: dict | None = None, progress: bool = False,
        allow_out_of_range: bool = False) -> xr.Dataset:
    """Run a scenario file, a bare model file (on its defaults), a shipped scenario or model by
    name, or a Scenario; returns a Dataset. Values outside a <range> are refused unless
    `allow_out_of_range` (then listed in the Dataset's `warnings` attribute).

    `progress`: show PySD's progress bar (on stderr) for a run of more than LONG_RUN_STEPS steps.
    """
    scenario = target if isinstance(target, Scenario) else load_scenario(target, set, allow_out_of_range)
    if isinstance(target, Scenario) and set:
        raise SdvagError("pass overrides inside the Scenario, not with set=")
    return run_one(scenario, progress)


def run_one(scenario: Scenario, progress: bool = False) -> xr.Dataset:
    """One run on PySD, or on the vectorised engine for a model PySD cannot integrate (RK4)."""
    path = Path(scenario.model).resolve()
    data = scenario.model_data or model_bytes(path)
    key = (str(path), hashlib.sha256(data).hexdigest())
    if key not in _METHODS:
        _METHODS[key] = integration_method(parse_model(data, path))
    if _METHODS[key] == "euler":
        return Simulator.for_scenario(scenario).run(scenario, progress=progress)
    from sdvag.simulation.vectorised import Engine, NotCovered
    try:
        engine = Engine.for_model(path)
    except NotCovered as exc:
        raise UnsupportedFeature(f"integration method {_METHODS[key]} with {exc}", None, path) from None
    columns = [v.name for v in engine.info.variables.values() if v.kind != "gf"]
    times = time_settings(scenario, engine.info)
    runs = engine.run(scenario, [], np.zeros((1, 0)), columns, times)
    if runs.failed[0]:
        raise UnsupportedFeature("this model: its run stopped being finite", runs.failed[0], path)
    frame = pd.DataFrame(runs.data[0].T, index=runs.time, columns=columns)
    return to_dataset(frame, engine.info, scenario, times)


def compare(targets, set: dict | None = None, report=None, allow_out_of_range: bool = False) -> xr.Dataset:
    """Several runs side by side along a `scenario` dimension (outer join on time); runs of
    different models keep their own variables (the `scenario_variables` attribute)."""
    if isinstance(targets, (str, os.PathLike, Scenario)):
        raise SdvagError("compare takes a list of scenarios; for one scenario use run()")
    targets = list(targets)
    if not targets:
        raise SdvagError("compare needs at least one scenario")
    scenarios = [t if isinstance(t, Scenario) else load_scenario(t, set, allow_out_of_range) for t in targets]
    names = [s.name for s in scenarios]
    if len(frozenset(names)) != len(names):
        names = [f"{i + 1}:{n}" for i, n in enumerate(names)]
    results = []
    for i, scenario in enumerate(scenarios):
        if report:
            report(f"running {i + 1}/{len(scenarios)}: {scenario.name}")
        results.append(run_one(scenario))
    return side_by_side(results, names)


def side_by_side(results: list[xr.Dataset], names: list[str]) -> xr.Dataset:
    """Runs along a `scenario` dimension named `names` (outer join on time), outputs merged."""
    combined = xr.concat(results, dim=pd.Index(names, name="scenario"), join="outer",
                         combine_attrs="drop_conflicts", data_vars="all", coords="minimal",
                         compat="override")
    outputs: list[str] = []
    for r in results:
        outputs += [o for o in outputs_of(r) if o not in outputs]
    combined.attrs["outputs"] = json.dumps(outputs)
    combined.attrs["scenarios"] = json.dumps([r.attrs["scenario_json"] for r in results])
    combined.attrs["scenario_variables"] = json.dumps({n: list(r.data_vars) for n, r in zip(names, results)})
    combined.attrs["warnings"] = json.dumps([w for r in results for w in json.loads(r.attrs["warnings"])])
    combined.attrs.pop("scenario_json", None)
    return combined
