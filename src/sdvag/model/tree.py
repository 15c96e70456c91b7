"""XML and identifier helpers every model reader shares: XMILE names, equation tokens, tags.

Kept apart from xmile.py so that the readers built on them (modules, Vensim files) and xmile.py
itself can all use them without importing each other in a circle.
"""
from __future__ import annotations

import re

from lxml import etree as ET

from sdvag.errors import SdvagError


_COMMENT = re.compile(r"\{[^{}]*\}")
# Characters a name may not hold: quotes, backslashes, braces (equation comments), control and
# line-separator characters. Stella's two-character `\n` line break is read as a space.
_UNSAFE_NAME = re.compile(r'["\\{}\x00-\x1f\x7f-\x9f\u2028\u2029]')


def unsafe_name(name: str) -> bool:
    """A name sdvag refuses: one that could break out of the strings PySD writes it into, or
    fake lines and move the cursor when printed."""
    return bool(_UNSAFE_NAME.search(name.replace("\\n", " ")))


def canonical(name: str) -> str:
    """XMILE identifiers ignore case, and treat spaces, underscores and line breaks alike."""
    name = name.replace("\\n", " ").replace("\n", " ").replace("_", " ").strip().strip('"')
    return " ".join(name.lower().split())


_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|[^\W\d][\w.$\']*|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+'
                    r'|<>|<=|>=|\S')


def tokens(equation: str) -> list[str]:
    """An XMILE equation as tokens: quoted or bare names, numbers, operators."""
    return _TOKEN.findall(equation)


def token_spans(equation: str) -> list[tuple[int, int, str]]:
    """(start, end, token) of each token, for rewriting an equation without retyping the rest."""
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(equation)]


def is_name(token: str) -> bool:
    return token.startswith('"') or token[0].isalpha() or token[0] == "_"


def local(tag: str) -> str:
    """Tag name without its namespace (XMILE files come with several namespaces, or none)."""
    return tag.rsplit("}", 1)[-1]


def children(node: ET.Element, tag: str) -> list[ET.Element]:
    return [c for c in node if isinstance(c.tag, str) and local(c.tag) == tag]


def child(node: ET.Element, tag: str) -> ET.Element | None:
    found = children(node, tag)
    return found[0] if found else None


def equation_text(node: ET.Element | None) -> str:
    """An <eqn>'s whole text: XML comments inside it and XMILE {comments} left out (lxml's
    `.text` would stop at the first XML comment, and PySD reads only that far)."""
    if node is None:
        return ""
    parts = [node.text or ""] + [c.tail or "" for c in node]
    return _COMMENT.sub(" ", "".join(parts)).strip()


def text(node: ET.Element | None, tag: str | None = None) -> str:
    if node is not None and tag is not None:
        node = child(node, tag)
    return "" if node is None or node.text is None else node.text.strip()


def main_model(root: ET.Element, path=None) -> ET.Element:
    models = children(root, "model")
    if not models:
        raise SdvagError(f"{path or 'XMILE file'}: XMILE file has no <model> element")
    unnamed = [m for m in models if not m.get("name")]
    return (unnamed or models)[0]
