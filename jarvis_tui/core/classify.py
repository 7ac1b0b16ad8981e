"""Task classification (interim keyword guess; the commander pipeline replaces it)."""

from __future__ import annotations

import re

_GUESSES = (
    ("code", r"\b(code|python|function|fonction|script|bug|debug|fix|refactor|api)\b"),
    ("trading", r"\b(trading|signal|btc|eth|sol|mexc|breakout)\b"),
    ("analysis", r"\b(analyse|analysis|architecture|strategy|strategie|benchmark|audit)\b"),
)


def classify(prompt: str) -> str:
    lowered = prompt.lower()
    for task_type, pattern in _GUESSES:
        if re.search(pattern, lowered):
            return task_type
    return "simple"
