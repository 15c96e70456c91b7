"""The explorer's logic without a browser: sectors from the diagram, checked moves that keep the
last good state, Monte Carlo bands, and saved scenarios that `sdvag run` reproduces."""
import importlib.util
import math
import tomllib

import numpy as np
import pytest

import sdvag
from conftest import FIXTURES, cli
from sdvag.errors import SdvagError
from sdvag.explorer.save import save
from sdvag.explorer.session import OTHER_SECTOR, Session
from sdvag.model.views import sectors
from sdvag.model.xmile import read_model

MODEL = FIXTURES / "explorer.xmile"


@pytest.fixture
def session():
    return Session(MODEL)


def test_sectors_are_the_diagram_groups_around_each_variable(session):
    assert sectors(read_model(MODEL)) == {"Level": "Growth sector", "Growth": "Growth sector",
                                          "Rate": "Growth sector", "Evolution Stage": "Growth sector"}
    by_name = {s.name: s for s in session.sliders}
    assert (by_name["Rate"].sector, by_name["Scale"].sector) == ("Growth sector", OTHER_SECTOR)
    assert (by_name["Rate"].low, by_name["Rate"].high, by_name["Rate"].units) == (0, 5, "widget/year")
    assert session.unranged == ["Drift"]  # no slider without a range to bound it


def test_a_move_runs_the_model_and_names_the_stages(session):
    session.set("Rate", "1.5")
    assert session.finals()["Level"] == pytest.approx(1.5 * 2 * 10)
    assert session.base_run["Level"].values[-1] == pytest.approx(20)
    # Level passes 10 at t = 10 / 3, seen at the next save time (4)
    assert session.stages() == [(0.0, 4.0, 1, "small"), (4.0, 10.0, 2, "large")]


@pytest.mark.parametrize("text, says", [("7", r"outside its range \[0, 5\]"), ("abc", "is not a number"),
                                        ("nan", "not a finite number")])
def test_bad_values_say_why_and_keep_the_last_good_state(session, text, says):
    session.set("Rate", 2)
    good = session.current_run
    with pytest.raises(SdvagError, match=says):
        session.set("Rate", text)
    assert session.current_run is good and session.values == {"Rate": 2}
    with pytest.raises(SdvagError, match="not a constant with a range"):
        session.set("Drift", 1)


def test_a_scenario_that_does_not_load_keeps_the_last_good_state(session, tmp_path):
    session.set("Scale", 3)
    bad = tmp_path / "bad.toml"
    bad.write_text(f'model = "{MODEL}"\n[constants]\nRate = 99\n')
    with pytest.raises(SdvagError, match="Rate"):
        session.load(bad)
    assert session.values == {"Scale": 3} and session.finals()["Level"] == pytest.approx(30)


def test_monte_carlo_band_spans_the_uncertain_constant(session):
    band = session.band(["Rate"], runs=16)["Level"].isel(time=-1)
    p = {q: float(band.sel(percentile=q)) for q in (5, 25, 50, 75, 95)}
    # Level(10) = 20 Rate with Rate uniform on [0, 5]: percentile q is near q% of 100
    assert p[5] < p[25] < p[50] < p[75] < p[95]
    for q, value in p.items():
        assert value == pytest.approx(q, abs=8), p
    session.set("Scale", 1)  # recomputed on each change, around the new settings
    assert float(session.band_data["Level"].isel(time=-1).sel(percentile=50)) == pytest.approx(p[50] / 2, rel=0.05)
    assert session.band([]) is None and session.band_data is None


def test_saved_scenario_runs_as_it_is_and_reproduces_the_run(session, tmp_path):
    policy = tmp_path / "with_policy.toml"
    policy.write_text(f'model = "{MODEL}"\ntitle = "With a step"\n[sim]\ndt = 0.125\n'
                      f'[[policies]]\nvariable = "Scale"\nkind = "step"\nat = 5\nto = 3\n')
    session.load(policy)
    session.set("Rate", 0.5)
    folder = tmp_path / "out" / "deeper"
    written = save(session, folder, "my_run")
    assert sorted(p.name for p in written) == ["my_run.csv", "my_run.nc", "my_run.pdf", "my_run.png", "my_run.toml"]
    saved = tomllib.loads((folder / "my_run.toml").read_text())
    assert saved["constants"] == {"Rate": 0.5} and saved["policies"][0]["to"] == 3
    assert saved["sim"] == {"dt": 0.125}
    rerun = sdvag.run(folder / "my_run.toml")
    np.testing.assert_array_equal(rerun["Level"].values, session.current_run["Level"].values)
    done = cli("run", folder / "my_run.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Level" in done.stdout


def test_save_refuses_a_bad_name_and_writes_nothing(session, tmp_path):
    with pytest.raises(SdvagError, match="lower-case"):
        save(session, tmp_path, "My Run!")
    assert list(tmp_path.iterdir()) == []
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SdvagError, match="cannot write there"):
        save(session, blocker / "sub", "ok")


def test_page_shows_messages_not_tracebacks(tmp_path):
    pytest.importorskip("panel")
    from sdvag.explorer.app import Explorer, page
    explorer = Explorer([MODEL], folder=tmp_path)
    explorer.typed.value = "Rate = 9"
    assert "outside its range" in explorer.message.object and explorer.message.alert_type == "danger"
    explorer.typed.value = "Rate = 2"
    assert '"Level" data-value="40.0"' in explorer.readout.object
    explorer._guarded(lambda: 1 / 0)
    assert "internal error (ZeroDivisionError)" in explorer.message.object
    assert "Traceback" not in explorer.message.object
    if importlib.util.find_spec("simlin"):
        logistic = Explorer([FIXTURES / "logistic_loops.xmile"], folder=tmp_path)
        logistic.loops_toggle.value = True
        assert "<td>R</td><td>R1 Growth</td>" in logistic.loop_table.object
    missing = page([tmp_path / "missing.toml"], tmp_path)
    assert "file not found" in missing.object


def test_explore_gives_a_panel_object_for_jupyter_and_the_cli_refuses_a_busy_port(tmp_path):
    pn = pytest.importorskip("panel")
    assert isinstance(sdvag.explore(MODEL, folder=tmp_path), pn.layout.Row)
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = cli("explore", MODEL, "--port", busy.getsockname()[1], cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("error: cannot serve on 127.0.0.1:"), done.stderr
    assert "Traceback" not in done.stderr


def test_loop_dominance_of_the_current_run(tmp_path):
    pytest.importorskip("simlin")
    # logistic growth: the reinforcing loop dominates until the population reaches half the
    # capacity (ln(K/P0 - 1)/r = ln(99)/0.8 = 5.7 years in continuous time; Euler's dt of 1/16
    # crosses a little later), the balancing one after
    session = Session(FIXTURES / "logistic_loops.xmile")
    (r_start, r_end, r_loops, r_pol), (b_start, b_end, b_loops, b_pol) = session.loop_dominance()
    assert (r_loops, r_pol, b_loops, b_pol) == ("R1 Growth", "R", "B1 Crowding", "B")
    assert b_start == pytest.approx(math.log(99) / 0.8, abs=0.25) and b_start - r_end < 0.1
    session.set("Maximum Growth Rate", 1.6)  # twice as fast: the switch comes in half the time
    (_, r_end, _, _), (b_start, _, _, _) = session.loop_dominance()
    assert b_start == pytest.approx(math.log(99) / 1.6, abs=0.25) and b_start - r_end < 0.1
