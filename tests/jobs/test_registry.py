"""The job registry with real job processes (functions in tests/job_fixtures.py)."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core.jobs.registry import JobRegistry, JobStateError, UnknownJob, kill_tree, process_alive, read_tail
from core.workspace import RunDir
from core.jobs.kinds import register_job_kind
from tests.jobs.job_fixtures import FAILING, SLEEPY, STUBBORN, WITH_FOLDS

TIMEOUT = 30


def wait_until(predicate, timeout: float = TIMEOUT, what: str = "condition"):
    """Polls without touching the registry's pump, so nothing here starts jobs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


@pytest.fixture
def workspace(tmp_path):
    workspace = tmp_path / "workspace"
    yield workspace
    # Never leave job processes behind, whatever the test did.
    for job in JobRegistry(workspace).list():
        if job.is_active and job.pid:
            kill_tree(job.pid, job.pid_create_time, grace=1.0)
        child_pid = job.run_dir / "child.pid"
        if child_pid.exists():
            kill_tree(int(child_pid.read_text()), grace=1.0)


def test_submitted_job_runs_in_its_own_process_and_finishes(workspace):
    import torch

    registry = JobRegistry(workspace, max_running=2)
    job = registry.submit(SLEEPY, {"steps": 3, "step_seconds": 0.01, "probe_device": True})
    assert re.fullmatch(r"\d{8}-\d{6}-sleepy-[0-9a-f]{4}", job.id)
    assert job.status == "running" and job.pid not in (None, os.getpid())
    assert job.run_dir == workspace.resolve() / "runs" / job.id

    done = registry.wait(job.id, timeout=TIMEOUT, poll=0.1)
    assert done.status == "finished", done.error
    assert done.summary == {"steps": 3, "resumed": False}
    assert lines(done.run_dir / "steps.txt") == ["step 0", "step 1", "step 2"]
    assert sorted(path.name for path in done.run_dir.iterdir()) == ["log.txt", "resume.txt", "steps.txt"]
    assert done.attempts == 1 and done.started_at <= done.finished_at
    log = registry.log_tail(job.id, lines=100)
    assert f"=== job {job.id} (sleepy) attempt 1 ===" in log
    assert f"device: {'cuda' if torch.cuda.is_available() else 'cpu'}" in log
    # Each job gets one GPU of its own; on a machine without one nothing is set.
    assert done.device == (registry.gpus[0] if torch.cuda.is_available() else None)
    if done.device is not None:
        assert f"CUDA_VISIBLE_DEVICES={done.device})" in log
    assert f"=== job {job.id} finished" in log


def test_failing_job_is_failed_with_the_error_message(workspace):
    registry = JobRegistry(workspace, max_running=1)
    job = registry.submit(FAILING, {"message": "boom 42"})
    done = registry.wait(job.id, timeout=TIMEOUT, poll=0.1)
    assert done.status == "failed"
    assert done.error == "ValueError: boom 42"
    log = registry.log_tail(job.id)
    assert "about to fail" in log and "Traceback (most recent call last)" in log


def test_stop_asks_the_job_and_it_ends_stopped(workspace):
    registry = JobRegistry(workspace, max_running=1)
    job = registry.submit(SLEEPY, {"steps": 400, "step_seconds": 0.05})
    wait_until(lambda: (job.run_dir / "steps.txt").exists(), what="first step")

    stopping = registry.stop(job.id)
    # The job may see STOP within one 0.05 s step, before stop() reads its row back.
    assert stopping.status in ("stopping", "stopped") and RunDir(job.run_dir).stop_requested()
    done = registry.wait(job.id, timeout=TIMEOUT, poll=0.1)
    assert done.status == "stopped" and done.error is None
    assert lines(job.run_dir / "events.txt")[0].startswith("saw stop before step")
    assert 0 < done.summary["steps"] < 400


def test_killed_job_process_is_reported_lost_and_the_queue_moves_on(workspace):
    registry = JobRegistry(workspace, max_running=1)
    first = registry.submit(SLEEPY, {"steps": 400, "step_seconds": 0.05})
    second = registry.submit(SLEEPY, {"steps": 2, "step_seconds": 0.01})
    assert second.status == "queued"
    wait_until(lambda: (first.run_dir / "steps.txt").exists(), what="first job running")

    os.kill(first.pid, signal.SIGKILL)
    wait_until(lambda: not process_alive(first.pid, first.pid_create_time), what="process death")
    assert registry.pump() == [second.id]
    lost = registry.get(first.id)
    assert lost.status == "failed"
    assert lost.error.startswith("process lost\n")
    assert f"=== job {first.id} (sleepy) attempt 1 ===" in lost.error
    assert "sleepy starts at step 0" in lost.error
    assert registry.wait(second.id, timeout=TIMEOUT, poll=0.1).status == "finished"


