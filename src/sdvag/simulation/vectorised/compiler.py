"""PySD's abstract model of a file, built into numpy closures that evaluate many runs at once.

PySD 3 translates XMILE into an AbstractModel (pysd.translators.structures) and its Python
builder writes one function per variable from it. This builder walks the same abstract syntax
and makes one closure per variable that takes the evaluation state `s` and returns an array
with one value per run, giving every builtin PySD's meaning (pysd.builders.python and
pysd.py_backend.functions). Nothing from the model file is executed as code. Whatever this
builder does not know raises NotCovered, and the caller runs PySD instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from pysd.translators.structures import abstract_expressions as ae
from pysd.translators.structures.abstract_model import AbstractControlElement

from sdvag.model.xmile import canonical
from sdvag.simulation.vectorised import statefuls as st

Expr = Callable[["object"], object]


class NotCovered(Exception):
    """The model uses something this engine does not evaluate (PySD runs it instead)."""


def pysd_points(values) -> np.ndarray:
    """Table points as PySD's builder writes them into the model's code (np.array2string,
    8 significant digits), so that both engines interpolate between the same numbers."""
    text = np.array2string(np.array(values, dtype=float), separator=",", threshold=len(values))
    return np.array([float(v) for v in text.strip("[] \n").replace("\n", "").split(",")])


@dataclass
class Table:
    """A graphical function: interpolated ('interpolate'), extrapolated ('extrapolate') or
    held ('hold_backward') as PySD's lookups do."""

    x: np.ndarray
    y: np.ndarray
    kind: str = "interpolate"

    def __call__(self, value):
        x, y = self.x, self.y
        value = np.asarray(value, dtype=float)
        if self.kind == "hold_backward":
            i = np.clip(np.searchsorted(x, value, side="right") - 1, 0, len(x) - 1)
            return y[i]
        out = np.interp(value, x, y)
        if self.kind == "extrapolate" and len(x) > 1:
            low = y[0] + (y[1] - y[0]) / (x[1] - x[0]) * (value - x[0])
            high = y[-1] + (y[-1] - y[-2]) / (x[-1] - x[-2]) * (value - x[-1])
            out = np.where(value < x[0], low, np.where(value > x[-1], high, out))
        return out


@dataclass
class Program:
    """A model built for the engine: a closure per variable, its stateful objects and tables."""

    names: dict[str, str]                      # key (canonical name) -> the model's name
    exprs: dict[str, Expr]                     # key -> closure
    depends: dict[str, set[str]]               # key -> keys (and "time") it reads directly
    statefuls: list[st.Stateful]
    stateful_of: dict[str, st.Stateful]        # key -> the stateful object behind a variable
    tables: dict[str, Table] = field(default_factory=dict)   # key -> its graphical function
    lookup_input: dict[str, Expr] = field(default_factory=dict)  # key -> the gf's input (inline)


def _time(s):
    return s.t


def _reference(key: str) -> Expr:
    return lambda s: s.v[key]


def _ramp(s, slope, start, finish=None):
    t = s.t
    final = t if finish is None else np.minimum(finish, t)
    return (t + st.SMALL_VENSIM > start) * slope * (final - start)


def _pulse(s, start, repeat_time=0.0, magnitude=None):
    """XMILE PULSE(magnitude, start[, interval]) as PySD's functions.pulse, per run."""
    t, dt = s.t, s.dt
    width = .5 * dt
    out = magnitude / dt
    single = (start - st.SMALL_VENSIM <= t) & (t < start + width)
    if np.all(np.asarray(repeat_time) == 0):
        return np.where(single, out, 0.0)
    with np.errstate(all="ignore"):
        train = (start <= t) & (np.mod(t - start + st.SMALL_VENSIM, repeat_time) < width)
    return np.where(np.asarray(repeat_time) == 0, np.where(single, out, 0.0), np.where(train, out, 0.0))


_UNARY = {"abs": np.abs, "exp": np.exp, "sin": np.sin, "cos": np.cos, "tan": np.tan,
          "arcsin": np.arcsin, "arccos": np.arccos, "arctan": np.arctan, "sqrt": np.sqrt,
          "ln": np.log, "integer": np.trunc}
