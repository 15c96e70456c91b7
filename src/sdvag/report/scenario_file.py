"""Scenario files written by sdvag (a calibrated scenario, the explorer's saved settings).

Self-contained (the scenario's settings written out, not `extends`), so editing the scenario a
file started from can never silently change what the written file runs.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from sdvag.simulation.scenario import Scenario


def toml_value(v) -> str:
    """A TOML value: strings, booleans, numbers (full precision; nan and inf), lists, tables."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")) if not math.isfinite(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _key(name: str) -> str:
    return name if name.replace("_", "").isalnum() and name.isascii() else json.dumps(name)


def toml_table(header: str, items: dict) -> list[str]:
    return ["", header, *(f"{_key(k)} = {toml_value(v)}" for k, v in items.items())]


def relative_to(folder: Path):
    """A function giving a path relative to `folder` (POSIX form), as scenario files hold them."""
    return lambda p: Path(os.path.relpath(Path(p).resolve(), folder.resolve())).as_posix()


def scenario_lines(sc: Scenario, folder: Path, title: str, description: str) -> list[str]:
    """The TOML lines of a scenario's settings (model path relative to `folder`)."""
    lines = [f"model = {toml_value(relative_to(folder)(sc.model))}",
             f"title = {toml_value(title)}",
             f"description = {toml_value(description)}"]
    if sc.outputs:
        lines.append(f"outputs = {toml_value(sc.outputs)}")
    if sc.warnings:  # the scenario allowed values outside their ranges: so must the file
        lines.append("allow_out_of_range = true")
    if sc.sim:
        lines += toml_table("[sim]", sc.sim)
    lines += toml_table("[constants]", sc.constants)
    if sc.graphical:
        lines += toml_table("[graphical]", {k: {"x": list(x), "y": list(y)} for k, (x, y) in sc.graphical.items()})
    if sc.inputs:
        lines += toml_table("[inputs]", {k: {"points": [[a, b] for a, b in zip(t, v)]}
                                         for k, (t, v) in sc.inputs.items()})
    for policy in sc.policies:
        lines += toml_table("[[policies]]", {k: v for k, v in vars(policy).items() if v is not None})
    return lines
