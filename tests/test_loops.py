"""Loop dominance (sdvag.loops, `sdvag loops`) on logistic growth, whose answer is known."""
import math

import numpy as np
import pytest

import sdvag
from conftest import FIXTURES, aux, cli, write_model

pytest.importorskip("simlin")

TWO_LOOPS = FIXTURES / "logistic_loops.xmile"
ONE_FLOW = FIXTURES / "logistic_one_flow.xmile"
R, K, P0 = 0.8, 1000.0, 10.0


def scenario(tmp_path, model, dt=None, constants=""):
    path = tmp_path / "logistic.toml"
    sim = f"[sim]\ndt = {dt}\n" if dt else ""
    path.write_text(f'model = "{model}"\n{sim}[constants]\n{constants}\n')
    return path


def half_capacity_time(result, capacity=K):
    """The first time the run's population reaches half the capacity."""
    population = result.run["Population"]
    return float(population["time"][int(np.argmax(population.to_numpy() >= capacity / 2))])


def switch_time(result, before, after):
    """The start of the first period dominated by `after` that follows one dominated by `before`."""
    periods = list(result.dominance.itertuples())
    for first, second in zip(periods, periods[1:]):
        if first.loops == before and second.loops == after:
            return first.end, second.start
    raise AssertionError(f"no switch from {before} to {after} in\n{result.dominance}")


def test_two_loops_reinforcing_then_balancing_switching_at_half_capacity():
    result = sdvag.loops(TWO_LOOPS)
    table = result.loops.set_index("id")
    assert sorted(table.index) == ["B1", "R1"]
    assert table.loc["R1", "polarity"] == "R" and table.loc["B1", "polarity"] == "B"
    assert table.loc["B1", "variables"] == ("Fractional Growth Rate", "Growth", "Population")
    assert table["named"].all() and result.warnings == []
    last_r, first_b = switch_time(result, ("R1",), ("B1",))
    dt = 0.0625
    assert first_b - last_r == pytest.approx(dt)
    crossing = half_capacity_time(result)
    assert abs(first_b - crossing) <= dt + 1e-9
    # R1 dominates from the first scored step to the switch, B1 from then to the end
    assert result.dominance.iloc[0]["loops"] == ("R1",) and result.dominance.iloc[-1]["end"] == 20
    scores = result.scores
    assert scores["R1"].sel(time=1).item() > 0.5 > -scores["B1"].sel(time=1).item()
    assert -scores["B1"].sel(time=15).item() > 0.5 > scores["R1"].sel(time=15).item()


def test_switch_approaches_the_closed_form_as_dt_shrinks(tmp_path):
    closed = math.log(K / P0 - 1) / R  # 5.744 years
    gaps = []
    for dt in (0.25, 0.015625):
        result = sdvag.loops(scenario(tmp_path, TWO_LOOPS, dt=dt))
        _, first_b = switch_time(result, ("R1",), ("B1",))
        assert abs(first_b - half_capacity_time(result)) <= dt + 1e-9
        gaps.append(abs(first_b - closed))
    assert gaps[1] < gaps[0] / 8  # Euler: the lag shrinks with dt (16 times smaller here)


def test_the_scenario_is_analysed_not_the_bare_model(tmp_path):
    result = sdvag.loops(scenario(tmp_path, TWO_LOOPS, constants='"Capacity" = 4000'))
    _, first_b = switch_time(result, ("R1",), ("B1",))
    assert abs(first_b - half_capacity_time(result, capacity=4000)) <= 0.0625 + 1e-9
    assert first_b > math.log(K / P0 - 1) / R + 1  # later than with the model's capacity


def test_one_flow_logistic_is_one_loop_whose_polarity_changes_at_half_capacity():
    result = sdvag.loops(ONE_FLOW)
    assert list(result.loops["id"]) == ["U1"]
    row = result.loops.iloc[0]
    assert row["polarity"] == "U" and row["variables"] == ("Growth", "Population") and row["alone"]
    assert list(result.dominance["polarity"]) == ["R", "B"]
    assert all(ids == ("U1",) for ids in result.dominance["loops"])
    assert abs(result.dominance.iloc[1]["start"] - half_capacity_time(result)) <= 0.0625 + 1e-9
    assert "(reinforcing)" in result.summary() and "(balancing)" in result.summary()


def test_declared_polarity_is_checked(tmp_path):
    model = tmp_path / "wrong.xmile"
    model.write_text(TWO_LOOPS.read_text().replace("B1 Crowding:", "R2 Crowding:"))
    result = sdvag.loops(model)
    assert result.warnings == ["warning: named loop R2 Crowding is declared R but is balancing in this run"]


def test_a_loop_label_naming_an_unknown_variable_is_one_line_exit_2(tmp_path):
    model = tmp_path / "bad.xmile"
    model.write_text(TWO_LOOPS.read_text().replace("-> Growth -> Population</text_box>",
                                                   "-> Grwth -> Population</text_box>"))
    proc = cli("loops", model)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "'Grwth'" in proc.stderr and "R1 Growth" in proc.stderr


def test_cli_writes_scores_dominance_and_plot(tmp_path):
    proc = cli("loops", TWO_LOOPS, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "0.0625 to 5.875: R1 Growth (reinforcing)" in proc.stdout
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [".sdvag-output", "dominance.csv", "dominance_by_stage.csv", "loop_list.csv", "loops.csv",
                     "loops_logistic_loops.png"]
    header = (tmp_path / "out" / "loops.csv").read_text().splitlines()[0]
    assert header == "time,B1 Crowding,R1 Growth"


def test_share_of_each_stage_and_the_dominant_named_loop_printed_by_run():
    result = sdvag.loops(TWO_LOOPS)
    shares = result.by_stage.set_index(["stage", "id"])["share"]
    # the stage changes at the step the population reaches K/2; B1 takes over one step later
    steps_in_stage_1 = int((result.scores["time"] > 0).sum() - (result.scores["time"] >= half_capacity_time(result)).sum())
    assert shares[(1, "R1")] == 1.0 and shares[(1, "B1")] == 0.0
    assert shares[(2, "B1")] == pytest.approx(1 - 1 / (321 - 1 - steps_in_stage_1))
    assert set(result.by_stage["stage_name"]) == {"growth", "saturation"}
    proc = cli("run", TWO_LOOPS)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == ("Dominant named loop [logistic_loops]: stage 1: R1 Growth (100% of the "
                                            "stage); stage 2: B1 Crowding (100% of the stage)")


def test_a_model_without_feedback_reports_no_loops(tmp_path):
    model = write_model(tmp_path / "open.xmile", '<stock name="Stock"><eqn>0</eqn><inflow>Inflow</inflow></stock>'
                        '<flow name="Inflow"><eqn>Rate</eqn></flow>' + aux("Rate", "2"))
    result = sdvag.loops(model)
    assert result.loops.empty and result.dominance.empty and result.by_stage.empty
    assert result.summary().splitlines()[0] == "0 feedback loops in open"
