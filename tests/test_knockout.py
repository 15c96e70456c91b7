"""Knock-outs (sdvag.knockout, `sdvag knockout`) against trajectories computed by hand."""
import numpy as np
import pytest

import sdvag
from conftest import FIXTURES, cli
from sdvag.cli.main import main

MODEL = FIXTURES / "logistic_loops.xmile"
R, K, P0, DT = 0.8, 1000.0, 10.0, 0.0625


def euler(growth, stop=20.0):
    """Population by Euler's method with `growth(P)` as the net inflow, at every dt."""
    values = [P0]
    for _ in range(int(round(stop / DT))):
        values.append(values[-1] + DT * growth(values[-1]))
    return np.array(values)


def test_frozen_link_gives_exponential_growth_at_the_start_rate():
    result = sdvag.knockout(MODEL, link=[("Population", "Fractional Growth Rate")])
    expected = euler(lambda p: R * (1 - P0 / K) * p)
    np.testing.assert_allclose(result.knocked["Population"].to_numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(result.intact["Population"].to_numpy(), euler(lambda p: R * (1 - p / K) * p),
                               rtol=1e-12)
    # only the crowding link was cut: Growth still uses the live Population
    assert result.cuts == ["link Population -> Fractional Growth Rate cut: Fractional Growth Rate sees "
                           "Population at its start-time value"]


def test_link_frozen_at_a_value_and_loop_cut_at_its_first_equation_link():
    fixed = sdvag.knockout(MODEL, link=[("Population", "Fractional Growth Rate", 500.0)])
    np.testing.assert_allclose(fixed.knocked["Population"].to_numpy(), euler(lambda p: R * 0.5 * p), rtol=1e-12)
    loop = sdvag.knockout(MODEL, loop=["B1"])
    assert loop.cuts[0].startswith("loop B1 Crowding: link Population -> Fractional Growth Rate cut")
    np.testing.assert_allclose(loop.knocked["Population"].to_numpy(), euler(lambda p: R * (1 - P0 / K) * p),
                               rtol=1e-12)


def test_freeze_a_stock_in_every_use_and_a_flow_at_a_value():
    stock = sdvag.knockout(MODEL, freeze={"Population": None})
    growth = R * (1 - P0 / K) * P0
    np.testing.assert_allclose(stock.knocked["Population"].to_numpy(), P0 + growth * np.arange(321) * DT,
                               rtol=1e-12)
    flow = sdvag.knockout(MODEL, freeze={"Growth": 5.0})
    np.testing.assert_allclose(flow.knocked["Population"].to_numpy(), P0 + 5.0 * np.arange(321) * DT, rtol=1e-12)


@pytest.mark.parametrize("args, words", [
    (["--link", "Capacity -> Growth"], ["'Growth' does not use 'Capacity'"]),
    (["--link", "Populaton -> Growth"], ["'Populaton -> Growth'", "unknown variable 'Populaton'"]),
    (["--freeze", "Nothing"], ["unknown variable 'Nothing'"]),
    (["--loop", "R9"], ["'R9'", "R1 Growth, B1 Crowding"]),
])
def test_missing_link_or_unknown_name_is_one_line_exit_2(args, words, capsys):
    assert main(["knockout", str(MODEL), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    for word in words:
        assert word in err


def test_cli_prints_both_runs_and_writes_them(tmp_path):
    proc = cli("knockout", MODEL, "--freeze", "Growth=5", "--out", tmp_path / "ko")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "Growth frozen at 5 in every use (1: Population)" in lines[1]
    assert [line.split()[-1] for line in lines[-3:]] == ["1,000", "110", "-89.0%"]
    assert sorted(p.name for p in (tmp_path / "ko").iterdir()) == [".sdvag-output", "population.png", "results.csv", "results.nc"]
    import xarray as xr
    with xr.open_dataset(tmp_path / "ko" / "results.nc") as both:
        assert list(both["scenario"].to_numpy()) == ["intact", "knocked out"]
        assert float(both["Population"].sel(scenario="knocked out", time=20)) == pytest.approx(110)
