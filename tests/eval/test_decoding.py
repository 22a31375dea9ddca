"""core.eval.decoding on the tiny model: the same tokens as plain greedy `model.generate` row for row
(fp32), the stop at a closed JSON answer, rows joining a running batch, and the batch size."""
from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoConfig, Qwen2ForCausalLM

from core.data.answers import parse_answer
from core.eval.decoding import (CPU_MAX_ROWS, CPU_MEMORY_SHARE, GROW_COLUMNS, answer_closed, bytes_per_token,
                           prefill_chunks, rows_at_once)
from core.data.encoding import EncodeOptions
from core.models import load_tokenizer
from core.eval.predict import Predictor, load_predictor
from core.data.records import load_records
from tests.eval.test_predict import build_tiny_adapter

SHORT = EncodeOptions(max_length=512)
LONG = EncodeOptions(with_reason=True, max_length=512)
VARIED_LIMIT = 24


@pytest.fixture(scope="module")
def rows(demo_splits):
    return load_records(demo_splits["test"]).records[:24]


@pytest.fixture(scope="module")
def tuned(session_workspace, tiny_model_dir, demo_splits):
    run_dir = build_tiny_adapter(session_workspace, tiny_model_dir, demo_splits["train"])
    predictor = load_predictor("", adapter=run_dir, device="cpu", workspace=session_workspace)
    yield predictor
    predictor.free()


@pytest.fixture(scope="module")
def varied(tiny_model_dir, rows):
    """A randomly initialised model of the tiny model's shape whose end-of-turn logit is raised
    until its answers end after different numbers of tokens (some at once): the trained tiny
    model gives every row an answer of the same length, and refilling only shows with lengths
    that differ.
    Returns the predictor and each row's answer length."""
    torch.manual_seed(3)
    config = AutoConfig.from_pretrained(str(tiny_model_dir))
    config.initializer_range = 0.1  # at the default 0.02 every row gives the same tokens
    model = Qwen2ForCausalLM(config).eval()
    predictor = Predictor(model, load_tokenizer(str(tiny_model_dir)), "cpu")
    head = model.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    biased.weight = head.weight
    model.lm_head = biased
    prompts = predictor.prompts(rows, SHORT)
    for bias in torch.arange(1.0, 5.0, 0.25).tolist():  # with less, hardly any row ends
        with torch.no_grad():
            biased.bias.zero_()
            biased.bias[predictor.end_ids[0]] = bias
        lengths = [len(item.tokens) for item in predictor.decoder().decode(prompts, VARIED_LIMIT)]
        if len(set(lengths)) >= 4 and sum(length < VARIED_LIMIT for length in lengths) >= len(lengths) // 2:
            return predictor, lengths
    pytest.fail("no bias on the end-of-turn logit spreads the answer lengths")


def plain_greedy(predictor, prompts: list[list[int]], limit: int) -> list[list[int]]:
    """`model.generate` one row at a time, cut before the first end-of-turn id."""
    answers = []
    for prompt in prompts:
        ids = torch.tensor([prompt])
        output = predictor.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                          max_new_tokens=limit)[0, len(prompt):].tolist()
        ends = [position for position, token in enumerate(output) if token in predictor.end_ids]
        answers.append(output[: ends[0]] if ends else output)
    return answers


@pytest.mark.parametrize("options", [SHORT, LONG], ids=["is_fraud", "with_reason"])
def test_tokens_equal_plain_greedy_generate_row_for_row_in_fp32(tuned, rows, options):
    limit = tuned.max_new_tokens(options) if not options.with_reason else 32
    prompts = tuned.prompts(rows, options)
    decoded = tuned.decoder().decode(prompts, limit, max_rows=5)
    reference = plain_greedy(tuned, prompts, limit)
    assert tuned.decoder().last_run["shared_prefix"] >= 8
    texts = [tuned.tokenizer.decode(ids, skip_special_tokens=True) for ids in reference]
    for mine, theirs, text in zip(decoded, reference, texts):
        assert theirs[: len(mine.tokens)] == mine.tokens
        if mine.stop != "closed":
            assert mine.tokens == theirs
        else:  # the answer closed: generate's rest cannot change what parses
            assert answer_closed(tuned.tokenizer.decode(mine.tokens, skip_special_tokens=True))
            assert fields(parse_answer(text)) == fields(parse_answer(tuned.tokenizer.decode(mine.tokens)))
    predictions = tuned.generate(rows, options, max_new_tokens=limit)
    assert [fields(item) for item in predictions] == [fields(parse_answer(text)) for text in texts]
    # The tuned model closes its turn right after the JSON, so even the raw texts are the same.
    assert sum(item.raw_text == text for item, text in zip(predictions, texts)) >= 0.9 * len(rows)
    assert sum(item.valid for item in predictions) >= 0.9 * len(rows)


def fields(answer) -> tuple:
    return (answer.valid, answer.is_fraud, answer.fraud_speaker or "", answer.reason or "")


