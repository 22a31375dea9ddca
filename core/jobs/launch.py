"""The command line and environment of one job process, on no GPU, one GPU or several.

One GPU or none: the plain `python -m core.jobs.main`. Several: `accelerate launch --multi_gpu`
starts one process per GPU (data parallel: the Trainer inside each process sees the
distributed environment accelerate sets up and splits the batches). The launcher is run as
`python -m accelerate.commands.launch` so it is the same interpreter as the lab's, whatever is
first on PATH; `--main_process_port 0` lets accelerate pick a free port, so two multi-GPU jobs
on one machine do not collide on the default 29500.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

JOB_MODULE = "core.jobs.main"
def job_arguments(workspace: str | Path, job_id: str) -> list[str]:
    return ["--workspace", str(workspace), "--job", str(job_id)]


def job_command(workspace: str | Path, job_id: str, gpu_ids: list[int] | list[str]) -> list[str]:
    """argv of the process that runs job `job_id`; gpu_ids are the GPUs the job may use."""
    gpu_ids = [str(gpu).strip() for gpu in gpu_ids]
    if len(gpu_ids) <= 1:
        return [sys.executable, "-m", JOB_MODULE, *job_arguments(workspace, job_id)]
    return [sys.executable, "-m", "accelerate.commands.launch",
            "--multi_gpu", "--num_processes", str(len(gpu_ids)), "--gpu_ids", ",".join(gpu_ids),
            "--num_machines", "1", "--main_process_port", "0",
            # Named so accelerate does not warn about defaults; the Trainer sets the real precision.
            "--mixed_precision", "no", "--dynamo_backend", "no",
            "-m", JOB_MODULE, *job_arguments(workspace, job_id)]


def job_environment(gpu_ids: list[int] | list[str], base: dict | None = None) -> dict:
    """The environment of a job process: only its own GPUs visible; no ids leaves it as it is.

    Without CUDA_VISIBLE_DEVICES the Trainer would spread one job over every GPU of the machine.
    """
    environment = dict(os.environ if base is None else base)
    if gpu_ids:
        environment["CUDA_VISIBLE_DEVICES"] = ",".join(str(gpu).strip() for gpu in gpu_ids)
    return environment
