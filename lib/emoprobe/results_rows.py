"""The rows of pytest-html's results table, kept small enough for 827 of them (48 layers) in one report.

pytest-html stores every row twice escaped (JSON inside an HTML attribute),
so each quote of a cell costs six characters and each angle bracket four. At
48 layers x 4 emotions (827 rows) they were 1.24 of a 1.75 MB report. What a row keeps:

* its cells: claim, layer, measured, threshold and role, with only the classes
  the row filters and the role colour need, written without quotes (the
  classes are ``[a-z0-9-]`` only, so they cannot leave the attribute);
* a failed claim's message (its numbers: measured and threshold), and nothing
  captured with it (fixture progress bars, logs: the terminal has them);
* an error's traceback, cut to its first and last lines (about 1,200
  characters) with a note saying so (the terminal keeps it whole), and given
  once: a row whose text repeats an earlier row's points there instead (a
  session fixture that fails fails every row with one traceback).

A passing row keeps no log: pytest-html's "No log output captured." and any
captured output say nothing a researcher reads.
"""

from __future__ import annotations

import html
import re
from typing import Mapping, Sequence

from .report import UNRECORDED, row_filter_class

COLUMNS = ("claim", "layer", "measured", "threshold", "role")
FILTERED = ("claim", "layer", "role")  # the columns the row filters select on
# The claim numbers a row shows as "measured", first found first.
MEASURED = ("gap", "statistic", "agreement", "accuracy", "min_n", "n_significant_holm", "divergence", "best_gap")
# An error's text in a row: its first and last lines within these many characters
# (escaped), each line cut to LINE_CHARS; about 730 rows that all error stay near 1 MB.
HEAD_CHARS, TAIL_CHARS, LINE_CHARS = 400, 800, 200
TRUNCATED = "[... {n} line(s) left out here; the terminal output has the whole text]"
SHORTENED = " [... {n} characters left out]"
REPEATED = "Same text as the row of {nodeid}."


def number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.4g}"


def cell_values(numbers: Mapping[str, object], role: str) -> list[object]:
    """claim, layer, measured, threshold and role of one claim row."""
    measured = [f"{key} {number(numbers[key])}" for key in MEASURED if key in numbers][:1]
    if "pvalue" in numbers:
        measured.append(f"p {number(numbers['pvalue'])}")
    threshold = numbers.get("threshold", numbers.get("alpha"))
    return [numbers.get("claim", ""), numbers.get("layer", ""), ", ".join(measured),
            "" if threshold is None else number(threshold), role]


def claim_cells(numbers: Mapping[str, object], role: str, skipped: bool = False) -> list[str]:
    """A skipped claim (steering off, say) recorded nothing on purpose: the filters may hide it."""
    return cells_of(cell_values(numbers, role), recorded=bool(numbers) or skipped)


def cells_of(values: Sequence[object], recorded: bool) -> list[str]:
    """The emoprobe columns' cells. A row that errored before recording its numbers has
    no claim or layer to filter on: it is marked so that no filter hides it."""
    cells = []
    for column, value in zip(COLUMNS, values):
        cls = row_filter_class(column, value) if column in FILTERED else ""
        if not recorded and column == "claim":
            cls = UNRECORDED
        attribute = f" class={cls}" if cls else ""
        cells.append(f"<td{attribute}>{html.escape(str(value))}</td>")
    return cells


_QUOTED_CLASS = re.compile(r'class="([A-Za-z0-9_-]+)"')


def unquote_classes(cells: list[str]) -> None:
    """pytest-html's own cells (``<td class="col-result">``) without the quotes a single class does not need."""
    cells[:] = [_QUOTED_CLASS.sub(r"class=\1", cell) for cell in cells]


def _shorten_line(line: str) -> str:
    if len(line) <= LINE_CHARS:
        return line
    cut = re.sub(r"&[#\w]*$", "", line[:LINE_CHARS])  # never half an entity: the text is already escaped
    return cut + SHORTENED.format(n=len(line) - len(cut))


def _lines_within(lines: Sequence[str], budget: int) -> int:
    """How many of ``lines``, from the first, fit in ``budget`` characters."""
    used = 0
    for k, line in enumerate(lines):
        used += len(line) + 1
        if used > budget:
            return k
    return len(lines)


def truncate(text: str) -> str:
    """A long (escaped) text cut to its first and last lines: a traceback's first lines
    say where it started, its last lines what went wrong."""
    lines = [_shorten_line(line) for line in text.split("\n")]
    if sum(len(line) + 1 for line in lines) <= HEAD_CHARS + TAIL_CHARS:
        return "\n".join(lines)
    head = _lines_within(lines, HEAD_CHARS)
    tail = _lines_within(lines[::-1], TAIL_CHARS)
    left_out = len(lines) - head - tail
    return "\n".join([*lines[:head], TRUNCATED.format(n=left_out), *lines[len(lines) - tail:]])


# pytest puts "[gw1] linux -- Python 3.11 /path/python" first in the text of a report from an xdist worker.
_WORKER_LINE = re.compile(r"\A\[gw\d+\] [^\n]*\n")


class RowLogs:
    """The log part of each row, given what earlier rows already showed."""

    def __init__(self) -> None:
        self.first_seen: dict[str, str] = {}  # text -> the row that showed it

    def trim(self, nodeid: str, passed: bool, claim_message: bool, parts: Sequence[str]) -> list[str]:
        """``parts``: pytest-html's escaped log pieces of a row (its longrepr first when it
        has one, then each captured section). ``claim_message``: the first piece is a failed
        claim's own message: the row keeps it (its numbers), without the xdist worker line,
        and nothing else; the fixtures' progress and logs it captured are in the terminal."""
        if passed:
            return []
        if claim_message:
            return [_WORKER_LINE.sub("", parts[0])] if parts else []
        kept = []
        for part in parts:
            if not part.strip() or part == "No log output captured.":
                continue
            earlier = self.first_seen.setdefault(part, nodeid)
            kept.append(truncate(part) if earlier == nodeid else REPEATED.format(nodeid=html.escape(earlier)) + "\n")
        return kept
