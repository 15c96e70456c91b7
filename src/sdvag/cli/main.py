"""`python -m sdvag` (or `sdvag`): the parser, with help and examples for every command, and the
dispatch that turns user errors into one-line messages (the commands are in cli/commands.py).

Exit status: 0 success, 2 bad input (the message says what and where), 3 a model feature that
cannot be simulated, 1 a check that found failures.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys

from sdvag.analysis import CHECKS
from sdvag.cli import commands
from sdvag.errors import SdvagError, shown
from sdvag.version import __version__

# The analyses, reports and PySD are imported by the commands that use them, once the signal
# handlers are in place: Ctrl-C or SIGTERM during start-up then ends as quietly as later.


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2, like every other input error
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _command(sub, name: str, func, summary: str, examples: list[str]) -> argparse.ArgumentParser:
    """A subcommand with its one-line summary and examples shown by `sdvag NAME --help`."""
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    p = sub.add_parser(name, help=summary, description=summary, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=func)
    return p


def _run_options(p: argparse.ArgumentParser, every: str = "") -> None:
    """The options `run` and `compare` share."""
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help=f"change a constant{every} (repeatable; quote names with spaces)")
    p.add_argument("--allow-out-of-range", action="store_true",
                   help="accept values outside a constant's <range>, with a warning (default: refuse them)")
    p.add_argument("--outputs", metavar="A,B,...",
                   help="the variables to report and plot (default: the scenario's outputs, else the stocks)")
    p.add_argument("--years", metavar="Y1,Y2,...",
                   help="the years of the summary table (default: five spread over the run)")
    p.add_argument("--out", metavar="DIR", help="write results.nc, results.csv and a plot per output here")
    p.add_argument("--format", metavar="png,pdf,svg", default="png",
                   help="plot formats, comma-separated, from png, pdf and svg (default: png)")


class _Printable:
    """A text stream that prints control characters and terminal escapes escaped (line breaks
    and tabs excepted): text from a model or a scenario cannot fake lines or move the cursor."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        keep = "\n\t\r" if self.stream.isatty() else "\n\t"  # a progress bar redraws its line
        parts = re.split(f"([{keep}])", text)
        return self.stream.write("".join(p if p and p in keep else shown(p, None) for p in parts))

    def __getattr__(self, name):
        return getattr(self.stream, name)


_interrupted: list[int] = []  # the signals received during this command


