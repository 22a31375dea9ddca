"""The files of an evaluation run: predictions.jsonl and metrics.json, written and read back.

predictions.jsonl: one line per evaluated row, in file order:
    {"row": k, "file_row": i, "line": n, "input": ..., "gold": {is_fraud, fraud_speaker, reason},
     "models": {name: {is_fraud, fraud_speaker, reason, valid, raw_text, p_true, error}},
     "baseline": {is_fraud, p_true}}   (baseline only when the training file is known)
metrics.json: {"rows", "data_file", "config", "models": [...], "pairs": [...], "baseline", ...};
`fixed` / `broken` in a pair are `row` numbers of predictions.jsonl.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path

from core.eval.compare import compare_pair
from core.eval.metrics import (classification_metrics, curves, multiclass_metrics, rouge_scores,
                               speaker_metrics)
from core.workspace import RunDir, read_json, read_jsonl, write_json, write_jsonl

SHOWN_PROBLEMS = 1000  # problems of skipped rows kept in metrics.json (skipped_lines lists every line)


def write_report(run_dir: Path, rows: list[dict], metrics: dict) -> None:
    """predictions.jsonl, then metrics.json: a reader that finds metrics.json finds the rows too."""
    run = RunDir(run_dir)
    write_jsonl(run.predictions_file, rows)
    write_json(run.eval_metrics, metrics)


def predicted_labels(predictions) -> list[bool | None]:
    """is_fraud of each prediction; None where the answer could not be parsed."""
    return [bool(item.is_fraud) if item.valid and item.is_fraud is not None else None for item in predictions]


def _generic(plan) -> bool:
    mapping = getattr(plan, "mapping", None)
    return mapping is not None and not mapping.is_fraud


def prediction_rows(plan, results: dict[str, list], baseline) -> list[dict]:
    rows = []
    for position, record in enumerate(plan.records):
        gold = ({"label": plan.mapping.names[record.label]} if _generic(plan) else
                {"is_fraud": record.label, "fraud_speaker": record.fraud_speaker, "reason": record.reason})
        row = {"row": position, "file_row": plan.row_indices[position], "line": record.line,
               "input": record.input, "gold": gold,
               "models": {name: predictions[position].to_dict() for name, predictions in results.items()}}
        if baseline is not None and _generic(plan):
            row["baseline"] = {"label": baseline[0][position], "probabilities": baseline[1][position]}
        elif baseline is not None:
            row["baseline"] = {"is_fraud": baseline[0][position], "p_true": baseline[1][position]}
        rows.append(row)
    return rows


def predicted_classes(predictions) -> list[int | None]:
    """The class of each prediction of a dataset with label names; None where none was read."""
    return [item.label if item.valid else None for item in predictions]


def _class_metrics(plan, info: dict, predictions) -> dict:
    entry = dict(info)
    entry["rows"] = len(predictions)
    entry["classification"] = multiclass_metrics([record.label for record in plan.records],
                                                 predicted_classes(predictions), plan.mapping.names,
                                                 [item.probabilities for item in predictions])
    entry["curves"] = entry["speaker"] = entry["rouge"] = None
    return entry


def model_metrics(plan, info: dict, predictions) -> dict:
    if _generic(plan):
        return _class_metrics(plan, info, predictions)
    gold = [record.label for record in plan.records]
    labels = predicted_labels(predictions)
    p_true = [item.p_true for item in predictions]
    entry = dict(info)
    entry["rows"] = len(predictions)
    entry["classification"] = classification_metrics(gold, labels, p_true)
    entry["curves"] = curves(gold, p_true)
    entry["speaker"] = entry["rouge"] = None
    # Speakers and reasons exist only where the model wrote them: generated answers with reasons.
    if plan.config.with_reason and plan.config.mode == "generate" and info.get("head") != "seq_cls":
        entry["speaker"] = speaker_metrics(gold, [record.fraud_speaker for record in plan.records],
                                           [item.fraud_speaker for item in predictions], labels)
        entry["rouge"] = rouge_scores([record.reason for record in plan.records],
                                      [item.reason for item in predictions])
    return entry


def pair_metrics(plan, results: dict[str, list]) -> list[dict]:
    """The base against each checkpoint, then the checkpoints pairwise (insertion order: base first)."""
    gold = [record.label for record in plan.records]
    pairs = []
    answers = predicted_classes if _generic(plan) else predicted_labels
    for first, second in combinations(list(results), 2):
        comparison = compare_pair(gold, answers(results[first]), answers(results[second]),
                                  seed=plan.config.sample_seed)
        pairs.append({"a": first, "b": second, **comparison})
    return pairs


def build_metrics(plan, infos: list[dict], results: dict[str, list], baseline, stopped: bool) -> dict:
    gold = [record.label for record in plan.records]
    metrics = {
        "rows": len(plan.records),
        "total_rows": plan.total_rows,
        "sampled": len(plan.records) < plan.total_rows,
        "data_file": str(plan.data_file),
        "config": asdict(plan.config),
        "gold_positive": sum(gold),
        "stopped": stopped,
        "completed_models": list(results),
        "planned_models": [model.name for model in plan.models],
        "warnings": list(plan.warnings),
        # Rows of the data file left out (bad_rows=skip): how many, their lines, and why.
        "skipped_rows": len({problem.line for problem in plan.skipped}),
        "skipped_lines": sorted({problem.line for problem in plan.skipped}),
        "skipped_problems": [problem.to_dict() for problem in plan.skipped[:SHOWN_PROBLEMS]],
        "models": [model_metrics(plan, info, results[info["name"]]) for info in infos],
        "pairs": pair_metrics(plan, results) if gold else [],
        "baseline": None,
    }
    if baseline is not None:
        labels, scores, train_file = baseline
        generic = _generic(plan)
        answers = predicted_classes if generic else predicted_labels
        metrics["baseline"] = {
            "train_file": train_file,
            "classification": (multiclass_metrics(gold, labels, plan.mapping.names, scores) if generic
                               else classification_metrics(gold, labels, scores)),
            "versus": {name: compare_pair(gold, labels, answers(predictions), seed=plan.config.sample_seed)
                       for name, predictions in results.items()},
        }
    return metrics


@dataclass
class EvalResult:
    """An evaluation run folder as the page shows it; metrics is None while the job still runs."""

    run_dir: Path
    metrics: dict | None
    predictions: list[dict] = field(default_factory=list)
    progress: list[dict] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.metrics is not None

    @property
    def model_names(self) -> list[str]:
        if self.metrics is not None:
            return [entry["name"] for entry in self.metrics["models"]]
        return list(dict.fromkeys(line["model"] for line in self.progress))

    def latest_progress(self) -> dict[str, dict]:
        """The last progress line of each model."""
        latest: dict[str, dict] = {}
        for line in self.progress:
            latest[line["model"]] = line
        return latest

    def summary_rows(self) -> list[dict]:
        """One flat row per model (and the baseline) for a table."""
        if self.metrics is None:
            return []
        rows = []
        for entry in self.metrics["models"]:
            classification = entry["classification"]
            rouge = (entry.get("rouge") or {}).get("rouge-l") or {}
            rows.append({
                "model": entry["name"], "accuracy": classification["accuracy"],
                "precision": classification["precision"], "recall": classification["recall"],
                "f1": classification["f1"], "invalid": classification["invalid"],
                "roc_auc": classification["roc_auc"],
                "speaker_accuracy": (entry.get("speaker") or {}).get("accuracy"),
                "rouge_l_f1": rouge.get("f1"), "rows_per_second": entry["rows_per_second"]})
        baseline = self.metrics.get("baseline")
        if baseline:
            classification = baseline["classification"]
            rows.append({"model": "baseline (TF-IDF + logistic regression)",
                         "accuracy": classification["accuracy"],
                         "precision": classification["precision"], "recall": classification["recall"],
                         "f1": classification["f1"], "invalid": classification["invalid"],
                         "roc_auc": classification["roc_auc"], "speaker_accuracy": None, "rouge_l_f1": None,
                         "rows_per_second": None})
        return rows


def load_evaluation(run_dir: str | Path) -> EvalResult:
    run = RunDir(run_dir)
    return EvalResult(run_dir=run.path, metrics=read_json(run.eval_metrics),
                      predictions=read_jsonl(run.predictions_file), progress=read_jsonl(run.metrics_lines))
