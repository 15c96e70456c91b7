"""Bayesian calibration: posterior samples of the constants and of each series' observation error.

Priors come from each parameter's bounds (its XMILE <range> unless narrowed): uniform by default,
or loguniform or normal (truncated) as the spec says. Each target has an observation-error
model: lognormal (log data = log model + N(0, sigma^2 / weight), a multiplicative, relative
error, right for counts and money spanning orders of magnitude) or normal (data = model +
N(0, sigma^2 / weight)). A sigma not given in the spec is sampled too, with a prior uniform in
log sigma (scale-free) over [0.001, 3] (lognormal) or [1e-4, 10] x the series' mean (normal).

The sampler is emcee's affine-invariant ensemble (Goodman and Weare 2010; Foreman-Mackey et
al. 2013). It asks for all walkers' log-probabilities at once, which go to the model as one
batch (sdvag.analysis.calibration_runs.evaluate). The walkers start in a small ball around a
local least-squares fit. Diagnostics: the mean acceptance fraction (0.15 to 0.75 is healthy),
the integrated autocorrelation time tau of each coordinate, and the effective sample size
walkers x kept steps / tau; a warning when the acceptance is outside that range, the kept chain
is shorter than 50 tau (emcee's advice for a trustworthy tau) or fewer than 100 effective samples.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from sdvag.analysis.calibration_result import CalibrationResult, ParameterFit, finish, fitted_sigma, range_warnings
from sdvag.analysis.calibration_projection import project
from sdvag.analysis.calibration_runs import evaluate
from sdvag.errors import SdvagError
from sdvag.formatting import format_number

LOG_SIGMA = {"lognormal": (np.log(1e-3), np.log(3.0)), "normal": (np.log(1e-4), np.log(10.0))}
ACCEPTANCE = (0.15, 0.75)
MIN_TAUS = 50
MIN_ESS = 100
BOUND_SHARE = 0.01      # a credible interval within 1% of the range from a bound piles against it
UNINFORMED_SHARE = 0.9  # a credible interval over 90% of the range: the data barely inform it


class LogPosterior:
    """log prior + log likelihood of a batch of points theta = (constants..., log sigmas...)."""

    def __init__(self, spec, payoff):
        self.spec, self.payoff = spec, payoff
        self.k = len(spec.parameters)
        self.low = np.array([p.low for p in spec.parameters])
        self.high = np.array([p.high for p in spec.parameters])
        self.free = [i for i, t in enumerate(spec.targets) if t.sigma is None]  # targets with sampled sigma
        scales = [float(np.mean(np.abs(t.values))) for t in spec.targets]
        self.sigma_bounds = np.array([np.array(LOG_SIGMA[spec.targets[i].error])
                                      + (np.log(scales[i]) if spec.targets[i].error == "normal" else 0)
                                      for i in self.free]).reshape(-1, 2)
        self.ndim = self.k + len(self.free)

    def names(self) -> list[str]:
        return [p.name for p in self.spec.parameters] + [f"log sigma {self.spec.targets[i].series}" for i in self.free]

    def log_prior(self, theta: np.ndarray) -> np.ndarray:
        x, ls = theta[:, :self.k], theta[:, self.k:]
        inside = np.all((x >= self.low) & (x <= self.high), axis=1)
        inside &= np.all((ls >= self.sigma_bounds[:, 0]) & (ls <= self.sigma_bounds[:, 1]), axis=1)
        lp = np.where(inside, 0.0, -np.inf)
        for j, p in enumerate(self.spec.parameters):
            if p.prior[0] == "loguniform":
                with np.errstate(divide="ignore", invalid="ignore"):
                    lp = lp - np.log(x[:, j])
            elif p.prior[0] == "normal":
                lp = lp - 0.5 * ((x[:, j] - p.prior[1]) / p.prior[2]) ** 2
        return lp

    def sigmas(self, theta: np.ndarray) -> list[np.ndarray]:
        """Each target's sigma per point of the batch."""
        out, free = [], iter(range(self.k, self.ndim))
        for t in self.spec.targets:
            out.append(np.full(len(theta), t.sigma) if t.sigma is not None else np.exp(theta[:, next(free)]))
        return out

    def log_likelihood(self, theta: np.ndarray, model: np.ndarray) -> np.ndarray:
        ll, start = np.zeros(len(theta)), 0
        for t, s in zip(self.spec.targets, self.sigmas(theta)):
            m = model[:, start:start + len(t.values)]
            d = np.asarray(t.values)
            start += len(t.values)
            with np.errstate(all="ignore"):
                r = np.log(d) - np.log(m) if t.error == "lognormal" else d - m
            part = np.sum(-0.5 * t.weight * (r / s[:, None]) ** 2 - np.log(s[:, None]), axis=1)
            ll += np.where(np.all(np.isfinite(r), axis=1), part, -np.inf)
        return ll

    def __call__(self, theta) -> np.ndarray:
        theta = np.atleast_2d(theta)
        lp = self.log_prior(theta)
        ok = np.isfinite(lp)
        if ok.any():
            model = evaluate(self.payoff.runs, theta[ok, :self.k], self.payoff.pool)
            self.payoff.nruns += int(ok.sum())
            lp[ok] += self.log_likelihood(theta[ok], model)
        return np.where(np.isfinite(lp), lp, -np.inf)


