"""Reads of the organisation."""
from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import aliased, lazyload, selectinload

from app.core.db import db_session, rows_among
from app.core.text_search import normalize_for_search
from app.org.models import Employee, Grade, Placement, Unit


def staff_directory(visible: Any, *, q: str = "", unit_id: int | None = None, grade_id: int | None = None,
                    include_inactive: bool = False) -> Select[tuple[Employee]]:
    stmt = select(Employee).where(visible).options(selectinload(Employee.role_grants))
    if q:
        needle = normalize_for_search(q)
        stmt = stmt.where(or_(
            Employee.employee_number.contains(q.strip()),
            Employee.name.contains(q.strip()),
            Employee.name_kana.contains(needle.upper()),
            Employee.email.contains(q.strip().lower()),
        ))
    if unit_id:
        unit = db_session.get(Unit, unit_id)
        if unit is not None:
            stmt = stmt.join(Unit, Employee.unit_id == Unit.id).where(Unit.path.startswith(unit.path))
    if grade_id:
        stmt = stmt.where(Employee.grade_id == grade_id)
    if not include_inactive:
        stmt = stmt.where(Employee.is_active.is_(True))
    return stmt.order_by(Employee.employee_number)


def search_employees(visible: Any, q: str, *, limit: int) -> list[Employee]:
    """Active people for a picker, in one statement (their unit and grade joined): every word of
    `q` in their employee number, name, kana (typed in hiragana, katakana or half-width kana) or
    e-mail; an exact employee number first, then by number. Nothing for an empty `q`."""
    words = q.split()
    if not words:
        return []
    stmt = (select(Employee).where(visible, Employee.is_active.is_(True))
            .options(lazyload(Employee.role_grants)))  # roles are not shown: no second statement
    for word in words:
        folded = normalize_for_search(word)  # NFKC, lower case, katakana
        stmt = stmt.where(or_(
            func.lower(Employee.employee_number).contains(folded, autoescape=True),
            Employee.name.contains(word, autoescape=True),
            Employee.name_kana.contains(folded.upper(), autoescape=True),
            func.lower(Employee.email).contains(folded, autoescape=True),
        ))
    exact = func.lower(Employee.employee_number) == normalize_for_search(q)
    return list(db_session.scalars(stmt.order_by(exact.desc(), Employee.employee_number).limit(limit)))


def search_units(q: str, *, limit: int) -> list[tuple[Unit, Unit | None]]:
    """Open units for a picker, each with its parent (two 総務課 are told apart by it), in one
    statement: every word of `q` in the code or the Japanese or English name; an exact code first,
    then by code. Nothing for an empty `q`."""
    words = q.split()
    if not words:
        return []
    parent = aliased(Unit)
    stmt = (select(Unit, parent).outerjoin(parent, Unit.parent_id == parent.id)
            .where(Unit.is_active.is_(True)))
    for word in words:
        folded = normalize_for_search(word)
        stmt = stmt.where(or_(
            func.lower(Unit.code).contains(folded, autoescape=True),
            Unit.name.contains(word, autoescape=True),
            func.lower(Unit.name_en).contains(folded, autoescape=True),
        ))
    exact = func.lower(Unit.code) == normalize_for_search(q)
    rows = db_session.execute(stmt.order_by(exact.desc(), Unit.code).limit(limit))
    return [(unit, parent_unit) for unit, parent_unit in rows]


def units_in_tree_order() -> list[Unit]:
    """Units ordered as a tree: each parent followed by its children in sort order."""
    units = list(db_session.scalars(select(Unit).where(Unit.is_active)))
    children: dict[int | None, list[Unit]] = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit)
    for siblings in children.values():
        siblings.sort(key=lambda u: (u.sort_order, u.code))
    ordered: list[Unit] = []

    def walk(parent_id: int | None) -> None:
        for unit in children.get(parent_id, []):
            ordered.append(unit)
            walk(unit.id)

    walk(None)
    return ordered


_ALL_GRADES = select(Grade).order_by(Grade.rank)  # built once: most pages list the grades


def all_grades() -> list[Grade]:
    return list(db_session.scalars(_ALL_GRADES))


