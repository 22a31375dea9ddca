"""Every file and folder name of a workspace and of a run folder, and how they are read and written.

    workspace/
      jobs.sqlite            the job registry (core.jobs.registry)
      demo/                  the generated demo dataset: train.jsonl, validation.jsonl, test.jsonl
      cache/tiny-model/      the embedded tiny model
      cache/gradio/          Gradio's temporary files (uploads before the page copies them)
      uploads/               files uploaded through the page
      runs/<run id>/         one folder per job: a RunDir

    runs/<run id>/
      config.yaml            the run's config
      log.txt                the job process's stdout and stderr
      STOP                   written to ask the job to stop
      metrics.jsonl          one JSON object a line, appended live: training metrics or evaluation progress
      metrics.json           an evaluation's metrics
      predictions.jsonl      an evaluation's answers, one line per row
      summary.json           a training run's final summary
      fraud_lab_run.json     what evaluating the trained model needs: its base, head and prompt
      adapter/ or model/     the trained LoRA adapter, or the fully fine-tuned model
      merged/                the adapter merged into its base by an export
      checkpoints/           resumable Trainer checkpoints
      validation_split.json  the held-out rows when no validation file is given
      reference_logits.safetensors   logits of one row, to check that a reloaded model matches
      K-fold: folds.json, fold-<i>/ (a run folder each, with oof.jsonl), oof_predictions.jsonl, NOTICE.txt
      sweep:  sweep_plan.json, sweep_results.json, trial-<i>/ (a run folder each)

Files that another step reads back are written atomically: into a temporary file beside the
target, then renamed over it with os.replace, so a reader (the page polling a run, a resumed
job, another rank) sees the old file or the new one, never half of one. metrics.jsonl is the
exception while a job appends to it: readers skip a cut last line (`read_jsonl`,
`read_appended`); its rewrites (at a resume, a K-fold rebuild) are atomic too.
"""
from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

DATABASE = "jobs.sqlite"
DEMO_DIR = "demo"
CACHE_DIR = "cache"
TINY_MODEL_DIR = "tiny-model"
GRADIO_DIR = "gradio"
UPLOADS_DIR = "uploads"
RUNS_DIR = "runs"
# Workspace folders that hold the lab's own outputs rather than data or models a user brought.
OUTPUT_FOLDERS = (RUNS_DIR, CACHE_DIR, DEMO_DIR, UPLOADS_DIR)

CONFIG_FILE = "config.yaml"
LOG_FILE = "log.txt"
STOP_FILE = "STOP"
METRICS_LINES = "metrics.jsonl"
EVAL_METRICS = "metrics.json"
PREDICTIONS_FILE = "predictions.jsonl"
SUMMARY_FILE = "summary.json"
RUN_INFO_FILE = "fraud_lab_run.json"
ADAPTER_DIR = "adapter"
MODEL_DIR = "model"
MERGED_DIR = "merged"
CHECKPOINTS_DIR = "checkpoints"
SPLIT_FILE = "validation_split.json"
THREADS_FILE = "torch_threads.txt"
REFERENCE_FILE = "reference_logits.safetensors"
FOLDS_FILE = "folds.json"
OOF_FILE = "oof_predictions.jsonl"
FOLD_OOF_FILE = "oof.jsonl"
NOTICE_FILE = "NOTICE.txt"
SWEEP_PLAN_FILE = "sweep_plan.json"
SWEEP_RESULTS_FILE = "sweep_results.json"
ADAPTER_CONFIG_FILE = "adapter_config.json"  # written by peft; read to tell an adapter from a model
FOLD_PREFIX, TRIAL_PREFIX = "fold-", "trial-"
FOLD_PATTERN = re.compile(rf"^{FOLD_PREFIX}(\d+)$")
# Bytes just before a reader's offset, kept to notice a file rewritten under the reader.
CHECK_BYTES = 64


# -- writing and reading files ---------------------------------------------------------------------
def write_text(path: str | Path, text: str) -> Path:
    """Write `text` so that a concurrent reader sees the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def write_json(path: str | Path, value: Any, indent: int | None = 2) -> Path:
    return write_text(path, json.dumps(value, ensure_ascii=False, indent=indent))


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> Path:
    return write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def append_jsonl(path: str | Path, row: dict) -> None:
    """Append one line and flush it: a page polling the file sees every finished line."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()


def read_json(path: str | Path, default: Any = None) -> Any:
    """The file's JSON value; `default` when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


def _parse_lines(data: bytes) -> list[dict]:
    lines = []
    for raw in data.splitlines():
        if raw.strip():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue  # a line cut by a killed process, or the one being appended right now
    return lines


def read_jsonl(path: str | Path) -> list[dict]:
    """Every complete JSON line of a file ([] when it does not exist)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    return _parse_lines(data[: data.rfind(b"\n") + 1])


@dataclass
class Appended:
    """What `read_appended` found: new lines, where to read next, and whether it started over."""

    lines: list[dict]
    offset: int
    check: str  # hex of the bytes before `offset`
    restarted: bool = False


def read_appended(path: str | Path, offset: int = 0, check: str = "") -> Appended:
    """The complete lines appended to a JSON-lines file since `offset`.

    The page polls a running job every two seconds; re-reading the whole file each time would
    grow with the run (pandas' and datasets' JSON-lines readers read whole files), so this reads
    from a byte offset. A partly written last line is left for the next read. When the bytes
    before `offset` are not the ones seen last time (or the file shrank or vanished), the file
    was rewritten (a resumed run truncates its metrics to the checkpoint, a K-fold parent
    rebuilds its combined file): everything is read again and `restarted` is True, so the caller
    drops what it had.
    """
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return Appended([], 0, "", restarted=offset > 0)
    with handle:
        size = handle.seek(0, 2)
        before = bytes.fromhex(check)
        restarted = False
        if offset:
            if size < offset or len(before) > offset:
                restarted = True
            else:
                handle.seek(offset - len(before))
                restarted = handle.read(len(before)) != before
        if restarted:
            offset, before = 0, b""
        handle.seek(offset)
        data = handle.read(size - offset)
    complete = data[: data.rfind(b"\n") + 1]
    return Appended(_parse_lines(complete), offset + len(complete), (before + complete)[-CHECK_BYTES:].hex(),
                    restarted)


