"""The served HTTP protocol: every answer as before, an answer's headers and body in one write."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from onewindow.serving import HttpProtocol, OneWriteTransport


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default=None):
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


def test_headers_and_the_body_after_them_are_one_write():
    async def scenario() -> _Recorder:
        recorder = _Recorder()
        transport = OneWriteTransport(recorder, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")
        transport.write(b"more")
        await asyncio.sleep(0)
        return recorder

    recorder = asyncio.run(scenario())
    assert recorder.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}", b"more"]


def test_headers_alone_are_written_at_the_end_of_the_turn_or_on_close():
    async def scenario() -> list:
        loop = asyncio.get_running_loop()
        recorder = _Recorder()
        transport = OneWriteTransport(recorder, loop)
        transport.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        assert recorder.writes == []
        await asyncio.sleep(0)
        seen = list(recorder.writes)
        transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        transport.close()
        assert transport.get_extra_info("peername") == ("127.0.0.1", 1)  # everything else is the transport's
        return [seen, recorder.writes, recorder.closed]

    seen, writes, closed = asyncio.run(scenario())
    assert seen == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]
    assert writes[-1] == b"HTTP/1.1 204 No Content\r\n\r\n" and closed


async def _app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/stream":  # headers first, the body in pieces with pauses between them
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for piece in (b"one,", b"two,", b"three"):
            await asyncio.sleep(0.05)
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    body = b'{"path": "' + path.encode() + b'"}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def served():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_app, host="127.0.0.1", port=port, http=HttpProtocol, log_level="error",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_answers_are_whole_over_a_kept_alive_connection(served):
    with httpx.Client(base_url=served) as client:
        for i in range(20):
            answer = client.get(f"/item/{i}")
            assert answer.status_code == 200 and answer.json() == {"path": f"/item/{i}"}
        assert client.head("/item/x").status_code == 200
        assert client.get("/empty").status_code == 204
        with client.stream("GET", "/stream") as streamed:
            first = time.monotonic()
            assert streamed.status_code == 200  # the headers came before the body was finished
            assert b"".join(streamed.iter_bytes()) == b"one,two,three"
            assert time.monotonic() - first >= 0.1
        assert client.get("/item/last").json() == {"path": "/item/last"}
