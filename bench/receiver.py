"""A webhook receiver on 127.0.0.1 for the relay's benchmark and tests (one copy, loaded by both).

:class:`Receiver` is an HTTP/1.1 server (keep-alive, a thread per connection)
that keeps every request it gets (path, headers, body, arrival time) and
answers ``respond(index, payload)`` (200 by default; a body on every answer,
an excerpt of which the relay records for failures). :class:`RemoteReceiver`
runs one in a process of its own, so it takes no CPU time from the
interpreter of the relay being measured.

Tests load this file by path (``tests/events/conftest.py``); the benchmark
imports it from its own folder.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OK = b'{"ok": true}'
DOWN = b"receiver is down\n  try later"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    """Arrival time (``time.time()``)."""

    @property
    def json(self) -> dict:
        return json.loads(self.body)


def always_ok(_index: int, _payload: dict) -> int:
    return 200


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers ``respond(index, payload)``."""

    def __init__(self, respond: Callable[[int, dict], int] = always_ok) -> None:
        self.requests: list[Received] = []
        self.respond = respond
        self._first: dict[str, float] = {}
        lock, receiver = threading.Lock(), self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no wait for the client's ACK

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                now = time.time()
                with lock:
                    index = len(receiver.requests)
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body, now))
                    receiver._first.setdefault(self.headers["webhook-id"], now)
                status = receiver.respond(index, json.loads(body))
                answer = OK if status < 300 else DOWN
                self.send_response(status)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.request_queue_size = 128
        self.server.daemon_threads = True
        self.server.server_bind()
        self.server.server_activate()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    @property
    def ids(self) -> list[str]:
        """The ``webhook-id`` of every request, in arrival order (repeats included)."""
        return [r.headers["webhook-id"] for r in self.requests]

    def arrivals(self) -> dict[str, float]:
        """When each ``webhook-id`` first arrived."""
        return dict(self._first)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _serve(conn) -> None:
    """The receiver's own process: answers the parent's questions until told to stop."""
    receiver = Receiver()
    conn.send(receiver.url)
    while True:
        command = conn.recv()
        if command == "count":
            conn.send(len(receiver._first))
        elif command == "arrivals":
            conn.send(receiver.arrivals())
        else:
            conn.send(len(receiver.requests))
            break
    receiver.close()


class RemoteReceiver:
    """A :class:`Receiver` answering 200 in a process of its own; ``count`` and ``arrivals`` ask it."""

    def __init__(self) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()
        self.url = self.conn.recv()

    def _ask(self, command: str):
        self.conn.send(command)
        return self.conn.recv()

    def count(self) -> int:
        """How many distinct webhook-ids arrived."""
        return self._ask("count")

    def arrivals(self) -> dict[str, float]:
        return self._ask("arrivals")

    def close(self) -> int:
        """Stop it; how many requests it got (repeats included)."""
        requests = self._ask("stop")
        self.process.join(10)
        return requests
