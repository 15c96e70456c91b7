"""`sdvag check`: each check passes a sound model and fails a deliberately broken one, naming
the variable concerned."""
import shutil

import pytest

from sdvag.analysis import checks
from sdvag.analysis.checks import check

from sdvag.errors import SdvagError

from conftest import FIXTURES, SHARED, cli, write_model

COMPLETE = (FIXTURES / "complete.xmile").read_text()
SCHEMA = SHARED / "xmile" / "xmile-v1.0.xsd"


def broken(tmp_path, old, new, count=1):
    assert COMPLETE.count(old) >= 1, old
    path = tmp_path / "broken.xmile"
    path.write_text(COMPLETE.replace(old, new, count))
    return path


def failures(path, only, **kwargs):
    return [f for f in check(path, only=only, **kwargs) if f.status == "fail"]


def test_the_complete_fixture_passes_every_check():
    schema = SCHEMA if SCHEMA.exists() else None
    findings = check(FIXTURES / "complete.xmile", schema=schema, engine=True)
    assert [f for f in findings if f.status != "pass" and f.check != "engine"] == []
    checks = {f.check for f in findings}
    assert {"support", "structure", "diagram", "documentation", "units", "extreme", "integration"} <= checks


@pytest.mark.skipif(not SCHEMA.exists(), reason="the official XMILE schema is in ../shared/xmile (absent here)")
def test_schema_failure_names_the_variable(tmp_path):
    path = broken(tmp_path, "<doc>Firms the location can hold.</doc>",
                  "<doc>Firms the location can hold.</doc><capacity_note>x</capacity_note>")
    [f] = failures(path, ["schema"], schema=SCHEMA)
    assert "'Capacity'" in f.message and "capacity_note" in f.message


@pytest.mark.parametrize("old,new,expected", [
    ("Firms / Firm_Lifetime", "Firms / Firm_Lifespan", "'Exit' uses 'firm lifespan', which is not defined"),
    ("<outflow>Exit</outflow>", "<outflow>Capacity</outflow>", "stock 'Firms' names flow 'Capacity'"),
])
def test_structure_failures_name_the_variable(tmp_path, old, new, expected):
    messages = [f.message for f in failures(broken(tmp_path, old, new), ["structure"])]
    assert any(expected in m for m in messages), messages


@pytest.mark.parametrize("old,new,expected", [
    ('<aux name="Capacity" x="220" y="320"/>', "", "no positioned view element: 'Capacity'"),
    ('<pt x="277.5" y="200"/>', '<pt x="200" y="260"/>', "not drawn to or from their stock: 'Entry -> Firms'"),
    ('<connector uid="5" angle="120"><from>Firm_Lifetime</from><to>Exit</to></connector>', "",
     "no connector: 'Firm Lifetime -> Exit'"),
])
def test_diagram_failures_name_the_variable(tmp_path, old, new, expected):
    messages = [f.message for f in failures(broken(tmp_path, old, new), ["diagram"], strict=True)]
    assert any(expected in m for m in messages), messages


@pytest.mark.parametrize("old,new,expected", [
    ("<doc>First-order exit.</doc>", "", "no <doc>: 'Exit'"),
    ("<units>year</units>", "", "no <units>: 'Firm Lifetime'"),
    ('<range min="10" max="5000"/>', "", "constants with no <range>: 'Capacity'"),
])
def test_documentation_failures_name_the_variable(tmp_path, old, new, expected):
    path = broken(tmp_path, old, new)
    [f] = failures(path, ["documentation"], strict=True)
    assert expected in f.message
    [w] = [f for f in check(path, only=["documentation"]) if f.status != "pass"]  # a user's model: a warning
    assert w.status == "warn" and expected in w.message


@pytest.mark.parametrize("old,new,expected", [
    ("<units>firms/year</units>", "<units>firms</units>",
     "'Firms': flow 'Exit' is firm: times year it gives firm * year, the stock is firm"),
    ("Firms / Firm_Lifetime", "Firms / Firm_Lifetime + Entry_Rate",
     "'Exit': the terms of '+': firm/year and 1/year do not match"),
    ("<units>1/year</units>", "<units>1/decade</units>", "not declared in <model_units>: 'decade'"),
])
def test_units_failures_name_the_variable_and_both_units(tmp_path, old, new, expected):
    messages = [f.message for f in failures(broken(tmp_path, old, new), ["units"], strict=True)]
    assert any(expected in m for m in messages), messages


