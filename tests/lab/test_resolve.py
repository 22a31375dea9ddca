"""The one resolver of what a user typed: the workspace check first, a hub id only in a hub id's form."""
from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pytest

from lab import resolve


def _model(folder: Path, adapter: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ("adapter_config.json" if adapter else "config.json")).write_text("{}", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({}), encoding="utf-8")
    return folder


def test_a_folder_in_the_workspace_wins_over_a_hub_id_of_the_same_name(tmp_path):
    folder = _model(tmp_path / "Qwen" / "Qwen2-0.5B-Instruct")
    assert resolve.base_model("Qwen/Qwen2-0.5B-Instruct", tmp_path) == str(folder.resolve())


def test_a_hub_id_is_taken_only_from_the_local_hub_cache(tmp_path, monkeypatch):
    """Not a folder but a hub id's form: accepted when the local hub cache holds it, else refused with
    the reason (not transformers' "couldn't connect to huggingface.co" once the model loads)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(gr.Error, match="neither a local model folder nor in the local hub cache"):
        resolve.base_model("Qwen/Qwen2-1.5B-Instruct", tmp_path, "en")
    with pytest.raises(gr.Error, match="不在本地 Hub 缓存中"):
        resolve.base_model("Qwen/Qwen2-1.5B-Instruct", tmp_path, "zh")
    cached = tmp_path / "hub" / "models--Qwen--Qwen2-1.5B-Instruct"
    (cached / "refs").mkdir(parents=True)
    (cached / "refs" / "main").write_text("abc123", encoding="utf-8")
    (cached / "snapshots" / "abc123").mkdir(parents=True)
    (cached / "snapshots" / "abc123" / "config.json").write_text("{}", encoding="utf-8")
    assert resolve.base_model("Qwen/Qwen2-1.5B-Instruct", tmp_path) == "Qwen/Qwen2-1.5B-Instruct"


@pytest.mark.parametrize("text, message", [
    ("../outside", "outside"), ("/etc", "outside"), ("../../etc/passwd", "outside"),
    ("no-such-model", "model folder not found"), ("a/b/c", "model folder not found"),
])
def test_what_is_neither_an_allowed_folder_nor_a_hub_id_is_refused(tmp_path, text, message):
    with pytest.raises(gr.Error, match=message):
        resolve.base_model(text, tmp_path / "workspace", "en")


def test_dot_paths_are_workspace_paths_never_hub_ids(tmp_path, monkeypatch):
    """`../x` and `./x` name folders beside / in the workspace, even when the server's working folder
    holds such a folder: they are never looked up as hub ids relative to the process."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    _model(tmp_path / "x")  # workspace/../x exists, outside the workspace
    monkeypatch.chdir(workspace)
    _model(workspace / "sub" / "x")
    monkeypatch.chdir(workspace / "sub")  # ./x exists relative to the process, not the workspace
    for text, message in (("../x", "outside"), ("./x", "model folder not found"), ("sub/../../x", "outside")):
        with pytest.raises(gr.Error, match=message):
            resolve.base_model(text, workspace, "en")
        with pytest.raises(gr.Error, match=message if message == "outside" else "folder"):
            resolve.checkpoint(text, workspace, "en")
    assert resolve.base_model("./sub/x", workspace) == str((workspace / "sub" / "x").resolve())


def test_a_link_out_of_the_workspace_is_refused(tmp_path):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "models").symlink_to(_model(tmp_path / "elsewhere"))
    with pytest.raises(gr.Error, match="outside"):
        resolve.base_model("models", workspace, "en")
    with pytest.raises(gr.Error, match="outside"):
        resolve.checkpoint("models", workspace, "en")


def test_data_files(tmp_path):
    (tmp_path / "rows.jsonl").write_text("{}\n", encoding="utf-8")
    assert resolve.data_file("demo", tmp_path) == "demo"
    assert resolve.data_file("rows.jsonl", tmp_path) == str((tmp_path / "rows.jsonl").resolve())
    with pytest.raises(gr.Error, match="file not found: missing.jsonl"):
        resolve.data_file("missing.jsonl", tmp_path, "en")


def test_the_lists_offer_what_the_resolver_accepts(tmp_path):
    _model(tmp_path / "models" / "base")
    _model(tmp_path / "models" / "lora", adapter=True)
    run = tmp_path / "runs" / "20990101-000000-train-abcd"
    _model(run / "adapter", adapter=True)
    _model(run / "fold-1" / "model")
    _model(run / "merged")
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "rows.jsonl").write_text("{}\n", encoding="utf-8")
    assert resolve.model_choices(tmp_path) == ["embedded", "embedded-encoder", "models/base"]
    assert resolve.checkpoint_choices(tmp_path) == [f"runs/{run.name}/fold-1/model",
                                                    f"runs/{run.name}/adapter"]
    assert "models/lora" in resolve.tokenizer_choices(tmp_path)
    assert resolve.dataset_choices(tmp_path) == ["demo", "demo-reviews", "uploads/rows.jsonl"]
    (tmp_path / "demo-reviews").mkdir()  # the review demo's own files are offered by its name only
    (tmp_path / "demo-reviews" / "train.jsonl").write_text("{}\n", encoding="utf-8")
    assert resolve.dataset_choices(tmp_path) == ["demo", "demo-reviews", "uploads/rows.jsonl"]
    assert resolve.data_file("demo-reviews", tmp_path) == "demo-reviews"
    for choice in resolve.model_choices(tmp_path)[2:]:  # after the two embedded models
        assert resolve.base_model(choice, tmp_path) == str((tmp_path / choice).resolve())
    for choice in resolve.checkpoint_choices(tmp_path):
        assert resolve.checkpoint(choice, tmp_path) == (tmp_path / choice).resolve()
