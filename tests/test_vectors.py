"""Vensim's vector builtins in XMILE (VECTOR SELECT, ELM MAP, SORT ORDER, RANK, REORDER), each
against values worked out by hand from Vensim's definitions, and the forms refused."""
import numpy as np
import pytest

import sdvag
from sdvag.analysis.checks import check
from sdvag.errors import UnsupportedFeature
from sdvag.simulation.ensemble import run_ensemble
from sdvag.simulation.scenario import load_scenario
from sdvag.simulation.vectorised import Engine, NotCovered

from conftest import FIXTURES, cli, write_model

MODEL = FIXTURES / "foreign" / "vectors.xmile"
# Revenue[F1..F4] = 30, 10 + 15 TIME, 20, 5 at TIME 0, 1, 2
REVENUE = [[30, 10, 20, 5], [30, 25, 20, 5], [30, 40, 20, 5]]
FIRMS = ("F1", "F2", "F3", "F4")


@pytest.fixture(scope="module")
def run():
    return sdvag.run(MODEL)


def _rows(run, name, elements=FIRMS):
    """The variable's values as rows per time: [[x[F1], x[F2], ...] at TIME 0, ...]."""
    return np.column_stack([run[f"{name}[{e}]"].values for e in elements])


def test_sort_order_lists_zero_based_positions_in_either_direction(run):
    # ascending: the position of the smallest first (5 at F4 is position 3, then 10 at F2 ...)
    np.testing.assert_array_equal(_rows(run, "Ascending Order"), [[3, 1, 2, 0], [3, 2, 1, 0], [3, 2, 0, 1]])
    # direction 0: biggest first (30 at F1, 20 at F3, 10 at F2, 5 at F4; then F2 grows past them)
    np.testing.assert_array_equal(_rows(run, "Descending Order"), [[0, 2, 1, 3], [0, 1, 2, 3], [1, 0, 2, 3]])


def test_rank_gives_each_element_its_one_based_rank(run):
    np.testing.assert_array_equal(_rows(run, "Revenue Rank"), [[4, 2, 3, 1], [4, 3, 2, 1], [3, 4, 2, 1]])
    # of an expression (2 x revenue), direction -1: the biggest has rank 1
    np.testing.assert_array_equal(_rows(run, "Descending Rank"), [[1, 3, 2, 4], [1, 2, 3, 4], [2, 1, 3, 4]])


def test_reorder_by_the_sort_order_sorts(run):
    np.testing.assert_array_equal(_rows(run, "Sorted Revenue"), [[5, 10, 20, 30], [5, 20, 25, 30], [5, 20, 30, 40]])


def test_select_actions_and_missing_value(run):
    for t, (f1, f2, f3, f4) in enumerate(REVENUE):
        # Chosen = 1, 0, 1, 0 selects F1 and F3
        assert run["Selected Sum"].values[t] == f1 + f3            # VSSUM (0)
        assert run["Selected Product"].values[t] == f1 * f3        # 1
        assert run["Selected Min"].values[t] == min(f1, f3)        # 2
        assert run["Selected Max"].values[t] == max(f1, f3)        # VSMAX (3)
        assert run["Weighted Sum"].values[t] == 0.5 * f1 + 2 * f3  # weights 0.5, 0, 2, 0
        assert run["Nothing Selected"].values[t] == -1             # a selection of zeros: missing value
    # over the first dimension of a matrix (10 x row + column), R2 alone selected
    np.testing.assert_array_equal(_rows(run, "Column Max", ("C1", "C2", "C3"))[0], [21, 22, 23])


def test_elm_map_counts_the_offset_from_the_element_given(run):
    revenue = np.array(REVENUE, dtype=float)
    # offset 1 from each element: the next one; past the last element: NaN (PySD's :NA:)
    np.testing.assert_array_equal(_rows(run, "Next Revenue"),
                                  np.column_stack([revenue[:, 1:], np.full(3, np.nan)]))
    # from F1 by Firm - 1 (the dimension as a value, its position): each element itself
    np.testing.assert_array_equal(_rows(run, "Counted From First"), revenue)
    # from F1 by Offset = 3, 0, 2, 1
    np.testing.assert_array_equal(_rows(run, "Mapped"), revenue[:, [3, 0, 2, 1]])
    # a dimension as a value is the element's position, but SIZE(Dim) is still its size
    np.testing.assert_array_equal(_rows(run, "Position Of Size")[0], [0.25, 0.5, 0.75, 1])
    # in Vensim's storage order, the last dimension fastest: Matrix[R1, C1] + 3 is Matrix[R2, C1]
    np.testing.assert_array_equal(run["Row Below[R1]"].values, 21)
    assert np.isnan(run["Row Below[R2]"].values).all()


def test_arrayed_models_still_run_on_pysd_not_the_vectorised_engine():
    with pytest.raises(NotCovered, match="arrays"):
        Engine(MODEL)
    said = []  # an ensemble falls back to PySD once per run, and each run is the model's
    runs = run_ensemble(load_scenario(MODEL), ["ASCENDING"], [[1], [0]], ["Ascending Order[F1]"],
                        workers=1, progress=said.append)
    assert any("running PySD once per run" in s for s in said)
    np.testing.assert_array_equal(runs["Ascending Order[F1]"].values, [[3, 3, 3], [0, 0, 1]])


