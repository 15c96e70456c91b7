"""Named feedback loops, declared in the model file as loop labels on its diagram.

A named loop is a `<text_box>` of a `<view>` whose whole text is
`R1 Agglomeration attracts entry: Member Firms -> Entry -> Member Firms`: a code (R reinforcing
or B balancing, a number, an optional letter), a name, and the loop's variables in causal order
with the first repeated at the end. A text box is a standard XMILE display element, so the
file still validates against the official schema and Stella-compatible editors keep it, and the
modeller sees the label where it is drawn. Ordinary text boxes (titles, notes) are left alone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sdvag.model.causal import has_link
from sdvag.model.xmile import ModelInfo, canonical, local

_LABEL = re.compile(r"^\s*(?P<code>(?P<polarity>[RB])\d+[A-Za-z]?)\s+(?P<name>[^:]+?)\s*:\s*(?P<chain>.*->.*)$",
                    re.DOTALL)


@dataclass(frozen=True)
class NamedLoop:
    code: str                   # "R1", "B2a"
    name: str                   # "Agglomeration attracts entry"
    polarity: str               # declared: "R" or "B"
    variables: tuple[str, ...]  # in causal order, first not repeated, names as the model has them

    @property
    def label(self) -> str:
        return f"{self.code} {self.name}"

    def links(self) -> list[tuple[str, str]]:
        """(source, target) of each link around the loop."""
        v = self.variables
        return [(v[i], v[(i + 1) % len(v)]) for i in range(len(v))]


def _texts(info: ModelInfo):
    for node in info.model.iter():
        if isinstance(node.tag, str) and local(node.tag) == "text_box":
            yield " ".join("".join(node.itertext()).replace("\\n", " ").split())


def read_named_loops(info: ModelInfo) -> tuple[list[NamedLoop], list[str]]:
    """The model's named loops, and a line per loop label that does not describe a loop of the
    model (an unknown variable, a missing link, a chain that does not close)."""
    loops: list[NamedLoop] = []
    problems: list[str] = []
    seen: set[str] = set()
    for text in _texts(info):
        match = _LABEL.match(text)
        if not match:
            continue
        code, name = match["code"], match["name"]
        where = f"{info.path.name}: loop label '{code} {name}'"
        chain = [part.strip() for part in match["chain"].split("->")]
        unknown = [part for part in chain if info.find(part) is None]
        if unknown:
            problems.append(f"{where}: unknown variable {unknown[0]!r}")
            continue
        names = [info.find(part).name for part in chain]
        if len(names) < 3 or canonical(names[0]) != canonical(names[-1]):
            problems.append(f"{where}: the chain must end with its first variable ({names[0]!r})")
            continue
        loop = NamedLoop(code, name, match["polarity"], tuple(names[:-1]))
        missing = [(s, t) for s, t in loop.links() if not has_link(info, s, t)]
        if missing:
            s, t = missing[0]
            problems.append(f"{where}: '{t}' does not depend on '{s}'")
        elif code in seen:
            problems.append(f"{where}: the code {code} names two loops")
        else:
            seen.add(code)
            loops.append(loop)
    return loops, problems


def find_named_loop(loops: list[NamedLoop], wanted: str) -> NamedLoop | None:
    """A loop by its code ("R1") or its name, in any case."""
    key = canonical(wanted)
    for loop in loops:
        if key in (canonical(loop.code), canonical(loop.name), canonical(loop.label)):
            return loop
    return None
