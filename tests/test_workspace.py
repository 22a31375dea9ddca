"""The workspace module: atomic writes, the JSON-lines readers, run folder names."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from core.env import REPO_ROOT

from core.workspace import (Workspace, read_appended, read_json, read_jsonl, run_folder_of, run_info_of,
                            write_json, write_text)

def _line(step: int, loss: float) -> str:
    return json.dumps({"padding": "x" * 80, "kind": "train", "step": step, "loss": loss}) + "\n"


def test_incremental_reader_parses_only_appended_complete_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(_line(1, 4.0) + _line(2, 3.9), encoding="utf-8")
    first = read_appended(path)
    assert [line["step"] for line in first.lines] == [1, 2] and first.offset == path.stat().st_size

    # A half-written line is left for later; the offset stops before it.
    partial = _line(3, 3.8)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(partial[:30])
    second = read_appended(path, first.offset, first.check)
    assert second.lines == [] and second.offset == first.offset and not second.restarted

    # Bytes before the offset are not read again: garbling the first line (outside the check
    # window) goes unnoticed, and only the appended line is parsed.
    data = bytearray(path.read_bytes())
    data[0:10] = b"##########"
    path.write_bytes(bytes(data))
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(partial[30:])
    third = read_appended(path, second.offset, second.check)
    assert [line["step"] for line in third.lines] == [3] and not third.restarted
    assert third.offset - second.offset == len(partial.encode())

    # A rewritten file (a resume truncating to its checkpoint) is read again from the start.
    path.write_text(_line(1, 4.0) + _line(2, 3.5), encoding="utf-8")
    fourth = read_appended(path, third.offset, third.check)
    assert fourth.restarted and [line["loss"] for line in fourth.lines] == [4.0, 3.5]
    # Same length, different bytes just before the offset (where the new time and loss of a
    # resumed run's line would be): also noticed.
    path.write_text(_line(1, 4.0) + _line(2, 3.6), encoding="utf-8")
    assert read_appended(path, fourth.offset, fourth.check).restarted
    assert read_appended(tmp_path / "absent.jsonl", 10, "").restarted


def test_an_atomic_write_is_never_seen_half_done(tmp_path):
    """A reader polling the file while it is rewritten sees one whole version or the other."""
    path = tmp_path / "summary.json"
    versions = [{"step": step, "padding": "x" * 200_000} for step in range(40)]
    write_json(path, versions[0])
    seen, broken, done = [], [], threading.Event()

    def read_while_writing():
        while not done.is_set():
            text = path.read_text(encoding="utf-8")
            try:
                seen.append(json.loads(text)["step"])
            except json.JSONDecodeError:
                broken.append(len(text))

    reader = threading.Thread(target=read_while_writing)
    reader.start()
    for version in versions[1:]:
        write_json(path, version)
    done.set()
    reader.join()
    assert seen and not broken  # the reader never met half a file
    assert read_json(path)["step"] == 39
    assert [entry.name for entry in tmp_path.iterdir()] == ["summary.json"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "config.yaml"
    write_text(path, "model: embedded\n")
    try:
        write_json(path, {"not serializable": object()})
    except TypeError:
        pass
    assert path.read_text(encoding="utf-8") == "model: embedded\n"
    assert os.listdir(tmp_path) == ["config.yaml"]


def test_read_jsonl_skips_a_cut_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(_line(1, 4.0) + _line(2, 3.9)[:20], encoding="utf-8")
    assert [line["step"] for line in read_jsonl(path)] == [1]
    assert read_jsonl(tmp_path / "absent.jsonl") == []


def test_run_folders_know_their_files_and_the_run_an_output_belongs_to(tmp_path):
    workspace = Workspace(tmp_path)
    run = workspace.run("20990101-000000-train-abcd")
    assert run.path == tmp_path / "runs" / "20990101-000000-train-abcd"
    assert (run.config_file.name, run.metrics_lines.name, run.eval_metrics.name) == (
        "config.yaml", "metrics.jsonl", "metrics.json")
    assert workspace.tiny_model_dir == tmp_path / "cache" / "tiny-model"
    assert workspace.database.name == "jobs.sqlite"
    for index in (2, 0, 10):
        run.fold(index).path.mkdir(parents=True)
    assert [fold.path.name for fold in run.folds()] == ["fold-0", "fold-2", "fold-10"]
    run.write_run_info({"base_model": "/models/base", "head": "causal-lm"})
    checkpoint = run.checkpoints_dir / "checkpoint-4"
    checkpoint.mkdir(parents=True)
    for output in (run.path, run.adapter_dir, checkpoint):
        assert run_folder_of(output) == run
        assert run_info_of(output)["base_model"] == "/models/base"
    assert run_info_of(tmp_path) == {}
    assert not run.stop_requested()
    run.request_stop("stop requested")
    assert run.stop_requested()
    run.clear_stop()
    assert not run.stop_requested()


# Runs the resume's rewrite of metrics.jsonl (core.train.callbacks.truncate_metrics) in a process that
# stops at one point of the atomic write and says so; the test then kills it with SIGKILL there.
_KILLED_REWRITE = """
import os, pathlib, sys, time

point, run_dir = sys.argv[1], sys.argv[2]
real_replace, real_write = os.replace, pathlib.Path.write_text


def pause():
    print("at " + point, flush=True)
    time.sleep(120)


def write_text(self, text, *args, **kwargs):
    if point == "write" and self.name.endswith(".partial"):  # half the new file written, then killed
        real_write(self, text[: len(text) // 2], *args, **kwargs)
        pause()
    return real_write(self, text, *args, **kwargs)


def replace(source, target):
    if point == "before-rename":
        pause()
    real_replace(source, target)
    if point == "after-rename":
        pause()


pathlib.Path.write_text, os.replace = write_text, replace
from core.train.callbacks import truncate_metrics

truncate_metrics(run_dir, 10)
"""


@pytest.mark.parametrize("point", ["write", "before-rename", "after-rename"])
def test_a_kill_during_the_metrics_rewrite_at_resume_loses_no_history(tmp_path, point):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    old = "".join(_line(step, 4.0 - step / 10) for step in range(1, 31))
    (run_dir / "metrics.jsonl").write_text(old, encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-c", _KILLED_REWRITE, point, str(run_dir)],
                               stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        assert process.stdout.readline().strip() == f"at {point}"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(30)
    text = (run_dir / "metrics.jsonl").read_text(encoding="utf-8")
    new = "".join(_line(step, 4.0 - step / 10) for step in range(1, 11))
    # The whole old history or the whole rewritten one, never a part.
    assert text == (new if point == "after-rename" else old)
    # The next resume rewrites it again as if nothing had happened.
    from core.train.callbacks import truncate_metrics

    truncate_metrics(run_dir, 10)
    assert [line["step"] for line in read_jsonl(run_dir / "metrics.jsonl")] == list(range(1, 11))
