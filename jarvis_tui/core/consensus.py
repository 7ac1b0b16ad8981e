"""Weighted consensus: parallel votes, agreement clusters, confidence, early decision.

Arithmetic (pure, unit-tested in tests/core/test_consensus.py):

* **Clusters.**  Each answer is reduced to its *key*: the ``ANSWER:`` line when the
  node gave one (the consensus prompt asks for it), else the whole text; folded
  (case, accents), Markdown and punctuation stripped, and the words of the
  question and a few stop-words removed, so "The capital of France is Paris."
  and "Paris" both become ``paris``.  Keys of at most ``short_answer_words``
  words agree only when equal.  Longer keys agree when rapidfuzz
  ``token_set_ratio`` >= ``similarity_threshold`` (80): order-insensitive and
  tolerant of one answer elaborating on the other, deterministic, C-fast, no
  model.  A short key against a long one uses the stricter ``token_sort_ratio``,
  so "yes" does not silently agree with "yes and no, because ...": a false
  disagreement is flagged, a false agreement would be hidden.  Answers are
  assigned greedily in arrival order against each cluster's first member, so a
  late vote never moves an earlier one (which early decision relies on).
* **Confidence** = weight of the winning cluster / weight of the nodes that answered.
* **Early decision**: with leader weight L, runner-up R and pending weight P, the
  pending votes cannot overturn the leader once L > R + P (all of P joining the
  runner-up, or forming a new cluster, still loses).  Strict, so a possible tie
  is waited for.
* **Ties** (equal top weights) are flagged EGALITE and broken by the best member
  (measured quality score, then weight), then by which cluster formed first.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jarvis_tui.core.classify import fold
from jarvis_tui.core.commander_events import (
    VOTE_ANSWERED,
    VOTE_CANCELLED,
    VOTE_FAILED,
    VOTE_LATE,
    VOTE_PENDING,
    ConsensusDecided,
    ConsensusStarted,
    VoteCast,
)
from jarvis_tui.core.commander_settings import CommanderSettings
from jarvis_tui.core.synthesis import attribution
from jarvis_tui.paths import prompt_text, word_list

FLAG_WEAK = "CONSENSUS FAIBLE"
FLAG_SINGLE = "SOURCE UNIQUE"
FLAG_TIE = "EGALITE"
FLAG_EARLY = "DECISION ANTICIPEE"
FLAG_NONE = "AUCUNE REPONSE"

EPSILON = 1e-9

# "ANSWER: x" / "Réponse : x": matched on folded text (answer_key) and on the text as written (the views).
_ANSWER_LINE = re.compile(r"^\s*(?:\*\*)?\s*(?:final\s+)?(?:answer|r[eé]ponse)\s*(?:\*\*)?\s*[:=]\s*(.+)$",
                          re.IGNORECASE | re.MULTILINE)
_MARKUP = re.compile(r"[*_`#>~|]")
_NON_WORD = re.compile(r"[^a-z0-9.'\s-]")
_TRAILING_ZEROS = re.compile(r"\b(\d+)\.0+\b")


def _tokens(text: str) -> list[str]:
    cleaned = _NON_WORD.sub(" ", _MARKUP.sub(" ", fold(text)))
    cleaned = _TRAILING_ZEROS.sub(r"\1", cleaned)
    tokens = []
    for raw in cleaned.split():
        token = raw.strip(".'-")
        if token:
            tokens.append(token)
    return tokens


def answer_key(answer: str, prompt: str = "") -> str:
    """The part of an answer that clustering compares (see the module docstring)."""
    found = _ANSWER_LINE.search(fold(answer))
    text = found.group(1) if found else answer
    tokens = _tokens(text)
    echo = set(_tokens(prompt)) | word_list("consensus_stop_words")
    content = [t for t in tokens if t not in echo]
    return " ".join(content or tokens)


def _marked(found: re.Match[str]) -> str:
    """The answer an ``ANSWER:`` line carries, without the Markdown bold around it."""
    return found.group(1).strip().strip("*").strip()


def short_answer(answer: str) -> str:
    """What a narrow view shows of a vote: the text of its ``ANSWER:`` line, else its first line."""
    found = _ANSWER_LINE.search(answer)
    if found:
        return _marked(found)
    return next((line.strip() for line in answer.splitlines() if line.strip()), "")


def readable_answer(answer: str) -> str:
    """A vote as the user reads it: the ``ANSWER:`` marker line (asked of voters) becomes its own paragraph."""
    found = _ANSWER_LINE.search(answer)
    if not found:
        return answer.strip()
    rest = (answer[:found.start()] + answer[found.end():]).strip()
    head = _marked(found)
    return f"{head}\n\n{rest}" if rest else head


class ClusterBook:
    """Incremental agreement clusters over answers, in arrival order."""

    def __init__(self, prompt: str = "", similarity_threshold: float = 80.0, short_answer_words: int = 8) -> None:
        self.prompt = prompt
        self.threshold = similarity_threshold
        self.short_words = short_answer_words
        self.keys: list[str] = []  # one per cluster: its first member's key
        self.members: list[list[tuple[str, float]]] = []  # (node, weight)

    def agree(self, key_a: str, key_b: str) -> bool:
        from rapidfuzz import fuzz

        short_a = len(key_a.split()) <= self.short_words
        short_b = len(key_b.split()) <= self.short_words
        if short_a and short_b:
            return key_a == key_b
        if short_a or short_b:
            return fuzz.token_sort_ratio(key_a, key_b) >= self.threshold
        return fuzz.token_set_ratio(key_a, key_b) >= self.threshold

    def add(self, node: str, weight: float, answer: str) -> int:
        key = answer_key(answer, self.prompt)
        for index, existing in enumerate(self.keys):
            if self.agree(key, existing):
                self.members[index].append((node, weight))
                return index
        self.keys.append(key)
        self.members.append([(node, weight)])
        return len(self.keys) - 1

    def weights(self) -> list[float]:
        return [sum(w for _, w in members) for members in self.members]

    def nodes(self, index: int) -> list[str]:
        return [n for n, _ in self.members[index]]


def leader_and_runner_up(weights: list[float]) -> tuple[float, float]:
    ordered = sorted(weights, reverse=True)
    leader = ordered[0] if ordered else 0.0
    runner_up = ordered[1] if len(ordered) > 1 else 0.0
    return leader, runner_up


def can_decide_early(weights: list[float], pending_weight: float) -> bool:
    """True when the votes still pending can no longer overturn (or tie) the leading cluster."""
    if not weights:
        return False
    leader, runner_up = leader_and_runner_up(weights)
    return leader > runner_up + pending_weight + EPSILON


def confidence(winning_weight: float, answered_weight: float) -> float:
    return 0.0 if answered_weight <= 0 else winning_weight / answered_weight


def pick_winner(weights: list[float], tie_breaks: list[float]) -> tuple[int | None, bool]:
    """(index of the winning cluster, tie?).  ``tie_breaks``: per cluster, higher wins a tie."""
    if not weights:
        return None, False
    top = max(weights)
    tied = [i for i, w in enumerate(weights) if abs(w - top) <= EPSILON]
    if len(tied) == 1:
        return tied[0], False
    # max() keeps the first of equal keys, i.e. the cluster that formed first
    return max(tied, key=lambda i: tie_breaks[i]), True


def decision_flags(answered: int, conf: float, tie: bool, early: bool, weak_below: float) -> list[str]:
    if answered == 0:
        return [FLAG_NONE]
    flags = []
    if answered == 1:
        flags.append(FLAG_SINGLE)
    if conf < weak_below - EPSILON:
        flags.append(FLAG_WEAK)
    if tie:
        flags.append(FLAG_TIE)
    if early:
        flags.append(FLAG_EARLY)
    return flags


# ---------------------------------------------------------------- the round


@dataclass(slots=True)
class Vote:
    node: str
    model: str
    weight: float
    deadline_s: float
    status: str = VOTE_PENDING
    answer: str = ""
    latency_ms: float | None = None
    outcome: str = ""
    error: str = ""
    cluster: int | None = None
    arrival: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "model": self.model, "weight": self.weight, "status": self.status,
                "outcome": self.outcome or None, "answer": self.answer if self.status == VOTE_ANSWERED else None,
                "cluster": self.cluster,
                "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
                "deadline_s": self.deadline_s, "error": self.error or None}


@dataclass(slots=True)
class Disagreement:
    nodes: list[str]
    attribution: str
    weight: float
    answer: str

    def line(self) -> str:
        from jarvis_tui.core.text import one_line

        return f"{self.attribution} (poids {self.weight:g}): {one_line(self.answer, 160)}"

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "attribution": self.attribution, "weight": round(self.weight, 3),
                "answer": self.answer}


@dataclass(slots=True)
class ConsensusRound:
    round_id: str
    prompt: str
    votes: list[Vote]
    verdict: str | None = None
    verdict_node: str | None = None
    verdict_model: str | None = None
    confidence: float = 0.0
    flags: list[str] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)
    winning_cluster: int | None = None
    clusters: list[dict[str, Any]] = field(default_factory=list)
    early: bool = False
    deciding_node: str | None = None
    deciding_latency_ms: float | None = None
    wall_ms: float = 0.0
    synthesis: str | None = None
    synthesis_node: str | None = None
    synthesis_model: str | None = None
    synthesis_streamed: bool = False
    stored_id: int | None = None

    @property
    def answered(self) -> list[Vote]:
        return [v for v in self.votes if v.status == VOTE_ANSWERED]

    def to_json(self) -> dict[str, Any]:
        return {
            "round_id": self.round_id,
            "verdict": self.verdict,
            "verdict_node": self.verdict_node,
            "verdict_model": self.verdict_model,
            "confidence": round(self.confidence, 3),
            "flags": list(self.flags),
            "votes": [v.to_dict() for v in self.votes],
            "clusters": self.clusters,
            "disagreements": [d.to_dict() for d in self.disagreements],
            "early_decision": self.early,
            "deciding_node": self.deciding_node,
            "deciding_latency_ms": None if self.deciding_latency_ms is None else round(self.deciding_latency_ms, 1),
            "wall_ms": round(self.wall_ms, 1),
            "synthesis": self.synthesis,
            "synthesis_node": self.synthesis_node,
            "synthesis_streamed": self.synthesis_streamed,
            "stored_id": self.stored_id,
        }


def member_rank(orchestrator: Any, vote: Vote) -> tuple[float, float]:
    """How good a member's answer is believed to be: measured quality score, then configured weight."""
    state = orchestrator.nodes.get(vote.node) if orchestrator is not None else None
    quality = state.metrics.quality_score if state is not None else None
    return (quality if quality is not None else -1.0, vote.weight)


