"""The final answer: every contribution attributed as ``[NODE/model]``.

With ``[commander] commander_node`` naming a usable ``anthropic`` node, Claude
writes the synthesis from the labelled contributions, streamed (the tokens go
out as ``TokenDelta`` events under the ``request_id`` announced by
``SynthesisStarted``, and to ``on_delta``).  Otherwise - or when Claude fails -
the best-scored contribution is used: highest verifier score, else the node's
measured quality score, else its configured weight.  A reviewer's notes are not
an answer: they are appended under the answer they review, attributed too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jarvis_tui.core.commander_settings import CommanderSettings

ANSWER_ROLES = ("answer", "coder", "vote")


def attribution(node: str, model: str) -> str:
    return f"[{node}/{model}]" if model else f"[{node}]"


@dataclass(slots=True)
class Contribution:
    node: str
    model: str
    text: str
    role: str = "answer"  # answer | coder | reviewer | vote
    score: float | None = None  # verifier score of this very answer, when it was scored
    weight: float = 1.0

    @property
    def label(self) -> str:
        return attribution(self.node, self.model)


@dataclass(slots=True)
class Synthesis:
    text: str
    node: str
    model: str
    streamed: bool
    sources: list[str]
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "node": self.node, "model": self.model, "streamed": self.streamed,
                "sources": self.sources, "error": self.error or None}


def commander_node_usable(orchestrator: Any, settings: CommanderSettings) -> str | None:
    """Why the configured commander node cannot write the synthesis now; None if it can (or none is set)."""
    name = settings.commander_node
    if not name:
        return None
    state = orchestrator.nodes.get(name)
    if state is None:
        return f"commander node '{name}' is not configured"
    if state.config.kind != "anthropic":
        return f"commander node '{name}' is a {state.config.kind} node; the synthesis needs an anthropic node"
    return orchestrator.skip_reason(name)


def rank(orchestrator: Any, contribution: Contribution) -> tuple[float, float, float]:
    state = orchestrator.nodes.get(contribution.node) if orchestrator is not None else None
    measured = state.metrics.quality_score if state is not None else None
    return (contribution.score if contribution.score is not None else -1.0,
            measured if measured is not None else -1.0, contribution.weight)


def best_scored(orchestrator: Any, contributions: list[Contribution]) -> Synthesis:
    answers = [c for c in contributions if c.role in ANSWER_ROLES] or contributions
    best = max(answers, key=lambda c: rank(orchestrator, c))
    text = best.text.strip()
    for review in (c for c in contributions if c.role == "reviewer"):
        text += f"\n\nReview {review.label}:\n{review.text.strip()}"
    return Synthesis(text, best.node, best.model, False, [c.label for c in contributions])


def synthesis_messages(request: str, contributions: list[Contribution]) -> list[Any]:
    from jarvis_tui.nodes.base import ChatMessage
    from jarvis_tui.paths import prompt_text

    blocks = [f"REQUEST:\n{request}"]
    for c in contributions:
        role = "" if c.role in ("answer", "vote") else f" ({c.role})"
        blocks.append(f"{c.label}{role}:\n{c.text.strip()}")
    return [ChatMessage("system", prompt_text("synthesis")), ChatMessage("user", "\n\n".join(blocks))]


async def synthesize(orchestrator: Any, request: str, contributions: list[Contribution], *,
                     settings: CommanderSettings, round_id: str,
                     on_delta: Callable[[str], None] | None = None) -> Synthesis:
    from jarvis_tui.core.commander_events import SynthesisFinished, SynthesisStarted
    from jarvis_tui.nodes.base import NodeError

    if not contributions:
        raise ValueError("nothing to synthesise")
    bus = orchestrator.bus
    why_not = commander_node_usable(orchestrator, settings)
    name = settings.commander_node
    error = why_not or ""
    if name and why_not is None and len(contributions) > 1:
        state = orchestrator.nodes[name]
        request_id = f"{round_id}.synthesis"
        bus.publish(SynthesisStarted(round_id=round_id, node=name, model=state.config.model, request_id=request_id))
        try:
            result = await orchestrator.dispatch(name, synthesis_messages(request, contributions),
                                                 task_type="synthesis", request_id=request_id, on_delta=on_delta)
        except NodeError as exc:
            error = f"commander node {name} failed ({exc.outcome}: {exc.message}); used the best-scored answer"
        else:
            synthesis = Synthesis(result.text.strip(), name, result.model, True, [c.label for c in contributions])
            bus.publish(SynthesisFinished(round_id=round_id, node=name, model=result.model, text=synthesis.text,
                                          streamed=True))
            return synthesis
    synthesis = best_scored(orchestrator, contributions)
    synthesis.error = error
    bus.publish(SynthesisFinished(round_id=round_id, node=synthesis.node, model=synthesis.model, text=synthesis.text,
                                  streamed=False, error=error))
    return synthesis
