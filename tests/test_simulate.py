"""Runs: reproducible between scenarios, labelled, traced to model and scenario."""
import json
import shutil

import numpy as np
import pysd
import pytest

import sdvag

from conftest import FIXTURES

MODEL = FIXTURES / "adoption.xmile"


def write(folder, name, text):
    path = folder / name
    path.write_text('model = "adoption.xmile"\n' + text)
    return path


@pytest.fixture()
def folder(tmp_path):
    shutil.copy(MODEL, tmp_path / "adoption.xmile")
    return tmp_path


def test_a_then_b_then_a_gives_a_exactly(folder):
    a = write(folder, "a.toml", '[constants]\n"Growth Rate" = 1.2\n[graphical]\n"Effect Of Price" = '
                                '{ x = [0, 2], y = [0.5, 0.5] }\n[sim]\ndt = 0.125\n')
    b = write(folder, "b.toml", '[[policies]]\nvariable = "Price"\nat = 2004\nto = 0.5\n')
    first = sdvag.run(a)
    middle = sdvag.run(b)
    again = sdvag.run(a)
    for name in first.data_vars:
        np.testing.assert_array_equal(first[name].to_numpy(), again[name].to_numpy())
    # and B ran on the model's own values for what only A changed
    assert float(middle["Growth Rate"][0]) == 0.5
    assert middle.sizes["time"] == 81  # dt back to the model's 0.25
    fresh = sdvag.run(folder / "adoption.xmile")
    np.testing.assert_array_equal(sdvag.run(a)["Adopters"], first["Adopters"])
    assert float(fresh["Adopters"][-1]) != float(first["Adopters"][-1])


def test_dataset_carries_units_docs_hash_scenario_and_versions(folder):
    ds = sdvag.run(write(folder, "s.toml", 'title = "T"\noutputs = ["Adoption"]\n'))
    assert ds["Adopters"].attrs["units"] == "firm"
    assert ds["Adoption"].attrs["doc"].startswith("Logistic adoption")
    assert ds["Growth Rate"].attrs["kind"] == "constant"
    import hashlib
    assert ds.attrs["model_sha256"] == hashlib.sha256((folder / "adoption.xmile").read_bytes()).hexdigest()
    assert ds.attrs["scenario"] == "s" and ds.attrs["scenario_title"] == "T"
    assert json.loads(ds.attrs["outputs"]) == ["Adoption"]
    assert json.loads(ds.attrs["versions"])["pysd"] == pysd.__version__
    assert ds["time"].attrs["units"] == "year"


def test_runs_of_one_model_share_no_values_attributes_or_time(folder):
    """A run's Dataset is a copy of a layout kept per model and time grid: changing one run's
    values or attributes changes no later run, and another time grid gets its own times."""
    model = folder / "adoption.xmile"
    first = sdvag.run(model, set={"Growth Rate": 0.5})
    kept = first["Adopters"].to_numpy().copy()
    first["Adopters"].values[:] = -1.0
    first["Adopters"].attrs["units"] = "changed"
    first.attrs["scenario"] = "changed"
    second = sdvag.run(model, set={"Growth Rate": 0.8})
    assert second["Adopters"].attrs["units"] == "firm" and second.attrs["scenario"] != "changed"
    assert float(second["Growth Rate"][0]) == 0.8 and not (second["Adopters"] == -1.0).any()
    np.testing.assert_array_equal(sdvag.run(model, set={"Growth Rate": 0.5})["Adopters"], kept)
    finer = sdvag.run(write(folder, "fine.toml", "[sim]\ndt = 0.125\n"))
    assert finer.sizes["time"] == 2 * second.sizes["time"] - 1
    np.testing.assert_array_equal(finer["time"][::2], second["time"])


def test_model_values_match_a_direct_pysd_run(folder):
    ours = sdvag.run(folder / "adoption.xmile")
    copy = folder / "direct"
    copy.mkdir()
    shutil.copy(MODEL, copy / "m.xmile")
    direct = pysd.read_xmile(str(copy / "m.xmile")).run()
    np.testing.assert_allclose(ours["Adopters"].to_numpy(), direct["Adopters"].to_numpy(), rtol=0)


def test_compare_stacks_runs_along_scenario(folder):
    a = write(folder, "slow.toml", '[constants]\n"Growth Rate" = 0.3\n')
    b = write(folder, "fast.toml", '[constants]\n"Growth Rate" = 0.9\n[sim]\nstop = 2010\n')
    ds = sdvag.compare([a, b])
    assert list(ds["scenario"].to_numpy()) == ["slow", "fast"]
    assert ds["Adopters"].dims == ("scenario", "time")
    fast = ds["Adopters"].sel(scenario="fast")
    assert np.isnan(fast.sel(time=2015))  # the shorter run is padded, not extended
    assert float(fast.sel(time=2010)) > float(ds["Adopters"].sel(scenario="slow", time=2010))


def test_an_edited_model_file_is_picked_up_on_the_next_run(folder):
    path = folder / "adoption.xmile"
    before = float(sdvag.run(path)["Market Size"][0])
    path.write_text(path.read_text().replace("<eqn>1000</eqn>", "<eqn>3000</eqn>"))
    assert before == 1000 and float(sdvag.run(path)["Market Size"][0]) == 3000


def test_stage_changes_lists_start_and_each_change():
    import xarray as xr
    da = xr.DataArray([1, 1, 2, 2, 3], dims="time", coords={"time": [0, 1, 2, 3, 4]})
    assert sdvag.stage_changes(da) == [(0.0, 1), (2.0, 2), (4.0, 3)]