_BINARY = {"^": np.power, "*": np.multiply, "/": np.divide, "+": np.add, "-": np.subtract,
           "=": np.equal, "<>": np.not_equal, ">=": np.greater_equal, ">": np.greater,
           "<=": np.less_equal, "<": np.less, ":AND:": np.logical_and, ":OR:": np.logical_or}


class Builder:
    """Walks the abstract syntax of one model."""

    def __init__(self, abstract_model):
        sections = abstract_model.sections
        if len(sections) != 1:
            raise NotCovered("macros")
        self.elements = [e for e in sections[0].elements if not isinstance(e, AbstractControlElement)]
        self.keys = {canonical(e.name): e.name for e in self.elements}
        self.lookups = {canonical(e.name) for e in self.elements
                        if any(isinstance(c.ast, ae.LookupsStructure) for c in e.components)}
        self.statefuls: list[st.Stateful] = []
        self.stateful_of: dict[str, st.Stateful] = {}
        self.tables: dict[str, Table] = {}
        self.lookup_input: dict[str, Expr] = {}
        self._current = ""
        self._deps: set[str] = set()

    def build(self) -> Program:
        exprs, depends = {}, {}
        for element in self.elements:
            key = canonical(element.name)
            if len(element.components) != 1:
                raise NotCovered(f"arrays (variable {element.name!r})")
            component = element.components[0]
            if component.subscripts and any(component.subscripts):
                raise NotCovered(f"arrays (variable {element.name!r})")
            self._current, self._deps = key, set()
            ast = component.ast
            if isinstance(ast, ae.LookupsStructure):
                self.tables[key] = Table(pysd_points(ast.x), pysd_points(ast.y), ast.type)
                continue
            exprs[key] = self.expr(ast, top=True)
            depends[key] = self._deps
        return Program(dict(self.keys), exprs, depends, self.statefuls, self.stateful_of,
                       self.tables, self.lookup_input)

    # -- expressions -------------------------------------------------------------------------

    def expr(self, ast, top: bool = False) -> Expr:
        if isinstance(ast, bool):
            value = float(ast)
            return lambda s: value
        if isinstance(ast, (int, float, np.number)):
            value = float(ast)
            return lambda s: value
        if isinstance(ast, ae.ReferenceStructure):
            return self.reference(ast)
        if isinstance(ast, (ae.ArithmeticStructure, ae.LogicStructure)):
            return self.operation(ast)
        if isinstance(ast, ae.CallStructure):
            return self.call(ast)
        if isinstance(ast, ae.InlineLookupsStructure):
            table = Table(pysd_points(ast.lookups.x), pysd_points(ast.lookups.y))
            argument = self.expr(ast.argument)
            if top:  # a variable with a graphical function: its table may be overridden
                key = self._current
                self.tables[key], self.lookup_input[key] = table, argument
                return lambda s: s.tables[key](argument(s))
            return lambda s: table(argument(s))
        stateful = self.stateful(ast)
        if stateful is None:
            raise NotCovered(f"{type(ast).__name__} (variable {self.keys.get(self._current)!r})")
        self.statefuls.append(stateful)
        if top:
            self.stateful_of[self._current] = stateful
        self._deps.add("<stateful>")
        return lambda s: s.output(stateful)

    def reference(self, ast) -> Expr:
        if ast.subscripts:
            raise NotCovered("arrays (subscripted references)")
        name = ast.reference
        if name == "time":
            self._deps.add("time")
            return _time
        key = canonical(name)
        if key not in self.keys:
            raise NotCovered(f"the reference {name!r}")
        self._deps.add(key)
        return _reference(key)

    def operation(self, ast) -> Expr:
        ops, args = list(ast.operators), [self.expr(a) for a in ast.arguments]
        if len(args) == 1:
            (arg,) = args
            if ops[0] == "negative":
                return lambda s: -arg(s)
            if ops[0] == ":NOT:":
                return lambda s: np.logical_not(arg(s))
            raise NotCovered(f"the operator {ops[0]}")
        for op in ops:
            if op not in _BINARY:
                raise NotCovered(f"the operator {op}")
        if ops == ["^"] * len(ops):  # PySD writes a**b**c: right-associative
            funcs = args
            return lambda s: _power_chain([f(s) for f in funcs])
        # one level of precedence: left to right, as Python reads PySD's flat expression
        first, rest = args[0], list(zip([_BINARY[o] for o in ops], args[1:]))
        if len(rest) == 1:
            (fn, second), = rest
            return lambda s: fn(first(s), second(s))

        def chain(s):
            value = first(s)
            for fn, arg in rest:
                value = fn(value, arg(s))
            return value
        return chain

    def call(self, ast) -> Expr:
        name = ast.function.reference if isinstance(ast.function, ae.ReferenceStructure) else None
        key = canonical(name) if name else None
        args = [self.expr(a) for a in ast.arguments]
        if key in self.lookups:  # a stand-alone graphical function called with its input
            self._deps.add(key)
            (arg,) = args
            return lambda s: s.tables[key](arg(s))
        if name in _UNARY and len(args) == 1:
            fn, (a,) = _UNARY[name], args
            return lambda s: fn(a(s))
        if name in ("min", "max") and len(args) == 2:
            fn, (a, b) = (np.minimum if name == "min" else np.maximum), args
            return lambda s: fn(a(s), b(s))
        if name == "if_then_else":
            c, a, b = args
            return lambda s: np.where(c(s), a(s), b(s))
        if name == "zidz":
            a, b = args
            return lambda s: st.zidz(a(s), b(s))
        if name == "xidz":
            a, b, x = args
            return lambda s: np.where(np.abs(b(s)) < st.SMALL_VENSIM, x(s), a(s) / b(s))
        if name == "step":
            self._deps.add("time")
            height, at = args
            return lambda s: height(s) * (s.t + s.dt / 2 > at(s))
        if name in ("ramp", "Xramp"):
            self._deps.add("time")
            if len(args) == 3:
                slope, start, finish = args
                return lambda s: _ramp(s, slope(s), start(s), finish(s))
            slope, start = args
            return lambda s: _ramp(s, slope(s), start(s))
        if name == "Xpulse":
            self._deps.add("time")
            start, magnitude = args
            return lambda s: _pulse(s, start(s), magnitude=magnitude(s))
        if name == "Xpulse_train":
            self._deps.add("time")
            start, interval, magnitude = args
            return lambda s: _pulse(s, start(s), interval(s), magnitude(s))
        raise NotCovered(f"the builtin {name}()")

    def stateful(self, ast) -> st.Stateful | None:
        label = self.keys.get(self._current, self._current)
        e = self.expr
        if isinstance(ast, ae.IntegStructure):
            return st.Integ(e(ast.flow), e(ast.initial), bool(ast.non_negative), label)
        if isinstance(ast, ae.DelayNStructure):
            return st.Delay(e(ast.input), e(ast.delay_time), e(ast.initial), e(ast.order), True, label)
        if isinstance(ast, ae.DelayStructure):
            return st.Delay(e(ast.input), e(ast.delay_time), e(ast.initial), e(ast.order), False, label)
        if isinstance(ast, ae.DelayFixedStructure):
            return st.DelayFixed(e(ast.input), e(ast.delay_time), e(ast.initial), label)
        if isinstance(ast, (ae.SmoothStructure, ae.SmoothNStructure)):
            return st.Smooth(e(ast.input), e(ast.smooth_time), e(ast.initial), e(ast.order), label)
        if isinstance(ast, ae.TrendStructure):
            return st.Trend(e(ast.input), e(ast.average_time), e(ast.initial_trend), label)
        if isinstance(ast, ae.InitialStructure):
            return st.Initial(e(ast.initial), label)
        return None


def _power_chain(values):
    result = values[-1]
    for base in reversed(values[:-1]):
        result = np.power(base, result)
    return result


def build(abstract_model) -> Program:
    """The engine's program for a PySD AbstractModel (raises NotCovered)."""
    return Builder(abstract_model).build()
