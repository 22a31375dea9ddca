"""Datasets of other shapes load through a column mapping: text column, label column, label names."""
from __future__ import annotations

import json

import pytest

from core.config.schema import RunConfig
from core.config.text import config_from_yaml, to_yaml
from core.data.mapping import FRAUD, DataMapping, mapping_of, propose_mapping
from core.data.records import DataError, load_records


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def test_csv_review_label_zero_one_loads_through_the_proposed_mapping(tmp_path):
    path = tmp_path / "chnsenticorp.csv"
    path.write_text("label,review\n1,房间干净，服务很好\n0,\"太吵了，不会再来\"\n1,早餐丰富\n",
                    encoding="utf-8")
    mapping = propose_mapping(path)
    assert mapping == DataMapping(text_column="review", label_column="label", label_names=("0", "1"))
    records = load_records(path, mapping=mapping).records
    assert [record.input for record in records] == ["房间干净，服务很好", "太吵了，不会再来", "早餐丰富"]
    assert [record.label for record in records] == [1, 0, 1]
    assert [record.line for record in records] == [2, 3, 4]
    assert load_records(path, mapping=mapping).label_counts(mapping.names) == {"0": 1, "1": 2}


def test_jsonl_text_label_human_chatgpt_loads_and_names_are_editable(tmp_path):
    path = _jsonl(tmp_path / "hc3.jsonl", [
        {"text": "我觉得这个问题要看情况。", "label": "human", "source": "zhihu"},
        {"text": "作为一个人工智能，我认为……", "label": "chatgpt", "source": "zhihu"},
        {"text": "随便说说。", "label": "Human", "source": "baike"}])
    mapping = propose_mapping(path)
    assert (mapping.text_column, mapping.label_column) == ("text", "label")
    assert sorted(name.lower() for name in mapping.label_names) == ["chatgpt", "human"]
    # The user orders the classes: human = 0, chatgpt = 1; label spellings match case-insensitively.
    edited = DataMapping("text", "label", ("human", "chatgpt"))
    assert [record.label for record in load_records(path, mapping=edited).records] == [0, 1, 0]


def test_bad_values_name_file_line_and_column(tmp_path):
    path = _jsonl(tmp_path / "hc3.jsonl", [
        {"text": "好的", "label": "human"},
        {"text": "嗯", "label": "robot"},
        {"text": 5, "label": "chatgpt"},
        {"label": "human"}])
    mapping = DataMapping("text", "label", ("human", "chatgpt"))
    with pytest.raises(DataError) as caught:
        load_records(path, mapping=mapping)
    problems = {(problem.line, problem.field) for problem in caught.value.problems}
    assert problems == {(2, "label"), (3, "text"), (4, "text")}
    assert all(problem.file == str(path) for problem in caught.value.problems)
    assert "robot" in str(caught.value) and "human, chatgpt" in str(caught.value)
    lenient = load_records(path, strict=False, mapping=mapping)
    assert [record.line for record in lenient.records] == [1]
    csv_path = tmp_path / "reviews.csv"
    csv_path.write_text("label,comment\n1,好\n", encoding="utf-8")
    with pytest.raises(DataError, match="no review column"):
        load_records(csv_path, mapping=DataMapping("review", "label", ("0", "1")))


def test_fraud_files_are_proposed_the_fraud_schema(tmp_path, demo_splits):
    assert propose_mapping(demo_splits["train"]) == FRAUD
    fraud = load_records(demo_splits["train"], mapping=FRAUD).records
    assert fraud == load_records(demo_splits["train"]).records


def test_mapping_rejects_fewer_than_two_or_repeated_names():
    with pytest.raises(ValueError, match="two"):
        DataMapping("text", "label", ("only",))
    with pytest.raises(ValueError, match="twice"):
        DataMapping("text", "label", ("a", "A"))
    with pytest.raises(ValueError, match="both"):
        DataMapping("text", "text", ("a", "b"))


def test_data_keys_of_run_config_round_trip_through_yaml():
    cfg = RunConfig()
    assert mapping_of(cfg.data) == FRAUD
    cfg.data.text_column, cfg.data.label_column, cfg.data.label_names = "review", "label", ["0", "1"]
    again = config_from_yaml(to_yaml(cfg))
    assert mapping_of(again.data) == DataMapping("review", "label", ("0", "1"))
