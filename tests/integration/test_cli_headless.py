"""The real `jarvis` CLI in a subprocess, against loopback nodes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.loopback_node import Fault
from tests.integration.cluster_config import write_toml

SECRET = "sk-test-5b7f0c1d9e8a"


def run_cli(args: list[str], env_home: Path, *, stdin: str | None = None,
            extra_env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JARVIS_", "XDG_"))}
    env.update({"XDG_CONFIG_HOME": str(env_home / "config"), "XDG_DATA_HOME": str(env_home / "data"),
                "XDG_CACHE_HOME": str(env_home / "cache"), "XDG_STATE_HOME": str(env_home / "state")})
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "jarvis_tui", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.fixture
def two_nodes(loopback_node, tmp_path: Path):  # type: ignore[no-untyped-def]
    first = loopback_node(reply="The answer is 4.", model="alpha")
    second = loopback_node(reply="Four.", model="beta")
    config = write_toml(tmp_path / "c.toml", [
        {"name": "A", "kind": "openai", "url": first.url, "model": "alpha", "timeout_s": 5},
        {"name": "B", "kind": "ollama", "url": second.url, "model": "beta", "timeout_s": 5},
    ], {"simple": ["A", "B"]}, tmp_path / "j.db")
    return first, second, config


def test_once_prints_the_answer_and_its_source(two_nodes, tmp_path: Path) -> None:
    _, _, config = two_nodes
    done = run_cli(["--config", str(config), "--once", "What is 2+2?"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "The answer is 4.\n[A/alpha]\n"


def test_once_json_has_the_documented_fields_and_every_attempt(two_nodes, tmp_path: Path) -> None:
    first, _, config = two_nodes
    first.set(fault=Fault.HTTP_500)
    done = run_cli(["--config", str(config), "--once", "What is 2+2?", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for key in ("answer", "node", "model", "task_type", "latency_ms", "ttft_ms", "tokens_out", "attempts"):
        assert key in result
    assert result["answer"] == "Four." and result["node"] == "B" and result["model"] == "beta"
    assert [(a["node"], a["outcome"]) for a in result["attempts"]] == [("A", "http_error"), ("B", "ok")]
    assert result["attempts"][0]["error"] == "HTTP 500"
    assert set(result["attempts"][0]) >= {"node", "outcome", "latency_ms", "error"}


def test_prompt_from_stdin_and_forced_node(two_nodes, tmp_path: Path) -> None:
    _, second, config = two_nodes
    done = run_cli(["--config", str(config), "--once", "-", "--node", "B"], tmp_path, stdin="from stdin\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Four.\n[B/beta]\n"
    assert second.last_chat_json()["messages"][-1]["content"] == "from stdin\n"


def test_once_runs_the_commander_pipeline_a_code_task_is_coder_then_reviewer(loopback_node, tmp_path: Path) -> None:
    coder = loopback_node(reply="def add(a, b):\n    return a + b", model="alpha")
    reviewer = loopback_node(reply="Looks correct.", model="beta")
    config = write_toml(tmp_path / "c.toml", [
        {"name": "A", "kind": "openai", "url": coder.url, "model": "alpha", "timeout_s": 5},
        {"name": "B", "kind": "openai", "url": reviewer.url, "model": "beta", "timeout_s": 5},
    ], {"code": ["A", "B"], "simple": ["A"]}, tmp_path / "j.db")
    done = run_cli(["--config", str(config), "--once", "Write a python function that adds two numbers", "--json"],
                   tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["task_type"] == "code"
    assert [(u["id"], u["role"], u["node"], u["status"]) for u in result["units"]] == [
        ("t1", "coder", "A", "done"), ("t2", "reviewer", "B", "done")]
    review_request = reviewer.last_chat_json()["messages"][-1]["content"]
    assert "[A/alpha]" in review_request and "return a + b" in review_request
    assert (result["node"], result["model"]) == ("A", "alpha")
    assert result["answer"] == "def add(a, b):\n    return a + b\n\nReview [B/beta]:\nLooks correct."


@pytest.mark.parametrize("args,fragment", [
    (["--node", "NOPE", "--once", "hi"], "unknown node 'NOPE'; known nodes: A, B"),
    (["--once", "   "], "the prompt is empty"),
    (["--once", "hi", "--status"], "not allowed with argument"),
    (["--frobnicate"], "unrecognized arguments"),
    (["--json"], "need --once or --status"),
])
def test_usage_errors_are_one_line_exit_2(two_nodes, tmp_path: Path, args: list[str], fragment: str) -> None:
    _, _, config = two_nodes
    done = run_cli(["--config", str(config), *args], tmp_path)
    assert done.returncode == 2
    assert fragment in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_no_node_answering_exits_3_with_json_attempts(two_nodes, tmp_path: Path) -> None:
    first, second, config = two_nodes
    first.set(fault=Fault.REFUSED)
    second.set(fault=Fault.MALFORMED_JSON)
    done = run_cli(["--config", str(config), "--once", "hi", "--json"], tmp_path)
    assert done.returncode == 3
    result = json.loads(done.stdout)
    assert result["answer"] is None
    assert [(a["node"], a["outcome"]) for a in result["attempts"]] == [("A", "refused"), ("B", "bad_response")]
    assert done.stderr.startswith("jarvis: no node could answer") and done.stderr.count("\n") == 1


def test_untrusted_output_is_printed_literally_and_defanged(loopback_node, tmp_path: Path) -> None:
    hostile = "[bold red]pwned[/] \x1b]0;title\x07\x1b[2J\x1b]52;c;ZXZpbA==\x07 done"
    node = loopback_node(reply=hostile)
    config = write_toml(tmp_path / "c.toml", [{"name": "A", "kind": "openai", "url": node.url, "model": "m"}],
                        db_path=tmp_path / "j.db")
    done = run_cli(["--config", str(config), "--once", "hi"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[bold red]pwned[/]" in done.stdout
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "␛]0;title␇" in done.stdout


def test_status_table_and_exit_codes(two_nodes, tmp_path: Path) -> None:
    first, second, config = two_nodes
    done = run_cli(["--config", str(config), "--status"], tmp_path)
    assert done.returncode == 0, done.stderr
    header = done.stdout.splitlines()[0].split()
    assert header[:5] == ["node", "kind", "url", "model", "reachable"]
    assert "latency" in header and "loaded" in header and "error" in header
    first.set(fault=Fault.REFUSED)
    second.set(fault=Fault.REFUSED)
    done = run_cli(["--config", str(config), "--status", "--json"], tmp_path)
    assert done.returncode == 3
    report = json.loads(done.stdout)
    assert report["healthy"] == 0 and report["total"] == 2
    assert {n["node"]: n["reachable"] for n in report["nodes"]} == {"A": False, "B": False}
    assert "gpus" in report


def test_a_reader_that_stops_reading_ends_status_quietly(two_nodes, tmp_path: Path) -> None:
    """`jarvis --status | head -3`: the pipe closes before the table is written; no traceback, exit 0."""
    _, _, config = two_nodes
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JARVIS_", "XDG_"))}
    env.update({"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")})
    running = subprocess.Popen([sys.executable, "-m", "jarvis_tui", "--config", str(config), "--status"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert running.stdout is not None and running.stderr is not None
    running.stdout.close()  # the reader is gone before the nodes are checked
    err = running.stderr.read().decode()
    assert running.wait(timeout=30) == 0
    assert err == ""


def test_api_key_never_leaves_the_environment(loopback_node, tmp_path: Path) -> None:
    secured = loopback_node(reply="secured answer", api_key=SECRET)
    config = write_toml(tmp_path / "c.toml", [
        {"name": "S", "kind": "openai", "url": secured.url, "model": "m", "api_key_env": "JARVIS_S_KEY"},
    ], db_path=tmp_path / "j.db")
    ok = run_cli(["--config", str(config), "--once", "hi", "--json"], tmp_path,
                 extra_env={"JARVIS_S_KEY": SECRET})
    assert ok.returncode == 0, ok.stderr
    assert secured.chat_requests()[-1].headers["authorization"] == f"Bearer {SECRET}"
    wrong = run_cli(["--config", str(config), "--once", "hi", "--json"], tmp_path,
                    extra_env={"JARVIS_S_KEY": SECRET + "x"})
    status = run_cli(["--config", str(config), "--status", "--json"], tmp_path, extra_env={"JARVIS_S_KEY": SECRET})
    for done in (ok, wrong, status):
        assert SECRET not in done.stdout and SECRET not in done.stderr
    dump = "\n".join(sqlite3.connect(tmp_path / "j.db").iterdump())
    assert SECRET not in dump


def modules_loaded_by_cli(args: list[str], watched: tuple[str, ...], tmp_path: Path) -> tuple[str, list[str]]:
    """Run ``main(args)`` in a fresh interpreter: (its stdout, which ``watched`` modules it imported)."""
    probe = (
        "import sys\n"
        "from jarvis_tui.cli import main\n"
        f"code = main({args!r})\n"
        f"loaded = [m for m in {watched!r} if m in sys.modules]\n"
        "sys.stderr.write('LOADED=' + ','.join(loaded) + '\\n')\n"
        "import httpx\n"
        "assert httpx.AsyncClient and httpx.Timeout(1.0)  # httpx stays whole for any later user\n"
        "raise SystemExit(code)\n"
    )
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_STATE_HOME": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = [line for line in done.stderr.splitlines() if line.startswith("LOADED=")]
    assert loaded, done.stderr
    return done.stdout, [m for m in loaded[-1].removeprefix("LOADED=").split(",") if m]


# rich and click: httpx imports them for its own CLI whenever they are installed; the headless
# faces import httpx without that CLI (~60 ms of every call).
HEAVY = ("textual", "ccxt", "faster_whisper", "sounddevice", "anthropic", "numpy", "rich", "click")


@pytest.mark.parametrize("face", [["--once", "hi"], ["--once", "hi", "--json"], ["--status"], ["--status", "--json"]])
def test_headless_faces_never_import_the_ui_or_heavy_libraries(two_nodes, tmp_path: Path, face: list[str]) -> None:
    _, _, config = two_nodes
    # --status reads local GPUs through NVML, so only --once must also stay clear of pynvml.
    heavy = HEAVY + (("pynvml",) if "--once" in face else ())
    _, loaded = modules_loaded_by_cli(["--config", str(config), *face], heavy, tmp_path)
    assert loaded == []


# Modules a --once on a configured cluster has no use for; each one cost start-up time
# (docs/benchmarks.md, headless start-up).
# The event classes too: --once subscribes to nothing, so neither the orchestrator nor the commander
# builds events.  --once runs the commander pipeline, but a plain question needs no consensus or
# verification.
UNUSED_BY_ONCE = ("jarvis_tui.nodes.embedded", "jarvis_tui.core.bootstrap", "jarvis_tui.gpu.settings",
                  "jarvis_tui.gpu.monitor", "jarvis_tui.core.events", "jarvis_tui.core.commander_events",
                  "jarvis_tui.core.consensus", "jarvis_tui.core.verify", "httpx._main")


def test_once_on_a_configured_cluster_imports_only_what_it_uses(two_nodes, tmp_path: Path) -> None:
    first, _, config = two_nodes
    stdout, loaded = modules_loaded_by_cli(["--config", str(config), "--node", "A", "--once", "hi"], UNUSED_BY_ONCE,
                                           tmp_path)
    assert loaded == []
    assert stdout == "The answer is 4.\n[A/alpha]\n"
    assert first.last_chat_json()["messages"][-1]["content"] == "hi"


def test_httpx_is_imported_whole_when_it_needs_its_cli_module(tmp_path: Path) -> None:
    """A future httpx whose package needs ``httpx._main`` still imports: the skip backs off."""
    fake = tmp_path / "httpx"
    fake.mkdir()
    (fake / "__init__.py").write_text("from ._main import main\nfrom ._client import Client\n")
    (fake / "_main.py").write_text("def main():\n    return 'cli'\n")
    (fake / "_client.py").write_text("class Client:\n    pass\n")
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from jarvis_tui.headless import _import_httpx_without_its_cli\n"
        "_import_httpx_without_its_cli()\n"
        "assert 'httpx' not in sys.modules and 'httpx._main' not in sys.modules, sorted(sys.modules)\n"
        "import httpx\n"
        "assert httpx.main() == 'cli' and httpx.Client\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"



def test_ctrl_c_mid_answer_exits_130_in_one_line_and_keeps_what_was_saved(two_nodes, tmp_path: Path) -> None:
    first, _, config = two_nodes
    saved = run_cli(["--config", str(config), "--once", "What is 2+2?"], tmp_path)
    assert saved.returncode == 0, saved.stderr
    first.set(reply="word " * 400, tokens_per_s=20)  # a 20 s answer: Ctrl+C lands mid-stream
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JARVIS_", "XDG_"))}
    env.update({"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")})
    requests_before = len(first.chat_requests())
    running = subprocess.Popen([sys.executable, "-m", "jarvis_tui", "--config", str(config), "--once", "Tell me more"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 20
        while len(first.chat_requests()) == requests_before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(first.chat_requests()) > requests_before, "the answer never started"
        time.sleep(0.3)
        running.send_signal(signal.SIGINT)
        out, err = running.communicate(timeout=15)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == 130, err
    assert err == "jarvis: interrupted\n"
    assert "Traceback" not in out + err
    with sqlite3.connect(tmp_path / "j.db") as db:
        answers = [row[0] for row in db.execute("SELECT content FROM messages WHERE role = 'assistant'")]
    assert answers == ["The answer is 4."]  # the finished exchange survives; the interrupted one is not half-stored
