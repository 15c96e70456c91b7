"""A calibration's result: fitted values and intervals, fit statistics, warnings, projection.

Shared by the optimisers (sdvag.analysis.calibration) and the sampler
(sdvag.analysis.calibration_mcmc): the warnings any fit must raise (a parameter at a bound, an
interval wider than the range, a pair correlated above 0.95), the observation error fitted to
the residuals, and the result assembled from the same observations the fit compared.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from sdvag.analysis.calibration_projection import holdout_check, projection_points
from sdvag.analysis.calibration_runs import ModelRuns
from sdvag.analysis.observation import Observation, Plan
from sdvag.analysis.calibration_spec import CalibrationSpec
from sdvag.analysis.fitstats import CORRELATED, series_statistics
from sdvag.formatting import format_number, text_table
from sdvag.simulation.scenario import Scenario
from sdvag.simulation.simulate import Simulator


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
    """A fit in the spirit of scipy.optimize.OptimizeResult, with the fit statistics, the
    projection band of every target and, with holdout_from, the out-of-sample check."""

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
    sigma: dict[str, float] = field(default_factory=dict)   # fitted observation error per series
    projection: list[dict] = field(default_factory=list)    # series, year, timing, p05, p50, p95
    holdout_from: float | None = None
    holdout: list[dict] = field(default_factory=list)       # per held-out value: band and inside
    held: list = field(default_factory=list)                # the held-out targets' values
    diagnostics: dict = field(default_factory=dict)         # mcmc: acceptance, tau, ess
    posterior: xr.Dataset | None = field(default=None, repr=False)  # mcmc: samples (draw, parameter)
    files: list[Path] = field(default_factory=list)  # what sdvag.api wrote, if anything

    def holdout_mape(self) -> dict[str, float]:
        """Per series, the mean absolute percent error of the calibrated run on held-out values."""
        out = {}
        for name in dict.fromkeys(h["series"] for h in self.holdout):
            rows = [h for h in self.holdout if h["series"] == name and h["value"] != 0]
            out[name] = float(np.mean([abs(h["model"] / h["value"] - 1) for h in rows]) * 100) if rows else float("nan")
        return out

    def summary(self) -> str:
        head = (f"calibration {self.spec.name}: {self.method}"
                f"{'' if self.seed is None else f' (seed {self.seed})'}, {self.nruns} model runs, "
                f"payoff {self.payoff:.6g}; {'success' if self.success else 'FAILED'}: {self.message}")
        interval = "95% credible" if self.method == "mcmc" else "95% interval"
        prows = [[p.name, format_number(p.value), f"[{format_number(p.ci_low)}, {format_number(p.ci_high)}]",
                  f"[{format_number(p.low)}, {format_number(p.high)}]", format_number(p.start), "at bound" if p.at_bound else ""]
                 for p in self.parameters]
        shown = lambda s, k: "n/a" if np.isnan(s[k]) else format_number(s[k])  # noqa: E731
        srows = [[f"{s['series']} ({s['variable']} x {s['factor']:g})", str(s["n"]), shown(s, "r_squared"),
                  shown(s, "mape"), shown(s, "theil_bias"), shown(s, "theil_variance"), shown(s, "theil_covariance"),
                  format_number(self.sigma.get(s["series"], float("nan")))]
                 for s in self.statistics]
        parts = [head, "",
                 text_table(["parameter", "fitted" if self.method != "mcmc" else "median", interval, "bounds", "start", ""], prows), "",
                 text_table(["series (model variable x factor)", "n", "R2", "MAPE %", "U_bias", "U_var", "U_cov", "sigma"], srows)]
        parts += [f"  {s['series']}: {s['omitted']}" for s in self.statistics if s.get("omitted")]
        if self.diagnostics:
            d = self.diagnostics
            parts += ["", f"mcmc: {d['walkers']} walkers x {d['steps']} steps (first {d['burn']} discarded), "
                          f"acceptance {d['acceptance']:.2f}, autocorrelation time up to {d['tau_max']:.1f} steps, "
                          f"effective samples at least {d['ess_min']:.0f}"]
        if self.holdout:
            hrows = [[h["series"], f"{h['year']:g}", format_number(h["value"]), format_number(h["model"]),
                      f"[{format_number(h['p05'])}, {format_number(h['p95'])}]", "yes" if h["inside"] else "NO"]
                     for h in self.holdout]
            mape = ", ".join(f"{k} {v:.1f}%" for k, v in self.holdout_mape().items())
            parts += ["", f"out of sample (fitted on values before {self.holdout_from:g}): MAPE {mape}; "
                          f"{sum(h['inside'] for h in self.holdout)} of {len(self.holdout)} inside the 90% band",
                      text_table(["series", "year", "observed", "model", "90% band", "inside"], hrows)]
        parts += ["", *(f"warning: {w}" for w in self.warnings)] if self.warnings else []
        return "\n".join(parts)


def range_warnings(params: list[ParameterFit], correlation: np.ndarray | None = None,
                   what: str = "interval") -> list[str]:
    """A parameter at a bound, an interval wider than its range, a pair correlated above 0.95."""
    out = [f"{p.name}: at its bound {format_number(p.value)}; the {what} assumes an interior optimum"
           for p in params if p.at_bound]
    out += [f"{p.name}: 95% {what} [{format_number(p.ci_low)}, {format_number(p.ci_high)}] is wider than "
            f"its range [{format_number(p.low)}, {format_number(p.high)}]: the data do not pin it down"
            for p in params if np.isfinite(p.ci_high - p.ci_low) and p.ci_high - p.ci_low > p.high - p.low]
    if correlation is not None:
        k = len(params)
        out += [f"{params[i].name} and {params[j].name}: estimates correlated ({correlation[i, j]:+.3f}); "
                "the data identify a combination, not each"
                for i in range(k) for j in range(i + 1, k) if abs(correlation[i, j]) > CORRELATED]
    return out


def fitted_sigma(spec: CalibrationSpec, model: np.ndarray, k: int) -> dict[str, float]:
    """Each series' observation error at the fit, in its error model (a given sigma is kept):
    the root mean square of log(data/model) (lognormal) or of data - model (normal), with the
    degrees of freedom of the whole fit (N - k) shared over the points."""
    n = sum(len(t.values) for t in spec.targets)
    inflate = np.sqrt(n / (n - k)) if n > k else np.nan
    out, start = {}, 0
    for t in spec.targets:
        m, d = model[start:start + len(t.values)], np.asarray(t.values)
        start += len(t.values)
        if t.sigma is not None:
            out[t.series] = t.sigma
            continue
        with np.errstate(all="ignore"):
            r = np.log(d / m) if t.error == "lognormal" else d - m
        out[t.series] = float(np.sqrt(np.mean(r ** 2)) * inflate) if np.all(np.isfinite(r)) else float("nan")
    return out


def finish(spec, payoff, values, model, method, seed, runs, success, message, params, warnings, sigma,
            projection, held, holdout_from, diagnostics=None, posterior=None) -> CalibrationResult:
    """The result: the calibrated run over the whole horizon and its statistics, computed from
    the same observations as the fit."""
    scenario = payoff.runs.scenario_with(list(values.values()))
    run = Simulator.for_scenario(scenario).run(scenario)
    statistics, start = [], 0
    for t in spec.targets:
        m = model[start:start + len(t.values)]
        start += len(t.values)
        statistics.append({**{k: v for k, v in t.record().items() if k in ("series", "variable", "factor")},
                           **series_statistics(m, t.values)})
    x = list(values.values())
    holdout = holdout_check(held, projection, payoff.runs, x)
    points = projection_points(spec, held)
    calibrated = ModelRuns(spec.scenario, payoff.names,
                           Plan([Observation.of(t.variable, t.factor, c, y, t.denominator) for t, y, c in points]))(x)
    projection = [{**p, "model": float(m)} for p, m in zip(projection, calibrated)]
    residuals = payoff.residuals_of(model)
    return CalibrationResult(values, float(residuals @ residuals), bool(success), str(message), int(runs),
                             method, seed, params, statistics, warnings, spec, scenario, run, sigma,
                             projection, holdout_from, holdout, list(held), diagnostics or {}, posterior)
