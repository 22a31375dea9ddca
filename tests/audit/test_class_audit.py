"""The audit of a dataset with label names (N classes): balance and length per class, each class's
label-giving words, the multinomial baseline recomputed by hand, duplicates between classes, and the
findings and text report worded for classes."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from core.audit.baseline import BASELINE_C, class_baseline_predictions
from core.audit.report import audit, format_report
from core.data.records import Record, load_records
from core.demo.reviews import LABEL_NAMES, MAPPING, ensure_review_dataset
from tests.audit.test_audit import FILLER

NAMES = ("甲类", "乙类", "丙类")
PLANTED = "兑换码"


@pytest.fixture(scope="module")
def review_splits(session_workspace) -> dict[str, list[Record]]:
    paths = ensure_review_dataset(session_workspace)
    return {split: load_records(paths[split], mapping=MAPPING).records for split in ("train", "test")}


@pytest.fixture(scope="module")
def review_report(review_splits):
    return audit(review_splits["train"], review_splits["test"], seed=0, label_names=MAPPING.label_names)


def noisy_rows(count: int, seed: int, planted_share: float = 0.0, start_line: int = 1) -> list[Record]:
    """Filler sentences with a random class each; the class's own characters appear with some noise,
    so a bag of n-grams learns it well but not perfectly; PLANTED in a share of class 2's rows."""
    rng = random.Random(seed)
    hints = ("东南", "西北", "上下")
    rows = []
    for index in range(count):
        label = rng.randrange(3)
        hint = hints[label] if rng.random() < 0.6 else rng.choice(hints)
        words = [rng.choice(FILLER) for _ in range(rng.randint(10, 20))]
        words.insert(rng.randrange(len(words)), hint)
        if label == 2 and rng.random() < planted_share:
            words.insert(rng.randrange(len(words)), PLANTED)
        rows.append(Record(input="".join(words) + "。", label=label, source="synthetic",
                           line=start_line + index))
    return rows


def test_review_balance_has_three_classes_adding_up_to_the_rows(review_report, review_splits):
    assert review_report.label_names == list(LABEL_NAMES)
    assert review_report.speakers is None and review_report.label_words is None
    for split in review_report.balance:
        rows = review_splits[split.split]
        assert list(split.counts) == list(LABEL_NAMES)
        assert sum(split.counts.values()) == split.rows == len(rows)
        for index, name in enumerate(LABEL_NAMES):
            assert split.counts[name] == sum(row.label == index for row in rows)
            assert split.shares[name] == pytest.approx(split.counts[name] / len(rows))
    json.dumps(review_report.to_dict(), ensure_ascii=False)  # the page and --json can save it


def test_review_lengths_per_class_and_a_length_only_classifier(review_report, review_splits):
    length = review_report.length_chars
    for split, rows in review_splits.items():
        assert list(length.stats[split]) == list(LABEL_NAMES)
        for index, name in enumerate(LABEL_NAMES):
            lengths = [len(row.input) for row in rows if row.label == index]
            assert length.raw[split][name] == lengths
            assert length.stats[split][name].mean == pytest.approx(np.mean(lengths))
    # The review classes share their lengths: length alone stays near the majority rate (1/3).
    assert length.majority_rate == pytest.approx(1 / 3)
    assert 0.0 <= length.cv_accuracy < length.majority_rate + 0.15
    assert length.label_above in LABEL_NAMES
    assert not any(finding.kind == "length" and finding.severity in ("high", "medium")
                   for finding in review_report.findings)


def test_review_words_and_baseline_find_the_opinion_phrases(review_report, review_splits):
    from core.demo.reviews import OPINIONS

    words = review_report.class_words
    assert list(words.by_class) == list(LABEL_NAMES)
    for name, terms in words.by_class.items():
        assert terms and all(term.z_score > 0 for term in terms)
        assert any(term.term.strip("，。！") in "|".join(OPINIONS[name]) for term in terms[:5]), name
    baseline = review_report.baseline
    assert baseline.average == "macro" and 0.0 <= baseline.cv_accuracy <= 1.0
    assert baseline.test["accuracy"] > 1 / 3 + 0.3  # far above chance: the opinion words give it away
    gold = [row.label for row in review_splits["test"]]
    predicted = baseline.test_predictions
    assert len(predicted) == len(gold) and set(predicted) <= {0, 1, 2}
    assert baseline.test["accuracy"] == pytest.approx(np.mean(np.array(predicted) == np.array(gold)))
    assert baseline.test["f1"] == pytest.approx(f1_score(gold, predicted, average="macro"))
    if baseline.test["accuracy"] >= 0.95:  # a baseline that solves the test set is still a high finding
        finding = next(finding for finding in review_report.findings if finding.kind == "baseline")
        assert finding.severity == "high" and "macro-F1" in finding.message
        assert finding.details["average"] == "macro"


