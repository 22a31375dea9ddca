"""K-fold on the tiny model: independent folds run in this process, a chained run as a real job
process that is stopped mid-fold and resumed."""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import pytest

from core.config.schema import RunConfig
from core.config.text import apply_overrides, config_to_dict
from core.train.kfold import KFOLD_KIND
from core.workspace import RunDir

K = 3
ROWS = 60
STEPS = 6


def kfold_config(train: Path, model: Path, mode: str, *overrides: str) -> RunConfig:
    return apply_overrides(RunConfig(), [
        f"model={model}", f"data.train={train}", "data.validation=", "data.test=",
        # A short instruction leaves room for some dialogue in 96 tokens: the tiny model trains fast.
        "data.instruction=判断这段对话是否诈骗", "data.max_length=96",
        "train.batch_size=4", f"train.max_steps={STEPS}", "train.learning_rate=1e-3", "train.warmup_ratio=0",
        "train.logging_steps=1", "train.eval_every=0", "train.save_every=2", f"kfold.mode={mode}",
        f"kfold.k={K}", *overrides])


@pytest.fixture(scope="module")
def small_train(demo_splits, tmp_path_factory) -> Path:
    lines = demo_splits["train"].read_text(encoding="utf-8").splitlines()[:ROWS]
    path = tmp_path_factory.mktemp("kfold-data") / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def independent_run(small_train, tiny_model_dir, tmp_path_factory) -> dict:
    """An independent K-fold job run by this process, as core.jobs.main would run it."""
    from core.jobs.registry import JobContext, JobRegistry
    from core.train.kfold import run_kfold_job

    # Its own workspace: no other test's job process can pump this queued job into a process.
    registry = JobRegistry(tmp_path_factory.mktemp("kfold-independent"))
    config = config_to_dict(kfold_config(small_train, tiny_model_dir, "independent", "train.max_steps=4"))
    job = registry.submit(KFOLD_KIND, config, start=False)
    job = registry.claim(job.id)
    context = JobContext(job_id=job.id, run_dir=job.run_dir, registry=registry, resume=False, attempt=1)
    summary = run_kfold_job(job.run_dir, config, context)
    registry.finish(job.id, "finished", summary=summary)
    return {"registry": registry, "job": registry.get(job.id), "run_dir": job.run_dir, "summary": summary}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _first_losses(run_dir: Path) -> list[float]:
    return [next(line["loss"] for line in RunDir(run_dir / f"fold-{fold}").read_metrics()
                 if line["kind"] == "train")
            for fold in range(K)]


def test_folds_are_saved_stratified_and_partition_the_rows(independent_run, small_train):
    from core.data.records import load_records

    records = load_records(small_train).records
    saved = json.loads((independent_run["run_dir"] / "folds.json").read_text(encoding="utf-8"))
    assert saved["k"] == K and saved["rows"] == ROWS and len(saved["folds"]) == K
    held_out = [index for fold in saved["folds"] for index in fold["validation"]]
    assert sorted(held_out) == list(range(ROWS))  # each row in exactly one validation fold
    fraud = sum(record.label for record in records)
    for fold in saved["folds"]:
        assert sorted(fold["train"] + fold["validation"]) == list(range(ROWS))
        fold_fraud = sum(records[index].label for index in fold["validation"])
        assert abs(fold_fraud - fraud / K) <= 1, (fold_fraud, fraud)


def test_registry_has_one_parent_and_k_finished_children(independent_run):
    registry, job = independent_run["registry"], independent_run["job"]
    assert job.status == "finished" and job.kind == "kfold"
    children = registry.children(job.id)
    assert [child.kind for child in children] == ["fold"] * K
    assert [child.config["fold"] for child in children] == list(range(K))
    assert all(child.status == "finished" and child.inline for child in children)
    assert [child.run_dir for child in children] == [job.run_dir / f"fold-{fold}" for fold in range(K)]
    assert registry.list(parent_id=None) == [job]


def test_every_row_has_exactly_one_out_of_fold_prediction(independent_run, small_train):
    from core.data.records import load_records

    records = load_records(small_train).records
    run_dir = independent_run["run_dir"]
    folds = json.loads((run_dir / "folds.json").read_text(encoding="utf-8"))["folds"]
    fold_of_row = {index: fold["fold"] for fold in folds for index in fold["validation"]}
    rows = _lines(run_dir / "oof_predictions.jsonl")
    assert [row["row"] for row in rows] == list(range(ROWS))
    for row in rows:
        record = records[row["row"]]
        assert row["fold"] == fold_of_row[row["row"]]
        assert row["gold"] == record.label and row["line"] == record.line == row["row"] + 1
        assert 0.0 <= row["p_true"] <= 1.0
        assert row["predicted"] == (row["p_true"] > 0.5)


def _hand_f1(rows: list[dict]) -> float:
    tp = sum(row["predicted"] and row["gold"] for row in rows)
    fp = sum(row["predicted"] and not row["gold"] for row in rows)
    fn = sum(not row["predicted"] and row["gold"] for row in rows)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def test_mean_and_std_come_from_the_per_fold_values(independent_run):
    run_dir, summary = independent_run["run_dir"], independent_run["summary"]
    rows = _lines(run_dir / "oof_predictions.jsonl")
    losses, accuracies, f1s = [], [], []
    for fold in range(K):
        eval_lines = [line for line in RunDir(run_dir / f"fold-{fold}").read_metrics()
                      if line["kind"] == "eval"]
        losses.append(eval_lines[-1]["eval_loss"])
        held_out = [row for row in rows if row["fold"] == fold]
        assert len(held_out) == ROWS // K
        accuracies.append(sum(row["predicted"] == row["gold"] for row in held_out) / len(held_out))
        f1s.append(_hand_f1(held_out))
        assert summary["per_fold"][fold]["accuracy"] == pytest.approx(accuracies[-1])
    for key, values in (("eval_loss", losses), ("accuracy", accuracies), ("f1", f1s)):
        assert summary[f"{key}_mean_std"]["mean"] == pytest.approx(sum(values) / K)
        assert summary[f"{key}_mean_std"]["std"] == pytest.approx(statistics.pstdev(values))
    pooled = sum(row["predicted"] == row["gold"] for row in rows) / ROWS
    assert summary["oof"]["accuracy"] == pytest.approx(pooled) and summary["oof"]["rows"] == ROWS
    assert summary["unbiased"] is True and "notice" not in summary
    saved = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert saved["eval_loss_mean_std"] == summary["eval_loss_mean_std"]


