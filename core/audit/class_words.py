"""Label-giving words of a dataset with N label names: per class, the character n-grams that point
to it, each class ranked against all the others with the binary audit's scores (core.audit.words).

One-against-the-rest keeps the scores the fraud audit uses (log-odds z, precision, coverage, the
one-term stump) meaningful for any number of classes: a term that gives a class away scores high
for that class whichever other classes share the rest of the rows.
"""
from __future__ import annotations

import numpy as np

from core.audit.ngrams import char_ngram_matrix
from core.audit.words import TermScore, rank_char_ngrams

MAX_N = 4


def class_label_words(texts: list[str], labels: list[int],
                      label_names: tuple[str, ...] | list[str]) -> dict[str, list[TermScore]]:
    """{label name: the n-grams pointing to that class, strongest first}; `labels` are class indices."""
    if not texts:
        return {name: [] for name in label_names}
    matrix = char_ngram_matrix(list(texts), 1, MAX_N)
    presence = matrix.binary()
    rows = np.arange(len(texts))
    classes = np.asarray(labels, dtype=int)
    found = {}
    for index, name in enumerate(label_names):
        ranked, _ = rank_char_ngrams(matrix, presence, rows, classes == index)
        found[name] = [score for score in ranked if score.label]  # terms pointing to this class
    return found
