"""Speaker leakage: turn names ("发言人3: ...") that give the label away.

A dialogue line starts with the speaker's name and a colon. Names are grouped into patterns by
replacing digit runs with "N" ("发言人3" -> "发言人N"); a name holding a label word also counts
under "*<word>*" ("诈骗者A" -> "*诈骗*"). The rule: a pattern seen in at least `min_rows` training
rows with one label in >= LEAK_PURITY of them votes for that label; a row with no such pattern
gets the majority label of the training rows that have none.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from core.audit.common import majority_label, majority_rate, mean_and_std, stratified_folds

LABEL_WORDS = ("诈骗", "骗子", "骗", "受害", "被害", "嫌疑", "fraud", "scam", "victim")
SPEAKER_LINE = re.compile(r"^[ \t\u3000]*([^\s:：]{1,16}?)[ \t\u3000]*[:：]", re.MULTILINE)
# A "name" holding sentence punctuation is prose that happens to contain a colon.
NOT_A_NAME = re.compile(r"[，。！？,.!?；;、\"“”]")
DIGITS = re.compile(r"[0-9０-９]+")
LEAK_PURITY = 0.95
SPEAKER_MIN_ROWS = 5
SPEAKER_MIN_FRACTION = 0.005
PATTERNS_KEPT = 30


@dataclass
class SpeakerPattern:
    pattern: str
    positives: int
    negatives: int
    label_word: str  # the label word the names contain, "" when none
    one_class: bool  # >= LEAK_PURITY of its rows carry one label, in enough rows to matter
    examples: list[str] = field(default_factory=list)


@dataclass
class SpeakerReport:
    rows: int
    rows_with_speakers: int
    patterns: list[SpeakerPattern]  # the most frequent patterns
    leaky: list[SpeakerPattern]  # one-class patterns, most rows first
    label_word_names: list[SpeakerPattern]  # "*骗*"-style groups of names holding a label word
    rule_patterns: list[str]  # the patterns the rule trained on all training rows uses
    rule_cv_accuracy: float | None
    rule_cv_std: float | None
    rule_test_accuracy: float | None
    rule_coverage: float  # share of training rows the rule's patterns match
    majority_rate: float


def speaker_names(text: str) -> list[str]:
    return [name for name in SPEAKER_LINE.findall(text) if not NOT_A_NAME.search(name)]


def name_features(name: str) -> list[str]:
    features = [DIGITS.sub("N", name)]
    lowered = name.lower()
    word = next((word for word in LABEL_WORDS if word in lowered), "")
    if word:
        features.append(f"*{word}*")
    return features


def row_features(text: str) -> list[str]:
    return sorted({feature for name in speaker_names(text) for feature in name_features(name)})


def min_rows(rows: int) -> int:
    return max(SPEAKER_MIN_ROWS, int(round(SPEAKER_MIN_FRACTION * rows)))


def learn_rule(presence, labels: np.ndarray) -> tuple[np.ndarray, bool]:
    """(vote of each pattern: +1 true, -1 false, 0 unused; label of rows without a vote)."""
    labels = np.asarray(labels, dtype=bool)
    positives = np.asarray(presence.T @ labels.astype(np.float32)).ravel()
    support = np.asarray(presence.sum(axis=0)).ravel()
    negatives = support - positives
    purity = np.maximum(positives, negatives) / np.maximum(support, 1)
    leaky = (support >= min_rows(len(labels))) & (purity >= LEAK_PURITY)
    votes = np.where(leaky, np.where(positives > negatives, 1.0, -1.0), 0.0)
    row_votes = presence @ votes
    uncovered = labels[row_votes == 0]
    fallback = majority_label(uncovered) if len(uncovered) else majority_label(labels)
    return votes, fallback


def apply_rule(presence, votes: np.ndarray, fallback: bool) -> np.ndarray:
    row_votes = presence @ votes
    return np.where(row_votes > 0, True, np.where(row_votes < 0, False, fallback))


def _patterns(presence, vocabulary, labels, examples, columns) -> list[SpeakerPattern]:
    positives = np.asarray(presence.T @ labels.astype(np.float32)).ravel()
    support = np.asarray(presence.sum(axis=0)).ravel()
    threshold = min_rows(len(labels))
    result = []
    for column in columns:
        pattern = str(vocabulary[column])
        positive, total = int(positives[column]), int(support[column])
        negative = total - positive
        result.append(
            SpeakerPattern(
                pattern=pattern,
                positives=positive,
                negatives=negative,
                label_word=pattern.strip("*") if pattern.startswith("*") else next(
                    (word for word in LABEL_WORDS if word in pattern.lower()), ""
                ),
                one_class=total >= threshold and max(positive, negative) >= LEAK_PURITY * total,
                examples=sorted(examples.get(pattern, ()))[:3],
            )
        )
    return result


def speaker_leakage(train_texts, train_labels, test_texts, test_labels, seed) -> SpeakerReport:
    train_labels = np.asarray(train_labels, dtype=bool)
    train_features = [row_features(text) for text in train_texts]
    empty = SpeakerReport(len(train_texts), 0, [], [], [], [], None, None, None, 0.0,
                          majority_rate(train_labels))
    if not any(train_features):
        return empty
    examples: dict[str, set[str]] = {}
    for text in train_texts[:5000]:
        for name in speaker_names(text):
            for feature in name_features(name):
                if len(examples.setdefault(feature, set())) < 3:
                    examples[feature].add(name)
    vectorizer = CountVectorizer(analyzer=lambda features: features, binary=True, dtype=np.float32)
    presence = vectorizer.fit_transform(train_features).tocsr()
    vocabulary = vectorizer.get_feature_names_out()
    support = np.asarray(presence.sum(axis=0)).ravel()
    by_support = np.argsort(-support, kind="stable")
    patterns = _patterns(presence, vocabulary, train_labels, examples, by_support[:PATTERNS_KEPT])
    every = _patterns(presence, vocabulary, train_labels, examples, by_support)
    leaky = [pattern for pattern in every if pattern.one_class][:PATTERNS_KEPT]
    label_word_names = [pattern for pattern in every if pattern.pattern.startswith("*")]

    accuracies = []
    for train_index, held_out in stratified_folds(train_labels, seed):
        votes, fallback = learn_rule(presence[train_index], train_labels[train_index])
        predictions = apply_rule(presence[held_out], votes, fallback)
        accuracies.append(float((predictions == train_labels[held_out]).mean()))
    cv_mean, cv_std = mean_and_std(accuracies)

    votes, fallback = learn_rule(presence, train_labels)
    test_accuracy = None
    if test_texts is not None and len(test_texts):
        test_presence = vectorizer.transform([row_features(text) for text in test_texts])
        predictions = apply_rule(test_presence, votes, fallback)
        test_accuracy = float((predictions == np.asarray(test_labels, dtype=bool)).mean())
    return SpeakerReport(
        rows=len(train_texts),
        rows_with_speakers=sum(1 for features in train_features if features),
        patterns=patterns,
        leaky=leaky,
        label_word_names=label_word_names,
        rule_patterns=[str(vocabulary[column]) for column in np.flatnonzero(votes)],
        rule_cv_accuracy=cv_mean,
        rule_cv_std=cv_std,
        rule_test_accuracy=test_accuracy,
        rule_coverage=float(((presence @ np.abs(votes)) > 0).mean()),
        majority_rate=majority_rate(train_labels),
    )
