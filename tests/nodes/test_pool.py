"""The shared pool's insides (nodes/pool.py): the asyncio backend and NodePool, against a real local server."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpcore
import httpx
import pytest

from jarvis_tui.nodes.http import (
    close_shared_http_client,
    pool_limits,
    shared_http_client,
)
from jarvis_tui.nodes.pool import AsyncioBackend, NodePool, pooled_transport


class Server:
    """A keep-alive HTTP/1.1 server on the test's loop.  Paths: /ok, /len (the request body's length),
    /big/N (N bytes), /close (answers, then closes the connection), /hang (never answers)."""

    def __init__(self) -> None:
        self.connections = 0
        self.url = ""
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length) if length else b""
                if path == "/hang":
                    await asyncio.sleep(3600)
                reply = (str(len(body)).encode() if path == "/len"
                         else b"x" * int(path.rsplit("/", 1)[1]) if path.startswith("/big/") else b"ok")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(reply), reply))
                await writer.drain()
                if path == "/close":
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()  # the client went away, or the test ended


@asynccontextmanager
async def serving(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    server = Server()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=ssl_context)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    try:
        yield server
    finally:
        listener.close()
        for writer in server.writers:
            writer.close()


def client(*, max_connections: int = 64, max_keepalive: int = 32, pool_class: type | None = None,
           verify: ssl.SSLContext | bool | None = None) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive)
    transport = pooled_transport(verify=verify or ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), trust_env=False,
                                 limits=limits)
    if pool_class is not None:  # the same settings on another pool class, for a side-by-side run
        old = transport._pool
        transport._pool = pool_class(ssl_context=old._ssl_context, max_connections=max_connections,
                                     max_keepalive_connections=max_keepalive, network_backend=AsyncioBackend())
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0))


async def test_shared_client_runs_on_node_pool_and_the_asyncio_backend() -> None:
    # NodePool rewrites a private method of httpcore 1.0 and falls back to httpcore's pool on other
    # versions: this is the check that the installed httpx/httpcore still get the fast path.
    try:
        pool = shared_http_client()._transport._pool
        assert type(pool) is NodePool
        assert isinstance(pool._network_backend, AsyncioBackend)
        assert pool._max_connections == pool_limits().max_connections
    finally:
        await close_shared_http_client()


async def _pool_run(pool_class: type, max_keepalive: int) -> tuple[int, int]:
    """20 concurrent requests on at most 4 connections: (connections opened, connections kept)."""
    async with serving() as server, client(max_connections=4, max_keepalive=max_keepalive,
                                           pool_class=pool_class) as http:
        replies = await asyncio.gather(*(http.get(f"{server.url}/ok") for _ in range(20)))
        assert [r.text for r in replies] == ["ok"] * 20
        return server.connections, len(http._transport._pool.connections)


async def test_node_pool_decides_like_httpcore() -> None:
    assert await _pool_run(NodePool, 32) == await _pool_run(httpcore.AsyncConnectionPool, 32) == (4, 4)
    # httpcore closes an idle connection while the pool holds more than max_keepalive connections
    # (all of them, not the idle ones): here every request ends up on a new one.  NodePool keeps that.
    assert await _pool_run(NodePool, 2) == await _pool_run(httpcore.AsyncConnectionPool, 2)


async def test_large_bodies_both_ways_with_flow_control() -> None:
    # 4 MB up (the transport pushes back: pause_writing) and 3 MB down, read late so the buffer
    # passes its high-water mark and the socket is paused, then resumed.
    async with serving() as server, client() as http:
        sent = await http.post(f"{server.url}/len", content=b"y" * 4_000_000)
        assert sent.text == "4000000"
        async with http.stream("GET", f"{server.url}/big/3000000") as response:
            await asyncio.sleep(0.2)
            received = b"".join([chunk async for chunk in response.aiter_raw()])
        assert received == b"x" * 3_000_000
        assert server.connections == 1


async def test_a_connection_the_server_closed_is_not_reused() -> None:
    async with serving() as server, client() as http:
        assert (await http.get(f"{server.url}/close")).text == "ok"
        assert (await http.get(f"{server.url}/ok")).text == "ok"  # a new connection, not the closed one
        assert server.connections == 2


async def test_failures_are_httpx_errors(refused_url: str) -> None:
    async with serving() as server, client() as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"{server.url}/hang", timeout=httpx.Timeout(5.0, read=0.2))
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{refused_url}/ok")
        assert (await http.get(f"{server.url}/ok")).text == "ok"  # the pool goes on


async def test_https_through_start_tls(tmp_path: Path) -> None:
    server_context, client_context = _self_signed_contexts(tmp_path)
    async with serving(server_context) as server, client(verify=client_context) as http:
        for _ in range(3):
            assert (await http.get(f"{server.url}/ok")).text == "ok"
        assert server.connections == 1  # kept alive over TLS too
        with pytest.raises(httpx.ConnectError):  # and verification is on: an untrusted certificate fails
            async with client(verify=ssl.create_default_context()) as strict:
                await strict.get(f"{server.url}/ok")


def _self_signed_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    crypto = pytest.importorskip("cryptography")  # noqa: F841 - comes with the cloud/trading extras
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    return server_context, ssl.create_default_context(cafile=str(cert_file))
