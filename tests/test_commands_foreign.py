"""Every command that takes a model or a scenario, on a Vensim .mdl and on an arrayed XMILE
model: it works, or it refuses in one line with exit status 2 or 3, never a traceback; and what
works on them agrees with closed forms (Euler steps of exponential decay and growth)."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sdvag.cli.main import main

from conftest import FIXTURES, write_model

VENSIM = FIXTURES / "commands" / "decay.mdl"      # Stock drained by Stock / Lifetime; Weight[Region]
ARRAYED = FIXTURES / "commands" / "regions.xmile"  # Firms[Region] growing at Base Rate * Weight[Region]
CONSTANT = {VENSIM: "Lifetime", ARRAYED: "Base Rate"}
OUTPUT = {VENSIM: "Stock", ARRAYED: "Firms"}


def _specs(model, folder):
    """A scenario, a sensitivity spec and a calibration spec (with its observed series) for `model`."""
    constant, output = CONSTANT[model], OUTPUT[model]
    value = {"Lifetime": 5.0, "Base Rate": 0.2}[constant]
    (folder / "s.toml").write_text(f'model = "{model.as_posix()}"\ntitle = "t"\noutputs = ["{output}"]\n'
                                   f'[constants]\n"{constant}" = {value}\n')
    (folder / "sens.toml").write_text(
        f'scenario = "s.toml"\ntitle = "t"\ndesign = "latin"\nindices = false\nsamples = 4\nseed = 1\n'
        f'outputs = ["{output}"]\nyears = [4]\n[parameters]\n"{constant}" = {{}}\n')
    target = output if model == VENSIM else "Total Firms"
    (folder / "obs.csv").write_text("series,year,value,unit,timing\n" + "".join(
        f"obs,{t},{v},,point:{t}\n" for t, v in ((2, 70), (4, 50))))
    (folder / "cal.toml").write_text(
        f'scenario = "s.toml"\ntitle = "c"\nname = "cal"\nmethod = "local"\nseed = 1\ndata = "obs.csv"\n'
        f'[options]\nmax_runs = 8\n[[parameters]]\nname = "{constant}"\n'
        f'[[targets]]\nseries = "obs"\nvariable = "{target}"\nfactor = 1\n')


def _commands(model, folder):
    constant = CONSTANT[model]
    scenario = folder / "s.toml"
    return {
        "describe": ["describe", model],
        "describe one": ["describe", model, OUTPUT[model]],
        "run": ["run", model, "--out", folder / "run"],
        "run scenario": ["run", scenario, "--set", f"{constant}=3" if model == VENSIM else f"{constant}=0.3"],
        "run outputs": ["run", model, "--outputs", OUTPUT[model]],
        "compare": ["compare", model, scenario, "--out", folder / "compare"],
        "check": ["check", model],
        "check scenario": ["check", scenario, "--skip", "extreme"],
        "loops": ["loops", model, "--out", folder / "loops"],
        "loops scenario": ["loops", scenario],
        "knockout": ["knockout", model, "--freeze", constant, "--out", folder / "knockout"],
        "diagram": ["diagram", model, "--out", folder / "d.svg"],
        "export mdl": ["export", model, "--to", "mdl", "--out", folder / "e.mdl"],
        "export xmile": ["export", scenario, "--to", "xmile", "--out", folder / "e.xmile"],
        "sensitivity": ["sensitivity", folder / "sens.toml", "--workers", "1", "--out", folder / "sens"],
        "calibrate": ["calibrate", folder / "cal.toml", "--workers", "1", "--out", folder / "cal"],
    }


# What each command does on each fixture: 0 works, 1 a check that found failures (both fixtures
# step dt at 6-7% integration error, on purpose: see test_integration_check_judges_arrays...),
# 2 bad input (no <views> to draw; a .mdl to convert to .mdl), 3 refused.
EXPECTED = {
    VENSIM: {"loops scenario": 3, "knockout": 3, "diagram": 3, "export mdl": 2, "export xmile": 3,
             "check": 1, "check scenario": 1},
    ARRAYED: {"diagram": 2, "check": 1, "check scenario": 1, "sensitivity": 2, "export mdl": 3},
}


@pytest.mark.parametrize("model", [VENSIM, ARRAYED], ids=["mdl", "arrayed-xmile"])
def test_every_command_works_or_refuses_in_one_line(model, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _specs(model, tmp_path)
    statuses = {}
    for label, argv in _commands(model, tmp_path).items():
        status = main([str(a) for a in argv])  # an unexpected exception fails the test here
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        statuses[label] = status
        if status in (2, 3):
            assert len(errors) == 1, (label, err)
        else:
            assert not errors, (label, err)
    expected = {label: EXPECTED[model].get(label, 0) for label in statuses}
    assert statuses == expected


def test_vensim_refusals_name_the_command_and_the_reason(tmp_path, capsys):
    assert main(["knockout", str(VENSIM), "--freeze", "Lifetime"]) == 3
    assert "cannot cut links, freeze variables or cut loops for Vensim models" in capsys.readouterr().err
    assert main(["diagram", str(VENSIM), "--out", str(tmp_path / "d.png")]) == 3
    assert "does not read Vensim's sketch" in capsys.readouterr().err
    assert main(["loops", str(VENSIM), "--set", "Lifetime=5"]) == 3
    assert "cannot analyse the loops of a scenario (or --set) for Vensim models" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_loops_of_a_vensim_model_find_its_one_balancing_loop():
    import sdvag
    pytest.importorskip("simlin")
    result = sdvag.loops(VENSIM)
    assert len(result.loops) == 1
    loop = result.loops.iloc[0]
    assert loop["polarity"] == "B" and set(loop["variables"]) == {"Stock", "Outflow"}
    # the run analysed is sdvag's (PySD's) run of the .mdl: Euler steps of dS/dt = -S / 4
    np.testing.assert_allclose(result.run["Stock"].sel(time=8.0), 100 * (1 - 0.5 / 4) ** 16, rtol=1e-12)


def test_integration_check_judges_arrays_element_by_element():
    """Halving dt changes Euler growth at rate r over 4 years from (1 + r/2)^8 to (1 + r/4)^16."""
    from sdvag.analysis.checks import integration_error
    from sdvag.simulation.scenario import load_scenario
    from sdvag.simulation.simulate import Simulator
    scenario = load_scenario(ARRAYED)
    changes = integration_error(Simulator.for_scenario(scenario), scenario)
    assert set(changes) == {"Firms[North]", "Firms[South]"}
    for element, rate in (("North", 0.1), ("South", 0.4)):
        coarse, fine = (1 + rate / 2) ** 8, (1 + rate / 4) ** 16
        assert changes[f"Firms[{element}]"] == pytest.approx(abs(coarse - fine) / fine, rel=1e-9)


def test_run_reports_an_array_output_by_element(tmp_path, capsys):
    assert main(["run", str(ARRAYED), "--outputs", "Firms", "--out", str(tmp_path / "out")]) == 0
    table = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[-1] for line in table.splitlines() if line.startswith("Firms[")}
    assert float(rows["Firms[North]"]) == pytest.approx(10 * 1.05 ** 8, abs=0.01)
    assert float(rows["Firms[South]"]) == pytest.approx(10 * 1.2 ** 8, abs=0.01)
    assert len(list((tmp_path / "out").glob("*.png"))) == 2  # a plot per element


def test_comparison_of_runs_of_different_lengths_leaves_the_shorter_blank(capsys):
    assert main(["compare", str(ARRAYED), str(VENSIM), "--years", "0,4,8"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    north = next(r for r in rows if r[0] == "Firms[North]")
    stock = next(r for r in rows if r[0] == "Stock")
    assert north[-1] == "-" and float(north[-2]) == pytest.approx(10 * 1.05 ** 8, abs=0.01)
    assert float(stock[-1]) == pytest.approx(100 * (1 - 0.5 / 4) ** 16, abs=0.01)


def test_calibration_of_a_vensim_model_recovers_the_lifetime(tmp_path):
    """Observations made from the Euler closed form with Lifetime 5: the fit finds 5."""
    import sdvag
    stock = {t: 100 * (1 - 0.5 / 5) ** (2 * t) for t in (2, 4, 6)}
    (tmp_path / "obs.csv").write_text("series,year,value,unit,timing\n" + "".join(
        f"obs,{t},{v!r},,point:{t}\n" for t, v in stock.items()))
    (tmp_path / "cal.toml").write_text(
        f'scenario = "{VENSIM.as_posix()}"\ntitle = "c"\nname = "cal"\nmethod = "local"\nseed = 1\n'
        f'data = "obs.csv"\n[[parameters]]\nname = "Lifetime"\n'
        f'[[targets]]\nseries = "obs"\nvariable = "Stock"\nfactor = 1\n')
    result = sdvag.calibrate(tmp_path / "cal.toml", workers=1)
    assert result.x["Lifetime"] == pytest.approx(5.0, rel=1e-4)


def test_explorer_plots_array_elements_and_refuses_their_bands_in_one_line():
    from sdvag.errors import SdvagError
    from sdvag.explorer.session import Session
    session = Session(ARRAYED)
    assert session.finals() == pytest.approx({"Firms[North]": 10 * 1.05 ** 8, "Firms[South]": 10 * 1.2 ** 8})
    with pytest.raises(SdvagError, match="^Monte Carlo bands are drawn for outputs with a single value") as err:
        session.band(["Base Rate"], runs=4)
    assert "\n" not in str(err.value)


def test_loops_of_a_model_without_feedback_write_the_tables_without_a_plot(tmp_path, capsys):
    pytest.importorskip("simlin")
    model = write_model(tmp_path / "filling.xmile", '<stock name="Level"><eqn>0</eqn><inflow>Filling</inflow></stock>'
                                                    '<flow name="Filling"><eqn>2</eqn></flow>', stop=2, dt=0.5)
    assert main(["loops", str(model), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.startswith("0 feedback loops in filling")
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == [
        "dominance.csv", "dominance_by_stage.csv", "loop_list.csv", "loops.csv"]


def test_strict_check_of_a_vensim_model_asks_nothing_vensim_cannot_give(capsys):
    """No <views> diagram and no declared unit names: Vensim has neither, so neither fails."""
    assert main(["check", str(VENSIM), "--strict", "--skip", "extreme,integration"]) == 0
    out = capsys.readouterr().out
    assert "WARN  decay.mdl  diagram: not checked: sdvag does not read Vensim's sketch" in out
    assert "FAIL" not in out


def test_extreme_check_finds_an_array_element_going_negative(tmp_path):
    """Level[r] = 10 - Drain * Weight[r] * t: at Drain = 1 both elements stay at or above 2 by
    t = 4; at the top of Drain's range (3) only South (weight 2) goes negative (North ends at 4);
    starting from 0, both do."""
    from sdvag.analysis.checks import check
    dims = '<dimensions><dim name="Region"><elem name="North"/><elem name="South"/></dim></dimensions>'
    model = write_model(tmp_path / "drain.xmile", """
