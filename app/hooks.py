"""Cross-domain follow-ups at the edge, called explicitly by CLI commands and views.

The organisation domain cannot import the catalog (dependencies run one way), so whatever must
happen after a staff import (re-evaluating assignment rules) is wired here, at the edge.
"""
from __future__ import annotations

from datetime import date


def after_staff_import(as_of: date) -> None:
    """Re-evaluate what staff owe after the organisation changed."""


def after_demo_load() -> None:
    """Load the rest of the demo (catalog, sessions) once those domains exist."""
