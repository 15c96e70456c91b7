"""Subscripted XMILE models: apply-to-all and per-element arrays and reductions, in closed form."""
import numpy as np
import pytest

import sdvag

from conftest import FIXTURES

RATES = {"North": 0.1, "South": 0.2, "East": 0.4}


@pytest.fixture(scope="module")
def run():
    return sdvag.run(FIXTURES / "foreign" / "arrays.xmile")


def test_each_element_grows_at_its_own_rate(run):
    t = run["time"].values
    for region, rate in RATES.items():
        for sector in ("Farm", "Factory"):
            # Euler, dt 0.5: F(t) = 10 (1 + 0.5 r)^(t / 0.5)
            np.testing.assert_allclose(run[f"Firms[{region},{sector}]"].values,
                                       10 * (1 + 0.5 * rate) ** (t / 0.5), rtol=1e-12)


def test_reductions_and_element_references(run):
    total = sum(run[f"Firms[{r},{s}]"].values for r in RATES for s in ("Farm", "Factory"))
    np.testing.assert_allclose(run["Total Firms"].values, total, rtol=1e-12)
    assert set(run["Largest Rate"].values) == {0.4}
    np.testing.assert_allclose(run["South Farms"].values, run["Firms[South,Farm]"].values)
    assert set(run["East Position"].values) == {3}  # Stella's Dimension.Element: its position
    for region, rate in RATES.items():
        np.testing.assert_allclose(run[f"Share[{region}]"].values, rate / 0.7, rtol=1e-12)


OUTPUT = {("North", "Farm"): 1, ("North", "Factory"): 2, ("South", "Farm"): 3,
          ("South", "Factory"): 4, ("East", "Farm"): 5, ("East", "Factory"): 6}
LAG = {"North": 1, "South": 2, "East": 4}


@pytest.fixture(scope="module")
def builtins_run():
    return sdvag.run(FIXTURES / "foreign" / "array_builtins.xmile")


def _at(run, name):
    return run[name].values[0]


def test_one_argument_array_builtins(builtins_run):
    run = builtins_run
    values = np.array(list(OUTPUT.values()), dtype=float)
    assert _at(run, "Mean Output") == pytest.approx(values.mean())
    for k, sector in enumerate(("Farm", "Factory")):
        column = [OUTPUT[(r, sector)] for r in RATES]
        assert _at(run, f"Sector Mean[{sector}]") == pytest.approx(np.mean(column))  # MEAN(x[*, B])
        assert _at(run, f"Sector Max[{sector}]") == max(column)  # MAX(x[*, B]): PySD's VMAX
        # x[*:Sub]: the elements of the subrange Coastal (North, East) only
        assert _at(run, f"Coastal Output[{sector}]") == OUTPUT[("North", sector)] + OUTPUT[("East", sector)]
    for region in RATES:
        assert _at(run, f"Region Min[{region}]") == min(OUTPUT[(region, s)] for s in ("Farm", "Factory"))
    assert _at(run, "Whole Sum") == values.sum()  # SUM(x) of a whole array, not x itself
    assert (_at(run, "Region Count"), _at(run, "Cell Count")) == (3, 6)  # SIZE
    weighted = np.mean([v * RATES[r] for (r, _), v in OUTPUT.items()])
    assert _at(run, "Weighted Mean") == pytest.approx(weighted, rel=1e-12)


def test_stock_with_initial_values_per_element(builtins_run):
    t = builtins_run["time"].values
    for region, start in zip(RATES, (100, 200, 300)):
        # Euler, dt 0.25: K(t) = K0 (1 + 0.25 r)^(t / 0.25)
        np.testing.assert_allclose(builtins_run[f"Capital[{region}]"].values,
                                   start * (1 + 0.25 * RATES[region]) ** (t / 0.25), rtol=1e-12)


def test_delays_with_inputs_over_fewer_dimensions(builtins_run):
    # DELAY1 of a scalar (and of an array over all dimensions) with a delay time per region:
    # each element its own stock; Euler, dt 0.25, step at t = 1: out = x (1 - (1 - dt/L)^n)
    t = builtins_run["time"].values
    steps = np.maximum((t - 1) / 0.25, 0)
    for region, lag in LAG.items():
        np.testing.assert_allclose(builtins_run[f"Shipments[{region}]"].values,
                                   10 * (1 - (1 - 0.25 / lag) ** steps), rtol=1e-12, atol=1e-12)
        for sector in ("Farm", "Factory"):
            np.testing.assert_allclose(builtins_run[f"Shipped Output[{region},{sector}]"].values,
                                       OUTPUT[(region, sector)] * (1 - (1 - 0.25 / lag) ** steps),
                                       rtol=1e-12, atol=1e-12)


DIMS = ('<dimensions><dim name="A"><elem name="a1"/><elem name="a2"/></dim>'
        '<dim name="B"><elem name="b1"/><elem name="b2"/></dim></dimensions>')
