"""Behaviour tests for models/ecommerce_agglomeration.xmile (design note section 4; seed 003, Wang).

E-commerce service clusters form by government policy guidance, by a leading enterprise acting as
a growth pole, or by SME concentration through imitation; services, supporting facilities and
positive-sum co-opetition sustain them. The three paths must leave distinct signatures.
"""
import dataclasses
import pathlib
import re

import numpy as np
import pytest

import sdvag
from sdvag.simulation.scenario import load_scenario

from conftest import observed, run_shipped

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCEN = ROOT / "scenarios"
MODEL = ROOT / "models" / "ecommerce_agglomeration.xmile"
PATHS = ("ecom_policy_led", "ecom_leader_led", "ecom_sme_led")

def at(ds, var, year):
    return float(ds[var].sel(time=float(year), method="nearest"))


def series(ds, var):
    return np.asarray(ds[var].values, dtype=float)


def years(ds):
    return np.asarray(ds["time"].values, dtype=float)


def test_the_three_paths_start_together():
    """The comparison is fair: the three paths start from the same pioneers in the same year,
    and each has exactly one driver switched on."""
    starts = {name: at(run_shipped(name), "Application Firms", 2005) for name in PATHS}
    assert len(set(starts.values())) == 1
    policy, leader, sme = (run_shipped(n) for n in PATHS)
    assert at(policy, "Policy Support Strength", 2005) > 0 and at(policy, "Leading Enterprise Presence", 2005) == 0
    assert at(leader, "Leading Enterprise Presence", 2005) > 0 and at(leader, "Policy Support Strength", 2005) == 0
    assert at(sme, "Policy Support Strength", 2005) == 0 and at(sme, "Leading Enterprise Presence", 2005) == 0
    assert at(policy, "Policy Start Year", 2005) == at(leader, "Leader Entry Year", 2005) == 2005


def test_policy_led_starts_fastest_and_sme_led_slowest():
    early = {}
    for year in (2006, 2007):
        early[year] = {name: at(run_shipped(name), "Application Firms", year) for name in PATHS}
        print(f"\nApplication Firms in {year}:", {k: round(v, 1) for k, v in early[year].items()})
        assert early[year]["ecom_policy_led"] > early[year]["ecom_leader_led"] > early[year]["ecom_sme_led"]
    # and the policy path builds supporting facilities ahead of demand
    assert at(run_shipped("ecom_policy_led"), "Supporting Facilities", 2007) > at(run_shipped("ecom_sme_led"), "Supporting Facilities", 2007)


def test_policy_led_plateaus_when_support_ends_unless_the_market_takes_over():
    cont, withdrawn = run_shipped("ecom_policy_led"), run_shipped("ecom_policy_withdrawn")
    end = at(withdrawn, "Policy End Year", 2005)
    a_end = at(withdrawn, "Application Firms", end)
    # identical up to the withdrawal
    assert at(cont, "Application Firms", end) == pytest.approx(a_end, rel=1e-9)
    growth_cont = at(cont, "Application Firms", end + 10) / a_end - 1
    growth_wd = at(withdrawn, "Application Firms", end + 10) / a_end - 1
    print(f"\nten years after {end:.0f}: continued support {growth_cont:+.1%}, withdrawn {growth_wd:+.1%}")
    assert growth_cont > 0.3  # still growing with support
    assert growth_wd < 0.05  # stalls (or recedes) without it
    assert float(withdrawn["Policy Support"].sel(time=slice(end + 5, None)).max()) < 0.01
    # the market takes over: the same withdrawal with strong SME imitation keeps the cluster
    market = sdvag.run(SCEN / "ecom_policy_withdrawn.toml", set={"SME Imitation Strength": 1.4})
    a_market = at(market, "Application Firms", 2035)
    print(f"2035: withdrawn, weak market {at(withdrawn, 'Application Firms', 2035):.0f}; "
          f"withdrawn, strong market {a_market:.0f} thousand firms")
    assert a_market > 2 * at(withdrawn, "Application Firms", 2035)
    assert a_market > 0.9 * at(market, "Application Firms", end)  # no recession


def test_leader_led_follows_the_leaders_s_curve():
    ds = run_shipped("ecom_leader_led")
    t = years(ds)
    firms, leader = series(ds, "Application Firms"), series(ds, "Leading Enterprise Capacity")
    corr = np.corrcoef(firms, leader)[0, 1]
    peak_firms = t[np.argmax(np.diff(firms))]
    peak_leader = t[np.argmax(np.diff(leader))]
    print(f"\ncorrelation(Application Firms, Leading Enterprise Capacity) = {corr:.3f}; "
          f"growth peaks: firms {peak_firms:.2f}, leader {peak_leader:.2f}")
    assert corr > 0.95
    assert abs(peak_firms - peak_leader) <= 1  # they grow together (the leader also follows them)
    # S-shape: once the leader saturates (by 2020), the sellers saturate too, some years later
    # (the services the cluster grows keep widening the pool for a while)
    assert at(ds, "Leading Enterprise Capacity", 2020) > 0.95
    assert at(ds, "Application Firms", 2035) < 1.02 * at(ds, "Application Firms", 2029)


