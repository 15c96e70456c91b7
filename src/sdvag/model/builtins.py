"""XMILE and Stella builtins PySD lacks or gets wrong, rewritten into equations PySD simulates right.

PySD's XMILE translator does not know DT, STARTTIME, STOPTIME, PI, INF, LOG10, MEAN, Stella's `//`
(safe division), `{...}` comments or one-argument RAMP; it truncates INT towards zero where XMILE
floors (INT(-19.875) is -20), has no MOD of its own (its MODULO is
0 for a negative divisor), and mis-reads subscripts written with a space after the comma. Each is
rewritten, in the text PySD receives, into PySD constructs whose meaning is the XMILE one:

    DT, STARTTIME, STOPTIME    PySD's own time_step, initial_time, final_time
    PI                         the number
    INF                        (1e308 * 10), which is IEEE infinity (PySD's grammar has no INF)
    LOG10(x)                   LOG(x, 10)              (PySD's two-argument log)
    MEAN(a, b, ...)            ((a) + (b) + ...) / n
    INT(x)                     floor: INT(x) - (IF x < INT(x) THEN 1 ELSE 0)
    a MOD b, MOD(a, b)         floor modulo: a - b * floor(a / b)
    a // b                     SAFEDIV(a, b)           (0 where b = 0, as Stella)
    RAMP(slope)                RAMP(slope, STARTTIME)
    NPV(stream, r, init, f)    Vensim's definition: two stocks (see _npv)
    PREVIOUS(x, init)          DELAY(x, DT, init)      (a pipeline of one step: x one DT ago,
                               init at the start); SELF, its first argument, is the variable
    LOOKUP(gf, x), gf(x)       G(x), G a stand-alone <gf> copied from gf's graphical function
                               (PySD calls only stand-alone <gf>; an aux or flow with a <gf>
                               is to PySD a value); LOOKUP(gf[A], x): G from element A's <gf>
    {comment}                  removed
    Dimension.Element          the element's position (Stella), 1 for the first
    x[A, B]                    x[A,B]
    SUM(x[*]), MAX(x[*])...    SUM(x[Dim!])            (PySD's reduction over x's dimension)
    MEAN(x[*]), SIZE(x[*])...  see arrays.py           (the one-argument array builtins)
    VECTOR SELECT, ELM MAP...  see vectors.py          (Vensim's vector builtins, kept by xmutil)

Operands of the infix forms must be single terms (a name, number, call or parenthesised group);
where a neighbouring * / ^ would make the grouping depend on precedence rules PySD does not share,
the equation is refused instead (Rewrite.refused names the form).
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from sdvag.model import vectors
from sdvag.model.arrays import REDUCTIONS, reduction, stock_initials_as_auxiliaries
from sdvag.model.rewrite import equation_name
from sdvag.model.xmile import _TOKEN, canonical, child, children, is_name, local, main_model

CONTROL_NAMES = {"dt": "time_step", "starttime": "initial_time", "stoptime": "final_time"}
CONSTANTS = {"pi": "3.141592653589793", "inf": "(1e308 * 10)"}  # 1e308 * 10 overflows to inf
# Builtins this module rewrites: support.py accepts them.
_CALLS = frozenset({"int", "log10", "mean", "mod", "ramp", "lookup", "previous", "npv"}) | REDUCTIONS
REWRITTEN = _CALLS | vectors.CALLS | {"self"} | set(CONTROL_NAMES) | set(CONSTANTS)
PYSD_CONTROLS = {"time step", "initial time", "final time", "saveper"}
_COMMENT = re.compile(r"\{[^{}]*\}")
_OPERATOR = re.compile(r"^([-+*/^(,<>=]|<>|<=|>=|and|or|not|if|then|else)$", re.I)
_SUBSCRIPTED = re.compile(r'("[^"]*"|[^\W\d][\w.$\']*)\s*\[([^\[\]"]*)\]')


class AmbiguousForm(ValueError):
    """An infix form whose grouping PySD could read differently from XMILE."""


@dataclass
class _Tok:
    gap: str  # the whitespace before the token
    text: str
    term: bool = False  # a rewritten builtin: one term, whatever its text


def _split(equation: str) -> list[_Tok]:
    toks, pos = [], 0
    for m in _TOKEN.finditer(equation):
        toks.append(_Tok(equation[pos:m.start()], m.group()))
        pos = m.end()
    return toks


def _join(toks: list[_Tok]) -> str:
    return "".join(t.gap + t.text for t in toks)


_PAIRS = {"(": ")", "[": "]", ")": "(", "]": "["}


def _match(toks: list[_Tok], at: int) -> int:
    """Index of the bracket matching the one at `at`: forwards from an opening bracket,
    backwards from a closing one."""
    mine, step = toks[at].text, 1 if toks[at].text in "([" else -1
    depth, k = 0, at
    while 0 <= k < len(toks):
        if toks[k].text == mine:
            depth += 1
        elif toks[k].text == _PAIRS[mine]:
            depth -= 1
            if depth == 0:
                return k
        k += step
    raise AmbiguousForm("unbalanced brackets")


def _operand_name(tok: str) -> bool:
    """A variable or function name, not a keyword such as AND or THEN."""
    return is_name(tok) and not _OPERATOR.match(tok)


def _term_end(toks: list[_Tok], i: int) -> int:
    """Last index of the single term starting at i."""
    if i >= len(toks):
        raise AmbiguousForm("missing operand")
    if toks[i].term:
        return i
    if toks[i].text == "(":
        return _match(toks, i)
    if not (_operand_name(toks[i].text) or toks[i].text[0].isdigit() or toks[i].text[0] == "."):
        raise AmbiguousForm("operand is not a single term")
    j = i
    while j + 1 < len(toks) and toks[j + 1].text in ("(", "["):
        j = _match(toks, j + 1)
    return j


def _term_start(toks: list[_Tok], j: int) -> int:
    """First index of the single term ending at j."""
    if j < 0:
        raise AmbiguousForm("missing operand")
    if toks[j].term:
        return j
    i = j
    while toks[i].text in (")", "]"):
        i = _match(toks, i)
        if i == 0 or not (_operand_name(toks[i - 1].text) or toks[i - 1].text in (")", "]")):
            return i
        i -= 1
    if not (_operand_name(toks[i].text) or toks[i].text[0].isdigit() or toks[i].text[0] == "."):
        raise AmbiguousForm("operand is not a single term")
    return i


def _arguments(toks: list[_Tok], open_i: int) -> tuple[list[str], int]:
    """The top-level arguments of the call whose '(' is at open_i, and the ')' index."""
    close_i = _match(toks, open_i)
    args, start, depth = [], open_i + 1, 0
    for k in range(open_i + 1, close_i):
        t = toks[k].text
        if t in ("(", "["):
            depth += 1
        elif t in (")", "]"):
            depth -= 1
        elif t == "," and depth == 0:
            args.append(_join(toks[start:k]).strip())
            start = k + 1
    args.append(_join(toks[start:close_i]).strip())
    return [a for a in args if a], close_i


def _floor(x: str) -> str:
    return f"(INT({x}) - (IF ({x}) < INT({x}) THEN 1 ELSE 0))"


def _mod(a: str, b: str) -> str:
    return f"(({a}) - ({b}) * {_floor(f'({a}) / ({b})')})"


def _infix(toks: list[_Tok], at: int, width: int, build) -> tuple[list[_Tok], int]:
    """Replace `left OP right` (OP spanning `width` tokens from `at`) by build(left, right);
    returns the tokens and the index of the new term."""
    left0 = _term_start(toks, at - 1)
    right1 = _term_end(toks, at + width)
    before = toks[left0 - 1].text if left0 > 0 else ""
    after = toks[right1 + 1].text if right1 + 1 < len(toks) else ""
    unary = before == "-" and (left0 < 2 or toks[left0 - 2].text in "(,+-*/^<>=")
    if before in ("/", "^") or after == "^" or unary or before == "*" and build is _mod:
        raise AmbiguousForm("an operand shared with a neighbouring operator")
    left, right = _join(toks[left0:at]).strip(), _join(toks[at + width:right1 + 1]).strip()
    return toks[:left0] + [_Tok(toks[left0].gap, build(left, right), True)] + toks[right1 + 1:], left0


def _graph(reference: str, graphs: dict[str, str]) -> str:
    """The function LOOKUP's first argument names: a stand-alone <gf> as it is, else the helper
    <gf> of a variable's (or one element's) graphical function."""
    m = re.fullmatch(r'("[^"]*"|[^\W\d][\w.$\']*)\s*(?:\[([^\[\]]*)\])?', reference)
    if m is None:
        raise AmbiguousForm("LOOKUP of an expression, not a graphical function")
    key = canonical(m.group(1))
    if m.group(2) is not None:
        key += "[" + ",".join(canonical(e) for e in m.group(2).split(",")) + "]"
    shared = canonical(m.group(1)) + "[*]"
    if key in graphs or shared in graphs:  # one <gf> for all elements: whichever is meant
        return graphs.get(key) or graphs[shared]
    if m.group(2) is not None:
        raise AmbiguousForm("LOOKUP of an element of an arrayed variable by a dimension (an "
                            "arrayed graphical function), or of an element without one")
    return m.group(1)


def _previous_of(value: str, owner: str | None, names: set[str]) -> str:
    """PREVIOUS's first argument, with Stella's SELF (the variable being defined) named."""
    if canonical(value) != "self" or "self" in names:
        return value
    if owner is None:
        raise AmbiguousForm("SELF in an arrayed variable or an element's equation")
    return equation_name(owner)


def _npv(args: list[str], owner: str | None, names: set[str], made: list) -> str:
    """Vensim's NPV(stream, rate, initial, factor) (xmutil keeps it in XMILE) by its
    definition: a discount factor falling as 1/(1 + rate*DT) per step and the sum of the
    discounted stream, two stocks (appended to `made` as (tag, name, equation, flow) for
    pysd_bytes to add); NPV = (sum + stream * DT * factor of now) * factor."""
    if owner is None:
        raise AmbiguousForm("NPV in an arrayed variable")
    stream, rate, initial, factor = args
    base, k = f"{owner} npv", 1
    while {canonical(f"{base} {part}") for part in ("discount", "sum")} & names or \
            any(canonical(m[1]) == canonical(f"{base} discount") for m in made):
        base, k = f"{owner} npv {k + 1}", k + 1
    discount, total = equation_name(f"{base} discount"), equation_name(f"{base} sum")
    made += [("stock", f"{base} discount", "1", ("outflow", f"{base} discounting")),
             ("flow", f"{base} discounting", f"{discount} * ({rate}) / (1 + ({rate}) * time_step)", None),
             ("stock", f"{base} sum", initial, ("inflow", f"{base} adding")),
             ("flow", f"{base} adding", f"({stream}) * {discount}", None)]
    return f"(({total} + ({stream}) * time_step * {discount}) * ({factor}))"


def _sized(toks: list[_Tok], i: int) -> bool:
    """Whether the token at i is the whole argument of SIZE (`SIZE(Dim)`: the dimension itself)."""
    return 2 <= i < len(toks) - 1 and toks[i - 1].text == "(" and toks[i + 1].text == ")" \
        and canonical(toks[i - 2].text) == "size"


def _rewrite_calls(toks: list[_Tok], names: set[str], positions: dict[str, int],
                   dims: dict[str, tuple[str, ...]], graphs: dict[str, str], owner: str | None,
                   made: list, owner_dims: tuple[str, ...] = ()) -> list[_Tok]:
    """Rewrite the builtins (innermost first, so an argument is itself already rewritten)."""
    vector = vectors.Context(names, dims, positions, owner_dims, made)
    i, depth = len(toks) - 1, 0  # depth: inside how many subscript brackets
    while i >= 0:
        tok = toks[i]
        depth += (tok.text == "]") - (tok.text == "[")
        key = canonical(tok.text) if is_name(tok.text) else ""
        called = i + 1 < len(toks) and toks[i + 1].text == "("
        if key == "mod" and i > 0 and (toks[i - 1].term or toks[i - 1].text in (")", "]")
                                       or not _OPERATOR.match(toks[i - 1].text)):
            called = False  # `(a) MOD (b)`: the infix operator before a parenthesised operand
        if key and called and key in graphs:
            tok.text, tok.term = graphs[key], True
        elif key and key not in names:
            if not called and key in positions:
                tok.text = str(positions[key])
            elif not called and depth == 0 and vectors.is_own_dimension(key, vector) \
                    and not _sized(toks, i):
                tok.text, tok.term = vectors.position(tok.text, vector), True
            elif not called and key in CONTROL_NAMES:
                tok.text = CONTROL_NAMES[key]
            elif not called and key in CONSTANTS:
                tok.text = CONSTANTS[key]
            elif not called and key == "mod":
                toks, i = _infix(toks, i, 1, _mod)
            elif called and key in vectors.CALLS:
                args, close_i = _arguments(toks, i + 1)
                try:
                    text = vectors.rewrite(key, args, vector)
                except ValueError as exc:
                    raise AmbiguousForm(str(exc)) from None
                toks = toks[:i] + [_Tok(tok.gap, text, True)] + toks[close_i + 1:]
            elif called and key in _CALLS:
                args, close_i = _arguments(toks, i + 1)
                try:
                    text = reduction(key, args, dims, positions) if key in REDUCTIONS else None
                except ValueError as exc:
                    raise AmbiguousForm(str(exc)) from None
                if text is not None:
                    pass
                elif key == "int" and len(args) == 1:
                    text = _floor(args[0])
                elif key == "log10" and len(args) == 1:
                    text = f"LOG({args[0]}, 10)"
                elif key == "mean" and len(args) > 1:
                    text = "((" + ") + (".join(args) + f")) / {len(args)}"
                elif key == "mod" and len(args) == 2:
                    text = _mod(*args)
                elif key == "lookup" and len(args) == 2:
                    text = f"{_graph(args[0], graphs)}({args[1]})"
                elif key == "previous" and len(args) == 2:
                    text = f"DELAY({_previous_of(args[0], owner, names)}, time_step, {args[1]})"
                elif key == "npv" and len(args) == 4:
                    text = _npv(args, owner, names, made)
                elif key == "ramp" and len(args) == 1:
                    text = f"RAMP({args[0]}, initial_time)"
                elif key == "ramp" or key in REDUCTIONS:  # as written
                    i -= 1
                    continue
                else:
                    raise AmbiguousForm(f"{key.upper()} with {len(args)} argument(s)")
                toks = toks[:i] + [_Tok(tok.gap, text, True)] + toks[close_i + 1:]
        elif tok.text == "/" and i > 0 and toks[i - 1].text == "/" and not toks[i].gap:
            toks, i = _infix(toks, i - 1, 2, lambda a, b: f"SAFEDIV({a}, {b})")
        i -= 1
    return toks


def _subscripts(match: re.Match, dims: dict[str, tuple[str, ...]]) -> str:
    """`x[A, B]` as `x[A,B]`; a `*` (all elements) as the variable's own dimension with PySD's
    `!` (`SUM(x[*])` -> `SUM(x[Dim!])`), and `*:Sub` (the elements of Sub) as `Sub!`."""
    name, items = match.group(1), [i.strip() for i in match.group(2).split(",")]
    own = dims.get(canonical(name), ())
    if "*" in items and len(own) == len(items):
        items = [f"{'_'.join(own[k].split())}!" if item == "*" else item for k, item in enumerate(items)]
    items = [f"{'_'.join(item.split(':', 1)[1].split())}!" if re.match(r"\*\s*:", item) else item for item in items]
    return f"{name}[{','.join(items)}]"


def calls(equation: str) -> list[tuple[str, list[str]]]:
    """Every function call in the equation, nested ones too: (canonical name, arguments)."""
    toks, found = _split(equation), []
    for i, tok in enumerate(toks[:-1]):
        if is_name(tok.text) and toks[i + 1].text == "(":
            found.append((canonical(tok.text), _arguments(toks, i + 1)[0]))
    return found


def untranslated_call(equation: str) -> str | None:
    """The function name xmutil left in a comment in place of a Vensim call it could not
    translate (`0{GET_DIRECT_DATA(...)}`, `{Untranslated function used}ALLOCATE ...`): the
    equation then says something else than the model meant, so it is refused, not run."""
    for comment in _COMMENT.findall(equation):
        call = re.match(r"\{\s*([A-Za-z][\w ]*?)\s*\(", comment)
        if call:
            return call.group(1).replace("_", " ").strip().upper()
        if "untranslated" in comment.lower():
            return comment.strip("{}")
    return None


def rewrite_equation(equation: str, names: set[str] = frozenset(),
                     dims: dict[str, tuple[str, ...]] | None = None,
                     positions: dict[str, int] | None = None,
                     graphs: dict[str, str] | None = None, owner: str | None = None,
                     made: list | None = None, owner_dims: tuple[str, ...] = ()) -> str:
    """The equation in PySD's terms. `names` (canonical) are the model's own variables, which
    shadow the builtins of the same name; `dims` their dimensions, by canonical name;
    `positions` the 1-based position of each `Dimension.Element`; `graphs` the helper <gf> (as
    an equation names it) of each graphical function an equation may call (graph_helpers);
    `owner` the unarrayed variable whose equation it is (what SELF means); `made` collects
    the variables a rewrite needs (NPV's stocks, vectors' index helpers); `owner_dims` the
    dimensions of the apply-to-all variable whose equation it is. Raises AmbiguousForm for a
    form it cannot rewrite."""
    text = vectors.joined(_COMMENT.sub(" ", equation))
    text = _SUBSCRIPTED.sub(lambda m: _subscripts(m, dims or {}), text)
    toks = _split(text)
    positions, graphs = positions or {}, graphs or {}
    special = REWRITTEN | positions.keys() | graphs.keys() | {canonical(d) for d in owner_dims}
    if not any(is_name(t.text) and canonical(t.text) in special or t.text == "/" for t in toks):
        return text
    toks = _rewrite_calls(toks, names, positions, dims or {}, graphs, owner,
                          [] if made is None else made, owner_dims)
    if "self" not in names and any(not t.term and canonical(t.text) == "self" for t in toks if is_name(t.text)):
        raise AmbiguousForm("SELF outside the first argument of PREVIOUS")
    return _join(toks).strip()


def graph_helpers(root, names: set[str]) -> dict[str, tuple[str, object]]:
    """For each graphical function an equation may call that PySD cannot call where it is: the
    name of a stand-alone <gf> to copy it into, and the <gf> node. Keyed by the owner: an aux's
    or flow's own <gf> by its canonical name; an element's <gf> by `name[element]`; the one
    <gf> of an arrayed variable, which every element shares, by `name[*]`."""
    holder = child(main_model(root), "variables")
    found, taken = {}, set(names)
    for node in (holder if holder is not None else ()):
        if not isinstance(node.tag, str) or local(node.tag) not in ("aux", "flow"):
            continue
        name = node.get("name", "")
        arrayed = child(node, "dimensions") is not None
        owners = [(canonical(name) + ("[*]" if arrayed else ""), name, node)]
        for el in children(node, "element"):
            items = [e.strip() for e in el.get("subscript", "").split(",")]
            owners.append((f"{canonical(name)}[{','.join(canonical(e) for e in items)}]",
                           f"{name} {' '.join(items)}", el))
        for key, label, owner in owners:
            gf = child(owner, "gf")
            if gf is None:
                continue
            helper, k = f"{label} graphical function", 2
            while canonical(helper) in taken:
                helper, k = f"{label} graphical function {k}", k + 1
            taken.add(canonical(helper))
            found[key] = (helper, gf)
    return found


def _apply_graphs(helpers: dict[str, tuple[str, object]]) -> set[str]:
    """PySD reads only an unarrayed variable's own <gf> right: of an element's <gf> it reads
    nothing, and an arrayed variable's one <gf> fails on an unsubscripted input. Those
    variables' equations become the helper's call of the equation (an element's own <gf>
    before the variable's); returns the helpers so used (canonical)."""
    wrapped = {}  # eqn node -> helper; an element's own <gf> wins over its variable's
    for helper, gf in helpers.values():
        owner = gf.getparent()
        if local(owner.tag) == "element":
            shared = child(owner.getparent(), "eqn")
            if child(owner, "eqn") is None and shared is not None:
                owner.insert(0, copy.deepcopy(shared))  # Stella: one equation, a <gf> each
            wrapped[child(owner, "eqn")] = helper
        elif child(owner, "dimensions") is not None:
            for node in [owner] + children(owner, "element"):
                if node is owner or child(node, "gf") is None:
                    wrapped.setdefault(child(node, "eqn"), helper)
        else:
            continue
        owner.remove(gf)
    used = set()
    for eqn, helper in wrapped.items():
        if eqn is not None and (eqn.text or "").strip():
            eqn.text = f"{equation_name(helper)}({eqn.text})"
            used.add(canonical(helper))
    return used


def pysd_bytes(root, names: set[str], dims: dict[str, tuple[str, ...]],
               positions: dict[str, int]) -> bytes:
    """The XMILE text PySD is given: every equation (of the model and its sub-models) rewritten.
    The tree is copied, so the ModelInfo keeps the equations as the modeller wrote them."""
    from lxml import etree as ET

    tree = copy.deepcopy(root)
    stock_initials_as_auxiliaries(tree)
    helpers = graph_helpers(tree, names)
    graphs = {key: equation_name(helper) for key, (helper, _) in helpers.items()}
    called, made = set(), []
    for eqn in list(tree.iter("{*}eqn")):
        if eqn.text:
            owner = eqn.getparent()
            variable = local(owner.tag) in ("aux", "flow", "stock")
            unarrayed = variable and child(owner, "dimensions") is None
            own = () if unarrayed or not variable else \
                tuple(d.get("name", "") for d in children(child(owner, "dimensions"), "dim"))
            eqn.text = rewrite_equation(eqn.text, names, dims, positions, graphs,
                                        owner.get("name") if unarrayed else None, made, own)
            called |= {canonical(t) for t in _TOKEN.findall(eqn.text)}
    called |= _apply_graphs(helpers)
    holder = child(main_model(tree), "variables")
    ns = holder.tag[:-len("variables")]
    for tag, name, equation, flow in vectors.add_index_helpers(holder, made):
        node = ET.SubElement(holder, ns + tag, name=name)
        ET.SubElement(node, ns + "eqn").text = equation
        if flow:
            ET.SubElement(node, ns + flow[0]).text = equation_name(flow[1])
        ET.SubElement(node, ns + "non_negative").text = "false"  # whatever the model's default
    for helper, gf in helpers.values():
        if canonical(helper) in called:
            copied = copy.deepcopy(gf)
            copied.set("name", helper)
            holder.append(copied)
    for flow in tree.iter("{*}inflow", "{*}outflow"):
        name = (flow.text or "").strip()
        if name and not name.startswith('"') and not re.fullmatch(r"[\w.$' ]+", name):
            flow.text = f'"{name}"'  # Stella leaves names like `Flow_w/_division` unquoted here
    for element in tree.iter("{*}element"):
        if element.get("subscript"):
            element.set("subscript", re.sub(r"\s*,\s*", ",", element.get("subscript")))
    return ET.tostring(tree, xml_declaration=True, encoding="utf-8")


def names_and_dimensions(info) -> tuple[set[str], dict[str, tuple[str, ...]], dict[str, int]]:
    """The model's variable names, each arrayed variable's dimensions, by canonical name, and
    the position of each element (Stella's `Location.Boston` is Boston's index in Location)."""
    positions = {}
    for holder in children(info.root, "dimensions"):
        for dim in children(holder, "dim"):
            for k, elem in enumerate(children(dim, "elem"), start=1):
                positions[canonical(f"{dim.get('name', '')}.{elem.get('name', '')}")] = k
    return ({canonical(v) for v in info.variables},
            {canonical(v.name): v.dimensions for v in info.variables.values() if v.dimensions},
            positions)
