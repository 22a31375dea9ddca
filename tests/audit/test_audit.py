"""The dataset audit finds planted shortcuts, length bias, speaker leaks and duplicates, stays
quiet on a clean dataset, and its figures match hand computations."""
from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from tests.paths import QWEN_TOKENIZER, SHARED_DATA, require_shared
from core.audit.report import audit, baseline_predictions, format_report
from core.audit.duplicates import NEAR_JACCARD, normalise
from core.audit.ngrams import char_ngram_matrix
from core.audit.words import log_odds_z, rank_char_ngrams, stump_accuracy
from core.data.records import Record, load_records

# Characters of the neutral filler; the planted word's characters are not among them.
FILLER = ("天地人你我他山水火木金土日月星云风雨花草鸟鱼车马书画歌舞春夏秋冬"
          "东西南北上下左右大小多少早晚前后高低")
NAMES = ["张伟", "李娜", "王强", "刘洋", "陈静", "杨磊", "赵敏", "黄军", "周涛", "吴芳"]


def sentence(rng: random.Random) -> str:
    return "".join(rng.choice(FILLER) for _ in range(rng.randint(8, 16))) + "。"


def dialogue(rng: random.Random, turns: int, names=NAMES) -> str:
    speakers = rng.sample(names, 2)
    return "\n".join(f"{speakers[turn % 2]}: {sentence(rng)}{sentence(rng)}" for turn in range(turns))


def clean_rows(count: int, seed: int, start_line: int = 1) -> list[Record]:
    """Labels drawn independently of the text: nothing should predict them."""
    rng = random.Random(seed)
    return [
        Record(input=dialogue(rng, rng.randint(3, 5)), label=rng.random() < 0.5, source="synthetic",
               line=start_line + index)
        for index in range(count)
    ]


def with_planted_word(rows: list[Record], word: str, share: float, seed: int) -> list[Record]:
    rng = random.Random(seed)
    positives = [index for index, row in enumerate(rows) if row.label]
    chosen = set(rng.sample(positives, int(round(share * len(positives)))))
    planted = []
    for index, row in enumerate(rows):
        text = row.input
        if index in chosen:
            position = rng.randrange(len(text))
            text = text[:position] + word + text[position:]
        planted.append(Record(input=text, label=row.label, source=row.source, line=row.line))
    return planted


def edit(text: str, rng: random.Random, changes: int) -> str:
    characters = list(text)
    for _ in range(changes):
        position = rng.randrange(len(characters))
        characters[position] = rng.choice(FILLER)
    return "".join(characters)


def shingles(text: str) -> set[str]:
    key = normalise(text)
    return {key[i : i + 3] for i in range(len(key) - 2)}


def hand_jaccard(first: str, second: str) -> float:
    a, b = shingles(first), shingles(second)
    return len(a & b) / len(a | b)


@pytest.fixture(scope="module")
def clean_report():
    train, test = clean_rows(600, seed=1), clean_rows(200, seed=2)
    return audit(train, test, seed=0)


def test_clean_dataset_raises_no_high_finding(clean_report):
    assert clean_report.high_findings() == [], format_report(clean_report)
    assert abs(clean_report.baseline.cv_accuracy - 0.5) < 0.1
    assert clean_report.duplicates.cross.exact_test_rows == 0
    assert clean_report.duplicates.cross.near_test_rows == 0
    json.dumps(clean_report.to_dict(), ensure_ascii=False)


def test_planted_word_ranks_first_and_its_figures_are_right():
    rows = with_planted_word(clean_rows(600, seed=3), "兑换码", 0.35, seed=4)
    report = audit(rows, seed=0)
    top = report.label_words.char_ngrams[0]
    assert top.term == "兑换码" and top.label is True

    labels = np.array([row.label for row in rows])
    present = np.array(["兑换码" in row.input for row in rows])
    positives = int(labels.sum())
    assert (top.positives, top.negatives) == (int((present & labels).sum()), 0)
    assert top.precision == 1.0
    assert top.coverage == pytest.approx(top.positives / positives)
    # present -> positive; absent -> the majority of the rest, which is negative here
    absent_correct = max(int((~present & labels).sum()), int((~present & ~labels).sum()))
    assert top.rule_accuracy == pytest.approx((top.positives + absent_correct) / len(rows))

    best = report.label_words.best_rule
    assert best.term == "兑换码"
    finding = next(f for f in report.findings if f.kind == "label_word" and "兑换码" in f.message)
    assert finding.severity in ("high", "medium")
    assert f"{100 * top.coverage:.0f}% of positive rows and in no negative row" in finding.message


