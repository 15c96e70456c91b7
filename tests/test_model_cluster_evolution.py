"""Behaviour tests for models/cluster_evolution.xmile (design note section 1; seed 002, seed 001 section IV).

Traditional path (TIC): quantity concentration -> quality improvement -> R&D and brand innovation,
bounded by land. Virtual path (VIC): platform drive -> community operation -> borderless
development, as virtualisation drives spatial distance to zero and community operation narrows
psychological distance, deepening the division of labour.
"""
import pathlib

import numpy as np
import pytest

import sdvag

from conftest import run_shipped

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCEN = ROOT / "scenarios"
MODEL = ROOT / "models" / "cluster_evolution.xmile"
SWITCH_YEAR = 2012  # the [[policies]] step in scenarios/virtualisation_midway.toml

def series(ds, var):
    return np.asarray(ds[var].values, dtype=float)


def years(ds):
    return np.asarray(ds["time"].values, dtype=float)


def first_year_at_least(ds, var, stage):
    """First year the variable reaches `stage` (None if never)."""
    y = years(ds)
    hit = np.nonzero(series(ds, var) >= stage)[0]
    return float(y[hit[0]]) if len(hit) else None


# ---------------------------------------------------------------- traditional path
def test_tic_member_firms_follow_s_curve_saturating_below_land_limit():
    ds = run_shipped("tic_baseline")
    firms = series(ds, "Member Firms")
    land_limit = series(ds, "Land Capacity")[-1]
    growth = np.diff(firms)  # firms per year (annual saves)
    peak = int(np.argmax(growth))
    # rises, inflects in the interior of the run, saturates
    assert growth.min() >= -1e-9 * firms.max(), "firms should not decline on the traditional baseline"
    assert 2 <= peak <= len(growth) - 6, f"growth peaks at an edge of the run (index {peak})"
    assert growth[0] < 0.5 * growth[peak], "no acceleration phase before the inflection"
    assert growth[-5:].mean() < 0.05 * growth[peak], "firms still growing fast at the end: no saturation"
    # saturates below the land limit, and it is the land that binds (not the market)
    assert firms[-1] < land_limit
    assert firms[-1] > 0.6 * land_limit
    assert series(ds, "Market Saturation")[-1] < 0.5


def test_tic_stages_quantity_quality_innovation_in_order():
    changes = sdvag.stage_changes(run_shipped("tic_baseline"), "Evolution Stage")
    assert [s for _, s in changes] == [1, 2, 3]
    yrs = [y for y, _ in changes]
    assert yrs[0] == 2000 and yrs[0] < yrs[1] < yrs[2] <= 2035
    # each stage lasts a while (not a flicker through the thresholds)
    assert yrs[2] - yrs[1] >= 3


# ---------------------------------------------------------------- virtual path
def test_vic_member_firms_exceed_traditional_ceiling():
    tic, vic = run_shipped("tic_baseline"), run_shipped("vic_baseline")
    ceiling = series(tic, "Land Capacity")[-1]
    assert series(vic, "Member Firms")[-1] > ceiling
    assert series(vic, "Member Firms")[-1] > 2 * series(tic, "Member Firms").max()


def test_vic_effective_distance_falls_towards_zero():
    ed = series(run_shipped("vic_baseline"), "Effective Distance")
    assert ed[-1] < 0.10 * ed[0]
    assert np.all(np.diff(ed) <= 1e-12), "effective distance should fall steadily on the virtual path"
    # both components shrink: spatial through virtualisation, psychological through community trust
    vic = run_shipped("vic_baseline")
    assert series(vic, "Spatial Distance Index")[-1] < 0.1
    assert series(vic, "Psychological Distance")[-1] < 0.5 * series(vic, "Psychological Distance")[0]


def test_vic_stages_platform_community_borderless_in_order():
    vic = run_shipped("vic_baseline")
    changes = sdvag.stage_changes(vic, "Evolution Stage")
    assert [s for _, s in changes] == [1, 2, 3]
    yrs = [y for y, _ in changes]
    assert yrs[0] < yrs[1] < yrs[2] <= 2035
    # borderless development means more members than the land could ever hold
    y3 = yrs[2]
    t = years(vic)
    assert series(vic, "Member Firms")[t == y3][0] > series(vic, "Land Capacity")[t == y3][0]


def test_virtual_path_deeper_division_of_labour_and_lower_cooperation_cost():
    tic, vic = run_shipped("tic_baseline"), run_shipped("vic_baseline")
    for v in ["Member Firms", "Division Of Labour", "Community Trust", "Cooperation Cost"]:
        assert series(tic, v)[0] == pytest.approx(series(vic, v)[0]), f"{v}: initial states differ"
    assert series(vic, "Division Of Labour")[-1] > 1.5 * series(tic, "Division Of Labour")[-1]
    assert series(vic, "Cooperation Cost")[-1] < 0.5 * series(tic, "Cooperation Cost")[-1]


