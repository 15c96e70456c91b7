"""Behaviour tests for models/cluster_evolution.xmile (design note section 1; seed 002, seed 001 section IV).

Traditional path (TIC): quantity concentration -> quality improvement -> R&D and brand innovation,
bounded by land. Virtual path (VIC): platform drive -> community operation -> borderless
development, once most cooperation has actually moved online. The advantage of the virtual path
runs through distance: effective distance -> cooperation cost -> division of labour ->
productivity and market -> entry. The mechanism tests cut that chain and see the advantage go.
"""
import dataclasses
import pathlib

import numpy as np
import pytest

import sdvag
from sdvag.analysis.stages import stage_names
from sdvag.simulation.scenario import Policy

from conftest import run_shipped

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCEN = ROOT / "scenarios"
MODEL = ROOT / "models" / "cluster_evolution.xmile"
SWITCH_YEAR = 2012  # the [[policies]] step in scenarios/virtualisation_midway.toml
TRADITIONAL, VIRTUAL = {1, 2, 3}, [4, 5, 6]


def series(ds, var):
    return np.asarray(ds[var].values, dtype=float)


def years(ds):
    return np.asarray(ds["time"].values, dtype=float)


def first_year_at_least(ds, var, level):
    """First year the variable reaches `level` (None if never)."""
    hit = np.nonzero(series(ds, var) >= level)[0]
    return float(years(ds)[hit[0]]) if len(hit) else None


def codes(ds):
    return [stage for _, stage in sdvag.stage_changes(ds, "Evolution Stage")]


def log_advantage(vic, tic):
    """The virtual path's advantage in log(Division Of Labour) at the final time."""
    return float(np.log(series(vic, "Division Of Labour")[-1] / series(tic, "Division Of Labour")[-1]))


# ---------------------------------------------------------------- traditional path
def test_tic_member_firms_follow_s_curve_saturating_below_land_limit():
    ds = run_shipped("tic_baseline")
    firms = series(ds, "Member Firms")
    land_limit = series(ds, "Land Capacity")[-1]
    growth = np.diff(firms)  # firms per year (annual saves)
    peak = int(np.argmax(growth))
    assert growth.min() >= -1e-9 * firms.max(), "firms should not decline on the traditional baseline"
    assert 2 <= peak <= len(growth) - 6, f"growth peaks at an edge of the run (index {peak})"
    assert growth[0] < 0.5 * growth[peak], "no acceleration phase before the inflection"
    assert growth[-5:].mean() < 0.05 * growth[peak], "firms still growing fast at the end: no saturation"
    assert firms[-1] < land_limit
    assert firms[-1] > 0.6 * land_limit
    assert series(ds, "Market Saturation")[-1] < 0.5, "on the baseline the land binds, not the market"
    assert series(ds, "Firms Outside Home Region Share").max() == 0


def test_tic_stages_quantity_quality_innovation_in_order():
    ds = run_shipped("tic_baseline")
    changes = sdvag.stage_changes(ds, "Evolution Stage")
    assert [s for _, s in changes] == [1, 2, 3]
    yrs = [y for y, _ in changes]
    assert yrs[0] == 2000 and yrs[0] < yrs[1] < yrs[2] <= 2035
    assert yrs[2] - yrs[1] >= 3, "each stage lasts a while (not a flicker through the thresholds)"
    assert series(ds, "Evolution Path").max() == 0


def test_one_stage_code_for_each_stage_of_both_paths():
    assert stage_names(run_shipped("tic_baseline")) == {
        1: "quantity concentration", 2: "quality improvement", 3: "R&D and brand innovation",
        4: "platform drive", 5: "community operation", 6: "borderless development"}


# ---------------------------------------------------------------- virtual path
def test_vic_member_firms_exceed_traditional_ceiling():
    tic, vic = run_shipped("tic_baseline"), run_shipped("vic_baseline")
    ceiling = series(tic, "Land Capacity")[-1]
    assert series(vic, "Member Firms")[-1] > ceiling
    assert series(vic, "Member Firms")[-1] > 2 * series(tic, "Member Firms").max()
    # the growth beyond the land is outside the home region; the home region stays within its land
    assert series(vic, "Home Region Firms").max() < ceiling