def test_word_rule_metrics_on_a_hand_table():
    # term "甲" is in rows 0,1,2 (labels T,T,F); 8 rows, 4 positive.
    texts = ["甲乙", "甲丙", "甲丁", "乙丙", "丙丁", "乙丁", "丙乙", "丁丙"]
    labels = np.array([True, True, False, True, True, False, False, False])
    matrix = char_ngram_matrix(texts, 1, 4)
    ranked, best = rank_char_ngrams(matrix, matrix.binary(), np.arange(8), labels)
    score = next(s for s in ranked if s.term == "甲")
    assert (score.positives, score.negatives, score.label) == (2, 1, True)
    assert score.precision == pytest.approx(2 / 3)
    assert score.coverage == pytest.approx(2 / 4)
    # present: 2 of 3 right; absent rows: 2 positive, 3 negative -> predict negative, 3 right
    assert score.rule_accuracy == pytest.approx((2 + 3) / 8)
    assert stump_accuracy(np.array([2.0]), np.array([1.0]), 4, 4)[0] == pytest.approx(5 / 8)


def test_log_odds_z_matches_monroe_formula():
    positive = np.array([10.0, 0.0, 5.0, 30.0])
    negative = np.array([0.0, 12.0, 5.0, 28.0])
    alpha = 0.1 * (positive + negative) + 1e-3
    alpha_total, n_positive, n_negative = alpha.sum(), positive.sum(), negative.sum()
    expected = []
    for w in range(4):
        delta = (math.log((positive[w] + alpha[w]) / (n_positive + alpha_total - positive[w] - alpha[w]))
                 - math.log((negative[w] + alpha[w]) / (n_negative + alpha_total - negative[w] - alpha[w])))
        expected.append(delta / math.sqrt(1 / (positive[w] + alpha[w]) + 1 / (negative[w] + alpha[w])))
    assert log_odds_z(positive, negative) == pytest.approx(expected)
    z = log_odds_z(positive, negative)
    assert z[0] > 0 > z[1] and abs(z[2]) < abs(z[0])


def test_length_bias_is_high():
    rng = random.Random(5)
    rows = [
        Record(input=dialogue(rng, rng.randint(8, 12) if label else rng.randint(2, 4)), label=label,
               line=index + 1)
        for index, label in enumerate(rng.random() < 0.5 for _ in range(500))
    ]
    report = audit(rows, seed=0)
    length = report.length_chars
    assert length.cv_accuracy >= 0.9 and length.label_above is True
    lengths = np.array([len(row.input) for row in rows])
    labels = np.array([row.label for row in rows])
    assert length.stats["train"]["true"].mean == pytest.approx(lengths[labels].mean())
    assert length.stats["train"]["false"].median == pytest.approx(np.median(lengths[~labels]))
    # the cut point separates the classes about as well as the CV says
    assert ((lengths > length.threshold) == labels).mean() == pytest.approx(length.stump_accuracy)
    assert any(f.severity == "high" and f.kind == "length" for f in report.findings)


def test_speaker_names_only_in_one_class_are_a_high_leak():
    rng = random.Random(6)
    meeting = [f"发言人{number}" for number in range(1, 8)]
    rows = []
    for index in range(400):
        label = rng.random() < 0.5
        names = meeting if (not label and rng.random() < 0.7) else NAMES
        rows.append(Record(input=dialogue(rng, rng.randint(3, 5), names), label=label, line=index + 1))
    report = audit(rows[:300], rows[300:], seed=0)
    speakers = report.speakers
    assert "发言人N" in speakers.rule_patterns
    pattern = next(p for p in speakers.leaky if p.pattern == "发言人N")
    meeting_rows = [row for row in rows[:300] if "发言人" in row.input]
    assert (pattern.positives, pattern.negatives) == (0, len(meeting_rows))
    assert speakers.rule_cv_accuracy >= 0.75 and speakers.rule_test_accuracy >= 0.75
    assert any(f.severity == "high" and f.kind == "speaker" and "发言人N" in f.message
               for f in report.findings)


