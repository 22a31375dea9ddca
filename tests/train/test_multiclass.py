"""Three classes through the loop: the review demo data trains the tiny Qwen2 with the causal head and
with a 3-way seq-cls head, and both evaluate to a 3 x 3 confusion matrix that adds up."""
from __future__ import annotations

import json

import pytest

from core.config.schema import RunConfig, prompt_options
from core.config.text import apply_overrides
from core.data.records import load_records
from core.demo.reviews import LABEL_NAMES, MAPPING, ensure_review_dataset
from core.eval.metrics import multiclass_metrics
from core.eval.predict import load_predictor
from core.train.training import train_run
from core.workspace import RunDir

TRAIN_ROWS, TEST_ROWS = 48, 30


@pytest.fixture(scope="module")
def review_data(session_workspace, tmp_path_factory) -> dict:
    paths = ensure_review_dataset(session_workspace)
    folder = tmp_path_factory.mktemp("reviews")
    small = {}
    for split, rows in (("train", TRAIN_ROWS), ("test", TEST_ROWS)):
        lines = paths[split].read_text(encoding="utf-8").splitlines()[:rows]
        small[split] = folder / f"{split}.jsonl"
        small[split].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return small


def review_config(data: dict, *overrides: str) -> RunConfig:
    return apply_overrides(RunConfig(), [
        f"data.train={data['train']}", "data.validation=", "data.validation_split=0", "data.test=",
        "data.text_column=review", "data.label_column=label", f"data.label_names={','.join(LABEL_NAMES)}",
        "data.max_length=192", "train.batch_size=8", "train.max_steps=10", "train.learning_rate=3e-3",
        "train.warmup_ratio=0", "train.logging_steps=1", "train.eval_every=0", "train.save_every=10",
        *overrides])


def _evaluate(run_dir, data: dict, cfg: RunConfig, mode: str) -> dict:
    records = load_records(data["test"], mapping=MAPPING).records
    predictor = load_predictor(None, run_dir, device="cpu", precision="fp32")
    options = prompt_options(cfg.data)
    predictions = (predictor.score(records, options) if mode == "score"
                   else predictor.generate(records, options, batch_size=16))
    predictor.free()
    for prediction in predictions:
        if prediction.probabilities is not None:
            assert len(prediction.probabilities) == 3
            assert sum(prediction.probabilities) == pytest.approx(1.0, abs=1e-5)
    return multiclass_metrics([record.label for record in records], [item.label for item in predictions],
                              LABEL_NAMES, [item.probabilities for item in predictions])


def _check_matrix(metrics: dict, data: dict) -> None:
    gold = [record.label for record in load_records(data["test"], mapping=MAPPING).records]
    matrix = metrics["confusion"]
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix)
    for label, row in enumerate(matrix):  # each gold class: answered rows + invalid rows = its rows
        assert sum(row) + metrics["invalid_by_class"][label] == gold.count(label)
    assert sum(map(sum, matrix)) + metrics["invalid"] == TEST_ROWS
    correct = sum(matrix[label][label] for label in range(3))
    assert metrics["accuracy"] == pytest.approx(correct / TEST_ROWS)


def test_causal_head_learns_the_label_answer_and_scores_three_classes(session_workspace, tiny_model_dir,
                                                                      review_data, tmp_path):
    cfg = review_config(review_data)
    summary = train_run(cfg, tmp_path / "run", session_workspace)
    losses = [line["loss"] for line in RunDir(tmp_path / "run").read_metrics() if line["kind"] == "train"]
    assert losses[-1] < losses[0]
    info = json.loads(RunDir(tmp_path / "run").run_info_file.read_text(encoding="utf-8"))
    assert info["label_names"] == list(LABEL_NAMES) and info["text_column"] == "review"
    assert summary["steps"] == 10
    score = _evaluate(tmp_path / "run", review_data, cfg, "score")
    assert score["invalid"] == 0  # score mode always picks one of the names
    _check_matrix(score, review_data)
    generated = _evaluate(tmp_path / "run", review_data, cfg, "generate")
    _check_matrix(generated, review_data)


def test_seq_cls_head_has_three_classes(session_workspace, tiny_model_dir, review_data, tmp_path):
    cfg = review_config(review_data, "head=seq-cls")
    train_run(cfg, tmp_path / "run", session_workspace)
    predictor = load_predictor(None, tmp_path / "run", device="cpu", precision="fp32")
    assert predictor.model.config.num_labels == 3
    assert predictor.model.config.id2label == dict(enumerate(LABEL_NAMES))
    predictor.free()
    metrics = _evaluate(tmp_path / "run", review_data, cfg, "score")
    assert metrics["invalid"] == 0
    _check_matrix(metrics, review_data)
