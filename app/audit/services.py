from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.audit.models import AuditEvent
from app.core.clock import now
from app.core.db import db_session

if TYPE_CHECKING:  # org comes after this package; the mapper finds Employee by name
    from app.org.models import Employee


def record_event(
    actor: Employee | None,
    action: str,
    target_type: str,
    target_id: object | None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    summary: str = "",
) -> AuditEvent:
    """Append an audit event in the caller's transaction (it commits or rolls back with the change)."""
    event = AuditEvent(
        occurred_at=now(),
        actor_id=actor.id if actor is not None else None,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        summary=summary[:500],
        before=before,
        after=after,
    )
    db_session.add(event)
    return event
