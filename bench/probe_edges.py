"""Issue 18's attacks rerun against a real `grader serve`, with the figures the issue's bars name.

    .venv/bin/python bench/probe_edges.py uploads      # item 1: RSS under 100 slow anonymous uploads
    .venv/bin/python bench/probe_edges.py imports      # items 4-6: API CPU and reply size per bank import

Starts the embedded default (SQLite in a temporary folder, no Redis) on a free port, so it measures the
API process alone. `uploads`: RSS at idle, the peak while 100 anonymous clients each declare a ~20 MB
body to `/dashboard/banks/import` and trickle it at 64 KB every 0.5 s, and after they close; then the same
on `/api/v1/batches` without a key. `imports`: each hostile bank document (up to 20 MB) posted to
`/api/v1/banks/<bank>/import?dry_run=true` as an admin; the API process's CPU seconds for it (utime +
stime from /proc), the status and the size of the reply.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from _shared import cpu_seconds, free_port

GRADER = str(Path(sys.executable).with_name("grader"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def server(workdir: Path, **settings: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update({"GRADER_DATABASE_URL": f"sqlite:///{workdir}/grader.db", "GRADER_LOG_FORMAT": "text"})
    env.update({f"GRADER_{k.upper()}": v for k, v in settings.items()})
    subprocess.run([GRADER, "db", "upgrade"], env=env, check=True, capture_output=True)
    port = free_port()
    log = (workdir / "serve.log").open("wb")
    proc = subprocess.Popen(
        [GRADER, "serve", "--port", str(port), "--log-level", "warning"], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield proc, url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def slow_upload(port: int, path: str, statuses: Counter[int], declared: int = 20_000_000) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    ).encode()
    chunk = b"a" * 65536
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(head + b"--b\r\n")
            sock.settimeout(0.5)
            sent = 0
            while sent < declared:
                try:
                    reply = sock.recv(64)
                    statuses[int(reply.split()[1]) if reply else 0] += 1
                    return
                except TimeoutError:
                    sock.sendall(chunk)
                    sent += len(chunk)
    except OSError:
        statuses[-1] += 1


def uploads() -> None:
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)) as (proc, url):
        port = int(url.rsplit(":", 1)[1])
        httpx.get(url + "/dashboard/login")
        time.sleep(1)
        idle = rss_mb(proc.pid)
        for path in ("/dashboard/banks/import", "/api/v1/batches"):
            statuses: Counter[int] = Counter()
            threads = [threading.Thread(target=slow_upload, args=(port, path, statuses)) for _ in range(100)]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            peak = idle
            while any(t.is_alive() for t in threads) and time.monotonic() - started < 120:
                peak = max(peak, rss_mb(proc.pid))
                time.sleep(0.1)
            time.sleep(1)
            print(
                f"{path}: 100 slow anonymous uploads of 20 MB declared: answers {dict(statuses)}, "
                f"RSS idle {idle:.0f} MB, peak {peak:.0f} MB (+{peak - idle:.0f}), after {rss_mb(proc.pid):.0f} MB, "
                f"all answered in {time.monotonic() - started:.1f} s"
            )


def hostile_documents() -> dict[str, tuple[str, bytes]]:
    mb = 1024 * 1024
    return {
        "1 MB of `## a\\nb\\n` (item 4)": ("bank.md", b"## a\nb\n" * (mb // 7)),
        "19 MB of `## a\\nb\\n`": ("bank.md", b"## a\nb\n" * (19 * mb // 7)),
        "4 MB of `{}` lines (item 5)": ("bank.jsonl", b"{}\n" * (4 * mb // 3)),
        "19 MB of `{}` lines": ("bank.jsonl", b"{}\n" * (19 * mb // 3)),
        "4,999 rows, two errors each": ("bank.jsonl", b'{"question": "", "reference_answer": ""}\n' * 4_999),
        "YAML `[` x 900 (item 6)": ("bank.yaml", b"questions: " + b"[" * 900),
        "JSONL `[` x 100,000 (item 6)": ("bank.jsonl", b"[" * 100_000 + b"\n"),
        "block YAML 3,000 deep (item 6)": (
            "bank.yaml",
            ("questions:\n" + "".join("  " * i + "-\n" for i in range(1, 3_000))).encode(),
        ),
        "19 MB YAML flow list of 1s": ("bank.yaml", b"questions: [" + b"1," * (9 * mb) + b"1]"),
        "one 19 MB markdown answer": ("bank.md", b"## q\n" + b"a" * (19 * mb)),
        "19 MB JSONL of one line": ("bank.jsonl", b'{"question": "' + b"a" * (19 * mb) + b'"}\n'),
    }


def imports() -> None:
    with tempfile.TemporaryDirectory() as tmp, server(Path(tmp)) as (proc, url):
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
        env["GRADER_DATABASE_URL"] = f"sqlite:///{tmp}/grader.db"
        key = subprocess.run(
            [GRADER, "keys", "create", "--role", "admin", "--name", "bench"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        print("| document | bytes | API CPU | status | reply bytes |\n| --- | --- | --- | --- | --- |")
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=300) as client:
            for n, (name, (filename, data)) in enumerate(hostile_documents().items()):
                before = cpu_seconds([proc.pid])
                reply = client.post(
                    f"/api/v1/banks/bench-{n}/import", params={"dry_run": "true"}, files={"file": (filename, data)}
                )
                spent = cpu_seconds([proc.pid]) - before
                print(f"| {name} | {len(data):,} | {spent:.2f} s | {reply.status_code} | {len(reply.content):,} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("attack", choices=["uploads", "imports"])
    args = parser.parse_args()
    {"uploads": uploads, "imports": imports}[args.attack]()


if __name__ == "__main__":
    main()