def employee_by_number(employee_number: str) -> Employee | None:
    """The employee (active or not) with this employee number, or None."""
    if not employee_number:
        return None
    return db_session.scalar(select(Employee).where(Employee.employee_number == employee_number))


def placement_history(employee_id: int) -> list[Placement]:
    return list(db_session.scalars(
        select(Placement).where(Placement.employee_id == employee_id)
        .options(selectinload(Placement.unit), selectinload(Placement.grade))
        .order_by(Placement.started_on.desc())
    ))


def manager_of(employee: Employee) -> Employee | None:
    """The head of the employee's unit, or the next head up when that post is empty or is them
    (`managers_of` for one person)."""
    head_id = managers_of([employee.id]).get(employee.id)
    return db_session.get(Employee, head_id) if head_id is not None else None


def managers_of(employee_ids: Collection[int]) -> dict[int, int | None]:
    """Each person's manager id, in three statements for any number of people: the head of their
    unit, or the next head up when that post is empty or is them. Only an active head of an open
    unit counts, as for the permissions (`permissions._heads`), so whoever this names may decide."""
    ids = set(employee_ids)
    if not ids:
        return {}
    unit_of = {row.id: row.path for row in rows_among(
        select(Employee.id, Unit.path).join(Unit, Employee.unit_id == Unit.id), Employee.id, ids)}
    chain_ids = {int(part) for path in unit_of.values() for part in path.strip("/").split("/") if part}
    heads = {row.id: row.head_id for row in rows_among(
        select(Unit.id, Unit.head_id).where(Unit.is_active.is_(True), Unit.head_id.is_not(None)), Unit.id, chain_ids)}
    active = set(db_session.scalars(select(Employee.id).where(
        Employee.id.in_(set(heads.values())), Employee.is_active.is_(True)))) if heads else set()
    found: dict[int, int | None] = {}
    for employee_id in ids:
        found[employee_id] = None
        path = unit_of.get(employee_id)
        for unit_id in reversed([int(part) for part in (path or "").strip("/").split("/") if part]):
            head_id = heads.get(unit_id)
            if head_id is not None and head_id != employee_id and head_id in active:
                found[employee_id] = head_id
                break
    return found


def staff_fingerprint() -> str:
    """A digest of everything a staff import reads and writes: people, divisions and their heads,
    placements. A preview records it; applying refuses to go on if it has changed since (someone
    imported, a division closed, a person was edited). About a second for 100,000 people."""
    digest = hashlib.sha256()
    for statement in (
        select(Employee.id, Employee.employee_number, Employee.name, Employee.name_kana, Employee.email,
               Employee.unit_id, Employee.grade_id, Employee.is_active, Employee.is_external).order_by(Employee.id),
        select(Unit.id, Unit.code, Unit.name, Unit.is_active, Unit.head_id).order_by(Unit.id),
        select(func.count(Placement.id), func.max(Placement.id), func.count(Placement.ended_on),
               func.max(Placement.started_on)),
    ):
        for row in db_session.execute(statement):
            digest.update(repr(tuple(row)).encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


def head_over(unit: Unit, excluding_id: int | None = None) -> Employee | None:
    """Who manages the people of `unit` (other than `excluding_id`): the unit's head, or the next
    head up when that post is empty or is them; only an active head of an open unit counts, as in
    `managers_of` (two statements). For previews of a transfer or a change of head."""
    chain = [int(part) for part in unit.path.strip("/").split("/") if part]
    heads = {row.id: row.head_id for row in db_session.execute(
        select(Unit.id, Unit.head_id).where(Unit.id.in_(chain), Unit.is_active.is_(True), Unit.head_id.is_not(None)))}
    candidates = [heads[unit_id] for unit_id in reversed(chain) if unit_id in heads and heads[unit_id] != excluding_id]
    if not candidates:
        return None
    active = {e.id: e for e in db_session.scalars(select(Employee).where(Employee.id.in_(candidates),
                                                                          Employee.is_active.is_(True)))}
    return next((active[c] for c in candidates if c in active), None)
