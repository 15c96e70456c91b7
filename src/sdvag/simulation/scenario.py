"""Scenario files (TOML): what to change in a model, checked against the model before any run.

Every problem is reported, each on one line naming the file and the key, so a user fixes a file
in one pass instead of one error per run.
"""
from __future__ import annotations

import csv
import dataclasses
import math
import numbers
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sdvag.errors import SdvagError, UnsupportedFeature, shown, suggest
from sdvag.model.names import element_equations, element_reference
from sdvag.model.shipped import locate
from sdvag.model.xmile import MODEL_SUFFIXES, ModelInfo, Variable, canonical, read_model

TOP_KEYS = ("model", "title", "description", "extends", "outputs", "sim", "constants",
            "graphical", "inputs", "policies", "allow_out_of_range",
            "calibration")  # calibration: a record, not run
SIM_KEYS = ("start", "stop", "dt", "save_step", "max_steps")
POLICY_KINDS = ("step", "ramp")
POLICY_KEYS = {"step": ("variable", "kind", "at", "to"), "ramp": ("variable", "kind", "at", "to", "until")}
INPUT_KEYS = {"points": ("points",), "csv": ("csv", "time", "column")}
MAX_STEPS = 10_000_000  # a run longer than this is refused: memory grows with it, and it may never end
_HEADER = re.compile(r"[\w .,()%/+-]{1,60}")  # a column name as a CSV header has them


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
    model_data: bytes | None = field(default=None, repr=False, compare=False)  # the model as checked
    warnings: list[str] = field(default_factory=list)  # values allowed outside their <range>

    def timed(self, name: str) -> bool:
        """Whether the scenario makes the constant `name` (or the array `name` is an element of)
        a time-series input or a policy, which a value given for it would silently replace."""
        names = {name, name.partition("[")[0]}
        return any(n in self.inputs for n in names) or any(p.variable in names for p in self.policies)

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


def number_from_text(text: str) -> float | None:
    """A number written as text (a --set value, a CSV cell), or None. Python's float() also
    reads `0_1` as 1 and ` 1 ` as 1; a digit separator is refused rather than guessed at."""
    text = text.strip()
    if "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def resolved(path: Path, what: str) -> Path:
    """An absolute path, or an error naming it (a symbolic link loop, for one)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # ValueError: a NUL character in the name
        raise ScenarioError([f"{shown(str(path))}: cannot open the {what} ({exc})"]) from None


def read_toml(path: Path, what: str) -> dict:
    """A TOML file's table, or one clear error naming the file (used for every TOML sdvag reads)."""
    if not path.is_file():
        raise ScenarioError([f"{path}: {what} not found"])
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a BOM is not content
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{path}: not valid TOML ({exc})"]) from None
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read the {what} ({exc.strerror or exc})"]) from None


def merge_names(parent: dict, child: dict) -> dict:
    """Two tables of values by variable name, the child's winning: a name spelt differently
    (case, spaces, underscores) is the same XMILE name, so it replaces the parent's too."""
    replaced = {_same_name(str(k)) for k in child}
    return {**{k: v for k, v in parent.items() if _same_name(str(k)) not in replaced}, **child}


def _same_name(name: str) -> str:
    """One spelling for every way of writing a name (`Weight [ north ]` is `Weight[North]`)."""
    element = element_reference(name)
    return canonical(name) if element is None else \
        f"{canonical(element[0])}[{','.join(map(canonical, element[1]))}]"


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
            table[key] = str(resolved(path.parent / table[key], f"{key} file"))
    inputs = table.get("inputs")
    if isinstance(inputs, dict):
        for spec in inputs.values():
            if isinstance(spec, dict) and isinstance(spec.get("csv"), str):
                spec["csv"] = str(resolved(path.parent / spec["csv"], "inputs CSV file"))
    table["__file__"] = str(path)
    parent_path = table.pop("extends", None)
    if parent_path is None:
        return table
    if not isinstance(parent_path, str):
        raise ScenarioError([f"{path}: extends: expected a file name, got {type(parent_path).__name__}"])
    parent = _read_toml(Path(parent_path), (*chain, path))
    merged = dict(parent)
    for key, value in table.items():
        if key == "sim" and isinstance(value, dict) and isinstance(parent.get(key), dict):
            merged[key] = {**parent[key], **value}
        elif key in ("constants", "graphical", "inputs") and isinstance(value, dict) \
                and isinstance(parent.get(key), dict):
            merged[key] = merge_names(parent[key], value)
        else:
            merged[key] = value
    return merged


