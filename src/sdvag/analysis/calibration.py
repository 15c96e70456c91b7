"""Fit a model's constants to observed series, as Vensim's and Stella's optimisers do with a payoff.

Each observed value is compared with the model where and how it was measured (its timing: a
level at year end or mid-year, a total of a flow over the year, a ratio of two annual totals;
see sdvag.analysis.observation).

The payoff is a weighted sum of squared errors normalised per series: each error is divided
by the series' mean absolute observed value (so series in different units count comparably:
a 10% miss costs the same in pieces as in percent), squared and multiplied by the target's
weight. Every observed point counts once, so a series with more years counts more; lower its
weight to change that. The approximate confidence intervals take the weights as inverse error
variances (weighted least squares): with weight 1 everywhere, errors of a similar relative
size in every series. The robust losses of scipy.optimize (soft_l1, huber, cauchy) replace the
square beyond `loss_scale` (a relative error) so that one bad point does not dominate. Only the
years observed count: missing years are skipped.

Every optimiser minimises the same residual vector, whose sum of squares is the payoff:
`local` (scipy least_squares, trust region within the bounds), `global` (differential
evolution on all cores, then a local polish) and `multistart` (local fits from a Latin
hypercube of starts). `mcmc` samples the posterior instead (sdvag.analysis.calibration_mcmc).
With a seed the result is the same on every run. `holdout_from=YEAR` fits on the values
observed before YEAR and checks the rest against the projection band.
"""
from __future__ import annotations

import dataclasses
import numbers

import numpy as np
import xarray as xr
from scipy import optimize
from scipy.stats import qmc

from sdvag.analysis.calibration_result import (CalibrationResult, ParameterFit, finish, fitted_sigma,
                                                range_warnings)
from sdvag.analysis.calibration_runs import ModelRuns, evaluate, worker_pool
from sdvag.analysis.calibration_spec import CalibrationSpec, Target, as_spec, valid_seed
from sdvag.analysis.fitstats import series_statistics, uncertainty
from sdvag.analysis.observation import Observation, Plan
from sdvag.errors import SdvagError
from sdvag.progress import messages

FAILED_ERROR = 1e3      # relative error charged to every point of a run that failed or diverged
JACOBIAN_STEP = 1e-6    # finite-difference step, as a fraction of each parameter's bounds
STATUS_MARKERS = {"confirmed": ("o", True), "derived": ("s", True), "seed": ("^", False)}
METHODS = ("local", "global", "multistart", "mcmc")


def target_observations(targets: list[dict], frame) -> tuple[list[Observation], list[dict]]:
    """The observations of recorded targets (series, variable, factor, denominator) with their
    values from a series frame: the model counterparts and, per target, the data rows."""
    observations, rows_of = [], []
    for target in targets:
        rows = frame[frame["series"] == target["series"]]
        if rows.empty:
            raise SdvagError(f"series {target['series']!r}: no observed value")
        rows_of.append(rows)
        observations += [Observation.of(target["variable"], target["factor"], code, year, target.get("denominator"))
                         for code, year in zip(rows["timing"], rows["year"])]
    return observations, rows_of


def fit_statistics(ds: xr.Dataset, targets: list[dict], data=None) -> list[dict]:
    """Per-target statistics of a run against the observed series (shipped ones by default).

    `targets` are records with `series`, `variable`, `factor` (and `denominator`), as in a
    calibrated scenario's [[calibration.targets]]; the values observed outside the run are
    skipped. Annual totals need the run saved finely (save_step = dt for the exact values the
    calibration reports).
    """
    from sdvag import data as observed
    frame = data if data is not None else observed.load()
    times = ds["time"].to_numpy()
    out = []
    for target in targets:
        observations, (rows,) = target_observations([target], frame)
        keep = [o.start >= times[0] - 1e-9 and o.end <= times[-1] + 1e-9 for o in observations]
        if not any(keep):
            raise SdvagError(f"series {target['series']!r}: no observed value in the run's time")
        plan = Plan([o for o, k in zip(observations, keep) if k])
        stats = series_statistics(plan.from_frame(ds), rows["value"].to_numpy()[keep])
        out.append({**{k: target[k] for k in ("series", "variable", "factor")}, **stats})
    return out


