"""Weights and routes proposed from a benchmark, and writing them into the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from jarvis_tui.config import ConfigError, load_config
from jarvis_tui.core.bench.apply import apply_proposal, rewrite_config_text
from jarvis_tui.core.bench.proposal import (
    Proposal,
    RouteChange,
    WeightChange,
    make_proposal,
    propose_weight,
    reorder_route,
)
from jarvis_tui.core.bench.runner import LevelResult, NodeSummary

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "cluster.example.toml"


@pytest.mark.parametrize("score, latency, timeouts, runs, weight", [
    (92, 1.3, 0, 10, 1.4),    # the user's M2
    (23, 12.0, 7, 10, 0.7),   # the user's M1: 23% with 7/10 timeouts
    (74, 75.0, 0, 10, 1.2),   # GEMINI: the user chose 1.0-1.2
    (100, 0.2, 0, 10, 1.5),
    (0, None, 10, 10, 0.4),
])
def test_weight_rule_reproduces_the_users_choices(score: float, latency: float | None, timeouts: int, runs: int,
                                                  weight: float) -> None:
    assert propose_weight(score, latency, timeouts, runs) == weight


def test_slower_and_timing_out_never_weighs_more() -> None:
    assert propose_weight(80, 90, 0, 10) <= propose_weight(80, 10, 0, 10)
    assert propose_weight(80, 10, 5, 10) <= propose_weight(80, 10, 0, 10)


def test_reorder_keeps_unbenchmarked_nodes_in_their_slots() -> None:
    route = ["M2", "GEMINI", "M3"]
    assert reorder_route(route, {"M2": 40.0, "M3": 90.0}, {"M2": 1.0, "M3": 2.0}) == ["M3", "GEMINI", "M2"]
    # within 5 points the faster node goes first
    assert reorder_route(["A", "B"], {"A": 90.0, "B": 91.0}, {"A": 5.0, "B": 1.0}) == ["B", "A"]
    assert reorder_route(["A", "B"], {}, {}) == ["A", "B"]


def _summary(node: str, points: list[tuple[int, str, float, str]]) -> NodeSummary:
    return NodeSummary(node, [LevelResult(node, lv, kind, p, status, 1000.0, "") for lv, kind, p, status in points])


def test_make_proposal_uses_the_level_kinds_that_matter_for_each_route() -> None:
    coder = _summary("M2", [(1, "code", 5, "ok"), (6, "reasoning", 1, "ok")])
    thinker = _summary("OL1", [(1, "code", 1, "ok"), (6, "reasoning", 5, "ok")])
    proposal = make_proposal({"M2": coder, "OL1": thinker}, {"M2": 1.4, "OL1": 1.3},
                             {"code": ("OL1", "M2"), "reasoning": ("M2", "OL1")})
    routes = {r.task_type: r.proposed for r in proposal.routes}
    assert routes == {"code": ["M2", "OL1"], "reasoning": ["OL1", "M2"]}
    assert {w.node: w.proposed for w in proposal.weights} == {"M2": 1.1, "OL1": 1.1}


CONFIG = """\
# my cluster
[[nodes]]
name = "M2"   # the coder
kind = "openai"
url = "http://127.0.0.1:1234"
weight = 1.4      # hand-tuned
[[nodes]]
kind = "openai"
url = "http://127.0.0.1:1236"
name = "M3"

[routing]  # routes
code = ["M2", "M3"]   # coder first
consensus = [
  "M2",
  "M3",
]
simple = ["M3"]
"""


def test_rewrite_changes_only_weight_and_route_lines_and_keeps_comments() -> None:
    text = rewrite_config_text(CONFIG, {"M2": 1.2, "M3": 0.9}, {"code": ["M3", "M2"], "consensus": ["M3", "M2"]})
    assert 'weight = 1.2      # hand-tuned' in text
    assert 'name = "M3"\nweight = 0.9\n' in text  # added after the name line of a node that had none
    assert 'code = ["M3", "M2"]   # coder first' in text
    assert 'consensus = ["M3", "M2"]\nsimple = ["M3"]' in text
    assert text.startswith("# my cluster\n[[nodes]]\nname = \"M2\"   # the coder\n")
    assert "[routing]  # routes" in text
    untouched = rewrite_config_text(CONFIG, {}, {})
    assert untouched == CONFIG


def test_apply_backs_up_and_writes_a_config_that_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(EXAMPLE.read_text())
    proposal = Proposal([WeightChange("M1", 0.7, 0.5, 20, 12.0, 7), WeightChange("M2", 1.4, 1.4, 92, 1.3, 0)],
                        [RouteChange("code", ["M2", "M3"], ["M3", "M2"])])
    backup = apply_proposal(path, proposal)
    assert backup.read_text() == EXAMPLE.read_text()
    config = load_config(str(path))
    assert config.node("M1").weight == 0.5 and config.node("M2").weight == 1.4
    assert config.routing["code"] == ("M3", "M2")
    assert "# mistral-7b: 89%, mean 2.5 s" in path.read_text()


def test_apply_restores_the_original_when_the_result_does_not_load(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(EXAMPLE.read_text())
    proposal = Proposal([], [RouteChange("code", ["M2", "M3"], ["NOPE"])])
    with pytest.raises(ConfigError, match="unknown node 'NOPE'"):
        apply_proposal(path, proposal)
    assert path.read_text() == EXAMPLE.read_text()
