"""Read what sdvag needs from an XMILE file (or, through vensim.py, a Vensim file), independently of PySD.

PySD's translator keeps no units, ranges or diagram, and reads some things wrongly; sdvag's own
reading is what scenarios are validated against, what `describe` prints and what the checks use.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

from lxml import etree as ET

from sdvag.errors import SdvagError, shown
from sdvag.model.flatten import flatten_modules
from sdvag.model.info import Graphical, ModelInfo, SimSpecs, Variable
from sdvag.model.tree import (_TOKEN, canonical, child, children, equation_text, is_name, local, main_model,
                              text, token_spans, tokens, unsafe_name)
from sdvag.model.vensim import parse_mdl

__all__ = ["Graphical", "ModelInfo", "SimSpecs", "Variable", "_TOKEN", "canonical", "child", "children",
           "equation_text", "is_name", "local", "main_model", "text", "token_spans", "tokens", "unsafe_name", "MODEL_SUFFIXES", "VENSIM_SUFFIX",
           "XMILE_SUFFIXES", "model_bytes", "parse", "parse_model", "read_model"]

XMILE_SUFFIXES = (".xmile", ".xml", ".stmx", ".itmx")
VENSIM_SUFFIX = ".mdl"
MODEL_SUFFIXES = (*XMILE_SUFFIXES, VENSIM_SUFFIX)
_STRICT = ET.XMLParser(resolve_entities=False, no_network=True)
_LENIENT = ET.XMLParser(resolve_entities=False, no_network=True, recover=True)


def _float(value: str | None, what: str, path: Path) -> float:
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SdvagError(f"{path}: {what} is not a number: {value!r}") from None
    if not math.isfinite(result):
        raise SdvagError(f"{path}: {what} is not finite: {value!r}")
    return result


def _points(node: ET.Element | None, path: Path, what: str) -> list[float]:
    if node is None or not (node.text or "").strip():
        return []
    sep = node.get("sep", ",")
    return [_float(v, what, path) for v in node.text.strip().split(sep) if v.strip()]


def _graphical(gf: ET.Element, path: Path, name: str) -> Graphical:
    y = _points(child(gf, "ypts"), path, f"graphical function '{name}' y points")
    x = _points(child(gf, "xpts"), path, f"graphical function '{name}' x points")
    if not x:
        scale = child(gf, "xscale")
        if scale is None or not y:
            raise SdvagError(f"{path}: graphical function '{name}' has no x scale or no points")
        lo = _float(scale.get("min"), f"'{name}' xscale min", path)
        hi = _float(scale.get("max"), f"'{name}' xscale max", path)
        x = [lo + (hi - lo) * i / max(len(y) - 1, 1) for i in range(len(y))]
    if len(x) != len(y):
        raise SdvagError(f"{path}: graphical function '{name}' has {len(x)} x and {len(y)} y points")
    return Graphical(tuple(x), tuple(y), gf.get("type", "continuous"))


def _variable(node: ET.Element, path: Path) -> Variable:
    kind = local(node.tag)
    name = node.get("name", "").strip()
    if not name:
        raise SdvagError(f"{path}: a <{kind}> has no name")
    if unsafe_name(name):
        raise SdvagError(f"{path}: a <{kind}> has a name with a quote, backslash, brace or "
                         f"control character, which sdvag does not accept: {shown(name)}")
    rng = child(node, "range")
    bounds = None
    if rng is not None:
        bounds = (
            _float(rng.get("min"), f"range min of '{name}'", path),
            _float(rng.get("max"), f"range max of '{name}'", path),
        )
    gf = node if kind == "gf" else child(node, "gf")
    dims = child(node, "dimensions")
    return Variable(
        name=name.replace("\\n", " "),
        kind=kind,
        equation=equation_text(child(node, "eqn")),
        units=text(node, "units"),
        doc=text(node, "doc"),
        range=bounds,
        graphical=_graphical(gf, path, name) if gf is not None else None,
        inflows=tuple(text(n) for n in children(node, "inflow")),
        outflows=tuple(text(n) for n in children(node, "outflow")),
        non_negative=child(node, "non_negative") is not None
        and text(node, "non_negative").lower() != "false",
        dimensions=tuple(d.get("name", "") for d in children(dims, "dim")) if dims is not None else (),
        node=node,
    )


def _sim_specs(root: ET.Element, path: Path) -> SimSpecs:
    specs = child(root, "sim_specs")
    if specs is None:
        raise SdvagError(f"{path}: XMILE file has no <sim_specs>")
    start = _float(text(specs, "start") or "0", "sim_specs start", path)
    stop = _float(text(specs, "stop"), "sim_specs stop", path)
    dt_node = child(specs, "dt")
    dt = _float(text(dt_node) or "1", "sim_specs dt", path)
    if dt_node is not None and dt_node.get("reciprocal", "").lower() == "true":
        if dt == 0:
            raise SdvagError(f"{path}: sim_specs dt: a reciprocal dt of 0 is an infinite step")
        dt = 1.0 / dt
    save = child(specs, "save_step")
    save_step = _float(text(save), "sim_specs save_step", path) if save is not None else dt
    # the method is an attribute in XMILE 1.0, a child element in older iThink/Stella files
    method = specs.get("method") or text(specs, "method") or "Euler"
    return SimSpecs(start, stop, dt, save_step, method, specs.get("time_units", ""))


def _wrap_legacy_variables(model: ET.Element) -> ET.Element:
    """Stella 10 and earlier saved variables straight under <model>; XMILE 1.0 (and PySD, which
    otherwise sees an empty model) wants them inside <variables>. Moves them there."""
    holder = ET.SubElement(model, model.tag.replace("model", "variables"))
    model.remove(holder)
    for node in list(model):
        if isinstance(node.tag, str) and local(node.tag) in ("stock", "flow", "aux", "gf", "module"):
            model.remove(node)
            holder.append(node)
    model.insert(0, holder)
    return holder


def _drop_shadowed_xscales(holder: ET.Element) -> None:
    """A graphical function with explicit <xpts> takes its x values from them, and its <xscale>
    only bounds the editor's axis. PySD instead spreads the y points evenly over the xscale
    whenever one is present, silently: the xscale is removed before PySD reads the file."""
    for gf in holder.iter("{*}gf"):
        scale = child(gf, "xscale")
        if scale is not None and child(gf, "xpts") is not None:
            gf.remove(scale)


def parse(data: bytes, path: Path) -> ModelInfo:
    try:
        root = ET.fromstring(data, _STRICT)
    except ET.XMLSyntaxError as exc:
        # Stella-saved files often use the isee: prefix without declaring it, and some files
        # have `--` inside a comment; those alone are forgiven (PySD and Simlin forgive them
        # too), any other malformation is not.
        message = " ".join(str(exc).split())
        if "prefix" not in message.lower() and "within comment" not in message.lower():
            raise SdvagError(f"{path}: not a readable XMILE file ({message})") from None
        root = ET.fromstring(data, _LENIENT)
    if local(root.tag) != "xmile":
        raise SdvagError(f"{path}: not an XMILE file (root element <{local(root.tag)}>)")
    model = main_model(root, path)
    holder = child(model, "variables")
    if holder is None:
        holder = _wrap_legacy_variables(model)
    flatten_modules(root, model, holder, path)
    _drop_shadowed_xscales(holder)
    variables: dict[str, Variable] = {}
    seen: dict[str, Variable] = {}
    for node in list(holder) if holder is not None else []:
        if not isinstance(node.tag, str) or local(node.tag) not in ("stock", "flow", "aux", "gf"):
            continue
        var = _variable(node, path)
        if canonical(var.name) == "time":  # PySD would replace its clock with the variable
            raise SdvagError(f"{path}: a variable named {var.name!r} clashes with TIME, XMILE's "
                             f"simulation clock (equations that use Time mean the clock); rename it")
        twin = seen.setdefault(canonical(var.name), var)
        if twin is not var:  # XMILE names ignore case, spaces and underscores: one name, twice
            raise SdvagError(f"{path}: {var.name!r} ({var.kind}) and {twin.name!r} ({twin.kind}) "
                             f"are the same name in XMILE; rename one")
        variables[var.name] = var
    units = child(root, "model_units")
    declared = tuple(u.get("name", "") for u in children(units, "unit")) if units is not None else ()
    header = child(root, "header")
    if not variables:
        raise SdvagError(f"{path}: the model defines no variables")
    return ModelInfo(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        name=text(header, "name") if header is not None else path.stem,
        sim=_sim_specs(root, path),
        variables=variables,
        units=declared,
        root=root,
        data=data,
    )


def model_bytes(path: Path) -> bytes:
    """The content of a model file, after checking it is one."""
    if not path.is_file():
        raise SdvagError(f"{path}: model file not found")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise SdvagError(f"{path}: not a model file (expected one of {', '.join(MODEL_SUFFIXES)})")
    return path.read_bytes()


def parse_model(data: bytes, path: Path) -> ModelInfo:
    """An XMILE file's or (through PySD's Vensim parser) a Vensim .mdl file's description."""
    if path.suffix.lower() == VENSIM_SUFFIX:
        return parse_mdl(data, path)
    return parse(data, path)


def read_model(path: str | Path) -> ModelInfo:
    """Parse a model file (.xmile, .xml, .stmx, .itmx or Vensim .mdl) into a ModelInfo."""
    path = Path(path)
    return parse_model(model_bytes(path), path)
