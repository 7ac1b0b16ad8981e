"""Score one answer to one level: 0-5 points and a one-line detail.

* ``python_tests``: the code is extracted from the answer (fenced blocks; the one
  defining the entrypoint wins, else all Python blocks joined, else the whole
  answer if it parses), then run against the level's hidden tests in the
  sandbox: points = 5 x passed / total.  An answer that contains a forbidden
  construct (``forbid``) scores 0.
* ``facts``: a group scores when any of its phrases appears in the answer
  (case, accents and spacing ignored); the groups share 5 points, minus
  ``final_points`` that go to an exact ``ANSWER: <value>`` line (or, failing
  that, the last number of the answer).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from jarvis_tui.core.bench.levels import MAX_POINTS, Level
from jarvis_tui.core.bench.sandbox import run_hidden_tests
from jarvis_tui.core.classify import fold

FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
ANSWER_LINE = re.compile(r"(?:answer|reponse)\s*[:=]\s*\**\s*([-+]?\d[\d,]*(?:\.\d+)?)", re.IGNORECASE)
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")


@dataclass(slots=True)
class Score:
    points: float
    detail: str
    max_points: float = MAX_POINTS


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+def|def|class)\s+{re.escape(name)}\b|^\s*{re.escape(name)}\s*=",
                     code, re.MULTILINE) is not None


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def extract_code(answer: str, entrypoint: str) -> str | None:
    """The Python code of an answer, or None when there is none."""
    blocks = [(lang.lower(), body) for lang, body in FENCE.findall(answer)]
    python_blocks = [body for lang, body in blocks if lang in ("python", "py", "python3", "")]
    defining = [b for b in python_blocks if _defines(b, entrypoint) and _parses(b)]
    if defining:
        # The last complete definition is usually the corrected one; keep helper blocks before it.
        chosen = defining[-1]
        helpers = [b for b in python_blocks if b is not chosen and _parses(b) and not _defines(b, entrypoint)
                   and not b.lstrip().startswith((">>>", "$"))]
        return "\n\n".join([*helpers, chosen]) if helpers else chosen
    joined = "\n\n".join(python_blocks)
    if python_blocks and _defines(joined, entrypoint) and _parses(joined):
        return joined
    if not blocks and _defines(answer, entrypoint) and _parses(answer):
        return answer
    return None


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", fold(text)).strip()


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", fold(text))


def phrase_present(phrase: str, answer_normal: str, answer_squeezed: str) -> bool:
    wanted = _normal(phrase)
    if re.fullmatch(r"[a-z0-9 ]+", wanted):
        # words: start on a word boundary, so "36" is not found in "136"; a number must also end there
        # ("14" not in "144"), while a word prefix such as "invalidat" may continue ("invalidation")
        tail = r"(?![0-9])" if wanted[-1].isdigit() else ""
        return re.search(rf"(?<![a-z0-9]){re.escape(wanted)}{tail}", answer_normal) is not None
    # notation such as O(n log n): compare without spaces
    return _squeezed(phrase) in answer_squeezed


def final_value(answer: str) -> str | None:
    found = ANSWER_LINE.findall(fold(answer))
    if found:
        return found[-1].replace(",", "")
    numbers = NUMBER.findall(answer)
    return numbers[-1].replace(",", "") if numbers else None


def score_facts(level: Level, answer: str) -> Score:
    spec = level.scorer
    groups = spec.get("groups", [])
    final_answer = spec.get("final_answer")
    final_points = float(spec.get("final_points", 0)) if final_answer is not None else 0.0
    normal, squeezed = _normal(answer), _squeezed(answer)
    hits = [any(phrase_present(p, normal, squeezed) for p in group) for group in groups]
    group_points = (MAX_POINTS - final_points) * (sum(hits) / len(groups)) if groups else 0.0
    points = group_points
    parts = [f"{sum(hits)}/{len(groups)} facts"] if groups else []
    if final_answer is not None:
        value = final_value(answer)
        correct = value is not None and _same_number(value, str(final_answer))
        points += final_points if correct else 0.0
        parts.append(f"final answer {'ok' if correct else 'wrong'} ({value or 'none'})")
    return Score(round(min(points, MAX_POINTS), 2), ", ".join(parts))


def _same_number(a: str, b: str) -> bool:
    try:
        return abs(float(a) - float(b)) < 1e-9
    except ValueError:
        return a.strip() == b.strip()


async def score_code(level: Level, answer: str, *, timeout_s: float = 10.0, memory_mb: int = 512) -> Score:
    spec = level.scorer
    entrypoint = spec["entrypoint"]
    code = extract_code(answer, entrypoint)
    if code is None:
        return Score(0.0, f"no Python code defining {entrypoint}")
    for forbidden in spec.get("forbid", []):
        if forbidden in code:
            return Score(0.0, f"uses forbidden {forbidden!r}")
    result = await run_hidden_tests(code, spec["tests"], timeout_s=timeout_s, memory_mb=memory_mb)
    if not result.loaded:
        return Score(0.0, f"code does not load: {result.error}"[:200])
    if result.total == 0:
        return Score(0.0, f"hidden tests did not run{': ' + result.error if result.error else ''}")
    points = round(MAX_POINTS * result.passed / result.total, 2)
    detail = f"{result.passed}/{result.total} hidden tests"
    if result.failures:
        first = next(iter(result.failures.items()))
        detail += f"; {first[0]}: {first[1]}"
    if result.timed_out:
        detail += f"; {result.error}"
    return Score(points, detail[:240])


async def score_answer(level: Level, answer: str, *, timeout_s: float = 10.0, memory_mb: int = 512) -> Score:
    if level.scorer_type == "python_tests":
        return await score_code(level, answer, timeout_s=timeout_s, memory_mb=memory_mb)
    return score_facts(level, answer)
