"""Runs of a model that computes its time settings (Vensim's INITIAL TIME, FINAL TIME, TIME STEP
or SAVEPER given by an equation, e.g. FINAL TIME = IF THEN ELSE(x > 50, Time, 100)).

PySD evaluates such control variables as the run goes, as Vensim does: each step lasts the TIME
STEP of its start, and the run stops once Time reaches FINAL TIME. Three things need guarding:
- PySD computes INITIAL TIME at whatever Time it was left at (a second run of one model object
  starts elsewhere). Here it is computed at Time 0, and accepted only if it gives itself at the
  time it names, so it does not matter at which of the two Time is taken.
- Nothing bounds the run beforehand: every step is counted against the step limit, and a TIME
  STEP or FINAL TIME that is not a positive, finite number stops it (exit status 2).
- PySD saves when Time - INITIAL TIME is a multiple of the current SAVEPER; Vensim's rule for a
  changing SAVEPER is not documented. A run is kept only when its saved times are each the
  previous one plus its SAVEPER, with no such time skipped before the end, where PySD's rule and
  "the last saved time plus its SAVEPER" agree, as they do on Vensim's own output (SDXorg
  control_vars: SAVEPER 0.5 up to Time 10, then 5).
"""
from __future__ import annotations

import math

import numpy as np

from sdvag.errors import SdvagError, UnsupportedFeature


class Clock:
    """The control functions PySD calls during one run, each the model's own, guarded."""

    def __init__(self, model, path, limit: int):
        self.model, self.path, self.limit = model, path, limit
        self.own = dict(model.components._control_vars)  # the translation's, before any run
        self.steps, self.now = -1, None  # the first time seen is the start, not a step
        self.saveper_at: dict[float, float] = {}
        self.start: float | None = None

    def _value(self, key: str, name: str, time: float | None = None) -> float:
        if time is not None:  # the value at another time than PySD's (INITIAL TIME only)
            self.model.time.update(time)
            self.model.clean_caches()
        value = float(np.asarray(self.own[key]()))
        if not math.isfinite(value):
            raise SdvagError(f"{self.path}: {name} is {value:g} at Time {self.model.time():g}: "
                             "it must be a finite number")
        return value

    def initial_time(self) -> float:
        """Worked out once a run, when PySD starts it (after the scenario's values are set);
        later calls (PySD reports INITIAL TIME as a variable) must not move Time."""
        if self.start is None:
            self.start = self._fixed_start()
        return self.start

    def _fixed_start(self) -> float:
        first = self._value("initial_time", "INITIAL TIME", 0.0)
        again = self._value("initial_time", "INITIAL TIME", first)
        if not math.isclose(first, again, rel_tol=1e-12, abs_tol=1e-12):
            raise UnsupportedFeature(f"a computed INITIAL TIME that does not give itself as the start "
                                     f"({first:g} at Time 0, {again:g} at Time {first:g})",
                                     "INITIAL TIME", self.path)
        return first

    def final_time(self) -> float:
        return self._value("final_time", "FINAL TIME")

    def time_step(self) -> float:
        dt, now = self._value("time_step", "TIME STEP"), self.model.time()
        if dt <= 0 or now + dt == now:
            raise SdvagError(f"{self.path}: TIME STEP is {dt:g} at Time {now:g}: it must be positive "
                             "and large enough to move time on")
        if now != self.now:
            self.now, self.steps = now, self.steps + 1
            if self.steps > self.limit:
                raise SdvagError(f"{self.path}: the run passed {self.limit:,} steps without reaching "
                                 "its FINAL TIME (raise the limit with sim.max_steps or SDVAG_MAX_STEPS)")
        return dt

    def saveper(self) -> float:
        value = self._value("saveper", "SAVEPER")
        if value <= 0:
            raise SdvagError(f"{self.path}: SAVEPER is {value:g} at Time {self.model.time():g}: "
                             "it must be positive")
        self.saveper_at[self.model.time()] = value
        return value

    def times(self, start: float | None) -> dict:
        """The time settings PySD runs with: the guarded functions; INITIAL TIME the model's
        number, or this clock's when the model computes it (`start` None)."""
        return {"start": self.initial_time if start is None else start, "stop": self.final_time,
                "dt": self.time_step, "save_step": self.saveper}

    def check_saves(self, saved) -> None:
        """Refuse a run whose saved times another rule for a changing SAVEPER could place elsewhere."""
        seen = np.array(sorted(self.saveper_at))
        saved = np.asarray(saved, dtype=float)

        def per(t: float) -> float:  # SAVEPER when Time was t (PySD rounds the times it reports)
            return self.saveper_at[float(seen[np.argmin(np.abs(seen - t))])]

        for here, there in zip(saved, [*saved[1:], None]):
            due = here + per(here)
            missed = there is None and due <= seen[-1] + 1e-9 * max(1.0, abs(due))
            if missed or (there is not None and not math.isclose(there, due, rel_tol=1e-9, abs_tol=1e-9)):
                raise UnsupportedFeature(
                    f"a computed SAVEPER or TIME STEP whose saving times depend on the engine's rule "
                    f"(SAVEPER {per(here):g} at Time {here:g}: PySD saves next at "
                    f"{'no later time' if there is None else f'{there:g}'}, not at {due:g})",
                    "SAVEPER", self.path)

    def produced(self, saved, computed: tuple[str, ...]) -> dict:
        """What the run's Dataset records as its time settings: those it produced."""
        return {"start": float(saved[0]), "stop": float(saved[-1]), "computed": list(computed),
                "steps": self.steps}