def test_vic_effective_distance_falls_towards_zero():
    vic = run_shipped("vic_baseline")
    ed = series(vic, "Effective Distance")
    assert ed[-1] < 0.10 * ed[0]
    assert np.all(np.diff(ed) <= 1e-12), "effective distance should fall steadily on the virtual path"
    # both components shrink: spatial through online cooperation, psychological through trust
    assert series(vic, "Spatial Distance Index")[-1] < 0.1
    assert series(vic, "Psychological Distance")[-1] < 0.5 * series(vic, "Psychological Distance")[0]


def test_vic_stages_platform_community_borderless_in_order():
    vic = run_shipped("vic_baseline")
    changes = sdvag.stage_changes(vic, "Evolution Stage")
    assert [s for _, s in changes] == [1] + VIRTUAL
    yrs = [y for y, _ in changes]
    assert yrs[1] < yrs[2] < yrs[3] <= 2035
    at = {stage: years(vic) == year for year, stage in changes}
    # each stage is reached by the state it names, not by the lever (set from 2000)
    assert series(vic, "Online Cooperation Share")[at[4]][0] > 0.5
    assert series(vic, "Evolution Path")[years(vic) < yrs[1]].max() == 0
    assert series(vic, "Institutional Trust")[at[5]][0] > series(vic, "Personal Trust")[at[5]][0]
    assert series(vic, "Firms Outside Home Region Share")[at[6]][0] > 0.5


def test_virtual_path_deeper_division_of_labour_and_lower_cooperation_cost():
    tic, vic = run_shipped("tic_baseline"), run_shipped("vic_baseline")
    for v in ["Member Firms", "Division Of Labour", "Community Trust", "Cooperation Cost"]:
        assert series(tic, v)[0] == pytest.approx(series(vic, v)[0]), f"{v}: initial states differ"
    assert series(vic, "Division Of Labour")[-1] > 1.5 * series(tic, "Division Of Labour")[-1]
    assert series(vic, "Cooperation Cost")[-1] < series(tic, "Cooperation Cost")[-1]
    assert series(vic, "Productivity Index")[-1] > series(tic, "Productivity Index")[-1]


def test_division_of_labour_starts_at_its_equilibrium():
    """No initial transient: the target equals the stock in 2000 and the first years only rise."""
    for name in ["tic_baseline", "vic_baseline"]:
        ds = run_shipped(name)
        assert series(ds, "Target Division Of Labour")[0] == pytest.approx(series(ds, "Division Of Labour")[0])
        assert np.all(np.diff(series(ds, "Division Of Labour")[:6]) >= 0), name


# ---------------------------------------------------------------- the mechanism: distance
def test_virtual_advantage_in_division_of_labour_is_there_with_distance_intact():
    advantage = log_advantage(run_shipped("vic_baseline"), run_shipped("tic_baseline"))
    assert advantage > np.log(1.5)


def test_freezing_effective_distance_removes_the_virtual_advantage():
    """Effective Distance held at its 2000 value in both runs: at least 70% of the virtual path's
    advantage in log(Division Of Labour) disappears, although the cluster still moves online."""
    tic, vic = (sdvag.knockout(SCEN / f"{name}.toml", freeze={"Effective Distance": None})
                for name in ("tic_baseline", "vic_baseline"))
    assert series(vic.knocked, "Online Cooperation Share")[-1] > 0.9, "the knock-out cuts distance, not adoption"
    intact, cut = log_advantage(vic.intact, tic.intact), log_advantage(vic.knocked, tic.knocked)
    assert intact > np.log(1.5)
    assert cut <= 0.3 * intact, f"advantage {intact:.3f} intact, {cut:.3f} with distance frozen"


def test_extra_members_of_the_virtual_path_come_through_the_division_of_labour():
    """External economies: with Division Of Labour held at its 2000 value the virtual cluster
    still escapes its land, but its market, hence its membership, stays near the start's."""
    vic = sdvag.knockout(SCEN / "vic_baseline.toml", freeze={"Division Of Labour": None})
    assert series(vic.knocked, "Member Firms")[-1] > series(vic.knocked, "Land Capacity")[-1]
    assert series(vic.knocked, "Member Firms")[-1] < 0.5 * series(vic.intact, "Member Firms")[-1]
    assert series(vic.knocked, "Market Capacity")[-1] < 0.5 * series(vic.intact, "Market Capacity")[-1]