def test_planted_duplicates_inside_and_across_splits():
    rng = random.Random(7)
    train, test = clean_rows(300, seed=8), clean_rows(200, seed=9, start_line=1)
    # test rows 0-4: exact copies of train rows 0-4 (punctuation and spacing changed); row 0's label flipped
    for index in range(5):
        source = train[index]
        text = source.input.replace("。", "！").replace(": ", ":  ")
        label = (not source.label) if index == 0 else source.label
        test[index] = Record(input=text, label=label, line=test[index].line)
    # test rows 5-9: near copies of train rows 10-14
    for index in range(5):
        source = train[10 + index]
        test[5 + index] = Record(input=edit(source.input, rng, 3), label=source.label,
                                 line=test[5 + index].line)
        assert hand_jaccard(source.input, test[5 + index].input) >= NEAR_JACCARD
    # inside train: row 299 repeats row 20, row 298 is a near copy of row 21
    train[299] = Record(input=train[20].input, label=train[20].label, line=300)
    train[298] = Record(input=edit(train[21].input, rng, 2), label=train[21].label, line=299)

    report = audit(train, test, seed=0)
    duplicates = report.duplicates
    assert duplicates.cross.exact_test_rows == 5
    assert duplicates.cross.exact_conflicting_rows == 1
    assert duplicates.cross.near_test_rows == 5
    assert duplicates.splits["train"].exact_extra_rows == 1
    assert duplicates.splits["train"].near_pairs == 1 and duplicates.splits["train"].near_rows == 2
    assert duplicates.splits["test"].exact_extra_rows == 0
    shown = {(p.kind, p.first.split, p.first.line, p.second.split, p.second.line)
             for p in duplicates.examples}
    assert ("exact", "train", 1, "test", 1) in shown  # the conflicting pair is listed first
    assert duplicates.examples[0].conflict
    near_lines = {(p.first.line, p.second.line) for p in duplicates.examples
                  if p.kind == "near" and p.first.split != p.second.split}
    assert near_lines == {(11 + k, 6 + k) for k in range(5)}
    assert any(f.severity == "high" and f.kind == "duplicates" and "5 test rows" in f.message
               for f in report.findings)


def test_a_large_cluster_of_near_copies_is_searched_within_bounds(monkeypatch):
    import core.audit.duplicates as duplicates

    rng = random.Random(5)
    base = dialogue(rng, 8)
    texts = [normalise(edit(base, rng, 2)) for _ in range(600)]
    texts += [normalise(row.input) for row in clean_rows(200, 6)]
    pairs, similarity, capped = duplicates.near_pairs(texts, seed=0)
    assert not capped and len(pairs) > 0
    checked = random.Random(0).sample(range(len(pairs)), 200)
    for index in checked:  # every pair reported is a real near copy, measured exactly
        first, second = pairs[index]
        assert hand_jaccard(texts[first], texts[second]) == pytest.approx(similarity[index])
        assert similarity[index] >= NEAR_JACCARD
    assert set(pairs.ravel()) == set(range(600))  # each copy is found with some partner, nothing else
    # 600 copies have 179,700 true pairs; past the limit the search stops, and says so.
    monkeypatch.setattr(duplicates, "MAX_CANDIDATE_PAIRS", 2000)
    pairs, _, capped = duplicates.near_pairs(texts, seed=0)
    assert capped and len(pairs) <= 2000
    rows = [Record(input=text, label=index % 2 == 0, line=index + 1) for index, text in enumerate(texts)]
    report = duplicates.find_duplicates({"train": rows})
    assert report.near_search_capped and report.splits["train"].near_pairs <= 2000
    from core.audit.formatting import _duplicates

    assert "near counts are lower bounds" in "\n".join(_duplicates(report))


