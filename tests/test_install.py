"""sdvag as a user installs it: a wheel in a fresh virtual environment, used from a folder of
its own, with the shipped models and scenarios inside the package."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

PROJECT_FILES = ("pyproject.toml", "README.md", "models", "scenarios", "src")


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A wheel built from a copy of the project, installed into a new virtual environment that
    sees this interpreter's packages (so nothing is downloaded) but not the editable sdvag."""
    base = tmp_path_factory.mktemp("install")
    project = base / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".*"))
        else:
            shutil.copy(source, project / name)
    wheels = base / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(project)], check=True, capture_output=True, timeout=600)
    [wheel] = wheels.glob("sdvag-*.whl")
    env_dir = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(env_dir)],
                   check=True, timeout=300)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--ignore-installed", "-q",
                    str(wheel)], check=True, capture_output=True, timeout=600)
    return wheel, env_dir


def in_venv(env_dir: Path, *args, cwd: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}"
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=600)


def test_the_wheel_carries_the_shipped_models_scenarios_and_specs(venv):
    wheel, _ = venv
    names = zipfile.ZipFile(wheel).namelist()
    for item in ("models/cluster_evolution.xmile", "scenarios/tic_baseline.toml",
                 "scenarios/calibration/psva.toml", "scenarios/sensitivity/cluster_evolution.toml",
                 "scenarios/calibrated/psva_calibrated.toml"):
        assert f"sdvag/shipped/{item}" in names, item
    assert "sdvag/data/series.csv" in names


def test_installed_sdvag_lists_runs_and_copies_from_any_folder(venv, tmp_path):
    _, env_dir = venv
    sdvag = env_dir / "bin" / "sdvag"
    where = in_venv(env_dir, env_dir / "bin" / "python", "-c", "import sdvag; print(sdvag.__file__)", cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(env_dir), where  # the wheel, not the editable clone

    listed = in_venv(env_dir, sdvag, "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "  tic_baseline " in listed.stdout and str(env_dir) in listed.stdout

    ran = in_venv(env_dir, sdvag, "run", "tic_baseline", "--out", "tic", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "tic" / "results.nc").is_file() and (tmp_path / "tic" / "member_firms.png").is_file()

    copied = in_venv(env_dir, sdvag, "init", "work", cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    scenario = tmp_path / "work" / "scenarios" / "tic_land_supply.toml"
    again = in_venv(env_dir, sdvag, "run", scenario, "--out", "land", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "land" / "results.csv").is_file()


def test_a_clone_named_sdvag_beside_the_notebook_does_not_shadow_the_package(venv, tmp_path):
    _, env_dir = venv
    clone = tmp_path / "sdvag"  # what `git clone .../sdvag` leaves in the working folder
    clone.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, clone / name)
    (clone / "src").mkdir()
    (clone / "scenarios").mkdir()
    code = "import sdvag; print(sdvag.__file__); print(callable(sdvag.run))"
    proc = in_venv(env_dir, env_dir / "bin" / "python", "-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    path, runnable = proc.stdout.split()
    assert Path(path).is_relative_to(env_dir) and runnable == "True"
