"""Where shipped files live: the repository's data/ and styles/ folders."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


def data_dir() -> Path:
    return PROJECT_DIR / "data"


def data_file(name: str) -> Path:
    return data_dir() / name


@lru_cache(maxsize=16)
def prompt_text(name: str) -> str:
    """A shipped prompt, ``data/prompts/NAME.md``, read once."""
    return data_file(f"prompts/{name}.md").read_text("utf-8").strip()


@lru_cache(maxsize=4)
def word_list(name: str) -> frozenset[str]:
    """A shipped word list, ``data/NAME.txt``: one word a line, ``#`` comments."""
    lines = data_file(f"{name}.txt").read_text("utf-8").splitlines()
    return frozenset(word for line in lines if (word := line.strip()) and not word.startswith("#"))


def styles_dir() -> Path:
    return PROJECT_DIR / "styles"
