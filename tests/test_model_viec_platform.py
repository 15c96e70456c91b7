"""Behaviour tests for models/viec_platform.xmile (design note section 3; seed 001, Zhang & Zhu).

A core platform gathers users through same-side and cross-side network effects, competes with a
rival platform, locks users in through switching costs and, once open, empowers a key company
(Pinduoduo in Tencent's e-business VIEC). The tests check critical mass, winner-take-all,
lock-in, empowerment, the stage sequence and the order of magnitude against observed data.
"""
import pathlib

import pytest

import sdvag

from conftest import observed, run_shipped

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCEN = ROOT / "scenarios"
MODEL = ROOT / "models" / "viec_platform.xmile"

# a run without any rival inside the simulated period
NO_RIVAL = {"Rival Entry Year": 2035, "Rival Launch Users": 0}

def final(ds, var):
    return float(ds[var].isel(time=-1))


def at(ds, var, year):
    return float(ds[var].sel(time=float(year), method="nearest"))


def takes_off(seed):
    """Run the baseline without a rival from a launch seed of `seed` million users."""
    ds = sdvag.run(SCEN / "viec_baseline.toml", set={**NO_RIVAL, "Platform Launch Users": seed})
    return ds


def test_critical_mass_threshold_separates_death_from_take_off():
    """Bisection over the launch seed: below the threshold the platform dies out, above it
    growth explodes to most of the market (seed 001 section IV.D)."""
    market = final(run_shipped("viec_baseline"), "Market Size")
    lo, hi = 0.0, 100.0  # million users: the range of the launch seed tested
    assert final(takes_off(lo), "Platform Users") < 1.0
    assert final(takes_off(hi), "Platform Users") > 0.5 * market
    for _ in range(10):
        mid = 0.5 * (lo + hi)
        if final(takes_off(mid), "Platform Users") > 0.5 * market:
            hi = mid
        else:
            lo = mid
    threshold = 0.5 * (lo + hi)
    print(f"\ncritical mass: launch seed threshold = {threshold:.2f} million users "
          f"(bracket {lo:.2f} to {hi:.2f})")
    assert 0.5 < threshold < 50.0  # a real threshold inside the searched range, not an edge
    below = takes_off(0.8 * threshold)
    above = takes_off(1.2 * threshold)
    # below: the platform dies out (under 2% of its seed by 2035, and shrinking)
    assert final(below, "Platform Users") < 0.02 * 0.8 * threshold
    assert final(below, "Platform Users") < at(below, "Platform Users", 2020)
    # above: explosive growth to most of the market
    assert final(above, "Platform Users") > 0.8 * market
    print(f"seed {0.8 * threshold:.2f}: {final(below, 'Platform Users'):.4f} million users in 2035; "
          f"seed {1.2 * threshold:.2f}: {final(above, 'Platform Users'):.0f} million users in 2035")


def test_below_critical_mass_scenario_dies_out_and_never_leaves_stage_one():
    ds = run_shipped("viec_below_critical_mass")
    peak = float(ds["Platform Users"].max())
    assert final(ds, "Platform Users") < 0.01 * peak
    assert sdvag.stage_changes(ds, "Evolution Stage") == [(2005.0, 1)]


def test_winner_take_all_with_a_small_head_start():
    """Two identical platforms, the rival half a year later: the leader ends above 90%."""
    ds = run_shipped("viec_winner_take_all")
    share = final(ds, "Platform Share")
    print(f"\nwinner-take-all: leader share in 2035 = {share:.3f}")
    assert share > 0.9
    # symmetric: give the head start to the rival instead and the rival wins
    swapped = sdvag.run(SCEN / "viec_winner_take_all.toml",
                        set={"Platform Launch Year": 2011.5, "Rival Entry Year": 2011})
    assert final(swapped, "Platform Share") < 0.1


def test_interoperability_or_weak_network_effects_share_the_market():
    interop = final(run_shipped("viec_interoperable"), "Platform Share")
    weak = final(sdvag.run(SCEN / "viec_winner_take_all.toml", set={"Network Effect Strength": 1.5}),
                 "Platform Share")
    print(f"\nleader share in 2035: interoperable {interop:.3f}, weak network effects {weak:.3f}")
    assert interop < 0.7
    assert weak < 0.7
    # and both platforms keep a substantial user base
    ds = run_shipped("viec_interoperable")
    assert final(ds, "Rival Platform Users") > 0.3 * final(ds, "Platform Users")


def test_switching_costs_lock_users_in_against_a_better_entrant():
    locked = run_shipped("viec_lock_in")
    free = run_shipped("viec_low_switching_cost")
    # the entrant is later and better in both scenarios
    for ds in (locked, free):
        assert at(ds, "Rival Quality", 2035) > at(ds, "Platform Quality", 2035)
        assert at(ds, "Rival Entry Year", 2035) > at(ds, "Platform Launch Year", 2035)
    s_locked, s_free = final(locked, "Platform Share"), final(free, "Platform Share")
    print(f"\nincumbent share in 2035: high switching cost {s_locked:.3f}, low switching cost {s_free:.3f}")
    assert s_locked > 0.5  # incumbent keeps its lead
    assert s_free < 0.5  # the better entrant wins
    assert final(free, "Rival Platform Users") > final(free, "Platform Users")


def test_opening_the_platform_empowers_the_key_company():
    open_ = run_shipped("viec_baseline")
    closed = sdvag.run(SCEN / "viec_baseline.toml", set={"Open Platform Year": 2035})
    for year in (2018, 2025):
        print(f"\n{year}: key company users open {at(open_, 'Key Company Users', year):.0f}, "
              f"closed {at(closed, 'Key Company Users', year):.1f}; member firms open "
              f"{at(open_, 'Member Firms', year):.0f}, closed {at(closed, 'Member Firms', year):.0f}")
        assert at(open_, "Key Company Users", year) > 5 * at(closed, "Key Company Users", year)
        assert at(open_, "Member Firms", year) > 2 * at(closed, "Member Firms", year)
    # opening also raises the platform's own users (cross-side effect of member firms)
    assert at(open_, "Platform Users", 2018) > at(closed, "Platform Users", 2018)


def test_baseline_passes_the_stages_in_order():
    changes = sdvag.stage_changes(run_shipped("viec_baseline"), "Evolution Stage")
    print("\nbaseline stage changes:", changes)
    assert [s for _, s in changes] == [1, 2, 3]
    (t2, _), (t3, _) = changes[1], changes[2]
    assert 2011 <= t2 < t3 <= 2020  # take-off after launch, eco-cluster after Pinduoduo (2015)


@pytest.mark.parametrize("series,var", [("weixin_wechat_mau", "Platform Users"),
                                        ("pinduoduo_annual_active_buyers", "Key Company Users")])
def test_baseline_is_the_right_order_of_magnitude(series, var):
    obs = observed(series)
    assert obs, series
    ds = run_shipped("viec_baseline")
    for year, value in obs.items():
        model = at(ds, var, year + 1)  # year-end figures: compare with the model at 1 January
        print(f"{series} {year}: observed {value}, model {model:.0f}")
        assert value / 3 < model < value * 3
