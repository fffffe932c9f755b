"""Benchmarks at prefecture scale: `python bench/run.py [--size M] [--backends sqlite,postgresql]`.

For each backend it generates the data set, serves the app with gunicorn (2 sync workers, no
control socket) and measures, in the same run:
  - GET /ping (no database): the ceiling;
  - the catalog (an employee), the team page (a division head, and a department head), the HR
    dashboard (each the same signed-in person reloading: what one request costs; the enrolment
    morning, many distinct people, is bench/morning.py);
  - the dashboard against the raw SQL of the same aggregate (single client);
  - a fiscal year's enrolment export (time, and the worker's peak memory before and after);
  - the reminder sweep: N due notifications checked, rendered and composed as e-mails with their
    .ics, each marked sent in its own commit; no SMTP network (MAIL_TRANSPORT=discard); with one
    sender, then with two (REMINDER_SENDERS=2: the second process is started by the sweep itself
    and its start-up is inside the time).
Throughput and latency come from wrk; results go to bench/COMPONENTS.md with the machine described
(the headline, bench/RESULTS.md, is the enrolment morning: bench/morning.py).
"""
from __future__ import annotations

import argparse
import http.cookiejar
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backends import backend_databases, require_wrk  # noqa: E402 - after the path is set

WRK_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("P50_US %d\\nP95_US %d\\n", latency:percentile(50), latency:percentile(95)))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, database_url: str, workers: int = 2, **extra_env: str) -> None:
        self.port = free_port()
        env = {**os.environ, "MANABI_CONFIG": "development", "DATABASE_URL": database_url,
               "SECRET_KEY": "bench-secret", "MAIL_TRANSPORT": "file", "MAIL_FILE_DIR": tempfile.mkdtemp(),
               **extra_env}
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "--no-control-socket", "-w", str(workers), "-b",
             f"127.0.0.1:{self.port}", "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/ping", timeout=2).read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout.split()
        return [self.process.pid, *map(int, children)]

    def peak_rss_mb(self) -> float:
        peaks = []
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"VmHWM:\s+(\d+) kB", status)
            if match:
                peaks.append(int(match.group(1)) / 1024)
        return max(peaks, default=0.0)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def sign_in(base: str, login: str, password: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    data = urllib.parse.urlencode({"login": login, "password": password, "csrf_token": token}).encode()
    opener.open(f"{base}/login", data=data).read()
    cookie = next(c for c in jar if c.name == "session")
    return f"session={cookie.value}"


def wrk(url: str, cookie: str | None, seconds: int, connections: int) -> dict[str, float]:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(WRK_LUA)
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    script.unlink()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": rps, "p50_ms": int(re.search(r"P50_US (\d+)", output).group(1)) / 1000,
            "p95_ms": int(re.search(r"P95_US (\d+)", output).group(1)) / 1000,
            "errors": int(non2xx.group(1)) if non2xx else 0}


def raw_dashboard_sql_ms(database_url: str, fiscal_year: int) -> float:
    from app import create_app
    from app.core.db import db_session
    from app.reports.figures import Period, attendance_rows, participation_rows
    from config import DevelopmentConfig

    app = create_app(DevelopmentConfig(), overrides={"DATABASE_URL": database_url})
    timings = []
    with app.app_context():
        for _ in range(7):
            start = time.perf_counter()
            participation_rows(Period(fiscal_year, None))
            attendance_rows(Period(fiscal_year, None))
            timings.append((time.perf_counter() - start) * 1000)
            db_session.rollback()
    app.extensions["manabi.engine"].dispose()
    return statistics.median(timings)


