"""Dataset audit: what a trivial model already achieves and what gives the label away.

`audit(train, test)` measures label balance, length by label, label-giving words, speaker-name
leakage, exact/near duplicates and a TF-IDF + logistic-regression baseline, and turns them into
`Finding`s (see core/audit/findings.py for the thresholds). `format_report` renders English
text, `AuditReport.to_dict()` a JSON-able dict; `baseline_predictions(train, rows)` gives the
baseline's per-row answers for the Evaluate view.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np

from core.audit.baseline import BASELINE_MAX_N, BaselineReport, baseline_predictions, baseline_scores
from core.audit.duplicates import DuplicateReport, find_duplicates
from core.audit.findings import Finding, all_findings
from core.audit.length import LengthReport, SplitBalance, balance, length_report
from core.audit.ngrams import char_ngram_matrix, shorter_ngrams
from core.audit.speakers import SpeakerReport, speaker_leakage
from core.audit.words import LabelWordsReport, label_words

__all__ = ["AuditReport", "Finding", "audit", "baseline_predictions", "format_report"]


@dataclass
class AuditReport:
    train_rows: int
    test_rows: int | None
    balance: list[SplitBalance]
    length_chars: LengthReport
    length_tokens: LengthReport | None
    label_words: LabelWordsReport
    speakers: SpeakerReport
    duplicates: DuplicateReport
    baseline: BaselineReport
    findings: list[Finding] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds per stage
    cpu_timings: dict[str, float] = field(default_factory=dict)  # CPU seconds per stage
    seed: int = 42

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


def _texts_and_labels(rows, split: str) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    for index, row in enumerate(rows):
        text, label = getattr(row, "input", None), getattr(row, "label", None)
        if not isinstance(text, str) or not isinstance(label, (bool, np.bool_)):
            where = f"{getattr(row, 'source', '') or split}:{getattr(row, 'line', 0) or index + 1}"
            field_name = "input" if not isinstance(text, str) else "label"
            raise ValueError(f"{where}: {field_name}: the audit needs rows with a text input and a bool "
                             "label")
        texts.append(text)
        labels.append(bool(label))
    return texts, np.array(labels, dtype=bool)


def _token_lengths(tokenizer, texts: list[str]) -> np.ndarray:
    if not texts:
        return np.zeros(0, dtype=int)
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return np.array([len(ids) for ids in encoded], dtype=int)


def audit(train: list, test: list | None = None, tokenizer=None, seed: int = 42) -> AuditReport:
    """Audit `train` (and `test` when given): rows are core.data.records.Record or anything with
    `.input` (str) and `.label` (bool); `.line` names rows in examples when present."""
    if not train:
        raise ValueError("the audit needs at least one training row")
    timings, cpu_timings = {}, {}

    @contextmanager
    def stage(name: str):
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        timings[name] = round(time.perf_counter() - wall, 3)
        cpu_timings[name] = round(time.process_time() - cpu, 3)

    with stage("prepare"):
        train_texts, train_labels = _texts_and_labels(train, "train")
        test_texts, test_labels = _texts_and_labels(test, "test") if test else (None, None)
        splits = {"train": (train_texts, train_labels)}
        if test_texts is not None:
            splits["test"] = (test_texts, test_labels)
        labels = {name: split_labels for name, (_, split_labels) in splits.items()}

    with stage("balance_and_length"):
        balances = [balance(name, split_labels) for name, split_labels in labels.items()]
        char_lengths = {name: np.array([len(text) for text in texts], dtype=int)
                        for name, (texts, _) in splits.items()}
        length_chars = length_report("chars", char_lengths, labels, seed)
    length_tokens = None
    if tokenizer is not None:
        with stage("token_length"):
            token_lengths = {name: _token_lengths(tokenizer, texts) for name, (texts, _) in splits.items()}
            length_tokens = length_report("tokens", token_lengths, labels, seed)

    with stage("ngram_matrix"):
        # One matrix over train + test serves label words (1-4-grams) and the baseline (1-3).
        matrix = char_ngram_matrix(train_texts + (test_texts or []), 1, 4)
        presence = matrix.binary()
        train_rows = np.arange(len(train_texts))
        test_rows = np.arange(len(train_texts),
                              len(train_texts) + len(test_texts)) if test_texts is not None else None

    with stage("label_words"):
        words = label_words(matrix, presence, train_rows, train_texts, train_labels, test_texts,
                            test_labels, seed)
        del presence
        # The baseline reads only the shorter n-grams: the 4-grams (a third of the matrix) go
        # now, before the duplicates and the baseline need their own memory.
        matrix = shorter_ngrams(matrix, BASELINE_MAX_N)

    with stage("speakers"):
        speakers = speaker_leakage(train_texts, train_labels, test_texts, test_labels, seed)

    with stage("duplicates"):
        duplicates = find_duplicates({"train": train, **({"test": test} if test else {})}, seed)

    with stage("baseline"):
        baseline = baseline_scores(matrix, train_rows, train_labels, test_rows, test_labels, seed)

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
    )
    report.findings = all_findings(report)
    return report


def format_report(report: AuditReport) -> str:
    from core.audit.formatting import format_text

    return format_text(report)
