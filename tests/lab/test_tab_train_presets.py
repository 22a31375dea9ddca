"""Train tab presets: the form says which preset filled it, re-fills when the model or method changes,
and pressed untouched starts exactly the run `python -m lab train` starts without a config."""
from __future__ import annotations

import json
import re

import yaml

from core.config.presets import ENCODER, LARGE, TINY, default_config, preset_for
from core.config.schema import RunConfig
from core.config.text import config_from_dict, to_yaml
from core.jobs.registry import JobRegistry
from core.workspace import RunDir
from lab import tab_train

KEYS = [spec.key for spec in tab_train.form_specs()]


def _with(values: list, **changes) -> list:
    changed = list(values)
    for key, value in changes.items():
        changed[KEYS.index(key.replace("__", "."))] = value
    return changed


def _value(values: list, key: str):
    return values[KEYS.index(key)]


def _large_model_folder(workspace):
    """A model folder whose config.json describes a 1.5B-parameter Qwen2 (no weights needed to pick)."""
    folder = workspace / "models" / "qwen2-1.5b"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["Qwen2ForCausalLM"], "hidden_size": 1536, "num_hidden_layers": 28,
        "intermediate_size": 8960, "vocab_size": 151936}), encoding="utf-8")
    return "models/qwen2-1.5b"


def _text(note: str) -> str:
    return re.sub("<[^>]+>", "", note)


def test_untouched_form_is_the_default_recipe_and_names_its_preset():
    values = tab_train.initial_values()
    shown = tab_train.config_from_form(values)
    assert to_yaml(shown) == to_yaml(default_config([]))  # what `python -m lab train` runs with no --set
    assert (shown.lora.r, shown.train.learning_rate, shown.train.max_steps) == (16, 3e-3, 200)
    note = _text(tab_train.preset_note(TINY, shown.method, "en"))
    assert f"preset {TINY.name}: {TINY.description}" in note


def test_changing_the_model_or_method_refills_the_form_and_every_field_stays_editable(session_workspace):
    initial = tab_train.initial_values()
    edited = _with(initial, data__train="my/own.jsonl", train__max_steps=77)
    large = _large_model_folder(session_workspace)

    filled, note = tab_train.refill_from_preset(session_workspace, _with(edited, model=large))
    cfg = tab_train.config_from_form(filled)
    shown = _text(tab_train.preset_html(note, "en"))
    assert cfg.model == large and LARGE.name in shown and "re-filled" in shown
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (8, 16, 0.05)
    assert (cfg.train.learning_rate, cfg.train.batch_size, cfg.train.grad_accum) == (1e-4, 4, 4)
    assert cfg.train.max_steps == -1 and "embed_tokens" not in cfg.lora.target_modules
    assert cfg.data.train == "my/own.jsonl"  # fields outside the preset keep what the user typed

    filled, note = tab_train.refill_from_preset(session_workspace, _with(filled, method="full"))
    assert tab_train.config_from_form(filled).train.learning_rate == LARGE.by_method["full"][
        "train.learning_rate"]
    assert "full: train.learning_rate" in _text(tab_train.preset_html(note, "en"))

    # The user changes a preset value afterwards: the form keeps it (and Start would take it).
    mine = tab_train.config_from_form(_with(filled, train__learning_rate="2e-5", lora__r=4))
    assert (mine.train.learning_rate, mine.lora.r) == (2e-5, 4)

    # Back to the embedded model with LoRA: the preset's fields are the untouched form's again.
    filled, note = tab_train.refill_from_preset(session_workspace,
                                                _with(filled, model="embedded", method="lora"))
    assert TINY.name in _text(tab_train.preset_html(note, "en"))
    assert filled == _with(initial, data__train="my/own.jsonl")


