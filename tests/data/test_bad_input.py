"""The bad-input corpus: every kind of broken or odd data file, each with its expected outcome.

Each file goes through `python -m lab check-data FILE --json` in its own process with a time
limit, so a traceback, a crash or a hang is a failure of that case, never of the whole run.
An outcome is either a problem at file:line:field (the row skipped, or the whole file refused)
or acceptance (how many rows, how many values cleaned with a warning).
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.paths import REPO_ROOT

CASE_SECONDS = 60
ROW = '{"input": "甲: 你好", "label": true}'
OTHER = '{"input": "乙: 再见", "label": false}'


@dataclass(frozen=True)
class Refused:
    """The first problem is at (line, field) and its message holds `message`; `rows` good rows remain."""

    line: int
    field: str
    message: str
    rows: int = 0


@dataclass(frozen=True)
class Accepted:
    rows: int
    warnings: int = 0
    inputs: tuple = ()  # the loaded inputs, when the case is about what the text becomes


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


CORPUS = {
    # -- the 13 cases tests/test_records.py had before the corpus --------------------------------
    "empty.jsonl": ("", Refused(0, "", "the file is empty")),
    "blank.jsonl": ("\n \n", Refused(0, "", "the file is empty")),
    "gbk.jsonl": ("你好".encode("gbk"), Refused(1, "", "not UTF-8")),
    "notjson.jsonl": ('{"input": "a", "label": true}\n{oops\n', Refused(2, "", "not valid JSON", rows=1)),
    "noinput.jsonl": ('{"label": true}\n', Refused(1, "input", "missing")),
    "nolabel.jsonl": ('{"input": "a"}\n', Refused(1, "label", "missing")),
    "badlabel.jsonl": ('{"input": "a", "label": "maybe"}\n',
                       Refused(1, "label", "unknown label value 'maybe'")),
    "numberinput.jsonl": ('{"input": 5, "label": true}\n', Refused(1, "input", "expected text, found int 5")),
    "badspeaker.jsonl": ('{"input": "a", "label": true, "fraud_speaker": 3}\n',
                         Refused(1, "fraud_speaker", "expected text or a list of text")),
    "notobject.jsonl": ("[1, 2]\n", Refused(1, "", "expected an object")),
    "badlist.json": ('[\n{"input": "a", "label": true},\n{"input": "b", "label": 7}\n]',
                     Refused(3, "label", "unknown label value 7", rows=1)),
    "unclosed.json": ('[\n{"input": "a", "label": true},\n', Refused(3, "", "not closed")),
    "badcsv.csv": ("input,label\nhello,maybe\n", Refused(2, "label", "unknown label value")),
    # -- nesting and numbers that used to end in a traceback ---------------------------------------
    "deep_value.jsonl": (f'{ROW}\n{{"input": {deep(100_000)}, "label": true}}\n{OTHER}\n',
                         Refused(2, "", "nested too deeply", rows=2)),
    "deep_line.jsonl": (f"{ROW}\n{deep(100_000)}\n", Refused(2, "", "nested too deeply", rows=1)),
    "deep_list.json": (deep(100_000), Refused(1, "", "nested too deeply")),
    "deep_element.json": (f"[\n{ROW},\n{deep(50_000)}\n]", Refused(3, "", "nested too deeply")),
    "long_label.jsonl": (f'{ROW}\n{{"input": "a", "label": {"1" * 5000}}}\n',
                         Refused(2, "label", "a number of 5000 digits", rows=1)),
    "long_input_number.json": (f'[{{"input": {"9" * 5000}, "label": true}}, {OTHER}]',
                               Refused(1, "input", "expected text, found a number of 5000 digits", rows=1)),
    "negative_long_label.jsonl": (f'{{"input": "a", "label": -{"2" * 4400}}}\n',
                                  Refused(1, "label", "a number of 4400 digits")),
    "huge_exponent.jsonl": ('{"input": "a", "label": 1e999999}\n',
                            Refused(1, "label", "unknown label value inf")),
    "nan_label.jsonl": ('{"input": "a", "label": NaN}\n', Refused(1, "label", "unknown label value nan")),
    "float_label.jsonl": ('{"input": "a", "label": 1.0}\n', Refused(1, "label", "unknown label value 1.0")),
    "null_label.jsonl": ('{"input": "a", "label": null}\n', Refused(1, "label", "missing")),
    "list_input.jsonl": ('{"input": ["a"], "label": true}\n',
                         Refused(1, "input", "expected text, found list")),
    # -- CSV ---------------------------------------------------------------------------------------
    "long_cell.csv": ("input,label\n" + "长" * 200_000 + ",true\nshort,false\n", Accepted(2)),
    "unclosed_quote.csv": ('input,label\nok,true\n"never closed,true\nmore,false\n',
                           Refused(3, "", "never closed")),
    "stray_quote.csv": ('input,label\n"hel"lo",true\nok,false\n', Refused(2, "", "not valid CSV", rows=1)),
    "duplicate_header.csv": ("input,label,label\na,true,false\n", Refused(1, "label", "2 times")),
    "extra_cells.csv": ("input,label\na,true,surprise\nb,false\n", Refused(2, "", "3 cells", rows=1)),
    "trailing_comma.csv": ("input,label\na,true,\nb,false,\n", Accepted(2)),
    "no_input_column.csv": ("text,label\na,true\n", Refused(1, "input", "no input column")),
    "header_only.csv": ("input,label\n", Refused(0, "", "no rows found")),
    "nul_byte.csv": ("input,label\na\x00b,true\n", Accepted(1, warnings=1, inputs=("ab",))),
    "crlf.csv": ("input,label\r\n\"a\r\nb\",true\r\nc,false\r\n", Accepted(2, inputs=("a\r\nb", "c"))),
    "bom.csv": ("\ufeffinput,label\na,true\n".encode("utf-8"), Accepted(1)),
    # -- rows that used to load in silence ---------------------------------------------------------
    "lone_surrogate.jsonl": (f'{ROW}\n{{"input": "a\\ud800b", "label": true}}\n',
                             Refused(2, "input", "unpaired surrogate", rows=1)),
    "lone_low_surrogate.json": ('[{"input": "a", "label": true, "fraud_speaker": "\\udc00"}]',
                                Refused(1, "fraud_speaker", "unpaired surrogate")),
    "surrogate_reason.jsonl": ('{"input": "a", "label": true, "reason": "x\\udbff"}\n',
                               Refused(1, "reason", "unpaired surrogate")),
    "surrogate_pair.jsonl": ('{"input": "a\\ud83d\\ude00", "label": true}\n',
                             Accepted(1, inputs=("a\U0001f600",))),
    "duplicate_key.jsonl": (f'{ROW}\n{{"input": "a", "label": true, "label": false}}\n',
                            Refused(2, "label", "more than once", rows=1)),
    "duplicate_key.json": ('[{"input": "a", "input": "b", "label": true}]',
                           Refused(1, "input", "more than once")),
    "duplicate_unknown_key.jsonl": ('{"input": "a", "label": true, "note": 1, "note": 2}\n', Accepted(1)),
    "second_list.json": (f"[{ROW}]\n[{ROW}, {OTHER}]\n", Refused(2, "", "after the end of the JSON list")),
    "garbage_after_list.json": (f"[\n{ROW}\n]\nthis is not data\n",
                                Refused(4, "", "after the end of the JSON list")),
    "missing_comma.json": (f"[\n{ROW}\n{OTHER}\n]", Refused(3, "", "expected ','")),
    "trailing_comma.json": (f"[\n{ROW},\n]", Refused(3, "", "a ',' before ']'")),
    "escaped_nul.jsonl": ('{"input": "a\\u0000b", "label": true}\n', Accepted(1, warnings=1, inputs=("ab",))),
    "raw_nul.jsonl": ('{"input": "a\x00b", "label": true}\n', Refused(1, "", "Invalid control character")),
    "ansi_colour.jsonl": ('{"input": "\\u001b[31m红\\u001b[0m", "label": true}\n',
                          Accepted(1, warnings=1, inputs=("红",))),
    "ansi_title.json": ('[{"input": "a\\u001b]0;pwned\\u0007b", "label": true, "reason": "\\u001b[2J"}]',
                        Accepted(1, warnings=2, inputs=("ab",))),
    "only_controls.jsonl": ('{"input": "\\u0000\\u001b", "label": true}\n',
                            Refused(1, "input", "empty text")),
    "object_not_list.json": ('{\n  "input": "a",\n  "label": true\n}\n', Refused(1, "", "not valid JSON")),
    "utf16.jsonl": (ROW.encode("utf-16"), Refused(1, "", "not UTF-8")),
    "cut_utf8.jsonl": (f"{ROW}\n".encode() + '{"input": "中'.encode()[:-1], Refused(2, "", "not UTF-8")),
    # -- valid data that used to be cut or refused -------------------------------------------------
    "u2028.jsonl": ('{"input": "甲: 你好\u2028乙: 嗯", "label": true}\n' + OTHER + "\n",
                    Accepted(2, inputs=("甲: 你好\u2028乙: 嗯", "乙: 再见"))),
    "u0085.jsonl": ('{"input": "a\u0085b", "label": true}\n{"input": "c\u2029d", "label": false}\n',
                    Accepted(2, inputs=("a\u0085b", "c\u2029d"))),
    "form_feed_line.jsonl": (f"{ROW}\n\x0c\n{OTHER}\n", Accepted(2)),  # a blank line, whatever the spaces
    "crlf.jsonl": (f"{ROW}\r\n{OTHER}\r\n", Accepted(2)),
    "blank_lines.jsonl": (f"\n\n{ROW}\n   \n{OTHER}\n\n", Accepted(2)),
}


def _write(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode("utf-8", errors="surrogatepass"))
    return str(path)


def check_data(path: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", "check-data", path, "--json"], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=CASE_SECONDS)


def test_the_corpus_is_large_and_covers_both_outcomes():
    outcomes = [expected for _, expected in CORPUS.values()]
    assert len(CORPUS) >= 53
    assert sum(isinstance(outcome, Accepted) for outcome in outcomes) >= 10
    assert sum(isinstance(outcome, Refused) and outcome.rows for outcome in outcomes) >= 10  # good rows kept


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_input_gets_its_expected_outcome(tmp_path, name):
    content, expected = CORPUS[name]
    path = _write(tmp_path, name, content)
    try:
        result = check_data(path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: check-data still running after {CASE_SECONDS} s")
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    if isinstance(expected, Accepted):
        assert result.returncode == 0, report
        assert report["problems"] == [] and report["rows"] == expected.rows, report
        assert len(report["warnings"]) == expected.warnings, report["warnings"]
        assert all(warning["file"] == path and warning["line"] >= 1 for warning in report["warnings"])
        if expected.inputs:
            from core.data.records import load_records

            assert tuple(record.input for record in load_records(path).records) == expected.inputs
        return
    assert result.returncode == 1, report
    first = report["problems"][0]
    assert (first["file"], first["line"], first["field"]) == (path, expected.line, expected.field), first
    assert expected.message in first["message"], first
    assert report["rows"] == expected.rows, report
