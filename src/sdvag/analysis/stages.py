"""Evolution stages: the years at which a model's stage indicator changes, and the stages' names.

A model names its stages in the <doc> of `Evolution Stage`, in a line
`Stages: 1 = quantity concentration; 2 = quality improvement; 3 = R&D and brand innovation`,
so that the names live with the model an editor user sees.
"""
from __future__ import annotations

import re

import numpy as np
import xarray as xr

from sdvag.errors import SdvagError

STAGE_VARIABLE = "Evolution Stage"
_STAGES_LINE = re.compile(r"(?:^|\s)Stages\s*:([^\n]*)", re.IGNORECASE)
_STAGE_ITEM = re.compile(r"^\s*(-?\d+)\s*=\s*(.+?)\s*\.?\s*$")


def stage_names(source: xr.Dataset | xr.DataArray | str | None) -> dict[int, str]:
    """{code: name} from the `Stages: 1 = ...; 2 = ...` line of the stage variable's doc (a
    Dataset, the variable, or the doc text); {} when the model names no stages."""
    if isinstance(source, xr.Dataset):
        source = source[STAGE_VARIABLE] if STAGE_VARIABLE in source else None
    if isinstance(source, xr.DataArray):
        source = source.attrs.get("doc", "")
    match = _STAGES_LINE.search(source or "")
    if not match:
        return {}
    names = {}
    for item in match.group(1).split(";"):
        parsed = _STAGE_ITEM.match(item)
        if parsed:
            names[int(parsed.group(1))] = parsed.group(2)
    return names


def stage_label(code: int, names: dict[int, str]) -> str:
    """`stage 2 (quality improvement)`, or `stage 2` when the model names no stages."""
    return f"stage {code} ({names[code]})" if code in names else f"stage {code}"


def stage_changes(data: xr.Dataset | xr.DataArray, variable: str = STAGE_VARIABLE) -> list[tuple[float, int]]:
    """(time, stage) at the start and at every change of the stage indicator of one run."""
    if isinstance(data, xr.Dataset) and variable not in data:
        raise SdvagError(f"stage_changes: the run has no {variable!r} (the model defines no stages)")
    if not isinstance(data, (xr.Dataset, xr.DataArray)):
        raise SdvagError(f"stage_changes: expected a run's Dataset, got {type(data).__name__}")
    series = data[variable] if isinstance(data, xr.Dataset) else data
    if set(series.dims) != {"time"}:
        raise SdvagError(f"stage_changes needs one run (dimension time), got dimensions {series.dims}")
    values = series.to_numpy()
    times = series["time"].to_numpy()
    ok = np.isfinite(values)
    values, times = np.rint(values[ok]).astype(int), times[ok]
    if values.size == 0:
        return []
    changes = [(float(times[0]), int(values[0]))]
    for t, v in zip(times[1:], values[1:]):
        if v != changes[-1][1]:
            changes.append((float(t), int(v)))
    return changes

