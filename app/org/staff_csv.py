"""Reading the HR system's staff CSV: encoding detection and header aliases.

The HR system and Excel in Japanese write Shift_JIS (CP932); newer exports are UTF-8, often with
a BOM. Headers may be the English keys or the Japanese labels HR staff see.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

COLUMNS: dict[str, tuple[str, ...]] = {
    "employee_number": ("employee_number", "職員番号"),
    "name": ("name", "氏名"),
    "name_kana": ("name_kana", "氏名カナ", "カナ氏名", "ふりがな"),
    "email": ("email", "メールアドレス", "メール"),
    "grade": ("grade", "職級", "職級コード"),
    "unit": ("unit", "所属コード", "所属"),
    "is_head": ("is_head", "所属長"),
}
REQUIRED_COLUMNS = ("employee_number", "name", "email", "grade", "unit")


class StaffFileError(Exception):
    """The file as a whole cannot be read (encoding, no header, missing columns)."""


@dataclass(frozen=True)
class StaffRow:
    line: int
    values: dict[str, str]


def decode(raw: bytes) -> tuple[str, str]:
    """Return (text, encoding name). UTF-8 (with or without BOM) first, then CP932."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise StaffFileError("The file is neither UTF-8 nor Shift_JIS (CP932).")


def read_rows(raw: bytes) -> tuple[list[StaffRow], str]:
    text, encoding = decode(raw)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise StaffFileError("The file is empty.") from None
    except csv.Error as error:
        raise StaffFileError(f"line 1: {error}") from None
    index: dict[str, int] = {}
    for position, label in enumerate(header):
        label = label.strip()
        for key, aliases in COLUMNS.items():
            if label in aliases:
                index[key] = position
    missing = [key for key in REQUIRED_COLUMNS if key not in index]
    if missing:
        raise StaffFileError("line 1: missing column(s): " + ", ".join(missing))
    rows = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            values = {
                key: (record[pos].strip() if pos < len(record) else "") for key, pos in index.items()
            }
            rows.append(StaffRow(line=reader.line_num, values=values))
    except csv.Error as error:
        raise StaffFileError(f"line {reader.line_num}: {error}") from None
    return rows, encoding
