"""The observed series shipped with sdvag, each value with its status and source.

`series.csv` (described in README.md next to it) holds one row per (series, year). Series are
sparse and irregular: a year that is missing is unknown, so nothing here fills gaps. Each value
says when in the year it was observed (`timing`, see TIMINGS): a level at year end is not a
level on 1 January, and an annual total is not a level at all.

A user's own data may come as that long table (`unit`, `status` and `source` optional), as a
wide table (a `year` or `time` column, then a column per series, optionally `name [unit]`), in
CSV or in an Excel sheet (with the `excel` extra, openpyxl); without a `timing` column every value
is taken as a year-end level, with a warning.
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
from sdvag.formatting import format_number, text_table

COLUMNS = ("series", "year", "value", "unit", "status", "timing", "source")
STATUSES = ("confirmed", "derived", "seed")
REQUIRED = ("series", "year", "value")  # of a long table; unit "" (unknown), status confirmed, source the file
TIME_COLUMNS = ("year", "time", "date", "period")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_HEADER_UNIT = re.compile(r"^(.*?)\s*[\[(]([^\])]*)[\])]\s*$")
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


def load(file: str | Path | None = None, sheet: str | int | None = None) -> pd.DataFrame:
    """All rows of a series file (the shipped one by default), checked: a frame with COLUMNS.
    The file may be long or wide, CSV or Excel (`sheet`: a sheet name or index, default the first)."""
    file = Path(file) if file is not None else path()
    if not file.is_file():
        raise SdvagError(f"{file}: series file not found")
    return _checked(_long(_read_table(file, sheet), file.name), file)


def from_frame(frame: pd.DataFrame, name: str = "data") -> pd.DataFrame:
    """A user's DataFrame (long or wide, as a file would be) as a checked long table."""
    return _checked(_long(frame.copy(), name), name)


def _checked(frame: pd.DataFrame, file) -> pd.DataFrame:
    """The long table with numbers parsed and every problem reported, one line each."""
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


def _read_table(file: Path, sheet) -> pd.DataFrame:
    """The file's table as read, CSV or an Excel sheet."""
    text = {"series": str, "unit": str, "status": str, "timing": str, "source": str}
    if file.suffix.lower() in EXCEL_SUFFIXES:
        try:
            import openpyxl  # noqa: F401  (pandas' Excel reader)
        except ImportError:
            raise SdvagError(f"{file}: reading Excel needs openpyxl: pip install 'sdvag[excel]'") from None
        try:
            return pd.read_excel(file, sheet_name=0 if sheet is None else sheet, dtype=text)
        except (ValueError, KeyError, OSError) as exc:
            raise SdvagError(f"{file}: not a readable Excel series sheet ({exc})") from None
    try:
        return pd.read_csv(file, dtype=text)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise SdvagError(f"{file}: not a readable series CSV ({exc})") from None


def _long(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """The long table (COLUMNS) of a long or wide one; optional columns filled in."""
    frame = frame.rename(columns=lambda c: str(c).strip())
    lower = {c.lower(): c for c in frame.columns}
    if all(c in lower for c in REQUIRED):
        frame = frame.rename(columns={lower[c]: c for c in COLUMNS if c in lower})
    else:
        time = next((lower[c] for c in TIME_COLUMNS if c in lower), None)
        if time is None or len(frame.columns) < 2:
            raise SdvagError(f"{file}: expected a long table with columns {', '.join(REQUIRED)} "
                             f"(and optionally unit, status, source) or a wide one with a "
                             f"{' or '.join(TIME_COLUMNS[:2])} column and a column per series")
        columns = [c for c in frame.columns if c != time]
        frame = frame.melt(id_vars=[time], value_vars=columns, var_name="header", value_name="value")
        frame = frame[frame["value"].notna() & (frame["value"].astype(str).str.strip() != "")]
        named = frame["header"].map(_series_and_unit)
        frame = pd.DataFrame({"series": named.str[0], "year": frame[time], "value": frame["value"],
                              "unit": named.str[1]})
    if "timing" not in frame.columns:
        warnings.warn(f"{file}: no timing column; every value is taken as a {DEFAULT_TIMING} level "
                      "(add a timing column: see sdvag/data/README.md)", stacklevel=3)
        frame.attrs["timing_defaulted"] = True
    defaults = {"unit": "", "status": "confirmed", "timing": DEFAULT_TIMING, "source": file}
    for column, default in defaults.items():
        if column not in frame.columns:
            frame[column] = default
        frame[column] = frame[column].fillna(default).astype(str)
    defaulted = frame.attrs.get("timing_defaulted", False)
    frame = frame.reset_index(drop=True)
    frame.attrs["timing_defaulted"] = defaulted
    return frame


def _series_and_unit(header: str) -> tuple[str, str]:
    """`adopters [people]` or `adopters (people)` -> (adopters, people); a bare header has no unit."""
    match = _HEADER_UNIT.match(header)
    return (match.group(1), match.group(2).strip()) if match else (header, "")


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


def describe(name: str, file: str | Path | None = None) -> str:
    """One series, a line per year: value, status and source (for `sdvag data NAME`)."""
    one = series(name, file)
    lines = [f"{name} ({one.attrs['units'] or 'no unit'}), {one.size} values"]
    rows = [[f"{year:g}", format_number(value), status, timing, source] for year, value, status, timing, source in
            zip(one["year"].to_numpy(), one.to_numpy(), one["status"].to_numpy(), one["timing"].to_numpy(),
                one["source"].to_numpy())]
    lines.append(text_table(["year", "value", "status", "timing", "source"], rows))
    return "\n".join(lines)


def _years(years: list[int]) -> str:
    """2010-2019 for a run of consecutive years, 2013, 2017 for gaps."""
    parts, start = [], years[0]
    for prev, year in zip(years, [*years[1:], None]):
        if year is None or year != prev + 1:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
            start = year
    return ", ".join(parts)