def conclude(round_: ConsensusRound, book: ClusterBook, settings: CommanderSettings, orchestrator: Any = None) -> None:
    """Fill verdict, confidence, flags, disagreements and clusters from the votes so far."""
    answered = round_.answered
    weights = book.weights()
    by_cluster: dict[int, list[Vote]] = {}
    for vote in sorted(answered, key=lambda v: v.arrival or 0):
        by_cluster.setdefault(vote.cluster or 0, []).append(vote)
    best_member = {i: max(members, key=lambda v: member_rank(orchestrator, v)) for i, members in by_cluster.items()}
    tie_breaks = [member_rank(orchestrator, best_member[i])[0] * 100 + best_member[i].weight if i in best_member
                  else 0.0 for i in range(len(weights))]
    winner, tie = pick_winner(weights, tie_breaks)
    answered_weight = sum(v.weight for v in answered)
    round_.winning_cluster = winner
    round_.confidence = confidence(weights[winner], answered_weight) if winner is not None else 0.0
    round_.flags = decision_flags(len(answered), round_.confidence, tie, round_.early, settings.weak_confidence)
    round_.clusters = [{"index": i, "nodes": book.nodes(i), "weight": round(w, 3), "key": book.keys[i]}
                       for i, w in enumerate(weights)]
    if winner is None:
        round_.verdict = None
        round_.disagreements = []
        return
    chosen = best_member[winner]
    round_.verdict, round_.verdict_node, round_.verdict_model = chosen.answer.strip(), chosen.node, chosen.model
    round_.disagreements = []
    for index in sorted(by_cluster, key=lambda i: -weights[i]):
        if index == winner:
            continue
        members = by_cluster[index]
        shown = best_member[index]
        round_.disagreements.append(Disagreement(
            nodes=[v.node for v in members],
            attribution=", ".join(attribution(v.node, v.model) for v in members),
            weight=weights[index], answer=shown.answer.strip()))


