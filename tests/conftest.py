"""Shared fixtures: one workspace and one tiny model per test session (building takes seconds)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from core.env import apply_offline_defaults  # noqa: E402

apply_offline_defaults()

SHARED = REPO_ROOT.parent / "shared"
SHARED_DATA = SHARED / "data" / "fraud_dialogues"
QWEN_TOKENIZER = SHARED / "qwen-tokenizer"


def require_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is only present on the project's machines)")
    return path


@pytest.fixture(scope="session")
def session_workspace(tmp_path_factory) -> Path:
    workspace = tmp_path_factory.mktemp("workspace")
    os.environ["FRAUD_LAB_WORKSPACE"] = str(workspace)
    return workspace


@pytest.fixture(scope="session")
def tiny_model_dir(session_workspace) -> Path:
    from core.demo.tiny_model import ensure_tiny_model

    return ensure_tiny_model(session_workspace)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    from core.models import load_tokenizer

    return load_tokenizer(str(tiny_model_dir))


@pytest.fixture(scope="session")
def qwen_tokenizer():
    from core.models import load_tokenizer

    return load_tokenizer(str(require_shared(QWEN_TOKENIZER)))


@pytest.fixture(scope="session")
def demo_splits(session_workspace) -> dict:
    from core.demo.dataset import ensure_demo_dataset

    return ensure_demo_dataset(session_workspace)
