"""The time loop: every run of a chunk at once, stepped as PySD steps one run.

PySD's loop (pysd.py_backend.model.Model._integrate) is followed exactly: time advances by
repeated addition of dt, a time is saved when it is within dt * 1e-5 of a multiple of the save
step, each variable is evaluated once per time step on demand (PySD's step cache), all
derivatives are taken before any state moves. RK4 (XMILE method="RK4") takes the classic
four-stage step over the same objects. A run whose state or outputs stop being finite is
marked failed with the first variable that went wrong; the other runs go on.
The accelerated backend (jax_backend.py) shares the preparation, the time schedule, the steps
and the finish, and replaces only the loop.
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
        self.n, self.dt, self.t, self.xp = n, dt, 0.0, program.xp
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


def prepare(program: Program, n: int, constants: dict, tables: dict[str, Table], timed: dict,
            columns: list[str], times: dict, method: str) -> State:
    """The state of `n` runs at the initial time: statefuls initialised (runs they cannot
    initialise marked failed in `s.failed`, `s.bad`), the values that never change computed.
    `constants`: key -> a number or an array of n values; `tables`: key -> replacement
    graphical functions; `timed`: key -> function of the state (inputs, policies); `columns`:
    keys to save."""
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
    s = State(program, n, times["dt"], exprs, {**program.tables, **tables})
    s.start, s.stop, s.save_step = times["start"], times["stop"], times["save_step"]
    s.t = np.float64(times["start"])
    s.failed, s.bad = [None] * n, np.zeros(n, dtype=bool)
    with np.errstate(all="ignore"):
        for stateful in program.statefuls:
            s.output(stateful)
        for stateful in program.statefuls:
            if stateful.failed is not None and stateful.failed.any():
                _mark(s.failed, s.bad, stateful.failed, stateful.name)
        s.static = {k: s.v[k] for k in _static_keys(program, exprs, set(timed))}
    return s


def schedule(times: dict) -> tuple[list, list[bool], object, bool]:
    """The times at which a step starts (time advancing by repeated addition of dt, as in
    PySD), whether each is saved, the final time and whether it is saved."""
    start, stop, dt, save_step = times["start"], times["stop"], times["dt"], times["save_step"]
    prec = dt * RPREC
    t, steps = np.float64(start), []
    while t + dt * RPREC < stop:
        steps.append(t)
        t = t + dt
    return steps, [_in_return(x, start, save_step, prec) for x in steps], t, _in_return(t, start, save_step, prec)


def finish(program: Program, columns: list[str], saved_t: list, data: np.ndarray, dt: float,
           failed: list, bad: np.ndarray) -> Runs:
    """The runs' outputs (runs, columns, times), a run whose outputs are not all finite marked failed."""
    for j, column in enumerate(columns):
        wrong = ~np.isfinite(data[:, j, :]).all(axis=1) & ~bad
        if wrong.any():
            _mark(failed, bad, wrong, program.names.get(column, column))
    time = np.round(np.asarray(saved_t), -int(np.log10(dt * RPREC)))
    return Runs(time, data, failed)


def simulate(program: Program, n: int, constants: dict, tables: dict[str, Table], timed: dict,
             columns: list[str], times: dict, method: str = "euler") -> Runs:
    """Run `n` runs on numpy (arguments as for `prepare`)."""
    s = prepare(program, n, constants, tables, timed, columns, times, method)
    steps, saves, final, final_saved = schedule(times)
    dt = times["dt"]
    step = _rk4 if method == "rk4" else _euler
    check = lambda s, rates: _check(s, program, rates, s.failed, s.bad)  # noqa: E731
    saved_t, saved = [], []
    with np.errstate(all="ignore"):
        for t, save in zip(steps, saves):
            s.t = t
            if save:
                saved_t.append(t)
                saved.append(_record(s, columns))
            step(s, program, dt, check)
            s.fresh()
        s.t = final
        if final_saved:
            saved_t.append(final)
            saved.append(_record(s, columns))
    data = np.stack(saved, axis=-1) if saved else np.empty((n, len(columns), 0))
    return finish(program, columns, saved_t, data, dt, s.failed, s.bad)


def _record(s: State, columns: list[str]) -> np.ndarray:
    out = np.empty((s.n, len(columns)))
    for j, key in enumerate(columns):
        out[:, j] = s.v[key]
    return out


def _euler(s: State, program: Program, dt: float, check) -> None:
    """One Euler step; `check(s, rates)` sees the rates before any state moves."""
    rates = [stateful.ddt(s) for stateful in program.statefuls]
    check(s, rates)
    for stateful, rate in zip(program.statefuls, rates):
        if rate is not None:
            stateful.update(stateful.state + rate * dt)
        stateful.commit(s)


def _rk4(s: State, program: Program, dt: float, check) -> None:
    """Classic fourth-order Runge-Kutta over every stateful (all continuous: see simulate)."""
    items = program.statefuls
    y0 = [x.state for x in items]
    ks = [[x.ddt(s) for x in items]]
    check(s, ks[0])
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
