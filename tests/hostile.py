"""Small hostile projects for the robustness tests: a model, scenarios, specs and a series file,
and the command line run in this process (fast) with its output captured."""
import io
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from sdvag.cli.main import main

MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<xmile version="1.0" xmlns="http://docs.oasis-open.org/xmile/ns/XMILE/v1.0">
<header><vendor>sdvag tests</vendor><product version="1">fixture</product><name>{header}</name></header>
<sim_specs method="Euler" time_units="{time_units}"><start>0</start><stop>4</stop><dt>0.5</dt></sim_specs>
<model><variables>
<stock name="Adopters"><eqn>10</eqn><inflow>Adoption</inflow><units>firm</units></stock>
<flow name="Adoption"><eqn>Rate * Adopters * Other</eqn><units>firm/year</units></flow>
<aux name="Rate"><eqn>{rate_eqn}</eqn><range min="0" max="1"/>{rate_extra}</aux>
<aux name="Other"><eqn>1</eqn><range min="0.5" max="1.5"/></aux>
{variables}
</variables></model>
</xmile>
"""
SCENARIO = 'model = "model.xmile"\noutputs = ["Adopters"]\n[constants]\nRate = {rate}\n'
SENSITIVITY = """scenario = "a.toml"
design = "latin"
samples = 4
indices = false
seed = 1
outputs = ["Adopters"]
[parameters]
Rate = {}
Other = {}
"""
CALIBRATION = """scenario = "a.toml"
name = "fit"
data = "series.csv"
[options]
max_runs = 12
[[parameters]]
name = "Rate"
[[targets]]
series = "adopters"
variable = "Adopters"
"""
SERIES = ("series,year,value,unit,status,source\n"
          + "".join(f"adopters,{y},{10 * 1.1 ** y:.4f},firm,confirmed,synthetic\n" for y in range(5)))


def model_text(header="Hostile", time_units="year", rate_eqn="0.1", rate_extra="<units>1/year</units>",
               variables="") -> str:
    return MODEL.format(header=header, time_units=time_units, rate_eqn=rate_eqn,
                        rate_extra=rate_extra, variables=variables)


def project(folder: Path, model: str | None = None) -> Path:
    """model.xmile, scenarios a.toml and b.toml, sens.toml, calib.toml and series.csv in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.xmile").write_text(model or model_text(), encoding="utf-8")
    (folder / "a.toml").write_text(SCENARIO.format(rate=0.1))
    (folder / "b.toml").write_text(SCENARIO.format(rate=0.2))
    (folder / "sens.toml").write_text(SENSITIVITY)
    (folder / "calib.toml").write_text(CALIBRATION)
    (folder / "series.csv").write_text(SERIES)
    return folder


def sdvag_main(*argv, cwd: Path | None = None) -> tuple[int, str, str]:
    """`python -m sdvag ARGV` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            status = main([str(a) for a in argv])
    finally:
        os.chdir(before)
    return status, out.getvalue(), err.getvalue()


def every_command(folder: Path) -> list[tuple[str, ...]]:
    """Each command that reads and runs a model, on the project in `folder`."""
    return [("run", folder / "model.xmile"), ("compare", folder / "a.toml", folder / "b.toml"),
            ("check", folder / "model.xmile"), ("sensitivity", folder / "sens.toml", "--workers", "1"),
            ("calibrate", folder / "calib.toml", "--method", "local")]
