"""Run untrusted code (a model's answer) against hidden tests, contained.

* a separate ``python -I`` process (isolated mode: no user site, no PYTHON*
  variables, no current directory on ``sys.path``) in a fresh temporary directory,
  with an empty environment and its own process group, killed as a group at the
  wall-clock timeout;
* resource limits set by the harness before the answer is imported:
  ``RLIMIT_AS`` (memory), ``RLIMIT_CPU``, ``RLIMIT_FSIZE`` (10 MB of files),
  ``RLIMIT_NOFILE``, ``RLIMIT_CORE`` 0;
* no network: inside a new user + network namespace (``unshare -rn``) when the
  kernel allows it, where only a down loopback exists; and in every case an
  audit hook that refuses socket connect/bind/send, name resolution and starting
  processes (``socket.__new__`` stays allowed: asyncio's self-pipe needs a
  socketpair);
* the answer's stdout/stderr go to /dev/null; the harness reports on a private
  duplicate of stdout, each line prefixed with a nonce it read from stdin before
  the answer was imported, so printed text cannot pose as a result.  Results
  are streamed per test, so a timeout still keeps the tests that passed.

Each test function also has its own alarm (``per_test_s``), so one infinite
loop costs one test, not the level.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

MAX_REPORT_BYTES = 1_000_000

HARNESS = r'''
import importlib.util, json, os, resource, signal, sys, traceback

nonce = sys.stdin.readline().strip()
sys.stdin.close()
report_fd = os.dup(1)
workdir, memory_mb, cpu_s, per_test_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])

def emit(obj):
    os.write(report_fd, (nonce + " " + json.dumps(obj) + "\n").encode())

limit = memory_mb * 1024 * 1024
for name, value in (("RLIMIT_AS", limit), ("RLIMIT_CPU", cpu_s), ("RLIMIT_FSIZE", 10 * 1024 * 1024),
                    ("RLIMIT_NOFILE", 64), ("RLIMIT_CORE", 0)):
    if hasattr(resource, name):
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
        except (ValueError, OSError):
            pass

BLOCKED = ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
           "socket.gethostbyname", "socket.gethostbyaddr", "subprocess.Popen", "os.system", "os.exec",
           "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn", "webbrowser.open")

def audit(event, args):
    if event in BLOCKED:
        raise PermissionError(f"sandbox: {event} is not allowed")

sys.addaudithook(audit)
null = os.open(os.devnull, os.O_WRONLY)
os.dup2(null, 1)
os.dup2(null, 2)
sys.path.insert(0, workdir)

class TestTimeout(Exception):
    pass

def on_alarm(signum, frame):
    raise TestTimeout(f"test took longer than {per_test_s:g}s")

signal.signal(signal.SIGALRM, on_alarm)
try:
    signal.setitimer(signal.ITIMER_REAL, per_test_s * 2)
    spec = importlib.util.spec_from_file_location("solution", os.path.join(workdir, "solution.py"))
    solution = importlib.util.module_from_spec(spec)
    sys.modules["solution"] = solution
    spec.loader.exec_module(solution)
    signal.setitimer(signal.ITIMER_REAL, 0)
except BaseException as exc:
    signal.setitimer(signal.ITIMER_REAL, 0)
    emit({"loaded": False, "error": f"{type(exc).__name__}: {exc}"[:300]})
    os._exit(0)
emit({"loaded": True})
namespace = dict(vars(solution))
with open(os.path.join(workdir, "hidden_tests.py"), encoding="utf-8") as handle:
    hidden = handle.read()
exec(compile(hidden, "hidden_tests.py", "exec"), namespace)
tests = [(n, f) for n, f in namespace.items() if n.startswith("test_") and callable(f)]
emit({"total": len(tests)})
for name, func in tests:
    try:
        signal.setitimer(signal.ITIMER_REAL, per_test_s)
        func()
        signal.setitimer(signal.ITIMER_REAL, 0)
        emit({"test": name, "ok": True})
    except BaseException as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        emit({"test": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]})
emit({"done": True})
os._exit(0)
'''


@dataclass(slots=True)
class SandboxResult:
    loaded: bool = False
    total: int = 0
    passed: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    timed_out: bool = False
    finished: bool = False
    error: str = ""
    isolated_network: bool = False

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0


@lru_cache(maxsize=1)
def network_namespace_prefix() -> tuple[str, ...]:
    """``("unshare", "-rn")`` when this kernel lets an unprivileged process drop the network, else ()."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return ()
    try:
        probe = subprocess.run([unshare, "-rn", sys.executable, "-I", "-c", "pass"], capture_output=True,
                               timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ()
    return (unshare, "-rn") if probe.returncode == 0 else ()


async def run_hidden_tests(code: str, tests: str, *, timeout_s: float = 10.0, memory_mb: int = 512,
                           per_test_s: float = 5.0) -> SandboxResult:
    result = SandboxResult()
    nonce = secrets.token_hex(16)
    prefix = await asyncio.to_thread(network_namespace_prefix)
    result.isolated_network = bool(prefix)
    with tempfile.TemporaryDirectory(prefix="jarvis-bench-") as workdir:
        Path(workdir, "solution.py").write_text(code, encoding="utf-8")
        Path(workdir, "hidden_tests.py").write_text(tests, encoding="utf-8")
        harness = Path(workdir, "_harness.py")
        harness.write_text(HARNESS, encoding="utf-8")
        cpu_s = max(1, int(timeout_s) + 1)
        command = [*prefix, sys.executable, "-I", str(harness), workdir, str(memory_mb), str(cpu_s),
                   f"{min(per_test_s, timeout_s):g}"]
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, cwd=workdir, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            start_new_session=True)
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(nonce.encode() + b"\n")
            await process.stdin.drain()
            process.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = bytearray()

        async def read_report() -> None:
            while len(received) < MAX_REPORT_BYTES:
                chunk = await process.stdout.read(65536)
                if not chunk:
                    return
                received.extend(chunk)

        try:
            await asyncio.wait_for(read_report(), timeout_s)
            await asyncio.wait_for(process.wait(), 2.0)
        except TimeoutError:
            result.timed_out = True
        finally:
            if process.returncode is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    process.kill()
                await process.wait()
    _parse_report(bytes(received), nonce, result)
    if result.timed_out and not result.error:
        result.error = f"timed out after {timeout_s:g}s"
    return result


def _parse_report(data: bytes, nonce: str, result: SandboxResult) -> None:
    marker = nonce + " "
    for line in data.decode("utf-8", "replace").splitlines():
        if not line.startswith(marker):
            continue
        try:
            item = json.loads(line[len(marker):])
        except json.JSONDecodeError:
            continue
        if "loaded" in item:
            result.loaded = bool(item["loaded"])
            if not result.loaded:
                result.error = str(item.get("error", "the code did not load"))
        elif "total" in item:
            result.total = int(item["total"])
        elif "test" in item:
            if item.get("ok"):
                result.passed += 1
            else:
                result.failures[str(item["test"])] = str(item.get("error", ""))
        elif item.get("done"):
            result.finished = True
