"""Dataset audit: what a trivial model already achieves and what gives the label away.

`audit(train, test)` measures label balance, length by label, label-giving words, speaker-name
leakage, exact/near duplicates and a TF-IDF + logistic-regression baseline, and turns them into
`Finding`s (see core/audit/findings.py for the thresholds). `audit(..., label_names=names)` audits a
dataset with label names (core.data.mapping; rows carry the class index): balance and length per
class, the label-giving words of each class (`class_words`), the multinomial baseline with macro-F1;
speakers belong to the fraud schema's dialogues and are skipped. `format_report` renders English
text, `AuditReport.to_dict()` a JSON-able dict; `baseline_predictions(train, rows)` gives the
baseline's per-row answers for the Evaluate view.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np

from core.audit.baseline import (BASELINE_MAX_N, BaselineReport, baseline_predictions, baseline_scores,
                                 class_baseline_scores)
from core.audit.class_words import ClassWordsReport, class_words
from core.audit.duplicates import DuplicateReport, find_duplicates
from core.audit.findings import Finding, all_findings
from core.audit.length import ClassBalance, LengthReport, SplitBalance, balance, class_balance, length_report
from core.audit.ngrams import char_ngram_matrix, shorter_ngrams
from core.audit.speakers import SpeakerReport, speaker_leakage
from core.audit.words import LabelWordsReport, label_words

__all__ = ["AuditReport", "Finding", "audit", "baseline_predictions", "format_report"]


@dataclass
class AuditReport:
    train_rows: int
    test_rows: int | None
    balance: list[SplitBalance] | list[ClassBalance]  # ClassBalance with label names
    length_chars: LengthReport
    length_tokens: LengthReport | None
    label_words: LabelWordsReport | None  # the fraud schema's true/false words
    speakers: SpeakerReport | None  # the fraud schema only
    duplicates: DuplicateReport
    baseline: BaselineReport
    findings: list[Finding] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds per stage
    cpu_timings: dict[str, float] = field(default_factory=dict)  # CPU seconds per stage
    seed: int = 42
    label_names: list[str] | None = None  # None: the fraud schema (bool labels)
    # With label names: per class, the terms pointing to it (`.by_class`: {class name: [TermScore, ...]},
    # a table per class) and the best one-term rule telling it from the other classes.
    class_words: ClassWordsReport | None = None

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))

    def high_findings(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "high"]


def _jsonable(value):
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _is_class(label, classes: int) -> bool:
    return (isinstance(label, (int, np.integer)) and not isinstance(label, (bool, np.bool_))
            and 0 <= label < classes)


def _texts_and_labels(rows, split: str, label_names=None) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    for index, row in enumerate(rows):
        text, label = getattr(row, "input", None), getattr(row, "label", None)
        good = (isinstance(label, (bool, np.bool_)) if label_names is None
                else _is_class(label, len(label_names)))
        if not isinstance(text, str) or not good:
            where = f"{getattr(row, 'source', '') or split}:{getattr(row, 'line', 0) or index + 1}"
            field_name = "input" if not isinstance(text, str) else "label"
            wanted = ("a bool label" if label_names is None
                      else f"a class index 0-{len(label_names) - 1} ({', '.join(label_names)}) as label")
            raise ValueError(f"{where}: {field_name}: the audit needs rows with a text input and {wanted}")
        texts.append(text)
        labels.append(label)
    return texts, np.array(labels, dtype=bool if label_names is None else int)


def _token_lengths(tokenizer, texts: list[str]) -> np.ndarray:
    if not texts:
        return np.zeros(0, dtype=int)
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return np.array([len(ids) for ids in encoded], dtype=int)


def audit(train: list, test: list | None = None, tokenizer=None, seed: int = 42,
          label_names=None) -> AuditReport:
    """Audit `train` (and `test` when given): rows are core.data.records.Record or anything with
    `.input` (str) and `.label` (bool; with `label_names`, the class index); `.line` names rows in
    examples when present. `label_names` empty or None: the fraud schema."""
    if not train:
        raise ValueError("the audit needs at least one training row")
    names = [str(name) for name in label_names] if label_names else None
    timings, cpu_timings = {}, {}

    @contextmanager
    def stage(name: str):
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        timings[name] = round(time.perf_counter() - wall, 3)
        cpu_timings[name] = round(time.process_time() - cpu, 3)

    with stage("prepare"):
        train_texts, train_labels = _texts_and_labels(train, "train", names)
        test_texts, test_labels = _texts_and_labels(test, "test", names) if test else (None, None)
        splits = {"train": (train_texts, train_labels)}
        if test_texts is not None:
            splits["test"] = (test_texts, test_labels)
        labels = {name: split_labels for name, (_, split_labels) in splits.items()}

    with stage("balance_and_length"):
        balances = [balance(name, split_labels) if names is None else class_balance(name, split_labels, names)
                    for name, split_labels in labels.items()]
        char_lengths = {name: np.array([len(text) for text in texts], dtype=int)
                        for name, (texts, _) in splits.items()}
        length_chars = length_report("chars", char_lengths, labels, seed, names)
    length_tokens = None
    if tokenizer is not None:
        with stage("token_length"):
            token_lengths = {name: _token_lengths(tokenizer, texts) for name, (texts, _) in splits.items()}
            length_tokens = length_report("tokens", token_lengths, labels, seed, names)

    with stage("ngram_matrix"):
        # One matrix over train + test serves label words (1-4-grams) and the baseline (1-3).
        matrix = char_ngram_matrix(train_texts + (test_texts or []), 1, 4)
        presence = matrix.binary()
        train_rows = np.arange(len(train_texts))
        test_rows = np.arange(len(train_texts),
                              len(train_texts) + len(test_texts)) if test_texts is not None else None

    words, per_class = None, None
    with stage("label_words"):
        if names is None:
            words = label_words(matrix, presence, train_rows, train_texts, train_labels, test_texts,
                                test_labels, seed)
        else:
            per_class = class_words(matrix, presence, train_rows, train_labels, names, test_texts,
                                    test_labels)
        del presence
        # The baseline reads only the shorter n-grams: the 4-grams (a third of the matrix) go
        # now, before the duplicates and the baseline need their own memory.
        matrix = shorter_ngrams(matrix, BASELINE_MAX_N)

    speakers = None
    if names is None:  # speaker names are the fraud dialogues' "name:" turns
        with stage("speakers"):
            speakers = speaker_leakage(train_texts, train_labels, test_texts, test_labels, seed)

    with stage("duplicates"):
        duplicates = find_duplicates({"train": train, **({"test": test} if test else {})}, seed,
                                     classes=None if names is None else len(names))

    with stage("baseline"):
        if names is None:
            baseline = baseline_scores(matrix, train_rows, train_labels, test_rows, test_labels, seed)
        else:
            baseline = class_baseline_scores(matrix, train_rows, train_labels, test_rows, test_labels, seed,
                                             len(names))

    report = AuditReport(
        train_rows=len(train),
        test_rows=len(test) if test else None,
        balance=balances,
        length_chars=length_chars,
        length_tokens=length_tokens,
        label_words=words,
        speakers=speakers,
        duplicates=duplicates,
        baseline=baseline,
        timings=timings,
        cpu_timings=cpu_timings,
        seed=seed,
        label_names=names,
        class_words=per_class,
    )
    report.findings = all_findings(report)
    return report


def format_report(report: AuditReport) -> str:
    from core.audit.formatting import format_text

    return format_text(report)
