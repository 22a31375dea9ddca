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


BROKEN = [
    ("empty.jsonl", "", 0, "", "the file is empty"),
    ("blank.jsonl", "\n \n", 0, "", "the file is empty"),
    ("gbk.jsonl", "你好".encode("gbk"), 1, "", "not UTF-8"),
    ("notjson.jsonl", '{"input": "a", "label": true}\n{oops\n', 2, "", "not valid JSON"),
    ("noinput.jsonl", '{"label": true}\n', 1, "input", "missing"),
    ("nolabel.jsonl", '{"input": "a"}\n', 1, "label", "missing"),
    ("badlabel.jsonl", '{"input": "a", "label": "maybe"}\n', 1, "label", "unknown label value 'maybe'"),
    ("numberinput.jsonl", '{"input": 5, "label": true}\n', 1, "input", "expected text, found int 5"),
    ("badspeaker.jsonl", '{"input": "a", "label": true, "fraud_speaker": 3}\n', 1, "fraud_speaker",
     "expected text or a list of text"),
    ("notobject.jsonl", '[1, 2]\n', 1, "", "expected an object"),
    ("badlist.json", '[\n{"input": "a", "label": true},\n{"input": "b", "label": 7}\n]', 3, "label",
     "unknown label value 7"),
    ("unclosed.json", '[\n{"input": "a", "label": true},\n', 3, "", "not closed"),
    ("badcsv.csv", "input,label\nhello,maybe\n", 2, "label", "unknown label value"),
]


@pytest.mark.parametrize("name,content,line,field,message", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_files_name_file_line_and_field(tmp_path, name, content, line, field, message):
    path = write(tmp_path, name, content)
    with pytest.raises(DataError) as raised:
        load_records(path)
    problem = raised.value.problems[0]
    assert (problem.file, problem.line, problem.field) == (str(path), line, field)
    assert message in problem.message
    assert str(path) in str(raised.value)


def test_strict_reports_every_problem_lenient_keeps_good_rows(tmp_path):
    lines = ['{"input": "a", "label": true}', '{"input": "b"}', 'nope', '{"input": "c", "label": "否"}',
             '{"label": 2}']
    path = write(tmp_path, "mixed.jsonl", "\n".join(lines))
    with pytest.raises(DataError) as raised:
        load_records(path, strict=True)
    assert [(p.line, p.field) for p in raised.value.problems] == [(2, "label"), (3, ""), (5, "input"),
                                                                  (5, "label")]
    result = load_records(path, strict=False)
    assert [r.input for r in result.records] == ["a", "c"]
    assert [r.line for r in result.records] == [1, 4]
    assert len(result.problems) == 4


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
