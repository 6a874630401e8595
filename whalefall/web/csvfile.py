"""CSV downloads: one response shape for every export (UTF-8 with a BOM, so spreadsheets read it).

A cell that a spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@``, tab, carriage
return first) is prefixed with ``'``: account names and hosts come from the instances, not from us.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Response

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_response(rows: Iterable[Sequence[Any]], filename: str) -> Response:
    """``rows`` (header first) as a CSV attachment named ``filename``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
