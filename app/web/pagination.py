"""One page of a SELECT: two statements whatever the page size (a COUNT and the rows)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import request
from sqlalchemy import Select, func, select

from app.core.db import db_session
from app.web.ids import parse_int

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def url_args(self, page: int) -> dict[str, Any]:
        args: dict[str, Any] = request.args.to_dict()
        args["page"] = page
        return args


def page_number() -> int:
    return parse_int(request.args.get("page"), minimum=1, maximum=99999) or 1


def paginate(statement: Select[Any], *, per_page: int = 50, scalars: bool = True) -> Page[Any]:
    page = page_number()
    total = db_session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    rows_stmt = statement.limit(per_page).offset((page - 1) * per_page)
    result = db_session.scalars(rows_stmt) if scalars else db_session.execute(rows_stmt)
    return Page(items=list(result.unique() if scalars else result), page=page, per_page=per_page, total=total)
