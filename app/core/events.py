"""In-process domain events, dispatched synchronously inside the caller's transaction.

A domain announces what happened (`emit(EnrolmentConfirmed(...))`); later domains (reminders,
completion) subscribe at app start. The announcing domain never imports its listeners, so
dependencies keep running one way, and whatever a listener writes (an outbox row) commits or
rolls back together with the change that caused it.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

E = TypeVar("E")
_subscribers: dict[type, list[Callable[[Any], None]]] = defaultdict(list)


def subscribe(event_type: type[E], handler: Callable[[E], None]) -> None:
    if handler not in _subscribers[event_type]:
        _subscribers[event_type].append(handler)


def emit(event: object) -> None:
    for handler in list(_subscribers.get(type(event), ())):
        handler(event)
