"""A bounded load test of the REST API: concurrent clients sending mixed text and cover queries.

    python benchmarks/load_test.py [--clients 8] [--seconds 30] [--image-share 0.5] [--keep DIR]

It sets up everything itself: the sample catalog (assets/sample) is ingested with the offline
profile into a temporary data dir, then ``python app.py`` is started on a free loopback port. Each
client is a thread with its own HTTP connection that sends requests back to back until the time is
up: text queries (``GET /api/search?q=``, titles, authors and description openings of the catalog)
and cover queries (``POST /api/search`` with a sample cover), mixed by ``--image-share``.

Reported: answers, failed requests (any transport error or status other than 200), answers per
second, latency median / p95 / max by kind, and the app's resident memory (VmRSS) after its first
answer, after the warm-up, and at the end. Exit status 1 when any request failed or the app died.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from bench_common import rss_mb

from multimodal.chroma_server import free_port

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "assets" / "sample" / "catalog.csv"
COVERS = ROOT / "assets" / "sample" / "covers"
START_TIMEOUT = 600  # seconds: loading the models on a busy 2-core machine can take a while
REQUEST_TIMEOUT = 120


# -- the queries -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    kind: str  # "text" or "image"
    send: Callable[[httpx.Client], httpx.Response]


def text_queries(catalog: Path) -> list[str]:
    with catalog.open() as stream:
        rows = list(csv.DictReader(stream))
    queries = [row["title"] for row in rows] + [row["author"] for row in rows]
    queries += [" ".join(row["description"].split()[:6]) for row in rows]
    return queries


def make_requests(catalog: Path, covers: Path, image_share: float, seed: int = 0) -> list[Request]:
    """A shuffled, repeatable mix of text and cover requests (the clients cycle through it)."""
    texts = text_queries(catalog)
    images = [(path.name, path.read_bytes()) for path in sorted(covers.glob("*.png"))]
    count = max(len(texts), len(images)) * 2
    rng = random.Random(seed)
    requests = []
    for i in range(count):
        if rng.random() < image_share:
            name, data = images[i % len(images)]
            requests.append(Request("image", lambda c, n=name, d=data: c.post("/api/search", files={"image": (n, d)})))
        else:
            query = texts[i % len(texts)]
            requests.append(Request("text", lambda c, q=query: c.get("/api/search", params={"q": q})))
    return requests


# -- the app -----------------------------------------------------------------------------------------


def app_env(data_dir: Path) -> dict[str, str]:
    """The environment without any FOLIO_* setting of the caller's, so the run is the same everywhere."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("FOLIO_")}
    return {**env, "FOLIO_PROFILE": "offline", "FOLIO_DATA_DIR": str(data_dir)}


def ingest(data_dir: Path) -> None:
    command = [sys.executable, "-m", "ingest", str(CATALOG), "--profile", "offline", "--data-dir", str(data_dir)]
    command.append("--no-progress")
    done = subprocess.run(command, cwd=ROOT, env=app_env(data_dir), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"ingest failed ({done.returncode}):\n{done.stderr[-2000:]}")


def start_app(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), "--profile", "offline"]
    command += ["--data-dir", str(data_dir)]
    with log.open("w") as stream:
        return subprocess.Popen(command, cwd=ROOT, env=app_env(data_dir), stdout=stream, stderr=subprocess.STDOUT)


def wait_for_first_answer(process: subprocess.Popen, base: str, log: Path) -> float:
    """Seconds until the app answers a search (models loaded, store open)."""
    start = time.perf_counter()
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as client:
        while time.perf_counter() - start < START_TIMEOUT:
            if process.poll() is not None:
                raise SystemExit(f"app.py exited with {process.returncode}:\n{log.read_text()[-2000:]}")
            try:
                client.get("/api/search", params={"q": "lighthouse"}).raise_for_status()
                return time.perf_counter() - start
            except httpx.TransportError:
                time.sleep(0.2)
    raise SystemExit(f"app.py gave no answer within {START_TIMEOUT}s")


# -- the load --------------------------------------------------------------------------------------
@dataclass
class Tally:
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {"text": [], "image": []})
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, ms: float, failure: str = "") -> None:
        with self.lock:
            if failure:
                self.failures.append(failure)
            else:
                self.latencies_ms[kind].append(ms)

    @property
    def answers(self) -> int:
        return sum(len(values) for values in self.latencies_ms.values())


