"""What the tabs share in the server process: the tab context, the one job registry, bounded caches,
background work, the chosen dataset and tokenizers.

Paths a user types are resolved by lab.resolve (workspace or assets only); uploads are copied into
`workspace/uploads/` before anything reads them. Loaded datasets and tokenizers are cached so a
handler that re-reads them returns in milliseconds; every cache of the page is a `BoundedCache`,
bounded and locked, since Gradio runs handlers on several threads.
"""
from __future__ import annotations

import filecmp
import functools
import hashlib
import inspect
import re
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import pandas as pd

from core.config.schema import DEMO
from core.demo.reviews import DEMO_REVIEWS, ensure_review_dataset
from core.demo.reviews import MAPPING as REVIEW_MAPPING
from core.data.mapping import FRAUD, DataMapping, propose_mapping, sampled_columns
from core.data.records import DataError, Problem, Record, load_records
from core.data.stats import records_frame
from core.env import PathOutsideWorkspace
from core.jobs.registry import JobRegistry
from core.models import ModelError, load_tokenizer
from core.workspace import Workspace
from lab.i18n import DEFAULT_LANGUAGE, problem_line, t
from lab.resolve import DATA_SUFFIXES, display_path, tokenizer_folder, user_path


@dataclass
class TabContext:
    """Handed to each tab module's `build(context)`, inside its `gr.Tab`.

    `language_input` is the language Radio ("zh"/"en"): give it as an input to handlers whose
    messages or figures are translated. `translated(component, key)` registers a component whose
    label (or another attribute) follows the language switch. `dataset` is a gr.State holding the
    Data tab's choice ({"choice": ..., "compare": ..., "mapping": None or {"text_column", "label_column",
    "label_names"}}); `load_dataset(workspace, **value)` reads it.
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


def error_html(message: str) -> str:
    """A user error shown in the page, in place of the result it stopped (escaped, kept line breaks)."""
    import html

    return (f'<p class="lab-error" style="color:#b71c1c;white-space:pre-wrap;margin:4px 0">'
            f'{html.escape(str(message))}</p>')


def shown_errors(on_error: Callable[[str], Any]):
    """Like `user_errors`, but the message takes the place of the event's outputs: `on_error(message)`
    returns what they show instead (the message in one of them, the stale results cleared or kept).

    Why not gr.Error: Gradio marks every output of a failed event with a red "Error" pill that stays
    over the old results (and over filters or the job panel) until that very output is written again,
    and an event that fails gives no later step the chance to clear what is now wrong.
    """

    def decorate(fn):
        checked = user_errors(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return checked(*args, **kwargs)
            except gr.Error as error:
                return on_error(error.message)

        return wrapper

    return decorate


def bind(handler: Callable, workspace: Path) -> Callable:
    """`handler(workspace, *inputs)` as a Gradio event function of the inputs alone.

    The handlers are module functions (tests call them by name); Gradio reads the event function's
    signature to pass inputs and type hints to pass gr.SelectData, so the workspace is bound here
    with both kept, which functools.partial would not do.
    """
    signature = inspect.signature(handler)

    @functools.wraps(handler)
    def event(*args, **kwargs):
        return handler(workspace, *args, **kwargs)

    event.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])
    return event


class BoundedCache:
    """A least-recently-used map of at most `size` entries, safe across the server's handler threads."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, default=None):
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get_or_build(self, key, build: Callable[[], Any]):
        """The cached value, else `build()` (run outside the lock: it may take seconds) cached."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            value = build()
            self.put(key, value)
        return value

    def setdefault(self, key, build: Callable[[], Any]):
        """Like get_or_build, but `build` (which must be quick) runs under the lock: it runs once per key."""
        with self._lock:
            if key not in self._items:
                self._items[key] = build()
            self._items.move_to_end(key)
            value = self._items[key]
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


_MISSING = object()


# -- the job registry and messages -----------------------------------------------------------------
_REGISTRIES: dict[str, JobRegistry] = {}
_REGISTRY_LOCK = threading.Lock()


def registry_for(workspace: Path, owns_queue: bool = False) -> JobRegistry:
    """The server process's one registry per workspace: creating one writes settings and probes
    GPUs, and a registry reaps the job processes it started, so every tab must share it. The web
    server creates it first, as the queue's owner (it stores the GPU list the jobs share)."""
    key = str(Path(workspace).resolve())
    with _REGISTRY_LOCK:
        if key not in _REGISTRIES:
            _REGISTRIES[key] = JobRegistry(workspace, owns_queue=owns_queue)
        return _REGISTRIES[key]