VARIABLES = """
<aux name="Revenue"><dimensions><dim name="Firm"/></dimensions><eqn>10 * Firm</eqn></aux>
<aux name="Matrix"><dimensions><dim name="Row"/><dim name="Col"/></dimensions><eqn>10 * Row + Col</eqn></aux>
<aux name="Chosen"><dimensions><dim name="Firm"/></dimensions><eqn>0</eqn></aux>
<aux name="Probe">{dims}<eqn>{eqn}</eqn></aux>
"""
DIMENSIONS = ('<dimensions><dim name="Firm"><elem name="F1"/><elem name="F2"/></dim>'
              '<dim name="Row"><elem name="R1"/><elem name="R2"/></dim>'
              '<dim name="Col"><elem name="C1"/><elem name="C2"/></dim></dimensions>')
FIRM, COL_ROW = '<dimensions><dim name="Firm"/></dimensions>', \
    '<dimensions><dim name="Col"/><dim name="Row"/></dimensions>'

REFUSED = {
    # name: (the probe's dimensions, its equation, the refusal's text)
    "elm map of an expression": (FIRM, "VECTOR ELM MAP(Revenue[Firm] * 2, 1)",
                                 "VECTOR ELM MAP of 'Revenue[Firm] * 2', not an element of an arrayed variable"),
    "elm map from a dimension the variable lacks": (
        FIRM, "VECTOR ELM MAP(Matrix[Row, C1], 1)",
        "the subscript 'Row' is neither an element of Row nor Row itself as a dimension of its variable"),
    "sort order in an unarrayed variable": ("", "VECTOR SORT ORDER(Revenue[Firm], 1)",
                                            "VECTOR SORT ORDER outside an apply-to-all arrayed variable"),
    "sort order along another dimension": (
        COL_ROW, "VECTOR SORT ORDER(Matrix[Row, Col], 1)",
        "VECTOR SORT ORDER of its array 'Matrix[Row,Col]' not subscripted by its variable's "
        "dimensions [Col, Row] in that order"),
    "sort order of every element, not its variable's": (
        FIRM, "VECTOR SORT ORDER(Revenue[*], 1)",
        "VECTOR SORT ORDER of its array 'Revenue[*]' not subscripted by its variable's dimensions [Firm]"),
    "rank with an arrayed direction": (FIRM, "VECTOR RANK(Revenue[Firm], Chosen[Firm])",
                                       "VECTOR RANK with an arrayed value as its direction"),
    "select over no dimension": (FIRM, "VECTOR SELECT(Revenue[*], Chosen[Firm], 0, 0, 0)",
                                 "VECTOR SELECT whose expression 'Chosen[Firm]' selects over no dimension"),
    "select over a dimension the variable lacks": (
        "", "VECTOR SELECT(Matrix[*, Col], Matrix[*, Col], 0, 0, 0)",
        "VECTOR SELECT over the dimension 'Col', which its variable does not have"),
    "select with an arrayed action": ("", "VECTOR SELECT(Chosen[*], Revenue[*], 0, Chosen[F1] + Revenue, 0)",
                                      "VECTOR SELECT with an arrayed value as its action"),
    "reorder of an expression": (FIRM, "VECTOR REORDER(Revenue[Firm] + 1, Chosen[Firm])",
                                 "VECTOR REORDER of the expression 'Revenue[Firm] + 1'"),
    "sort order with one argument": (FIRM, "VECTOR SORT ORDER(Revenue[Firm])",
                                     "VECTOR SORT ORDER with 1 argument(s), not 2"),
}


def _probe(tmp_path, dims, eqn):
    return write_model(tmp_path / "probe.xmile", VARIABLES.format(dims=dims, eqn=eqn), stop=1, dt=1,
                       before_model=DIMENSIONS)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_forms_pysd_would_change_are_refused_naming_form_and_variable(tmp_path, case):
    dims, eqn, text = REFUSED[case]
    with pytest.raises(UnsupportedFeature) as caught:
        sdvag.run(_probe(tmp_path, dims, eqn))
    message = str(caught.value)
    assert text in message and "'Probe'" in message and "\n" not in message


def test_select_error_action_on_zeros_stops_the_run_in_one_line(tmp_path):
    # VSERRATLEASTONE (1): Vensim stops with an error when nothing is selected
    path = _probe(tmp_path, "", "VECTOR SELECT(Chosen[*], Revenue[*], -1, 0, 1)")
    proc = cli("run", path)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "VECTOR SELECT whose error action forbids what its selection holds: " \
        "no element selected" in lines[0] and "'Probe'" in lines[0]


def test_structure_check_takes_a_dimension_of_its_variable_as_a_value():
    # `Firm - 1`, `10 * Row + Col`: the element's position, not an undefined name
    assert [f.message for f in check(MODEL, only=["structure"])] == ["29 variables, names unique and defined"]
