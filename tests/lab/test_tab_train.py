"""Train tab handlers: form <-> config, errors naming the key, a real job polled live, stop, resume.

`ui_runs` starts two real jobs on the tiny model through the tab's handlers and records what
the timer handler saw while the first one ran.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import gradio as gr
import pytest

from core.config.schema import RunConfig, field_specs
from core.config.text import apply_overrides, to_yaml
from core.jobs.registry import JobRegistry
from core.train.kfold import KFOLD_KIND
from core.workspace import RunDir
from lab import run_views, tab_train

LONG_STEPS = 40
SHORT_STEPS = 4


def _subset(source: Path, target: Path, rows: int) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(source.read_text(encoding="utf-8").splitlines()[:rows]) + "\n",
                      encoding="utf-8")
    return target.name


def run_configs(workspace: Path) -> tuple[RunConfig, RunConfig]:
    """A long run (stopped mid-way) and a short one with another learning rate and intervals."""
    from core.demo.dataset import ensure_demo_dataset

    splits = ensure_demo_dataset(workspace)
    _subset(Path(splits["train"]), workspace / "ui-train" / "train.jsonl", 64)
    _subset(Path(splits["validation"]), workspace / "ui-train" / "validation.jsonl", 8)
    common = ["data.train=ui-train/train.jsonl", "data.validation=ui-train/validation.jsonl", "data.test=",
              "data.max_length=128", "train.batch_size=4", "train.logging_steps=1", "train.warmup_ratio=0"]
    # The short run's file ends with a row without dialogue: skipped (data.bad_rows=skip) and shown.
    short_train = workspace / "ui-train" / "train-short.jsonl"
    short_train.write_text((workspace / "ui-train" / "train.jsonl").read_text(encoding="utf-8")
                           + json.dumps({"input": "", "label": True}) + "\n", encoding="utf-8")
    long = apply_overrides(RunConfig(), common + [f"train.max_steps={LONG_STEPS}", "train.eval_every=3",
                                                  "train.save_every=3"])
    short = apply_overrides(RunConfig(), common + [f"train.max_steps={SHORT_STEPS}", "train.eval_every=2",
                                                   "train.save_every=2", "train.learning_rate=5e-4",
                                                   "data.train=ui-train/train-short.jsonl"])
    return long, short


def _lines_before(path: Path, offset: int) -> int:
    return path.read_bytes()[:offset].count(b"\n")


def ui_runs(workspace: Path) -> dict:
    """Start the long and the short run through the Train tab; poll, stop, resume; wait for the short one."""
    long, short = run_configs(workspace)
    registry = JobRegistry(workspace)
    first = tab_train.start_job(workspace, tab_train.form_values(long), "", "en")
    second = tab_train.start_job(workspace, tab_train.form_values(short), "", "en")  # queued behind the first
    picked_while_running = None
    polls, curves = [], None
    deadline = time.monotonic() + 240
    # Until the curve has grown three times and holds an evaluation point.
    while len({poll["points"] for poll in polls if poll["points"]}) < 3 or not any(
            series["kind"] == "eval" for series in (curves or {}).get("series", {}).values()):
        view = tab_train.live_view(workspace, first.id, curves, "en")
        curves = view.curves
        if registry.get(first.id).status == "running" and picked_while_running is None:
            picked_while_running = tab_train.pick_job(workspace)
        if view.figure is not None:
            metrics = first.run_dir / "metrics.jsonl"
            offset = curves["cursors"][str(metrics)][0]
            polls.append({"points": run_views.point_count(curves),
                          "figure_points": sum(len(trace.x) for trace in view.figure.data),
                          "lines_read": _lines_before(metrics, offset) if metrics.exists() else 0,
                          "progress": view.progress, "active": view.active})
        assert registry.get(first.id).status in ("queued", "running"), registry.log_tail(first.id, 40)
        assert time.monotonic() < deadline, registry.log_tail(first.id, 40)
        time.sleep(0.4)
    stop_message = tab_train.control_job(workspace, first.id, "stop", "en")
    stopped = registry.wait(first.id, timeout=180)
    # The short run starts once the slot is free; while it runs, a resumed first run waits in the queue.
    while registry.get(second.id).status == "queued":
        time.sleep(0.2)
    resume_message = tab_train.control_job(workspace, first.id, "resume", "en")
    resumed_status = registry.get(first.id).status
    registry.stop(first.id)
    final_first = registry.wait(first.id, timeout=180)
    finished = registry.wait(second.id, timeout=300)
    assert finished.status == "finished", registry.log_tail(second.id, 60)
    after = tab_train.live_view(workspace, first.id, None, "en")
    facts = {"first": first.id, "second": second.id, "polls": polls, "stop_message": stop_message,
             "stopped_status": stopped.status, "stopped_summary": stopped.summary,
             "resume_message": resume_message, "resumed_status": resumed_status,
             "final_first_status": final_first.status, "picked_while_running": picked_while_running,
             "after_progress": after.progress, "after_active": after.active,
             "after_points": run_views.point_count(after.curves)}
    return facts


@pytest.fixture(scope="module")
def runs(session_workspace, tiny_model_dir) -> dict:
    return ui_runs(session_workspace)


# -- form <-> config -------------------------------------------------------------------------------
def test_every_config_field_has_one_form_component_in_its_group():
    specs = tab_train.form_specs()
    assert [spec.key for spec in specs] == [spec.key for spec in field_specs()]
    groups = {spec.key: tab_train.group_of(spec.key) for spec in specs}
    assert groups["lora.r"] == groups["method"] == "train.group.model"
    assert groups["data.max_length"] == "train.group.data"
    assert groups["train.learning_rate"] == "train.group.hyper" and groups["kfold.k"] == "train.group.kfold"
    assert tab_train.field_label("train.learning_rate", "en") == "Learning rate · train.learning_rate"


@pytest.mark.parametrize("overrides", [
    [],
    ["model=ui-train/some-model", "method=full", "lora.target_modules=q_proj,v_proj",
     "data.system=你是审核员",
     "data.with_reason=true", "train.learning_rate=3e-5", "train.eval_every=epoch", "train.epochs=2.5",
     "kfold.mode=independent", "kfold.k=3", "sweep.grid.train.learning_rate=1e-4,3e-4",
     "sweep.grid.lora.r=4,8", "sweep.random.train.warmup_ratio={low: 0.0, high: 0.2}", "sweep.draws=2",
     "sweep.metric=eval_accuracy"],
])
def test_form_values_round_trip_to_the_same_yaml(overrides, session_workspace):
    cfg = apply_overrides(RunConfig(), overrides)
    values, sweep = tab_train.form_values(cfg), tab_train.sweep_text(cfg)
    assert len(values) == len(tab_train.form_specs())
    assert to_yaml(tab_train.config_from_form(values, sweep)) == to_yaml(cfg)
    assert to_yaml(tab_train.config_from_yaml(to_yaml(cfg))) == to_yaml(cfg)  # "fill the form from YAML"
    shown = tab_train.preview(session_workspace, values, sweep, "en")
    assert shown.yaml == to_yaml(cfg)
    assert shown.command.startswith("python -m lab train")
    for item in overrides:
        key = item.split("=")[0]
        assert f"--set {key}=" in shown.command or f"'{key}=" in shown.command


def test_sweep_lines_are_grid_entries_unless_they_name_a_sweep_key():
    values = tab_train.form_values(RunConfig())
    cfg = tab_train.config_from_form(values, "train.learning_rate=1e-4,3e-4\n# a comment\n\nsweep.draws=0")
    assert cfg.sweep.grid == {"train.learning_rate": [1e-4, 3e-4]}
    assert tab_train.config_from_form(values, "").sweep is None
    with pytest.raises(ValueError, match="sweep: line 1"):
        tab_train.config_from_form(values, "train.learning_rate")


def test_pasted_yaml_errors_name_the_line_or_key():
    with pytest.raises(ValueError, match="line 2: not valid YAML"):
        tab_train.config_from_yaml("train:\n\tepochs: 1\n")
    with pytest.raises(ValueError,
                       match="train.learnig_rate: unknown key \\(did you mean train.learning_rate"):
        tab_train.config_from_yaml("train:\n  learnig_rate: 1e-4\n")


def _with(values: list, key: str, value) -> list:
    keys = [spec.key for spec in tab_train.form_specs()]
    changed = list(values)
    changed[keys.index(key)] = value
    return changed


@pytest.mark.parametrize("key, value, message", [
    ("train.learning_rate", "fast", "train.learning_rate: expected a number"),
    ("train.batch_size", 0, "train.batch_size: must be at least 1"),
    ("train.eval_every", "sometimes", "train.eval_every"),
    ("data.max_length", 8, "data.max_length"),
    ("train.max_steps", None, "train.max_steps"),
])
def test_a_wrong_value_is_a_readable_error_naming_the_key(session_workspace, key, value, message):
    values = _with(tab_train.form_values(RunConfig()), key, value)
    with pytest.raises(gr.Error, match=message):
        tab_train.start_job(session_workspace, values, "", "en")
    # The preview shows the same problem without raising.
    assert key in tab_train.preview(session_workspace, values, "", "en").note


def test_files_outside_the_workspace_are_refused(session_workspace):
    values = _with(tab_train.form_values(RunConfig()), "data.train", "/etc/passwd")
    with pytest.raises(gr.Error, match="outside"):
        tab_train.start_job(session_workspace, values, "", "en")
    values = _with(tab_train.form_values(RunConfig()), "data.train", "ui-train/missing.jsonl")
    with pytest.raises(gr.Error, match="file not found: ui-train/missing.jsonl"):
        tab_train.start_job(session_workspace, values, "", "en")


@pytest.mark.parametrize("line, message", [
    ("data.train={outside}", "outside"), ("data.validation=../outside.jsonl,demo", "outside"),
    ("sweep.random.data.test=[demo, /etc/passwd]", "outside"), ("model=embedded,../models", "outside"),
    ("model=./no-such-model", "model folder not found"),
])
def test_sweep_values_pass_the_path_guard_before_any_trial_starts(session_workspace, tiny_model_dir, tmp_path,
                                                                  line, message):
    outside = tmp_path / "outside.jsonl"
    outside.write_text(json.dumps({"input": "甲: 你好", "label": True}) + "\n", encoding="utf-8")
    (session_workspace.parent / "models").mkdir(exist_ok=True)
    registry = JobRegistry(session_workspace)
    before = {job.id for job in registry.list()}
    line = line.format(outside=outside)
    if line.startswith("sweep.random"):
        line += "\nsweep.draws=2"
    with pytest.raises(gr.Error, match=message):
        tab_train.start_job(session_workspace, tab_train.form_values(RunConfig()), line, "en")
    assert {job.id for job in registry.list()} == before  # no sweep, no trial


def test_sweep_values_are_made_absolute_for_the_job(session_workspace, tiny_model_dir):
    folder = session_workspace / "ui-sweep"
    folder.mkdir(exist_ok=True)
    (folder / "a.jsonl").write_text(json.dumps({"input": "甲: 你好", "label": True}) + "\n", encoding="utf-8")
    cfg = tab_train.config_from_form(tab_train.form_values(RunConfig()), "data.train=ui-sweep/a.jsonl,demo")
    checked = tab_train.with_checked_paths(cfg, session_workspace, "en")
    assert checked.sweep.grid["data.train"] == [str((folder / "a.jsonl").resolve()), "demo"]


def test_stop_and_resume_take_only_the_training_jobs_the_list_offers(session_workspace):
    """An event called directly (/gradio_api) gets no more than the page's job list offers."""
    from core.eval.evaluation import EVAL_KIND

    registry = JobRegistry(session_workspace)
    parent = registry.submit(KFOLD_KIND, {"kfold": {"mode": "independent", "k": 2}}, start=False)
    child = registry.submit(KFOLD_KIND, {}, parent_id=parent.id, start=False)
    evaluation = registry.submit(EVAL_KIND, {}, start=False)
    try:
        for job in (child, evaluation):
            with pytest.raises(gr.Error, match="not a training job of the list"):
                tab_train.control_job(session_workspace, job.id, "stop", "en")
            assert registry.get(job.id).status == "queued"
        with pytest.raises(gr.Error, match="unknown action"):
            tab_train.control_job(session_workspace, parent.id, "delete", "en")
        assert tab_train.control_job(session_workspace, parent.id, "stop", "en").startswith("Stop requested")
    finally:
        for job in (evaluation, parent):
            registry.stop(job.id)
            registry.delete(job.id)