def reminder_sweep(database_url: str, rows: int, processes: int = 1,
                   mail: dict[str, object] | None = None) -> dict[str, float]:
    """Queue `rows` due reminders for confirmed places and send them with `processes` senders,
    composing every message and dropping it (MAIL_TRANSPORT=discard: no SMTP network), or
    delivering it as the `mail` settings say (bench/sweep_smtp.py: MAIL_TRANSPORT=smtp to a
    local aiosmtpd)."""
    from sqlalchemy import delete, insert, select

    from app import create_app
    from app.core.db import db_session
    from app.enrollment.models import Enrolment, EnrolmentState
    from app.reminders.models import Notification
    from app.reminders.senders import deliver_with_senders
    from config import DevelopmentConfig

    app = create_app(DevelopmentConfig(), overrides={"DATABASE_URL": database_url})
    with app.app_context():
        db_session.execute(delete(Notification).where(Notification.dedupe_key.like("bench:%")))
        enrolments = db_session.execute(select(Enrolment.id, Enrolment.employee_id).where(
            Enrolment.state == EnrolmentState.CONFIRMED).limit(rows)).all()
        batch = []
        for index in range(rows):
            enrolment_id, employee_id = enrolments[index % len(enrolments)]
            batch.append({"recipient_id": employee_id, "kind": "enrolment_confirmed", "dedupe_key": f"bench:{index}",
                          "context": {"enrolment_id": enrolment_id}, "enrolment_id": enrolment_id, "is_urgent": False,
                          "status": "pending", "due_at": SWEEP_DUE, "next_attempt_at": SWEEP_DUE, "attempts": 0,
                          "last_error": "", "subject": "", "created_at": SWEEP_DUE})
            if len(batch) == 10_000:
                db_session.execute(insert(Notification), batch)
                batch = []
        if batch:
            db_session.execute(insert(Notification), batch)
        db_session.commit()
    app.extensions["manabi.engine"].dispose()

    # The product's own path: app/reminders/senders.py starts `processes - 1` more senders (fresh
    # interpreters: their start-up is inside the time) and they split the claims.
    app = create_app(DevelopmentConfig(), overrides={"DATABASE_URL": database_url, "MAIL_TRANSPORT": "discard",
                                                     **(mail or {})})
    with app.app_context():
        start = time.perf_counter()
        report = deliver_with_senders(app, SWEEP_AT, worker="bench", senders=processes, batch=500,
                                      max_batches=100_000)
        seconds = time.perf_counter() - start
    app.extensions["manabi.engine"].dispose()
    assert not report.errors, report.errors[:3]
    return {"rows": rows, "sent": report.sent, "processes": processes, "seconds": round(seconds, 1),
            "per_second": round(report.sent / seconds, 1) if seconds else 0.0}


