"""Scenarios baked into model files (`export SCENARIO --to xmile`, the input of the loop
analysis): each, run on its own, must give the scenario's run to 1e-9."""
import dataclasses
import functools

import pytest
from lxml import etree

import sdvag
from conftest import FIXTURES, SHARED, cli
from sdvag.analysis import scenario_copy as module
from sdvag.model.shipped import shipped_scenarios
from sdvag.simulation.scenario import load_scenario

SCHEMA = SHARED / "xmile" / "xmile-v1.0.xsd"
EVERY_KIND = """model = "{model}"
[sim]
stop = 2025
dt = 0.125
[constants]
"Lifetime" = 7.5
[graphical]
"Effect Of Capital" = {{ x = [0, 1, 2.5, 6], y = [1.8, 1, 0.7, 0.2] }}
[inputs]
"Input Series" = {{ points = [[2002, 0.5], [2008.3, 2.0], [2015, 1.2]] }}
[[policies]]
variable = "Step Lever"
kind = "step"
at = 2007.3
to = 2.5
[[policies]]
variable = "Ramp Lever"
kind = "ramp"
at = 2004
until = 2012.5
to = 3
"""


@functools.lru_cache(maxsize=None)
def schema():
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def valid(xmile: bytes) -> list[str]:
    doc = etree.fromstring(xmile)
    return [] if schema().validate(doc) else [str(e) for e in schema().error_log][:3]


def test_every_kind_of_change_is_baked_exactly(tmp_path):
    path = tmp_path / "every_kind.toml"
    path.write_text(EVERY_KIND.format(model=FIXTURES / "levers.xmile"))
    copy = module.scenario_copy(load_scenario(path))
    assert copy.difference <= 1e-9
    bare = sdvag.run(load_scenario(path))
    assert float(bare["Effect Of Capital"][0]) == 1.0  # the new points at Capital / 100 = 1, not a time series
    assert float(bare["Investment"].sel(time=2025)) != pytest.approx(
        float(sdvag.run(FIXTURES / "levers.xmile")["Investment"].sel(time=2020)))  # the scenario matters
    text = copy.xmile.decode()
    assert "IF TIME &gt;= 2007.299997" in text and "<xpts>2004.0,2012.5</xpts>" in text
    if SCHEMA.is_file():
        assert valid(copy.xmile) == []


def test_a_copy_that_runs_differently_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "every_kind.toml"
    path.write_text(EVERY_KIND.format(model=FIXTURES / "levers.xmile"))
    real = module.bake
    monkeypatch.setattr(module, "bake", lambda sim, sc: real(sim, dataclasses.replace(sc, constants={})))
    with pytest.raises(sdvag.SdvagError, match="runs differently from the scenario"):
        module.scenario_copy(load_scenario(path))


def test_export_writes_the_copy(tmp_path):
    path = tmp_path / "every_kind.toml"
    path.write_text(EVERY_KIND.format(model=FIXTURES / "levers.xmile"))
    proc = cli("export", path, "--to", "xmile", "--out", tmp_path / "baked.xmile")
    assert proc.returncode == 0, proc.stderr
    baked = sdvag.run(tmp_path / "baked.xmile")
    assert float(baked["Capital"].sel(time=2025)) == pytest.approx(
        float(sdvag.run(path)["Capital"].sel(time=2025)), rel=1e-12)


@pytest.mark.parametrize("scenario", [p for p in shipped_scenarios() if p.parent.name in ("scenarios", "calibrated")],
                         ids=lambda p: p.stem)
def test_every_shipped_scenario_bakes_into_a_valid_equal_model(scenario):
    copy = module.scenario_copy(load_scenario(scenario))  # raises unless equal to 1e-9
    assert copy.difference <= 1e-9
    if SCHEMA.is_file():
        assert valid(copy.xmile) == []
