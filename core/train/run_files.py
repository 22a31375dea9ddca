"""Reading training runs while their jobs write them: the metrics files of a job and its children,
flattened configs for comparing runs, and the per-fold table of a K-fold run.

The files themselves are named and read by core.workspace (`read_appended` reads a metrics file
from a byte offset, so a poll of a long run costs the same as a poll of a short one).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.workspace import RunDir


@dataclass
class MetricsSource:
    """One metrics file of a job: `label` names the trial it belongs to ("" for the job itself)."""

    label: str
    path: Path


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
    folds = RunDir(job.run_dir).folds()
    if folds:
        return [MetricsSource("", fold.metrics_lines) for fold in folds]
    return [MetricsSource("", RunDir(job.run_dir).metrics_lines)]


def read_all_metrics(job, registry=None) -> list[tuple[str, dict]]:
    """Every metrics line of a job as (source label, line), sources in order."""
    return [(source.label, line) for source in metrics_sources(job, registry)
            for line in RunDir(source.path.parent).read_metrics()]


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


FOLD_COLUMNS = ("eval_loss", "train_loss", "accuracy", "f1", "macro_f1", "roc_auc", "steps", "seconds")


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