def test_the_preset_note_follows_the_language_switch(session_workspace):
    """The note over the form is kept as a key and the preset's name, so a switch words it again."""
    large = _large_model_folder(session_workspace)
    _, note = tab_train.refill_from_preset(session_workspace, _with(tab_train.initial_values(), model=large,
                                                                    method="full"))
    chinese, english = (_text(tab_train.preset_html(note, language)) for language in ("zh", "en"))
    assert "重新填写" in chinese and LARGE.name in chinese and "1e-05" in chinese
    assert "re-filled" in english and LARGE.description in english
    # The description is worded too, not only the frame around it.
    assert "学习率" in chinese and LARGE.description not in chinese
    assert not re.search(r"[\u4e00-\u9fff]", english)
    assert _text(tab_train.preset_html({"key": "train.preset_yaml"}, "en")).startswith("Filled from the YAML")
    assert "YAML" in _text(tab_train.preset_html({"key": "train.preset_yaml"}, "zh"))


def test_the_embedded_encoder_gets_the_encoder_preset_in_the_form_and_the_cli(session_workspace, tmp_path):
    initial = tab_train.initial_values()
    filled, note = tab_train.refill_from_preset(session_workspace, _with(initial, model="embedded-encoder"))
    cfg = tab_train.config_from_form(filled)
    assert ENCODER.name in _text(tab_train.preset_html(note, "en")) and cfg.head == "seq-cls"
    assert cfg.lora.target_modules == ["query", "key", "value", "dense"] and cfg.train.learning_rate == 3e-3
    assert to_yaml(cfg) == to_yaml(default_config(["model=embedded-encoder"]))  # `python -m lab train`
    full = default_config(["model=embedded-encoder", "method=full"])
    assert full.train.learning_rate == ENCODER.by_method["full"]["train.learning_rate"]
    # A folder holding a small BERT (config.json only) is an encoder: it gets the same preset.
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 256,
                                                      "vocab_size": 1200, "num_hidden_layers": 3}),
                                          encoding="utf-8")
    assert preset_for(str(tmp_path)) is ENCODER and preset_for("embedded") is TINY


def test_start_with_the_untouched_form_submits_the_default_recipe(session_workspace, tiny_model_dir):
    registry = JobRegistry(session_workspace)
    job = tab_train.start_job(session_workspace, tab_train.initial_values(), "", "en")
    try:
        saved = config_from_dict(yaml.safe_load(RunDir(job.run_dir).config_file.read_text(encoding="utf-8")))
    finally:
        registry.stop(job.id)
        registry.wait(job.id, timeout=120)
    expected = default_config([])
    assert saved.model == expected.model == "embedded"  # the job resolves it to its built folder
    for section in ("lora", "train", "kfold"):
        assert getattr(saved, section) == getattr(expected, section)
    assert (saved.method, saved.head, saved.sweep) == (expected.method, expected.head, None)
    assert saved.data.max_length == expected.data.max_length and saved.data.train == "demo"
    assert RunConfig().train.max_steps == expected.train.max_steps  # the schema's defaults are the preset's


def test_page_shows_the_preset_and_refills_on_the_users_model_or_method_change(session_workspace):
    from lab.app import build_app

    app = build_app(session_workspace, "en")
    components = app.config["components"]
    notes = [component["id"] for component in components
             if f"Filled by preset {TINY.name}: {TINY.description}" in str(component["props"].get("value"))]
    assert len(notes) == 1
    by_label = {component["props"].get("label"): component for component in components}
    assert by_label["Learning rate · train.learning_rate"]["props"]["value"] == "0.003"
    fields = {by_label[label]["id"] for label in ("Base model · model", "Method · method")}
    refills = [dependency for dependency in app.config["dependencies"]
               if {target for target, event in dependency["targets"] if event == "input"} & fields]
    # One handler per field, writing every form field, the note and the note's key (for a language switch).
    assert len(refills) == 2 and all(dependency["outputs"][-2] == notes[0] and
                                     len(dependency["outputs"]) == len(KEYS) + 2 for dependency in refills)
    # The language switch words the note again.
    switch = app.lab_context.language_input._id
    assert any(dependency["targets"] == [(switch, "change")] and dependency["outputs"] == [notes[0]]
               for dependency in app.config["dependencies"])
