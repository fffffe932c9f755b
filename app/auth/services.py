"""Sign-in, throttling and password changes. Callers commit."""
from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from app.audit.services import record_event
from app.auth import sessions, throttling
from app.auth.directory import Directory, DirectorySettings, DirectoryUnavailable
from app.auth.events import SignInDelayed
from app.auth.models import Credential
from app.auth.passwords import hash_password, needs_rehash, verify_password
from app.auth.throttling import Device, ThrottlePolicy
from app.core.clock import now
from app.core.db import db_session
from app.core.events import emit, subscribe
from app.org.events import EmployeesDeactivated
from app.org.models import Employee
from app.permissions import PermissionDenied, can_reset_password, can_show_temporary_password
from app.web.locale import gettext as _


class AuthError(Exception):
    """A sign-in or password problem with a message fit to show the user."""


@dataclass(frozen=True)
class SignInResult:
    employee: Employee
    must_change_password: bool


LOCAL, LDAP, OFF = "local", "ldap", "off"


@dataclass(frozen=True)
class PasswordSignIn:
    """Which password a sign-in checks (config.py PASSWORD_SIGN_IN, BREAK_GLASS_LOGINS, LDAP_*).

    "local": Manabi's own; "ldap": the directory's, by binding as the person (app/auth/directory.py);
    "off": none (the organisation's OpenID Connect sign-in instead). The break-glass logins (the
    administrator, say) always use their Manabi password, so they still get in when the directory
    is down or misconfigured."""

    mode: str = LOCAL
    break_glass: frozenset[str] = frozenset()  # casefolded employee numbers or e-mail addresses
    directory: DirectorySettings | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PasswordSignIn:
        mode = str(config.get("PASSWORD_SIGN_IN") or LOCAL).strip().lower()
        if mode not in (LOCAL, LDAP, OFF):
            raise RuntimeError(f"PASSWORD_SIGN_IN must be local, ldap or off, not {mode!r}")
        names = frozenset(throttling.normalise_login(name) for name in config.get("BREAK_GLASS_LOGINS") or ())
        return cls(mode, names, DirectorySettings.from_config(config) if mode == LDAP else None)

    def is_break_glass(self, employee: Employee) -> bool:
        return bool({throttling.normalise_login(employee.employee_number),
                     throttling.normalise_login(employee.email)} & self.break_glass)

    def uses_local_password(self, employee: Employee) -> bool:
        """Whether this person's Manabi password is what they sign in with (so it can be changed
        on the account page, or reset by HR)."""
        return self.mode == LOCAL or self.is_break_glass(employee)


def find_by_login(login: str) -> Employee | None:
    login = unicodedata.normalize("NFKC", login).strip()  # full-width digits from an IME count
    if not login:
        return None
    return db_session.scalar(
        select(Employee).where(
            or_(Employee.employee_number == login, func.lower(Employee.email) == login.lower())
        )
    )


def _wait_message(wait: timedelta, *, account: bool) -> str:
    if not account:
        return _("Too many failed sign-in attempts. Please wait %(minutes)s minutes and try again.",
                 minutes=_minutes(wait))
    # The same words whether or not the login exists, so the answer reveals nothing.
    if wait < timedelta(seconds=60):
        return _("Too many failed sign-in attempts for this account: please wait %(seconds)s seconds and try "
                 "again. The account's owner can sign in at once with the link sent to their e-mail.",
                 seconds=max(1, int(wait.total_seconds() + 0.999)))
    return _("Too many failed sign-in attempts for this account: please wait %(minutes)s minutes and try "
             "again. The account's owner can sign in at once with the link sent to their e-mail.",
             minutes=_minutes(wait))


