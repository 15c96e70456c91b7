"""Behaviour tests for models/ecommerce_agglomeration.xmile (design note section 4; seed 003, Wang).

E-commerce service clusters form by government policy guidance, by a leading enterprise acting as
a growth pole, or by SME concentration through imitation; services, supporting facilities and
positive-sum co-opetition sustain them. The three paths must leave distinct signatures.
"""
import pathlib

import numpy as np
import pytest

import sdvag

from conftest import observed, run_shipped

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCEN = ROOT / "scenarios"
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


def test_leader_led_follows_the_leader():
    """The leader moves first and the sellers follow it: the two move together, and the
    leader passes half its final capacity years before the sellers pass half their number."""
    ds = run_shipped("ecom_leader_led")
    t = years(ds)
    firms, leader = series(ds, "Application Firms"), series(ds, "Leading Enterprise Capacity")
    corr = np.corrcoef(firms, leader)[0, 1]
    half_leader = t[np.argmax(leader >= 0.5 * leader[-1])]
    half_firms = t[np.argmax(firms >= 0.5 * firms[-1])]
    print(f"\ncorrelation(Application Firms, Leading Enterprise Capacity) = {corr:.3f}; "
          f"half of the 2035 level: leader {half_leader:.2f}, sellers {half_firms:.2f}")
    assert corr > 0.95
    assert half_leader < half_firms


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


def test_the_leader_grows_with_the_cluster():
    """Feedback both ways: with the sellers frozen at the pioneers, the leader grows less."""
    ko = sdvag.knockout(SCEN / "ecom_leader_led.toml", freeze={"Application Firms": None})
    a = at(ko.intact, "Leading Enterprise Capacity", 2035)
    b = at(ko.knocked, "Leading Enterprise Capacity", 2035)
    print(f"\nleader capacity in 2035: intact {a:.3f}, sellers frozen {b:.3f}")
    assert b < 0.5 * a


def test_co_opetition_loop_reinforces_growth():
    """Cutting the named co-opetition loop lowers the sellers of the combined path in 2030 by at
    least 15%."""
    ko = sdvag.knockout(SCEN / "ecom_combined.toml", loop=["R2"])
    a, b = at(ko.intact, "Application Firms", 2030), at(ko.knocked, "Application Firms", 2030)
    print(f"\n{'; '.join(ko.cuts)}\nApplication Firms in 2030: intact {a:.0f}, cut {b:.0f} ({b / a - 1:+.1%})")
    assert b <= 0.85 * a


def test_co_opetition_loop_dominates_part_of_the_growth_phase():
    """Loops That Matter: during the growth of the combined path the co-opetition loop is, for
    a while, the loop with the largest relative score in its loop set (cycle partition)."""
    result = sdvag.loops(SCEN / "ecom_combined.toml")
    loops = result.loops.set_index("id")
    assert loops.loc["R2", "polarity"] == "R" and loops.loc["R2", "named"]
    partition = loops.loc["R2", "partition"]
    ids = [i for i in loops.index if loops.loc[i, "partition"] == partition]
    scores = np.abs(np.vstack([result.scores[i].values for i in ids]))
    t = result.scores["time"].values
    top = np.array(ids)[np.argmax(np.nan_to_num(scores, nan=-1.0), axis=0)]
    firms = series(run_shipped("ecom_combined"), "Application Firms")
    growing = (firms > 0.1 * firms[-1]) & (firms < 0.9 * firms[-1])  # the growth phase
    growth_times = years(run_shipped("ecom_combined"))[growing]
    top_in_growth = [x for x, w in zip(t, top) if w == "R2" and growth_times.min() <= x <= growth_times.max()]
    print(f"\nR2 is the top loop of its set for {len(top_in_growth)} steps of the growth phase "
          f"{growth_times.min():.2f}-{growth_times.max():.2f} (from {min(top_in_growth, default=float('nan')):.2f} "
          f"to {max(top_in_growth, default=float('nan')):.2f})")
    assert len(top_in_growth) * (t[1] - t[0]) >= 0.5  # at least half a year


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
