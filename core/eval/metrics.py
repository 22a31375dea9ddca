"""is_fraud, fraud-speaker and reason (ROUGE) metrics of a set of predictions.

Invalid answers (predicted None: the answer could not be parsed) are counted as wrong: on a
fraudulent row an invalid answer is a false negative, on a normal row a false positive. That
keeps a model from looking better by producing garbage (the notebooks read garbage as "not
fraud", which turned it into free true negatives and inflated precision). The `invalid` count
and the `valid_only` sub-dict show how much of the result is owed to invalid answers.
Pairwise statistics (McNemar, bootstrap) live in core.eval.compare.
"""
from __future__ import annotations

import logging
import math
import re

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)


ROUGE_METRICS = ("rouge-1", "rouge-2", "rouge-l")
_SPEAKER_SEPARATORS = re.compile(r"[,，、]")


def _check_lengths(**columns) -> int:
    lengths = {name: len(values) for name, values in columns.items() if values is not None}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"lists of different lengths: {lengths}")
    return next(iter(lengths.values()), 0)


def _binary_metrics(gold: list[bool], predicted: list[bool]) -> dict:
    """Confusion counts and the four scores; zeros (not errors) for an empty list."""
    if not gold:
        return {"rows": 0, "tn": 0, "fp": 0, "fn": 0, "tp": 0,
                "precision": 0.0, "recall": 0.0, "f1": 0.0, "accuracy": 0.0}
    tn, fp, fn, tp = confusion_matrix(gold, predicted, labels=[False, True]).ravel()
    return {
        "rows": len(gold),
        "tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp),
        "precision": float(precision_score(gold, predicted, zero_division=0)),
        "recall": float(recall_score(gold, predicted, zero_division=0)),
        "f1": float(f1_score(gold, predicted, zero_division=0)),
        "accuracy": float(accuracy_score(gold, predicted)),
    }


def _scored_rows(gold: list[bool], p_true: list[float | None]) -> tuple[list[bool], list[float]]:
    """The rows that have a probability; a NaN is an error (it would silently sort anywhere)."""
    _check_lengths(gold=gold, p_true=p_true)
    kept_gold, kept_scores = [], []
    for index, (label, score) in enumerate(zip(gold, p_true)):
        if score is None:
            continue
        score = float(score)
        if math.isnan(score):
            raise ValueError(f"p_true[{index}] is NaN")
        kept_gold.append(bool(label))
        kept_scores.append(score)
    return kept_gold, kept_scores


def metrics_at_threshold(gold: list[bool], p_true: list[float | None], threshold: float) -> dict:
    """Metrics when a row is called fraud at p_true >= threshold (sklearn's curve convention)."""
    kept_gold, kept_scores = _scored_rows(gold, p_true)
    result = _binary_metrics(kept_gold, [score >= threshold for score in kept_scores])
    return {"threshold": float(threshold), **result}


def _both_classes(gold: list[bool]) -> bool:
    return len(set(gold)) == 2


def _finite_list(values) -> list[float | None]:
    # roc_curve's first threshold is +inf; JSON and the page's tables cannot show that.
    return [float(value) if np.isfinite(value) else None for value in values]


def curves(gold: list[bool], p_true: list[float | None]) -> dict:
    """ROC and PR curve points for plotting; None for a curve that needs both classes."""
    kept_gold, kept_scores = _scored_rows(gold, p_true)
    if not _both_classes(kept_gold):
        return {"rows": len(kept_gold), "roc": None, "pr": None}
    fpr, tpr, roc_thresholds = roc_curve(kept_gold, kept_scores)
    precision, recall, pr_thresholds = precision_recall_curve(kept_gold, kept_scores)
    return {
        "rows": len(kept_gold),
        "roc": {"fpr": _finite_list(fpr), "tpr": _finite_list(tpr),
                "thresholds": _finite_list(roc_thresholds)},
        "pr": {"precision": _finite_list(precision), "recall": _finite_list(recall),
               "thresholds": _finite_list(pr_thresholds)},
    }