def hide_workspace(text: str, workspace: Path) -> str:
    """Workspace paths in a message as relative paths: the page never shows where the workspace lies."""
    text = str(text)
    for root in sorted({str(Path(workspace)), str(Path(workspace).resolve())}, key=len, reverse=True):
        text = text.replace(root.rstrip("/") + "/", "").replace(root, ".")
    return text


# -- background work -------------------------------------------------------------------------------
_BACKGROUND: dict[str, threading.Thread] = {}
_BACKGROUND_LOCK = threading.Lock()


def in_background(name: str, work: Callable[[], Any]) -> None:
    """Start `work` in a daemon thread unless one of that name is still running."""
    with _BACKGROUND_LOCK:
        running = _BACKGROUND.get(name)
        if running is not None and running.is_alive():
            return
        thread = threading.Thread(target=work, name=f"lab-{name}", daemon=True)
        _BACKGROUND[name] = thread
        thread.start()


def warm_up(workspace: Path) -> None:
    """Generate the demo dataset and build the embedded model, then the embedded encoder, in the
    background."""
    from core.demo.dataset import ensure_demo_dataset
    from core.demo.tiny_encoder import ensure_tiny_encoder
    from core.demo.tiny_model import ensure_tiny_model

    def work():
        ensure_demo_dataset(Path(workspace))
        ensure_tiny_model(Path(workspace))
        # Then the encoder (about a minute): the default loop's model comes first.
        ensure_tiny_encoder(Path(workspace))

    in_background("tiny-model", work)


# -- datasets and tokenizers -----------------------------------------------------------------------
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
    """Records by split, the files they came from, the rows that could not be loaded, and how the
    files' columns map to a text and a label (the fraud schema, or columns with label names)."""

    name: str
    splits: dict[str, list[Record]]
    files: dict[str, str]
    problems: list[Problem]  # the rows left out, by file, line and field
    key: str = ""  # names the files' contents: the same key means the same rows
    warnings: list[Problem] = field(default_factory=list)  # values cleaned on loading (control characters)
    mapping: DataMapping = FRAUD
    columns: list[str] = field(default_factory=list)  # the first file's columns, offered by the Data tab

    @property
    def size(self) -> int:
        return sum(len(records) for records in self.splits.values())

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        return records_frame(self.splits)

    @property
    def labels(self) -> list:
        """The label values of its records in class order: False, True or the class indices."""
        return [False, True] if self.mapping.is_fraud else list(range(self.mapping.num_classes))

    def class_names(self, language: str) -> dict:
        """Label value -> the name shown: 诈骗/正常 for the fraud schema, else the file's label names by
        class index (the value its records carry)."""
        if self.mapping.is_fraud:
            return {True: t("label.true", language), False: t("label.false", language)}
        return dict(enumerate(self.mapping.label_names))

    def audit_splits(self) -> tuple[list[Record], list[Record] | None]:
        """The rows the audit compares: the first split as train, "test" (or the second split) as test."""
        names = list(self.splits)
        test = "test" if "test" in names[1:] else (names[1] if len(names) > 1 else None)
        return self.splits[names[0]], (self.splits[test] if test else None)


_DATASETS = BoundedCache(6)
_TOKENIZERS = BoundedCache(6)
# Data events run without a queue limit (DATA_EVENTS), so one session loading a large file never
# queues another session's quick "Load demo" behind it; reading large files is bounded here
# instead: one at a time, so several big loads cannot fill the memory together.
LARGE_FILE_BYTES = 8 * 1024 * 1024  # a 40k-row JSON list; the demo's files are ~1 MB
_LARGE_LOADS = threading.BoundedSemaphore(1)
DATA_EVENTS = {"concurrency_id": "data-view", "concurrency_limit": None}