class Checker:
    """Collects problems while turning a raw table (a scenario, a calibration or sensitivity
    specification) into checked objects; `info`, the model names are checked against, may be
    set once the model is known."""

    def __init__(self, source: str, info: ModelInfo | None = None, allow_out_of_range: bool | None = None):
        self.source, self.info, self.problems = source, info, []
        self.allow_out_of_range, self.warnings = allow_out_of_range, []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{self.source}: {shown(key, None)}: {message}")

    def number(self, key: str, value, positive: bool = False) -> float | None:
        if value is None:
            self.fail(key, "missing")
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):  # numpy's too
            self.fail(key, f"expected a number, got {type(value).__name__} {value!r}")
            return None
        if not math.isfinite(value):
            self.fail(key, f"value {value} is not finite")
            return None
        if positive and value <= 0:
            self.fail(key, f"must be positive, got {value:g}")
            return None
        return float(value)

    def variable(self, key: str, name, want: str, single: bool = False) -> Variable | None:
        """The model variable `name`, if it exists and has the role wanted ('constant', 'graphical',
        'any'); `single`: not an array (an analysis that compares one number per year). A name
        such as `Firms[North]` is that element of the array, a variable of its own (`element`)."""
        if not isinstance(name, str):
            self.fail(key, f"expected a variable name, got {type(name).__name__} {name!r}")
            return None
        var = self.info.find(name)
        if var is None and element_reference(name) is not None:
            var = self.element(key, name, want)
            if var is None:
                return None
        if var is None:
            self.fail(key, f"unknown variable {name!r} in {self.info.path.name}"
                           f"{suggest(name, self.info.variables)}")
            return None
        if want != "any" and var.role != want and var.dimensions:
            elements = element_equations(self.info, var)
            numbers = want == "constant" and elements and _all_numbers(var, elements)
            self.fail(key, f"{var.name!r} is an array (over {', '.join(var.dimensions)}): sdvag changes only "
                           f"variables with a single value" + (f" or one element, such as "
                           f"'{var.name}[{','.join(next(iter(elements)))}]'" if numbers else "")
                           + " (or edit the array in the model)")
            return None
        if want != "any" and var.role != want:
            read_from = next((file for variable, file in self.info.external
                              if variable == var.name.partition("[")[0]), None)
            self.fail(key, f"{var.name!r} is read from the data file {read_from!r}; sdvag does not "
                           "override values read from a file (edit the file)" if read_from else
                           f"{var.name!r} is {'an' if var.role[0] in 'aeiou' else 'a'} {var.role}, not a {want}")
            return None
        if single and var.dimensions:
            first = next(iter(element_equations(self.info, var)), ())
            self.fail(key, f"{var.name!r} is an array (over {', '.join(var.dimensions)}): name one element, "
                           f"such as '{var.name}[{','.join(first)}]', or a variable with a single value, "
                           f"such as one that sums or picks from the array")
            return None
        return var

    def element(self, key: str, name: str, want: str) -> Variable | None:
        """One element of an array (`Weight[North]`, `Firms[North, Farm]`) as a variable of its
        own: the element's equation with the array's units, doc and range, named as results name
        its column. PySD sets an element by taking the whole array with that element changed, so
        an element is a constant only if every element of its array is a number."""
        base, wanted = element_reference(name)
        var = self.info.find(base)
        if var is None:
            self.fail(key, f"unknown variable {base!r} in {self.info.path.name}{suggest(base, self.info.variables)}")
            return None
        if not var.dimensions:
            self.fail(key, f"{var.name!r} is not an array: name it without [{', '.join(wanted)}]")
            return None
        elements = element_equations(self.info, var)
        combo = {tuple(map(canonical, c)): c for c in elements}.get(tuple(map(canonical, wanted)))
        if combo is None:
            names = [f"{var.name}[{','.join(c)}]" for c in elements]
            hint = (f"its elements: {', '.join(names)}" if len(names) <= 8 else
                    f"{len(names)} elements{suggest(name, names) or ', such as ' + names[0]}")
            self.fail(key, f"{var.name!r} has no element [{', '.join(wanted)}] over "
                           f"{', '.join(var.dimensions)} ({hint})")
            return None
        one = dataclasses.replace(var, name=f"{var.name}[{','.join(combo)}]", equation=elements[combo],
                                  dimensions=(), node=None)
        if one.is_constant and not _all_numbers(var, elements):
            if want == "constant":
                self.fail(key, f"{one.name!r}: sdvag sets an element by giving the whole array, and "
                               f"other elements of {var.name!r} are not numbers (edit the array in the model)")
                return None
            one = dataclasses.replace(one, equation="")
        return one

    def in_range(self, key: str, var: Variable, value: float) -> None:
        """A value outside the variable's <range>: refused, or (as a Stella slider's limits are
        only a guide) a warning when out-of-range values are allowed; None: never allowed (the
        bounds of a specification)."""
        if var.range is not None and not var.range[0] <= value <= var.range[1]:
            message = f"{value:g} is outside the range of {var.name!r} [{var.range[0]:g}, {var.range[1]:g}]"
            if self.allow_out_of_range:
                self.warnings.append(f"{self.source}: {key}: {message} (allowed)")
            elif self.allow_out_of_range is None:
                self.fail(key, message)
            else:
                self.fail(key, f"{message} (allow it with --allow-out-of-range or "
                               f"`allow_out_of_range = true` in the scenario)")

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


