"""Quality verification: a verifier node scores an answer, weak answers are re-dispatched.

The verifier is the first usable node of the ``validation`` route (falling back
along it like any request).  It must reply with strict JSON
``{"score": 0..1, "issues": [...], "recommendation": "..."}``; ``parse_verdict``
is robust to what models actually send (a Markdown fence, prose around the
object, a score given as a string, "issues" as one string) but a reply with no
usable JSON object, or a score outside 0..1, is a *failed verification*: it is
reported (``ok=False``), never raised.

The loop (``verified_answer``): answer, score; while the score is below
``verify_threshold`` (0.7) and fewer than ``verify_max_cycles`` (2)
re-dispatches were made, ask again with the issues appended; keep the
best-scored answer.  A failed verification ends the loop - there are no issues
to append - and keeps the answer it could not score.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from jarvis_tui.core.commander_events import VerificationScored
from jarvis_tui.paths import prompt_text

MAX_ISSUES = 12


@dataclass(slots=True)
class Verdict:
    score: float
    issues: list[str]
    recommendation: str


@dataclass(slots=True)
class Verification:
    ok: bool
    score: float | None
    issues: list[str] = field(default_factory=list)
    recommendation: str = ""
    verifier: str = ""
    verifier_model: str = ""
    error: str = ""
    attempts: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "score": self.score, "issues": self.issues, "recommendation": self.recommendation,
                "verifier": self.verifier or None, "error": self.error or None}


def _json_objects(text: str) -> list[str]:
    """Every balanced {...} span in ``text`` (string-aware), outermost first."""
    spans = []
    depth, start, in_string, escaped = 0, -1, False, False
    for index, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"' and depth > 0:
            in_string = True
        elif ch == "{":
            if depth == 0:
                start = index
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start:index + 1])
    return spans


def _score(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and 0.0 <= float(value) <= 1.0:
        return float(value)
    return None


def parse_verdict(text: str) -> Verdict | str:
    """A Verdict, or a one-line reason why the reply is not a usable verdict."""
    if not text or not text.strip():
        return "empty reply"
    stripped = re.sub(r"```(?:json)?", "", text)
    candidates = _json_objects(stripped)
    if not candidates:
        return "reply is not JSON"
    reason = "no JSON object with a score"
    for candidate in candidates:
        try:
            obj = json.loads(candidate)
        except json.JSONDecodeError:
            reason = "reply is not valid JSON"
            continue
        if not isinstance(obj, dict) or "score" not in obj:
            continue
        score = _score(obj.get("score"))
        if score is None:
            reason = f"score must be a number from 0 to 1, got {obj.get('score')!r}"[:120]
            continue
        issues_raw = obj.get("issues", [])
        if isinstance(issues_raw, str):
            issues = [issues_raw] if issues_raw.strip() else []
        elif isinstance(issues_raw, list):
            issues = [str(i) if not isinstance(i, dict) else json.dumps(i, ensure_ascii=False) for i in issues_raw]
        else:
            issues = [str(issues_raw)]
        recommendation = obj.get("recommendation", "")
        return Verdict(score, [i.strip() for i in issues if i and i.strip()][:MAX_ISSUES],
                       str(recommendation).strip() if recommendation is not None else "")
    return reason


async def verify_answer(orchestrator: Any, request: str, answer: str, *, exclude: str | None = None) -> Verification:
    """Score ``answer`` with the validation route's first usable node."""
    from jarvis_tui.core.orchestrator import NoNodeAvailable

    route = orchestrator.route("validation")
    # Prefer a verifier other than the author, but never lose the only one.
    candidates = [n for n in route if n != exclude] + [n for n in route if n == exclude]
    if not candidates:
        return Verification(False, None, error="no node is routed for task type 'validation'")
    content = f"REQUEST:\n{request}\n\nANSWER:\n{answer}\n\nReply with the JSON object only."
    try:
        result = await orchestrator.ask(content, task_type="validation", candidates=candidates, persist=False,
                                        system=prompt_text("verifier"))
    except NoNodeAvailable as exc:
        return Verification(False, None, error=f"no verifier could answer: {exc}", attempts=exc.attempts)
    parsed = parse_verdict(result.answer)
    if isinstance(parsed, str):
        return Verification(False, None, verifier=result.node, verifier_model=result.model,
                            error=f"failed verification: {parsed}", attempts=result.attempts)
    return Verification(True, parsed.score, parsed.issues, parsed.recommendation, result.node, result.model,
                        attempts=result.attempts)


def redispatch_prompt(request: str, verification: Verification) -> str:
    issues = "\n".join(f"- {issue}" for issue in verification.issues) or "- (no specific issue listed)"
    return prompt_text("redispatch").format(prompt=request, score=f"{verification.score:.2f}", issues=issues,
                                            recommendation=verification.recommendation or "-")


def record_quality(orchestrator: Any, node: str, score: float) -> None:
    """Fold a verifier score into the node's rolling quality score (EWMA, alpha 0.3)."""
    state = orchestrator.nodes.get(node)
    if state is None:
        return
    old = state.metrics.quality_score
    state.metrics.quality_score = score if old is None else round(0.7 * old + 0.3 * score, 4)


@dataclass(slots=True)
class Candidate:
    answer: str
    node: str
    verification: Verification
    cycle: int
    payload: Any = None  # whatever the caller's answer function returned (an AskResult / TaskUnit)


AnswerFn = Callable[[str, int], Awaitable[tuple[str, str, Any]]]  # (prompt, cycle) -> (answer, node, payload)


async def verified_answer(orchestrator: Any, request: str, answer_fn: AnswerFn, *, threshold: float,
                          max_cycles: int, plan_id: str = "", unit_id: str = "t1",
                          first: tuple[str, str, Any] | None = None) -> tuple[Candidate, list[Candidate]]:
    """Answer (or take ``first``), verify, re-dispatch weak answers; (best, every candidate)."""
    history: list[Candidate] = []
    prompt = request
    cycle = 0
    while True:
        if first is not None and cycle == 0:
            answer, node, payload = first
        elif cycle == 0:
            answer, node, payload = await answer_fn(prompt, cycle)  # no answer at all: the caller's error
        else:
            try:
                answer, node, payload = await answer_fn(prompt, cycle)
            except Exception:  # noqa: BLE001 - a failed re-dispatch keeps the best answer so far
                break
        verification = await verify_answer(orchestrator, request, answer, exclude=node)
        orchestrator.bus.publish(VerificationScored(
            plan_id=plan_id, unit_id=unit_id, cycle=cycle, node=node, verifier=verification.verifier,
            ok=verification.ok, score=verification.score, issues=tuple(verification.issues),
            recommendation=verification.recommendation, error=verification.error))
        if verification.ok and verification.score is not None:
            record_quality(orchestrator, node, verification.score)
        history.append(Candidate(answer, node, verification, cycle, payload))
        weak = verification.ok and verification.score is not None and verification.score < threshold
        if not weak or cycle >= max_cycles:
            break
        cycle += 1
        prompt = redispatch_prompt(request, verification)
    scored = [c for c in history if c.verification.score is not None]
    # Best score; among equals the earliest (the re-dispatch had no reason to be preferred).
    best = max(scored, key=lambda c: (c.verification.score, -c.cycle)) if scored else history[0]
    return best, history