def test_sme_led_starts_slowest_then_accelerates():
    ds = run_shipped("ecom_sme_led")
    yearly = [at(ds, "Application Firms", y) for y in range(2005, 2016)]
    increments = np.diff(yearly)
    print("\nSME-led yearly increments 2005-2015:", np.round(increments, 2))
    assert np.all(np.diff(increments) > 0)  # growth keeps accelerating over the early decade
    assert increments[-1] > 10 * increments[1]
    # lowest level early but not late: imitation eventually carries it past the weak-market paths
    assert at(ds, "Application Firms", 2035) > at(run_shipped("ecom_leader_led"), "Application Firms", 2035)
    assert at(ds, "Application Firms", 2035) > at(run_shipped("ecom_policy_withdrawn"), "Application Firms", 2035)


def test_services_and_facilities_grow_with_the_cluster():
    ds = run_shipped("ecom_combined")
    for var in ("Service Firms", "Supporting Facilities", "Agglomeration Areas"):
        assert at(ds, var, 2025) > 10 * at(ds, var, 2010), var


def frozen_copy(tmp_path, name, uses_in=None):
    """A copy of the model in which `name` is seen at its initial value: in every equation, or
    only in the equation of `uses_in` (a cut link). Stand-in for sdvag.knockout until it lands."""
    text = MODEL.read_text()
    var = name.replace(" ", "_")

    def freeze(match):
        owner, eqn = match.group(1), match.group(3)
        if owner == name or (uses_in and owner != uses_in):
            return match.group(0)
        return match.group(0).replace(eqn, re.sub(rf"\b{var}\b", f"Initial_{var}", eqn))

    frozen = re.sub(r'<(?:aux|flow) name="([^"]+)">(.*?)<eqn>(.*?)</eqn>', freeze, text, flags=re.S)
    assert frozen != text
    path = tmp_path / MODEL.name
    path.write_text(frozen)
    return path


def run_copy(model, name):
    scenario = load_scenario(SCEN / f"{name}.toml")
    return sdvag.run(dataclasses.replace(scenario, model=model))


def test_the_leader_grows_with_the_cluster(tmp_path):
    """Feedback both ways: with the sellers frozen at the pioneers, the leader grows less."""
    intact = run_shipped("ecom_leader_led")
    frozen = run_copy(frozen_copy(tmp_path, "Application Firms"), "ecom_leader_led")
    a, b = at(intact, "Leading Enterprise Capacity", 2035), at(frozen, "Leading Enterprise Capacity", 2035)
    print(f"\nleader capacity in 2035: intact {a:.3f}, sellers frozen {b:.3f}")
    assert b < 0.5 * a


def test_co_opetition_loop_reinforces_growth(tmp_path):
    """Cutting the co-opetition loop where `knockout --loop` cuts it (service demand sees the
    pioneer sellers of the start) lowers the sellers of the combined path in 2030 by at least 15%."""
    intact = run_shipped("ecom_combined")
    cut = run_copy(frozen_copy(tmp_path, "Application Firms", uses_in="Indicated Service Firms"), "ecom_combined")
    a, b = at(intact, "Application Firms", 2030), at(cut, "Application Firms", 2030)
    print(f"\nApplication Firms in 2030: intact {a:.0f}, co-opetition loop cut {b:.0f} ({b / a - 1:+.1%})")
    assert b <= 0.85 * a


def test_combined_path_passes_the_stages_in_order_and_policy_only_never_self_sustains():
    changes = sdvag.stage_changes(run_shipped("ecom_combined"), "Evolution Stage")
    print("\ncombined stage changes:", changes)
    assert [s for _, s in changes] == [1, 2, 3]
    stages_policy = [s for _, s in sdvag.stage_changes(run_shipped("ecom_policy_withdrawn"), "Evolution Stage")]
    assert 3 not in stages_policy


@pytest.mark.parametrize("name,var", [("taobao_villages", "Agglomeration Areas"),
                                      ("taobao_towns", "Agglomeration Towns")])
def test_combined_path_is_the_right_order_of_magnitude(name, var):
    obs = {y: v for y, v in observed(name).items() if 2009 <= y <= 2018}
    assert obs, name
    ds = run_shipped("ecom_combined")
    for year, value in sorted(obs.items()):
        model = at(ds, var, year + 1)  # counts at year end: compare with the model at 1 January
        print(f"{name} {year}: observed {value:.0f}, model {model:.0f}")
        assert value / 3 < model < value * 3