def _interrupt(signum, frame):
    """Ctrl-C and SIGTERM end a run the same way: temporary files are removed, exit status 130."""
    _interrupted.append(signum)
    raise KeyboardInterrupt


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="sdvag", formatter_class=argparse.RawDescriptionHelpFormatter,
                  description="System-dynamics models of traditional and virtual industrial clusters "
                              "(XMILE, run by PySD).",
                  epilog="Shipped models, scenarios and specifications run by name from any folder "
                         "(`sdvag list` shows them).\n`sdvag COMMAND --help` gives each command's "
                         "options and examples.")
    top.add_argument("--version", action="version", version=f"sdvag {__version__}")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    _command(sub, "list", commands.cmd_list, "the shipped models, scenarios and specifications, by name",
             ["sdvag list"])

    p = _command(sub, "init", commands.cmd_init, "copy the shipped models and scenarios into a folder to edit",
                 ["sdvag init mywork", "sdvag run mywork/scenarios/tic_baseline.toml"])
    p.add_argument("folder", help="the folder to create or fill (its models/ and scenarios/ must not exist)")

    p = _command(sub, "describe", commands.cmd_describe,
                 "a model's variables (kind, units, default, range, doc), or one variable in full",
                 ["sdvag describe cluster_evolution",
                  'sdvag describe cluster_evolution "Member Firms"   # equation, uses, used by',
                  "sdvag describe my_model.xmile"])
    p.add_argument("model", help="a model file, a shipped model's name, or a scenario (its model)")
    p.add_argument("variable", nargs="?",
                   help="one variable: its equation, what it uses and what uses it")

    p = _command(sub, "run", commands.cmd_run, "run a scenario, or a model on its own values",
                 ["sdvag run tic_baseline",
                  'sdvag run tic_baseline --set "Land Supply=800" --out out/tic',
                  'sdvag run tic_baseline --outputs "Member Firms,Evolution Stage" --years 2010,2020,2035',
                  "sdvag run my_model.xmile --out out/mine --format png,pdf"])
    p.add_argument("target", help="a scenario (.toml), a model (.xmile, .xml, .stmx), or a shipped one's name")
    _run_options(p)

    p = _command(sub, "compare", commands.cmd_compare, "run several scenarios side by side",
                 ["sdvag compare tic_baseline vic_baseline virtualisation_midway --out out/tic_vs_vic",
                  "sdvag compare tic_baseline psva_baseline   # different models: each its own rows"])
    p.add_argument("targets", nargs="+", metavar="target",
                   help="scenarios or models (files or shipped names)")
    _run_options(p, " in every run")

    p = _command(sub, "check", commands.cmd_check,
                 "structural and behavioural checks of a model (see README, 'Model checks')",
                 ["sdvag check my_model.xmile",
                  "sdvag check my_scenario.toml --skip extreme   # the scenario's values and outputs",
                  "sdvag check all --strict --schema ../shared/xmile/xmile-v1.0.xsd --engine-check"])
    p.add_argument("target", help="a model or scenario (file or shipped name), or 'all' for every shipped model")
    p.add_argument("--schema", metavar="XSD",
                   help="validate against the XMILE 1.0 schema file xmile-v1.0.xsd (from OASIS)")
    p.add_argument("--engine-check", action="store_true",
                   help="compare with the independent engine Simlin (needs the [engine] extra)")
    p.add_argument("--strict", action="store_true",
                   help="fail, not warn, on the house rules: docs, units and ranges, declared units, diagram")
    p.add_argument("--only", metavar="CHECKS", help=f"run only these checks, comma-separated: {', '.join(CHECKS)}")
    p.add_argument("--skip", metavar="CHECKS", help="skip these checks, comma-separated")

    p = _command(sub, "data", commands.cmd_data, "the observed series shipped for calibration, or one of them",
                 ["sdvag data", "sdvag data taobao_villages", "sdvag data adopters --file my_series.csv"])
    p.add_argument("name", nargs="?", help="one series: its values by year, with status and source")
    p.add_argument("--file", metavar="FILE",
                   help="a series file of your own (long or wide CSV, or .xlsx) instead of the shipped one")

    p = _command(sub, "calibrate", commands.cmd_calibrate, "fit a model to observed series (a calibration spec)",
                 ["sdvag calibrate psva --method local --out out/psva",
                  "sdvag calibrate ecom --method local --holdout-from 2017 --out out/ecom_holdout",
                  "sdvag calibrate viec --method mcmc --seed 1 --out out/viec_mcmc",
                  "sdvag calibrate my_spec.toml --method global --seed 3 --workers 2"])
    p.add_argument("spec", help="a calibration specification (.toml) or a shipped one's name")
    p.add_argument("--method", choices=("local", "global", "multistart", "mcmc"), default=None,
                   help="the search, or mcmc to sample the posterior with emcee (default: the spec's)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the spec's)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--holdout-from", type=float, default=None, metavar="YEAR",
                   help="fit on values observed before YEAR; report the error on the rest (out of sample)")
    p.add_argument("--out", metavar="DIR",
                   help="write NAME.toml (the calibrated scenario), NAME_report.txt and NAME_fit.png here")

    p = _command(sub, "sensitivity", commands.cmd_sensitivity,
                 "Monte Carlo and Sobol sensitivity (a sensitivity spec)",
                 ["sdvag sensitivity cluster_evolution --out out/sensitivity",
                  "sdvag sensitivity my_spec.toml --workers 4",
                  "sdvag sensitivity my_spec.toml --scheduler tcp://host:8786"])
    p.add_argument("spec", help="a sensitivity specification (.toml) or a shipped one's name")
    p.add_argument("--out", metavar="DIR", help="write results.nc, indices.csv, ranking.txt and fan charts here")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask distributed cluster (the [dask] extra)")

    p = _command(sub, "diagram", commands.cmd_diagram, "draw a model's stock-and-flow diagram from its <views>",
                 ["sdvag diagram cluster_evolution --out cluster.svg", "sdvag diagram my_model.xmile"])
    p.add_argument("model", help="a model file or a shipped model's name")
    p.add_argument("--out", metavar="FILE", help="FILE.svg or FILE.png (default: MODEL_NAME.png here)")

    p = _command(sub, "export", commands.cmd_export,
                 "export a model for another editor, or a scenario baked into a model file",
                 ["sdvag export cluster_evolution --to mdl --out cluster_evolution.mdl",
                  "sdvag export tic_land_supply --to xmile --out tic_land_supply.xmile   # open in Stella"])
    p.add_argument("target", help="a model (--to mdl), or a scenario or model (--to xmile): file or shipped name")
    p.add_argument("--to", choices=["mdl", "xmile"], default="mdl",
                   help="mdl (Vensim), or xmile with the scenario's values, inputs and policies applied")
    p.add_argument("--out", metavar="FILE", help="output file (default: NAME.mdl or NAME.xmile here)")

    p = _command(sub, "loops", commands.cmd_loops,
                 "feedback loops, their Loops That Matter scores and dominance by period and stage",
                 ["sdvag loops tic_baseline --out out/loops", "sdvag loops my_model.xmile"])
    p.add_argument("target", help="a scenario or model (file or shipped name)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="change a constant (repeatable)")
    p.add_argument("--out", metavar="DIR", help="write loops.csv, loop_list.csv, dominance.csv and the dominance plot here")

    p = _command(sub, "knockout", commands.cmd_knockout,
                 "run a scenario with links cut, variables frozen or named loops cut, beside the intact run",
                 ['sdvag knockout tic_baseline --link "Division Of Labour -> Effect Of Division Of Labour On Entry"',
                  'sdvag knockout vic_baseline --freeze "Effective Distance" --out out/ko',
                  "sdvag knockout ecom_combined --loop R1"])
    p.add_argument("target", help="a scenario or model (file or shipped name)")
    p.add_argument("--link", action="append", metavar='"SOURCE -> TARGET[=VALUE]"',
                   help="TARGET sees SOURCE at its start-time value (or VALUE); every other use is untouched")
    p.add_argument("--freeze", action="append", metavar="NAME[=VALUE]",
                   help="every use of NAME sees its start-time value (or VALUE)")
    p.add_argument("--loop", action="append", metavar="NAME", help="cut a named loop (R1, or its name) at one link")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="change a constant (repeatable)")
    p.add_argument("--out", metavar="DIR", help="write both runs (results.nc, results.csv) and overlay plots here")

    p = _command(sub, "explore", commands.cmd_explore,
                 "explore scenarios in the browser: sliders, live runs, Monte Carlo bands, stages, saving",
                 ["sdvag explore tic_baseline vic_baseline", "sdvag explore my_model.xmile --port 5006"])
    p.add_argument("targets", nargs="*", help="scenarios or models to offer first (default: the shipped ones)")
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--folder", default="explorer_saved", help="where Save writes (default: ./explorer_saved)")
    return top


def main(argv: list[str] | None = None) -> int:
    streams = sys.stdout, sys.stderr
    try:
        previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        previous = {}
    _interrupted.clear()
    sys.stdout, sys.stderr = _Printable(sys.stdout), _Printable(sys.stderr)
    try:
        args = parser().parse_args(argv)
        return args.func(args) or 0
    except KeyboardInterrupt:
        commands.say("interrupted")
        return 130
    except Exception as exc:
        if _interrupted:  # an interrupt can surface as another error (numpy turns an
            commands.say("interrupted")  # interrupted import into an ImportError)
            return 130
        if isinstance(exc, SdvagError):
            for line in str(exc).splitlines():
                commands.say(f"error: {line}")
            return exc.exit_status
        if isinstance(exc, BrokenPipeError):  # the reader went away (`... | head`)
            streams = open(os.devnull, "w"), streams[1]
            return 0
        if isinstance(exc, OSError):  # an output folder that cannot be written, a file that vanished
            commands.say(f"error: {exc.filename or ''}: {exc.strerror or exc}")
            return 2
        raise
    finally:
        sys.stdout, sys.stderr = streams
        for signum, handler in previous.items():
            signal.signal(signum, handler)
