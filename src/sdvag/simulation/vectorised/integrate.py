"""The time loop: every run of a chunk at once, stepped as PySD steps one run.

PySD's loop (pysd.py_backend.model.Model._integrate) is followed exactly: time advances by
repeated addition of dt, a time is saved when it is within dt * 1e-5 of a multiple of the save
step, each variable is evaluated once per time step on demand (PySD's step cache), all
derivatives are taken before any state moves. RK4 (XMILE method="RK4") takes the classic
four-stage step over the same objects. A run whose state or outputs stop being finite is
marked failed with the first variable that went wrong; the other runs go on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sdvag.simulation.vectorised.compiler import NotCovered, Program, Table
from sdvag.simulation.vectorised.statefuls import Delay, DelayFixed

RPREC = 1e-5  # PySD's relative precision of the final and save times (components.Time.rprec)
_total = np.add.reduce  # np.sum without its Python wrapper: called for every stateful every step


class _Values(dict):
    """The variables' values at one evaluation, computed on first use (PySD's step cache)."""

    def __init__(self, exprs, state, known):
        super().__init__(known)
        self.exprs, self.state = exprs, state

    def __missing__(self, key):
        value = self.exprs[key](self.state)
        self[key] = value
        return value


class State:
    """What an expression sees: time, dt, the runs' values, the tables and the statefuls."""

    def __init__(self, program: Program, n: int, dt: float, exprs: dict, tables: dict):
        self.n, self.dt, self.t = n, dt, 0.0
        self.exprs, self.tables = exprs, tables
        self.ready: set[int] = set()
        self.static: dict = {}
        self.v = _Values(exprs, self, {})

    def fresh(self) -> None:
        self.v = _Values(self.exprs, self, self.static)

    def output(self, stateful):
        if id(stateful) not in self.ready:
            stateful.initialise(self)
            self.ready.add(id(stateful))
        return stateful.output(self)


@dataclass
class Runs:
    """Saved times, the outputs (runs, columns, times), and per run the variable that failed."""

    time: np.ndarray
    data: np.ndarray
    failed: list[str | None]


def _static_keys(program: Program, exprs: dict, dynamic: set[str]) -> list[str]:
    """Variables that cannot change during a run: no time, no stateful, no time-dependent input."""
    static: dict[str, bool] = {}

    def is_static(key, seen=()):
        if key not in static:
            if key in dynamic or key not in program.depends or key in seen:
                static[key] = False
            else:
                deps = program.depends[key]
                static[key] = not ({"time", "<stateful>"} & deps) and all(
                    is_static(d, (*seen, key)) for d in deps)
        return static[key]
    return [k for k in exprs if is_static(k)]


def _in_return(t: float, start: float, save_step: float, prec: float) -> bool:
    delay = t - start
    return delay % save_step < prec or -delay % save_step < prec


def simulate(program: Program, n: int, constants: dict, tables: dict[str, Table], timed: dict,
             columns: list[str], times: dict, method: str = "euler") -> Runs:
    """Run `n` runs. `constants`: key -> a number or an array of n values; `tables`: key ->
    replacement graphical functions; `timed`: key -> closure of the state (inputs, policies);
    `columns`: keys to save."""
    exprs = dict(program.exprs)
    for key, value in constants.items():
        exprs[key] = (lambda v: lambda s: v)(value)
    exprs.update(timed)
    missing = [c for c in columns if c not in exprs]
    if missing:
        raise NotCovered(f"output of the graphical function {program.names.get(missing[0], missing[0])!r}")
    if method == "rk4":
        discrete = [x.name for x in program.statefuls
                    if isinstance(x, DelayFixed) or (isinstance(x, Delay) and x.moving)]
        if discrete:
            raise NotCovered(f"RK4 with a pipeline DELAY or DELAYN (variable {discrete[0]!r})")
    start, stop, dt, save_step = times["start"], times["stop"], times["dt"], times["save_step"]
    s = State(program, n, dt, exprs, {**program.tables, **tables})
    s.start, s.stop, s.save_step = start, stop, save_step
    s.t = np.float64(start)
    failed: list[str | None] = [None] * n
    bad = np.zeros(n, dtype=bool)
    with np.errstate(all="ignore"):
        for stateful in program.statefuls:
            s.output(stateful)
        for stateful in program.statefuls:
            if stateful.failed is not None and stateful.failed.any():
                _mark(failed, bad, stateful.failed, stateful.name)
        s.static = {k: s.v[k] for k in _static_keys(program, exprs, set(timed))}
        saved_t, saved = [], []
        prec = dt * RPREC
        step = _rk4 if method == "rk4" else _euler
        while s.t + dt * RPREC < stop:
            if _in_return(s.t, start, save_step, prec):
                saved_t.append(s.t)
                saved.append(_record(s, columns))
            step(s, program, dt, failed, bad)
            s.t = s.t + dt
            s.fresh()
        if _in_return(s.t, start, save_step, prec):
            saved_t.append(s.t)
            saved.append(_record(s, columns))
    data = np.stack(saved, axis=-1) if saved else np.empty((n, len(columns), 0))
    for j, column in enumerate(columns):
        wrong = ~np.isfinite(data[:, j, :]).all(axis=1) & ~bad
        if wrong.any():
            _mark(failed, bad, wrong, program.names.get(column, column))
    time = np.round(np.asarray(saved_t), -int(np.log10(dt * RPREC)))
    return Runs(time, data, failed)


