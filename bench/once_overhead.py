"""Wall time of `jarvis --once` against a bare httpx POST, measured in the same run.

Both hit the same zero-latency loopback node (tests/fakes/loopback_node.py), so
the ratio is jarvis's own start-up and routing cost: imports, config, the
SQLite exchange, the streaming client.  Target: ratio <= 1.5.

    .venv/bin/python bench/once_overhead.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
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

BARE = """
import httpx, sys
r = httpx.post(sys.argv[1] + "/v1/chat/completions", json={"model": "m", "stream": False,
    "messages": [{"role": "user", "content": "What is 2+2?"}]}, timeout=10)
print(r.json()["choices"][0]["message"]["content"])
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"command failed ({done.returncode}): {' '.join(cmd)}: {done.stderr.strip()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    jarvis = str(Path(sys.executable).with_name("jarvis"))
    with LoopbackNode(reply="4", model="m") as node, tempfile.TemporaryDirectory() as tmp:
        config = write_toml(Path(tmp) / "c.toml", [{"name": "A", "kind": "openai", "url": node.url, "model": "m"}],
                            db_path=Path(tmp) / "j.db")
        env = {**os.environ, "XDG_STATE_HOME": tmp}
        jarvis_cmd = [jarvis, "--config", str(config), "--once", "What is 2+2?"]
        bare_cmd = [sys.executable, "-c", BARE, node.url]
        for cmd in (jarvis_cmd, bare_cmd):  # warm the page cache and .pyc files
            timed(cmd, env)
        jarvis_times, bare_times = [], []
        for _ in range(args.runs):  # interleaved, so machine noise hits both alike
            jarvis_times.append(timed(jarvis_cmd, env))
            bare_times.append(timed(bare_cmd, env))
    j, b = statistics.median(jarvis_times), statistics.median(bare_times)
    print(f"runs: {args.runs}")
    print(f"jarvis --once median: {j * 1000:.0f} ms")
    print(f"bare httpx POST median: {b * 1000:.0f} ms")
    print(f"ratio: {j / b:.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
