"""Cross-domain wiring at the edge, called explicitly by CLI commands and views.

Domains depend one way (org → auth → catalog → scheduling → enrollment → …). When an earlier
domain's page or command needs a later one (the catalog page shows sessions; a staff import
re-evaluates assignment rules), the call goes through here, so no domain imports a later one.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select


def after_staff_import(as_of: date) -> None:
    """Re-evaluate what staff owe after the organisation changed."""
    from app.catalog.services import evaluate_all_rules

    evaluate_all_rules()


def after_demo_load() -> None:
    """Load the catalog from courses/ and the demo's assignment rules and sessions."""
    from app.catalog.demo import load_demo_catalog

    load_demo_catalog()


def after_catalog_sync() -> None:
    """Nothing yet: quizzes defined in course files are materialised here once they exist."""


def open_seat_course_ids() -> Select[Any] | None:
    """Course ids with an upcoming session that has a free seat (None until sessions exist)."""
    return None


def upcoming_sessions(course_ids: list[int]) -> dict[int, list[Any]]:
    """Upcoming sessions per course for the catalog list."""
    return {}


def course_page_panel(course: Any, viewer: Any) -> Any:
    """Extra content for the course page (sessions and the enrol buttons once they exist)."""
    return None
