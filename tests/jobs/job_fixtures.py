"""Tiny job functions run by real job processes in tests/jobs/test_registry.py.

The tests register their own job kinds, as core modules register theirs: none of them costs a torch
import in the job process unless a job asks for the device probe (config "probe_device").
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from core.jobs.kinds import register_job_kind


def _append(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def sleepy(run_dir: Path, config: dict, context) -> dict:
    """Counts steps into steps.txt; like a checkpoint, a resumed run continues from the last step."""
    steps_file = run_dir / "steps.txt"
    _append(run_dir / "resume.txt", str(context.resume))
    done = len(steps_file.read_text().splitlines()) if context.resume and steps_file.exists() else 0
    print(f"sleepy starts at step {done}", flush=True)
    for step in range(done, config["steps"]):
        if context.stop_requested():
            _append(run_dir / "events.txt", f"saw stop before step {step}")
            return {"steps": step, "stopped": True}
        time.sleep(config.get("step_seconds", 0.05))
        _append(steps_file, f"step {step}")
    return {"steps": config["steps"], "resumed": context.resume}


def failing(run_dir: Path, config: dict, context) -> dict:
    print("about to fail", flush=True)
    raise ValueError(config["message"])


def stubborn(run_dir: Path, config: dict, context) -> dict:
    """Ignores STOP and has a child process of its own: only a hard stop ends it."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    (run_dir / "child.pid").write_text(str(child.pid))
    for _ in range(1200):
        time.sleep(0.1)
    return {}


def with_folds(run_dir: Path, config: dict, context) -> dict:
    """A parent that runs its folds inline and records them as child jobs."""
    scores = []
    for fold in range(config["folds"]):
        fold_dir = run_dir / f"fold-{fold}"
        child = context.record_child("fold", {"fold": fold}, run_dir=fold_dir)
        context.registry.set_status(child.id, "running")
        for _ in range(config.get("steps", 2)):
            if (fold_dir / "STOP").exists():
                context.registry.set_status(child.id, "stopped")
                return {"stopped": True}
            time.sleep(0.05)
        score = (fold + 1) / 10
        scores.append(score)
        context.registry.set_status(child.id, "finished", summary={"score": score})
    return {"mean_score": sum(scores) / len(scores)}


SLEEPY = register_job_kind("sleepy", sleepy, probe_device=False)
FAILING = register_job_kind("failing", failing, probe_device=False)
STUBBORN = register_job_kind("stubborn", stubborn, probe_device=False)
WITH_FOLDS = register_job_kind("with_folds", with_folds, probe_device=False)
