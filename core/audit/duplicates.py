"""Exact and near duplicates inside a split and across splits, with their labels.

Exact: equal after normalising (strip, lowercase, punctuation removed, whitespace collapsed).
Near: Jaccard >= NEAR_JACCARD on character 3-gram shingles of the normalised texts, found with
MinHash + LSH banding and then measured exactly on the candidate pairs. Hand-written because
no installed library does MinHash (datasketch is not in the stack) and sklearn's
NearestNeighbors on 30,000 TF-IDF rows is a dense 30,000 x 30,000 product; this is numpy over
the shingle matrix and takes ~1-2 s.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from core.audit.ngrams import char_ngram_matrix

NEAR_JACCARD = 0.8
SHINGLE_SIZE = 3
MINHASH_PERMUTATIONS = 64
LSH_BANDS = 16  # 16 bands of 4 rows: a pair at Jaccard 0.8 becomes a candidate w.p. 0.9998
ESTIMATE_MARGIN = 0.2
MAX_BUCKET_OFFSET = 50  # in a huge bucket, pair each row with its next 50 neighbours only
# Bounds on memory at scale: pairs handled per numpy step, and pairs kept in all (~16 bytes each
# plus their exact measure). 200,000 rows resampled from 7,700 dialogues have ~1.5 M near pairs.
PAIR_CHUNK = 50_000
MAX_CANDIDATE_PAIRS = 4_000_000
EXAMPLES_KEPT = 20
PREVIEW_CHARS = 80
_PUNCTUATION = re.compile(r"[^\w\s]|_")
_WHITESPACE = re.compile(r"\s+")


@dataclass
class RowRef:
    split: str
    index: int  # position in the split's list
    line: int  # line in the source file
    label: bool | int  # bool in the fraud schema, the class index in a dataset with label names
    preview: str


@dataclass
class DuplicatePair:
    kind: str  # "exact" or "near"
    first: RowRef
    second: RowRef
    similarity: float
    conflict: bool  # the two rows carry different labels


@dataclass
class SplitDuplicates:
    rows: int
    exact_extra_rows: int  # rows whose text appeared earlier in the split
    exact_groups: int  # texts that occur more than once
    exact_conflicting_groups: int  # of those, texts carrying two or more labels
    near_pairs: int  # distinct text pairs at Jaccard >= NEAR_JACCARD that are not exact copies
    near_rows: int  # rows that have such a near copy in the split
    near_conflicting_pairs: int


@dataclass
class CrossDuplicates:
    test_rows: int
    exact_test_rows: int  # test rows whose text is in train
    exact_fraction: float
    exact_conflicting_rows: int  # of those, rows whose train copy carries the other label
    near_test_rows: int  # test rows with a near (not exact) copy in train
    near_fraction: float
    near_conflicting_rows: int


@dataclass
class DuplicateReport:
    splits: dict[str, SplitDuplicates]
    cross: CrossDuplicates | None
    examples: list[DuplicatePair] = field(default_factory=list)
    threshold: float = NEAR_JACCARD
    # The near-copy search stopped at MAX_CANDIDATE_PAIRS: near counts are lower bounds.
    near_search_capped: bool = False


def normalise(text: str) -> str:
    return _WHITESPACE.sub(" ", _PUNCTUATION.sub("", text)).strip().lower()


def preview(text: str) -> str:
    flat = _WHITESPACE.sub(" ", text).strip()
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def minhash_signatures(presence: sp.csr_matrix, permutations: int, seed: int) -> np.ndarray:
    """Row-wise minimum of `permutations` multiply-shift hashes of the row's column ids (uint32)."""
    rng = np.random.default_rng(seed)
    multipliers = rng.integers(1, 2**63, size=permutations, dtype=np.uint64) | np.uint64(1)
    offsets = rng.integers(0, 2**63, size=permutations, dtype=np.uint64)
    columns = presence.indices.astype(np.uint64)
    starts = presence.indptr[:-1]
    filled = np.diff(presence.indptr) > 0
    # The hashes keep their top 32 bits, so uint32 holds them: half the memory of uint64.
    signatures = np.full((presence.shape[0], permutations), np.iinfo(np.uint32).max, dtype=np.uint32)
    if not filled.any():
        return signatures
    shift = np.uint64(32)
    for k in range(permutations):
        hashed = (columns * multipliers[k] + offsets[k]) >> shift
        signatures[filled, k] = np.minimum.reduceat(hashed, starts[filled])
    return signatures