def test_kfold_curves_have_one_line_per_fold(session_workspace):
    registry = JobRegistry(session_workspace)
    job = registry.submit(KFOLD_KIND, {"kfold": {"mode": "independent", "k": 2}}, start=False)
    registry.stop(job.id)  # a queued job stops at once: nothing will run it
    for fold, (losses, eval_loss) in enumerate((([3.0, 2.5, 2.0], 2.1), ([3.1, 2.7], 2.8))):
        folder = job.run_dir / f"fold-{fold}"
        folder.mkdir(parents=True)
        lines = [{"kind": "train", "step": step, "loss": loss, "fold": fold, "total_steps": 3}
                 for step, loss in enumerate(losses, start=1)]
        lines.append({"kind": "eval", "step": len(losses), "eval_loss": eval_loss, "fold": fold})
        (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    view = tab_train.live_view(session_workspace, job.id, None, "en")
    traces = {trace.name: (list(trace.x), list(trace.y)) for trace in view.figure.data}
    assert traces == {"fold 0 · train loss": ([1, 2, 3], [3.0, 2.5, 2.0]), "fold 0 · eval loss": ([3], [2.1]),
                      "fold 1 · train loss": ([1, 2], [3.1, 2.7]), "fold 1 · eval loss": ([2], [2.8])}
    assert "fold 2/2" in view.progress and not view.active
    registry.delete(job.id)


# -- a real job through the tab --------------------------------------------------------------------
def test_timer_handler_adds_the_appended_points(runs, session_workspace):
    polls = [poll for poll in runs["polls"] if poll["points"]]
    counts = [poll["points"] for poll in polls]
    assert counts == sorted(counts) and len(set(counts)) >= 3  # the curve grew between polls
    for poll in polls:
        # Every line the reader passed is a point of the figure, and no other point is.
        assert poll["points"] == poll["lines_read"] == poll["figure_points"]
        assert poll["active"]
    assert "step" in polls[-1]["progress"] and "tokens/s" in polls[-1]["progress"]
    assert runs["picked_while_running"] == runs["first"]


def test_stop_and_resume_through_the_tab(runs, session_workspace):
    assert runs["stop_message"].startswith(f"Stop requested for {runs['first']}")
    assert runs["stopped_status"] == "stopped" and runs["stopped_summary"]["stopped"] is True
    assert 1 <= runs["stopped_summary"]["steps"] < LONG_STEPS
    assert runs["resume_message"].startswith(f"Job {runs['first']} is queued again")
    assert runs["resumed_status"] == "queued" and runs["final_first_status"] == "stopped"
    # After the stop, a fresh poll reads the whole file: every metrics line is a point.
    run_dir = JobRegistry(session_workspace).get(runs["first"]).run_dir
    assert runs["after_points"] == len(RunDir(run_dir).read_metrics()) > 0
    assert "stopped" in runs["after_progress"] and not runs["after_active"]
    with pytest.raises(gr.Error, match="only stopped or failed jobs resume"):
        tab_train.control_job(session_workspace, runs["second"], "resume", "en")
    with pytest.raises(gr.Error, match="choose a training job"):
        tab_train.control_job(session_workspace, None, "stop", "en")


def test_the_job_panel_shows_the_rows_a_run_skipped(runs, session_workspace):
    finished = JobRegistry(session_workspace).get(runs["second"])
    assert finished.summary["skipped_rows"] == 1  # line 65 of train-short.jsonl has no dialogue
    panel = tab_train.live_view(session_workspace, runs["second"], None, "en").progress
    assert "1 bad row(s) skipped (data.bad_rows=skip)" in panel
    assert "<code>train-short.jsonl:65</code> input:" in panel and str(session_workspace) not in panel
    from lab import tab_runs

    head, _ = tab_runs.run_details(session_workspace, runs["second"], "en")
    assert "1 bad row(s) skipped" in head and "train-short.jsonl:65" in head
    assert "bad row" not in tab_train.live_view(session_workspace, runs["first"], None, "en").progress


def test_page_builds_with_the_train_and_runs_tabs(session_workspace):
    from lab.app import build_app

    app = build_app(session_workspace, "en")
    labels = {component["props"].get("label") for component in app.config["components"]}
    assert {"Train", "Runs", "Learning rate · train.learning_rate", "Config (YAML)", "Log tail"} <= labels


def test_a_refused_start_replaces_the_submitted_message(session_workspace):
    """A refused config: the job panel keeps its job, the message under Start says why (in place of
    "Job ... submitted") and, kept as a key, is worded again after a language switch."""
    values = _with(tab_train.form_values(RunConfig()), "model", "../../etc")
    outputs = tab_train.start_outputs(session_workspace, "en", "", *values)
    assert all(value == gr.skip() for value in outputs[:6])
    assert "outside" in outputs[6] and "lab-error" in outputs[6] and "submitted" not in outputs[6]
    assert tab_train.note_html(outputs[7], "zh") == outputs[6]  # an error is shown as it was said
    started = {"key": "train.started", "values": {"job": "abc"}}
    assert "abc" in tab_train.note_html(started, "en") and "submitted" in tab_train.note_html(started, "en")
    assert "已提交任务" in tab_train.note_html(started, "zh")


def test_a_stopped_job_shows_the_step_it_stopped_at():
    """The log says "saving a checkpoint at step 27"; the bar said 25/80, the last logged step."""
    from types import SimpleNamespace

    job = SimpleNamespace(id="j", status="stopped", is_active=False, error=None, config={},
                          summary={"stopped": True, "steps": 27, "total_steps": 80})
    curves = {"last": {"step": 25, "total_steps": 80}, "last_train": {"loss": 1.0}}
    assert "27/80" in run_views.progress_html(job, curves, "en").replace(" ", "")
    running = SimpleNamespace(id="j", status="running", is_active=True, error=None, config={}, summary=None)
    assert "25/80" in run_views.progress_html(running, curves, "en").replace(" ", "")


def test_every_form_field_has_its_help_in_chinese():
    """The Train, Tokenize and Evaluate forms' help lines: Chinese on the Chinese page, the spec's own
    English on the English one."""
    from core.config.schema import EvalConfig, field_specs
    from lab.help_zh import HELP_ZH, field_help

    keys = {f"cfg.{spec.key}" for spec in field_specs(include_sweep=False)}
    keys |= {f"evalcfg.{spec.key}" for spec in field_specs(EvalConfig)}
    assert keys == set(HELP_ZH)
    spec = next(spec for spec in field_specs(include_sweep=False) if spec.key == "data.max_length")
    assert field_help(spec.key, spec.help, "en") == spec.help
    assert field_help(spec.key, spec.help, "zh") == HELP_ZH["cfg.data.max_length"] != spec.help
