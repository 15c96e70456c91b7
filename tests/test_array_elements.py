"""One element of an array (`Weight[North]`, `Rate[South, Factory]`) wherever sdvag takes a
variable name: scenario constants and --set, sensitivity parameters and outputs, calibration
parameters and targets. Checked against Euler closed forms: the element changed grows at its
new rate, every other element at its model value."""
import numpy as np
import pandas as pd
import pytest

import sdvag
from sdvag.cli.main import main
from sdvag.analysis.sensitivity import analyse, load_spec
from sdvag.errors import SdvagError
from sdvag.report.export import export_xmile

from conftest import FIXTURES, write_model

REGIONS = FIXTURES / "commands" / "regions.xmile"  # Firms[Region] += dt * Firms * 0.1 * Weight; Weight 1, 4; dt 0.5
DECAY = FIXTURES / "commands" / "decay.mdl"        # Stock -= dt * Stock / 4; Weighted Stock = Stock * Weight, 1, 2, 3
DIMS = ('<dimensions><dim name="Region"><elem name="North"/><elem name="South"/></dim>'
        '<dim name="Sector"><elem name="Farm"/><elem name="Factory"/></dim></dimensions>')
BOTH = '<dimensions><dim name="Region"/><dim name="Sector"/></dimensions>'


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """Output[Region, Sector] growing from 1 at Rate (0.1 in every element, range 0-1), Euler with
    dt 0.5 to t = 2: Output = (1 + 0.5 * rate) ** 4 at the end. Mixed is a number in one element
    and TIME in the other."""
    return write_model(tmp_path_factory.mktemp("grid") / "grid.xmile", f"""
<aux name="Rate">{BOTH}<eqn>0.1</eqn><range min="0" max="1"/></aux>
<stock name="Output">{BOTH}<eqn>1</eqn><inflow>Growth</inflow></stock>
<flow name="Growth">{BOTH}<eqn>Output[Region, Sector] * Rate[Region, Sector]</eqn></flow>
<aux name="Mixed"><dimensions><dim name="Region"/></dimensions>
  <element subscript="North"><eqn>1</eqn></element><element subscript="South"><eqn>TIME</eqn></element></aux>
<aux name="Uses Mixed"><eqn>SUM(Mixed[*])</eqn></aux>""", stop=2, dt=0.5, before_model=DIMS)


def grown(rate: float) -> float:
    return (1 + 0.5 * rate) ** 4


def test_set_one_region_changes_its_growth_and_leaves_the_other(tmp_path, capsys):
    assert main(["run", str(REGIONS), "--set", "Weight[North]=2", "--out", str(tmp_path / "out")]) == 0
    frame = pd.read_csv(tmp_path / "out" / "results.csv").set_index("time")
    assert frame.loc[4.0, "Firms[North]"] == pytest.approx(10 * 1.1 ** 8, rel=1e-12)  # weight 2
    assert frame.loc[4.0, "Firms[South]"] == pytest.approx(10 * 1.2 ** 8, rel=1e-12)  # weight 4, unchanged
    assert list(frame["Weight[North]"].unique()) == [2.0] and list(frame["Weight[South]"].unique()) == [4.0]


def test_set_one_element_of_a_vensim_array():
    ds = sdvag.run(DECAY, set={"weight[ east ]": 5})
    stock = 100 * (1 - 0.5 / 4) ** 16
    assert float(ds["Weighted Stock[East]"][-1]) == pytest.approx(5 * stock, rel=1e-12)
    assert float(ds["Weighted Stock[South]"][-1]) == pytest.approx(2 * stock, rel=1e-12)
    assert float(ds["Weighted Stock[North]"][-1]) == pytest.approx(stock, rel=1e-12)


