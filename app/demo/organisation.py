"""A fictional prefecture for demos and manual testing: 8 departments, 40 divisions, ~400 staff.

Deterministic (a fixed random seed), with invented names. Loading twice changes nothing.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from app.auth.passwords import hash_password
from app.auth.services import set_password
from app.core.db import db_session
from app.org.models import Employee, Grade, Placement, RoleName, Unit, UnitKind
from app.org.reference import ensure_grades
from app.org.services import create_unit, grant_role

DEMO_PASSWORD = "manabi-demo-2026"
DEMO_START = date(2020, 4, 1)

DEPARTMENTS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("総務部", "General Affairs Department", (
        ("総務課", "General Affairs Division"), ("人事課", "Personnel Division"),
        ("財政課", "Finance Division"), ("行財政改革推進課", "Administrative Reform Division"),
        ("税務企画課", "Taxation Planning Division"))),
    ("デジタル推進局", "Digital Promotion Bureau", (
        ("スマート改革推進課", "Smart Reform Division"), ("情報システム課", "Information Systems Division"),
        ("デジタル社会推進課", "Digital Society Division"), ("データ活用推進課", "Data Utilisation Division"),
        ("情報セキュリティ課", "Information Security Division"))),
    ("政策企画部", "Policy Planning Department", (
        ("企画課", "Planning Division"), ("広聴広報課", "Public Relations Division"),
        ("統計課", "Statistics Division"), ("地域連携課", "Regional Partnership Division"),
        ("交通政策課", "Transport Policy Division"))),
    ("健康福祉部", "Health and Welfare Department", (
        ("医療政策課", "Medical Policy Division"), ("長寿介護課", "Elderly Care Division"),
        ("子ども家庭課", "Children and Families Division"), ("障がい福祉課", "Disability Welfare Division"),
        ("薬務感染症対策課", "Pharmaceutical and Infection Control Division"))),
    ("環境生活部", "Environment and Community Department", (
        ("環境共生課", "Environmental Harmony Division"), ("廃棄物対策課", "Waste Management Division"),
        ("文化振興課", "Cultural Promotion Division"), ("くらし・交通安全課", "Community Safety Division"),
        ("ダイバーシティ推進課", "Diversity Division"))),
    ("農林水産部", "Agriculture, Forestry and Fisheries Department", (
        ("農業戦略課", "Agricultural Strategy Division"), ("森林・林業経営課", "Forestry Division"),
        ("水産振興課", "Fisheries Division"), ("農産園芸課", "Horticulture Division"),
        ("農業基盤整備課", "Farmland Infrastructure Division"))),
    ("県土整備部", "Land and Infrastructure Department", (
        ("県土整備総務課", "Infrastructure General Affairs Division"), ("道路企画課", "Road Planning Division"),
        ("河川課", "Rivers Division"), ("都市政策課", "Urban Policy Division"),
        ("建築開発課", "Building Division"))),
    ("雇用経済部", "Employment and Economy Department", (
        ("雇用対策課", "Employment Division"), ("商工振興課", "Commerce and Industry Division"),
        ("観光政策課", "Tourism Policy Division"), ("国際戦略課", "International Strategy Division"),
        ("中小企業支援課", "SME Support Division"))),
)

FAMILY = (("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
          ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"),
          ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山田", "ヤマダ"),
          ("佐々木", "ササキ"), ("松本", "マツモト"), ("井上", "イノウエ"), ("木村", "キムラ"),
          ("林", "ハヤシ"), ("清水", "シミズ"), ("森", "モリ"), ("池田", "イケダ"),
          ("橋本", "ハシモト"), ("石川", "イシカワ"), ("前田", "マエダ"), ("藤田", "フジタ"),
          ("岡田", "オカダ"), ("後藤", "ゴトウ"), ("長谷川", "ハセガワ"), ("村上", "ムラカミ"),
          ("近藤", "コンドウ"), ("坂本", "サカモト"), ("服部", "ハットリ"), ("西村", "ニシムラ"))
GIVEN = (("翔太", "ショウタ"), ("美咲", "ミサキ"), ("大輔", "ダイスケ"), ("陽子", "ヨウコ"),
         ("健一", "ケンイチ"), ("由美", "ユミ"), ("拓也", "タクヤ"), ("恵", "メグミ"),
         ("直樹", "ナオキ"), ("真由美", "マユミ"), ("和也", "カズヤ"), ("彩", "アヤ"),
         ("誠", "マコト"), ("千尋", "チヒロ"), ("隆", "タカシ"), ("智子", "トモコ"),
         ("亮", "リョウ"), ("奈々", "ナナ"), ("浩二", "コウジ"), ("香織", "カオリ"),
         ("悠斗", "ユウト"), ("明日香", "アスカ"), ("聡", "サトシ"), ("里奈", "リナ"))

# Grades of a division's staff below its head (課長級), in order.
DIVISION_STAFF = ("HOSA", "SHUSA", "SHUSA", "SHUNIN", "SHUNIN", "SHUNIN", "SHUJI", "SHUJI", "SHUJI")


@dataclass(frozen=True)
class DemoLogin:
    role: str
    login: str
    name: str
    note: str


def demo_is_loaded() -> bool:
    return db_session.scalar(select(Unit.id).where(Unit.code == "D01")) is not None


def load_demo_organisation() -> list[DemoLogin]:
    """Create the demo prefecture (once) and return the accounts to print."""
    if not demo_is_loaded():
        _create()
    return demo_logins()


def _create() -> None:
    rng = random.Random(2020)
    grades = ensure_grades()
    sequence = iter(range(100001, 999999))
    shared_hash = hash_password(DEMO_PASSWORD)
    used_names: set[str] = set()
    staff: list[Employee] = []  # inserted together (a statement per few hundred rows, not per person)

    def person(unit: Unit, grade_code: str) -> Employee:
        while True:
            (family, family_kana), (given, given_kana) = rng.choice(FAMILY), rng.choice(GIVEN)
            if f"{family} {given}" not in used_names:
                used_names.add(f"{family} {given}")
                break
        number = str(next(sequence))
        employee = Employee(
            employee_number=number, name=f"{family} {given}", name_kana=f"{family_kana} {given_kana}",
            email=f"staff{number}@pref.example.lg.jp", grade_id=grades[grade_code].id, unit_id=unit.id,
        )
        db_session.add(employee)
        staff.append(employee)
        return employee

    for d_index, (dept_name, dept_en, divisions) in enumerate(DEPARTMENTS, start=1):
        department = create_unit(f"D{d_index:02d}", dept_name, UnitKind.DEPARTMENT, None,
                                 name_en=dept_en, sort_order=d_index)
        department.head = person(department, "BUCHO")
        person(department, "JICHO")
        for v_index, (div_name, div_en) in enumerate(divisions, start=1):
            division = create_unit(f"D{d_index:02d}{v_index:02d}", div_name, UnitKind.DIVISION,
                                   department, name_en=div_en, sort_order=v_index)
            division.head = person(division, "KACHO")
            for grade_code in DIVISION_STAFF:
                person(division, grade_code)
    db_session.flush()
    for employee in staff:
        db_session.add(Placement(employee_id=employee.id, unit_id=employee.unit_id, grade_id=employee.grade_id,
                                 started_on=DEMO_START))
        set_password(employee, DEMO_PASSWORD, temporary=False, precomputed_hash=shared_hash)
    db_session.flush()

    # Roles: the personnel division's training staff are HR, two smart-reform staff teach.
    personnel = db_session.scalar(select(Unit).where(Unit.code == "D0102"))
    smart = db_session.scalar(select(Unit).where(Unit.code == "D0201"))
    systems = db_session.scalar(select(Unit).where(Unit.code == "D0202"))
    assert personnel and smart and systems
    for employee in _staff_of(personnel, ("SHUSA", "SHUNIN")):
        grant_role(None, employee, RoleName.HR)
    for employee in _staff_of(smart, ("HOSA", "SHUSA")):
        grant_role(None, employee, RoleName.INSTRUCTOR)
    for employee in _staff_of(systems, ("HOSA",)):
        grant_role(None, employee, RoleName.ADMIN)

    mentor = Employee(employee_number="EXT0001", name="外部 メンター", name_kana="ガイブ メンター",
                      email="mentor@partner.example.jp", is_external=True)
    db_session.add(mentor)
    db_session.flush()
    set_password(mentor, DEMO_PASSWORD, temporary=False, precomputed_hash=shared_hash)
    grant_role(None, mentor, RoleName.MENTOR)
    db_session.flush()


def _staff_of(unit: Unit, grade_codes: tuple[str, ...]) -> list[Employee]:
    return list(db_session.scalars(
        select(Employee).join(Grade, Employee.grade_id == Grade.id)
        .where(Employee.unit_id == unit.id, Grade.code.in_(grade_codes)).order_by(Employee.id)
    ))


def demo_logins() -> list[DemoLogin]:
    """One account per role, picked the same way every time."""
    def unit(code: str) -> Unit:
        found = db_session.scalar(select(Unit).where(Unit.code == code))
        assert found is not None
        return found

    data_division = unit("D0204")
    employee = _staff_of(data_division, ("SHUNIN",))[0]
    manager = db_session.get(Employee, data_division.head_id)
    dept_head = db_session.get(Employee, unit("D02").head_id)
    hr = next(e for e in _staff_of(unit("D0102"), ("SHUSA", "SHUNIN")) if RoleName.HR in e.roles)
    instructor = next(e for e in _staff_of(unit("D0201"), ("HOSA", "SHUSA")) if RoleName.INSTRUCTOR in e.roles)
    admin = next(e for e in _staff_of(unit("D0202"), ("HOSA",)) if RoleName.ADMIN in e.roles)
    mentor = db_session.scalar(select(Employee).where(Employee.employee_number == "EXT0001"))
    assert manager and dept_head and mentor
    rows = [
        ("employee (主任級)", employee, data_division.name),
        ("manager (課長)", manager, data_division.name),
        ("department head (部長)", dept_head, "デジタル推進局"),
        ("HR (人事課 研修担当)", hr, "人事課"),
        ("instructor (講師)", instructor, "スマート改革推進課"),
        ("admin (管理者)", admin, "情報システム課"),
        ("mentor (外部メンター)", mentor, "-"),
    ]
    return [DemoLogin(role, e.employee_number, e.name, note) for role, e, note in rows]
