"""Refusal of what PySD cannot simulate, and the builtins it is trusted with."""
import numpy as np
import pytest

import sdvag
from sdvag.errors import UnsupportedFeature
from sdvag.simulation.simulate import Simulator

from conftest import aux, cli, write_model

STOCK = '<stock name="S"><eqn>1</eqn><inflow>F</inflow></stock><flow name="F"><eqn>X</eqn></flow>'

UNSUPPORTED = {
    # name: (variables, extra model-file arguments, feature text, variable named)
    "conveyor": ('<stock name="Pipeline"><eqn>1</eqn><inflow>F</inflow><conveyor><len>2</len></conveyor></stock>'
                 '<flow name="F"><eqn>1</eqn></flow>', {}, "conveyors", "Pipeline"),
    "queue": ('<stock name="Waiting"><eqn>1</eqn><inflow>F</inflow><queue/></stock>'
              '<flow name="F"><eqn>1</eqn></flow>', {}, "queues", "Waiting"),
    "dimension by size": ('<aux name="Prices"><dimensions><dim name="Region"/></dimensions><eqn>1</eqn></aux>'
                          + aux("X", "1") + STOCK,
                          {"before_model": '<dimensions><dim name="Region" size="2"/></dimensions>'},
                          "the dimension 'Region' declared by its size alone", "Prices"),
    "arrayed delay over another dimension": (
        '<aux name="Lag"><dimensions><dim name="Region"/></dimensions><eqn>DELAY3(X, T[Sector])</eqn></aux>'
        '<aux name="T"><dimensions><dim name="Sector"/></dimensions><eqn>2</eqn></aux>' + aux("X", "1") + STOCK,
        {"before_model": '<dimensions><dim name="Region"><elem name="N"/><elem name="S"/></dim>'
                         '<dim name="Sector"><elem name="F"/><elem name="G"/></dim></dimensions>'},
        "DELAY3 with an argument over the dimension 'Sector'", "Lag"),
    "builtin": (aux("X", "HISTORY(S, 0)") + STOCK, {}, "the builtin HISTORY()", "X"),
    "self outside previous": (aux("X", "SELF + 1") + STOCK, {},
                              "this equation form (SELF outside the first argument of PREVIOUS)", "X"),
    "previous without initial value": (aux("X", "PREVIOUS(S)") + STOCK, {},
                                       "this equation form (PREVIOUS with 1 argument(s))", "X"),
    # PySD reads a pipeline's input after moving the other delays on: one DT of lag, not two
    "delay of a delay": (aux("X", "DELAY(DELAY(TIME, 1, 0), 1, 0)") + STOCK, {},
                         "a DELAY or PREVIOUS of a value that depends on another DELAY", "X"),
    "previous of a smoothed delay": (aux("Y", "DELAY3(TIME, 2)") + aux("Z", "Y * 2") + aux("X", "PREVIOUS(Z, 0)")
                                     + STOCK, {}, "a DELAY or PREVIOUS of a value that depends", "X"),
    "random": (aux("X", "NORMAL(0, 1, 7)") + STOCK, {}, "the random builtin NORMAL() (random streams", "X"),
    "mod after a product": (aux("X", "2 * TIME MOD 3") + STOCK, {}, "this equation form", "X"),
    "safe division after a division": (aux("X", "2 / TIME // 3") + STOCK, {}, "this equation form", "X"),
    "call of a converter without a graphical function": (
        aux("G", "TIME") + aux("X", "G(1.5)") + STOCK, {}, "a call of 'g' as a graphical function", "X"),
    # an initial equation (Vensim's ACTIVE INITIAL) PySD would ignore, used other than directly
    "initial equation through another variable": (
        '<aux name="T"><eqn>S * 2</eqn><init_eqn>5</init_eqn></aux>' + aux("X", "T + 1")
        + '<stock name="S"><eqn>X</eqn></stock>', {}, "an initial equation (<init_eqn>) used by a variable", "X"),
    "initial equation as a smoothing's start": (
        '<aux name="T"><eqn>S * 2</eqn><init_eqn>5</init_eqn></aux>' + aux("X", "SMTH1(T, 2)")
        + '<stock name="S"><eqn>T</eqn></stock>', {}, "an initial equation (<init_eqn>) used in a start value", "T"),
    "untranslated vensim call": (aux("X", "0{GET_DIRECT_DATA('x.csv',_',',_'A',_'B2')}") + STOCK, {},
                                 "GET DIRECT DATA (a Vensim function its converter left in a comment", "X"),
}


