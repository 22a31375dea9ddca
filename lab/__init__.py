"""fraud-lab's Gradio page (`lab.app`, `lab.server`, one module per tab) and its CLI (`lab.cli`).

Importing the package sets the offline defaults (by importing `core`) and points Gradio's
temporary folder into the workspace before anything imports gradio: Gradio reads these variables
at import time, and an upload must never land outside the workspace.
"""
from __future__ import annotations

import os
from pathlib import Path

from core.env import workspace_path
from core.workspace import Workspace


def gradio_temp_dir(workspace: str | Path) -> Path:
    return Workspace(workspace).gradio_dir


# workspace_path, not workspace_dir: importing a package should not create folders.
os.environ.setdefault("GRADIO_TEMP_DIR", str(gradio_temp_dir(workspace_path())))
