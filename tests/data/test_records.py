"""Loading data files: good formats load, every kind of bad input is named by file, line and field."""
import json

import pytest

from core.data.records import DataError, load_records, parse_label
from core.data.splits import Splits, split_records

GOOD_ROW = {"instruction": "判断", "input": "张三: 你好\n李四: 请转账", "label": True,
            "fraud_speaker": "李四", "reason": "要求转账"}


def write(tmp_path, name, content, encoding="utf-8"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding=encoding)
    return path


@pytest.mark.parametrize("label,expected", [(True, True), (False, False), ("true", True), ("False", False),
                                            ("是", True), ("否", False), (1, True), (0, False),
                                            ("1", True), ("0", False)])
def test_label_spellings(label, expected):
    assert parse_label(label) is expected


def test_jsonl_json_list_and_csv_load_the_same_rows(tmp_path):
    rows = [GOOD_ROW, {"input": "王五: 开会", "label": "否"}]
    jsonl = write(tmp_path, "a.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    json_list = write(tmp_path, "a.json", json.dumps(rows, ensure_ascii=False, indent=2))
    csv_text = ("instruction,input,label,fraud_speaker,reason\n"
                "判断,\"张三: 你好\n李四: 请转账\",true,李四,要求转账\n,王五: 开会,否,,\n")
    csv_file = write(tmp_path, "a.csv", csv_text)
    loaded = [load_records(path).records for path in (jsonl, json_list, csv_file)]
    for records in loaded:
        assert [r.to_dict() for r in records] == [r.to_dict() for r in loaded[0]]
    assert loaded[0][1].label is False and loaded[0][1].fraud_speaker == "" and loaded[0][1].reason == ""
    assert [r.line for r in loaded[1]] == [2, 9]  # each list element keeps the line it starts on
    assert [r.line for r in loaded[2]] == [2, 4]  # a multi-line CSV cell does not shift the next row


def test_speaker_list_is_joined_and_bom_loads(tmp_path):
    row = dict(GOOD_ROW, fraud_speaker=["李四", "赵六"])
    path = write(tmp_path, "bom.jsonl", ("\ufeff" + json.dumps(row, ensure_ascii=False)).encode("utf-8"))
    record = load_records(path).records[0]
    assert record.fraud_speaker == "李四,赵六"
    assert record.input.startswith("张三")


# Broken files, one per kind, with the outcome of each: tests/test_bad_input.py.


def test_strict_reports_every_problem_lenient_keeps_good_rows(tmp_path):
    lines = ['{"input": "a", "label": true}', '{"input": "b"}', 'nope', '{"input": "c", "label": "否"}',
             '{"label": 2}']
    path = write(tmp_path, "mixed.jsonl", "\n".join(lines))
    with pytest.raises(DataError) as raised:
        load_records(path, strict=True)
    assert [(p.line, p.field) for p in raised.value.problems] == [(2, "label"), (3, ""), (5, "input"),
                                                                  (5, "label")]
    assert f"{path}:2: label: missing" in str(raised.value)
    result = load_records(path, strict=False)
    assert [r.input for r in result.records] == ["a", "c"]
    assert [r.line for r in result.records] == [1, 4]
    assert len(result.problems) == 4


def test_json_list_rows_keep_their_lines_over_many_rows(tmp_path):
    # Line numbers are counted once through the file (a count from the start per row was
    # quadratic); they must still be exact at the end of a long, unevenly indented list.
    rows = [dict(input=f"行{i}" + "\n" * (i % 3), label=i % 2 == 0) for i in range(3000)]
    parts, line = ["["], 2
    expected = []
    for index, row in enumerate(rows):
        text = json.dumps(row, ensure_ascii=False, indent=index % 4 or None)
        expected.append(line)
        parts.append(text + ("," if index < len(rows) - 1 else ""))
        line += text.count("\n") + 1
    path = write(tmp_path, "long.json", "\n".join(parts + ["]"]))
    result = load_records(path)
    assert [record.line for record in result.records] == expected
    assert [record.input for record in result.records] == [row["input"] for row in rows]


def test_lenient_load_names_the_skipped_lines_and_cleaned_values(tmp_path):
    lines = ['{"input": "a", "label": true}', '{"input": "", "label": true}',
             '{"input": "b\\u001b[1m", "label": 0}',
             '{"input": "c", "label": "否", "input": "d"}']
    path = write(tmp_path, "some-bad.jsonl", "\n".join(lines))
    result = load_records(path, strict=False)
    assert [record.input for record in result.records] == ["a", "b"]
    assert result.skipped_lines == [2, 4]
    assert [(w.line, w.field) for w in result.warnings] == [(3, "input")]
    text = result.skipped_text()
    assert text.startswith(f"skipped 2 bad row(s) of {path} (lines 2, 4); 2 good rows are used")
    assert f"{path}:4: input: given more than once" in text


def test_stratified_split_is_seeded_and_saved(tmp_path):
    rows = [dict(input=f"行{i}", label=i % 3 == 0) for i in range(300)]
    path = write(tmp_path, "rows.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    records = load_records(path).records
    first = split_records(records, 0.1, 0.2, seed=7)
    assert first == split_records(records, 0.1, 0.2, seed=7)
    assert first != split_records(records, 0.1, 0.2, seed=8)
    assert sorted(first.train + first.validation + first.test) == list(range(300))
    assert (len(first.train), len(first.validation), len(first.test)) == (210, 30, 60)
    for part in ("train", "validation", "test"):
        share = sum(r.label for r in first.select(records, part)) / len(getattr(first, part))
        assert abs(share - 100 / 300) < 0.02
    first.save(tmp_path / "splits.json")
    assert Splits.load(tmp_path / "splits.json") == first
