"""Knock-out experiments: cut a causal link or freeze a variable and see what behaviour goes.

A mechanism claimed to produce a behaviour should take the behaviour with it when it is cut
(Ford 1999; Sterman 2000, ch. 21). The cut is made in a copy of the model: a new variable
holding the source's start-time value, `INIT(source)`, or a given value, replaces the source in
the target's equation (or in every equation, to freeze a variable), and the copy is compiled
and run through sdvag's usual path, with the scenario applied as in any run.
"""
from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr

from sdvag.errors import SdvagError, suggest
from sdvag.model.causal import causal_links, has_link
from sdvag.model.named_loops import find_named_loop, read_named_loops
from sdvag.model.names import element_reference
from sdvag.model.rewrite import ModelCopy, equation_name
from sdvag.model.xmile import ModelInfo, Variable, read_model
from sdvag.simulation.scenario import Scenario, load_scenario
from sdvag.simulation.simulate import Simulator, side_by_side


@dataclass
class KnockoutResult:
    scenario: str
    intact: xr.Dataset
    knocked: xr.Dataset
    cuts: list[str]                      # what was cut, in words
    files: list[Path] = field(default_factory=list)

    @property
    def both(self) -> xr.Dataset:
        """The two runs along a `scenario` dimension (intact, knocked out), as `compare` gives."""
        knocked = self.knocked[[v for v in self.knocked.data_vars if v in self.intact]]
        return side_by_side([self.intact, knocked], ["intact", "knocked out"])


def _variable(info: ModelInfo, name: str, what: str) -> Variable:
    var = info.find(name)
    element = element_reference(name) if var is None else None
    if element is not None and info.find(element[0]) is not None:
        raise SdvagError(f"{what}: a knock-out cuts whole variables, not one element of an array "
                         f"(name '{info.find(element[0]).name}')")
    if var is None:
        raise SdvagError(f"{what}: unknown variable {name!r} in {info.path.name}{suggest(name, info.variables)}")
    return var


def _frozen(copy: ModelCopy, source: Variable, value: float | None, name: str, tag: str) -> str:
    """A new variable holding `source`'s start-time value (or `value`); returns its name."""
    name = copy.unused_name(name)
    if value is None:
        equation, doc = f"INIT({equation_name(source.name)})", f"'{source.name}' frozen at its start-time value"
    else:
        equation, doc = repr(float(value)), f"'{source.name}' frozen at {value:g}"
    copy.add(tag, name, equation, source.units, f"Knock-out: {doc}.")
    return name


def _link(spec) -> tuple[str, str, float | None]:
    if isinstance(spec, (tuple, list)) and len(spec) in (2, 3) and all(isinstance(n, str) for n in spec[:2]):
        return spec[0], spec[1], (float(spec[2]) if len(spec) == 3 else None)
    raise SdvagError(f"link {spec!r}: expected (source, target) or (source, target, value)")


def _cut_link(copy: ModelCopy, info: ModelInfo, source: str, target: str, value: float | None) -> str:
    what = f"link '{source} -> {target}'"
    s, t = _variable(info, source, what), _variable(info, target, what)
    if not has_link(info, s.name, t.name):
        raise SdvagError(f"{what}: '{t.name}' does not use '{s.name}' in {info.path.name}")
    frozen = _frozen(copy, s, value, f"{s.name} Frozen For {t.name}", "flow" if t.kind == "stock" else "aux")
    copy.replace_in(t.name, s.name, frozen)
    held = "its start-time value" if value is None else f"{value:g}"
    return f"link {s.name} -> {t.name} cut: {t.name} sees {s.name} at {held}"


def _freeze(copy: ModelCopy, info: ModelInfo, name: str, value: float | None) -> str:
    var = _variable(info, name, f"freeze '{name}'")
    frozen = _frozen(copy, var, value, f"{var.name} Frozen", "flow" if var.kind == "flow" else "aux")
    users = [target for target, sources in causal_links(info).items() if var.name in sources]
    for target in users:
        copy.replace_in(target, var.name, frozen)
    held = "its start-time value" if value is None else f"{value:g}"
    return f"{var.name} frozen at {held} in every use ({len(users)}: {', '.join(users) or 'none'})"


def _cut_loop(copy: ModelCopy, info: ModelInfo, wanted: str) -> str:
    named, _ = read_named_loops(info)
    loop = find_named_loop(named, wanted)
    if loop is None:
        known = ", ".join(loop.label for loop in named) or "none"
        raise SdvagError(f"loop '{wanted}': no such named loop in {info.path.name} (named loops: {known})")
    links = loop.links()
    # an equation link if there is one: cutting a stock's flow list removes the whole flow
    source, target = next(((s, t) for s, t in links if info.find(t).kind != "stock"), links[0])
    return f"loop {loop.label}: " + _cut_link(copy, info, source, target, None)


def knockout(target: str | Path | Scenario, link: list[tuple] | None = None,
             freeze: dict[str, float | None] | None = None, loop: list[str] | None = None,
             set: dict | None = None) -> KnockoutResult:
    """Run a scenario intact and with the given links cut, variables frozen and named loops cut.

    `link` holds (source, target) pairs, the target seeing the source's start-time value, or
    (source, target, value) triples; `freeze` maps names to a value or None (start-time value);
    `loop` names named loops, by code (R1) or name."""
    scenario = target if isinstance(target, Scenario) else load_scenario(target, set)
    if not (link or freeze or loop):
        raise SdvagError("knockout: nothing to cut (give a link, a variable to freeze or a named loop)")
    info = read_model(scenario.model)
    copy = ModelCopy(info, "cut links, freeze variables or cut loops")
    cuts = [_cut_link(copy, info, *_link(spec)) for spec in link or []]
    cuts += [_freeze(copy, info, name, value) for name, value in (freeze or {}).items()]
    cuts += [_cut_loop(copy, info, wanted) for wanted in loop or []]
    intact = Simulator.for_scenario(scenario).run(scenario)
    with tempfile.TemporaryDirectory(prefix="sdvag-knockout-") as tmp:
        path = Path(tmp) / f"{info.path.stem}_knocked_out{info.path.suffix}"
        path.write_bytes(copy.to_bytes())
        knocked = Simulator(path).run(dataclasses.replace(scenario, model=path))
    knocked.attrs.update(model=str(info.path), knockout="; ".join(cuts))
    return KnockoutResult(scenario.name, intact, knocked, cuts)
