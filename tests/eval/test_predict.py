"""The predictor on the tiny model: score vs generate, batching, padding, seq-cls, tokenizer quirks."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from core.data.encoding import EncodeOptions, encode_prompt
from core.eval.predict import Prediction, answer_tokens, length_batches, load_predictor
from core.data.records import Record, load_records

OPTIONS = EncodeOptions(max_length=160)
ADAPTER_STEPS = 80


def build_tiny_adapter(workspace: Path, model_dir: Path, train_file: Path) -> Path:
    """A LoRA run of the lab's own training (in this process), cached in the session workspace.

    Eighty steps at the tiny preset's learning rate teach the tiny model the JSON answer format; the run
    folder is shared by test_predict.py and test_evaluation.py through the disk, since a
    session fixture cannot be shared between two test modules without conftest.py.
    """
    from core.config.schema import RunConfig
    from core.config.text import apply_overrides
    from core.train.training import train_run

    run_dir = workspace / "runs" / "tiny-adapter"
    if (run_dir / "adapter" / "adapter_config.json").is_file() and (run_dir / "fraud_lab_run.json").is_file():
        return run_dir
    cfg = apply_overrides(RunConfig(), [
        f"model={model_dir}", f"data.train={train_file}", "data.validation=", "data.validation_split=0",
        f"data.max_length={OPTIONS.max_length}", f"train.max_steps={ADAPTER_STEPS}",
        "train.learning_rate=0.003",
        "train.eval_every=0", f"train.save_every={ADAPTER_STEPS}", "train.device=cpu",
        "train.warmup_ratio=0.1"])
    train_run(cfg, run_dir, workspace)
    return run_dir


@pytest.fixture(scope="module")
def tiny_adapter(session_workspace, tiny_model_dir, demo_splits) -> Path:
    return build_tiny_adapter(session_workspace, tiny_model_dir, demo_splits["train"])


@pytest.fixture(scope="module")
def test_rows(demo_splits) -> list[Record]:
    return load_records(demo_splits["test"]).records[:40]


@pytest.fixture(scope="module")
def tuned(tiny_adapter, session_workspace):
    predictor = load_predictor("", adapter=tiny_adapter, device="cpu", workspace=session_workspace)
    yield predictor
    predictor.free()


def test_adapter_base_is_read_from_its_run_and_it_runs_on_the_cpu_in_fp32(tuned, tiny_model_dir):
    assert Path(tuned.base_path) == Path(tiny_model_dir).resolve()
    assert (tuned.device, tuned.precision, tuned.head) == ("cpu", "fp32", "causal")
    assert next(tuned.model.parameters()).dtype == torch.float32


def _centre_the_decision(predictor, rows: list[Record]) -> None:
    """Add a constant to the true token's logit so that half of `rows` are called fraud.

    Forty LoRA steps teach the tiny model the answer format but hardly the labels: it gives
    nearly every row the same label, and agreement on one label would prove little. A bias on
    the output layer is part of the model, so both paths see it.
    """
    tokens = predictor.answer_tokens(False)
    margins = sorted(torch.logit(torch.tensor(item.p_true, dtype=torch.float64)).item()
                     for item in predictor.score(rows, OPTIONS, batch_size=32))
    middle = len(margins) // 2
    head = predictor.model.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True, device=head.weight.device,
                             dtype=head.weight.dtype)
    biased.weight = head.weight  # still tied to the embeddings
    with torch.no_grad():
        biased.bias.zero_()
        biased.bias[tokens.true_id] = -(margins[middle - 1] + margins[middle]) / 2
    predictor.model.lm_head = biased


def test_score_labels_equal_generated_labels_on_a_fine_tuned_model(tiny_adapter, session_workspace,
                                                                   test_rows):
    predictor = load_predictor("", adapter=tiny_adapter, device="cpu", workspace=session_workspace)
    _centre_the_decision(predictor, test_rows)
    generated = predictor.generate(test_rows, OPTIONS, batch_size=8)
    scored = predictor.score(test_rows, OPTIONS, batch_size=16)
    parsed = [index for index, item in enumerate(generated) if item.valid]
    assert len(parsed) >= 0.9 * len(test_rows), [item.raw_text for item in generated]
    generated_labels = [generated[index].is_fraud for index in parsed]
    assert 0.25 * len(parsed) <= sum(generated_labels) <= 0.75 * len(parsed)
    assert generated_labels == [scored[index].is_fraud for index in parsed]
    for index in parsed:
        # The generate path reads p_true during decoding; the score path in one forward pass.
        assert generated[index].p_true == pytest.approx(scored[index].p_true, abs=1e-4)
        assert scored[index].is_fraud == (scored[index].p_true > 0.5)
    predictor.free()


def test_score_probability_is_the_softmax_of_the_two_answer_tokens_after_the_prefix(tuned, test_rows):
    record = test_rows[0]
    tokens = answer_tokens(tuned.tokenizer, with_reason=False)
    true_answer = tuned.tokenizer.encode('{"is_fraud": true}', add_special_tokens=False)
    false_answer = tuned.tokenizer.encode('{"is_fraud": false}', add_special_tokens=False)
    split = len(tokens.prefix)
    assert true_answer[:split] == false_answer[:split] == tokens.prefix
    assert (true_answer[split], false_answer[split]) == (tokens.true_id, tokens.false_id)
    ids = encode_prompt(tuned.tokenizer, record, OPTIONS).input_ids + tokens.prefix
    with torch.no_grad():
        logits = tuned.model(input_ids=torch.tensor([ids])).logits[0, -1]
    expected = torch.softmax(logits[[tokens.true_id, tokens.false_id]], dim=-1)[0].item()
    assert tuned.score([record], OPTIONS)[0].p_true == pytest.approx(expected, abs=1e-5)


def test_scoring_with_the_shared_prompt_start_cached_equals_the_plain_forward(tuned, test_rows):
    options = EncodeOptions(max_length=1024)
    rows = test_rows[:12]
    prompts = [encode_prompt(tuned.tokenizer, record, options).input_ids for record in rows]
    assert len(os.path.commonprefix(prompts)) >= 8  # the system prompt and instruction
    cached = tuned.score(rows, options, batch_size=5)
    tuned.share_prefix = False
    try:
        plain = tuned.score(rows, options, batch_size=5)
    finally:
        tuned.share_prefix = True
    assert [item.p_true for item in cached] == pytest.approx([item.p_true for item in plain], abs=1e-5)
    assert [item.is_fraud for item in cached] == [item.is_fraud for item in plain]


def test_generation_keeps_row_order_and_left_padding_matches_one_row_at_a_time(tuned, test_rows):
    rows = test_rows[:8]
    untruncated = EncodeOptions(max_length=1024)
    lengths = [len(encode_prompt(tuned.tokenizer, record, untruncated).input_ids) for record in rows]
    assert len(set(lengths)) > 3  # padding really happens
    batched = tuned.generate(rows, untruncated, batch_size=4)
    alone = [tuned.generate([record], untruncated, batch_size=1)[0] for record in rows]
    assert [item.raw_text for item in batched] == [item.raw_text for item in alone]
    assert [item.p_true for item in batched] == pytest.approx([item.p_true for item in alone], abs=1e-4)
    assert len({round(item.p_true, 6) for item in alone}) == len(rows)  # a permutation would show


def test_length_batches_go_longest_first_and_cover_every_row_once():
    lengths = [5, 9, 1, 9, 3, 7, 2]
    batches = length_batches(lengths, 3)
    assert [len(batch) for batch in batches] == [3, 3, 1]
    flat = [index for batch in batches for index in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[index] for index in flat] == sorted(lengths, reverse=True)


def test_generate_with_reasons_fills_p_true_and_stops_at_the_end_of_turn(tuned, test_rows):
    options = EncodeOptions(with_reason=True, max_length=512)
    assert tuned.max_new_tokens(options) > tuned.max_new_tokens(OPTIONS)
    results = tuned.generate(test_rows[:3], options, batch_size=3, max_new_tokens=24)
    assert all(isinstance(item, Prediction) and 0.0 < item.p_true < 1.0 for item in results)
    end_texts = [tuned.tokenizer.decode([token]) for token in tuned.end_ids]
    assert "<|im_end|>" in end_texts and "<|endoftext|>" in end_texts
    assert not any(text in item.raw_text for item in results for text in end_texts)


def test_short_answer_budget_is_measured_from_the_longest_answer(tuned):
    longest = max(len(tuned.tokenizer.encode(text, add_special_tokens=False))
                  for text in ('{"is_fraud": true}', '{"is_fraud": false}'))
    assert longest < tuned.max_new_tokens(OPTIONS) <= longest + 6


def test_records_are_not_modified(tuned, test_rows):
    rows = test_rows[:3]
    before = [record.to_dict() for record in rows]
    tuned.score(rows, OPTIONS)
    tuned.generate(rows, OPTIONS, max_new_tokens=4)
    assert [record.to_dict() for record in rows] == before


def test_seq_cls_model_predicts_from_its_head_and_generate_equals_score(tiny_model_dir, test_rows, tmp_path):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    folder = tmp_path / "seq-cls"
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_model_dir), num_labels=2)
    model.save_pretrained(str(folder))
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (tiny_model_dir / name).exists():
            shutil.copy(tiny_model_dir / name, folder / name)
    predictor = load_predictor(str(folder), device="cpu")
    assert predictor.head == "seq_cls"
    rows = test_rows[:6]
    scored = predictor.score(rows, OPTIONS, batch_size=4)
    generated = predictor.generate(rows, OPTIONS, batch_size=3)
    # Other batch sizes pad differently: the same answers, probabilities equal to float precision.
    assert [(item.is_fraud, item.valid, item.raw_text) for item in generated] == \
        [(item.is_fraud, item.valid, item.raw_text) for item in scored]
    assert [item.p_true for item in generated] == pytest.approx([item.p_true for item in scored], abs=1e-6)
    for record, result in zip(rows, scored):
        ids = encode_prompt(predictor.tokenizer, record, OPTIONS).input_ids
        with torch.no_grad():
            logits = predictor.model(input_ids=torch.tensor([ids])).logits[0]
        assert result.p_true == pytest.approx(torch.softmax(logits, -1)[1].item(), abs=1e-5)
        assert result.is_fraud == bool(logits[1] > logits[0])
    predictor.free()
    assert predictor.model is None


def test_a_tokenizer_without_pad_token_still_batches(tiny_model_dir, test_rows, tmp_path):
    folder = tmp_path / "no-pad"
    shutil.copytree(tiny_model_dir, folder)
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["pad_token"] = None  # Qwen2Tokenizer would fill in <|endoftext|> for a missing key
    config_file.write_text(json.dumps(config), encoding="utf-8")
    without = load_predictor(str(folder), device="cpu")
    reference = load_predictor(str(tiny_model_dir), device="cpu")
    assert without.pad_id is not None and without.pad_id != reference.pad_id
    rows = test_rows[:5]
    assert [item.p_true for item in without.score(rows, OPTIONS, batch_size=5)] == pytest.approx(
        [item.p_true for item in reference.score(rows, OPTIONS, batch_size=5)], abs=1e-5)
