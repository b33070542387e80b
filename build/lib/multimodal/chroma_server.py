"""Run a Chroma server for Folio, with the ``chroma`` command that ships with the chromadb package.

From a shell::

    python -m multimodal.chroma_server --path .folio/server --port 8000

prints the environment variables that point Folio (ingest, app, API) at it and serves until Ctrl-C.
From Python (tests, scripts), as a context manager that never leaves a process behind::

    with ChromaServer(Path("data")) as server:     # a free loopback port unless port= is given
        settings = Settings(chroma_host=server.host, chroma_port=server.port)

The server is stopped with SIGTERM, then SIGKILL if it does not exit in time. On Linux it is also
told to die with its parent (``die_with_parent``), so even a ``kill -9`` of the process that started
it stops it; strictly, Linux ties it to the *thread* that started it, so start long-lived servers
from a thread that lives as long as they should (or pass ``die_with_parent=False``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from multimodal.errors import FolioError


def chroma_command() -> list[str]:
    """The ``chroma`` CLI installed beside this Python (the venv's bin), else the one on PATH."""
    beside = Path(sys.executable).parent / ("chroma.exe" if os.name == "nt" else "chroma")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("chroma")
    if found:
        return [found]
    raise FolioError(
        f"the `chroma` command was not found next to {sys.executable} or on PATH; "
        "install chromadb (pip install chromadb)"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on host:port (connections lingering in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def heartbeat(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether a Chroma server answers its heartbeat at host:port."""
    try:
        return httpx.get(f"http://{host}:{port}/api/v2/heartbeat", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: have the kernel send SIGTERM to the server when the process that started it dies."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))


class ChromaServer:
    """A ``chroma run`` process on a loopback port, with its data under ``path``."""

    def __init__(
        self,
        path: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 90.0,
        log: Path | None = None,
        die_with_parent: bool = True,
    ) -> None:
        self.path = Path(path)
        self.host = host
        self.port = port or free_port(host)
        self.startup_timeout = startup_timeout
        self.log = log
        self.die_with_parent = die_with_parent and sys.platform.startswith("linux")
        self.process: subprocess.Popen[bytes] | None = None
        self._own_log = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment variables that point Folio at this server."""
        return {"FOLIO_CHROMA_HOST": self.host, "FOLIO_CHROMA_PORT": str(self.port)}

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> ChromaServer:
        """Start the server and return once its heartbeat answers (or raise FolioError)."""
        if self.running():
            return self
        if not port_is_free(self.host, self.port):
            raise FolioError(f"port {self.port} on {self.host} is in use; choose another --port")
        self.path.mkdir(parents=True, exist_ok=True)
        if self.log is None:
            handle, name = tempfile.mkstemp(prefix="chroma-server-", suffix=".log")
            os.close(handle)
            self.log, self._own_log = Path(name), True
        command = [*chroma_command(), "run", "--path", str(self.path), "--host", self.host, "--port", str(self.port)]
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us, and we stop it
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise FolioError(f"the Chroma server at {self.url} exited during startup:\n{self.log_tail()}")
            if heartbeat(self.host, self.port, timeout=1.0):
                return
            time.sleep(0.1)
        raise FolioError(
            f"the Chroma server at {self.url} did not answer within {self.startup_timeout:g}s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``timeout`` seconds. Safe to call twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._own_log and self.log is not None:
            self.log.unlink(missing_ok=True)
            self.log, self._own_log = None, False

    def __enter__(self) -> ChromaServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m multimodal.chroma_server", description="Run a Chroma server for Folio until Ctrl-C."
    )
    parser.add_argument("--path", type=Path, default=Path(".folio/chroma-server"), help="where the server keeps data")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a free one")
    parser.add_argument("--startup-timeout", type=float, default=90.0, help="seconds to wait for the first heartbeat")
    return parser.parse_args(argv)


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_exit)  # stop the server on SIGTERM too, not only on Ctrl-C
    # Ctrl-C stops it even when it was started with SIGINT ignored (a shell's background job without job control
    # ignores it, and Python then installs no KeyboardInterrupt handler): the server would otherwise run on.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server = ChromaServer(args.path, args.host, args.port or None, args.startup_timeout, log=None)
    try:
        with server:
            exports = " ".join(f"{name}={value}" for name, value in server.env.items())
            print(f"Chroma server for Folio at {server.url}, data in {server.path}", flush=True)
            print(f"Point Folio at it with:\n  export {exports}", flush=True)
            print(f"or: python -m ingest CATALOG --chroma-host {server.host} --chroma-port {server.port}", flush=True)
            print("Ctrl-C stops it.", flush=True)
            while server.running():
                time.sleep(0.5)
            print(f"the Chroma server exited:\n{server.log_tail()}", file=sys.stderr)
            return 1
    except FolioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
