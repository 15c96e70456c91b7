"""Read a Vensim .mdl model into the same ModelInfo an XMILE file gives, via PySD's Vensim parser.

PySD's Vensim translator is its most mature one, and its abstract model already carries what
sdvag needs (names, units, documentation, limits, lookups, subscripts), so scenarios, `describe`
and the checks treat a .mdl like an XMILE model. The .mdl has no XMILE tree: an empty <xmile>
root stands in for it (no views, no declared units), so code that reads the tree finds nothing.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import math
import re
import warnings
from pathlib import Path

import numpy as np
from lxml import etree as ET

from sdvag.errors import SdvagError, UnsupportedFeature, shown
from sdvag.model.pysd_errors import explain
from sdvag.model.info import Graphical, ModelInfo, SimSpecs, Variable
from sdvag.model.tree import canonical

CONTROLS = {"initial time": "start", "final time": "stop", "time step": "dt", "saveper": "save_step"}
# What PySD's Vensim translator simulates differently from Vensim, found by running the SDXorg
# test suite's .mdl files against Vensim's own outputs: refused, with the reason.
REFUSED_STRUCTURES = {
    "AllocateAvailableStructure": "ALLOCATE AVAILABLE (PySD's allocation differs from Vensim's "
                                  "by up to 1%)",
    "DataStructure": "a data variable with no file named in the model (Vensim reads its values "
                     "from a .vdf or data file chosen at run time)",
    "GameStructure": "GAME inputs (interactive)",
}
RANDOM_PREFIX = "random_"  # RANDOM UNIFORM, RANDOM NORMAL...: Vensim's random stream
# GET XLS/DIRECT CONSTANTS, DATA and LOOKUPS: PySD reads their files (model/datafiles.py checks them)
EXTERNAL_STRUCTURES = ("GetConstantsStructure", "GetDataStructure", "GetLookupsStructure")


def _walk(node):
    """Every abstract-syntax node under a PySD component's AST."""
    yield node
    if isinstance(node, (list, tuple)):
        for item in node:
            yield from _walk(item)
    elif hasattr(node, "__dataclass_fields__"):
        for name in node.__dataclass_fields__:
            yield from _walk(getattr(node, name))


def refusals(elements) -> tuple[tuple[str, str], ...]:
    """(feature, variable) for every use of what PySD's Vensim translation gets wrong."""
    found = []
    for element in elements:
        for component in element.components:
            for node in _walk(component.ast):
                kind = type(node).__name__
                if kind in REFUSED_STRUCTURES:
                    found.append((REFUSED_STRUCTURES[kind], element.name))
                elif kind == "CallStructure" and getattr(node.function, "reference", "").startswith(RANDOM_PREFIX):
                    name = node.function.reference.replace("_", " ").upper()
                    found.append((f"{name} (Vensim's random number stream cannot be reproduced)",
                                  element.name))
                elif kind == "CallStructure" and getattr(node.function, "reference", "") == "get_time_value" \
                        and _time_value_form(node.arguments):
                    found.append((_time_value_form(node.arguments), element.name))
    return tuple(found)


# Statefuls PySD moves on at the end of a step before a DELAY FIXED reads its input: DELAY1 and
# DELAY3 ('_delay_' objects) and DELAY FIXED itself ('_delayfixed_'); see model/delays.py, the
# same check on XMILE's DELAY.
_MOVED_FIRST = frozenset({"DelayStructure", "DelayFixedStructure"})


def stale_pipeline_inputs(elements) -> tuple[tuple[str, str], ...]:
    """(feature, variable) for each DELAY FIXED whose input depends, within the step, on a delay
    PySD may have moved on already: DELAY FIXED(DELAY FIXED(Time, DT, 0), DT, 0) would be Time one
    DT ago, not two, whenever PySD has not kept the current value (between saved times)."""
    by_key = {canonical(e.name): e for e in elements}
    stocks = {key for key, e in by_key.items()
              if any(type(c.ast).__name__ == "IntegStructure" for c in e.components)}

    def moved(node) -> int:
        return sum(type(n).__name__ in _MOVED_FIRST for n in _walk(node))

    def reached(node) -> set[str]:  # the variables computing `node` computes, up to stocks
        seen, todo = set(), [node]
        while todo:
            for n in _walk(todo.pop()):
                key = canonical(n.reference) if type(n).__name__ == "ReferenceStructure" else None
                if key in by_key and key not in seen:
                    seen.add(key)
                    if key not in stocks:
                        todo += [c.ast for c in by_key[key].components]
        return seen

    found = []
    for element in elements:
        own = canonical(element.name)
        pipelines = [n for c in element.components for n in _walk(c.ast)
                     if type(n).__name__ == "DelayFixedStructure"]
        if any(moved(p.input) or any(sum(moved(c.ast) for c in by_key[key].components) > (key == own)
                                     for key in reached(p.input) if key not in stocks)
               for p in pipelines):
            found.append(("a DELAY FIXED of a value that depends on another DELAY FIXED, DELAY1 or "
                          "DELAY3 within the step (PySD reads it after moving that one on)", element.name))
    return tuple(found)


