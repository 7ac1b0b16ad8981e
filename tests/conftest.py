"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.loopback_node import LoopbackNode, free_port

__all__ = ["free_port"]


class LoopbackNodeFactory:
    """Starts programmable loopback nodes for one test and stops them all afterwards."""

    def __init__(self) -> None:
        self.started: list[LoopbackNode] = []

    def __call__(self, **behavior: Any) -> LoopbackNode:
        node = LoopbackNode(**behavior).start()
        self.started.append(node)
        return node

    def many(self, count: int, **behavior: Any) -> list[LoopbackNode]:
        return [self(**behavior) for _ in range(count)]

    def stop_all(self) -> None:
        for node in self.started:
            node.stop()


@pytest.fixture
def loopback_node() -> Iterator[LoopbackNodeFactory]:
    """``node = loopback_node(reply="4", tokens_per_s=50, fault=Fault.HTTP_500)``; ``.many(5, ...)`` for several."""
    factory = LoopbackNodeFactory()
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def refused_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"
