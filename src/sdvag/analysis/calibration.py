"""Fit a model's constants to observed series, as Vensim's and Stella's optimisers do with a payoff.

The payoff is a weighted sum of squared errors normalised per series: each error is divided
by the series' mean absolute observed value (so series in different units count comparably:
a 10% miss costs the same in pieces as in percent), squared and multiplied by the target's
weight. Every observed point counts once, so a series with more years counts more; lower its
weight to change that. The approximate confidence intervals take the weights as inverse error
variances (weighted least squares): with weight 1 everywhere, errors of a similar relative
size in every series. The robust losses of scipy.optimize
(soft_l1, huber, cauchy) replace the square beyond `loss_scale` (a relative error) so that one
bad point does not dominate. Only the years observed count: missing years are skipped.

Every method minimises the same residual vector, whose sum of squares is the payoff:
`local` (scipy least_squares, trust region within the bounds), `global` (differential
evolution on both cores, then a local polish) and `multistart` (local fits from a Latin
hypercube of starts). With a seed the result is the same on every run.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import optimize
from scipy.stats import qmc

from sdvag.analysis.calibration_spec import CalibrationSpec, Target, as_spec, load_spec
from sdvag.errors import SdvagError
from sdvag.analysis.fitstats import series_statistics, uncertainty
from sdvag.progress import messages
from sdvag.formatting import format_number, text_table
from sdvag.simulation.scenario import Scenario
from sdvag.simulation.simulate import Simulator

FAILED_ERROR = 1e3      # relative error charged to every point of a run that failed or diverged
JACOBIAN_STEP = 1e-6    # finite-difference step, as a fraction of each parameter's bounds
STATUS_MARKERS = {"confirmed": ("o", True), "derived": ("s", True), "seed": ("^", False)}


def model_values(ds_or_frame, target: Target | dict, years) -> np.ndarray:
    """The target variable in the series' unit (x factor) at the data years (linear in between)."""
    series = ds_or_frame[target["variable"] if isinstance(target, dict) else target.variable]
    factor = target["factor"] if isinstance(target, dict) else target.factor
    times = np.asarray(series["time"] if isinstance(series, xr.DataArray) else series.index, dtype=float)
    return np.interp(np.asarray(years, dtype=float), times, np.asarray(series, dtype=float)) * factor


def fit_statistics(ds: xr.Dataset, targets: list[dict], data=None) -> list[dict]:
    """Per-target statistics of a run against the observed series (shipped ones by default).

    `targets` are records with `series`, `variable` and `factor`, as in a calibrated
    scenario's [[calibration.targets]]; only the years inside the run are used.
    """
    from sdvag import data as observed
    frame = data if data is not None else observed.load()
    times = ds["time"].to_numpy()
    out = []
    for target in targets:
        rows = frame[(frame["series"] == target["series"])
                     & (frame["year"] >= times[0]) & (frame["year"] <= times[-1])]
        if rows.empty:
            raise SdvagError(f"series {target['series']!r}: no observed value in the run's time")
        stats = series_statistics(model_values(ds, target, rows["year"]), rows["value"])
        out.append({**{k: target[k] for k in ("series", "variable", "factor")}, **stats})
    return out


