"""Shared rig for the cockpit benchmarks: loopback nodes in a child process, a config, a pty runner.

The nodes run in their own process so their threads never count against the
cockpit's CPU or memory.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
NODES = (("M2", "openai", 1.4), ("OL1", "ollama", 1.3), ("M3", "openai", 1.0), ("M1", "lmstudio", 0.7),
         ("GEMINI", "openai", 1.1))

_SERVE = """
import json, sys, time
sys.path.insert(0, {root!r})
from tests.fakes.loopback_node import LoopbackNode
reply = " ".join("token%d" % i for i in range({tokens}))
reply = "\\n\\n".join(" ".join(reply.split()[i:i + 60]) for i in range(0, {tokens}, 60))
nodes = [LoopbackNode(model="bench-model", reply=reply, tokens_per_s={rate}).start() for _ in range({count})]
print(json.dumps([n.url for n in nodes]), flush=True)
sys.stdin.read()
"""


class LoopbackCluster:
    def __init__(self, count: int = 5, tokens_per_s: float | None = None, tokens: int = 40) -> None:
        code = _SERVE.format(root=str(ROOT), tokens=tokens, rate=tokens_per_s, count=count)
        self.proc = subprocess.Popen([PYTHON, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.urls: list[str] = json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(5)


def write_config(urls: list[str], folder: Path) -> Path:
    lines = []
    for (name, kind, weight), url in zip(NODES, urls, strict=False):
        lines += ["[[nodes]]", f'name = "{name}"', f'kind = "{kind}"', f'url = "{url}"', 'model = "bench-model"',
                  f"weight = {weight}", ""]
    lines += ["[store]", f'path = "{folder / "jarvis.db"}"', "", "[trading]",
              'exchange_base_url = "http://127.0.0.1:9"', "", "[health]", "interval_s = 15"]
    path = folder / "config.toml"
    path.write_text("\n".join(lines))
    return path


def bench_env(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var, sub in (("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"), ("XDG_CACHE_HOME", "cache"),
                     ("XDG_CONFIG_HOME", "config")):
        env[var] = str(folder / sub)
    # Bytecode: a shell here may export PYTHONDONTWRITEBYTECODE, and then every start of `jarvis` compiles the
    # project's sources (~100 ms) while Textual's come precompiled from site-packages -- not what an installed
    # jarvis does.  Both apps get a fresh bytecode cache in the bench folder; each script's discarded warm-up
    # run fills it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    env["TERM"] = "xterm-256color"
    env["COLORTERM"] = "truecolor"
    env.pop("TEXTUAL", None)
    return env


class PtyProcess:
    """A command on a pseudo-terminal of a given size; ``wait_for(text)`` reads its output."""

    def __init__(self, argv: list[str], env: dict[str, str], cols: int = 160, rows: int = 48) -> None:
        self.started = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # child
            os.execvpe(argv[0], argv, env)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.output = b""

    def wait_for(self, marker: bytes, timeout: float = 30.0) -> float:
        """Seconds from spawn until ``marker`` appeared in the output."""
        deadline = time.monotonic() + timeout
        while marker not in self.output:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{marker!r} not seen; last output {self.output[-300:]!r}")
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:
                    break
        return time.perf_counter() - self.started

    def drain(self, seconds: float, keep: bool = False) -> None:
        """Read (and drop, unless ``keep``) what the process draws for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    drawn = os.read(self.fd, 65536)
                except OSError:
                    return
                if keep:
                    self.output += drawn

    def cpu_s(self) -> float:
        """CPU seconds the process has run so far, all threads (scheduler nanoseconds, not 10 ms ticks).

        Other jobs on a shared box stretch wall time but hardly this, so it separates two versions of the code
        where wall time is too noisy to."""
        total = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        return total / 1e9

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                break
            for _ in range(40):
                done, _ = os.waitpid(self.pid, os.WNOHANG)
                if done:
                    os.close(self.fd)
                    return
                time.sleep(0.05)
        try:
            os.close(self.fd)
        except OSError:
            pass


BASELINE_APP = """
from textual.app import App
from textual.containers import Grid
from textual.widgets import Footer, Static

class FivePanes(App):
    CSS = "Grid { grid-size: 3 2; } Static { border: round white; height: 1fr; }"
    BINDINGS = [("q", "quit", "Quit")]
    def compose(self):
        with Grid():
            for i in range(1, 6):
                yield Static(f"pane-{i}")
        yield Footer()

FivePanes().run()
"""


def baseline_script(folder: Path) -> Path:
    path = folder / "five_panes.py"
    path.write_text(BASELINE_APP)
    return path


def temp_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="jarvis-bench-"))
