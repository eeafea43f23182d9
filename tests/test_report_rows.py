"""What a results-table row of the report keeps: the claim's numbers, a short error, no passing row's log."""

import html

from emoprobe import results_rows
from emoprobe.results_rows import REPEATED, RowLogs, claim_cells, truncate, unquote_classes


def traceback(lines: int, last: str = "E   ValueError: the planted failure") -> str:
    return html.escape("\n".join([f"    frame {k}: value = {'x' * (500 if k == 3 else 20)}" for k in range(lines)] + [last]))


def test_a_passing_row_keeps_no_log_and_a_failed_claim_keeps_its_message():
    logs = RowLogs()
    captured = "----- Captured stdout call -----\nloading 48 layers\n"
    assert logs.trim("a", passed=True, claim_message=False, parts=["No log output captured."]) == []
    assert logs.trim("b", passed=True, claim_message=False, parts=[captured]) == []
    message = "layer 3: gap 0.0123 (95% CI 0.001 to 0.02), need &gt;= 0.02\n"
    assert logs.trim("c", passed=False, claim_message=True, parts=[message]) == [message]
    assert logs.trim("d", passed=False, claim_message=True, parts=[message]) == [message]  # a message is never a reference
    assert logs.trim("e", passed=False, claim_message=False, parts=["No log output captured."]) == []
    # Under xdist: the worker line goes, and so does what the claim's fixtures printed.
    worker = "[gw1] linux -- Python 3.11.7 /work/.venv/bin/python\n"
    progress = "----- Captured stderr setup -----\nacoustic features:   2%|▎ | 1/40 [00:14&lt;09:44]\n"
    assert logs.trim("f", passed=False, claim_message=True, parts=[worker + message, progress]) == [message]
    # An error keeps what was captured with it (deduplicated, cut): it is what someone debugs.
    assert logs.trim("g", passed=False, claim_message=False, parts=[worker + "E   OSError: disk\n", progress]) == \
        [worker + "E   OSError: disk\n", progress]


def test_an_error_is_cut_to_its_first_and_last_lines_with_a_note():
    text = traceback(200)
    kept = RowLogs().trim("a", passed=False, claim_message=False, parts=[text])[0]
    budget = results_rows.HEAD_CHARS + results_rows.TAIL_CHARS + len(results_rows.TRUNCATED) + 10
    assert len(text) > 4 * budget and len(kept) <= budget
    assert kept.startswith("    frame 0") and kept.endswith("E   ValueError: the planted failure")
    assert "line(s) left out here; the terminal output has the whole text" in kept
    assert "characters left out]" in kept  # frame 3's 500-character line
    # The null: an error that fits is kept whole, byte for byte.
    short = "\n".join(["    def test_gap(layer_analysis):", "&gt;       raise ValueError(&#x27;x&#x27;)",
                       "E   ValueError: x"])
    assert truncate(short) == short


def test_a_cut_never_splits_an_escaped_character():
    line = "a" * (results_rows.LINE_CHARS - 3) + "&amp;" + "b" * 50
    cut = truncate(line)
    assert "&am " not in cut and "&a " not in cut and not cut.split(" [...")[0].endswith("&")
    assert cut.startswith("a" * (results_rows.LINE_CHARS - 3))


def test_a_repeated_error_points_to_the_first_row_that_showed_it():
    logs, text = RowLogs(), traceback(60)
    first = logs.trim("hypotheses/test_a.py::test_x[tiny-layer00]", passed=False, claim_message=False, parts=[text])
    again = logs.trim("hypotheses/test_a.py::test_x[tiny-layer01]", passed=False, claim_message=False, parts=[text])
    other = logs.trim("hypotheses/test_a.py::test_x[tiny-layer02]", passed=False, claim_message=False,
                      parts=[traceback(60, last="E   KeyError: another failure")])
    assert first == [truncate(text)]
    assert again == [REPEATED.format(nodeid="hypotheses/test_a.py::test_x[tiny-layer00]") + "\n"]
    assert other[0].endswith("KeyError: another failure")  # a different error is shown, not referenced


def test_claim_cells_carry_the_numbers_and_only_the_classes_the_filters_and_colours_read():
    cells = claim_cells({"claim": "gap", "layer": 12, "gap": 0.012345, "pvalue": 0.0004, "threshold": 0.02},
                        "decisive")
    assert cells == ["<td class=emoprobe-claim-gap>gap</td>", "<td class=emoprobe-layer-12>12</td>",
                     "<td>gap 0.01235, p 0.0004</td>", "<td>0.02</td>",
                     "<td class=emoprobe-role-decisive>decisive</td>"]
    # A row that errored before recording numbers is marked, so that no filter hides it.
    assert claim_cells({}, "decisive")[0] == f"<td class={results_rows.UNRECORDED}></td>"
    # A claim skipped on purpose (steering off) is no unrecorded error: the filters may hide it.
    assert results_rows.UNRECORDED not in claim_cells({}, "exploratory", skipped=True)[0]
    hostile = claim_cells({"claim": '"><script>alert(1)</script>', "layer": 0}, "exploratory")
    assert "<script>" not in "".join(hostile) and hostile[0].startswith("<td class=emoprobe-claim-script-alert-1-script>")


def test_pytest_htmls_own_cells_lose_only_the_quotes_a_single_class_does_not_need():
    cells = ['<td class="col-result">Failed</td>', '<td class="col-links"><a class="a b" href="x">x</a></td>']
    unquote_classes(cells)
    assert cells == ['<td class=col-result>Failed</td>', '<td class=col-links><a class="a b" href="x">x</a></td>']