def external_files(model) -> tuple[tuple[str, str], ...]:
    """(variable or subscript range, file name as written) for every file the model reads:
    GET ... CONSTANTS/DATA/LOOKUPS in equations, GET DIRECT SUBSCRIPT in subscript ranges."""
    found = []
    for section in model.sections:
        for subscript in section.subscripts:
            if isinstance(subscript.subscripts, dict):
                found.append((subscript.name, str(subscript.subscripts.get("file", ""))))
        for element in section.elements:
            for component in element.components:
                for node in _walk(component.ast):
                    if type(node).__name__ in EXTERNAL_STRUCTURES:
                        found.append((element.name, str(node.file)))
    return tuple(found)


def _unstackable_stocks(section) -> tuple[str, str] | None:
    """(feature, variable) when PySD cannot stack its stocks' states into one array: it runs
    `np.array([state of each stock], dtype=object)`, which fails when one stock's array has the
    same leading dimensions as another's and more (SDXorg data_from_other_model: a stock over
    [dim1, dim2] beside one defined piecewise over [dim1, dim2, B]). Numpy itself decides, on
    zero arrays of the shapes PySD's stocks will have."""
    import numpy as np

    sizes = {r.name: len(r.subscripts) for r in section.subscripts}
    stocks = [(element.name, tuple(sizes.get(s, 1) for s in component.subscripts[0]))
              for element in section.elements for component in element.components
              if type(component.ast).__name__ == "IntegStructure"]
    try:
        np.array([np.zeros(shape) for _, shape in stocks], dtype=object)
    except ValueError:
        widest = max(stocks, key=lambda stock: len(stock[1]))
        return ("stocks whose arrays PySD cannot stack into its state (one with the leading "
                "dimensions of another, and more)", widest[0])
    return None


def _time_value_form(arguments) -> str | None:
    """The GET TIME VALUE(relativeto, offset, measure) forms PySD cannot simulate as Vensim does:
    it implements only the model's own time (relativeto 0) in the model's time units (measure 0)."""
    if len(arguments) != 3:
        return None  # PySD's translator reports the wrong number of arguments itself
    relative, measure = _constant(arguments[0]), _constant(arguments[2])
    if relative is None or measure is None:
        return "GET TIME VALUE with a computed relativeto or measure (PySD implements relativeto 0, measure 0)"
    if relative == 1:
        # SDXorg pysd#332: Vensim 7.3.4 gives the current time here, its documentation the initial one
        return ("GET TIME VALUE relative to the initial time (relativeto 1, which PySD does not implement: "
                "Vensim's documentation says the initial time, Vensim 7.3.4 computes the current one)")
    if relative == 2:
        return "GET TIME VALUE of the computer's clock (relativeto 2: not reproducible)"
    if measure != 0:
        return (f"GET TIME VALUE in calendar units (measure {measure:g}; PySD implements measure 0, "
                "the model's time units)")
    return None


def _abstract_model(data: bytes, path: Path):
    """PySD's parse of the file (PySD reads from a path: the bytes go to a private copy)."""
    import tempfile

    from pysd.translators.vensim.vensim_file import VensimFile

    with tempfile.TemporaryDirectory(prefix="sdvag-mdl-") as work:
        copy = Path(work) / "model.mdl"
        copy.write_bytes(data)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            try:
                parsed = VensimFile(str(copy))
                parsed.parse()
                return parsed.get_abstract_model()
            except Exception as exc:  # PySD's parser raises many types on text it cannot read
                raise UnsupportedFeature(*explain(exc), path) from None


