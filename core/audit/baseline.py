"""The baseline to beat: TF-IDF over character 1-3-grams + logistic regression.

Features come from the audit's shared n-gram matrix (core/audit/ngrams.py) instead of a
TfidfVectorizer per fold: the vocabulary of each fit is the columns of length <= 3 present in
>= BASELINE_MIN_DF of the fit's own rows, and TF-IDF is fitted on those rows only, so the result
is what a vectorizer fitted on the training rows alone would give, without re-reading the text.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from joblib import Parallel, delayed
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, f1_score, precision_recall_fscore_support, precision_score,
                             recall_score)
from sklearn.model_selection import train_test_split

from core.audit.common import mean_and_std, stratified_folds
from core.audit.ngrams import NgramMatrix, char_ngram_matrix, document_frequencies

BASELINE_MAX_N = 3
BASELINE_MIN_DF = 2
# liblinear's dual solver: ~1 s on 24,000 dialogues where lbfgs takes ~5 s, same accuracy.
BASELINE_C = 4.0
BASELINE_THREADS = 2
# Cross-validation on more training rows than this uses a seeded stratified sample of them: the
# accuracy estimate is as good, and 5 folds of 160,000 rows took a minute and 3 GB on 2 cores.
# The train -> test fit always uses every training row.
BASELINE_CV_MAX_ROWS = 50_000


@dataclass
class BaselineReport:
    model: str
    cv_folds: int
    cv_accuracy: float | None
    cv_accuracy_std: float | None
    cv_f1: float | None
    cv_f1_std: float | None
    test: dict[str, float] | None = None  # accuracy, precision, recall, f1 of train -> test
    test_predictions: list[bool] | list[int] = field(default_factory=list, repr=False)
    test_p_true: list[float] = field(default_factory=list, repr=False)
    cv_rows: int | None = None  # training rows the cross-validation used (a sample past BASELINE_CV_MAX_ROWS)
    # "binary": precision/recall/F1 of the true label; "macro": their mean over the N classes
    average: str = "binary"


MODEL_NAME = f"TF-IDF char 1-{BASELINE_MAX_N}-grams + LogisticRegression(C={BASELINE_C})"
CLASS_MODEL_NAME = f"TF-IDF char 1-{BASELINE_MAX_N}-grams + multinomial LogisticRegression(C={BASELINE_C})"


def _columns(matrix: NgramMatrix, fit_counts) -> np.ndarray:
    """The n-grams of length <= BASELINE_MAX_N in >= BASELINE_MIN_DF fit rows (any, if none is)."""
    frequencies = document_frequencies(fit_counts)
    columns = np.flatnonzero((matrix.lengths <= BASELINE_MAX_N) & (frequencies >= BASELINE_MIN_DF))
    if not len(columns):
        columns = np.flatnonzero((matrix.lengths <= BASELINE_MAX_N) & (frequencies > 0))
    return columns


def fit_predict(matrix: NgramMatrix, fit_rows: np.ndarray, predict_rows: np.ndarray, labels: np.ndarray):
    """Train on `fit_rows` of the matrix with `labels`, return (labels, P(true)) for `predict_rows`."""
    labels = np.asarray(labels, dtype=bool)
    if labels.all() or not labels.any():  # one class: nothing to learn, predict it with certainty
        constant = bool(labels[0]) if len(labels) else False
        return np.full(len(predict_rows), constant), np.full(len(predict_rows), float(constant))
    fit_counts = matrix.counts[fit_rows]
    columns = _columns(matrix, fit_counts)
    fit_counts = fit_counts[:, columns]  # the full-width copy is freed before TF-IDF copies this one
    tfidf = TfidfTransformer(sublinear_tf=True)
    fit_features = tfidf.fit_transform(fit_counts)
    del fit_counts
    model = LogisticRegression(solver="liblinear", dual=True, C=BASELINE_C, max_iter=1000, random_state=0)
    model.fit(fit_features, labels)
    fraud_column = list(model.classes_).index(True)
    p_true = model.predict_proba(tfidf.transform(matrix.counts[predict_rows][:, columns]))[:, fraud_column]
    return p_true >= 0.5, p_true


def baseline_scores(matrix: NgramMatrix, train_rows: np.ndarray, train_labels: np.ndarray,
                    test_rows: np.ndarray | None, test_labels: np.ndarray | None,
                    seed: int) -> BaselineReport:
    train_labels = np.asarray(train_labels, dtype=bool)
    cv_rows, cv_labels = _cv_sample(np.asarray(train_rows), train_labels, seed)
    folds = stratified_folds(cv_labels, seed)
    # liblinear releases the GIL, so threads run two folds at once on a 2-core machine.
    fold_predictions = Parallel(n_jobs=BASELINE_THREADS, prefer="threads")(
        delayed(fit_predict)(matrix, cv_rows[fit_index], cv_rows[held_out], cv_labels[fit_index])
        for fit_index, held_out in folds
    )
    accuracies, f1s = [], []
    for (_, held_out), (predictions, _) in zip(folds, fold_predictions):
        accuracies.append(accuracy_score(cv_labels[held_out], predictions))
        f1s.append(f1_score(cv_labels[held_out], predictions, zero_division=0))
    accuracy, accuracy_std = mean_and_std(accuracies)
    f1, f1_std = mean_and_std(f1s)
    report = BaselineReport(MODEL_NAME, len(folds), accuracy, accuracy_std, f1, f1_std, cv_rows=len(cv_rows))
    if test_rows is not None and len(test_rows) and len(train_rows):
        test_labels = np.asarray(test_labels, dtype=bool)
        predictions, p_true = fit_predict(matrix, train_rows, test_rows, train_labels)
        report.test = {
            "accuracy": float(accuracy_score(test_labels, predictions)),
            "precision": float(precision_score(test_labels, predictions, zero_division=0)),
            "recall": float(recall_score(test_labels, predictions, zero_division=0)),
            "f1": float(f1_score(test_labels, predictions, zero_division=0)),
        }
        report.test_predictions = [bool(value) for value in predictions]
        report.test_p_true = [round(float(value), 6) for value in p_true]
    return report


def _cv_sample(rows: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """All rows, or a seeded sample of BASELINE_CV_MAX_ROWS with the same label shares."""
    if len(rows) <= BASELINE_CV_MAX_ROWS or len(np.unique(labels)) < 2:
        return rows, labels
    chosen, _ = train_test_split(np.arange(len(rows)), train_size=BASELINE_CV_MAX_ROWS, stratify=labels,
                                 random_state=seed)
    chosen.sort()
    return rows[chosen], labels[chosen]


def baseline_predictions(train, rows) -> tuple[list[bool], list[float]]:
    """Fit the baseline on `train` (rows with .input/.label) and predict `rows`: (labels, P(true)).

    Gives the same figures as the audit's train -> test baseline on the same rows, so the
    Evaluate view can show it beside fine-tuned models.
    """
    if not train:
        raise ValueError("baseline_predictions needs at least one training row")
    matrix = char_ngram_matrix([row.input for row in train] + [row.input for row in rows], 1, BASELINE_MAX_N)
    labels = np.array([bool(row.label) for row in train])
    predictions, p_true = fit_predict(matrix, np.arange(len(train)),
                                      np.arange(len(train), len(train) + len(rows)), labels)
    return [bool(value) for value in predictions], [float(value) for value in p_true]


def fit_predict_classes(matrix: NgramMatrix, fit_rows: np.ndarray, predict_rows: np.ndarray,
                        labels: np.ndarray, num_classes: int) -> np.ndarray:
    """The N-class baseline: train on `fit_rows` (labels are class indices), return the (rows, classes)
    probabilities of `predict_rows`.

    lbfgs fits the N-way (multinomial) model; liblinear, the binary baseline's solver, is one-vs-rest
    only and deprecated for more than two classes in scikit-learn.
    """
    labels = np.asarray(labels, dtype=int)
    probabilities = np.zeros((len(predict_rows), num_classes))
    if len(set(labels.tolist())) == 1:  # one class: nothing to learn, predict it with certainty
        probabilities[:, labels[0]] = 1.0
        return probabilities
    fit_counts = matrix.counts[fit_rows]
    columns = _columns(matrix, fit_counts)
    fit_counts = fit_counts[:, columns]
    tfidf = TfidfTransformer(sublinear_tf=True)
    features = tfidf.fit_transform(fit_counts)
    del fit_counts
    model = LogisticRegression(C=BASELINE_C, max_iter=1000, random_state=0)
    model.fit(features, labels)
    features = tfidf.transform(matrix.counts[predict_rows][:, columns])
    probabilities[:, model.classes_] = model.predict_proba(features)
    return probabilities


def _class_scores(gold: np.ndarray, predicted: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy and macro precision / recall / F1 over all N classes (an absent class scores 0)."""
    precision, recall, f1, _ = precision_recall_fscore_support(
        gold, predicted, labels=list(range(num_classes)), average="macro", zero_division=0)
    return {"accuracy": float(accuracy_score(gold, predicted)), "precision": float(precision),
            "recall": float(recall), "f1": float(f1)}


