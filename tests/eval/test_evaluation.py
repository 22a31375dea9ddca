"""Side-by-side evaluation: refused configurations, and a real job on the tiny model."""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

import core.eval.evaluation as evaluation
import core.eval.predict as predict
from core.config.schema import ConfigError, ConfigProblems, EvalConfig
from core.config.text import config_from_dict, config_to_dict
from core.eval.evaluation import run_evaluation_job, start_evaluation
from core.eval.report import load_evaluation
from core.jobs.registry import JobRegistry
from core.models import model_fingerprint
from tests.eval.test_predict import build_tiny_adapter
from tests.paths import SHARED_DATA, require_shared


@pytest.fixture(scope="module")
def tiny_adapter(session_workspace, tiny_model_dir, demo_splits) -> Path:
    return build_tiny_adapter(session_workspace, tiny_model_dir, demo_splits["train"])


@pytest.fixture
def no_model_loading(monkeypatch):
    """Any attempt to load a network fails the test: refusals must come before that."""
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the configuration was refused")

    for module in (predict, evaluation):
        monkeypatch.setattr(module, "load_predictor", refuse, raising=False)
    monkeypatch.setattr(predict, "load_causal_lm", refuse)
    monkeypatch.setattr(predict, "load_sequence_classifier", refuse)


