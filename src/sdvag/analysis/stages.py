"""Evolution stages: the years at which a model's stage indicator changes."""
from __future__ import annotations

import numpy as np
import xarray as xr

from sdvag.errors import SdvagError

STAGE_VARIABLE = "Evolution Stage"


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
