"""Scenario files: inheritance, every kind of change, and one clear error per problem."""
import shutil

import numpy as np
import pytest

import sdvag
from sdvag.simulation.scenario import ScenarioError

from conftest import FIXTURES

MODEL = FIXTURES / "adoption.xmile"


@pytest.fixture()
def folder(tmp_path):
    shutil.copy(MODEL, tmp_path / "adoption.xmile")
    return tmp_path


def scenario(folder, text, name="s.toml"):
    path = folder / name
    path.write_text('model = "adoption.xmile"\n' + text)
    return path


def problems(path):
    with pytest.raises(ScenarioError) as caught:
        sdvag.load_scenario(path)
    return caught.value.problems


def test_constants_graphical_and_sim_overrides_apply(folder):
    path = scenario(folder, """
title = "Cheap adoption"
outputs = ["Adopters"]
[sim]
stop = 2010
dt = 0.125
save_step = 1
[constants]
"Growth Rate" = 1.0
[graphical]
"Effect Of Price" = { x = [0, 2], y = [2, 2] }
""")
    ds = sdvag.run(path)
    np.testing.assert_allclose(ds["time"], np.arange(2000, 2011))
    assert float(ds["Growth Rate"][0]) == 1.0
    assert float(ds["Effect Of Price"][0]) == 2.0
    base = sdvag.run(MODEL)
    assert float(ds["Adopters"].sel(time=2010)) > float(base["Adopters"].sel(time=2010))
    assert ds.attrs["scenario_title"] == "Cheap adoption"


def test_extends_merges_tables_and_child_wins(folder):
    scenario(folder, '[constants]\n"Growth Rate" = 1.0\n"Market Size" = 500\n', name="base.toml")
    child = scenario(folder, 'extends = "base.toml"\n[constants]\n"Market Size" = 2000\n', name="child.toml")
    sc = sdvag.load_scenario(child)
    assert sc.constants == {"Growth Rate": 1.0, "Market Size": 2000.0}


def test_extends_resolves_the_parents_model_relative_to_the_parent(folder):
    (folder / "sub").mkdir()
    scenario(folder, '[constants]\n"Price" = 1.5\n', name="base.toml")
    child = folder / "sub" / "child.toml"
    child.write_text('extends = "../base.toml"\ntitle = "child"\n')
    sc = sdvag.load_scenario(child)
    assert sc.model == (folder / "adoption.xmile").resolve() and sc.constants == {"Price": 1.5}


def test_inline_and_csv_inputs_are_interpolated(folder):
    (folder / "price.csv").write_text("year,value\n2000,0\n2010,2\n")
    path = scenario(folder, """
[inputs]
"Price" = { csv = "price.csv", time = "year", column = "value" }
"Growth Rate" = { points = [[2000, 0.2], [2020, 0.6]] }
""")
    ds = sdvag.run(path)
    assert float(ds["Price"].sel(time=2005)) == pytest.approx(1.0)
    assert float(ds["Price"].sel(time=2015)) == pytest.approx(2.0)  # flat after the last point
    assert float(ds["Growth Rate"].sel(time=2010)) == pytest.approx(0.4)


def test_step_and_ramp_policies_change_a_lever_at_the_given_time(folder):
    path = scenario(folder, """
[[policies]]
variable = "Price"
kind = "step"
at = 2005
to = 2
[[policies]]
variable = "Growth Rate"
kind = "ramp"
at = 2010
until = 2015
to = 1.0
""")
    ds = sdvag.run(path)
    price = ds["Price"]
    assert float(price.sel(time=2004.75)) == 1 and float(price.sel(time=2005)) == 2
    rate = ds["Growth Rate"]
    assert float(rate.sel(time=2010)) == 0.5
    assert float(rate.sel(time=2012.5)) == pytest.approx(0.75)
    assert float(rate.sel(time=2020)) == 1.0


def test_unknown_variable_is_reported_with_the_closest_names(folder):
    found = problems(scenario(folder, '[constants]\n"Growth Rat" = 1\n'))
    assert len(found) == 1
    assert 'constants."Growth Rat"' in found[0] and "did you mean 'Growth Rate'" in found[0]
    assert str(folder / "s.toml") in found[0]


def test_every_problem_is_reported_once_with_its_key(folder):
    found = problems(scenario(folder, """
titel = "typo"
outputs = ["Adopterz"]
[sim]
dt = "fast"
[constants]
"Growth Rate" = "high"
"Market Size" = 1e9
"Price" = nan
"Adopters" = 3
[graphical]
"Effect Of Price" = { x = [0, 2, 1], y = [1, 1, 1] }
[[policies]]
variable = "Price"
kind = "jump"
at = 2005
to = 1
"""))
    expected = [
        ("titel", "did you mean 'title'"),
        ("sim.dt", "expected a number, got str"),
        ('constants."Growth Rate"', "expected a number, got str"),
        ('constants."Market Size"', "outside the range of 'Market Size' [100, 10000]"),
        ('constants."Price"', "not finite"),
        ('constants."Adopters"', "'Adopters' is a stock, not a constant"),
        ('graphical."Effect Of Price".x', "strictly increasing"),
        ("policies[0].kind", "expected one of step, ramp"),
        ("outputs[0]", "unknown variable 'Adopterz'"),
    ]
    assert len(found) == len(expected), found
    for key, text in expected:
        assert any(f": {key}: " in p and text in p for p in found), (key, found)


def test_infinite_value_is_refused(folder):
    found = problems(scenario(folder, '[constants]\n"Growth Rate" = inf\n'))
    assert len(found) == 1 and "not finite" in found[0]


def test_policy_target_outside_range_is_refused(folder):
    found = problems(scenario(folder, '[[policies]]\nvariable = "Price"\nat = 2005\nto = 5\n'))
    assert len(found) == 1 and "policies[0].to" in found[0] and "outside the range" in found[0]


def test_missing_files_are_reported(folder):
    missing_model = folder / "m.toml"
    missing_model.write_text('model = "nowhere.xmile"\n')
    assert "model: file not found" in problems(missing_model)[0]
    found = problems(scenario(folder, '[inputs]\n"Price" = { csv = "absent.csv" }\n'))
    assert len(found) == 1 and 'inputs."Price".csv' in found[0] and "file not found" in found[0]
    found = problems(scenario(folder, 'extends = "absent.toml"\n'))
    assert "scenario file not found" in found[0]
    with pytest.raises(sdvag.SdvagError, match="file not found"):
        sdvag.load_scenario(folder / "absent.toml")


def test_circular_extends_is_refused(folder):
    scenario(folder, 'extends = "b.toml"\n', name="a.toml")
    scenario(folder, 'extends = "c.toml"\n', name="b.toml")
    scenario(folder, 'extends = "a.toml"\n', name="c.toml")
    found = problems(folder / "a.toml")
    assert len(found) == 1 and "circular extends (a.toml -> b.toml -> c.toml -> a.toml)" in found[0]


def test_save_step_must_be_a_multiple_of_dt(folder):
    found = problems(scenario(folder, "[sim]\ndt = 0.25\nsave_step = 0.3\n"))
    assert len(found) == 1 and "sim.save_step" in found[0]


def test_invalid_toml_is_one_error(folder):
    path = folder / "bad.toml"
    path.write_text("model = \n")
    found = problems(path)
    assert len(found) == 1 and "not valid TOML" in found[0]