def test_rk4_is_refused_where_pysd_would_integrate_it_but_run_on_the_vectorised_engine(tmp_path):
    path = write_model(tmp_path / "rk4.xmile", aux("X", "1") + STOCK, method="RK4")
    with pytest.raises(UnsupportedFeature, match="integration method RK4"):
        Simulator.for_model(path)
    ds = sdvag.run(path)
    np.testing.assert_allclose(ds["S"], 1 + ds["time"], rtol=1e-12)


def test_macro_definition_is_refused(tmp_path):
    path = write_model(tmp_path / "macro.xmile", aux("X", "1") + STOCK)
    text = path.read_text().replace("</model>", '</model><macro name="DOUBLE"><parm>a</parm><eqn>2*a</eqn></macro>')
    path.write_text(text)
    with pytest.raises(UnsupportedFeature, match=r"macros in variable 'DOUBLE'"):
        sdvag.run(path)


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_feature_is_refused_naming_feature_and_variable(tmp_path, case):
    variables, options, feature, variable = UNSUPPORTED[case]
    path = write_model(tmp_path / f"{case}.xmile", variables, **options)
    with pytest.raises(UnsupportedFeature) as caught:
        sdvag.run(path)
    assert feature in str(caught.value)
    if variable:
        assert f"'{variable}'" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_cli_refusal_is_one_line_with_exit_status_3(tmp_path):
    path = write_model(tmp_path / "history.xmile", aux("X", "HISTORY(S, 0)") + STOCK)
    proc = cli("run", path)
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "HISTORY" in lines[0] and "'X'" in lines[0]


def test_model_pysd_cannot_parse_is_refused_not_crashed(tmp_path):
    # nested IF without parentheses: valid XMILE, but PySD's grammar rejects it
    path = write_model(tmp_path / "nested_if.xmile",
                       aux("X", "IF TIME < 3 THEN 0 ELSE IF TIME < 6 THEN 1 ELSE 2") + STOCK)
    proc = cli("run", path)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "equation text PySD's parser does not read" in lines[0] and "'X'" in lines[0]


def _series(tmp_path, eqn, stop=10, dt=0.25):
    path = write_model(tmp_path / "m.xmile", aux("X", eqn) + aux("A", "3") + STOCK, stop=stop, dt=dt)
    ds = sdvag.run(path)
    return ds["time"].to_numpy(), ds["X"].to_numpy()


# Closed forms of the builtins sdvag lets through (Euler, dt 0.25), checked against PySD.
def test_step_ramp_pulse_match_their_definitions(tmp_path):
    t, x = _series(tmp_path, "STEP(2, 3)")
    np.testing.assert_allclose(x, np.where(t >= 3, 2.0, 0.0))
    t, x = _series(tmp_path, "RAMP(2, 3, 6)")
    np.testing.assert_allclose(x, 2 * (np.clip(t, 3, 6) - 3))
    t, x = _series(tmp_path, "PULSE(2, 3, 2)")
    # XMILE PULSE: a volume of 2 delivered within one dt, at 3, 5, 7, 9
    expected = np.where((t >= 3) & (np.isclose((t - 3) % 2, 0)), 2 / 0.25, 0.0)
    np.testing.assert_allclose(x, expected)


def test_smth1_and_delay1_follow_the_euler_recursion(tmp_path):
    for fn in ("SMTH1", "DELAY1"):
        t, x = _series(tmp_path, f"{fn}(TIME, 2)")
        expected = [0.0]
        for ti in t[:-1]:
            expected.append(expected[-1] + 0.25 * (ti - expected[-1]) / 2)
        np.testing.assert_allclose(x, expected, rtol=1e-12, atol=1e-12)


def test_delay_is_a_pipeline_delay(tmp_path):
    t, x = _series(tmp_path, "DELAY(TIME, 2, 7)")
    np.testing.assert_allclose(x, np.where(t < 2, 7.0, t - 2), atol=1e-9)


def test_nth_order_builtins_equal_their_third_order_forms(tmp_path):
    for nth, third in (("SMTHN(TIME, 2, 3)", "SMTH3(TIME, 2)"), ("DELAYN(TIME, 2, 3)", "DELAY3(TIME, 2)")):
        np.testing.assert_allclose(_series(tmp_path, nth)[1], _series(tmp_path, third)[1], rtol=1e-12)


