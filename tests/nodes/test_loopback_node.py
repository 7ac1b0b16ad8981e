"""The loopback node itself: recording, programming, clean shutdown, and the load the benchmarks need."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest

from jarvis_tui.nodes.base import ChatMessage
from jarvis_tui.nodes.openai import OpenAIClient
from tests.fakes.loopback_node import Fault, LoopbackNode, free_port, tokenize


def test_tokenize_round_trips() -> None:
    text = "  Hello,  world!\nNew line "
    assert "".join(tokenize(text)) == text
    assert tokenize("") == [""]


def test_reply_can_depend_on_the_prompt_and_requests_are_recorded() -> None:
    with LoopbackNode(reply=lambda prompt: prompt.upper()) as node:
        response = httpx.post(f"{node.url}/v1/chat/completions", headers={"X-Probe": "1"},
                              json={"messages": [{"role": "user", "content": "shout"}], "stream": False})
        assert response.json()["choices"][0]["message"]["content"] == "SHOUT"
        recorded = node.chat_requests()[-1]
        assert recorded.headers["x-probe"] == "1" and recorded.json()["messages"][0]["content"] == "shout"


def test_stop_closes_the_port_and_ends_hung_requests() -> None:
    node = LoopbackNode(fault=Fault.HANG).start()
    port = node.port
    outcome: dict[str, object] = {}

    def hung_request() -> None:
        try:
            httpx.post(f"{node.url}/api/chat", json={"model": "m", "messages": []}, timeout=30)
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=hung_request)
    worker.start()
    deadline = time.monotonic() + 5
    while not node.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    node.stop()
    worker.join(timeout=5)
    assert not worker.is_alive() and time.monotonic() - started < 2
    assert isinstance(outcome.get("error"), httpx.RemoteProtocolError)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_refused_fault_closes_and_reopens_the_same_port() -> None:
    with LoopbackNode() as node:
        port = node.port
        node.set(fault=Fault.REFUSED)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{node.url}/v1/models")
        node.set(fault=None)
        assert node.port == port and httpx.get(f"{node.url}/v1/models").status_code == 200


def test_free_port_is_refused() -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", free_port()), timeout=1).close()


def test_unknown_behaviour_is_rejected() -> None:
    with LoopbackNode() as node, pytest.raises(TypeError, match="tokens_per_second"):
        node.set(tokens_per_second=5)


@pytest.mark.timeout(30)
async def test_sustains_five_nodes_at_200_tokens_per_second(loopback_node, node_config, http) -> None:
    """The cockpit load benchmark's setup: 5 nodes streaming 200 tokens/s at once, on time."""
    tokens = 200
    nodes = loopback_node.many(5, reply=" ".join(["tok"] * tokens), tokens_per_s=200)
    clients = [OpenAIClient(node_config("openai", n.url, timeout_s=10.0), http) for n in nodes]
    started = time.perf_counter()
    results = await asyncio.gather(*(c.chat([ChatMessage("user", "go")]) for c in clients))
    wall = time.perf_counter() - started
    assert all(r.tokens_out == tokens for r in results)
    # 200 tokens at 200/s is 199 intervals: ~1.0 s; allow for a loaded 2-core CI machine.
    assert 0.95 <= wall < 2.0, wall
    for result in results:
        assert result.tokens_per_s is not None and 150 <= result.tokens_per_s <= 230, result.tokens_per_s
