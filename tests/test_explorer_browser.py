"""The explorer in a real headless Chromium (Debian's package, driven by Playwright): load the
traditional baseline, move Land Supply, see the final Member Firms change, switch to the virtual
baseline, save, and check that `python -m sdvag run` on the saved file gives the values shown."""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr

from conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOW = ('install a browser and the drivers: apt-get install -y chromium && pip install -e ".[test]" '
       "(Playwright is pointed at /usr/bin/chromium; it never downloads a browser)")

pytest.importorskip("panel", reason=f"no Panel: {HOW}")
sync_api = pytest.importorskip("playwright.sync_api", reason=f"no Playwright: {HOW}")
if CHROMIUM is None:
    pytest.skip(f"no Chromium found: {HOW}", allow_module_level=True)


@pytest.fixture
def server(tmp_path):
    """`python -m sdvag explore` on a free port; yields its address and the save folder."""
    folder = tmp_path / "saved"
    proc = subprocess.Popen([sys.executable, "-m", "sdvag", "explore", "scenarios/tic_baseline.toml",
                             "--folder", str(folder)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        address = None
        for line in proc.stdout:
            found = re.search(r"sdvag explorer at (http://127\.0\.0\.1:\d+/)", line)
            if found:
                address = found.group(1)
                break
        assert address, f"the explorer did not start: {proc.stderr.read()}"
        yield address, folder
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def finals(page) -> dict[str, float]:
    rows = page.locator("#sdvag-finals tr[data-name]")
    return {rows.nth(i).get_attribute("data-name"): float(rows.nth(i).get_attribute("data-value"))
            for i in range(rows.count())}


def wait_for(page, what, timeout=60.0):
    """Poll the page until `what(page)` is true (the readout lives in Panel's shadow DOM, which
    Playwright's locators pierce)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = what(page)
        if value:
            return value
        page.wait_for_timeout(50)
    raise AssertionError("the page did not update in time")


def drag(page, css: str, to: float) -> float:
    """Drag a slider's handle to a fraction `to` of its track, as a user does; returns the time
    the mouse was released."""
    page.locator(f"{css} .noUi-base").scroll_into_view_if_needed()
    track = page.locator(f"{css} .noUi-base").bounding_box()
    handle = page.locator(f"{css} .noUi-handle").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    y = track["y"] + track["height"] / 2
    page.mouse.move(track["x"] + to * track["width"], y, steps=5)
    released = time.perf_counter()
    page.mouse.up()
    return released


def test_explorer_in_chromium(server):
    address, folder = server
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(address)
            page.locator("#sdvag-finals").wait_for(timeout=60_000)
            tic = finals(page)
            assert page.locator("#sdvag-finals").get_attribute("data-scenario") == "tic_baseline"

            # land: the traditional cluster is bounded by its land, so more land, more firms
            run_before = page.locator("#sdvag-finals").get_attribute("data-run")
            started = drag(page, ".sdvag-land_supply", 1.2)
            wait_for(page, lambda p: p.locator("#sdvag-finals").get_attribute("data-run") != run_before)
            print(f"\nslider move to redrawn plot on cluster_evolution: {time.perf_counter() - started:.2f} s")
            more_land = finals(page)
            assert more_land["Member Firms"] > 1.5 * tic["Member Firms"], (tic, more_land)
            assert "Land Supply = 2000" in page.locator("#sdvag-finals").inner_text()

            # a typed value outside the range: a message, and the last good state kept
            typed = page.locator(".sdvag-typed input")
            typed.fill("Land Supply = 5000")
            typed.press("Enter")
            message = page.locator("#sdvag-message")
            wait_for(page, lambda p: "outside its range" in message.inner_text())
            assert "Traceback" not in page.content()
            assert finals(page) == more_land

            page.locator(".sdvag-scenario select").select_option(label="vic_baseline")
            wait_for(page, lambda p: p.locator("#sdvag-finals").get_attribute("data-scenario") == "vic_baseline")
            vic = finals(page)
            assert vic["Member Firms"] > 3 * tic["Member Firms"]  # the virtual cluster escapes its land
            run_before = page.locator("#sdvag-finals").get_attribute("data-run")
            drag(page, ".sdvag-exit_fraction", -0.2)
            wait_for(page, lambda p: p.locator("#sdvag-finals").get_attribute("data-run") != run_before)
            shown = finals(page)
            assert shown != vic

            page.locator(".sdvag-save button").click()
            wait_for(page, lambda p: "saved" in message.inner_text() and message.is_visible())
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=os.environ.get("SDVAG_EXPLORER_SCREENSHOT", str(folder / "explorer.png")),
                            full_page=False)
        finally:
            browser.close()

    saved = folder / "vic_baseline_explored.toml"
    out = folder / "rerun"
    done = subprocess.run([sys.executable, "-m", "sdvag", "run", str(saved), "--out", str(out)],
                          capture_output=True, text=True, cwd=folder)
    assert done.returncode == 0, done.stderr
    with xr.open_dataset(out / "results.nc") as rerun:
        for name, value in shown.items():
            assert float(rerun[name].isel(time=-1)) == pytest.approx(value, rel=1e-12), name
