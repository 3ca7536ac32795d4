"""The benchmarks' HTTP client (``bench/common.Connection``): requests on one kept-alive connection."""

from __future__ import annotations

import asyncio

import pytest

from tests.bench import bench_module


def _common():
    return bench_module("common")


ANSWERS = [
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"id\": \"a\"}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"ok\r\n6\r\n\": 1}\n\r\n0\r\n\r\n",
]


async def _serve_then(answers: list[bytes], close: bool):
    """A server answering each request on a connection with the next of ``answers`` (then closing it when
    ``close``); returns it and the requests it read (head, body)."""
    received: list[tuple[bytes, bytes]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in answers:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            received.append((head, await reader.readexactly(length)))
            writer.write(answer)
            await writer.drain()
        if close:
            await reader.read(1024)  # the next request, unanswered
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0), received


def test_requests_follow_each_other_on_one_connection_and_answers_are_read_whole():
    common = _common()

    async def run():
        server, received = await _serve_then(ANSWERS, close=False)
        port = server.sockets[0].getsockname()[1]
        connection = await common.Connection.to(f"http://127.0.0.1:{port}")
        headers = "Authorization: Bearer t\r\nContent-Type: application/json\r\n"
        first = await connection.request("POST", "/api/v1/filings", headers, b'{"n": 1}')
        second = await connection.request("POST", "/api/v1/filings/a/submit", headers)
        connection.close()
        server.close()
        return first, second, received

    first, second, received = asyncio.run(run())
    assert first == (201, b'{"id": "a"}')
    assert second == (200, b'{"ok": 1}\n')
    (head1, body1), (head2, body2) = received
    assert head1.startswith(b"POST /api/v1/filings HTTP/1.1\r\n") and b"\r\nContent-Length: 8\r\n" in head1
    assert b"\r\nAuthorization: Bearer t\r\n" in head1 and body1 == b'{"n": 1}'
    assert head2.startswith(b"POST /api/v1/filings/a/submit HTTP/1.1\r\n") and body2 == b""


def test_a_connection_closed_before_the_answer_fails_the_request():
    common = _common()

    async def run():
        server, _ = await _serve_then(ANSWERS[:1], close=True)
        port = server.sockets[0].getsockname()[1]
        connection = await common.Connection.to(f"http://127.0.0.1:{port}")
        assert (await connection.request("GET", "/healthz", ""))[0] == 201
        try:
            with pytest.raises(ConnectionError, match="closed the connection"):
                await connection.request("GET", "/healthz", "")
        finally:
            server.close()

    asyncio.run(run())
