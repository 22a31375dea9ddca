"""Label-giving words of a dataset with N label names: per class, the character n-grams that point
to it, each class ranked against all the others with the binary audit's scores (core.audit.words).

One-against-the-rest keeps the scores the fraud audit uses (log-odds z, precision, coverage, the
one-term stump) meaningful for any number of classes: a term that gives a class away scores high
for that class whichever other classes share the rest of the rows. A class's best rule is the binary
audit's stump on "this class or another one", judged against that split's own majority rate.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from core.audit.ngrams import NgramMatrix, char_ngram_matrix
from core.audit.words import TermScore, _rank, rule_accuracy_on

MAX_N = 4


@dataclass
class ClassWordsReport:
    # {class name: the n-grams pointing to it, strongest first}: one table per class. In each
    # TermScore, `positives` counts the class's rows holding the term, `negatives` the other classes'.
    by_class: dict[str, list[TermScore]]
    # {class name: the best one-term stump telling it from the other classes, or None}
    best_rules: dict[str, TermScore | None]
    # {class name: the accuracy of always answering "this class" / "another class", whichever is larger}
    majority_rates: dict[str, float]
    rows: int
    counts: dict[str, int]  # training rows per class
    notes: list[str] = field(default_factory=list)


def _class_counts(presence: sp.csr_matrix, rows: np.ndarray, classes: np.ndarray, count: int) -> np.ndarray:
    """(terms, classes) matrix: how many rows of each class contain each term."""
    one_hot = np.zeros((len(rows), count), dtype=np.float32)
    one_hot[np.arange(len(rows)), classes] = 1.0
    return np.asarray(presence[rows].T @ one_hot, dtype=np.float64)


def class_words(matrix: NgramMatrix, presence: sp.csr_matrix, train_rows: np.ndarray, labels: np.ndarray,
                label_names, test_texts: list[str] | None = None,
                test_labels: np.ndarray | None = None) -> ClassWordsReport:
    """The per-class terms and best rules from the audit's shared n-gram matrix (labels: class indices);
    with test rows, each best rule's accuracy on them too."""
    classes = np.asarray(labels, dtype=int)
    class_rows = np.bincount(classes, minlength=len(label_names))
    counts = _class_counts(presence, np.asarray(train_rows), classes, len(label_names))
    totals = counts.sum(axis=1)
    by_class, best_rules, majority_rates = {}, {}, {}
    for index, name in enumerate(label_names):
        inside, outside = int(class_rows[index]), int(len(classes) - class_rows[index])
        ranked, best = _rank(matrix.terms, "char", counts[:, index], totals - counts[:, index], inside,
                             outside, matrix.lengths)
        by_class[name] = [score for score in ranked if score.label]  # terms pointing to this class
        if best is None or not best.label:  # the best stump points to "another class": take this class's own
            best = max(by_class[name], key=lambda score: (score.rule_accuracy, len(score.term)), default=None)
        best_rules[name] = best
        majority_rates[name] = max(inside, outside) / max(len(classes), 1)
        if best_rules[name] is not None and test_texts is not None:
            best.test_accuracy = rule_accuracy_on(best, test_texts, np.asarray(test_labels) == index)
    return ClassWordsReport(by_class=by_class, best_rules=best_rules, majority_rates=majority_rates,
                            rows=len(classes),
                            counts={name: int(class_rows[index]) for index, name in enumerate(label_names)})


def class_label_words(texts: list[str], labels: list[int],
                      label_names: tuple[str, ...] | list[str]) -> dict[str, list[TermScore]]:
    """{label name: the n-grams pointing to that class, strongest first}; `labels` are class indices."""
    if not texts:
        return {name: [] for name in label_names}
    matrix = char_ngram_matrix(list(texts), 1, MAX_N)
    return class_words(matrix, matrix.binary(), np.arange(len(texts)), np.asarray(labels),
                       list(label_names)).by_class