def test_review_text_report_names_every_class(review_report):
    text = format_report(review_report)
    for name in LABEL_NAMES:
        assert f"{name} {review_report.balance[0].counts[name]} (" in text
        assert f"  {name} ({review_report.class_words.counts[name]} training rows)" in text
    assert "Speakers" not in text and "macro-F1" in text


def test_a_word_planted_in_one_class_tops_that_class_and_its_figures_are_right():
    rows = noisy_rows(450, seed=1, planted_share=0.7)
    report = audit(rows, seed=0, label_names=NAMES)
    words = report.class_words
    top = words.by_class["丙类"][0]
    assert top.term == PLANTED
    assert all(term.term != PLANTED for name in ("甲类", "乙类") for term in words.by_class[name])
    labels = np.array([row.label for row in rows])
    present = np.array([PLANTED in row.input for row in rows])
    in_class = labels == 2
    assert (top.positives, top.negatives) == (int((present & in_class).sum()), 0)
    assert top.precision == 1.0 and top.coverage == pytest.approx(top.positives / in_class.sum())
    # present -> 丙类; absent -> the larger side of the rest ("another class" here)
    absent_right = max(int((~present & in_class).sum()), int((~present & ~in_class).sum()))
    best = words.best_rules["丙类"]
    assert best.term == PLANTED
    assert best.rule_accuracy == pytest.approx((top.positives + absent_right) / len(rows))
    finding = next(f for f in report.findings if f.kind == "label_word" and f.details.get("term") == PLANTED)
    assert finding.severity in ("high", "medium") and finding.details["class"] == "丙类"
    assert "points to class 丙类 in 100% of its rows" in finding.message
    assert finding.details["precision"] == 1.0


def test_the_multinomial_baseline_equals_a_hand_fitted_vectorizer_and_model():
    train, test = noisy_rows(360, seed=2), noisy_rows(120, seed=3)
    report = audit(train, test, seed=0, label_names=NAMES)
    # What the baseline's docstring promises: a TfidfVectorizer fitted on the training rows alone.
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True,
                                 lowercase=True)
    features = vectorizer.fit_transform([row.input for row in train])
    model = LogisticRegression(C=BASELINE_C, max_iter=1000, random_state=0)
    model.fit(features, [row.label for row in train])
    by_hand = model.predict(vectorizer.transform([row.input for row in test]))
    gold = np.array([row.label for row in test])
    agree = np.mean(by_hand == np.array(report.baseline.test_predictions))
    assert agree >= 0.98, agree
    predicted = np.array(report.baseline.test_predictions)
    assert report.baseline.test["accuracy"] == pytest.approx(np.mean(predicted == gold))
    assert abs(report.baseline.test["accuracy"] - np.mean(by_hand == gold)) <= 0.02
    assert 0.45 < report.baseline.test["accuracy"] < 0.95  # learnable from the hints, not solved
    # The Evaluate view's baseline is the same fit.
    labels, probabilities = class_baseline_predictions(train, test, 3)
    assert labels == report.baseline.test_predictions
    assert all(sum(row) == pytest.approx(1.0) for row in probabilities)


def test_duplicates_with_different_classes_are_conflicts():
    rows = noisy_rows(60, seed=4)
    copy = Record(input=rows[0].input, label=(rows[0].label + 2) % 3, source="synthetic", line=61)
    test = [Record(input=rows[1].input, label=(rows[1].label + 1) % 3, source="synthetic", line=1)]
    report = audit(rows + [copy], test, seed=0, label_names=NAMES)
    assert report.duplicates.splits["train"].exact_conflicting_groups == 1
    assert report.duplicates.cross.exact_conflicting_rows == 1
    messages = [finding.message for finding in report.findings if finding.kind == "duplicates"]
    assert any("with different labels" in message for message in messages), messages
    example = next(pair for pair in report.duplicates.examples if pair.conflict)
    assert {example.first.label, example.second.label} <= {0, 1, 2}
    assert f"({NAMES[copy.label]})" in format_report(report)


def test_an_empty_class_is_high_and_a_bad_label_names_its_line():
    rows = [row for row in noisy_rows(90, seed=5) if row.label != 1]
    report = audit(rows, seed=0, label_names=NAMES)
    finding = next(f for f in report.findings if f.kind == "balance")
    assert finding.severity == "high" and "乙类" in finding.message and finding.details["empty"] == ["乙类"]
    bad = [Record(input="一", label=0, source="data.jsonl", line=1),
           Record(input="二", label=3, source="data.jsonl", line=7)]
    with pytest.raises(ValueError, match=r"data.jsonl:7: label: .*class index 0-2"):
        audit(bad, label_names=NAMES)
    with pytest.raises(ValueError, match=r"data.jsonl:1: label: .*bool label"):
        audit(bad)  # the fraud schema refuses class indices