def _record(s: State, columns: list[str]) -> np.ndarray:
    out = np.empty((s.n, len(columns)))
    for j, key in enumerate(columns):
        out[:, j] = s.v[key]
    return out


def _euler(s: State, program: Program, dt: float, failed: list, bad: np.ndarray) -> None:
    rates = [stateful.ddt(s) for stateful in program.statefuls]
    _check(s, program, rates, failed, bad)
    for stateful, rate in zip(program.statefuls, rates):
        if rate is not None:
            stateful.update(stateful.state + rate * dt)
        stateful.commit(s)


def _rk4(s: State, program: Program, dt: float, failed: list, bad: np.ndarray) -> None:
    """Classic fourth-order Runge-Kutta over every stateful (all continuous: see simulate)."""
    items = program.statefuls
    y0 = [x.state for x in items]
    ks = [[x.ddt(s) for x in items]]
    _check(s, program, ks[0], failed, bad)
    t0 = s.t
    for frac in (0.5, 0.5, 1.0):  # noqa: B007
        for x, y, r in zip(items, y0, ks[-1]):
            x.state = y + r * (dt * frac)
        s.t = t0 + dt * frac
        s.fresh()
        ks.append([x.ddt(s) for x in items])
    s.t = t0
    for i, (x, y) in enumerate(zip(items, y0)):
        a, b, c, d = (k[i] for k in ks)
        x.update(y + (a + 2 * b + 2 * c + d) * (dt / 6))


def _mark(failed: list, bad: np.ndarray, which: np.ndarray, name: str) -> None:
    for i in np.flatnonzero(which & ~bad):
        failed[i] = name
    bad |= which


def _check(s: State, program: Program, rates: list, failed: list, bad: np.ndarray) -> None:
    """Runs whose rates stopped being finite, each named by the first variable (in the order
    they were computed, causes before effects) whose value is not finite."""
    if all(r is None or math.isfinite(_total(r, axis=None)) for r in rates):  # one pass, no temporary
        return
    wrong = np.zeros(s.n, dtype=bool)
    for stateful, rate in zip(program.statefuls, rates):
        if rate is not None:
            wrong |= ~np.isfinite(rate).reshape(-1, s.n).all(axis=0)
    wrong &= ~bad
    if not wrong.any():
        return
    for key in program.exprs:
        s.v[key]
    for key, value in list(s.v.items()):
        values = np.broadcast_to(np.asarray(value, dtype=float), (s.n,))
        hit = wrong & ~np.isfinite(values)
        if hit.any():
            _mark(failed, bad, hit, program.names.get(key, key))
            wrong &= ~hit
    for stateful, rate in zip(program.statefuls, rates):
        if rate is not None and wrong.any():
            hit = wrong & ~np.isfinite(rate).reshape(-1, s.n).all(axis=0)
            _mark(failed, bad, hit, stateful.name)
            wrong &= ~hit
