"""The application factory. It binds extensions, blueprints and commands, and does nothing else:
no connecting, migrating, scheduling or mailing happens here."""
from __future__ import annotations

from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from config import Config, config_from_env

csrf = CSRFProtect()


def create_app(config: Config | None = None, overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config if config is not None else config_from_env())
    if overrides:
        app.config.update(overrides)
    if not app.config.get("SECRET_KEY") or not app.config.get("DATABASE_URL"):
        raise RuntimeError("SECRET_KEY and DATABASE_URL must be configured")

    from app import cache_generation, db, errors, http_headers, i18n, page_cache, permissions, trusted_proxies
    from app.auth import login, passwords

    passwords.configure(app.config["ARGON2_TIME_COST"], app.config["ARGON2_MEMORY_COST"])
    db.init_app(app)
    cache_generation.init_app(app)
    csrf.init_app(app)
    page_cache.init_app(app)  # after CSRF (it overrides csrf_token()), before sign-in (see the module)
    i18n.init_app(app)
    login.init_app(app)
    permissions.init_app(app)
    errors.init_app(app)
    http_headers.init_app(app)
    trusted_proxies.init_app(app)
    from app import external_urls, ids

    ids.init_app(app)  # before the blueprints: every <int:...> rule takes the bounded id converter
    external_urls.init_app(app)

    from app import models  # noqa: F401  (register every mapper before the first query)
    from app.audit.views import bp as audit_bp
    from app.auth.services import register_subscribers as auth_subscribers
    from app.auth.views import bp as auth_bp
    from app.catalog import labels as catalog_labels
    from app.catalog.views import bp as catalog_bp
    from app.core.views import bp as core_bp
    from app.enrollment.services import register_subscribers as enrollment_subscribers
    from app.enrollment.views import bp as enrollment_bp
    from app.jobs.views import bp as jobs_bp
    from app.assessment.views import bp as assessment_bp
    from app.attendance import labels as attendance_labels
    from app.attendance.views import bp as attendance_bp
    from app.cohorts import labels as cohort_labels
    from app.cohorts.services import register_subscribers as cohort_subscribers
    from app.cohorts.views import bp as cohorts_bp
    from app.completion.services import register_subscribers as completion_subscribers
    from app.completion.views import bp as completion_bp
    from app.reminders import views as reminder_views
    from app.reports.views import bp as reports_bp
    from app.scheduling.views import bp as scheduling_bp
    from app.org.jobs import register_jobs as org_jobs
    from app.org.views import bp as org_bp

    for blueprint in (core_bp, auth_bp, org_bp, audit_bp, catalog_bp, scheduling_bp, enrollment_bp, reminder_views.bp,
                      attendance_bp, assessment_bp, completion_bp, cohorts_bp, reports_bp, jobs_bp):
        app.register_blueprint(blueprint)

    catalog_labels.register(app)
    org_jobs()
    auth_subscribers()
    enrollment_subscribers()
    completion_subscribers()
    cohort_subscribers()
    cohort_labels.register(app)
    attendance_labels.register(app)
    from app.reminders.subscribers import register as reminder_subscribers

    reminder_subscribers()
    reminder_views.init_app(app)

    from app import cli

    cli.init_app(app)
    return app