def estimated_similarity(signatures: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Share of equal minhashes of each pair (an estimate of its Jaccard), in bounded chunks."""
    estimate = np.empty(len(pairs), dtype=np.float32)
    for start in range(0, len(pairs), PAIR_CHUNK):
        chunk = pairs[start : start + PAIR_CHUNK]
        same = signatures[chunk[:, 0]] == signatures[chunk[:, 1]]
        estimate[start : start + len(chunk)] = same.mean(axis=1)
    return estimate


def _sorted_unique(keys: np.ndarray, runs: bool = False) -> np.ndarray:
    # np.unique of numpy >= 2.3 hashes integer keys, and on these pair keys it is ~20x slower
    # than a sort (110 s against 5 s for 200,000 rows). `runs`: keys is two sorted runs (a
    # union), which a stable sort (timsort) merges in one linear pass.
    keys = np.sort(keys, kind="stable" if runs else None)
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool)
    at = np.searchsorted(sorted_keys, keys)
    return (at < len(sorted_keys)) & (sorted_keys[np.minimum(at, len(sorted_keys) - 1)] == keys)


def candidate_pairs(signatures: np.ndarray, bands: int, keep=None) -> np.ndarray:
    """Pairs (i < j) sharing all minhash values of at least one band, as an (m, 2) array.

    In a bucket each row is paired with its next MAX_BUCKET_OFFSET neighbours only. `keep(pairs)
    -> bool mask` judges each pair once, the first time a band finds it (true near copies
    collide in most bands): the kept and the rejected pairs are sorted sets of keys, so memory
    and time follow the distinct pairs, not the band collisions. At most MAX_CANDIDATE_PAIRS are
    kept; past that the search stops, and `len(result) == MAX_CANDIDATE_PAIRS` says so.
    """
    rows_per_band = signatures.shape[1] // bands
    count = np.int64(len(signatures))
    kept = rejected = np.zeros(0, dtype=np.int64)
    for band in range(bands):
        block = signatures[:, band * rows_per_band : (band + 1) * rows_per_band].astype(np.uint64)
        keys = np.zeros(len(block), dtype=np.uint64)
        for column in range(rows_per_band):
            keys = keys * np.uint64(1_000_003) + block[:, column]
        order = np.argsort(keys, kind="stable").astype(np.int64)
        sorted_keys = keys[order]
        found = []
        for offset in range(1, min(MAX_BUCKET_OFFSET, len(order)) + 1):
            same = np.flatnonzero(sorted_keys[offset:] == sorted_keys[:-offset])
            if not len(same):
                break
            first, second = order[same], order[same + offset]
            found.append(np.minimum(first, second) * count + np.maximum(first, second))
        if not found:
            continue
        new = _sorted_unique(np.concatenate(found))
        new = new[~_contains(kept, new) & ~_contains(rejected, new)]
        if keep is not None and len(new):
            mask = keep(np.stack([new // count, new % count], axis=1))
            rejected = _sorted_unique(np.concatenate([rejected, new[~mask]]), runs=True)
            new = new[mask]
        kept = _sorted_unique(np.concatenate([kept, new]), runs=True)
        if len(kept) >= MAX_CANDIDATE_PAIRS:
            kept = kept[:MAX_CANDIDATE_PAIRS]
            break
    return np.stack([kept // count, kept % count], axis=1)


def jaccard(presence: sp.csr_matrix, pairs: np.ndarray) -> np.ndarray:
    """Exact Jaccard of each pair's rows, PAIR_CHUNK pairs at a time (each chunk copies its rows)."""
    similarity = np.zeros(len(pairs))
    sizes = np.diff(presence.indptr)
    for start in range(0, len(pairs), PAIR_CHUNK):
        chunk = pairs[start : start + PAIR_CHUNK]
        shared = np.asarray(presence[chunk[:, 0]].multiply(presence[chunk[:, 1]]).sum(axis=1)).ravel()
        union = sizes[chunk[:, 0]] + sizes[chunk[:, 1]] - shared
        similarity[start : start + len(chunk)] = np.where(union > 0, shared / np.maximum(union, 1), 0.0)
    return similarity


def near_pairs(texts: list[str], seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(pairs of indices into `texts` with Jaccard >= NEAR_JACCARD, their Jaccard, whether the
    search stopped at MAX_CANDIDATE_PAIRS)."""
    presence = char_ngram_matrix(texts, SHINGLE_SIZE, SHINGLE_SIZE).binary()
    signatures = minhash_signatures(presence, MINHASH_PERMUTATIONS, seed)
    sizes = np.diff(presence.indptr)

    def keep(pairs: np.ndarray) -> np.ndarray:
        # Rows without shingles (texts under 3 characters) share the empty signature, not content.
        # The share of equal minhashes estimates Jaccard (s.e. 0.05 at 0.8 with 64 hashes):
        # measuring exactly only the pairs within 4 s.e. skips most chance band collisions.
        filled = (sizes[pairs[:, 0]] > 0) & (sizes[pairs[:, 1]] > 0)
        return filled & (estimated_similarity(signatures, pairs) >= NEAR_JACCARD - ESTIMATE_MARGIN)

    pairs = candidate_pairs(signatures, LSH_BANDS, keep)
    similarity = jaccard(presence, pairs)
    keep_near = similarity >= NEAR_JACCARD
    return pairs[keep_near], similarity[keep_near], len(pairs) >= MAX_CANDIDATE_PAIRS


def find_duplicates(splits: dict[str, list], seed: int = 42, classes: int | None = None) -> DuplicateReport:
    """`splits` maps a split name ("train", "test") to its rows (with .input, .label, .line); labels are
    bools, or class indices below `classes` for a dataset with label names."""
    texts = [row.input for rows in splits.values() for row in rows]
    as_label = bool if classes is None else int
    table = pd.DataFrame(
        {
            "split": [name for name, rows in splits.items() for _ in rows],
            "position": [index for rows in splits.values() for index in range(len(rows))],
            "line": [getattr(row, "line", 0) or index + 1 for rows in splits.values()
                     for index, row in enumerate(rows)],
            "label": np.array([as_label(row.label) for rows in splits.values() for row in rows],
                              dtype=as_label),
            "text": pd.Series(texts, dtype=object),
        }
    )
    table["group"], unique_keys = pd.factorize(np.array([normalise(text) for text in texts], dtype=object))
    groups = _GroupFlags(table, len(unique_keys), list(splits), classes or 2)
    if len(unique_keys) > 1:
        near, similarity, capped = near_pairs(list(unique_keys), seed)
    else:
        near, similarity, capped = np.zeros((0, 2), dtype=np.int64), np.zeros(0), False
    reports = {name: _split_report(groups, near, name, table) for name in splits}
    cross = _cross(table, groups, near) if {"train", "test"} <= set(splits) else None
    examples = _exact_examples(table, groups) + _near_examples(table, groups, near, similarity)
    return DuplicateReport(splits=reports, cross=cross, examples=examples, near_search_capped=capped)


class _GroupFlags:
    """Per normalised text (group) and split: does it occur, and with which labels (`seen[split]`:
    classes x groups; bools are classes 0 and 1)."""

    def __init__(self, table: pd.DataFrame, count: int, names: list[str], classes: int):
        self.present, self.seen = {}, {}
        for name in names:
            rows = table[table.split == name]
            group = rows["group"].to_numpy()
            label = rows["label"].to_numpy().astype(int)
            self.present[name] = np.bincount(group, minlength=count) > 0
            self.seen[name] = np.stack([np.bincount(group[label == value], minlength=count) > 0
                                        for value in range(classes)])
        # The first row of each group in each split, for showing examples.
        self.first_row = {
            (split, group): row
            for row, (split, group) in zip(
                table.index[~table.duplicated(["split", "group"])],
                table.loc[~table.duplicated(["split", "group"]), ["split", "group"]].itertuples(index=False),
            )
        }


def _mixed(seen: np.ndarray) -> np.ndarray:
    """Per column of a classes x n flag array: are two or more labels seen?"""
    return seen.sum(axis=0) > 1


def _other_label(seen: np.ndarray, groups: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per row: does its group carry, in `seen`, a label other than the row's own?"""
    return seen[:, groups].sum(axis=0) - seen[labels, groups] > 0


def _split_report(groups: _GroupFlags, near: np.ndarray, name: str, table: pd.DataFrame) -> SplitDuplicates:
    rows = table[table.split == name]
    sizes = np.bincount(rows["group"].to_numpy())
    present, seen = groups.present[name], groups.seen[name]
    inside = near[present[near[:, 0]] & present[near[:, 1]]] if len(near) else near
    conflicting = _mixed(seen[:, inside[:, 0]] | seen[:, inside[:, 1]])
    near_groups = np.zeros(len(present), dtype=bool)
    near_groups[inside.ravel()] = True
    return SplitDuplicates(
        rows=len(rows),
        exact_extra_rows=int(len(rows) - present.sum()),
        exact_groups=int((sizes > 1).sum()),
        exact_conflicting_groups=int(_mixed(seen).sum()),
        near_pairs=int(len(inside)),
        near_rows=int(near_groups[rows["group"].to_numpy()].sum()),
        near_conflicting_pairs=int(conflicting.sum()),
    )


def _cross(table: pd.DataFrame, groups: _GroupFlags, near: np.ndarray) -> CrossDuplicates:
    test = table[table.split == "test"]
    group, label = test["group"].to_numpy(), test["label"].to_numpy().astype(int)
    in_train, train_seen = groups.present["train"], groups.seen["train"]
    exact = in_train[group]
    exact_conflict = exact & _other_label(train_seen, group, label)
    # For every group: is a near partner in train, and with which labels there?
    near_train = np.zeros(len(in_train), dtype=bool)
    near_seen = np.zeros_like(train_seen)
    for one, other in ((0, 1), (1, 0)):
        if len(near):
            np.logical_or.at(near_train, near[:, one], in_train[near[:, other]])
            for value in range(len(train_seen)):
                np.logical_or.at(near_seen[value], near[:, one], train_seen[value, near[:, other]])
    near_only = ~exact & near_train[group]
    near_conflict = near_only & _other_label(near_seen, group, label)
    rows = max(len(test), 1)
    return CrossDuplicates(
        test_rows=len(test),
        exact_test_rows=int(exact.sum()),
        exact_fraction=float(exact.sum() / rows),
        exact_conflicting_rows=int(exact_conflict.sum()),
        near_test_rows=int(near_only.sum()),
        near_fraction=float(near_only.sum() / rows),
        near_conflicting_rows=int(near_conflict.sum()),
    )


def _row_ref(table: pd.DataFrame, row: int) -> RowRef:
    record = table.loc[row]
    return RowRef(
        split=str(record.split),
        index=int(record.position),
        line=int(record.line),
        label=record.label.item() if isinstance(record.label, np.generic) else record.label,
        preview=preview(record.text),
    )


def _pair_rows(groups: _GroupFlags, first: int, second: int) -> tuple[int, int] | None:
    """Rows to show for two groups: a train row and a test row when they span both splits."""
    names = list(groups.present)
    options = [(a, b) for a in names for b in names if groups.present[a][first] and groups.present[b][second]]
    if not options:
        return None
    a, b = max(options, key=lambda pair: pair[0] != pair[1])
    return groups.first_row[(a, first)], groups.first_row[(b, second)]


def _exact_examples(table: pd.DataFrame, groups: _GroupFlags) -> list[DuplicatePair]:
    repeated = table[table.duplicated("group", keep=False)]
    if repeated.empty:
        return []
    by_group = repeated.groupby("group")
    spans = by_group["split"].nunique()
    mixed = by_group["label"].nunique()
    order = sorted(spans.index, key=lambda group: (-spans[group], -mixed[group]))[:EXAMPLES_KEPT]
    examples = []
    for group in order:
        rows = by_group.get_group(group)
        first = rows.index[0]
        # Prefer the copy in another split, then one with the other label.
        second = max(
            rows.index[1:],
            key=lambda row: (table.at[row, "split"] != table.at[first, "split"],
                             table.at[row, "label"] != table.at[first, "label"]),
        )
        conflict = bool(table.at[first, "label"] != table.at[second, "label"])
        examples.append(DuplicatePair("exact", _row_ref(table, first), _row_ref(table, second), 1.0,
                                      conflict))
    return examples


def _near_examples(table, groups: _GroupFlags, near: np.ndarray,
                   similarity: np.ndarray) -> list[DuplicatePair]:
    if not len(near):
        return []
    names = list(groups.present)
    cross = np.zeros(len(near), dtype=bool)
    for a in names:
        for b in names:
            if a != b:
                cross |= groups.present[a][near[:, 0]] & groups.present[b][near[:, 1]]
    seen = np.any([groups.seen[name] for name in names], axis=0)
    conflict = _mixed(seen[:, near[:, 0]] | seen[:, near[:, 1]])
    order = np.lexsort((-similarity, ~conflict, ~cross))[:EXAMPLES_KEPT]
    examples = []
    for index in order:
        rows = _pair_rows(groups, int(near[index, 0]), int(near[index, 1]))
        first, second = _row_ref(table, rows[0]), _row_ref(table, rows[1])
        examples.append(DuplicatePair("near", first, second, round(float(similarity[index]), 4),
                                      first.label != second.label))
    return examples
