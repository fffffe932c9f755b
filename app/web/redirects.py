"""Redirect targets from user input (`next=`) may only point inside this site."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import url_for


def is_safe_local_path(target: str | None) -> bool:
    if not target:
        return False
    if any(ch in target for ch in ("\\", "\r", "\n", "\t")) or any(ord(ch) < 32 for ch in target):
        return False
    if not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_next(target: str | None, default_endpoint: str = "home.home") -> str:
    return target if is_safe_local_path(target) else url_for(default_endpoint)  # type: ignore[return-value]
