"""Data tab handlers: counts in the figures, filters, paging, problems, escaping, the path guard."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import gradio as gr
import pytest

from core.data.stats import dialogue_speakers, records_frame
from core.data.records import Record
from lab import tab_data
from lab.resolve import dataset_choices
from lab.state import load_dataset, save_upload

SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(1)>"


def _row(index: int, label: bool, text: str | None = None) -> dict:
    dialogue = text or f"张三: 你好，这是第{index}段对话，关于订单{index * 7}号。\n李四: 好的，收到{index}。"
    return {"instruction": "", "input": dialogue, "label": label,
            "fraud_speaker": "张三" if label else "", "reason": "冒充客服" if label else ""}


@pytest.fixture(scope="module")
def data_files(session_workspace) -> dict:
    """sample.jsonl: 30 good rows (13 fraud), two of them carrying HTML, one repeated; 2 bad lines.
    other.jsonl: 5 rows, 3 of them copies of sample dialogues."""
    folder = session_workspace / "ui-data"
    folder.mkdir(exist_ok=True)
    rows = [_row(index, index % 5 in (0, 2)) for index in range(27)]
    rows.append(_row(27, True, f"骗子: {SCRIPT} 请转账\n受害人: 好"))
    rows.append(_row(28, True, f"骗子: {SCRIPT} 请转账\n受害人: 好"))
    rows.append(_row(29, False, f"王五: {IMAGE}\n赵六: 看到了"))
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    lines.insert(5, "{not json")  # line 6
    lines.insert(10, json.dumps({"input": "甲: 没有标签"}, ensure_ascii=False))  # line 11
    sample = folder / "sample.jsonl"
    sample.write_text("\n".join(lines) + "\n", encoding="utf-8")
    other_rows = [rows[1], rows[2], rows[27]] + [_row(100 + index, False) for index in range(2)]
    other = folder / "other.jsonl"
    other.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in other_rows),
                     encoding="utf-8")
    return {"sample": sample, "other": other, "rows": rows}


@pytest.fixture(scope="module")
def dataset(session_workspace, data_files):
    return load_dataset(session_workspace, "ui-data/sample.jsonl", "ui-data/other.jsonl", language="en")


def test_label_counts_in_figure_equal_the_files(dataset, data_files):
    view = tab_data.analyse(dataset, "en")
    fraud, normal = view.label_counts.data
    file_rows = {}
    for split, path in (("sample", data_files["sample"]), ("other", data_files["other"])):
        labels = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "label" in row:
                labels.append(row["label"])
        file_rows[split] = labels
    assert list(fraud.x) == ["sample", "other"]
    assert list(fraud.y) == [sum(file_rows["sample"]), sum(file_rows["other"])] == [13, 2]
    assert list(normal.y) == [len(file_rows["sample"]) - 13, len(file_rows["other"]) - 2] == [17, 3]
    # Character lengths: the histogram's values are the dialogue lengths of each label.
    chars_fraud = sorted(view.chars.data[0].x)
    assert chars_fraud == sorted(len(row.input) for rows in dataset.splits.values() for row in rows
                                 if row.label)


def test_problems_are_listed_with_file_line_and_field(dataset):
    table = tab_data.problems_table(dataset, "en")
    where = sorted(zip(table["line"], table["field"]))
    assert where == [(6, ""), (11, "label")]
    assert set(table["file"]) == {"ui-data/sample.jsonl"}
    assert "not valid JSON" in table["problem"].iloc[0]


def test_skipped_rows_and_cleaned_values_are_shown_with_their_lines(session_workspace):
    path = session_workspace / "ui-data" / "dirty.jsonl"
    rows = [_row(0, True), {**_row(1, False), "input": ""},
            {**_row(2, True), "reason": "冒充\x1b[31m客服\x00"}, _row(3, False),
            {**_row(4, True), "input": "  "}]
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    dirty = load_dataset(session_workspace, "ui-data/dirty.jsonl", language="en")
    assert dirty.size == 3 and [problem.line for problem in dirty.problems] == [2, 5]
    summary = tab_data.summary_text(dirty, "en")
    assert "`ui-data/dirty.jsonl`: 2 bad row(s) skipped (line(s) 2, 5)" in summary
    assert "1 value(s) cleaned" in summary
    table = tab_data.problems_table(dirty, "en")
    assert list(zip(table["line"], table["field"])) == [(2, "input"), (5, "input"), (3, "reason")]
    assert table["problem"].iloc[2].startswith("cleaned: removed 2 control character(s)")
    assert "冒充客服" in [record.reason for record in dirty.splits["dirty"]]
    assert "跳过 2 个坏行（第 2, 5 行）" in tab_data.summary_text(dirty, "zh")


def test_a_large_load_does_not_hold_up_another_sessions_quick_load(session_workspace, monkeypatch):
    """Data events have no queue limit; large files are read one at a time, small ones at once."""
    from lab import state

    folder = session_workspace / "ui-data"
    padding = "好" * 4000  # 12 kB a row: 800 rows are a large file
    for name in ("big-a", "big-b"):
        rows = [_row(index, index % 2 == 0, f"甲: {padding}{name}{index}\n乙: 好") for index in range(800)]
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (folder / f"{name}.jsonl").write_text(text, encoding="utf-8")
    assert (folder / "big-a.jsonl").stat().st_size > state.LARGE_FILE_BYTES
    real_load, gate, entered = state.load_records, threading.Event(), []

    def slow_for_large_files(path, strict=True, mapping=None):
        if Path(path).name.startswith("big"):
            entered.append(Path(path).name)
            assert gate.wait(60)
        return real_load(path, strict=strict, mapping=mapping)

    monkeypatch.setattr(state, "load_records", slow_for_large_files)
    results = {}

    def load(name, choice):
        results[name] = load_dataset(session_workspace, choice, language="en")

    first = threading.Thread(target=load, args=("a", "ui-data/big-a.jsonl"))
    first.start()
    deadline = time.time() + 60
    while not entered and time.time() < deadline:
        time.sleep(0.01)
    second = threading.Thread(target=load, args=("b", "ui-data/big-b.jsonl"))
    second.start()
    quick = threading.Thread(target=load, args=("demo", "demo"))
    quick.start()
    quick.join(60)
    assert "demo" in results and not gate.is_set()  # loaded while the large file is still being read
    assert entered == ["big-a.jsonl"]  # the second large file waits for the first
    gate.set()
    first.join(60)
    second.join(60)
    assert entered == ["big-a.jsonl", "big-b.jsonl"] and results["a"].size == results["b"].size == 800
    # The page's events: reading and showing a dataset has no queue limit; tokenizing has its own.
    from lab.app import build_app

    events = {}
    for function in build_app(session_workspace).fns.values():
        if getattr(function.fn, "__module__", "") == "lab.tab_data":
            events.setdefault(function.fn.__name__, []).append(function)
    for name in ("choose_dataset", "apply_mapping", "propose_label_names", "view_outputs", "run_audit"):
        assert events[name], name
        for function in events[name]:
            assert (function.concurrency_id, function.concurrency_limit) == ("data-view", None), name
    (tokens,) = events["tokens"]
    assert (tokens.concurrency_id, tokens.concurrency_limit) == ("data-tokens", 1)


def test_search_label_filter_and_paging(dataset):
    table, page, info = tab_data.rows_page(dataset, "all", "all", "alert(1)", 1, "en")
    assert len(table) == 4 and page == 1  # 3 rows in sample + 1 copy in other
    assert all("alert(1)" in text for text in table["dialogue"])
    assert info == "Page 1/1, 4 matching rows"

    table, _, _ = tab_data.rows_page(dataset, "false", "sample", "", 1, "en")
    assert len(table) == 17 and set(table["label"]) == {"normal"}

    table, page, info = tab_data.rows_page(dataset, "all", "all", "", 2, "en")
    assert page == 2 and len(table) == 35 - 20 and list(table["row"])[:3] == [20, 21, 22]
    # A page past the end shows the last page.
    _, page, info = tab_data.rows_page(dataset, "all", "all", "", 9, "en")
    assert page == 2 and info == "Page 2/2, 35 matching rows"
    # Search is case-insensitive and covers fraud_speaker and reason.
    table, _, _ = tab_data.rows_page(dataset, "all", "sample", "冒充客服", 1, "en")
    assert len(table) == 13


def test_overlap_and_duplicates(dataset):
    table = tab_data.overlap_table(dataset, "en")
    sample = table[table["split"] == "sample"].iloc[0]
    other = table[table["split"] == "other"].iloc[0]
    assert sample["duplicate rows"] == 1  # rows 27 and 28 are the same dialogue
    assert other["also in sample"] == 3
    assert sample["also in other"] == 4  # rows 1, 2, 27 and 28


def test_turns_and_speakers_per_dialogue():
    dialogue = "张三: 你好\n李四: 你好\n继续上一句\n张三: 再见"
    assert dialogue_speakers(dialogue) == ["张三", "李四", "张三"]
    frame = records_frame({"a": [Record(input=dialogue, label=True),
                                 Record(input="没有发言人的一段话", label=False)]})
    assert list(frame["turns"]) == [3, 1] and list(frame["speakers"]) == [2, 0]


def test_html_from_the_tab_is_escaped(dataset, session_workspace):
    future = tab_data.start_audit(dataset)
    assert future is not None, "core.audit.report should be importable"
    future.result(timeout=120)
    outputs = [tab_data.audit_status(dataset, "en")[0], tab_data.audit_status(dataset, "zh")[0],
               tab_data._note(SCRIPT)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in outputs[0]  # the duplicate example shows the text
    for text in outputs:
        assert "<script" not in text and "<img" not in text
    # Tables carry raw text, and every Dataframe of the page renders cells as plain strings.
    table, _, _ = tab_data.rows_page(dataset, "all", "sample", "onerror", 1, "en")
    assert IMAGE in table["dialogue"].iloc[0]
    from lab.app import build_app

    app = build_app(session_workspace)
    frames = [component for component in app.config["components"] if component["type"] == "dataframe"]
    assert frames and all(component["props"]["datatype"] == "str" for component in frames)


@pytest.mark.parametrize("path", ["/etc/passwd", "../../x", "ui-data/../../outside.jsonl"])
def test_paths_outside_the_workspace_are_refused(session_workspace, path):
    with pytest.raises(gr.Error, match="outside"):
        load_dataset(session_workspace, path, language="en")


def test_a_link_out_of_the_workspace_is_refused(session_workspace):
    link = session_workspace / "ui-data" / "passwd.jsonl"
    if not link.is_symlink():
        link.symlink_to("/etc/passwd")
    with pytest.raises(gr.Error, match="outside"):
        load_dataset(session_workspace, "ui-data/passwd.jsonl", language="en")
    assert "ui-data/passwd.jsonl" not in dataset_choices(session_workspace)


def test_uploads_are_copied_into_the_workspace(session_workspace, tmp_path, data_files):
    source = tmp_path / "my data (1).jsonl"
    source.write_bytes(data_files["other"].read_bytes())
    saved = save_upload(source, session_workspace)
    assert saved.parent == session_workspace / "uploads" and saved.name == "my_data__1_.jsonl"
    assert saved.read_bytes() == source.read_bytes()
    assert save_upload(source, session_workspace) == saved  # same content: no second copy
    source.write_text(json.dumps(_row(1, True), ensure_ascii=False) + "\n", encoding="utf-8")
    assert save_upload(source, session_workspace).name == "my_data__1_-1.jsonl"
    assert "uploads/my_data__1_.jsonl" in dataset_choices(session_workspace)
    bad = tmp_path / "notes.txt"
    bad.write_text("x", encoding="utf-8")
    with pytest.raises(gr.Error, match="only"):
        save_upload(bad, session_workspace, "en")


def test_a_refused_load_says_why_and_keeps_the_dataset_shown(session_workspace, data_files):
    """The Load button on a refused path: the reason in the message, nothing else changed (no gr.Error,
    whose red pills would stay over the filters); the next good load clears the message."""
    refused = tab_data.choose_dataset(session_workspace, "../../etc/passwd", "", "en")
    assert all(isinstance(value, dict) and value.get("__type__") == "update" and len(value) == 1
               for value in refused[:5]), refused[:5]  # gr.skip(): the chosen dataset stays
    assert "outside the workspace" in refused[5] and "lab-error" in refused[5]
    chosen = tab_data.choose_dataset(session_workspace, "ui-data/sample.jsonl", "", "en")
    assert chosen == ({"choice": "ui-data/sample.jsonl", "compare": "", "mapping": None}, "all", "all", "", 1,
                      "")


def test_the_split_filter_words_all_in_the_page_language(session_workspace, data_files):
    outputs = tab_data.view_outputs(session_workspace, {"choice": "ui-data/sample.jsonl", "compare": ""},
                                    "all", "all", "", 1, "zh")
    split_update = outputs[7]
    assert split_update["choices"][0] == ("全部", "all") and ("sample", "sample") in split_update["choices"]


def test_a_baseline_that_solves_the_test_set_is_the_highest_finding_and_says_what_it_means():
    from core.audit.baseline import BaselineReport
    from core.audit.findings import baseline_findings

    solved = BaselineReport(model="TF-IDF + LR", cv_folds=5, cv_accuracy=0.998, cv_accuracy_std=0.002,
                            cv_f1=0.998, cv_f1_std=0.002, test={"accuracy": 1.0, "f1": 1.0})
    [finding] = baseline_findings(solved)
    assert finding.severity == "high"
    zh = tab_data.finding_text(finding, "zh")
    assert "测试集准确率 1.000" in zh and "无法说明微调后的模型读懂了对话" in zh and "accuracy" not in zh
    assert "cannot show that a fine-tuned model understands" in tab_data.finding_text(finding, "en")
    hard = BaselineReport(model="TF-IDF + LR", cv_folds=5, cv_accuracy=0.80, cv_accuracy_std=0.02,
                          cv_f1=0.79, cv_f1_std=0.02, test={"accuracy": 0.855, "f1": 0.85})
    [finding] = baseline_findings(hard)
    assert finding.severity == "info" and "微调后的模型必须超过它" in tab_data.finding_text(finding, "zh")


def test_a_clicked_row_opens_in_full_with_its_line_breaks(session_workspace, dataset, data_files):
    table, _, _ = tab_data.rows_page(dataset, "all", "sample", "请转账", 1, "en")
    first = list(table.iloc[0])
    event = gr.SelectData(None, {"index": [0, 4], "value": first[4], "row_value": first})
    detail = tab_data.pick_row(session_workspace, {"choice": "ui-data/sample.jsonl",
                                                   "compare": "ui-data/other.jsonl"}, "en", event)
    row = data_files["rows"][int(first[1])]
    assert "<script" not in detail and "&lt;script&gt;" in detail
    import html

    assert html.escape(row["input"]) in detail and "\n" in row["input"]  # whole, line breaks kept
    assert f"sample, row {first[1]}" in detail and html.escape(row["reason"]) in detail
