"""Worker processes: they die with their parent, and they run exactly the model bytes whose
SHA-256 the results record, even if the file is replaced while a run starts."""
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from hostile import SENSITIVITY, model_text, project
from sdvag.analysis.sensitivity import analyse, load_spec

LONG_SPEC = SENSITIVITY.replace("samples = 4", "samples = 16384")  # minutes of runs


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _poll(condition, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_parent(tmp_path, signum):
    folder = project(tmp_path / "p")
    (folder / "long.toml").write_text(LONG_SPEC)
    # PySD per run (the vectorised engine would finish the whole design in seconds, before
    # the test has seen the workers)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SDVAG_ENGINE": "pysd"}
    parent = subprocess.Popen([sys.executable, "-m", "sdvag", "sensitivity", str(folder / "long.toml"),
                               "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, env=env)
    workers = set()
    try:
        for line in parent.stderr:  # the workers have started once the first chunks are done
            if "runs/s" in line:
                break
        # the pool may start a moment after the first progress line (the engine's first chunk)
        assert _poll(lambda: len(_children(parent.pid)) >= 2, 30), _children(parent.pid)
        workers = _children(parent.pid)
        parent.send_signal(signum)
        parent.wait(timeout=60)
        assert _poll(lambda: not any(_alive(w) for w in workers), 30), \
            [w for w in workers if _alive(w)]
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.wait()
        for worker in workers:  # left behind only if the test failed
            if _alive(worker):
                os.kill(worker, signal.SIGKILL)


def test_every_worker_runs_the_bytes_that_were_checked_and_hashed(tmp_path):
    folder = project(tmp_path / "p", model_text(rate_eqn="0.1"))
    checked = (folder / "model.xmile").read_bytes()
    spec = load_spec(folder / "sens.toml")
    # replaced after it was read and checked, before the runs start
    (folder / "model.xmile").write_text(model_text(rate_eqn="0.1", variables="").replace(
        "<eqn>Rate * Adopters * Other</eqn>", "<eqn>0 * Rate * Adopters * Other</eqn>"))
    result = analyse(spec, workers=2)
    assert result.data.attrs["model_sha256"] == hashlib.sha256(checked).hexdigest()
    final = result.data["Adopters"].isel(time=-1).to_numpy()
    assert np.all(final > 10)  # the checked model grows; the replacement would stay at 10
