"""Behaviour of models/ps_cluster_value.xmile (seed 004): value creation -> delivery -> integration.

Stages follow the dominant source of value growth, measured as exact growth rates of three
shares of one total, so they do not depend on the model's scale. Each behaviour test is paired
with a knock-out that removes its cause and must remove the behaviour.
"""
import pathlib

import numpy as np
import pytest

import sdvag

from conftest import run_shipped

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCEN = ROOT / "scenarios"
BASE = SCEN / "pscv_baseline.toml"
END = 2035.0
STAGE_TOLERANCE = 1.0  # years: scale and stage-recognition constants may move a stage this much


def first_year(ds, stage):
    return next((year for year, s in sdvag.stage_changes(ds) if s == stage), None)


def half_time(series):
    """First time at which a rising series reaches half its final value."""
    values = series.to_numpy()
    return float(series["time"].to_numpy()[int(np.argmax(values >= 0.5 * values[-1]))])


@pytest.fixture(scope="module")
def base():
    return run_shipped("pscv_baseline")


def test_three_stages_occur_in_order_and_never_go_back(base):
    changes = sdvag.stage_changes(base)
    assert [s for _, s in changes] == [1, 2, 3], changes
    assert np.all(np.diff(base["Evolution Stage"].to_numpy()) >= 0)


def test_each_stage_is_the_dominant_source_of_value_growth_when_it_starts(base):
    growth = {1: "Creation Value Growth", 2: "Delivery Value Growth", 3: "Integration Value Growth"}
    for year, stage in sdvag.stage_changes(base)[1:]:
        # when the stage is recognised, its own source leads the growth of cluster value
        here = {s: float(base[v].sel(time=year)) for s, v in growth.items()}
        assert max(here, key=here.get) == stage, (year, here)


@pytest.mark.parametrize("factor", [0.25, 5.0])
def test_stage_years_do_not_depend_on_the_scale_of_the_market(base, factor):
    market = sdvag.load_scenario(BASE).model
    default = sdvag.read_model(market).find("Customer Market").default
    scaled = sdvag.run(BASE, set={"Customer Market": default * factor})
    for (y0, s0), (y1, s1) in zip(sdvag.stage_changes(base), sdvag.stage_changes(scaled)):
        assert s0 == s1 and abs(y0 - y1) <= STAGE_TOLERANCE, (factor, y0, y1)
    assert float(scaled["Cluster Value"].sel(time=END)) == pytest.approx(
        factor * float(base["Cluster Value"].sel(time=END)), rel=1e-6)


@pytest.mark.parametrize("value", [0.25, 1.0])
def test_stage_recognition_time_over_its_range_moves_stages_less_than_the_tolerance(base, value):
    other = sdvag.run(BASE, set={"Stage Recognition Time": value})
    assert [s for _, s in sdvag.stage_changes(other)] == [1, 2, 3]
    for (y0, _), (y1, _) in zip(sdvag.stage_changes(base), sdvag.stage_changes(other)):
        assert abs(y0 - y1) < STAGE_TOLERANCE, (value, y0, y1)


def test_brand_value_lags_core_capability_because_brand_is_built_from_created_value(base):
    lag = half_time(base["Cluster Brand Value"]) - half_time(base["Core Capability"])
    assert lag > 5
    # cut: brand investment no longer follows the value that capability creates; what is left of
    # the lag is the goodwill's own accumulation time (ln 2 / depreciation rate)
    cut = sdvag.knockout(BASE, link=[("Value Creation", "Brand Investment")]).knocked
    assert half_time(cut["Cluster Brand Value"]) - half_time(cut["Core Capability"]) < lag / 2


def test_brand_attracts_customers(base):
    cut = sdvag.knockout(BASE, link=[("Brand Attraction", "Attainable Market Share")]).knocked
    assert float(base["Customers"].sel(time=END)) > 1.2 * float(cut["Customers"].sel(time=END))


def test_stronger_network_raises_brand_and_brings_integration_sooner(base):
    strong, weak = run_shipped("pscv_strong_network"), run_shipped("pscv_weak_network")
    for var in ("Cluster Brand Value", "Network Synergy"):
        assert float(strong[var].sel(time=END)) > float(base[var].sel(time=END)) > float(weak[var].sel(time=END)), var
    t_strong, t_base, t_weak = (first_year(ds, 3) for ds in (strong, base, weak))
    assert t_strong + 0.5 <= t_base and (t_weak is None or t_weak >= t_base + 0.5), (t_strong, t_base, t_weak)


def test_a_stronger_network_brings_integration_sooner_only_through_network_synergy():
    # cut: network synergy frozen at its start value in both runs; the strength of the network
    # organisation then no longer changes when (or whether) integration comes
    cut = {name: sdvag.knockout(SCEN / f"{name}.toml", freeze={"Network Synergy": None}).knocked
           for name in ("pscv_strong_network", "pscv_baseline")}
    years = [first_year(ds, 3) for ds in cut.values()]
    assert years[0] == years[1] or abs(years[0] - years[1]) < 0.5, years


def test_scale_economies_and_rent_draw_firms_into_the_cluster(base):
    firms = base["Cluster Firms"]
    assert float(firms.sel(time=END)) > 5 * float(firms.isel(time=0))
    cut = sdvag.knockout(BASE, freeze={"Unit Cost Index": None}).knocked
    assert float(base["Cluster Firms"].sel(time=END)) > 1.02 * float(cut["Cluster Firms"].sel(time=END))
    assert float(base["Value Integration"].sel(time=END)) > float(cut["Value Integration"].sel(time=END))


def test_support_speeds_up_the_whole_path(base):
    sup = run_shipped("pscv_support")
    assert float(sup["Core Capability"].sel(time=END)) > float(base["Core Capability"].sel(time=END))
    assert float(sup["Cluster Brand Value"].sel(time=END)) > float(base["Cluster Brand Value"].sel(time=END))
    assert first_year(sup, 2) <= first_year(base, 2) and first_year(sup, 3) < first_year(base, 3)
