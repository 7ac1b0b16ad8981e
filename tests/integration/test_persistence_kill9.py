"""kill -9 mid-stream loses at most the answer still streaming."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

WORKER = r"""
import asyncio, sys
from pathlib import Path
from jarvis_tui.config import load_config
from jarvis_tui.core.orchestrator import Orchestrator

async def main():
    config = load_config(sys.argv[1])
    orchestrator = Orchestrator(config)
    await orchestrator.start(bootstrap=False)
    conversation = None
    for i in range(100):
        result = await orchestrator.ask(f"question {i}", conversation_id=conversation)
        conversation = result.conversation_id
        print(f"DONE {i}", flush=True)

asyncio.run(main())
"""


def test_sigkill_mid_stream_keeps_every_completed_exchange(loopback_node, tmp_path: Path) -> None:
    from tests.integration.cluster_config import write_toml

    node = loopback_node(reply="alpha beta gamma delta epsilon zeta eta theta", tokens_per_s=40)
    db = tmp_path / "j.db"
    config = write_toml(tmp_path / "c.toml", [{"name": "A", "kind": "openai", "url": node.url, "model": "m"}],
                        db_path=db)
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(config)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "XDG_STATE_HOME": str(tmp_path)})
    try:
        completed = 0
        assert worker.stdout is not None
        while completed < 3:
            line = worker.stdout.readline()
            assert line.startswith("DONE"), line
            completed += 1
        time.sleep(0.12)  # the fourth answer is now streaming (8 tokens at 40/s)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT role, content FROM messages ORDER BY id").fetchall()
    assistant = [content for role, content in rows if role == "assistant"]
    users = [content for role, content in rows if role == "user"]
    assert len(assistant) >= completed
    assert all(a == "alpha beta gamma delta epsilon zeta eta theta" for a in assistant)
    assert users[:completed] == [f"question {i}" for i in range(completed)]
    # the question being answered when the process died is kept; only its answer is lost
    assert len(users) == len(assistant) + 1
