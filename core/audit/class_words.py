"""Label-giving words of a dataset with N label names: per class, the character n-grams that point
to it, each class ranked against all the others with the binary audit's scores (core.audit.words).

One-against-the-rest keeps the scores the fraud audit uses (log-odds z, precision, coverage) meaningful
for any number of classes: a term that gives a class away scores high for that class whichever other
classes share the rest of the rows. The rule a finding judges is the N-class one-term stump: "term
present -> the class most of its rows carry, absent -> the class most of the other rows carry", the
best a depth-1 tree on that term's presence can do over all N classes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from core.audit.common import majority_rate
from core.audit.ngrams import NgramMatrix, char_ngram_matrix, prepare_text
from core.audit.words import TermScore, _rank, min_term_rows

MAX_N = 4


@dataclass
class ClassRule:
    """The best one-term rule over N classes (the N-class counterpart of words.LabelWordsReport.best_rule)."""

    term: str
    label: str  # the class the rows containing the term mostly carry
    label_when_absent: str  # the class the rows without it mostly carry
    rows: int  # training rows containing the term
    precision: float  # share of those rows that carry `label`
    coverage: float  # share of `label`'s rows that contain the term
    rule_accuracy: float  # the stump's accuracy on the training rows
    test_accuracy: float | None = None


@dataclass
class ClassWordsReport:
    by_class: dict[str, list[TermScore]]  # {class name: the n-grams pointing to it, strongest first}
    best_rule: ClassRule | None
    rows: int
    counts: dict[str, int]  # training rows per class
    majority_rate: float
    notes: list[str] = field(default_factory=list)


def _class_counts(presence: sp.csr_matrix, rows: np.ndarray, classes: np.ndarray, count: int) -> np.ndarray:
    """(terms, classes) matrix: how many rows of each class contain each term."""
    one_hot = np.zeros((len(rows), count), dtype=np.float32)
    one_hot[np.arange(len(rows)), classes] = 1.0
    return np.asarray(presence[rows].T @ one_hot, dtype=np.float64)


def _best_rule(matrix: NgramMatrix, counts: np.ndarray, class_rows: np.ndarray,
               label_names) -> ClassRule | None:
    usable = np.flatnonzero(counts.sum(axis=1) >= min_term_rows(int(class_rows.sum())))
    if not len(usable):
        return None
    present = counts[usable]
    absent = class_rows[None, :] - present
    accuracies = (present.max(axis=1) + absent.max(axis=1)) / max(class_rows.sum(), 1)
    # Ties (the n-grams of one planted word share their counts) go to the longest term.
    best = usable[np.lexsort((matrix.lengths[usable], np.round(accuracies, 12)))[-1]]
    term = matrix.terms([best])[0]
    if not term.strip():
        return None
    label = int(counts[best].argmax())
    rows = int(counts[best].sum())
    return ClassRule(term=term, label=label_names[label],
                     label_when_absent=label_names[int((class_rows - counts[best]).argmax())], rows=rows,
                     precision=counts[best, label] / max(rows, 1),
                     coverage=counts[best, label] / max(class_rows[label], 1),
                     rule_accuracy=float((counts[best].max() + (class_rows - counts[best]).max())
                                         / max(class_rows.sum(), 1)))


def rule_accuracy_on(rule: ClassRule, texts: list[str], labels: np.ndarray, label_names) -> float | None:
    """The training-set rule's accuracy on other rows (presence = substring of the prepared text)."""
    if not len(texts):
        return None
    present, absent = label_names.index(rule.label), label_names.index(rule.label_when_absent)
    predictions = np.array([present if rule.term in prepare_text(text) else absent for text in texts])
    return float((predictions == np.asarray(labels, dtype=int)).mean())


def class_words(matrix: NgramMatrix, presence: sp.csr_matrix, train_rows: np.ndarray, labels: np.ndarray,
                label_names) -> ClassWordsReport:
    """The per-class terms and the best N-class rule from the audit's shared n-gram matrix."""
    classes = np.asarray(labels, dtype=int)
    class_rows = np.bincount(classes, minlength=len(label_names)).astype(np.float64)
    counts = _class_counts(presence, np.asarray(train_rows), classes, len(label_names))
    totals = counts.sum(axis=1)
    by_class = {}
    for index, name in enumerate(label_names):
        inside, outside = int(class_rows[index]), int(class_rows.sum() - class_rows[index])
        ranked, _ = _rank(matrix.terms, "char", counts[:, index], totals - counts[:, index], inside, outside,
                          matrix.lengths)
        by_class[name] = [score for score in ranked if score.label]  # terms pointing to this class
    return ClassWordsReport(by_class=by_class, best_rule=_best_rule(matrix, counts, class_rows, label_names),
                            rows=len(classes), counts={name: int(class_rows[index])
                                                       for index, name in enumerate(label_names)},
                            majority_rate=majority_rate(classes))


def class_label_words(texts: list[str], labels: list[int],
                      label_names: tuple[str, ...] | list[str]) -> dict[str, list[TermScore]]:
    """{label name: the n-grams pointing to that class, strongest first}; `labels` are class indices."""
    if not texts:
        return {name: [] for name in label_names}
    matrix = char_ngram_matrix(list(texts), 1, MAX_N)
    return class_words(matrix, matrix.binary(), np.arange(len(texts)), np.asarray(labels),
                       list(label_names)).by_class
