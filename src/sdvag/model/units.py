"""Dimensional analysis of an XMILE model, as Vensim's units check and Stella's unit consistency do.

Unit expressions ("hundred million yuan/year", "1/year", "firm^2") become maps from unit name
to exponent; every equation is parsed and its units inferred bottom-up. A literal number takes
whatever units its context needs (Vensim and Stella do the same), so `1 - x` and `0.5 * x` never
complain; everything else must match: both sides of + and -, the branches of IF, the arguments
of MIN and MAX, dimensionless arguments of EXP, LN and the trigonometric functions, and each
stock's units equal to its flows' units times the time unit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from sdvag.model.xmile import ModelInfo, canonical, children, is_name, text, tokens

Units = tuple[tuple[str, Fraction], ...]  # sorted (name, exponent) pairs; () is dimensionless
DIMENSIONLESS: Units = ()
DIMENSIONLESS_NAMES = {"dmnl", "dimensionless", "unitless", "1", "", "fraction", "share", "ratio"}


class _Any:
    """The units of a literal number: whatever the context needs."""

    def __repr__(self):
        return "any"


ANY = _Any()


def make(counts: dict[str, Fraction]) -> Units:
    return tuple(sorted((k, v) for k, v in counts.items() if v != 0))


def multiply(a: Units, b: Units, power: Fraction = Fraction(1)) -> Units:
    counts = dict(a)
    for name, exp in b:
        counts[name] = counts.get(name, Fraction(0)) + power * exp
    return make(counts)


def scale(a: Units, power: Fraction) -> Units:
    return make({k: v * power for k, v in a})


def format_units(u) -> str:
    if u is ANY:
        return "any"
    if not u:
        return "dmnl"
    num = [n if e == 1 else f"{n}^{e}" for n, e in u if e > 0]
    den = [n if e == -1 else f"{n}^{-e}" for n, e in u if e < 0]
    out = " * ".join(num) or "1"
    if den:
        out += "/" + (den[0] if len(den) == 1 else "(" + " * ".join(den) + ")")
    return out


@dataclass(frozen=True)
class UnitIssue:
    variable: str
    message: str


class UnitSystem:
    """The model's unit names: declared ones, their aliases and definitions, and the time unit."""

    def __init__(self, info: ModelInfo):
        self.aliases: dict[str, str] = {}
        self.definitions: dict[str, str] = {}
        holder = children(info.root, "model_units")
        for unit in children(holder[0], "unit") if holder else []:
            name = _unit_name(unit.get("name", ""))
            self.aliases[name] = name
            for alias in children(unit, "alias"):
                self.aliases[_unit_name(text(alias))] = name
            if text(unit, "eqn"):
                self.definitions[name] = text(unit, "eqn")
        self.time = _unit_name(info.sim.time_units) or "time"
        self.aliases.setdefault(self.time, self.time)
        self.undeclared: set[str] = set()

    def parse(self, expression: str, _depth: int = 0) -> Units:
        """Units of a unit expression; names are case-insensitive, words may contain spaces."""
        parts = [p.strip() for p in re.split(r"([*/^()])", expression) if p.strip()]
        pos = 0

        def factor() -> Units:
            nonlocal pos
            tok = parts[pos] if pos < len(parts) else ""
            pos += 1
            if tok == "(":
                inner = product()
                pos += 1  # ")"
                result = inner
            elif re.fullmatch(r"[-+]?\d+(\.\d*)?", tok):
                result = DIMENSIONLESS
            else:
                result = self.name(tok, _depth)
            if pos < len(parts) and parts[pos] == "^":
                power = Fraction(parts[pos + 1]) if pos + 1 < len(parts) else Fraction(1)
                pos += 2
                result = scale(result, power)
            return result

        def product() -> Units:
            nonlocal pos
            result = factor()
            while pos < len(parts) and parts[pos] in "*/":
                op = parts[pos]
                pos += 1
                result = multiply(result, factor(), Fraction(1 if op == "*" else -1))
            return result

        return product() if parts else DIMENSIONLESS

    def name(self, raw: str, depth: int = 0) -> Units:
        name = _unit_name(raw)
        if name in DIMENSIONLESS_NAMES:
            return DIMENSIONLESS
        if name not in self.aliases:
            self.undeclared.add(raw.strip())
        name = self.aliases.get(name, name)
        if name in self.definitions and depth < 10:
            return self.parse(self.definitions[name], depth + 1)
        return ((name, Fraction(1)),)