def _best_threshold(gold: list[bool], scores: list[float]) -> dict:
    precision, recall, thresholds = precision_recall_curve(gold, scores)
    # The last (precision=1, recall=0) point has no threshold.
    precision, recall = precision[:-1], recall[:-1]
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    best = int(np.argmax(f1))
    return metrics_at_threshold(gold, scores, float(thresholds[best]))


def classification_metrics(gold: list[bool], predicted: list[bool | None],
                           p_true: list[float | None] | None = None) -> dict:
    rows = _check_lengths(gold=gold, predicted=predicted, p_true=p_true)
    gold = [bool(label) for label in gold]
    # An invalid answer takes the wrong side of its row (see the module docstring).
    effective = [(not label) if guess is None else bool(guess) for label, guess in zip(gold, predicted)]
    invalid = sum(guess is None for guess in predicted)
    result = _binary_metrics(gold, effective)
    result.update(invalid=invalid, invalid_rate=invalid / rows if rows else 0.0)
    valid_rows = [index for index, guess in enumerate(predicted) if guess is not None]
    result["valid_only"] = _binary_metrics([gold[index] for index in valid_rows],
                                           [bool(predicted[index]) for index in valid_rows])
    result.update(scored_rows=0, roc_auc=None, pr_auc=None, best_threshold=None)
    if p_true is not None:
        kept_gold, kept_scores = _scored_rows(gold, p_true)
        result["scored_rows"] = len(kept_gold)
        if _both_classes(kept_gold):
            result["roc_auc"] = float(roc_auc_score(kept_gold, kept_scores))
            result["pr_auc"] = float(average_precision_score(kept_gold, kept_scores))
            result["best_threshold"] = _best_threshold(kept_gold, kept_scores)
    return result


def normalise_speakers(text: str | None) -> frozenset[str]:
    if not text:
        return frozenset()
    return frozenset(name.strip() for name in _SPEAKER_SEPARATORS.split(text) if name.strip())


def speaker_metrics(gold_labels: list[bool], gold_speakers: list[str], predicted_speakers: list[str],
                    predicted_labels: list[bool | None]) -> dict:
    """Fraud-speaker accuracy: a normal row is right when no speaker is named, a fraudulent row
    when the named set equals the gold set; an invalid answer (predicted label None) is wrong.
    `fraud_rows_missing_speaker` counts fraudulent rows whose data names nobody: there only an
    empty prediction matches, so a large count makes `fraud_accuracy` meaningless."""
    rows = _check_lengths(gold_labels=gold_labels, gold_speakers=gold_speakers,
                          predicted_speakers=predicted_speakers, predicted_labels=predicted_labels)
    correct = fraud_rows = fraud_correct = missing = 0
    for label, gold_speaker, speaker, guess in zip(gold_labels, gold_speakers, predicted_speakers,
                                                   predicted_labels):
        gold_set = normalise_speakers(gold_speaker) if label else frozenset()
        right = guess is not None and normalise_speakers(speaker) == gold_set
        correct += right
        if label:
            fraud_rows += 1
            fraud_correct += right
            missing += not gold_set
    return {
        "rows": rows, "correct": correct, "accuracy": correct / rows if rows else None,
        "fraud_rows": fraud_rows, "fraud_correct": fraud_correct,
        "fraud_accuracy": fraud_correct / fraud_rows if fraud_rows else None,
        "invalid": sum(guess is None for guess in predicted_labels),
        "fraud_rows_missing_speaker": missing,
    }


_jieba = None


def _segment(text: str) -> str:
    global _jieba
    if _jieba is None:
        import jieba

        # jieba logs its dictionary loading at DEBUG/INFO on every first use; loading once here
        # keeps that out of job logs and out of the timing of the first scored row.
        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        _jieba = jieba
    return " ".join(_jieba.lcut(text))


