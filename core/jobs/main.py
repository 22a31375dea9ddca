"""Entry point of one job process: `python -m core.jobs.main --workspace W --job ID`.

Started by JobRegistry.pump with stdout/stderr appended to run_dir/log.txt. It runs the function
the job's kind registered (core.jobs.kinds), records the outcome, then pumps the queue itself so
the next job starts even when no server is running.
"""
from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import traceback
from datetime import datetime
from pathlib import Path
from core.jobs.kinds import load_job_function, registered_kind
from core.jobs.registry import (FAILED, FINAL, FINISHED, JOB_ID_ENV, STOPPED, JobContext, JobRegistry,
                                UnknownJob, to_json)


class TerminationRequested(KeyboardInterrupt):
    """SIGTERM as an exception: the job's finally-blocks run and the job is recorded as stopped."""


def _raise_termination(signal_number: int, _frame) -> None:
    raise TerminationRequested(f"received signal {signal.Signals(signal_number).name}")


def describe_device() -> str:
    import torch  # only here: a kind that does not probe (a test's) skips the second it costs

    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count()))
        return f"cuda ({names}; CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'all')})"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return f"cpu (torch {torch.__version__}, {torch.get_num_threads()} threads)"


def _header(job, registry: JobRegistry) -> str:
    return "\n".join([
        f"=== job {job.id} ({job.kind}) attempt {job.attempts} ===",
        f"started: {datetime.now():%Y-%m-%d %H:%M:%S}  pid: {os.getpid()}",
        f"python: {platform.python_version()} ({sys.executable})",
        f"entry: {job.entry}",
        f"run_dir: {job.run_dir}",
        f"workspace: {registry.workspace}",
    ])


def _device_line(job) -> str:
    """Named once the job's module registered its kind, which says whether probing is worth a torch import."""
    probe = registered_kind(job.kind).probe_device or job.config.get("probe_device", False)
    return f"device: {describe_device() if probe else 'not probed (this kind of job does not use it)'}"


def run_job(workspace: Path, job_id: str) -> int:
    # Marks this process as a job process, so the registry reads the stored GPU list.
    os.environ[JOB_ID_ENV] = job_id
    registry = JobRegistry(workspace)
    try:
        job = registry.get(job_id)
    except UnknownJob as error:
        print(f"job_main: {error}", flush=True)
        return 2
    if job.status in FINAL:
        print(f"job_main: job {job_id} is already {job.status}; nothing to run", flush=True)
        return 0
    rank, world_size = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if rank > 0:
        # A multi-GPU job: rank 0 records the outcome; the other ranks only run the function.
        return _run_other_rank(job, registry)
    if world_size == 1:
        # Under `accelerate launch` the launcher's pid stays the job's, so a stop kills every rank.
        job = registry.claim(job_id)
    signal.signal(signal.SIGTERM, _raise_termination)
    print(_header(job, registry), flush=True)

    status, error, summary = FINISHED, None, None
    try:
        function = load_job_function(job.kind, job.entry)
        print(_device_line(job), flush=True)
        context = JobContext(job_id=job.id, run_dir=job.run_dir, registry=registry,
                             resume=job.attempts > 1, attempt=job.attempts)
        result = function(job.run_dir, job.config, context)
        if result is not None and not isinstance(result, dict):
            raise TypeError(f"job function {job.entry} returned "
                            f"{type(result).__name__}, expected a dict summary or None")
        summary = result
        if context.stop_requested() or (result or {}).get("stopped"):
            status = STOPPED
    except KeyboardInterrupt as interruption:
        traceback.print_exc(file=sys.stdout)
        status, error = STOPPED, str(interruption) or "interrupted"
    except BaseException as exception:  # noqa: BLE001 - a SystemExit inside the job is a failure too
        traceback.print_exc(file=sys.stdout)
        status, error = FAILED, traceback.format_exception_only(exception)[-1].strip()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        to_json(summary, "the job's summary")
    except TypeError as exception:  # keep a stop as a stop; a finished job without its summary failed
        print(exception, flush=True)
        status, error, summary = (FAILED if status == FINISHED else status), str(exception), None
    # Logged before the registry says so, so whoever sees the final status finds the whole log.
    print(f"=== job {job_id} {status} at {datetime.now():%Y-%m-%d %H:%M:%S} ===", flush=True)
    registry.finish(job_id, status, error, summary)
    try:
        started = registry.pump()
        if started:
            print(f"started queued job(s): {', '.join(started)}", flush=True)
    except Exception:  # noqa: BLE001 - the job's own outcome is already recorded
        traceback.print_exc(file=sys.stdout)
    return 1 if status == FAILED else 0


def _run_other_rank(job, registry) -> int:
    context = JobContext(job_id=job.id, run_dir=job.run_dir, registry=registry,
                         resume=job.attempts > 1, attempt=job.attempts)
    load_job_function(job.kind, job.entry)(job.run_dir, job.config, context)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one job of the fraud-lab job registry.")
    parser.add_argument("--workspace", required=True, type=Path)
    parser.add_argument("--job", required=True, help="job id")
    arguments = parser.parse_args(argv)
    return run_job(arguments.workspace, arguments.job)


if __name__ == "__main__":
    sys.exit(main())
