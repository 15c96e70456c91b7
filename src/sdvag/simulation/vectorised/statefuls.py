"""PySD's stateful objects (pysd.py_backend.statefuls) for many runs at once.

Each keeps its state as an array with the runs along the last axis and computes exactly what
PySD's object computes, in the same order of floating-point operations, so that a run here
equals the PySD run to rounding. Where PySD fixes something per model at initialisation (a
delay's order, a fixed delay's pipeline length), each run here gets its own.
`ddt` only reads; what PySD changes inside ddt or update (a DELAY N's stage times, a fixed
delay's pipeline) is held back and committed once per time step. Initialisation is numpy's;
the step (output, ddt, update, commit) uses the object's array module `xp`, numpy or
jax.numpy (the accelerated backend traces it), and never changes an array in place.
`carried` names what a step changes, `fixed` what initialisation sets per run.
"""
from __future__ import annotations

import numpy as np

SMALL_VENSIM = 1e-6  # PySD's zero for SAFEDIV and the delay rounding (functions.SMALL_VENSIM)


def zidz(num, den, xp=np):
    return xp.where(xp.abs(den) < SMALL_VENSIM, 0.0, num / den)


def _runs(value, n: int) -> np.ndarray:
    return np.array(np.broadcast_to(np.asarray(value, dtype=float), (n,)))


def _shift_in(xp, first, stages):
    """The stages moved one down the pipeline, `first` entering at the top (np.roll, then the
    top replaced, without changing an array in place)."""
    top = xp.broadcast_to(xp.asarray(first, dtype=stages.dtype), stages.shape[1:])[None]
    return xp.concatenate([top, stages[:-1]], axis=0)


def _integers(value, n: int) -> np.ndarray:
    """int() of each run's value; 0 (a failed run) where it is not finite."""
    value = _runs(value, n)
    return np.where(np.isfinite(value), value, 0).astype(int)


def _orders(order, delay, dt: float, n: int) -> np.ndarray:
    """Each run's delay order: PySD casts it to int and lowers it while order * dt > delay."""
    orders = _integers(order, n)
    delay = _runs(delay, n)
    too_long = orders * dt > delay
    while too_long.any():
        orders -= too_long
        too_long = (orders * dt > delay) & (orders > 0)
    return orders


def _last(state, orders, xp=np):
    """The last stage of each run's own pipeline."""
    if orders is None:
        return state[-1]
    return xp.take_along_axis(state, xp.maximum(orders - 1, 0)[None, :], axis=0)[0]


class Stateful:
    """What the integrator needs of every stateful object."""

    name = "stateful"
    state: np.ndarray
    failed: np.ndarray | None = None  # runs PySD could not initialise (e.g. a delay order of 0)
    xp = np
    carried: tuple[str, ...] = ("state",)
    fixed: tuple[str, ...] = ()

    def initialise(self, s) -> None:
        raise NotImplementedError

    def ddt(self, s):
        return None  # discrete: no derivative

    def update(self, state) -> None:
        self.state = state

    def commit(self, s) -> None:
        """The discrete part of a step, computed from the values at the start of the step."""


class Integ(Stateful):
    def __init__(self, flow, initial, non_negative: bool, name: str):
        self.flow, self.initial, self.non_negative, self.name = flow, initial, non_negative, name

    def initialise(self, s):
        self.state = _runs(self.initial(s), s.n)

    def output(self, s):
        return self.state

    def ddt(self, s):
        return self.flow(s)

    def update(self, state):
        self.state = self.xp.maximum(state, 0) if self.non_negative else state