def without_documentation(model):
    """PySD's abstract model of a .mdl with every comment blanked: PySD pastes a comment
    unescaped into a docstring of the Python it writes, where a crafted one becomes code.
    sdvag reads the comments from its own parse (parse_mdl); names and units PySD writes with
    repr(), but for dimension names, which parse_mdl checks."""
    for section in model.sections:
        for element in section.elements:
            element.documentation = ""
    return model


def _check_names(model, path: Path) -> None:
    """Refuse a dimension name that could break out of the quotes PySD writes it between
    (`_subscript_dict['Region']`); PySD writes every other name with repr()."""
    for section in model.sections:
        for dimension in section.subscripts:
            if re.search(r"['\"\\]|[^\S ]", dimension.name):
                raise SdvagError(f"{path}: the dimension name {shown(dimension.name)} holds a quote, "
                                 "a backslash or a control character, which sdvag does not accept "
                                 "in dimension names")


def _constant(ast) -> float | None:
    return float(ast) if isinstance(ast, (int, float)) and not isinstance(ast, bool) else None


def _lookup(ast) -> Graphical:
    return Graphical(tuple(float(v) for v in ast.x), tuple(float(v) for v in ast.y))


def _sim_specs(elements: dict, path: Path) -> SimSpecs:
    """The time settings: numbers, or a control variable naming another (SAVEPER = TIME STEP);
    one given by any other equation is computed by the model as it runs (NaN here, named in
    `computed`; simulation/computed_time.py)."""
    values: dict[str, float] = {}
    for _ in range(2):
        for name, key in CONTROLS.items():
            element = elements.get(name)
            if element is None or key in values:
                continue
            ast = element.components[0].ast
            number = _constant(ast)
            if number is None and type(ast).__name__ == "ReferenceStructure":
                other = CONTROLS.get(ast.reference.replace("_", " "))
                number = values.get(other) if other else None
            if number is not None:
                values[key] = number
    computed = tuple(name.upper() for name, key in CONTROLS.items()
                     if key not in values and (key != "save_step" or name in elements))
    for name, key in CONTROLS.items():
        if key in values and not math.isfinite(values[key]):
            raise SdvagError(f"{path}: {name.upper()} is not finite")
    dt = values.get("dt", math.nan)
    return SimSpecs(values.get("start", math.nan), values.get("stop", math.nan), dt,
                    values.get("save_step", dt if "saveper" not in elements else math.nan),
                    "Euler", elements["time step"].units or "", computed)


# Statefuls PySD sizes by the TIME STEP at the start of a run (a DELAY FIXED's pipeline; the
# order DELAY1, DELAY3 and DELAY N lower to fit the step), where Vensim has no rule for a
# TIME STEP that changes as the model runs.
_SIZED_BY_STEP = {"DelayFixedStructure": "DELAY FIXED", "DelayStructure": "DELAY1 or DELAY3",
                  "DelayNStructure": "DELAY N"}
# What a computed INITIAL TIME may use: arithmetic, logic, functions and other variables, not
# stocks or other statefuls (which have no value before the run starts).
_STATELESS = frozenset({"ArithmeticStructure", "LogicStructure", "ReferenceStructure", "CallStructure",
                        "SubscriptsReferenceStructure", "InlineLookupsStructure", "LookupsStructure"})


