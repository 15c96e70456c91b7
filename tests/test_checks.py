"""`sdvag check`: each check passes a sound model and fails a deliberately broken one, naming
the variable concerned."""
import pytest

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
    messages = [f.message for f in failures(broken(tmp_path, old, new), ["diagram"])]
    assert any(expected in m for m in messages), messages


@pytest.mark.parametrize("old,new,expected", [
    ("<doc>First-order exit.</doc>", "", "no <doc>: 'Exit'"),
    ("<units>year</units>", "", "no <units>: 'Firm Lifetime'"),
    ('<range min="10" max="5000"/>', "", "constants with no <range>: 'Capacity'"),
])
def test_documentation_failures_name_the_variable(tmp_path, old, new, expected):
    [f] = failures(broken(tmp_path, old, new), ["documentation"])
    assert expected in f.message


@pytest.mark.parametrize("old,new,expected", [
    ("<units>firms/year</units>", "<units>firms</units>",
     "'Firms': flow 'Exit' is firm: times year it gives firm * year, the stock is firm"),
    ("Firms / Firm_Lifetime", "Firms / Firm_Lifetime + Entry_Rate",
     "'Exit': the terms of '+': firm/year and 1/year do not match"),
    ("<units>1/year</units>", "<units>1/decade</units>", "not declared in <model_units>: 'decade'"),
])
def test_units_failures_name_the_variable_and_both_units(tmp_path, old, new, expected):
    messages = [f.message for f in failures(broken(tmp_path, old, new), ["units"])]
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
    # a lifetime of two time steps: Euler is far from converged
    path = broken(tmp_path, "<eqn>12</eqn>", "<eqn>0.125</eqn>")
    path.write_text(path.read_text().replace("<dt>0.0625</dt>", "<dt>0.1</dt>"))
    [f] = failures(path, ["integration"])
    assert "halving dt changes the final 'Firms'" in f.message


def test_engine_check_names_the_variables_that_differ(tmp_path):
    pytest.importorskip("simlin")
    # PySD's DELAY is a pipeline delay (as XMILE says); Simlin's differs: the check must see it
    path = broken(tmp_path, "<eqn>Firms / Firm_Lifetime</eqn>", "<eqn>DELAY(Entry, Firm_Lifetime, 0)</eqn>")
    [f] = failures(path, ["engine"])
    assert "'Exit'" in f.message


def test_cli_check_exits_1_on_failure_and_prints_one_line_per_check(tmp_path):
    path = broken(tmp_path, "<doc>First-order exit.</doc>", "")
    proc = cli("check", path)
    assert proc.returncode == 1
    assert "FAIL  broken.xmile  documentation: no <doc>: 'Exit'" in proc.stdout
    assert cli("check", FIXTURES / "complete.xmile").returncode == 0


def test_check_on_unsupported_model_reports_instead_of_crashing(tmp_path):
    path = broken(tmp_path, "<eqn>Firms / Firm_Lifetime</eqn>", "<eqn>PREVIOUS(Firms, 0)</eqn>")
    proc = cli("check", path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "support: cannot simulate the builtin PREVIOUS() in 'Exit'" in proc.stdout


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
