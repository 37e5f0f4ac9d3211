"""leg.harness.checks.verdicts: the severity order of verdict flips, leaderboards and the rows
of verdicts.csv / leaderboards.csv (unit tests; the report pages use them in
test_report_pages.py)."""

import csv
import io
import itertools
import math

import pytest

from leg.harness.checks.verdicts import (
    SEVERITY,
    VERDICTS,
    Leaderboard,
    Standing,
    Verdict,
    flip_status,
    leaderboard_rows,
    rank,
    verdict_rows,
    verdicts_from_rows,
)

#: How bad each verdict is, worst last, written out here (not read from SEVERITY): a pass and
#: the reference floor are as good as it gets; an expected failure and "not significant" are
#: not failures; then uninformative, degenerate, fail.
ORDER = {"pass": 0, "reference": 0, "expected-failure": 1, "not-significant": 1,
         "undecided": 1,
         "uninformative": 2, "degenerate": 3, "fail": 4}


def _expected_flip(before: str, after: str) -> str:
    if before == after:
        return "same"
    if after == "not-run":
        return "regressed"  # a check that stopped running
    if before == "not-run":  # started running: counts by its new verdict
        return "regressed" if ORDER[after] >= ORDER["uninformative"] else "improved"
    # equal severity, different verdict (pass <-> reference, expected-failure <->
    # not-significant): not worse, so counted as improved
    return "regressed" if ORDER[after] > ORDER[before] else "improved"


def test_severity_covers_every_verdict_but_not_run():
    assert SEVERITY == ORDER
    assert set(VERDICTS) == set(ORDER) | {"not-run"}


@pytest.mark.parametrize("before, after", list(itertools.product(VERDICTS, repeat=2)))
def test_flip_status_of_every_ordered_pair(before, after):
    assert flip_status(before, after) == _expected_flip(before, after)


def test_flip_status_spot_checks():
    # written out, so that the table above is not the only statement of the order
    assert flip_status("not-run", "uninformative") == "regressed"
    assert flip_status("not-run", "not-significant") == "improved"
    assert flip_status("uninformative", "degenerate") == "regressed"
    assert flip_status("degenerate", "uninformative") == "improved"
    assert flip_status("not-significant", "expected-failure") == "improved"
    assert flip_status("fail", "not-run") == "regressed"


def test_rank_orders_by_direction_and_puts_missing_last():
    values = {"a": 0.2, "b": None, "c": 0.9, "d": float("nan"), "e": -1.0}
    up = rank("g", "col", "m", True, values, marked=("c",), reliability="W = 0.5")
    assert [e.method for e in up.entries] == ["c", "a", "e", "b", "d"]
    assert (up.group, up.column, up.metric, up.higher_is_better, up.reliability) == (
        "g", "col", "m", True, "W = 0.5")
    assert [e.marked for e in up.entries] == [True, False, False, False, False]
    assert math.isnan(up.entries[3].value) and math.isnan(up.entries[4].value)
    down = rank("g", "col", "m", False, values, marked=())
    assert [e.method for e in down.entries] == ["e", "a", "c", "b", "d"]
    assert down.reliability == "" and not any(e.marked for e in down.entries)
    # ties keep the input order (a stable sort); an int counts as a number
    tied = rank("g", "c", "m", False, {"x": 1, "y": 1.0, "z": 0}, marked=())
    assert [e.method for e in tied.entries] == ["z", "x", "y"]
    assert tied.entries[1].value == 1.0 and isinstance(tied.entries[1].value, float)


def test_rank_value_forms():
    board = rank("g", "c", "m", True, {"one": (3.0,), "two": (2.0, "n = 8"),
                                       "four": (1.0, "n = 7", 0.5, 1.5), "bare": 0.0},
                 marked=("two",))
    e = {s.method: s for s in board.entries}
    assert e["one"] == Standing("one", 3.0, "", False, None, None)
    assert e["two"] == Standing("two", 2.0, "n = 8", True, None, None)
    assert e["four"] == Standing("four", 1.0, "n = 7", False, 0.5, 1.5)
    assert e["bare"] == Standing("bare", 0.0, "", False, None, None)


def _verdicts():
    return [Verdict("digits", "leg", "cascading", "pass", 0.041, 0.314, False, True,
                    "ssim: median 0.041", 8, -0.3, -0.1, 0.0039),
            Verdict("lite0", "random", "key-size", "not-significant", None, None, True, False),
            Verdict("lite0", "gradient", "deletion", "fail", float("inf"), 0.0, False, True,
                    "", 12, 0.0, 0.5, 0.99)]


def test_verdict_rows_round_trip_through_csv_strings():
    rows = verdict_rows(_verdicts())
    assert rows[0] == {"model": "digits", "method": "leg", "check": "cascading",
                       "verdict": "pass", "value": 0.041, "threshold": 0.314,
                       "higher_is_better": False, "asserted": True,
                       "detail": "ssim: median 0.041", "n_images": 8, "ci_low": -0.3,
                       "ci_high": -0.1, "p_value": 0.0039}
    assert verdicts_from_rows(rows) == _verdicts()
    # as written to and read back from verdicts.csv: every field a string, None as ""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    back = verdicts_from_rows(list(csv.DictReader(io.StringIO(buf.getvalue()))))
    assert back == _verdicts()
    assert back[0].n_images == 8 and isinstance(back[0].n_images, int)
    assert back[1].value is None and back[1].n_images is None and back[1].p_value is None
    assert back[1].higher_is_better is True and back[1].asserted is False


def test_verdicts_from_rows_reads_flags_numbers_and_missing_columns():
    row = {"model": "m", "method": "leg", "check": "deletion", "verdict": "fail",
           "higher_is_better": "TRUE", "asserted": "yes", "n_images": "12.0", "value": "0.5",
           "threshold": "", "detail": None}
    (v,) = verdicts_from_rows([row])
    assert v.higher_is_better is True and v.asserted is False  # only true/True/TRUE/"true"
    assert v.n_images == 12 and v.value == 0.5 and v.threshold is None and v.detail == ""
    (bare,) = verdicts_from_rows([{"model": "m", "method": "leg", "check": "deletion",
                                   "verdict": "pass"}])
    assert bare == Verdict("m", "leg", "deletion", "pass")


def test_leaderboard_rows():
    boards = [rank("digits: key size", "black", "key_size", False,
                   {"a": (2.0, "n = 8", 1.0, 3.0), "b": 1.0}, marked=("a",), reliability="W"),
              Leaderboard("g2", "c2", "m2", True, (Standing("x", 0.5),))]
    rows = leaderboard_rows(boards)
    assert rows == [
        {"group": "digits: key size", "column": "black", "metric": "key_size",
         "higher_is_better": False, "rank": 1, "method": "b", "value": 1.0, "ci_low": None,
         "ci_high": None, "note": "", "marked": False, "reliability": "W"},
        {"group": "digits: key size", "column": "black", "metric": "key_size",
         "higher_is_better": False, "rank": 2, "method": "a", "value": 2.0, "ci_low": 1.0,
         "ci_high": 3.0, "note": "n = 8", "marked": True, "reliability": "W"},
        {"group": "g2", "column": "c2", "metric": "m2", "higher_is_better": True, "rank": 1,
         "method": "x", "value": 0.5, "ci_low": None, "ci_high": None, "note": "",
         "marked": False, "reliability": ""}]
    assert leaderboard_rows([]) == []


def test_unknown_verdict_message_lists_the_verdicts():
    with pytest.raises(ValueError, match=r"^Unknown verdict 'ok'; choose from \['pass', "):
        Verdict("m", "leg", "cascading", "ok")