class Payoff:
    """The residuals and payoff of a parameter vector in [0, 1]^k (scaled to the bounds).

    Picklable: worker processes rebuild the compiled model from its path (PySD models do not
    pickle), so the model is set up lazily, once per process.
    """

    def __init__(self, spec: CalibrationSpec, progress=None):
        self.scenario = spec.scenario
        self.names = [p.name for p in spec.parameters]
        self.low = np.array([p.low for p in spec.parameters])
        self.span = np.array([p.high for p in spec.parameters]) - self.low
        self.targets = spec.targets
        self.loss, self.loss_scale = spec.loss, spec.loss_scale
        self.scales = [max(float(np.mean(np.abs(t.values))), 1e-12) for t in spec.targets]
        self.columns = sorted({t.variable for t in spec.targets})
        self.progress, self.runs, self.best = progress, 0, np.inf
        self._sim = None

    def __getstate__(self):
        return {**self.__dict__, "_sim": None, "progress": None}

    def values(self, u) -> dict[str, float]:
        return dict(zip(self.names, (self.low + np.asarray(u, dtype=float) * self.span).tolist()))

    def scenario_at(self, u) -> Scenario:
        """The starting scenario with the fitted constants set to these values."""
        return dataclasses.replace(self.scenario, constants={**self.scenario.constants, **self.values(u)})

    def _times(self, sim: Simulator) -> dict:
        """The scenario's time settings, stopped at the save time just after the last data year
        (Euler: the values up to there are the same as in the full run)."""
        times = sim.time_settings(self.scenario)
        last = max(max(t.years) for t in self.targets)
        steps = np.ceil((last - times["start"]) / times["save_step"] - 1e-9)
        return {**times, "stop": min(times["stop"], times["start"] + steps * times["save_step"])}

    def residuals(self, u) -> np.ndarray:
        if self._sim is None:
            self._sim = Simulator.for_model(self.scenario.model)
            self._fit_times = self._times(self._sim)
        scenario = self.scenario_at(u)
        try:
            frame = self._sim.run_frame(self._sim.params(scenario), self._fit_times, self.columns)
        except SdvagError:
            frame = None
        parts = []
        for target, scale in zip(self.targets, self.scales):
            years, data = np.asarray(target.years), np.asarray(target.values)
            error = np.full(years.size, FAILED_ERROR)
            if frame is not None:
                model = model_values(frame, target, years)
                error = np.where(np.isfinite(model), (model - data) / scale, FAILED_ERROR)
            z = (error / self.loss_scale) ** 2
            rho = {"linear": z, "soft_l1": 2 * (np.sqrt(1 + z) - 1), "huber": np.where(z <= 1, z, 2 * np.sqrt(z) - 1),
                   "cauchy": np.log1p(z)}[self.loss] * self.loss_scale ** 2
            parts.append(np.sign(error) * np.sqrt(target.weight * rho))
        res = np.concatenate(parts)
        self.runs += 1
        payoff = float(res @ res)
        if payoff < self.best:
            self.best = payoff
        if self.progress and self.runs % 25 == 0:
            self.progress(f"  run {self.runs}: best payoff {self.best:.6g}")
        return res

    def __call__(self, u) -> float:
        return float(np.sum(self.residuals(u) ** 2))

    def jacobian(self, u: np.ndarray) -> np.ndarray:
        """d residual / d parameter (in the parameters' own units), by forward differences
        (backward at an upper bound)."""
        base = self.residuals(u)
        jac = np.empty((base.size, u.size))
        for i in range(u.size):
            step = JACOBIAN_STEP if u[i] + JACOBIAN_STEP <= 1 else -JACOBIAN_STEP
            moved = u.copy()
            moved[i] += step
            jac[:, i] = (self.residuals(moved) - base) / (step * self.span[i])
        return jac


def _local(payoff: Payoff, u0, max_runs: int) -> optimize.OptimizeResult:
    fit = optimize.least_squares(payoff.residuals, np.clip(u0, 0, 1), bounds=(0, 1), method="trf",
                                 diff_step=JACOBIAN_STEP, max_nfev=max_runs, x_scale=1.0)
    fit.runs = fit.nfev + fit.njev * len(u0)
    return fit


def _local_from(args) -> optimize.OptimizeResult:
    payoff, u0, max_runs = args
    return _local(payoff, u0, max_runs)


@dataclass
class ParameterFit:
    name: str
    value: float
    low: float
    high: float
    start: float
    std_err: float
    ci_low: float
    ci_high: float

    @property
    def at_bound(self) -> bool:
        return bool(np.isclose(self.value, self.low, rtol=0, atol=1e-6 * (self.high - self.low))
                    or np.isclose(self.value, self.high, rtol=0, atol=1e-6 * (self.high - self.low)))


@dataclass
class CalibrationResult:
    """A fit in the spirit of scipy.optimize.OptimizeResult, with the fit statistics."""

    x: dict[str, float]
    payoff: float
    success: bool
    message: str
    nruns: int
    method: str
    seed: int | None
    parameters: list[ParameterFit]
    statistics: list[dict]
    warnings: list[str]
    spec: CalibrationSpec
    scenario: Scenario            # the starting scenario with the fitted values
    run: xr.Dataset = field(repr=False)  # the calibrated scenario, full time
    files: list[Path] = field(default_factory=list)  # what sdvag.api wrote, if anything

    def summary(self) -> str:
        head = (f"calibration {self.spec.name}: {self.method}"
                f"{'' if self.seed is None else f' (seed {self.seed})'}, {self.nruns} model runs, "
                f"payoff {self.payoff:.6g}; {'success' if self.success else 'FAILED'}: {self.message}")
        prows = [[p.name, format_number(p.value), f"[{format_number(p.ci_low)}, {format_number(p.ci_high)}]",
                  f"[{format_number(p.low)}, {format_number(p.high)}]", format_number(p.start), "at bound" if p.at_bound else ""]
                 for p in self.parameters]
        srows = [[f"{s['series']} ({s['variable']} x {s['factor']:g})", str(s["n"]), format_number(s["r_squared"]),
                  format_number(s["mape"]), format_number(s["theil_bias"]), format_number(s["theil_variance"]), format_number(s["theil_covariance"])]
                 for s in self.statistics]
        parts = [head, "",
                 text_table(["parameter", "fitted", "95% interval", "bounds", "start", ""], prows), "",
                 text_table(["series (model variable x factor)", "n", "R2", "MAPE %", "U_bias", "U_var", "U_cov"], srows)]
        parts += ["", *(f"warning: {w}" for w in self.warnings)] if self.warnings else []
        return "\n".join(parts)


