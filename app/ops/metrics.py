"""The gauges a scrape reads at that moment (a prometheus-client custom Collector: no thread, no
state kept between scrapes): the outbox backlog, the age of the oldest due unsent message, the
scheduler lease, how each scheduled job last went, and the database pool of the worker that answers.

Three statements a scrape, whatever the number of rows: one aggregate over the unsent and failed
messages (app/reminders/queries.py), the lease row and the jobs' run rows (app/core/scheduler.py);
the pool's numbers come from the engine.

The lease is renewed by every job run (app/core/scheduler.py), so its last renewal is when the
scheduler last ran a job: an alert on its age catches a scheduler that stopped."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from app.core.clock import now
from app.core.scheduler import current_lease, job_runs
from app.reminders.queries import outbox_backlog


class ManabiCollector(Collector):
    def __init__(self, engine: Engine, lease_ttl: timedelta) -> None:
        self.engine = engine
        self.lease_ttl = lease_ttl

    def collect(self) -> Iterator[Metric]:
        at = now()
        yield from self._outbox(at)
        yield from self._scheduler(at)
        yield from self._jobs()
        yield from self._pool()

    def _outbox(self, at: datetime) -> Iterator[Metric]:
        counts, oldest_due_at = outbox_backlog(at)
        backlog = GaugeMetricFamily("manabi_outbox_messages", "Messages pending, being sent or failed for good.",
                                    labels=("status", "kind"))
        for (status, kind), count in sorted(counts.items()):
            backlog.add_metric((status, kind), count)
        yield backlog
        yield GaugeMetricFamily("manabi_outbox_failed_messages", "Messages that failed for good (HR can resend).",
                                value=sum(c for (status, _kind), c in counts.items() if status == "failed"))
        age = (at - oldest_due_at).total_seconds() if oldest_due_at is not None else 0.0
        yield GaugeMetricFamily("manabi_outbox_oldest_due_unsent_age_seconds",
                                "How long the oldest message due and not yet sent has waited (0 when none).",
                                value=max(age, 0.0))

    def _scheduler(self, at: datetime) -> Iterator[Metric]:
        lease = current_lease()
        held = lease is not None and lease.expires_at > at
        holder = GaugeMetricFamily("manabi_scheduler_lease_holder",
                                   "1 for the scheduler process holding an unexpired lease.", labels=("holder",))
        if lease is not None and held:
            holder.add_metric((lease.holder,), 1)
        yield holder
        yield GaugeMetricFamily("manabi_scheduler_lease_held", "1 when some scheduler holds an unexpired lease.",
                                value=1 if held else 0)
        if lease is not None:
            yield GaugeMetricFamily("manabi_scheduler_last_run_timestamp_seconds",
                                    "When the scheduler last ran a job (renewed its lease), Unix time.",
                                    value=(lease.expires_at - self.lease_ttl).timestamp())

    def _jobs(self) -> Iterator[Metric]:
        """Per job (one row each, written after every run that held the lease): an alert on the age
        of the last success, against the job's interval, catches a job that keeps failing."""
        runs = sorted(job_runs().items())
        started = GaugeMetricFamily("manabi_scheduler_job_last_run_timestamp_seconds",
                                    "When the job last started, Unix time.", labels=("job",))
        succeeded = GaugeMetricFamily("manabi_scheduler_job_last_success_timestamp_seconds",
                                      "When the job last finished without an error, Unix time.", labels=("job",))
        failed = GaugeMetricFamily("manabi_scheduler_job_last_run_failed",
                                   "1 when the job's last run failed, 0 when it succeeded.", labels=("job",))
        duration = GaugeMetricFamily("manabi_scheduler_job_last_duration_seconds",
                                     "How long the job's last run took.", labels=("job",))
        for name, run in runs:
            started.add_metric((name,), run.last_started_at.timestamp())
            if run.last_success_at is not None:
                succeeded.add_metric((name,), run.last_success_at.timestamp())
            failed.add_metric((name,), 1 if run.last_outcome == "failed" else 0)
            duration.add_metric((name,), run.last_duration_ms / 1000)
        yield from (started, succeeded, failed, duration)

    def _pool(self) -> Iterator[Metric]:
        pool = self.engine.pool
        size, checked_out = getattr(pool, "size", None), getattr(pool, "checkedout", None)
        if callable(size) and callable(checked_out):  # a QueuePool (PostgreSQL); SQLite's pools keep no count
            yield GaugeMetricFamily("manabi_db_pool_size", "Connections the pool keeps (this worker).",
                                    value=size())
            yield GaugeMetricFamily("manabi_db_pool_checked_out", "Connections in use (this worker).",
                                    value=checked_out())