class Payoff:
    """The residuals and payoff of a parameter vector in [0, 1]^k (scaled to the bounds)."""

    def __init__(self, spec: CalibrationSpec, progress=None, pool=None):
        self.names = [p.name for p in spec.parameters]
        self.low = np.array([p.low for p in spec.parameters])
        self.span = np.array([p.high for p in spec.parameters]) - self.low
        self.targets = spec.targets
        self.loss, self.loss_scale = spec.loss, spec.loss_scale
        self.scales = [max(float(np.mean(np.abs(t.values))), 1e-12) for t in spec.targets]
        self.runs = ModelRuns(spec.scenario, self.names, Plan([o for t in spec.targets for o in t.observations()]))
        self.data = np.concatenate([t.values for t in spec.targets])
        self.pool = pool
        self.progress, self.nruns, self.best = progress, 0, np.inf
        self._last = None  # (u, observations at u, Jacobian at u) of the last `at`

    def __getstate__(self):
        return {**self.__dict__, "progress": None, "pool": None}

    def natural(self, u) -> np.ndarray:
        return self.low + np.asarray(u, dtype=float) * self.span

    def values(self, u) -> dict[str, float]:
        return dict(zip(self.names, self.natural(u).tolist()))

    def residuals_of(self, model: np.ndarray) -> np.ndarray:
        """Weighted, normalised (and robustly transformed) errors of observed model values."""
        parts, start = [], 0
        for target, scale in zip(self.targets, self.scales):
            m = model[start:start + len(target.values)]
            start += len(target.values)
            error = np.where(np.isfinite(m), (m - np.asarray(target.values)) / scale, FAILED_ERROR)
            z = (error / self.loss_scale) ** 2
            rho = {"linear": z, "soft_l1": 2 * (np.sqrt(1 + z) - 1), "huber": np.where(z <= 1, z, 2 * np.sqrt(z) - 1),
                   "cauchy": np.log1p(z)}[self.loss] * self.loss_scale ** 2
            parts.append(np.sign(error) * np.sqrt(target.weight * rho))
        return np.concatenate(parts)

    def batch(self, us) -> np.ndarray:
        """Residuals of each row of `us`: one batch of runs (in parallel with a pool)."""
        return self._residuals(self.observe(us))

    def _residuals(self, model: np.ndarray) -> np.ndarray:
        """Residuals of each row of a batch's observations, the best payoff so far reported."""
        res = np.stack([self.residuals_of(m) for m in model])
        best = float(np.min(np.sum(res ** 2, axis=1)))
        if best < self.best:
            self.best = best
        if self.progress and self.nruns % 25 < len(res):
            self.progress(f"  run {self.nruns}: best payoff {self.best:.6g}")
        return res

    def observe(self, us) -> np.ndarray:
        """The model's observations for each row of `us` (sets x observations), counted as runs."""
        model = evaluate(self.runs, self.natural(np.atleast_2d(us)), self.pool)
        self.nruns += len(model)
        return model

    def residuals(self, u) -> np.ndarray:
        """Residuals at `u`. Where a batch costs about one run (the vectorised engine), the
        Jacobian's points run in the same batch, ready for the least-squares step that follows
        an accepted point; on PySD each point is a run of its own, so they wait until asked."""
        if self.runs.batched:
            return self.residuals_of(self.at(u)[0])
        return self.batch(np.atleast_2d(u))[0]

    def __call__(self, u) -> float:
        return float(np.sum(self.residuals(u) ** 2))

    def payoffs(self, us_columns) -> np.ndarray:
        """Payoffs of a population given as columns (differential evolution's vectorised call)."""
        return np.sum(self.batch(np.asarray(us_columns).T) ** 2, axis=1)

    def at(self, u) -> tuple[np.ndarray, np.ndarray]:
        """The observations at `u` and d residual / d u by forward differences (backward at an
        upper bound): k + 1 runs in one batch, remembered for the last `u` asked."""
        u = np.asarray(u, dtype=float)
        if self._last is None or not np.array_equal(self._last[0], u):
            steps = np.where(u + JACOBIAN_STEP <= 1, JACOBIAN_STEP, -JACOBIAN_STEP)
            model = self.observe(np.vstack([u, u + np.diag(steps)]))
            res = self._residuals(model)
            self._last = (u.copy(), model[0], ((res[1:] - res[0]) / steps[:, None]).T)
        return self._last[1], self._last[2]

    def jacobian_u(self, u) -> np.ndarray:
        return self.at(u)[1]


