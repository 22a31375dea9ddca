"""Reading a run folder while its job writes it: metrics lines appended since the last read,
the metrics files of a job and its children, and flattened configs for comparing runs.

The page polls a running job every two seconds; re-reading the whole metrics.jsonl each time
would grow with the run, so `read_appended` reads from a byte offset and parses only the new,
complete lines. json-lines readers in pandas / datasets read whole files, hence this one.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.train.callbacks import METRICS_FILE, read_metrics

# Bytes just before the offset, kept to notice a file rewritten under the reader: a resumed run
# truncates its metrics to the checkpoint, a K-fold parent rebuilds its combined file.
CHECK_BYTES = 64
FOLD_PATTERN = re.compile(r"^fold-(\d+)$")


@dataclass
class Appended:
    """What `read_appended` found: new lines, where to read next, and whether it started over."""

    lines: list[dict]
    offset: int
    check: str  # hex of the bytes before `offset`
    restarted: bool = False


def read_appended(path: str | Path, offset: int = 0, check: str = "") -> Appended:
    """The complete lines appended to a metrics file since `offset`.

    A partly written last line is left for the next read. When the bytes before `offset` are not
    the ones seen last time (or the file shrank or vanished), the file was rewritten: everything
    is read again from the start and `restarted` is True, so the caller drops what it had.
    """
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return Appended([], 0, "", restarted=offset > 0)
    with handle:
        size = handle.seek(0, 2)
        before = bytes.fromhex(check)
        restarted = False
        if offset:
            if size < offset or len(before) > offset:
                restarted = True
            else:
                handle.seek(offset - len(before))
                restarted = handle.read(len(before)) != before
        if restarted:
            offset, before = 0, b""
        handle.seek(offset)
        data = handle.read(size - offset)
    complete = data[: data.rfind(b"\n") + 1]
    lines = []
    for raw in complete.splitlines():
        if raw.strip():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue  # a line cut by a killed process; a resume truncates it away
    return Appended(lines, offset + len(complete), (before + complete)[-CHECK_BYTES:].hex(), restarted)


@dataclass
class MetricsSource:
    """One metrics file of a job: `label` names the trial it belongs to ("" for the job itself)."""

    label: str
    path: Path


def fold_folders(run_dir: str | Path) -> list[Path]:
    """A K-fold run's fold-<i>/ folders in fold order."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(match.group(1)), entry) for entry in run_dir.iterdir()
             if entry.is_dir() and (match := FOLD_PATTERN.match(entry.name))]
    return [entry for _, entry in sorted(found)]


def metrics_sources(job, registry=None) -> list[MetricsSource]:
    """The files that hold a job's curves, read live.

    K-fold: each fold's own file (the parent's combined file is only rebuilt after each fold).
    Sweep: each trial's sources, labelled by trial. Anything else: run_dir/metrics.jsonl.
    """
    if job.kind == "sweep" and registry is not None:
        sources = []
        for number, child in enumerate(registry.children(job.id), start=1):
            label = f"#{number} {child.id.rsplit('-', 1)[-1]}"
            sources += [MetricsSource(label, source.path) for source in metrics_sources(child, registry)]
        return sources
    folds = fold_folders(job.run_dir)
    if folds:
        return [MetricsSource("", folder / METRICS_FILE) for folder in folds]
    return [MetricsSource("", Path(job.run_dir) / METRICS_FILE)]


def read_all_metrics(job, registry=None) -> list[tuple[str, dict]]:
    """Every metrics line of a job as (source label, line), sources in order."""
    return [(source.label, line) for source in metrics_sources(job, registry)
            for line in read_metrics(source.path.parent)]


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys ({"train": {"seed": 1}} -> {"train.seed": 1}); lists as text."""
    if isinstance(config, dict):
        flat: dict[str, Any] = {}
        for key, value in config.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict) and value:
                flat.update(flatten(value, name))
            else:
                flat[name] = _plain(value)
        return flat
    return {prefix: _plain(config)}


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
    return value


def config_differences(configs: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """Only the dotted keys whose values differ between the configs: key -> {name: value}.

    A key one config lacks counts as differing (its value is None there).
    """
    flat = {name: flatten(config or {}) for name, config in configs.items()}
    keys: list[str] = []
    for values in flat.values():
        keys += [key for key in values if key not in keys]
    differing = {}
    for key in keys:
        row = {name: values.get(key) for name, values in flat.items()}
        if len({json.dumps(value, sort_keys=True, default=str) for value in row.values()}) > 1:
            differing[key] = row
    return differing


@dataclass
class FoldTable:
    """Per-fold metrics of a K-fold run and their mean and (population) std."""

    columns: list[str]
    rows: list[dict] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)


FOLD_COLUMNS = ("eval_loss", "train_loss", "accuracy", "f1", "roc_auc", "steps", "seconds")


def fold_table(summary: dict | None, children: list | None = None) -> FoldTable:
    """From the K-fold summary's per_fold list, or, while it runs, from the finished fold jobs."""
    import statistics

    per_fold = list((summary or {}).get("per_fold") or [])
    if not per_fold:
        per_fold = [dict(child.summary, fold=child.config.get("fold")) for child in (children or [])
                    if child.summary and child.status == "finished"]
    columns = [column for column in FOLD_COLUMNS if any(row.get(column) is not None for row in per_fold)]
    table = FoldTable(columns=columns, rows=[{"fold": row.get("fold"), **{column: row.get(column)
                                                                          for column in columns}}
                                             for row in per_fold])
    for column in columns:
        values = [float(row[column]) for row in per_fold if row.get(column) is not None]
        if values:
            table.mean[column] = statistics.fmean(values)
            table.std[column] = statistics.pstdev(values)
    return table
