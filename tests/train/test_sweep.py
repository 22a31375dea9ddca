"""Sweeps: expanding grids and random draws, and a real 2x1 grid of train jobs under one parent."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from core.config.schema import RunConfig
from core.config.text import apply_overrides, config_to_dict, load_config
from core.train.sweep import SWEEP_KIND, expand_sweep, sweep_table, sweep_values
from core.workspace import RunDir


def test_a_grid_gives_every_combination_once():
    base = apply_overrides(RunConfig(), ["sweep.grid.train.learning_rate=1e-4,3e-4", "sweep.grid.lora.r=4,8",
                                         "train.epochs=2"])
    trials = expand_sweep(base)
    combinations = [(trial.train.learning_rate, trial.lora.r) for trial in trials]
    assert sorted(combinations) == [(1e-4, 4), (1e-4, 8), (3e-4, 4), (3e-4, 8)]
    for trial in trials:
        assert trial.sweep is None and trial.train.epochs == 2  # the rest of the base is kept
        assert trial.lora.alpha == base.lora.alpha


def test_random_draws_are_seeded_distinct_and_in_range():
    base = apply_overrides(RunConfig(),
                           ["sweep.random.train.learning_rate={low: 1e-5, high: 1e-3, log: true}",
                                         "sweep.random.lora.r=[4, 8, 16]", "sweep.draws=6",
                                         "sweep.random.train.warmup_ratio={low: 0, high: 0.2}"])
    values = sweep_values(base)
    assert len(values) == 6
    assert len({json.dumps(value, sort_keys=True) for value in values}) == 6
    for value in values:
        assert 1e-5 <= value["train.learning_rate"] <= 1e-3
        assert value["lora.r"] in (4, 8, 16) and isinstance(value["lora.r"], int)
        assert 0 <= value["train.warmup_ratio"] <= 0.2
    assert sweep_values(base) == values  # the same seed draws the same trials
    other = sweep_values(apply_overrides(base, ["train.seed=7"]))
    assert other != values
    # A log range spreads over orders of magnitude: draws below 1e-4 are as likely as above.
    many = sweep_values(apply_overrides(base, ["sweep.draws=200", "sweep.random.lora.r=[4]",
                                               "sweep.random.train.warmup_ratio=[0.1]"]))
    below = sum(value["train.learning_rate"] < 1e-4 for value in many)
    assert 60 < below < 140, below


def test_grid_and_random_draws_cross():
    base = apply_overrides(RunConfig(),
                           ["sweep.grid.lora.r=4,8", "sweep.random.train.learning_rate=[1e-4, 2e-4, 3e-4]",
                                         "sweep.draws=2"])
    values = sweep_values(base)
    assert len(values) == 4 and sorted({value["lora.r"] for value in values}) == [4, 8]
    draws = {value["train.learning_rate"] for value in values}
    assert len(draws) == 2
    assert len(expand_sweep(base)) == 4


@pytest.fixture(scope="module")
def sweep_data(demo_splits, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("sweep-data")
    paths = {}
    for split, rows in (("train", 32), ("validation", 8)):
        lines = demo_splits[split].read_text(encoding="utf-8").splitlines()[:rows]
        paths[split] = folder / f"{split}.jsonl"
        paths[split].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def sweep_config(data: dict, model: Path, *overrides: str) -> RunConfig:
    return apply_overrides(RunConfig(), [
        f"model={model}", f"data.train={data['train']}", f"data.validation={data['validation']}",
        "data.test=",
        "data.max_length=96", "data.instruction=判断这段对话是否诈骗", "train.batch_size=4",
        "train.max_steps=3",
        "train.warmup_ratio=0", "train.logging_steps=1", "train.eval_every=0", "train.save_every=3",
        *overrides])


def _start_parent(registry, config: dict):
    """A sweep parent run by this process (as core.jobs.main would), its trials as real job processes."""
    from core.jobs.registry import JobContext
    from core.train.sweep import run_sweep_job

    job = registry.claim(registry.submit(SWEEP_KIND, config, start=False).id)
    context = JobContext(job_id=job.id, run_dir=job.run_dir, registry=registry, resume=False, attempt=1)
    outcome: dict = {}

    def run():
        outcome["summary"] = run_sweep_job(job.run_dir, config, context)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return job, thread, outcome


@pytest.fixture(scope="module")
def grid_run(sweep_data, tiny_model_dir, tmp_path_factory) -> dict:
    from core.jobs.registry import JobRegistry

    registry = JobRegistry(tmp_path_factory.mktemp("sweep-grid"), max_running=1)
    config = config_to_dict(sweep_config(sweep_data, tiny_model_dir,
                                         "sweep.grid.train.learning_rate=1e-3,1e-5", "sweep.grid.lora.r=4"))
    job, thread, outcome = _start_parent(registry, config)
    thread.join(timeout=300)
    assert not thread.is_alive(), registry.log_tail(job.id)
    registry.finish(job.id, "finished", summary=outcome["summary"])
    return {"registry": registry, "job": registry.get(job.id), "summary": outcome["summary"]}


def test_a_two_by_one_grid_runs_two_child_jobs_with_their_configs(grid_run):
    registry, job = grid_run["registry"], grid_run["job"]
    children = registry.children(job.id)
    assert [child.kind for child in children] == ["train", "train"]
    assert all(child.status == "finished" and not child.inline for child in children), \
        [registry.log_tail(child.id) for child in children]
    configs = [load_config(child.run_dir / "config.yaml") for child in children]
    assert [(cfg.train.learning_rate, cfg.lora.r) for cfg in configs] == [(1e-3, 4), (1e-5, 4)]
    assert [child.config["train"]["learning_rate"] for child in children] == [1e-3, 1e-5]
    assert all(cfg.sweep is None and cfg.train.max_steps == 3 for cfg in configs)
    assert [child.run_dir.name for child in children] == ["trial-0", "trial-1"]
    # max_running=1: the trials ran one after the other, never together.
    assert children[1].started_at >= children[0].finished_at


def test_the_table_ranks_trials_by_their_final_eval_loss(grid_run):
    registry, job = grid_run["registry"], grid_run["job"]
    losses = {}
    for child in registry.children(job.id):
        evals = [line["eval_loss"] for line in RunDir(child.run_dir).read_metrics() if line["kind"] == "eval"]
        losses[child.id] = evals[-1]
    table = sweep_table(job.run_dir)
    assert list(table["job_id"]) == sorted(losses, key=losses.get)
    assert list(table["eval_loss"]) == pytest.approx(sorted(losses.values()))
    assert {"train.learning_rate", "lora.r", "status", "trial"} <= set(table.columns)
    assert list(table["status"]) == ["finished", "finished"]
    results = json.loads((job.run_dir / "sweep_results.json").read_text(encoding="utf-8"))
    best = min(losses, key=losses.get)
    assert results["best"]["job_id"] == best and grid_run["summary"]["best"]["job_id"] == best
    assert grid_run["summary"]["trial_statuses"] == {"finished": 2, "stopped": 0, "failed": 0}
    assert grid_run["summary"]["stopped"] is False


def test_stopping_the_sweep_stops_its_trials(sweep_data, tiny_model_dir, tmp_path_factory):
    from core.jobs.registry import JobRegistry

    registry = JobRegistry(tmp_path_factory.mktemp("sweep-stop"), max_running=1)
    config = config_to_dict(sweep_config(sweep_data, tiny_model_dir, "train.max_steps=500",
                                         "train.save_every=50", "sweep.grid.train.learning_rate=1e-3,2e-3"))
    job, thread, outcome = _start_parent(registry, config)
    first = job.run_dir / "trial-0"
    deadline = time.monotonic() + 120
    while not RunDir(first).read_metrics():
        assert time.monotonic() < deadline and thread.is_alive(), registry.log_tail(job.id)
        time.sleep(0.1)
    registry.stop(job.id)
    thread.join(timeout=120)
    assert not thread.is_alive()
    children = registry.children(job.id)
    assert [child.status for child in children] == ["stopped", "stopped"]
    assert children[0].summary["stopped"] is True and children[0].summary["steps"] < 500
    assert children[1].attempts == 0  # queued behind the first, never started
    assert outcome["summary"]["stopped"] is True
    assert list(sweep_table(job.run_dir)["status"]) == ["stopped", "stopped"]
