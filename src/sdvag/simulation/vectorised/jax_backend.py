"""The accelerated backend: the engine's whole time loop compiled by JAX (XLA) for a block of runs.

The numpy engine calls numpy once per variable per time step, so at thousands of runs its time
goes into Python calls and into memory traffic between them. Here the same program code and
the same stateful objects run on jax.numpy (Program.using) and are traced once into one XLA
function (lax.scan over the time steps) that fuses each step's arithmetic across variables.
Initialisation stays numpy's (integrate.prepare). Runs whose rates or outputs stop being
finite are run again on numpy, which names the variable, so failures read the same on both
backends. Compiled functions are kept per process, one per model, scenario layout and block
size; runs are padded to one of few block sizes, so that chunks of most sizes reuse them.
XLA on CPU flushes subnormal numbers (below 2.2e-308) to zero where numpy keeps them: such a
value differs by less than 2.3e-308, and a run in which one turns into an infinity or NaN
(a division, a logarithm) is run again on numpy.
"""
from __future__ import annotations

import dataclasses
import math
import os

# XLA on CPU fuses a * b + c into one fused multiply-add where the processor has one: an answer
# that differs from numpy's (and PySD's) in the last bit, which cancellation can make visible.
# Processors without FMA are AVX's: set before JAX reads its flags (EXACT checks it took effect).
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_cpu_max_isa=AVX".strip()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from sdvag.simulation.vectorised.compiler import Program, Table  # noqa: E402
from sdvag.simulation.vectorised.integrate import Runs, State, _euler, _rk4, finish, prepare, schedule  # noqa: E402
from sdvag.simulation.vectorised.integrate import simulate as simulate_numpy  # noqa: E402

BLOCK = 8192          # the most runs per compiled call (a step's arrays stay in cache)
SMALLEST = 32         # the least block: fewer runs are padded up to a power of two from here
_COMPILED: dict[tuple, object] = {}


class Inexact(Exception):
    """XLA here would not give numpy's arithmetic."""


NOT_TRACED = (jax.errors.JAXTypeError, jax.errors.JAXIndexError, NotImplementedError, Inexact)  # numpy runs these


def _interp(x, xs, ys):
    """numpy.interp's arithmetic (numpy/core/src/multiarray/compiled_base.c), the interval found
    by comparing with every point: no loop in the compiled step."""
    x = jnp.asarray(x, dtype=float)
    xs, ys = jnp.asarray(xs, dtype=float), jnp.asarray(ys, dtype=float)
    if len(xs) == 1:
        return jnp.full_like(x, ys[0])
    j = jnp.sum(x[..., None] >= xs, axis=-1) - 1
    i = jnp.clip(j, 0, len(xs) - 2)
    slope = (jnp.diff(ys) / jnp.diff(xs))[i]
    x0, x1, y0, y1 = xs[i], xs[i + 1], ys[i], ys[i + 1]
    out = slope * (x - x0) + y0
    out = jnp.where(jnp.isnan(out), slope * (x - x1) + y1, out)
    out = jnp.where(jnp.isnan(out) & (y0 == y1), y0, out)
    out = jnp.where(x == x0, y0, out)
    out = jnp.where(j >= len(xs) - 1, ys[-1], jnp.where(j < 0, ys[0], out))
    return jnp.where(jnp.isnan(x), jnp.nan, out)


class _Module:
    """jax.numpy with numpy's interpolation: the array module the program runs on here."""

    interp = staticmethod(_interp)

    @staticmethod
    def searchsorted(a, v, side="left"):
        return jnp.searchsorted(a, v, side=side, method="compare_all")

    def __getattr__(self, name):
        return getattr(jnp, name)


XP = _Module()


