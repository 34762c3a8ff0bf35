"""A small scripted OpenAI-compatible server on 127.0.0.1 for the remote engine's faults.

Each test sets `server.scenario`, a function that writes the whole response for one
`POST /v1/chat/completions` (the request body and headers are kept in `server.requests`).
`GET /v1/models` lists `server.models`. Everything is bounded in time.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def chunk(content: str = "", reasoning: str = "", field: str = "reasoning_content", **extra: Any):
    """One streamed chunk's JSON, as the OpenAI-compatible servers send it."""
    delta: dict[str, Any] = {}
    if content:
        delta["content"] = content
    if reasoning:
        delta[field] = reasoning
    body = {"choices": [{"index": 0, "delta": delta, "finish_reason": None}], **extra}
    return json.dumps(body)


FINISH = json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})


class Handler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.server.gets.append(self.path)
        if self.path.rstrip("/") == "/props" and self.server.props is not None:
            self._send(200, json.dumps(self.server.props), "application/json")
            return
        if self.path.rstrip("/") != "/v1/models":
            self.send_error(404)
            return
        data = [{"id": m, **self.server.model_fields} for m in self.server.models]
        self._send(200, json.dumps({"object": "list", "data": data}), "application/json")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append(
            {"path": self.path, "body": body, "headers": dict(self.headers)}
        )
        self.server.scenario(self, body)

    def _send(self, status: int, body: str, kind: str, headers: dict[str, str] | None = None):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

    def event(self, data: str, pause: float = 0.0) -> None:
        self.wfile.write(f"data: {data}\n\n".encode())
        self.wfile.flush()
        if pause:
            time.sleep(pause)

    def stream(self, datas: list[str], done: bool = True, pause: float = 0.0) -> None:
        self.start_stream()
        for data in datas:
            self.event(data, pause)
        if done:
            self.event("[DONE]")

    def error(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, body, "application/json", headers)


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict[str, Any]] = []
        self.gets: list[str] = []
        """Paths of every GET (`/v1/models`)."""
        self.models = ["scripted-r1"]
        self.model_fields: dict[str, Any] = {}
        """More fields for each `/v1/models` entry (vLLM's `max_model_len`)."""
        self.props: dict[str, Any] | None = None
        """What `/props` answers (llama-server); `None`: 404."""
        self.scenario: Callable[[Handler, dict[str, Any]], None] = lambda h, body: h.stream(
            [chunk("Hello"), FINISH]
        )

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-stream (r1chat stopping a hostile stream) is expected."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v1"


@contextmanager
def scripted_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
