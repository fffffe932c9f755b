"""The whole suite on SQLite and on PostgreSQL at once: `python tests/run_backends.py` (make test).

The two runs share nothing (their own databases, temporary directories, ports and PostgreSQL
cluster), and most of each is one Python process, so on a 2-core machine running them side by
side takes about as long as the PostgreSQL run alone instead of both in turn. Each run's output
goes to its own log; the log of a run that failed is printed whole, the others' last lines.
Extra arguments go to both pytest runs.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = {"sqlite": [], "postgresql": ["-m", "not browser"]}  # browsers drive the app once, on SQLite


def main() -> int:
    logs = Path(tempfile.mkdtemp(prefix="manabi-test-logs-"))
    started = time.monotonic()
    processes = {}
    for backend, extra in RUNS.items():
        log = (logs / f"{backend}.log").open("w", encoding="utf-8")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=12",
                   "--basetemp", str(logs / f"tmp-{backend}"), *extra, *sys.argv[1:]]
        processes[backend] = (subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                               env={**os.environ, "MANABI_TEST_BACKEND": backend}), log)
        print(f"{backend}: {' '.join(command[1:])}  (log: {logs / f'{backend}.log'})", flush=True)
    # A line a minute while both run, so a watcher of the console sees progress.
    report_at = started + 60
    while any(process.poll() is None for process, _ in processes.values()):
        time.sleep(1)
        if time.monotonic() >= report_at:
            report_at += 60
            print(f"{time.monotonic() - started:4.0f} s: " + " · ".join(
                f"{backend} {_progress(logs / f'{backend}.log')}" for backend in processes), flush=True)
    failed = []
    for backend, (process, log) in processes.items():
        code = process.wait()
        log.close()
        text = (logs / f"{backend}.log").read_text(encoding="utf-8", errors="replace")
        print(f"\n===== {backend}: exit {code} after {time.monotonic() - started:.0f} s =====", flush=True)
        print(text if code else "\n".join([*_slowest(text), *text.splitlines()[-3:]]), flush=True)
        if code:
            failed.append(backend)
    if failed:
        print(f"FAILED on {', '.join(failed)}", flush=True)
        return 1
    return 0


def _slowest(text: str) -> list[str]:
    """pytest's table of the slowest tests (--durations): where to look when `make test` grows."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "slowest" in line and "durations" in line), None)
    if start is None:
        return []
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("=")), len(lines))
    return lines[start:end]


def _progress(log: Path) -> str:
    """The last percentage pytest printed in `log` ("43 %"), or "starting"."""
    found = re.findall(r"\[\s*(\d+)%\]", log.read_text(encoding="utf-8", errors="replace")[-2000:])
    return f"{found[-1]} %" if found else "starting"


if __name__ == "__main__":
    sys.exit(main())
