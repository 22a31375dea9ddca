"""The embedded tiny encoder (BERT, no chat template) trains as a 3-way classifier through the same
training path, in full and with LoRA, and evaluates and predicts like any other model."""
from __future__ import annotations

import math

import pytest

from core.config.presets import ENCODER, apply_preset
from core.config.schema import RunConfig, prompt_options
from core.config.text import apply_overrides
from core.data.encoding import encode_prompt
from core.data.records import load_records
from core.demo.reviews import LABEL_NAMES, MAPPING, ensure_review_dataset
from core.eval.metrics import multiclass_metrics
from core.eval.predict import SEQ_CLS, load_predictor
from core.models import load_tokenizer, resolve_model_path
from core.train.training import train_run
from core.workspace import RunDir

TEST_ROWS = 90


@pytest.fixture(scope="module")
def review_data(session_workspace, tmp_path_factory) -> dict:
    paths = ensure_review_dataset(session_workspace)
    folder = tmp_path_factory.mktemp("encoder-reviews")
    test = folder / "test.jsonl"
    test.write_text("\n".join(paths["test"].read_text(encoding="utf-8").splitlines()[:TEST_ROWS]) + "\n",
                    encoding="utf-8")
    return {"train": paths["train"], "test": test}


def encoder_config(data: dict, *overrides: str) -> RunConfig:
    return apply_overrides(RunConfig(), [
        "model=embedded-encoder", "head=seq-cls", f"data.train={data['train']}", "data.validation=",
        "data.validation_split=0", "data.test=", "data.text_column=review", "data.label_column=label",
        f"data.label_names={','.join(LABEL_NAMES)}", "data.max_length=64", "train.batch_size=16",
        "train.max_steps=40", "train.warmup_ratio=0.1", "train.logging_steps=5", "train.eval_every=0",
        "train.save_every=40", *overrides])


def _evaluate(model: str | None, adapter, data: dict, cfg: RunConfig) -> dict:
    records = load_records(data["test"], mapping=MAPPING).records
    predictor = load_predictor(model, adapter, device="cpu", precision="fp32")
    assert predictor.head == SEQ_CLS and predictor.model.config.num_labels == 3
    predictions = predictor.generate(records, prompt_options(cfg.data))  # a classifier answers by score
    predictor.free()
    metrics = multiclass_metrics([record.label for record in records], [item.label for item in predictions],
                                 LABEL_NAMES, [item.probabilities for item in predictions])
    matrix = metrics["confusion"]
    assert metrics["invalid"] == 0 and sum(map(sum, matrix)) == TEST_ROWS
    for label, row in enumerate(matrix):
        assert sum(row) == sum(record.label == label for record in records)
    return metrics


def test_the_encoder_tokenizes_cls_text_sep_without_a_chat_template(session_workspace):
    tokenizer = load_tokenizer(resolve_model_path("embedded-encoder", session_workspace))
    assert not getattr(tokenizer, "chat_template", None)
    records = load_records(ensure_review_dataset(session_workspace)["test"], mapping=MAPPING).records
    record = max(records, key=lambda row: len(row.input))
    encoded = encode_prompt(tokenizer, record, prompt_options(encoder_config({"train": "x"}).data))
    tokens = tokenizer.convert_ids_to_tokens(encoded.input_ids)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert "".join(tokens[1:-1]) == record.input.lower().replace(" ", "")
    cut = encode_prompt(tokenizer, record, prompt_options(encoder_config({"train": "x"}, "data.max_length=16")
                                                          .data))
    assert len(cut.input_ids) == 16 and cut.truncated and cut.untruncated_length == len(encoded.input_ids)


FULL = ("method=full", "train.learning_rate=2e-3", "train.max_steps=80")


@pytest.fixture(scope="module")
def full_run(session_workspace, review_data, tmp_path_factory) -> dict:
    run_dir = tmp_path_factory.mktemp("encoder-full") / "run"
    summary = train_run(encoder_config(review_data, *FULL), run_dir, session_workspace)
    return {"run_dir": run_dir, "summary": summary}


