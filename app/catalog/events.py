"""What the catalog announces to later domains (app/core/events.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogSynced:
    """courses/ was applied: quizzes written in course files become quiz rows (app/assessment)."""
