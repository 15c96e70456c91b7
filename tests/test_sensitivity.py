"""Sensitivity analysis and ensembles: analytic Sobol indices, identical results whatever the
workers (local processes or a Dask cluster), specification checks, files and interruption."""
import numpy as np
import pytest
import xarray as xr
from conftest import ROOT, aux, cli, write_model

import sdvag
from sdvag.simulation.ensemble import run_ensemble
from sdvag.errors import SdvagError
from sdvag.simulation.scenario import load_scenario
from sdvag.analysis.sensitivity import load_spec
from sdvag.api import sensitivity
from sdvag.files import MANIFEST

WEIGHTS = {"X1": 1.0, "X2": 2.0, "X3": 0.5}
RANGES = {"X1": (0, 1), "X2": (0, 2), "X3": (-1, 2)}


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    """Y = X1 + 2 X2 + 0.5 X3, plus an interaction model Z = X1 * X2."""
    consts = "".join(aux(n, str(lo), f'<range min="{lo}" max="{hi}"/>') for n, (lo, hi) in RANGES.items())
    y = " + ".join(f"{w} * {n}" for n, w in WEIGHTS.items())
    return write_model(tmp_path_factory.mktemp("lin") / "linear.xmile",
                       consts + aux("Y", y) + aux("Z", "X1 * X2"), stop=1, dt=1)


def test_linear_model_indices_contain_the_analytic_values(linear):
    res = sensitivity(linear, list(WEIGHTS), samples=256, outputs=["Y"], seed=3, workers=1)
    var = {n: WEIGHTS[n] ** 2 * (hi - lo) ** 2 / 12 for n, (lo, hi) in RANGES.items()}
    total = sum(var.values())
    ds = res.data.sel(output="Y", year=1.0)
    for name, v in var.items():
        for order in ("first_order", "total_order"):  # no interactions: both equal v / Var(Y)
            low, high = float(ds[f"{order}_low"].sel(parameter=name)), float(ds[f"{order}_high"].sel(parameter=name))
            assert low <= v / total <= high, (name, order, low, v / total, high)
    assert list(res.ranking()["parameter"]) == sorted(var, key=var.get, reverse=True)  # a DataFrame
    assert res.data.sizes["run"] == 256 * (3 + 2)


def test_interaction_shows_in_total_but_not_first_order(linear):
    # Z = X1 X2 with X1 ~ U(0,1), X2 ~ U(0,2): S1 = 3/7 each, ST = 4/7 each
    res = sdvag.sensitivity(linear, ["X1", "X2"], samples=256, outputs=["Z"], seed=5, workers=1)
    ds = res.data.sel(output="Z", year=1.0)
    for order, exact in (("first_order", 3 / 7), ("total_order", 4 / 7)):
        assert (ds[f"{order}_low"] <= exact).all() and (ds[f"{order}_high"] >= exact).all(), order


def test_distributions_follow_their_specification(linear):
    res = sensitivity(linear, {"X1": {"distribution": "normal", "mean": 0.5, "sd": 0.5},
                               "X2": {"distribution": "loguniform", "min": 0.01, "max": 2},
                               "X3": {"distribution": "triangular", "min": -1, "mode": 1.5, "max": 2}},
                      samples=64, indices=False, design="latin", workers=1)
    values = res.data["parameter_values"]
    x1, x2, x3 = (values.sel(parameter=n).to_numpy() for n in ("X1", "X2", "X3"))
    assert res.data.sizes["run"] == 64 and "total_order" not in res.data
    assert x1.min() >= 0 and x1.max() <= 1  # normal truncated to the XMILE <range>
    assert np.median(np.log(x2)) == pytest.approx(np.log(np.sqrt(0.01 * 2)), abs=0.1)
    assert np.median(x3) > 0.5  # mode near the top


def test_results_identical_whatever_the_workers(linear):
    scenario = load_scenario(ROOT / "tests" / "fixtures" / "adoption.xmile")
    values = np.column_stack([np.linspace(0.1, 1.9, 23), np.linspace(150, 9000, 23)])
    one = run_ensemble(scenario, ["Growth Rate", "Market Size"], values, workers=1)
    two = run_ensemble(scenario, ["Growth Rate", "Market Size"], values, workers=2)
    xr.testing.assert_identical(one, two)
    assert one.sizes["run"] == 23 and float(one["Adopters"].isel(run=0, time=-1)) \
        != float(one["Adopters"].isel(run=-1, time=-1))
    single = run_ensemble(scenario, ["Growth Rate", "Market Size"], values[-1:], workers=1)
    np.testing.assert_array_equal(single["Adopters"].isel(run=0), one["Adopters"].isel(run=-1))