def test_queued_job_starts_when_the_running_one_ends_without_any_pump(workspace):
    registry = JobRegistry(workspace, max_running=1)
    first = registry.submit(SLEEPY, {"steps": 3, "step_seconds": 0.05})
    second = registry.submit(SLEEPY, {"steps": 2, "step_seconds": 0.01})
    assert (first.status, second.status) == ("running", "queued")

    done = wait_until(lambda: (job := registry.get(second.id)).is_final and job, what="second job")
    assert done.status == "finished"
    assert done.started_at >= registry.get(first.id).finished_at
    wait_until(lambda: not process_alive(first.pid, first.pid_create_time), what="first job process exit")
    assert f"started queued job(s): {second.id}" in registry.log_tail(first.id)


def test_a_new_registry_on_the_workspace_sees_and_monitors_the_live_job(workspace):
    first_server = JobRegistry(workspace, max_running=1)
    job = first_server.submit(SLEEPY, {"steps": 400, "step_seconds": 0.05})
    wait_until(lambda: (job.run_dir / "steps.txt").exists(), what="job running")
    del first_server

    restarted = JobRegistry(workspace)
    assert restarted.max_running == 1
    assert restarted.reconcile() == []
    seen = restarted.get(job.id)
    assert (seen.status, seen.pid, seen.config) == ("running", job.pid, job.config)
    assert [listed.id for listed in restarted.list(parent_id=None)] == [job.id]
    assert restarted.stop(job.id, wait=True, timeout=TIMEOUT).status == "stopped"


def test_reconcile_detects_reused_pid_and_lost_stopping_job(workspace):
    registry = JobRegistry(workspace, max_running=1)
    running = registry.submit(SLEEPY, {"steps": 1}, start=False)
    stopping = registry.submit(SLEEPY, {"steps": 1}, start=False)
    real_start = psutil.Process().create_time()
    database = sqlite3.connect(workspace / "jobs.sqlite")
    with database:  # this test process stands in for the job process
        database.execute("UPDATE jobs SET status = 'running', pid = ?, pid_create_time = ? WHERE id = ?",
                         (os.getpid(), real_start, running.id))
        database.execute("UPDATE jobs SET status = 'stopping', pid = ?, pid_create_time = ? WHERE id = ?",
                         (os.getpid(), real_start, stopping.id))
    assert registry.reconcile() == []

    with database:  # same pid, other start time: the pid now belongs to another process
        database.execute("UPDATE jobs SET pid_create_time = ?", (real_start - 3600,))
    database.close()
    assert sorted(registry.reconcile()) == sorted([running.id, stopping.id])
    assert registry.get(running.id).status == "failed"
    assert registry.get(running.id).error == "process lost"
    assert registry.get(stopping.id).status == "stopped"


def test_resume_continues_a_stopped_job_with_context_resume(workspace):
    registry = JobRegistry(workspace, max_running=1)
    job = registry.submit(SLEEPY, {"steps": 30, "step_seconds": 0.05})
    wait_until(lambda: (job.run_dir / "steps.txt").exists(), what="first step")
    assert registry.stop(job.id, wait=True, timeout=TIMEOUT).status == "stopped"
    steps_before = len(lines(job.run_dir / "steps.txt"))
    assert 0 < steps_before < 30

    resumed = registry.resume(job.id)
    assert resumed.status == "running" and resumed.attempts == 2
    assert not RunDir(job.run_dir).stop_requested()
    done = registry.wait(job.id, timeout=TIMEOUT, poll=0.1)
    assert done.status == "finished" and done.summary == {"steps": 30, "resumed": True}
    assert lines(job.run_dir / "resume.txt") == ["False", "True"]
    assert lines(job.run_dir / "steps.txt") == [f"step {step}" for step in range(30)]
    assert f"=== job {job.id} (sleepy) attempt 2 ===" in registry.log_tail(job.id, lines=200)
    with pytest.raises(JobStateError):
        registry.resume(job.id)


def test_delete_refuses_a_running_job_and_removes_a_stopped_one(workspace):
    registry = JobRegistry(workspace, max_running=1)
    job = registry.submit(SLEEPY, {"steps": 400, "step_seconds": 0.05})
    with pytest.raises(JobStateError, match="still running"):
        registry.delete(job.id)
    assert registry.get(job.id).status == "running" and job.run_dir.is_dir()

    registry.stop(job.id, wait=True, timeout=TIMEOUT)
    registry.delete(job.id)
    with pytest.raises(UnknownJob):
        registry.get(job.id)
    assert not job.run_dir.exists()


