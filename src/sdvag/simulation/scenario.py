"""Scenario files (TOML): what to change in a model, checked against the model before any run.

Every problem is reported, each on one line naming the file and the key, so a user fixes a file
in one pass instead of one error per run.
"""
from __future__ import annotations

import csv
import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sdvag.errors import SdvagError, suggest
from sdvag.model.xmile import MODEL_SUFFIXES, ModelInfo, Variable, read_model

TOP_KEYS = ("model", "title", "description", "extends", "outputs", "sim", "constants",
            "graphical", "inputs", "policies", "calibration")  # calibration: a record, not run
SIM_KEYS = ("start", "stop", "dt", "save_step")
POLICY_KINDS = ("step", "ramp")


class ScenarioError(SdvagError):
    """All the problems found in one scenario, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Policy:
    """A lever changed during the run: a step to `to` at `at`, or a ramp from `at` to `until`."""

    variable: str
    kind: str
    at: float
    to: float
    until: float | None = None


@dataclass
class Scenario:
    name: str
    model: Path
    title: str = ""
    description: str = ""
    path: Path | None = None
    sim: dict[str, float] = field(default_factory=dict)
    constants: dict[str, float] = field(default_factory=dict)
    graphical: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)
    inputs: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)
    policies: list[Policy] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def describe(self) -> dict:
        """A plain, serialisable record of the scenario, kept with its results."""
        return {
            "name": self.name, "title": self.title, "description": self.description,
            "file": str(self.path) if self.path else "", "model": str(self.model),
            "sim": self.sim, "constants": self.constants,
            "graphical": {k: {"x": list(x), "y": list(y)} for k, (x, y) in self.graphical.items()},
            "inputs": {k: {"time": list(t), "value": list(v)} for k, (t, v) in self.inputs.items()},
            "policies": [vars(p) for p in self.policies], "outputs": self.outputs,
        }


def read_toml(path: Path, what: str) -> dict:
    """A TOML file's table, or one clear error naming the file (used for every TOML sdvag reads)."""
    if not path.is_file():
        raise ScenarioError([f"{path}: {what} not found"])
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{path}: not valid TOML ({exc})"]) from None


def _read_toml(path: Path, chain: tuple[Path, ...]) -> dict:
    """The file's table with `extends` resolved and relative paths made absolute."""
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ScenarioError([f"{chain[-1]}: extends: circular extends ({cycle})"])
    if chain and not path.is_file():
        raise ScenarioError([f"{chain[-1]}: extends: {path}: scenario file not found"])
    table = read_toml(path, "scenario file")
    for key in ("model", "extends"):
        if isinstance(table.get(key), str):
            table[key] = str((path.parent / table[key]).resolve())
    inputs = table.get("inputs")
    if isinstance(inputs, dict):
        for spec in inputs.values():
            if isinstance(spec, dict) and isinstance(spec.get("csv"), str):
                spec["csv"] = str((path.parent / spec["csv"]).resolve())
    table["__file__"] = str(path)
    parent_path = table.pop("extends", None)
    if parent_path is None:
        return table
    if not isinstance(parent_path, str):
        raise ScenarioError([f"{path}: extends: expected a file name, got {type(parent_path).__name__}"])
    parent = _read_toml(Path(parent_path), (*chain, path))
    merged = dict(parent)
    for key, value in table.items():
        if key in ("sim", "constants", "graphical", "inputs") and isinstance(value, dict) \
                and isinstance(parent.get(key), dict):
            merged[key] = {**parent[key], **value}
        else:
            merged[key] = value
    return merged


class Checker:
    """Collects problems while turning a raw table (a scenario, a calibration or sensitivity
    specification) into checked objects; `info`, the model names are checked against, may be
    set once the model is known."""

    def __init__(self, source: str, info: ModelInfo | None = None):
        self.source, self.info, self.problems = source, info, []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{self.source}: {key}: {message}")

    def number(self, key: str, value, positive: bool = False) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"expected a number, got {type(value).__name__} {value!r}")
            return None
        if not math.isfinite(value):
            self.fail(key, f"value {value} is not finite")
            return None
        if positive and value <= 0:
            self.fail(key, f"must be positive, got {value:g}")
            return None
        return float(value)

    def variable(self, key: str, name, want: str) -> Variable | None:
        """The model variable `name`, if it exists and has the role wanted ('constant', 'graphical', 'any')."""
        if not isinstance(name, str):
            self.fail(key, f"expected a variable name, got {type(name).__name__} {name!r}")
            return None
        var = self.info.find(name)
        if var is None:
            self.fail(key, f"unknown variable {name!r} in {self.info.path.name}"
                           f"{suggest(name, self.info.variables)}")
            return None
        if want != "any" and var.role != want:
            self.fail(key, f"{var.name!r} is a {var.role}, not a {want}")
            return None
        return var

    def in_range(self, key: str, var: Variable, value: float) -> None:
        if var.range is not None and not var.range[0] <= value <= var.range[1]:
            self.fail(key, f"{value:g} is outside the range of {var.name!r} "
                           f"[{var.range[0]:g}, {var.range[1]:g}]")

    def table(self, key: str, value) -> dict:
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {type(value).__name__}")
            return {}
        return value

    def tables(self, key: str, value) -> list[dict]:
        """An array of tables ([[key]]), at least one."""
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            self.fail(key, f"expected one or more [[{key}]] tables")
            return []
        return value