def test_dask_cluster_gives_the_same_results(linear):
    distributed = pytest.importorskip("distributed")
    scenario = load_scenario(ROOT / "tests" / "fixtures" / "adoption.xmile")
    values = np.column_stack([np.linspace(0.1, 1.9, 12), np.linspace(150, 9000, 12)])
    local = run_ensemble(scenario, ["Growth Rate", "Market Size"], values, workers=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        remote = run_ensemble(scenario, ["Growth Rate", "Market Size"], values,
                              scheduler=cluster.scheduler_address)
    xr.testing.assert_identical(local, remote)


def test_interrupted_run_writes_nothing(linear, tmp_path):
    def interrupt(line):
        if line.startswith("["):
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        sensitivity(linear, ["X1", "X2"], samples=64, outputs=["Y"], workers=2,
                    out=tmp_path / "out", progress=interrupt)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_spec_problems_are_reported_together(tmp_path, linear):
    spec = tmp_path / "bad.toml"
    spec.write_text(f'scenario = "{linear.name}"\nsamples = 100\ndesgin = "latin"\nyears = [0.5]\n'
                    '[parameters]\nX1 = { distribution = "normal" , sd = -1 }\nX9 = {}\n'
                    'X2 = { min = 1, max = 5 }\n')
    (tmp_path / linear.name).write_bytes(linear.read_bytes())
    with pytest.raises(SdvagError) as err:
        load_spec(spec)
    text = str(err.value)
    for expected in ("desgin: unknown key (did you mean 'design'?)",
                     "samples: Sobol indices and a Sobol design need a power of 2",
                     'parameters."X1".sd: must be positive', "unknown variable 'X9'",
                     'parameters."X2".max: 5 is outside the range', "years[0]: 0.5 is not a save time"):
        assert expected in text
    assert len(text.splitlines()) == 6
    with pytest.raises(SdvagError, match="at least two parameters"):
        sensitivity(linear, ["X1"], samples=8)


def test_cli_writes_netcdf_fan_charts_and_ranking(tmp_path, linear):
    spec = tmp_path / "lin.toml"
    spec.write_text(f'scenario = "{linear}"\nsamples = 32\nseed = 1\noutputs = ["Y", "Z"]\n'
                    "[parameters]\nX1 = {}\nX2 = {}\nX3 = {}\n")
    done = cli("sensitivity", spec, "--out", tmp_path / "out", "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert "rank" in done.stdout and "X2" in done.stdout and "runs/s" in done.stderr
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == [MANIFEST, "fan_y.png", "fan_z.png", "indices.csv", "ranking.txt", "results.nc"]
    with xr.open_dataset(tmp_path / "out" / "results.nc") as saved:
        assert saved.sizes["run"] == 32 * 5 and set(saved["block"].to_numpy()) == {"A", "B", "X1", "X2", "X3"}
        assert float(saved["total_order"].sel(output="Z", parameter="X3", year=1.0)) == pytest.approx(0, abs=1e-12)
    bad = cli("sensitivity", tmp_path / "missing.toml")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.parametrize("model", sorted((ROOT / "models").glob("*.xmile")), ids=lambda p: p.stem)
def test_every_shipped_model_has_a_valid_specification(model):
    spec = load_spec(ROOT / "scenarios" / "sensitivity" / f"{model.stem}.toml")
    assert spec.scenario.model == model.resolve() and spec.parameters and spec.outputs


def test_a_failing_run_is_marked_with_its_variable_and_the_others_go_on(tmp_path):
    model = write_model(tmp_path / "inverse.xmile", aux("X", "1", '<range min="0" max="1"/>')
                        + aux("Y", "1 / X") + aux("Z", "2 * X"), stop=1, dt=1)
    runs = run_ensemble(load_scenario(model), ["X"], [[0.5], [0.0], [0.25]], columns=["Z", "Y"], workers=2)
    assert list(runs["failed"].to_numpy()) == ["", "Y", ""]
    np.testing.assert_array_equal(runs["Y"].isel(time=0).to_numpy()[[0, 2]], [2.0, 4.0])
    np.testing.assert_array_equal(runs["Z"].isel(time=0).to_numpy(), [1.0, 0.0, 0.5])
