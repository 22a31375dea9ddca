"""RunConfig: YAML round trip, --set overrides, errors that name the key, refusals before a job."""
from __future__ import annotations

import shlex

import pytest
import torch
import yaml

from core.config.checks import validate
from core.config.schema import ConfigError, RunConfig, field_specs
from core.config.text import (apply_overrides, config_from_dict, config_to_dict, load_config, save_config,
                              to_cli_command, to_yaml)


def changed() -> RunConfig:
    return apply_overrides(RunConfig(), [
        "train.epochs=2", "train.batch_size=4", "train.learning_rate=3e-4", "data.with_reason=true",
        "lora.target_modules=q_proj, v_proj", "train.eval_every=epoch", "train.save_every=10",
        "data.system=你是反诈助手", "kfold.mode=independent", "kfold.k=3",
        "sweep.grid.train.learning_rate=1e-4,2e-4", "sweep.grid.lora.r=4,8"])


def test_overrides_take_the_type_of_their_field():
    cfg = changed()
    assert cfg.train.epochs == 2.0 and isinstance(cfg.train.epochs, float)
    assert cfg.train.batch_size == 4 and isinstance(cfg.train.batch_size, int)
    assert cfg.train.learning_rate == pytest.approx(3e-4)
    assert cfg.data.with_reason is True
    assert cfg.lora.target_modules == ["q_proj", "v_proj"]
    assert cfg.train.eval_every == "epoch" and cfg.train.save_every == 10
    assert cfg.data.system == "你是反诈助手"
    assert cfg.sweep.grid == {"train.learning_rate": [1e-4, 2e-4], "lora.r": [4, 8]}
    assert apply_overrides(cfg, ["data.system=null", "sweep=null"]).data.system is None
    # The original is not modified.
    assert RunConfig().train.epochs == 1.0 and cfg.kfold.k == 3


def test_yaml_round_trip(tmp_path):
    cfg = changed()
    path = save_config(cfg, tmp_path / "config.yaml")
    assert load_config(path) == cfg
    assert config_from_dict(yaml.safe_load(to_yaml(cfg))) == cfg
    assert config_from_dict(config_to_dict(RunConfig())) == RunConfig()


def test_yaml_numbers_written_by_hand_are_read_as_numbers(tmp_path):
    # PyYAML reads 2e-4 (no dot) as a string; the field's type decides.
    path = tmp_path / "hand.yaml"
    path.write_text("train:\n  learning_rate: 2e-4\n  epochs: 3\nlora:\n  target_modules: q_proj,k_proj\n")
    cfg = load_config(path)
    assert cfg.train.learning_rate == pytest.approx(2e-4) and cfg.train.epochs == 3.0
    assert cfg.lora.target_modules == ["q_proj", "k_proj"]


def test_cli_command_lists_only_changed_keys_and_rebuilds_the_config():
    assert to_cli_command(RunConfig()) == "python -m lab train"
    cfg = changed()
    words = shlex.split(to_cli_command(cfg))
    sets = [words[index + 1] for index, word in enumerate(words) if word == "--set"]
    assert "train.epochs=2.0" in sets and not any(item.startswith("train.seed=") for item in sets)
    assert apply_overrides(RunConfig(), sets) == cfg


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError) as error:
        apply_overrides(RunConfig(), ["train.learnin_rate=1e-4"])
    assert error.value.key == "train.learnin_rate"
    assert "did you mean train.learning_rate" in str(error.value)
    with pytest.raises(ConfigError) as error:
        config_from_dict({"lora": {"rank": 8}})
    assert error.value.key == "lora.rank" and "lora.r" in str(error.value)
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  batch_size: eight\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert error.value.key == "train.batch_size" and str(path) in str(error.value)
    with pytest.raises(ConfigError) as error:
        apply_overrides(RunConfig(), ["train.epochs"])
    assert "KEY=VALUE" in str(error.value)


@pytest.mark.parametrize("overrides, key", [
    (["kfold.mode=chained", "kfold.k=1"], "kfold.k"),
    (["train.learning_rate=-1e-4"], "train.learning_rate"),
    (["train.learning_rate=0"], "train.learning_rate"),
    (["train.batch_size=0"], "train.batch_size"),
    (["head=regression"], "head"),
    (["method=adapter"], "method"),
    (["data.max_length=32"], "data.max_length"),
    (["train.max_steps=0"], "train.max_steps"),
    (["train.early_stopping_patience=2", "train.eval_every=0"], "train.early_stopping_patience"),
    (["head=seq-cls", "data.with_reason=true"], "data.with_reason"),
])
def test_impossible_values_are_refused_with_their_key(overrides, key, tmp_path):
    with pytest.raises(ConfigError) as error:
        validate(apply_overrides(RunConfig(), overrides), tmp_path, deep=False)
    assert error.value.key == key
    assert str(error.value).startswith(f"{key}: ")


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 and qlora are possible on this GPU machine")
def test_what_the_device_cannot_do_is_refused(tmp_path):
    for overrides, key in ((["train.precision=fp16"], "train.precision"), (["method=qlora"], "method"),
                           (["train.device=cuda"], "train.device")):
        with pytest.raises(ConfigError) as error:
            validate(apply_overrides(RunConfig(), overrides), tmp_path, deep=False)
        assert error.value.key == key, overrides
        if key == "method":
            assert "CUDA GPU" in error.value.message


