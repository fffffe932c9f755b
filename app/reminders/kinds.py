"""Every kind of notification: who may turn it off, whether it may go outside office hours, the
placeholders its wording may use, and the built-in wording in Japanese and English."""
from __future__ import annotations

from dataclasses import dataclass

from app.web.locale import lazy_gettext as _l

COMMON = ("name", "url")
SESSION = ("course", "session_start", "place", "session_url")


@dataclass(frozen=True)
class Kind:
    code: str
    label: object  # lazy string
    mandatory: bool  # employees cannot turn it off
    urgent: bool  # may be sent outside office hours
    placeholders: tuple[str, ...]
    subject_ja: str
    body_ja: str
    subject_en: str
    body_en: str
    attach_ics: bool = False


SIGNATURE_JA = "\n\n――\nまなび（職員研修システム）\n人事課 研修担当"
SIGNATURE_EN = "\n\n--\nManabi (staff training)\nPersonnel Division, training staff"

KINDS: dict[str, Kind] = {k.code: k for k in [
    Kind("enrolment_confirmed", _l("Enrolment confirmed"), True, False, COMMON + SESSION,
         "【まなび】受講が確定しました：{course}",
         "{name} 様\n\n次の研修の受講が確定しました。\n\n"
         "研修：{course}\n日時：{session_start}\n会場：{place}\n{session_url}\n"
         "詳細・キャンセル：{url}\n\n予定表に登録できるファイル（.ics）を添付しています。" + SIGNATURE_JA,
         "[Manabi] Enrolment confirmed: {course}",
         "Dear {name},\n\nYour place is confirmed.\n\n"
         "Course: {course}\nWhen: {session_start}\nWhere: {place}\n{session_url}\n"
         "Details and cancellation: {url}\n\nA calendar file (.ics) is attached." + SIGNATURE_EN, attach_ics=True),
    Kind("enrolment_waitlisted", _l("Placed on the waitlist"), True, False, COMMON + SESSION + ("position",),
         "【まなび】キャンセル待ちに登録しました：{course}",
         "{name} 様\n\n{course}（{session_start}）は定員に達しているため、"
         "キャンセル待ち（{position}番目）に登録しました。"
         "席が空き次第、順番にご案内します。\n\n詳細：{url}" + SIGNATURE_JA,
         "[Manabi] On the waitlist: {course}",
         "Dear {name},\n\n{course} ({session_start}) is full; you are number {position} on the waitlist. "
         "We will tell you when a seat frees up.\n\nDetails: {url}" + SIGNATURE_EN),
    Kind("enrolment_promoted", _l("Promoted from the waitlist"), True, False, COMMON + SESSION,
         "【まなび】キャンセル待ちから受講が確定しました：{course}",
         "{name} 様\n\n席が空いたため、次の研修の受講が確定しました。\n\n"
         "研修：{course}\n日時：{session_start}\n会場：{place}\n"
         "{session_url}\n詳細・キャンセル：{url}" + SIGNATURE_JA,
         "[Manabi] A seat freed up: {course}",
         "Dear {name},\n\nA seat freed up and your place is now confirmed.\n\nCourse: {course}\nWhen: {session_start}\n"
         "Where: {place}\n{session_url}\nDetails and cancellation: {url}" + SIGNATURE_EN, attach_ics=True),
    Kind("approval_requested", _l("Request awaiting approval (to the manager)"), True, False,
         COMMON + SESSION + ("requester",),
         "【まなび】受講申込の承認をお願いします：{requester}（{course}）",
         "{name} 様\n\n{requester} さんから次の研修の受講申込がありました。承認または却下をお願いします。\n\n"
         "研修：{course}\n日時：{session_start}\n\n承認ページ：{url}" + SIGNATURE_JA,
         "[Manabi] Please approve: {requester} ({course})",
         "Dear {name},\n\n{requester} asks to attend the course below. Please approve or decline.\n\n"
         "Course: {course}\nWhen: {session_start}\n\nApprovals: {url}" + SIGNATURE_EN),
    Kind("enrolment_approved", _l("Request approved"), True, False, COMMON + SESSION,
         "【まなび】受講申込が承認されました：{course}",
         "{name} 様\n\n次の研修への受講申込が承認されました。\n\n研修：{course}\n日時：{session_start}\n会場：{place}\n"
         "{session_url}\n詳細：{url}" + SIGNATURE_JA,
         "[Manabi] Request approved: {course}",
         "Dear {name},\n\nYour request was approved.\n\nCourse: {course}\nWhen: {session_start}\nWhere: {place}\n"
         "{session_url}\nDetails: {url}" + SIGNATURE_EN, attach_ics=True),
    Kind("enrolment_declined", _l("Request declined"), True, False, COMMON + SESSION + ("reason",),
         "【まなび】受講申込が承認されませんでした：{course}",
         "{name} 様\n\n次の研修への受講申込は承認されませんでした。\n\n"
         "研修：{course}\n日時：{session_start}\n理由：{reason}\n\n"
         "詳細：{url}" + SIGNATURE_JA,
         "[Manabi] Request declined: {course}",
         "Dear {name},\n\nYour request was declined.\n\nCourse: {course}\nWhen: {session_start}\nReason: {reason}\n\n"
         "Details: {url}" + SIGNATURE_EN),
    Kind("enrolment_cancelled", _l("Place cancelled"), True, False, COMMON + SESSION + ("reason",),
         "【まなび】受講をキャンセルしました：{course}",
         "{name} 様\n\n次の研修の受講はキャンセルされました。\n\n"
         "研修：{course}\n日時：{session_start}\n理由：{reason}\n\n"
         "詳細：{url}" + SIGNATURE_JA,
         "[Manabi] Place cancelled: {course}",
         "Dear {name},\n\nYour place was cancelled.\n\nCourse: {course}\nWhen: {session_start}\nReason: {reason}\n\n"
         "Details: {url}" + SIGNATURE_EN, attach_ics=True),
    Kind("session_moved", _l("Session moved"), True, True, COMMON + SESSION,
         "【まなび】日程が変更になりました：{course}",
         "{name} 様\n\nお申込みの研修の日時または会場が変更になりました。\n\n"
         "研修：{course}\n新しい日時：{session_start}\n"
         "会場：{place}\n{session_url}\n詳細：{url}\n\n更新した予定表ファイル（.ics）を添付しています。" + SIGNATURE_JA,
         "[Manabi] Session moved: {course}",
         "Dear {name},\n\nThe time or place of your session has changed.\n\n"
         "Course: {course}\nNew time: {session_start}\n"
         "Where: {place}\n{session_url}\nDetails: {url}\n\n"
         "The updated calendar file (.ics) is attached." + SIGNATURE_EN,
         attach_ics=True),
    Kind("session_cancelled", _l("Session cancelled"), True, True, COMMON + SESSION + ("reason",),
         "【まなび】研修が中止になりました：{course}",
         "{name} 様\n\nお申込みの研修は中止になりました。\n\n研修：{course}\n日時：{session_start}\n理由：{reason}\n\n"
         "別の日程へのお申込みは研修一覧からお願いします：{url}" + SIGNATURE_JA,
         "[Manabi] Session cancelled: {course}",
         "Dear {name},\n\nYour session has been cancelled.\n\nCourse: {course}\n"
         "When: {session_start}\nReason: {reason}\n\n"
         "To choose another session, see the catalog: {url}" + SIGNATURE_EN, attach_ics=True),
    Kind("session_reminder", _l("Reminder before a session"), False, False, COMMON + SESSION + ("days",),
         "【まなび】{days}営業日後に研修があります：{course}",
         "{name} 様\n\n受講予定の研修が近づいています。\n\n研修：{course}\n日時：{session_start}\n"
         "会場：{place}\n{session_url}\n"
         "詳細：{url}" + SIGNATURE_JA,
         "[Manabi] Coming up in {days} working day(s): {course}",
         "Dear {name},\n\nYour session is coming up.\n\nCourse: {course}\nWhen: {session_start}\nWhere: {place}\n"
         "{session_url}\nDetails: {url}" + SIGNATURE_EN),
    Kind("assignment_not_enrolled", _l("Assigned training not yet enrolled"), False, False,
         (*COMMON, "course", "due_date"),
         "【まなび】受講が指定されている研修にまだ申し込んでいません：{course}",
         "{name} 様\n\n{course} は {due_date} までの修了が指定されていますが、まだ申込がありません。"
         "日程を選んでお申込みください。\n\n"
         "{url}" + SIGNATURE_JA,
         "[Manabi] Not yet enrolled: {course}",
         "Dear {name},\n\nYou are to complete {course} by {due_date} but have not enrolled yet. "
         "Please choose a session.\n\n"
         "{url}" + SIGNATURE_EN),
    Kind("assignment_due_soon", _l("Assigned training due soon"), False, False, (*COMMON, "course", "due_date"),
         "【まなび】修了期限が近づいています：{course}（{due_date}）",
         "{name} 様\n\n{course} の修了期限（{due_date}）が近づいています。\n\n{url}" + SIGNATURE_JA,
         "[Manabi] Due soon: {course} ({due_date})",
         "Dear {name},\n\n{course} is due on {due_date}.\n\n{url}" + SIGNATURE_EN),
    Kind("assignment_overdue", _l("Assigned training overdue"), True, False, (*COMMON, "course", "due_date"),
         "【まなび】修了期限を過ぎています：{course}",
         "{name} 様\n\n{course} の修了期限（{due_date}）を過ぎています。速やかに受講してください。"
         "このお知らせは所属長にも送られています。\n\n{url}" + SIGNATURE_JA,
         "[Manabi] Overdue: {course}",
         "Dear {name},\n\n{course} was due on {due_date}. Please complete it soon. "
         "Your manager receives a copy of this notice.\n\n{url}" + SIGNATURE_EN),
    Kind("assignment_overdue_copy", _l("Staff training overdue (copy to the manager)"), True, False,
         (*COMMON, "course", "due_date", "employee"),
         "【まなび】所属職員の研修が期限を過ぎています：{employee}（{course}）",
         "{name} 様\n\n所属の {employee} さんの {course}（期限 {due_date}）が未修了です。\n\n"
         "チームの状況：{url}" + SIGNATURE_JA,
         "[Manabi] Overdue in your team: {employee} ({course})",
         "Dear {name},\n\n{employee} has not completed {course} (due {due_date}).\n\nYour team: {url}" + SIGNATURE_EN),
    # One a week per head (app/reminders/scans.py): {items} lists the team's overdue training by
    # person, each with a count; rendered when sent, so what was completed since drops out.
    Kind("overdue_team_digest", _l("Staff training overdue (weekly list to the manager)"), False, False,
         (*COMMON, "items", "count", "people"),
         "【まなび】所属職員の期限を過ぎた研修：{people}名・{count}件",
         "{name} 様\n\n所属職員の指定研修のうち、修了期限を過ぎて未修了のものは次のとおりです"
         "（{people}名・{count}件）。受講を促してください。\n\n{items}\n\n"
         "チームの状況：{url}" + SIGNATURE_JA,
         "[Manabi] Overdue training in your team: {count} item(s), {people} person(s)",
         "Dear {name},\n\nThese assigned courses of your staff are past their due date and not yet completed "
         "({count} item(s), {people} person(s)). Please encourage them to complete them.\n\n{items}\n\n"
         "Your team: {url}" + SIGNATURE_EN),
    # To a head who takes over pending requests and applications after a transfer (a person moved, or the
    # head of a unit changed): {items} lists them, as they still stand when the notice is sent.
    Kind("work_handed_over", _l("Requests handed over after a transfer (to the new manager)"), True, False,
         (*COMMON, "items", "count", "endorsements_url"),
         "【まなび】異動に伴い、承認・推薦の依頼{count}件が引き継がれました",
         "{name} 様\n\n職員の異動または所属長の交代により、次の依頼があなたに引き継がれました。"
         "承認・推薦の判断をお願いします。\n\n{items}\n\n"
         "承認待ちの受講申込：{url}\n推薦待ちの応募：{endorsements_url}" + SIGNATURE_JA,
         "[Manabi] {count} request(s) handed over to you after a transfer",
         "Dear {name},\n\nAfter a transfer (a person moved, or the head of a unit changed), these requests are now "
         "yours to decide.\n\n{items}\n\n"
         "Enrolment requests: {url}\nApplications to endorse: {endorsements_url}" + SIGNATURE_EN),
    Kind("followup_todo", _l("Quiz or survey still to do"), False, False, (*COMMON, "course", "todo"),
         "【まなび】研修後の手続きが残っています：{course}",
         "{name} 様\n\n{course} の受講お疲れさまでした。修了には次が必要です：{todo}\n\n{url}" + SIGNATURE_JA,
         "[Manabi] Still to do: {course}",
         "Dear {name},\n\nThank you for attending {course}. To complete it: {todo}\n\n{url}" + SIGNATURE_EN),
    # From app/reminders/scans.py (scan_expiring_completions): {url} is the course page, to renew.
    Kind("completion_expiring", _l("Certificate expiring soon"), False, False, (*COMMON, "course", "valid_until"),
         "【まなび】修了の有効期限が近づいています：{course}（{valid_until}まで）",
         "{name} 様\n\n{course} の修了は {valid_until} まで有効です。"
         "期限が過ぎると未修了の扱いになり、改めて受講が必要になります。期限までに再受講してください。\n\n"
         "{url}" + SIGNATURE_JA,
         "[Manabi] Certificate expiring: {course} (valid until {valid_until})",
         "Dear {name},\n\nYour completion of {course} is valid until {valid_until}. After that it no longer "
         "counts and you will need to take the course again; please renew it before then.\n\n"
         "{url}" + SIGNATURE_EN),
    Kind("cohort_endorsement_requested", _l("Cohort application to endorse (to the manager)"), True, False,
         (*COMMON, "applicant", "cohort"),
         "【まなび】スマート人材育成への応募の推薦をお願いします：{applicant}",
         "{name} 様\n\n{applicant} さんが {cohort} に応募しました。推薦するかどうかの判断をお願いします。\n\n"
         "{url}" + SIGNATURE_JA,
         "[Manabi] Please endorse: {applicant}",
         "Dear {name},\n\n{applicant} applied to {cohort}. Please endorse the application or not.\n\n"
         "{url}" + SIGNATURE_EN),
    Kind("cohort_result", _l("Cohort selection result"), True, False, (*COMMON, "cohort", "result"),
         "【まなび】{cohort} の選考結果のお知らせ",
         "{name} 様\n\n{cohort} の選考結果：{result}\n\n{url}" + SIGNATURE_JA,
         "[Manabi] Selection result: {cohort}",
         "Dear {name},\n\nThe result of your application to {cohort}: {result}\n\n{url}" + SIGNATURE_EN),
    Kind("cohort_submission_reviewed", _l("Submission accepted or returned"), True, False,
         (*COMMON, "milestone", "result"),
         "【まなび】{milestone} の確認結果：{result}",
         "{name} 様\n\nメンターが {milestone} を確認しました：{result}\n\n{url}" + SIGNATURE_JA,
         "[Manabi] {milestone}: {result}",
         "Dear {name},\n\nYour mentor reviewed the {milestone}: {result}\n\n{url}" + SIGNATURE_EN),
    Kind("cohort_milestone_due", _l("Milestone due soon or overdue"), False, False, (*COMMON, "milestone", "due_date"),
         "【まなび】{milestone} の提出期限：{due_date}",
         "{name} 様\n\n{milestone} の提出期限は {due_date} です。まだ提出されていません。\n\n{url}" + SIGNATURE_JA,
         "[Manabi] {milestone} due {due_date}",
         "Dear {name},\n\nThe {milestone} is due on {due_date} and has not been submitted yet.\n\n"
         "{url}" + SIGNATURE_EN),
    Kind("manager_digest", _l("Weekly digest for managers"), False, False,
         (*COMMON, "pending", "overdue", "upcoming"),
         "【まなび】今週のチームの研修状況（承認待ち {pending}件・期限超過 {overdue}件）",
         "{name} 様\n\n今週のチームの研修状況です。\n\n承認待ちの申込：{pending} 件\n"
         "期限を過ぎた指定研修：{overdue} 件\n"
         "今後2週間の受講予定：{upcoming} 件\n\n{url}" + SIGNATURE_JA,
         "[Manabi] Your team this week ({pending} to approve, {overdue} overdue)",
         "Dear {name},\n\nYour team's training this week.\n\nRequests awaiting approval: {pending}\n"
         "Overdue assigned training: {overdue}\nSessions in the next two weeks: {upcoming}\n\n{url}" + SIGNATURE_EN),
    # From app/auth (SignInDelayed): {url} is the single-use unlock link, valid for an hour.
    Kind("sign_in_unlock", _l("Sign-ins delayed after wrong passwords (unlock link)"), True, True, COMMON,
         "【まなび】ログインの待ち時間を解除できます",
         "{name} 様\n\nあなたのアカウントで、誤ったパスワードによるログインが続いたため、"
         "ログインに待ち時間を設けています。\n"
         "ご自身の操作であれば、次のリンクを開いて「解除する」を押すと、そのブラウザーからすぐにログインできます"
         "（1時間有効・1回限り）。\n\n{url}\n\n"
         "心当たりがない場合は、ほかの誰かがパスワードを試しています。パスワードが合わない限りログインされることはありません。"
         "念のためパスワードを変更してください。" + SIGNATURE_JA,
         "[Manabi] Lift the wait on your sign-ins",
         "Dear {name},\n\nSeveral sign-ins to your account failed with a wrong password, so sign-ins to it now wait "
         "between attempts.\nIf that was you, open the link below and press \"Lift the wait\" to sign in at once "
         "from that browser (valid for one hour, once).\n\n{url}\n\n"
         "If it was not you, someone else is trying passwords. Nobody can sign in without the right password; "
         "to be safe, change yours." + SIGNATURE_EN),
]}

DEFAULT_SESSION_REMINDER_OFFSETS = [3, 1]  # business days before the first meeting


def built_in_wording(kind: str, locale: str) -> tuple[str, str]:
    """(subject, body) as shipped, for when HR has not reworded the kind in that language."""
    spec = KINDS[kind]
    return (spec.subject_ja, spec.body_ja) if locale == "ja" else (spec.subject_en, spec.body_en)
