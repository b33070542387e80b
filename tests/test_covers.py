"""Cover downloads: a total deadline, retries, no private targets (also after redirects), only images cached."""

from __future__ import annotations

import http.server
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from PIL import Image

import ingest.covers
from ingest.covers import CoverError, CoverFetcher


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 60), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


class Handler(http.server.BaseHTTPRequestHandler):
    """Each path is a behaviour: an image, a page, a trickle, failures, redirects."""

    hits: ClassVar[list[str]] = []
    failures_left: ClassVar[dict[str, int]] = {}

    def log_message(self, *args: object) -> None:
        pass

    def send(self, status: int, body: bytes, kind: str = "image/png") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        Handler.hits.append(self.path)
        if self.path == "/cover.png":
            self.send(200, png_bytes())
        elif self.path == "/page.html":
            self.send(200, b"<html>sign in first</html>", "text/html")
        elif self.path == "/missing.png":
            self.send(404, b"no")
        elif self.path == "/flaky.png":
            left = Handler.failures_left.get(self.path, 2)
            Handler.failures_left[self.path] = left - 1
            self.send(503, b"busy") if left > 0 else self.send(200, png_bytes())
        elif self.path.startswith("/redirect-to/"):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/redirect-to/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/trickle.png":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):  # one byte every 0.3 s: each read is quick, the whole is not
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.3)


@pytest.fixture
def server() -> Iterator[str]:
    Handler.hits.clear()
    Handler.failures_left.clear()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def fetcher(tmp_path: Path, **options: object) -> CoverFetcher:
    return CoverFetcher([tmp_path], tmp_path / "cache", **{"allow_private_urls": True, **options})


def test_a_trickling_server_cannot_hold_a_download_past_its_deadline(server, tmp_path):
    covers = fetcher(tmp_path, download_seconds=1.5, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(CoverError, match=r"longer than 1\.5 s"):
        covers.fetch(f"{server}/trickle.png")
    assert time.monotonic() - started < 1.5 + 1.0 + 1.0  # the deadline, one bounded wait, slack


def test_transient_failures_are_retried_and_client_errors_are_not(server, tmp_path):
    covers = fetcher(tmp_path)
    assert covers.fetch(f"{server}/flaky.png") == png_bytes()
    assert Handler.hits.count("/flaky.png") == 3  # 503, 503, 200
    with pytest.raises(CoverError, match="HTTP 404"):
        covers.fetch(f"{server}/missing.png")
    assert Handler.hits.count("/missing.png") == 1


def test_private_and_loopback_targets_are_refused_unless_allowed(server, tmp_path):
    port = server.rsplit(":", 1)[1]
    refusing = fetcher(tmp_path, allow_private_urls=False)
    for url in (f"{server}/cover.png", f"http://localhost:{port}/cover.png", "http://169.254.169.254/latest/"):
        with pytest.raises(CoverError, match="private address"):
            refusing.fetch(url)
    assert Handler.hits == []  # refused before any request was sent
    assert fetcher(tmp_path).fetch(f"{server}/cover.png") == png_bytes()


def test_a_redirect_to_a_private_address_is_refused(server, tmp_path, monkeypatch):
    """A public host (pretended here by one name that resolves to the test server) may not redirect inwards."""
    port = int(server.rsplit(":", 1)[1])
    real = ingest.covers.public_address
    monkeypatch.setattr(
        ingest.covers, "public_address", lambda host, p: "127.0.0.1" if host == "covers.example" else real(host, p)
    )
    refusing = fetcher(tmp_path, allow_private_urls=False)
    assert refusing.fetch(f"http://covers.example:{port}/cover.png") == png_bytes()  # pinned to the checked address
    with pytest.raises(CoverError, match="private address"):
        refusing.fetch(f"http://covers.example:{port}/redirect-to/{server}/cover.png")
    assert Handler.hits == ["/cover.png", f"/redirect-to/{server}/cover.png"]


def test_only_images_are_cached(server, tmp_path):
    covers = fetcher(tmp_path)
    assert covers.fetch(f"{server}/page.html").startswith(b"<html>")
    covers.fetch(f"{server}/page.html")
    assert Handler.hits.count("/page.html") == 2  # not cached: asked again
    covers.fetch(f"{server}/cover.png")
    covers.fetch(f"{server}/cover.png")
    assert Handler.hits.count("/cover.png") == 1
    assert len(list((tmp_path / "cache").iterdir())) == 1