<aux name="Drain"><eqn>1</eqn><range min="0" max="3"/></aux>
<aux name="Weight"><dimensions><dim name="Region"/></dimensions>
  <element subscript="North"><eqn>0.5</eqn></element><element subscript="South"><eqn>2</eqn></element></aux>
<stock name="Level"><dimensions><dim name="Region"/></dimensions><eqn>10</eqn><outflow>Emptying</outflow></stock>
<flow name="Emptying"><dimensions><dim name="Region"/></dimensions><eqn>Drain * Weight[Region]</eqn></flow>""",
                        stop=4, dt=0.5, before_model=dims)
    findings = [f for f in check(model, only=["extreme"]) if f.check == "extreme"]
    assert [(f.status, f.message) for f in findings] == [
        ("fail", "'Drain' = 3: negative values in 'Level[South]'"),
        ("fail", "every stock starting at 0: negative values in 'Level[North]', 'Level[South]'")]


@pytest.mark.parametrize("model, array", [(VENSIM, "Weight"), (ARRAYED, "Weight")], ids=["mdl", "arrayed-xmile"])
def test_setting_an_array_is_refused_in_one_line(model, array, capsys):
    assert main(["run", str(model), "--set", f"{array}=2"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: --set: {array}=2: '{array}' is an array (over Region): sdvag changes only variables "
        f"with a single value or one element, such as '{array}[North]' (or edit the array in the model)"]


def test_describe_a_vensim_variable_gives_what_it_uses_from_pysd(capsys):
    """Stock = INTEG(-Outflow, Initial Stock); Outflow = Stock / Lifetime; Weighted Stock uses both."""
    assert main(["describe", str(VENSIM), "Stock"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  uses:      Initial Stock, Outflow" in lines and "  used by:   Outflow, Weighted Stock" in lines
    assert not any("d/dt = 0" in line for line in lines)  # a .mdl's flows are not in sdvag's reading
    assert main(["describe", str(VENSIM), "Lifetime"]) == 0
    assert "  used by:   Outflow" in capsys.readouterr().out.splitlines()
