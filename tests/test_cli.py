"""`python -m sdvag`: outputs, exit statuses and one-line errors."""
import shutil

import numpy as np
import pandas as pd
import xarray as xr

from conftest import FIXTURES, cli
from sdvag.files import MANIFEST

MODEL = FIXTURES / "adoption.xmile"


def test_run_writes_netcdf_csv_and_plots(tmp_path):
    out = tmp_path / "out"
    proc = cli("run", MODEL, "--set", "Growth Rate=0.8", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "Adopters (firm)" in proc.stdout  # the summary table names outputs with units
    frame = pd.read_csv(out / "results.csv")
    assert frame.columns[0] == "time"
    assert {"Adopters", "Adoption", "Growth Rate", "Effect Of Price"} <= set(frame.columns)
    assert frame["Growth Rate"].eq(0.8).all()
    ds = xr.open_dataset(out / "results.nc")
    np.testing.assert_allclose(ds["Adopters"].to_numpy(), frame["Adopters"].to_numpy(), rtol=1e-9)
    png = (out / "adopters.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [MANIFEST]  # no temporary files


def test_compare_writes_a_line_per_scenario(tmp_path):
    for name, rate in (("slow", 0.3), ("fast", 0.9)):
        shutil.copy(MODEL, tmp_path / "adoption.xmile")
        (tmp_path / f"{name}.toml").write_text(
            f'model = "adoption.xmile"\ntitle = "{name}"\noutputs = ["Adopters"]\n'
            f'[constants]\n"Growth Rate" = {rate}\n')
    out = tmp_path / "out"
    proc = cli("compare", tmp_path / "slow.toml", tmp_path / "fast.toml", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "Adopters (firm) / slow" in proc.stdout and "Adopters (firm) / fast" in proc.stdout
    assert "running 2/2: fast" in proc.stderr  # progress
    frame = pd.read_csv(out / "results.csv")
    assert list(frame.columns[:2]) == ["time", "scenario"]
    assert set(frame["scenario"]) == {"slow", "fast"}
    assert (out / "adopters.png").exists()


def test_bad_input_exits_2_with_one_line_per_problem(tmp_path):
    shutil.copy(MODEL, tmp_path / "adoption.xmile")
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "adoption.xmile"\n[constants]\n"Growth Rat" = 1\n"Price" = 9\n')
    proc = cli("run", bad)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") and str(bad) in line for line in lines)
    for args in (("run", tmp_path / "missing.toml"), ("run", MODEL, "--set", "Price"),
                 ("run", MODEL, "--set", "Price=cheap"), ("describe", tmp_path / "x.txt"), ("frobnicate",)):
        proc = cli(*args)
        assert proc.returncode == 2, args
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, args


def test_unwritable_output_is_an_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = cli("run", MODEL, "--out", blocker / "out")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_describe_lists_kind_units_default_range_and_doc():
    proc = cli("describe", MODEL)
    assert proc.returncode == 0
    assert "Growth Rate: constant, 1/year, default 0.5, range [0, 2]" in proc.stdout
    assert "Adopters: stock, firm" in proc.stdout
    assert "Fractional adoption rate." in proc.stdout


def test_stella_saved_file_with_vendor_extensions_runs(tmp_path):
    proc = cli("run", FIXTURES / "stella_saved.stmx", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_csv(tmp_path / "results.csv")
    assert frame["time"].iloc[1] == 0.25  # reciprocal dt: 1/4
    firms = frame["Cluster Firms"].to_numpy()
    assert firms[0] == 5 and 450 < firms[-1] < 500  # logistic growth towards capacity 500


def test_list_shows_shipped_models_and_scenarios():
    from sdvag.model.shipped import SHIPPED as PROJECT, shipped_models, shipped_scenarios
    proc = cli("list")
    assert proc.returncode == 0
    listed = proc.stdout.splitlines()
    for path in [*shipped_models(), *shipped_scenarios()]:
        assert any(line.strip().startswith(str(path.relative_to(PROJECT))) for line in listed), path
    assert "models/cluster_evolution.xmile  Cluster evolution" in proc.stdout