def _minutes(delta: timedelta) -> int:
    return max(1, int((delta.total_seconds() + 59) // 60))


def sign_in(login: str, password: str, address: str, policy: ThrottlePolicy,
            device: Device | None = None, password_sign_in: PasswordSignIn | None = None) -> SignInResult:
    """Check a login (employee number or e-mail) and password; raise AuthError with the reason.

    Throttled as app/auth/throttling.py describes: per person (however the login was typed), per
    browser the owner signed in from (`device`, from its signed cookie), and per client address.
    An attempt that must still wait is refused without checking the password, and not counted.

    `password_sign_in` says which password counts (PasswordSignIn; default: Manabi's own). With
    the directory, the person must also be an active employee here (found by the login); a
    directory that cannot be reached refuses the sign-in without counting it against anyone.
    With password sign-in off, only the break-glass logins may sign in with a password.
    """
    mode = password_sign_in or PasswordSignIn()
    at = now()
    employee = find_by_login(login)
    credential = None
    if employee is not None:
        # Attempts on one account take turns across workers (PostgreSQL row lock until commit;
        # SQLite's writer lock already does it), so a burst cannot slip guesses past the count.
        # NO KEY UPDATE: rows referring to the person can still be inserted meanwhile.
        credential = db_session.get(Credential, employee.id, with_for_update={"key_share": True},
                                    populate_existing=True)
    owners_browser = False
    if device is not None and employee is not None and device.employee_id == employee.id:
        owners_browser = True
        key = throttling.device_key(device.nonce)
    elif employee is not None:
        key = throttling.account_key(employee.id)
    else:
        key = throttling.unknown_login_key(login)
    address_key = throttling.address_key(address)
    changed_at = credential.changed_at if credential is not None else None

    if not owners_browser:
        wait = throttling.address_wait(address_key, policy, at)
        if wait is not None:
            raise AuthError(_wait_message(wait, account=False))
    wait = throttling.account_wait(key, policy, at, password_changed_at=changed_at)
    if wait is not None:
        raise AuthError(_wait_message(wait, account=True))

    if employee is not None and mode.is_break_glass(employee):
        local = True
    elif mode.mode == OFF:
        # Whoever typed it, known or not: the same answer, and no password was checked.
        raise AuthError(_("Signing in with a password is turned off. Please use your organisation's sign-in."))
    else:
        local = mode.mode == LOCAL
    if local:
        ok = verify_password(credential.password_hash if credential else None, password)
    else:
        ok = _directory_accepts(mode, login, password)
    if not ok or employee is None or not employee.is_active:
        failures = throttling.count_account_failure(key, policy, at, password_changed_at=changed_at)
        if not owners_browser:
            throttling.count_address_failure(address_key, policy, at)
            if employee is not None and employee.is_active and credential is not None \
                    and failures == policy.max_per_account:
                _offer_unlock(employee, policy, at)
        raise AuthError(_("The employee number / e-mail or the password is incorrect."))

    throttling.forget(key)
    if not local:
        return SignInResult(employee=employee, must_change_password=False)
    if credential is not None and needs_rehash(credential.password_hash):
        # The password is known only now: re-hash it with today's cost (config.py ARGON2_*).
        credential.password_hash = hash_password(password)
    return SignInResult(employee=employee, must_change_password=bool(credential and credential.must_change))


def _directory_accepts(mode: PasswordSignIn, login: str, password: str) -> bool:
    """Bind as the person to the directory. An empty password is refused here, before any bind
    (Active Directory would take it as an anonymous bind). A directory that cannot be reached is
    an AuthError raised before anything is counted."""
    if not password or mode.directory is None:
        return False
    try:
        return Directory(mode.directory).check_password(unicodedata.normalize("NFKC", login).strip(), password)
    except DirectoryUnavailable:
        raise AuthError(_("Cannot reach the directory to check your password. Please try again in a few "
                          "minutes; if this goes on, contact the help desk.")) from None


def _offer_unlock(employee: Employee, policy: ThrottlePolicy, at: datetime) -> None:
    issued = throttling.issue_unlock(employee.id, policy, at)
    if issued is not None:
        unlock_id, token = issued
        emit(SignInDelayed(employee.id, unlock_id, throttling.UNLOCK_PATH.format(token=token)))


def start_session(employee: Employee, *, user_agent: str | None, address: str | None) -> sessions.StartedSession:
    """After a successful sign-in: the server-side session row the browser will hold a token to."""
    return sessions.start_session(employee, user_agent=user_agent, address=address)


def sign_out(token: str | None) -> None:
    sessions.revoke_token(token, sessions.SIGNED_OUT)


def end_own_session(employee: Employee, session_id: int) -> bool:
    """The owner ends one of their sessions from the sessions page (the view checked ownership)."""
    return sessions.revoke_session(session_id, sessions.ENDED_BY_OWNER, employee_id=employee.id)


def end_other_sessions(employee: Employee, current_session_id: int | None) -> int:
    return sessions.revoke_all(employee.id, sessions.ENDED_BY_OWNER, keep_session_id=current_session_id)


def end_all_sessions(actor: Employee, employee: Employee) -> int:
    """An administrator's "sign out everywhere" for someone (the view checked the permission)."""
    count = sessions.revoke_all(employee.id, sessions.ENDED_BY_ADMINISTRATOR)
    record_event(actor, "auth.sessions_ended", "employee", employee.id, summary=employee.employee_number,
                 after={"sessions": count})
    return count


def on_employees_deactivated(event: EmployeesDeactivated) -> None:
    """People deactivated (a staff import left them out) lose every session at once."""
    sessions.revoke_all_of(list(event.employee_ids), sessions.DEACTIVATED)


def register_subscribers() -> None:
    subscribe(EmployeesDeactivated, on_employees_deactivated)


def use_unlock_link(token: str) -> int | None:
    """Spend an unlock link; returns the person's id (their account's delay is cleared)."""
    return throttling.use_unlock(token, now())


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


def change_own_password(employee: Employee, current_password: str, new_password: str, min_length: int,
                        current_session_id: int | None = None) -> None:
    """Change one's own password; every other session of the person ends (the one where the
    change was made, `current_session_id`, stays signed in)."""
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
    sessions.revoke_all(employee.id, sessions.PASSWORD_CHANGED, keep_session_id=current_session_id)
    record_event(employee, "auth.password_changed", "employee", employee.id)


def set_password(employee: Employee, password: str, *, temporary: bool,
                 precomputed_hash: str | None = None) -> None:
    """Store a password directly, with no permission check: for the system only (demo data, the
    first administrator). People act through `issue_temporary_password` or `change_own_password`.

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
    """Set a temporary password that the person must change at their next sign-in, and return it
    to be shown once to `actor`. Allowed only for an account of strictly lower privilege than the
    actor's (app/permissions.py): whoever sees it can sign in as its owner, so an account as
    privileged as the actor's (another administrator) would need delivery by mail instead."""
    if not can_reset_password(actor, employee):
        raise PermissionDenied(_("You can issue a temporary password only for an account with fewer privileges "
                                 "than yours; an administrator's only by another administrator."))
    if not can_show_temporary_password(actor, employee):
        raise PermissionDenied(_("A temporary password for an account as privileged as yours is never shown on "
                                 "screen; it can only be delivered to the person by mail."))
    return _issue_temporary(actor, employee)


def issue_system_temporary_password(employee: Employee) -> str:
    """A temporary password set by the operator on the server (`flask auth make-admin`), with no
    permission check: whoever runs server commands already holds the database."""
    return _issue_temporary(None, employee)


def _issue_temporary(actor: Employee | None, employee: Employee) -> str:
    temporary = "-".join(secrets.token_urlsafe(6) for _ in range(2))
    set_password(employee, temporary, temporary=True)
    # The person starts afresh: no sign-in delay, and no browser stays signed in with the old one.
    throttling.forget(throttling.account_key(employee.id))
    sessions.revoke_all(employee.id, sessions.PASSWORD_CHANGED)
    record_event(actor, "auth.temporary_password_issued", "employee", employee.id,
                 summary=employee.employee_number)
    db_session.flush()
    return temporary


def set_locale(employee: Employee, locale: str) -> None:
    employee.locale = locale
