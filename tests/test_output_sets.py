"""A run's files are a set: all of one run, never a mix with an earlier run, never a user's file
deleted, and nothing hidden left behind by an error, Ctrl-C or SIGTERM."""
import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import ROOT
from hostile import project, sdvag_main
from sdvag.errors import SdvagError
from sdvag.files import MANIFEST, atomic_write, output_set


def _listing(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _hidden_leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".") and p.name != MANIFEST]


@pytest.fixture
def folder(tmp_path):
    return project(tmp_path / "p")


def test_files_of_an_earlier_run_do_not_stay_beside_a_new_set(folder, tmp_path):
    out = tmp_path / "out"
    (folder / "two.toml").write_text('model = "model.xmile"\noutputs = ["Adopters", "Adoption"]\n')
    assert sdvag_main("run", folder / "two.toml", "--out", out)[0] == 0
    assert {"adopters.png", "adoption.png"} <= set(_listing(out))
    assert sdvag_main("run", folder / "a.toml", "--out", out)[0] == 0
    assert sorted(_listing(out)) == sorted([MANIFEST, "results.nc", "results.csv", "adopters.png"])


@pytest.mark.parametrize("command, writer", [
    (("run", "a.toml"), "sdvag.report.tables.write_csv"),
    (("compare", "a.toml", "b.toml"), "sdvag.report.tables.plot_outputs"),
    (("sensitivity", "sens.toml", "--workers", "1"), "sdvag.report.sensitivity_output.fan_charts"),
    (("calibrate", "calib.toml", "--method", "local"), "sdvag.report.calibration_output.plot_png"),
])
def test_an_interruption_while_writing_leaves_the_previous_set_whole(folder, tmp_path, monkeypatch, command, writer):
    out = tmp_path / "out"
    argv = [folder / a if a.endswith(".toml") else a for a in command]
    assert sdvag_main(*argv, "--out", out)[0] == 0
    previous = _listing(out)
    module, name = writer.rsplit(".", 1)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # after the first files of the new set are written

    monkeypatch.setattr(sys.modules[module], name, interrupted)
    (folder / "a.toml").write_text((folder / "a.toml").read_text().replace("0.1", "0.3"))
    status, _, err = sdvag_main(*argv, "--out", out)
    assert status == 130 and "interrupted" in err
    assert _listing(out) == previous
    assert _hidden_leftovers(tmp_path) == []


def test_a_folder_with_other_files_is_refused_and_kept(folder, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    status, _, err = sdvag_main("run", folder / "a.toml", "--out", out)
    assert status == 2 and len(err.splitlines()) == 1 and "did not write" in err
    assert _listing(out) == {"notes.txt": b"my notes"}
    # also a file added later to a folder sdvag wrote
    assert sdvag_main("run", folder / "a.toml", "--out", tmp_path / "o")[0] == 0
    (tmp_path / "o" / "extra.txt").write_text("mine")
    assert sdvag_main("run", folder / "a.toml", "--out", tmp_path / "o")[0] == 2
    assert (tmp_path / "o" / "extra.txt").exists()
    (tmp_path / "file").write_text("x")
    assert sdvag_main("run", folder / "a.toml", "--out", tmp_path / "file")[0] == 2


def test_output_set_cleans_up_after_an_error(tmp_path):
    with pytest.raises(RuntimeError):
        with output_set(tmp_path / "out") as work:
            (work / "partial.csv").write_text("1")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_cannot_be_written_is_named_not_its_temporary_name(tmp_path, monkeypatch):
    import tempfile

    def denied(prefix, dir):
        raise PermissionError(13, "Permission denied", os.path.join(dir, prefix + "xyz"))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(SdvagError) as refused:
        with atomic_write(tmp_path / "diagram.png"):
            pass
    assert str(refused.value).startswith(f"{tmp_path / 'diagram.png'}: ") and ".diagram" not in str(refused.value)
    with pytest.raises(SdvagError) as refused:
        with output_set(tmp_path / "out") as work:
            raise PermissionError(13, "Permission denied", str(work / "results.nc"))
    assert str(refused.value) == f"{tmp_path / 'out'}: cannot write results.nc (Permission denied)"


@pytest.mark.parametrize("name", ["../escaped", "/tmp/absolute", "sub/dir", "..", ".hidden", "a\\b"])
def test_a_calibrated_scenario_name_is_a_plain_file_name(folder, tmp_path, name):
    spec = folder / "calib.toml"
    spec.write_text(spec.read_text().replace('name = "fit"', f"name = {json.dumps(name)}"))
    status, _, err = sdvag_main("calibrate", spec, "--out", tmp_path / "out")
    assert status == 2 and "plain file name" in err, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "escaped.toml").exists()


SLOW_WRITER = """
import sys, time
from sdvag.cli import main
from sdvag.report import tables

def slow(ds, out, *formats):
    (out / "started.png").write_bytes(b"x")
    print("writing", flush=True)
    time.sleep(60)

tables.plot_outputs = slow
sys.exit(main.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM])
def test_a_signal_while_writing_removes_the_hidden_folder(folder, tmp_path, signum):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, "run", str(folder / "a.toml"), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in proc.stdout:  # the summary first, then the writing starts
        if line.strip() == "writing":
            break
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [folder]  # no output folder, no hidden folder