def test_stages_only_move_forward_on_each_path():
    for name in ["tic_baseline", "vic_baseline", "tic_land_supply", "vic_ict_investment",
                 "vic_community_operation"]:
        stage = series(run_shipped(name), "Evolution Stage")
        assert np.all(np.diff(stage) >= 0), name
    mid = run_shipped("virtualisation_midway")
    after = series(mid, "Evolution Stage")[years(mid) >= SWITCH_YEAR]
    assert np.all(np.diff(after) >= 0)


# ---------------------------------------------------------------- switching mid-run
def test_midway_switch_follows_tic_before_and_moves_to_virtual_path_after():
    tic, vic, mid = run_shipped("tic_baseline"), run_shipped("vic_baseline"), run_shipped("virtualisation_midway")
    t = years(mid)
    before = t < SWITCH_YEAR
    for v in ["Member Firms", "Division Of Labour", "Cooperation Cost", "Community Trust",
              "Evolution Stage"]:
        np.testing.assert_allclose(series(mid, v)[before], series(tic, v)[before], rtol=1e-9,
                                   err_msg=f"{v} differs from the traditional run before the switch")
    # after the switch it leaves the traditional path ...
    assert series(mid, "Member Firms")[-1] > 2 * series(tic, "Member Firms")[-1]
    assert series(mid, "Division Of Labour")[-1] > series(tic, "Division Of Labour")[-1]
    assert series(mid, "Cooperation Cost")[-1] < series(tic, "Cooperation Cost")[-1]
    # ... and ends nearer the virtual path than the traditional one
    for v in ["Member Firms", "Division Of Labour", "Cooperation Cost"]:
        end_mid, end_tic, end_vic = (series(d, v)[-1] for d in (mid, tic, vic))
        assert abs(end_mid - end_vic) < abs(end_mid - end_tic), v
    # and reaches borderless development on the virtual path
    assert series(mid, "Virtual Path")[-1] == 1
    assert series(mid, "Evolution Stage")[-1] == 3


# ---------------------------------------------------------------- policy variants
def test_more_land_raises_the_tic_ceiling_but_it_stays_bounded():
    base, more = run_shipped("tic_baseline"), run_shipped("tic_land_supply")
    assert series(more, "Land Capacity")[-1] > series(base, "Land Capacity")[-1]
    assert series(more, "Member Firms")[-1] > 1.3 * series(base, "Member Firms")[-1]
    assert series(more, "Member Firms")[-1] < series(more, "Land Capacity")[-1]
    # still the traditional path: distance and cooperation cost are not reduced by land
    assert series(more, "Cooperation Cost")[-1] == pytest.approx(series(base, "Cooperation Cost")[-1], rel=0.02)


def test_ict_investment_speeds_the_virtual_path():
    base, ict = run_shipped("vic_baseline"), run_shipped("vic_ict_investment")
    assert np.all(series(ict, "Online Cooperation Share")[1:] > series(base, "Online Cooperation Share")[1:])
    assert first_year_at_least(ict, "Evolution Stage", 2) < first_year_at_least(base, "Evolution Stage", 2)
    # distance falls faster, and the cluster grows faster in its expansion years
    assert np.all(series(ict, "Effective Distance")[1:] < series(base, "Effective Distance")[1:])
    ratio = series(ict, "Member Firms") / series(base, "Member Firms")
    assert ratio.max() > 1.05
    assert ratio[-1] >= 1


def test_community_operation_narrows_psychological_distance_and_deepens_division():
    base, comm = run_shipped("vic_baseline"), run_shipped("vic_community_operation")
    assert series(comm, "Community Trust")[-1] > series(base, "Community Trust")[-1]
    assert series(comm, "Cooperation Cost")[-1] < series(base, "Cooperation Cost")[-1]
    assert series(comm, "Division Of Labour")[-1] > series(base, "Division Of Labour")[-1]
    assert first_year_at_least(comm, "Evolution Stage", 2) < first_year_at_least(base, "Evolution Stage", 2)


def test_without_community_operation_the_virtual_cluster_stays_in_platform_drive():
    """Virtualisation alone removes spatial distance but not psychological distance (seed 002)."""
    ds = sdvag.run(SCEN / "vic_baseline.toml", set={"Community Operation Effort": 0})
    assert series(ds, "Evolution Stage").max() == 1
    assert series(ds, "Psychological Distance")[-1] > series(run_shipped("vic_baseline"), "Psychological Distance")[-1]
