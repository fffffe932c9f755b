"""The application factory. It binds extensions, blueprints and commands, and does nothing else:
no connecting, migrating, scheduling or mailing happens here."""
from __future__ import annotations

from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from app import (
    cli,
    models,  # noqa: F401 - every mapper registered before the first query
    permissions,
)
from app.api import init_app as init_api
from app.assessment import quizzes
from app.assessment.views import bp as assessment_bp
from app.attendance import labels as attendance_labels
from app.attendance.views import bp as attendance_bp
from app.audit.views import bp as audit_bp
from app.auth import login, oidc, passwords
from app.auth import services as auth_services
from app.auth.views import bp as auth_bp
from app.catalog import cards as catalog_cards
from app.catalog import labels as catalog_labels
from app.catalog import services as catalog_services
from app.catalog.views import bp as catalog_bp
from app.cohorts import labels as cohort_labels
from app.cohorts import services as cohort_services
from app.cohorts.views import bp as cohorts_bp
from app.completion import services as completion_services
from app.completion.views import bp as completion_bp
from app.core import db
from app.core.log_format import configure_logging
from app.elearning import services as elearning_services
from app.elearning.views import bp as elearning_bp
from app.enrollment import labels as enrollment_labels
from app.enrollment import services as enrollment_services
from app.enrollment.views import bp as enrollment_bp
from app.home.views import bp as home_bp
from app.jobs.views import bp as jobs_bp
from app.ops.views import bp as ops_bp
from app.org import jobs as org_jobs
from app.org import labels as org_labels
from app.org.views import bp as org_bp
from app.privacy.views import bp as privacy_bp
from app.reminders import labels as reminder_labels
from app.reminders import subscribers as reminder_subscribers
from app.reminders import views as reminder_views
from app.reports.views import bp as reports_bp
from app.scheduling.views import bp as scheduling_bp
from app.web import errors, external_urls, headers, ids, locale, request_log, trusted_proxies
from config import Config, config_from_env

csrf = CSRFProtect()
BLUEPRINTS = (home_bp, auth_bp, org_bp, audit_bp, catalog_bp, scheduling_bp, enrollment_bp, reminder_views.bp,
              attendance_bp, assessment_bp, completion_bp, cohorts_bp, elearning_bp, reports_bp, jobs_bp,
              ops_bp, privacy_bp)


def create_app(config: Config | None = None, overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config if config is not None else config_from_env())
    if overrides:
        app.config.update(overrides)
    if not app.config.get("SECRET_KEY") or not app.config.get("DATABASE_URL"):
        raise RuntimeError("SECRET_KEY and DATABASE_URL must be configured")

    passwords.configure(app.config["ARGON2_TIME_COST"], app.config["ARGON2_MEMORY_COST"],
                        app.config["ARGON2_PARALLELISM"])
    configure_logging(app.config["LOG_FORMAT"])
    db.init_app(app)
    request_log.init_app(app)
    csrf.init_app(app)
    locale.init_app(app)
    login.init_app(app)
    oidc.init_app(app)
    permissions.init_app(app)
    errors.init_app(app)
    headers.init_app(app)
    trusted_proxies.init_app(app)
    ids.init_app(app)  # before the blueprints: every <int:...> rule takes the bounded id converter
    external_urls.init_app(app)

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    init_api(app, csrf)  # /api/v1: its own blueprints, error handlers and OpenAPI document (app/api)
    org_labels.register(app)
    catalog_labels.register(app)
    catalog_cards.register(app)
    cohort_labels.register(app)
    attendance_labels.register(app)
    enrollment_labels.register(app)
    reminder_labels.register(app)
    reminder_views.init_app(app)

    # Later domains listen to earlier ones' events (app/core/events.py); registering is idempotent.
    for register in (auth_services.register_subscribers, catalog_services.register_subscribers,
                     quizzes.register_subscribers, enrollment_services.register_subscribers,
                     completion_services.register_subscribers, cohort_services.register_subscribers,
                     elearning_services.register_subscribers,
                     reminder_subscribers.register, org_jobs.register_jobs):
        register()

    cli.init_app(app)
    return app
