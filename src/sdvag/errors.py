"""Errors a user can cause. The CLI turns each into one line and an exit status."""
import difflib


class SdvagError(Exception):
    """Bad input: a file, a key or a value the user supplied (exit status 2)."""

    exit_status = 2


class Refused(SdvagError):
    """An analysis or an export sdvag cannot do for this model (exit status 3, like a feature it
    cannot simulate); the message says why."""

    exit_status = 3


class UnsupportedFeature(SdvagError):
    """A model feature PySD cannot simulate correctly (exit status 3).

    Refusing is the point: PySD silently simulates some of these wrongly.
    """

    exit_status = 3

    def __init__(self, feature: str, variable: str | None, path=None):
        self.feature, self.variable, self.path = feature, variable, path
        where = f" in variable '{variable}'" if variable else ""
        source = f"{path}: " if path else ""
        super().__init__(f"{source}cannot simulate {feature}{where}")


def shown(text: str, limit: int | None = 80) -> str:
    """Text from a file or a command line as it may be printed: control characters and terminal
    escapes escaped (so that it cannot fake a line or move the cursor), long text shortened."""
    escaped = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                      for c in str(text))
    return escaped if limit is None or len(escaped) <= limit else escaped[:limit] + "..."


def suggest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)]
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
