"""A small stand-in for the Hugging Face hub's file endpoints, on 127.0.0.1, for pull tests.

It answers `HEAD` and `GET /{repo}/resolve/{revision}/{file}` like the hub does for LFS
files (ETag = SHA-256, byte ranges for resuming), can cut the first download short, and
can publish a wrong hash.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HostedFile:
    data: bytes
    published_sha256: str | None = None
    cut_first_download_at: int | None = None
    stall_first_download_at: int | None = None
    """Send this many bytes of the first download, then hold the connection until `release`."""
    release: threading.Event = field(default_factory=threading.Event)
    downloads: int = 0

    @property
    def sha256(self) -> str:
        return self.published_sha256 or hashlib.sha256(self.data).hexdigest()


@dataclass
class FakeHub:
    files: dict[str, HostedFile] = field(default_factory=dict)
    """By "org/repo/filename"."""
    ranges: list[str] = field(default_factory=list)
    """Every Range header received."""
    server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _file(self) -> HostedFile | None:
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return None
                repo, filename = "/".join(parts[:2]), "/".join(parts[4:])
                if not any(key.startswith(repo + "/") for key in hub.files):
                    self.send_response(404)
                    self.send_header("X-Error-Code", "RepoNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                hosted = hub.files.get(f"{repo}/{filename}")
                if hosted is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                return hosted

            def _headers(self, hosted: HostedFile, status: int, length: int) -> None:
                self.send_response(status)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hosted.sha256}"')
                self.send_header("X-Linked-Etag", f'"{hosted.sha256}"')
                self.send_header("X-Linked-Size", str(len(hosted.data)))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(length))

            def do_HEAD(self) -> None:
                hosted = self._file()
                if hosted is not None:
                    self._headers(hosted, 200, len(hosted.data))
                    self.end_headers()

            def do_GET(self) -> None:
                hosted = self._file()
                if hosted is None:
                    return
                start = 0
                header = self.headers.get("Range")
                if header:
                    hub.ranges.append(header)
                    start = int(header.removeprefix("bytes=").split("-")[0])
                body = hosted.data[start:]
                self._headers(hosted, 206 if start else 200, len(body))
                if start:
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(hosted.data) - 1}/{len(hosted.data)}"
                    )
                self.end_headers()
                hosted.downloads += 1
                stall = hosted.stall_first_download_at
                if stall is not None and hosted.downloads == 1:
                    self.wfile.write(body[:stall])
                    self.wfile.flush()
                    hosted.release.wait(60)
                    self.close_connection = True
                    return
                cut = hosted.cut_first_download_at
                if cut is not None and hosted.downloads == 1:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
