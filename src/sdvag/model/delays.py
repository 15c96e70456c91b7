"""Pipeline delays whose input PySD reads too late: refused.

PySD moves its delays on one after the other at the end of a step, and a pipeline DELAY (and
PREVIOUS, rewritten into one) reads its input only then, when some of the others may already
hold the next step's value: DELAY(DELAY(TIME, DT, 0), DT, 0) is TIME one DT ago, not two, and a
DELAY of a variable that is another DELAY, DELAY1 or DELAY3 gets that variable's next value
whenever PySD has not kept the current one (between saved times). Stocks, smoothing and the
other builtins move after the pipeline delays, and a pipeline reads its input before it moves
itself (so a variable's PREVIOUS of SELF is right).
"""
from __future__ import annotations

from sdvag.model.builtins import calls
from sdvag.model.tree import canonical, is_name, tokens

MOVED_FIRST = frozenset({"delay", "delay1", "delay3"})  # PySD's "_delay_", "_delayfixed_" objects


def _delays(equation: str) -> int:
    return sum(name in MOVED_FIRST for name, _ in calls(equation))


def _reached(expression: str, equations: dict[str, str], stocks: set[str]) -> set[str]:
    """The variables whose values computing `expression` computes, through everything but stocks."""
    seen, todo = set(), [expression]
    while todo:
        toks = tokens(todo.pop())
        for i, tok in enumerate(toks):
            key = canonical(tok) if is_name(tok) else ""
            if key in equations and key not in seen and toks[i + 1:i + 2] != ["("]:
                seen.add(key)
                if key not in stocks:
                    todo.append(equations[key])
    return seen


def stale_delay_inputs(equations: dict[str, str], kinds: dict[str, str]) -> list[tuple[str, str]]:
    """(feature, variable) for each variable with a pipeline DELAY whose input depends, within
    the step, on a delay PySD may have moved on already. `equations`: each variable's
    equations as PySD gets them, by name; `kinds`: each variable's kind, by canonical name."""
    by_key = {canonical(name): text for name, text in equations.items()}
    stocks = {key for key, kind in kinds.items() if kind == "stock"}
    problems = []
    for name, text in equations.items():
        own = canonical(name)
        for function, args in calls(text):
            if function != "delay" or not args:
                continue
            reached = _reached(args[0], by_key, stocks)
            if _delays(args[0]) or any(_delays(by_key[key]) > (1 if key == own else 0)
                                       for key in reached if key not in stocks):
                problems.append(("a DELAY or PREVIOUS of a value that depends on another DELAY, "
                                 "DELAY1, DELAY3 or PREVIOUS within the step (PySD reads it after "
                                 "moving that one on)", name))
                break
    return problems
