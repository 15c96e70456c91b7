"""A vectorised engine: thousands of runs of one scenario at once, equal to PySD run by run.

Built from PySD's own translation of the model (its AbstractModel, see compiler.py), it
evaluates each variable once per time step for all runs as a numpy array, so an ensemble,
a sensitivity analysis or a calibration's population costs about one PySD run per time step
instead of one per run. It also integrates with RK4, which PySD cannot. Models it does not
cover raise NotCovered: the callers then run PySD per run.

Backends: "numpy" (the default) and "jax" (jax_backend.py, the optional `accel` extra: the
time loop compiled by XLA), chosen per call or by SDVAG_ENGINE_BACKEND. Where the chosen
backend is not installed or cannot run a model, numpy runs it, said once.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sdvag.errors import SdvagError
from sdvag.model.delay_orders import vensim_delays
from sdvag.model.translate import abstract_model
from sdvag.model.xmile import canonical, model_bytes
from sdvag.simulation.scenario import Policy, Scenario, time_settings
from sdvag.simulation.vectorised.compiler import NotCovered, Table, build
from sdvag.simulation.vectorised.integrate import Runs, simulate

__all__ = ["Engine", "NotCovered", "Runs", "simulate_many", "covers", "backends"]

METHODS = ("euler", "rk4")
MEMORY_PER_CHUNK = 256 * 2 ** 20  # bytes of arrays a chunk of runs may hold at once
_ENGINES: dict[tuple[str, str], "Engine | NotCovered"] = {}
BACKENDS = ("numpy", "jax")
_TOLD: set = set()
_UNTRACED: set = set()  # models the jax backend could not trace (numpy runs them)


def backends() -> list[str]:
    """The engine's backends installed here, the default first."""
    return [b for b in BACKENDS if b == "numpy" or importlib.util.find_spec(b) is not None]


def _say_once(key, message: str) -> None:
    if key not in _TOLD:
        _TOLD.add(key)
        warnings.warn(message, stacklevel=4)


def _backend(name: str | None) -> str:
    """The backend to use: `name`, else SDVAG_ENGINE_BACKEND, else numpy; numpy (said once)
    where the one asked for is not installed."""
    name = (name or os.environ.get("SDVAG_ENGINE_BACKEND") or "numpy").strip().lower()
    if name not in BACKENDS:
        raise SdvagError(f"unknown engine backend {name!r} (one of {', '.join(BACKENDS)})")
    if name not in backends():
        _say_once(name, f"the engine's {name} backend is not installed (pip install \"sdvag[accel]\"); "
                        f"running on numpy")
        return "numpy"
    return name


@dataclass(frozen=True)
class _Step:
    """A step lever's value over time, exactly as simulate.py's PySD component gives it (its
    fields may be arrays: the jax backend passes them into its compiled loop)."""

    at: float
    to: float
    base: float

    def __call__(self, s):
        xp = s.xp
        eps = 1e-9 * xp.maximum(1.0, xp.abs(self.at))
        return xp.where(s.t >= self.at - eps, xp.asarray(self.to, dtype=float), xp.asarray(self.base, dtype=float))


@dataclass(frozen=True)
class _Interpolated:
    """A time series input or a ramp lever: linear between its points, held beyond them."""

    t: tuple
    v: tuple

    def __call__(self, s):
        return s.xp.interp(s.t, s.xp.asarray(self.t, dtype=float), s.xp.asarray(self.v, dtype=float))


def _policy(policy: Policy, base: float):
    if policy.kind == "step":
        return _Step(float(policy.at), float(policy.to), float(base))
    return _Interpolated((float(policy.at), float(policy.until)), (float(base), float(policy.to)))


def _series(t, v):
    return _Interpolated(tuple(map(float, t)), tuple(map(float, v)))


