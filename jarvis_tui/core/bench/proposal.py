"""Proposed weights and routes from a benchmark report.

The user set weights by hand from score and latency: 92% -> 1.4, and 23% with
timeouts on 7 of 10 hard prompts -> 0.7.  The rule that reproduces both, and
their other calls within 0.2 (OL1 88% / 0.5 s -> 1.4 vs 1.3 chosen; GEMINI 74% /
75 s -> 1.2, inside their 1.0-1.2):

    weight = 0.5 + score                      (score as a fraction: 92% -> 1.42)
             - 0.1 x timeout share            (7/10 timeouts -> -0.07)
             - 0.05 x log2(mean latency / 30 s), only above 30 s   (75 s -> -0.066)
    rounded to 0.1, kept within 0.1 .. 2.0

Routes keep their nodes; the benchmarked ones are reordered by their score on
the levels that matter for the task type (code levels for ``code``, reasoning
for ``reasoning``, design for ``architecture``/``analysis``, all levels
otherwise), the faster first when scores are within 5 points; nodes that were
not benchmarked keep their slots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MIN_WEIGHT, MAX_WEIGHT = 0.1, 2.0
SLOW_AFTER_S = 30.0
TASK_LEVEL_KINDS = {
    "code": ("code",), "validation": ("code", "reasoning"), "reasoning": ("reasoning",), "critical": None,
    "architecture": ("design",), "analysis": ("design", "reasoning"),
}
SCORE_TIE_PCT = 5.0


def propose_weight(score_pct: float, mean_latency_s: float | None, timeouts: int, levels_run: int) -> float:
    weight = 0.5 + score_pct / 100.0
    if levels_run:
        weight -= 0.1 * (timeouts / levels_run)
    if mean_latency_s is not None and mean_latency_s > SLOW_AFTER_S:
        weight -= 0.05 * math.log2(mean_latency_s / SLOW_AFTER_S)
    weight = min(MAX_WEIGHT, max(MIN_WEIGHT, weight))
    return round(math.floor(weight * 10 + 0.5 + 1e-9) / 10, 1)


@dataclass(slots=True)
class WeightChange:
    node: str
    current: float
    proposed: float
    score_pct: float
    mean_latency_s: float | None
    timeouts: int

    @property
    def changed(self) -> bool:
        return abs(self.current - self.proposed) > 1e-9

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "current": self.current, "proposed": self.proposed, "changed": self.changed,
                "score_pct": round(self.score_pct, 1),
                "mean_latency_s": None if self.mean_latency_s is None else round(self.mean_latency_s, 2),
                "timeouts": self.timeouts}


@dataclass(slots=True)
class RouteChange:
    task_type: str
    current: list[str]
    proposed: list[str]

    @property
    def changed(self) -> bool:
        return self.current != self.proposed

    def to_dict(self) -> dict[str, Any]:
        return {"task_type": self.task_type, "current": self.current, "proposed": self.proposed,
                "changed": self.changed}


@dataclass(slots=True)
class Proposal:
    weights: list[WeightChange]
    routes: list[RouteChange]

    @property
    def has_changes(self) -> bool:
        return any(w.changed for w in self.weights) or any(r.changed for r in self.routes)

    def to_dict(self) -> dict[str, Any]:
        return {"weights": [w.to_dict() for w in self.weights], "routing": [r.to_dict() for r in self.routes]}


def reorder_route(route: list[str], score_of: dict[str, float], latency_of: dict[str, float | None]) -> list[str]:
    slots = [i for i, n in enumerate(route) if n in score_of]
    ranked = sorted((route[i] for i in slots), key=lambda n: (-round(score_of[n] / SCORE_TIE_PCT),
                                                              latency_of.get(n) or math.inf, route.index(n)))
    out = list(route)
    for slot, name in zip(slots, ranked, strict=True):
        out[slot] = name
    return out


def make_proposal(summaries: dict[str, Any], current_weights: dict[str, float],
                  routing: dict[str, tuple[str, ...]]) -> Proposal:
    """``summaries``: node -> NodeSummary (see runner)."""
    weights = []
    for node, summary in summaries.items():
        if summary.levels_run == 0:
            continue
        weights.append(WeightChange(node, current_weights.get(node, 1.0),
                                    propose_weight(summary.score_pct, summary.mean_latency_s, summary.timeouts,
                                                   summary.levels_run),
                                    summary.score_pct, summary.mean_latency_s, summary.timeouts))
    latency = {n: s.mean_latency_s for n, s in summaries.items()}
    routes = []
    for task_type, names in routing.items():
        kinds = TASK_LEVEL_KINDS.get(task_type)
        scores = {}
        for node, summary in summaries.items():
            if summary.levels_run == 0:
                continue
            pct = summary.score_pct_for(kinds)
            if pct is not None:
                scores[node] = pct
        routes.append(RouteChange(task_type, list(names), reorder_route(list(names), scores, latency)))
    return Proposal(weights, routes)