def computed_time_refusals(elements: dict, computed: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(feature, variable) for what a model's computed time settings leave without one answer:
    a delay sized by a computed TIME STEP, and a computed INITIAL TIME that depends on a stock
    or another stateful function."""
    found = []
    if "TIME STEP" in computed:
        for element in elements.values():
            kinds = {type(n).__name__ for c in element.components for n in _walk(c.ast)}
            found += [(f"{_SIZED_BY_STEP[kind]} with a computed TIME STEP (PySD sizes it by the "
                       "step at the start only)", element.name) for kind in sorted(kinds & set(_SIZED_BY_STEP))]
    if "INITIAL TIME" in computed:
        seen, todo = set(), ["initial time"]
        while todo:
            element = elements.get(todo.pop())
            for node in (n for c in (element.components if element else ()) for n in _walk(c.ast)):
                kind = type(node).__name__
                if kind.endswith("Structure") and kind not in _STATELESS:
                    return (*found, ("a computed INITIAL TIME that depends on a stock or another "
                                     "stateful function (it has no value before the run starts)",
                                     element.name))
                key = " ".join(str(getattr(node, "reference", "")).replace("_", " ").split()).lower()
                if kind == "ReferenceStructure" and key not in seen:
                    seen.add(key)
                    todo.append(key)
    return tuple(found)


def _kind(element) -> str:
    types = {type(c.ast).__name__ for c in element.components}
    if "IntegStructure" in types:
        return "stock"
    if types == {"LookupsStructure"}:
        return "gf"
    return "aux"


def _range(limits) -> tuple[float, float] | None:
    if not limits or all(v is None for v in limits[:2]):
        return None
    lo, hi = limits[0], limits[1]
    return (-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi))


def _elements(element, ranges: dict[str, list[str]]) -> tuple[tuple[tuple[str, ...], str], ...]:
    """An array's elements from PySD's parse: each definition (`Weight[Region] = 1, 2, 3`,
    `Weight[North] = 1`, `:EXCEPT:`) covers the elements of its subscripts; a number or a list
    of numbers is kept as its text, anything else as ""."""
    found: dict[tuple[str, ...], str] = {}
    for component in element.components:
        subscripts, exceptions = component.subscripts
        combos = _covered(subscripts, ranges)
        left_out = {combo for subs in exceptions for combo in _covered(subs, ranges)}
        ast = component.ast
        values = (np.ravel(ast).tolist() if isinstance(ast, np.ndarray) and ast.size == len(combos)
                  else [ast] * len(combos))
        for combo, value in zip(combos, values):
            if combo not in left_out:
                number = isinstance(value, (int, float)) and not isinstance(value, bool)
                found[combo] = repr(float(value)) if number else ""
    return tuple(found.items())


def _covered(subscripts, ranges: dict[str, list[str]]) -> list[tuple[str, ...]]:
    """The elements that subscripts (dimension, subrange or element names) cover, in order."""
    return list(itertools.product(*(ranges.get(canonical(s), [s]) for s in subscripts)))


def _variable(element, ranges: dict[str, list[str]]) -> Variable:
    component = element.components[0]
    subscripts = component.subscripts[0] if element.components else []
    number = _constant(component.ast) if len(element.components) == 1 and not subscripts else None
    graphical = _lookup(component.ast) if type(component.ast).__name__ == "LookupsStructure" else None
    return Variable(
        name=element.name,
        kind=_kind(element),
        equation=repr(number) if number is not None else "",
        units=element.units or "",
        doc=element.documentation or "",
        range=_range(element.limits),
        graphical=graphical,
        dimensions=tuple(subscripts),
        elements=_elements(element, ranges) if subscripts else (),
    )


def parse_mdl(data: bytes, path: Path) -> ModelInfo:
    """A Vensim model's description: variables (subscripted ones with their dimensions) and
    time settings; the control variables (INITIAL TIME...) are the sim specs, not variables."""
    model = _abstract_model(data, path)
    _check_names(model, path)
    main, *macros = model.sections
    _check_macro_files(macros, path)
    elements = {" ".join(e.name.lower().replace("_", " ").split()): e for e in main.elements}
    if "time step" not in elements or "final time" not in elements:
        raise SdvagError(f"{path}: the model has no TIME STEP or FINAL TIME")
    ranges = {canonical(r.name): r.subscripts for r in main.subscripts}
    variables = {e.name: _variable(e, ranges) for key, e in elements.items() if key not in CONTROLS}
    if not variables:
        raise SdvagError(f"{path}: the model defines no variables")
    root = ET.Element("xmile")
    ET.SubElement(root, "model")
    sim = _sim_specs(elements, path)
    return ModelInfo(path=path, sha256=hashlib.sha256(data).hexdigest(), name=path.stem,
                     sim=sim, variables=variables, units=(), root=root, data=data,
                     refusals=computed_time_refusals(elements, sim.computed)
                     + refusals([*elements.values(), *(e for m in macros for e in m.elements)])
                     + tuple(filter(None, map(_unstackable_stocks, (main, *macros))))
                     + sum((stale_pipeline_inputs(m.elements) for m in (main, *macros)), ()),
                     external=external_files(model))


def _check_macro_files(macros, path: Path) -> None:
    """PySD writes each macro to a file named after it beside the model's translation
    (model.py): names that would share a file (also on a case-blind file system) are refused."""
    taken = {"model.py"}
    for macro in macros:
        name = macro.path.name.lower()
        if name in taken or name == ".py":
            raise UnsupportedFeature(f"the Vensim macro {macro.name.upper()!r} (its name, reduced "
                                     "to a file name, is empty or that of the model or of "
                                     "another macro)", None, path)
        taken.add(name)
