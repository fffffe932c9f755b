"""Where the web workers' CPU goes during a run: py-spy samples every gunicorn worker, and the
samples are summed by what they were doing (bench/morning.py puts the table in RESULTS.md).

A sample counts for each part whose code is on its stack ("inclusive"), so the parts overlap: a
template that runs a query counts for both. The last column names the innermost frame's package
("self"): the code that was on the CPU.
"""
from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (label, what a frame's file path contains); checked on every frame of a sample
PARTS = (
    ("Jinja templates (rendering)", ("/jinja2/", ".html")),
    ("SQLAlchemy (building, compiling, executing, loading rows)", ("/sqlalchemy/",)),
    ("the database driver (sqlite3 / psycopg)", ("/sqlite3/", "/psycopg/")),
    ("signing in: Argon2", ("/argon2/",)),
    ("Flask-Babel and Babel (translations, formats)", ("/flask_babel/", "/babel/")),
    ("Flask-Login, Flask-WTF (sessions, CSRF)", ("/flask_login/", "/flask_wtf/", "/itsdangerous/", "/wtforms/")),
    ("Flask and Werkzeug (routing, requests, responses)", ("/flask/", "/werkzeug/")),
    ("gunicorn (HTTP parsing, sockets)", ("/gunicorn/",)),
)
SELF_PACKAGES = ("sqlalchemy", "jinja2", "werkzeug", "flask_babel", "babel", "flask_login", "flask_wtf", "flask",
                 "markupsafe", "argon2", "psycopg", "sqlite3", "gunicorn", "wtforms", "itsdangerous", "app")


def available() -> bool:
    return shutil.which("py-spy") is not None or (ROOT / ".venv/bin/py-spy").exists()


def start(master_pid: int, seconds: int, output: Path) -> subprocess.Popen[bytes]:
    """Sample the gunicorn master's workers (its subprocesses) for `seconds`, in py-spy's raw format."""
    executable = shutil.which("py-spy") or str(ROOT / ".venv/bin/py-spy")
    return subprocess.Popen([executable, "record", "--pid", str(master_pid), "--subprocesses", "--format", "raw",
                             "--duration", str(seconds), "--rate", "200", "--nonblocking", "--full-filenames",
                             "--output", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize(raw: Path) -> dict[str, object]:
    """Shares of the samples: per part (inclusive) and per package of the innermost frame."""
    parts: Counter[str] = Counter()
    own: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if any("gunicorn/workers/sync.py" in frame and "wait" in frame.split(" ")[0] for frame in frames[-2:]):
            continue  # a worker waiting for a connection: not CPU spent on a request
        total += count
        for label, markers in PARTS:
            if any(marker in frame for frame in frames for marker in markers):
                parts[label] += count
        own[_package(frames[-1])] += count
        functions[_short(frames[-1])] += count
    if not total:
        return {"samples": 0, "parts": {}, "self": {}, "functions": {}}
    return {"samples": total,
            "parts": {label: round(100 * parts[label] / total) for label, _ in PARTS},
            "self": {name: round(100 * count / total) for name, count in own.most_common(8)},
            "functions": {name: round(100 * count / total, 1) for name, count in functions.most_common(12)}}


def _short(frame: str) -> str:
    """"do_execute (sqlalchemy/engine/default.py)": the function and its file below site-packages or the project."""
    function, _, location = frame.partition(" (")
    path = location.rstrip(")").rsplit(":", 1)[0]
    for marker in ("/site-packages/", f"{ROOT}/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{function} ({path})"


def _package(frame: str) -> str:
    location = frame[frame.rfind("(") + 1:] if "(" in frame else frame
    if "/app/" in location or location.startswith("app/") or location.endswith(".html:" + location.split(":")[-1]):
        return "app (our code and templates)" if "/site-packages/" not in location else _site_package(location)
    if "/site-packages/" in location:
        return _site_package(location)
    return "Python standard library and interpreter"


def _site_package(location: str) -> str:
    name = location.split("/site-packages/", 1)[1].split("/", 1)[0]
    return name if name in SELF_PACKAGES else f"{name} (other library)"
