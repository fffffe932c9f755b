"""The reminder sweep over real SMTP against a bare smtplib loop: `python bench/sweep_smtp.py
[--size S] [--rows 20000] [--repeat 3] [--backends sqlite,postgresql]`.

For each backend it generates the data set (bench/generate.py), starts aiosmtpd as a separate
process on 127.0.0.1 (`python -m aiosmtpd -n -c aiosmtpd.handlers.Sink`: it accepts and drops
every message), and measures, against that server, pairs of:
  (b) the product's sweep: --rows due confirmations queued as bench/run.py's `reminder_sweep`
      queues them, delivered by app/reminders/senders.py `deliver_with_senders` with
      MAIL_TRANSPORT=smtp pointed at the server: claimed in batches, each message checked,
      rendered, composed (with its session's .ics), its standing read, sent over one SMTP
      connection, and its sent mark committed before the next message goes;
  (a) right after it, a bare smtplib loop: one connection, --bare of the sweep's own messages
      (rendered and composed again by the product before the clock starts) sent back to back.
The sweep's rate is given as a ratio of the loop's (issue 16's target: at least 0.5 with one
sender), --repeat times with one sender (the machine is shared: the median is shown), then once
with two senders (REMINDER_SENDERS=2, the default: two SMTP connections) against the same
one-connection loop.

PostgreSQL runs in a throwaway cluster (tests/pg_cluster.py) restarted with the server's default
durability (fsync and synchronous_commit on: every sent mark waits for its WAL flush), not the
test suite's fsync=off; `--backends postgresql-fsync-off` runs it as the suite (and bench/run.py)
start it, for comparison. SQLite is the app's own setting (WAL, synchronous=NORMAL).

Results go to bench/SWEEP-SMTP.md as a small table with the machine described.
"""
from __future__ import annotations