def test_parent_records_its_inline_folds_as_children(workspace):
    registry = JobRegistry(workspace, max_running=1)
    parent = registry.submit(WITH_FOLDS, {"folds": 2})
    done = registry.wait(parent.id, timeout=TIMEOUT, poll=0.1)
    assert done.status == "finished", done.error
    folds = registry.children(parent.id)
    assert [(fold.kind, fold.status, fold.inline) for fold in folds] == [("fold", "finished", True)] * 2
    assert [fold.summary["score"] for fold in folds] == [0.1, 0.2]
    assert done.summary["mean_score"] == pytest.approx((0.1 + 0.2) / 2)
    assert [fold.run_dir for fold in folds] == [parent.run_dir / "fold-0", parent.run_dir / "fold-1"]
    assert {fold.pid for fold in folds} == {done.pid}  # they ran inside the parent's process
    assert [job.id for job in registry.list(parent_id=None)] == [parent.id]


def test_stopping_a_parent_stops_its_running_fold(workspace):
    registry = JobRegistry(workspace, max_running=1)
    parent = registry.submit(WITH_FOLDS, {"folds": 2, "steps": 400})
    fold = wait_until(lambda: registry.children(parent.id), what="first fold")[0]
    wait_until(lambda: registry.get(fold.id).status == "running", what="fold running")

    registry.stop(parent.id)
    # The fold polls for STOP every step, so under load it may already have ended by the next read.
    assert registry.get(fold.id).status in ("stopping", "stopped") and RunDir(fold.run_dir).stop_requested()
    assert registry.wait(parent.id, timeout=TIMEOUT, poll=0.1).status == "stopped"
    assert [child.status for child in registry.children(parent.id)] == ["stopped"]


def test_hard_stop_kills_a_job_that_ignores_stop_with_its_child_process(workspace):
    registry = JobRegistry(workspace, max_running=1)
    job = registry.submit(STUBBORN, {})
    pid_file = job.run_dir / "child.pid"
    child_pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), what="child process"))
    started = time.monotonic()
    done = registry.stop(job.id, wait=True, timeout=1.0)
    assert done.status == "stopped"
    assert time.monotonic() - started < 10
    assert not process_alive(job.pid, job.pid_create_time)
    wait_until(lambda: not process_alive(child_pid), timeout=5, what="grandchild death")


def test_submit_refuses_what_cannot_run(workspace):
    registry = JobRegistry(workspace, max_running=1)
    with pytest.raises(ValueError, match="unknown job kind 'nonsense'"):
        registry.submit("nonsense", {})
    with pytest.raises(TypeError, match="not JSON-serializable"):
        registry.submit(SLEEPY, {"value": object()})
    with pytest.raises(ValueError, match="already registered to tests.jobs.job_fixtures:sleepy"):
        register_job_kind("sleepy", os.getcwd)
    assert registry.list() == []
    # A kind is found by its name once the module that runs it registered it.
    assert registry.submit("sleepy", {"steps": 1}, start=False).entry == "tests.jobs.job_fixtures:sleepy"


def test_a_job_runs_only_the_function_its_kind_registered(workspace):
    """An entry written into jobs.sqlite by hand is refused: no kind registered that function."""
    registry = JobRegistry(workspace, max_running=1)
    for entry, refusal in (("runpy:run_path", "runpy:run_path is not a module of this project"),
                           ("tests.jobs.job_fixtures:failing", "tests.jobs.job_fixtures:failing is not the "
                                                               "registered function of job kind 'sleepy'")):
        job = registry.submit(SLEEPY, {"steps": 1}, start=False)
        with sqlite3.connect(registry.database) as connection:
            connection.execute("UPDATE jobs SET entry = ? WHERE id = ?", (entry, job.id))
        registry.stop(job.id)  # queued -> stopped, so that resume starts it with the tampered entry
        done = registry.wait(registry.resume(job.id).id, timeout=TIMEOUT, poll=0.1)
        assert done.status == "failed" and refusal in done.error, done.error
        assert not (job.run_dir / "steps.txt").exists()


def test_max_running_defaults_to_gpu_count_and_an_explicit_value_is_kept(workspace):
    import torch

    assert JobRegistry(workspace).max_running == max(1, torch.cuda.device_count())
    JobRegistry(workspace, max_running=3)
    assert JobRegistry(workspace).max_running == 3


DYING_CALLER = """
import os, subprocess, sys
import core.jobs.registry as jobs

registry = jobs.JobRegistry(sys.argv[1], max_running=1)
real_popen = subprocess.Popen


def start_then_die(*args, **kwargs):
    real_popen(*args, **kwargs)
    os._exit(3)  # killed right after starting the job process, before anything else


jobs.subprocess.Popen = start_then_die
registry.pump()
"""


