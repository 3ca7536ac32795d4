"""The HTTP protocol ``onewindow serve`` gives uvicorn: its httptools protocol, writing each answer at once.

uvicorn writes an answer's status line and headers to the socket when the
application starts the answer, and its body when the application sends it: two
``send`` system calls, so two TCP segments, for every answer of the API. On a
loopback or local network connection the second one costs as much as the first
(the kernel delivers each segment and wakes the reader each time); measured
with ``bench/filings.py`` the server spent about 5 % of its CPU on it.

:class:`HttpProtocol` holds a header block back until the body follows it in
the same turn of the event loop and writes both at once; a header block not
followed by a body in that turn (a streamed answer) is written at the end of the
turn. Nothing else about the protocol changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_END_OF_HEADERS = b"\r\n\r\n"


class OneWriteTransport:
    """A transport that writes a header block together with what is written right after it.

    Every other call goes to the wrapped transport unchanged; what it holds is
    written before the transport is closed or aborted.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._held: bytes | None = None
        self._flush_later: asyncio.Handle | None = None

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
            self._flush_later.cancel()
            self._transport.write(data)
        elif data.endswith(_END_OF_HEADERS):
            self._held = bytes(data)
            self._flush_later = self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Write what is held back, if anything."""
        if self._held is not None:
            data, self._held = self._held, None
            self._flush_later.cancel()
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a :class:`OneWriteTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneWriteTransport(transport, self.loop))
