"""Observations are compared with the model where and how they were measured.

Synthetic data from known constants, measured as a year-end level, a mid-year level and an
annual total (the stock's change over the year, computed independently of the calibration's
Riemann sum of the flow), are fitted back: the known constants lie inside the reported 95%
intervals. The same values compared with the model at t = year (the old convention, which is
`point:YEAR`) give intervals that miss them.
"""
import csv
import shutil

import numpy as np
import pytest

import sdvag
from sdvag import data as observed
from sdvag.analysis.observation import Observation

from conftest import FIXTURES

TRUTH = {"Growth Rate": 0.8, "Market Size": 2500.0}
YEARS = list(range(2001, 2015))

SPEC = """scenario = "adoption.xmile"
data = "{data}"
[options]
draws = 20
[[parameters]]
name = "Growth Rate"
[[parameters]]
name = "Market Size"
[[targets]]
series = "{series}"
variable = "{variable}"
"""


def measured(truth, timing: str) -> np.ndarray:
    """What an observer would have recorded for each year, from a run with the true constants."""
    level = truth["Adopters"]
    if timing == "year-end":
        return level.sel(time=[y + 1 for y in YEARS]).to_numpy()
    if timing == "mid-year":
        return level.sel(time=[y + 0.5 for y in YEARS]).to_numpy()
    return level.sel(time=[y + 1 for y in YEARS]).to_numpy() - level.sel(time=YEARS).to_numpy()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timing")
    shutil.copy(FIXTURES / "adoption.xmile", folder)
    truth = sdvag.run(folder / "adoption.xmile", set=TRUTH)
    rng = np.random.default_rng(4)
    for timing in ("year-end", "mid-year", "annual-total"):
        exact = measured(truth, timing)   # noise of 2% of the series' mean: the payoff's error model
        values = exact + rng.normal(0, 0.02 * np.mean(exact), len(YEARS))
        for name, codes in ((timing, [timing] * len(YEARS)), (f"{timing}-at-t-year", [f"point:{y}" for y in YEARS])):
            with (folder / f"{name}.csv").open("w", newline="") as handle:
                csv.writer(handle).writerows([observed.COLUMNS, *[
                    ("adopters", y, v, "firms", "confirmed", c, "synthetic") for y, v, c in zip(YEARS, values, codes)]])
    return folder


def fit(folder, data: str):
    variable = "Adoption" if data.startswith("annual-total") else "Adopters"
    (folder / "spec.toml").write_text(SPEC.format(data=f"{data}.csv", series="adopters", variable=variable))
    return sdvag.calibrate(folder / "spec.toml", method="local", workers=1)


@pytest.mark.parametrize("timing", ["year-end", "mid-year", "annual-total"])
def test_known_constants_are_recovered_with_the_right_timing_and_missed_with_t_equals_year(folder, timing):
    right = fit(folder, timing)
    for p in right.parameters:
        assert p.ci_low < TRUTH[p.name] < p.ci_high, (timing, p)
        assert p.ci_high - p.ci_low < 0.1 * (p.high - p.low)   # the data pin it down
    old = fit(folder, f"{timing}-at-t-year")
    missed = [p.name for p in old.parameters if not p.ci_low < TRUTH[p.name] < p.ci_high]
    assert missed, [(p.name, p.ci_low, p.ci_high) for p in old.parameters]


def test_annual_total_is_the_flow_accumulated_over_the_year():
    """On a saved grid the annual total is the left Riemann sum of the flow (what an Euler stock
    accumulates); a level is interpolated; a ratio is weighted by its denominator."""
    times = np.arange(2000, 2003.01, 0.25)
    flow = 2.0 * times - 4000                              # rises through the year
    total = Observation.of("Flow", 1.0, "annual-total", 2001)
    assert total.weights(times) @ flow == pytest.approx(0.25 * sum(2.0 * t - 4000 for t in (2001, 2001.25, 2001.5, 2001.75)))
    level = Observation.of("Flow", 1.0, "point:2001.1", 2001)
    assert level.weights(times) @ flow == pytest.approx(2.0 * 2001.1 - 4000)
    assert Observation.of("Flow", 1.0, "year-end", 2001).start == 2002.0
    assert Observation.of("Flow", 1.0, "mid-year", 2001).start == 2001.5
    with pytest.raises(sdvag.SdvagError, match="save step"):
        total.weights(np.arange(2000, 2004.0, 1.0))          # a yearly grid cannot give an annual total


def test_a_series_without_timing_gets_the_default_and_a_warning(tmp_path):
    rows = [("adopters", 2005, 100.0, "firms", "confirmed", "synthetic")]
    with (tmp_path / "old.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([[c for c in observed.COLUMNS if c != "timing"], *rows])
    with pytest.warns(UserWarning, match="no timing column"):
        frame = observed.load(tmp_path / "old.csv")
    assert list(frame["timing"]) == [observed.DEFAULT_TIMING]
