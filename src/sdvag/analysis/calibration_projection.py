"""Projection bands of a calibration, and the out-of-sample check against them.

For every target series, each year from its first observed value to the last one the run
covers, the 5th, 50th and 95th percentiles of what an observation would read, in the series'
own timing and unit: runs at parameter sets drawn from the fit's uncertainty (the Jacobian's
normal approximation truncated to the bounds, or posterior samples), each read as the
observation would be and perturbed by the fitted observation error (lognormal: x exp(N(0,
sigma)); normal: + N(0, sigma)). A year not observed takes the timing of the latest observed
year before it (the first, before any; a point in time moves with the year).
"""
from __future__ import annotations

import numpy as np

from sdvag.analysis.calibration_runs import ModelRuns, evaluate
from sdvag.analysis.observation import Observation, Plan
from sdvag.simulation.simulate import Simulator

TRUNCATION_TRIES = 50   # rounds of rejection sampling into the bounds before clipping the rest
NOISE_REPLICATES = 25   # observation errors drawn per run: smooth percentiles at no extra runs


def gaussian_draws(params, std_err, correlation, n: int, seed) -> np.ndarray:
    """`n` parameter sets (n x k) from N(fitted, cov) truncated to the bounds; a parameter the
    data do not identify (no finite standard error) is drawn uniformly over its bounds."""
    rng = np.random.default_rng(seed)
    x = np.array([p.value for p in params])
    low, high = np.array([p.low for p in params]), np.array([p.high for p in params])
    sd = np.asarray(std_err, dtype=float)
    known = np.isfinite(sd)
    corr = np.nan_to_num(np.asarray(correlation, dtype=float)[np.ix_(known, known)])
    np.fill_diagonal(corr, 1.0)
    cov = corr * np.outer(sd[known], sd[known])
    out = np.empty((0, len(params)))
    for _ in range(TRUNCATION_TRIES):
        batch = np.empty((4 * n, len(params)))
        batch[:, known] = rng.multivariate_normal(x[known], cov, size=4 * n, method="eigh") if known.any() else 0
        batch[:, ~known] = rng.uniform(low[~known], high[~known], size=(4 * n, int((~known).sum())))
        out = np.vstack([out, batch[np.all((batch >= low) & (batch <= high), axis=1)]])
        if len(out) >= n:
            return out[:n]
    return np.clip(np.vstack([out, batch])[:n], low, high)


def projection_points(spec, held=()) -> list[tuple]:
    """(target, year, timing) for every target series and every projected year."""
    sim = Simulator.for_scenario(spec.scenario)
    times = sim.time_settings(spec.scenario)
    by_series: dict[str, list] = {}
    for t in [*spec.targets, *held]:
        by_series.setdefault(t.series, []).append(t)
    points = []
    for targets in by_series.values():
        observed = sorted((y, c) for t in targets for y, c in zip(t.years, t.timings))
        year = observed[0][0]
        while True:
            timing = _timing_for(year, observed)
            o = Observation.of(targets[0].variable, targets[0].factor, timing, year, targets[0].denominator)
            if o.end > times["stop"] + 1e-9:
                break
            if o.start >= times["start"] - 1e-9:
                points.append((targets[0], year, timing))
            year += 1
    return points


def _timing_for(year: float, observed: list[tuple]) -> str:
    """The timing of `year`: its own if observed, else that of the latest observed year before it
    (the first, before any), a point in time moved by the years in between."""
    last, code = next(((y, c) for y, c in reversed(observed) if y <= year), observed[0])
    if code.startswith("point:"):
        return f"point:{float(code[6:]) + year - last:g}"
    return code


def project(spec, held, names: list[str], draws: np.ndarray, sigma: dict, pool, seed) -> list[dict]:
    """Quantiles p05, p50, p95 per (series, year) over the draws, observation error included."""
    points = projection_points(spec, held)
    plan = Plan([Observation.of(t.variable, t.factor, c, y, t.denominator) for t, y, c in points])
    values = evaluate(ModelRuns(spec.scenario, names, plan), draws, pool)
    return quantiles(points, values, sigma, seed)


def quantiles(points, values: np.ndarray, sigma: dict, seed) -> list[dict]:
    """Observation error added to each run's values (draws x points), then the percentiles.
    `sigma` per series: one value, or one per draw (posterior samples); runs that failed are dropped."""
    rng = np.random.default_rng(None if seed is None else seed + 1)
    ok = np.all(np.isfinite(values), axis=1)
    values = values[ok]
    records = []
    noise = rng.standard_normal((NOISE_REPLICATES, *values.shape))
    for j, (target, year, timing) in enumerate(points):
        s = np.broadcast_to(np.asarray(sigma.get(target.series, np.nan), dtype=float), ok.shape)[ok]
        v = values[:, j]
        if np.all(np.isfinite(s)):
            e = s * noise[:, :, j]
            v = (v * np.exp(e) if target.error == "lognormal" else v + e).ravel()
        p05, p50, p95 = np.percentile(v, [5, 50, 95]) if v.size else (np.nan,) * 3
        records.append({"series": target.series, "year": float(year), "timing": timing,
                        "p05": float(p05), "p50": float(p50), "p95": float(p95)})
    return records


def holdout_check(held, projection: list[dict], runs: ModelRuns, x) -> list[dict]:
    """Each held-out value against the calibrated run and the projection band."""
    if not held:
        return []
    band = {(p["series"], p["year"]): p for p in projection}
    observations = [o for t in held for o in t.observations()]
    model = ModelRuns(runs.scenario, runs.names, Plan(observations))(x)
    out, i = [], 0
    for t in held:
        for year, value, status in zip(t.years, t.values, t.status):
            b = band.get((t.series, float(year)), {"p05": np.nan, "p50": np.nan, "p95": np.nan})
            out.append({"series": t.series, "year": float(year), "value": float(value), "status": status,
                        "model": float(model[i]), "p05": b["p05"], "p50": b["p50"], "p95": b["p95"],
                        "inside": bool(b["p05"] <= value <= b["p95"])})
            i += 1
    return out