def _block(n: int) -> int:
    """Runs per compiled call for n runs: n in equal blocks of at most BLOCK, rounded up to a
    multiple of 1024 (or a power of two below that), so that few sizes are ever compiled."""
    size = math.ceil(n / math.ceil(n / BLOCK))
    return -(-size // 1024) * 1024 if size > 1024 else max(SMALLEST, 1 << (size - 1).bit_length())


def _load(statefuls, states: list[dict]) -> None:
    for stateful, values in zip(statefuls, states):
        for name, value in values.items():
            setattr(stateful, name, value)


def _take(statefuls, kind: str) -> list[dict]:
    return [{name: getattr(x, name, None) for name in getattr(x, kind)} for x in statefuls]


def _function(program: Program, method: str, columns: tuple, dynamic: tuple, levers: tuple,
              kinds: tuple, times: dict):
    """The compiled loop: (step times, save slots, save flags, final time, saved (zeros), finite
    runs (ones), carried states, per-run fixed values, static values, the `dynamic` constants,
    the levers' fields, the replaced tables' points) -> (saved, final record, finite runs).
    Constants reach it as static values (computed by numpy before the loop), or as `dynamic`
    ones where a scenario sets a variable that changes; `levers`: (key, class) of the time
    inputs and policies; `kinds`: (key, kind) of the replaced tables."""
    jp = program.using(XP)
    exprs = dict(jp.exprs)
    for key in dynamic:
        exprs[key] = (lambda k: lambda s: s.consts[k])(key)
    dt = times["dt"]
    step = _rk4 if method == "rk4" else _euler

    def check(s, rates):
        ok = jnp.ones(s.n, dtype=bool)
        for rate in rates:
            if rate is not None:
                finite = jnp.isfinite(rate)
                ok &= finite.reshape(-1, s.n).all(axis=0) if finite.ndim else jnp.broadcast_to(finite, (s.n,))
        s.ok = ok

    def record(s):
        return jnp.stack([jnp.broadcast_to(jnp.asarray(s.v[c], dtype=float), (s.n,)) for c in columns])

    def run(ts, slots, flags, final_t, saved, ok, carried, fixed, static, consts, fields, points):
        inputs = {key: kind(*fields[key]) for key, kind in levers}
        tables = {key: Table(*points[key], kind, XP) for key, kind in kinds}
        s = State(jp, ok.shape[0], dt, {**exprs, **inputs}, {**jp.tables, **tables})
        s.start, s.stop, s.save_step = times["start"], times["stop"], times["save_step"]
        s.ready = {id(x) for x in jp.statefuls}
        s.static, s.consts = static, consts
        _load(jp.statefuls, fixed)

        def body(carry, x):
            states, saved, ok = carry
            t, slot, flag = x
            _load(jp.statefuls, states)
            s.t = t
            s.fresh()
            values = record(s)
            step(s, jp, dt, check)
            saved = saved.at[slot].set(jnp.where(flag, values, saved[slot]))
            return (_take(jp.statefuls, "carried"), saved, ok & s.ok), None

        (states, saved, ok), _ = jax.lax.scan(body, (carried, saved, ok), (ts, slots, flags))
        _load(jp.statefuls, states)
        s.t = final_t
        s.fresh()
        return saved, record(s), ok

    return jax.jit(run)


def _compiled(program: Program, method: str, columns: list[str], dynamic: tuple, static: tuple,
              timed: dict, tables: dict[str, Table], times: dict):
    """The process's compiled loop for this layout: the scenarios of a model that differ only in
    numbers (constants, levers' times and values, tables' points) share it (jax.jit compiles it
    again per block size and number of points)."""
    levers = tuple(sorted((k, type(f)) for k, f in timed.items()))
    kinds = tuple(sorted((k, t.kind) for k, t in tables.items()))
    key = (id(program), method, tuple(columns), dynamic, static, levers, kinds,
           tuple(sorted((k, float(v)) for k, v in times.items())))
    if key not in _COMPILED:
        _COMPILED[key] = (program, _function(program, method, tuple(columns), dynamic, levers, kinds, times))
    return _COMPILED[key][1]


def _exact() -> bool:
    """Whether XLA here rounds a * b + c twice, as numpy does, rather than fusing it into one
    multiply-add: it does when XLA_FLAGS=--xla_cpu_max_isa=AVX was set before JAX started."""
    a, b, c = np.random.default_rng(0).uniform(size=(3, 256))
    with jax.enable_x64(True):
        return bool(np.array_equal(np.asarray(jax.jit(lambda a, b, c: a * b + c)(a, b, c)), a * b + c))


def simulate(program: Program, n: int, constants: dict, tables: dict[str, Table], timed: dict,
             columns: list[str], times: dict, method: str = "euler") -> Runs:
    """Run `n` runs (arguments as for integrate.simulate), block by block."""
    if not EXACT:
        raise Inexact("XLA here fuses a * b + c into one rounding (JAX started before sdvag could set "
                      "XLA_FLAGS=--xla_cpu_max_isa=AVX)")
    steps, saves, final, final_saved = schedule(times)
    ts = np.asarray(steps, dtype=float)
    flags = np.asarray(saves, dtype=bool)
    slots = np.maximum(np.cumsum(flags) - 1, 0)
    if not all(dataclasses.is_dataclass(f) for f in timed.values()):
        raise NotImplementedError("time inputs other than sdvag's levers")
    block = _block(n)
    fields = {k: tuple(np.asarray(v, dtype=float) for v in dataclasses.astuple(f)) for k, f in timed.items()}
    points = {k: (np.asarray(t.x, dtype=float), np.asarray(t.y, dtype=float)) for k, t in tables.items()}
    parts, suspect = [], np.zeros(n, dtype=bool)
    for lo in range(0, n, block):
        rows = np.minimum(np.arange(lo, lo + block), n - 1)  # the last run fills the padding
        sub = {k: (np.asarray(v)[rows] if np.ndim(v) else v) for k, v in constants.items()}
        with np.errstate(all="ignore"):
            s = prepare(program, block, sub, tables, timed, columns, times, method)
        dynamic = tuple(sorted(k for k in sub if k not in s.static))  # constants standing for variables
        function = _compiled(program, method, columns, dynamic, tuple(sorted(s.static)), timed, tables, times)
        with jax.enable_x64(True):
            saved, last, ok = function(ts, slots, flags, np.float64(final),
                                       np.zeros((max(int(flags.sum()), 1), len(columns), block)),
                                       np.ones(block, dtype=bool), _take(program.statefuls, "carried"),
                                       _take(program.statefuls, "fixed"), s.static, {k: sub[k] for k in dynamic},
                                       fields, points)
            saved = np.asarray(saved)[:int(flags.sum())]
            if final_saved:
                saved = np.concatenate([saved, np.asarray(last)[None]])
        data = np.transpose(saved, (2, 1, 0))
        real = min(block, n - lo)
        parts.append(data[:real])
        suspect[lo:lo + real] = (~np.asarray(ok) | s.bad | ~np.isfinite(data).all(axis=(1, 2)))[:real]
    data = np.concatenate(parts)
    failed: list[str | None] = [None] * n
    if suspect.any():  # numpy runs them again and names the variable that went wrong
        rows = np.flatnonzero(suspect)
        sub = {k: (np.asarray(v)[rows] if np.ndim(v) else v) for k, v in constants.items()}
        again = simulate_numpy(program, len(rows), sub, tables, timed, columns, times, method)
        data[rows] = again.data
        for i, row in enumerate(rows):
            failed[row] = again.failed[i]
    saved_t = [t for t, save in zip(steps, saves) if save] + ([final] if final_saved else [])
    return finish(program, columns, saved_t, data, times["dt"], failed, np.asarray([f is not None for f in failed]))


EXACT = _exact()
