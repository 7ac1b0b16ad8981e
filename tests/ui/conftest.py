"""Cockpit fixtures: a config over real loopback nodes, and a running app under Pilot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jarvis_tui.config import Config, HealthConfig, NodeConfig, StoreConfig
from jarvis_tui.trading.settings import TradingSettings

# Deterministic answers: the loopback nodes stream these word by word.
NODE_SPECS = (
    ("M2", "openai", "deepseek-coder-v2-lite", 1.4),
    ("OL1", "ollama", "qwen3:1.7b", 1.3),
    ("M3", "openai", "mistral-7b-instruct", 1.0),
    ("M1", "lmstudio", "qwen3-30b-a3b", 0.7),
    ("GEMINI", "openai", "gemini-2.5-flash", 1.1),
)


def make_config(nodes: list[tuple[str, str, str, float, str]], db_path: Path | str, *,
                routing: dict[str, tuple[str, ...]] | None = None, sections: dict[str, Any] | None = None,
                health_interval_s: float = 3600.0) -> Config:
    node_configs = tuple(NodeConfig(name=name, kind=kind, url=url, model=model, weight=weight, timeout_s=10.0,
                                    connect_timeout_s=1.0)
                         for name, kind, model, weight, url in nodes)
    names = tuple(n.name for n in node_configs)
    return Config(path=None, nodes=node_configs, routing=routing or {"default": names},
                  store=StoreConfig(Path(db_path)), health=HealthConfig(interval_s=health_interval_s, timeout_s=2.0),
                  sections=sections or {})


@pytest.fixture
def cluster(loopback_node: Any, tmp_path: Path) -> Callable[..., tuple[Config, list[Any]]]:
    """``config, nodes = cluster(count=5, reply=..., tokens_per_s=...)``: loopback nodes behind a real config."""

    def build(count: int = 5, db_path: Path | str | None = None, **behavior: Any) -> tuple[Config, list[Any]]:
        started = []
        specs = []
        for name, kind, model, weight in NODE_SPECS[:count]:
            node = loopback_node(model=model, **behavior)
            started.append(node)
            specs.append((name, kind, model, weight, node.url))
        return make_config(specs, db_path or tmp_path / "jarvis.db"), started

    return build


@pytest.fixture
def paper_trading(tmp_path: Path, refused_url: str) -> TradingSettings:
    """Paper trading settings whose exchange refuses connections: prices come only from the test."""
    return TradingSettings(exchange_base_url=refused_url, markets_cache_dir=tmp_path / "markets",
                           price_source="poll", poll_s=3600.0, scan_interval_s=3600.0)