def test_full_fine_tuning_learns_the_three_classes(full_run, review_data):
    run = RunDir(full_run["run_dir"])
    losses = [line["loss"] for line in run.read_metrics() if line["kind"] == "train"]
    assert full_run["summary"]["output"] == "model" and losses[-1] < losses[0]
    metrics = _evaluate(str(run.model_dir), None, review_data, encoder_config(review_data, *FULL))
    assert metrics["accuracy"] > 0.6  # chance is 1/3


def test_the_evaluation_job_compares_base_and_fine_tuned_encoder_per_class(session_workspace, full_run,
                                                                           review_data):
    from core.config.schema import EvalConfig
    from core.eval.evaluation import evaluate_and_wait
    from core.eval.report import load_evaluation

    result = evaluate_and_wait(EvalConfig(model="embedded-encoder", adapters=[str(full_run["run_dir"])],
                                          data=str(review_data["test"]), train_data=str(review_data["train"]),
                                          device="cpu"), session_workspace,
                               timeout=300)
    assert result["status"] == "finished", result["error"]
    models = {entry["name"]: entry["classification"] for entry in result["metrics"]["models"]}
    assert list(models)[0] == "base" and len(models) == 2
    gold = [record.label for record in load_records(review_data["test"], mapping=MAPPING).records]
    for classification in models.values():
        assert classification["labels"] == list(LABEL_NAMES)
        for label, row in enumerate(classification["confusion"]):
            assert sum(row) + classification["invalid_by_class"][label] == gold.count(label)
    tuned = models[list(models)[1]]
    assert tuned["accuracy"] > models["base"]["accuracy"]
    rows = load_evaluation(result["run_dir"]).predictions
    assert rows[0]["gold"] == {"label": LABEL_NAMES[gold[0]]}
    # The TF-IDF baseline, fitted on the training file, classifies the three classes too.
    baseline = result["metrics"]["baseline"]["classification"]
    assert sum(map(sum, baseline["confusion"])) == len(gold) and baseline["accuracy"] > 0.6
    assert [row["baseline"]["label"] for row in rows] == [
        max(range(3), key=row["baseline"]["probabilities"].__getitem__) for row in rows]


LORA_STEPS = 60


def test_lora_with_the_encoder_preset_learns_and_its_adapter_keeps_the_head(session_workspace, review_data,
                                                                          tmp_path):
    """The preset's LoRA (r 16 on query/key/value/dense, lr 3e-3) learns on the pretrained encoder in a
    few dozen steps, and the adapter folder holds the trained classifier head: reloaded through
    core.eval.predict it gives the loss training measured on the held-out rows."""
    from safetensors import safe_open

    cfg = apply_preset(encoder_config(review_data, "method=lora"), ENCODER)
    cfg = apply_overrides(cfg, [f"train.max_steps={LORA_STEPS}", f"train.save_every={LORA_STEPS}",
                                "train.eval_every=0", f"data.validation={review_data['test']}"])
    summary = train_run(cfg, tmp_path / "run", session_workspace)
    assert summary["output"] == "adapter"
    losses = [line["loss"] for line in RunDir(tmp_path / "run").read_metrics() if line["kind"] == "train"]
    assert losses[-1] < 0.8 * losses[0]

    adapter = RunDir(tmp_path / "run").adapter_dir
    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as weights:
        head = [key for key in weights.keys() if ".classifier." in key]
    assert any(key.endswith("weight") for key in head) and any(key.endswith("bias") for key in head)

    records = load_records(review_data["test"], mapping=MAPPING).records
    predictor = load_predictor(None, tmp_path / "run", device="cpu", precision="fp32")
    predictions = predictor.generate(records, prompt_options(cfg.data))
    predictor.free()
    accuracy = sum(record.label == item.label for record, item in zip(records, predictions)) / len(records)
    assert accuracy > 0.5  # chance is 1/3; a reload without the trained head would be at chance
    loss = -sum(math.log(item.probabilities[record.label]) for record, item in zip(records, predictions))
    assert loss / len(records) == pytest.approx(summary["eval_loss"], abs=2e-3)
