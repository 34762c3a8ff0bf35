"""Provides `TimingProxy`: an HTTP proxy on 127.0.0.1 that notes when each token passes.

Any client (a bare one, r1chat's app in a terminal, another chat app) is pointed at
the proxy instead of the server; the proxy forwards every request and streams every
answer back unchanged, and notes the wall-clock time of each server-sent event that
carries text. The server's speed as each client lets it run is then read from the
same place for all of them, and the time a client shows a reply as finished can be
set against the moment the last token passed.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from r1chat.errors import R1ChatError

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class TimingProxy:
    """Forward to `target`, noting when each streamed answer's tokens passed."""

    def __init__(self, target: str) -> None:
        parts = httpx.URL(target)
        self.target = f"{parts.scheme}://{parts.netloc.decode()}"
        """The server's origin: paths pass through as the client sent them."""
        self._streams: list[tuple[bytes | None, list[float]]] = []
        """Each request's body, and the times its answer's tokens passed."""
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the answer ends when the connection closes

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                proxy._forward(self, "GET")

            def do_POST(self) -> None:
                proxy._forward(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def replies(self) -> list[list[float]]:
        """The times tokens passed, per answer with text, in the order they were asked for."""
        with self._lock:
            return [stamps for _, stamps in self._streams if stamps]

    @property
    def asked(self) -> list[bytes | None]:
        """The body of each request behind `replies`, in the same order (to send again)."""
        with self._lock:
            return [body for body, stamps in self._streams if stamps]

    @property
    def url(self) -> str:
        """Where clients connect instead of the server."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _forward(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_HEADERS}
        stamps: list[float] = []
        with self._lock:  # in the order requests came, whenever each one ends
            self._streams.append((body, stamps))
        try:
            with (
                httpx.Client(timeout=None) as client,
                client.stream(
                    method, self.target + handler.path, headers=headers, content=body
                ) as up,
            ):
                handler.send_response(up.status_code)
                for name, value in up.headers.items():
                    if name.lower() not in _HOP_HEADERS and name.lower() != "content-encoding":
                        handler.send_header(name, value)
                handler.end_headers()
                pending = b""
                for chunk in up.iter_raw():
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    now = time.time()
                    stamps += [now for line in lines if _carries_text(line)]
                    handler.wfile.write(chunk)
                    handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client had all it wanted (after [DONE]) or stopped the reply

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def _carries_text(line: bytes) -> bool:
    """Whether one line of an event stream is a chunk with reply text in it."""
    if not line.startswith(b"data:"):
        return False
    data = line[5:].strip()
    if not data or data == b"[DONE]":
        return False
    try:
        chunk = json.loads(data)
    except ValueError:
        return False
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning"):
            return True
    return False


def speed(stamps: list[float]) -> float:
    """Tokens per second after the first, from the times they passed."""
    if len(stamps) < 2 or stamps[-1] <= stamps[0]:
        raise R1ChatError("The server sent fewer than two tokens; benchmark with more --tokens.")
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])
