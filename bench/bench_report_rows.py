"""A report's size before and after the row and plot trimming, measured on the same report.

Reads a report that pytest-html wrote with the earlier row format (for instance
the archived 48-layer report of ``bench_report_size.py``), puts every result
row through ``emoprobe.results_rows`` (cells, logs) and every plot through
``report.compact_png``, exactly as a run does now, and prints both sizes. It
re-renders what the run wrote, so it needs no 40-minute run; the figure it
gives is the one such a run would write, give or take the run's own numbers.

    python bench/bench_report_rows.py REPORT.html
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import re
from pathlib import Path

from emoprobe.report import UNRECORDED, compact_png
from emoprobe.results_rows import COLUMNS, RowLogs, cells_of, unquote_classes

_OLD_CELL = re.compile(r'<td class="col-emoprobe-(\w+)[^"]*">(.*?)</td>', re.S)
_PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def trimmed_row(nodeid: str, row: dict, logs: RowLogs) -> dict:
    cells, values, recorded = [], {}, True
    for cell in row["resultsTableRow"]:
        old = _OLD_CELL.fullmatch(cell)
        if old:
            values[old.group(1)] = html.unescape(old.group(2))
            recorded = recorded and UNRECORDED not in cell
        else:
            cells.append(cell)
    unquote_classes(cells)
    if len(values) == len(COLUMNS):
        cells[2:2] = cells_of([values[c] for c in COLUMNS], recorded)
    passed = row["result"] == "Passed"
    # pytest-html's log pieces: the report's text, then each captured section.
    parts = re.split(r"\n(?=-+ Captured )", row["log"])
    message = row["result"] == "Failed" and "\nE " not in parts[0]  # a claim's message, not a traceback
    kept = logs.trim(nodeid, passed, message, parts)
    trimmed = {k: v for k, v in row.items() if k != "emoprobe"}  # pytest-html's reading of the old classes
    return {**trimmed, "resultsTableRow": cells, "log": "\n".join(kept)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    page = parser.parse_args().report.read_text()
    blob = re.search(r'data-jsonblob="([^"]*)"', page).group(1)
    data = json.loads(html.unescape(blob))
    logs = RowLogs()
    data["tests"] = {nodeid: [trimmed_row(nodeid, row, logs) for row in rows] for nodeid, rows in data["tests"].items()}
    rows_after = html.escape(json.dumps(data))
    rest = page.replace(blob, "")
    images = _PNG.findall(rest)
    images_after = [base64.b64encode(compact_png(base64.b64decode(b))).decode() for b in images]
    n_rows = sum(map(len, data["tests"].values()))
    before = len(page.encode())
    after = before - len(blob) + len(rows_after) - sum(map(len, images)) + sum(map(len, images_after))
    print(f"{n_rows} rows: rows {len(blob) / 1e6:.3f} -> {len(rows_after) / 1e6:.3f} MB, "
          f"images {sum(map(len, images)) / 1e6:.3f} -> {sum(map(len, images_after)) / 1e6:.3f} MB, "
          f"report {before / 1e6:.3f} -> {after / 1e6:.3f} MB")
    print(f"{after / 1e6:.3f}")


if __name__ == "__main__":
    main()
