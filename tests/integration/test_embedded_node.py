"""The embedded node: the real llama-server with the tiny SmolLM2 model, and local discovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from jarvis_tui.core.bootstrap import DefaultServer, discover_local_nodes
from tests.integration.test_cli_headless import run_cli

pytestmark = pytest.mark.embedded


def _llama_servers() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"llama-server" in cmdline and b"SmolLM2" in cmdline:
                found.add(int(entry.name))
    return found


def test_fresh_machine_answers_with_the_embedded_node_and_leaves_no_process(tmp_path: Path) -> None:
    before = _llama_servers()
    done = run_cli(["--once", "What is 2+2?"], tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    answer, source = done.stdout.rstrip("\n").rsplit("\n", 1)
    assert "4" in answer
    assert source == "[LOCAL/smollm2]"
    assert _llama_servers() - before == set()


def test_status_reports_the_embedded_node(tmp_path: Path) -> None:
    done = run_cli(["--status"], tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "LOCAL" in done.stdout and "smollm2" in done.stdout and "yes" in done.stdout


def test_sigkill_of_jarvis_takes_the_embedded_server_down_too(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from jarvis_tui.config import load_config\n"
        "from jarvis_tui.core.orchestrator import Orchestrator\n"
        "async def main():\n"
        "    o = Orchestrator(load_config(None))\n"
        "    await o.start(open_store=False)\n"
        "    print(o.embedded.url, o.embedded.process.pid, flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JARVIS_", "XDG_"))}
    env.update({"XDG_CONFIG_HOME": str(tmp_path / "c"), "XDG_STATE_HOME": str(tmp_path / "s")})
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert parent.stdout is not None
        url, pid = parent.stdout.readline().split()
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)
        assert not Path(f"/proc/{pid}").exists() or b"Z" in Path(f"/proc/{pid}/stat").read_bytes().split()[2]
    finally:
        if parent.poll() is None:
            parent.kill()


async def test_discovery_uses_servers_answering_on_their_ports(loopback_node) -> None:
    ollama = loopback_node(model="qwen3:1.7b")
    openai = loopback_node(model="local-model")
    servers = (DefaultServer("OLLAMA", "ollama", ollama.port, "/api/tags"),
               DefaultServer("LLAMACPP", "openai", openai.port, "/v1/models"),
               DefaultServer("LMSTUDIO", "openai", 1, "/v1/models"))
    async with httpx.AsyncClient() as http:
        nodes = await discover_local_nodes(http, servers=servers)
    assert [(n.name, n.kind, n.model) for n in nodes] == [("OLLAMA", "ollama", "qwen3:1.7b"),
                                                          ("LLAMACPP", "openai", "local-model")]
