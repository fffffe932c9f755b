"""The organisation's directory (LDAP / Active Directory) through ldap3: checking a password by
binding as the person, and reading people and units for `flask org sync-ldap`.

A password is checked in three steps: the service account (LDAP_BIND_DN) searches LDAP_USER_BASE
with LDAP_USER_FILTER, the login escaped into it (RFC 4515: `*)(uid=*` matches nobody); exactly one
entry must match; then a second connection binds with that entry's DN and the password. An empty
password is refused before any bind (Active Directory takes it as an anonymous bind, which
"succeeds"). Every connection is encrypted: ldaps:// or StartTLS (LDAP_START_TLS), the server's
certificate checked against LDAP_CA_FILE (the system's CAs when unset). Connecting and every answer
wait at most LDAP_TIMEOUT_SECONDS; a directory that cannot be reached, or refuses the service
account, raises DirectoryUnavailable (the sign-in says so and counts nothing against the person).

The directory never creates people or gives roles at sign-in: the person must be an active
employee in Manabi already (app/auth/services.py).
"""
from __future__ import annotations

import ssl
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# ldap3 2.9.1 reads pyasn1's deprecated tagMap/typeMap when imported (a DeprecationWarning, which
# the tests turn into an error): ignore exactly those two messages from that one module.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"(tag|type)Map is deprecated", category=DeprecationWarning,
                            module=r"ldap3\.utils\.asn1")
    from ldap3 import NONE, SUBTREE, Connection, Server, Tls
    from ldap3.core.exceptions import LDAPException
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import parse_dn

# The attributes read for a sync (config LDAP_PERSON_ATTRIBUTES / LDAP_UNIT_ATTRIBUTES override them).
PERSON_ATTRIBUTES = {
    "employee_number": "employeeNumber",
    "name": "cn",
    "name_kana": "",  # no standard attribute; e.g. "msDS-PhoneticDisplayName" in AD
    "email": "mail",
    "grade": "title",
    "unit": "departmentNumber",
}
UNIT_ATTRIBUTES = {
    "code": "ou",
    "name": "description",
    "name_en": "",  # none: a known unit keeps its English name
    "sort_order": "",  # none: a known unit keeps its order, a new one follows the directory's
    "parent": "",  # none: the unit entry above it in the tree; else the attribute holding the parent's code
    "head": "seeAlso",  # a DN; Active Directory: "managedBy"; none: heads are not read
}


class DirectoryUnavailable(Exception):
    """The directory cannot be reached, did not answer in time, or refused the service account."""


@dataclass(frozen=True)
class DirectorySettings:
    url: str
    start_tls: bool
    ca_file: str | None
    bind_dn: str
    bind_password: str
    user_base: str
    user_filter: str
    timeout_seconds: int  # whole seconds: ldap3 packs the receive timeout as an integer
    people_filter: str = "(objectClass=inetOrgPerson)"
    unit_base: str = ""
    unit_filter: str = "(objectClass=organizationalUnit)"
    person_attributes: Mapping[str, str] | None = None
    unit_attributes: Mapping[str, str] | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DirectorySettings:
        return cls(
            url=str(config["LDAP_URL"] or ""),
            start_tls=bool(config["LDAP_START_TLS"]),
            ca_file=config["LDAP_CA_FILE"] or None,
            bind_dn=str(config["LDAP_BIND_DN"] or ""),
            bind_password=str(config["LDAP_BIND_PASSWORD"] or ""),
            user_base=str(config["LDAP_USER_BASE"] or ""),
            user_filter=str(config["LDAP_USER_FILTER"]),
            timeout_seconds=max(1, round(float(config["LDAP_TIMEOUT_SECONDS"]))),
            people_filter=str(config["LDAP_PEOPLE_FILTER"]),
            unit_base=str(config["LDAP_UNIT_BASE"] or ""),
            unit_filter=str(config["LDAP_UNIT_FILTER"]),
            person_attributes={**PERSON_ATTRIBUTES, **(config.get("LDAP_PERSON_ATTRIBUTES") or {})},
            unit_attributes={**UNIT_ATTRIBUTES, **(config.get("LDAP_UNIT_ATTRIBUTES") or {})},
        )


@dataclass(frozen=True)
class DirectoryEntry:
    """One entry read for a sync: its DN and the configured attributes' first values ("" if absent)."""

    dn: str
    values: dict[str, str]


def user_filter(template: str, login: str) -> str:
    """The configured filter with the login escaped into it (never a wildcard or a clause)."""
    return template.replace("{login}", escape_filter_chars(login))


