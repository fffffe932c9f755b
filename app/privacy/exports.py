"""The files of a personal record: JSON, a ZIP of one CSV per section, and HR's disclosure ZIP.

JSON is UTF-8 (not escaped), times in Asia/Tokyo as ISO 8601, states with their label in the
reader's language next to the code. CSV is UTF-8 with a BOM, every cell through the spreadsheet
formula guard (app/web/spreadsheets.py). File names are ASCII only, whatever the employee number holds.
"""
from __future__ import annotations

import enum
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.attendance.labels import STATUS_NAMES
from app.catalog.labels import ASSIGNMENT_STATUS_LABELS
from app.cohorts.labels import MILESTONE_LABELS
from app.core.clock import TOKYO
from app.enrollment.labels import STATE_LABELS
from app.privacy.services import ANONYMOUS_SURVEYS_NOTE, PersonalRecord, Section
from app.reminders.labels import DELIVERY_STATUS_LABELS
from app.web.locale import lazy_gettext as _l
from app.web.spreadsheets import csv_lines

SECTION_TITLES = {
    "profile": _l("Profile"),
    "roles": _l("Roles"),
    "units_headed": _l("Units headed"),
    "placements": _l("Placements"),
    "enrolments": _l("Enrolments"),
    "enrolment_history": _l("Enrolment history"),
    "attendance": _l("Attendance"),
    "meeting_participation": _l("Web-meeting participation"),
    "quiz_attempts": _l("Quiz attempts"),
    "quiz_answers": _l("Quiz answers"),
    "completions": _l("Completions and certificates"),
    "assignments": _l("Mandatory training"),
    "elearning_progress": _l("E-learning progress"),
    "cohort_applications": _l("Cohort applications"),
    "endorsements": _l("Endorsements"),
    "fieldwork_teams": _l("Fieldwork teams"),
    "mentoring": _l("Teams mentored"),
    "teaching": _l("Sessions taught"),
    "submissions": _l("Fieldwork submissions"),
    "submission_files": _l("Submitted files"),
    "reviews_received": _l("Reviews received"),
    "notifications": _l("Notifications"),
    "notification_opt_outs": _l("Notifications turned off"),
    "sign_in_sessions": _l("Signed-in browsers"),
    "unlock_links": _l("Unlock links"),
    "api_tokens": _l("API tokens"),
    "survey_answers": _l("Survey answers (named surveys)"),
    "survey_receipts": _l("Surveys answered"),
    "audit_events": _l("Audit events"),
}
NOTES = {
    ANONYMOUS_SURVEYS_NOTE: _l("Answers to anonymous surveys are not linked to anyone, so they cannot be "
                               "included: the system cannot tell which answers are yours."),
}
# (section, column) -> labels of its codes; the label is written next to the code as <column>_label.
LABELS: dict[tuple[str, str], Mapping[str, Any]] = {
    ("enrolments", "state"): STATE_LABELS,
    ("enrolment_history", "from_state"): STATE_LABELS,
    ("enrolment_history", "to_state"): STATE_LABELS,
    ("attendance", "status"): STATUS_NAMES,
    ("assignments", "status"): ASSIGNMENT_STATUS_LABELS,
    ("notifications", "status"): DELIVERY_STATUS_LABELS,
    ("submissions", "milestone"): MILESTONE_LABELS,
}
HIDDEN_COLUMNS = frozenset({"stored_name"})  # where a file lies on the server: no meaning outside it
_UNSAFE_NUMBER = re.compile(r"[^A-Za-z0-9_-]+")


def safe_number(employee_number: str) -> str:
    """The employee number as it may appear in a file name: ASCII letters, digits, - and _."""
    cleaned = _UNSAFE_NUMBER.sub("", employee_number)[:32]
    return cleaned or "unknown"


def file_name(record: PersonalRecord, extension: str, kind: str = "personal-data") -> str:
    day = record.collected_at.astimezone(TOKYO).date().isoformat()
    return f"manabi-{kind}-{safe_number(record.employee_number)}-{day}.{extension}"


