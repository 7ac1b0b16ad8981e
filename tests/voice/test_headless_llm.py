"""``--voice-test`` runs the cockpit's whole correction step: the dictionary, then the fast node.

Real loopback LLM nodes over HTTP, the real orchestrator and node client, real tiny.en on espeak-ng
speech.  The node is asked with the dictionary's text, its reply is what gets matched, and a slow,
failing or unknown node leaves the dictionary text within ``[voice] llm_correction_timeout_s``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from jarvis_tui.paths import PROJECT_DIR, prompt_text
from jarvis_tui.voice.headless import EXIT_OK, run_voice_test
from jarvis_tui.voice.settings import VoiceSettings
from tests.fakes.loopback_node import Fault, LoopbackNode
from tests.integration.cluster_config import make_config, node_config, write_toml

from .conftest import GPU_QUESTION

pytestmark = pytest.mark.slow

# A dictionary entry that changes the transcript, so the test can see which text the node was given.
FIXES = '[anywhere]\n"temperature" = "temperatures"\n'
AFTER_DICTIONARY = "Jarvis, what is the temperatures of the GPU?"
NODE_FIX = "Jarvis, show me the open positions."  # plausible as a correction, and a different command
# Modules a voice test has no use for, with or without a node to ask (httpx's CLI module pulls in rich and click).
UNUSED = ("textual", "ccxt", "sounddevice", "pyttsx3", "anthropic", "pynvml", "rich", "click", "httpx._main",
          "jarvis_tui.ui.app")
CORE = ("httpx", "jarvis_tui.core.orchestrator")


def voice_test_cli(args: list[str], tmp_path: Path, watched: tuple[str, ...]) -> tuple[dict[str, Any], list[str]]:
    """``jarvis ARGS --json`` through ``jarvis_tui.cli.main`` in a fresh interpreter: (its JSON, the
    ``watched`` modules it imported)."""
    probe = textwrap.dedent(f"""\
        import sys
        from jarvis_tui.cli import main
        code = main({[*args, "--json"]!r})
        sys.stderr.write("LOADED=" + ",".join(m for m in {watched!r} if m in sys.modules) + "\\n")
        raise SystemExit(code)
        """)
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(PROJECT_DIR), HOME=str(tmp_path),
               XDG_DATA_HOME=str(tmp_path / "data"), XDG_STATE_HOME=str(tmp_path / "state"))
    env.pop("XDG_CONFIG_HOME", None)
    env.pop("JARVIS_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=PROJECT_DIR, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == EXIT_OK, done.stderr
    loaded = [line for line in done.stderr.splitlines() if line.startswith("LOADED=")]
    assert loaded, done.stderr
    return json.loads(done.stdout), [m for m in loaded[-1].removeprefix("LOADED=").split(",") if m]


def write_config(tmp_path: Path, url: str | None, voice: str) -> Path:
    nodes = [{"name": "FAST", "kind": "openai", "url": url, "model": "loopback-model"}] if url else []
    (tmp_path / "fixes.toml").write_text(FIXES)
    extra = f'\n[voice]\ncorrections_path = "{tmp_path / "fixes.toml"}"\n{voice}'
    return write_toml(tmp_path / "config.toml", nodes, db_path=tmp_path / "j.db", extra=extra)


def user_text(node: LoopbackNode) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in node.last_chat_json()["messages"]]


def test_the_fast_node_corrects_the_dictionary_text_and_its_reply_is_matched(
        loopback_node, gpu_question_wav: Path, tmp_path: Path) -> None:
    node = loopback_node(reply=NODE_FIX)
    config = write_config(tmp_path, node.url, 'llm_correction_node = "FAST"\n')

    result, loaded = voice_test_cli(["--config", str(config), "--voice-test", str(gpu_question_wav)], tmp_path,
                                    UNUSED)

    assert result["transcript"] == GPU_QUESTION
    # dictionary first, then the node, given the dictionary's text with the shipped prompt
    assert user_text(node) == [("system", prompt_text("voice_correction")), ("user", AFTER_DICTIONARY)]
    assert result["corrected"] == NODE_FIX
    assert result["corrections"] == ["temperature -> temperatures", "llm"]
    llm = result["llm_correction"]
    assert (llm["node"], llm["status"], llm["reason"], llm["timeout_s"]) == ("FAST", "ran", "", 2.0)
    assert 0 < llm["s"] < 2.0 and llm["s"] == round(result["timings"]["llm_s"], 3)
    assert result["timings"]["llm_s"] <= result["timings"]["correct_s"]
    # matching runs on the node's text: the question about the GPU became "show me the open positions"
    assert result["command"]["action"] == "show_positions"
    assert len(node.chat_requests()) == 1
    assert loaded == []  # a voice test needs no UI, no audio device, no exchange, no rich


def test_without_a_correction_node_the_step_is_skipped_and_the_core_never_loads(
        gpu_question_wav: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, None, "")

    result, loaded = voice_test_cli(["--config", str(config), "--voice-test", str(gpu_question_wav)], tmp_path,
                                    UNUSED + CORE)

    assert result["corrected"] == AFTER_DICTIONARY and result["corrections"] == ["temperature -> temperatures"]
    assert result["llm_correction"] == {"node": None, "status": "skipped", "s": 0.0, "timeout_s": 2.0,
                                        "reason": "no [voice] llm_correction_node"}
    assert result["timings"]["llm_s"] == 0.0
    assert result["command"]["action"] == "read_gpu_temps"
    assert loaded == []


def voice_config(node: LoopbackNode | None, tmp_path: Path, **voice: Any) -> Any:
    nodes = [node_config("FAST", node.url, timeout_s=20.0)] if node else []
    config = make_config(nodes, tmp_path / "j.db")
    (tmp_path / "fixes.toml").write_text(FIXES)
    config.sections["voice"] = VoiceSettings(corrections_path=str(tmp_path / "fixes.toml"), **voice)
    return config


def test_a_node_slower_than_the_timeout_falls_back_to_the_dictionary_text_in_time(
        loopback_node, gpu_question_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node = loopback_node(reply=NODE_FIX, first_token_delay_s=6.0)
    config = voice_config(node, tmp_path, llm_correction_node="FAST")
    assert config.section("voice").llm_correction_timeout_s == 2.0  # the budget is the default

    assert run_voice_test(str(gpu_question_wav), True, config) == EXIT_OK
    result = json.loads(capsys.readouterr().out)

    llm = result["llm_correction"]
    assert (llm["status"], llm["reason"]) == ("fell_back", "LLM correction timed out after 2 s")
    assert 1.95 <= llm["s"] <= 2.3, llm
    assert result["timings"]["correct_s"] <= 2.35  # the slow node never holds the pipeline past the timeout
    assert result["corrected"] == AFTER_DICTIONARY and "llm" not in result["corrections"]
    assert result["command"]["action"] == "read_gpu_temps"
    assert len(node.chat_requests()) == 1


def test_a_failing_node_falls_back_and_the_text_output_says_so(
        loopback_node, gpu_question_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node = loopback_node(reply=NODE_FIX, fault=Fault.HTTP_500)
    config = voice_config(node, tmp_path, llm_correction_node="FAST")

    assert run_voice_test(str(gpu_question_wav), False, config) == EXIT_OK
    out = capsys.readouterr().out

    assert f"corrected:  {AFTER_DICTIONARY}  (temperature -> temperatures)\n" in out
    llm_line = next(line for line in out.splitlines() if line.startswith("llm: "))
    assert llm_line.startswith("llm:        node FAST: LLM correction failed: ") and "500" in llm_line
    assert llm_line.endswith("; the dictionary text stands")
    assert "command:    read_gpu_temps  score " in out
    assert "(llm " in next(line for line in out.splitlines() if line.startswith("timings: "))
    assert len(node.chat_requests()) == 1


@pytest.mark.parametrize(("config_of", "status", "reason", "corrected"), [
    # named but not in the config: the cockpit's corrector fails the same way, without a request
    (lambda node, tmp: voice_config(node, tmp, llm_correction_node="M9"), "fell_back",
     "LLM correction failed: node 'M9' is not configured", AFTER_DICTIONARY),
    # settings alone (no cluster config): nothing to ask
    (lambda node, tmp: VoiceSettings(llm_correction_node="FAST"), "skipped", "no config with nodes to reach node FAST",
     GPU_QUESTION),
], ids=["unknown-node", "no-cluster-config"])
def test_a_node_it_cannot_ask_leaves_the_dictionary_text(loopback_node, gpu_question_wav: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str], config_of: Any,
                                                         status: str, reason: str, corrected: str) -> None:
    node = loopback_node(reply=NODE_FIX)

    assert run_voice_test(str(gpu_question_wav), True, config_of(node, tmp_path)) == EXIT_OK
    result = json.loads(capsys.readouterr().out)

    assert (result["llm_correction"]["status"], result["llm_correction"]["reason"]) == (status, reason)
    assert result["corrected"] == corrected
    assert result["command"]["action"] == "read_gpu_temps"
    assert node.chat_requests() == []


def test_the_node_reply_is_printed_without_terminal_escapes(loopback_node, gpu_question_wav: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    node = loopback_node(reply="Jarvis, what is the\x07 temperature\x1bc of the GPU?")
    config = voice_config(node, tmp_path, llm_correction_node="FAST")

    assert run_voice_test(str(gpu_question_wav), False, config) == EXIT_OK
    out = capsys.readouterr().out

    assert "\x1b" not in out and "\x07" not in out
    corrected = next(line for line in out.splitlines() if line.startswith("corrected: "))
    assert corrected.endswith("(temperature -> temperatures; llm)") and "temperature" in corrected