MECHANISM_CONSTANTS = [
    "Spatial Share Of Distance Cost", "Distance Related Cooperation Cost", "Distance Independent Cooperation Cost",
    "Trade Elasticity", "Market Elasticity Of Division Of Labour", "Division Of Labour Adjustment Time",
    "Face To Face Trust Building Time", "Community Trust Building Time", "Trust Erosion Time",
    "Spillover Decay Distance", "Knowledge Elasticity Of Productivity", "Initial Cluster Market Share",
]


@pytest.mark.parametrize("name", MECHANISM_CONSTANTS)
def test_virtual_advantage_holds_over_the_range_of_each_mechanism_constant(name):
    """Not a tuned value: at each end of the constant's <range> the traditional cluster stays on
    its land and the virtual one passes it, with a deeper division of labour, lower cooperation
    cost and effective distance near zero."""
    bounds = sdvag.read_model(MODEL).variables[name].range
    for bound in bounds:
        tic = sdvag.run(SCEN / "tic_baseline.toml", set={name: bound})
        vic = sdvag.run(SCEN / "vic_baseline.toml", set={name: bound})
        at = f"{name} = {bound:g}"
        assert series(tic, "Member Firms")[-1] < series(tic, "Land Capacity")[-1] < series(vic, "Member Firms")[-1], at
        assert series(vic, "Division Of Labour")[-1] > 1.5 * series(tic, "Division Of Labour")[-1], at
        assert series(vic, "Cooperation Cost")[-1] < series(tic, "Cooperation Cost")[-1], at
        assert series(vic, "Effective Distance")[-1] < 0.1 * series(vic, "Effective Distance")[0], at


# ---------------------------------------------------------------- switching mid-run
def test_stages_never_decrease():
    for name in ["tic_baseline", "vic_baseline", "tic_land_supply", "vic_ict_investment",
                 "vic_community_operation", "virtualisation_midway"]:
        ds = run_shipped(name)
        assert np.all(np.diff(series(ds, "Evolution Stage")) >= 0), name
        assert np.all(np.diff(series(ds, "Evolution Path")) >= 0), name


def test_stages_never_decrease_when_the_cluster_goes_back_offline():
    """The lever set back to 0 in 2020: cooperation returns offline, but a stage once reached
    stays reached (evolution does not run backwards)."""
    scenario = sdvag.load_scenario(SCEN / "vic_baseline.toml")
    back = dataclasses.replace(scenario, policies=[Policy(
        "Virtualisation Degree", "step", 2020, 0.0)])
    ds = sdvag.run(back)
    assert series(ds, "Online Cooperation Share")[-1] < 0.5
    assert np.all(np.diff(series(ds, "Evolution Stage")) >= 0)
    assert series(ds, "Evolution Stage")[-1] == 6 and series(ds, "Evolution Path")[-1] == 1


def test_midway_switch_goes_through_traditional_stages_then_platform_community_borderless():
    tic, mid = run_shipped("tic_baseline"), run_shipped("virtualisation_midway")
    t = years(mid)
    path_year = t[series(mid, "Evolution Path") > 0][0]
    assert path_year > SWITCH_YEAR, "the path changes when cooperation has moved online, not with the lever"
    assert series(mid, "Online Cooperation Share")[t == path_year][0] > 0.5
    sequence = codes(mid)
    before = [c for c in sequence if c in TRADITIONAL]
    assert sequence == before + VIRTUAL, sequence
    assert before[0] == 1 and before == sorted(before) and len(before) >= 2
    stage = series(mid, "Evolution Stage")
    assert set(stage[t < path_year]) <= TRADITIONAL and set(stage[t >= path_year]) <= set(VIRTUAL)
    np.testing.assert_allclose(stage[t < path_year], series(tic, "Evolution Stage")[t < path_year])


