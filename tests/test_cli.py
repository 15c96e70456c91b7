"""`python -m sdvag`: outputs, exit statuses and one-line errors."""
import argparse
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import xarray as xr

from sdvag.cli.main import main, parser

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


def test_run_from_the_command_line_imports_no_dask(tmp_path):
    """xarray would import Dask (about 0.4 s) during any run where it is installed; the command
    line keeps it out unless --scheduler asks for a cluster."""
    code = ("import runpy, sys\n"
            "try:\n    runpy.run_module('sdvag', run_name='__main__')\n"
            "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
            "print(sorted(m for m, v in sys.modules.items() if v is not None and m.split('.')[0] in ('dask', 'distributed')))")
    argv = ["sdvag", "run", str(MODEL), "--out", str(tmp_path / "out")]
    proc = subprocess.run([sys.executable, "-c", f"import sys; sys.argv = {argv!r}\n" + code],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "out" / "results.nc").exists()


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


def test_list_shows_names_that_run_from_anywhere_by_kind():
    from sdvag.model.shipped import shipped
    proc = cli("list")
    assert proc.returncode == 0
    sections = {}
    for line in proc.stdout.splitlines():
        if not line.startswith(" "):
            current = sections.setdefault(line.split(" (")[0], [])
        else:
            current.append(line.split()[0])
    assert sections["models"] == [p.stem for p in shipped("model")]
    assert "tic_baseline" in sections["scenarios"] and "psva_calibrated" in sections["scenarios"]
    assert sections["calibration specifications"] == [p.stem for p in shipped("calibration")]
    assert "cluster_evolution" in sections["sensitivity specifications"]
    assert "psva" not in sections["scenarios"] and "cluster_evolution" not in sections["scenarios"]


def test_shipped_items_run_by_name_from_another_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cli = in_process(capsys)
    proc = cli("run", "tic_baseline", "--outputs", "member firms,Evolution Stage", "--years", "2000,2035")
    assert proc.returncode == 0, proc.stderr
    header, _, firms, stage = proc.stdout.splitlines()[:4]
    assert header.split()[-2:] == ["2000", "2035"]
    assert firms.startswith("Member Firms (firms)") and stage.startswith("Evolution Stage")
    assert "Land Capacity" not in proc.stdout  # only the outputs asked for
    proc = cli("run", "tic_baseln")
    assert proc.returncode == 2 and "did you mean 'tic_baseline'" in proc.stderr
    proc = cli("run", "tic_baseline", "--years", "2050")
    assert proc.returncode == 2 and "2050 is outside the run (2000 to 2035)" in proc.stderr


def test_init_copies_models_and_scenarios_that_run_in_place(tmp_path, capsys):
    cli = in_process(capsys)
    proc = cli("init", tmp_path / "work")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "work" / "models" / "cluster_evolution.xmile").is_file()
    assert (tmp_path / "work" / "scenarios" / "calibration" / "psva.toml").is_file()
    scenario = tmp_path / "work" / "scenarios" / "vic_baseline.toml"
    scenario.write_text(scenario.read_text().replace("[sim]", "[sim]\n# edited by a user"))
    assert cli("run", scenario, "--years", "2035").returncode == 0
    again = cli("init", tmp_path / "work")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_out_of_range_values_need_the_flag_and_name_their_source(tmp_path, capsys):
    cli = in_process(capsys)
    proc = cli("run", MODEL, "--set", "Growth Rate=5")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --set: Growth Rate=5: 5 is outside the range of 'Growth Rate' [0, 2]")
    assert "--allow-out-of-range" in proc.stderr
    proc = cli("run", MODEL, "--set", "Growth Rate=5", "--allow-out-of-range", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warning: --set: Growth Rate=5: 5 is outside the range of 'Growth Rate' [0, 2] (allowed)" in proc.stderr
    assert pd.read_csv(tmp_path / "results.csv")["Growth Rate"].eq(5).all()
    assert "outside the range" in xr.open_dataset(tmp_path / "results.nc").attrs["warnings"]  # kept with the results
    shutil.copy(MODEL, tmp_path / "adoption.xmile")
    scenario = tmp_path / "fast.toml"
    scenario.write_text('model = "adoption.xmile"\n[constants]\n"Growth Rate" = 5\n')
    proc = cli("run", scenario)
    assert proc.returncode == 2 and f'{scenario}: constants."Growth Rate": 5 is outside' in proc.stderr
    scenario.write_text("allow_out_of_range = true\n" + scenario.read_text())
    proc = cli("run", scenario)
    assert proc.returncode == 0 and "(allowed)" in proc.stderr


def test_describe_variable_shows_equation_uses_and_used_by(capsys):
    cli = in_process(capsys)
    proc = cli("describe", MODEL, "adoption")
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.strip().split(":", 1) for line in proc.stdout.splitlines()[1:])
    assert {k: v.strip() for k, v in lines.items() if k in ("uses", "used by")} == {
        "uses": "Growth Rate, Adopters, Market Size, Effect Of Price", "used by": "Adopters"}
    assert "Growth_Rate * Adopters" in lines["equation"]
    proc = cli("describe", MODEL, "Adopterz")
    assert proc.returncode == 2 and "did you mean 'Adopters'" in proc.stderr


def test_help_has_examples_version_and_choices(capsys):
    cli = in_process(capsys)
    assert cli("--version").stdout.startswith("sdvag ")
    top = parser()
    [commands] = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) >= {"list", "init", "describe", "run", "compare", "check", "data",
                                     "calibrate", "sensitivity", "diagram", "export"}
    for name, sub in commands.choices.items():
        text = sub.format_help()
        assert "examples:" in text and "sdvag " + name in text, name
        assert all(a.help for a in sub._actions), name  # every argument explained
    assert "{local,global,multistart,mcmc}" in commands.choices["calibrate"].format_help()
    proc = cli("data", "taobao_towns")
    assert proc.returncode == 0 and "2018" in proc.stdout and "confirmed" in proc.stdout


def in_process(capsys):
    """`sdvag ARGS` run by main() in this process (no interpreter start-up): a CompletedProcess."""
    def run(*args):
        try:
            status = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's --version and --help
            status = exc.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, status, out, err)
    return run