def calibrate(spec_or_objects, method: str | None = None, seed: int | None = None,
              workers: int | None = None, progress=None) -> CalibrationResult:
    """Fit the specification's parameters; see the module docstring for payoff and methods.

    `spec_or_objects`: a calibration TOML file, a CalibrationSpec, or a dict like the TOML
    table. `method` and `seed` override the spec's. `workers`: processes for the global and
    multistart methods (default: the cores, at most 2 for the shared machines this targets).
    """
    spec = as_spec(spec_or_objects)
    method = method or spec.method
    seed = spec.seed if seed is None else seed
    if method not in ("local", "global", "multistart"):
        raise SdvagError(f"method: expected local, global or multistart, got {method!r}")
    workers = workers or min(2, os.cpu_count() or 1)
    progress = messages(progress)
    say = progress or (lambda message: None)
    payoff = Payoff(spec, progress)
    k = len(spec.parameters)
    u0 = np.array([(p.start - p.low) / (p.high - p.low) for p in spec.parameters])
    opts = spec.options
    max_runs = int(opts.get("max_runs", 100 * (k + 1)))
    say(f"calibrating {spec.name}: {k} parameters, {len(spec.targets)} series, {method}"
        f"{'' if seed is None else f', seed {seed}'}")
    pool = multiprocessing.get_context().Pool(workers) if workers > 1 and method != "local" else None
    try:
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
                payoff, [(0.0, 1.0)] * k, seed=seed, x0=u0, polish=False, updating="deferred",
                workers=pool.map if pool else 1, maxiter=int(opts.get("maxiter", 60)),
                popsize=int(opts.get("popsize", 10)), tol=float(opts.get("tol", 1e-3)),
                init="latinhypercube", callback=report)
            say(f"  polishing the best of the search (payoff {de.fun:.6g}) with a local fit")
            fit = _local(payoff, de.x, max_runs)
            runs, success = de.nfev + fit.runs, bool(fit.success)
            message = f"differential evolution ({de.nit} generations: {de.message}), then {fit.message}"
    finally:
        if pool:
            pool.close()
            pool.join()
    return _result(spec, payoff, np.clip(fit.x, 0, 1), method, seed, runs + k + 1, success, message, say)


def _result(spec, payoff: Payoff, u, method, seed, runs, success, message, say) -> CalibrationResult:
    """Statistics, intervals and warnings at the fitted point (k + 1 more runs for the Jacobian)."""
    say("computing the Jacobian, intervals and fit statistics")
    payoff.progress = None
    residuals = payoff.residuals(u)
    jac = payoff.jacobian(u)
    values = payoff.values(u)
    x = np.array(list(values.values()))
    unc = uncertainty(jac, residuals, x, payoff.names)
    params = [ParameterFit(p.name, values[p.name], p.low, p.high, p.start, float(unc.std_err[i]),
                           float(unc.ci_low[i]), float(unc.ci_high[i]))
              for i, p in enumerate(spec.parameters)]
    warnings = list(spec.skipped) + unc.warnings
    warnings += [f"{p.name}: at its bound {format_number(p.value)}; the interval assumes an interior optimum"
                 for p in params if p.at_bound]
    scenario = payoff.scenario_at(u)
    run = Simulator.for_model(scenario.model).run(scenario)
    frame = _data_frame(spec)
    statistics = fit_statistics(run, [t.record() for t in spec.targets], frame)
    return CalibrationResult(values, float(residuals @ residuals), bool(success), str(message), int(runs),
                             method, seed, params, statistics, warnings, spec, scenario, run)


def _data_frame(spec: CalibrationSpec):
    """The observed values the spec's targets use, as a series frame (status kept)."""
    import pandas as pd
    return pd.DataFrame([{"series": t.series, "year": y, "value": v, "unit": t.unit, "status": s}
                         for t in spec.targets for y, v, s in zip(t.years, t.values, t.status)])