def test_midway_switch_follows_tic_before_and_moves_to_virtual_path_after():
    tic, vic, mid = run_shipped("tic_baseline"), run_shipped("vic_baseline"), run_shipped("virtualisation_midway")
    before = years(mid) < SWITCH_YEAR
    for v in ["Member Firms", "Division Of Labour", "Cooperation Cost", "Community Trust", "Evolution Stage"]:
        np.testing.assert_allclose(series(mid, v)[before], series(tic, v)[before], rtol=1e-9,
                                   err_msg=f"{v} differs from the traditional run before the switch")
    assert series(mid, "Member Firms")[-1] > 2 * series(tic, "Member Firms")[-1]
    assert series(mid, "Division Of Labour")[-1] > series(tic, "Division Of Labour")[-1]
    assert series(mid, "Cooperation Cost")[-1] < series(tic, "Cooperation Cost")[-1]
    for v in ["Member Firms", "Division Of Labour", "Cooperation Cost"]:
        end_mid, end_tic, end_vic = (series(d, v)[-1] for d in (mid, tic, vic))
        assert abs(end_mid - end_vic) < abs(end_mid - end_tic), v


def test_lever_on_without_online_adoption_stays_traditional():
    """The lever steps to 0.95 in 2012 but without ICT no firm can start cooperating online:
    the realised state, not the lever, decides the path."""
    tic = run_shipped("tic_baseline")
    ds = sdvag.run(SCEN / "virtualisation_midway.toml", set={"ICT Investment": 0})
    assert series(ds, "Virtualisation Degree")[-1] == 0.95
    assert series(ds, "Online Cooperation Share").max() == 0
    assert series(ds, "Evolution Path").max() == 0
    assert set(codes(ds)) <= TRADITIONAL
    np.testing.assert_allclose(series(ds, "Member Firms"), series(tic, "Member Firms"), rtol=1e-9)


# ---------------------------------------------------------------- policy variants
def test_more_land_raises_the_tic_ceiling_but_it_stays_bounded():
    base, more = run_shipped("tic_baseline"), run_shipped("tic_land_supply")
    assert series(more, "Land Capacity")[-1] > series(base, "Land Capacity")[-1]
    assert series(more, "Member Firms")[-1] > 1.3 * series(base, "Member Firms")[-1]
    assert series(more, "Member Firms")[-1] < series(more, "Land Capacity")[-1]
    # still the traditional path: land does not narrow distance, so cooperation cost is unchanged
    assert series(more, "Cooperation Cost")[-1] == pytest.approx(series(base, "Cooperation Cost")[-1], rel=0.02)


def test_ict_investment_speeds_the_virtual_path():
    base, ict = run_shipped("vic_baseline"), run_shipped("vic_ict_investment")
    assert np.all(series(ict, "Online Cooperation Share")[1:] > series(base, "Online Cooperation Share")[1:])
    assert first_year_at_least(ict, "Evolution Stage", 4) < first_year_at_least(base, "Evolution Stage", 4)
    # distance falls faster (both end near the same floor, set by trust once all is online)
    def halved(ds):
        ed = series(ds, "Effective Distance")
        return years(ds)[ed < 0.5 * ed[0]][0]
    assert halved(ict) < halved(base)
    assert series(ict, "Effective Distance").mean() < series(base, "Effective Distance").mean()
    ratio = series(ict, "Member Firms") / series(base, "Member Firms")
    assert ratio.max() > 1.05
    assert ratio[-1] >= 1


def test_community_operation_narrows_psychological_distance_and_deepens_division():
    base, comm = run_shipped("vic_baseline"), run_shipped("vic_community_operation")
    assert series(comm, "Community Trust")[-1] > series(base, "Community Trust")[-1]
    assert series(comm, "Cooperation Cost")[-1] < series(base, "Cooperation Cost")[-1]
    assert series(comm, "Division Of Labour")[-1] > series(base, "Division Of Labour")[-1]
    assert first_year_at_least(comm, "Evolution Stage", 5) < first_year_at_least(base, "Evolution Stage", 5)


def test_without_community_operation_the_virtual_cluster_stays_in_platform_drive():
    """Virtualisation alone removes spatial distance but not psychological distance (seed 002);
    without institutional trust no firm joins from outside the home region."""
    base = run_shipped("vic_baseline")
    ds = sdvag.run(SCEN / "vic_baseline.toml", set={"Community Operation Effort": 0})
    assert codes(ds) == [1, 4]
    assert series(ds, "Psychological Distance")[-1] > series(base, "Psychological Distance")[-1]
    assert series(ds, "Firms Outside Home Region Share").max() == 0
    assert series(ds, "Division Of Labour")[-1] < series(base, "Division Of Labour")[-1]
