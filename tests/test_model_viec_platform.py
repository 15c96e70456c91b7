"""Behaviour tests for models/viec_platform.xmile (design note section 3; seed 001, Zhang & Zhu).

A core platform gathers users through same-side and cross-side network effects, competes with a
rival platform, locks users in through switching costs and, once open, empowers a key company
(Pinduoduo in Tencent's e-business VIEC). The tests check critical mass, winner-take-all,
lock-in, empowerment, the stage sequence and the order of magnitude against observed data.
"""
import dataclasses
import pathlib

import pytest

import sdvag
from sdvag.simulation.scenario import load_scenario

from conftest import observed, run_shipped

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCEN = ROOT / "scenarios"
MODEL = ROOT / "models" / "viec_platform.xmile"

# a run without any rival inside the simulated period
NO_RIVAL = {"Rival Entry Year": 2100, "Rival Launch Users": 0}
SEED_RANGE = (0.0, 50.0)  # million users: the range of `Platform Launch Users`


def final(ds, var):
    return float(ds[var].isel(time=-1))


def at(ds, var, year):
    return float(ds[var].sel(time=float(year), method="nearest"))


def takes_off(seed):
    """Run the baseline without a rival from a launch seed of `seed` million users."""
    return sdvag.run(SCEN / "viec_baseline.toml", set={**NO_RIVAL, "Platform Launch Users": seed})


def run_until(name, stop, **changes):
    """A shipped scenario run to `stop` (beyond its own stop time) with some constants changed."""
    scenario = load_scenario(SCEN / f"{name}.toml", overrides=changes or None)
    return sdvag.run(dataclasses.replace(scenario, sim={**scenario.sim, "stop": stop}))


def assert_dies_out(ds, seed):
    """Users fall every year after the launch campaign, to under half the seed by the end."""
    yearly = [at(ds, "Platform Users", y) for y in range(2012, 2036)]
    assert all(b < a for a, b in zip(yearly, yearly[1:]))
    assert final(ds, "Platform Users") < 0.5 * seed


def test_critical_mass_threshold_separates_death_from_take_off():
    """Bisection over the launch seed: below the threshold the platform dies out, above it
    growth explodes to most of the market (seed 001 section IV.D)."""
    market = final(takes_off(SEED_RANGE[1]), "Addressable Market")
    lo, hi = SEED_RANGE
    assert final(takes_off(lo), "Platform Users") < 1.0
    assert final(takes_off(hi), "Platform Users") > 0.5 * market
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        if final(takes_off(mid), "Platform Users") > 0.5 * market:
            hi = mid
        else:
            lo = mid
    threshold = 0.5 * (lo + hi)
    print(f"\ncritical mass: launch seed threshold = {threshold:.3f} million users "
          f"(bracket {lo:.3f} to {hi:.3f})")
    assert 0.001 * SEED_RANGE[1] < threshold < 0.5 * SEED_RANGE[1]  # inside the range, not an edge
    # just below the threshold users drift down slowly while reputation still builds: test the
    # death at 40% of it
    below = takes_off(0.4 * threshold)
    above = takes_off(2 * threshold)
    # below: the platform shrinks year after year towards extinction
    assert_dies_out(below, 0.4 * threshold)
    # above: explosive growth to most of the market
    assert final(above, "Platform Users") > 0.8 * market
    print(f"seed {0.4 * threshold:.3f}: {final(below, 'Platform Users'):.4f} million users in 2035; "
          f"seed {2 * threshold:.3f}: {final(above, 'Platform Users'):.0f} million users in 2035")


def test_below_critical_mass_scenario_dies_out_and_never_leaves_stage_one():
    ds = run_shipped("viec_below_critical_mass")
    assert_dies_out(ds, at(ds, "Platform Launch Users", 2005))
    assert sdvag.stage_changes(ds, "Evolution Stage") == [(2005.0, 1)]


def test_platform_share_is_one_without_a_rival():
    ds = takes_off(SEED_RANGE[1])
    assert float(ds["Rival Platform Users"].max()) == 0
    assert float(ds["Platform Share"].min()) == 1.0


def test_network_effects_alone_make_the_winner_take_all():
    """Two identical platforms switching for free, the rival half a year later: the network
    effects tip the market to the leader; without them the two share it."""
    ds = run_shipped("viec_winner_take_all")
    assert at(ds, "Switching Cost", 2035) == 0
    share = at(ds, "Platform Share", 2035)
    flat = sdvag.run(SCEN / "viec_winner_take_all.toml", set={"Network Effect Strength": 0})
    flat_share = at(flat, "Platform Share", 2035)
    print(f"\nleader share in 2035, no switching cost: network effects {share:.3f}, none {flat_share:.3f}")
    assert share >= 0.9
    assert 0.4 <= flat_share <= 0.6
    # symmetric: give the head start to the rival instead and the rival wins
    swapped = sdvag.run(SCEN / "viec_winner_take_all.toml",
                        set={"Platform Launch Year": 2011.5, "Rival Entry Year": 2011})
    assert at(swapped, "Platform Share", 2035) <= 0.1
    # investors aggregate on the winner: it ends with nearly all the category's capital
    assert at(ds, "Platform Capital", 2035) > 0.9 > 0.1 > at(ds, "Rival Capital", 2035)


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


def test_switching_costs_lock_users_in_for_good_against_a_better_entrant():
    """Lock-in is an equilibrium, not a delay: run to 2060, the incumbent still leads with high
    switching costs, and the better entrant wins once switching is free."""
    locked = run_until("viec_lock_in", 2060)
    free = run_until("viec_low_switching_cost", 2060)
    for ds in (locked, free):  # the entrant is later and better in both runs
        assert at(ds, "Rival Quality", 2060) > at(ds, "Platform Quality", 2060)
        assert at(ds, "Rival Entry Year", 2060) > at(ds, "Platform Launch Year", 2060)
    print("\nincumbent share 2020/2035/2060: high switching cost "
          + "/".join(f"{at(locked, 'Platform Share', y):.3f}" for y in (2020, 2035, 2060))
          + ", none " + "/".join(f"{at(free, 'Platform Share', y):.3f}" for y in (2020, 2035, 2060)))
    assert at(locked, "Platform Share", 2060) > 0.5
    # it has settled: the lead no longer erodes between 2035 and 2060
    assert at(locked, "Platform Share", 2060) > at(locked, "Platform Share", 2035) - 0.02
    assert at(free, "Platform Share", 2060) < 0.5
    assert at(free, "Rival Platform Users", 2060) > at(free, "Platform Users", 2060)


def test_opening_the_platform_empowers_the_key_company():
    open_ = run_shipped("viec_baseline")
    closed = sdvag.run(SCEN / "viec_baseline.toml", set={"Open Platform Year": 2100})
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
    assert t3 > at(run_shipped("viec_baseline"), "Key Company Launch Year", 2005)


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
