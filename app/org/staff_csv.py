"""Reading the HR system's staff CSV: encoding detection and header aliases.

The HR system and Excel in Japanese write Shift_JIS (CP932); newer exports are UTF-8, often with
a BOM. Headers may be the English keys or the Japanese labels HR staff see.

Every value is one line of text under the rule of app/core/text_safety.py: a line break inside a quoted
field, NUL or another control character, or a bidirectional control (U+202A–U+202E,
U+2066–U+2069, U+200E, U+200F, U+061C) refuses the whole file, each naming its line and column,
so nothing is applied (a name like "Sato\\r\\nBcc: evil@example.com" once became a mail header).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from app.core.text_safety import find_unsafe
from app.web.locale import gettext as _

# For each key, its accepted headers, most specific first: when a file has two headers for the
# same key (職級 and 職級コード, 所属コード and 所属), the earlier alias in this tuple wins.
COLUMNS: dict[str, tuple[str, ...]] = {
    "employee_number": ("employee_number", "職員番号"),
    "name": ("name", "氏名"),
    "name_kana": ("name_kana", "氏名カナ", "カナ氏名", "ふりがな"),
    "email": ("email", "メールアドレス", "メール"),
    "grade": ("grade", "職級コード", "職級"),
    "unit": ("unit", "所属コード", "所属"),
    "is_head": ("is_head", "所属長"),
}
REQUIRED_COLUMNS = ("employee_number", "name", "email", "grade", "unit")


class _CsvReader(Protocol):
    """What this module uses of `csv.reader`: its records, and the line it has read up to."""

    @property
    def line_num(self) -> int: ...

    def __iter__(self) -> Iterator[list[str]]: ...

    def __next__(self) -> list[str]: ...


@dataclass(frozen=True)
class FileProblem:
    line: int
    field: str
    message: str


class StaffFileError(Exception):
    """The file as a whole cannot be read (encoding, no header, missing columns)."""

    def __init__(self, problems: list[FileProblem]) -> None:
        super().__init__("; ".join(f"line {p.line}, {p.field}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class StaffRow:
    line: int
    values: dict[str, str]


@dataclass
class StaffFile:
    rows: list[StaffRow]
    encoding: str
    labels: dict[str, str] = field(default_factory=dict)  # key -> the header as written in the file


def decode(raw: bytes) -> tuple[str, str]:
    """Return (text, encoding name). UTF-8 (with or without BOM) first, then CP932."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise StaffFileError([FileProblem(1, "file", _("The file is neither UTF-8 nor Shift_JIS (CP932)."))])


def _matches(label: str, columns: dict[str, tuple[str, ...]]) -> list[tuple[str, int]]:
    """The keys a header label names, each with the alias's priority (0 the most specific)."""
    folded = label.casefold()
    found = []
    for key, aliases in columns.items():
        names = [alias.casefold() for alias in aliases]
        if folded in names:
            found.append((key, names.index(folded)))
    return found


def _map_header(header: list[str], line: int, columns: dict[str, tuple[str, ...]],
                required: tuple[str, ...]) -> tuple[dict[str, int], dict[str, str]]:
    """Map the header to (key -> column position, key -> label as written); raises StaffFileError
    naming `line` and the key for a column given twice or a required column missing."""
    chosen: dict[str, tuple[int, int]] = {}  # key -> (alias priority, position)
    labels: dict[str, str] = {}
    problems: list[FileProblem] = []
    for position, raw_label in enumerate(header):
        label = raw_label.strip().lstrip("\ufeff").strip()
        for key, priority in _matches(label, columns):
            if key in chosen and chosen[key][0] == priority:
                problems.append(FileProblem(line, key, _("column %(label)s appears twice", label=label)))
            elif key not in chosen or priority < chosen[key][0]:
                chosen[key] = (priority, position)
                labels[key] = label
    problems.extend(FileProblem(line, key, _("the column is missing (header %(labels)s)",
                                             labels=" / ".join(columns[key])))
                    for key in required if key not in chosen)
    if problems:
        raise StaffFileError(problems)
    return {key: position for key, (_priority, position) in chosen.items()}, labels


def _read_header(reader: _CsvReader) -> list[str]:
    """The first non-blank record (blank lines before the header are skipped)."""
    try:
        header = next(reader)
        while not any(cell.strip() for cell in header):
            header = next(reader)
    except StopIteration:
        raise StaffFileError([FileProblem(1, "file", _("The file is empty."))]) from None
    except csv.Error as error:
        raise StaffFileError([FileProblem(reader.line_num or 1, "file", str(error))]) from None
    return header


def _row(record: list[str], index: dict[str, int], line: int) -> StaffRow:
    """A record's values by key, stripped; a short record's missing fields are empty."""
    return StaffRow(line=line, values={
        key: (record[pos].strip() if pos < len(record) else "") for key, pos in index.items()
    })


def _unsafe_values(row: StaffRow) -> list[FileProblem]:
    """The row's values that break the one-line rule of app/core/text_safety.py."""
    problems = []
    for key, value in row.values.items():
        problem = find_unsafe(value)
        if problem is not None:
            problems.append(FileProblem(row.line, key, problem.describe()))
    return problems


def _read_rows(reader: _CsvReader, index: dict[str, int]) -> list[StaffRow]:
    """The non-blank records after the header, each numbered by the line where it starts."""
    rows = []
    unsafe: list[FileProblem] = []
    start = reader.line_num + 1
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                row = _row(record, index, start)
                unsafe.extend(_unsafe_values(row))
                rows.append(row)
            start = reader.line_num + 1
    except csv.Error as error:
        raise StaffFileError([FileProblem(start, "file", str(error))]) from None
    if unsafe:
        raise StaffFileError(unsafe)
    return rows


def read_file(raw: bytes, columns: dict[str, tuple[str, ...]] = COLUMNS,
              required: tuple[str, ...] = REQUIRED_COLUMNS) -> StaffFile:
    """Decode the file (detecting the encoding), map its header and parse its rows. Raises
    StaffFileError at the first stage that fails (encoding, empty file, missing or doubled columns,
    CSV syntax, unsafe characters), its problems naming line and field. Other lists in the same
    shape (the units file, app/org/unit_import.py) pass their own `columns` and `required`."""
    text, encoding = decode(raw)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = _read_header(reader)
    index, labels = _map_header(header, reader.line_num, columns, required)
    return StaffFile(_read_rows(reader, index), encoding, labels)