class Delay(Stateful):
    """DELAY1, DELAY3 (PySD's Delay; model/delay_orders.py makes a short one stocks) and DELAYN
    (PySD's DelayN, with stage times that move)."""

    carried = ("state", "times")
    fixed = ("orders", "mask", "order_values")

    def __init__(self, input, delay_time, initial, order, moving_times: bool, lowers: bool, name: str):
        self.input, self.delay_time, self.initial, self.order = input, delay_time, initial, order
        self.moving, self.lowers, self.name = moving_times, lowers, name

    def initialise(self, s):
        delay = self.delay_time(s)
        orders = _orders(self.order(s), delay, s.dt, s.n)
        # a run whose delay is shorter than its order times dt fails, as sdvag refuses it on PySD,
        # unless it is a DELAY N whose lowered order is the model's own software's (`lowers`,
        # model/delay_orders.py): Vensim and Stella keep a DELAY1's or DELAY3's order
        lowered = orders < _integers(self.order(s), s.n)
        self.failed = (orders < 1) | (lowered & (not (self.moving and self.lowers)))
        orders = np.maximum(orders, 1)
        self.k = int(orders.max())
        self.orders = None if (orders == self.k).all() else orders
        self.mask = None if self.orders is None else (np.arange(self.k)[:, None] < orders[None, :])
        self.order_values = orders.astype(float)
        init = _runs(self.initial(s) * delay, s.n)
        self.state = np.repeat(init[None, :], self.k, axis=0)
        if self.moving:
            self.times = np.repeat(_runs(delay, s.n)[None, :], self.k, axis=0)
        self._next_times = None

    def output(self, s):
        if self.moving:
            return _last(self.state, self.orders, self.xp) / self.times[0]
        return _last(self.state, self.orders, self.xp) / self.delay_time(s)

    def ddt(self, s):
        if self.moving:
            times = _shift_in(self.xp, self.delay_time(s), self.times)
            self._next_times = times
            outflows = self.state / times
        else:
            outflows = self.state / self.delay_time(s)
        inflows = _shift_in(self.xp, self.input(s), outflows)
        rate = (inflows - outflows) * self.order_values
        return rate if self.mask is None else self.xp.where(self.mask, rate, 0.0)

    def commit(self, s):
        if self.moving and self._next_times is not None:
            self.times, self._next_times = self._next_times, None


class DelayFixed(Stateful):
    """The pipeline DELAY: each run's input comes out round(delay / dt) steps later."""

    carried = ("state", "pipe", "pointer")
    fixed = ("orders", "columns")

    def initialise(self, s):
        delay = _runs(self.delay_time(s), s.n)
        self.failed = ~np.isfinite(delay)
        delay = np.where(self.failed, s.dt, delay)
        self.orders = np.round(np.maximum(delay / s.dt, 1) + SMALL_VENSIM).astype(int)
        init = _runs(self.initial(s), s.n)
        self.pipe = np.repeat(init[None, :], int(self.orders.max()), axis=0)
        self.pointer = np.zeros(s.n, dtype=int)
        self.state = init
        self.columns = np.arange(s.n)

    def __init__(self, input, delay_time, initial, name: str):
        self.input, self.delay_time, self.initial, self.name = input, delay_time, initial, name
        self._incoming = None

    def output(self, s):
        return self.state

    def ddt(self, s):
        self._incoming = self.xp.broadcast_to(self.xp.asarray(self.input(s), dtype=float), (s.n,))
        return None

    def commit(self, s):
        if self._incoming is None:
            return
        if self.xp is np:
            self.pipe[self.pointer, self.columns] = self._incoming
        else:  # jax arrays are immutable
            self.pipe = self.pipe.at[self.pointer, self.columns].set(self._incoming)
        self.pointer = (self.pointer + 1) % self.orders
        self.state = self.pipe[self.pointer, self.columns]
        self._incoming = None


class Smooth(Stateful):
    """SMTH1, SMTH3, SMTHN: a chain of first-order smooths (PySD's Smooth)."""

    fixed = ("orders", "mask", "order_values")

    def __init__(self, input, smooth_time, initial, order, name: str):
        self.input, self.smooth_time, self.initial, self.order = input, smooth_time, initial, order
        self.name = name

    def initialise(self, s):
        orders = _integers(self.order(s), s.n)
        self.failed = orders < 1
        orders = np.maximum(orders, 1)
        self.k = int(orders.max())
        self.orders = None if (orders == self.k).all() else orders
        self.mask = None if self.orders is None else (np.arange(self.k)[:, None] < orders[None, :])
        self.order_values = orders.astype(float) if self.orders is not None else float(self.k)
        self.state = np.repeat(_runs(self.initial(s), s.n)[None, :], self.k, axis=0)

    def output(self, s):
        return _last(self.state, self.orders, self.xp)

    def ddt(self, s):
        targets = _shift_in(self.xp, self.input(s), self.state)
        rate = (targets - self.state) * self.order_values / self.smooth_time(s)
        return rate if self.mask is None else self.xp.where(self.mask, rate, 0.0)


class Trend(Stateful):
    def __init__(self, input, average_time, initial_trend, name: str):
        self.input, self.average_time, self.initial_trend = input, average_time, initial_trend
        self.name = name

    def initialise(self, s):
        self.state = _runs(self.input(s) / (1 + self.initial_trend(s) * self.average_time(s)), s.n)

    def output(self, s):
        return zidz(self.input(s) - self.state, self.average_time(s) * self.xp.abs(self.state), self.xp)

    def ddt(self, s):
        return (self.input(s) - self.state) / self.average_time(s)


class Initial(Stateful):
    """INIT(x): x at the initial time."""

    def __init__(self, initial, name: str):
        self.initial, self.name = initial, name

    def initialise(self, s):
        self.state = _runs(self.initial(s), s.n)

    def output(self, s):
        return self.state