def rouge_scores(references: list[str], predictions: list[str]) -> dict:
    """Average ROUGE-1/2/L of the rows where both texts are non-empty (as the notebooks did)."""
    from rouge_chinese import Rouge

    _check_lengths(references=references, predictions=predictions)
    pairs = [(reference, prediction) for reference, prediction in zip(references, predictions)
             if (reference or "").strip() and (prediction or "").strip()]
    result = {"rows_scored": len(pairs), "rows_skipped": len(references) - len(pairs)}
    if not pairs:
        return {**{name: None for name in ROUGE_METRICS}, **result}
    hypotheses = [_segment(prediction) for _, prediction in pairs]
    segmented_references = [_segment(reference) for reference, _ in pairs]
    scores = Rouge().get_scores(hypotheses, segmented_references, avg=True)
    for name in ROUGE_METRICS:
        result[name] = {"precision": float(scores[name]["p"]), "recall": float(scores[name]["r"]),
                        "f1": float(scores[name]["f"])}
    return result


def throughput(rows: int, seconds: float) -> float | None:
    """Rows per second; None when no time was measured."""
    return rows / seconds if seconds and seconds > 0 else None



def multiclass_metrics(gold: list[int], predicted: list[int | None], label_names: list[str] | tuple[str, ...],
                       probabilities: list[list[float] | None] | None = None) -> dict:
    """Metrics of N classes: the N x N confusion matrix (rows gold, columns predicted) of the valid
    answers, per-class and macro precision / recall / F1, accuracy.

    An invalid answer (None) is wrong: it is a miss of its gold class (recall) and no class's
    prediction (precision); `invalid_by_class` counts them per gold class, so each gold class's row
    of the matrix plus its invalid count is that class's number of rows.
    """
    from sklearn.metrics import precision_recall_fscore_support

    rows = _check_lengths(gold=gold, predicted=predicted, probabilities=probabilities)
    classes = list(range(len(label_names)))
    gold = [int(label) for label in gold]
    effective = [-1 if guess is None else int(guess) for guess in predicted]
    valid = [index for index, guess in enumerate(predicted) if guess is not None]
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    if valid:
        matrix = confusion_matrix([gold[index] for index in valid], [effective[index] for index in valid],
                                  labels=classes)
    invalid_by_class = [sum(gold[index] == label and predicted[index] is None for index in range(rows))
                        for label in classes]
    result = {"rows": rows, "labels": list(label_names), "confusion": matrix.astype(int).tolist(),
              "invalid": rows - len(valid), "invalid_rate": (rows - len(valid)) / rows if rows else 0.0,
              "invalid_by_class": invalid_by_class,
              "accuracy": float(accuracy_score(gold, effective)) if rows else 0.0}
    zeros = [0.0] * len(classes)
    precision, recall, f1, support = (precision_recall_fscore_support(gold, effective, labels=classes,
                                                                      zero_division=0)
                                      if rows else (zeros, zeros, zeros, [0] * len(classes)))
    result["per_class"] = [{"label": name, "precision": float(precision[index]),
                            "recall": float(recall[index]), "f1": float(f1[index]),
                            "support": int(support[index])} for index, name in enumerate(label_names)]
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        result[f"macro_{name}"] = float(np.mean(values)) if classes else 0.0
    # The page's summary columns read these keys whatever the schema.
    result.update(precision=result["macro_precision"], recall=result["macro_recall"], f1=result["macro_f1"],
                  roc_auc=None, pr_auc=None, scored_rows=0)
    scored = [(gold[index], row) for index, row in enumerate(probabilities or []) if row is not None]
    scored_gold = [label for label, _ in scored]
    if scored and len(set(scored_gold)) == len(classes):
        result["scored_rows"] = len(scored)
        scores = [row[1] for _, row in scored] if len(classes) == 2 else [row for _, row in scored]
        result["roc_auc"] = float(roc_auc_score(scored_gold, scores, multi_class="ovr", labels=classes))
    return result
