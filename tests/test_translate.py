"""The translation cache: outside models/, keyed by content, safe under concurrent processes."""
import os
import shutil
import subprocess
import sys

from conftest import FIXTURES, ROOT

LOAD_AND_RUN = """
import sys, time
from sdvag.model.translate import load
while time.time() < float(sys.argv[2]):
    pass
info, model = load(sys.argv[1])
print(float(model.run()["Adopters"].iloc[-1]))
"""


def test_model_folder_stays_clean(tmp_path):
    import sdvag
    shutil.copy(FIXTURES / "adoption.xmile", tmp_path / "adoption.xmile")
    sdvag.run(tmp_path / "adoption.xmile")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adoption.xmile"]


def test_concurrent_processes_share_one_complete_translation(tmp_path):
    cache = tmp_path / "cache"
    model = tmp_path / "adoption.xmile"
    shutil.copy(FIXTURES / "adoption.xmile", model)
    import time
    start_at = str(time.time() + 3)  # all processes start translating at the same moment
    env = {**os.environ, "SDVAG_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", LOAD_AND_RUN, str(model), start_at], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    results = {out.strip() for out, _ in outputs}
    assert len(results) == 1  # every process simulated the same translation
    entries = list(cache.iterdir())
    assert len(entries) == 1 and entries[0].is_dir()  # one entry, no leftover temporary folders
    assert (entries[0] / "model.py").is_file()
    # a later process reuses it without translating again
    before = (entries[0] / "model.py").stat().st_mtime_ns
    subprocess.run([sys.executable, "-c", LOAD_AND_RUN, str(model), "0"], env=env, check=True,
                   capture_output=True)
    assert (entries[0] / "model.py").stat().st_mtime_ns == before


def test_changed_content_gets_a_new_translation(tmp_path, monkeypatch):
    from sdvag.model import translate
    cache = tmp_path / "cache"
    monkeypatch.setenv("SDVAG_CACHE_DIR", str(cache))
    model = tmp_path / "m.xmile"
    shutil.copy(FIXTURES / "adoption.xmile", model)
    translate.load(model)
    model.write_text(model.read_text().replace("<eqn>0.5</eqn>", "<eqn>0.7</eqn>"))
    _, pysd_model = translate.load(model)
    assert len(list(cache.iterdir())) == 2
    assert pysd_model.components.growth_rate() == 0.7
