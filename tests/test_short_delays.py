"""Delays shorter than their order times DT: DELAY1 and DELAY3 keep their order (a chain of
stocks, as Vensim's macros and the XMILE standard define them), DELAY N lowers it where that is
Vensim's documented behaviour, and the rest is refused naming the form and the variable.

Every expected value is a hand-written Euler recursion of the chain of stocks (Sterman,
Business Dynamics, ch. 11): `order` stocks in a row, each emptied at its content over
delay/order, started at initial x delay/order each."""
import numpy as np
import pytest
from conftest import aux, cli, write_model

import sdvag
from sdvag.errors import UnsupportedFeature
from sdvag.simulation.scenario import load_scenario
from sdvag.simulation.simulate import Simulator
from sdvag.simulation.vectorised import simulate_many


def chain(inputs, delay, order, initial, dt):
    """The outflow of the last of `order` stocks at each time, by Euler steps of `dt`."""
    stage = delay / order
    stocks, out = [initial * stage] * order, []
    for x in inputs:
        flows = [s / stage for s in stocks]
        out.append(flows[-1])
        stocks = [s + dt * (i - f) for s, i, f in zip(stocks, [x] + flows[:-1], flows)]
    return np.array(out)


def grid(stop, dt):
    return np.arange(0, stop + dt / 2, dt)


def entry(t):
    """The input of every fixture: a step and a ramp, so that each stage's lag shows."""
    return np.where(t >= 1, 10.0, 0.0) + t


ENTRY = "STEP(10, 1) + TIME"
XMUTIL = "<vendor>Ventana Systems, xmutil</vendor>"
RANGE = '<range min="0.5" max="9"/>'  # of every delay time a test varies


def mdl(path, equations: dict[str, str], dt=1, stop=8, saveper=None, dimension=False):
    """A small Vensim model: each equation `left = right`, then the time settings; with
    `dimension`, DimA: A1, A2 first."""
    controls = {"INITIAL TIME": 0, "FINAL TIME": stop, "TIME STEP": dt, "SAVEPER": saveper or dt}
    path.write_text("{UTF-8}\n" + ("DimA: A1, A2\n\t~\t\n\t~\t\t|\n" if dimension else "")
                    + "".join(f"{left} = {right}\n\t~\tdmnl\n\t~\t\t|\n"
                              for left, right in {**equations, **controls}.items()))
    return path


def test_xmile_delay1_and_delay3_keep_their_order_in_pysd_and_the_engine(tmp_path):
    # DELAY3 over 2 at DT 1 (3 x DT = 3 > 2) and DELAY1 over 0.8 (1 x DT > 0.8): PySD alone
    # would lower them to orders 2 and 0
    path = write_model(tmp_path / "short.xmile", aux("Input", ENTRY) + aux("Lag", "2", RANGE)
                       + aux("Third", "DELAY3(Input, Lag, 4)") + aux("First", "DELAY1(Input, 0.8)"),
                       stop=8, dt=1)
    t = grid(8, 1)
    ds = sdvag.run(path)
    np.testing.assert_allclose(ds["Third"], chain(entry(t), 2, 3, 4, 1), rtol=1e-12)
    np.testing.assert_allclose(ds["First"], chain(entry(t), 0.8, 1, entry(t)[0], 1), rtol=1e-12)
    assert np.abs(ds["Third"] - chain(entry(t), 2, 2, 4, 1)).max() > 1  # the lowered order differs
    lags = [2.0, 1.5, 5.0]  # short, short, long enough: every one a chain of three stocks
    runs = simulate_many(load_scenario(path), ["Lag"], [[lag] for lag in lags], ["Third", "First"])
    assert runs.failed == [None] * 3
    for i, lag in enumerate(lags):
        np.testing.assert_allclose(runs.data[i, 0], chain(entry(t), lag, 3, 4, 1), rtol=1e-12)