def test_missing_data_file_is_refused_before_a_job_exists(session_workspace, tmp_path):
    from core.jobs.registry import JobRegistry
    from core.train.submit import start_training

    workspace = tmp_path / "workspace"
    registry = JobRegistry(workspace)
    missing = tmp_path / "nowhere.jsonl"
    cfg = apply_overrides(RunConfig(), [f"data.train={missing}"])
    with pytest.raises(ConfigError) as error:
        start_training(cfg, workspace, registry)
    assert error.value.key == "data.train" and str(missing) in str(error.value)
    assert registry.list() == []
    assert not (workspace / "runs").exists() or not any((workspace / "runs").iterdir())


def test_bad_rows_are_skipped_or_refused_naming_file_and_line(tmp_path):
    data = tmp_path / "rows.jsonl"
    rows = '{"input": "甲: 你好", "label": true}\n{"input": "乙: 在吗", "label": "maybe"}\n'
    data.write_text(rows, encoding="utf-8")
    settings = [f"data.train={data}", "data.validation=", "data.test="]
    assert RunConfig().data.bad_rows == "skip"
    validate(apply_overrides(RunConfig(), settings), tmp_path, deep=True)  # the good row is enough
    with pytest.raises(ConfigError) as error:
        validate(apply_overrides(RunConfig(), [*settings, "data.bad_rows=error"]), tmp_path)
    assert error.value.key == "data.train" and f"{data}:2: label" in str(error.value)
    data.write_text('{"input": "乙: 在吗", "label": "maybe"}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as error:  # no good row at all: refused whatever bad_rows says
        validate(apply_overrides(RunConfig(), settings), tmp_path)
    assert error.value.key == "data.train" and f"{data}:1: label" in str(error.value)


def test_max_length_is_checked_with_the_real_tokenizer(tiny_model_dir, demo_splits, session_workspace):
    # 64 passes the static floor, but the reason-answer prompt of a demo row needs more tokens.
    cfg = apply_overrides(RunConfig(), ["data.max_length=64", "data.with_reason=true"])
    with pytest.raises(ConfigError) as error:
        validate(cfg, session_workspace)
    assert error.value.key == "data.max_length" and "too small" in str(error.value)
    assert validate(RunConfig(), session_workspace) == RunConfig()


def test_relative_model_data_and_sweep_paths_are_made_absolute_for_the_job(tmp_path, monkeypatch):
    from core.config.checks import with_absolute_paths

    monkeypatch.chdir(tmp_path)  # the caller's folder; the job process runs in the repository
    (tmp_path / "models" / "base").mkdir(parents=True)
    (tmp_path / "rows.jsonl").write_text("{}\n", encoding="utf-8")
    workspace = tmp_path / "workspace"
    (workspace / "data").mkdir(parents=True)
    (workspace / "data" / "other.jsonl").write_text("{}\n", encoding="utf-8")
    cfg = apply_overrides(RunConfig(), ["model=models/base", "data.train=rows.jsonl",
                                        "data.validation=data/other.jsonl", "data.test=",
                                        "sweep.grid.data.train=rows.jsonl,demo,data/other.jsonl",
                                        "sweep.grid.model=models/base,embedded,Qwen/Qwen2-0.5B"])
    absolute = with_absolute_paths(cfg, workspace)
    base, rows, other = (str(path.resolve()) for path in (
        tmp_path / "models" / "base", tmp_path / "rows.jsonl", workspace / "data" / "other.jsonl"))
    assert (absolute.model, absolute.data.train, absolute.data.validation, absolute.data.test) == (
        base, rows, other, "")
    assert absolute.sweep.grid["data.train"] == [rows, "demo", other]
    assert absolute.sweep.grid["model"] == [base, "embedded", "Qwen/Qwen2-0.5B"]


def test_every_field_has_help_and_valid_default_choice():
    specs = field_specs()
    keys = [spec.key for spec in specs]
    for expected in ("model", "head", "method", "lora.target_modules", "data.validation_split",
                     "train.eval_every", "train.precision", "train.report_to", "kfold.mode", "kfold.k"):
        assert expected in keys
    for spec in specs:
        assert spec.help.strip(), spec.key
        if spec.choices:
            assert spec.default in spec.choices, spec.key


def test_eval_config_fields_carry_the_same_metadata():
    from core.config.schema import EvalConfig

    specs = field_specs(EvalConfig)
    assert [spec.key for spec in specs][:3] == ["model", "adapters", "data"]
    for spec in specs:
        assert spec.help.strip(), spec.key
        if spec.choices:
            assert spec.default in spec.choices, spec.key
    assert EvalConfig().mode == "score"
