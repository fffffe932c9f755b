"""Configuration read from environment variables.

DevelopmentConfig is what `make run` uses (embedded SQLite in instance/), TestConfig is what the
suite uses, ProductionConfig refuses to start without a real secret and database.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _oidc_providers() -> dict[str, dict[str, str]]:
    raw = os.environ.get("OIDC_PROVIDERS", "").strip()
    if not raw:
        return {}
    providers = json.loads(raw)
    if not isinstance(providers, dict) or not all(isinstance(v, dict) for v in providers.values()):
        raise RuntimeError('OIDC_PROVIDERS must be a JSON object: {"name": {"label": ..., ...}}')
    for name, settings in providers.items():
        secret = os.environ.get(f"OIDC_{name.upper().replace('-', '_')}_CLIENT_SECRET")
        if secret and not settings.get("client_secret"):
            settings["client_secret"] = secret
    return providers


class Config:
    SECRET_KEY: str | None = os.environ.get("SECRET_KEY")
    # How long a request waits for a free pooled PostgreSQL connection before the 503 page.
    DATABASE_POOL_TIMEOUT = float(os.environ.get("DATABASE_POOL_TIMEOUT", "10"))
    DATABASE_URL: str | None = os.environ.get("DATABASE_URL")

    # Sessions and cookies
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    PERMANENT_SESSION_LIFETIME = 8 * 3600

    # Request size limit (uploads of staff lists and fieldwork files stay below this)
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 20 * 1024 * 1024))

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead of a clock

    BABEL_DEFAULT_LOCALE = "ja"
    BABEL_DEFAULT_TIMEZONE = "Asia/Tokyo"
    LANGUAGES = ("ja", "en")

    # Reverse proxies in front of the app whose X-Forwarded-For / X-Forwarded-Proto are believed
    # (werkzeug's ProxyFix). 0 = none: the client address is the TCP peer. Set it to the number of
    # proxies that append to those headers (1 for one nginx), never more: a client could otherwise
    # choose its own address. See README "Security".
    TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", 0))

    # Server-side sessions (app/auth/sessions.py): a signed-in browser holds a token to a row that
    # sign-out, a password change, deactivation and "sign out everywhere" revoke. A row is good
    # for this long after sign-in, whatever the browser does with its cookie.
    SESSION_MAX_AGE_SECONDS = int(os.environ.get("SESSION_MAX_AGE_SECONDS", 12 * 3600))
    # The JSON API (/api/v1): requests per token per minute, counted in the database (app/api/auth.py).
    API_RATE_LIMIT_PER_MINUTE = int(os.environ.get("API_RATE_LIMIT_PER_MINUTE", 120))

    # Login throttling (app/auth/throttling.py), counted in the database (shared by every worker).
    # Per account (the person, however the login was typed): this many failures are free, then
    # each further attempt waits LOGIN_DELAY_BASE_SECONDS doubled per failure, up to
    # LOGIN_DELAY_MAX_SECONDS; failures are forgotten after LOGIN_ACCOUNT_MEMORY_SECONDS without one.
    LOGIN_MAX_FAILURES_PER_ACCOUNT = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5))
    LOGIN_DELAY_BASE_SECONDS = int(os.environ.get("LOGIN_DELAY_BASE_SECONDS", 30))
    LOGIN_DELAY_MAX_SECONDS = int(os.environ.get("LOGIN_DELAY_MAX_SECONDS", 15 * 60))
    LOGIN_ACCOUNT_MEMORY_SECONDS = int(os.environ.get("LOGIN_ACCOUNT_MEMORY_SECONDS", 24 * 3600))
    # Per client address: a ceiling high enough for a whole office behind one NAT address.
    LOGIN_MAX_FAILURES_PER_ADDRESS = int(os.environ.get("LOGIN_MAX_FAILURES_PER_ADDRESS", 300))
    LOGIN_THROTTLE_WINDOW_SECONDS = int(os.environ.get("LOGIN_THROTTLE_WINDOW_SECONDS", 15 * 60))
    # The owner of a delayed account gets a single-use link by mail, good for this long; using it
    # (or having signed in from this browser before) exempts their browser from the account's delay.
    LOGIN_UNLOCK_LINK_SECONDS = int(os.environ.get("LOGIN_UNLOCK_LINK_SECONDS", 3600))
    LOGIN_DEVICE_COOKIE_NAME = "manabi_device"
    LOGIN_DEVICE_COOKIE_DAYS = int(os.environ.get("LOGIN_DEVICE_COOKIE_DAYS", 90))
    # Sign-in through OpenID Connect providers (app/auth/oidc.py, README "Sign-in with OpenID
    # Connect"): OIDC_PROVIDERS is a JSON object, name -> {"label", "discovery_url", "client_id",
    # "client_secret", "match_claim" ("employee_number" | "email"), "claim", "scopes"}. A client
    # secret may come from OIDC_<NAME>_CLIENT_SECRET instead of the JSON. Empty: no provider.
    OIDC_PROVIDERS: Mapping[str, Mapping[str, str]] = _oidc_providers()
    # Password sign-in (app/auth/services.py sign_in; README "Sign-in with LDAP / Active Directory"):
    # "local" checks Manabi's own password; "ldap" binds as the person to the directory below;
    # "off" allows no password sign-in (the organisation's OpenID Connect sign-in instead). The
    # logins in BREAK_GLASS_LOGINS (comma-separated employee numbers or e-mail addresses, e.g. the
    # administrator's) always sign in with their Manabi password, whatever the mode.
    PASSWORD_SIGN_IN = os.environ.get("PASSWORD_SIGN_IN", "local")  # local | ldap | off
    BREAK_GLASS_LOGINS: tuple[str, ...] = tuple(name.strip() for name in os.environ.get("BREAK_GLASS_LOGINS", "")
                                                .split(",") if name.strip())
    # The directory (app/auth/directory.py): ldaps://host or ldap://host with LDAP_START_TLS (never
    # in the clear), its certificate checked against LDAP_CA_FILE (else the system's CAs). The
    # service account searches LDAP_USER_BASE with LDAP_USER_FILTER ({login} is replaced by what the
    # person typed, escaped), then Manabi binds with the entry found and the password.
    # Active Directory: LDAP_USER_FILTER="(sAMAccountName={login})".
    LDAP_URL = os.environ.get("LDAP_URL", "")
    LDAP_START_TLS = _bool("LDAP_START_TLS", False)
    LDAP_CA_FILE: str | None = os.environ.get("LDAP_CA_FILE") or None
    LDAP_BIND_DN = os.environ.get("LDAP_BIND_DN", "")
    LDAP_BIND_PASSWORD = os.environ.get("LDAP_BIND_PASSWORD", "")
    LDAP_USER_BASE = os.environ.get("LDAP_USER_BASE", "")
    LDAP_USER_FILTER = os.environ.get("LDAP_USER_FILTER", "(employeeNumber={login})")
    LDAP_TIMEOUT_SECONDS = int(os.environ.get("LDAP_TIMEOUT_SECONDS", 5))
    # `flask org sync-ldap`: the people (under LDAP_USER_BASE) and units (under LDAP_UNIT_BASE; none
    # when unset) it reads. The attributes read are in app/auth/directory.py (PERSON_ATTRIBUTES,
    # UNIT_ATTRIBUTES); override some with LDAP_PERSON_ATTRIBUTES / LDAP_UNIT_ATTRIBUTES (JSON
    # objects, e.g. {"head": "managedBy"}). A unit's keys: code, name, name_en, sort_order, head (a
    # person's DN; "" reads no heads) and parent (an attribute holding the parent's unit code; ""
    # by default: the unit entry above it in the tree).
    LDAP_PEOPLE_FILTER = os.environ.get("LDAP_PEOPLE_FILTER", "(objectClass=inetOrgPerson)")
    LDAP_UNIT_BASE = os.environ.get("LDAP_UNIT_BASE", "")
    LDAP_UNIT_FILTER = os.environ.get("LDAP_UNIT_FILTER", "(objectClass=organizationalUnit)")
    LDAP_PERSON_ATTRIBUTES: dict[str, str] = json.loads(os.environ.get("LDAP_PERSON_ATTRIBUTES") or "{}")
    LDAP_UNIT_ATTRIBUTES: dict[str, str] = json.loads(os.environ.get("LDAP_UNIT_ATTRIBUTES") or "{}")

    # Mail
    # json: one JSON object per line on stderr (app/core/log_format.py); text; off (tests capture records).
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
    MAIL_HOST = os.environ.get("MAIL_HOST", "127.0.0.1")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", 25))
    MAIL_SECURITY = os.environ.get("MAIL_SECURITY", "none")  # none | starttls | tls
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_SENDER = os.environ.get("MAIL_SENDER", "manabi@example.lg.jp")
    MAIL_TRANSPORT = os.environ.get("MAIL_TRANSPORT", "smtp")  # smtp | file (development) | discard
    MAIL_FILE_DIR = os.environ.get("MAIL_FILE_DIR", str(BASE_DIR / "instance" / "mail"))
    # Non-urgent mail goes out on business days within these hours (Japan time)
    OFFICE_HOURS_START = os.environ.get("OFFICE_HOURS_START", "08:30")
    OFFICE_HOURS_END = os.environ.get("OFFICE_HOURS_END", "17:15")
    # The site's address as people reach it (scheme, host, any path prefix): every absolute link in
    # mail, .ics files, the check-in QR code, certificates and the public report is built from it,
    # never from the request's Host header (app/web/external_urls.py). Required in production.
    BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000")
    # Host names a request may carry (werkzeug checks the Host header; a request for another is
    # refused with 400). None accepts any: development and tests. Production accepts the host of
    # BASE_URL and those listed in TRUSTED_HOSTS (comma-separated; ".example.jp" for every
    # subdomain), e.g. the name a load balancer's health check uses.
    TRUSTED_HOSTS: list[str] | None = None
    CALENDAR_UID_DOMAIN = os.environ.get("CALENDAR_UID_DOMAIN", "manabi.pref.example.lg.jp")
    # Bearer token a Prometheus scraper sends for /metrics (app/ops/views.py); unset: no /metrics (404)
    METRICS_TOKEN: str | None = os.environ.get("METRICS_TOKEN") or None
    SCHEDULER_LEASE_SECONDS = int(os.environ.get("SCHEDULER_LEASE_SECONDS", 90))
    SCHEDULER_DELIVERY_SECONDS = int(os.environ.get("SCHEDULER_DELIVERY_SECONDS", 30))
    # Processes that send a backlog of more than two batches together (app/reminders/senders.py)
    REMINDER_SENDERS = int(os.environ.get("REMINDER_SENDERS", 2))
    # Background jobs (app/jobs): how often the scheduler looks for queued ones, and how long a
    # running job may go without reporting before it counts as stopped (failed, nothing applied)
    JOBS_POLL_SECONDS = int(os.environ.get("JOBS_POLL_SECONDS", 3))
    JOBS_STALE_SECONDS = int(os.environ.get("JOBS_STALE_SECONDS", 15 * 60))

    # Files uploaded by users (fieldwork submissions)
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(BASE_DIR / "instance" / "uploads"))
    COHORT_UPLOAD_MAX_BYTES = int(os.environ.get("COHORT_UPLOAD_MAX_BYTES", 10 * 1024 * 1024))
    # Images, short videos and PDF handouts for e-learning pages (within MAX_CONTENT_LENGTH)
    ELEARNING_MEDIA_MAX_BYTES = int(os.environ.get("ELEARNING_MEDIA_MAX_BYTES", 19 * 1024 * 1024))

    PASSWORD_MIN_LENGTH = 10
    # Argon2id cost: OWASP's recommended configuration (19 MiB, 2 passes, 1 lane: ~28 ms of one
    # core here). argon2-cffi's default (64 MiB, 3 passes, 4 lanes) took ~210 ms of CPU a sign-in,
    # so 300 people signing in at nine queued every page behind ~60 s of hashing on 2 cores
    # (bench/morning.py). Hashes made with other settings are upgraded at their next sign-in.
    ARGON2_TIME_COST = int(os.environ.get("ARGON2_TIME_COST", 2))
    ARGON2_MEMORY_COST = int(os.environ.get("ARGON2_MEMORY_COST", 19456))
    ARGON2_PARALLELISM = int(os.environ.get("ARGON2_PARALLELISM", 1))
    # No automatic waitlist promotion closer than this to a session's start (HR promotes by hand)
    WAITLIST_AUTO_PROMOTE_CUTOFF_HOURS = int(os.environ.get("WAITLIST_AUTO_PROMOTE_CUTOFF_HOURS", 24))
    TESTING = False

    # Anonymous surveys (app/assessment/surveys.py): answers are released, and results shown, only
    # in groups of at least this many respondents of one session (values below 2 count as 2).
    SURVEY_MIN_RESPONDENTS = int(os.environ.get("SURVEY_MIN_RESPONDENTS", 5))

    # Retention (app/retention/services.py says what is deleted or anonymised, `flask retention run`
    # and a nightly scheduler job apply it). Counted in whole fiscal years after the record's fiscal
    # year: enrolments with their attendance and quiz attempts, e-learning progress, fieldwork
    # submissions and their files, cohort programmes (applications, endorsements, teams, reviews)
    # counted from when the programme ended; completions (the official record: 0 keeps them);
    # audit events.
    RETENTION_TRAINING_YEARS = int(os.environ.get("RETENTION_TRAINING_YEARS", 5))
    RETENTION_COMPLETIONS_YEARS = int(os.environ.get("RETENTION_COMPLETIONS_YEARS", 0))
    RETENTION_AUDIT_YEARS = int(os.environ.get("RETENTION_AUDIT_YEARS", 5))
    # Sent (or given up) notifications, outbox and in-app inbox alike, in days (a reminder whose
    # subject is still live keeps its row, so it is never sent twice)
    RETENTION_NOTIFICATIONS_DAYS = int(os.environ.get("RETENTION_NOTIFICATIONS_DAYS", 365))
    # Sign-in records, in days after they ended: revoked or expired sessions, throttle rows (people,
    # unknown names, browsers, addresses; check-in codes), used or expired unlock links, the
    # calendar feed token of someone deactivated. Keep it above LOGIN_ACCOUNT_MEMORY_SECONDS.
    RETENTION_SESSIONS_DAYS = int(os.environ.get("RETENTION_SESSIONS_DAYS", 90))
    # Uploads and background work, in days: web-meeting participant lists (names, e-mail
    # addresses), finished background jobs with any staged staff list, staff lists never applied.
    RETENTION_IMPORTS_DAYS = int(os.environ.get("RETENTION_IMPORTS_DAYS", 365))


class DevelopmentConfig(Config):
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
    DATABASE_URL = os.environ.get(
        "DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'manabi.sqlite3'}"
    )
    MAIL_PORT = int(os.environ.get("MAIL_PORT", 8025))
    MAIL_TRANSPORT = os.environ.get("MAIL_TRANSPORT", "file")  # .eml files in instance/mail


class TestConfig(Config):
    TESTING = True
    LOG_FORMAT = "off"  # records still reach pytest's caplog
    SECRET_KEY = "test-secret"
    BASE_URL = "https://manabi.test.example.jp"  # not the test client's "localhost": links must come from here
    DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    PASSWORD_MIN_LENGTH = 10
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 1024  # cheap hashing keeps hundreds of sign-ins in the suite fast
    ARGON2_PARALLELISM = 1
    REMINDER_SENDERS = 1  # the crash tests kill "the" sender; the senders have tests of their own
    OIDC_PROVIDERS: Mapping[str, Mapping[str, str]] = MappingProxyType({})  # tests/auth/conftest.py sets its own


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True

    def __init__(self) -> None:
        missing = [name for name in ("SECRET_KEY", "DATABASE_URL", "BASE_URL") if not os.environ.get(name)]
        if missing:
            raise RuntimeError(
                "ProductionConfig needs these environment variables: " + ", ".join(missing)
            )
        self.SECRET_KEY = os.environ["SECRET_KEY"]
        self.DATABASE_URL = os.environ["DATABASE_URL"]
        self.BASE_URL = os.environ["BASE_URL"]
        self.TRUSTED_HOSTS = trusted_hosts(os.environ.get("TRUSTED_HOSTS"), self.BASE_URL)


def trusted_hosts(listed: str | None, base_url: str) -> list[str]:
    """The host of BASE_URL, and the names listed (comma-separated) in the TRUSTED_HOSTS setting."""
    names = [urlsplit(base_url).hostname or ""] + [name.strip().lower() for name in (listed or "").split(",")]
    return list(dict.fromkeys(name for name in names if name))


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def config_from_env() -> Config:
    name = os.environ.get("MANABI_CONFIG", "development")
    return CONFIGS[name]()
