"""Vensim models whose time settings are equations (INITIAL TIME, FINAL TIME, TIME STEP, SAVEPER
computed as the run goes): runs against closed forms, and each form refused."""
import math
import re

import numpy as np
import pytest

import sdvag
from sdvag import data as observed
from sdvag.errors import SdvagError, UnsupportedFeature
from sdvag.simulation.scenario import load_scenario, time_settings

from conftest import FIXTURES, cli

DECAY = FIXTURES / "foreign" / "decay.mdl"  # Stock decays from 100 with lifetime 4, dt 0.5, to 8


def _model(tmp_path, name="controls.mdl", extra="", **controls):
    """decay.mdl with the given control equations (initial_time="...", ...) and extra equations."""
    text = DECAY.read_text()
    for key, equation in controls.items():
        control = key.replace("_", " ").upper()
        text, count = re.subn(rf"{control}\s*=\s*[^~]*~", lambda _: f"{control} = {equation}\n\t~", text)
        assert count == 1
    path = tmp_path / name
    path.write_text(text.replace("{UTF-8}\n", "{UTF-8}\n" + extra))
    return path


def _euler(steps) -> list[float]:
    """The decaying stock by Euler over the given steps: each multiplies it by 1 - dt / 4."""
    values = [100.0]
    for dt in steps:
        values.append(values[-1] * (1 - dt / 4))
    return values


def test_a_final_time_reached_by_the_state_stops_the_run_there(tmp_path):
    # Stock = 100 * 0.875^n after n steps: below 50 first at n = 6 (0.875^5 = 0.513, 0.875^6 = 0.449),
    # Time 3: FINAL TIME becomes Time there and the run stops, that time saved (SDXorg dynamic_final_time)
    path = _model(tmp_path, final_time="IF THEN ELSE(Stock < 50, Time, 8)")
    ds = sdvag.run(path)
    np.testing.assert_allclose(ds["time"].values, np.arange(0, 3.25, 0.5))
    np.testing.assert_allclose(ds["Stock"].values, _euler([0.5] * 6), rtol=1e-12)
    assert ds.attrs["time_settings"] == '{"start": 0.0, "stop": 3.0, "computed": ["FINAL TIME"], "steps": 6}'
    # with a threshold the stock never crosses, it runs to the other branch's 8
    assert sdvag.run(_model(tmp_path, "never.mdl", final_time="IF THEN ELSE(Stock < 1, Time, 8)"))["time"].values[-1] == 8


def test_a_changing_time_step_and_saveper_give_the_times_they_name(tmp_path):
    # steps of 0.5 to Time 2, then 0.25; saved every step to Time 3, then every 1 (SDXorg control_vars)
    path = _model(tmp_path, time_step="IF THEN ELSE(Time < 2, 0.5, 0.25)",
                  saveper="IF THEN ELSE(Time < 3, TIME STEP, 1)", final_time="5")
    ds = sdvag.run(path)
    expected_times = [0, 0.5, 1, 1.5, 2, 2.25, 2.5, 2.75, 3, 4, 5]
    np.testing.assert_allclose(ds["time"].values, expected_times)
    stock = _euler([0.5] * 4 + [0.25] * 12)  # at 0, 0.5 ... 2, then 2.25 ... 5
    np.testing.assert_allclose(ds["Stock"].values, [stock[i] for i in (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16)],
                               rtol=1e-12)
    # the results carry exactly these times through the command line too
    out = tmp_path / "out"
    assert cli("run", path, "--out", out).returncode == 0
    written = np.loadtxt(out / "results.csv", delimiter=",", skiprows=1, usecols=0)
    np.testing.assert_allclose(written, expected_times)


def test_a_computed_initial_time_starts_where_it_gives_itself_on_every_run(tmp_path):
    # IF THEN ELSE(Time < 3, 0, 0.2) is 0 at Time 0 and at Time 0 again: the start is 0. PySD
    # alone computes it at the previous run's last time, so its second run would start at 0.2.
    path = _model(tmp_path, initial_time="IF THEN ELSE(Time < 3, 0, 0.2)")
    for _ in range(2):
        ds = sdvag.run(path)
        np.testing.assert_allclose(ds["time"].values, np.arange(0, 8.25, 0.5))
    # from a constant, and the scenario's value of that constant
    start = _model(tmp_path, "start.mdl", initial_time="First Year",
                   extra="First Year= 2\n\t~\tMonth [0,4]\n\t~\tWhen the run starts.\n\t|\n\n")
    assert sdvag.run(start)["time"].values[0] == 2
    ds = sdvag.run(start, set={"First Year": 1})
    np.testing.assert_allclose(ds["time"].values, np.arange(1, 8.25, 0.5))
    np.testing.assert_allclose(ds["Stock"].values, _euler([0.5] * 14), rtol=1e-12)


