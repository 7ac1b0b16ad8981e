"""Verifier reply parsing (robust, never raising) and the re-dispatch prompt."""

from __future__ import annotations

import pytest

from jarvis_tui.core.verify import (
    Verdict,
    Verification,
    parse_verdict,
    redispatch_prompt,
)


@pytest.mark.parametrize("reply, score, issues, recommendation", [
    ('{"score": 0.9, "issues": [], "recommendation": "ship it"}', 0.9, [], "ship it"),
    ('```json\n{"score": 0.4, "issues": ["off by one"], "recommendation": "fix the loop"}\n```', 0.4,
     ["off by one"], "fix the loop"),
    ('Here is my verdict: {"score": 1, "issues": [], "recommendation": ""} Hope it helps.', 1.0, [], ""),
    ('{"score": "0.65", "issues": "misses the empty case", "recommendation": "handle []"}', 0.65,
     ["misses the empty case"], "handle []"),
    ('{"score": "70%", "issues": [], "recommendation": "ok"}', 0.7, [], "ok"),
    ('{"score": 0.5, "issues": ["uses {braces} in a string", "and \\"quotes\\""], "recommendation": "x"}', 0.5,
     ["uses {braces} in a string", 'and "quotes"'], "x"),
    ('{"note": "thinking"} then {"score": 0.3, "issues": ["wrong"], "recommendation": "redo"}', 0.3, ["wrong"],
     "redo"),
    ('{"score": 0.8}', 0.8, [], ""),
])
def test_parse_verdict_accepts_what_models_send(reply: str, score: float, issues: list[str],
                                                recommendation: str) -> None:
    verdict = parse_verdict(reply)
    assert isinstance(verdict, Verdict)
    assert (verdict.score, verdict.issues, verdict.recommendation) == (pytest.approx(score), issues, recommendation)


@pytest.mark.parametrize("reply, reason", [
    ("", "empty reply"),
    ("The answer looks fine to me, 9/10.", "not JSON"),
    ('{"score": 0.9, "issues": [', "not JSON"),
    ('{"score": 7, "issues": []}', "score must be a number from 0 to 1"),
    ('{"score": true}', "score must be a number from 0 to 1"),
    ('{"issues": ["no score at all"]}', "no JSON object with a score"),
    ('{"score": "high"}', "score must be a number from 0 to 1"),
])
def test_parse_verdict_reports_unusable_replies_without_raising(reply: str, reason: str) -> None:
    result = parse_verdict(reply)
    assert isinstance(result, str) and reason in result


def test_redispatch_prompt_appends_the_issues() -> None:
    text = redispatch_prompt("Write a sort.", Verification(True, 0.42, ["ignores duplicates", "O(n^3)"], "use merge"))
    assert text.startswith("Write a sort.")
    assert "scored 0.42" in text and "- ignores duplicates\n- O(n^3)" in text and "use merge" in text
