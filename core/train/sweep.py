"""Hyper-parameter sweeps: one parent job (kind `sweep`) that queues one child job per trial.

Trials are real jobs of their own (kind `train`, or `kfold` when the base config has K-fold on),
submitted through the registry with `parent_id`, so the queue and `max_running` decide how many
run at once; a parent waiting on spawned children gives its slot up (see core.jobs.registry). Stopping
the parent stops every trial (`JobRegistry.stop` walks the subtree; the parent also stops any
trial still open when it notices its own STOP). A resumed sweep resumes its stopped or failed
trials and keeps the finished ones.

Files: sweep_plan.json (the varied values of each trial), trial-<i>/ (each trial's run folder),
sweep_results.json (rewritten whenever a trial ends; read by `sweep_table`).
"""
from __future__ import annotations

import itertools
import json
import math
import random
import time
from pathlib import Path

from core.config.checks import validate
from core.config.schema import RunConfig, field_specs
from core.config.text import config_from_dict, config_to_dict, save_config
from core.jobs.kinds import NO_GPU, register_job_kind
from core.train.submit import SWEEP, kind_of
from core.workspace import RunDir, read_json, write_json

POLL_SECONDS = 1.0
# Summary values shown for every trial besides the ranking metric.
SHOWN_METRICS = ("eval_loss", "best_eval_loss", "train_loss", "accuracy", "f1", "steps", "seconds")
# Metrics where smaller is better; every other metric (accuracy, f1, roc_auc...) ranks larger first.
LOWER_IS_BETTER = ("loss", "seconds", "invalid_rate")


def metric_ascending(metric: str) -> bool:
    return any(word in metric for word in LOWER_IS_BETTER)


# -- expanding -------------------------------------------------------------------------------------
def _draw(rng: random.Random, choices, kind) -> object:
    if not isinstance(choices, dict):
        return choices[rng.randrange(len(choices))]
    low, high = choices["low"], choices["high"]
    if choices["log"]:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    return min(high, max(low, round(value))) if kind is int else value


def sweep_values(cfg: RunConfig) -> list[dict]:
    """The varied values of each trial: every grid combination, crossed with the random draws.

    Random draws are seeded (sweep.seed when the config has it, else train.seed) and distinct:
    a repeated combination would only train the same run twice, so at most `draws` distinct
    draws are kept from a bounded number of attempts.
    """
    sweep = cfg.sweep
    if sweep is None:
        return [{}]
    grid_keys = list(sweep.grid)
    grid = [dict(zip(grid_keys, values))
            for values in itertools.product(*(sweep.grid[key] for key in grid_keys))]
    if not sweep.random:
        return grid
    kinds = {spec.key: spec.type for spec in field_specs()}
    seed = getattr(sweep, "seed", None)
    rng = random.Random(cfg.train.seed if seed is None else seed)
    draws: list[dict] = []
    for _ in range(max(1, sweep.draws) * 50):
        if len(draws) >= sweep.draws:
            break
        draw = {key: _draw(rng, choices, kinds.get(key)) for key, choices in sweep.random.items()}
        if draw not in draws:
            draws.append(draw)
    return [{**combination, **draw} for combination in grid for draw in draws]


def apply_values(cfg: RunConfig, values: dict) -> RunConfig:
    """cfg without its sweep, with each dotted key set to its value."""
    data = config_to_dict(cfg)
    data["sweep"] = None
    for key, value in values.items():
        target = data
        *sections, leaf = key.split(".")
        for section in sections:
            target = target[section]
        target[leaf] = value
    return config_from_dict(data)


def expand_sweep(cfg: RunConfig) -> list[RunConfig]:
    """One RunConfig (without a sweep) per trial, in trial order."""
    return [apply_values(cfg, values) for values in sweep_values(cfg)]