class Engine:
    """One model compiled for the vectorised engine."""

    def __init__(self, path: str | Path, data: bytes | None = None):
        self.info, model = abstract_model(path, METHODS, data)
        if model is None:
            raise NotCovered("models PySD did not read as XMILE")
        self.program = build(model, vensim_delays(self.info))
        self.method = self.info.sim.method.strip().lower() or "euler"

    @classmethod
    def for_model(cls, path: str | Path, data: bytes | None = None) -> "Engine":
        """The process-wide engine of a model file (raises NotCovered, remembered too); `data`:
        the file's bytes as the caller checked them (a worker never reads the file again).
        SDVAG_ENGINE=pysd in the environment turns the engine off (to compare the two)."""
        if os.environ.get("SDVAG_ENGINE", "").lower() == "pysd":
            raise NotCovered("any model while SDVAG_ENGINE=pysd")
        path = Path(path).resolve()
        data = model_bytes(path) if data is None else data
        key = (str(path), hashlib.sha256(data).hexdigest())
        if key not in _ENGINES:
            try:
                _ENGINES[key] = cls(path, data)
            except NotCovered as exc:
                _ENGINES[key] = exc
        found = _ENGINES[key]
        if isinstance(found, NotCovered):
            raise found
        return found

    def _key(self, name: str) -> str:
        key = canonical(name)
        if key not in self.program.exprs and key not in self.program.tables:
            raise SdvagError(f"unknown variable {name!r} in {self.info.path.name}")
        return key

    def chunk_size(self, columns: int, saves: int) -> int:
        """Runs per chunk so that a chunk's arrays stay within MEMORY_PER_CHUNK."""
        per_run = 8 * (4 * len(self.program.exprs) + 8 * len(self.program.statefuls) + columns * saves)
        return max(1, MEMORY_PER_CHUNK // per_run)

    def run(self, scenario: Scenario, names: list[str], values, columns: list[str],
            times: dict | None = None, backend: str | None = None) -> Runs:
        """`scenario` once per row of `values` (runs x names); the `columns` saved at the save
        times of `times` (default: the scenario's), on `backend` (see the module's doc)."""
        values = np.asarray(values, dtype=float)
        if values.ndim != 2 or values.shape[1] != len(names):
            raise SdvagError(f"expected a (runs, {len(names)}) array of values, got shape {values.shape}")
        constants = {self._key(k): np.float64(v) for k, v in scenario.constants.items()}
        constants.update({self._key(k): np.ascontiguousarray(values[:, j]) for j, k in enumerate(names)})
        tables = {}
        for name, (x, y) in scenario.graphical.items():
            key = self._key(name)
            kind = self.program.tables[key].kind if key in self.program.tables else "interpolate"
            tables[key] = Table(np.asarray(x, dtype=float), np.asarray(y, dtype=float), kind)
        timed = {self._key(k): _series(np.asarray(t, dtype=float), np.asarray(v, dtype=float))
                 for k, (t, v) in scenario.inputs.items()}
        for policy in scenario.policies:
            base = scenario.constants.get(policy.variable, self.info.variables[policy.variable].default)
            timed[self._key(policy.variable)] = _policy(policy, base)
        for key in timed:
            constants.pop(key, None)
        args = (self.program, len(values), constants, tables, timed, [self._key(c) for c in columns],
                times or time_settings(scenario, self.info), self.method)
        if _backend(backend) == "jax" and self.info.path not in _UNTRACED:
            try:
                from sdvag.simulation.vectorised import jax_backend
            except ImportError as exc:  # installed, but does not load
                _say_once("jax", f"the engine's jax backend does not load ({exc}); running on numpy")
                return simulate(*args)
            try:
                return jax_backend.simulate(*args)
            except jax_backend.NOT_TRACED as exc:
                _UNTRACED.add(self.info.path)
                _say_once(("jax", self.info.path), f"{self.info.path.name}: the jax backend cannot run this "
                                                    f"model ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                                                    f"running on numpy")
        return simulate(*args)


def covers(path: str | Path) -> str | None:
    """None if the engine runs this model, else what it does not cover."""
    try:
        Engine.for_model(path)
    except NotCovered as exc:
        return str(exc)
    return None


def simulate_many(scenario: Scenario, names: list[str], values, columns: list[str],
                  times: dict | None = None, backend: str | None = None) -> Runs:
    """Run `scenario` once per row of `values` (runs x `names`, constants varied per run) and
    return the saved times, the `columns` (runs, columns, times) and each run's failure.
    Raises NotCovered where the engine does not cover the model."""
    return Engine.for_model(scenario.model, scenario.model_data).run(scenario, names, values, columns, times,
                                                                     backend)
