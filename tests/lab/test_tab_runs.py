"""Runs tab handlers on real jobs: the table, overlaid curves, config differences, K-fold summary,
export as a job, delete only after confirmation."""
from __future__ import annotations

import json
import statistics

import gradio as gr
import pytest

from core.config import field_specs
from core.jobs.registry import JobRegistry
from core.workspace import RunDir
from lab import tab_runs
from tests.lab.test_tab_train import run_configs, ui_runs


@pytest.fixture(scope="module")
def runs(session_workspace, tiny_model_dir) -> dict:
    return ui_runs(session_workspace)


def test_table_lists_the_jobs_with_their_status(runs, session_workspace):
    frame, choices = tab_runs.runs_table(session_workspace, "en")
    rows = {row["job"]: row for row in frame.to_dict("records")}
    first, second = rows[runs["first"]], rows[runs["second"]]
    assert (first["kind"], first["status"]) == ("train", "stopped")
    assert (second["kind"], second["status"]) == ("train", "finished")
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
        assert traces[f"{job.id} · train loss"] == ([line["step"] for line in lines if line["kind"] == "train"],
                                                    [line["loss"] for line in lines if line["kind"] == "train"])
        assert traces[f"{job.id} · eval loss"] == ([line["step"] for line in lines if line["kind"] == "eval"],
                                                   [line["eval_loss"] for line in lines if line["kind"] == "eval"])
    # The keys that differ are exactly those whose form values differ between the two configs.
    long, short = run_configs(session_workspace)
    expected = {spec.key for spec in field_specs()
                if _get(long, spec.key) != _get(short, spec.key)}
    assert expected == {"train.max_steps", "train.eval_every", "train.save_every", "train.learning_rate"}
    assert set(differences["config key"]) == expected
    row = differences.set_index("config key").loc["train.max_steps"]
    assert (row[runs["first"]], row[runs["second"]]) == ("40", "4")
    # A single run compares with nothing: no differing key.
    _, alone = tab_runs.compare_runs(session_workspace, [runs["second"]], "en")
    assert list(alone["config key"]) == ["The configs of these runs are identical"]
    with pytest.raises(gr.Error, match="choose at least one run"):
        tab_runs.compare_runs(session_workspace, [], "en")


def _get(cfg, key):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def test_kfold_details_show_fold_metrics_mean_and_std(session_workspace):
    registry = JobRegistry(session_workspace)
    parent = registry.submit("kfold", {"kfold": {"mode": "independent", "k": 3}}, start=False)
    registry.stop(parent.id)
    losses, accuracies = [0.52, 0.61, 0.47], [0.80, 0.75, 0.90]
    for fold, (loss, accuracy) in enumerate(zip(losses, accuracies)):
        child = registry.record_child("fold", parent.id, {"fold": fold})
        registry.set_status(child.id, "finished", summary={"eval_loss": loss, "accuracy": accuracy, "steps": 10})
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
        tab_runs.export_job(session_workspace, runs["first"], "en")  # stopped: nothing to merge
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
