"""A knock-out's report: the key outputs intact and knocked out side by side, and its files."""
from __future__ import annotations

from pathlib import Path

from sdvag.analysis.knockout import KnockoutResult
from sdvag.formatting import format_number, text_table
from sdvag.report.tables import report_years, write_all
from sdvag.simulation.simulate import outputs_of


def _change(intact: float, knocked: float) -> str:
    if intact == 0:
        return "0" if knocked == 0 else "n/a"
    return f"{(knocked - intact) / abs(intact):+.1%}"


def summary(result: KnockoutResult) -> str:
    """What was cut, then each key output intact, knocked out and the relative change at a
    few years."""
    years = report_years(result.intact["time"].to_numpy())
    rows = []
    for name in outputs_of(result.intact):
        a = result.intact[name].sel(time=years, method="nearest").to_numpy()
        b = result.knocked[name].sel(time=years, method="nearest").to_numpy()
        rows += [[name, "intact", *map(format_number, a)], ["", "knocked out", *map(format_number, b)],
                 ["", "change", *map(_change, a, b)]]
    lines = [f"Knock-out in {result.scenario}:", *(f"  {cut}" for cut in result.cuts)]
    return "\n".join([*lines, text_table(["output", "run", *(f"{y:g}" for y in years)], rows)])


def write(result: KnockoutResult, out: str | Path) -> list[Path]:
    """Both runs as `compare` writes them (results.nc, results.csv, dimension `scenario` =
    intact, knocked out) and a plot per key output overlaying them."""
    return write_all(result.both, out)
