"""What the tabs share: the tab context, the path guard, dataset and tokenizer choices and caches.

Every path a user types goes through `user_path`, which allows only the workspace and the
repository's assets; uploads are copied into `workspace/uploads/` before anything reads them.
Loaded datasets and tokenizers are cached in the process so a handler that re-reads them
returns in milliseconds.
"""
from __future__ import annotations

import filecmp
import functools
import hashlib
import re
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import gradio as gr

import pandas as pd

from core.data.stats import records_frame
from core.env import ASSETS_DIR, PathOutsideWorkspace, resolve_user_path
from core.models import EMBEDDED_ALIASES, EMBEDDED_MODEL, ModelError, load_tokenizer
from core.data.records import DataError, Problem, Record, load_records
from core.workspace import CACHE_DIR, OUTPUT_FOLDERS, UPLOADS_DIR, Workspace
from lab.i18n import DEFAULT_LANGUAGE, t

DEMO = "demo"
DATA_SUFFIXES = (".jsonl", ".json", ".csv")
SEARCH_DEPTH = 4


@dataclass
class TabContext:
    """Handed to each tab module's `build(context)`, inside its `gr.Tab`.

    `language_input` is the language Radio ("zh"/"en"): give it as an input to handlers whose
    messages or figures are translated. `translated(component, key)` registers a component whose
    label (or another attribute) follows the language switch. `dataset` is a gr.State holding the
    Data tab's choice ({"choice": ..., "compare": ...}); `load_dataset(workspace, **value)` reads it.
    """

    workspace: Path
    language: str
    language_input: Any = None
    dataset: Any = None
    app: Any = None
    translations: list = field(default_factory=list)

    def t(self, key: str, **values) -> str:
        return t(key, self.language, **values)

    def translated(self, component, key: str, attribute: str = "label"):
        self.on_language(component, lambda language: {attribute: t(key, language)})
        return component

    def on_language(self, component, update: Callable[[str], dict]):
        """`update(language)` gives the keyword arguments of gr.update for that language."""
        self.translations.append((component, update))
        return component

    def relabel(self, language: str) -> list:
        return [gr.update(**update(language)) for _, update in self.translations]


def poll(timer, fn, inputs, outputs, name: str):
    """Wire a gr.Timer tick with its own concurrency group, so a slow poll never delays a click."""
    return timer.tick(fn, inputs, outputs, concurrency_id=f"poll-{name}", show_progress="hidden")


