"""The translation cache holds code that sdvag imports: only the user's own folder, and only
entries that are whole, unaltered and shaped like PySD's output; anything else is rebuilt."""
import os
import shutil

import pytest

from hostile import project, sdvag_main
from sdvag.errors import SdvagError
from sdvag.model import translate


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SDVAG_CACHE_DIR", str(folder))
    return folder


def test_a_new_cache_folder_is_private(cache):
    assert translate.cache_root() == cache
    assert cache.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_folder_others_can_write_is_refused_with_the_way_out(cache, tmp_path, mode):
    cache.mkdir()
    cache.chmod(mode)
    with pytest.raises(SdvagError, match="SDVAG_CACHE_DIR") as refused:
        translate.cache_root()
    assert "others may write" in str(refused.value)
    status, _, err = sdvag_main("run", project(tmp_path / "p") / "model.xmile")
    assert status == 2 and err.count("\n") == 1 and "SDVAG_CACHE_DIR" in err


def test_no_silent_fallback_to_a_shared_temporary_folder(tmp_path, monkeypatch):
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("SDVAG_CACHE_DIR", str(blocked / "cache"))
    with pytest.raises(SdvagError, match="SDVAG_CACHE_DIR"):
        translate.cache_root()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_folder_of_another_user_is_refused(cache, monkeypatch):
    cache.mkdir(mode=0o700)
    monkeypatch.setattr(os, "getuid", lambda: cache.stat().st_uid + 1)  # as seen by someone else
    with pytest.raises(SdvagError, match="belongs to another user"):
        translate.cache_root()


def _entry(cache):
    [entry] = [p for p in cache.iterdir() if p.is_dir()]
    return entry


DAMAGE = {
    "empty model.py": lambda e: (e / "model.py").write_bytes(b""),
    "truncated model.py": lambda e: (e / "model.py").write_bytes((e / "model.py").read_bytes()[:200]),
    "binary model.py": lambda e: (e / "model.py").write_bytes(bytes(range(256)) * 4),
    "model.py altered, checksum recomputed": lambda e: _poison(e),
    "no model.py": lambda e: (e / "model.py").unlink(),
    "no checksum": lambda e: (e / translate.CHECKSUM).unlink(),
}


def _poison(entry):
    import hashlib
    source = (entry / "model.py").read_text() + "\n__import__('os').system('touch PWNED')\n"
    (entry / "model.py").write_text(source)
    (entry / translate.CHECKSUM).write_text(f"{hashlib.sha256(source.encode()).hexdigest()}  model.py\n")


@pytest.fixture(scope="module")
def translated(tmp_path_factory):
    """A project and a cache holding its translation (made once; tests damage copies)."""
    folder = tmp_path_factory.mktemp("translated")
    before = os.environ["SDVAG_CACHE_DIR"]
    os.environ["SDVAG_CACHE_DIR"] = str(folder / "cache")
    try:
        status, summary, _ = sdvag_main("run", project(folder / "a") / "model.xmile", cwd=folder)
    finally:
        os.environ["SDVAG_CACHE_DIR"] = before
    assert status == 0
    return folder, summary


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_entry_is_rebuilt_with_a_warning(cache, tmp_path, translated, damage):
    template, before = translated
    shutil.copytree(template / "cache", cache)
    entry = _entry(cache)
    good = (entry / "model.py").read_bytes()
    DAMAGE[damage](entry)
    # the model at new paths: each run is like a new process, which reads the cache
    second, third = (project(tmp_path / name) / "model.xmile" for name in ("b", "c"))
    status, after, err = sdvag_main("run", second, cwd=tmp_path)
    assert status == 0 and after == before, err
    [warning] = err.splitlines()
    assert warning.startswith("warning: translation cache entry") and "again" in warning
    assert (_entry(cache) / "model.py").read_bytes() == good
    assert not (tmp_path / "PWNED").exists()
    status, _, err = sdvag_main("run", third, cwd=tmp_path)
    assert status == 0 and err == ""  # rebuilt once, then used as it is


def test_an_entry_folder_without_model_py_does_not_block_later_runs(cache, tmp_path):
    """The folder a crashed translation could leave ("Directory not empty" on rename)."""
    folder = project(tmp_path / "p")
    info = translate.parse_model((folder / "model.xmile").read_bytes(), folder / "model.xmile")
    stale = translate.cache_root() / translate._key(info.data)
    stale.mkdir()
    (stale / "model.xmile").write_text("left behind")
    status, _, err = sdvag_main("run", folder / "model.xmile", cwd=tmp_path)
    assert status == 0, err
    assert (stale / "model.py").is_file() and translate.entry_problem(stale) is None
