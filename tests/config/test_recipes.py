"""assets/recipes: one RunConfig per procedure, each loadable and valid once its model is on disk."""
import dataclasses
import json
from pathlib import Path

import pytest

from core.config.checks import validate
from core.config.schema import ConfigError, RunConfig
from core.config.text import load_config
from core.env import REPO_ROOT

RECIPES = sorted((REPO_ROOT / "assets" / "recipes").glob("*.yaml"))


def test_the_recipes_are_there():
    names = {path.name for path in RECIPES}
    assert {"demo-cpu.yaml", "qwen2-1.5b-lora.yaml", "qwen2-1.5b-kfold-chained-reason.yaml",
            "qwen1.5-0.5b-seq-cls.yaml", "qwen2-1.5b-kfold-independent.yaml", "demo-cpu-sweep.yaml",
            "hc3-qwen1.5-0.5b-seq-cls.yaml", "chnsenticorp-rbt3.yaml"} <= names
    for path in RECIPES:  # each says which hardware it needs
        assert "Hardware:" in path.read_text(encoding="utf-8"), path.name


def _with_local_data(cfg: RunConfig, folder) -> RunConfig:
    """A recipe of another dataset (HC3, ChnSentiCorp: not shipped) reads a few rows written here in
    its own columns and label names; the fraud recipes keep their files (the demo's)."""
    if not cfg.data.label_names:
        return cfg
    rows = [{cfg.data.text_column: f"第{index}条文本，内容{name}", cfg.data.label_column: name}
            for index in range(4) for name in cfg.data.label_names]
    path = folder / ("rows" + Path(cfg.data.train).suffix)
    if path.suffix == ".csv":
        columns = [cfg.data.label_column, cfg.data.text_column]
        path.write_text("\n".join([",".join(columns)] + [",".join(row[column] for column in columns)
                                                        for row in rows]) + "\n", encoding="utf-8")
    else:
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    data = dataclasses.replace(cfg.data, train=str(path), validation=str(path), test=str(path))
    return dataclasses.replace(cfg, data=data)


@pytest.mark.parametrize("path", RECIPES, ids=lambda path: path.stem)
def test_each_recipe_loads_and_validates_with_a_local_model(path, session_workspace, tiny_model_dir,
                                                             tmp_path):
    cfg = load_config(path)
    assert isinstance(cfg, RunConfig)
    local = _with_local_data(dataclasses.replace(cfg, model=str(tiny_model_dir)), tmp_path)
    validate(local, session_workspace)


def test_the_recipes_hold_the_seeds_procedures():
    recipes = {path.stem: load_config(path) for path in RECIPES}
    assert recipes["demo-cpu"] == RunConfig()
    lora = recipes["qwen2-1.5b-lora"]
    projections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert lora.model == "Qwen/Qwen2-1.5B-Instruct" and lora.lora.target_modules == projections
    assert (lora.lora.r, lora.lora.alpha, lora.lora.dropout) == (8, 16, 0.05)
    assert (lora.train.learning_rate, lora.train.batch_size, lora.train.grad_accum) == (1e-4, 4, 4)
    assert (lora.train.epochs, lora.train.max_steps) == (3, -1)
    assert (lora.train.eval_every, lora.train.save_every, lora.data.with_reason) == (10, 10, False)
    chained = recipes["qwen2-1.5b-kfold-chained-reason"]
    assert (chained.kfold.mode, chained.kfold.k) == ("chained", 5)
    assert (chained.train.epochs, chained.train.batch_size, chained.data.with_reason) == (2, 8, True)
    assert (chained.lora.r, chained.lora.alpha, chained.lora.dropout) == (16, 32, 0.2)
    classifier = recipes["qwen1.5-0.5b-seq-cls"]
    assert classifier.head == "seq-cls" and classifier.lora.target_modules == projections[:4]
    assert (classifier.lora.r, classifier.lora.alpha, classifier.lora.dropout) == (8, 16, 0.1)
    assert (classifier.train.epochs, classifier.train.batch_size, classifier.data.max_length) == (2, 4, 512)
    assert recipes["qwen2-1.5b-kfold-independent"].kfold.mode == "independent"
    assert recipes["demo-cpu-sweep"].sweep is not None and recipes["demo-cpu-sweep"].sweep.grid


def test_a_hub_model_not_in_the_cache_says_how_to_point_at_a_folder(session_workspace, demo_splits):
    from huggingface_hub import try_to_load_from_cache

    cfg = load_config(REPO_ROOT / "assets" / "recipes" / "qwen2-1.5b-lora.yaml")
    if isinstance(try_to_load_from_cache(cfg.model, "config.json"), str):
        pytest.skip(f"{cfg.model} is in this machine's hub cache")
    with pytest.raises(ConfigError) as refused:
        validate(cfg, session_workspace)
    assert refused.value.key == "model"
    assert "Point model at a local folder" in str(refused.value)
    assert "--set model=/path/to/Qwen2-1.5B-Instruct" in str(refused.value)
