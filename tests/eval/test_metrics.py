"""Metrics recomputed by hand from small tables."""
from __future__ import annotations

import logging

import pytest

from core.eval.compare import compare_pair
from core.eval.metrics import (
    classification_metrics,
    curves,
    metrics_at_threshold,
    rouge_scores,
    speaker_metrics,
    throughput,
)

# One table for the classification, speaker and ROUGE tests.
# columns: gold label, predicted label (None = invalid answer), gold speaker, predicted speaker,
#          gold reason, predicted reason
TABLE = [
    (True, True, "张三", "张三", "要求转账到安全账户", "要求转账到安全账户"),      # 0 tp
    (True, True, "张三,李四", " 李四、张三 ", "冒充客服退款", ""),              # 1 tp
    (True, False, "王五", "", "索要验证码", ""),                              # 2 fn
    (True, None, "赵六", "", "", ""),                                        # 3 invalid -> fn
    (True, True, "客服", "客服，经理", "诱导下载软件", "诱导下载软件并转账"),    # 4 tp
    (False, False, "", "", "", ""),                                          # 5 tn
    (False, False, "", "", "", ""),                                          # 6 tn
    (False, True, "", "某人", "", "他在催款"),                                 # 7 fp
    (False, None, "", "", "", ""),                                           # 8 invalid -> fp
    (False, False, "", "", "", ""),                                          # 9 tn
    (True, False, "钱七", "", "刷单返利", ""),                                # 10 fn
    (False, False, "", "", "", ""),                                          # 11 tn
]
GOLD = [row[0] for row in TABLE]
PREDICTED = [row[1] for row in TABLE]


