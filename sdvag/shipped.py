"""Where the models and scenarios that ship with sdvag live (the project folder)."""
from pathlib import Path

from .xmile import XMILE_SUFFIXES

PROJECT = Path(__file__).resolve().parent.parent


def shipped_models() -> list[Path]:
    folder = PROJECT / "models"
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in XMILE_SUFFIXES) if folder.is_dir() else []


def shipped_scenarios() -> list[Path]:
    folder = PROJECT / "scenarios"
    return sorted(folder.rglob("*.toml")) if folder.is_dir() else []
