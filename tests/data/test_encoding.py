"""Chat-template encoding: prompt ids exact, masks aligned, truncation keeps the answer."""
import json

import pytest

from core.data.encoding import (DEFAULT_INSTRUCTION, IGNORE_INDEX, EncodeOptions, build_messages, encode,
                           encode_prompt, token_view)
from core.data.records import Record

RECORD = Record(input="张三: 你好，我是平台客服。\n李四: 有什么事？\n张三: "
                      "您的订单异常，请把验证码发给我，并转账500元解冻。",
                label=True, fraud_speaker="张三", reason="冒充客服索要验证码并要求转账。")
NEGATIVE = Record(input="王五: 明天开会吗？\n赵六: 上午十点，会议室B。", label=False)


def check_alignment(tokenizer, record, options):
    encoded = encode(tokenizer, record, options)
    messages = build_messages(record, options, encoded.dialogue, with_answer=False)
    prompt = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False,
                                           add_generation_prompt=True)
    assert encoded.input_ids[: len(prompt)] == list(prompt)
    assert encoded.prompt_length == len(prompt)
    assert encoded.labels[: len(prompt)] == [IGNORE_INDEX] * len(prompt)
    trained = encoded.input_ids[len(prompt):]
    assert encoded.labels[len(prompt):] == trained  # every answer token and the end token is trained
    answer = json.loads(tokenizer.decode(trained[:-1]))
    expected = {"is_fraud": record.label}
    if options.with_reason:
        expected.update(fraud_speaker=record.fraud_speaker, reason=record.reason)
    assert answer == expected
    return encoded, trained


@pytest.mark.parametrize("with_reason", [False, True])
@pytest.mark.parametrize("record", [RECORD, NEGATIVE], ids=["fraud", "normal"])
def test_real_qwen_tokenizer_masks_are_exact(qwen_tokenizer, record, with_reason):
    encoded, trained = check_alignment(qwen_tokenizer, record, EncodeOptions(with_reason=with_reason))
    assert trained[-1] == qwen_tokenizer.convert_tokens_to_ids("<|im_end|>") == 151645
    assert encoded.text.startswith("<|im_start|>system\nYou are a helpful "
                                   "assistant.<|im_end|>\n<|im_start|>user\n")
    assert encoded.text.endswith(json.dumps({"is_fraud": record.label} if not with_reason else
                                            {"is_fraud": record.label, "fraud_speaker": record.fraud_speaker,
                                             "reason": record.reason}, ensure_ascii=False) + "<|im_end|>")
    assert not encoded.truncated


def test_system_prompt_and_instruction_override(qwen_tokenizer):
    options = EncodeOptions(system="你是反诈助手。", instruction="请判断是否诈骗。")
    encoded, _ = check_alignment(qwen_tokenizer, RECORD, options)
    assert "<|im_start|>system\n你是反诈助手。<|im_end|>" in encoded.text
    assert "请判断是否诈骗。\n张三" in encoded.text and DEFAULT_INSTRUCTION not in encoded.text


@pytest.mark.parametrize("side", ["keep_end", "keep_start"])
def test_truncation_shortens_the_dialogue_never_the_answer(qwen_tokenizer, side):
    long_record = Record(input="\n".join(f"张三: 第{i}句，请尽快转账到安全账户。" for i in range(200)),
                         label=True, fraud_speaker="张三", reason="冒充公检法要求转账。")
    options = EncodeOptions(with_reason=True, max_length=200, truncation=side)
    encoded, trained = check_alignment(qwen_tokenizer, long_record, options)
    assert encoded.truncated and len(encoded.input_ids) <= 200
    assert encoded.untruncated_length > 200
    assert len(encoded.input_ids) >= 190  # the budget is used, not thrown away
    if side == "keep_end":
        assert "第199句" in encoded.dialogue and "第0句" not in encoded.dialogue
    else:
        assert "第0句" in encoded.dialogue and "第199句" not in encoded.dialogue
    assert "\ufffd" not in encoded.dialogue


def test_too_small_max_length_says_why(qwen_tokenizer):
    with pytest.raises(ValueError, match="max_length 40 is too small"):
        encode(qwen_tokenizer, RECORD, EncodeOptions(with_reason=True, max_length=40))


def test_prompt_encoding_matches_the_training_prompt(qwen_tokenizer):
    options = EncodeOptions(with_reason=False)
    prompt = encode_prompt(qwen_tokenizer, RECORD, options)
    full = encode(qwen_tokenizer, RECORD, options)
    assert prompt.input_ids == full.input_ids[: full.prompt_length]
    assert prompt.text.endswith("<|im_start|>assistant\n")


def test_token_view_marks_trained_and_special_tokens(qwen_tokenizer):
    encoded = encode(qwen_tokenizer, RECORD, EncodeOptions())
    view = token_view(qwen_tokenizer, encoded)
    assert "".join(token["text"] for token in view) == encoded.text
    assert sum(token["trained"] for token in view) == encoded.num_trained
    assert view[0]["special"] and view[0]["text"] == "<|im_start|>"
    assert view[-1] == {"id": 151645, "text": "<|im_end|>", "trained": True, "special": True}


@pytest.mark.parametrize("with_reason", [False, True])
def test_tiny_tokenizer_masks_are_exact(tiny_tokenizer, with_reason):
    encoded, trained = check_alignment(tiny_tokenizer, RECORD, EncodeOptions(with_reason=with_reason))
    assert trained[-1] == tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")
    long_record = Record(input="李四: 这是很长的一段话。" * 300, label=False)
    # The tiny vocabulary spends more tokens on the long default instruction than Qwen's does.
    budget = 256 if with_reason else 128
    short, _ = check_alignment(tiny_tokenizer, long_record,
                               EncodeOptions(with_reason=with_reason, max_length=budget))
    assert short.truncated and len(short.input_ids) <= budget
