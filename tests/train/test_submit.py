"""Choosing the job a config starts costs no torch import: the page does it on every form edit."""
from __future__ import annotations

import subprocess
import sys

from core.config.schema import RunConfig
from core.config.text import apply_overrides
from core.env import REPO_ROOT
from core.train.submit import job_kind


def test_the_config_names_its_job_kind():
    assert job_kind(RunConfig()) == "train"
    assert job_kind(apply_overrides(RunConfig(), ["kfold.mode=chained", "kfold.k=3"])) == "kfold"
    assert job_kind(apply_overrides(RunConfig(), ["kfold.mode=chained", "sweep.grid.lora.r=4,8"])) == "sweep"


def test_choosing_a_job_kind_imports_no_torch():
    script = ("import sys; from core.config.schema import RunConfig; from core.config.checks import "
              "validate; from core.train.submit import job_kind; job_kind(RunConfig()); print(sorted(name "
              "for name in ('torch', 'transformers') if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
