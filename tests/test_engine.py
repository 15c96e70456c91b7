"""The vectorised engine equals PySD run by run (every builtin sdvag allows, the scenario
machinery, every shipped scenario at random parameter values), integrates RK4, marks failed runs,
and gives the same numbers whatever the chunks: on each of its backends installed here."""
import functools
import os
import zlib

import numpy as np
import pytest
from conftest import ROOT, aux, write_model

import sdvag
from sdvag.model.support import BUILTINS
from sdvag.simulation.ensemble import run_ensemble
from sdvag.simulation.scenario import Policy, load_scenario
from sdvag.simulation.simulate import Simulator
from sdvag.simulation.vectorised import backends, simulate_many

RTOL = ATOL = 1e-12


@pytest.fixture(params=backends())
def backend(request):
    return request.param


def pysd_runs(scenario, names, values, columns):
    """PySD once per row; a run PySD cannot finish is all NaN."""
    sim, plain = Simulator.for_scenario(scenario).with_points(scenario)
    base, times = sim.params(plain), sim.time_settings(plain)
    out = []
    for row in values:
        try:
            frame = sim.run_frame({**base, **dict(zip(names, map(float, row)))}, times, columns)
            out.append(frame[columns].to_numpy(dtype=float).T)
        except sdvag.SdvagError:
            out.append(None)
    return out


def assert_engine_equals_pysd(scenario, names, values, columns, backend="numpy", expected=None):
    runs = simulate_many(scenario, names, values, columns, backend=backend)
    for i, expected in enumerate(expected or pysd_runs(scenario, names, values, columns)):
        if expected is None:  # PySD raised (e.g. a division by zero): the engine marks the run
            assert runs.failed[i], (scenario.name, dict(zip(names, values[i])))
            continue
        np.testing.assert_allclose(runs.data[i], expected, rtol=RTOL, atol=ATOL, equal_nan=True,
                                   err_msg=f"{scenario.name} {dict(zip(names, values[i]))}")
    return runs


CONSTANTS = {"Rate": (0.01, 0.2), "Lag": (1.25, 4), "Order": (1, 5), "Price": (0.5, 2),
             "Lever": (0, 1), "Slope": (0, 1)}
EVERY_BUILTIN = "".join(aux(n, str(lo), f'<range min="{lo}" max="{hi}"/>') for n, (lo, hi) in CONSTANTS.items()) + (
    '<stock name="S"><eqn>2</eqn><inflow>Inflow</inflow><outflow>Outflow</outflow><non_negative/></stock>'
    '<flow name="Inflow"><eqn>Rate * S * Lever + PULSE(2, 3) + PULSE(1, 2, 3) + STEP(1, 4) '
    '+ RAMP(Slope, 2, 6) + RAMP(0.1, 7)</eqn></flow>'
    '<flow name="Outflow"><eqn>DELAY(Inflow, Lag) + 0.01 * Pipeline</eqn></flow>'
    + aux("Pipeline", "DELAY1(Inflow, Lag) + DELAY3(Inflow, Lag, 1) + DELAYN(Inflow, Lag, Order)")
    + aux("Smoothed", "SMTH1(S, Lag) + SMTH3(S, Lag, 2) + SMTHN(S, Lag, 3, 1)")
    + aux("Growth", "TREND(S, Lag, 0.1)")
    + aux("Start", "INIT(S) + INT(TIME / 3)")
    + aux("Ratio", "SAFEDIV(S, Rate - 0.1) + SAFEDIV(1, Lever - Lever, 7)")
    + aux("Bounded", "MIN(S, 5) + MAX(Growth, 0) + ABS(-Rate) + EXP(-Rate) + LN(1 + Rate) + SQRT(Rate)")
    + aux("Trig", "SIN(TIME) + COS(TIME) + TAN(Rate) + ARCSIN(Rate) + ARCCOS(Rate) + ARCTAN(S)")
    + aux("Branch", "IF (S > 3 AND TIME < 8) OR NOT (Rate < 0.05) THEN S ^ 0.5 ^ 2 ELSE LN(S)")
    + aux("Untaken", "IF Lever > 2 THEN 1 / (Lever - Lever) ELSE 0")
    + aux("Guarded", "IF Lever > 0.5 THEN LN(Lever - 0.5) ELSE 0")
    + aux("Hyperbolic", "SINH(Rate) + COSH(Rate) + TANH(S - 3) + MIN(INF, S)")
    + aux("Lagged", "PREVIOUS(S, 1)") + aux("Held", "0.5 * PREVIOUS(SELF, 0) + Rate")
    + aux("Present", "NPV(S, Rate, 1, 2)")
    + aux("Effect", "S", '<gf><xscale min="0" max="1"/><xpts>0,1,4,20</xpts><ypts>1,1.123456789012345,2,0</ypts></gf>')
    + '<gf name="Table" type="extrapolate"><xpts>0,10</xpts><ypts>0,1</ypts></gf>'
    + aux("Looked Up", "Table(S) * Effect * Price + LOOKUP(Table, Rate * 10)")
    # builtins sdvag rewrites before PySD sees them, and PySD's own LOG and MODULO
    + aux("Rewritten", "DT + STARTTIME + STOPTIME + PI + LOG10(S) + LOG(S, 3) + MEAN(S, Rate, 2) "
                       "+ (TIME MOD 4) + MODULO(TIME - 5, 3) + MODULO(TIME, Rate - 0.1) + INT(-Rate)"))