def client_loop(base: str, requests: list[Request], offset: int, deadline: float, tally: Tally) -> None:
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as client:
        i = offset
        while time.perf_counter() < deadline:
            request = requests[i % len(requests)]
            i += 1
            start = time.perf_counter()
            try:
                response = request.send(client)
                failure = "" if response.status_code == 200 else f"{request.kind}: HTTP {response.status_code}"
            except httpx.HTTPError as error:
                failure = f"{request.kind}: {type(error).__name__}: {error}"
            tally.add(request.kind, (time.perf_counter() - start) * 1000, failure)


def run_load(
    base: str, requests: list[Request], clients: int, seconds: float, pid: int
) -> tuple[Tally, float, list[float]]:
    """``clients`` threads sending requests back to back for ``seconds``.

    Returns the tally, the wall time, and the app's RSS (MB) sampled every tenth of the run.
    """
    tally = Tally()
    start = time.perf_counter()
    deadline = start + seconds
    step = max(1, len(requests) // clients)
    threads = [
        threading.Thread(target=client_loop, args=(base, requests, n * step, deadline, tally), daemon=True)
        for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    samples = []
    while time.perf_counter() < deadline:
        samples.append(rss_mb(pid))
        time.sleep(min(seconds / 10, max(0.0, deadline - time.perf_counter())))
    for thread in threads:
        thread.join(REQUEST_TIMEOUT)
    return tally, time.perf_counter() - start, samples


# -- the report --------------------------------------------------------------------------------------
def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def latency_row(name: str, values: list[float]) -> str:
    return (
        f"| {name} | {len(values):,} | {percentile(values, 0.5):,.0f} | {percentile(values, 0.95):,.0f} | "
        f"{max(values, default=float('nan')):,.0f} |"
    )


def report(
    args: argparse.Namespace, tally: Tally, wall: float, memory: dict[str, float], samples: list[float], startup: float
) -> str:
    everything = tally.latencies_ms["text"] + tally.latencies_ms["image"]
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end",
        f"{args.clients} clients for {args.seconds:.0f} s (after a {args.warmup:.0f} s warm-up), "
        f"image share {args.image_share:.0%}; app answered its first search {startup:.1f} s after start",
        "",
        f"answers: {tally.answers:,} in {wall:.1f} s = **{tally.answers / wall:.1f} per second**; "
        f"failed requests: **{len(tally.failures)}**",
        "",
        "| requests | answers | median ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|",
        latency_row("text (GET /api/search?q=)", tally.latencies_ms["text"]),
        latency_row("cover (POST /api/search)", tally.latencies_ms["image"]),
        latency_row("all", everything),
        "",
        "app RSS: " + ", ".join(f"{name} {mb:,.0f} MB" for name, mb in memory.items()),
        "app RSS during the run, every tenth of it (MB): " + " ".join(f"{mb:,.0f}" for mb in samples),
    ]
    if tally.failures:
        lines += ["", "first failures:", *(f"- {failure}" for failure in tally.failures[:10])]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--seconds", type=float, default=30, help="how long the load lasts (default 30)")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load before measuring (default 5)")
    parser.add_argument("--image-share", type=float, default=0.5, help="share of cover queries (default 0.5)")
    parser.add_argument("--keep", type=Path, help="use (and keep) this data dir instead of a temporary one")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="folio-load-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = data_dir / "app.log"
    try:
        if not (data_dir / "chroma").exists():
            print(f"ingesting the sample catalog into {data_dir} ...", flush=True)
            ingest(data_dir)
        process = start_app(data_dir, port, log)
        try:
            startup = wait_for_first_answer(process, base, log)
            memory = {"after the first answer": rss_mb(process.pid)}
            requests = make_requests(CATALOG, COVERS, args.image_share)
            if args.warmup > 0:
                run_load(base, requests, args.clients, args.warmup, process.pid)
            memory["after the warm-up"] = rss_mb(process.pid)
            print(f"loading {base} with {args.clients} clients for {args.seconds:.0f} s ...", flush=True)
            tally, wall, samples = run_load(base, requests, args.clients, args.seconds, process.pid)
            memory["at the end"] = rss_mb(process.pid)
            alive = process.poll() is None
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        if args.keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(report(args, tally, wall, memory, samples, startup))
    if not alive:
        print("the app died during the run", file=sys.stderr)
    return 0 if alive and not tally.failures and tally.answers else 1


if __name__ == "__main__":
    sys.exit(main())
