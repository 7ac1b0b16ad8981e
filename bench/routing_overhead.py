"""Routing overhead of the core against instant loopback nodes.

Two numbers from the issue, each compared with a baseline measured in the same run:

* throughput at a concurrency of 50 (target >= 500 requests/s) through
  ``Orchestrator.ask`` with and without the store and through ``Commander.ask`` -
  and, as the ceiling, the same node client called directly;
* median overhead per request, sequential, of the core over a direct
  ``NodeClient.chat`` on the same pooled connection (target <= 3 ms; LiteLLM
  reports 12 ms).

The node is an *instant* OpenAI-compatible server in its own process (asyncio,
keep-alive, one fixed SSE reply: ``--serve PORT``).  The test suite's threaded
loopback node shares the benchmark's GIL and tops out near 250 requests/s on
this machine (and resets connections at a concurrency of 50, its listen backlog
being socketserver's default of 5), so it would measure itself, not the core.
The run prints the instant node's CPU share (from /proc): 6-11% of one core on the
2-CPU box at 330-630 requests/s, while the benchmark process runs at ~100% of one
core.  The ceiling is the client side's CPU per request (the node client, httpx and
the pool under it), not the fake server; nodes/pool.py has what came out of that.

Variants: ``client`` (the bare node client), ``dispatch`` (metrics, breaker, events,
request row), ``ask`` (routing + fallback loop, ``persist=False``), ``ask+store``
(conversation and messages committed to SQLite before the call returns),
``commander`` (``--once``'s path: classification + TaskUnits + events, the
exchange committed likewise), and ``store`` (the same two commits as ``ask+store``, no node:
the store's own ceiling; not a path of the core, so no target).  Every variant uses
a real SQLite file; the two storing paths must reach the throughput target too,
and the run ends by checking that every exchange they reported is in the database.

    .venv/bin/python bench/routing_overhead.py [--requests 2000] [--concurrency 50] [--sequential 400]
                                               [--variants client,ask+store,commander]

The orchestrator writes its per-request rows in batches (every 50 ms), the store
group-commits concurrent writes (one transaction and one commit per batch, the
exchanges of a batch in one INSERT per table: each statement is a GIL hand-off
between the writer thread and the loop; under load, commits 20 ms apart), the
clients read each body to its end so pooled connections are reused, and the shared
pool runs on plain asyncio sockets with linear bookkeeping (nodes/pool.py); all
came out of this benchmark (see docs/benchmarks.md).
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
from jarvis_tui.core.store import NewMessage
from jarvis_tui.nodes.base import ChatMessage
from tests.integration.commander_cluster import cluster

PROMPT = "hello"
TARGET_RPS = 500
TARGET_OVERHEAD_MS = 3.0
STORING = ("ask+store", "commander", "store")  # each call commits one exchange: two messages


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

    store = orch.store

    async def store_only() -> object:  # the two commits of one ask+store exchange, without a node
        conversation, _ = await store.add_messages(None, [NewMessage("user", PROMPT, task_type="simple")])
        return await store.add_message(conversation, "assistant", "ok", node="A", model="instant")

    return {
        "client": bare_client,
        "dispatch": lambda: orch.dispatch("A", messages, task_type="simple"),
        "ask": lambda: orch.ask(PROMPT, task_type="simple", persist=False),
        "ask+store": lambda: orch.ask(PROMPT, task_type="simple"),
        "commander": lambda: commander.ask(PROMPT),
        "store": store_only,
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
    parser.add_argument("--variants", default="", help="comma-separated subset (the client always runs)")
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
                if args.variants:
                    wanted = {"client", *args.variants.split(",")}
                    calls = {k: v for k, v in calls.items() if k in wanted}
                counts = dict.fromkeys(calls, 0)

                def counted(name: str, call: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
                    async def run() -> object:
                        result = await call()
                        counts[name] += 1  # reported done
                        return result
                    return run

                calls = {k: counted(k, v) for k, v in calls.items()}
                store = orch.store
                messages_before = await _message_count(store)
                commits_before = store.commits
                for call in calls.values():  # warm the pool and the code paths
                    await latencies(call, 20)
                server_cpu, started = _cpu_seconds(server.pid), time.perf_counter()
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
                server_cpu = (_cpu_seconds(server.pid) - server_cpu, time.perf_counter() - started) \
                    if server_cpu is not None else None
                stored = await _message_count(store) - messages_before
                commits = store.commits - commits_before
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
              f"{'-' if name in ('client', 'store') else f'{median - base:+.2f} ms'} |")
    if server_cpu is not None:
        cpu, wall = server_cpu
        print(f"instant node process: {cpu:.1f} s of CPU in {wall:.1f} s ({cpu / wall:.0%} of one core): "
              f"not the bottleneck unless near 100%")
    expected = 2 * sum(counts[name] for name in STORING if name in counts)
    print(f"stored: {stored} messages for {expected // 2} reported exchanges "
          f"({'all there' if stored == expected else 'MISMATCH'}); {commits} group commits")
    client_rps = statistics.median(rps["client"]) if rps["client"] else float("nan")
    for name, samples in lat.items():
        if name in ("client", "store") or name in failed:
            continue
        tput, over = statistics.median(rps[name]), statistics.median(samples) - base
        verdict = "met" if tput >= TARGET_RPS and over <= TARGET_OVERHEAD_MS else "MISSED"
        print(f"target {name}: >= {TARGET_RPS} req/s and <= {TARGET_OVERHEAD_MS:g} ms overhead: {verdict} "
              f"({tput:.0f} req/s, {tput / client_rps:.0%} of the client's)")


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _message_count(store) -> int:
    rows = await store.db.execute_fetchall("SELECT COUNT(*) FROM messages")
    return int(next(iter(rows))[0])


if __name__ == "__main__":
    asyncio.run(main())