def test_graphical_function_uses_its_x_points_even_with_an_x_scale(tmp_path):
    # PySD alone would spread the y points evenly over the xscale, ignoring <xpts>
    gf = ('<gf><xscale min="0" max="10"/><yscale min="0" max="2"/>'
          '<xpts>0,1,10</xpts><ypts>0,1,2</ypts></gf>')
    path = write_model(tmp_path / "gf.xmile", aux("X", "TIME", gf) + STOCK, dt=1)
    ds = sdvag.run(path)
    t = ds["time"].to_numpy()
    np.testing.assert_allclose(ds["X"].to_numpy(), np.interp(t, [0, 1, 10], [0, 1, 2]))


def test_rk4_as_a_child_element_runs_with_rk4_too(tmp_path):
    # iThink 10 wrote <method>RK4</method> inside <sim_specs>; PySD alone would silently use Euler
    growth = aux("Rate", "0.5") + ('<stock name="S"><eqn>1</eqn><inflow>Growth</inflow></stock>'
                                   '<flow name="Growth"><eqn>Rate * S</eqn></flow>')
    attribute = write_model(tmp_path / "attribute.xmile", growth, method="RK4", stop=4, dt=0.5)
    element = write_model(tmp_path / "element.xmile", growth, stop=4, dt=0.5)
    element.write_text(element.read_text().replace('method="Euler" ', "").replace(
        "<start>", "<method>RK4</method><start>"))
    euler = write_model(tmp_path / "euler.xmile", growth, stop=4, dt=0.5)
    runs = [sdvag.run(p)["S"].to_numpy() for p in (attribute, element, euler)]
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-15)
    assert abs(runs[1][-1] - np.exp(2)) < abs(runs[2][-1] - np.exp(2))  # RK4, not Euler


def test_graphical_function_points_keep_full_precision(tmp_path):
    # PySD writes graphical-function points with numpy's 8-digit default; constants keep all
    gf = '<gf><xpts>0,20</xpts><ypts>0.123456789012345,0.5</ypts></gf>'
    path = write_model(tmp_path / "gf.xmile", aux("X", "0", gf) + STOCK)
    assert sdvag.run(path)["X"].values[0] == 0.123456789012345


@pytest.mark.parametrize("exc, feature", [
    (ValueError("Circular initialization...\nNot able to initialize the following objects:"),
     "circular initialisation"),
    (RecursionError("maximum recursion depth exceeded"), "a circular definition PySD cannot order"),
    (NotImplementedError("Not implemented function 'size'"), "the builtin SIZE()"),
])
def test_pysd_errors_become_the_feature_they_mean(exc, feature):
    from sdvag.model.pysd_errors import explain
    assert explain(exc)[0].startswith(feature)


def test_circular_initialisation_is_one_line_naming_it(tmp_path):
    stocks = ('<stock name="A"><eqn>B</eqn></stock><stock name="B"><eqn>A</eqn></stock>')
    proc = cli("run", write_model(tmp_path / "circular.xmile", stocks))
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "circular initialisation" in lines[0]


def test_words_before_a_call_are_one_builtin_name_but_keywords_are_not():
    from sdvag.model.support import references
    assert references("VECTOR SORT ORDER(a, 1)")[0] == ("vector sort order", True)
    assert references("IF TIME >= Start THEN (1) ELSE 0")[2:4] == [("start", False), ("then", True)]


def test_a_model_with_nothing_to_integrate_runs_whatever_its_method(tmp_path):
    # no stock, smoothing, delay or trend: RK4 and Euler compute the same, so PySD runs it
    # (sdvag's RK4 engine has no arrays)
    dims = {"before_model": '<dimensions><dim name="Region"><elem name="N"/><elem name="S"/></dim></dimensions>'}
    arrayed = '<aux name="X"><dimensions><dim name="Region"/></dimensions><eqn>2 * TIME + DT</eqn></aux>'
    ds = sdvag.run(write_model(tmp_path / "rk4_static.xmile", arrayed, method="RK4", **dims))
    for region in "NS":
        np.testing.assert_allclose(ds[f"X[{region}]"], 2 * ds["time"] + 0.25, rtol=1e-15)
    smoothed = arrayed + aux("Y", "SMTH1(X[N], 2)")
    with pytest.raises(UnsupportedFeature, match="(?i)integration method RK4 with arrays"):
        sdvag.run(write_model(tmp_path / "rk4_smoothed.xmile", smoothed, method="RK4", **dims))


def test_an_initial_equation_is_checked_like_any_equation(tmp_path):
    variables = '<aux name="T"><eqn>S * 2</eqn><init_eqn>2 * TIME MOD 3</init_eqn></aux><stock name="S"><eqn>T</eqn></stock>'
    with pytest.raises(UnsupportedFeature, match=r"this equation form .* in variable 'T'"):
        sdvag.run(write_model(tmp_path / "init.xmile", variables))
