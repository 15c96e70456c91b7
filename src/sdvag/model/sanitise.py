"""A model file is data, never code: what PySD is given, and what sdvag imports from it.

PySD's XMILE translator writes Python source and pastes model text into it: a variable's <doc>
goes unescaped into a docstring (with every backslash turned into a line break), so a model
file could carry a command that runs when the translation is imported. sdvag reads docs, units
and the diagram itself (model/xmile.py), so the copy PySD translates has none of them, nor any
XML comment; names must be plain text, equations are reduced to the text sdvag read (comments
dropped) and may hold no backslash or control character; the time settings are the numbers
sdvag read. Then, before the translation is imported, its syntax tree must have only the shapes
PySD writes for the XMILE sdvag accepts: imports of pathlib, numpy, xarray and PySD's runtime,
assignments and decorated component functions that use only names defined in the file, their
arguments and a few harmless builtins, and no private or dunder attribute; PySD's readers of
external data (a Vensim GET XLS ...) only of the data files sdvag checked (model/datafiles.py).
"""
from __future__ import annotations

import ast
import builtins
import copy
import re

from lxml import etree as ET

from sdvag.errors import SdvagError, shown
from sdvag.model.xmile import ModelInfo, child, equation_text, local, unsafe_name

# Elements PySD does not need; their text could otherwise reach the generated Python.
DROPPED = frozenset({"doc", "units", "views", "header", "model_units", "documentation"})
# Characters an equation may not hold: backslashes, braces left over from comments, control
# and line-separator characters (line breaks and tabs are spaces).
_UNSAFE_EQUATION = re.compile(r'[\\{}\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]')
NAMED = ("stock", "flow", "aux", "gf", "module", "dim", "elem", "model", "macro")


def _drop(node) -> None:
    """Remove an element or comment, keeping the text that follows it."""
    parent = node.getparent()
    tail = node.tail or ""
    previous = node.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(node)


def _unquoted(name: str) -> str:
    """A name as XMILE may quote it in <inflow> and <outflow> ("Home.Entry" for a module's flow)."""
    name = name.strip()
    return name[1:-1] if len(name) > 1 and name[0] == name[-1] == '"' else name


def _check_equation(where: str, equation: str, path) -> None:
    if _UNSAFE_EQUATION.search(equation):
        raise SdvagError(f"{path}: {where}: the equation holds a backslash, a brace or a control "
                         f"character, which sdvag does not accept: {shown(equation)}")


def pysd_tree(info: ModelInfo):
    """The model as PySD translates it: no text that could become code (see the module doc)."""
    root = copy.deepcopy(info.root)
    for node in list(root.iter()):
        if not isinstance(node.tag, str):  # comments, processing instructions
            if node.getparent() is not None:
                _drop(node)
        elif local(node.tag) in DROPPED and node.getparent() is not None:
            _drop(node)
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        tag = local(node.tag)
        if tag in NAMED and unsafe_name(node.get("name", "")):
            raise SdvagError(f"{info.path}: a <{tag}> has a name with a character sdvag does not "
                             f"accept in names (a quote, backslash, brace or control character): "
                             f"{shown(node.get('name', ''))}")
        if tag in ("inflow", "outflow") and unsafe_name(_unquoted(node.text or "")):
            raise SdvagError(f"{info.path}: an <{tag}> names {shown(node.text or '')}, with a "
                             f"character sdvag does not accept in names")
        if tag in ("eqn", "init_eqn"):
            owner = node.getparent().get("name", "") if node.getparent() is not None else ""
            equation = equation_text(node)
            _check_equation(f"variable {shown(owner)}", equation, info.path)
            for inner in list(node):
                node.remove(inner)
            node.text = equation
    specs = child(root, "sim_specs")
    if specs is not None:
        specs.attrib.pop("time_units", None)
        sim = info.sim
        for tag, value in (("start", sim.start), ("stop", sim.stop), ("dt", sim.dt)):
            node = child(specs, tag)
            if node is None:
                node = ET.SubElement(specs, specs.tag.replace("sim_specs", tag))
            node.attrib.clear()  # a reciprocal dt is already inverted in sim.dt
            node.text = repr(float(value))
    return root


def pysd_source(info: ModelInfo) -> bytes:
    """pysd_tree as the file PySD reads."""
    return ET.tostring(pysd_tree(info), xml_declaration=True, encoding="utf-8")


