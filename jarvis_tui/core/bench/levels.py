"""Benchmark levels: one TOML file per level in data/bench/ (level_01.toml .. level_10.toml).

A level has ``level``, ``title``, ``kind`` (code | reasoning | design), ``quick``
(part of ``--quick``), ``timeout_s``, ``prompt`` and a ``[scorer]`` table:

* ``type = "python_tests"``: ``entrypoint`` (a name the code must define), ``tests``
  (hidden pytest-style ``test_*`` functions run against the extracted code) and
  optional ``forbid`` (substrings that void the answer, e.g. ``eval(``);
* ``type = "facts"``: ``groups`` (each a list of alternative phrases; a group
  scores when any appears) and optional ``final_answer`` + ``final_points``
  (the value on the ``ANSWER:`` line).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jarvis_tui.paths import data_file

MAX_POINTS = 5.0
LEVEL_FILE = re.compile(r"^level_(\d{2})\.toml$")
KINDS = ("code", "reasoning", "design")


class LevelError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Level:
    level: int
    title: str
    kind: str
    quick: bool
    timeout_s: float
    prompt: str
    scorer: dict[str, Any]
    path: str

    @property
    def scorer_type(self) -> str:
        return str(self.scorer["type"])


def levels_dir() -> Path:
    return data_file("bench")


def parse_level(raw: dict[str, Any], path: str) -> Level:
    def need(key: str, kind: type) -> Any:
        value = raw.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise LevelError(f"{path}: '{key}' must be {kind.__name__}")
        return value

    number = need("level", int)
    kind = need("kind", str)
    if kind not in KINDS:
        raise LevelError(f"{path}: kind must be one of {', '.join(KINDS)}")
    scorer = raw.get("scorer")
    if not isinstance(scorer, dict):
        raise LevelError(f"{path}: needs a [scorer] table")
    scorer_type = scorer.get("type")
    if scorer_type == "python_tests":
        if not isinstance(scorer.get("entrypoint"), str) or not isinstance(scorer.get("tests"), str):
            raise LevelError(f"{path}: python_tests scorer needs 'entrypoint' and 'tests'")
        if "def test_" not in scorer["tests"]:
            raise LevelError(f"{path}: python_tests scorer has no test_* function")
    elif scorer_type == "facts":
        groups = scorer.get("groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, list) and g and all(isinstance(p, str) for p in g)
                                                   for g in groups):
            raise LevelError(f"{path}: facts scorer 'groups' must be a list of non-empty lists of phrases")
        final_points = scorer.get("final_points", 0)
        if not groups and not scorer.get("final_answer"):
            raise LevelError(f"{path}: facts scorer needs groups or a final_answer")
        if not 0 <= final_points <= MAX_POINTS:
            raise LevelError(f"{path}: final_points must be 0..{MAX_POINTS:g}")
    else:
        raise LevelError(f"{path}: unknown scorer type {scorer_type!r} (python_tests or facts)")
    timeout = raw.get("timeout_s", 120)
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise LevelError(f"{path}: timeout_s must be > 0")
    return Level(number, str(raw.get("title", f"level {number}")), kind, bool(raw.get("quick", False)),
                 float(timeout), need("prompt", str).strip(), scorer, path)


def load_levels(directory: str | Path | None = None, *, quick: bool = False) -> list[Level]:
    folder = Path(directory) if directory else levels_dir()
    levels = []
    for file in sorted(folder.iterdir()):
        if not LEVEL_FILE.match(file.name):
            continue
        try:
            raw = tomllib.loads(file.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise LevelError(f"{file}: {exc}") from None
        levels.append(parse_level(raw, str(file)))
    numbers = [lv.level for lv in levels]
    if len(set(numbers)) != len(numbers):
        raise LevelError(f"{folder}: duplicate level numbers {numbers}")
    levels.sort(key=lambda lv: lv.level)
    return [lv for lv in levels if lv.quick] if quick else levels
