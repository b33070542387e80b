"""Fetching cover bytes: local paths (kept inside the catalog's folders) and http(s) URLs (cached).

Downloads follow a network policy (docs/reliability.md):

- **A total deadline per cover** (``download_seconds``, retries included): a server that sends a byte
  now and then cannot hold the job; each single wait (connect, one read) is also bounded
  (``timeout``), so one cover costs at most ``download_seconds + timeout``.
- **Retries** (tenacity, as the store does) only for what may pass: connection errors, timeouts,
  HTTP 5xx and 429; never for 4xx, an exhausted deadline or a refused address.
- **No private targets**: a URL whose host resolves to a loopback, private, link-local or other
  non-public address is refused, on the first request and on every redirect, unless
  ``allow_private_urls``; the request goes to the address that was checked (no second lookup).
- **Only images are cached**: a response that is not an image (an HTML error page) is handed to the
  decoder, which flags the book's cover as unreadable, and is fetched again next time.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx
from PIL import Image, UnidentifiedImageError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

MAX_COVER_BYTES = 20 * 1024 * 1024
DOWNLOAD_SECONDS = 30.0  # all attempts at one cover together
WAIT_SECONDS = 10.0  # one connect or one read
MAX_REDIRECTS = 5


class CoverError(Exception):
    """A cover could not be had; the message is the reason written to the rejects report."""


class RetryableStatus(Exception):
    """An HTTP status that may pass on a later attempt (5xx, 429)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def is_retryable(error: BaseException) -> bool:
    return isinstance(error, RetryableStatus | httpx.TransportError)


def public_address(host: str, port: int) -> str:
    """The first address ``host`` resolves to, if every one is public; else CoverError."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise CoverError(f"cover host {host!r} not found: {error.strerror}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    private = [address for address in addresses if not address.is_global]
    if private:
        raise CoverError(
            f"cover URL host {host!r} is a private address ({private[0]}): refused (use --allow-private-urls)"
        )
    return str(addresses[0])


def is_image(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)):
            return True
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return False


class CoverFetcher:
    def __init__(
        self,
        roots: list[Path],
        cache_dir: Path,
        allow_outside: bool = False,
        timeout: float = WAIT_SECONDS,
        retries: int = 3,
        max_bytes: int = MAX_COVER_BYTES,
        download_seconds: float = DOWNLOAD_SECONDS,
        allow_private_urls: bool = False,
    ) -> None:
        self.roots = [root.resolve() for root in roots]
        self.cache_dir = cache_dir
        self.allow_outside = allow_outside
        self.timeout = timeout
        self.retries = retries
        self.max_bytes = max_bytes
        self.download_seconds = download_seconds
        self.allow_private_urls = allow_private_urls
        self._client: httpx.Client | None = None

    def locate(self, reference: str) -> str:
        """The canonical location stored with the book: an absolute path or the URL."""
        if urlparse(reference).scheme in ("http", "https"):
            return reference
        return str(self._path(reference))

    def fetch(self, reference: str) -> bytes:
        scheme = urlparse(reference).scheme
        if scheme in ("http", "https"):
            return self._download(reference)
        if scheme and len(scheme) > 1:  # "C:" is a drive, "file:", "ftp:" are refused
            raise CoverError(f"unsupported scheme {scheme!r}: only paths and http(s) URLs")
        path = self._path(reference)
        try:
            size = path.stat().st_size
        except OSError:
            raise CoverError(f"cover file not found: {path}") from None
        if size > self.max_bytes:
            raise CoverError(f"cover file too large ({size} bytes, limit {self.max_bytes})")
        return path.read_bytes()

    def _path(self, reference: str) -> Path:
        candidate = Path(reference).expanduser()
        if candidate.is_absolute():
            resolved = candidate.resolve()
        else:
            found = [(root / candidate).resolve() for root in self.roots]
            resolved = next((path for path in found if path.exists()), found[0])
        if not self.allow_outside and not any(resolved.is_relative_to(root) for root in self.roots):
            raise CoverError(f"cover path {reference!r} is outside the catalog's folders (use --allow-outside)")
        return resolved

    # -- downloads ----------------------------------------------------------------------------
    def _download(self, url: str) -> bytes:
        cached = self.cache_dir / hashlib.sha256(url.encode()).hexdigest()
        if cached.is_file():
            return cached.read_bytes()
        deadline = time.monotonic() + self.download_seconds
        retrying = Retrying(
            retry=retry_if_exception(is_retryable),
            stop=stop_after_attempt(self.retries) | stop_after_delay(self.download_seconds),
            wait=wait_exponential(multiplier=0.5, max=4),
            reraise=True,
        )
        try:
            data = retrying(self._get, url, deadline)
        except RetryableStatus as error:
            raise CoverError(f"cover download failed after {self.retries} attempt(s): {error}") from None
        except httpx.HTTPError as error:
            raise CoverError(f"cover download failed: {type(error).__name__}: {error}") from None
        if is_image(data):
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(cached)
        return data

    def _get(self, url: str, deadline: float) -> bytes:
        """One attempt: the redirects followed by hand, each target checked, the body read within the deadline."""
        self._client = self._client or httpx.Client(timeout=self.timeout, follow_redirects=False)
        for _ in range(MAX_REDIRECTS + 1):
            with self._send(httpx.URL(url), deadline) as response:
                if response.is_redirect:
                    url = str(httpx.URL(url).join(response.headers["location"]))
                    continue
                if response.status_code >= 500 or response.status_code == 429:
                    raise RetryableStatus(response.status_code)
                if response.status_code >= 400:
                    raise CoverError(f"cover download failed: HTTP {response.status_code}")
                return self._body(response, deadline)
        raise CoverError(f"cover download failed: more than {MAX_REDIRECTS} redirects")

    def _send(self, url: httpx.URL, deadline: float):
        assert self._client is not None
        if url.scheme not in ("http", "https"):
            raise CoverError(f"cover URL redirected to an unsupported scheme {url.scheme!r}")
        timeout = max(0.1, min(self.timeout, deadline - time.monotonic()))
        if self.allow_private_urls:
            return self._client.stream("GET", url, timeout=timeout)
        address = public_address(url.host, url.port or (443 if url.scheme == "https" else 80))
        return self._client.stream(
            "GET",
            url.copy_with(host=address),  # connect to the address that was checked, not a second lookup's
            headers={"Host": url.netloc.decode()},
            extensions={"sni_hostname": url.host},
            timeout=timeout,
        )

    def _body(self, response: httpx.Response, deadline: float) -> bytes:
        chunks, total = [], 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > self.max_bytes:
                raise CoverError(f"cover download larger than {self.max_bytes} bytes")
            if time.monotonic() > deadline:
                raise CoverError(f"cover download took longer than {self.download_seconds:g} s (at {total} bytes)")
            chunks.append(chunk)
        return b"".join(chunks)
