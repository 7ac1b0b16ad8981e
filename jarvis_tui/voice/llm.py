"""The fast-node steps of the voice pipeline: transcript correction and spoken summaries.

Both ask one named node (``[voice] llm_correction_node`` / ``summary_node``)
through ``Orchestrator.dispatch``: no routing and no fallback to another node,
since a late answer is worth less than none here.  The system prompts ship in
``data/prompts/voice_correction.md`` and ``data/prompts/speech_summary.md``.

The callers own the time limit (``TranscriptCorrector`` and ``prepare_speech``)
and use ``within``: it stops waiting at the deadline even when the request
takes a while to unwind after its cancellation, so a slow node never holds the
pipeline past the timeout.  Any failure leaves the dictionary result, or the
first sentences of the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from jarvis_tui.paths import prompt_text

if TYPE_CHECKING:
    from jarvis_tui.voice.settings import VoiceSettings

T = TypeVar("T")


class NodeStepUnavailable(Exception):
    """The named node cannot be asked now (not configured, cooling down, too hot); one line."""


async def within(awaitable: Awaitable[T], timeout_s: float) -> T:
    """``awaitable``'s result, or ``TimeoutError`` after ``timeout_s`` at the latest.

    Unlike ``asyncio.wait_for`` it does not wait for the cancelled work to
    finish unwinding: the cancellation completes in the background.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        done, _pending = await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise TimeoutError
    return task.result()


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # a late failure of abandoned work is expected; do not log it as unretrieved


async def ask_node(orchestrator: Any, node: str, prompt_name: str, text: str, *, task_type: str,
                   **prompt_fields: Any) -> str:
    """One request to ``node``: the shipped system prompt ``prompt_name``, then ``text``.  Raises on failure."""
    from jarvis_tui.nodes.base import ChatMessage

    if node not in orchestrator.nodes:
        raise NodeStepUnavailable(f"node '{node}' is not configured")
    reason = orchestrator.skip_reason(node)
    if reason is not None:
        raise NodeStepUnavailable(f"node {node} skipped: {reason}")
    system = prompt_text(prompt_name).format(**prompt_fields)
    result = await orchestrator.dispatch(node, [ChatMessage("system", system), ChatMessage("user", text)],
                                         task_type=task_type)
    return str(result.text)


def node_corrector(orchestrator: Any, node: str) -> Callable[[str], Awaitable[str]]:
    """An ``LlmCorrector`` that asks ``node`` to fix a transcript."""
    async def correct(text: str) -> str:
        return await ask_node(orchestrator, node, "voice_correction", text, task_type="voice_correction")
    return correct


def node_summarizer(orchestrator: Any, node: str) -> Callable[[str, int], Awaitable[str]]:
    """A ``Summarizer`` that asks ``node`` for a spoken summary of at most ``max_chars``."""
    async def summarize(text: str, max_chars: int) -> str:
        return await ask_node(orchestrator, node, "speech_summary", text, task_type="voice_summary",
                              max_chars=max_chars)
    return summarize


def node_steps(orchestrator: Any, settings: VoiceSettings) -> dict[str, Any]:
    """``VoiceService`` keyword arguments for the nodes the settings name (none named: empty)."""
    steps: dict[str, Any] = {}
    if settings.llm_correction_node:
        steps["llm_corrector"] = node_corrector(orchestrator, settings.llm_correction_node)
    if settings.summary_node:
        steps["summarizer"] = node_summarizer(orchestrator, settings.summary_node)
    return steps
