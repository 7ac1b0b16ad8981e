"""Helpers for the node-client tests: configs with small deadlines and the shared pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from jarvis_tui.config import NodeConfig
from jarvis_tui.nodes.http import close_shared_http_client, shared_http_client

NODE_TEST_TIMEOUT_S = 20


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test here is bounded: a hang in a client fails the test instead of blocking the run."""
    for item in items:
        if "tests/nodes/" in item.nodeid and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(NODE_TEST_TIMEOUT_S))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    client = shared_http_client()
    try:
        yield client
    finally:
        await close_shared_http_client()


@pytest.fixture
def node_config() -> Callable[..., NodeConfig]:
    def build(kind: str, url: str, **overrides: Any) -> NodeConfig:
        values: dict[str, Any] = {"name": f"T-{kind}", "kind": kind, "url": url, "model": "loopback-model",
                                  "timeout_s": 5.0, "connect_timeout_s": 1.0, "first_token_timeout_s": 2.0}
        values.update(overrides)
        return NodeConfig(**values)

    return build
