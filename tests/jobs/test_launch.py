"""The job process command for 0, 1 and several GPUs, checked against the real launchers."""
from __future__ import annotations

import subprocess
import sys

from core.jobs.registry import REPO_ROOT
from core.jobs.launch import job_command, job_environment


def test_no_gpu_or_one_gpu_runs_job_main_directly(tmp_path):
    for gpus in ([], [3]):
        command = job_command(tmp_path, "job-1", gpus)
        assert command == [sys.executable, "-m", "core.jobs.main", "--workspace", str(tmp_path), "--job",
                           "job-1"]
    # The command really runs job_main: it answers that the registry has no such job.
    result = subprocess.run(job_command(tmp_path, "no-such-job", []), cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "no job 'no-such-job'" in result.stdout


def test_four_gpus_launch_four_processes_of_job_main_through_accelerate(tmp_path):
    from accelerate.commands.launch import launch_command_parser

    command = job_command(tmp_path, "job-4", [0, 1, 2, 3])
    assert command[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    # accelerate's own parser reads the command as a 4-process, multi-GPU launch of the module.
    arguments = launch_command_parser().parse_args(command[3:])
    assert arguments.multi_gpu and arguments.num_processes == 4 and arguments.gpu_ids == "0,1,2,3"
    assert arguments.module and arguments.training_script == "core.jobs.main"
    assert arguments.training_script_args == ["--workspace", str(tmp_path), "--job", "job-4"]
    assert arguments.num_machines == 1 and arguments.main_process_port == 0  # a free port per job


def test_a_multi_gpu_command_starts_one_job_main_per_process(tmp_path):
    # Two CPU processes stand in for two GPUs: each rank runs job_main with the job's arguments.
    result = subprocess.run(job_command(tmp_path, "no-such-job", [0, 1]), cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    # Each rank that got as far as job_main answered; the launcher's failure report names both ranks.
    # (When one rank fails first, torchrun may stop the other before it prints: under a loaded CI
    # machine only one answer is certain.)
    output = result.stdout + result.stderr
    assert 1 <= result.stdout.count("no job 'no-such-job'") <= 2, output
    assert "local_rank: 0" in result.stderr and "local_rank: 1" in result.stderr, output


def test_the_environment_pins_a_job_to_its_gpus():
    assert job_environment([2], base={"PATH": "/bin"}) == {"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "2"}
    assert job_environment([0, 1, 2, 3], base={})["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"
    assert job_environment([], base={"CUDA_VISIBLE_DEVICES": "5"}) == {"CUDA_VISIBLE_DEVICES": "5"}


def test_gpus_wanted_follows_the_kind_and_train_num_gpus():
    from core.eval.evaluation import EVAL_KIND
    from core.train.kfold import KFOLD_KIND
    from core.train.sweep import SWEEP_KIND
    from core.train.training import TRAIN_KIND

    assert TRAIN_KIND.gpus_wanted({"train": {"num_gpus": 4}}) == 4
    assert KFOLD_KIND.gpus_wanted({"train": {"num_gpus": 2}}) == 2
    assert TRAIN_KIND.gpus_wanted({}) == 1
    assert EVAL_KIND.gpus_wanted({"train": {"num_gpus": 4}}) == 1
    assert SWEEP_KIND.gpus_wanted({"train": {"num_gpus": 4}}) == 0
