"""Label-giving words: character n-grams and jieba words ranked by how strongly they point to a label.

Scores per term, from document frequencies (rows containing the term) per label:
- precision / coverage of the rule "contains term -> the label most of its rows carry";
- the accuracy of the one-term stump: that label when present, the majority label of the rows
  without the term otherwise (the best a depth-1 tree on this term can do);
- z-scored log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008,
  "Fightin' Words"), which ranks frequent, lopsided terms above rare ones.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from core.audit.ngrams import NgramMatrix, document_frequencies, prepare_text

# The prior of each term is this fraction of its pooled count: strong enough that a term seen
# in 3 rows cannot outrank one seen in 300, weak enough that lopsided terms stay far from 0.
PRIOR_FRACTION = 0.1
# Terms in fewer rows than this are not ranked nor used as rules (chance hits on tiny counts).
MIN_TERM_ROWS = 3
MIN_TERM_FRACTION = 0.002
TERMS_KEPT = 40
CANDIDATES_BEFORE_COLLAPSE = 400
# jieba segments ~3,000 dialogues/s in pure Python; above this many rows the word list comes
# from a seeded random sample, which ranks words as well and keeps the audit inside its budget.
JIEBA_MAX_ROWS = 8000
# Rows used to measure how much a listed term overlaps the best rule's term.
OVERLAP_SAMPLE_ROWS = 5000


@dataclass
class TermScore:
    term: str
    kind: str  # "char" (character n-gram) or "word" (jieba word)
    label: bool  # the label most rows containing the term carry
    positives: int  # rows with label true containing the term
    negatives: int
    precision: float  # share of rows containing the term that carry `label`
    coverage: float  # share of rows with `label` that contain the term
    rule_accuracy: float  # the one-term stump's accuracy on the training rows
    label_when_absent: bool
    z_score: float  # > 0 points to true, < 0 to false
    test_accuracy: float | None = None
    # Share of the training rows containing this term that also contain the best rule's term:
    # near 1 means it is the same shortcut seen through another n-gram.
    shared_with_best_rule: float | None = None


@dataclass
class LabelWordsReport:
    char_ngrams: list[TermScore]
    words: list[TermScore]
    best_rule: TermScore | None
    word_rows_used: int  # rows jieba segmented (a sample when the split is large)
    rows: int
    positives: int
    majority_rate: float
    notes: list[str] = field(default_factory=list)


def min_term_rows(rows: int) -> int:
    return max(MIN_TERM_ROWS, int(round(MIN_TERM_FRACTION * rows)))


def log_odds_z(positive_counts: np.ndarray, negative_counts: np.ndarray) -> np.ndarray:
    """Monroe et al. (2008) eq. 22: log-odds ratio with informative Dirichlet prior, z-scored."""
    if positive_counts.sum() == 0 or negative_counts.sum() == 0:  # one class: no contrast to score
        return np.zeros(len(positive_counts))
    pooled = positive_counts + negative_counts
    alpha = PRIOR_FRACTION * pooled + 1e-3
    alpha_total = alpha.sum()
    positive_total, negative_total = positive_counts.sum(), negative_counts.sum()
    positive_log_odds = np.log(positive_counts + alpha) - np.log(
        positive_total + alpha_total - positive_counts - alpha
    )
    negative_log_odds = np.log(negative_counts + alpha) - np.log(
        negative_total + alpha_total - negative_counts - alpha
    )
    variance = 1.0 / (positive_counts + alpha) + 1.0 / (negative_counts + alpha)
    return (positive_log_odds - negative_log_odds) / np.sqrt(variance)


def stump_accuracy(positive_counts, negative_counts, positives: int, negatives: int) -> np.ndarray:
    """Accuracy of "present -> majority label of those rows, absent -> majority of the rest"."""
    rows = positives + negatives
    present_correct = np.maximum(positive_counts, negative_counts)
    absent_correct = np.maximum(positives - positive_counts, negatives - negative_counts)
    return (present_correct + absent_correct) / max(rows, 1)


def score_terms(terms, kind, positive_counts, negative_counts, positives, negatives,
                z_scores) -> list[TermScore]:
    """TermScores of `terms`; `z_scores` come from `log_odds_z` over the whole vocabulary."""
    positive_counts = np.asarray(positive_counts, dtype=np.float64)
    negative_counts = np.asarray(negative_counts, dtype=np.float64)
    accuracies = stump_accuracy(positive_counts, negative_counts, positives, negatives)
    scores = []
    for index, term in enumerate(terms):
        positive, negative = int(positive_counts[index]), int(negative_counts[index])
        label = positive > negative or (positive == negative and z_scores[index] > 0)
        hits = positive if label else negative
        class_rows = positives if label else negatives
        absent_positive, absent_negative = positives - positive, negatives - negative
        scores.append(
            TermScore(
                term=term,
                kind=kind,
                label=bool(label),
                positives=positive,
                negatives=negative,
                precision=hits / max(positive + negative, 1),
                coverage=hits / max(class_rows, 1),
                rule_accuracy=float(accuracies[index]),
                label_when_absent=bool(absent_positive > absent_negative),
                z_score=float(z_scores[index]),
            )
        )
    return scores


def _collapse_substrings(scores: list[TermScore]) -> list[TermScore]:
    """Drop a term when a longer kept term contains it in exactly the same rows-per-label counts:
    "兑换码", "兑换", "换码" and "码" are one finding, shown once as the longest."""
    kept: list[TermScore] = []
    for score in sorted(scores, key=lambda s: (-len(s.term.strip()), len(s.term))):
        if any(
            score.term.strip() in other.term and (score.positives, score.negatives) == (other.positives,
                                                                                        other.negatives)
            for other in kept
        ):
            continue
        kept.append(score)
    return sorted(kept, key=lambda s: (-abs(s.z_score), -len(s.term)))


def _rank(decode, kind, positive_counts, negative_counts, positives, negatives, lengths):
    """(top terms by |z| after collapsing substrings, best one-term stump) over usable terms."""
    usable = np.flatnonzero(positive_counts + negative_counts >= min_term_rows(positives + negatives))
    if not len(usable):
        return [], None
    positive_counts, negative_counts = positive_counts[usable], negative_counts[usable]
    z_scores = log_odds_z(positive_counts, negative_counts)
    order = np.argsort(-np.abs(z_scores))[:CANDIDATES_BEFORE_COLLAPSE]
    accuracies = stump_accuracy(positive_counts, negative_counts, positives, negatives)
    # Ties (the n-grams of one planted word share their counts) go to the longest term.
    best = np.lexsort((lengths[usable], np.round(accuracies, 12)))[-1]
    chosen = np.concatenate([order, [best]])
    scores = score_terms(
        decode(usable[chosen]), kind, positive_counts[chosen], negative_counts[chosen],
        positives, negatives, z_scores[chosen],
    )
    best_score = scores.pop()
    ranked = _collapse_substrings([score for score in scores if score.term.strip()])[:TERMS_KEPT]
    return ranked, best_score if best_score.term.strip() else None


def rank_char_ngrams(matrix: NgramMatrix, presence: sp.csr_matrix, train_rows: np.ndarray,
                     labels: np.ndarray):
    """(ranked TermScores, best stump TermScore) over the char n-grams of the training rows."""
    positives = int(labels.sum())
    train_presence = presence[train_rows]
    positive_counts = np.asarray(train_presence.T @ labels.astype(np.float32)).ravel().astype(np.float64)
    negative_counts = document_frequencies(train_presence) - positive_counts
    return _rank(matrix.terms, "char", positive_counts, negative_counts, positives, len(labels) - positives,
                 matrix.lengths)


def _word_tokens(text: str) -> list[str]:
    import jieba

    return [token for token in jieba.lcut(text, HMM=False) if len(token.strip()) >= 2]


def rank_jieba_words(texts: list[str], labels: np.ndarray, seed: int):
    """(ranked TermScores, best stump, rows segmented) over jieba words of 2+ characters."""
    import jieba

    jieba.setLogLevel(60)
    rows = np.arange(len(texts))
    if len(texts) > JIEBA_MAX_ROWS:
        rows = np.array(sorted(random.Random(seed).sample(range(len(texts)), JIEBA_MAX_ROWS)))
    sample_texts = [prepare_text(texts[row]) for row in rows]
    sample_labels = labels[rows]
    vectorizer = CountVectorizer(analyzer=_word_tokens, binary=True, dtype=np.float32)
    try:
        presence = vectorizer.fit_transform(sample_texts)
    except ValueError:  # no word of 2+ characters anywhere
        return [], None, len(rows)
    vocabulary = vectorizer.get_feature_names_out()
    positives = int(sample_labels.sum())
    negatives = len(sample_labels) - positives
    positive_counts = np.asarray(presence.T @ sample_labels.astype(np.float32)).ravel().astype(np.float64)
    negative_counts = document_frequencies(presence) - positive_counts

    def decode(columns):
        return [str(vocabulary[column]) for column in columns]

    lengths = np.array([len(term) for term in vocabulary])
    ranked, best = _rank(decode, "word", positive_counts, negative_counts, positives, negatives, lengths)
    return ranked, best, len(rows)


def rule_accuracy_on(score: TermScore, texts: list[str], labels: np.ndarray) -> float | None:
    """Accuracy of a training-set stump on other rows (presence = substring of the prepared text)."""
    if not len(texts):
        return None
    present = np.array([score.term in prepare_text(text) for text in texts])
    predictions = np.where(present, score.label, score.label_when_absent)
    return float((predictions == labels).mean())


def _measure_overlap(best: TermScore, scores: list[TermScore], texts: list[str], seed: int) -> None:
    rows = range(len(texts))
    if len(texts) > OVERLAP_SAMPLE_ROWS:
        rows = random.Random(seed).sample(rows, OVERLAP_SAMPLE_ROWS)
    prepared = [prepare_text(texts[row]) for row in rows]
    with_best = [text for text in prepared if best.term in text]
    for score in scores:
        containing = sum(score.term in text for text in prepared)
        if containing:
            score.shared_with_best_rule = sum(score.term in text for text in with_best) / containing


def label_words(matrix, presence, train_rows, train_texts, train_labels, test_texts, test_labels, seed):
    positives = int(train_labels.sum())
    majority_rate = max(positives, len(train_labels) - positives) / max(len(train_labels), 1)
    char_ranked, char_best = rank_char_ngrams(matrix, presence, train_rows, train_labels)
    word_ranked, word_best, word_rows = rank_jieba_words(train_texts, train_labels, seed)
    notes = []
    if word_rows < len(train_texts):
        notes.append(f"jieba words counted on a random sample of {word_rows} of {len(train_texts)} rows")
    # A jieba word's accuracy on a sample is not comparable with a full-split figure: re-measure.
    if word_best is not None and word_rows < len(train_texts):
        word_best.rule_accuracy = rule_accuracy_on(word_best, train_texts, train_labels)
    candidates = [score for score in (char_best, word_best) if score is not None]
    best = max(candidates, key=lambda s: (s.rule_accuracy, len(s.term)), default=None)
    if best is not None and test_texts is not None:
        best.test_accuracy = rule_accuracy_on(best, test_texts, test_labels)
    if best is not None:
        _measure_overlap(best, char_ranked + word_ranked, train_texts, seed)
    return LabelWordsReport(
        char_ngrams=char_ranked,
        words=word_ranked,
        best_rule=best,
        word_rows_used=word_rows,
        rows=len(train_labels),
        positives=positives,
        majority_rate=majority_rate,
        notes=notes,
    )