def test_extreme_conditions_catch_infinity_and_negative_stocks(tmp_path):
    # lifetime allowed down to 0: division by zero at the end of the range
    path = broken(tmp_path, '<range min="4" max="40"/>', '<range min="0" max="40"/>')
    [f] = failures(path, ["extreme"])
    assert "'Firm Lifetime' = 0" in f.message and "'Exit'" in f.message
    # an exit faster than the time step drives the stock negative (Euler overshoot)
    path = broken(tmp_path, '<range min="4" max="40"/>', '<range min="0.02" max="40"/>')
    messages = [f.message for f in failures(path, ["extreme"])]
    assert "'Firm Lifetime' = 0.02: negative values in 'Firms'" in messages


def test_integration_error_names_the_output(tmp_path):
    # a time step of a year, stopped in the middle of the logistic growth: Euler is far from converged
    path = broken(tmp_path, "<dt>0.0625</dt>", "<dt>1</dt>")
    path.write_text(path.read_text().replace("<stop>30</stop>", "<stop>8</stop>"))
    [f] = failures(path, ["integration"])
    assert "halving dt changes the final 'Firms' by 11.61%" in f.message


BASS = """
<stock name="Potential Adopters"><eqn>1000000</eqn><outflow>Adoption</outflow><units>people</units></stock>
<stock name="Adopters"><eqn>0</eqn><inflow>Adoption</inflow><units>persons</units></stock>
<flow name="Adoption"><eqn>(Innovation + Imitation * Adopters / Total_Market) * Potential_Adopters</eqn><units>person/year</units></flow>
<aux name="Total Market"><eqn>1000000</eqn><units>People</units></aux>
<aux name="Innovation"><eqn>0.03</eqn><units>1/years</units></aux>
<aux name="Imitation"><eqn>0.6</eqn><units>1/yr</units></aux>
"""


def test_bass_model_ending_near_zero_passes_with_warnings_only(tmp_path, monkeypatch):
    """A handwritten Bass model: no docs, ranges, declared units or diagram (warnings only);
    person, persons and People are one unit, years and yr the time unit; Potential Adopters ends
    near zero, where halving dt changes much of its tiny final value but not on its scale."""
    path = write_model(tmp_path / "bass.xmile", BASS, stop=40, dt=0.25)
    findings = check(path)
    assert [f.message for f in findings if f.status == "fail"] == []
    assert {f.check for f in findings if f.status == "warn"} == {"documentation", "units", "diagram"}
    assert any(f.check == "units" and f.status == "pass" for f in findings)  # consistent despite spellings
    assert {f.check for f in check(path, strict=True) if f.status == "fail"} == {"documentation", "units", "diagram"}
    monkeypatch.setattr(checks, "INTEGRATION_FLOOR", 0.0)  # judged on the final value alone, it fails
    [f] = failures(path, ["integration"])
    assert "'Potential Adopters'" in f.message


def test_a_different_person_unit_is_still_a_mismatch(tmp_path):
    path = write_model(tmp_path / "bass.xmile", BASS.replace("<units>persons</units>", "<units>firms</units>"))
    messages = [f.message for f in failures(path, ["units"])]
    assert any("'Adopters'" in m and "person/year" in m for m in messages), messages


def test_only_and_skip_choose_checks(tmp_path):
    path = write_model(tmp_path / "bass.xmile", BASS)
    assert {f.check for f in check(path, only=["units", "structure"])} == {"units", "structure"}
    assert "extreme" not in {f.check for f in check(path, skip=["extreme", "integration"])}
    with pytest.raises(SdvagError, match="unknown check 'unit'.*did you mean 'units'"):
        check(path, only=["unit"])


def test_engine_check_names_the_variables_that_differ(tmp_path):
    pytest.importorskip("simlin")
    # PySD's DELAY is a pipeline delay (as XMILE says); Simlin's differs: the check must see it
    path = broken(tmp_path, "<eqn>Firms / Firm_Lifetime</eqn>", "<eqn>DELAY(Entry, Firm_Lifetime, 0)</eqn>")
    [f] = failures(path, ["engine"])
    assert "'Exit'" in f.message