# What a PySD translation of a model sdvag accepts may contain (for a Vensim model with macros,
# each macro's file too: PySD imports it when it loads the model, see macro_files).
_MODULE_IMPORTS = {"numpy": "np", "xarray": "xr"}
_FROM_IMPORTS = {"pathlib": {"Path"}, "pysd": {"Component"}, "pysd.py_backend.model": {"Macro"}}
_RUNTIME = {f"pysd.py_backend.{m}" for m in ("functions", "statefuls", "lookups", "allocation", "external")}
_READERS = frozenset({"ExtConstant", "ExtData", "ExtLookup"})  # their first argument is a file
_BUILTINS = frozenset({"float", "int", "abs", "min", "max", "len", "range", "sum", "round",
                       "True", "False", "None", "__file__"})
_NUMPY = frozenset({
    "abs", "all", "any", "arange", "arccos", "arcsin", "arctan", "array", "cos", "cosh", "empty",
    "exp", "full", "inf", "interp", "isnan", "log", "logical_and", "logical_not", "logical_or",
    "max", "maximum", "min", "minimum", "moveaxis", "nan", "ndarray", "pi", "power", "prod", "sin",
    "sinh", "sqrt", "sum", "tan", "tanh", "tile", "where", "float64"})
_XARRAY = frozenset({"DataArray", "ones_like", "zeros_like"})
_NODES = frozenset({
    "Module", "Expr", "Import", "ImportFrom", "alias", "Assign", "FunctionDef", "arguments", "arg",
    "Return", "For", "If", "IfExp", "Lambda", "Call", "keyword", "Attribute", "Subscript", "Slice",
    "Name", "Load", "Store", "Constant", "Dict", "List", "Tuple", "BinOp", "UnaryOp", "BoolOp",
    "Compare", "Add", "Sub", "Mult", "Div", "Pow", "Mod", "FloorDiv", "USub", "UAdd", "Not",
    "And", "Or", "Eq", "NotEq", "Lt", "LtE", "Gt", "GtE", "Is", "IsNot", "In", "NotIn",
    "BitAnd", "BitOr", "Invert"})


def translation_problem(source: str, data_files: frozenset[str] = frozenset()) -> str | None:
    """Why this Python file is not a translation sdvag may import, or None if it is one.
    `data_files`: the names of the data files it may read (checked, and copied beside it)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        return f"not valid Python ({exc.msg if isinstance(exc, SyntaxError) else exc})"
    defined = set(_BUILTINS) | _macro_parameters(tree)
    lookups = set()  # names bound to HardcodedLookups(...): PySD adds their subscripts' points
    for node in tree.body:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name not in _MODULE_IMPORTS or a.asname != _MODULE_IMPORTS[a.name]:
                    return f"line {node.lineno}: imports {a.name}"
                defined.add(a.asname)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            allowed = _FROM_IMPORTS.get(module)
            if node.level or any(a.name == "*" for a in node.names) or not (allowed is not None or module in _RUNTIME) \
                    or (allowed is not None and any(a.name not in allowed for a in node.names)):
                return f"line {node.lineno}: imports from {module or '.'}"
            defined.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
            if _calls(node.value, "HardcodedLookups"):
                lookups.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.FunctionDef):
            defined.add(node.name)
        elif not (isinstance(node, ast.Expr) and (isinstance(node.value, ast.Constant)
                                                  or _adds_lookup_points(node.value, lookups)
                                                  or _adds_range(node.value))):
            return f"line {node.lineno}: a {type(node).__name__} statement"
    return _check_tree(tree, defined) or _check_readers(tree, defined, data_files)


def _adds_range(call) -> bool:
    """`_ext_x.add(file, ...)`: a further subscript range an external-data reader reads
    (its file is checked by _check_readers)."""
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "add" \
        and isinstance(call.func.value, ast.Name) and call.func.value.id.startswith("_ext_")


def _check_readers(tree: ast.Module, defined: set[str], data_files: frozenset[str]) -> str | None:
    """Every reader of external data (`ExtConstant(file, ...)`, `_ext_x.add(file, ...)`) reads
    a file named as a plain string among `data_files`."""
    readers = {t.id for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
               and isinstance(node.value.func, ast.Name) and node.value.func.id in _READERS
               for t in node.targets if isinstance(t, ast.Name)}
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in _READERS and isinstance(node.ctx, ast.Load) \
                and id(node) not in called:
            return f"line {node.lineno}: uses {node.id} other than to read a file"
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in _READERS & defined or (
                isinstance(func, ast.Attribute) and func.attr == "add"
                and isinstance(func.value, ast.Name) and (func.value.id in readers or _adds_range(node))):
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Constant) and first.value in data_files):
                return f"line {node.lineno}: reads a data file sdvag did not check"
    return None


def _calls(node, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _adds_lookup_points(node, lookups: set[str]) -> bool:
    """`_hardcodedlookup_x.add([...], [...], {...})`: a subscripted lookup's further points."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
        and node.func.attr == "add" and isinstance(node.func.value, ast.Name) \
        and node.func.value.id in lookups


