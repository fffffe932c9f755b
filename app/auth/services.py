"""Sign-in, throttling and password changes. Callers commit."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from app.audit.services import record_event
from app.auth.models import Credential, LoginThrottle
from app.auth.passwords import hash_password, verify_password
from app.clock import now
from app.db import db_session
from app.org.models import Employee


class AuthError(Exception):
    """A sign-in or password problem with a message fit to show the user."""


@dataclass(frozen=True)
class ThrottlePolicy:
    max_per_account: int
    max_per_address: int
    window: timedelta


@dataclass(frozen=True)
class SignInResult:
    employee: Employee
    must_change_password: bool


def find_by_login(login: str) -> Employee | None:
    login = login.strip()
    if not login:
        return None
    return db_session.scalar(
        select(Employee).where(
            or_(Employee.employee_number == login, func.lower(Employee.email) == login.lower())
        )
    )


def _throttle_row(key: str) -> LoginThrottle | None:
    return db_session.get(LoginThrottle, key)


def _remaining_lock(key: str, limit: int, policy: ThrottlePolicy) -> timedelta | None:
    row = _throttle_row(key)
    if row is None or row.failures < limit:
        return None
    remaining = row.window_started_at + policy.window - now()
    return remaining if remaining > timedelta(0) else None


def _count_failure(key: str, policy: ThrottlePolicy) -> None:
    row = _throttle_row(key)
    current = now()
    if row is None:
        db_session.add(LoginThrottle(key=key, failures=1, window_started_at=current))
    elif row.window_started_at + policy.window <= current:
        row.failures = 1
        row.window_started_at = current
    else:
        row.failures += 1
    db_session.flush()


def _minutes(delta: timedelta) -> int:
    return max(1, int((delta.total_seconds() + 59) // 60))


def sign_in(login: str, password: str, address: str, policy: ThrottlePolicy) -> SignInResult:
    """Check a login (employee number or e-mail) and password; raise AuthError with the reason.

    Failures are counted per account and per client address, in the database so that every
    worker process sees the same counts. A locked account stays locked even for the right password.
    """
    account_key = f"account:{login.strip().lower()}"
    address_key = f"address:{address}"
    for key, limit in ((account_key, policy.max_per_account), (address_key, policy.max_per_address)):
        remaining = _remaining_lock(key, limit, policy)
        if remaining is not None:
            raise AuthError(
                _(
                    "Too many failed sign-in attempts. Please wait %(minutes)s minutes and try again.",
                    minutes=_minutes(remaining),
                )
            )

    employee = find_by_login(login)
    credential = db_session.get(Credential, employee.id) if employee is not None else None
    ok = verify_password(credential.password_hash if credential else None, password)
    if not ok or employee is None or not employee.is_active:
        _count_failure(account_key, policy)
        _count_failure(address_key, policy)
        raise AuthError(_("The employee number / e-mail or the password is incorrect."))

    row = _throttle_row(account_key)
    if row is not None:
        db_session.delete(row)
    return SignInResult(employee=employee, must_change_password=bool(credential and credential.must_change))


def validate_new_password(password: str, min_length: int, employee: Employee) -> list[str]:
    problems = []
    if len(password) < min_length:
        problems.append(_("Use at least %(count)s characters.", count=min_length))
    if password.strip() != password:
        problems.append(_("Do not start or end with a space."))
    lowered = password.lower()
    if employee.employee_number.lower() in lowered or employee.email.split("@")[0].lower() in lowered:
        problems.append(_("Do not include your employee number or e-mail name."))
    return problems


def change_own_password(employee: Employee, current_password: str, new_password: str, min_length: int) -> None:
    credential = db_session.get(Credential, employee.id)
    if credential is None or not verify_password(credential.password_hash, current_password):
        raise AuthError(_("The current password is incorrect."))
    if verify_password(credential.password_hash, new_password):
        raise AuthError(_("Choose a password different from the current one."))
    problems = validate_new_password(new_password, min_length, employee)
    if problems:
        raise AuthError(" ".join(problems))
    credential.password_hash = hash_password(new_password)
    credential.must_change = False
    credential.changed_at = now()
    record_event(employee, "auth.password_changed", "employee", employee.id)


def set_password(employee: Employee, password: str, *, temporary: bool,
                 precomputed_hash: str | None = None) -> None:
    """Store a password directly (demo data, the first administrator).

    `precomputed_hash` lets bulk loaders hash one shared demo password once instead of per row.
    """
    credential = db_session.get(Credential, employee.id)
    if credential is None:
        credential = Credential(employee_id=employee.id, password_hash="", changed_at=now())
        db_session.add(credential)
    credential.password_hash = precomputed_hash or hash_password(password)
    credential.must_change = temporary
    credential.changed_at = now()


def issue_temporary_password(actor: Employee, employee: Employee) -> str:
    """HR sets a temporary password; the person must change it at their next sign-in."""
    temporary = "-".join(secrets.token_urlsafe(6) for _ in range(2))
    set_password(employee, temporary, temporary=True)
    # Clear a lock so the person can sign in with the new password at once.
    row = _throttle_row(f"account:{employee.employee_number.lower()}")
    if row is not None:
        db_session.delete(row)
    row = _throttle_row(f"account:{employee.email.lower()}")
    if row is not None:
        db_session.delete(row)
    record_event(actor, "auth.temporary_password_issued", "employee", employee.id,
                 summary=employee.employee_number)
    db_session.flush()
    return temporary


def set_locale(employee: Employee, locale: str) -> None:
    employee.locale = locale