def test_scenario_file_sets_elements_over_a_whole_array_value(grid, tmp_path):
    """[constants] sets the whole array to 0.2 and one element, spelt loosely, to 0.4; a run of
    the same file after another scenario is unaffected by it (PySD keeps values between runs)."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(f'model = "{grid.as_posix()}"\noutputs = ["output[south , factory]"]\n'
                        f'[constants]\nRate = 0.2\n"rate [ South, factory ]" = 0.4\n')
    other = tmp_path / "o.toml"
    other.write_text(f'model = "{grid.as_posix()}"\n[constants]\n"Rate[North,Farm]" = 0.9\n')
    sdvag.run(other)
    ds = sdvag.run(scenario)
    assert float(ds["Output[South,Factory]"][-1]) == pytest.approx(grown(0.4), rel=1e-12)
    for element in ("North,Farm", "North,Factory", "South,Farm"):
        assert float(ds[f"Output[{element}]"][-1]) == pytest.approx(grown(0.2), rel=1e-12)
    assert ds.attrs["outputs"] == '["Output[South,Factory]"]'
    again = sdvag.run(grid)  # the model's own values again
    assert float(again["Output[North,Farm]"][-1]) == pytest.approx(grown(0.1), rel=1e-12)


def test_a_scenario_that_extends_another_replaces_its_element_however_spelt(tmp_path):
    (tmp_path / "base.toml").write_text(f'model = "{REGIONS.as_posix()}"\n[constants]\n"Weight[North]" = 2\n')
    (tmp_path / "child.toml").write_text('extends = "base.toml"\n[constants]\n"weight [ north ]" = 3\n')
    ds = sdvag.run(tmp_path / "child.toml")
    assert float(ds["Firms[North]"][-1]) == pytest.approx(10 * 1.15 ** 8, rel=1e-12)  # weight 3


@pytest.mark.parametrize("setting, message", [
    ("Weight[West]=2", "'Weight' has no element [West] over Region (its elements: Weight[North], Weight[South])"),
    ("Weight[North,South]=2", "'Weight' has no element [North, South] over Region (its elements: "
                              "Weight[North], Weight[South])"),
    ("Base Rate[North]=0.2", "'Base Rate' is not an array: name it without [North]"),
    ("Firms[North]=2", "'Firms[North]' is a stock, not a constant"),
    ("Entry[South]=2", "'Entry[South]' is a flow, not a constant"),
    ("Wieght[North]=2", "unknown variable 'Wieght' in regions.xmile (did you mean 'Weight'?)"),
    ("Weight=2", "'Weight' is an array (over Region): sdvag changes only variables with a single value "
                 "or one element, such as 'Weight[North]' (or edit the array in the model)"),
])
def test_refusals_name_the_element_in_one_line(setting, message, capsys):
    assert main(["run", str(REGIONS), "--set", setting]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: --set: {setting}: {message}"]


def test_refusals_in_a_scenario_file(grid, tmp_path):
    scenario = tmp_path / "bad.toml"
    scenario.write_text(
        f'model = "{grid.as_posix()}"\n[constants]\n"Rate[North]" = 0.2\n"Rate[North,Farm]" = 3\n'
        f'"Mixed[North]" = 2\n"Rate[South,Farm]" = 0.2\n"rate[south, farm]" = 0.3\n'
        f'[[policies]]\nvariable = "Rate[South,Factory]"\nat = 1\nto = 0.5\n')
    with pytest.raises(SdvagError) as caught:
        sdvag.run(scenario)
    assert str(caught.value).splitlines() == [f"{scenario}: {line}" for line in (
        'constants."Rate[North]": \'Rate\' has no element [North] over Region, Sector (its elements: '
        'Rate[North,Farm], Rate[North,Factory], Rate[South,Farm], Rate[South,Factory])',
        'constants."Rate[North,Farm]": 3 is outside the range of \'Rate[North,Farm]\' [0, 1] (allow it '
        'with --allow-out-of-range or `allow_out_of_range = true` in the scenario)',
        'constants."Mixed[North]": \'Mixed[North]\': sdvag sets an element by giving the whole array, '
        'and other elements of \'Mixed\' are not numbers (edit the array in the model)',
        'constants."rate[south, farm]": \'Rate[South,Farm]\' is already set as \'Rate[South,Farm]\': '
        'one value per variable',
        'policies[0].variable: \'Rate[South,Factory]\' is one element of an array: only constants '
        '([constants], --set) can be set element by element')]


def test_an_element_of_an_array_with_a_policy_is_refused(grid, tmp_path):
    """The policy makes Rate a function of time: a value for one element would replace it."""
    scenario = tmp_path / "policy.toml"
    scenario.write_text(f'model = "{grid.as_posix()}"\n[constants]\n"Rate[North,Farm]" = 0.2\n'
                        f'[[policies]]\nvariable = "Rate"\nat = 1\nto = 0.5\n')
    with pytest.raises(SdvagError) as caught:
        sdvag.run(scenario)
    assert str(caught.value).splitlines() == [
        f"{scenario}: constants.\"Rate[North,Farm]\": 'Rate' is a time-series input or has a policy: its "
        f"elements cannot also be set"]
    (tmp_path / "policy_only.toml").write_text(f'model = "{grid.as_posix()}"\n'
                                               f'[[policies]]\nvariable = "Rate"\nat = 1\nto = 0.5\n')
    with pytest.raises(SdvagError, match=r"'Rate\[North,Farm\]' is a time-series input or a policy in "):
        sdvag.sensitivity(tmp_path / "policy_only.toml", ["Rate[North,Farm]", "Rate[South,Farm]"], samples=4)


def test_vensim_refusals(capsys):
    assert main(["run", str(DECAY), "--set", "Weight[West]=2"]) == 2
    assert main(["run", str(DECAY), "--set", "Weighted Stock[North]=2"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --set: Weight[West]=2: 'Weight' has no element [West] over Region (its elements: "
        "Weight[North], Weight[South], Weight[East])",
        "error: --set: Weighted Stock[North]=2: 'Weighted Stock[North]' is an auxiliary, not a constant"]


def test_knockout_refuses_an_element_in_one_line(capsys):
    assert main(["knockout", str(REGIONS), "--freeze", "Weight[North]"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: freeze 'Weight[North]': a knock-out cuts whole variables, not one element of an array "
        "(name 'Weight')"]


def test_exported_scenario_writes_the_element_into_the_model(grid, tmp_path):
    """export --to xmile bakes the element into an apply-to-all array, written element by
    element; the exported model alone gives the scenario's run."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(f'model = "{grid.as_posix()}"\n[constants]\n"Rate[North,Factory]" = 0.3\n')
    out = export_xmile(scenario, tmp_path / "baked.xmile")
    ds = sdvag.run(out)
    assert float(ds["Output[North,Factory]"][-1]) == pytest.approx(grown(0.3), rel=1e-12)
    assert float(ds["Output[South,Factory]"][-1]) == pytest.approx(grown(0.1), rel=1e-12)


