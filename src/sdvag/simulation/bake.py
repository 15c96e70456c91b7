"""A scenario baked into a model file: the XMILE a bare run of which is the scenario's run.

Constants take the scenario's values, graphical functions its points, a time-series input
becomes a graphical function of TIME (linear between points and flat outside them, as sdvag
interpolates inputs), a ramp the same with its two corners, a step an IF on TIME; the time
settings become the scenario's. Each changed variable's <doc> says what the scenario did, so
a Stella user who opens the file sees it. Used by the loop analysis (which runs the scenario in
another engine) and by `export SCENARIO --to xmile`.
"""
from __future__ import annotations

from lxml import etree as ET

from sdvag.model.names import element_equations, element_reference
from sdvag.model.rewrite import ModelCopy
from sdvag.model.xmile import ModelInfo, canonical, child, children
from sdvag.simulation.scenario import Policy, Scenario
from sdvag.simulation.simulate import Simulator, step_threshold


def _number(value: float) -> str:
    return repr(float(value))


def _sim_specs(copy: ModelCopy, times: dict[str, float]) -> None:
    """The scenario's start, stop and dt. XMILE 1.0 has no save step: the copy saves every dt,
    a superset of the scenario's save times, with the same values there."""
    specs = child(copy.root, "sim_specs")
    for tag in ("start", "stop", "dt"):
        node = child(specs, tag)
        if node is None:
            node = ET.SubElement(specs, copy.ns + tag)
        node.text = _number(times[tag])
        node.attrib.pop("reciprocal", None)
    save = child(specs, "save_step")
    if save is not None:
        specs.remove(save)


def _policy(copy: ModelCopy, policy: Policy, base: float) -> None:
    name = policy.variable
    if policy.kind == "step":
        copy.set_equation(name, f"IF TIME >= {_number(step_threshold(policy.at))} "
                                f"THEN {_number(policy.to)} ELSE {_number(base)}")
        copy.note(name, f"[Scenario: {base:g} until {policy.at:g}, then {policy.to:g} (the "
                        f"threshold allows for rounding in TIME).]")
    else:
        copy.set_equation(name, "TIME")
        copy.set_points(name, (policy.at, policy.until), (base, policy.to))
        copy.note(name, f"[Scenario: {base:g} until {policy.at:g}, ramping to {policy.to:g} "
                        f"at {policy.until:g}.]")


def _set_element(copy: ModelCopy, info: ModelInfo, name: str, value: float, scenario: str) -> None:
    """One element of an array set to `value`; an array with one equation for all its elements
    is written element by element first."""
    base, wanted = element_reference(name)
    var = info.find(base)
    node = copy.node(var.name)
    if not children(node, "element"):
        eqn = child(node, "eqn")
        for combo, equation in element_equations(info, var).items():
            element = ET.Element(copy.ns + "element", subscript=", ".join(combo))
            ET.SubElement(element, copy.ns + "eqn").text = equation
            eqn.addprevious(element)
        node.remove(eqn)
    key = tuple(map(canonical, wanted))
    element = next(e for e in children(node, "element")
                   if tuple(canonical(p) for p in e.get("subscript", "").split(",")) == key)
    default = child(element, "eqn").text
    child(element, "eqn").text = _number(value)
    copy.note(var.name, f"[Scenario {scenario}: {name} = {value:g}, default {default}.]")


def bake(sim: Simulator, scenario: Scenario) -> bytes:
    """The model file of `sim` with `scenario` applied (the scenario must be for that model)."""
    copy = ModelCopy(sim.info, "write a scenario into the model file")
    _sim_specs(copy, sim.time_settings(scenario))
    for name, value in scenario.constants.items():
        if name not in sim.info.variables:  # one element of an array (the scenario checked it)
            _set_element(copy, sim.info, name, value, scenario.name)
            continue
        copy.set_equation(name, _number(value))
        copy.note(name, f"[Scenario {scenario.name}: {value:g}, default {sim.info.variables[name].equation}.]")
    for name, (x, y) in scenario.graphical.items():
        copy.set_points(name, x, y)
        copy.note(name, f"[Scenario {scenario.name}: points replaced.]")
    for name, (t, v) in scenario.inputs.items():
        copy.set_equation(name, "TIME")
        copy.set_points(name, t, v)
        copy.note(name, f"[Scenario {scenario.name}: a time series, linear between its points.]")
    last = {p.variable: p for p in scenario.policies}  # as in a run: the last policy of a lever wins
    for policy in last.values():
        _policy(copy, policy, scenario.constants.get(policy.variable, sim.info.variables[policy.variable].default))
    return copy.to_bytes()
