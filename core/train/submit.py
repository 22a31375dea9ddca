"""Choosing and submitting a training job; nothing here imports torch.

A RunConfig names one of three kinds of job: `sweep` (core.train.sweep runs the trials, each a
train or kfold job), `kfold` (core.train.kfold runs the folds through train_run) or `train`
(core.train.training). The page checks a form on every edit and shows the kind it would start,
so choosing it must cost nothing.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from core.config.checks import validate, with_absolute_paths
from core.config.schema import RunConfig
from core.config.text import config_to_dict, save_config
from core.env import workspace_dir
from core.workspace import RunDir

TRAIN, KFOLD, SWEEP = "train", "kfold", "sweep"
TRAINING_KINDS = (TRAIN, KFOLD, SWEEP)


def job_kind(cfg: RunConfig) -> str:
    """The name of the kind of job that runs this config."""
    if cfg.sweep is not None:
        return SWEEP
    if cfg.kfold.mode != "none":
        return KFOLD
    return TRAIN


def kind_of(cfg: RunConfig):
    """The registered JobKind that runs this config: importing its module registers it (and imports torch)."""
    from core.train import kfold, sweep, training

    return {TRAIN: training.TRAIN_KIND, KFOLD: kfold.KFOLD_KIND, SWEEP: sweep.SWEEP_KIND}[job_kind(cfg)]


def start_training(cfg: RunConfig, workspace: str | Path | None = None, registry=None):
    """Validate, then queue the run as a job whose folder holds config.yaml before it starts."""
    from core.jobs.registry import JobRegistry

    workspace = workspace_dir(workspace)
    validate(cfg, workspace)
    cfg = with_absolute_paths(cfg, workspace)
    registry = registry or JobRegistry(workspace)
    job = registry.submit(kind_of(cfg), config_to_dict(cfg), start=False)
    save_config(cfg, RunDir(job.run_dir).config_file)
    registry.pump()
    return registry.get(job.id)


def train_and_wait(cfg: RunConfig, workspace: str | Path | None = None, registry=None,
                   progress=sys.stderr, poll: float = 1.0) -> dict:
    """Run a training job to its end, echoing its metrics lines to `progress` (None: silent)."""
    from core.jobs.registry import JobRegistry

    workspace = workspace_dir(workspace)
    registry = registry or JobRegistry(workspace)
    job = start_training(cfg, workspace, registry)
    if progress is not None:
        print(f"run {job.id} ({job.run_dir})", file=progress, flush=True)
    shown = 0
    warnings = _LogWarnings(RunDir(job.run_dir).log_file)
    while True:
        registry.pump()
        job = registry.get(job.id)
        if progress is not None:
            for text in warnings.new_lines():
                print(text, file=progress, flush=True)
            lines = RunDir(job.run_dir).read_metrics()
            for line in lines[shown:]:
                print(_progress_text(line), file=progress, flush=True)
            shown = max(shown, len(lines))
        if job.is_final:
            break
        time.sleep(poll)
    result = {"run_id": job.id, "run_dir": str(job.run_dir), "status": job.status,
              "metrics": job.summary or {}}
    if job.error:
        result["error"] = job.error
    return result


class _LogWarnings:
    """The WARNING blocks (a "WARNING" line and its indented lines) appended to a job's log.

    Skipped data rows are reported there by the job; the command line must show them too.
    """

    def __init__(self, path: Path):
        self.path, self.offset, self.inside = path, 0, False

    def new_lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        shown = []
        for text in complete.decode("utf-8", errors="replace").splitlines():
            self.inside = text.startswith("WARNING") or (self.inside and text.startswith("  "))
            if self.inside:
                shown.append(text)
        return shown


def _progress_text(line: dict) -> str:
    if line.get("kind") == "eval":
        return f"step {line['step']}/{line['total_steps']} eval_loss {line['eval_loss']:.4f}"
    return f"step {line['step']}/{line['total_steps']} loss {line['loss']:.4f}"
