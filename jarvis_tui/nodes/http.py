"""The process's pooled HTTP clients, and the Server-Sent Events reader the wire protocols share.

An ``httpx.AsyncClient`` belongs to the event loop it first did I/O on, so
"one shared client per process" is really one per running loop: the CLI runs
one loop, tests run many.  The clients carry no default timeout on purpose:
every request passes the node's own ``httpx.Timeout`` (``NodeClient.timeout``),
so a slow cloud node and a fast LAN node never share a limit.

The anthropic SDK (2.x) ships its own fork, ``httpx2``, and refuses plain
httpx objects; ``shared_sdk_http_client`` keeps one pooled ``httpx2`` client per
loop for it, imported only when a Claude node is actually used.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from jarvis_tui.nodes.pool import pooled_transport

# A cluster is a handful of nodes, each streaming a few requests at once; keep-alive
# matters more than breadth (TLS handshakes to the cloud nodes cost ~100 ms each).
POOL_MAX_CONNECTIONS = 64
POOL_MAX_KEEPALIVE = 32
POOL_KEEPALIVE_EXPIRY_S = 30.0
USER_AGENT = "jarvis-tui"

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()
_sdk_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def pool_limits() -> httpx.Limits:
    return httpx.Limits(max_connections=POOL_MAX_CONNECTIONS, max_keepalive_connections=POOL_MAX_KEEPALIVE,
                        keepalive_expiry=POOL_KEEPALIVE_EXPIRY_S)


def shared_http_client(*, tls: bool = True) -> httpx.AsyncClient:
    """The pooled client of the running loop; created on first use.

    ``tls=False`` says no node speaks https: every node is on the LAN or loopback.
    Loading the CA bundle costs ~40 ms of every headless call, so such a client
    gets a strict TLS context with no CAs (any https request would fail
    verification rather than go unverified), and it ignores the proxy variables,
    which a LAN node should never go through and whose lookup costs ~20 ms more.
    """
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        verify: ssl.SSLContext | bool = True if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client = httpx.AsyncClient(limits=pool_limits(), timeout=None, follow_redirects=False,
                                   headers={"User-Agent": USER_AGENT}, verify=verify, trust_env=tls,
                                   # The pool under httpx: plain asyncio sockets, linear bookkeeping (nodes/pool.py: why).
                                   transport=pooled_transport(verify=verify, trust_env=tls, limits=pool_limits()))
        _clients[loop] = client
    return client


def shared_sdk_http_client() -> Any:
    """The pooled ``httpx2.AsyncClient`` of the running loop, for the anthropic SDK."""
    import httpx2  # comes with the anthropic SDK; only Claude nodes need it

    loop = asyncio.get_running_loop()
    client = _sdk_clients.get(loop)
    if client is None or client.is_closed:
        client = httpx2.AsyncClient(
            limits=httpx2.Limits(max_connections=POOL_MAX_CONNECTIONS, max_keepalive_connections=POOL_MAX_KEEPALIVE,
                                 keepalive_expiry=POOL_KEEPALIVE_EXPIRY_S),
            timeout=None, follow_redirects=False)
        _sdk_clients[loop] = client
    return client


async def close_shared_http_client() -> None:
    """Close the running loop's pooled clients (call before the loop ends)."""
    loop = asyncio.get_running_loop()
    for registry in (_clients, _sdk_clients):
        client = registry.pop(loop, None)
        if client is not None and not client.is_closed:
            await client.aclose()


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One Server-Sent Event: its name and its (joined) data lines."""

    event: str  # "message" when the server named none
    data: str


async def iter_sse(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """Parse a ``text/event-stream`` body into events (WHATWG rules, minus ``id``/``retry``).

    An event is dispatched at a blank line; data lines join with newlines; lines
    starting with ``:`` are comments (keep-alives).  A final event not followed by
    a blank line is still dispatched: several servers end the body right after
    their last ``data:`` line.

    Lines are split on bytes (LF, CRLF or CR ends a line) and decoded one by one:
    httpx's ``aiter_lines`` runs each chunk through a text decoder and a line
    decoder first, ~75 us of an instant request's ~2 ms of CPU on the 2-CPU box
    (bench/routing_overhead.py).
    """
    event_name = ""
    data_lines: list[str] = []
    pending = b""  # an unfinished line, and a CR that may be the first half of a CRLF
    chunks = response.aiter_bytes()
    while True:
        chunk = await anext(chunks, None)
        ended = chunk is None
        pending += b"\n" if ended else chunk  # the end of the body ends its last line
        held_cr = not ended and pending.endswith(b"\r")
        text = pending[:-1] if held_cr else pending
        if b"\r" in text:
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = text.split(b"\n")
        pending = lines.pop() + (b"\r" if held_cr else b"")  # what follows the last line end
        for raw in lines:
            if not raw:
                if data_lines:
                    yield SseEvent(event_name or "message", "\n".join(data_lines))
                event_name, data_lines = "", []
                continue
            field, _, value = raw.decode("utf-8", "replace").partition(":")  # ":..." is a comment: field ""
            value = value.removeprefix(" ")
            if field == "data":
                data_lines.append(value)
            elif field == "event":
                event_name = value
        if ended:
            break
    if data_lines:
        yield SseEvent(event_name or "message", "\n".join(data_lines))