def _all_numbers(var: Variable, elements: dict[tuple[str, ...], str]) -> bool:
    """Whether every element of the array `var` is a number (a constant)."""
    return all(dataclasses.replace(var, equation=e, dimensions=()).is_constant for e in elements.values())


def _unknown_keys(ck: Checker, key: str, table: dict, allowed) -> None:
    for k in table:
        if k not in allowed:
            ck.fail(f"{key}.{k}", f"unknown key{suggest(str(k), allowed)}")


def _csv_rows(ck: Checker, key: str, spec: dict) -> list[tuple[float, float]] | None:
    """(time, value) rows of an input's CSV file."""
    if not isinstance(spec["csv"], str):
        ck.fail(f"{key}.csv", f"expected a file name, got {type(spec['csv']).__name__}")
        return None
    file = Path(spec["csv"])
    tcol, vcol = spec.get("time", "time"), spec.get("column", "value")
    if not file.is_file():
        ck.fail(f"{key}.csv", f"file not found: {file}")
        return None
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:  # a BOM is not a column name
            reader = csv.reader(handle)
            header = next(reader, [])
            missing = [c for c in (tcol, vcol) if c not in header]
            if missing:
                looks_like_header = header and all(_HEADER.fullmatch(c) for c in header)
                ck.fail(f"{key}.csv", f"{file.name} has no column {shown(str(missing[0]))!r}"
                        + (f" (columns: {', '.join(header)})" if looks_like_header else ""))
                return None
            rows = []
            for line, row in enumerate(reader, start=2):
                cells = dict(zip(header, row))
                t, v = (number_from_text(cells.get(c, "")) for c in (tcol, vcol))
                if t is None or v is None:
                    ck.fail(f"{key}.csv", f"{file.name} line {line}: not a number")
                    return None
                if not (math.isfinite(t) and math.isfinite(v)):
                    ck.fail(f"{key}.csv", f"{file.name} line {line}: not finite")
                    return None
                rows.append((t, v))
    except UnicodeDecodeError:
        ck.fail(f"{key}.csv", f"{file.name} is not UTF-8 text")
        return None
    except (OSError, csv.Error) as exc:
        ck.fail(f"{key}.csv", f"cannot read {file.name} ({exc})")
        return None
    if not rows:
        ck.fail(f"{key}.csv", f"{file.name} has no rows")
        return None
    return rows