def class_baseline_scores(matrix: NgramMatrix, train_rows: np.ndarray, train_labels: np.ndarray,
                          test_rows: np.ndarray | None, test_labels: np.ndarray | None, seed: int,
                          num_classes: int) -> BaselineReport:
    """The audit's baseline of a dataset with label names: CV and train -> test accuracy and macro-F1
    (the report's f1 fields, `average` "macro")."""
    train_labels = np.asarray(train_labels, dtype=int)
    cv_rows, cv_labels = _cv_sample(np.asarray(train_rows), train_labels, seed)
    folds = stratified_folds(cv_labels, seed)
    fold_probabilities = Parallel(n_jobs=BASELINE_THREADS, prefer="threads")(
        delayed(fit_predict_classes)(matrix, cv_rows[fit_index], cv_rows[held_out], cv_labels[fit_index],
                                     num_classes)
        for fit_index, held_out in folds
    )
    scores = [_class_scores(cv_labels[held_out], probabilities.argmax(axis=1), num_classes)
              for (_, held_out), probabilities in zip(folds, fold_probabilities)]
    accuracy, accuracy_std = mean_and_std([score["accuracy"] for score in scores])
    f1, f1_std = mean_and_std([score["f1"] for score in scores])
    report = BaselineReport(CLASS_MODEL_NAME, len(folds), accuracy, accuracy_std, f1, f1_std,
                            cv_rows=len(cv_rows), average="macro")
    if test_rows is not None and len(test_rows) and len(train_rows):
        probabilities = fit_predict_classes(matrix, train_rows, test_rows, train_labels, num_classes)
        predictions = probabilities.argmax(axis=1)
        report.test = _class_scores(np.asarray(test_labels, dtype=int), predictions, num_classes)
        report.test_predictions = [int(value) for value in predictions]
    return report


def class_baseline_predictions(train, rows, num_classes: int) -> tuple[list[int], list[list[float]]]:
    """The same baseline for N classes (rows' .label is a class index): (classes, probabilities)."""
    if not train:
        raise ValueError("class_baseline_predictions needs at least one training row")
    matrix = char_ngram_matrix([row.input for row in train] + [row.input for row in rows], 1, BASELINE_MAX_N)
    labels = np.array([int(row.label) for row in train])
    probabilities = fit_predict_classes(matrix, np.arange(len(train)),
                                        np.arange(len(train), len(train) + len(rows)), labels, num_classes)
    return ([int(row.argmax()) for row in probabilities],
            [[float(value) for value in row] for row in probabilities])
