"""XMILE modules flattened into one model before PySD sees them (PySD's translator drops modules).

A <module name="M"> instantiates the sub-model <model name="M">. Its variables become variables of
the main model named by their module path, `M.Var` (`Outer.Inner.Var` for nested modules), as
SDEverywhere and xmutil flatten Vensim macros; results and scenarios address them by that name.
A module input (`<connect to="Var" from=".Outer Var"/>`) becomes `M.Var = Outer Var`, replacing
whatever placeholder equation the sub-model had for it; `from="Other.Var"` reads another module's
variable. Names are written quoted in the equations PySD reads, since its grammar has no dots in
bare names.
"""
from __future__ import annotations

import copy

from lxml import etree as ET

from sdvag.errors import SdvagError, UnsupportedFeature
from sdvag.model.tree import _TOKEN, canonical, child, children, is_name, local

VARIABLE_TAGS = ("stock", "flow", "aux", "gf")
MAX_DEPTH = 16  # a module instantiating itself, directly or not, is refused, not followed


def _quoted(name: str) -> str:
    return '"' + name.replace("\\n", " ").replace('"', "") + '"'


def _rename(equation: str, local_names: dict[str, str], modules: set[str], prefix: str) -> str:
    """The equation with the sub-model's own names replaced by their flat, quoted names."""
    def flat(match) -> str:
        tok = match.group()
        key = canonical(tok) if is_name(tok) else ""
        if key in local_names:
            return _quoted(local_names[key])
        if "." in key and key.split(".", 1)[0] in modules:
            return _quoted(prefix + tok.strip('"'))
        return tok
    return _TOKEN.sub(flat, equation)


def _input_name(to: str, module: str) -> str:
    """The sub-model variable a connection feeds: `to="Var"`, or Stella's `to="Module.Var"`
    (or `Module."Var"`: names hold no quotes, so quotes are only ever quoting)."""
    key, own = canonical(to.replace('"', "")), canonical(module) + "."
    return key[len(own):] if key.startswith(own) else key


class _Flattener:
    def __init__(self, root: ET.Element, path):
        self.path = path
        self.models = {canonical(m.get("name")): m for m in children(root, "model") if m.get("name")}

    def expand(self, module: ET.Element, prefix: str, depth: int) -> list[ET.Element]:
        """The flat variables of one module instance (and of the modules nested in it)."""
        name = module.get("name", "").replace("\\n", " ").strip()
        target = module.get("model") or name
        sub = self.models.get(canonical(target))
        if sub is None:
            raise SdvagError(f"{self.path}: module '{name}' refers to no model '{target}'")
        if depth > MAX_DEPTH:
            raise UnsupportedFeature("modules nested more than 16 deep (a module that contains itself)",
                                     name, self.path)
        path = prefix + name + "."
        holder = child(sub, "variables")  # none in Stella 10's files: variables sit in <model>
        nodes = [n for n in (sub if holder is None else holder) if isinstance(n.tag, str)]
        variables = [n for n in nodes if local(n.tag) in VARIABLE_TAGS]
        inner = [n for n in nodes if local(n.tag) == "module"]
        local_names = {canonical(n.get("name", "")): path + n.get("name", "").replace("\\n", " ")
                       for n in variables}
        modules = {canonical(m.get("name", "")) for m in inner}
        inputs = {_input_name(c.get("to", ""), name): prefix + c.get("from", "").lstrip(".")
                  for c in children(module, "connect")}
        flat = []
        for node in variables:
            key = canonical(node.get("name", ""))
            if key in inputs:
                node = self._input(node, local_names[key], inputs[key])
            else:
                node = copy.deepcopy(node)
                node.set("name", local_names[key])
                for part in node.iter("{*}eqn", "{*}inflow", "{*}outflow"):
                    if part.text:
                        part.text = _rename(part.text, local_names, modules, path)
            flat.append(node)
        for nested in inner:
            flat += self.expand(nested, path, depth + 1)
        return flat

    @staticmethod
    def _input(node: ET.Element, flat_name: str, source: str) -> ET.Element:
        """A connected input: an auxiliary equal to the variable it is connected from."""
        aux = ET.Element(node.tag.replace(local(node.tag), "aux"), name=flat_name)
        for tag in ("units", "doc"):
            kept = child(node, tag)
            if kept is not None:
                aux.append(copy.deepcopy(kept))
        ET.SubElement(aux, node.tag.replace(local(node.tag), "eqn")).text = _quoted(source)
        return aux


def flatten_modules(root: ET.Element, main: ET.Element, holder: ET.Element, path) -> None:
    """Replace the main model's modules by their flat variables, in place, and drop the
    sub-models; equations of the main model that read `Module.Var` are quoted for PySD."""
    modules = children(holder, "module")
    if not modules:
        return
    flattener = _Flattener(root, path)
    for module in modules:
        for node in flattener.expand(module, "", 1):
            holder.append(node)
        holder.remove(module)
    names = {canonical(m.get("name", "")) for m in modules}
    for eqn in holder.iter("{*}eqn", "{*}inflow", "{*}outflow"):
        if eqn.text and "." in eqn.text:
            eqn.text = _rename(eqn.text, {}, names, "")
    for model in children(root, "model"):
        if model is not main:
            root.remove(model)
