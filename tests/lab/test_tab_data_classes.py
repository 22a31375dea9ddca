"""Data tab on datasets with label names: the columns detected and edited, charts, filters and rows
per class, the mapping's training command, a bad mapping said without losing the dataset shown."""
from __future__ import annotations

import html
import json
from collections import Counter

import pytest

from core.config.checks import validate
from core.config.schema import RunConfig
from core.config.text import apply_overrides
from core.data.mapping import DataMapping
from core.demo.reviews import DEMO_REVIEWS, LABEL_NAMES, ensure_review_dataset
from lab import tab_data
from lab.resolve import dataset_choices

REVIEWS = {"choice": DEMO_REVIEWS, "compare": "", "mapping": None}
SUMMARY, LABEL_PLOT, PRESENCE, SHAPE, TABLE, PAGE_INFO = 0, 2, 3, 5, 8, 10
LABEL_FILTER, TEXT_COLUMN, LABEL_COLUMN, NAMES, NOTE = 14, 15, 16, 17, 18


def _view(workspace, value, label="all", split="all", search="", language="zh"):
    outputs = tab_data.view_outputs(workspace, value, label, split, search, 1, language)
    assert len(outputs) == tab_data.VIEW_OUTPUTS
    return outputs


def _file_labels(workspace) -> dict[str, Counter]:
    files = ensure_review_dataset(workspace)
    return {split: Counter(json.loads(line)["label"] for line in path.read_text("utf-8").splitlines())
            for split, path in files.items()}


def test_the_review_demo_is_offered_and_shows_three_classes_counted_from_its_files(session_workspace):
    assert dataset_choices(session_workspace)[:2] == ["demo", DEMO_REVIEWS]
    outputs = _view(session_workspace, REVIEWS)
    counted = _file_labels(session_workspace)
    bars = outputs[LABEL_PLOT].data
    assert [bar.name for bar in bars] == list(LABEL_NAMES)
    for bar in bars:
        assert dict(zip(bar.x, bar.y)) == {split: counts[bar.name] for split, counts in counted.items()}
    for split, counts in counted.items():
        assert f"{sum(counts.values())} 行，" + " · ".join(f"{name} {counts[name]}" for name in LABEL_NAMES) \
            in outputs[SUMMARY]
    # Speakers and dialogue shape belong to the fraud schema's dialogues: hidden here.
    assert outputs[PRESENCE] == {"__type__": "update", "visible": False}
    assert outputs[SHAPE] == {"__type__": "update", "visible": False}
    # The mapping controls hold what the demo is read with.
    assert outputs[TEXT_COLUMN]["value"] == "review" and outputs[LABEL_COLUMN]["value"] == "label"
    assert outputs[TEXT_COLUMN]["choices"] == ["review", "label"]
    assert outputs[NAMES] == "正面, 中性, 负面"


def test_rows_filter_by_class_and_show_text_without_fraud_columns(session_workspace):
    outputs = _view(session_workspace, REVIEWS, label="2", split="test", language="en")
    assert outputs[LABEL_FILTER]["choices"] == [("all", "all"), ("正面", "0"), ("中性", "1"), ("负面", "2")]
    table = outputs[TABLE]["value"]
    assert list(table.columns) == ["split", "row", "label", "text"]
    assert outputs[TABLE]["column_widths"] == tab_data.CLASS_WIDTHS
    assert set(table["label"]) == {"负面"} and set(table["split"]) == {"test"}
    expected = _file_labels(session_workspace)["test"]["负面"]
    assert f"{expected} matching rows" in outputs[PAGE_INFO]
    detail = tab_data.row_detail_html(tab_data.dataset_of(session_workspace, REVIEWS, "en"), "test",
                                      int(table["row"].iloc[0]), "en")
    assert "负面" in detail and "fraud_speaker" not in detail


def test_the_shown_training_command_validates_with_the_same_mapping(session_workspace):
    note = _view(session_workspace, REVIEWS, language="en")[NOTE]
    command = note.split("`")[-2]
    assert command.startswith("python -m lab train ")
    overrides = command.split("--set ")[1:]
    cfg = apply_overrides(RunConfig(), [item.strip() for item in overrides])
    assert (cfg.data.text_column, cfg.data.label_column, tuple(cfg.data.label_names)) == (
        "review", "label", LABEL_NAMES)
    assert validate(cfg, session_workspace, deep=False) is cfg


@pytest.fixture()
def review_csv(session_workspace):
    """A ChnSentiCorp-shaped CSV (review, label 0/1) with a third column a user might pick instead."""
    folder = session_workspace / "ui-classes"
    folder.mkdir(exist_ok=True)
    rows = ["review,label,source"] + [f"第{index}条评论{'很好' if index % 2 else '很差'},{index % 2},"
                                      f"{'web' if index % 3 else 'app'}" for index in range(40)]
    path = folder / "senti.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return "ui-classes/senti.csv"


