"""An evaluation of a run's checkpoint with base and data left at their defaults takes the run's own
base model and test data (the Evaluate form and `python -m lab eval`); values the user chose stay."""
from __future__ import annotations

import gradio as gr

from core.config.schema import EvalConfig, RunConfig
from core.config.text import apply_overrides, save_config
from core.eval.run_defaults import run_defaults, with_run_defaults
from lab.tab_evaluate import fill_from_checkpoint


def _run(folder, *overrides):
    """A training run's folder as the job leaves it: config.yaml beside adapter/."""
    folder.mkdir(parents=True)
    (folder / "adapter").mkdir()
    save_config(apply_overrides(RunConfig(), list(overrides)), folder / "config.yaml")
    return folder


def test_a_runs_base_and_test_data_are_taken_only_where_left_at_defaults(tmp_path):
    run = _run(tmp_path / "runs" / "encoder", "model=embedded-encoder", "data.train=demo-reviews",
               "data.test=demo-reviews", "data.label_names=正面,中性,负面", "data.text_column=review")
    assert run_defaults(run / "adapter") == {"model": "embedded-encoder", "data": "demo-reviews"}
    cfg, taken = with_run_defaults(EvalConfig(adapters=[str(run / "adapter")]))
    assert (cfg.model, cfg.data) == ("embedded-encoder", "demo-reviews") and taken == {
        "model": "embedded-encoder", "data": "demo-reviews"}
    chosen = EvalConfig(model="models/other", data="mine.jsonl", adapters=[str(run)])
    assert with_run_defaults(chosen) == (chosen, {})
    # A run on the defaults themselves changes nothing; a folder that is no run's neither.
    fraud = _run(tmp_path / "runs" / "fraud")
    assert with_run_defaults(EvalConfig(adapters=[str(fraud / "adapter")]))[1] == {}
    (tmp_path / "loose").mkdir()
    assert run_defaults(tmp_path / "loose") == {}


def test_the_evaluate_form_fills_base_and_data_from_the_picked_checkpoint(tmp_path):
    workspace = tmp_path / "workspace"
    _run(workspace / "runs" / "encoder", "model=embedded-encoder", "data.train=demo-reviews",
         "data.test=demo-reviews", "data.label_names=正面,中性,负面", "data.text_column=review")
    model, data = fill_from_checkpoint(workspace, ["runs/encoder/adapter"], "embedded", "demo", "en")
    assert (model["value"], data["value"]) == ("embedded-encoder", "demo-reviews")
    skip = gr.skip()
    assert fill_from_checkpoint(workspace, ["runs/encoder/adapter"], "embedded", "uploads/x.jsonl",
                                "en") == (gr.update(value="embedded-encoder"), skip)
    assert fill_from_checkpoint(workspace, [], "embedded", "demo", "en") == (skip, skip)
    # The Train form saves the embedded encoder's folder in the run: the form shows its name again.
    from core.demo.tiny_encoder import encoder_dir

    _run(workspace / "runs" / "from-form", f"model={encoder_dir(workspace)}", "data.test=demo-reviews",
         "data.train=demo-reviews", "data.label_names=正面,中性,负面", "data.text_column=review")
    model, data = fill_from_checkpoint(workspace, ["runs/from-form"], "embedded", "demo", "en")
    assert (model["value"], data["value"]) == ("embedded-encoder", "demo-reviews")
    assert fill_from_checkpoint(workspace, ["../outside"], "embedded", "demo", "en") == (skip, skip)
