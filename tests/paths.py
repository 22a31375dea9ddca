"""Where the tests find the repository and the optional ../shared folder (real data, Qwen tokenizer)."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.env import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared"
SHARED_DATA = SHARED / "data" / "fraud_dialogues"
QWEN_TOKENIZER = SHARED / "qwen-tokenizer"


def require_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is only present on the project's machines)")
    return path
