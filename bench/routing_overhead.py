"""Routing overhead of the core against instant loopback nodes.

Two numbers from the issue, each compared with a baseline measured in the same run:

* throughput at a concurrency of 50 (target >= 500 requests/s) through
  ``Orchestrator.ask`` - and, as the ceiling, the same node client called directly;
* median overhead per request, sequential, of the core over a direct
  ``NodeClient.chat`` on the same pooled connection (target <= 3 ms; LiteLLM
  reports 12 ms).

The node is an *instant* OpenAI-compatible server in its own process (asyncio,
keep-alive, one fixed SSE reply: ``--serve PORT``).  The test suite's threaded
loopback node shares the benchmark's GIL and tops out near 250 requests/s on
this machine (and resets connections at a concurrency of 50, its listen backlog
being socketserver's default of 5), so it would measure itself, not the core.

Variants: ``client`` (the bare node client), ``dispatch`` (metrics, breaker, events,
request row), ``ask`` (routing + fallback loop, ``persist=False``), ``ask+store``
(``--once``'s path: conversation and messages committed to SQLite), ``commander``
(classification + TaskUnits + events).  Every variant uses a real SQLite file.

    .venv/bin/python bench/routing_overhead.py [--requests 2000] [--concurrency 50] [--sequential 400]

The orchestrator writes its per-request rows in batches (every 50 ms) and the
clients read each body to its end so pooled connections are reused; both came
out of this benchmark (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jarvis_tui.core.commander import Commander
from jarvis_tui.core.commander_settings import CommanderSettings
from jarvis_tui.nodes.base import ChatMessage
from tests.integration.commander_cluster import cluster

PROMPT = "hello"


def _sse_reply() -> bytes:
    chunk = {"id": "x", "object": "chat.completion.chunk", "model": "instant",
             "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": None}]}
    done = {"id": "x", "object": "chat.completion.chunk", "model": "instant",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {"id": "x", "object": "chat.completion.chunk", "model": "instant", "choices": [],
             "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    body = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in (chunk, done, usage)) + b"data: [DONE]\n\n"
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(body)) + body


MODELS = json.dumps({"object": "list", "data": [{"id": "instant", "object": "model"}]}).encode()


async def serve(port: int) -> None:
    """An instant node: answers every chat completion at once, keep-alive, no parsing beyond framing."""
    reply = _sse_reply()
    models = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(MODELS), MODELS)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                writer.write(reply if head.startswith(b"POST") else models)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def start_instant_node() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the instant node did not start")


def variants(orch) -> dict[str, Callable[[], Awaitable[object]]]:
    client = orch.nodes["A"].client
    messages = [ChatMessage("user", PROMPT)]
    commander = Commander(orch, CommanderSettings())
    # The core keeps at most max_concurrency (8) requests in flight per node and queues the
    # rest; the bare client gets the same cap, or it would measure httpcore's pool at 50
    # connections (encode/httpcore#1035) instead of the core.
    in_flight = asyncio.Semaphore(orch.nodes["A"].config.max_concurrency)

    async def bare_client() -> object:
        async with in_flight:
            return await client.chat(messages)

    return {
        "client": bare_client,
        "dispatch": lambda: orch.dispatch("A", messages, task_type="simple"),
        "ask": lambda: orch.ask(PROMPT, task_type="simple", persist=False),
        "ask+store": lambda: orch.ask(PROMPT, task_type="simple"),
        "commander": lambda: commander.ask(PROMPT),
    }


async def throughput(call: Callable[[], Awaitable[object]], total: int, concurrency: int) -> float:
    queue = iter(range(total))

    async def worker() -> None:
        for _ in queue:
            await call()

    started = time.perf_counter()
    try:
        async with asyncio.TaskGroup() as group:  # one failure cancels the other workers
            for _ in range(concurrency):
                group.create_task(worker())
    except* Exception as failures:  # noqa: BLE001 - the first failure is reported by the caller
        raise failures.exceptions[0] from None
    return total / (time.perf_counter() - started)


async def latencies(call: Callable[[], Awaitable[object]], count: int) -> list[float]:
    out = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--sequential", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        await serve(args.serve)
        return
    server, url = start_instant_node()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            spec = [("A", None, {"url": url, "model": "instant", "timeout_s": 30.0, "connect_timeout_s": 5.0})]
            async with cluster(spec, Path(tmp), {"simple": ("A",), "default": ("A",)}) as orch:
                calls = variants(orch)
                for call in calls.values():  # warm the pool and the code paths
                    await latencies(call, 20)
                rps: dict[str, list[float]] = {k: [] for k in calls}
                lat: dict[str, list[float]] = {k: [] for k in calls}
                failed: dict[str, str] = {}
                for _ in range(args.rounds):  # interleave variants so drift hits them all alike
                    for name, call in calls.items():
                        if name not in failed:
                            try:
                                rps[name].append(await throughput(call, args.requests, args.concurrency))
                            except Exception as exc:  # noqa: BLE001 - reported in the table
                                failed[name] = f"{type(exc).__name__}: {exc}"
                        lat[name].extend(await latencies(call, args.sequential))
    finally:
        server.terminate()
        server.wait()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    base = statistics.median(lat["client"])
    print(f"{args.requests} requests x {args.rounds} rounds at concurrency {args.concurrency}; "
          f"{args.sequential} x {args.rounds} sequential requests per variant")
    print("| path | throughput (req/s, c=50) | median latency | median overhead vs client |")
    print("|---|---|---|---|")
    for name, samples in lat.items():
        median = statistics.median(samples)
        tput = f"fails: {failed[name][:90]}" if name in failed else f"{statistics.median(rps[name]):.0f}"
        print(f"| {name} | {tput} | {median:.2f} ms | "
              f"{'-' if name == 'client' else f'{median - base:+.2f} ms'} |")


if __name__ == "__main__":
    asyncio.run(main())
