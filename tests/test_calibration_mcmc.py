"""The Bayesian calibration against a posterior known in closed form.

A level growing by a constant inflow is linear in its two constants (start level L0 and rate R):
year-end observations y_i = L0 + R (year_i + 1 - 2000) + N(0, sigma^2) with sigma known and
priors uniform over ranges far wider than the posterior give a Gaussian posterior with mean the
least-squares estimate and covariance sigma^2 (X'X)^-1.
"""
import csv
import shutil

import numpy as np
import pytest

import sdvag
from sdvag import data as observed

from conftest import FIXTURES

TRUTH = {"Initial Level": 20.0, "Rate": 5.0}
SIGMA = 2.0
YEARS = np.arange(2000, 2010)

SPEC = f"""scenario = "linear.xmile"
name = "linear_fit"
data = "series.csv"
method = "mcmc"
seed = 3
[options]
walkers = 8
steps = 300
burn = 60
draws = 300
[[parameters]]
name = "Initial Level"
[[parameters]]
name = "Rate"
[[targets]]
series = "level"
variable = "Level"
error = "normal"
sigma = {SIGMA}
"""


def design() -> np.ndarray:
    return np.column_stack([np.ones(YEARS.size), YEARS + 1 - 2000.0])  # year-end: t = year + 1


@pytest.fixture(scope="module")
def posterior(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mcmc")
    shutil.copy(FIXTURES / "linear.xmile", folder)
    rng = np.random.default_rng(7)
    data = design() @ np.array(list(TRUTH.values())) + rng.normal(0, SIGMA, YEARS.size)
    with (folder / "series.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([observed.COLUMNS, *[
            ("level", y, v, "items", "confirmed", "year-end", "synthetic") for y, v in zip(YEARS, data)]])
    (folder / "spec.toml").write_text(SPEC)
    return sdvag.calibrate(folder / "spec.toml", workers=1), data


def test_posterior_mean_and_sd_match_the_closed_form(posterior):
    fit, data = posterior
    x = design()
    exact_mean = np.linalg.solve(x.T @ x, x.T @ data)
    exact_sd = np.sqrt(np.diag(SIGMA ** 2 * np.linalg.inv(x.T @ x)))
    samples = fit.posterior["samples"]
    d = fit.diagnostics
    assert 0.2 < d["acceptance"] < 0.75
    for i, name in enumerate(TRUTH):
        chain = samples.sel(parameter=name).to_numpy()
        ess = d["ess"][name]
        assert ess > 100, d                    # enough for the Monte Carlo error below to mean something
        mc_error = exact_sd[i] / np.sqrt(ess)  # standard error of the posterior mean estimate
        assert abs(chain.mean() - exact_mean[i]) < 4 * mc_error, (name, chain.mean(), exact_mean[i], mc_error)
        assert abs(chain.std() / exact_sd[i] - 1) < 4 / np.sqrt(2 * ess), (name, chain.std(), exact_sd[i])


def test_predictive_band_covers_about_90_percent_of_fresh_points(posterior):
    fit, _ = posterior
    band = {p["year"]: p for p in fit.projection if p["series"] == "level"}
    assert sorted(band) == list(map(float, YEARS))   # year-end values up to the stop time 2010
    rng = np.random.default_rng(99)
    truth = design() @ np.array(list(TRUTH.values()))
    fresh = truth[:, None] + rng.normal(0, SIGMA, (YEARS.size, 200))
    low = np.array([band[float(y)]["p05"] for y in YEARS])[:, None]
    high = np.array([band[float(y)]["p95"] for y in YEARS])[:, None]
    coverage = float(np.mean((fresh >= low) & (fresh <= high)))
    assert 0.85 < coverage < 0.95, coverage


def test_short_chains_are_flagged(tmp_path):
    """A chain far too short for its autocorrelation time is reported as such, not trusted."""
    shutil.copy(FIXTURES / "linear.xmile", tmp_path)
    with (tmp_path / "series.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([observed.COLUMNS, *[
            ("level", y, 20 + 5 * (y + 1 - 2000), "items", "confirmed", "year-end", "synthetic") for y in YEARS]])
    (tmp_path / "spec.toml").write_text(SPEC.replace("steps = 300\nburn = 60\ndraws = 300", "steps = 30\nburn = 10\ndraws = 20"))
    fit = sdvag.calibrate(tmp_path / "spec.toml", workers=1)
    assert not fit.success
    assert any("autocorrelation times" in w for w in fit.warnings), fit.warnings
    assert "mcmc:" in fit.summary()
