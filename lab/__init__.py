"""fraud-lab's Gradio page (`lab.app`, `lab.server`, one module per tab) and its CLI (`lab.cli`).

Importing the package sets the offline defaults (by importing `core`) and points Gradio's
temporary folder into the workspace before anything imports gradio: Gradio reads these variables
at import time, and an upload must never land outside the workspace.
"""
from __future__ import annotations

import os
from pathlib import Path

from core.env import REPO_ROOT


def gradio_temp_dir(workspace: str | Path) -> Path:
    return Path(workspace) / "cache" / "gradio"


# Not workspace_dir(): that creates the folder, and importing a package should not.
os.environ.setdefault("GRADIO_TEMP_DIR", str(gradio_temp_dir(
    Path(os.environ.get("FRAUD_LAB_WORKSPACE") or REPO_ROOT / "workspace").expanduser().resolve())))