def test_a_file_loads_with_its_detected_columns_then_an_edited_mapping(session_workspace, review_csv):
    value, *_ = tab_data.choose_dataset(session_workspace, review_csv, "", "en")
    assert value["mapping"] is None  # Load detects the columns anew
    outputs = _view(session_workspace, value, language="en")
    assert outputs[TEXT_COLUMN]["choices"] == ["review", "label", "source"]
    assert (outputs[TEXT_COLUMN]["value"], outputs[LABEL_COLUMN]["value"], outputs[NAMES]) == (
        "review", "label", "0, 1")
    assert [bar.name for bar in outputs[LABEL_PLOT].data] == ["0", "1"]
    assert [int(sum(bar.y)) for bar in outputs[LABEL_PLOT].data] == [20, 20]
    # Another label column: its own values are proposed, then applied.
    assert tab_data.propose_label_names(session_workspace, value, "source", "en") == "app, web"
    edited, *_ = tab_data.apply_mapping(session_workspace, value, "review", "source", "web, app", "en")
    assert edited["mapping"] == {"text_column": "review", "label_column": "source", "label_names": "web, app"}
    dataset = tab_data.dataset_of(session_workspace, edited, "en")
    assert dataset.mapping == DataMapping("review", "source", ("web", "app"))
    apps = sum(1 for index in range(40) if index % 3 == 0)
    assert Counter(record.label for record in dataset.splits["senti"]) == {0: 40 - apps, 1: apps}
    assert [bar.name for bar in _view(session_workspace, edited)[LABEL_PLOT].data] == ["web", "app"]


def test_a_mapping_that_cannot_work_is_said_and_the_shown_dataset_stays(session_workspace, review_csv):
    value, *_ = tab_data.choose_dataset(session_workspace, review_csv, "", "en")
    outputs = tab_data.apply_mapping(session_workspace, value, "review", "review", "0, 1", "en")
    assert all(output.get("__type__") == "update" and len(output) == 1 for output in outputs[:5])  # skips
    assert "cannot both be column" in outputs[5]
    outputs = tab_data.apply_mapping(session_workspace, value, "review", "label", "", "en")
    assert "need their label names" in outputs[5]


def test_class_names_from_a_file_are_escaped_in_charts_summary_and_note(session_workspace):
    folder = session_workspace / "ui-classes"
    folder.mkdir(exist_ok=True)
    names = ["<b>好</b>", "`坏`"]
    path = folder / "html.jsonl"
    path.write_text("".join(json.dumps({"text": f"文本{index}", "label": names[index % 2]},
                                       ensure_ascii=False) + "\n" for index in range(10)), encoding="utf-8")
    outputs = _view(session_workspace, {"choice": "ui-classes/html.jsonl", "compare": "", "mapping": None})
    assert [bar.name for bar in outputs[LABEL_PLOT].data] == ["&lt;b&gt;好&lt;/b&gt;", "`坏`"]
    for text in (outputs[SUMMARY], outputs[NOTE]):
        assert "<b>" not in text and "&lt;b&gt;" in text


def test_the_audit_of_the_review_demo_shows_each_classs_own_words(session_workspace):
    dataset = tab_data.dataset_of(session_workspace, REVIEWS, "en")
    report = tab_data.start_audit(dataset).result(timeout=120)
    assert report.class_words is not None and list(report.class_words.by_class) == list(LABEL_NAMES)
    shown = tab_data.audit_html(report, "en")
    assert "terms pointing to it" in shown
    # Each class's top term comes from that class's opinion phrases (core.demo.reviews.OPINIONS) and
    # mostly its rows hold it: products, aspects and tails are shared by every class.
    from core.demo.reviews import OPINIONS

    for name, terms in report.class_words.by_class.items():
        top = terms[0]
        assert any(top.term in phrase for phrase in OPINIONS[name]), (name, top.term)
        assert top.precision >= 0.6, (name, top)  # chance is 1/3
        assert f"「{html.escape(top.term)}」" in shown
    # A TF-IDF baseline that solves the demo is a high finding.
    assert any(finding.kind == "baseline" and finding.severity == "high" for finding in report.findings)


def test_tokenize_answers_a_review_row_with_its_class_name_and_draws_lengths_per_class(session_workspace,
                                                                                        tiny_model_dir):
    from core.config.schema import DataSection
    from lab import tab_tokenize

    dataset = tab_data.dataset_of(session_workspace, REVIEWS, "en")
    record = dataset.splits["train"][0]
    request = tab_tokenize.TokenizeRequest(split="train", index=0, prompt=DataSection())
    view = tab_tokenize.tokenize(session_workspace, REVIEWS, request, "en")
    # The trained tokens are the class name's answer, as training encodes it (no is_fraud).
    assert f'{{"label": "{LABEL_NAMES[record.label]}"}}' in view.chat and "is_fraud" not in view.chat
    assert record.input in view.chat
    figure, _ = tab_tokenize.length_histogram(session_workspace, REVIEWS, request, "en")
    assert [trace.name for trace in figure.data] == list(LABEL_NAMES)
    assert sum(len(trace.x) for trace in figure.data) == dataset.size
