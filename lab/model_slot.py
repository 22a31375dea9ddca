"""The UI process's models: which ones a user may pick, and the one pair (base, fine-tuned) loaded.

Evaluations load models in their own job process; only the Predict tab loads models into the
server, and it holds at most one pair through `SLOT`: loaded on demand, reused while the choice
is unchanged, freed when the choice changes (before the new one loads, so two pairs never sit in
memory together) or when the user asks. A lock covers loading, use and freeing, so one request
cannot free a model another one is predicting with.
"""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import gradio as gr

from core.models import EMBEDDED_ALIASES, EMBEDDED_MODEL
from lab.i18n import DEFAULT_LANGUAGE, t
from lab.state import display_path, embedded_model, roots, user_path

NONE = ""
# Hub ids ("Qwen/Qwen2-1.5B-Instruct") load from the local hub cache only (HF_HUB_OFFLINE=1).
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
# Run folders hold these outputs; kfold runs hold one per fold-<i>/ too.
CHECKPOINT_GLOBS = ("runs/*/adapter", "runs/*/model", "runs/*/fold-*/adapter", "runs/*/fold-*/model")
MODEL_SEARCH_DEPTH = 3
NOT_BASE_FOLDERS = {"runs", "cache", "demo", "uploads", ".gradio"}


def _is_adapter(folder: Path) -> bool:
    return (folder / "adapter_config.json").is_file()


def _is_model(folder: Path) -> bool:
    return (folder / "config.json").is_file() and not _is_adapter(folder)


def checkpoint_choices(workspace: Path) -> list[str]:
    """Adapters and full fine-tunes of the workspace's runs, newest run first (run ids start with
    their time), as paths relative to the workspace."""
    workspace = Path(workspace)
    found = []
    for pattern in CHECKPOINT_GLOBS:
        for folder in workspace.glob(pattern):
            if not folder.is_symlink() and (_is_adapter(folder) or _is_model(folder)):
                found.append(folder.relative_to(workspace).as_posix())
    return sorted(found, key=lambda text: (text.split("/")[1], text), reverse=True)


def base_model_choices(workspace: Path) -> list[str]:
    """"embedded", then model folders (config.json, no adapter) under the workspace and assets."""
    found = []
    for root in roots(Path(workspace)):
        for depth in range(1, MODEL_SEARCH_DEPTH + 1):
            for config in sorted(Path(root).glob("/".join(["*"] * depth) + "/config.json")):
                folder = config.parent
                parts = folder.relative_to(root).parts
                if (parts[0] in NOT_BASE_FOLDERS or any(part.startswith(".") for part in parts)
                        or folder.is_symlink() or not _is_model(folder)):
                    continue
                found.append(display_path(folder, workspace))
    return [EMBEDDED_MODEL] + found


def resolve_base(choice: str, workspace: Path, language: str = DEFAULT_LANGUAGE) -> str:
    """What load_predictor / EvalConfig get as the base: the embedded model's folder, a model
    folder under the allowed roots, or a hub id; anything else is a gr.Error."""
    text = str(choice or "").strip()
    if text in EMBEDDED_ALIASES:
        return str(embedded_model(workspace, language))
    if text.startswith("assets/"):
        from core.env import ASSETS_DIR

        text = str(ASSETS_DIR / text[len("assets/"):])
    local = Path(text).expanduser()
    if not local.is_absolute():
        local = Path(workspace) / local
    if HUB_ID.match(text) and not local.exists():
        return text
    folder = user_path(text, workspace, language)
    if not folder.is_dir():
        raise gr.Error(t("error.not_a_folder", language, path=str(choice)), print_exception=False)
    return str(folder)


def resolve_checkpoint(choice: str, workspace: Path, language: str = DEFAULT_LANGUAGE) -> Path:
    """A checkpoint choice as a folder under the workspace: an adapter, a run folder holding
    adapter/ or model/, or a full fine-tune's model folder."""
    folder = user_path(str(choice).strip(), workspace, language)
    if not folder.is_dir():
        raise gr.Error(t("error.not_a_folder", language, path=str(choice)), print_exception=False)
    return folder


@dataclass
class Loaded:
    """One loaded predictor and the choice it was loaded for."""

    key: tuple
    predictor: object


def _load_base(base: str, workspace: Path, device: str | None):
    from core.eval.predict import load_predictor

    return load_predictor(base, device=device, workspace=workspace)


def _load_tuned(base: str, checkpoint: Path, workspace: Path, device: str | None):
    from core.eval.predict import load_predictor

    if _is_model(checkpoint) or (_is_model(checkpoint / "model") and not (checkpoint / "adapter").exists()):
        # A full fine-tune is a whole model: it replaces the base instead of sitting on it.
        folder = checkpoint if _is_model(checkpoint) else checkpoint / "model"
        return load_predictor(str(folder), device=device, workspace=workspace)
    return load_predictor(base, adapter=checkpoint, device=device, workspace=workspace)


class ModelSlot:
    """At most one base predictor and one fine-tuned predictor, loaded on demand.

    `use(...)` is a context manager that yields (base, tuned or None) while holding the lock.
    `loads` counts the models actually loaded, so a caller (and a test) can see reuse.
    """

    def __init__(self, load_base: Callable = _load_base, load_tuned: Callable = _load_tuned):
        self._load_base = load_base
        self._load_tuned = load_tuned
        self._lock = threading.RLock()
        self.base: Loaded | None = None
        self.tuned: Loaded | None = None
        self.loads = 0

    @contextmanager
    def use(self, workspace: Path, base: str, checkpoint: Path | None,
            device: str | None = None) -> Iterator[tuple[object, object | None]]:
        with self._lock:
            base_key = (base, device)
            tuned_key = (base, str(checkpoint), device) if checkpoint is not None else None
            if self.base is None or self.base.key != base_key:
                self._drop("base")
                self.base = Loaded(base_key, self._load_base(base, workspace, device))
                self.loads += 1
            if tuned_key is None:
                self._drop("tuned")
            elif self.tuned is None or self.tuned.key != tuned_key:
                self._drop("tuned")
                self.tuned = Loaded(tuned_key, self._load_tuned(base, checkpoint, workspace, device))
                self.loads += 1
            yield self.base.predictor, (self.tuned.predictor if self.tuned else None)

    def _drop(self, which: str) -> None:
        loaded = getattr(self, which)
        if loaded is not None:
            setattr(self, which, None)
            loaded.predictor.free()

    def free(self) -> int:
        """Free both models; returns how many were loaded."""
        with self._lock:
            count = sum(loaded is not None for loaded in (self.base, self.tuned))
            self._drop("tuned")
            self._drop("base")
            return count

    def describe(self) -> list[str]:
        """The loaded models' names, for the page."""
        with self._lock:
            return [getattr(loaded.predictor, "name", "") or str(loaded.key[0])
                    for loaded in (self.base, self.tuned) if loaded is not None]


SLOT = ModelSlot()
