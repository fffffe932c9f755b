"""The enrolment morning: `python bench/morning.py [--size M] [--backends sqlite,postgresql]`.

Many distinct signed-in people doing the real mix, not one person reloading one page. For each
backend it generates the data set, serves the app with gunicorn (2 sync workers) and measures in
the same run:
  - the ceiling: GET /ping (no database) with wrk;
  - the opening burst: BURST employees, each signed in with their own account, open the catalog
    at the same instant (released together by a barrier): time until the last is served, p95;
  - the morning (Locust, bench/locustfile.py): USERS distinct people arriving within a second —
    employees catalog → search → course → enrol (a real POST with the page's CSRF token) → My
    learning, managers their team page, HR the dashboard — with a few seconds' thought between
    steps: per-page p50/p95/p99 and errors;
  - the same mix without pauses (saturated, 64 people): once everyone has signed in, throughput
    as a ratio of /ping and the workers' CPU milliseconds per request (from /proc).
Results go to bench/RESULTS.md (size M; the headline of the benchmarks) or bench/RESULTS-<size>.md, with
the CPU and statements of each page (bench/page_cpu.py) and whether issue 16's targets hold.
"""
from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import worker_profile  # noqa: E402 - after the path is set
from bench.backends import backend_databases, require_wrk  # noqa: E402
from bench.run import Server, machine, sign_in, wrk  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
PAGES_ORDER = ["/login", "/login [POST]", "/catalog/", "/catalog/?q=", "/catalog/courses/<code>",
               "/sessions/<id>/enrol [POST]", "/my-learning", "/team", "/reports/dashboard"]


def logins(database_url: str, employees: int) -> dict[str, list[str]]:
    """Distinct people per role from the generated data: heads of units are the managers."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as connection:
        heads = [row[0] for row in connection.execute(text(
            "SELECT DISTINCT e.employee_number FROM units u JOIN employees e ON e.id = u.head_id "
            "ORDER BY e.employee_number"))]
        hr = [row[0] for row in connection.execute(text(
            "SELECT e.employee_number FROM role_grants g JOIN employees e ON e.id = g.employee_id "
            "WHERE g.role = 'hr' ORDER BY 1"))]
        staff = [row[0] for row in connection.execute(text(
            "SELECT employee_number FROM employees WHERE is_active ORDER BY employee_number"))]
    engine.dispose()
    taken = set(heads) | set(hr)
    return {"employee": [n for n in staff if n not in taken][:employees], "manager": heads, "hr": hr}


def worker_cpu_seconds(server: Server) -> float:
    total = 0
    for pid in server.pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def burst(base: str, people: list[str], password: str) -> dict[str, float]:
    """Everyone signed in beforehand; then all open the catalog at once."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        cookies = list(pool.map(lambda login: sign_in(base, login, password), people))
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    connections = [http.client.HTTPConnection(host, int(port), timeout=60) for _ in people]
    for connection in connections:
        connection.connect()
    gate = threading.Barrier(len(people) + 1)
    times: list[float] = [0.0] * len(people)
    statuses: list[int] = [0] * len(people)

    def one(index: int) -> None:
        gate.wait()
        started = time.perf_counter()
        connections[index].request("GET", "/catalog/", headers={"Cookie": cookies[index]})
        response = connections[index].getresponse()
        response.read()
        statuses[index] = response.status
        times[index] = time.perf_counter() - started

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(people))]
    for thread in threads:
        thread.start()
    gate.wait()
    released = time.perf_counter()
    for thread in threads:
        thread.join()
    all_served = time.perf_counter() - released
    for connection in connections:
        connection.close()
    ordered = sorted(times)
    return {"people": len(people), "all_served_s": round(all_served, 2),
            "p50_ms": round(statistics.median(ordered) * 1000),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000),
            "errors": sum(1 for status in statuses if status != 200)}


