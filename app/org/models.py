"""Typed models of the organisation.

Units form a tree of any depth (部局 → 課 → …). `path` is the materialised list of ancestor ids
("/1/7/"), so a manager's whole subtree is one indexed prefix match instead of a recursive query.
"""
from __future__ import annotations

import enum
from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, enum_column


class UnitKind(enum.StrEnum):
    DEPARTMENT = "department"  # 部局
    DIVISION = "division"  # 課 (and offices below a department)


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[UnitKind] = mapped_column(enum_column(UnitKind))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    path: Mapped[str] = mapped_column(String(400), index=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    head_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", use_alter=True, ondelete="SET NULL"), index=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    parent: Mapped[Unit | None] = relationship(remote_side=[id])
    head: Mapped[Employee | None] = relationship(foreign_keys=[head_id], post_update=True)

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    def ancestor_ids(self) -> list[int]:
        return [int(part) for part in self.path.strip("/").split("/") if part][:-1]


class Grade(Base):
    """A grade (職級), ordered from the top (部長級, rank 1) down to 主事・技師."""

    __tablename__ = "grades"
    __table_args__ = (CheckConstraint("rank > 0", name="rank_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    rank: Mapped[int] = mapped_column(Integer, unique=True)


class Employee(UserMixin, Base):
    """A person who signs in: staff from the HR list, or an outside mentor (`is_external`)."""

    __tablename__ = "employees"
    __table_args__ = (
        Index("ix_employees_unit_grade", "unit_id", "grade_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_kana: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(254), unique=True)
    grade_id: Mapped[int | None] = mapped_column(ForeignKey("grades.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_external: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str | None] = mapped_column(String(8))
    deactivated_at: Mapped[datetime | None]

    grade: Mapped[Grade | None] = relationship(lazy="joined")
    unit: Mapped[Unit | None] = relationship(foreign_keys=[unit_id], lazy="joined")
    role_grants: Mapped[list[RoleGrant]] = relationship(
        lazy="selectin", cascade="all, delete-orphan"
    )

    @property
    def roles(self) -> frozenset[RoleName]:
        return frozenset(grant.role for grant in self.role_grants)

    # Flask-Login: a deactivated person cannot sign in or keep a session.
    def get_id(self) -> str:
        return str(self.id)


class Placement(Base):
    """Where someone was and at which grade, from when to when (異動 history)."""

    __tablename__ = "placements"
    __table_args__ = (
        CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="dates_ordered"),
        Index("ix_placements_employee_started", "employee_id", "started_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    grade_id: Mapped[int] = mapped_column(ForeignKey("grades.id"))
    started_on: Mapped[date]
    ended_on: Mapped[date | None]

    unit: Mapped[Unit] = relationship()
    grade: Mapped[Grade] = relationship()


class RoleName(enum.StrEnum):
    HR = "hr"
    INSTRUCTOR = "instructor"
    MENTOR = "mentor"
    ADMIN = "admin"


class RoleGrant(Base):
    """A role on top of being an employee (manager is derived from heading a unit)."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("employee_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    role: Mapped[RoleName] = mapped_column(enum_column(RoleName))
