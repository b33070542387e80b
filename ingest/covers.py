"""Fetching cover bytes: local paths (kept inside the catalog's folders) and http(s) URLs (cached)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

MAX_COVER_BYTES = 20 * 1024 * 1024


class CoverError(Exception):
    """A cover could not be had; the message is the reason written to the rejects report."""


class CoverFetcher:
    def __init__(
        self,
        roots: list[Path],
        cache_dir: Path,
        allow_outside: bool = False,
        timeout: float = 10.0,
        retries: int = 3,
        max_bytes: int = MAX_COVER_BYTES,
    ) -> None:
        self.roots = [root.resolve() for root in roots]
        self.cache_dir = cache_dir
        self.allow_outside = allow_outside
        self.timeout = timeout
        self.retries = retries
        self.max_bytes = max_bytes
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

    def _download(self, url: str) -> bytes:
        cached = self.cache_dir / hashlib.sha256(url.encode()).hexdigest()
        if cached.is_file():
            return cached.read_bytes()
        self._client = self._client or httpx.Client(timeout=self.timeout, follow_redirects=True)
        last_error = ""
        for attempt in range(self.retries):
            try:
                data = self._get(url)
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                partial = cached.with_suffix(".part")
                partial.write_bytes(data)
                partial.replace(cached)
                return data
            except CoverError:
                raise
            except httpx.HTTPStatusError as error:
                last_error = f"HTTP {error.response.status_code}"
                if error.response.status_code < 500 and error.response.status_code != 429:
                    break  # a 404 will not change on retry
            except httpx.HTTPError as error:
                last_error = f"{type(error).__name__}: {error}"
            time.sleep(0.5 * 2**attempt)
        raise CoverError(f"cover download failed after {attempt + 1} attempt(s): {last_error}")

    def _get(self, url: str) -> bytes:
        assert self._client is not None
        with self._client.stream("GET", url) as response:
            response.raise_for_status()
            chunks, total = [], 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > self.max_bytes:
                    raise CoverError(f"cover download larger than {self.max_bytes} bytes")
                chunks.append(chunk)
        return b"".join(chunks)
