"""The fast-node steps of the voice pipeline against real loopback nodes, through the real orchestrator.

The correction step (dictionary, then ``[voice] llm_correction_node``) and the spoken summary
(``[voice] summary_node``) each ask one named node over HTTP; a slow, failing or implausible
answer leaves the dictionary text or the first sentences, within the configured timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from jarvis_tui.core.events import EventBus
from jarvis_tui.core.orchestrator import Orchestrator
from jarvis_tui.paths import prompt_text
from jarvis_tui.ui.services import CockpitServices
from jarvis_tui.voice.corrections import CorrectionTable, TranscriptCorrector
from jarvis_tui.voice.llm import node_corrector, node_summarizer, within
from jarvis_tui.voice.settings import VoiceSettings
from jarvis_tui.voice.tts import prepare_speech, summarize_for_speech
from tests.fakes.loopback_node import Fault, LoopbackNode
from tests.integration.cluster_config import make_config, node_config

HEARD = "Jervis, what is the temperature of the cheap you?"
AFTER_DICTIONARY = "Jarvis, what is the temperature of the cheap you?"
FIXED = "Jarvis, what is the temperature of the GPU?"
LONG_ANSWER = ("The cluster is healthy. " + "Node M1 answered in 120 ms with 40 tokens per second, and its GPU "
               "stayed at 61 degrees during the whole benchmark run. " * 6).strip()
SPOKEN_SUMMARY = "All nodes are healthy; M1 is the fastest at 40 tokens per second."

Cluster = Callable[..., Any]


@pytest.fixture
async def cluster(loopback_node, tmp_path: Path) -> AsyncIterator[Cluster]:  # type: ignore[no-untyped-def]
    """``orchestrator, node = await cluster(reply=..., fault=...)``: one loopback node named FAST."""
    made: list[Orchestrator] = []

    async def make(**behavior: Any) -> tuple[Orchestrator, LoopbackNode]:
        node = loopback_node(**behavior)
        config = make_config([node_config("FAST", node.url, timeout_s=20.0)], tmp_path / "j.db",
                             {"simple": ("FAST",)})
        orchestrator = Orchestrator(config)
        await orchestrator.start(open_store=False, bootstrap=False)
        made.append(orchestrator)
        return orchestrator, node

    yield make
    for orchestrator in made:
        await orchestrator.close()


@pytest.fixture(scope="module")
def table() -> CorrectionTable:
    table = CorrectionTable.load()
    assert table.apply(HEARD).text == AFTER_DICTIONARY  # what the node is expected to start from
    return table


def _messages(node: LoopbackNode) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in node.last_chat_json()["messages"]]


# ------------------------------------------------------------------ correction


async def test_the_fast_node_fixes_what_the_dictionary_left(cluster: Cluster, table: CorrectionTable) -> None:
    orchestrator, node = await cluster(reply=FIXED)
    corrector = TranscriptCorrector(table, node_corrector(orchestrator, "FAST"), VoiceSettings().llm_correction_timeout_s)

    result = await corrector.correct(HEARD)

    assert result.text == FIXED
    assert result.applied == ("jervis -> Jarvis", "llm") and not result.llm_error
    assert _messages(node) == [("system", prompt_text("voice_correction")), ("user", AFTER_DICTIONARY)]
    assert corrector.stats["llm_ok"] == 1


async def test_a_node_slower_than_the_timeout_falls_back_in_time(cluster: Cluster, table: CorrectionTable) -> None:
    timeout_s = VoiceSettings().llm_correction_timeout_s
    assert timeout_s == 2.0  # the budget is the default
    orchestrator, node = await cluster(reply=FIXED, first_token_delay_s=timeout_s + 3)
    corrector = TranscriptCorrector(table, node_corrector(orchestrator, "FAST"), timeout_s)

    started = time.perf_counter()
    result = await corrector.correct(HEARD)
    elapsed = time.perf_counter() - started

    assert timeout_s - 0.05 <= elapsed <= timeout_s + 0.3, f"took {elapsed:.2f} s"
    assert result.text == AFTER_DICTIONARY
    assert result.llm_error == "LLM correction timed out after 2 s"
    assert len(node.chat_requests()) == 1 and corrector.stats["llm_timeout"] == 1


async def test_a_node_failing_with_http_500_falls_back(cluster: Cluster, table: CorrectionTable) -> None:
    orchestrator, node = await cluster(reply=FIXED, fault=Fault.HTTP_500)
    corrector = TranscriptCorrector(table, node_corrector(orchestrator, "FAST"), 2.0)

    started = time.perf_counter()
    result = await corrector.correct(HEARD)

    assert time.perf_counter() - started < 1.0
    assert result.text == AFTER_DICTIONARY and result.applied == ("jervis -> Jarvis",)
    assert result.llm_error.startswith("LLM correction failed:") and "500" in result.llm_error
    assert len(node.chat_requests()) == 1 and corrector.stats["llm_error"] == 1


@pytest.mark.parametrize("reply", [
    "**Jarvis**, what is the temperature of the GPU?",
    "`Jarvis, what is the temperature of the GPU?`",
    "<p>Jarvis, what is the temperature of the GPU?</p>",
    ("Sure! The user most likely said: Jarvis, what is the temperature of the GPU? It is a question about "
     "the graphics card of one of the nodes in the cluster."),
    "Jarvis,\nwhat is the temperature of the GPU?",
    "OK.",
], ids=["bold", "code", "html", "far-longer", "two-lines", "far-shorter"])
async def test_an_implausible_reply_is_rejected(cluster: Cluster, table: CorrectionTable, reply: str) -> None:
    orchestrator, node = await cluster(reply=reply)
    corrector = TranscriptCorrector(table, node_corrector(orchestrator, "FAST"), 2.0)

    result = await corrector.correct(HEARD)

    assert len(node.chat_requests()) == 1  # the node answered; its answer was turned down
    assert result.text == AFTER_DICTIONARY
    assert result.llm_error == "LLM correction ignored: the reply was not a correction"


async def test_an_unknown_node_falls_back_without_a_request(cluster: Cluster, table: CorrectionTable) -> None:
    orchestrator, node = await cluster(reply=FIXED)
    result = await TranscriptCorrector(table, node_corrector(orchestrator, "M9"), 2.0).correct(HEARD)
    assert result.text == AFTER_DICTIONARY
    assert result.llm_error == "LLM correction failed: node 'M9' is not configured"
    assert node.chat_requests() == []


# ------------------------------------------------------------------ spoken summary


async def test_the_summariser_speaks_for_a_long_answer(cluster: Cluster) -> None:
    orchestrator, node = await cluster(reply=SPOKEN_SUMMARY)
    limit = VoiceSettings().summarize_over_chars
    assert len(LONG_ANSWER) > limit

    spoken = await prepare_speech(LONG_ANSWER, limit, node_summarizer(orchestrator, "FAST"), 3.0)

    assert spoken == SPOKEN_SUMMARY
    system, user = _messages(node)
    assert system == ("system", prompt_text("speech_summary").format(max_chars=limit)) and f"{limit}" in system[1]
    assert user == ("user", LONG_ANSWER)


async def test_the_summariser_is_skipped_for_a_short_answer(cluster: Cluster) -> None:
    orchestrator, node = await cluster(reply=SPOKEN_SUMMARY)
    short = "The cluster is healthy."
    assert await prepare_speech(short, 300, node_summarizer(orchestrator, "FAST"), 3.0) == short
    assert node.chat_requests() == []


@pytest.mark.parametrize("behavior", [{"fault": Fault.HTTP_500}, {"first_token_delay_s": 4.0}],
                         ids=["http-500", "slow"])
async def test_a_failing_or_slow_summariser_falls_back_to_the_first_sentences(cluster: Cluster,
                                                                              behavior: dict[str, Any]) -> None:
    orchestrator, node = await cluster(reply=SPOKEN_SUMMARY, **behavior)
    started = time.perf_counter()
    spoken = await prepare_speech(LONG_ANSWER, 300, node_summarizer(orchestrator, "FAST"), 0.8)
    assert time.perf_counter() - started <= 0.8 + 0.3
    assert spoken == summarize_for_speech(LONG_ANSWER, 300) != SPOKEN_SUMMARY
    assert len(node.chat_requests()) == 1


# ------------------------------------------------------------------ the cockpit wires them


async def test_the_cockpit_wires_the_nodes_the_voice_settings_name(cluster: Cluster) -> None:
    orchestrator, node = await cluster(reply=FIXED)
    # No such microphone: voice reports itself unavailable, the pipeline's steps are still built.
    orchestrator.config.sections["voice"] = VoiceSettings(llm_correction_node="FAST", summary_node="FAST",
                                                          input_device="no such microphone")
    services = CockpitServices(orchestrator.config, EventBus())
    await services.start_voice(orchestrator)
    try:
        assert services.voice.corrector is not None
        assert (await services.voice.corrector.correct(HEARD)).text == FIXED
        assert _messages(node)[0] == ("system", prompt_text("voice_correction"))
        node.set(reply=SPOKEN_SUMMARY)
        assert await prepare_speech(LONG_ANSWER, 300, services.voice.summarizer, 3.0) == SPOKEN_SUMMARY
    finally:
        await services.voice.aclose()


async def test_the_cockpit_asks_no_node_when_the_settings_name_none(cluster: Cluster) -> None:
    orchestrator, node = await cluster(reply=FIXED)
    orchestrator.config.sections["voice"] = VoiceSettings(input_device="no such microphone")
    services = CockpitServices(orchestrator.config, EventBus())
    await services.start_voice(orchestrator)
    try:
        assert services.voice.summarizer is None
        assert (await services.voice.corrector.correct(HEARD)).text == AFTER_DICTIONARY
        assert node.chat_requests() == []
    finally:
        await services.voice.aclose()


async def test_the_timeout_does_not_wait_for_a_slow_cancellation() -> None:
    """A request that takes a second to unwind (a connection closing slowly) still ends the wait on time."""
    unwound = asyncio.Event()

    async def stubborn() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(1.0)
            unwound.set()
            raise
        return "never"

    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        await within(stubborn(), 0.2)
    assert time.perf_counter() - started < 0.5 and not unwound.is_set()
    await asyncio.wait_for(unwound.wait(), 3)  # the abandoned request still unwinds, in the background