import argparse
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import generate  # noqa: E402 - after the path is set
from bench.run import SWEEP_AT, machine, reminder_sweep  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def smtp_sink() -> Iterator[int]:
    """aiosmtpd in its own process on 127.0.0.1, dropping what it receives; yields its port."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c",
                               "aiosmtpd.handlers.Sink"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("aiosmtpd did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def bare_loop(port: int, messages: list[tuple[str, str, bytes]]) -> float:
    """Messages a second over one smtplib connection, the messages built beforehand."""
    with smtplib.SMTP("127.0.0.1", port) as client:
        start = time.perf_counter()
        for sender, recipient, data in messages:
            client.sendmail(sender, [recipient], data)
        return len(messages) / (time.perf_counter() - start)


def sweep_messages(url: str, n: int) -> list[tuple[str, str, bytes]]:
    """The first `n` messages the sweep sent, rendered and composed again as the sweep does."""
    from sqlalchemy import select

    from app import create_app
    from app.core.db import db_session
    from app.reminders.facts import ClaimedLetter, Facts
    from app.reminders.models import Notification
    from app.reminders.rendering import build_mail, render
    from config import DevelopmentConfig

    app = create_app(DevelopmentConfig(), overrides={"DATABASE_URL": url})
    try:
        with app.app_context():
            rows = db_session.execute(select(
                Notification.id, Notification.kind, Notification.recipient_id, Notification.context,
                Notification.due_at).where(Notification.dedupe_key.like("bench:%")).order_by(Notification.id)
                .limit(n)).all()
            letters = [ClaimedLetter(*row) for row in rows]
            facts = Facts(letters)
            mails = [build_mail(letter, render(letter, facts), facts, SWEEP_AT) for letter in letters]
            db_session.remove()
    finally:
        app.extensions["manabi.engine"].dispose()
    return [(mail.sender, mail.recipient, mail.data) for mail in mails]


def settle(url: str) -> None:
    """Let the database finish what a sweep left it (PostgreSQL's autovacuum of 20,000 updated rows
    and its checkpoint, SQLite's WAL), so that work does not land in the next measurement."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("VACUUM ANALYZE notifications"))
                connection.execute(text("CHECKPOINT"))
            else:
                connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    finally:
        engine.dispose()
    time.sleep(2)


@contextmanager
def databases(backends: str) -> Iterator[Iterator[tuple[str, str]]]:
    workdir = Path(tempfile.mkdtemp(prefix="manabi-sweep-smtp-"))
    clusters = []

    def each() -> Iterator[tuple[str, str]]:
        for backend in backends.split(","):
            if backend == "sqlite":
                yield backend, f"sqlite:///{workdir / 'bench.sqlite3'}"
            elif backend in ("postgresql", "postgresql-fsync-off"):
                from tests.pg_cluster import start_cluster

                cluster = start_cluster()  # the suite's settings: fsync, synchronous_commit off
                clusters.append(cluster)
                if backend == "postgresql":
                    # A sent mark must be measured as production writes it: restart the cluster with
                    # the server's defaults (every commit waits for its WAL flush).
                    cluster.shut_down()
                    cluster._run("pg_ctl", "-D", str(cluster.directory / "data"), "-l",
                                 str(cluster.directory / "server.log"), "-w", "-o",
                                 f"-h 127.0.0.1 -p {cluster.port} -k {cluster.directory} -c max_connections=300",
                                 "start")
                yield backend, cluster.create_database("manabi_sweep_smtp")
                clusters.remove(cluster)
                cluster.stop()  # before the next backend, so it runs alone
            else:
                raise SystemExit(f"unknown backend {backend!r}")

    try:
        yield each()
    finally:
        for cluster in clusters:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def run_backend(backend: str, url: str, size: str, rows: int, bare_n: int, repeat: int,
                two_senders: bool) -> dict[str, object]:
    """Each sweep is followed by a bare loop over the same server; its ratio is to that loop."""
    print(f"== {backend}: generating size {size}", flush=True)
    counts = generate(size, url, 2026)
    result: dict[str, object] = {"counts": counts}
    runs: list[dict[str, object]] = []
    with smtp_sink() as port:
        mail = {"MAIL_TRANSPORT": "smtp", "MAIL_HOST": "127.0.0.1", "MAIL_PORT": port, "MAIL_SECURITY": "none"}
        messages: list[tuple[str, str, bytes]] = []
        for processes in [1] * repeat + ([2] if two_senders else []):
            settle(url)
            sweep = reminder_sweep(url, rows, processes=processes, mail=mail)
            if not messages:
                messages = sweep_messages(url, bare_n)
                result["message_bytes"] = statistics.mean(len(data) for _sender, _recipient, data in messages)
            settle(url)
            bare = bare_loop(port, messages)
            runs.append({**sweep, "bare": bare, "ratio": sweep["per_second"] / bare})
            print(f"   sweep, {processes} sender(s) {sweep['per_second']:5.0f} msg/s ({sweep['seconds']} s), "
                  f"bare smtplib loop {bare:5.0f} msg/s: {sweep['per_second'] / bare:.3f}", flush=True)
    result["runs"] = runs
    return result


def write_table(results: dict[str, dict], size: str, rows: int, bare_n: int) -> str:
    lines = ["# Reminder sweep over SMTP (issue 16)", "", f"Machine: {machine()}", "",
             f"Size {size}; {rows:,} due confirmations (each with its session's .ics) per sweep, delivered by "
             "app/reminders/senders.py `deliver_with_senders` with MAIL_TRANSPORT=smtp; aiosmtpd (handlers.Sink) "
             "as a separate process on 127.0.0.1, on the same 2 cores as the senders and the database. After "
             f"each sweep a bare loop sends {bare_n:,} of the sweep's own messages, pre-built, over one smtplib "
             "connection to the same server: the sweep's ratio is to that loop. Before each measurement the "
             "database is settled (VACUUM and CHECKPOINT, or a WAL checkpoint). Each sent mark is a durable "
             "commit before the next message goes: PostgreSQL with fsync and synchronous_commit on (the "
             "server's defaults; postgresql-fsync-off is the cluster as the test suite and bench/run.py start "
             "it: no commit waits for a disk), SQLite in WAL with synchronous=NORMAL (the app's setting). The "
             "machine is shared: a ratio moves by 0.1 and more from one run to the next, so the one-sender "
             "sweep is run several times and the median shown. `python bench/sweep_smtp.py` writes this file.", "",
             "| backend | sweep, 1 sender (runs) | bare smtplib loop (runs) | ratio, median (runs) | target ≥ 0.5 | "
             "sweep, 2 senders (REMINDER_SENDERS, the default) | ratio |", "|---|---|---|---|---|---|---|"]
    for backend, r in results.items():
        ones = [run for run in r["runs"] if run["processes"] == 1]
        twos = [run for run in r["runs"] if run["processes"] == 2]
        median = statistics.median(run["ratio"] for run in ones)
        two = (f"{twos[0]['per_second']:.0f} msg/s ({twos[0]['seconds']} s, the second process's start "
               f"included) | {twos[0]['ratio']:.3f} |") if twos else "– | – |"
        rates = ", ".join(f"{run['per_second']:.0f}" for run in ones)
        bares = ", ".join(f"{run['bare']:.0f}" for run in ones)
        ratios = ", ".join(f"{run['ratio']:.3f}" for run in ones)
        lines.append(f"| {backend} | {rates} msg/s | {bares} msg/s | {median:.3f} ({ratios}) | "
                     f"{'yes' if median >= 0.5 else 'no'} | " + two)
    lines += ["", "Mean message size: "
              + ", ".join(f"{backend} {r['message_bytes']:,.0f} bytes" for backend, r in results.items()) + ".", ""]
    text = "\n".join(lines)
    (ROOT / "bench" / "SWEEP-SMTP.md").write_text(text, encoding="utf-8")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="S", choices=["S", "M", "L"])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--bare", type=int, default=5_000, help="messages in each bare smtplib loop")
    parser.add_argument("--repeat", type=int, default=3, help="sweeps with one sender (the median ratio is shown)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-two-senders", action="store_true", help="skip the sweep with two senders")
    args = parser.parse_args()
    results = {}
    with databases(args.backends) as each:
        for backend, url in each:
            results[backend] = run_backend(backend, url, args.size, args.rows, args.bare, args.repeat,
                                           not args.no_two_senders)
    print(write_table(results, args.size, args.rows, args.bare))


if __name__ == "__main__":
    main()
