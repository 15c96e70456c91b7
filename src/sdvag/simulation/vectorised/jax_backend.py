"""The accelerated backend: the engine's whole time loop compiled by JAX (XLA) for a block of runs.

The numpy engine calls numpy once per variable per time step, so at thousands of runs its time
goes into Python calls and into memory traffic between them. Here the same program code and
the same stateful objects run on jax.numpy (Program.using) and are traced once into one XLA
function (lax.scan over the time steps) that fuses each step's arithmetic across variables.
Initialisation stays numpy's (integrate.prepare). Runs whose rates or outputs stop being
finite are run again on numpy, which names the variable, so failures read the same on both
backends. Compiled functions are kept per process, one per model, scenario layout and block
size; runs are padded to a fixed block size so that chunks of any size reuse them.
"""
from __future__ import annotations

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
LN2 = float(np.log(2.0))
SQRT_HALF = float(np.sqrt(0.5))
ATANH_TERMS = 11      # the series' last term is below 1e-17 of the first
MANTISSA, HALF = (1 << 52) - 1, 1022 << 52  # a float64's mantissa bits; the exponent bits of 0.5
TINY = float(np.finfo(float).tiny)         # the least normal float64
SMALLEST = 32         # the least block: fewer runs are padded up to a power of two from here
_COMPILED: dict[tuple, object] = {}


class Inexact(Exception):
    """XLA here would not give numpy's arithmetic."""


NOT_TRACED = (jax.errors.JAXTypeError, jax.errors.JAXIndexError, NotImplementedError, Inexact)  # numpy runs these


def _log_normal(x):
    """The natural logarithm of a positive, finite, normal x as ln(m 2^k) = k ln 2 + 2 atanh(s),
    s = (m - 1) / (m + 1), with atanh's series to s^23 (|s| < 0.172 for m in [0.707, 1.414)):
    within 3 ulps of numpy's log, and about three times faster than XLA's float64 log on CPU."""
    bits = jax.lax.bitcast_convert_type(x, jnp.int64)
    m = jax.lax.bitcast_convert_type((bits & MANTISSA) | HALF, jnp.float64)  # x = m 2^e, m in [0.5, 1)
    low = m < SQRT_HALF
    m = jnp.where(low, m + m, m)
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    series = 1.0 / (2 * ATANH_TERMS + 1)
    for k in range(ATANH_TERMS - 1, -1, -1):
        series = series * z + 1.0 / (2 * k + 1)
    return ((bits >> 52) - 1022 - low).astype(float) * LN2 + 2.0 * s * series


def _log(x):
    x = jnp.asarray(x, dtype=float)
    out = _log_normal(jnp.where(x >= TINY, x, 1.0))
    out = jnp.where(x >= TINY, out, jnp.where(x == 0, -jnp.inf, jnp.nan))  # (XLA flushes subnormals to 0)
    return jnp.where(x == jnp.inf, jnp.inf, out)


def _power(x, y):
    """x ** y as exp(y log x), with C99 pow's special cases (numpy's) for the rare base that is
    not positive, finite and normal, or exponent that is not finite: within 2e-13 relative of
    pow for every finite, normal result (the error grows with |y log x|, at most 709), and
    several times faster than XLA's own float64 pow, which would cost more than the rest of a
    step together."""
    x, y = jnp.asarray(x, dtype=float), jnp.asarray(y, dtype=float)
    usual = (x >= TINY) & (x < jnp.inf) & (jnp.abs(y) < jnp.inf)
    out = jnp.exp(y * _log_normal(jnp.where(usual, x, 1.0)))
    return jax.lax.cond(jnp.all(usual), lambda: out, lambda: jnp.where(usual, out, _special_power(x, y)))


def _special_power(x, y):
    out = jnp.exp(y * _log(jnp.abs(x)))
    whole = y == jnp.floor(y)
    odd = whole & (jnp.floor(y * 0.5) * 2.0 != y)  # exact, and without fmod's cost
    negative = jnp.signbit(x)
    out = jnp.where(negative & odd, -out, out)
    out = jnp.where(negative & ~whole & jnp.isfinite(x) & (x != 0), jnp.nan, out)
    return jnp.where((y == 0) | (x == 1) | ((jnp.abs(x) == 1) & jnp.isinf(y)), 1.0, out)


def _interp(x, xs, ys):
    """numpy.interp's arithmetic (numpy/core/src/multiarray/compiled_base.c), the interval found
    by comparing with every point: no loop in the compiled step."""
    x = jnp.asarray(x, dtype=float)
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(xs) == 1:
        return jnp.full_like(x, ys[0])
    j = jnp.sum(x[..., None] >= xs, axis=-1) - 1
    i = jnp.clip(j, 0, len(xs) - 2)
    with np.errstate(all="ignore"):
        slope = jnp.asarray(np.diff(ys) / np.diff(xs))[i]
    x0, x1, y0, y1 = (jnp.asarray(a)[k] for a, k in ((xs, i), (xs, i + 1), (ys, i), (ys, i + 1)))
    out = slope * (x - x0) + y0
    out = jnp.where(jnp.isnan(out), slope * (x - x1) + y1, out)
    out = jnp.where(jnp.isnan(out) & (y0 == y1), y0, out)
    out = jnp.where(x == x0, y0, out)
    out = jnp.where(j >= len(xs) - 1, ys[-1], jnp.where(j < 0, ys[0], out))
    return jnp.where(jnp.isnan(x), jnp.nan, out)


class _Module:
    """jax.numpy with the functions above: the array module the program runs on here."""

    log, power, interp = staticmethod(_log), staticmethod(_power), staticmethod(_interp)

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


def _function(program: Program, method: str, columns: tuple, dynamic: tuple, timed: dict,
              tables: dict[str, Table], times: dict):
    """The compiled loop: (step times, save slots, save flags, final time, saved (zeros), finite
    runs (ones), carried states, per-run fixed values, static values, the `dynamic` constants)
    -> (saved, final record, finite runs). Constants reach it as static values (computed by
    numpy before the loop), or as `dynamic` ones where a scenario sets a variable that changes."""
    jp = program.using(XP)
    exprs = dict(jp.exprs)
    for key in dynamic:
        exprs[key] = (lambda k: lambda s: s.consts[k])(key)
    exprs.update(timed)
    tables = {**jp.tables, **{k: t.using(XP) for k, t in tables.items()}}
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

    def run(ts, slots, flags, final_t, saved, ok, carried, fixed, static, consts):
        s = State(jp, ok.shape[0], dt, exprs, tables)
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
    the values of constants share it (jax.jit compiles it again per block size)."""
    key = (id(program), method, tuple(columns), dynamic, static, tuple(sorted(timed.items())),
           tuple(sorted((k, t.fingerprint()) for k, t in tables.items())),
           tuple(sorted((k, float(v)) for k, v in times.items())))
    if key not in _COMPILED:
        _COMPILED[key] = (program, _function(program, method, tuple(columns), dynamic, timed, tables, times))
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
    block = _block(n)
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
                                       _take(program.statefuls, "fixed"), s.static, {k: sub[k] for k in dynamic})
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
