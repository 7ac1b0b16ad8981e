"""Events the commander pipeline publishes on the orchestrator's bus.

The cockpit's consensus pane subscribes to ``ConsensusStarted``, ``VoteCast``,
``ConsensusDecided`` (and ``SynthesisStarted`` / ``SynthesisFinished``, whose
streamed text arrives as ordinary ``TokenDelta`` events with the synthesis
``request_id``).  The benchmark publishes ``BenchStarted`` / ``BenchProgress`` /
``BenchFinished``; the ask pipeline publishes ``Classified``, ``TaskUnitChanged``
and ``VerificationScored``.  Every field is plain data (str, float, tuples), so
``events.event_to_dict`` turns any of them into JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from jarvis_tui.core.events import Event

# VoteCast.status values
VOTE_PENDING = "pending"
VOTE_ANSWERED = "answered"
VOTE_LATE = "late"          # its deadline passed before it answered (or the node timed out)
VOTE_FAILED = "failed"      # error, refused, skipped (breaker / thermal / no key)
VOTE_CANCELLED = "cancelled"  # still running when the round was decided early


@dataclass(frozen=True, slots=True, kw_only=True)
class Classified(Event):
    plan_id: str
    task_type: str
    source: str  # heuristic | node
    latency_ms: float
    keyword: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskUnitChanged(Event):
    plan_id: str
    unit_id: str
    role: str  # answer | coder | reviewer
    task_type: str
    node: str  # target node (after fallback: the node that answered)
    status: str  # pending | running | done | failed | skipped
    priority: int = 0
    depends_on: tuple[str, ...] = ()
    quality_score: float | None = None
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VerificationScored(Event):
    plan_id: str
    unit_id: str
    cycle: int  # 0 = first answer, 1.. = re-dispatches
    node: str  # the node whose answer was scored
    verifier: str  # the node that scored it ("" when none could)
    ok: bool  # False: the verifier failed or did not reply with valid JSON
    score: float | None
    issues: tuple[str, ...] = ()
    recommendation: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsensusStarted(Event):
    round_id: str
    prompt: str
    nodes: tuple[str, ...]
    weights: tuple[float, ...]
    deadlines_s: tuple[float, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteCast(Event):
    round_id: str
    node: str
    model: str
    weight: float
    status: str  # answered | late | failed | cancelled
    answer: str = ""
    cluster: int | None = None  # index into the round's clusters (0 = first cluster formed)
    latency_ms: float | None = None
    outcome: str = ""  # the node outcome: ok, timeout, refused, http_error, bad_response, skipped, cancelled
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsensusDecided(Event):
    round_id: str
    verdict: str | None  # None when no node answered
    confidence: float
    flags: tuple[str, ...]  # CONSENSUS FAIBLE, SOURCE UNIQUE, EGALITE, DECISION ANTICIPEE, AUCUNE REPONSE
    disagreements: tuple[str, ...]  # one line per dissenting cluster: "[M1/qwen] (0.7) answer..."
    winning_nodes: tuple[str, ...] = ()
    deciding_node: str | None = None
    early: bool = False
    wall_ms: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SynthesisStarted(Event):
    round_id: str  # a consensus round id or an ask plan id
    node: str
    model: str
    request_id: str  # TokenDelta events with this request_id carry the streamed synthesis


@dataclass(frozen=True, slots=True, kw_only=True)
class SynthesisFinished(Event):
    round_id: str
    node: str
    model: str
    text: str
    streamed: bool  # True: the commander node wrote it; False: the best-scored answer was used
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchStarted(Event):
    run_id: str
    nodes: tuple[str, ...]
    levels: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchProgress(Event):
    run_id: str
    node: str
    level: int
    done: int  # levels finished for this node
    total: int  # levels to run for this node
    points: float
    status: str  # ok | timeout | failed
    latency_ms: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchFinished(Event):
    run_id: str
    report_path: str
    scores_pct: tuple[tuple[str, float], ...]  # (node, score %)
    error: str = ""
