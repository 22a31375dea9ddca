"""Runs tab handlers on real jobs: the table, overlaid curves, config differences, K-fold summary,
export as a job, delete only after confirmation.

The jobs are this module's own: two short training runs that differ in four keys, and one run
stopped before it started, so these tests do not depend on what another test module ran.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import gradio as gr
import pytest

from core.config.schema import RunConfig, field_specs, get_value
from core.config.text import apply_overrides, config_to_dict
from core.jobs.registry import JobRegistry
from core.train.kfold import KFOLD_KIND
from core.train.submit import start_training
from core.train.training import TRAIN_KIND
from core.workspace import RunDir
from lab import tab_runs
from lab.state import registry_for


def run_configs(workspace: Path) -> tuple[RunConfig, RunConfig]:
    """Two short runs on 32 demo rows, differing in max_steps, eval_every, save_every and learning_rate."""
    from core.demo.dataset import ensure_demo_dataset

    folder = workspace / "ui-runs"
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", 32), ("validation", 8)):
        lines = Path(ensure_demo_dataset(workspace)[split]).read_text(encoding="utf-8").splitlines()[:rows]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    common = [f"data.train={folder / 'train.jsonl'}", f"data.validation={folder / 'validation.jsonl'}",
              "data.test=",
              "data.max_length=128", "train.batch_size=4", "train.logging_steps=1", "train.warmup_ratio=0"]
    first = apply_overrides(RunConfig(),
                            common + ["train.max_steps=6", "train.eval_every=3", "train.save_every=3"])
    second = apply_overrides(RunConfig(),
                             common + ["train.max_steps=4", "train.eval_every=2", "train.save_every=2",
                                                    "train.learning_rate=5e-4"])
    return first, second


@pytest.fixture(scope="module")
def runs(session_workspace, tiny_model_dir) -> dict:
    registry = registry_for(session_workspace)
    first, second = run_configs(session_workspace)
    jobs = [start_training(cfg, session_workspace, registry) for cfg in (first, second)]
    for job in jobs:
        done = registry.wait(job.id, timeout=600)
        assert done.status == "finished", registry.log_tail(job.id, 40)
    never = registry.submit(TRAIN_KIND, config_to_dict(first), start=False)
    registry.stop(never.id)  # stopped while queued: it never ran, so there is nothing to export
    return {"first": jobs[0].id, "second": jobs[1].id, "stopped": never.id}


def test_table_lists_the_jobs_with_their_status(runs, session_workspace):
    frame, choices = tab_runs.runs_table(session_workspace, "en")
    rows = {row["job"]: row for row in frame.to_dict("records")}
    first, second, stopped = rows[runs["first"]], rows[runs["second"]], rows[runs["stopped"]]
    assert (first["kind"], first["status"]) == ("train", "finished")
    assert (stopped["kind"], stopped["status"], stopped["duration"]) == ("train", "stopped", "")
    summary = JobRegistry(session_workspace).get(runs["second"]).summary
    assert second["final metrics"].startswith(f"eval_loss {summary['eval_loss']:.4g} · "
                                              f"train_loss {summary['train_loss']:.4g}")
    assert f"steps {summary['steps']}" in second["final metrics"]
    assert second["duration"].count(":") == 1
    assert (f"{runs['second']} · finished", runs["second"]) in choices
    chinese, _ = tab_runs.runs_table(session_workspace, "zh")
    assert "已完成" in set(chinese["状态"])


def test_compare_overlays_curves_and_lists_only_differing_keys(runs, session_workspace):
    registry = JobRegistry(session_workspace)
    jobs = [registry.get(runs["first"]), registry.get(runs["second"])]
    figure, differences = tab_runs.compare_runs(session_workspace, [job.id for job in jobs], "en")
    traces = {trace.name: (list(trace.x), list(trace.y)) for trace in figure.data}
    assert len(traces) == 4
    for job in jobs:
        lines = RunDir(job.run_dir).read_metrics()
        assert traces[f"{job.id} · train loss"] == ([line["step"] for line in lines
                                                     if line["kind"] == "train"],
                                                    [line["loss"] for line in lines
                                                     if line["kind"] == "train"])
        assert traces[f"{job.id} · eval loss"] == ([line["step"] for line in lines if line["kind"] == "eval"],
                                                   [line["eval_loss"] for line in lines
                                                    if line["kind"] == "eval"])
    # The keys that differ are exactly those whose form values differ between the two configs.
    first, second = run_configs(session_workspace)
    expected = {spec.key for spec in field_specs()
                if get_value(first, spec.key) != get_value(second, spec.key)}
    assert expected == {"train.max_steps", "train.eval_every", "train.save_every", "train.learning_rate"}
    assert set(differences["config key"]) == expected
    row = differences.set_index("config key").loc["train.max_steps"]
    assert (row[runs["first"]], row[runs["second"]]) == ("6", "4")
    # A single run compares with nothing: no differing key.
    # A single run compares with nothing: its whole config is shown.
    _, alone = tab_runs.compare_runs(session_workspace, [runs["second"]], "en")
    assert {spec.key for spec in field_specs()} <= set(alone["config key"])
    assert alone.set_index("config key").loc["train.max_steps", runs["second"]] == "4"
    with pytest.raises(gr.Error, match="choose at least one run"):
        tab_runs.compare_runs(session_workspace, [], "en")


def test_kfold_details_show_fold_metrics_mean_and_std(session_workspace):
    registry = JobRegistry(session_workspace)
    parent = registry.submit(KFOLD_KIND, {"kfold": {"mode": "independent", "k": 3}}, start=False)
    registry.stop(parent.id)
    losses, accuracies = [0.52, 0.61, 0.47], [0.80, 0.75, 0.90]
    for fold, (loss, accuracy) in enumerate(zip(losses, accuracies)):
        child = registry.record_child("fold", parent.id, {"fold": fold})
        registry.set_status(child.id, "finished",
                            summary={"eval_loss": loss, "accuracy": accuracy, "steps": 10})
    head, frame = tab_runs.run_details(session_workspace, parent.id, "en")
    assert parent.id in head and "stopped" in head
    assert list(frame["fold"]) == ["0", "1", "2", "mean ± std"]
    mean_row = frame.iloc[-1]
    assert mean_row["eval_loss"] == f"{statistics.fmean(losses):.4g} ± {statistics.pstdev(losses):.2g}"
    assert mean_row["accuracy"] == f"{statistics.fmean(accuracies):.4g} ± {statistics.pstdev(accuracies):.2g}"
    assert mean_row["steps"] == "10 ± 0"
    # A finished K-fold run's own per-fold summary wins over the fold jobs.
    registry.set_status(parent.id, "finished", summary={"per_fold": [
        {"fold": 0, "eval_loss": 1.0}, {"fold": 1, "eval_loss": 3.0}]})
    _, frame = tab_runs.run_details(session_workspace, parent.id, "en")
    assert list(frame["eval_loss"]) == ["1", "3", "2 ± 1"]
    with pytest.raises(gr.Error, match="tick the confirmation box"):
        tab_runs.delete_job(session_workspace, parent.id, False, "en")
    assert tab_runs.delete_job(session_workspace, parent.id, True, "en") == f"Deleted {parent.id}"
    assert not registry.list(parent_id=parent.id) and not parent.run_dir.exists()


def test_export_runs_as_a_job_and_delete_needs_confirmation(runs, session_workspace):
    registry = JobRegistry(session_workspace)
    with pytest.raises(gr.Error, match="only a finished training run"):
        tab_runs.export_job(session_workspace, runs["stopped"], "en")  # it never ran: nothing to merge
    job, message = tab_runs.export_job(session_workspace, runs["second"], "en")
    assert job.kind == "export" and message.startswith(f"Export job {job.id} submitted")
    assert f"runs/{runs['second']}/merged" in message and str(session_workspace) not in message
    finished = registry.wait(job.id, timeout=180)
    assert finished.status == "finished", registry.log_tail(job.id, 40)
    merged = registry.get(runs["second"]).run_dir / "merged"
    assert (merged / "config.json").is_file()
    assert json.loads((merged / "fraud_lab_run.json").read_text(encoding="utf-8"))["method"] == "merged"
    head, summary = tab_runs.run_details(session_workspace, job.id, "en")
    assert "finished" in head and "output" in set(summary["name"])

    with pytest.raises(gr.Error, match="tick the confirmation box"):
        tab_runs.delete_job(session_workspace, job.id, False, "en")
    assert registry.get(job.id).run_dir.exists()
    tab_runs.delete_job(session_workspace, job.id, True, "en")
    frame, _ = tab_runs.runs_table(session_workspace, "en")
    assert job.id not in set(frame["job"]) and not finished.run_dir.exists()


def test_an_evaluation_job_shows_each_model_s_headline_metrics():
    from lab import run_views

    summary = {"rows": 200, "stopped": False,
               "models": {"base": {"accuracy": 0.5, "f1": 0.0, "invalid": 3},
                          "runs/x/adapter": {"accuracy": 0.995, "f1": 0.99497, "invalid": 0}}}
    text = run_views.summary_text(summary)
    assert "base: accuracy 0.5, f1 0, invalid 3" in text
    assert "runs/x/adapter: accuracy 0.995, f1 0.995" in text and "stopped" not in text