def _split_files(choice: str, compare: str | None, workspace: Path, language: str) -> dict[str, Path]:
    if not str(choice or "").strip():
        raise gr.Error(t("error.no_dataset", language), print_exception=False)
    if choice == DEMO:
        from core.demo.dataset import ensure_demo_dataset

        return {split: Path(path) for split, path in ensure_demo_dataset(Path(workspace)).items()}
    if choice == DEMO_REVIEWS:
        return {split: Path(path) for split, path in ensure_review_dataset(Path(workspace)).items()}
    files = {}
    for text in (choice, compare):
        if text and str(text).strip():
            path = user_path(text, workspace, language)
            if not path.is_file():
                raise gr.Error(t("error.not_a_file", language, path=str(text)), print_exception=False)
            split = path.stem if path.stem not in files else f"{path.stem}-{len(files) + 1}"
            files[split] = path
    return files


def mapping_from(value: dict | None) -> DataMapping | None:
    """The mapping a page value ({"text_column", "label_column", "label_names"}) describes; None when
    it gives none (the files' own is then detected). A bad one raises ValueError saying why."""
    if not value:
        return None
    names = value.get("label_names") or ()
    if isinstance(names, str):
        names = [name.strip() for name in re.split(r"[,，]", names) if name.strip()]
    return DataMapping(text_column=str(value.get("text_column") or "").strip(),
                       label_column=str(value.get("label_column") or "").strip(), label_names=tuple(names))


def _detected_mapping(choice: str, files: dict[str, Path], workspace: Path,
                      language: str = DEFAULT_LANGUAGE) -> DataMapping:
    """The demo datasets' own mappings; for a file, the mapping its first rows suggest."""
    if choice == DEMO:
        return FRAUD
    if choice == DEMO_REVIEWS:
        return REVIEW_MAPPING
    first = next(iter(files.values()))
    try:
        return propose_mapping(first)
    except DataError as error:
        raise gr.Error(_shown_problems(error.problems, workspace, language), print_exception=False) from None


def load_dataset(workspace: Path, choice: str = DEMO, compare: str | None = None,
                 language: str = DEFAULT_LANGUAGE, mapping: dict | None = None) -> Dataset:
    """The chosen dataset (lenient: bad rows become problems), cached by file, modification time and
    mapping. `mapping` as the Data tab holds it; None: the demo's own, or detected from the file."""
    files = _split_files(choice, compare, workspace, language)
    try:
        mapped = mapping_from(mapping)
    except ValueError as error:
        raise gr.Error(t("error.bad_mapping", language, error=error), print_exception=False) from None
    mapped = mapped or _detected_mapping(choice, files, workspace, language)  # says its own errors
    key = tuple((split, str(path), path.stat().st_mtime_ns, path.stat().st_size)
                for split, path in files.items()) + (repr(mapped),)

    def build() -> Dataset:
        large = sum(path.stat().st_size for path in files.values()) > LARGE_FILE_BYTES
        if not large:
            return read()
        with _LARGE_LOADS:
            return read()

    def read() -> Dataset:
        splits, problems, warnings = {}, [], []
        for split, path in files.items():
            try:
                result = load_records(path, strict=False, mapping=mapped)
            except DataError as error:
                raise gr.Error(_shown_problems(error.problems, workspace, language),
                               print_exception=False) from None
            splits[split] = result.records
            problems.extend(_relative(problem, workspace) for problem in result.problems)
            warnings.extend(_relative(problem, workspace) for problem in result.warnings)
        return Dataset(name=str(choice), splits=splits, problems=problems, warnings=warnings,
                       files={split: display_path(path, workspace) for split, path in files.items()},
                       key=hashlib.sha256(repr(key).encode()).hexdigest()[:16], mapping=mapped,
                       columns=sampled_columns(next(iter(files.values()))))

    return _DATASETS.get_or_build(key, build)


def _relative(problem: Problem, workspace: Path) -> Problem:
    # replace, not a new Problem: the code and values word the problem in the page's language.
    return replace(problem, file=display_path(problem.file, workspace))


def _shown_problems(problems: list[Problem], workspace: Path, language: str = DEFAULT_LANGUAGE) -> str:
    """The first problems of a file that cannot be loaded, in the page's language, one a line."""
    return "\n".join(problem_line(_relative(problem, workspace), language) for problem in problems[:20])


def get_tokenizer(choice: str, workspace: Path, language: str = DEFAULT_LANGUAGE):
    """The tokenizer of the embedded model or of a model folder under the allowed roots (cached)."""
    folder = tokenizer_folder(choice, workspace, language)
    return _TOKENIZERS.get_or_build(str(folder), lambda: load_tokenizer(str(folder)))
