"""Where shipped files live: the repository's data/ and styles/ folders."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


def data_dir() -> Path:
    return PROJECT_DIR / "data"


def data_file(name: str) -> Path:
    return data_dir() / name


def styles_dir() -> Path:
    return PROJECT_DIR / "styles"