# SUM, PROD, VMAX and VMIN reduce arrays and SIZE counts their elements: the engine does not
# cover arrays (it says so, and PySD runs them)
ARRAY_BUILTINS = {"sum", "prod", "vmax", "vmin", "size"}


@pytest.fixture(scope="module")
def every_builtin(tmp_path_factory):
    return write_model(tmp_path_factory.mktemp("builtins") / "every_builtin.xmile", EVERY_BUILTIN, stop=12, dt=0.25)


def test_fixture_uses_every_builtin_sdvag_allows():
    used = {name.lower() for name in __import__("re").findall(r"[A-Za-z][A-Za-z0-9]*", EVERY_BUILTIN)}
    assert BUILTINS - ARRAY_BUILTINS <= used


def test_every_builtin_and_the_scenario_machinery_equal_pysd_per_run(every_builtin, backend):
    rng = np.random.default_rng(7)
    names = ["Rate", "Lag", "Order", "Lever"]
    values = np.column_stack([rng.uniform(*CONSTANTS[n], 6) for n in names])
    values[0, 1] = 0.3   # shorter than order x dt: refused on PySD, so this run alone fails here too
    values[1, 3] = 0.8   # Guarded takes the logarithm's branch
    scenario = load_scenario(every_builtin)
    scenario.graphical["Effect"] = ((0.0, 3.0, 30.0), (2.0, 1.0, 0.5))
    scenario.inputs["Price"] = ((0.0, 6.0, 12.0), (1.0, 2.0, 0.5))
    scenario.policies += [Policy("Slope", "step", 5.0, 0.8), Policy("Lever", "ramp", 2.0, 1.0, 9.0)]
    columns = [v.name for v in scenario_variables(every_builtin)]
    varied = ["Rate", "Lag", "Order"]
    runs = assert_engine_equals_pysd(scenario, varied, values[:, :3], columns, backend)
    assert runs.failed[0] and runs.failed[1:] == [None] * 5
    if backend != "numpy":  # the same code (a second layout would only cost another compilation)
        return
    plain = load_scenario(every_builtin)
    runs = assert_engine_equals_pysd(plain, names, values, columns, backend)
    assert runs.failed[0] and runs.failed[1:] == [None] * 5


def scenario_variables(path):
    return [v for v in sdvag.read_model(path).variables.values() if v.kind != "gf"]


def test_a_graphical_override_replaces_the_points_not_the_input(every_builtin):
    scenario = load_scenario(every_builtin)
    scenario.graphical["Effect"] = ((0.0, 100.0), (0.0, 100.0))  # the identity: Effect = S
    ds = sdvag.run(scenario)
    np.testing.assert_allclose(ds["Effect"], ds["S"], rtol=1e-12)
    runs = simulate_many(scenario, [], np.zeros((2, 0)), ["Effect", "S"])
    np.testing.assert_allclose(runs.data[:, 0], runs.data[:, 1], rtol=1e-12)


SHIPPED = sorted((ROOT / "scenarios").glob("*.toml")) + sorted((ROOT / "scenarios" / "calibrated").glob("*.toml"))


def first_of_each_model(paths):
    """One scenario per model: each scenario with other levers costs the accelerated backend
    a compilation of several seconds; SDVAG_TEST_EVERY_BACKEND=1 runs them all."""
    if os.environ.get("SDVAG_TEST_EVERY_BACKEND"):
        return paths
    firsts = {}
    for path in paths:
        firsts.setdefault(load_scenario(path).model, path)
    return list(firsts.values())


@pytest.mark.parametrize("path, backend", [(p, "numpy") for p in SHIPPED] + [
    (p, b) for b in backends()[1:] for p in first_of_each_model(SHIPPED)], ids=lambda p: getattr(p, "stem", p))
def test_every_shipped_scenario_equals_pysd_at_random_parameter_values(path, backend):
    scenario, names, values, columns, expected = shipped_case(path)
    assert_engine_equals_pysd(scenario, names, values, columns, backend, expected)


@functools.cache
def shipped_case(path):
    """A shipped scenario, its constants with ranges at the scenario's values and at two random
    draws, every variable, and PySD's runs of them (once for all backends)."""
    scenario = load_scenario(path)
    info = sdvag.read_model(scenario.model)
    fixed = set(scenario.inputs) | {p.variable for p in scenario.policies}
    names = [v.name for v in info.variables.values()
             if v.role == "constant" and v.range is not None and v.name not in fixed]
    rng = np.random.default_rng(zlib.crc32(path.stem.encode()))  # the same draws in every process
    low, high = (np.array([info.variables[n].range[k] for n in names]) for k in (0, 1))
    values = low + rng.uniform(size=(3, len(names))) * (high - low)
    values[0] = [scenario.constants.get(n, info.variables[n].default) for n in names]
    columns = [v.name for v in info.variables.values() if v.kind != "gf"]
    return scenario, names, values, columns, pysd_runs(scenario, names, values, columns)