SWEEP_AT = datetime(2027, 1, 12, 1, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Tokyo
SWEEP_DUE = SWEEP_AT - timedelta(minutes=5)


def export_once(base: str, cookie: str, fiscal_year: int) -> tuple[float, int]:
    request = urllib.request.Request(f"{base}/reports/export/enrolments.csv?fy={fiscal_year}",
                                     headers={"Cookie": cookie})
    start = time.perf_counter()
    size = 0
    with urllib.request.urlopen(request, timeout=600) as response:
        while chunk := response.read(65536):
            size += len(chunk)
    return time.perf_counter() - start, size


EMPLOYEE = "200007"  # a chief (主任級)
DIVISION_HEAD = "200004"  # head of one division (課長): the typical manager
DEPARTMENT_HEAD = "200001"  # head of the first department (部長), and the one HR person
HR = "200001"
PAGES = {"catalog": "/catalog/", "team": "/team", "team_department": "/team"}


def team_sizes(database_url: str) -> dict[str, int]:
    """How many people each measured manager's team page covers (their whole subtree)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    sizes = {}
    with engine.connect() as connection:
        for key, number in (("team", DIVISION_HEAD), ("team_department", DEPARTMENT_HEAD)):
            sizes[key] = connection.execute(text(
                "SELECT count(*) FROM employees e JOIN units u ON u.id = e.unit_id "
                "JOIN units h ON u.path LIKE h.path || '%' "
                "WHERE h.head_id = (SELECT id FROM employees WHERE employee_number = :n) AND e.is_active"),
                {"n": number}).scalar_one()
    engine.dispose()
    return sizes


def run_backend(name: str, database_url: str, size: str, seconds: int, sweep_rows: int) -> dict[str, object]:
    from bench.generate import PASSWORD, generate

    print(f"== {name}: generating size {size}", flush=True)
    counts = generate(size, database_url, 2026)
    results: dict[str, object] = {"counts": counts, "team_sizes": team_sizes(database_url)}
    server = Server(database_url)
    try:
        base = server.url
        employee = sign_in(base, EMPLOYEE, PASSWORD)
        cookies = {"catalog": employee, "team": sign_in(base, DIVISION_HEAD, PASSWORD),
                   "team_department": sign_in(base, DEPARTMENT_HEAD, PASSWORD)}
        hr = sign_in(base, HR, PASSWORD)
        results["hello"] = wrk(f"{base}/ping", None, seconds, 8)
        for key, path in PAGES.items():
            results[key] = wrk(f"{base}{path}", cookies[key], seconds, 8)
        results["dashboard"] = wrk(f"{base}/reports/dashboard?fy=2026", hr, seconds, 4)
        results["dashboard_single"] = wrk(f"{base}/reports/dashboard?fy=2026", hr, seconds, 1)
        results["raw_sql_ms"] = raw_dashboard_sql_ms(database_url, 2026)
        rss_before = server.peak_rss_mb()
        export_seconds, export_bytes = export_once(base, hr, 2026)
        results["export"] = {"seconds": round(export_seconds, 2), "megabytes": round(export_bytes / 1e6, 1),
                             "rss_before_mb": round(rss_before, 1), "rss_after_mb": round(server.peak_rss_mb(), 1)}
    finally:
        server.stop()
    results["sweep"] = reminder_sweep(database_url, sweep_rows, processes=1)
    results["sweep2"] = reminder_sweep(database_url, sweep_rows, processes=2)
    return results


def machine() -> str:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return (f"{platform.node()} — {os.cpu_count()} cores ({cpu}), {int(memory) // 1024 // 1024} GiB, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def write_results(all_results: dict[str, dict], size: str, seconds: int) -> str:  # type: ignore[type-arg]
    lines = [f"# Components, one at a time (size {size})", "", f"Machine: {machine()}", "",
             f"Each throughput figure is wrk for {seconds} s, 2 threads; pages signed in; gunicorn with 2 sync "
             "workers on the same 2 cores as wrk (so every figure is lower than a separate load machine would "
             "give; the ratios are what to read). The catalog and team figures are one signed-in person "
             "reloading the page (each request rendered in full): what one request costs. The headline is the "
             "enrolment morning (many distinct people, real writes): bench/morning.py.", ""]
    for backend, r in all_results.items():
        hello = r["hello"]["rps"]
        lines += [f"## {backend}", "", f"Data: {r['counts']}", "",
                  "| scenario | req/s | p50 ms | p95 ms | ratio | target | holds |", "|---|---|---|---|---|---|---|",
                  f"| hello (/ping, no DB) | {hello:.0f} | {r['hello']['p50_ms']:.1f} "
                  f"| {r['hello']['p95_ms']:.1f} | 1.00 | ceiling | |"]
        sizes = r["team_sizes"]
        for key, label in (("catalog", "catalog page"),
                           ("team", f"manager team page (division head, {sizes['team']:,} people)"),
                           ("team_department", f"manager team page (department head, {sizes['team_department']:,} "
                                               "people, 100 a page)")):
            ratio = r[key]["rps"] / hello
            lines.append(f"| {label} | {r[key]['rps']:.0f} | {r[key]['p50_ms']:.1f} | {r[key]['p95_ms']:.1f} | "
                         f"{ratio:.3f} of hello | | |")
        single = r["dashboard_single"]["p50_ms"]
        raw = r["raw_sql_ms"]
        lines.append(f"| HR dashboard (4 clients) | {r['dashboard']['rps']:.1f} | {r['dashboard']['p50_ms']:.1f} | "
                     f"{r['dashboard']['p95_ms']:.1f} | | | |")
        lines.append(f"| HR dashboard vs raw SQL (1 client) | | {single:.1f} | | {single / raw:.2f}× raw SQL "
                     f"({raw:.1f} ms) | ≤ 2× | {'yes' if single <= 2 * raw else 'no'} |")
        e = r["export"]
        lines.append(f"| fiscal-year enrolment export (CSV, {e['megabytes']} MB) | | {e['seconds'] * 1000:.0f} | | "
                     f"peak RSS {e['rss_before_mb']} → {e['rss_after_mb']} MB | ≤ 10 s, flat memory | "
                     f"{'yes' if e['seconds'] <= 10 else 'no'} |")
        for key in ("sweep", "sweep2"):
            s = r[key]
            projected = 100_000 / s["per_second"] if s["per_second"] else float("inf")
            senders = "1 sender" if s["processes"] == 1 else f"{s['processes']} senders (REMINDER_SENDERS, the default)"
            lines.append(f"| reminder sweep, {senders} "
                         f"({s['rows']:,} due: checked, rendered, composed with .ics, each marked sent; no SMTP) | "
                         f"{s['per_second']:.0f} msg/s | | | {s['seconds']} s; 100,000 → {projected:.1f} s | "
                         f"≤ 15 s for 100,000 | {'yes' if projected <= 15 else 'no'} |")
        lines.append("")
    text = "\n".join(lines) + "\n"
    name = "COMPONENTS.md" if size == "M" else f"COMPONENTS-{size}.md"  # M is the size the targets are set for
    (ROOT / "bench" / name).write_text(text, encoding="utf-8")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="M", choices=["S", "M", "L"])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--sweep-rows", type=int, default=100_000)
    args = parser.parse_args()
    require_wrk()
    results = {}
    with closing(backend_databases(args.backends, "manabi_bench")) as databases:
        for backend, url in databases:
            results[backend] = run_backend(backend, url, args.size, args.seconds, args.sweep_rows)
    print(write_results(results, args.size, args.seconds))


if __name__ == "__main__":
    main()
