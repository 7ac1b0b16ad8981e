"""The shared pool: one client per running loop, reused, closable, no default timeout."""

from __future__ import annotations

import asyncio

import httpx

from jarvis_tui.nodes.http import close_shared_http_client, iter_sse, shared_http_client


async def test_one_client_per_loop_reused_and_closed() -> None:
    first = shared_http_client()
    assert shared_http_client() is first
    assert first.timeout == httpx.Timeout(None)  # every request passes its node's own timeout
    await close_shared_http_client()
    assert first.is_closed
    second = shared_http_client()
    assert second is not first and not second.is_closed
    await close_shared_http_client()


def test_each_event_loop_gets_its_own_client() -> None:
    async def grab() -> httpx.AsyncClient:
        client = shared_http_client()
        await close_shared_http_client()
        return client

    assert asyncio.run(grab()) is not asyncio.run(grab())


async def test_pooled_connection_is_reused(loopback_node) -> None:
    node = loopback_node()
    client = shared_http_client()
    try:
        for _ in range(5):
            response = await client.get(f"{node.url}/v1/models", timeout=httpx.Timeout(2.0))
            assert response.status_code == 200
    finally:
        await close_shared_http_client()
    # keep-alive: five requests, one TCP connection seen by the server
    assert len({r.client_port for r in node.requests}) == 1
    assert len(node.requests) == 5


async def test_sse_parser_handles_names_comments_multiline_and_unterminated_tail() -> None:
    body = (b": keep-alive\n\nevent: message.delta\ndata: {\"a\":\ndata: 1}\n\n"
            b"data: first\r\ndata: second\r\n\r\ndata: tail-without-blank-line")

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        async with client.stream("GET", "http://node/x") as response:
            events = [(e.event, e.data) async for e in iter_sse(response)]
    assert events == [("message.delta", "{\"a\":\n1}"), ("message", "first\nsecond"),
                      ("message", "tail-without-blank-line")]


async def _events(chunks: list[bytes]) -> list[tuple[str, str]]:
    class Chunked(httpx.AsyncByteStream):
        async def __aiter__(self):
            for chunk in chunks:
                yield chunk

    response = httpx.Response(200, stream=Chunked(), headers={"content-type": "text/event-stream"})
    return [(e.event, e.data) async for e in iter_sse(response)]


async def test_sse_parser_gives_the_same_events_however_the_body_is_chunked() -> None:
    # The parser splits lines on bytes: a CRLF, a CR-only line end or a UTF-8 character cut between
    # two chunks must not change the events (nor a CR taken for a blank line).
    body = ("event: a\r\ndata: é1\r\n\r\n: comment\rdata: 2\r\rdata: x\ndata:y\n\n"
            "event: last\ndata: ☃ tail").encode()
    expected = [("a", "é1"), ("message", "2"), ("message", "x\ny"), ("last", "☃ tail")]
    assert await _events([body]) == expected
    for i in range(1, len(body)):
        for j in range(i, len(body), 7):
            assert await _events([body[:i], body[i:j], body[j:]]) == expected, (i, j)
    assert await _events([b"data: 1\r", b"\n", b"\r\n"]) == [("message", "1")]
    assert await _events([b"data: 1\r"]) == [("message", "1")]
    assert await _events([]) == []