def test_a_caller_dying_as_it_starts_a_job_leaves_it_running_and_started_once(workspace):
    from tests.paths import REPO_ROOT

    registry = JobRegistry(workspace, max_running=1)
    job = registry.submit(SLEEPY, {"steps": 20, "step_seconds": 0.05}, start=False)
    caller = subprocess.run([sys.executable, "-c", DYING_CALLER, str(workspace)], cwd=REPO_ROOT,
                            timeout=TIMEOUT, capture_output=True, text=True)
    assert caller.returncode == 3, caller.stderr
    # Claimed before the process started: not queued, so this pump cannot start it a second time.
    assert registry.get(job.id).status == "running"
    assert registry.pump() == []
    done = registry.wait(job.id, timeout=TIMEOUT, poll=0.1)
    assert (done.status, done.attempts) == ("finished", 1)
    assert registry.log_tail(job.id, lines=200).count(f"=== job {job.id} ({job.kind}) attempt") == 1
    assert lines(job.run_dir / "steps.txt") == [f"step {step}" for step in range(20)]


def test_a_claimed_job_without_a_process_is_lost_only_after_the_grace(workspace):
    from core.jobs import registry as jobs

    registry = JobRegistry(workspace, max_running=1)
    job = registry.submit(SLEEPY, {"steps": 1}, start=False)
    database = sqlite3.connect(workspace / "jobs.sqlite")
    with database:  # what a pump that died between its commit and starting the process leaves
        database.execute("UPDATE jobs SET status = 'running', pid = NULL, started_at = ?, attempts = 1"
                         " WHERE id = ?", (time.time(), job.id))
    assert registry.reconcile() == [] and registry.get(job.id).status == "running"
    with database:
        database.execute("UPDATE jobs SET started_at = ? WHERE id = ?",
                         (time.time() - jobs.STARTING_GRACE - 1, job.id))
    database.close()
    assert registry.reconcile() == [job.id]
    assert registry.get(job.id).status == "failed"
    assert registry.resume(job.id).status in ("running", "finished")
    assert registry.wait(job.id, timeout=TIMEOUT, poll=0.1).status == "finished"


def test_only_the_queue_owner_replaces_the_stored_gpu_list(workspace, monkeypatch):
    from core.jobs import registry as jobs

    monkeypatch.setattr(jobs, "_visible_gpus", lambda: ["2", "3"])
    # Nothing stored yet: the first process stores its own.
    assert JobRegistry(workspace).gpus == ["2", "3"]
    monkeypatch.setattr(jobs, "_visible_gpus", lambda: ["0", "1"])
    assert JobRegistry(workspace, owns_queue=True).gpus == ["0", "1"]  # the server that owns the queue
    monkeypatch.setattr(jobs, "_visible_gpus", lambda: ["5"])  # e.g. a CLI run with CUDA_VISIBLE_DEVICES=5
    assert JobRegistry(workspace).gpus == ["0", "1"]
    monkeypatch.setenv(jobs.JOB_ID_ENV, "some-job")
    assert JobRegistry(workspace).gpus == ["0", "1"]
    monkeypatch.delenv(jobs.JOB_ID_ENV)
    assert JobRegistry(workspace, owns_queue=True).gpus == ["5"]  # a restarted server on other GPUs


def test_read_tail_returns_the_last_lines_of_a_large_log(tmp_path):
    log = tmp_path / "log.txt"
    log.write_text("".join(f"line {number} {'x' * 50}\n" for number in range(5000)))
    assert read_tail(log, 3).splitlines() == [f"line {number} {'x' * 50}" for number in (4997, 4998, 4999)]
    assert read_tail(tmp_path / "missing.txt", 3) == ""


def test_a_database_of_the_first_schema_gains_the_new_columns(workspace):
    workspace.mkdir(parents=True)
    with sqlite3.connect(workspace / "jobs.sqlite") as connection:
        connection.executescript("""
            CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, parent_id TEXT, config TEXT NOT NULL,
                status TEXT NOT NULL, pid INTEGER, pid_create_time REAL, created_at REAL NOT NULL,
                started_at REAL, finished_at REAL, run_dir TEXT NOT NULL, error TEXT, summary TEXT,
                inline INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, device TEXT);
            INSERT INTO jobs (id, kind, config, status, created_at, run_dir)
                VALUES ('old-train', 'train', '{}', 'stopped', 0, 'runs/old-train');""")
    registry = JobRegistry(workspace, max_running=1)
    (old,) = registry.list()
    assert old.entry is None
    done = registry.wait(registry.resume(old.id).id, timeout=TIMEOUT, poll=0.1)
    assert done.status == "failed" and "submitted by an older version of the lab" in done.error