def plain(value: Any) -> Any:
    """A value as JSON holds it: instants in Asia/Tokyo, dates and amounts as text."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.astimezone(TOKYO).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _columns(section: Section) -> list[str]:
    columns: list[str] = []
    for column in section.columns:
        if column in HIDDEN_COLUMNS:
            continue
        columns.append(column)
        if (section.key, column) in LABELS:
            columns.append(f"{column}_label")
    return columns


def _row(section: Section, row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in section.columns:
        if column in HIDDEN_COLUMNS:
            continue
        value = plain(row.get(column))
        out[column] = value
        labels = LABELS.get((section.key, column))
        if labels is not None:
            out[f"{column}_label"] = None if value is None else str(labels.get(str(value), value))
    return out


def to_json(record: PersonalRecord) -> str:
    document = {
        "format": "manabi-personal-data",
        "version": 1,
        "employee_number": record.employee_number,
        "name": record.name,
        "produced_at": plain(record.collected_at),
        "notes": [str(NOTES.get(note, note)) for note in record.notes],
        "sections": {
            section.key: {"title": str(SECTION_TITLES.get(section.key, section.key)),
                          "rows": [_row(section, row) for row in section.rows]}
            for section in record.sections
        },
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def csv_text(section: Section) -> str:
    """One section as CSV (UTF-8 with a BOM once encoded; formulas neutralised by csv_lines)."""
    columns = _columns(section)
    rows = ([_cell(converted.get(column)) for column in columns]
            for converted in (_row(section, row) for row in section.rows))
    return "".join(csv_lines(columns, rows))


def csv_members(record: PersonalRecord, folder: str = "") -> Iterable[tuple[str, bytes]]:
    for number, section in enumerate(record.sections, start=1):
        yield f"{folder}{number:02d}-{section.key}.csv", csv_text(section).encode("utf-8")


def readme_self(record: PersonalRecord) -> str:
    """The short note in the person's own ZIP (in Japanese, as the disclosure file's is)."""
    lines = [
        "Manabi 研修管理システム 本人データ",
        "",
        f"職員番号: {record.employee_number}",
        f"作成日時: {plain(record.collected_at)}",
        "",
        "各 CSV ファイルは UTF-8（BOM 付き）です。ファイル名の番号順に、次の内容を収めています。",
        *_file_list(record, ""),
        "",
        "匿名アンケートの回答は誰とも結び付けられていないため、含まれていません（どの回答が本人のものかを"
        "システムは判別できません）。",
    ]
    return "\r\n".join(lines) + "\r\n"


def _file_list(record: PersonalRecord, folder: str) -> list[str]:
    titles = {key: JA_TITLES.get(key, key) for key in SECTION_TITLES}
    return [f"  {folder}{number:02d}-{section.key}.csv: {titles.get(section.key, section.key)}"
            f"（{len(section.rows)} 件）" for number, section in enumerate(record.sections, start=1)]


# The disclosure file's README is written in Japanese whatever the HR user's language (it goes to
# the person who asked, in the prefecture's language).
JA_TITLES = {
    "profile": "基本情報（職員番号・氏名・メールアドレス・職級・所属・言語）",
    "roles": "付与された役割",
    "units_headed": "所属長を務める所属",
    "placements": "所属・職級の履歴（異動）",
    "enrolments": "研修の申込みと状態",
    "enrolment_history": "申込みの状態の変更履歴（承認・却下・取消しなど）",
    "attendance": "各回の出欠",
    "meeting_participation": "Web 会議の参加記録",
    "quiz_attempts": "確認テストの受験と得点",
    "quiz_answers": "確認テストの解答・採点・採点者のコメント",
    "completions": "修了と修了証",
    "assignments": "必修研修の割当てと期限",
    "elearning_progress": "e ラーニングの進み具合",
    "cohort_applications": "選抜研修への応募",
    "endorsements": "応募への所属長の推薦",
    "fieldwork_teams": "実践研修のチーム",
    "mentoring": "メンターとして担当したチーム",
    "teaching": "講師として担当した研修",
    "submissions": "実践研修の提出物",
    "submission_files": "提出したファイル（名前・大きさ・日時）",
    "reviews_received": "提出物への講評",
    "notifications": "本人への通知（種類・件名・状態・送信日時）",
    "notification_opt_outs": "受け取らないことにした通知",
    "sign_in_sessions": "ログインの記録（開始・最終操作・ブラウザ・接続元）",
    "unlock_links": "ログイン制限の解除リンク",
    "api_tokens": "API トークン（名前・権限・有効期限。秘密の値は含まない）",
    "survey_answers": "記名アンケートの回答",
    "survey_receipts": "アンケートに回答したこと（回答内容は含まない）",
    "audit_events": "監査記録（本人に関するもの、本人が行った操作）",
}


def self_export_zip(record: PersonalRecord) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", readme_self(record).encode("utf-8"))
        for name, data in csv_members(record):
            archive.writestr(name, data)
    return buffer.getvalue()


def disclosure_readme(record: PersonalRecord, *, produced_by: str, reference: str,
                      files: list[tuple[str, int]], missing_files: int) -> str:
    lines = [
        "Manabi 研修管理システム 保有個人データの開示",
        "",
        f"本人: {record.name}（職員番号 {record.employee_number}）",
        f"作成日時: {plain(record.collected_at)}",
        f"作成者: {produced_by}",
        f"受付番号: {reference}",
        "",
        "収録ファイル",
        "  personal-data.json: 全項目を一つにまとめたもの（UTF-8、日時は日本時間）",
        "  csv/: 項目ごとの CSV（UTF-8、BOM 付き。Excel で開けます）",
        *_file_list(record, "csv/"),
    ]
    if files:
        lines.append("  files/: 実践研修で本人（またはそのチーム）が提出したファイルのうち、サーバーに残っているもの")
        lines.extend(f"    files/{name}（{size} バイト）" for name, size in files)
    if missing_files:
        lines.append(f"  提出ファイルのうち {missing_files} 件は保存期間の経過などにより既に削除されています。")
    lines += [
        "",
        "匿名アンケートの回答は誰とも結び付けられていないため、含まれていません（どの回答が本人のものかを"
        "システムは判別できません）。記名アンケートの回答は survey_answers に含まれています。",
        "他の方の個人情報（承認者・採点者・講評者の氏名など）は含めていません。",
    ]
    return "\r\n".join(lines) + "\r\n"


_UNSAFE_FILE_NAME = re.compile(r"[^\w.\-]+")


def archive_name(number: int, original: str) -> str:
    """A submitted file's name inside the ZIP: numbered (names may repeat), no folders, no controls."""
    cleaned = _UNSAFE_FILE_NAME.sub("_", Path(original.replace("\\", "/")).name).strip("._") or "file"
    return f"{number:03d}-{cleaned[:100]}"


def disclosure_zip(record: PersonalRecord, *, produced_by: str, reference: str, upload_dir: Path) -> tuple[bytes, int]:
    """The disclosure file and how many submitted files it holds."""
    folder = upload_dir / "cohorts"
    present: list[tuple[str, Path, int]] = []
    missing = 0
    for number, row in enumerate(record.section("submission_files").rows, start=1):
        stored = str(row["stored_name"])
        path = folder / stored
        if "/" in stored or "\\" in stored or stored.startswith(".") or not path.is_file():
            missing += 1
            continue
        present.append((archive_name(number, str(row["file_name"])), path, path.stat().st_size))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", disclosure_readme(
            record, produced_by=produced_by, reference=reference,
            files=[(name, size) for name, _path, size in present], missing_files=missing).encode("utf-8"))
        archive.writestr("personal-data.json", to_json(record).encode("utf-8"))
        for name, data in csv_members(record, "csv/"):
            archive.writestr(name, data)
        for name, path, _size in present:
            archive.write(path, f"files/{name}")
    return buffer.getvalue(), len(present)