def _series(ck: Checker, key: str, spec) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Time points and values of an input: inline `points` or a `csv` file."""
    spec = ck.table(key, spec)
    if "points" in spec:
        pts = spec["points"]
        if not isinstance(pts, list) or not pts or not all(isinstance(p, list) and len(p) == 2 for p in pts):
            ck.fail(f"{key}.points", "expected a list of [time, value] pairs")
            return None
        rows = [(ck.number(f"{key}.points[{i}]", t), ck.number(f"{key}.points[{i}]", v))
                for i, (t, v) in enumerate(pts)]
    elif "csv" in spec:
        file = Path(spec["csv"])
        tcol, vcol = spec.get("time", "time"), spec.get("column", "value")
        if not file.is_file():
            ck.fail(f"{key}.csv", f"file not found: {file}")
            return None
        with file.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in (tcol, vcol) if c not in (reader.fieldnames or [])]
            if missing:
                ck.fail(f"{key}.csv", f"{file.name} has no column {missing[0]!r} "
                                      f"(columns: {', '.join(reader.fieldnames or [])})")
                return None
            rows = []
            for line, row in enumerate(reader, start=2):
                try:
                    rows.append((float(row[tcol]), float(row[vcol])))
                except (TypeError, ValueError):
                    ck.fail(f"{key}.csv", f"{file.name} line {line}: not a number")
                    return None
            if not rows:
                ck.fail(f"{key}.csv", f"{file.name} has no rows")
                return None
            for t, v in rows:
                for x in (t, v):
                    if not math.isfinite(x):
                        ck.fail(f"{key}.csv", f"{file.name}: value {x} is not finite")
                        return None
    else:
        ck.fail(key, "expected `points = [[time, value], ...]` or `csv = \"file.csv\"`")
        return None
    if any(t is None or v is None for t, v in rows):
        return None
    times = [t for t, _ in rows]
    if any(b <= a for a, b in zip(times, times[1:])):
        ck.fail(key, "times must be strictly increasing")
        return None
    return tuple(times), tuple(v for _, v in rows)


def _check(raw: dict, info: ModelInfo, source: str) -> Scenario:
    ck = Checker(source, info)
    for key in raw:
        if key not in TOP_KEYS and key != "__file__":
            ck.fail(key, f"unknown key{suggest(key, TOP_KEYS)}")
    path = Path(raw["__file__"]) if raw.get("__file__") else None
    sc = Scenario(name=path.stem if path else info.path.stem, model=info.path, path=path)
    for key in ("title", "description"):
        if key in raw:
            if isinstance(raw[key], str):
                setattr(sc, key, raw[key])
            else:
                ck.fail(key, f"expected a string, got {type(raw[key]).__name__}")
    sim = ck.table("sim", raw.get("sim", {}))
    for key, value in sim.items():
        if key not in SIM_KEYS:
            ck.fail(f"sim.{key}", f"unknown key{suggest(key, SIM_KEYS)}")
        elif (num := ck.number(f"sim.{key}", value)) is not None:
            sc.sim[key] = num
    spec = {**{"start": info.sim.start, "stop": info.sim.stop, "dt": info.sim.dt,
               "save_step": info.sim.save_step if "dt" not in sc.sim else sc.sim["dt"]}, **sc.sim}
    if spec["dt"] <= 0:
        ck.fail("sim.dt", "must be positive")
    elif spec["stop"] <= spec["start"]:
        ck.fail("sim.stop", f"must be after start ({spec['start']:g})")
    elif spec["save_step"] < spec["dt"] or abs(round(spec["save_step"] / spec["dt"])
                                               * spec["dt"] - spec["save_step"]) > 1e-9 * spec["save_step"]:
        ck.fail("sim.save_step", f"must be a whole multiple of dt ({spec['dt']:g})")
    for name, value in ck.table("constants", raw.get("constants", {})).items():
        key = f'constants."{name}"'
        var = ck.variable(key, name, "constant")
        num = ck.number(key, value)
        if var is not None and num is not None:
            ck.in_range(key, var, num)
            sc.constants[var.name] = num
    for name, value in ck.table("graphical", raw.get("graphical", {})).items():
        key = f'graphical."{name}"'
        var = ck.variable(key, name, "graphical")
        table = ck.table(key, value)
        xs, ys = table.get("x"), table.get("y")
        if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys) or len(xs) < 2:
            ck.fail(key, "expected x and y lists of equal length (at least 2 points)")
            continue
        x = [ck.number(f"{key}.x", v) for v in xs]
        y = [ck.number(f"{key}.y", v) for v in ys]
        if None in x or None in y:
            continue
        if any(b <= a for a, b in zip(x, x[1:])):
            ck.fail(f"{key}.x", "must be strictly increasing")
        elif var is not None:
            sc.graphical[var.name] = (tuple(x), tuple(y))
    for name, value in ck.table("inputs", raw.get("inputs", {})).items():
        key = f'inputs."{name}"'
        var = ck.variable(key, name, "constant")
        series = _series(ck, key, value)
        if var is not None and series is not None:
            for v in series[1]:
                ck.in_range(key, var, v)
            sc.inputs[var.name] = series
    policies = raw.get("policies", [])
    if not isinstance(policies, list):
        ck.fail("policies", "expected an array of tables ([[policies]])")
        policies = []
    for i, item in enumerate(policies):
        key = f"policies[{i}]"
        item = ck.table(key, item)
        for k in item:
            if k not in ("variable", "kind", "at", "to", "until"):
                ck.fail(f"{key}.{k}", f"unknown key{suggest(k, ('variable', 'kind', 'at', 'to', 'until'))}")
        var = ck.variable(f"{key}.variable", item.get("variable"), "constant")
        kind = item.get("kind", "step")
        if kind not in POLICY_KINDS:
            ck.fail(f"{key}.kind", f"expected one of {', '.join(POLICY_KINDS)}, got {kind!r}")
        at = ck.number(f"{key}.at", item.get("at"))
        to = ck.number(f"{key}.to", item.get("to"))
        until = None
        if kind == "ramp":
            until = ck.number(f"{key}.until", item.get("until"))
            if until is not None and at is not None and until <= at:
                ck.fail(f"{key}.until", f"must be after `at` ({at:g})")
        if var is not None and to is not None:
            ck.in_range(f"{key}.to", var, to)
            if var.name in sc.inputs:
                ck.fail(f"{key}.variable", f"{var.name!r} is already a time-series input")
        if var is not None and None not in (at, to) and kind in POLICY_KINDS:
            sc.policies.append(Policy(var.name, kind, at, to, until))
    outputs = raw.get("outputs", [])
    if not isinstance(outputs, list):
        ck.fail("outputs", "expected a list of variable names")
        outputs = []
    for i, name in enumerate(outputs):
        var = ck.variable(f"outputs[{i}]", name, "any")
        if var is not None:
            sc.outputs.append(var.name)
    if ck.problems:
        raise ScenarioError(ck.problems)
    return sc


def load_scenario(target: str | Path, overrides: dict[str, object] | None = None) -> Scenario:
    """A checked Scenario from a scenario file, or the defaults of a bare model file.

    `overrides` are constant values (as from `--set NAME=VALUE`), checked like [constants].
    """
    path = Path(target)
    if path.suffix.lower() in MODEL_SUFFIXES:
        raw: dict = {"model": str(path)}
        source = str(path)
    elif path.suffix.lower() == ".toml":
        raw = _read_toml(path.resolve(), ())
        source = str(path)
        if not isinstance(raw.get("model"), str):
            raise ScenarioError([f"{source}: model: missing: the scenario must name its model file"])
        if not Path(raw["model"]).is_file():
            raise ScenarioError([f"{source}: model: file not found: {raw['model']}"])
    else:
        if not path.exists():
            raise SdvagError(f"{path}: file not found")
        raise SdvagError(f"{path}: expected a scenario (.toml) or a model ({', '.join(MODEL_SUFFIXES)})")
    info = read_model(raw["model"])
    if overrides:
        raw["constants"] = {**raw.get("constants", {}), **overrides}
    return _check(raw, info, source)