def test_each_fold_keeps_its_curve_with_its_fold_number(independent_run):
    run_dir = independent_run["run_dir"]
    combined = RunDir(run_dir).read_metrics()
    for fold in range(K):
        lines = RunDir(run_dir / f"fold-{fold}").read_metrics()
        assert lines and all(line["fold"] == fold for line in lines)
        assert [line["step"] for line in lines if line["kind"] == "train"] == [1, 2, 3, 4]
        assert [line for line in combined if line["fold"] == fold] == lines
    # Independent folds each start from the untrained base: their first losses are alike.
    first = _first_losses(run_dir)
    assert max(first) - min(first) < 0.3, first


@pytest.fixture(scope="module")
def chained_run(small_train, tiny_model_dir, tmp_path_factory) -> dict:
    """A chained K-fold job process stopped during fold 1, then resumed."""
    from core.jobs.registry import JobRegistry

    registry = JobRegistry(tmp_path_factory.mktemp("kfold-chained"))
    job = registry.submit(KFOLD_KIND, config_to_dict(kfold_config(small_train, tiny_model_dir, "chained")))
    fold_one = job.run_dir / "fold-1"
    deadline = time.monotonic() + 240
    while not any(line["kind"] == "train" for line in RunDir(fold_one).read_metrics()):
        job = registry.get(job.id)
        log = registry.log_tail(job.id, 40)
        assert not job.is_final, f"job ended {job.status} before fold 1 trained: {log}"
        assert time.monotonic() < deadline, registry.log_tail(job.id)
        time.sleep(0.1)
    registry.stop(job.id)
    stopped = registry.wait(job.id, timeout=120)
    at_stop = {"children": registry.children(job.id),
               "fold_0_lines": RunDir(job.run_dir / "fold-0").read_metrics(),
               "checkpoints": sorted(path.name for path in (fold_one / "checkpoints").iterdir())}
    registry.resume(job.id)
    finished = registry.wait(job.id, timeout=240)
    assert finished.status == "finished", registry.log_tail(job.id, 60)
    return {"registry": registry, "stopped": stopped, "finished": finished, "at_stop": at_stop,
            "run_dir": job.run_dir}


def test_stopping_the_parent_stops_the_running_fold(chained_run):
    stopped, at_stop = chained_run["stopped"], chained_run["at_stop"]
    assert stopped.status == "stopped" and stopped.summary == {"stopped": True, "fold": 1, "folds_done": 1}
    assert [(child.config["fold"], child.status) for child in at_stop["children"]] == [(0, "finished"),
                                                                                       (1, "stopped")]
    assert at_stop["checkpoints"]  # fold 1 saved where it stopped


def test_a_resumed_run_continues_at_the_fold_it_was_on(chained_run):
    registry, run_dir = chained_run["registry"], chained_run["run_dir"]
    children = registry.children(chained_run["finished"].id)
    assert [(child.config["fold"], child.status) for child in children] == [(fold, "finished")
                                                                            for fold in range(K)]
    assert [child.attempts for child in children] == [1, 2, 1]  # fold 0 was not trained again
    assert RunDir(run_dir / "fold-0").read_metrics() == chained_run["at_stop"]["fold_0_lines"]
    steps = [line["step"] for line in RunDir(run_dir / "fold-1").read_metrics() if line["kind"] == "train"]
    assert steps == list(range(1, STEPS + 1))  # no step lost or repeated over the stop
    assert "resuming" in (run_dir / "log.txt").read_text(encoding="utf-8")


def test_chained_folds_carry_the_adapter_and_say_their_losses_are_biased(chained_run):
    run_dir, summary = chained_run["run_dir"], chained_run["finished"].summary
    first = _first_losses(run_dir)
    # Fold 1 starts from fold 0's trained adapter, fold 2 from fold 1's: far below a fresh start.
    assert first[1] < first[0] - 0.4 and first[2] < first[0] - 0.4, first
    assert summary["unbiased"] is False and "NOT an unbiased estimate" in summary["notice"]
    assert "NOT an unbiased estimate" in (run_dir / "NOTICE.txt").read_text(encoding="utf-8")
    assert "NOT an unbiased estimate" in (run_dir / "log.txt").read_text(encoding="utf-8")
    assert not (run_dir / "oof_predictions.jsonl").exists()
    losses = [summary["per_fold"][fold]["eval_loss"] for fold in range(K)]
    assert summary["eval_loss"] == pytest.approx(sum(losses) / K)
    # The last fold's adapter is the run's product, loadable like a train run's.
    from safetensors.torch import load_file

    final = load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))
    last = load_file(str(run_dir / f"fold-{K - 1}" / "adapter" / "adapter_model.safetensors"))
    assert final.keys() == last.keys() and all((final[name] == last[name]).all() for name in final)