def _series(ck: Checker, key: str, spec) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Time points and values of an input: inline `points` or a `csv` file."""
    spec = ck.table(key, spec)
    if "points" in spec and "csv" in spec:
        ck.fail(key, "give either `points` or `csv`, not both")
        return None
    if "points" in spec:
        _unknown_keys(ck, key, spec, INPUT_KEYS["points"])
        pts = spec["points"]
        if not isinstance(pts, list) or not pts or not all(isinstance(p, list) and len(p) == 2 for p in pts):
            ck.fail(f"{key}.points", "expected a list of [time, value] pairs")
            return None
        rows = [(ck.number(f"{key}.points[{i}]", t), ck.number(f"{key}.points[{i}]", v))
                for i, (t, v) in enumerate(pts)]
    elif "csv" in spec:
        _unknown_keys(ck, key, spec, INPUT_KEYS["csv"])
        rows = _csv_rows(ck, key, spec)
        if rows is None:
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


def max_steps(sim: dict | None = None) -> int:
    """The longest run allowed: the scenario's sim.max_steps, else $SDVAG_MAX_STEPS, else MAX_STEPS."""
    if sim and "max_steps" in sim:
        return int(sim["max_steps"])
    try:
        return int(os.environ.get("SDVAG_MAX_STEPS", MAX_STEPS))
    except ValueError:
        raise SdvagError(f"SDVAG_MAX_STEPS: expected a whole number, got "
                         f"{shown(os.environ['SDVAG_MAX_STEPS'])!r}") from None


def time_grid_problems(times: dict, limit: int) -> list[tuple[str, str]]:
    """(key, problem) for a time grid that cannot be run as asked: a step that does not move
    time forward, a run of more than `limit` steps, a step or save step longer than the run."""
    start, stop, dt, save = times["start"], times["stop"], times["dt"], times["save_step"]
    if not all(math.isfinite(x) for x in (start, stop, dt, save)):
        return [("sim", "the time settings must be finite")]
    if dt <= 0:
        return [("sim.dt", "must be positive")]
    if start + dt == start:
        return [("sim.dt", f"{dt:g} is too small to move time on from {start:g} (floating point)")]
    if stop <= start:
        return [("sim.stop", f"must be after start ({start:g})")]
    length = stop - start
    if dt > length:
        return [("sim.dt", f"{dt:g} is longer than the run ({start:g} to {stop:g})")]
    if save > length:
        return [("sim.save_step", f"{save:g} is longer than the run ({start:g} to {stop:g}): "
                                  f"the final time would not be saved")]
    if save < dt or abs(round(save / dt) * dt - save) > 1e-9 * save:
        return [("sim.save_step", f"must be a whole multiple of dt ({dt:g})")]
    steps = length / dt
    if steps > limit:
        return [("sim.dt", f"the run would take {steps:.3g} steps of {dt:g}, more than the limit "
                           f"of {limit:,} (raise it with sim.max_steps or SDVAG_MAX_STEPS)")]
    return []


