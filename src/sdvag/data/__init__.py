"""The observed series shipped with sdvag, each value with its status and source.

`series.csv` (described in README.md next to it) holds one row per (series, year). Series are
sparse and irregular: a year that is missing is unknown, so nothing here fills gaps. Each value
says when in the year it was observed (`timing`, see TIMINGS): a level at year end is not a
level on 1 January, and an annual total is not a level at all.
"""
from __future__ import annotations

import re
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sdvag.errors import SdvagError, suggest

COLUMNS = ("series", "year", "value", "unit", "status", "timing", "source")
STATUSES = ("confirmed", "derived", "seed")
TIMINGS = ("year-end", "mid-year", "annual-total", "annual-ratio", "trailing-12-months", "point:T")
DEFAULT_TIMING = "year-end"  # a file without a timing column: levels at 31 December (warned)
_POINT = re.compile(r"point:(-?\d+(?:\.\d*)?)$")


def timing_problem(code) -> str | None:
    """Why `code` is not a timing code (None when it is one)."""
    if isinstance(code, str) and (code in TIMINGS[:-1] or _POINT.match(code)):
        return None
    return f"timing {code!r} is not one of {', '.join(TIMINGS)} (T a model time, e.g. point:2017.9)"


def window(code: str, year: float) -> tuple[str, float, float]:
    """How and when the value of `year` with this timing was observed, on the model's time axis
    (t = 2017.0 is the start of 2017): ('level', t, t) for a level at time t, ('total', a, b)
    for the integral of a flow over [a, b], ('ratio', a, b) for a ratio of two such integrals.
    `trailing-12-months` (people active at least once in the year) is taken as the level at the
    year's end: a model that counts active users has no record of who was active when."""
    if code in ("year-end", "trailing-12-months"):
        return "level", year + 1.0, year + 1.0
    if code == "mid-year":
        return "level", year + 0.5, year + 0.5
    if code in ("annual-total", "annual-ratio"):
        return ("total" if code == "annual-total" else "ratio"), year, year + 1.0
    point = _POINT.match(code)
    if point is None:
        raise SdvagError(timing_problem(code))
    return "level", float(point.group(1)), float(point.group(1))


def path() -> Path:
    """The shipped series file."""
    return Path(str(resources.files(__name__) / "series.csv"))


def load(file: str | Path | None = None) -> pd.DataFrame:
    """All rows of a series file (the shipped one by default), checked: a frame with COLUMNS."""
    file = Path(file) if file is not None else path()
    if not file.is_file():
        raise SdvagError(f"{file}: series file not found")
    try:
        frame = pd.read_csv(file, dtype={"series": str, "unit": str, "status": str, "timing": str, "source": str})
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise SdvagError(f"{file}: not a readable series CSV ({exc})") from None
    if "timing" not in frame.columns and "series" in frame.columns:
        warnings.warn(f"{file}: no timing column; every value is taken as a {DEFAULT_TIMING} level "
                      "(add a timing column: see sdvag/data/README.md)", stacklevel=2)
        frame["timing"] = DEFAULT_TIMING
        frame.attrs["timing_defaulted"] = True
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise SdvagError(f"{file}: missing column(s) {', '.join(missing)} "
                         f"(expected {', '.join(COLUMNS)})")
    defaulted = frame.attrs.get("timing_defaulted", False)
    frame = frame[list(COLUMNS)].copy()
    problems = []
    for column in ("year", "value"):
        numbers = pd.to_numeric(frame[column], errors="coerce")
        for i in np.flatnonzero(~np.isfinite(numbers.to_numpy(dtype=float))):
            problems.append(f"{file}: line {i + 2}: {column} {frame[column].iloc[i]!r} is not a number")
        frame[column] = numbers.astype(float)
    for i in np.flatnonzero(~frame["status"].isin(STATUSES).to_numpy()):
        problems.append(f"{file}: line {i + 2}: status {frame['status'].iloc[i]!r} is not one of "
                        f"{', '.join(STATUSES)}")
    for i, code in enumerate(frame["timing"]):
        problem = timing_problem(code)
        if problem:
            problems.append(f"{file}: line {i + 2}: {problem}")
    if frame.duplicated(["series", "year"]).any():
        row = int(np.flatnonzero(frame.duplicated(["series", "year"]).to_numpy())[0])
        problems.append(f"{file}: line {row + 2}: {frame['series'].iloc[row]} has "
                        f"{frame['year'].iloc[row]:g} twice")
    units = frame.groupby("series")["unit"].nunique()
    for name in units[units > 1].index:
        problems.append(f"{file}: series {name} has more than one unit")
    if problems:
        raise SdvagError("\n".join(problems))
    frame = frame.sort_values(["series", "year"], kind="stable").reset_index(drop=True)
    frame.attrs["timing_defaulted"] = defaulted
    return frame


def series(name: str, file: str | Path | None = None) -> xr.DataArray:
    """One series as a DataArray over `year` (only the years observed), with `status` and
    `source` as coordinates and the unit in attrs."""
    frame = load(file)
    rows = frame[frame["series"] == name]
    if rows.empty:
        raise SdvagError(f"unknown series {name!r}{suggest(name, frame['series'].unique())}")
    return xr.DataArray(
        rows["value"].to_numpy(dtype=float), dims=("year",),
        coords={"year": rows["year"].to_numpy(dtype=float),
                "status": ("year", rows["status"].to_numpy(dtype=str)),
                "timing": ("year", rows["timing"].to_numpy(dtype=str)),
                "source": ("year", rows["source"].to_numpy(dtype=str))},
        name=name, attrs={"units": str(rows["unit"].iloc[0])})


def dataset(file: str | Path | None = None) -> xr.Dataset:
    """Every series in one Dataset over (series, year): `value` (NaN where a year is unknown),
    `status` and `source` ("" where unknown), with each series' unit as a coordinate."""
    frame = load(file)
    table = frame.set_index(["series", "year"])
    ds = xr.Dataset({
        "value": table["value"].to_xarray(),
        "status": table["status"].to_xarray().fillna(""),
        "timing": table["timing"].to_xarray().fillna(""),
        "source": table["source"].to_xarray().fillna(""),
    })
    units = frame.groupby("series")["unit"].first()
    return ds.assign_coords(unit=("series", units.reindex(ds["series"].to_numpy()).to_numpy(dtype=str)))


def catalogue(file: str | Path | None = None) -> str:
    """One line per series: name, unit, years observed, count and statuses (for `sdvag data`)."""
    frame = load(file)
    lines = []
    width = max(len(n) for n in frame["series"])
    for name, rows in frame.groupby("series", sort=True):
        years = [int(y) if float(y).is_integer() else y for y in rows["year"]]
        statuses = ", ".join(f"{s} {n}" for s, n in rows["status"].value_counts().sort_index().items())
        timings = "/".join(dict.fromkeys(rows["timing"]))
        lines.append(f"{name.ljust(width)}  {rows['unit'].iloc[0]:<26} {_years(years):<22} "
                     f"n={len(rows):<3} {timings:<18} {statuses}")
    lines.append(f"({len(frame)} values in {frame['series'].nunique()} series from {path().name if file is None else file}; "
                 "statuses: confirmed, derived, seed; timing: when in the year each value was observed; "
                 "see sdvag/data/README.md)")
    return "\n".join(lines)


def _years(years: list[int]) -> str:
    """2010-2019 for a run of consecutive years, 2013, 2017 for gaps."""
    parts, start = [], years[0]
    for prev, year in zip(years, [*years[1:], None]):
        if year is None or year != prev + 1:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = year
    return ", ".join(parts)