async def run_consensus(orchestrator: Any, prompt: str, *, settings: CommanderSettings,
                        nodes: list[str] | None = None, round_id: str | None = None,
                        on_vote: Callable[[Vote], None] | None = None) -> ConsensusRound:
    """Query the consensus route in parallel and decide; publishes events as votes arrive.

    Never raises for node failures: a round where nobody answered has verdict None
    and the flag AUCUNE REPONSE.
    """
    from jarvis_tui.nodes.base import ChatMessage, NodeError, Outcome

    started = time.perf_counter()
    round_id = round_id or f"c{orchestrator.next_request_id()}"
    names = orchestrator.order_by_thermal(nodes if nodes is not None else orchestrator.route("consensus"))
    votes: list[Vote] = []
    for name in names:
        cfg = orchestrator.nodes[name].config
        votes.append(Vote(name, cfg.model, cfg.weight, settings.vote_deadline_s(name, cfg.timeout_s)))
    round_ = ConsensusRound(round_id, prompt, votes)
    bus = orchestrator.bus
    bus.publish(ConsensusStarted(round_id=round_id, prompt=prompt, nodes=tuple(names),
                                 weights=tuple(v.weight for v in votes), deadlines_s=tuple(v.deadline_s for v in votes)))
    book = ClusterBook(prompt, settings.similarity_threshold, settings.short_answer_words)
    messages = [ChatMessage("system", prompt_text("consensus")), ChatMessage("user", prompt)]
    arrivals = 0

    def cast(vote: Vote) -> None:
        bus.publish(VoteCast(round_id=round_id, node=vote.node, model=vote.model, weight=vote.weight,
                             status=vote.status, answer=vote.answer, cluster=vote.cluster,
                             latency_ms=vote.latency_ms, outcome=vote.outcome, error=vote.error))
        if on_vote is not None:
            on_vote(vote)

    async def ask_one(vote: Vote) -> Any:
        return await asyncio.wait_for(
            orchestrator.dispatch(vote.node, messages, task_type="consensus", request_id=f"{round_id}.{vote.node}"),
            vote.deadline_s)

    tasks: dict[asyncio.Task[Any], Vote] = {}
    for vote in votes:
        reason = orchestrator.skip_reason(vote.node)
        if reason is not None:
            vote.status, vote.outcome, vote.error = VOTE_FAILED, str(Outcome.SKIPPED), reason
            cast(vote)
            continue
        tasks[asyncio.create_task(ask_one(vote), name=f"vote-{round_id}-{vote.node}")] = vote

    pending = set(tasks)
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=lambda t: tasks[t].deadline_s):
                vote = tasks[task]
                vote.latency_ms = (time.perf_counter() - started) * 1000
                error = task.exception()
                if error is None:
                    result = task.result()
                    vote.status, vote.outcome = VOTE_ANSWERED, str(Outcome.OK)
                    vote.answer, vote.model = result.text, result.model or vote.model
                    vote.latency_ms = result.latency_ms
                    vote.arrival = arrivals = arrivals + 1
                    vote.cluster = book.add(vote.node, vote.weight, vote.answer)
                elif isinstance(error, TimeoutError):
                    vote.status, vote.outcome = VOTE_LATE, str(Outcome.TIMEOUT)
                    vote.error = f"no answer within its {vote.deadline_s:g}s deadline"
                elif isinstance(error, NodeError):
                    vote.status = VOTE_LATE if error.outcome == Outcome.TIMEOUT else VOTE_FAILED
                    vote.outcome, vote.error = str(error.outcome), error.message
                    vote.latency_ms = error.latency_ms if error.latency_ms is not None else vote.latency_ms
                else:
                    vote.status, vote.outcome = VOTE_FAILED, str(Outcome.BAD_RESPONSE)
                    vote.error = f"{type(error).__name__}: {error}"
                cast(vote)
            if pending and settings.early_decision and vote_can_stop(book, tasks, pending):
                round_.early = True
                break
    finally:
        if pending:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in pending:
                vote = tasks[task]
                vote.status, vote.outcome = VOTE_CANCELLED, str(Outcome.CANCELLED)
                vote.error = "cancelled: the round was already decided" if round_.early else "cancelled"
                vote.latency_ms = (time.perf_counter() - started) * 1000
                cast(vote)

    answered = round_.answered
    if answered:
        last = max(answered, key=lambda v: v.arrival or 0)
        round_.deciding_node, round_.deciding_latency_ms = last.node, last.latency_ms
    conclude(round_, book, settings, orchestrator)
    round_.wall_ms = (time.perf_counter() - started) * 1000
    bus.publish(ConsensusDecided(round_id=round_id, verdict=round_.verdict, confidence=round_.confidence,
                                 flags=tuple(round_.flags), disagreements=tuple(d.line() for d in round_.disagreements),
                                 winning_nodes=tuple(book.nodes(round_.winning_cluster))
                                 if round_.winning_cluster is not None else (),
                                 deciding_node=round_.deciding_node, early=round_.early, wall_ms=round_.wall_ms))
    return round_


def vote_can_stop(book: ClusterBook, tasks: dict[asyncio.Task[Any], Vote], pending: set[asyncio.Task[Any]]) -> bool:
    return can_decide_early(book.weights(), sum(tasks[t].weight for t in pending))