@pytest.mark.parametrize("controls, extra, feature, variable", [
    # 1 at Time 0, but 0 at Time 1: no start that names itself
    ({"initial_time": "IF THEN ELSE(Time < 1, 1, 0)"}, "",
     "a computed INITIAL TIME that does not give itself as the start (1 at Time 0, 0 at Time 1)", "INITIAL TIME"),
    ({"initial_time": "Stock - 100"}, "", "a computed INITIAL TIME that depends on a stock", "Stock"),
    # PySD saves at 0, 0.5, 1, 1.5 and then 3 (multiples of 1.5); every SAVEPER after 1.5 is due at 2
    ({"saveper": "IF THEN ELSE(Time < 2, 0.5, 1.5)"}, "",
     "a computed SAVEPER or TIME STEP whose saving times depend on the engine's rule (SAVEPER 0.5 at "
     "Time 1.5: PySD saves next at 3, not at 2)", "SAVEPER"),
    ({"time_step": "IF THEN ELSE(Time < 2, 0.5, 0.25)"},
     "Late= DELAY FIXED(Stock, 1, 0)\n\t~\twidgets\n\t~\t|\n\n",
     "DELAY FIXED with a computed TIME STEP (PySD sizes it by the step at the start only)", "Late"),
    ({"time_step": "IF THEN ELSE(Time < 2, 0.5, 0.25)"},
     "Late= DELAY1(Stock, 1)\n\t~\twidgets\n\t~\t|\n\n", "DELAY1 or DELAY3 with a computed TIME STEP", "Late"),
])
def test_computed_time_settings_without_one_answer_are_refused(tmp_path, controls, extra, feature, variable):
    path = _model(tmp_path, extra=extra, **controls)
    proc = cli("run", path, "--out", tmp_path / "out")
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"cannot simulate {feature}" in proc.stderr and f"in variable '{variable}'" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("controls, message", [
    ({"final_time": "Time + 1"}, "the run passed 50 steps without reaching its FINAL TIME"),
    ({"time_step": "IF THEN ELSE(Time < 2, 0.5, 0)"}, "TIME STEP is 0 at Time 2: it must be positive"),
    ({"final_time": "IF THEN ELSE(Time < 2, 8, 1e308 * 10)"}, "FINAL TIME is inf at Time 2"),
])
def test_computed_time_settings_that_cannot_be_run_stop_it_with_an_input_error(tmp_path, monkeypatch,
                                                                              controls, message):
    monkeypatch.setenv("SDVAG_MAX_STEPS", "50")
    path = _model(tmp_path, **controls)
    proc = cli("run", path, "--out", tmp_path / "out")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert message in proc.stderr and not (tmp_path / "out").exists()


def test_what_needs_a_fixed_time_grid_refuses_computed_time_settings(tmp_path):
    path = _model(tmp_path, final_time="IF THEN ELSE(Stock < 50, Time, 8)")
    with pytest.raises(UnsupportedFeature, match=r"cannot simulate computed time settings \(FINAL TIME\) in an "
                                                 "analysis that needs a fixed time grid"):
        time_settings(load_scenario(path), sdvag.read_model(path))  # what ensembles and calibration call
    for command in (("check", path, "--only", "integration"), ("loops", path)):  # loops: Simlin's own grid
        proc = cli(*command)
        assert proc.returncode == 3 and "fixed time grid" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "series.csv").write_text(",".join(observed.COLUMNS) + "\nstock,2,60,widgets,confirmed,year-end,hand\n")
    (tmp_path / "fit.toml").write_text(f'scenario = "{path.name}"\nname = "fit"\ndata = "series.csv"\n'
                                       '[[parameters]]\nname = "Lifetime"\n[[targets]]\nseries = "stock"\n'
                                       'variable = "Stock"\n')
    with pytest.raises(UnsupportedFeature, match="fixed time grid"):
        sdvag.calibrate(tmp_path / "fit.toml", method="local")
    scenario = tmp_path / "later.toml"
    scenario.write_text(f'model = "{path}"\n[sim]\nstop = 6\n')
    with pytest.raises(SdvagError, match=r"sim.stop: the model computes its time settings \(FINAL TIME\), "
                                         "so a scenario cannot set them"):
        load_scenario(scenario)


def test_the_time_settings_sdvag_reads_name_what_the_model_computes(tmp_path):
    info = sdvag.read_model(_model(tmp_path, final_time="IF THEN ELSE(Stock < 50, Time, 8)"))
    assert info.sim.computed == ("FINAL TIME",) and math.isnan(info.sim.stop)
    assert (info.sim.start, info.sim.dt, info.sim.save_step) == (0, 0.5, 0.5)
    assert sdvag.read_model(DECAY).sim.computed == ()
    described = cli("describe", info.path).stdout.splitlines()[0]
    assert described == "controls (controls.mdl): time settings computed as it runs (FINAL TIME; Month)"


def test_a_delay_n_whose_delay_time_has_fewer_subscripts_runs_to_its_closed_form():
    # Out[A,B] = DELAY N(1, Lag[A], 0, 2), Lag = 2, 3; dt 0.25. Euler's cascade of two stocks from 0,
    # each draining at h = 2 dt / Lag: the first's outflow is 1 - (1-h)^k after k steps, the
    # second's 1 - (1-h)^k - k h (1-h)^(k-1) (SDXorg subscripted_delays: its 308 columns agree)
    ds = sdvag.run(FIXTURES / "foreign" / "delayn_partial.mdl")
    k = np.rint(ds["time"].values / 0.25)
    for a, lag in (("a1", 2), ("a2", 3)):
        h = 2 * 0.25 / lag
        expected = 1 - (1 - h) ** k - k * h * (1 - h) ** np.maximum(k - 1, 0)
        for b in ("b1", "b2"):
            np.testing.assert_allclose(ds[f"Out[{a},{b}]"].values, expected, rtol=1e-12, atol=1e-15)
