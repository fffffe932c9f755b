"""Reads of background jobs for pages other than the job's own (HR's home page)."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.core.db import db_session
from app.jobs.models import BackgroundJob, JobState


def jobs_in_progress(limit: int) -> tuple[list[BackgroundJob], int]:
    """Jobs queued or running (a staff import being applied ...), the oldest first, with who started
    them: the first `limit` and how many (one statement)."""
    rows = db_session.execute(
        select(BackgroundJob, func.count().over().label("total"))
        .where(BackgroundJob.state.in_((JobState.QUEUED, JobState.RUNNING)))
        .options(joinedload(BackgroundJob.created_by).lazyload("*"))  # their name is shown, nothing of theirs
        .order_by(BackgroundJob.created_at, BackgroundJob.id).limit(limit)).unique().all()
    return [row.BackgroundJob for row in rows], (rows[0].total if rows else 0)