def test_arrayed_xmile_delays_keep_each_elements_order(tmp_path):
    dims = '<dimensions><dim name="DimA"/></dimensions>'
    elements = lambda *eqns: "".join(f'<element subscript="A{k}"><eqn>{e}</eqn></element>'  # noqa: E731
                                     for k, e in enumerate(eqns, start=1))
    path = write_model(tmp_path / "arrayed.xmile", (
        aux("Input", ENTRY)
        + f'<aux name="Lags">{dims}{elements(1, 2, 3)}</aux>'
        + f'<aux name="Applied">{dims}<eqn>DELAY3(Input, Lags[DimA])</eqn></aux>'
        + f'<aux name="Each">{dims}'
        + elements("DELAY1(Input, 0.5, 0)", "DELAY3(Input, 2)", "2 * DELAY3(Input, 1.5, 1)") + "</aux>"),
        stop=8, dt=1, before_model='<dimensions><dim name="DimA"><elem name="A1"/><elem name="A2"/>'
                                   '<elem name="A3"/></dim></dimensions>')
    ds = sdvag.run(path)
    x = entry(grid(8, 1))
    for k, lag in enumerate((1, 2, 3), start=1):  # PySD alone lowers all three to order 1
        np.testing.assert_allclose(ds[f"Applied[A{k}]"], chain(x, lag, 3, x[0], 1), rtol=1e-12)
    np.testing.assert_allclose(ds["Each[A1]"], chain(x, 0.5, 1, 0, 1), rtol=1e-12)
    np.testing.assert_allclose(ds["Each[A2]"], chain(x, 2, 3, x[0], 1), rtol=1e-12)
    np.testing.assert_allclose(ds["Each[A3]"], 2 * chain(x, 1.5, 3, 1, 1), rtol=1e-12)


def test_vensim_delay3_and_delay1i_keep_their_order_also_subscripted(tmp_path):
    path = mdl(tmp_path / "short.mdl", {
        "Input": ENTRY, "Lag": "2", "Third": "DELAY3(Input, Lag)", "First": "DELAY1I(Input, 0.8, 3)",
        "Each[A1]": "DELAY1I(Input, 0.5, 0)", "Each[A2]": "DELAY3I(Input, 1.5, 1) * 2"}, dimension=True)
    ds = sdvag.run(path)
    x = entry(grid(8, 1))
    np.testing.assert_allclose(ds["Third"], chain(x, 2, 3, x[0], 1), rtol=1e-12)
    np.testing.assert_allclose(ds["First"], chain(x, 0.8, 1, 3, 1), rtol=1e-12)
    np.testing.assert_allclose(ds["Each[A1]"], chain(x, 0.5, 1, 0, 1), rtol=1e-12)
    np.testing.assert_allclose(ds["Each[A2]"], 2 * chain(x, 1.5, 3, 1, 1), rtol=1e-12)
    # what a delay uses is found through its stocks (sdvag's `info` of a .mdl variable)
    uses = Simulator.for_model(path).uses()
    assert set(uses["Third"]) == {"Input", "Lag"} and uses["Each"] == ["Input"]


def test_vensim_delay_n_lowers_its_order_as_vensim_does(tmp_path):
    # Vensim's manual: DELAY N lowers its order until order x TIME STEP fits the delay time
    path = mdl(tmp_path / "delayn.mdl", {"Input": ENTRY,
                                         "Out": "DELAY N(Input, 1.25, 6, 3)"}, dt=0.5)
    ds = sdvag.run(path)
    x = entry(grid(8, 0.5))
    np.testing.assert_allclose(ds["Out"], chain(x, 1.25, 2, 6, 0.5), rtol=1e-12)
    assert np.abs(ds["Out"] - chain(x, 1.25, 3, 6, 0.5)).max() > 0.1  # not the order written