def locust(base: str, logins_file: Path, users: int, seconds: int, think: float,
           server: Server | None = None, warm_up: int = 10) -> dict[str, dict[str, float]]:
    """Run Locust headless; per-page stats. With `server`, also the steady state after `warm_up`
    seconds (everyone signed in): requests per second and the workers' CPU ms per request."""
    prefix = Path(tempfile.mkdtemp(prefix="manabi-locust-")) / "run"
    env = {**os.environ, "MANABI_BENCH_LOGINS": str(logins_file), "MANABI_BENCH_PASSWORD": _password(),
           "MANABI_BENCH_THINK": str(think)}
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/locust"), "-f", str(ROOT / "bench/locustfile.py"), "--headless", "-u", str(users),
         "-r", str(users), "-t", f"{seconds}s", "--host", base, "--csv", str(prefix), "--csv-full-history",
         "--only-summary", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    steady: dict[str, Any] = {}
    profiler = None
    if server is not None:
        time.sleep(warm_up)
        started, cpu_before = time.time(), worker_cpu_seconds(server)
        if worker_profile.available():
            profiler = worker_profile.start(server.process.pid, max(5, seconds - warm_up - 5), prefix.parent / "spy")
    process.wait(timeout=seconds + 120)
    if profiler is not None:
        profiler.wait(timeout=120)
        steady["profile"] = worker_profile.summarize(prefix.parent / "spy")
    if server is not None:
        cpu = worker_cpu_seconds(server) - cpu_before
        history = [row for row in csv.DictReader(open(f"{prefix}_stats_history.csv", encoding="utf-8"))
                   if row["Name"] == "Aggregated"]
        # Locust's first history row can come after the warm-up on a loaded machine: count from it then.
        before = [row for row in history if float(row["Timestamp"]) <= started]
        at_start = max(before, key=lambda row: float(row["Timestamp"])) if before else history[0]
        last = history[-1]
        done = int(last["Total Request Count"]) - int(at_start["Total Request Count"])
        elapsed = float(last["Timestamp"]) - float(at_start["Timestamp"])
        steady.update(requests=done, rps=done / max(elapsed, 1.0), cpu_ms_per_request=cpu * 1000 / max(done, 1))
    pages: dict[str, dict[str, float]] = {}
    with open(f"{prefix}_stats.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            name = "total" if row["Name"] == "Aggregated" else row["Name"]
            pages[name] = {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                           "rps": float(row["Requests/s"]), "p50_ms": float(row["50%"] or 0),
                           "p95_ms": float(row["95%"] or 0), "p99_ms": float(row["99%"] or 0)}
    if steady:
        pages["steady"] = steady
    shutil.rmtree(prefix.parent, ignore_errors=True)
    return pages


def _password() -> str:
    from bench.generate import PASSWORD

    return PASSWORD


EMPLOYEE_PAGES = ("/catalog/", "/catalog/?q=", "/catalog/courses/<code>", "/sessions/<id>/enrol [POST]", "/my-learning")
TARGETS = {"ratio": 0.10, "employee_p95_ms": 200, "burst_s": 1.0}  # issue 16, at size M on 2 cores


def run_backend(name: str, database_url: str, size: str, users: int, burst_people: int,
                seconds: int) -> dict[str, Any]:
    from bench.generate import generate
    from bench.page_cpu import measure

    print(f"== {name}: generating size {size}", flush=True)
    counts = generate(size, database_url, 2026)
    print(f"== {name}: CPU and statements per page (in process)", flush=True)
    results: dict[str, Any] = {"counts": counts, "pages": measure(database_url, 30, 3)}
    people = logins(database_url, users + burst_people)
    logins_file = Path(tempfile.mkstemp(suffix=".json")[1])
    logins_file.write_text(json.dumps({**people, "employee": people["employee"][burst_people:]}), encoding="utf-8")
    server = Server(database_url)
    try:
        base = server.url
        print(f"== {name}: ceiling, burst of {burst_people}, morning of {users}", flush=True)
        results["ping"] = ping = wrk(f"{base}/ping", None, 5, 8)
        results["burst"] = burst(base, people["employee"][:burst_people], _password())
        results["morning"] = locust(base, logins_file, users, seconds, think=1)
        saturated = locust(base, logins_file, min(users, 64), seconds, think=0, server=server)
        steady = saturated.pop("steady")
        results["saturated"] = saturated
        results["cpu_ms_per_request"] = round(steady["cpu_ms_per_request"], 1)
        results["ratio"] = round(steady["rps"] / float(ping["rps"]), 3)
        results["profile"] = steady.get("profile")
    finally:
        server.stop()
        logins_file.unlink(missing_ok=True)
    return results


def _verdict(holds: bool) -> str:
    return "met" if holds else "**not met**"


def write_results(all_results: dict[str, dict[str, Any]], size: str, users: int, seconds: int) -> str:
    lines = [f"# Benchmarks — the enrolment morning (size {size})", "",
             f"Measured {time.strftime('%Y-%m-%d')} by `python bench/morning.py --size {size}`: gunicorn with 2 sync "
             f"workers, {users} distinct signed-in people arriving within a second (Locust: employees catalog → "
             "search → course → enrol, a real POST with its CSRF token → My learning; heads of units their team "
             "page; HR the dashboard), an opening burst of people who signed in earlier opening the catalog at the "
             f"same instant, and the same mix without pauses (64 people) for throughput; {seconds} s per run. The "
             "load generator runs on the same 2 cores as the server, so every absolute figure is lower than a "
             "separate load machine would give; the ratio to /ping, measured in the same run, is what to compare.",
             "", machine(), "", "## Targets (issue 16)", "",
             "| backend | mix / ping (≥ 0.10) | worst employee page p95 in the morning (≤ 200 ms) | "
             "burst all served (≤ 1.0 s) | errors (0) |", "|---|---|---|---|---|"]
    for backend, results in all_results.items():
        morning: dict[str, dict[str, float]] = results["morning"]
        worst = max((morning[page]["p95_ms"], page) for page in EMPLOYEE_PAGES if page in morning)
        errors = sum(int(page["failures"]) for key, page in morning.items() if key != "total") \
            + results["burst"]["errors"] + sum(int(page["failures"]) for key, page in results["saturated"].items()
                                               if key != "total")
        lines.append(f"| {backend} | {results['ratio']} — {_verdict(results['ratio'] >= TARGETS['ratio'])} | "
                     f"{worst[0]:.0f} ms ({worst[1]}) — {_verdict(worst[0] <= TARGETS['employee_p95_ms'])} | "
                     f"{results['burst']['all_served_s']} s — "
                     f"{_verdict(results['burst']['all_served_s'] <= TARGETS['burst_s'])} | "
                     f"{errors} — {_verdict(errors == 0)} |")
    lines.append("")
    for backend, results in all_results.items():
        ping = results["ping"]
        burst_result = results["burst"]
        lines += [f"## {backend}", "", f"Data: {results['counts']}", "",
                  f"- Ceiling (/ping, wrk): {ping['rps']:.0f} req/s.",
                  f"- Opening burst: {burst_result['people']} people open the catalog at once: all served in "
                  f"{burst_result['all_served_s']} s (p50 {burst_result['p50_ms']} ms, "
                  f"p95 {burst_result['p95_ms']} ms, errors {burst_result['errors']}).",
                  f"- Saturated mix: {results['ratio']} of /ping; worker CPU {results['cpu_ms_per_request']} ms per "
                  "request (steady state, after everyone signed in).", "",
                  "| page (morning, with pauses) | requests | failures | p50 ms | p95 ms | p99 ms |",
                  "|---|---:|---:|---:|---:|---:|"]
        morning = results["morning"]
        for name in [*PAGES_ORDER, "total"]:
            if name in morning:
                page = morning[name]
                lines.append(f"| {name} | {page['requests']:.0f} | {page['failures']:.0f} | {page['p50_ms']:.0f} | "
                             f"{page['p95_ms']:.0f} | {page['p99_ms']:.0f} |")
        profile = results.get("profile")
        if profile and profile["samples"]:
            lines += ["", f"Where the workers' CPU went in the saturated mix (py-spy, {profile['samples']:,} samples "
                      "over both workers; bench/worker_profile.py): share of samples with each part on the stack "
                      "(parts overlap), then the package of the code on the CPU.", "",
                      "| part (inclusive) | share |", "|---|---:|"]
            lines += [f"| {label} | {share} % |" for label, share in profile["parts"].items()]
            lines += ["", "| on the CPU (self) | share |", "|---|---:|"]
            lines += [f"| {name} | {share} % |" for name, share in profile["self"].items()]
            lines += ["", "| function on the CPU | share |", "|---|---:|"]
            lines += [f"| `{name}` | {share} % |" for name, share in profile["functions"].items()]
        lines += ["", "Each page alone, one person at a time (bench/page_cpu.py: 30 distinct people per page take "
                  "turns in one process, no HTTP server; median of 3 rounds):", "",
                  "| page | single-client ms | CPU ms | statements |", "|---|---:|---:|---:|"]
        for name, page in results["pages"].items():
            lines.append(f"| {name} | {page['ms']} | {page['cpu_ms']} | {page['statements']} |")
        lines.append("")
    lines += ["Components one at a time (the dashboard against its raw SQL, the export, the reminder sweep): "
              "bench/COMPONENTS.md; mail delivered over SMTP: bench/SWEEP-SMTP.md.", ""]
    text = "\n".join(lines)
    target = ROOT / "bench" / ("RESULTS.md" if size == "M" else f"RESULTS-{size}.md")
    target.write_text(text + "\n", encoding="utf-8")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="M", choices=["S", "M", "L"])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    require_wrk()
    results: dict[str, dict[str, Any]] = {}
    with closing(backend_databases(args.backends, "manabi_morning")) as databases:
        for backend, url in databases:
            results[backend] = run_backend(backend, url, args.size, args.users, args.burst, args.seconds)
    print(write_results(results, args.size, args.users, args.seconds))


if __name__ == "__main__":
    main()
