"""Edit a copy of a model's XMILE tree: replace equations and references, add variables.

Scenario-applied copies and knock-outs are written as model files and compiled like any other,
so everything sdvag refuses or checks in a model applies to them too.
"""
from __future__ import annotations

import copy
import re

from lxml import etree as ET

from sdvag.errors import Refused
from sdvag.model.xmile import VENSIM_SUFFIX, ModelInfo, canonical, child, children, is_name, local, token_spans

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_ ]*")


def equation_name(name: str) -> str:
    """How an equation refers to a variable: underscores for spaces, quotes if needed."""
    return "_".join(name.split()) if _PLAIN.fullmatch(name) else '"' + name.replace('"', '\\"') + '"'


def replace_reference(equation: str, old: str, new: str) -> str:
    """`equation` with every use of the variable `old` (not a function call) made a use of `new`."""
    key, parts, last = canonical(old), [], 0
    spans = token_spans(equation)
    for i, (start, end, tok) in enumerate(spans):
        called = i + 1 < len(spans) and spans[i + 1][2] == "("
        if is_name(tok) and not called and canonical(tok) == key:
            parts += [equation[last:start], equation_name(new)]
            last = end
    return "".join(parts) + equation[last:]


class NotEditable(Refused):
    """What needs an edited copy of the model's XMILE, asked of a model that has none."""

    def __init__(self, info: ModelInfo, action: str,
                 reason: str = "sdvag reads a .mdl through PySD and writes changes only into XMILE"):
        super().__init__(f"{info.path}: cannot {action} for Vensim models: {reason} (save the model "
                         f"as XMILE in Vensim first)")


def require_xmile(info: ModelInfo, action: str, *reason: str) -> None:
    """Refuse `action` (it edits or reads the model's XMILE) on a Vensim model."""
    if info.path.suffix.lower() == VENSIM_SUFFIX:
        raise NotEditable(info, action, *reason)


class ModelCopy:
    """A deep copy of a model's tree, edited and then serialised as a new model file."""

    def __init__(self, info: ModelInfo, action: str = "edit a copy of the model"):
        require_xmile(info, action)
        self.info = info
        self.root = copy.deepcopy(info.root)
        model = [m for m in children(self.root, "model") if not m.get("name")] or children(self.root, "model")
        self.holder = child(model[0], "variables")
        self.ns = self.holder.tag[:-len("variables")]

    def node(self, name: str) -> ET._Element:
        key = canonical(name)
        for node in self.holder:
            if isinstance(node.tag, str) and canonical(node.get("name", "")) == key:
                return node
        raise KeyError(name)

    def element(self, node: ET._Element, tag: str, before: tuple[str, ...] = ()) -> ET._Element:
        """The child `tag` of `node`, created (before the first of `before` present) if absent."""
        found = child(node, tag)
        if found is None:
            found = ET.Element(self.ns + tag)
            anchor = next((c for c in node if isinstance(c.tag, str) and local(c.tag) in before), None)
            if anchor is None:
                node.append(found)
            else:
                anchor.addprevious(found)
        return found

    def set_equation(self, name: str, equation: str) -> None:
        self.element(self.node(name), "eqn").text = equation

    def note(self, name: str, text: str) -> None:
        """Append `text` to the variable's documentation (what the copy changed, for a reader)."""
        doc = self.element(self.node(name), "doc", before=("eqn",))
        doc.text = f"{doc.text.strip()} {text}" if doc.text and doc.text.strip() else text

    def set_points(self, name: str, x, y) -> None:
        """The graphical function of variable `name` through the points (x, y)."""
        node = self.node(name)
        gf = node if local(node.tag) == "gf" else child(node, "gf")
        if gf is None:
            gf = self.element(node, "gf", before=("units", "doc", "range", "scale", "format"))
            gf.set("type", "continuous")
        for tag in ("xscale", "yscale", "xpts", "ypts"):
            old = child(gf, tag)
            if old is not None:
                gf.remove(old)
        for tag, values in (("xscale", x), ("yscale", y)):
            ET.SubElement(gf, self.ns + tag, min=repr(float(min(values))), max=repr(float(max(values))))
        for tag, values in (("xpts", x), ("ypts", y)):
            ET.SubElement(gf, self.ns + tag).text = ",".join(repr(float(v)) for v in values)

    def replace_in(self, target: str, old: str, new: str) -> None:
        """In `target`'s equation (or its inflow/outflow list, for a stock), use `new` for `old`."""
        node = self.node(target)
        eqn = child(node, "eqn")
        if local(node.tag) == "stock":
            for flow in (*children(node, "inflow"), *children(node, "outflow")):
                if canonical(flow.text or "") == canonical(old):
                    flow.text = "_".join(new.split())
        elif eqn is not None and eqn.text:
            eqn.text = replace_reference(eqn.text, old, new)

    def add(self, tag: str, name: str, equation: str, units: str, doc: str) -> None:
        """A new variable (an `aux` or a `flow`) at the end of the model's variables."""
        node = ET.SubElement(self.holder, self.ns + tag, name=name)
        ET.SubElement(node, self.ns + "doc").text = doc
        ET.SubElement(node, self.ns + "eqn").text = equation
        if units:
            ET.SubElement(node, self.ns + "units").text = units

    def unused_name(self, wanted: str) -> str:
        names = {canonical(n) for n in self.info.variables} | {
            canonical(n.get("name", "")) for n in self.holder if isinstance(n.tag, str)}
        name, i = wanted, 2
        while canonical(name) in names:
            name, i = f"{wanted} {i}", i + 1
        return name

    def to_bytes(self) -> bytes:
        return ET.tostring(self.root, xml_declaration=True, encoding="utf-8")