def _local(payoff: Payoff, u0, max_runs: int) -> optimize.OptimizeResult:
    """A least-squares fit from `u0`; `runs` counts the model runs it made."""
    before, payoff._last = payoff.nruns, None
    fit = optimize.least_squares(payoff.residuals, np.clip(u0, 0, 1), bounds=(0, 1), method="trf",
                                 jac=payoff.jacobian_u, max_nfev=max_runs, x_scale=1.0)
    fit.runs = payoff.nruns - before
    return fit


def _local_from(args) -> optimize.OptimizeResult:
    payoff, u0, max_runs = args
    return _local(payoff, u0, max_runs)


def split_holdout(spec: CalibrationSpec, year: float | None) -> tuple[CalibrationSpec, list[Target]]:
    """The spec fitted on values observed before `year`, and the targets with the rest."""
    if year is None:
        return spec, []
    fit = [t.subset([y < year for y in t.years]) for t in spec.targets]
    held = [t.subset([y >= year for y in t.years]) for t in spec.targets]
    if not any(t.years for t in held):
        raise SdvagError(f"--holdout-from {year:g}: no observed value from {year:g} on to hold out")
    if not any(t.years for t in fit):
        raise SdvagError(f"--holdout-from {year:g}: no observed value before {year:g} to fit")
    return dataclasses.replace(spec, targets=[t for t in fit if t.years]), [t for t in held if t.years]


