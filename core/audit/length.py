"""Label balance per split, and text length by label with how well length alone predicts it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.tree import DecisionTreeClassifier

from core.audit.common import majority_rate, mean_and_std, stratified_folds

LENGTH_TREE_DEPTH = 2


@dataclass
class SplitBalance:
    split: str
    rows: int
    positives: int
    negatives: int
    positive_ratio: float


@dataclass
class LengthStats:
    count: int
    mean: float
    std: float
    minimum: int
    p25: float
    median: float
    p75: float
    maximum: int


@dataclass
class LengthReport:
    unit: str  # "chars" or "tokens"
    # stats[split]["true" | "false"]; raw[split]["true" | "false"] = lengths for histograms
    stats: dict[str, dict[str, LengthStats]]
    raw: dict[str, dict[str, list[int]]] = field(repr=False)
    cv_accuracy: float | None = None  # depth-2 tree on length alone, StratifiedKFold on train
    cv_std: float | None = None
    threshold: float | None = None  # the depth-1 cut point fitted on all training rows
    label_above: bool | None = None  # the label the depth-1 stump predicts above the cut
    stump_accuracy: float | None = None  # the depth-1 stump's accuracy on train
    test_accuracy: float | None = None  # depth-2 tree trained on train, scored on test
    majority_rate: float = 0.0


def balance(split: str, labels: np.ndarray) -> SplitBalance:
    labels = np.asarray(labels, dtype=bool)
    positives = int(labels.sum())
    return SplitBalance(split, len(labels), positives, len(labels) - positives,
                        positives / max(len(labels), 1))


def length_stats(lengths: np.ndarray) -> LengthStats | None:
    if not len(lengths):
        return None
    p25, median, p75 = np.percentile(lengths, [25, 50, 75])
    return LengthStats(
        count=int(len(lengths)),
        mean=float(lengths.mean()),
        std=float(lengths.std()),
        minimum=int(lengths.min()),
        p25=float(p25),
        median=float(median),
        p75=float(p75),
        maximum=int(lengths.max()),
    )


def length_report(unit: str, lengths: dict[str, np.ndarray], labels: dict[str, np.ndarray],
                  seed: int) -> LengthReport:
    """`lengths` / `labels` map split name -> per-row arrays; "train" is the one modelled."""
    stats, raw = {}, {}
    for split, values in lengths.items():
        split_labels = np.asarray(labels[split], dtype=bool)
        stats[split], raw[split] = {}, {}
        for name, mask in (("true", split_labels), ("false", ~split_labels)):
            stats[split][name] = length_stats(values[mask])
            raw[split][name] = values[mask].astype(int).tolist()
    train_lengths = lengths["train"].reshape(-1, 1).astype(float)
    train_labels = np.asarray(labels["train"], dtype=bool)
    report = LengthReport(unit=unit, stats=stats, raw=raw, majority_rate=majority_rate(train_labels))
    folds = stratified_folds(train_labels, seed)
    if not folds:
        return report
    scores = []
    for train_index, held_out in folds:
        tree = DecisionTreeClassifier(max_depth=LENGTH_TREE_DEPTH, random_state=seed)
        tree.fit(train_lengths[train_index], train_labels[train_index])
        scores.append(tree.score(train_lengths[held_out], train_labels[held_out]))
    report.cv_accuracy, report.cv_std = mean_and_std(scores)
    stump = DecisionTreeClassifier(max_depth=1, random_state=seed).fit(train_lengths, train_labels)
    if stump.tree_.node_count > 1:
        report.threshold = float(stump.tree_.threshold[0])
        right = stump.tree_.children_right[0]
        report.label_above = bool(stump.classes_[np.argmax(stump.tree_.value[right][0])])
    report.stump_accuracy = float(stump.score(train_lengths, train_labels))
    if "test" in lengths and len(lengths["test"]):
        tree = DecisionTreeClassifier(max_depth=LENGTH_TREE_DEPTH, random_state=seed).fit(train_lengths,
                                                                                          train_labels)
        report.test_accuracy = float(tree.score(lengths["test"].reshape(-1, 1).astype(float), labels["test"]))
    return report