OVER_A = '<dimensions><dim name="A"/></dimensions>'


def _refusal(tmp_path, variables: str, dims: str = DIMS) -> str:
    from sdvag.errors import UnsupportedFeature
    path = tmp_path / "refused.xmile"
    path.write_text(f'''<?xml version="1.0" encoding="utf-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
<header><name>refused</name></header>
<sim_specs method="Euler" time_units="year"><start>0</start><stop>4</stop><dt>0.25</dt></sim_specs>
{dims}<model><variables><aux name="x"><dimensions><dim name="A"/><dim name="B"/></dimensions><eqn>1</eqn></aux>
<aux name="y">{OVER_A}<eqn>2</eqn></aux>{variables}</variables></model></xmile>''')
    with pytest.raises(UnsupportedFeature) as caught:
        sdvag.run(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("variable, feature", [
    (f'<aux name="z">{OVER_A}<element subscript="a1"><eqn>1</eqn></element>'
     '<element subscript="a2"><eqn>2</eqn></element><element subscript="a1"><eqn>3</eqn></element></aux>',
     "two definitions of the element [a1]"),
    (f'<aux name="z">{OVER_A}<eqn>y[A] / SUM(y)</eqn></aux>',
     "SUM of the array 'y' named without subscripts in an arrayed variable"),
    ('<aux name="z"><eqn>y[INT(TIME) + 1]</eqn></aux>', "a subscript that is an expression or a position"),
    ('<aux name="z"><dimensions><dim name="B"/></dimensions><eqn>SMTH1(y[A], 2)</eqn></aux>',
     "SMTH1 with an argument over the dimension 'A', which its arrayed variable does not have"),
    ('<aux name="z"><eqn>SIZE(3)</eqn></aux>', "SIZE of 3, which is not a dimension or an array"),
])
def test_array_forms_refused_in_one_line(tmp_path, variable, feature):
    message = _refusal(tmp_path, variable)
    assert feature in message and "'z'" in message


def test_dimension_read_from_a_file_is_refused(tmp_path):
    # xmutil leaves Vensim's GET DIRECT SUBSCRIPT in a comment where the element names should be
    elements = "0{GET DIRECT SUBSCRIPT('c.csv', ',', 'A2', '2', '')}"
    dims = DIMS.replace("</dimensions>", f'<dim name="C"><elem name="{elements}"/></dim></dimensions>')
    message = _refusal(tmp_path, "", dims)
    assert "the dimension 'C' whose elements come from GET DIRECT SUBSCRIPT" in message


def test_array_builtins_rewritten_into_pysd_terms():
    from sdvag.model.builtins import rewrite_equation
    dims = {"x": ("Dim A", "B")}
    positions = {"dim a.a1": 1, "dim a.a2": 2, "dim a.a3": 3, "b.b1": 1, "b.b2": 2, "sub.a2": 1, "sub.a3": 2}
    cases = {
        "MEAN(x[*, *])": "(SUM(x[Dim_A!,B!]) / 6)",
        "MEAN(x[*, B]) + 1": "(SUM(x[Dim_A!,B]) / 3) + 1",
        "MAX(x[*, B])": "VMAX(x[Dim_A!,B])",
        "MIN(x)": "VMIN(x[Dim_A!,B!])",
        "PROD(x)": "PROD(x[Dim_A!,B!])",
        "SIZE(Dim_A) * SIZE(x)": "3 * 6",
        "SUM(x[*:Sub, B])": "SUM(x[Sub!,B])",
        "MAX(x[a1, b1], 2)": "MAX(x[a1,b1], 2)",  # two arguments: the ordinary MAX
        "MAX(x[a1, b1]) + SUM(2)": "(x[a1,b1]) + (2)",  # one value
    }
    for equation, expected in cases.items():
        assert rewrite_equation(equation, {"x"}, dims, positions) == expected



def test_only_one_argument_reductions_of_a_bare_array_are_refused():
    from sdvag.model.arrays import array_problems
    from sdvag.model.xmile import Variable
    dims, positions = {"y": ("A",)}, {"a.a1": 1, "a.a2": 2}
    one = Variable("z", "aux", equation="SUM(y)", dimensions=("A",))
    two = Variable("z", "aux", equation="MAX(y, 0)", dimensions=("A",))  # element by element
    assert "SUM of the array 'y' named without subscripts" in array_problems(one, dims, positions)[0][0]
    assert array_problems(two, dims, positions) == []


def test_element_names_in_nested_subscripts_are_not_undefined_names(tmp_path):
    # a subscript computed by a call that holds subscripts itself: refused as that form, not as a
    # use of the undefined name 'b1' (the element after the nested list)
    message = _refusal(tmp_path, '<aux name="z"><eqn>x[INT(y[a1]), b1]</eqn></aux>')
    assert "a subscript that is an expression or a position" in message and "'z'" in message
