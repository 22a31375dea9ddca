"""Load problems carry a code and values, and the Chinese page words them from those
(lab.i18n.problem_text): every problem of the bad-input corpus, a mapped dataset's, the Data tab's
refusal of a broken file and a run's skipped rows. The CLI's wording (str(problem)) stays as it was."""
from __future__ import annotations

import html
import re

import gradio as gr
import pytest

from core.data.mapping import DataMapping
from core.data.records import DataError, load_records
from lab.i18n import problem_text
from lab.i18n_core import PROBLEMS_ZH
from lab.run_views import skipped_html
from lab.state import load_dataset
from tests.data import test_bad_input as corpus

# English the Chinese wording keeps: format names, and the names of what a file must hold.
KEPT = {"JSON", "CSV", "UTF", "Unicode", "NUL", "ESC", "input", "label", "fraud_speaker", "instruction",
        "reason", "true", "false"}


def _problems(path: str, mapping=None) -> list:
    try:
        result = load_records(path, strict=False, mapping=mapping)
    except DataError as error:
        return error.problems
    return result.problems + result.warnings


def _assert_worded_in_chinese(problem):
    chinese = problem_text(problem, "zh")
    assert problem.code in PROBLEMS_ZH, problem
    assert chinese != problem.message and re.search(r"[\u4e00-\u9fff]", chinese), problem
    # Values quoted from the file (a found value, a parser's detail, column names) may be English.
    left = chinese
    for value in problem.values.values():
        left = left.replace(str(value), "")
    english = set(re.findall(r"[A-Za-z]{2,}", left)) - KEPT
    assert not english, (english, chinese)
    numbers = re.findall(r"\d+", problem.message)
    assert all(number in chinese for number in numbers), (numbers, chinese)
    # English is core's wording, as the CLI prints it; the saved form (to_dict) words the same.
    assert problem_text(problem, "en") == problem.message
    assert problem_text(problem.to_dict(), "zh") == chinese
    where = f"{problem.file}:{problem.line}" if problem.line else problem.file
    assert str(problem) == f"{where}: {problem.field + ': ' if problem.field else ''}{problem.message}"


def test_every_problem_of_the_bad_input_corpus_is_worded_in_chinese(tmp_path):
    codes = set()
    for name, (content, expected) in corpus.CORPUS.items():
        problems = _problems(corpus._write(tmp_path, name, content))
        if isinstance(expected, corpus.Refused):
            assert problems and (problems[0].line, problems[0].field) == (expected.line, expected.field)
        for problem in problems:
            _assert_worded_in_chinese(problem)
            codes.add(problem.code)
    # The common ones the page meets, at least.
    assert {"empty_file", "bad_label", "missing", "bad_json", "csv_missing_column", "not_utf8",
            "not_text", "csv_extra_cells", "list_not_closed", "control_removed"} <= codes


def test_a_mapped_datasets_problems_name_its_own_columns_and_labels(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("review,stars\n好吃,good\n,bad\n一般,maybe\n", encoding="utf-8")
    problems = _problems(str(path), DataMapping("review", "stars", ("good", "bad")))
    for problem in problems:
        _assert_worded_in_chinese(problem)
    texts = [(problem.line, problem.field, problem_text(problem, "zh")) for problem in problems]
    assert texts == [(3, "review", "缺失（必填：文本列）"),
                     (4, "stars", "未知的标签值 'maybe'（应为 good, bad 之一）")]


def test_the_page_words_a_refused_file_and_skipped_rows_in_its_language(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"input": "甲: 你好", "label": "maybe"}\n{oops\n', encoding="utf-8")
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(gr.Error) as refused:
        load_dataset(tmp_path, "empty.jsonl", language="zh")
    assert "empty.jsonl: 文件为空" in refused.value.message
    with pytest.raises(gr.Error) as refused:
        load_dataset(tmp_path, "empty.jsonl", language="en")
    assert "empty.jsonl: the file is empty" in refused.value.message

    problems = _problems(str(tmp_path / "bad.jsonl"))
    summary = {"skipped_rows": 2, "skipped_problems": [problem.to_dict() for problem in problems]}
    chinese, english = (html.unescape(skipped_html(summary, language)) for language in ("zh", "en"))
    assert "未知的标签值 'maybe'" in chinese and "不是有效的 JSON" in chinese
    assert "unknown label value 'maybe'" in english and "not valid JSON" in english
    # A summary saved before problems had codes keeps its English words.
    old = {"skipped_rows": 1, "skipped_problems": [{"file": "a.jsonl", "line": 3, "field": "input",
                                                    "message": "empty text"}]}
    assert "empty text" in skipped_html(old, "zh")


def test_a_file_whose_text_and_label_columns_cannot_be_found_is_worded_in_chinese(tmp_path):
    from core.data.mapping import propose_mapping

    files = {"numbers.jsonl": ("1\n2\n", "没有找到带字段名的数据行"),
             "no-label.csv": ("note\n" + "".join(f"第{number}条\n" for number in range(60)), "可以作为标签"),
             "no-text.csv": ("stars\n1\n2\n1\n", "除标签列 'stars' 外没有文本列（各列：stars）")}
    for name, (content, worded) in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        with pytest.raises(DataError) as refused:
            propose_mapping(tmp_path / name)
        [problem] = refused.value.problems
        _assert_worded_in_chinese(problem)
        assert worded in problem_text(problem, "zh")
