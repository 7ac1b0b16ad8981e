"""The shared HTTP pool's insides: an asyncio network backend and a leaner connection pool for httpcore.

httpx stays the client (``nodes/http.py``); this replaces two layers under it that, at a
node's eight requests in flight against an instant loopback node, cost more CPU than
everything jarvis does per request (bench/routing_overhead.py, 2 CPUs; the client is
CPU-bound there, so CPU per request is what caps requests/s):

* **The network backend.**  httpcore drives asyncio sockets through AnyIO: every read and
  write opens a cancel scope, and before every assignment of a request the pool asks each
  idle connection whether its socket is readable (``has_expired`` ->
  ``get_extra_info("is_readable")``), which AnyIO answers by building a dict of socket
  attributes with a ``getpeername`` call (encode/httpx#3215, encode/httpcore#928; neither
  fixed upstream).  ``AsyncioBackend`` is a plain ``asyncio.Protocol`` with a byte buffer.
  Plain httpcore, 8 in flight: ~550 -> ~900 requests/s (1.8 -> 1.1 ms of CPU per request).
* **The pool's bookkeeping.**  httpcore 1.0's ``_assign_requests_to_connections`` runs 3-4
  times per request and, for each idle connection, counts every connection with a list
  comprehension, and for each queued request lists all available and all idle connections:
  O(n^2) in the connections of the pool.  ``NodePool`` takes the same decisions in one pass.

A connection's reads take what has arrived, or wait (with the read timeout) until something
or the end does; writes go to the transport and wait only while it pushes back (flow
control).  TLS upgrades through ``loop.start_tls``.  Failures are raised as httpcore's
exceptions, which httpx maps to its own, so callers see the same ``httpx.ConnectError``,
``ReadTimeout``, ``ReadError``... as with the default backend.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

# Unread bytes past which the socket is no longer read (resumed below the low mark): a slow
# consumer of a long stream holds at most this much per connection in memory.
READ_HIGH_WATER = 256 * 1024
READ_LOW_WATER = 64 * 1024


class _Connection(asyncio.Protocol):
    """The protocol side of one TCP connection: what arrived, and whether the stream ended."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.poll: Any = None
        self.buffer = bytearray()
        self.ended = False  # the peer closed, or the connection was lost
        self.error: BaseException | None = None  # why it was lost, when not a clean close
        self.reading_paused = False
        self.readable: asyncio.Future[None] | None = None  # set while a read waits
        self.writable: asyncio.Future[None] | None = None  # set while the transport pushes back

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.poll = select.poll()  # is_readable: the socket, asked without the event loop
        self.poll.register(transport.get_extra_info("socket").fileno(), select.POLLIN)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > READ_HIGH_WATER and not self.reading_paused and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True
        self._wake_reader()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake_reader()
        return False  # close our side too: HTTP/1.1 never half-closes

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        self._wake_reader()
        self._wake_writer()

    def pause_writing(self) -> None:
        if self.writable is None:
            self.writable = self.loop.create_future()

    def resume_writing(self) -> None:
        self._wake_writer()

    def _wake_reader(self) -> None:
        if self.readable is not None and not self.readable.done():
            self.readable.set_result(None)

    def _wake_writer(self) -> None:
        writable, self.writable = self.writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, connection: _Connection) -> None:
        self._transport = transport
        self._connection = connection

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        conn = self._connection
        while not conn.buffer and not conn.ended:
            conn.readable = conn.loop.create_future()
            try:
                if timeout is None:
                    await conn.readable
                else:
                    async with asyncio.timeout(timeout):
                        await conn.readable
            except TimeoutError:
                raise httpcore.ReadTimeout(f"no data within {timeout:g}s") from None
            finally:
                conn.readable = None
        if conn.buffer:
            if len(conn.buffer) <= max_bytes:
                data = bytes(conn.buffer)
                conn.buffer.clear()
            else:
                data = bytes(conn.buffer[:max_bytes])
                del conn.buffer[:max_bytes]
            if conn.reading_paused and len(conn.buffer) <= READ_LOW_WATER:
                conn.reading_paused = False
                self._transport.resume_reading()
            return data
        if conn.error is not None:
            raise httpcore.ReadError(str(conn.error) or type(conn.error).__name__)
        return b""  # the peer closed: httpcore reads this as the end of the connection

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        conn = self._connection
        if conn.error is not None or self._transport.is_closing():
            raise httpcore.WriteError(str(conn.error or "connection closed"))
        self._transport.write(buffer)
        writable = conn.writable
        if writable is not None:  # over the transport's high-water mark: wait for it to drain
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(writable)  # a cancelled write leaves the shared future usable
            except TimeoutError:
                raise httpcore.WriteTimeout(f"could not write within {timeout:g}s") from None
            if conn.error is not None:
                raise httpcore.WriteError(str(conn.error))

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        loop = self._connection.loop
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(self._transport, self._connection, ssl_context,
                                                 server_hostname=server_hostname)
        except TimeoutError:
            self._transport.abort()
            raise httpcore.ConnectTimeout(f"TLS handshake not done within {timeout:g}s") from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if transport is None:  # the connection closed during the handshake
            raise httpcore.ConnectError("connection closed during the TLS handshake")
        self._connection.transport = transport
        return AsyncioStream(transport, self._connection)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # what the pool asks of every idle connection, before every request
            conn = self._connection
            # The loop may not have run since the peer closed (a node restarted between two requests):
            # then only the socket knows.  One poll on a prepared poll object, no AnyIO attribute dict.
            return bool(conn.buffer) or conn.ended or self._transport.is_closing() or bool(conn.poll.poll(0))
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        return await self._connect(lambda: loop.create_connection(_Connection, host, port, local_addr=local),
                                   timeout, socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        return await self._connect(lambda: loop.create_unix_connection(_Connection, path), timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    @staticmethod
    async def _connect(open_connection: Any, timeout: float | None,
                       socket_options: Iterable[Any] | None) -> AsyncioStream:
        try:
            async with asyncio.timeout(timeout):
                transport, connection = await open_connection()
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"not connected within {timeout:g}s") from None
        except OSError as exc:  # refused, unreachable, name not resolved (socket.gaierror)
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if socket_options:
            sock: socket.socket = transport.get_extra_info("socket")
            for option in socket_options:
                sock.setsockopt(*option)
        return AsyncioStream(transport, connection)


# The one httpcore version whose private _assign_requests_to_connections NodePool rewrites; any other
# keeps httpcore's own (only slower).  tests/nodes/test_pool.py checks that this install gets NodePool.
_POOL_REWRITE_FOR = "1.0."


class NodePool(httpcore.AsyncConnectionPool):
    """httpcore 1.0's connection pool, its request assignment in linear time (same decisions)."""

    def _assign_requests_to_connections(self) -> list[Any]:
        closing: list[Any] = []
        # Closed, expired and surplus idle connections leave the pool.  httpcore tests the surplus
        # with len([c.is_idle() for c in connections]): the number of connections, built per idle one.
        for connection in list(self._connections):
            if connection.is_closed():
                self._connections.remove(connection)
            elif connection.has_expired() or (connection.is_idle()
                                               and len(self._connections) > self._max_keepalive_connections):
                self._connections.remove(connection)
                closing.append(connection)
        # Queued requests get the first available connection, else a new one, else an idle one's place;
        # httpcore lists all available and all idle connections for each before choosing.
        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            available = next((c for c in self._connections if c.can_handle_request(origin) and c.is_available()),
                             None)
            if available is not None:
                pool_request.assign_to_connection(available)
                continue
            if len(self._connections) >= self._max_connections:
                idle = next((c for c in self._connections if c.is_idle()), None)
                if idle is None:
                    continue  # the request waits for a connection to free up
                self._connections.remove(idle)
                closing.append(idle)
            connection = self.create_connection(origin)
            self._connections.append(connection)
            pool_request.assign_to_connection(connection)
        return closing


def pooled_transport(*, verify: ssl.SSLContext | bool, trust_env: bool, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's own transport (request/response mapping, error mapping), on ``NodePool`` + ``AsyncioBackend``.

    httpx builds its pool itself and takes no backend, so the transport's pool is replaced right
    after construction, before any request; it is built with the same settings httpx would use.
    """
    ssl_context = httpx.create_ssl_context(verify=verify, trust_env=trust_env)  # built once, shared below
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits, trust_env=trust_env)
    pool_class = NodePool if (httpcore.__version__.startswith(_POOL_REWRITE_FOR)
                              and hasattr(httpcore.AsyncConnectionPool, "_assign_requests_to_connections")) \
        else httpcore.AsyncConnectionPool
    transport._pool = pool_class(
        ssl_context=ssl_context, max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
        http1=True, http2=False, network_backend=AsyncioBackend())
    return transport