def user_errors(fn):
    """Turn the errors a user can cause (bad path, bad data, bad model) into readable gr.Error."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (PathOutsideWorkspace, DataError, ModelError, ValueError, OSError) as error:
            raise gr.Error(str(error), print_exception=False) from None

    return wrapper


def roots(workspace: Path) -> list[Path]:
    return [Path(workspace), ASSETS_DIR]


def user_path(text: str, workspace: Path, language: str = DEFAULT_LANGUAGE) -> Path:
    """A typed path resolved under the workspace or assets; anything else is a gr.Error."""
    try:
        return resolve_user_path(text, roots(workspace))
    except PathOutsideWorkspace:
        raise gr.Error(t("error.outside", language, path=str(text)), print_exception=False) from None


def display_path(path: Path | str, workspace: Path) -> str:
    """Workspace files by their relative path; the page never shows where the workspace lies."""
    path = Path(path)
    try:
        return path.resolve().relative_to(Path(workspace).resolve()).as_posix()
    except ValueError:
        pass
    try:
        return "assets/" + path.resolve().relative_to(ASSETS_DIR.resolve()).as_posix()
    except ValueError:
        return path.name


def _walk(folder: Path, depth: int = SEARCH_DEPTH, skip: set[str] = frozenset()):
    """Files under `folder`, `depth` levels deep, leaving out hidden entries, links and the
    top-level folders named in `skip`."""
    if depth < 0 or not folder.is_dir():
        return
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_dir():
            if depth == SEARCH_DEPTH and entry.name in skip:
                continue
            yield from _walk(entry, depth - 1)
        else:
            yield entry


def dataset_choices(workspace: Path) -> list[str]:
    """"demo", then data files under the workspace (relative paths) and assets."""
    workspace = Path(workspace)
    # Uploads are data a user brought; the other output folders hold the lab's own files.
    skip = set(OUTPUT_FOLDERS) - {UPLOADS_DIR}
    found = [display_path(path, workspace) for root in roots(workspace) for path in _walk(root, skip=skip)
             if path.suffix.lower() in DATA_SUFFIXES]
    return [DEMO] + found


def choice_path(choice: str, workspace: Path, language: str = DEFAULT_LANGUAGE) -> Path:
    text = str(choice).strip()
    if text.startswith("assets/"):
        return user_path(ASSETS_DIR / text[len("assets/"):], workspace, language)
    return user_path(text, workspace, language)


def save_upload(upload: str | Path, workspace: Path, language: str = DEFAULT_LANGUAGE) -> Path:
    """Copy an uploaded file into workspace/uploads/ (never overwriting another file)."""
    source = Path(upload)
    name = re.sub(r"[^\w.\-]", "_", source.name) or "upload.jsonl"
    if Path(name).suffix.lower() not in DATA_SUFFIXES:
        raise gr.Error(t("error.upload_type", language, name=source.name, types=", ".join(DATA_SUFFIXES)),
                       print_exception=False)
    target_folder = Workspace(workspace).uploads_dir
    target_folder.mkdir(parents=True, exist_ok=True)
    target, number = target_folder / name, 0
    while target.exists():
        if filecmp.cmp(source, target, shallow=False):
            return target
        number += 1
        target = target_folder / f"{Path(name).stem}-{number}{Path(name).suffix}"
    shutil.copyfile(source, target)
    return target


@dataclass
class Dataset:
    """Records by split, the files they came from and the rows that could not be loaded."""

    name: str
    splits: dict[str, list[Record]]
    files: dict[str, str]
    problems: list[Problem]
    key: str = ""  # names the files' contents: the same key means the same rows

    @property
    def size(self) -> int:
        return sum(len(records) for records in self.splits.values())

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        return records_frame(self.splits)

    def audit_splits(self) -> tuple[list[Record], list[Record] | None]:
        """The rows the audit compares: the first split as train, "test" (or the second split) as test."""
        names = list(self.splits)
        test = "test" if "test" in names[1:] else (names[1] if len(names) > 1 else None)
        return self.splits[names[0]], (self.splits[test] if test else None)


_DATASETS: OrderedDict = OrderedDict()
_TOKENIZERS: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()
CACHE_SIZE = 6


def _remember(cache: OrderedDict, key, build: Callable[[], Any]):
    with _CACHE_LOCK:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    value = build()
    with _CACHE_LOCK:
        cache[key] = value
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    return value


def _split_files(choice: str, compare: str | None, workspace: Path, language: str) -> dict[str, Path]:
    if not str(choice or "").strip():
        raise gr.Error(t("error.no_dataset", language), print_exception=False)
    if choice == DEMO:
        from core.demo.dataset import ensure_demo_dataset

        files = {split: Path(path) for split, path in ensure_demo_dataset(Path(workspace)).items()}
    else:
        files = {}
        for text in (choice, compare):
            if text and str(text).strip():
                path = choice_path(text, workspace, language)
                if not path.is_file():
                    raise gr.Error(t("error.not_a_file", language, path=str(text)), print_exception=False)
                split = path.stem if path.stem not in files else f"{path.stem}-{len(files) + 1}"
                files[split] = path
    return files


def load_dataset(workspace: Path, choice: str = DEMO, compare: str | None = None,
                 language: str = DEFAULT_LANGUAGE) -> Dataset:
    """The chosen dataset (lenient: bad rows become problems), cached by file and modification time."""
    files = _split_files(choice, compare, workspace, language)
    key = tuple((split, str(path), path.stat().st_mtime_ns, path.stat().st_size) for split, path in files.items())

    def build() -> Dataset:
        splits, problems = {}, []
        for split, path in files.items():
            try:
                result = load_records(path, strict=False)
            except DataError as error:
                raise gr.Error(_shown_problems(error.problems, workspace), print_exception=False) from None
            splits[split] = result.records
            problems.extend(_relative(problem, workspace) for problem in result.problems)
        return Dataset(name=str(choice), splits=splits, problems=problems,
                       files={split: display_path(path, workspace) for split, path in files.items()},
                       key=hashlib.sha256(repr(key).encode()).hexdigest()[:16])

    return _remember(_DATASETS, key, build)


def _relative(problem: Problem, workspace: Path) -> Problem:
    return Problem(display_path(problem.file, workspace), problem.line, problem.field, problem.message)


def _shown_problems(problems: list[Problem], workspace: Path) -> str:
    return "\n".join(str(_relative(problem, workspace)) for problem in problems[:20])


def tokenizer_choices(workspace: Path) -> list[str]:
    """"embedded", then model folders (with a tokenizer_config.json) under the workspace and assets."""
    workspace = Path(workspace)
    # cache/ holds the embedded model, listed as "embedded".
    folders = [path.parent for root in roots(workspace) for path in _walk(root, skip={CACHE_DIR})
               if path.name == "tokenizer_config.json"]
    return [EMBEDDED_MODEL] + [display_path(folder, workspace) for folder in folders]


def get_tokenizer(choice: str, workspace: Path, language: str = DEFAULT_LANGUAGE):
    """The tokenizer of the embedded model or of a model folder under the allowed roots (cached)."""
    name = str(choice or "").strip()
    if name in EMBEDDED_ALIASES:
        folder = embedded_model(workspace, language)
    else:
        folder = choice_path(name, workspace, language)
        if not folder.is_dir():
            raise gr.Error(t("error.not_a_folder", language, path=name), print_exception=False)
    return _remember(_TOKENIZERS, str(folder), lambda: load_tokenizer(str(folder)))


_BACKGROUND: dict[str, threading.Thread] = {}


def in_background(name: str, work: Callable[[], Any]) -> None:
    """Start `work` in a daemon thread unless one of that name is still running."""
    with _CACHE_LOCK:
        running = _BACKGROUND.get(name)
        if running is not None and running.is_alive():
            return
        thread = threading.Thread(target=work, name=f"lab-{name}", daemon=True)
        _BACKGROUND[name] = thread
        thread.start()


def embedded_model(workspace: Path, language: str = DEFAULT_LANGUAGE) -> Path:
    """The embedded model's folder; while it is still being built, a gr.Error that says so.

    Building takes minutes on a CPU, far too long for a handler: it runs in the background
    (started by `warm_up` when the server starts, or here on first use).
    """
    from core.demo.tiny_model import ensure_tiny_model, is_built

    folder = Workspace(workspace).tiny_model_dir
    if is_built(folder):
        return folder
    in_background("tiny-model", lambda: ensure_tiny_model(Path(workspace)))
    raise gr.Error(t("error.model_building", language), print_exception=False)


def warm_up(workspace: Path) -> None:
    """Generate the demo dataset and build the embedded model in the background."""
    from core.demo.dataset import ensure_demo_dataset
    from core.demo.tiny_model import ensure_tiny_model

    def work():
        ensure_demo_dataset(Path(workspace))
        ensure_tiny_model(Path(workspace))

    in_background("tiny-model", work)
