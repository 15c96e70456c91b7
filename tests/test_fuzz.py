"""Random scenarios and broken model files (a seeded generator, bounded in time): the command
line answers each with exit status 0, 2 or 3, never a traceback, never a control character on
the terminal, never a file outside the output folder, and never runs code from the model."""
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ROOT
from hostile import model_text, project, sdvag_main

SECONDS = 25          # the in-process part stops starting new cases after this long
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
MARKER = "FUZZ_MARKER"

NUMBERS = ["0", "-1", "0.5", "1e308", "1e-300", "nan", "inf", "-inf", "1e16", "2000", "4", "1_0",
           "0.0000001", "123456789012345678901234567890", "1e400"]
STRINGS = ['"Rate"', '"rate"', '"Other"', '"Adopters"', '"Nope"', '"Time"', '""', '"\\u001b[31mX"',
           '"a\\nerror: fake"', '"../../escape"', '"/etc/passwd"', '"model.xmile"', '"ramp"', '"step"',
           '"r.csv"', '"\\u0000"']
KEYS = ["model", "title", "outputs", "extends", "sim", "constants", "graphical", "inputs", "policies",
        "junk", "Rate", "rate", "Other", "start", "stop", "dt", "save_step", "max_steps", "x", "y",
        "points", "csv", "time", "column", "variable", "kind", "at", "to", "until", "\u001b"]
EQUATIONS = ["", "1e400", "Rate +", "((((", '"x', "Nope", "IF THEN ELSE", "1/0", "SQRT(-1)", "Adopters",
             "0x10", "1_000", "\\", "{c} 1", "DELAY(Rate)", "LN(0)", "Time", "MOD(1, 2)", "Rate * 1e308 * 1e308",
             f'1 {{"""\n__import__("os").system("touch {MARKER}")\n"""}}', "-Adopters * 100"]
NAMES = ['Rate&quot;', "R&amp;D", "&#27;[31m", "Time", "rate", "", "  ", "a'b", "a\\nb", "&#10;x", "Other"]
INJECTIONS = [f'<doc>x"""\n__import__("os").system("touch {MARKER}")\n"""</doc>',
              f"<units>'{MARKER}'\"\"\"</units>", "<!-- comment -->", "<dimensions><dim name='d'/></dimensions>",
              "<gf><ypts>1,2,x</ypts></gf>", "<range min='5' max='1'/>", "<non_negative/>"]


def _value(rng: random.Random, depth: int = 0) -> str:
    kind = rng.random()
    if kind < 0.35:
        return rng.choice(NUMBERS)
    if kind < 0.6:
        return rng.choice(STRINGS)
    if kind < 0.7:
        return rng.choice(["true", "false", "1979-05-27"])
    if depth > 1:
        return "1"
    if kind < 0.85:
        return "[" + ", ".join(_value(rng, depth + 1) for _ in range(rng.randint(0, 3))) + "]"
    pairs = [f"{_key(k)} = {_value(rng, depth + 1)}" for k in rng.sample(KEYS, rng.randint(0, 3))]
    return "{ " + ", ".join(pairs) + " }"


def fuzz_scenario(rng: random.Random) -> str:
    """A TOML scenario, valid TOML most of the time, with random keys and values."""
    lines = ['model = "model.xmile"'] if rng.random() < 0.9 else []
    for key in rng.sample(KEYS[1:], rng.randint(0, 3)):
        lines.append(f"{_key(key)} = {_value(rng)}")
    for section in rng.sample(["sim", "constants", "graphical", "inputs", "[policies]"], rng.randint(0, 3)):
        lines.append(f"[{section}]")
        for key in rng.sample(KEYS, rng.randint(0, 4)):
            lines.append(f"{_key(key)} = {_value(rng)}")
    text = "\n".join(lines) + "\n"
    return _corrupt(rng, text) if rng.random() < 0.1 else text


def _key(key: str) -> str:
    return '"' + key.encode("unicode_escape").decode("ascii").replace("\\x", "\\u00") + '"'


