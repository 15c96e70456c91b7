"""Shared test set-up: an isolated translation cache and paths to the project's files."""
import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Translations go to a cache of the test session's own, never the user's."""
    os.environ["SDVAG_CACHE_DIR"] = str(tmp_path_factory.mktemp("sdvag-cache"))


@functools.lru_cache(maxsize=None)
def run_shipped(name: str):
    """The Dataset of scenarios/NAME.toml, run once per test session (read it, do not change it)."""
    import sdvag
    return sdvag.run(ROOT / "scenarios" / f"{name}.toml")


def observed(name: str) -> dict[int, float]:
    """A shipped observed series (sdvag's package data) as {year: value}."""
    from sdvag import data
    series = data.series(name)
    return {int(year): float(value) for year, value in zip(series["year"].to_numpy(), series.to_numpy())}


def cli(*args, cwd=None):
    """Run `python -m sdvag ARGS`; returns the CompletedProcess (text mode)."""
    return subprocess.run([sys.executable, "-m", "sdvag", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=600)


XMILE_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0"{extra_ns}>
<header><vendor>sdvag tests</vendor><product version="1">fixture</product><name>{name}</name></header>
<sim_specs method="{method}" time_units="year"><start>0</start><stop>{stop}</stop><dt>{dt}</dt></sim_specs>
{before_model}<model><variables>
{variables}
</variables></model>
</xmile>
"""


def write_model(path: Path, variables: str, *, name="fixture", method="Euler", stop=10, dt=0.25,
                before_model="", extra_ns="") -> Path:
    """A small XMILE file with the given <variables> content."""
    path.write_text(XMILE_TEMPLATE.format(variables=variables, name=name, method=method, stop=stop,
                                          dt=dt, before_model=before_model, extra_ns=extra_ns))
    return path


def aux(name: str, eqn: str, extra: str = "") -> str:
    eqn = eqn.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<aux name="{name}"><eqn>{eqn}</eqn>{extra}</aux>'
