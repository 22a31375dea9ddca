"""Job kinds: which function a job of a kind runs, and how many GPUs it takes.

A module that runs jobs registers its kinds when it is imported:

    TRAIN_KIND = register_job_kind("train", run_training_job, gpus=CONFIG_GPUS)

and whoever submits a job passes the kind (importing the module that runs it registers it). The
registry stores the kind's entry ("module:function") and GPU count with each job, so the job
process imports exactly that module and a resumed job runs the same function, whatever process
pumps the queue. Tests register their own kinds the same way; nothing here knows about them.

The job process runs an entry only if its module lies in this project and, once imported,
registered that very function under that kind name (`load_job_function`): a row of jobs.sqlite
cannot make it import or call anything else.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.env import REPO_ROOT

NO_GPU, ONE_GPU, CONFIG_GPUS = "none", "one", "config"  # CONFIG_GPUS: as many as train.num_gpus asks for
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
ENTRY_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class JobKind:
    name: str
    entry: str  # "module:function"
    gpus: str = ONE_GPU
    probe_device: bool = True  # name the device in the job's log (costs a torch import)

    def gpus_wanted(self, config: dict) -> int:
        """How many GPUs a job of this kind and config asks for (a sweep parent only waits on its trials)."""
        if self.gpus == NO_GPU:
            return 0
        if self.gpus == ONE_GPU:
            return 1
        return max(1, int((config.get("train") or {}).get("num_gpus", 1)))


_KINDS: dict[str, JobKind] = {}
_LOCK = threading.Lock()


def register_job_kind(name: str, function: Callable, *, gpus: str = ONE_GPU,
                      probe_device: bool = True) -> JobKind:
    """Declare that jobs of kind `name` run `function(run_dir, config, context)`; returns the kind."""
    if not KIND_PATTERN.match(name):
        raise ValueError(f"job kind {name!r} must be lower-case letters, digits or '_' (at most 32)")
    if gpus not in (NO_GPU, ONE_GPU, CONFIG_GPUS):
        raise ValueError(f"gpus must be one of {NO_GPU}, {ONE_GPU}, {CONFIG_GPUS}; got {gpus!r}")
    kind = JobKind(name, f"{function.__module__}:{function.__qualname__}", gpus, probe_device)
    if not ENTRY_PATTERN.match(kind.entry) or kind.entry.startswith("__main__:"):
        raise ValueError(f"job kind {name!r}: {kind.entry} is not a module-level function of an "
                         "importable module")
    with _LOCK:
        known = _KINDS.get(name)
        if known is not None and known.entry != kind.entry:
            raise ValueError(f"job kind {name!r} is already registered to {known.entry}, not {kind.entry}")
        _KINDS[name] = kind
    return kind


def registered_kind(name: str) -> JobKind:
    """The kind registered under `name`; ValueError when no imported module registered it."""
    with _LOCK:
        kind = _KINDS.get(name)
        known = sorted(_KINDS)
    if kind is None:
        raise ValueError(f"unknown job kind {name!r}; registered: {', '.join(known) or 'none'} (a kind is "
                         "registered when the module that runs it is imported)")
    return kind


def load_job_function(name: str, entry: str | None) -> Callable:
    """The function a job of kind `name` runs, imported from its stored entry and checked: the module
    must have registered exactly this entry under this kind when imported."""
    if not entry or not ENTRY_PATTERN.match(entry):
        raise ValueError(f"job of kind {name!r} has no valid entry ({entry!r}); it was submitted by an older "
                         "version of the lab: submit it again")
    module_name, function_name = entry.split(":")
    spec = importlib.util.find_spec(module_name)
    # A file of this project: not a built-in or frozen module (their origin is not a path), nor an installed
    # one.
    if spec is None or not spec.has_location or not Path(spec.origin).resolve().is_relative_to(REPO_ROOT):
        raise ValueError(f"{entry} is not a module of this project ({REPO_ROOT}); a job runs nothing else")
    module = importlib.import_module(module_name)
    with _LOCK:
        kind = _KINDS.get(name)
    if kind is None or kind.entry != entry:
        raise ValueError(f"{entry} is not the registered function of job kind {name!r}")
    return getattr(module, function_name)