def fuzz_model(rng: random.Random) -> str:
    text = model_text()
    for _ in range(rng.randint(1, 3)):
        choice = rng.random()
        if choice < 0.3:
            eqns = list(re.finditer(r"<eqn>([^<]*)</eqn>", text))
            if not eqns:
                continue
            m = rng.choice(eqns)
            new = rng.choice(EQUATIONS).replace("&", "&amp;").replace("<", "&lt;")
            text = text[:m.start(1)] + new + text[m.end(1):]
        elif choice < 0.5:
            names = list(re.finditer(r'name="([^"]*)"', text))
            if not names:
                continue
            m = rng.choice(names)
            text = text[:m.start(1)] + rng.choice(NAMES) + text[m.end(1):]
        elif choice < 0.65:
            tag = rng.choice(["start", "stop", "dt"])
            text = re.sub(f"<{tag}>[^<]*</{tag}>", f"<{tag}>{rng.choice(NUMBERS)}</{tag}>", text)
        elif choice < 0.85:
            ends = [m.start() for m in re.finditer(r"</(aux|stock|flow)>", text)]
            if not ends:
                continue
            at = rng.choice(ends)
            text = text[:at] + rng.choice(INJECTIONS) + text[at:]
        else:
            text = _corrupt(rng, text)
    return text


def _corrupt(rng: random.Random, text: str) -> str:
    at = rng.randrange(len(text) or 1)
    return rng.choice([text[:at], text[:at] + rng.choice(["\x00", "\ufeff", "\x1b[2J", "\u202e", "é",
                                                           "]]>", "&bad;", '"']) + text[at:]])


def _snapshot(*folders: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for f in folders for p in f.rglob("*")}


def _case(rng: random.Random, root: Path) -> tuple[list, Path]:
    broken_model = rng.random() < 0.3
    folder = project(root / "p", fuzz_model(rng) if broken_model else None)
    (folder / "r.csv").write_text("time,value\n0,0.1\n4,0.2\n")
    (folder / "s.toml").write_text(fuzz_scenario(rng) if not broken_model or rng.random() < 0.3
                                   else (folder / "a.toml").read_text(), encoding="utf-8")
    pick = rng.random()
    if pick < 0.6:
        argv = ["run", folder / "s.toml", "--out", root / "out"]
    elif pick < 0.75:
        argv = ["compare", folder / "s.toml", folder / "a.toml", "--out", root / "out"]
    elif pick < 0.9:
        argv = ["describe", folder / "model.xmile"]
    else:
        argv = ["sensitivity", folder / "sens.toml", "--workers", "1", "--out", root / "out"]
    return argv, folder


def _check(status, out, err, where):
    assert status in (0, 2, 3), (where, status, err)
    assert "Traceback" not in out + err, where
    assert not CONTROL.search(out + err), (where, CONTROL.search(out + err))


def test_random_inputs_end_cleanly(tmp_path, monkeypatch):
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    deadline, done, statuses = time.monotonic() + SECONDS, 0, set()
    while time.monotonic() < deadline or done < 20:
        rng = random.Random(done)
        root = tmp_path / f"case{done}"
        root.mkdir()
        argv, folder = _case(rng, root)
        before = _snapshot(root)
        try:
            status, out, err = sdvag_main(*argv, cwd=root)
        except BaseException as exc:  # anything escaping main would be a traceback
            pytest.fail(f"case {done} ({argv[0]}): {type(exc).__name__}: {exc}")
        _check(status, out, err, f"case {done} ({argv[0]})")
        statuses.add(status)
        after = _snapshot(root)
        touched = [p for p in after if after[p] != before.get(p) and not p.is_relative_to(root / "out")]
        assert touched == [], f"case {done}: wrote {touched}"
        assert not (root / MARKER).exists() and not (folder / MARKER).exists(), f"case {done}: code ran"
        assert list(private_tmp.iterdir()) == [], f"case {done}: left {list(private_tmp.iterdir())}"
        done += 1
    assert {0, 2} <= statuses  # the generator makes both good and bad inputs


@pytest.mark.parametrize("seed", [101])
def test_random_inputs_end_cleanly_in_a_real_process(tmp_path, seed):
    rng = random.Random(seed)
    argv, folder = _case(rng, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "sdvag", *map(str, argv)], capture_output=True, text=True,
                          cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(ROOT / "src")},
                          timeout=300, errors="replace")
    _check(proc.returncode, proc.stdout, proc.stderr, f"seed {seed}")