def test_classification_counts_invalid_as_wrong():
    result = classification_metrics(GOLD, PREDICTED)
    tp, fn, tn, fp = 3, 3, 4, 2  # rows 0,1,4 | 2,3,10 | 5,6,9,11 | 7,8
    assert (result["tp"], result["fn"], result["tn"], result["fp"]) == (tp, fn, tn, fp)
    assert result["tn"] + result["fp"] + result["fn"] + result["tp"] == result["rows"] == 12
    assert result["invalid"] == 2 and result["invalid_rate"] == pytest.approx(2 / 12)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert result["precision"] == pytest.approx(precision)
    assert result["recall"] == pytest.approx(recall)
    assert result["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert result["accuracy"] == pytest.approx((tp + tn) / 12)


def test_valid_only_drops_invalid_rows():
    valid = classification_metrics(GOLD, PREDICTED)["valid_only"]
    tp, fn, tn, fp = 3, 2, 4, 1  # without rows 3 and 8
    assert (valid["tp"], valid["fn"], valid["tn"], valid["fp"], valid["rows"]) == (tp, fn, tn, fp, 10)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert valid["precision"] == pytest.approx(precision)
    assert valid["recall"] == pytest.approx(recall)
    assert valid["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert valid["accuracy"] == pytest.approx((tp + tn) / 10)


def test_invalid_answers_never_help():
    # Reading invalid answers as "not fraud" (the notebooks' habit) would score better here.
    as_false = classification_metrics(GOLD, [False if guess is None else guess for guess in PREDICTED])
    honest = classification_metrics(GOLD, PREDICTED)
    assert honest["accuracy"] < as_false["accuracy"] and honest["precision"] < as_false["precision"]


def test_roc_auc_by_hand():
    separated = classification_metrics([False, False, True, True], [False, False, True, True],
                                       [0.1, 0.2, 0.8, 0.9])
    assert separated["roc_auc"] == pytest.approx(1.0) and separated["pr_auc"] == pytest.approx(1.0)
    # Scores 0.1 F, 0.6 F, 0.4 T, 0.9 T: of the 4 (positive, negative) pairs only (0.4, 0.6) is misordered.
    swapped = classification_metrics([False, False, True, True], [False, True, False, True],
                                     [0.1, 0.6, 0.4, 0.9])
    assert swapped["roc_auc"] == pytest.approx(3 / 4)
    # Average precision: recall 0 -> 1/2 at precision 1 (0.9), 1/2 -> 1 at precision 2/3 (0.4).
    assert swapped["pr_auc"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_best_threshold_maximises_f1():
    gold, scores = [False, False, True, True], [0.1, 0.6, 0.4, 0.9]
    best = classification_metrics(gold, [False, True, False, True], scores)["best_threshold"]

    def f1_at(threshold):
        called = [score >= threshold for score in scores]
        tp = sum(c and g for c, g in zip(called, gold))
        fp = sum(c and not g for c, g in zip(called, gold))
        fn = sum(g and not c for c, g in zip(called, gold))
        return 2 * tp / (2 * tp + fp + fn)

    assert best["threshold"] == 0.4
    assert best["f1"] == pytest.approx(f1_at(0.4)) == pytest.approx(0.8)
    assert best["f1"] == pytest.approx(max(f1_at(threshold) for threshold in scores))
    again = metrics_at_threshold(gold, scores, best["threshold"])
    assert again == best
    assert (again["tp"], again["fp"], again["fn"], again["tn"]) == (2, 1, 0, 1)


def test_probabilities_only_where_given():
    p_true = [0.9, 0.8, 0.3, None, 0.7, 0.1, 0.2, 0.6, None, 0.05, 0.4, 0.3]
    result = classification_metrics(GOLD, PREDICTED, p_true)
    assert result["scored_rows"] == 10
    # Scored positives 0.9, 0.8, 0.3, 0.7, 0.4; negatives 0.1, 0.2, 0.6, 0.05, 0.3.
    # Pairs won: 0.9, 0.8, 0.7 beat all 5; 0.4 beats 4; 0.3 beats 3 and ties 0.3 (half).
    assert result["roc_auc"] == pytest.approx((5 + 5 + 5 + 4 + 3.5) / 25)
    at_half = metrics_at_threshold(GOLD, p_true, 0.5)
    assert (at_half["tp"], at_half["fp"], at_half["fn"], at_half["tn"]) == (3, 1, 2, 4)
    assert classification_metrics(GOLD, PREDICTED)["roc_auc"] is None


def test_curves_for_plotting():
    result = curves([False, False, True, True], [0.1, 0.6, 0.4, 0.9])
    roc, pr = result["roc"], result["pr"]
    assert roc["fpr"][0] == 0 and roc["tpr"][-1] == 1 and roc["fpr"][-1] == 1
    assert roc["thresholds"][0] is None  # sklearn's +inf start point
    assert len(roc["fpr"]) == len(roc["tpr"]) == len(roc["thresholds"])
    assert len(pr["precision"]) == len(pr["recall"]) == len(pr["thresholds"]) + 1
    assert curves([True, True], [0.2, 0.9])["roc"] is None


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="different lengths"):
        classification_metrics([True, False], [True])
    with pytest.raises(ValueError, match=r"p_true\[1\]"):
        classification_metrics([True, False], [True, False], [0.5, float("nan")])


def test_speaker_accuracy_by_hand():
    result = speaker_metrics(GOLD, [row[2] for row in TABLE], [row[3] for row in TABLE], PREDICTED)
    # Right: 0, 1 (same set, other order and separator), 5, 6, 9, 11. Wrong: 2, 10 (nobody named),
    # 3 (invalid), 4 (extra name), 7 (named someone on a normal row), 8 (invalid).
    assert (result["rows"], result["correct"], result["accuracy"]) == (12, 6, 6 / 12)
    assert (result["fraud_rows"], result["fraud_correct"], result["fraud_accuracy"]) == (6, 2, 2 / 6)
    assert result["invalid"] == 2 and result["fraud_rows_missing_speaker"] == 0


def test_rouge_identical_disjoint_and_skipped():
    same = "他冒充银行客服要求对方把钱转到安全账户"
    identical = rouge_scores([same], [same])
    for name in ("rouge-1", "rouge-2", "rouge-l"):
        assert identical[name]["f1"] == pytest.approx(1.0, abs=1e-6)
    disjoint = rouge_scores(["alpha beta gamma"], ["delta epsilon zeta"])
    assert all(disjoint[name]["f1"] == 0 for name in ("rouge-1", "rouge-2", "rouge-l"))
    table = rouge_scores([row[4] for row in TABLE], [row[5] for row in TABLE])
    # Both sides non-empty only in rows 0 and 4.
    assert (table["rows_scored"], table["rows_skipped"]) == (2, 10)
    assert logging.getLogger("jieba").level >= logging.WARNING


def test_rouge_partial_overlap_by_hand():
    result = rouge_scores(["alpha beta gamma delta"], ["alpha beta"])
    # unigrams: 2 of 2 predicted, 2 of 4 reference; bigrams: 1 of 1, 1 of 3; LCS 2.
    assert (result["rouge-1"]["precision"], result["rouge-1"]["recall"]) == (1.0, 0.5)
    assert result["rouge-2"]["recall"] == pytest.approx(1 / 3)
    assert result["rouge-l"]["f1"] == pytest.approx(2 * 1 * 0.5 / 1.5, abs=1e-6)


def test_rouge_with_nothing_to_score():
    result = rouge_scores(["", "理由"], ["理由", "  "])
    assert result == {"rouge-1": None, "rouge-2": None, "rouge-l": None, "rows_scored": 0, "rows_skipped": 2}


def test_compare_pair_by_hand():
    gold = [True, True, False, False, True, False, True, False]
    a = [True, False, False, None, True, True, False, False]   # right: 0, 2, 4, 7
    b = [True, True, True, False, None, False, True, False]    # right: 0, 1, 3, 5, 6, 7
    result = compare_pair(gold, a, b)
    assert result["fixed"] == [1, 3, 5, 6] and result["broken"] == [2, 4]
    assert result["accuracy_a"] == 4 / 8 and result["accuracy_b"] == 6 / 8
    assert result["difference"] == pytest.approx(2 / 8)
    # Two-sided binomial test of 4 of 6 discordant rows at 1/2: P(X<=2) + P(X>=4) = 2 * 22/64.
    assert result["mcnemar_p"] == pytest.approx(2 * (1 + 6 + 15) / 64)
    low, high = result["interval"]
    assert low <= result["difference"] <= high and low < high
    assert compare_pair(gold, a, b)["interval"] == result["interval"]  # seeded


def test_mcnemar_one_sided_discordance():
    gold = [True] * 12
    result = compare_pair(gold, [False] * 5 + [True] * 7, [True] * 12)
    assert result["fixed"] == [0, 1, 2, 3, 4] and result["broken"] == []
    assert result["mcnemar_p"] == pytest.approx(2 * 0.5 ** 5) == pytest.approx(0.0625)
    low, high = result["interval"]
    assert low <= 5 / 12 <= high
    same = compare_pair(gold, [True] * 12, [True] * 12)
    assert same["mcnemar_p"] == 1.0 and same["interval"] == [0.0, 0.0]


def test_throughput():
    assert throughput(30, 1.5) == 20 and throughput(5, 0) is None
