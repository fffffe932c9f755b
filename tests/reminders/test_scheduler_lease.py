"""The scheduler's lease: one holder runs the jobs, a second copy stands by until it expires."""
from __future__ import annotations

from datetime import timedelta

from app.core.clock import now
from app.core.scheduler import hold_lease, release_lease


def test_second_scheduler_stands_by_until_the_lease_expires(ctx):
    ttl = timedelta(seconds=90)
    start = now()
    assert hold_lease("host-a:1", ttl, start)
    assert not hold_lease("host-b:2", ttl, start + timedelta(seconds=10))  # stands by
    assert hold_lease("host-a:1", ttl, start + timedelta(seconds=60))  # the holder renews
    assert not hold_lease("host-b:2", ttl, start + timedelta(seconds=100))  # renewed until 150 s
    assert hold_lease("host-b:2", ttl, start + timedelta(seconds=151))  # the holder died: take over
    assert not hold_lease("host-a:1", ttl, start + timedelta(seconds=160))


def test_released_lease_is_taken_at_once(ctx):
    ttl = timedelta(seconds=90)
    assert hold_lease("host-a:1", ttl)
    release_lease("host-a:1")
    assert hold_lease("host-b:2", ttl)