def calibrate(spec_or_objects, method: str | None = None, seed: int | None = None,
              workers: int | None = None, progress=None, holdout_from: float | None = None) -> CalibrationResult:
    """Fit the specification's parameters; see the module docstring for payoff and methods.

    `spec_or_objects`: a calibration TOML file, a CalibrationSpec, or a dict like the TOML
    table. `method` and `seed` override the spec's. `workers`: processes (default: all cores).
    `holdout_from`: fit on the values observed before this year, report the error on the rest.
    """
    full = as_spec(spec_or_objects)
    method = method or full.method
    seed = full.seed if seed is None else seed
    if method not in METHODS:
        raise SdvagError(f"method: expected {', '.join(METHODS)}, got {method!r}")
    if not valid_seed(seed):
        raise SdvagError(f"seed: expected a non-negative integer, got {seed!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1):
        raise SdvagError(f"workers: expected a whole number of at least 1, got {workers!r}")
    seed = None if seed is None else int(seed)
    spec, held = split_holdout(full, holdout_from)
    progress = messages(progress)
    say = progress or (lambda message: None)
    k = len(spec.parameters)
    u0 = np.array([(p.start - p.low) / (p.high - p.low) for p in spec.parameters])
    opts = spec.options
    max_runs = int(opts.get("max_runs", 100 * (k + 1)))
    say(f"calibrating {spec.name}: {k} parameters, {len(spec.targets)} series, {method}"
        f"{'' if seed is None else f', seed {seed}'}"
        + ("" if holdout_from is None else f", fitted on values before {holdout_from:g}"))
    pool = worker_pool(workers)
    payoff = Payoff(spec, progress, pool)
    try:
        if method == "mcmc":
            from sdvag.analysis.calibration_mcmc import sample
            fit = _local(payoff, u0, max_runs)
            say(f"  local fit to start the walkers: payoff {2 * fit.cost:.6g}")
            return sample(spec, payoff, np.clip(fit.x, 0, 1), seed, say, held, holdout_from)
        if method == "local":
            fit = _local(payoff, u0, max_runs)
            runs, success, message = fit.runs, fit.success, fit.message
        elif method == "multistart":
            count = int(opts.get("starts", 8))
            starts = [u0, *qmc.LatinHypercube(d=k, seed=seed).random(count - 1)]
            jobs = [(payoff, s, max_runs) for s in starts]
            fits = []
            for i, f in enumerate(pool.imap(_local_from, jobs) if pool else map(_local_from, jobs)):
                fits.append(f)
                say(f"  start {i + 1}/{count}: payoff {2 * f.cost:.6g} after {f.runs} runs")
            fit = min(fits, key=lambda f: f.cost)
            runs, success = sum(f.runs for f in fits), fit.success
            message = f"best of {count} local fits: {fit.message}"
        else:
            generation = [0]

            def report(intermediate_result):
                generation[0] += 1
                say(f"  generation {generation[0]}: best payoff {intermediate_result.fun:.6g}")

            de = optimize.differential_evolution(
                payoff.payoffs, [(0.0, 1.0)] * k, seed=seed, x0=u0, polish=False, updating="deferred",
                vectorized=True, maxiter=int(opts.get("maxiter", 60)),
                popsize=int(opts.get("popsize", 10)), tol=float(opts.get("tol", 1e-3)),
                init="latinhypercube", callback=report)
            say(f"  polishing the best of the search (payoff {de.fun:.6g}) with a local fit")
            fit = _local(payoff, de.x, max_runs)
            # the payoff counts every run of its batches (scipy's nfev counts the population's
            # vectorised calls, not runs)
            runs, success = payoff.nruns, bool(fit.success)
            message = f"differential evolution ({de.nit} generations: {de.message}), then {fit.message}"
        return _result(spec, payoff, np.clip(fit.x, 0, 1), method, seed, runs, success, message,
                       say, held, holdout_from)
    finally:
        if pool:
            pool.terminate()
            pool.join()


def _result(spec, payoff: Payoff, u, method, seed, runs, success, message, say, held, holdout_from) -> CalibrationResult:
    """Statistics, intervals, warnings and the projection band at the fitted point."""
    from sdvag.analysis.calibration_projection import gaussian_draws, project
    say("computing the Jacobian, intervals and fit statistics")
    payoff.progress = None
    before = payoff.nruns
    model, jac_u = payoff.at(u)  # no new run where the fit's last step asked for this Jacobian
    runs += payoff.nruns - before
    residuals = payoff.residuals_of(model)
    jac = jac_u / payoff.span
    values = payoff.values(u)
    x = np.array(list(values.values()))
    unc = uncertainty(jac, residuals, x, payoff.names)
    params = [ParameterFit(p.name, values[p.name], p.low, p.high, p.start, float(unc.std_err[i]),
                           float(unc.ci_low[i]), float(unc.ci_high[i]))
              for i, p in enumerate(spec.parameters)]
    warnings = list(spec.skipped) + [w for w in unc.warnings if "correlated" not in w]
    warnings += range_warnings(params, unc.correlation)
    sigma = fitted_sigma(spec, model, len(params))
    say("projecting: parameter uncertainty and observation error")
    draws = gaussian_draws(params, unc.std_err, unc.correlation, int(spec.options.get("draws", 200)), seed)
    projection = project(spec, held, payoff.names, draws, sigma, payoff.pool, seed)
    return finish(spec, payoff, values, model, method, seed, runs + len(draws), success, message, params,
                   warnings, sigma, projection, held, holdout_from)


def data_frame(spec: CalibrationSpec, held: list[Target] = ()):
    """The observed values of the spec's targets (and held-out ones), as a series frame."""
    import pandas as pd
    return pd.DataFrame([{"series": t.series, "year": y, "value": v, "unit": t.unit, "status": s, "timing": c}
                         for t in [*spec.targets, *held]
                         for y, v, s, c in zip(t.years, t.values, t.status, t.timings)])