_MACRO_FILE = re.compile(r"[A-Za-z_]\w*\.py")
_PYTHON_BUILTINS = frozenset(dir(builtins))


def _macro_parameters(tree: ast.Module) -> set[str]:
    """The names a macro's file calls its inputs by (`_params = {"input": "input_1"}`): PySD
    binds them to the calling model's values when it loads the macro. Plain identifiers that
    are no Python builtin only, so that a name like `open` never counts as defined."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["_params"] \
                and isinstance(node.value, ast.Dict):
            names = {v.value for v in node.value.values if isinstance(v, ast.Constant)}
            return {n for n in names if isinstance(n, str) and n.isidentifier()
                    and n not in _PYTHON_BUILTINS and not n.startswith("__")}
    return set()


def macro_files(source: str) -> set[str]:
    """The macro files a translation loads: `Macro(_root.joinpath("name.py"), ...)`."""
    return {node.args[0].args[0].value for node in ast.walk(ast.parse(source))
            if _calls(node, "Macro") and _macro_file(node) is None}


def _macro_file(call: ast.Call) -> str | None:
    """Why a Macro(...) call does not load a file of the translation's own folder, or None."""
    first = call.args[0] if call.args else None
    if not (isinstance(first, ast.Call) and isinstance(first.func, ast.Attribute)
            and first.func.attr == "joinpath" and isinstance(first.func.value, ast.Name)
            and first.func.value.id == "_root" and len(first.args) == 1 and not first.keywords
            and isinstance(first.args[0], ast.Constant) and isinstance(first.args[0].value, str)
            and _MACRO_FILE.fullmatch(first.args[0].value) and first.args[0].value != "model.py"):
        return "a Macro that does not load a file beside the model's"
    return None


def _check_tree(tree: ast.Module, defined: set[str]) -> str | None:
    local_names = {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments)
                   for a in (*n.posonlyargs, *n.args, *n.kwonlyargs)}
    local_names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    dtypes = set()  # `bool` as a dtype= argument (ast.walk visits a keyword before its value)
    for node in ast.walk(tree):
        kind = type(node).__name__
        line = getattr(node, "lineno", "?")
        if kind not in _NODES:
            return f"line {line}: a {kind}"
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node not in tree.body:
            return f"line {line}: an import inside a function"
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                func = deco.func if isinstance(deco, ast.Call) else deco
                if not (isinstance(func, ast.Attribute) and func.attr == "add"
                        and isinstance(func.value, ast.Name) and func.value.id == "component"):
                    return f"line {line}: a decorator other than @component.add"
        wrong_macro = _macro_file(node) if _calls(node, "Macro") else None
        if wrong_macro:
            return f"line {line}: {wrong_macro}"
        if isinstance(node, ast.keyword) and node.arg == "dtype" and isinstance(node.value, ast.Name) \
                and node.value.id == "bool":
            dtypes.add(node.value)  # xr.ones_like(value, dtype=bool): PySD's EXCEPT masks
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node not in dtypes \
                and node.id not in defined and node.id not in local_names:
            return f"line {line}: uses the name {node.id}"
        if isinstance(node, ast.Name) and node.id.startswith("__") and node.id.endswith("__") \
                and node.id not in ("__file__", "__pysd_version__"):
            return f"line {line}: uses the name {node.id}"
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                return f"line {line}: uses the attribute {node.attr}"
            base = node.value.id if isinstance(node.value, ast.Name) else None
            if (base == "np" and node.attr not in _NUMPY) or (base == "xr" and node.attr not in _XARRAY):
                return f"line {line}: uses {base}.{node.attr}"
    return None
