"""CPU per request, page by page: `python bench/page_cpu.py --database-url URL [--people 40]`.

Where the enrolment morning (bench/morning.py) gives the workers' CPU for the whole mix, this
gives it for each page of the mix, in one process without a server: distinct signed-in people
(employees for the catalog, a search, a course page and My learning; heads of divisions, and of
departments, for the team page; HR for the dashboard) take turns, so nothing is one person's warm reload. It reports the
median over rounds of the CPU milliseconds (process time) per request and the SQL statements per
request, so a change's before and after can be compared on the same data set (run it from a
checkout of the older commit against the same database: `--label` names the column).

The database must hold generated data (bench/generate.py); the script signs in with its password.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEARCHES = ("データ", "DX", "研修", "AI", "セキュリティ")


def people(database_url: str, count: int) -> dict[str, Any]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as connection:
        heads = [row[0] for row in connection.execute(text(
            "SELECT DISTINCT e.employee_number FROM units u JOIN employees e ON e.id = u.head_id "
            "WHERE u.parent_id IS NOT NULL ORDER BY 1"))][:count]
        department_heads = [row[0] for row in connection.execute(text(
            "SELECT DISTINCT e.employee_number FROM units u JOIN employees e ON e.id = u.head_id "
            "WHERE u.parent_id IS NULL ORDER BY 1"))][:max(1, count // 5)]
        hr = [row[0] for row in connection.execute(text(
            "SELECT e.employee_number FROM role_grants g JOIN employees e ON e.id = g.employee_id "
            "WHERE g.role = 'hr' ORDER BY 1"))]
        staff = [row[0] for row in connection.execute(text(
            "SELECT employee_number FROM employees WHERE is_active ORDER BY employee_number"))]
        codes = [row[0] for row in connection.execute(text(
            "SELECT code FROM courses WHERE status = 'published' ORDER BY code"))]
    engine.dispose()
    taken = set(heads) | set(hr)
    taken |= set(department_heads)
    return {"employee": [n for n in staff if n not in taken][:count], "manager": heads,
            "department_head": [n for n in department_heads if n not in hr], "hr": hr[:1], "codes": codes}


def measure(database_url: str, count: int, rounds: int) -> dict[str, dict[str, float]]:
    from flask.testing import FlaskClient
    from sqlalchemy import event

    from app import create_app
    from bench.generate import PASSWORD
    from config import DevelopmentConfig

    who = people(database_url, count)
    # PAGE_CACHE_ENABLED is for commits that still had a page cache: every page is rendered.
    app = create_app(DevelopmentConfig(), overrides={"DATABASE_URL": database_url, "WTF_CSRF_ENABLED": False,
                                                     "PAGE_CACHE_ENABLED": False})
    statements = [0]
    event.listen(app.extensions["manabi.engine"], "before_cursor_execute",
                 lambda *args: statements.__setitem__(0, statements[0] + 1))

    def signed_in(login: str) -> FlaskClient:
        client = app.test_client()
        response = client.post("/login", data={"login": login, "password": PASSWORD})
        assert response.status_code == 302, (login, response.status_code)
        return client

    clients = {role: [signed_in(login) for login in who[role]]
               for role in ("employee", "manager", "department_head", "hr")}
    codes = who["codes"]
    pages: list[tuple[str, str, Any]] = [
        ("/catalog/", "employee", lambda i: "/catalog/"),
        ("/catalog/?q=", "employee", lambda i: f"/catalog/?q={SEARCHES[i % len(SEARCHES)]}"),
        ("/catalog/courses/<code>", "employee", lambda i: f"/catalog/courses/{codes[i * 7 % len(codes)]}"),
        ("/my-learning", "employee", lambda i: "/my-learning"),
        ("/team", "manager", lambda i: "/team"),
        ("/team (department head)", "department_head", lambda i: "/team"),
        ("/reports/dashboard", "hr", lambda i: "/reports/dashboard?fy=2026"),
    ]
    results: dict[str, dict[str, float]] = {}
    for name, role, path in pages:
        group = clients[role]
        for index, client in enumerate(group):  # warm-up: each person once
            assert client.get(path(index)).status_code == 200, name
        samples, walls, counts = [], [], []
        for _ in range(rounds):
            statements[0] = 0
            started, wall = time.process_time(), time.perf_counter()
            for index, client in enumerate(group):
                client.get(path(index))
            samples.append((time.process_time() - started) * 1000 / len(group))
            walls.append((time.perf_counter() - wall) * 1000 / len(group))
            counts.append(statements[0] / len(group))
        results[name] = {"cpu_ms": round(statistics.median(samples), 1), "ms": round(statistics.median(walls), 1),
                         "statements": round(statistics.median(counts), 1)}
        print(f"{name:28s} {results[name]['cpu_ms']:7.1f} ms CPU {results[name]['ms']:7.1f} ms single-client  "
              f"{results[name]['statements']:5.1f} statements", flush=True)
    app.extensions["manabi.engine"].dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--label", default="this commit")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--markdown", type=Path, help="write a table with issue 16's single-client check at size L: "
                        "no page over 150 ms but the dashboard, which stays within 1.2 times its raw SQL")
    args = parser.parse_args()
    results = measure(args.database_url, args.people, args.rounds)
    if args.json:
        args.json.write_text(json.dumps({"label": args.label, "pages": results}, ensure_ascii=False))
    if args.markdown:
        args.markdown.write_text(markdown(args.database_url, results), encoding="utf-8")


def markdown(database_url: str, results: dict[str, dict[str, float]]) -> str:
    from bench.run import machine, raw_dashboard_sql_ms

    raw = raw_dashboard_sql_ms(database_url, 2026)
    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    lines = [f"# Pages one person at a time ({backend})", "",
             f"Measured {time.strftime('%Y-%m-%d')} by `python bench/page_cpu.py --markdown`: distinct signed-in "
             "people take turns, in one process (no HTTP server); median of the rounds. Target (issue 16, size L): "
             "no page over 150 ms single-client except the dashboard, which stays within 1.2× its raw SQL.", "",
             machine(), "", "| page | single-client ms | CPU ms | statements | target | holds |",
             "|---|---:|---:|---:|---|---|"]
    for name, page in results.items():
        if name == "/reports/dashboard":
            target, holds = f"≤ 1.2 × raw SQL ({raw:.0f} ms): {page['ms'] / raw:.2f}×", page["ms"] <= 1.2 * raw
        else:
            target, holds = "≤ 150 ms", page["ms"] <= 150
        lines.append(f"| {name} | {page['ms']} | {page['cpu_ms']} | {page['statements']} | {target} | "
                     f"{'yes' if holds else '**no**'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