def test_xmile_delayn_lowers_its_order_only_in_xmutils_conversions_of_vensim(tmp_path):
    variables = aux("Input", ENTRY) + aux("Lag", "1.25", RANGE) + aux("Out", "DELAYN(Input, Lag, 3, 6)")
    stella = write_model(tmp_path / "stella.xmile", variables, stop=8, dt=0.5)
    converted = tmp_path / "converted.xmile"
    converted.write_text(stella.read_text().replace("<vendor>sdvag tests</vendor>", XMUTIL))
    x = entry(grid(8, 0.5))
    np.testing.assert_allclose(sdvag.run(converted)["Out"], chain(x, 1.25, 2, 6, 0.5), rtol=1e-12)
    runs = simulate_many(load_scenario(converted), ["Lag"], [[1.25], [1.0], [2.0]], ["Out"])
    assert runs.failed == [None] * 3
    for i, (lag, order) in enumerate(((1.25, 2), (1.0, 2), (2.0, 3))):
        np.testing.assert_allclose(runs.data[i, 0], chain(x, lag, order, 6, 0.5), rtol=1e-12)
    # elsewhere what DELAYN does then is not documented: refused on PySD, failed on the engine
    with pytest.raises(UnsupportedFeature, match=r"a DELAYN shorter than its order times DT \(PySD "
                       r"lowers its order, as Vensim does; what Stella and the XMILE standard do "
                       r"then is not documented\) in variable 'Out'"):
        sdvag.run(stella)
    proc = cli("run", stella, "--out", tmp_path / "out")
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    runs = simulate_many(load_scenario(stella), ["Lag"], [[1.25], [2.0]], ["Out"])
    assert runs.failed == ["Out", None]
    np.testing.assert_allclose(runs.data[1, 0], chain(x, 2.0, 3, 6, 0.5), rtol=1e-12)


@pytest.mark.parametrize("equations, message", [
    # PySD lowers every element to suit the shortest delay time (1 here: order 2 for both)
    ({"Lags[DimA]": "1, 3", "Out[DimA]": "DELAY N(Input, Lags[DimA], 0, 3)"},
     r"an arrayed DELAY N shorter than its order times DT \(PySD lowers every element's order to "
     r"suit the shortest delay time\) in variable 'Out'"),
    # shorter than DT itself: PySD would fail on a delay with no stage
    ({"Out": "DELAY N(Input, 0.4, 0, 2)"},
     r"a DELAY N shorter than DT \(PySD lowers its order to 0: no stage left\) in variable 'Out'"),
])
def test_a_delay_n_whose_lowering_is_not_known_to_be_vensims_is_refused(tmp_path, equations, message):
    path = mdl(tmp_path / "refused.mdl", {"Input": "Time", **equations}, dt=0.5, dimension=True)
    with pytest.raises(UnsupportedFeature, match=message):
        sdvag.run(path)
    proc = cli("run", path, "--out", tmp_path / "out")
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_a_delay3_that_only_a_runs_values_make_short_is_refused(tmp_path):
    # the file's delay time (5) is long enough: PySD's Delay object keeps it, and would lower
    # its order for a run that sets 2
    path = write_model(tmp_path / "long.xmile", aux("Input", ENTRY) + aux("Lag", "5", RANGE)
                       + aux("Third", "DELAY3(Input, Lag, 4)"), stop=8, dt=1)
    x = entry(grid(8, 1))
    np.testing.assert_allclose(sdvag.run(path)["Third"], chain(x, 5, 3, 4, 1), rtol=1e-12)
    with pytest.raises(UnsupportedFeature, match=r"a DELAY1 or DELAY3 shorter than its order times DT "
                       r"with this run's values \(PySD would lower its order, which Vensim and Stella "
                       r"keep; sdvag keeps it only where the model file's own values make the delay "
                       r"short\) in variable 'Third'"):
        sdvag.run(path, set={"Lag": 2})
    runs = simulate_many(load_scenario(path), ["Lag"], [[5.0], [2.0]], ["Third"])
    assert runs.failed == [None, "Third"]
    np.testing.assert_allclose(runs.data[0, 0], chain(x, 5, 3, 4, 1), rtol=1e-12)
