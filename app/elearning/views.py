"""E-learning pages: a module's overview, its pages one by one (reading one is a POST, so looking
never writes and progress is saved as one goes), the files the pages show, and HR's upload of
those files. The module's closing quiz is served by app/assessment/views.py (its forms live there)."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, render_template, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.assessment.quizzes import quiz_for_course, self_paced_status
from app.catalog.models import Course
from app.catalog.module_files import Module, modules_of
from app.catalog.queries import course_by_code
from app.completion.services import valid_completion
from app.core.db import db_session
from app.elearning import queries, services
from app.elearning.forms import MediaUploadForm
from app.elearning.media import MediaError, check_media
from app.elearning.models import ProgressState
from app.permissions import Permission, can_view_course, require, signed_in
from app.web.locale import gettext as _
from app.web.markdown import render_markdown_with_media

bp = Blueprint("elearning", __name__)


def _course_or_404(code: str) -> Course:
    course = course_by_code(code)
    if course is None or not can_view_course(current_user, course):
        abort(404)  # a draft is not named to those who may not see it
    return course


def _module_or_404(code: str, key: str) -> tuple[Course, Module]:
    course = _course_or_404(code)
    module = services.module_of(course, key)
    if module is None:
        abort(404)
    return course, module


@bp.route("/learn/<code>/<key>")
@signed_in
def module(code: str, key: str) -> ResponseReturnValue:
    """The module: its pages (read ones ticked), where to resume, the quiz and the outcome."""
    course, found = _module_or_404(code, key)
    progress = queries.progress_by_module(current_user.id, course.id).get(found.key)
    quiz = quiz_for_course(course.id) if found.has_quiz else None
    quiz_status = (self_paced_status(current_user, quiz, services.quiz_closed_because(progress))
                   if quiz is not None and progress is not None else None)
    completion = (valid_completion(current_user.id, course.id)
                  if progress is not None and progress.state == ProgressState.COMPLETED and found.completes_course
                  else None)
    return render_template("elearning/module.html", course=course, module=found, progress=progress,
                           read=queries.pages_read(progress), quiz=quiz, quiz_status=quiz_status,
                           completion=completion, others=[m for m in modules_of(course.modules_spec)
                                                          if m.key != found.key])


@bp.route("/learn/<code>/<key>/start", methods=["POST"])
@signed_in
def start(code: str, key: str) -> ResponseReturnValue:
    """Begin the module, or resume it where one left off (a second click begins nothing new)."""
    course, found = _module_or_404(code, key)
    progress = services.start_module(current_user, course, found)
    db_session.commit()
    return redirect(url_for("elearning.page", code=course.code, key=found.key, number=progress.last_page))


@bp.route("/learn/<code>/<key>/pages/<int:number>")
@signed_in
def page(code: str, key: str, number: int) -> ResponseReturnValue:
    course, found = _module_or_404(code, key)
    shown = found.page(number)
    if shown is None:
        abort(404)
    progress = queries.progress_by_module(current_user.id, course.id).get(found.key)
    media_base = url_for("elearning.media", code=course.code, name="x")[:-1]
    return render_template("elearning/page.html", course=course, module=found, page=shown, progress=progress,
                           read=queries.pages_read(progress),
                           body=render_markdown_with_media(shown.body, media_base))


@bp.route("/learn/<code>/<key>/pages/<int:number>/read", methods=["POST"])
@signed_in
def read(code: str, key: str, number: int) -> ResponseReturnValue:
    """"I have read this page": saved (once), then on to the next page, or to the quiz or the
    module's outcome after the last one."""
    course, found = _module_or_404(code, key)
    try:
        outcome = services.read_page(current_user, course, found, number)
    except services.ElearningError as error:
        db_session.rollback()
        flash(str(error), "error")
        return redirect(url_for("elearning.module", code=course.code, key=found.key))
    db_session.commit()
    if outcome.next_page is not None:
        return redirect(url_for("elearning.page", code=course.code, key=found.key, number=outcome.next_page))
    if outcome.completion is not None:
        flash(_("You have completed %(course)s. Your certificate is ready.", course=course.title_ja), "success")
    elif outcome.progress.state == ProgressState.QUIZ_DUE:
        flash(_("You have read every page. The quiz is open now."), "success")
    elif outcome.module_completed:
        flash(_("You have completed this module."), "success")
    return redirect(url_for("elearning.module", code=course.code, key=found.key))


@bp.route("/elearning-media/<code>/<name>")
@signed_in
def media(code: str, name: str) -> ResponseReturnValue:
    """A file a course's pages show, served from this host (whoever may see the course)."""
    course = _course_or_404(code)
    stored = queries.media_named(course.id, name)
    if stored is None:
        abort(404)
    path = Path(current_app.config["UPLOAD_DIR"]) / "elearning" / stored.stored_name
    if not path.is_file():
        abort(404)
    inline = stored.content_type.startswith(("image/", "video/"))
    return send_file(path, mimetype=stored.content_type, as_attachment=not inline, download_name=stored.name,
                     conditional=True, max_age=0)


@bp.route("/catalog/design/<code>/media", methods=["GET", "POST"])
@require(Permission.CATALOG_COURSE_EDIT)
def manage_media(code: str) -> ResponseReturnValue:
    """HR uploads the files the course's pages show and sees how each module's pages refer to them."""
    course = _course_or_404(code)
    form = MediaUploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        name = (form.name.data or "").strip() or Path(upload.filename or "").name
        try:
            checked = check_media(name, upload.read(), current_app.config["ELEARNING_MEDIA_MAX_BYTES"])
        except MediaError as error:
            form.file.errors = [*form.file.errors, str(error)]
        else:
            services.store_media(current_user, course, checked, Path(current_app.config["UPLOAD_DIR"]))
            db_session.commit()
            flash(_("%(name)s is stored. Pages show it as media/%(name)s.", name=checked.name), "success")
            return redirect(url_for("elearning.manage_media", code=course.code))
    return render_template("elearning/media.html", course=course, form=form, media=queries.media_of(course.id),
                           modules=modules_of(course.modules_spec)), 400 if form.errors else 200
