"""The models the UI process holds: at most one pair (base, fine-tuned), loaded on demand.

Evaluations load models in their own job process; only the Predict tab loads models into the
server, and it holds at most one pair through `SLOT`: loaded on demand, reused while the choice
is unchanged, freed when the choice changes (before the new one loads, so two pairs never sit in
memory together) or when the user asks. A lock covers loading, use and freeing, so one request
cannot free a model another one is predicting with.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from core.workspace import RunDir
from lab.resolve import is_model_folder

NONE = ""


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

    run = RunDir(checkpoint)
    if is_model_folder(checkpoint) or (is_model_folder(run.model_dir) and not run.adapter_dir.exists()):
        # A full fine-tune is a whole model: it replaces the base instead of sitting on it.
        folder = checkpoint if is_model_folder(checkpoint) else run.model_dir
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