def _other_base_adapter(folder: Path) -> tuple[Path, Path]:
    """A real LoRA adapter of a Qwen2 model with another shape than the tiny model."""
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    base = folder / "other-base"
    config = Qwen2Config(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1)
    Qwen2ForCausalLM(config).save_pretrained(str(base))
    model = get_peft_model(Qwen2ForCausalLM.from_pretrained(str(base)),
                           LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    run = folder / "other-run"
    model.save_pretrained(str(run / "adapter"))
    (run / "fraud_lab_run.json").write_text(json.dumps(
        {"base_model": str(base), "model_fingerprint": model_fingerprint(str(base)), "head": "causal-lm"}))
    return run, base


def test_adapter_of_another_base_is_refused_before_any_model_loads(tmp_path, tiny_model_dir, demo_splits,
                                                                   no_model_loading):
    run, base = _other_base_adapter(tmp_path)
    registry = JobRegistry(tmp_path / "workspace")
    config = EvalConfig(model=str(tiny_model_dir), adapters=[str(run)], data=str(demo_splits["test"]))
    with pytest.raises(ConfigProblems) as refused:
        start_evaluation(config, tmp_path / "workspace", registry)
    message = str(refused.value)
    assert f"adapter {run} was trained on base {base}" in message
    assert "does not match the base model" in message
    hidden = json.loads((tiny_model_dir / "config.json").read_text())["hidden_size"]
    assert f"hidden_size: adapter's base has 32, this model has {hidden}" in message
    assert registry.list() == []  # nothing was submitted
    # Without the run file, the base named in adapter_config.json is compared instead.
    (run / "fraud_lab_run.json").unlink()
    with pytest.raises(ConfigProblems, match="hidden_size: adapter's base has 32"):
        evaluation.validate_eval(config, tmp_path / "workspace")


def test_data_without_labels_is_refused_naming_file_line_and_field(tmp_path, tiny_model_dir,
                                                                   no_model_loading):
    data = tmp_path / "unlabelled.jsonl"
    rows = [{"input": "甲: 你好", "label": True}, {"input": "乙: 在吗"}, {"input": "丙: 转账", "label": ""}]
    data.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n", encoding="utf-8")
    with pytest.raises(ConfigProblems) as refused:
        evaluation.validate_eval(EvalConfig(model=str(tiny_model_dir), data=str(data), bad_rows="error"),
                                 tmp_path)
    message = str(refused.value)
    assert f"{data}: 2 row(s) have no usable label" in message
    assert f"{data}:2: label: missing (required)" in message
    assert f"{data}:3: label: missing (required)" in message
    assert f"{data}:1:" not in message
    # bad_rows=skip (the default) evaluates the good row and names the two it left out.
    plan = evaluation.validate_eval(EvalConfig(model=str(tiny_model_dir), data=str(data)), tmp_path)
    assert [record.input for record in plan.records] == ["甲: 你好"] and plan.total_rows == 1
    assert [(problem.line, problem.field) for problem in plan.skipped] == [(2, "label"), (3, "label")]
    assert plan.warnings[0].startswith("skipped 2 bad row(s) of unlabelled.jsonl (lines 2, 3)")
    # A file without one good row is refused whatever bad_rows says.
    data.write_text(json.dumps({"input": "乙: 在吗"}, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(ConfigProblems, match="1 row\\(s\\) have no usable label"):
        evaluation.validate_eval(EvalConfig(model=str(tiny_model_dir), data=str(data)), tmp_path)


def test_real_test_file_with_empty_inputs_is_evaluated_with_those_rows_skipped_and_reported(
        tmp_path, tiny_model_dir):
    data = require_shared(SHARED_DATA / "test0819.jsonl")
    lines = data.read_text(encoding="utf-8").split("\n")
    empty = [number for number, line in enumerate(lines, 1)
             if line.strip() and not str(json.loads(line).get("input") or "").strip()]
    good = sum(1 for line in lines if line.strip()) - len(empty)
    assert len(empty) == 6  # the file as shipped; the evaluation must not need it edited
    with pytest.raises(ConfigProblems, match="input"):
        evaluation.validate_eval(EvalConfig(model=str(tiny_model_dir), data=str(data), bad_rows="error"),
                                 tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = EvalConfig(model=str(tiny_model_dir), data=str(data), limit=4, train_data="", device="cpu")
    summary = run_evaluation_job(run_dir, config_to_dict(config), None)
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["total_rows"] == good and metrics["rows"] == 4
    assert metrics["skipped_rows"] == 6 and metrics["skipped_lines"] == empty
    assert {problem["field"] for problem in metrics["skipped_problems"]} == {"input"}
    assert [problem["line"] for problem in metrics["skipped_problems"]] == empty
    assert metrics["warnings"][0].startswith(f"skipped 6 bad row(s) of test0819.jsonl (lines "
                                             f"{', '.join(map(str, empty))})")
    assert summary["skipped_rows"] == 6 and summary["skipped_lines"] == empty
    assert metrics["models"][0]["classification"]["rows"] == 4


def test_config_round_trips_and_rejects_unknown_keys():
    config = EvalConfig(model="m", adapters=["a", "b"], limit=5, mode="generate", with_reason=True)
    assert config_from_dict(config_to_dict(config), EvalConfig) == config
    with pytest.raises(ConfigError, match="adaptor: unknown key \\(did you mean adapters"):
        config_from_dict({"adaptor": []}, EvalConfig)
    with pytest.raises(ConfigError, match="limit: expected a whole number"):
        config_from_dict({"limit": "many"}, EvalConfig)


def test_values_that_cannot_work_are_all_listed_before_anything_loads(tmp_path, tiny_model_dir,
                                                                       no_model_loading):
    # The tiny model's folder: "embedded" would build one into tmp_path first (minutes).
    config = EvalConfig(model=str(tiny_model_dir), mode="guess", batch_size=0, limit=0, include_base=False,
                        data=str(tmp_path / "none.jsonl"))
    with pytest.raises(ConfigProblems) as refused:
        evaluation.validate_eval(config, tmp_path)
    message = str(refused.value)
    for expected in ("mode: 'guess' is not one of score, generate", "batch_size: must be at least 1",
                     "limit: must be at least 1", "nothing to evaluate", "none.jsonl"):
        assert expected in message


def test_a_stop_requested_before_the_first_model_ends_the_job_with_nothing_loaded(
        tmp_path, tiny_model_dir, demo_splits, no_model_loading):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "STOP").write_text("")
    config = EvalConfig(model=str(tiny_model_dir), data=str(demo_splits["test"]), limit=4, train_data="")
    summary = run_evaluation_job(run_dir, config_to_dict(config), None)
    assert summary["stopped"] is True and summary["models"] == {}
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["completed_models"] == [] and metrics["planned_models"] == ["base"]


@pytest.fixture(scope="module")
def side_by_side(session_workspace, tiny_model_dir, tiny_adapter):
    registry = JobRegistry(session_workspace)
    config = EvalConfig(model=str(tiny_model_dir), adapters=[str(tiny_adapter)], data="demo", limit=24,
                        mode="generate", batch_size=8, device="cpu")
    job = registry.wait(start_evaluation(config, session_workspace, registry).id, timeout=600)
    assert job.status == "finished", registry.log_tail(job.id, 40)
    return job, load_evaluation(job.run_dir)


def _correct(row: dict, name: str) -> bool:
    answer = row["models"][name]
    return answer["valid"] and answer["is_fraud"] == row["gold"]["is_fraud"]


def test_side_by_side_job_writes_predictions_and_metrics_that_add_up(side_by_side, demo_splits):
    job, result = side_by_side
    names = ["base", "tiny-adapter"]
    assert result.model_names == names
    rows = result.predictions
    assert len(rows) == 24 == result.metrics["rows"]
    # A seeded sample of the 200 test rows, kept in file order.
    assert [row["file_row"] for row in rows] == sorted(random.Random(42).sample(range(200), 24))
    gold_lines = Path(demo_splits["test"]).read_text(encoding="utf-8").splitlines()
    for row in rows:
        assert json.loads(gold_lines[row["file_row"]])["input"] == row["input"]
    for entry in result.metrics["models"]:
        counts = entry["classification"]
        assert counts["tn"] + counts["fp"] + counts["fn"] + counts["tp"] == 24
        invalid = sum(not row["models"][entry["name"]]["valid"] for row in rows)
        assert counts["invalid"] == invalid
        assert counts["accuracy"] == pytest.approx(sum(_correct(row, entry["name"]) for row in rows) / 24)
        assert entry["rows_per_second"] > 0
        assert entry["backend"] == "transformers"  # vLLM is not installed on the CPU machines
        assert all(row["models"][entry["name"]]["p_true"] is not None for row in rows)
    assert result.metrics["models"][1]["classification"]["invalid"] == 0  # the tuned model answers in JSON
    progress = result.latest_progress()
    assert {name: progress[name]["done"] for name in names} == {name: 24 for name in names}
    assert job.summary["models"]["tiny-adapter"]["backend"] == "transformers"
    tuned = result.metrics["models"][1]["classification"]
    assert job.summary["models"]["tiny-adapter"]["accuracy"] == tuned["accuracy"]


def test_fixed_and_broken_rows_match_the_saved_predictions(side_by_side):
    _, result = side_by_side
    (pair,) = result.metrics["pairs"]
    assert (pair["a"], pair["b"]) == ("base", "tiny-adapter")
    rows = result.predictions
    fixed = [row["row"] for row in rows if not _correct(row, "base") and _correct(row, "tiny-adapter")]
    broken = [row["row"] for row in rows if _correct(row, "base") and not _correct(row, "tiny-adapter")]
    assert (pair["fixed"], pair["broken"]) == (fixed, broken)
    assert pair["discordant"] == len(fixed) + len(broken)
    low, high = pair["interval"]
    assert low <= pair["difference"] <= high


def test_audit_baseline_is_scored_on_the_same_rows(side_by_side):
    _, result = side_by_side
    baseline = result.metrics["baseline"]
    assert baseline["train_file"].endswith("train.jsonl")
    counts = baseline["classification"]
    assert counts["rows"] == 24
    correct = sum(row["baseline"]["is_fraud"] == row["gold"]["is_fraud"] for row in result.predictions)
    assert counts["accuracy"] == pytest.approx(correct / 24)
    assert len(result.summary_rows()) == 3


def _names(text: str) -> set[str]:
    return {name.strip() for name in re.split(r"[,，、]", text or "") if name.strip()}


def test_with_reasons_the_job_scores_speakers_and_reasons(tmp_path, tiny_model_dir, tiny_adapter,
                                                          demo_splits):
    run_dir = tmp_path / "reasons"
    run_dir.mkdir()
    config = EvalConfig(model=str(tiny_model_dir), adapters=[str(tiny_adapter)],
                        data=str(demo_splits["test"]),
                        limit=4, with_reason=True, mode="generate", max_length=512, batch_size=4,
                        device="cpu")
    summary = run_evaluation_job(run_dir, config_to_dict(config), None)
    assert summary["stopped"] is False
    result = load_evaluation(run_dir)
    assert "tiny-adapter was trained without reasons" in result.metrics["warnings"][0]
    for entry in result.metrics["models"]:
        assert entry["options"]["with_reason"] is True
        speaker = entry["speaker"]
        assert speaker["rows"] == 4
        correct = 0
        for row in result.predictions:
            answer = row["models"][entry["name"]]
            gold = _names(row["gold"]["fraud_speaker"]) if row["gold"]["is_fraud"] else set()
            guess = _names(answer["fraud_speaker"])
            correct += answer["valid"] and guess == gold
        assert speaker["correct"] == correct
        rouge = entry["rouge"]
        assert rouge["rows_scored"] + rouge["rows_skipped"] == 4
        assert rouge["rows_scored"] == sum(bool(row["gold"]["reason"].strip())
                                           and bool(row["models"][entry["name"]]["reason"].strip())
                                           for row in result.predictions)
