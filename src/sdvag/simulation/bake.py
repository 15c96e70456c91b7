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

from sdvag.model.rewrite import ModelCopy
from sdvag.model.xmile import child, local
from sdvag.simulation.scenario import Policy, Scenario
from sdvag.simulation.simulate import Simulator, step_threshold


def _number(value: float) -> str:
    return repr(float(value))


def _set_points(copy: ModelCopy, name: str, x, y) -> None:
    """The graphical function of variable `name` through the points (x, y)."""
    node = copy.node(name)
    gf = node if local(node.tag) == "gf" else child(node, "gf")
    if gf is None:
        gf = copy.element(node, "gf", before=("units", "doc", "range", "scale", "format"))
        gf.set("type", "continuous")
    for tag in ("xscale", "yscale", "xpts", "ypts"):
        old = child(gf, tag)
        if old is not None:
            gf.remove(old)
    ET.SubElement(gf, copy.ns + "xscale", min=_number(min(x)), max=_number(max(x)))
    ET.SubElement(gf, copy.ns + "yscale", min=_number(min(y)), max=_number(max(y)))
    ET.SubElement(gf, copy.ns + "xpts").text = ",".join(_number(v) for v in x)
    ET.SubElement(gf, copy.ns + "ypts").text = ",".join(_number(v) for v in y)


def _sim_specs(copy: ModelCopy, times: dict[str, float]) -> None:
    specs = child(copy.root, "sim_specs")
    for tag in ("start", "stop", "dt", "save_step"):
        node = child(specs, tag)
        if node is None:
            node = ET.SubElement(specs, copy.ns + tag)
        node.text = _number(times[tag])
        node.attrib.pop("reciprocal", None)
    for tag in ("start", "stop", "dt", "save_step"):  # the order the schema wants
        specs.append(child(specs, tag))


def _policy(copy: ModelCopy, policy: Policy, base: float) -> None:
    name = policy.variable
    if policy.kind == "step":
        copy.set_equation(name, f"IF TIME >= {_number(step_threshold(policy.at))} "
                                f"THEN {_number(policy.to)} ELSE {_number(base)}")
        copy.note(name, f"[Scenario: {base:g} until {policy.at:g}, then {policy.to:g} (the "
                        f"threshold allows for rounding in TIME).]")
    else:
        copy.set_equation(name, "TIME")
        _set_points(copy, name, (policy.at, policy.until), (base, policy.to))
        copy.note(name, f"[Scenario: {base:g} until {policy.at:g}, ramping to {policy.to:g} "
                        f"at {policy.until:g}.]")


def bake(sim: Simulator, scenario: Scenario) -> bytes:
    """The model file of `sim` with `scenario` applied (the scenario must be for that model)."""
    copy = ModelCopy(sim.info)
    _sim_specs(copy, sim.time_settings(scenario))
    for name, value in scenario.constants.items():
        copy.set_equation(name, _number(value))
        copy.note(name, f"[Scenario {scenario.name}: {value:g}, default {sim.info.variables[name].equation}.]")
    for name, (x, y) in scenario.graphical.items():
        _set_points(copy, name, x, y)
        copy.note(name, f"[Scenario {scenario.name}: points replaced.]")
    for name, (t, v) in scenario.inputs.items():
        copy.set_equation(name, "TIME")
        _set_points(copy, name, t, v)
        copy.note(name, f"[Scenario {scenario.name}: a time series, linear between its points.]")
    last = {p.variable: p for p in scenario.policies}  # as in a run: the last policy of a lever wins
    for policy in last.values():
        _policy(copy, policy, scenario.constants.get(policy.variable, sim.info.variables[policy.variable].default))
    return copy.to_bytes()
