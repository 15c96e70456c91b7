"""Calibration: known parameters recovered, reproducible, bad specs refused, shipped fits re-checked."""
import csv
import dataclasses
import shutil
import subprocess
import sys
import tomllib

import numpy as np
import pandas as pd
import pytest

import sdvag
from sdvag import data as observed
from sdvag.analysis import calibration
from sdvag.analysis.calibration import fit_statistics
from sdvag.analysis.fitstats import STATISTICS, series_statistics
from sdvag.data import window
from sdvag.simulation.scenario import load_scenario
from sdvag.simulation.simulate import Simulator

from conftest import FIXTURES, ROOT, cli

TRUTH = {"Growth Rate": 0.8, "Market Size": 2500.0}
CALIBRATED = sorted((ROOT / "scenarios" / "calibrated").glob("*.toml"))

SPEC = """scenario = "adoption.xmile"
name = "adoption_fit"
data = "series.csv"
seed = 5
[options]
starts = 3
maxiter = 8
popsize = 5
[[parameters]]
name = "Growth Rate"
[[parameters]]
name = "Market Size"
[[targets]]
series = "adopters"
variable = "Adopters"
[[targets]]
series = "adoption_hundreds"
variable = "Adoption"
factor = 0.01
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The adoption fixture, a series file it generated from TRUTH with 2% noise, and a spec."""
    folder = tmp_path_factory.mktemp("calibration")
    shutil.copy(FIXTURES / "adoption.xmile", folder)
    truth = sdvag.run(folder / "adoption.xmile", set=TRUTH)["Adopters"]
    rng = np.random.default_rng(11)
    rows = []
    # year-end levels of the stock, and annual totals of its inflow (the stock's change over the year)
    for name, timing, years, status in [("adopters", "year-end", range(2001, 2020, 2), "confirmed"),
                                        ("adoption_hundreds", "annual-total", range(2002, 2020, 4), "seed")]:
        end = truth.sel(time=[y + 1 for y in years]).to_numpy()
        values = end if timing == "year-end" else (end - truth.sel(time=list(years)).to_numpy()) / 100
        noisy = values + rng.normal(0, 0.02 * np.mean(np.abs(values)), values.size)
        units = "firms" if timing == "year-end" else "hundred firms"
        rows += [(name, y, v, units, status, timing, "synthetic") for y, v in zip(years, noisy)]
    with (folder / "series.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([observed.COLUMNS, *rows])
    (folder / "spec.toml").write_text(SPEC)
    return folder


@pytest.fixture(scope="module")
def local_fit(folder):
    return sdvag.calibrate(folder / "spec.toml", method="local")


def test_local_fit_recovers_known_parameters_within_intervals(local_fit):
    assert local_fit.success
    for p in local_fit.parameters:
        assert p.ci_low < TRUTH[p.name] < p.ci_high, p
        assert p.start != pytest.approx(TRUTH[p.name], rel=0.2)  # it had to move there
        assert p.ci_high - p.ci_low < 0.1 * (p.high - p.low)     # and the data pin it down
    assert not local_fit.warnings
    assert all(s["r_squared"] > 0.98 for s in local_fit.statistics)


@pytest.mark.parametrize("method", ["global", "multistart"])
def test_global_and_multistart_are_reproducible_and_find_the_same_optimum(folder, local_fit, method):
    first = sdvag.calibrate(folder / "spec.toml", method=method, workers=2)
    again = sdvag.calibrate(folder / "spec.toml", method=method, workers=1)
    assert first.x == again.x and first.nruns == again.nruns
    for name, value in first.x.items():
        assert value == pytest.approx(local_fit.x[name], rel=1e-3)


def test_the_local_fit_on_the_engine_runs_each_trial_point_with_its_jacobian_and_equals_pysd(
        folder, local_fit, monkeypatch):
    """On the vectorised engine each trial point of the least-squares fit runs in one batch with
    its Jacobian's k points (a batch costs it about one run), and the fitted point's Jacobian
    is the fit's own; PySD per run gives the same fit, running the Jacobians only when asked."""
    batches = []
    real = calibration.evaluate
    monkeypatch.setattr(calibration, "evaluate",
                        lambda runs, values, pool=None: batches.append(len(values)) or real(runs, values, pool))
    engine = sdvag.calibrate(folder / "spec.toml", method="local")
    on_engine, batches[:] = list(batches), []
    monkeypatch.setenv("SDVAG_ENGINE", "pysd")
    pysd = sdvag.calibrate(folder / "spec.toml", method="local")
    k = len(TRUTH)
    assert set(on_engine) == {k + 1} and 1 in batches and k + 1 in batches
    assert len(on_engine) < len(batches) and engine.nruns == len(on_engine) * (k + 1) + 200
    assert engine.payoff == pytest.approx(pysd.payoff, rel=1e-9) and engine.payoff == local_fit.payoff
    for a, b in zip(engine.parameters, pysd.parameters):
        assert a.value == pytest.approx(b.value, rel=1e-7)
        assert a.std_err == pytest.approx(b.std_err, rel=1e-4)


def test_payoff_normalises_units_and_skips_missing_years(folder, local_fit):
    """Rescaling one series (other units, factor to match) leaves the fit unchanged, and a
    series with fewer years is not zero-filled: its missing years do not count."""
    frame = observed.load(folder / "series.csv")
    frame.loc[frame["series"] == "adopters", "value"] *= 1000
    frame = frame[~((frame["series"] == "adoption_hundreds") & (frame["year"] == 2010))]
    table = tomllib.loads(SPEC.replace('"adopters"\nvariable = "Adopters"', '"adopters"\nvariable = "Adopters"\nfactor = 1000'))
    table.update(scenario=str(folder / "adoption.xmile"), data=frame)
    fit = sdvag.calibrate(table, method="local")
    assert fit.statistics[1]["n"] == 4
    assert fit.x["Growth Rate"] == pytest.approx(local_fit.x["Growth Rate"], rel=0.02)
    assert fit.statistics[0]["r_squared"] == pytest.approx(local_fit.statistics[0]["r_squared"], abs=1e-3)


def test_unidentified_parameters_are_warned_about(folder):
    """Growth Rate and Price (through a linear effect) enter adoption only as a product: the
    data identify the product, not each, and the warning names both."""
    spec = SPEC.replace('[[targets]]\nseries = "adopters"', '[[parameters]]\nname = "Price"\n[[targets]]\nseries = "adopters"')
    (folder / "flat.toml").write_text(spec)
    fit = sdvag.calibrate(folder / "flat.toml", method="local")
    assert any("Growth Rate" in w and "Price" in w for w in fit.warnings), fit.warnings
    assert not any("Market Size" in w for w in fit.warnings)


def test_cli_writes_a_calibrated_scenario_that_runs_and_reproduces_its_statistics(folder):
    out = folder / "out"
    done = cli("calibrate", folder / "spec.toml", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "R2" in done.stdout and "calibrating adoption_fit" in done.stderr  # progress shown
    scenario = out / "adoption_fit.toml"
    assert (out / "adoption_fit_fit.png").stat().st_size > 0
    assert (out / "adoption_fit_report.txt").read_text().strip() == done.stdout.strip()  # the report promised
    assert cli("run", scenario).returncode == 0
    record = tomllib.loads(scenario.read_text())["calibration"]
    assert {(p["name"]) for p in record["parameters"]} == set(TRUTH)
    stats = fit_statistics(sdvag.run(scenario), record["targets"], observed.load(folder / "series.csv"))
    for recorded, again in zip(record["targets"], stats):
        for key in STATISTICS:
            assert again[key] == pytest.approx(recorded[key], rel=1e-9, nan_ok=True)


SHARE_TARGET = '[[targets]]\nseries = "share"\nvariable = "{}"\nfactor = 1\n'


@pytest.mark.parametrize("old, new, message", [
    ('series = "adopters"', 'series = "adoptors"', "unknown series 'adoptors'"),
    ('variable = "Adopters"', 'variable = "Adopter Count"', "unknown variable 'Adopter Count'"),
    ('name = "Market Size"', 'name = "Market Size"\nmax = 20000', "outside the range of 'Market Size'"),
    ('name = "Growth Rate"', 'name = "Adoption"', "only constants can be fitted"),
    # a stock in firms against a series in percent
    ("", SHARE_TARGET.format("Adopters"), "units cannot match"),
    # a dimensionless variable against a percent series with factor 1
    ("", SHARE_TARGET.format("Effect Of Price"), "it must be 100"),
])
def test_bad_specs_fail_with_one_clear_message(folder, old, new, message):
    spec = SPEC.replace(old, new) if old else SPEC + new
    with (folder / "series.csv").open() as handle:
        (folder / "series_share.csv").write_text(handle.read() + "share,2005,40,percent,seed,year-end,synthetic\n")
    (folder / "bad.toml").write_text(spec.replace('data = "series.csv"', 'data = "series_share.csv"'))
    done = cli("calibrate", folder / "bad.toml")
    assert done.returncode == 2
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in done.stderr, done.stderr


def test_theil_shares_split_the_error():
    data = np.array([1.0, 2.0, 4.0, 3.0])
    biased = series_statistics(data + 1, data)
    assert biased["theil_bias"] == pytest.approx(1) and biased["r_squared"] < 1
    stretched = series_statistics(2 * data - data.mean(), data)
    assert stretched["theil_variance"] == pytest.approx(1)
    noisy = series_statistics(data[::-1], data)
    assert noisy["theil_bias"] + noisy["theil_variance"] + noisy["theil_covariance"] == pytest.approx(1)
    assert noisy["theil_covariance"] > 0.5


def test_shipped_series_keep_status_and_source_and_are_listed():
    frame = observed.load()
    villages = observed.series("taobao_villages")
    assert set(villages["status"].to_numpy()) <= set(observed.STATUSES)
    assert all(villages["source"].to_numpy())
    assert villages.attrs["units"] == "villages"
    assert np.isnan(observed.dataset()["value"].sel(series="taobao_villages", year=2010))  # unknown, not 0
    done = cli("data")
    assert done.returncode == 0
    for name, rows in frame.groupby("series"):
        line = next(l for l in done.stdout.splitlines() if l.startswith(name + " "))
        assert f"n={len(rows)}" in line and rows["unit"].iloc[0] in line


@pytest.mark.parametrize("path", CALIBRATED, ids=[p.stem for p in CALIBRATED])
def test_shipped_calibrated_scenarios_reproduce_their_statistics_and_project_to_their_stop(path):
    table = tomllib.loads(path.read_text())
    scenario = load_scenario(path)
    assert cli("run", path).returncode == 0                    # runs as it is
    dt = Simulator.for_model(scenario.model).time_settings(scenario)["dt"]
    ds = sdvag.run(dataclasses.replace(scenario, sim={**scenario.sim, "save_step": dt}))  # annual totals: every dt
    assert ds.attrs["model_sha256"] == table["calibration"]["model_sha256"], \
        f"{ds.attrs['model']} changed since {path.name} was calibrated: re-run its scripts/calibrate_*.py"
    stop = ds["time"].to_numpy()[-1]
    assert stop >= 2030
    for recorded, again in zip(table["calibration"]["targets"], fit_statistics(ds, table["calibration"]["targets"])):
        for key in STATISTICS:
            if key in recorded:
                assert again[key] == pytest.approx(recorded[key], rel=1e-6, abs=1e-12), (recorded["series"], key)
            else:   # omitted, with the reason, where the data cannot support it
                assert np.isnan(again[key]) and "at least 3" in recorded["omitted"], (recorded["series"], key)
        band = [p for p in table["calibration"]["projection"] if p["series"] == recorded["series"]]
        windows = [window(p["timing"], p["year"]) for p in band]
        assert [p["year"] for p in band] == list(np.arange(band[0]["year"], band[-1]["year"] + 1))  # yearly
        assert max(end for _, _, end in windows) > stop - 1                                        # to the stop
        assert all(p["p05"] <= p["p50"] <= p["p95"] for p in band)


def test_holdout_from_python_and_cli(folder):
    """Fitted on the values before 2012, the rest are checked against the band (Python and CLI)."""
    fit = sdvag.calibrate(folder / "spec.toml", method="local", holdout_from=2012, workers=1)
    frame = observed.load(folder / "series.csv")
    later = frame[frame["year"] >= 2012]
    assert sorted((h["series"], h["year"]) for h in fit.holdout) == sorted(zip(later["series"], later["year"]))
    assert [s["n"] for s in fit.statistics] == [int(((frame["series"] == t.series) & (frame["year"] < 2012)).sum())
                                                for t in fit.spec.targets]
    adopters = [h for h in fit.holdout if h["series"] == "adopters"]
    assert all(h["inside"] == (h["p05"] <= h["value"] <= h["p95"]) for h in fit.holdout)
    assert all(h["inside"] for h in adopters)              # the right model, fitted on the first half
    assert fit.holdout_mape()["adopters"] < 5
    assert "out of sample" in fit.summary()
    out = folder / "holdout"
    done = cli("calibrate", folder / "spec.toml", "--method", "local", "--holdout-from", "2012", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "out of sample (fitted on values before 2012)" in done.stdout
    record = tomllib.loads((out / "adoption_fit.toml").read_text())["calibration"]
    assert record["holdout_from"] == 2012 and len(record["holdout"]) == len(later)
    nothing = cli("calibrate", folder / "spec.toml", "--holdout-from", "1990")
    assert nothing.returncode == 2 and "no observed value before 1990" in nothing.stderr


def test_script_regenerates_psva_with_the_local_method(tmp_path):
    """The script re-creates the calibrated scenario from its spec; the quick local fit gets the
    same targets and parameters, and the shipped (global) fit is at least as good."""
    done = subprocess.run([sys.executable, ROOT / "scripts" / "calibrate_psva.py", "--method", "local",
                           "--out", tmp_path], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    local = tomllib.loads((tmp_path / "psva_calibrated.toml").read_text())["calibration"]
    shipped = tomllib.loads((ROOT / "scenarios" / "calibrated" / "psva_calibrated.toml").read_text())["calibration"]
    assert [t["series"] for t in local["targets"]] == [t["series"] for t in shipped["targets"]]
    assert [p["name"] for p in local["parameters"]] == [p["name"] for p in shipped["parameters"]]
    assert shipped["payoff"] <= local["payoff"] * (1 + 1e-6)
    assert (tmp_path / "psva_calibrated_fit.png").stat().st_size > 0


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_wide_csv_and_excel_data_without_status_give_the_same_fit(folder, suffix):
    """A user's table: a year column and a column per series (`name [unit]`), gaps left empty,
    no status or source; as CSV or as an Excel sheet."""
    long = observed.load(folder / "series.csv")
    wide = long.assign(header=long["series"] + " [" + long["unit"] + "]").pivot(
        index="year", columns="header", values="value").reset_index()
    path = folder / f"wide{suffix}"
    if suffix == ".csv":
        wide.to_csv(path, index=False)
    else:
        pytest.importorskip("openpyxl")
        wide.to_excel(path, index=False, sheet_name="observed")
    with pytest.warns(UserWarning, match="no timing column"):
        loaded = observed.load(path, sheet="observed" if suffix == ".xlsx" else None)
    assert set(loaded["status"]) == {"confirmed"} and set(loaded["source"]) == {path.name}
    assert set(loaded["timing"]) == {"year-end"}   # a wide table has no timing: the documented default
    columns = ["series", "year", "value", "unit"]
    pd.testing.assert_frame_equal(loaded[columns], long[columns], check_dtype=False)
    # the same values as a long table with every value a year-end level fit the same
    long.assign(timing="year-end").to_csv(folder / "year_end.csv", index=False)
    (folder / "year_end.toml").write_text(SPEC.replace('data = "series.csv"', 'data = "year_end.csv"'))
    reference = sdvag.calibrate(folder / "year_end.toml", method="local")
    spec = SPEC.replace('data = "series.csv"', f'data = "{path.name}"'
                        + ('\nsheet = "observed"' if suffix == ".xlsx" else ""))
    (folder / f"wide{suffix}.toml").write_text(spec)
    fit = sdvag.calibrate(folder / f"wide{suffix}.toml", method="local")
    for name, value in fit.x.items():
        assert value == pytest.approx(reference.x[name], rel=1e-9)


def test_a_series_table_of_neither_shape_is_refused_with_both_shapes_named(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("when,adopters\n2001,5\n")
    with pytest.raises(sdvag.SdvagError, match="long table with columns series, year, value.*wide one"):
        observed.load(path)
