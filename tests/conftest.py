"""Shared fixtures: one workspace and one tiny model per test session (building takes seconds)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.paths import QWEN_TOKENIZER, require_shared


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


@pytest.fixture(scope="session")
def tiny_encoder_dir(session_workspace) -> Path:
    """The embedded tiny encoder, built (and MLM-pretrained, about a minute) once per session."""
    from core.demo.tiny_encoder import ensure_tiny_encoder

    return ensure_tiny_encoder(session_workspace)