# Names Stella and Vensim users write for the same unit (plurals are handled by _singular).
SYNONYMS = {"people": "person", "yr": "year", "yrs": "year", "hrs": "hour", "annum": "year", "mo": "month", "wk": "week",
            "hr": "hour", "mins": "minute", "sec": "second", "pcs": "piece", "pc": "piece",
            "$": "dollar", "usd": "dollar", "rmb": "yuan", "cny": "yuan"}


def _singular(word: str) -> str:
    """An English plural's singular, as Stella reads `firms` as `firm` (not for words in -ss,
    -us or -is, which are singular)."""
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def _unit_name(raw: str) -> str:
    """A unit name in one canonical spelling: case, spacing, synonyms and a plural last word
    do not matter (`Persons`, `people` and `person` are one unit)."""
    words = raw.lower().split()
    if not words:
        return ""
    words[-1] = SYNONYMS.get(words[-1], words[-1])
    words[-1] = SYNONYMS.get(_singular(words[-1]), _singular(words[-1]))
    return " ".join(words)


# Functions whose arguments and result follow a simple rule.
_SAME_AS_ARGS = {"min", "max"}
_SAME_AS_FIRST = {"abs", "int", "init", "smth1", "smth3", "smthn", "delay", "delay1", "delay3", "delayn"}
_DIMENSIONLESS_ARGS = {"exp", "ln", "log10", "sin", "cos", "tan", "arcsin", "arccos", "arctan"}
_TIME_ARG = {"smth1": 1, "smth3": 1, "smthn": 1, "delay": 1, "delay1": 1, "delay3": 1,
             "delayn": 1, "trend": 1, "step": 1, "ramp": 1}