class Directory:
    def __init__(self, settings: DirectorySettings) -> None:
        if not settings.url.startswith(("ldaps://", "ldap://")):
            raise DirectoryUnavailable("LDAP_URL must start with ldaps:// or ldap://")
        if not settings.url.startswith("ldaps://") and not settings.start_tls:
            # A password never crosses the network in the clear.
            raise DirectoryUnavailable("use ldaps:// or set LDAP_START_TLS")
        self.settings = settings

    def _server(self) -> Server:
        settings = self.settings
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings.ca_file)  # and the host name (ldap3)
        return Server(settings.url, use_ssl=settings.url.startswith("ldaps://"), tls=tls, get_info=NONE,
                      connect_timeout=settings.timeout_seconds)

    def _bind(self, dn: str, password: str) -> Connection | None:
        """An encrypted connection bound as `dn`; None when the directory refuses the credentials.
        Raises DirectoryUnavailable when it cannot be reached or does not answer in time."""
        connection = Connection(self._server(), user=dn, password=password, read_only=True,
                                receive_timeout=self.settings.timeout_seconds, raise_exceptions=False)
        try:
            connection.open()
            if self.settings.start_tls and not self.settings.url.startswith("ldaps://"):
                if not connection.start_tls():
                    raise DirectoryUnavailable("StartTLS refused")
            if connection.bind():
                return connection
        except (LDAPException, OSError) as error:  # socket, TLS and timeout failures
            _close(connection)
            raise DirectoryUnavailable(type(error).__name__) from error
        _close(connection)
        return None

    def _service(self) -> Connection:
        connection = self._bind(self.settings.bind_dn, self.settings.bind_password)
        if connection is None:
            raise DirectoryUnavailable("the service account was refused")
        return connection

    def find_person_dn(self, login: str) -> str | None:
        """The DN of the one entry the login names (None when none or several match)."""
        connection = self._service()
        try:
            found = connection.search(self.settings.user_base, user_filter(self.settings.user_filter, login),
                                      search_scope=SUBTREE, attributes=[], size_limit=2)
            if not found and connection.result.get("result") not in (0, 4, 32):  # success, size limit, no object
                raise DirectoryUnavailable(str(connection.result.get("description")))
            entries = connection.response or []
        except (LDAPException, OSError) as error:
            raise DirectoryUnavailable(type(error).__name__) from error
        finally:
            _close(connection)
        dns = [entry["dn"] for entry in entries if entry.get("type") == "searchResEntry"]
        return dns[0] if len(dns) == 1 else None

    def check_password(self, login: str, password: str) -> bool:
        """Whether the directory accepts the password of the entry the login names."""
        if not password or not login:
            return False  # refused before binding: an empty password is an anonymous bind to AD
        dn = self.find_person_dn(login)
        if dn is None:
            return False
        connection = self._bind(dn, password)
        if connection is None:
            return False
        _close(connection)
        return True

    # --- reading for a sync ---------------------------------------------------------------------

    def _read(self, base: str, search_filter: str, attributes: Mapping[str, str],
              on_entry: Callable[[int], None] | None) -> list[DirectoryEntry]:
        names = [name for name in attributes.values() if name]
        connection = self._service()
        found: list[DirectoryEntry] = []
        try:
            pages: Iterator[dict[str, Any]] = connection.extend.standard.paged_search(
                base, search_filter, search_scope=SUBTREE, attributes=names, paged_size=500, generator=True)
            for entry in pages:
                if entry.get("type") != "searchResEntry":
                    continue
                raw = entry.get("attributes", {})
                found.append(DirectoryEntry(entry["dn"], {
                    key: _first(raw.get(name)) if name else "" for key, name in attributes.items()}))
                if on_entry is not None and len(found) % 200 == 0:
                    on_entry(len(found))
        except (LDAPException, OSError) as error:
            raise DirectoryUnavailable(type(error).__name__) from error
        finally:
            _close(connection)
        if on_entry is not None:
            on_entry(len(found))
        return found

    def read_people(self, on_entry: Callable[[int], None] | None = None) -> list[DirectoryEntry]:
        settings = self.settings
        return self._read(settings.user_base, settings.people_filter, settings.person_attributes or PERSON_ATTRIBUTES,
                          on_entry)

    def read_units(self) -> list[DirectoryEntry]:
        settings = self.settings
        if not settings.unit_base:
            return []
        base = normalise_dn(settings.unit_base)  # the container itself is no unit
        return [entry for entry in self._read(settings.unit_base, settings.unit_filter,
                                              settings.unit_attributes or UNIT_ATTRIBUTES, None)
                if normalise_dn(entry.dn) != base]


def _close(connection: Connection) -> None:
    """Unbind, and close the socket whatever happened (ldap3 leaves it open when the connect or
    the TLS handshake fails)."""
    try:
        connection.unbind()
    except (LDAPException, OSError):
        pass
    sock = getattr(connection, "socket", None)
    if sock is not None:
        sock.close()


def _first(value: object) -> str:
    """An attribute's first value as text ("" when absent)."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else ""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value).strip()


def parent_dn(dn: str) -> str:
    """The DN one level up ("" for a top entry)."""
    parts = parse_dn(dn, escape=False, strip=True)
    return ",".join(f"{attr}={value}" for attr, value, _sep in parts[1:])


def normalise_dn(dn: str) -> str:
    """A DN compared without case or spaces around the separators."""
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except LDAPException:
        return dn.strip().lower()
    return ",".join(f"{attr.lower()}={value.lower()}" for attr, value, _sep in parts)