def test_baseline_predictions_match_the_audit_and_its_scores():
    train = with_planted_word(clean_rows(300, seed=10), "兑换码", 0.6, seed=11)
    test = with_planted_word(clean_rows(100, seed=12), "兑换码", 0.6, seed=13)
    report = audit(train, test, seed=0)
    labels, p_true = baseline_predictions(train, test)
    assert labels == report.baseline.test_predictions
    assert p_true == pytest.approx(report.baseline.test_p_true, abs=1e-4)
    gold = np.array([row.label for row in test])
    predicted = np.array(labels)
    assert report.baseline.test["accuracy"] == pytest.approx((predicted == gold).mean())
    true_positive = int((predicted & gold).sum())
    assert report.baseline.test["precision"] == pytest.approx(true_positive / predicted.sum())
    assert report.baseline.test["recall"] == pytest.approx(true_positive / gold.sum())
    assert report.baseline.test["accuracy"] > 0.7  # the planted word is learnable


def test_baseline_cross_validates_a_stratified_sample_of_a_large_train_split(monkeypatch):
    import core.audit.baseline as baseline

    train = with_planted_word(clean_rows(400, seed=20), "兑换码", 0.6, seed=21)
    full = audit(train, seed=0).baseline
    assert full.cv_rows == 400
    monkeypatch.setattr(baseline, "BASELINE_CV_MAX_ROWS", 200)
    sampled = audit(train, seed=0).baseline
    assert sampled.cv_rows == 200 and sampled.cv_folds == full.cv_folds
    labels = np.array([row.label for row in train])
    rows, sample_labels = baseline._cv_sample(np.arange(400), labels, seed=0)
    assert len(set(rows)) == 200 and abs(sample_labels.mean() - labels.mean()) < 0.01  # same label share
    assert "a stratified sample of 200 rows" in format_report(audit(train, seed=0))


def test_single_class_split_is_high_and_bad_rows_name_their_line():
    rows = [Record(input=f"张伟: 你好{i}", label=True, line=i + 1) for i in range(20)]
    report = audit(rows, seed=0)
    assert any(f.severity == "high" and f.kind == "balance" for f in report.findings)
    assert "Balance" in format_report(report)

    class Row:
        def __init__(self, text, label, line):
            self.input, self.label, self.line, self.source = text, label, line, "data.jsonl"

    with pytest.raises(ValueError, match=r"data.jsonl:7: label"):
        audit([Row("a", True, 1), Row("b", "yes", 7)])


@pytest.fixture(scope="module")
def real_report():
    train_path = require_shared(SHARED_DATA / "eval0902.jsonl")
    test_path = require_shared(SHARED_DATA / "test0819.jsonl")
    train = load_records(train_path, strict=False).records
    test = load_records(test_path, strict=False).records
    tokenizer = None
    if QWEN_TOKENIZER.exists():
        from core.models import load_tokenizer

        tokenizer = load_tokenizer(str(QWEN_TOKENIZER))
    return audit(train, test, tokenizer=tokenizer, seed=42)


def test_real_data_finds_the_speaker_leak_duplicates_and_a_baseline(real_report):
    text = format_report(real_report)
    print(text)
    speaker = [f for f in real_report.findings if f.kind == "speaker" and f.severity == "high"]
    assert speaker and "发言人N" in speaker[0].message
    leak = next(p for p in real_report.speakers.leaky if p.pattern == "发言人N")
    assert leak.positives == 0 and leak.negatives > 500
    assert real_report.duplicates.cross.exact_test_rows > 0
    assert any(f.kind == "duplicates" and f.severity == "high" for f in real_report.findings)
    baseline = real_report.baseline
    print(f"baseline CV accuracy {baseline.cv_accuracy:.3f} ± {baseline.cv_accuracy_std:.3f}, test "
          f"{baseline.test}")
    assert 0.6 < baseline.cv_accuracy <= 1.0 and 0.6 < baseline.test["accuracy"] <= 1.0
    assert len(baseline.test_predictions) == real_report.test_rows
    if real_report.length_tokens is not None:
        assert real_report.length_tokens.stats["train"]["true"].mean > 0
    json.dumps(real_report.to_dict(), ensure_ascii=False)


def test_demo_dataset_raises_no_high_finding():
    demo = pytest.importorskip("core.demo.dataset", reason="core/demo/dataset.py has not landed yet")
    splits = demo.generate_demo()

    def records(name):
        return [Record(input=row["input"], label=bool(row["label"]), line=index + 1)
                for index, row in enumerate(splits.get(name, []))]

    report = audit(records("train"), records("test") or None, seed=42)
    assert report.high_findings() == [], format_report(report)