def _sim(ck: Checker, raw: dict, info: ModelInfo, sc: "Scenario") -> None:
    for key, value in ck.table("sim", raw.get("sim", {})).items():
        if key not in SIM_KEYS:
            ck.fail(f"sim.{key}", f"unknown key{suggest(key, SIM_KEYS)}")
        elif (num := ck.number(f"sim.{key}", value, positive=key == "max_steps")) is not None:
            if key == "max_steps" and num != int(num):
                ck.fail("sim.max_steps", f"expected a whole number, got {num:g}")
                continue
            sc.sim[key] = num
    if info.sim.computed:  # no grid to check before the run: simulation/computed_time.py guards it
        for key in sorted(set(sc.sim) - {"max_steps"}):
            ck.fail(f"sim.{key}", f"the model computes its time settings ({', '.join(info.sim.computed)}), "
                                  "so a scenario cannot set them")
        return
    times = {**{"start": info.sim.start, "stop": info.sim.stop, "dt": info.sim.dt,
                "save_step": info.sim.save_step if "dt" not in sc.sim else sc.sim["dt"]}, **sc.sim}
    for key, problem in time_grid_problems(times, max_steps(sc.sim)):
        ck.fail(key, problem)


def _not_an_element(ck: Checker, key: str, var: Variable | None, refused: bool = True) -> Variable | None:
    """`var`, unless it is one element of an array where only a whole variable will do (a
    time series, a policy or points change the variable's equation, not a number in it)."""
    if refused and var is not None and element_reference(var.name) is not None:
        ck.fail(key, f"{var.name!r} is one element of an array: only constants ([constants], --set) "
                     f"can be set element by element")
        return None
    return var


def _values_by_name(ck: Checker, section: str, raw: dict, want: str):
    """(key, variable, value) of each entry of a [constants]-like table, each variable once."""
    seen: dict[str, str] = {}
    for name, value in ck.table(section, raw.get(section, {})).items():
        key = f'{section}."{name}"'
        var = _not_an_element(ck, key, ck.variable(key, name, want), section != "constants")
        if var is not None and var.name in seen:
            ck.fail(key, f"{var.name!r} is already set as {seen[var.name]!r}: one value per variable")
            var = None
        elif var is not None:
            seen[var.name] = name
        yield key, var, value


def _policies(ck: Checker, raw: dict, sc: "Scenario", stop: float) -> None:
    policies = raw.get("policies", [])
    if not isinstance(policies, list):
        ck.fail("policies", "expected an array of tables ([[policies]])")
        policies = []
    for i, item in enumerate(policies):
        key = f"policies[{i}]"
        item = ck.table(key, item)
        var = _not_an_element(ck, f"{key}.variable", ck.variable(f"{key}.variable", item.get("variable"),
                                                                  "constant"))
        kind = item.get("kind", "step")
        if kind not in POLICY_KINDS:
            ck.fail(f"{key}.kind", f"expected one of {', '.join(POLICY_KINDS)}, got {shown(str(kind))!r}")
        _unknown_keys(ck, key, item, POLICY_KEYS.get(kind, POLICY_KEYS["ramp"]) if isinstance(kind, str)
                      else POLICY_KEYS["ramp"])
        at = ck.number(f"{key}.at", item.get("at"))
        to = ck.number(f"{key}.to", item.get("to"))
        until = None
        if kind == "ramp":
            until = ck.number(f"{key}.until", item.get("until"))
            if until is not None and at is not None and until <= at:
                ck.fail(f"{key}.until", f"must be after `at` ({at:g})")
        if at is not None and at > stop:
            ck.fail(f"{key}.at", f"{at:g} is after the run's stop time ({stop:g}): the policy would never act")
        if var is not None and to is not None:
            ck.in_range(f"{key}.to", var, to)
            if var.name in sc.inputs:
                ck.fail(f"{key}.variable", f"{var.name!r} is already a time-series input")
            if any(p.variable == var.name for p in sc.policies):
                ck.fail(f"{key}.variable", f"{var.name!r} already has a policy: one policy per "
                                           f"variable (a ramp, or a step, not both)")
                continue
        if var is not None and None not in (at, to) and kind in POLICY_KINDS:
            sc.policies.append(Policy(var.name, kind, at, to, until))


def _constant(ck: Checker, key: str, var: Variable | None, value, sc: Scenario) -> None:
    """One constant override, checked: a number, inside its range."""
    num = ck.number(key, value)
    if var is not None and num is not None:
        ck.in_range(key, var, num)
        sc.constants[var.name] = num


