"""A started orchestrator over loopback nodes, for the commander integration tests and benchmarks.

USER_PROFILE is the user's measured cluster (weights; latencies 0.5, 1.3, 2.5, 12
and 75 s) scaled by 0.1, as the issue asks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from jarvis_tui.config import NodeConfig
from jarvis_tui.core.commander_settings import CommanderSettings
from jarvis_tui.core.orchestrator import Orchestrator
from tests.integration.cluster_config import make_config, node_config

SCALE = 0.1
# name, weight, measured mean latency (s)
USER_PROFILE = [("OL1", 1.3, 0.5), ("M2", 1.4, 1.3), ("M3", 1.0, 2.5), ("M1", 0.7, 12.0), ("GEMINI", 1.1, 75.0)]
CONSENSUS_ROUTE = ("M2", "OL1", "M3", "M1", "GEMINI")  # the user's consensus route


@asynccontextmanager
async def cluster(nodes: list[tuple[str, Any, dict[str, Any]]], tmp_path: Path,
                  routing: dict[str, tuple[str, ...]] | None = None, settings: CommanderSettings | None = None,
                  client_factory: Any = None, failures: int = 3) -> AsyncIterator[Orchestrator]:
    """``nodes``: (name, LoopbackNode, NodeConfig overrides).  Yields a started orchestrator with a real store."""
    configs: list[NodeConfig] = []
    for name, server, given in nodes:
        overrides = dict(given)
        url = overrides.pop("url", None) or server.url
        configs.append(node_config(name, url, **overrides))
    config = make_config(configs, tmp_path / "jarvis.db", routing or {}, failures=failures)
    if settings is not None:
        config = dataclasses.replace(config, sections={**config.sections, "commander": settings})
    orchestrator = Orchestrator(config, client_factory=client_factory)
    await orchestrator.start(bootstrap=False)
    try:
        yield orchestrator
    finally:
        await orchestrator.close()


def profile_nodes(loopback_node: Any, replies: dict[str, Any], scale: float = SCALE,
                  timeout_s: float = 20.0) -> list[tuple[str, Any, dict[str, Any]]]:
    """The user's five nodes as loopback servers answering after their scaled latency."""
    out = []
    for name, weight, latency in USER_PROFILE:
        server = loopback_node(reply=replies.get(name, "ANSWER: 4"), model=f"{name.lower()}-model",
                               first_token_delay_s=latency * scale)
        out.append((name, server, {"weight": weight, "timeout_s": timeout_s, "model": f"{name.lower()}-model"}))
    return out
