"""Behaviour of models/ps_cluster_value.xmile (seed 004): value creation -> delivery -> integration.

A knowledge chain builds core capability; a cluster brand (goodwill, Nerlove-Arrow) follows it;
network synergy (cluster rent) comes last. Stronger network synergy raises brand value and brings
the integration stage sooner.
"""
import pathlib

import numpy as np
import pytest

import sdvag

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCEN = ROOT / "scenarios"
BASE = SCEN / "pscv_baseline.toml"
END = 2035.0


@pytest.fixture(scope="module")
def base():
    return sdvag.run(BASE)


def first_year(ds, stage):
    for year, s in sdvag.stage_changes(ds, "Evolution Stage"):
        if s == stage:
            return year
    return None


def half_time(series):
    """First time at which a rising series reaches half its final value."""
    values = series.values
    idx = int(np.argmax(values >= 0.5 * values[-1]))
    return float(series["time"].values[idx])


def test_three_stages_occur_in_order(base):
    changes = sdvag.stage_changes(base, "Evolution Stage")
    stages = [s for _, s in changes]
    years = [y for y, _ in changes]
    assert stages == [1, 2, 3], changes
    assert years[0] == base["time"].values[0]
    # each stage lasts a while (not a one-step pass through the middle stage)
    assert years[1] - years[0] >= 5 and years[2] - years[1] >= 3, changes
    stage = base["Evolution Stage"].values
    assert np.all(np.diff(stage) >= 0)


def test_stages_follow_the_dominant_source_of_value_growth(base):
    # in the middle of each stage its own source of value growth is the largest one
    (t1, _), (t2, _), (t3, _) = sdvag.stage_changes(base, "Evolution Stage")
    growth = {k: base[f"{k} Value Growth"] for k in ("Creation", "Delivery", "Integration")}
    for name, (a, b) in {"Creation": (t1, t2), "Delivery": (t2, t3), "Integration": (t3, t3 + 4)}.items():
        mid = (a + b) / 2
        here = {k: float(v.sel(time=mid, method="nearest")) for k, v in growth.items()}
        assert max(here, key=here.get) == name, (name, mid, here)


def test_brand_value_lags_core_capability(base):
    cap = base["Core Capability"]
    brand = base["Cluster Brand Value"]
    assert half_time(brand) > half_time(cap) + 3
    # and the lagged correlation of their growth rates peaks at a positive lag
    dc = np.diff(cap.values)
    db = np.diff(brand.values)
    step = float(cap["time"].values[1] - cap["time"].values[0])
    lags = range(0, int(15 / step))
    corr = [np.corrcoef(dc[: len(dc) - k], db[k:])[0, 1] for k in lags]
    assert int(np.argmax(corr)) * step >= 2


def test_network_synergy_follows_brand(base):
    assert half_time(base["Network Synergy"]) > half_time(base["Cluster Brand Value"])


def test_stronger_network_raises_brand_and_reaches_integration_sooner(base):
    strong = sdvag.run(SCEN / "pscv_strong_network.toml")
    weak = sdvag.run(SCEN / "pscv_weak_network.toml")
    for var in ("Cluster Brand Value", "Network Synergy"):
        assert float(strong[var].sel(time=END)) > float(base[var].sel(time=END)) > float(weak[var].sel(time=END)), var
    t_strong, t_base, t_weak = (first_year(ds, 3) for ds in (strong, base, weak))
    assert t_strong is not None and t_base is not None
    assert t_strong < t_base
    assert t_weak is None or t_weak > t_base


def test_support_speeds_up_the_whole_path(base):
    sup = sdvag.run(SCEN / "pscv_support.toml")
    assert float(sup["Core Capability"].sel(time=END)) > float(base["Core Capability"].sel(time=END))
    assert float(sup["Cluster Brand Value"].sel(time=END)) > float(base["Cluster Brand Value"].sel(time=END))
    assert first_year(sup, 2) < first_year(base, 2)
    assert first_year(sup, 3) < first_year(base, 3)