def _check(raw: dict, info: ModelInfo, source: str, overrides: dict | None = None,
           allow_out_of_range: bool = False) -> Scenario:
    allow = raw.get("allow_out_of_range", False)
    ck = Checker(source, info, allow_out_of_range=allow_out_of_range or allow is True)
    if not isinstance(allow, bool):
        ck.fail("allow_out_of_range", f"expected true or false, got {allow!r}")
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
    _sim(ck, raw, info, sc)
    for key, var, value in _values_by_name(ck, "constants", raw, "constant"):
        _constant(ck, key, var, value, sc)
    given = Checker("--set", info, ck.allow_out_of_range)  # values from the command line, named so
    given.problems, given.warnings = ck.problems, ck.warnings
    for name, value in (overrides or {}).items():
        key = f"{shown(str(name))}={value:g}" if isinstance(value, (int, float)) else shown(str(name))
        _constant(given, key, given.variable(key, name, "constant"), value, sc)
    for key, var, value in _values_by_name(ck, "graphical", raw, "graphical"):
        table = ck.table(key, value)
        _unknown_keys(ck, key, table, ("x", "y"))
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
    for key, var, value in _values_by_name(ck, "inputs", raw, "constant"):
        series = _series(ck, key, value)
        if var is not None and series is not None:
            for v in series[1]:
                ck.in_range(key, var, v)
            sc.inputs[var.name] = series
    _policies(ck, raw, sc, sc.sim.get("stop", info.sim.stop))
    for name in (n for n in sc.constants if n not in info.variables and sc.timed(n)):
        ck.fail(f'constants."{name}"', f"{name.partition('[')[0]!r} is a time-series input or has a policy: "
                                       f"its elements cannot also be set")
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
    sc.warnings = list(ck.warnings)
    return sc


def time_settings(scenario: Scenario, info: ModelInfo) -> dict[str, float]:
    """start, stop, dt and save_step of a scenario's runs: its [sim] over the model's sim_specs
    (a scenario that sets dt alone saves every dt). A model that computes its time settings has
    no such grid: refused for what needs one (ensembles, calibration, checks, the vectorised
    engine); a single run produces its own times (simulation/computed_time.py)."""
    sim = info.sim
    if sim.computed:
        raise UnsupportedFeature(f"computed time settings ({', '.join(sim.computed)}) in an analysis "
                                 "that needs a fixed time grid (run and compare accept them)", None, info.path)
    dt = scenario.sim.get("dt", sim.dt)
    return {
        "start": scenario.sim.get("start", sim.start),
        "stop": scenario.sim.get("stop", sim.stop),
        "dt": dt,
        "save_step": scenario.sim.get("save_step", dt if "dt" in scenario.sim else sim.save_step),
    }


def load_scenario(target: str | Path, overrides: dict[str, object] | None = None,
                  allow_out_of_range: bool = False) -> Scenario:
    """A checked Scenario from a scenario file, or the defaults of a bare model file; a bare
    name is a shipped scenario or model (`tic_baseline`).

    `overrides` are constant values (as from `--set NAME=VALUE`), checked like [constants] and
    named `--set` in messages. Values outside a variable's <range> are refused unless
    `allow_out_of_range` (or the scenario's `allow_out_of_range = true`); then each is a warning
    in `Scenario.warnings`.
    """
    if not isinstance(target, (str, os.PathLike)):
        raise SdvagError(f"expected a scenario or model file name, got {type(target).__name__} "
                         f"{shown(repr(target))}")
    path = locate(target)
    if path.suffix.lower() in MODEL_SUFFIXES:
        raw: dict = {"model": str(path)}
        source = str(path)
    elif path.suffix.lower() == ".toml":
        raw = _read_toml(resolved(path, "scenario file"), ())
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
    if overrides is not None and not isinstance(overrides, dict):
        raise SdvagError(f"set: expected a dict of constant values, got {type(overrides).__name__}")
    scenario = _check(raw, info, source, overrides, allow_out_of_range)
    scenario.model_data = info.data
    return scenario