def test_sensitivity_varies_each_element_as_its_own_parameter(grid, tmp_path):
    """Two elements of one array varied at once (one over the model's <range> of Rate, one
    over the spec's bounds), each element's output following its own parameter."""
    spec = tmp_path / "sens.toml"
    spec.write_text(f'scenario = "{grid.as_posix()}"\ndesign = "latin"\nindices = false\nsamples = 4\n'
                    f'seed = 3\noutputs = ["Output[North,Farm]", "Output[South, Factory]"]\nyears = [2]\n'
                    f'[parameters]\n"Rate[North,Farm]" = {{}}\n'
                    f'"Rate[South,Factory]" = {{ min = 0.2, max = 0.3 }}\n')
    data = analyse(load_spec(spec), workers=1).data
    north = data["parameter_values"].sel(parameter="Rate[North,Farm]").to_numpy()
    south = data["parameter_values"].sel(parameter="Rate[South,Factory]").to_numpy()
    assert ((0 <= north) & (north <= 1)).all() and ((0.2 <= south) & (south <= 0.3)).all()
    assert len(set(north.round(9))) == 4  # four distinct draws
    np.testing.assert_allclose(data["Output[North,Farm]"].sel(time=2).to_numpy(), grown(north), rtol=1e-12)
    np.testing.assert_allclose(data["Output[South,Factory]"].sel(time=2).to_numpy(), grown(south), rtol=1e-12)


def test_sensitivity_of_an_element_of_a_vensim_array():
    """Weighted Stock[East] = Weight[East] * Stock, the stock decaying at 1 / Lifetime."""
    data = sdvag.sensitivity(DECAY, {"weight[east]": {"min": 1, "max": 5}, "Lifetime": {}}, samples=4,
                             outputs=["Weighted Stock[East]"], years=[8], indices=False, design="latin",
                             workers=1).data
    weight = data["parameter_values"].sel(parameter="Weight[East]").to_numpy()
    lifetime = data["parameter_values"].sel(parameter="Lifetime").to_numpy()
    np.testing.assert_allclose(data["Weighted Stock[East]"].sel(time=8).to_numpy(),
                               weight * 100 * (1 - 0.5 / lifetime) ** 16, rtol=1e-12)


def test_sensitivity_refuses_an_array_element_that_is_not_a_constant(grid):
    with pytest.raises(SdvagError, match=r"parameters.\"Output\[North,Farm\]\": 'Output\[North,Farm\]' "
                                         r"is a stock, not a constant"):
        sdvag.sensitivity(grid, ["Output[North,Farm]", "Rate[North,Farm]"], samples=4)


def test_local_calibration_recovers_one_element(grid, tmp_path):
    """Observations of Output[South, Factory] made by the model with that element's rate at
    0.25 (the rest at 0.1, and Output[North,Farm] observed too, to show the other elements keep
    their value): the local fit from 0.1 finds 0.25."""
    truth = sdvag.run(grid, set={"Rate[South,Factory]": 0.25})
    rows = [f"{series},{t:g},{float(truth[column].sel(time=t))!r},,point:{t:g}\n"
            for series, column in (("sf", "Output[South,Factory]"), ("nf", "Output[North,Farm]"))
            for t in (1, 1.5, 2)]
    (tmp_path / "obs.csv").write_text("series,year,value,unit,timing\n" + "".join(rows))
    (tmp_path / "cal.toml").write_text(
        f'scenario = "{grid.as_posix()}"\nname = "cal"\nmethod = "local"\nseed = 1\ndata = "obs.csv"\n'
        f'[[parameters]]\nname = "rate[south,factory]"\n'
        f'[[targets]]\nseries = "sf"\nvariable = "Output[South, Factory]"\n'
        f'[[targets]]\nseries = "nf"\nvariable = "Output[North,Farm]"\n')
    result = sdvag.calibrate(tmp_path / "cal.toml", workers=1, out=tmp_path / "out")
    assert result.x == {"Rate[South,Factory]": pytest.approx(0.25, rel=1e-6)}
    calibrated = sdvag.run(tmp_path / "out" / "cal.toml")
    assert float(calibrated["Output[South,Factory]"][-1]) == pytest.approx(grown(0.25), rel=1e-6)
    assert float(calibrated["Output[North,Farm]"][-1]) == pytest.approx(grown(0.1), rel=1e-12)
