"""Every fault, on every protocol the loopback node speaks, ends in the right NodeError and never a hang.

The same matrix runs over openai, ollama, lmstudio and gemini (the OpenAI-compatible
path of Google's endpoint), with deadlines small enough that a hang would show.
"""

from __future__ import annotations

import time

import pytest

from jarvis_tui.nodes.base import ChatMessage, NodeError, Outcome
from jarvis_tui.nodes.factory import make_client
from tests.fakes.loopback_node import Fault

pytestmark = pytest.mark.timeout(15)

KINDS = ("openai", "ollama", "lmstudio", "gemini")
FIRST_TOKEN_S = 0.4
TOTAL_S = 1.0
SECRET = "sk-loopback-SECRET-4242"


def url_for(kind: str, node_url: str) -> str:
    return f"{node_url}/v1beta/openai" if kind == "gemini" else node_url


@pytest.fixture
def client_for(node_config, http, monkeypatch):
    monkeypatch.setenv("JARVIS_TEST_KEY", SECRET)

    def build(kind: str, node_url: str, **overrides):
        settings = {"api_key_env": "JARVIS_TEST_KEY", "timeout_s": TOTAL_S, "first_token_timeout_s": FIRST_TOKEN_S,
                    "connect_timeout_s": 0.5, **overrides}
        cfg = node_config(kind, url_for(kind, node_url), **settings)
        return make_client(cfg, http)

    return build


EXPECTED = {
    Fault.REFUSED: (Outcome.REFUSED, None),
    Fault.HANG: (Outcome.TIMEOUT, None),
    Fault.HTTP_500: (Outcome.HTTP_ERROR, 500),
    Fault.HTTP_429: (Outcome.HTTP_ERROR, 429),
    Fault.UNAUTHORIZED: (Outcome.HTTP_ERROR, 401),
    Fault.MALFORMED_JSON: (Outcome.BAD_RESPONSE, None),
    Fault.CUT_STREAM: (Outcome.BAD_RESPONSE, None),
    Fault.ENDLESS_STREAM: (Outcome.TIMEOUT, None),
}


@pytest.mark.parametrize("fault", list(Fault), ids=str)
@pytest.mark.parametrize("kind", KINDS)
async def test_chat_fault_becomes_classified_node_error(kind, fault, loopback_node, client_for) -> None:
    node = loopback_node(fault=fault, tokens_per_s=50, retry_after_s=7)
    client = client_for(kind, node.url)
    deltas: list[str] = []
    started = time.perf_counter()
    with pytest.raises(NodeError) as caught:
        await client.chat([ChatMessage("user", "ping")], on_delta=deltas.append)
    elapsed = time.perf_counter() - started
    outcome, status = EXPECTED[fault]
    error = caught.value
    assert error.outcome is outcome, error.message
    assert error.status == status
    assert elapsed < TOTAL_S + 0.5, f"{fault} took {elapsed:.2f}s"
    assert SECRET not in error.message and SECRET not in repr(error)
    if fault is Fault.HTTP_429:
        assert error.retry_after_s == 7 and "retry after 7s" in error.message
    if fault is Fault.HANG:
        assert "first token" in error.message and elapsed >= FIRST_TOKEN_S
    if fault is Fault.ENDLESS_STREAM:
        assert "total" in error.message and deltas, "tokens flowed before the total deadline"
        assert elapsed >= TOTAL_S
    if fault is Fault.CUT_STREAM:
        assert "".join(deltas) == "Hello from"  # what arrived before the cut was streamed, then the error


@pytest.mark.parametrize("fault", [Fault.REFUSED, Fault.HANG, Fault.HTTP_500, Fault.HTTP_429,
                                   Fault.MALFORMED_JSON], ids=str)
@pytest.mark.parametrize("kind", KINDS)
async def test_health_fault_is_reported_not_raised(kind, fault, loopback_node, client_for) -> None:
    node = loopback_node(fault=fault, fault_on_models=True)
    client = client_for(kind, node.url)
    started = time.perf_counter()
    health = await client.health(timeout_s=0.6)
    assert time.perf_counter() - started < 1.5
    assert not health.ok and health.error
    expected = {Fault.REFUSED: Outcome.REFUSED, Fault.HANG: Outcome.TIMEOUT, Fault.HTTP_500: Outcome.HTTP_ERROR,
                Fault.HTTP_429: Outcome.HTTP_ERROR, Fault.MALFORMED_JSON: Outcome.BAD_RESPONSE}[fault]
    assert health.outcome is expected, health.error
    assert SECRET not in health.error


@pytest.mark.parametrize("kind", KINDS)
async def test_models_raises_node_error_on_fault(kind, loopback_node, client_for) -> None:
    node = loopback_node(fault=Fault.HTTP_500, fault_on_models=True)
    with pytest.raises(NodeError) as caught:
        await client_for(kind, node.url).models()
    assert caught.value.outcome is Outcome.HTTP_ERROR and caught.value.status == 500


@pytest.mark.parametrize("kind", KINDS)
async def test_fault_that_clears_lets_the_next_call_succeed(kind, loopback_node, client_for) -> None:
    node = loopback_node(fault=Fault.HTTP_500, fault_times=1, reply="recovered")
    client = client_for(kind, node.url)
    with pytest.raises(NodeError):
        await client.chat([ChatMessage("user", "one")])
    result = await client.chat([ChatMessage("user", "two")])
    assert result.text == "recovered"


@pytest.mark.parametrize("kind", KINDS)
async def test_node_that_goes_down_and_comes_back(kind, loopback_node, client_for) -> None:
    node = loopback_node(reply="up")
    client = client_for(kind, node.url)
    assert (await client.chat([ChatMessage("user", "a")])).text == "up"
    node.set(fault=Fault.REFUSED)
    with pytest.raises(NodeError) as caught:
        await client.chat([ChatMessage("user", "b")])
    assert caught.value.outcome is Outcome.REFUSED
    node.set(fault=None)
    assert (await client.chat([ChatMessage("user", "c")])).text == "up"


@pytest.mark.parametrize("kind", KINDS)
async def test_first_token_deadline_is_separate_from_total(kind, loopback_node, client_for) -> None:
    # Slow to start but within the first-token deadline: fine, and TTFT shows the wait.
    node = loopback_node(first_token_delay_s=0.25)
    result = await client_for(kind, node.url).chat([ChatMessage("user", "x")])
    assert result.ttft_ms is not None and result.ttft_ms >= 250
    # Slower to start than the first-token deadline, though well within the total: timeout, first token.
    node.set(first_token_delay_s=0.8)
    client = client_for(kind, node.url, timeout_s=5.0)
    started = time.perf_counter()
    with pytest.raises(NodeError) as caught:
        await client.chat([ChatMessage("user", "x")])
    assert caught.value.outcome is Outcome.TIMEOUT and "first token" in caught.value.message
    assert time.perf_counter() - started < 0.8
    # Quick first token, then a stream that outlasts the total deadline: timeout, total.
    node.set(first_token_delay_s=0.0, tokens_per_s=5, reply=" ".join(["word"] * 40))
    with pytest.raises(NodeError) as caught:
        await client_for(kind, node.url).chat([ChatMessage("user", "x")])
    assert caught.value.outcome is Outcome.TIMEOUT and "total" in caught.value.message