def test_rk4_takes_the_four_stage_step(tmp_path, backend):
    path = write_model(tmp_path / "decay.xmile", aux("K", "0.5") + (
        '<stock name="S"><eqn>1</eqn><outflow>Decay</outflow></stock><flow name="Decay"><eqn>K * S</eqn></flow>'),
        method="RK4", stop=4, dt=0.5)
    ds = sdvag.run(path)
    h = 0.5 * 0.5
    factor = 1 - h + h ** 2 / 2 - h ** 3 / 6 + h ** 4 / 24  # RK4 on dS/dt = -K S
    np.testing.assert_allclose(ds["S"], factor ** np.arange(9), rtol=1e-14)
    assert abs(float(ds["S"][-1]) - np.exp(-2)) < 1e-3 < abs(0.75 ** 8 - np.exp(-2))  # not Euler
    runs = simulate_many(load_scenario(path), ["K"], [[0.5], [0.25]], ["S"], backend=backend)
    np.testing.assert_allclose(runs.data[0, 0], factor ** np.arange(9), rtol=1e-14)
    assert runs.data[1, 0, -1] > runs.data[0, 0, -1]


def test_a_run_that_divides_by_zero_fails_alone_with_the_variable_named(tmp_path, backend):
    path = write_model(tmp_path / "blowup.xmile", aux("Onset", "3", '<range min="1" max="5"/>') + (
        '<stock name="S"><eqn>1</eqn><inflow>Growth</inflow></stock>'
        '<flow name="Growth"><eqn>S / (TIME - Onset)</eqn></flow>') + aux("Doubled", "2 * S"), stop=6, dt=0.25)
    values = [[2.1], [2.0], [4.6]]  # TIME reaches 2 exactly: that run alone divides by zero
    runs = assert_engine_equals_pysd(load_scenario(path), ["Onset"], values, ["S", "Doubled"], backend)
    assert runs.failed == [None, "Growth", None]


def test_same_numbers_whatever_the_chunks(every_builtin, backend):
    scenario = load_scenario(every_builtin)
    values = np.column_stack([np.linspace(0.01, 0.2, 9), np.linspace(0.6, 4, 9)])
    values[4, 1] = 0.3  # a run that fails (a delay shorter than its order times dt) among them
    columns = ["S", "Smoothed", "Outflow"]
    whole = simulate_many(scenario, ["Rate", "Lag"], values, columns, backend=backend)
    parts = [simulate_many(scenario, ["Rate", "Lag"], values[i:i + 2], columns, backend=backend)
             for i in range(0, 9, 2)]
    np.testing.assert_array_equal(whole.data, np.concatenate([p.data for p in parts]))
    assert whole.failed == sum((p.failed for p in parts), []) and whole.failed[4] == "Pipeline"


def test_the_ensemble_says_once_when_it_falls_back_to_pysd(every_builtin, monkeypatch):
    scenario = load_scenario(every_builtin)
    values = np.column_stack([np.linspace(0.01, 0.2, 3)])
    engine = run_ensemble(scenario, ["Rate"], values, ["S"], workers=1)
    monkeypatch.setenv("SDVAG_ENGINE", "pysd")
    said = []
    pysd = run_ensemble(scenario, ["Rate"], values, ["S"], workers=1, progress=said.append)
    run_ensemble(scenario, ["Rate"], values, ["S"], workers=1, progress=said.append)
    assert sum("running PySD once per run" in s for s in said) == 1
    np.testing.assert_allclose(engine["S"], pysd["S"], rtol=RTOL)


def test_a_backend_that_cannot_run_falls_back_to_numpy_said_once(every_builtin, monkeypatch):
    from sdvag.simulation import vectorised
    scenario, values = load_scenario(every_builtin), [[0.05], [0.1]]
    numpy = simulate_many(scenario, ["Rate"], values, ["S"], backend="numpy")
    with pytest.raises(sdvag.SdvagError, match="unknown engine backend"):
        simulate_many(scenario, ["Rate"], values, ["S"], backend="numba")
    monkeypatch.setattr(vectorised, "_TOLD", set())
    monkeypatch.setenv("SDVAG_ENGINE_BACKEND", "jax")
    causes = [("backends", lambda: ["numpy"], "not installed")]
    if "jax" in backends():  # XLA that would fuse a * b + c: not numpy's arithmetic
        causes.append(("jax_backend.EXACT", False, "cannot run"))
    for target, value, said in causes:
        with monkeypatch.context() as patch, pytest.warns(UserWarning, match=said) as record:
            patch.setattr(f"sdvag.simulation.vectorised.{target}", value)
            runs = [simulate_many(scenario, ["Rate"], values, ["S"]) for _ in range(2)]
        assert sum(said in str(w.message) for w in record) == 1
        for run in runs:
            np.testing.assert_array_equal(run.data, numpy.data)
