"""Where the models and scenarios that ship with sdvag live: sdvag/shipped/ inside the package
(in a clone, links to the repository's models/ and scenarios/; in a wheel, copies)."""
from pathlib import Path

from sdvag.model.xmile import XMILE_SUFFIXES

SHIPPED = Path(__file__).resolve().parent.parent / "shipped"


def shipped_models() -> list[Path]:
    folder = SHIPPED / "models"
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in XMILE_SUFFIXES) if folder.is_dir() else []


def shipped_scenarios() -> list[Path]:
    folder = SHIPPED / "scenarios"
    return sorted(folder.rglob("*.toml")) if folder.is_dir() else []
