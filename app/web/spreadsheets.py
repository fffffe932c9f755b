"""CSV and Excel downloads, streamed so memory stays flat on large exports.

CSV is UTF-8 with a BOM (Excel in Japanese then opens it correctly). Any cell that starts with
=, +, -, @, a tab or a carriage return is prefixed with an apostrophe so no spreadsheet runs it
as a formula (CSV injection)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from flask import Response, stream_with_context

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value


def csv_lines(header: list[str], rows: Iterable[list[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    yield "\ufeff"
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow(["" if v is None else neutralise(v if isinstance(v, str) else str(v)) for v in row])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_response_rows(filename: str, header: list[str], rows: Iterable[list[Any]]) -> Response:
    return Response(stream_with_context(csv_lines(header, rows)), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def xlsx_response_rows(filename: str, sheet: str, header: list[str], rows: Iterable[list[Any]]) -> Response:
    """Excel in openpyxl's write-only mode (rows are streamed to a temporary file, not kept)."""
    return xlsx_response_sheets(filename, [(sheet, header, rows)])


def xlsx_response_sheets(filename: str, sheets: Iterable[tuple[str, list[str], Iterable[list[Any]]]]) -> Response:
    """Several sheets (title, header, rows) in one workbook, written as `xlsx_response_rows` does."""
    import tempfile

    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for sheet, header, rows in sheets:
        worksheet = workbook.create_sheet(title=sheet[:31])
        worksheet.append([neutralise(h) for h in header])
        for row in rows:
            worksheet.append([neutralise(v) if isinstance(v, str) else v for v in row])
    handle = tempfile.TemporaryFile()
    workbook.save(handle)
    handle.seek(0)

    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(64 * 1024):
                yield chunk

    response = Response(chunks(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    response.call_on_close(handle.close)  # a HEAD request never reads the body, so never enters chunks()
    return response
