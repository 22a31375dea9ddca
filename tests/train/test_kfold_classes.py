"""K-fold on a dataset with label names: three review classes, the embedded tiny encoder with a
3-way seq-cls head, 2 independent folds run in this process. Folds stratify on the class index, the
out-of-fold file holds one predicted class per training row, and the summary's accuracy and
macro-F1 are the ones recomputed here from those rows."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from sklearn.metrics import f1_score

from core.config.schema import RunConfig
from core.config.text import apply_overrides, config_to_dict
from core.data.records import load_records
from core.demo.reviews import LABEL_NAMES, MAPPING, ensure_review_dataset
from core.train.kfold import KFOLD_KIND, make_folds

K = 2
ROWS = 36


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def review_train(session_workspace, tmp_path_factory) -> Path:
    lines = ensure_review_dataset(session_workspace)["train"].read_text(encoding="utf-8").splitlines()[:ROWS]
    path = tmp_path_factory.mktemp("kfold-reviews") / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def class_run(review_train, session_workspace, tmp_path_factory) -> dict:
    from core.jobs.registry import JobContext, JobRegistry
    from core.train.kfold import run_kfold_job

    cfg = apply_overrides(RunConfig(), [
        "model=embedded-encoder", "head=seq-cls", "method=full", f"data.train={review_train}",
        "data.validation=", "data.test=", "data.text_column=review", "data.label_column=label",
        f"data.label_names={','.join(LABEL_NAMES)}", "data.max_length=48", "train.batch_size=8",
        "train.max_steps=6", "train.learning_rate=2e-3", "train.warmup_ratio=0", "train.logging_steps=1",
        "train.eval_every=0", "train.save_every=6", "kfold.mode=independent", f"kfold.k={K}"])
    registry = JobRegistry(tmp_path_factory.mktemp("kfold-classes"))
    job = registry.claim(registry.submit(KFOLD_KIND, config_to_dict(cfg), start=False).id)
    context = JobContext(job_id=job.id, run_dir=job.run_dir, registry=registry, resume=False, attempt=1)
    summary = run_kfold_job(job.run_dir, config_to_dict(cfg), context)
    registry.finish(job.id, "finished", summary=summary)
    return {"run_dir": job.run_dir, "summary": summary,
            "records": load_records(review_train, mapping=MAPPING).records}


def test_folds_stratify_on_the_class_and_too_few_rows_name_each_class(class_run):
    records = class_run["records"]
    folds = json.loads((class_run["run_dir"] / "folds.json").read_text(encoding="utf-8"))["folds"]
    for fold in folds:
        for label in range(3):
            in_fold = sum(records[index].label == label for index in fold["validation"])
            assert abs(in_fold - sum(record.label == label for record in records) / K) <= 1
    few = [record for record in records if record.label != 1] + [next(r for r in records if r.label == 1)]
    counts = {name: sum(record.label == index for record in few) for index, name in enumerate(LABEL_NAMES)}
    with pytest.raises(ValueError, match="kfold.k: 3 stratified folds") as error:
        make_folds(few, 3, 0, LABEL_NAMES)
    for name, count in counts.items():
        assert f"{count} {name}" in str(error.value)


def test_every_training_row_has_one_predicted_class(class_run):
    records = class_run["records"]
    rows = _lines(class_run["run_dir"] / "oof_predictions.jsonl")
    assert [row["row"] for row in rows] == list(range(ROWS))
    for row in rows:
        record = records[row["row"]]
        assert row["gold"] == record.label and row["gold_label"] == LABEL_NAMES[record.label]
        assert row["predicted"] in (0, 1, 2) and row["predicted_label"] == LABEL_NAMES[row["predicted"]]
        assert len(row["probabilities"]) == 3 and sum(row["probabilities"]) == pytest.approx(1.0, abs=1e-5)
        assert row["predicted"] == max(range(3), key=row["probabilities"].__getitem__)


def test_summary_accuracy_and_macro_f1_are_recomputed_from_the_oof_rows(class_run):
    summary, rows = class_run["summary"], _lines(class_run["run_dir"] / "oof_predictions.jsonl")
    accuracies, f1s = [], []
    for fold in range(K):
        held_out = [row for row in rows if row["fold"] == fold]
        accuracies.append(sum(row["predicted"] == row["gold"] for row in held_out) / len(held_out))
        f1s.append(f1_score([row["gold"] for row in held_out], [row["predicted"] for row in held_out],
                            labels=[0, 1, 2], average="macro", zero_division=0))
        assert summary["per_fold"][fold]["accuracy"] == pytest.approx(accuracies[-1])
        assert summary["per_fold"][fold]["macro_f1"] == pytest.approx(f1s[-1])
    assert summary["accuracy_mean_std"]["mean"] == pytest.approx(statistics.fmean(accuracies))
    assert summary["accuracy_mean_std"]["std"] == pytest.approx(statistics.pstdev(accuracies))
    assert summary["macro_f1_mean_std"]["mean"] == pytest.approx(statistics.fmean(f1s))
    assert summary["accuracy"] == pytest.approx(statistics.fmean(accuracies))
    pooled = summary["oof"]
    assert pooled["rows"] == ROWS and pooled["labels"] == list(LABEL_NAMES)
    assert pooled["accuracy"] == pytest.approx(sum(row["predicted"] == row["gold"] for row in rows) / ROWS)
    matrix = pooled["confusion"]
    for label in range(3):
        assert sum(matrix[label]) == sum(row["gold"] == label for row in rows)
    saved = json.loads((class_run["run_dir"] / "summary.json").read_text(encoding="utf-8"))
    assert saved["macro_f1_mean_std"] == summary["macro_f1_mean_std"]


def test_the_fold_table_shows_accuracy_and_macro_f1(class_run):
    from core.train.run_files import fold_table

    table = fold_table(class_run["summary"])
    assert "accuracy" in table.columns and "macro_f1" in table.columns and "f1" not in table.columns
    assert [row["fold"] for row in table.rows] == list(range(K))
    assert table.mean["macro_f1"] == pytest.approx(class_run["summary"]["macro_f1_mean_std"]["mean"])
