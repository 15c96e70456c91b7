"""Numbers and tables for people: one formatting for every report sdvag prints."""
from __future__ import annotations

import math

import numpy as np


SIGNIFICANT = 4
PLAIN_RANGE = (1e-4, 1e15)  # magnitudes printed without an exponent


def format_number(value: float) -> str:
    """A number for a policy reader: whole numbers with thousands separators from 1,000 on
    (505,312, not 5.053e+05), four significant digits below (12.35, 0.001235), an exponent only
    for magnitudes outside PLAIN_RANGE; never `-0`."""
    value = float(value)
    if not np.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if not PLAIN_RANGE[0] <= magnitude < PLAIN_RANGE[1]:
        return f"{value:.{SIGNIFICANT - 1}e}"
    if magnitude >= 10 ** (SIGNIFICANT - 1):
        text = f"{value:,.0f}"
    else:
        decimals = SIGNIFICANT - 1 - math.floor(math.log10(magnitude))
        text = f"{value:,.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "0") else text


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])