# -- the job ---------------------------------------------------------------------------------------
def run_sweep_job(run_dir: Path, config: dict, context) -> dict:
    """Entry point of a `sweep` job (SWEEP_KIND, below): queue the trials, wait for them, rank them."""
    run_dir = Path(run_dir)
    cfg = config_from_dict(config)
    if cfg.sweep is None:
        raise ValueError("sweep: a sweep job needs sweep.grid or sweep.random values")
    registry = context.registry
    if not RunDir(run_dir).config_file.is_file():
        save_config(cfg, RunDir(run_dir).config_file)
    plan = _load_or_make_plan(run_dir, cfg)
    existing = {child.run_dir.resolve(): child for child in registry.children(context.job_id)}
    jobs: dict[int, str] = {}
    for entry in plan:
        index = entry["trial"]
        directory = RunDir(run_dir).trial(index).path
        child = existing.get(directory.resolve())
        if child is None:
            if context.stop_requested():
                break
            trial_cfg = apply_values(cfg, entry["values"])
            validate(trial_cfg, registry.workspace, deep=False)
            child = registry.submit(kind_of(trial_cfg), config_to_dict(trial_cfg), parent_id=context.job_id,
                                    run_dir=directory, start=False)
            save_config(trial_cfg, RunDir(directory).config_file)
        elif child.status in ("stopped", "failed") and not context.stop_requested():
            child = registry.resume(child.id)
            print(f"trial {index}: resumed ({child.id})", flush=True)
        jobs[index] = child.id
    print(f"sweep: {len(plan)} trials ranked by {cfg.sweep.metric} "
          f"({'lowest' if metric_ascending(cfg.sweep.metric) else 'highest'} first)", flush=True)

    seen: dict[str, str] = {}
    while True:
        registry.pump()
        children = {index: registry.get(job_id) for index, job_id in jobs.items()}
        statuses = {child.id: child.status for child in children.values()}
        if statuses != seen:
            for index, child in children.items():
                if seen.get(child.id) != child.status:
                    print(f"trial {index} ({child.id}): {child.status}", flush=True)
            seen = statuses
            write_results(run_dir, cfg, plan, children)
        if context.stop_requested():
            for child in children.values():
                if not child.is_final:
                    registry.stop(child.id)
        if all(child.is_final for child in children.values()):
            break
        time.sleep(POLL_SECONDS)

    results = write_results(run_dir, cfg, plan, children)
    counts = {status: sum(trial["status"] == status for trial in results["trials"])
              for status in ("finished", "stopped", "failed")}
    summary = {"stopped": context.stop_requested() or len(jobs) < len(plan), "trials": len(plan),
               "trial_statuses": counts, "metric": cfg.sweep.metric, "best": results["best"]}
    print(f"sweep done: {json.dumps(summary, ensure_ascii=False)}", flush=True)
    return summary


# A sweep parent only waits on its trials (each a job that takes its own GPUs).
SWEEP_KIND = register_job_kind(SWEEP, run_sweep_job, gpus=NO_GPU)


def _load_or_make_plan(run_dir: Path, cfg: RunConfig) -> list[dict]:
    # The plan is saved so a resumed sweep sees the same trials, even from random draws.
    path = RunDir(run_dir).sweep_plan_file
    if path.is_file():
        return read_json(path)
    plan = [{"trial": index, "values": values} for index, values in enumerate(sweep_values(cfg))]
    write_json(path, plan)
    return plan


# -- results ---------------------------------------------------------------------------------------
def _sort_key(metric: str, ascending: bool):
    def key(trial: dict):
        value = trial["metrics"].get(metric)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return (1, 0.0)  # trials without the metric go last
        return (0, value if ascending else -value)
    return key


def write_results(run_dir: Path, cfg: RunConfig, plan: list[dict], children: dict) -> dict:
    """sweep_results.json: every trial's values, status and final metrics, best first."""
    metric = cfg.sweep.metric
    ascending = metric_ascending(metric)
    trials = []
    for entry in plan:
        child = children.get(entry["trial"])
        summary = (child.summary or {}) if child is not None else {}
        metrics = {name: summary.get(name) for name in (*SHOWN_METRICS, metric) if name in summary}
        trials.append({"trial": entry["trial"], "values": entry["values"],
                       "status": child.status if child is not None else "not submitted",
                       "job_id": child.id if child is not None else None,
                       "kind": child.kind if child is not None else None,
                       "run_dir": str(RunDir(run_dir).trial(entry["trial"]).path), "metrics": metrics,
                       "error": _first_line(child.error) if child is not None else None})
    trials.sort(key=_sort_key(metric, ascending))
    ranked = [trial for trial in trials
              if trial["status"] == "finished" and trial["metrics"].get(metric) is not None]
    results = {"metric": metric, "ascending": ascending, "varied": sorted({key for entry in plan
                                                                          for key in entry["values"]}),
               "trials": trials, "best": ranked[0] if ranked else None}
    write_json(RunDir(run_dir).sweep_results_file, results)
    return results


def _first_line(text: str | None) -> str | None:
    return text.splitlines()[0] if text else None


def sweep_table(run_dir: str | Path):
    """The trials as a pandas DataFrame: varied values, status, metrics; best first (empty before any)."""
    import pandas

    results = read_json(RunDir(run_dir).sweep_results_file)
    if results is None:  # a sweep still queued: its trials are not planned yet
        return pandas.DataFrame(columns=["trial", "status", "job_id"])
    metric_names = [name for name in (results["metric"], *SHOWN_METRICS)
                    if any(name in trial["metrics"] for trial in results["trials"])]
    metric_names = list(dict.fromkeys(metric_names))
    rows = []
    for trial in results["trials"]:
        row = {"trial": trial["trial"], "status": trial["status"]}
        row.update({key: _cell(trial["values"].get(key)) for key in results["varied"]})
        row.update({name: trial["metrics"].get(name) for name in metric_names})
        row["job_id"] = trial["job_id"]
        rows.append(row)
    columns = ["trial", "status", *results["varied"], *metric_names, "job_id"]
    table = pandas.DataFrame(rows, columns=columns)
    if results["metric"] in table.columns:
        table[results["metric"]] = pandas.to_numeric(table[results["metric"]], errors="coerce")
        table = table.sort_values(results["metric"], ascending=results["ascending"], na_position="last",
                                  kind="stable")
    return table.reset_index(drop=True)


def _cell(value):
    # A list value (lora.target_modules) would make a pandas cell hold a list; text sorts and shows.
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