# -- the workspace ---------------------------------------------------------------------------------
class Workspace:
    """The folders of one workspace; creating the object creates nothing."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    @property
    def database(self) -> Path:
        return self.root / DATABASE

    @property
    def demo_dir(self) -> Path:
        return self.root / DEMO_DIR

    @property
    def tiny_model_dir(self) -> Path:
        return self.root / CACHE_DIR / TINY_MODEL_DIR

    @property
    def gradio_dir(self) -> Path:
        return self.root / CACHE_DIR / GRADIO_DIR

    @property
    def uploads_dir(self) -> Path:
        return self.root / UPLOADS_DIR

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS_DIR

    def run(self, run_id: str) -> "RunDir":
        return RunDir(self.runs_dir / run_id)


# -- a run folder ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunDir:
    """The files of one run folder (a job's, a fold's or a trial's); see the module docstring."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    config_file = property(lambda self: self.path / CONFIG_FILE)
    log_file = property(lambda self: self.path / LOG_FILE)
    stop_file = property(lambda self: self.path / STOP_FILE)
    metrics_lines = property(lambda self: self.path / METRICS_LINES)
    eval_metrics = property(lambda self: self.path / EVAL_METRICS)
    predictions_file = property(lambda self: self.path / PREDICTIONS_FILE)
    summary_file = property(lambda self: self.path / SUMMARY_FILE)
    run_info_file = property(lambda self: self.path / RUN_INFO_FILE)
    adapter_dir = property(lambda self: self.path / ADAPTER_DIR)
    model_dir = property(lambda self: self.path / MODEL_DIR)
    merged_dir = property(lambda self: self.path / MERGED_DIR)
    checkpoints_dir = property(lambda self: self.path / CHECKPOINTS_DIR)
    split_file = property(lambda self: self.path / SPLIT_FILE)
    threads_file = property(lambda self: self.path / THREADS_FILE)
    reference_file = property(lambda self: self.path / REFERENCE_FILE)
    folds_file = property(lambda self: self.path / FOLDS_FILE)
    oof_file = property(lambda self: self.path / OOF_FILE)
    fold_oof_file = property(lambda self: self.path / FOLD_OOF_FILE)
    notice_file = property(lambda self: self.path / NOTICE_FILE)
    sweep_plan_file = property(lambda self: self.path / SWEEP_PLAN_FILE)
    sweep_results_file = property(lambda self: self.path / SWEEP_RESULTS_FILE)

    def output_dir(self, method: str) -> Path:
        """Where a training run keeps what it trained: model/ for full fine-tuning, else adapter/."""
        return self.model_dir if method == "full" else self.adapter_dir

    def fold(self, index: int) -> "RunDir":
        return RunDir(self.path / f"{FOLD_PREFIX}{index}")

    def trial(self, index: int) -> "RunDir":
        return RunDir(self.path / f"{TRIAL_PREFIX}{index}")

    def folds(self) -> list["RunDir"]:
        """A K-fold run's fold folders, in fold order."""
        if not self.path.is_dir():
            return []
        found = [(int(match.group(1)), entry) for entry in self.path.iterdir()
                 if entry.is_dir() and (match := FOLD_PATTERN.match(entry.name))]
        return [RunDir(entry) for _, entry in sorted(found)]

    # -- stop requests ------------------------------------------------------------------------------
    def stop_requested(self) -> bool:
        return self.stop_file.exists()

    def request_stop(self, note: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.stop_file.write_text(note + "\n", encoding="utf-8")

    def clear_stop(self) -> None:
        self.stop_file.unlink(missing_ok=True)

    # -- the files other steps read back --------------------------------------------------------------
    def read_metrics(self) -> list[dict]:
        return read_jsonl(self.metrics_lines)

    def append_metrics(self, line: dict) -> None:
        append_jsonl(self.metrics_lines, line)

    def rewrite_metrics(self, lines: list[dict]) -> None:
        write_jsonl(self.metrics_lines, lines)

    def read_summary(self) -> dict | None:
        return read_json(self.summary_file)

    def write_summary(self, summary: dict) -> None:
        write_json(self.summary_file, summary)

    def read_run_info(self) -> dict | None:
        return read_json(self.run_info_file)

    def write_run_info(self, info: dict) -> None:
        write_json(self.run_info_file, info)


def run_folder_of(path: str | Path, marker: str = RUN_INFO_FILE) -> RunDir | None:
    """The run folder an output lies in: the folder itself, or the run holding it as adapter/ or
    model/ (one level up) or as checkpoints/checkpoint-N/ (two levels up); None when none has `marker`."""
    folder = Path(path).expanduser()
    for candidate in (folder, folder.parent, folder.parent.parent):
        if (candidate / marker).is_file():
            return RunDir(candidate)
    return None


def run_info_of(path: str | Path) -> dict:
    """The fraud_lab_run.json of the run an adapter, model or checkpoint folder belongs to ({} if none)."""
    run = run_folder_of(path)
    if run is None:
        return {}
    try:
        value = run.read_run_info()
    except json.JSONDecodeError as error:
        raise ValueError(f"{run.run_info_file}: cannot be read as JSON ({error})") from None
    return value if isinstance(value, dict) else {}
