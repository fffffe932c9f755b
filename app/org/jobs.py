"""The staff import as a background job (app/jobs), so applying 100,000 rows never holds a request.

- The preview (a dry run inside the upload request) stages the file under
  UPLOAD_DIR/staff-imports/ as <token>.csv, with <token>.json beside it: the file's SHA-256, the
  file name, and the fingerprint of the staff data the preview was computed from
  (`queries.staff_fingerprint`).
- Applying queues one job per staged file (`queue_staff_import`) and the page follows it.
- The runner (`run_staff_import`) refuses a file that is not the one previewed, and a preview the
  staff data has moved on from ("preview again"); it checks every row again in a read transaction,
  reporting progress, then applies in one short write transaction: everything or nothing.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.core.db import begin_write_transaction, db_session
from app.jobs.models import BackgroundJob
from app.jobs.runner import JobFailed, JobKind, Progress, begin_read_transaction, register
from app.jobs.services import enqueue
from app.org.models import Employee
from app.org.queries import staff_fingerprint
from app.org.reference import ensure_grades
from app.org.services import ImportReport, apply_staff_import, import_staff, lock_staff_list, plan_staff_import
from app.web.locale import gettext as _

KIND = "org.staff_import"
MAX_ISSUES_KEPT = 200  # the job page lists these; the count says how many there were
_TOKEN = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class StagedImport:
    token: str
    sha256: str
    fingerprint: str
    filename: str


def _folder() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / "staff-imports"


def stage_upload(raw: bytes, *, filename: str, fingerprint: str) -> StagedImport:
    """Keep a previewed file, with what it was previewed against, under a random token."""
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    staged = StagedImport(secrets.token_hex(16), hashlib.sha256(raw).hexdigest(), fingerprint, filename[:200])
    (folder / f"{staged.token}.csv").write_bytes(raw)
    (folder / f"{staged.token}.json").write_text(json.dumps(asdict(staged)), encoding="utf-8")
    return staged


def find_staged(token: str) -> StagedImport | None:
    """The staged preview under `token`, or None (malformed token, applied already, cleaned up)."""
    if not _TOKEN.fullmatch(token or ""):
        return None
    try:
        record = json.loads((_folder() / f"{token}.json").read_text(encoding="utf-8"))
        staged = StagedImport(**record)
    except (OSError, ValueError, TypeError):
        return None
    return staged if staged.token == token else None


def read_staged(staged: StagedImport) -> bytes | None:
    """The staged file's bytes, or None if it is gone or is not the file that was previewed."""
    try:
        raw = (_folder() / f"{staged.token}.csv").read_bytes()
    except OSError:
        return None
    return raw if hashlib.sha256(raw).hexdigest() == staged.sha256 else None


def discard_staged(token: str) -> None:
    if _TOKEN.fullmatch(token or ""):
        for suffix in (".csv", ".json"):
            (_folder() / f"{token}{suffix}").unlink(missing_ok=True)


def preview_staff_import(raw: bytes, actor: Employee, *, filename: str,
                         as_of: date) -> tuple[ImportReport, StagedImport | None]:
    """A dry run of the file; when it has no problems, the file is staged for applying along with
    the fingerprint of the staff data the preview was computed from. The caller rolls back."""
    ensure_grades()  # a fresh install's grade ladder (rolled back with the dry run)
    fingerprint = staff_fingerprint()  # before the dry run reads: any later change shows
    report = import_staff(raw, actor, as_of=as_of, dry_run=True)
    if not report.ok:
        return report, None
    return report, stage_upload(raw, filename=filename, fingerprint=fingerprint)


def is_stale(staged: StagedImport) -> bool:
    """True when the staff data changed since the preview of `staged` (it must be previewed again)."""
    return staff_fingerprint() != staged.fingerprint


def job_for_preview(token: str) -> BackgroundJob | None:
    """The job already queued for a previewed file (a second click on "apply")."""
    if not _TOKEN.fullmatch(token or ""):
        return None
    return db_session.scalar(select(BackgroundJob).where(BackgroundJob.dedupe_key == f"{KIND}:{token}"))


def queue_staff_import(actor: Employee, staged: StagedImport, *, as_of: date, locale: str) -> BackgroundJob:
    """Queue the import of a previewed file (once: applying the same preview again returns its job)."""
    payload = {"token": staged.token, "sha256": staged.sha256, "fingerprint": staged.fingerprint,
               "filename": staged.filename, "as_of": as_of.isoformat(), "locale": locale}
    return enqueue(KIND, payload, created_by=actor, dedupe_key=f"{KIND}:{staged.token}")


def _issues_result(report: ImportReport, filename: str) -> dict[str, Any]:
    return {
        "reason": "invalid", "filename": filename, "issue_count": len(report.issues),
        "issues": [{"line": issue.line, "field": issue.field, "column": report.column_label(issue.field),
                    "message": issue.message} for issue in report.issues[:MAX_ISSUES_KEPT]],
    }


def run_staff_import(job: BackgroundJob, progress: Progress) -> dict[str, Any]:
    """The job's handler (app/jobs/runner.py runs it, marks it succeeded and commits)."""
    payload = job.payload
    filename = payload.get("filename", "")
    stale = JobFailed("the staff list changed since the preview", {"reason": "stale", "filename": filename})
    progress.phase("reading")
    staged = StagedImport(payload["token"], payload["sha256"], payload["fingerprint"], filename)
    raw = read_staged(staged)
    if raw is None:
        raise JobFailed("the previewed file is gone or was altered", {"reason": "missing", "filename": filename})
    as_of = date.fromisoformat(payload["as_of"])
    actor = db_session.get(Employee, job.created_by_id) if job.created_by_id is not None else None
    ensure_grades()  # reference data a fresh install may lack (the preview's were rolled back)
    db_session.commit()

    # Check every row while only reading, so progress reports can commit beside it.
    begin_read_transaction()
    if is_stale(staged):
        raise stale
    progress.phase("checking")
    plan = plan_staff_import(raw, as_of=as_of, on_progress=progress)
    if plan.report.issues:
        raise JobFailed(f"{len(plan.report.issues)} problem(s) in {filename}", _issues_result(plan.report, filename))
    db_session.commit()  # ends the read transaction; nothing was written

    # Apply in one short write transaction, against the very data the plan was worked out from.
    progress.phase("applying", done=plan.report.rows, total=plan.report.rows)
    begin_write_transaction()
    lock_staff_list()  # PostgreSQL: an API upsert or a directory sync cannot commit between check and apply
    if is_stale(staged):
        raise stale
    report = apply_staff_import(plan, actor)
    return {"reason": "applied", "filename": filename, "as_of": as_of.isoformat(), "encoding": report.encoding,
            "counts": report.counts()}


def register_jobs() -> None:
    register(KIND, JobKind(handler=run_staff_import, result_template="org/_import_job_result.html",
                           title=lambda: _("Staff list import"),
                           cleanup=lambda payload: discard_staged(payload.get("token", ""))))
