"""Fixtures shared by every test package."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
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


@pytest.fixture(autouse=True)
def gc_unfrozen_after_each_test() -> Iterator[None]:
    """The cockpit freezes its start-up heap (``gc.freeze``) and unfreezes on shutdown; an app that crashed
    before its shutdown would leave every later test's objects out of the collector for the rest of the run
    (pyttsx3, for one, caches its engine in a weak dict that only collection empties)."""
    yield
    gc.unfreeze()


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail the test that leaves a non-daemon thread running.

    Python joins every non-daemon thread at exit, so one unclosed aiosqlite connection (its worker thread is
    not a daemon) keeps the whole pytest process alive after the summary: CI then waits until its own
    timeout.  Catching it here names the test that leaked it.
    """
    before = set(threading.enumerate())
    yield
    leaked = _non_daemon_threads_after(3.0, exclude=before)
    if leaked:
        names = ", ".join(f"{thread.name} ({getattr(thread, '_target', None)!r})" for thread in leaked)
        pytest.fail(f"non-daemon threads still running after the test: {names}", pytrace=False)


def _non_daemon_threads_after(grace_s: float, exclude: set[threading.Thread]) -> list[threading.Thread]:
    """The non-daemon threads (besides ``exclude``) still alive once ``grace_s`` has let closing ones finish."""
    deadline = time.monotonic() + grace_s
    while True:
        alive = [thread for thread in threading.enumerate()
                 if thread not in exclude and thread.is_alive() and not thread.daemon]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Last resort after the summary: never let a leaked non-daemon thread hold CI until its timeout."""
    leaked = _non_daemon_threads_after(5.0, exclude={threading.main_thread()})
    if not leaked:
        return
    sys.stderr.write("pytest: non-daemon threads still running at exit: "
                     + ", ".join(thread.name for thread in leaked) + "\n")
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(1)
