"""Wall time of `jarvis --once` against a bare httpx POST, measured in the same run.

Both hit the same zero-latency loopback node (tests/fakes/loopback_node.py), so
the ratio is jarvis's own start-up and routing cost: imports, config, the
SQLite exchange, the streaming client.  Target (issue 2): ratio <= 1.5.

The baseline is the one issue 2 describes: a bare ``python -c`` that imports
httpx and makes the same POST, i.e. the body jarvis's openai client sends
(``stream: true`` with usage), reading the SSE stream to ``[DONE]``.

Both commands run under the same bytecode conditions: a private
PYTHONPYCACHEPREFIX, filled by the warm-up run, so neither compiles source on
a measured run.  (A sandbox with PYTHONDONTWRITEBYTECODE=1 would otherwise
compile jarvis's editable sources on every call while httpx loads pip's .pyc
files; ``--env-as-is`` measures that condition.)

For information it also times the bare POST with httpx's own CLI module
skipped, as jarvis skips it (headless._import_httpx_without_its_cli): the ratio
against that baseline is jarvis's cost with httpx's import side effect
factored out of both sides.

    .venv/bin/python bench/once_overhead.py [--runs 15] [--env-as-is]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.loopback_node import LoopbackNode  # noqa: E402
from tests.integration.cluster_config import write_toml  # noqa: E402

PROMPT = "What is 2+2?"
# The request jarvis's openai client sends (OpenAIClient.request_body), read the way it reads it.
BARE = """
import httpx, json, sys
body = {"messages": [{"role": "user", "content": "What is 2+2?"}], "stream": True,
        "stream_options": {"include_usage": True}, "model": "m"}
parts = []
with httpx.stream("POST", sys.argv[1] + "/v1/chat/completions", json=body, timeout=10) as r:
    for line in r.iter_lines():
        if line.startswith("data: ") and line != "data: [DONE]":
            for choice in json.loads(line[6:]).get("choices") or ():
                parts.append((choice.get("delta") or {}).get("content") or "")
print("".join(parts))
"""
LEAN = 'import sys; sys.modules["httpx._main"] = None\n' + BARE


def timed(cmd: list[str], env: dict[str, str], expected: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"command failed ({done.returncode}): {' '.join(cmd)}: {done.stderr.strip()}")
    if done.stdout != expected:
        raise SystemExit(f"unexpected output from {' '.join(cmd)}: {done.stdout!r}")
    return elapsed


def summary(name: str, times: list[float]) -> str:
    return (f"{name:<34} median {statistics.median(times) * 1000:4.0f} ms "
            f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--env-as-is", action="store_true",
                        help="inherit the environment's bytecode settings instead of a shared warm cache")
    args = parser.parse_args()
    jarvis = str(Path(sys.executable).with_name("jarvis"))
    with LoopbackNode(reply="4", model="m") as node, tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "j.db"
        config = write_toml(Path(tmp) / "c.toml", [{"name": "A", "kind": "openai", "url": node.url, "model": "m"}],
                            db_path=db)
        env = {**os.environ, "XDG_STATE_HOME": tmp}
        if not args.env_as_is:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        commands = {
            "jarvis --once": ([jarvis, "--config", str(config), "--once", PROMPT], "4\n[A/m]\n"),
            "bare httpx POST": ([sys.executable, "-c", BARE, node.url], "4\n"),
            "bare POST, httpx CLI skipped": ([sys.executable, "-c", LEAN, node.url], "4\n"),
        }
        for cmd, expected in commands.values():  # warm the page cache and the bytecode cache
            timed(cmd, env, expected)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # interleaved, so machine noise hits all alike
            for name, (cmd, expected) in commands.items():
                times[name].append(timed(cmd, env, expected))
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT COUNT(*) FROM messages WHERE role = 'assistant'").fetchone()[0]
    if stored != args.runs + 1:
        raise SystemExit(f"expected {args.runs + 1} stored answers in the database, found {stored}")
    j, b, lean = (statistics.median(times[name]) for name in commands)
    print(f"runs: {args.runs}, interleaved; bytecode: "
          f"{'as the environment has it' if args.env_as_is else 'warm shared cache for all commands'}; "
          f"{stored} answers stored")
    for name in commands:
        print(summary(name, times[name]))
    print(f"ratio: {j / b:.2f} (target <= 1.5)")
    print(f"ratio against the bare POST with httpx's CLI skipped too: {j / lean:.2f} (information)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