def test_a_closed_json_answer_stops_before_the_end_of_turn(tuned, rows):
    prompts = tuned.prompts(rows, SHORT)
    limit = tuned.max_new_tokens(SHORT)
    decoded = tuned.decoder().decode(prompts, limit)
    closed = [item for item in decoded if item.stop == "closed"]
    assert len(closed) >= 0.9 * len(rows)
    for item in closed:
        assert json.loads(tuned.tokenizer.decode(item.tokens,
                                                 skip_special_tokens=True))["is_fraud"] in (True, False)
    steps_with_stop = tuned.decoder().last_run["steps"]
    tuned.decoder().decode(prompts, limit, stop_when_closed=False)
    assert tuned.decoder().last_run["steps"] > steps_with_stop


@pytest.mark.parametrize("text, closed", [
    ('{"is_fraud": true}', True),
    (' {"is_fraud": false, "fraud_speaker": "", "reason": ""}\n', True),
    ('{"is_fraud": true, "reason": "他说 {验证码}"}', True),
    ('{"is_fraud": true, "reason": "未完', False),
    ('{"is_fraud": tr', False),
    ('{"answer": 1}', False),
    ('答案：{"is_fraud": true}', False),
    ('```json\n{"is_fraud": true}', False),
    ("{'is_fraud': True}", False),  # parsed by the ast fallback, which a continuation could extend
])
def test_answer_closed_only_when_nothing_after_it_changes_the_parse(text, closed):
    assert answer_closed(text) is closed
    if closed:
        expected = parse_answer(text)
        for continuation in ("", "\n", "<|im_end|>", ' {"is_fraud": false}', "\n```", "</think>", "好的。"):
            parsed = parse_answer(text + continuation)
            assert (parsed.valid, parsed.is_fraud, parsed.fraud_speaker, parsed.reason) == (
                expected.valid, expected.is_fraud, expected.fraud_speaker, expected.reason)


def test_rows_join_a_running_batch_and_every_answer_still_equals_plain_greedy(varied, rows):
    predictor, lengths = varied
    prompts = predictor.prompts(rows, SHORT)
    decoder = predictor.decoder()
    decoded = decoder.decode(prompts, VARIED_LIMIT, max_rows=4)
    assert [item.tokens for item in decoded] == plain_greedy(predictor, prompts, VARIED_LIMIT)
    run = decoder.last_run
    assert run["most_rows"] <= 4 < len(rows)
    # Fixed batches of 4 in the same order step until each batch's longest answer ends: a row
    # that ends takes one step more to choose its end-of-turn token, the first token is free.
    order = sorted(range(len(prompts)), key=lambda index: (-len(prompts[index]), index))
    fixed = sum(max(min(lengths[index] + 1, VARIED_LIMIT) for index in order[start:start + 4]) - 1
                for start in range(0, len(order), 4))
    assert run["steps"] < fixed
    assert run["admissions"] > len(rows) // 4  # rows joined while others still ran


def test_progress_counts_rows_as_they_finish(varied, rows):
    predictor, _ = varied
    seen: list[tuple[int, int]] = []
    predictor.decoder().decode(predictor.prompts(rows, SHORT), VARIED_LIMIT, max_rows=4,
                               progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(rows), len(rows))
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})
    assert len(seen) > 3


def test_rows_at_once_follows_free_memory_and_lengths(tiny_model_dir):
    model = Qwen2ForCausalLM(AutoConfig.from_pretrained(str(tiny_model_dir)))
    config = model.config
    per_token = 2 * config.num_hidden_layers * config.num_key_value_heads * (
        config.hidden_size // config.num_attention_heads) * 4
    assert bytes_per_token(model) == per_token
    lengths, limit = [100, 300, 200], 50
    per_row = (per_token * (300 + limit + GROW_COLUMNS) + 8 * config.vocab_size
               + 16 * (config.hidden_size + config.intermediate_size))
    lengths = lengths * 100  # more rows than fit
    free_for_ten = int(10 * per_row / CPU_MEMORY_SHARE) + 1
    assert rows_at_once(model, lengths, limit, "cpu", free=free_for_ten) == 10
    assert rows_at_once(model, lengths, limit, "cpu", free=2 * free_for_ten) == 20
    assert rows_at_once(model, [length * 2 for length in lengths], limit, "cpu", free=free_for_ten) < 10
    assert rows_at_once(model, lengths, limit, "cpu", free=1) == 1
    assert rows_at_once(model, lengths, limit, "cpu", free=1 << 50) == CPU_MAX_ROWS
    assert rows_at_once(model, lengths[:7], limit, "cpu", free=1 << 50) == 7


def test_prefill_chunks_cover_every_row_once_and_bound_the_padding():
    lengths = [300, 290, 280, 150, 140, 139, 60, 20, 19, 18]
    chunks = prefill_chunks(lengths, max_tokens=700, max_padding=0.25)
    assert [position for chunk in chunks for position in chunk] == list(range(len(lengths)))
    for chunk in chunks:
        padded = len(chunk) * lengths[chunk[0]]
        assert padded <= 700 or len(chunk) == 1
        assert padded <= 1.25 * sum(lengths[position] for position in chunk)
    assert [len(chunk) for chunk in chunks] == [2, 1, 4, 3]
