"""Settings for the [commander] config table.

Standard library only: config.py loads this on every headless call.

    [commander]
    verify = ["code", "critical"]   # task types whose answers are scored and re-dispatched when weak
    verify_threshold = 0.7          # a verifier score below this triggers a re-dispatch
    verify_max_cycles = 2           # re-dispatches at most; the best-scored answer is kept
    decompose = true                # code -> t1 coder on the first code node + t2 reviewer on the second
    commander_node = "CLAUDE"       # an anthropic node: it writes the synthesis, streamed
    classifier_node = "OL1"         # optional: asked first, used only if it answers within the budget
    classifier_budget_ms = 200
    consensus_deadline_s = 90       # no consensus vote is waited for longer than this
    node_deadlines_s = { GEMINI = 80, M1 = 30 }   # per-node vote deadlines (default: the node's timeout_s)
    similarity_threshold = 80       # 0-100: long answers agree at token_set_ratio >= this
    short_answer_words = 8          # answers up to this many words are compared exactly after normalising
    weak_confidence = 0.6           # below it the verdict is flagged CONSENSUS FAIBLE
    early_decision = true           # decide as soon as the pending votes cannot overturn the leader
    bench_level_timeout_s = 120     # per benchmark level and node
    bench_sandbox_memory_mb = 512   # address-space limit of the process running a level's hidden tests
    bench_sandbox_timeout_s = 10    # wall-clock limit of that process
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CommanderSettings:
    verify: tuple[str, ...] = ()
    verify_threshold: float = 0.7
    verify_max_cycles: int = 2
    decompose: bool = True
    commander_node: str | None = None
    classifier_node: str | None = None
    classifier_budget_ms: float = 200.0
    consensus_deadline_s: float = 90.0
    node_deadlines_s: dict[str, float] = field(default_factory=dict)
    similarity_threshold: float = 80.0
    short_answer_words: int = 8
    weak_confidence: float = 0.6
    early_decision: bool = True
    bench_level_timeout_s: float = 120.0
    bench_sandbox_memory_mb: int = 512
    bench_sandbox_timeout_s: float = 10.0

    def verify_for(self, task_type: str) -> bool:
        return task_type in self.verify or "all" in self.verify

    def vote_deadline_s(self, node: str, node_timeout_s: float) -> float:
        """How long a consensus round waits for one node's vote."""
        return min(self.node_deadlines_s.get(node, node_timeout_s), self.consensus_deadline_s)


COMMANDER_KEYS = set(CommanderSettings.__dataclass_fields__)


def parse_commander_section(raw: dict[str, Any], ctx: Any) -> CommanderSettings:
    """Validate the [commander] table; ``ctx`` is config.SectionContext."""
    ctx.check_unknown(raw, COMMANDER_KEYS)
    d = CommanderSettings()
    verify = ctx.get(raw, "verify", (list, bool), list(d.verify))
    if isinstance(verify, bool):
        verify = ["all"] if verify else []
    if not all(isinstance(v, str) and v for v in verify):
        raise ctx.error("[commander] verify must be a list of task types, e.g. [\"code\", \"critical\"]", "verify")
    threshold = ctx.get(raw, "verify_threshold", float, d.verify_threshold)
    if not 0 < threshold <= 1:
        raise ctx.error(f"[commander] verify_threshold must be in (0, 1], got {threshold:g}", "verify_threshold")
    cycles = ctx.get(raw, "verify_max_cycles", int, d.verify_max_cycles)
    if not 0 <= cycles <= 5:
        raise ctx.error(f"[commander] verify_max_cycles must be 0..5, got {cycles}", "verify_max_cycles")
    deadlines_raw = ctx.get(raw, "node_deadlines_s", dict, {})
    deadlines: dict[str, float] = {}
    for node, value in deadlines_raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ctx.error(f"[commander] node_deadlines_s.{node} must be a number of seconds > 0, got {value!r}",
                            "node_deadlines_s")
        deadlines[str(node)] = float(value)
    similarity = ctx.get(raw, "similarity_threshold", float, d.similarity_threshold)
    if not 0 < similarity <= 100:
        raise ctx.error(f"[commander] similarity_threshold must be in (0, 100], got {similarity:g}",
                        "similarity_threshold")
    weak = ctx.get(raw, "weak_confidence", float, d.weak_confidence)
    if not 0 < weak <= 1:
        raise ctx.error(f"[commander] weak_confidence must be in (0, 1], got {weak:g}", "weak_confidence")
    short_words = ctx.get(raw, "short_answer_words", int, d.short_answer_words)
    if short_words < 1:
        raise ctx.error("[commander] short_answer_words must be >= 1", "short_answer_words")
    memory = ctx.get(raw, "bench_sandbox_memory_mb", int, d.bench_sandbox_memory_mb)
    if memory < 64:
        raise ctx.error(f"[commander] bench_sandbox_memory_mb must be >= 64, got {memory}", "bench_sandbox_memory_mb")
    commander_node = ctx.get(raw, "commander_node", str, None) or None
    classifier_node = ctx.get(raw, "classifier_node", str, None) or None
    return CommanderSettings(
        verify=tuple(verify),
        verify_threshold=threshold,
        verify_max_cycles=cycles,
        decompose=ctx.get(raw, "decompose", bool, d.decompose),
        commander_node=commander_node,
        classifier_node=classifier_node,
        classifier_budget_ms=ctx.positive(raw, "classifier_budget_ms", d.classifier_budget_ms),
        consensus_deadline_s=ctx.positive(raw, "consensus_deadline_s", d.consensus_deadline_s),
        node_deadlines_s=deadlines,
        similarity_threshold=similarity,
        short_answer_words=short_words,
        weak_confidence=weak,
        early_decision=ctx.get(raw, "early_decision", bool, d.early_decision),
        bench_level_timeout_s=ctx.positive(raw, "bench_level_timeout_s", d.bench_level_timeout_s),
        bench_sandbox_memory_mb=memory,
        bench_sandbox_timeout_s=ctx.positive(raw, "bench_sandbox_timeout_s", d.bench_sandbox_timeout_s),
    )
