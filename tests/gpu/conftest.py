"""Fixtures for the GPU tests; the fakes themselves live in gpu_fakes.py."""

from __future__ import annotations

import pytest
from tests.gpu.gpu_fakes import FakeNvml, LoopbackExporter, m1_gpus


@pytest.fixture
def fake_nvml() -> FakeNvml:
    return FakeNvml(m1_gpus())


@pytest.fixture
def exporter():
    server = LoopbackExporter()
    yield server
    server.close()


@pytest.fixture
def exporter_b():
    server = LoopbackExporter()
    yield server
    server.close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nobody listens on (bound, then closed)."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/metrics"
