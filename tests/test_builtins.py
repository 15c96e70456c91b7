"""XMILE builtins PySD lacks or gets wrong, rewritten (model/builtins.py): each against its closed form."""
import numpy as np
import pytest

import sdvag
from sdvag.model.builtins import AmbiguousForm, rewrite_equation

from conftest import FIXTURES


@pytest.fixture(scope="module")
def run():
    return sdvag.run(FIXTURES / "foreign" / "builtins.xmile")


def test_time_builtins_are_the_run_settings(run):
    assert set(run["Step Size"].values) == {0.25}
    assert set(run["Start"].values) == {2.0} and set(run["Stop"].values) == {10.0}


def test_int_floors_negative_numbers(run):
    # INT(-19.875) is -20 in XMILE, Stella and Simlin; PySD alone truncates to -19
    assert set(run["Floor Of Negative"].values) == {-20.0}
    t = run["time"].values
    np.testing.assert_array_equal(run["Floor Of Time"].values, np.floor(-t / 3))


def test_mod_takes_the_sign_of_the_divisor(run):
    t = run["time"].values
    np.testing.assert_allclose(run["Mod Infix"].values, np.mod(-t, 3), atol=1e-12)
    np.testing.assert_allclose(run["Mod Call"].values, np.mod(t, -3), atol=1e-12)


def test_constants_logarithm_mean_and_safe_division(run):
    t = run["time"].values
    np.testing.assert_allclose(run["Circle"].values, 2 * np.pi, rtol=1e-15)
    np.testing.assert_allclose(run["Decades"].values, np.log10(t * 100), rtol=1e-12)
    np.testing.assert_allclose(run["Average"].values, (1 + t + 6) / 3, rtol=1e-12)
    zero = np.where(t < 5, 0.0, 2.0)
    np.testing.assert_allclose(run["Safe Ratio"].values,
                               np.divide(3, zero, out=np.zeros_like(t), where=zero != 0) * 2)


def test_infinity_and_hyperbolic_functions(run):
    t = run["time"].values
    assert set(run["Infinite"].values) == {8.0}  # MIN(INF, 7) + 1: INF is larger than any number
    np.testing.assert_allclose(run["Hyperbolic"].values,
                               np.cosh(t / 4) - 2 * np.sinh(-t / 5) + np.tanh(t - 6), rtol=1e-14)


def test_previous_is_the_value_one_dt_ago_and_its_initial_value_at_the_start(run):
    t = run["time"].values
    np.testing.assert_array_equal(run["Lagged Time"].values, np.where(t == 2, -1, t - 0.25))
    np.testing.assert_array_equal(run["Lag From Expression"].values, np.where(t == 2, 11, 2 * (t - 0.25)))
    # SELF: the variable's own previous value, so it holds its last value from TIME 4 on
    np.testing.assert_array_equal(run["Held"].values, np.where(t < 4, t, 3.75))


def test_a_stock_starts_from_the_initial_equation_of_the_variable_it_starts_from(run):
    # Target is Capacity * 1.1 except while the model is initialised (<init_eqn>, ACTIVE INITIAL)
    steps = (run["time"].values - 2) / 0.25
    np.testing.assert_allclose(run["Capacity"].values, 50 * (1 + 0.25 * 0.1 / 4) ** steps, rtol=1e-12)
    np.testing.assert_allclose(run["Target"].values, 1.1 * run["Capacity"].values, rtol=1e-15)


def test_npv_discounts_by_one_plus_the_rate_per_step(run):
    # Vensim's NPV(stream, rate, initial, factor), as xmutil leaves it in XMILE
    t, dt, rate = run["time"].values, 0.25, 0.1
    discount, total, expected = 1.0, 7.0, []
    for stream in t:
        expected.append((total + stream * dt * discount) * 2)
        total, discount = total + dt * stream * discount, discount / (1 + rate * dt)
    np.testing.assert_allclose(run["Present Value"].values, expected, rtol=1e-12)


def test_one_argument_ramp_starts_at_the_start_time(run):
    t = run["time"].values
    np.testing.assert_allclose(run["Slope"].values, 2 * (t - 2), atol=1e-12)


def test_lookup_reads_the_graphical_function(run):
    t = run["time"].values
    np.testing.assert_allclose(run["Looked Up"].values, np.interp(t, [0, 5, 10], [0, 10, 40]))


@pytest.mark.parametrize("equation", ["2 * TIME MOD 3", "x / a // b", "-a MOD b", "a ^ b // c",
                                      "LOOKUP(tables[A], x)", "LOOKUP(a + b, x)"])
def test_infix_forms_whose_grouping_pysd_reads_otherwise_are_refused(equation):
    with pytest.raises(AmbiguousForm):
        rewrite_equation(equation)


def test_a_variable_named_like_a_builtin_is_not_rewritten():
    assert rewrite_equation("DT * PI + INT(x)", {"dt", "pi", "int"}) == "DT * PI + INT(x)"


@pytest.fixture(scope="module")
def graphs():
    return sdvag.run(FIXTURES / "foreign" / "graphical_calls.xmile")


def test_a_graphical_function_of_a_converter_is_called_on_the_argument(graphs):
    # XMILE and Stella call an aux's own <gf> on any input, gf(x) or LOOKUP(gf, x); PySD alone
    # would return the aux's value, the gf of its own equation, whatever the argument
    t = graphs["time"].values
    table = ([0, 5, 10], [0, 10, 40])
    np.testing.assert_allclose(graphs["Called"].values, np.interp(t, *table))
    np.testing.assert_allclose(graphs["Looked Up"].values, np.interp(10 - t, *table))
    assert set(graphs["Table"].values) == {5.0}


def test_each_element_has_its_own_graphical_function(graphs):
    t = graphs["time"].values
    # element-defined: each element's <gf> of its own equation (PySD alone drops them)
    assert set(graphs["Tables[A]"].values) == {1.0} and set(graphs["Tables[B]"].values) == {3.0}
    np.testing.assert_allclose(graphs["Element Looked Up"].values, np.interp(t, [0, 10], [0, 30]))
    # Stella's form: one equation for all elements, a <gf> each
    np.testing.assert_allclose(graphs["Curves[A]"].values, np.interp(t, [0, 10], [5, 0]))
    np.testing.assert_allclose(graphs["Curves[B]"].values, np.interp(t, [0, 5, 10], [0, 2, 4]))


def test_one_graphical_function_shared_by_all_elements(graphs):
    t = graphs["time"].values
    shared = ([0, 4, 10], [1, 3, 0])
    for item in "AB":  # PySD alone fails on an arrayed <gf> of an unsubscripted input
        np.testing.assert_allclose(graphs[f"Shared[{item}]"].values, np.interp(t, *shared))
    np.testing.assert_allclose(graphs["Shared Looked Up"].values, np.interp(t / 2, *shared))


def test_lookup_of_an_arrayed_graphical_function_by_a_dimension_is_refused():
    with pytest.raises(AmbiguousForm, match="by a dimension"):
        rewrite_equation("LOOKUP(Tables[Items], x)", {"tables", "x"}, graphs={"tables[a]": "T_A"})