def test_cli_check_exits_1_on_failure_and_prints_one_line_per_check(tmp_path):
    path = broken(tmp_path, "<doc>First-order exit.</doc>", "")
    proc = cli("check", path, "--skip", "extreme,integration")
    assert proc.returncode == 0 and "WARN  broken.xmile  documentation: no <doc>: 'Exit'" in proc.stdout
    proc = cli("check", path, "--strict", "--only", "documentation")
    assert proc.returncode == 1 and "units" not in proc.stdout
    assert "FAIL  broken.xmile  documentation: no <doc>: 'Exit'" in proc.stdout
    assert cli("check", FIXTURES / "complete.xmile", "--strict").returncode == 0


def test_check_on_unsupported_model_reports_instead_of_crashing(tmp_path):
    path = broken(tmp_path, "<eqn>Firms / Firm_Lifetime</eqn>", "<eqn>HISTORY(Firms, 0)</eqn>")
    proc = cli("check", path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "support: cannot simulate the builtin HISTORY() in 'Exit'" in proc.stdout


# Models of other people's kinds, each written here: a module, an array, a missing equation, an
# undefined name, a graphical function without points, a stock without flows, a legacy layout.
ODD_MODELS = {
    "module": '<module name="Sub"/><aux name="A"><eqn>1</eqn></aux>',
    "array": '<aux name="A"><dimensions><dim name="Region"/></dimensions><eqn>1</eqn></aux>',
    "missing_equation": '<aux name="A"/><aux name="B"><eqn>A + 1</eqn></aux>',
    "undefined_name": '<aux name="A"><eqn>Nowhere * 2</eqn></aux>',
    "empty_graphical": '<aux name="A"><eqn>TIME</eqn><gf><xscale min="0" max="1"/><ypts></ypts></gf></aux>',
    "bare_stock": '<stock name="S"><eqn>10</eqn></stock>',
    "unknown_builtin": '<aux name="A"><eqn>FANCY(TIME)</eqn></aux>',
}


@pytest.mark.parametrize("kind", sorted(ODD_MODELS))
def test_check_reports_on_odd_models_without_crashing(tmp_path, kind):
    """`check` judges any readable model: every finding is pass, warn or fail with a message,
    or the model is refused with sdvag's own error (never a Python exception)."""
    path = write_model(tmp_path / f"{kind}.xmile", ODD_MODELS[kind])
    try:
        findings = check(path)
    except SdvagError as exc:
        assert str(exc), kind
        return
    assert {f.check for f in findings} >= {"support", "structure", "documentation"}, kind
    assert all(f.status in ("pass", "warn", "fail") and f.message for f in findings), kind
    assert any(f.status != "pass" for f in findings), kind


def test_spaces_in_a_name_get_a_hint_not_just_an_undefined_name(tmp_path):
    path = write_model(tmp_path / "bass.xmile", BASS.replace("Total_Market", "Total Market"))
    [f] = failures(path, ["structure"])
    assert "write `Total_Market` or quote the name" in f.message and f.variables == ("Adoption",)


def test_a_scenario_is_checked_with_its_own_values_and_key_outputs(tmp_path):
    shutil.copy(FIXTURES / "adoption.xmile", tmp_path)
    scenario = tmp_path / "fast.toml"
    scenario.write_text('model = "adoption.xmile"\noutputs = ["Adoption"]\n[constants]\n"Growth Rate" = 1.9\n')
    [f] = check(scenario, only=["integration"])
    assert f.model == "fast.toml" and f.status == "pass" and "('Adoption')" in f.message
    scenario.write_text(scenario.read_text().replace("1.9", "3"))
    with pytest.raises(SdvagError, match="outside the range of 'Growth Rate'"):
        check(scenario, only=["integration"])


def test_a_stella_sir_model_without_docs_or_ranges_passes_with_warnings_only():
    """A user's model (tests/fixtures/sir_stella.stmx): Stella does not require <doc>, <range> or
    declared units, and reads people, persons, person and People as one unit, day and Days as one."""
    findings = check(FIXTURES / "sir_stella.stmx")
    assert [f"{f.check}: {f.message}" for f in findings if f.status == "fail"] == []
    warned = {f.check for f in findings if f.status == "warn"}
    assert warned == {"documentation", "units"}
    assert any(f.check == "units" and f.status == "pass" for f in findings)
    assert {f.check for f in findings if f.status == "pass"} >= {"support", "structure", "diagram",
                                                                 "extreme", "integration"}