def _start(post: LogPosterior, x0: np.ndarray, sigma0: dict, walkers: int, rng) -> np.ndarray:
    """Walkers in a small ball around the local fit, inside the bounds."""
    span = post.high - post.low
    x = x0 + 1e-3 * span * rng.standard_normal((walkers, post.k))
    x = np.where(x < post.low, 2 * post.low - x, x)
    x = np.clip(np.where(x > post.high, 2 * post.high - x, x), post.low, post.high)
    ls = []
    for j, i in enumerate(post.free):
        s = sigma0.get(post.spec.targets[i].series, np.nan)
        s = np.log(s) if np.isfinite(s) and s > 0 else np.mean(post.sigma_bounds[j])
        ls.append(np.clip(s + 0.01 * rng.standard_normal(walkers), *post.sigma_bounds[j]))
    return np.column_stack([x, *ls]) if ls else x


def sample(spec, payoff, u_start, seed, say, held, holdout_from) -> CalibrationResult:
    """Run emcee from around `u_start` (a local fit) and summarise the posterior; the run count
    is the payoff's (local fit and sampler) plus the projection's."""
    try:
        import emcee
    except ImportError:
        raise SdvagError("--method mcmc needs emcee: pip install 'sdvag[mcmc]'") from None
    post = LogPosterior(spec, payoff)
    opts = spec.options
    walkers = int(opts.get("walkers", max(16, 2 * post.ndim + 2)))
    walkers += walkers % 2
    steps = int(opts.get("steps", 1000))
    burn = int(opts.get("burn", steps // 2))
    if walkers < 2 * post.ndim or not 0 <= burn < steps:
        raise SdvagError(f"options: mcmc needs walkers >= {2 * post.ndim} (2 x the {post.ndim} sampled "
                         f"dimensions) and 0 <= burn < steps; got walkers {walkers}, steps {steps}, burn {burn}")
    rng = np.random.default_rng(seed)
    x0 = payoff.natural(u_start)
    sigma0 = fitted_sigma(spec, evaluate(payoff.runs, x0[None, :])[0], 0)
    sampler = emcee.EnsembleSampler(walkers, post.ndim, post, vectorize=True)
    sampler.random_state = np.random.RandomState(rng.integers(2 ** 31)).get_state()
    say(f"  sampling: {walkers} walkers x {steps} steps ({walkers * steps} runs)")
    for i, _ in enumerate(sampler.sample(_start(post, x0, sigma0, walkers, rng), iterations=steps), start=1):
        if i % max(1, steps // 10) == 0:
            say(f"  step {i}/{steps}: acceptance {np.mean(sampler.acceptance_fraction):.2f}")
    chain = sampler.get_chain(discard=burn, flat=True)
    tau = sampler.get_autocorr_time(discard=burn, tol=0)
    kept = steps - burn
    diagnostics = {"walkers": walkers, "steps": steps, "burn": burn,
                   "acceptance": float(np.mean(sampler.acceptance_fraction)),
                   "tau": dict(zip(post.names(), map(float, tau))), "tau_max": float(np.max(tau)),
                   "ess": dict(zip(post.names(), map(float, walkers * kept / tau))),
                   "ess_min": float(np.min(walkers * kept / tau))}
    warnings = list(spec.skipped) + _diagnostic_warnings(diagnostics, kept)
    params = []
    for j, p in enumerate(spec.parameters):
        q = np.percentile(chain[:, j], [2.5, 50, 97.5])
        params.append(ParameterFit(p.name, float(q[1]), p.low, p.high, p.start, float(np.std(chain[:, j])),
                                   float(q[0]), float(q[2])))
    corr = np.corrcoef(chain[:, :post.k], rowvar=False).reshape(post.k, post.k) if post.k > 1 else None
    warnings += _posterior_warnings(params) + range_warnings(params, corr, "credible interval")
    medians = np.array([p.value for p in params])
    model = evaluate(payoff.runs, medians[None, :])[0]
    sig = post.sigmas(chain)
    sigma = {t.series: float(np.median(s)) for t, s in zip(spec.targets, sig)}
    say("projecting: the posterior predictive")
    n = min(int(opts.get("draws", 200)), len(chain))
    pick = rng.choice(len(chain), size=n, replace=False)
    projection = project(spec, held, payoff.names, chain[pick, :post.k],
                         {t.series: s[pick] for t, s in zip(spec.targets, sig)}, payoff.pool, seed)
    posterior = xr.Dataset({"samples": (("draw", "parameter"), chain),
                            "log_probability": (("draw",), sampler.get_log_prob(discard=burn, flat=True))},
                           coords={"parameter": post.names()})
    values = dict(zip(payoff.names, medians.tolist()))
    converged = not any(w.startswith("mcmc:") for w in warnings)
    message = f"{walkers} walkers x {steps} steps, first {burn} discarded" + (
        "" if converged else "; the convergence diagnostics fail (see the warnings)")
    return finish(spec, payoff, values, model, "mcmc", seed, payoff.nruns + n + 2,
                   converged, message, params, warnings, sigma, projection,
                   held, holdout_from, diagnostics, posterior)


def _diagnostic_warnings(d: dict, kept: int) -> list[str]:
    out = []
    if not ACCEPTANCE[0] <= d["acceptance"] <= ACCEPTANCE[1]:
        out.append(f"mcmc: mean acceptance fraction {d['acceptance']:.2f} is outside "
                   f"{ACCEPTANCE[0]}-{ACCEPTANCE[1]}: the walkers are not mixing well")
    if kept < MIN_TAUS * d["tau_max"]:
        out.append(f"mcmc: the kept chain ({kept} steps) is shorter than {MIN_TAUS} autocorrelation times "
                   f"({MIN_TAUS} x {d['tau_max']:.1f}): run more steps for trustworthy estimates")
    if d["ess_min"] < MIN_ESS:
        out.append(f"mcmc: only {d['ess_min']:.0f} effective samples (fewer than {MIN_ESS}): run more steps")
    return out


def _posterior_warnings(params: list[ParameterFit]) -> list[str]:
    out = []
    for p in params:
        span = p.high - p.low
        if p.ci_high - p.ci_low > UNINFORMED_SHARE * span:
            out.append(f"{p.name}: 95% credible interval [{format_number(p.ci_low)}, {format_number(p.ci_high)}] "
                       f"covers {100 * (p.ci_high - p.ci_low) / span:.0f}% of its range: the data barely inform it")
        elif p.ci_low - p.low < BOUND_SHARE * span or p.high - p.ci_high < BOUND_SHARE * span:
            bound = p.low if p.ci_low - p.low < BOUND_SHARE * span else p.high
            out.append(f"{p.name}: the posterior piles against its bound {format_number(bound)}")
    return out
