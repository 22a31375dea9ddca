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


# A row of the seeds' data (test0819.jsonl's format): its own instruction starts and ends with "\n".
SEED_ROW = Record(instruction="\n下面是一段对话文本, 请分析对话内容是否有诈骗风险，"
                              "以json格式输出你的判断结果(is_fraud: true/false)。\n",
                  input="发言人3: 现在我所在这个哪里能够工艺能够去把屈光做得很好的，去到这个省级医院"
                        "是自治区医院跟广西医科大学这个附属医院他们还可以，他们一直保持比较好的一个一个"
                        "手术量。\n发言人1: 就是",
                  label=False)


def test_a_rows_own_instruction_gives_the_seeds_prompt_ids(qwen_tokenizer):
    encoded = encode(qwen_tokenizer, SEED_ROW, EncodeOptions(max_length=384))
    prompt = encoded.input_ids[: encoded.prompt_length]
    # The seeds built the user message as instruction + input, byte for byte.
    message = {"role": "user", "content": SEED_ROW.instruction + SEED_ROW.input}
    seeds = qwen_tokenizer.apply_chat_template([message], tokenize=True, return_dict=False,
                                               add_generation_prompt=True)
    assert prompt == list(seeds) and len(prompt) == 102
    # "user" then "\n\n" (271): the instruction's own leading line break is kept.
    assert prompt[:15] == [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 271,
                           100431]
    assert prompt[-5:] == [151645, 198, 151644, 77091, 198]
    assert encoded.input_ids[encoded.prompt_length:] == [4913, 285, 761, 97957, 788, 895, 92, 151645]
    assert encode_prompt(qwen_tokenizer, SEED_ROW, EncodeOptions(max_length=384)).input_ids == prompt


def test_prompt_template_decides_the_user_message(tiny_tokenizer):
    from core.data.encoding import LAB_TEMPLATE, ROW_TEMPLATE, template_for, user_message

    plain = Record(input="甲: 你好", label=False)
    assert template_for(plain, EncodeOptions()) == LAB_TEMPLATE
    assert user_message(plain, EncodeOptions()) == DEFAULT_INSTRUCTION + "\n甲: 你好"
    assert template_for(SEED_ROW, EncodeOptions()) == ROW_TEMPLATE
    # A run's instruction replaces the row's and is parted from the dialogue by a line break.
    overridden = user_message(SEED_ROW, EncodeOptions(instruction="判断是否诈骗。"))
    assert overridden == "判断是否诈骗。\n" + SEED_ROW.input
    custom = EncodeOptions(prompt_template="对话：\n{input}\n---\n{instruction}")
    assert user_message(plain, custom) == f"对话：\n甲: 你好\n---\n{DEFAULT_INSTRUCTION}"
    encoded = encode(tiny_tokenizer, plain, custom)
    assert "对话：\n甲: 你好\n---\n" in encoded.text
    assert encoded.labels[encoded.prompt_length:] == encoded.input_ids[encoded.prompt_length:]


BAD_TEMPLATES = [("{instruction}", "no {input}"), ("{input}{speaker}", "{speaker}"),
                 ("{input} {", "cannot be read")]


@pytest.mark.parametrize("template, words", BAD_TEMPLATES)
def test_a_bad_prompt_template_is_refused_in_words(template, words):
    from core.config.checks import validate
    from core.config.schema import ConfigError, RunConfig
    from core.config.text import apply_overrides

    with pytest.raises(ValueError, match="prompt template") as raised:
        EncodeOptions(prompt_template=template)
    assert words in str(raised.value)
    cfg = apply_overrides(RunConfig(), [f"data.prompt_template={template}"])
    with pytest.raises(ConfigError) as refused:
        validate(cfg, deep=False)
    assert refused.value.key == "data.prompt_template" and words in str(refused.value)