class _Inference:
    """Infers the units of one equation, recording every inconsistency it meets."""

    def __init__(self, system: UnitSystem, info: ModelInfo, units_of):
        self.system, self.info, self.units_of = system, info, units_of
        self.issues: list[str] = []
        self.toks: list[str] = []
        self.pos = 0

    def infer(self, equation: str):
        self.toks, self.pos = tokens(equation), 0
        try:
            result = self.expr()
        except IndexError:
            return None
        return result if self.pos == len(self.toks) else None

    # -- helpers
    def peek(self, *options: str) -> bool:
        return self.pos < len(self.toks) and self.toks[self.pos].lower() in options

    def take(self) -> str:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def same(self, a, b, what: str):
        """The common units of two operands that must agree; records a mismatch."""
        if a is None or b is None:
            return None
        if a is ANY:
            return b
        if b is ANY or a == b:
            return a
        self.issues.append(f"{what}: {format_units(a)} and {format_units(b)} do not match")
        return None

    # -- grammar (lowest precedence first)
    def expr(self):
        if self.peek("if"):
            return self.conditional()
        return self.expr_logic()

    def conditional(self):
        self.take()  # IF
        self.expr_logic()
        self.take()  # THEN
        a = self.expr()
        self.take()  # ELSE
        b = self.expr()
        return self.same(a, b, "the branches of IF THEN ELSE")

    def expr_logic(self):
        result = self.expr_not()
        while self.peek("and", "or"):
            self.take()
            self.expr_not()
            result = ANY
        return result

    def expr_not(self):
        if self.peek("not"):
            self.take()
            self.expr_not()
            return ANY
        return self.expr_compare()

    def expr_compare(self):
        a = self.expr_add()
        if self.peek("=", "<>", "<", ">", "<=", ">="):
            op = self.take()
            b = self.expr_add()
            self.same(a, b, f"the two sides of '{op}'")
            return ANY
        return a

    def expr_add(self):
        result = self.expr_mul()
        while self.peek("+", "-"):
            op = self.take()
            result = self.same(result, self.expr_mul(), f"the terms of '{op}'")
        return result

    def expr_mul(self):
        result = self.expr_pow()
        while self.peek("*", "/"):
            op = self.take()
            right = self.expr_pow()
            if result is None or right is None:
                result = None
                continue
            left = DIMENSIONLESS if result is ANY else result
            right = DIMENSIONLESS if right is ANY else right
            result = multiply(left, right, Fraction(1 if op == "*" else -1))
        return result

    def expr_pow(self):
        base = self.unary()
        if self.peek("^"):
            self.take()
            exponent_start = self.pos
            power = self.unary()
            literal = self.toks[exponent_start:self.pos]
            if base is ANY or base == DIMENSIONLESS:
                return base
            if base is None:
                return None
            try:
                return scale(base, Fraction("".join(literal)))
            except ValueError:
                self.issues.append(f"{format_units(base)} raised to a non-literal power {power}")
                return None
        return base

    def unary(self):
        if self.peek("-", "+"):
            self.take()
            return self.unary()
        return self.atom()

    def atom(self):
        tok = self.take()
        if tok == "(":
            result = self.expr()
            self.take()  # ")"
            return result
        if not is_name(tok):
            return ANY  # a number
        if tok.lower() == "if":
            self.pos -= 1
            return self.conditional()
        name = canonical(tok)
        if self.peek("("):
            self.take()
            args = []
            while not self.peek(")"):
                args.append(self.expr())
                if self.peek(","):
                    self.take()
            self.take()
            return self.call(name, args)
        if name == "time":
            return ((self.system.aliases.get(self.system.time, self.system.time), Fraction(1)),)
        return self.units_of(name)

    def call(self, name: str, args: list):
        var = self.info.find(name)
        if var is not None:  # a graphical function used as a function: its own units
            return self.units_of(name)
        time = ((self.system.aliases.get(self.system.time, self.system.time), Fraction(1)),)
        if name in _TIME_ARG and len(args) > _TIME_ARG[name]:
            self.same(args[_TIME_ARG[name]], time, f"the time argument of {name.upper()}")
        if name in _DIMENSIONLESS_ARGS:
            for arg in args:
                self.same(arg, DIMENSIONLESS, f"the argument of {name.upper()}")
            return DIMENSIONLESS
        if name in _SAME_AS_ARGS:
            result = args[0] if args else None
            for arg in args[1:]:
                result = self.same(result, arg, f"the arguments of {name.upper()}")
            return result
        if name in _SAME_AS_FIRST:
            return args[0] if args else None
        if name == "sqrt":
            return args[0] if args[0] in (ANY, None) else scale(args[0], Fraction(1, 2))
        if name == "step":
            return args[0]
        if name == "ramp":
            return None if args[0] is None else multiply(DIMENSIONLESS if args[0] is ANY else args[0], time)
        if name == "trend":
            return scale(time, Fraction(-1))
        if name == "safediv" and len(args) >= 2:
            if None in args[:2]:
                return None
            a, b = (DIMENSIONLESS if x is ANY else x for x in args[:2])
            return multiply(a, b, Fraction(-1))
        return None  # a function whose units sdvag does not infer (PULSE, ...): not checked


def check_units(info: ModelInfo) -> tuple[list[UnitIssue], set[str]]:
    """Every unit inconsistency in the model, and the unit names that are neither declared nor
    standard."""
    system = UnitSystem(info)
    declared: dict[str, Units | None] = {}
    for var in info.variables.values():
        declared[canonical(var.name)] = system.parse(var.units) if var.units.strip() else None

    def units_of(name: str):
        return declared.get(name)

    issues: list[UnitIssue] = []
    time = system.parse(info.sim.time_units or "time")
    for var in info.variables.values():
        own = declared[canonical(var.name)]
        if var.kind == "gf" or not var.equation:
            continue
        inference = _Inference(system, info, units_of)
        inferred = inference.infer(var.equation)
        issues += [UnitIssue(var.name, m) for m in inference.issues]
        if var.graphical is None and own is not None and inferred not in (None, ANY) and inferred != own:
            issues.append(UnitIssue(var.name, f"the equation gives {format_units(inferred)}, "
                                              f"the variable is declared {format_units(own)}"))
        if var.kind == "stock" and own is not None:
            for flow in (*var.inflows, *var.outflows):
                rate = declared.get(canonical(flow))
                if rate is not None and multiply(rate, time) != own:
                    issues.append(UnitIssue(var.name, f"flow '{flow}' is {format_units(rate)}: "
                                                      f"times {format_units(time)} it gives "
                                                      f"{format_units(multiply(rate, time))}, the "
                                                      f"stock is {format_units(own)}"))
    return issues, system.undeclared

