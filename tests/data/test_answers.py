"""parse_answer reads what models really write, and never turns an unreadable answer into False."""
from __future__ import annotations

import json

import pytest

from core.data.answers import ParsedAnswer, answer_text, parse_answer
from core.data.records import Record

FENCED = '```json\n{"is_fraud": true, "fraud_speaker": "张三", "reason": "要求转账"}\n```'

# (answer, valid, is_fraud, fraud_speaker)
CASES = [
    ('{"is_fraud": true}', True, True, ""),
    ('{"is_fraud": false}', True, False, ""),
    ('{"is_fraud": true, "fraud_speaker": "张三", "reason": "要求转账"}', True, True, "张三"),
    (FENCED, True, True, "张三"),
    ('分析如下：\n{"is_fraud": false, "fraud_speaker": "", "reason": ""}\n以上。', True, False, ""),
    ('{"is_fraud": true, "fraud_speaker": "甲"} {"is_fraud": false, "fraud_speaker": "乙"}', True, True,
     "甲"),
    ("{'is_fraud': True, 'fraud_speaker': '李四', 'reason': '冒充客服'}", True, True, "李四"),
    ('{"is_fraud": False, "fraud_speaker": None}', True, False, ""),
    ('{“is_fraud”： true， “fraud_speaker”： “王五”}', True, True, "王五"),
    ('{"is_fraud": true, "fraud_speaker": "赵六",}', True, True, "赵六"),
    ('{"is_fraud": "true"}', True, True, ""),
    ('{"is_fraud": "是", "fraud_speaker": "客服"}', True, True, "客服"),
    ('{"is_fraud": "否"}', True, False, ""),
    ('{"is_fraud": 1}', True, True, ""),
    ('{"is_fraud": 0}', True, False, ""),
    ('{"is_fraud": "yes"}', True, True, ""),
    ('{"is_fraud": true, "fraud_speaker": ["张三", "李四"]}', True, True, "张三,李四"),
    ("是", True, True, ""),
    ("否。", True, False, ""),
    ("true", True, True, ""),
    ("False", True, False, ""),
    ('{"is_fraud": true, "fraud_speaker": "张三", "reason": "他要求对方把钱转到所谓的安全', True, True, ""),
    ('{"is_fraud": false, "reason": "他说"不用担心"然后挂了"}', True, False, ""),
    ('{"result": {"is_fraud": true, "fraud_speaker": "骗子"}}', True, True, "骗子"),
    ('{"is_fraud": true, "reason": "他说“转账”"}', True, True, ""),
    ("", False, None, ""),
    ("   \n", False, None, ""),
    ("我不知道", False, None, ""),
    ('{"foo": 1}', False, None, ""),
    ("是...否", False, None, ""),
    ('{"is_fraud": "maybe"}', False, None, ""),
    ('{"is_fraud": null}', False, None, ""),
    ("这段对话看起来像是正常的聊天", False, None, ""),
]


@pytest.mark.parametrize("answer, valid, is_fraud, speaker", CASES)
def test_parse_answer_table(answer, valid, is_fraud, speaker):
    parsed = parse_answer(answer)
    assert (parsed.valid, parsed.is_fraud, parsed.fraud_speaker) == (valid, is_fraud, speaker)
    assert parsed.raw == answer
    # An invalid answer always says why; a valid one carries no error.
    assert bool(parsed.error) == (not valid)


def test_reason_is_kept_including_full_width_punctuation():
    parsed = parse_answer('{"is_fraud": true, "fraud_speaker": "张三", "reason": "他说：“请转账”，很急"}')
    assert parsed.reason == "他说：“请转账”，很急"
    assert parse_answer(FENCED).reason == "要求转账"


def test_truncated_answer_keeps_only_the_verdict():
    parsed = parse_answer('{"is_fraud": true, "fraud_speaker": "张三", "reason": "他要求')
    assert parsed == ParsedAnswer(True, True, "", "", parsed.raw, "")


@pytest.mark.parametrize("answer, fragment", [
    ("", "empty"),
    ('{"foo": 1}', "no is_fraud"),
    ("是...否", "ambiguous"),
    ('{"is_fraud": "maybe"}', "maybe"),
])
def test_invalid_answer_error_says_why(answer, fragment):
    assert fragment in parse_answer(answer).error


def test_round_trip_of_the_training_answer():
    for label, speaker in ((True, "张三"), (False, "")):
        record = Record(input="对话", label=label, fraud_speaker=speaker, reason="理由，含“引号”：冒号")
        for with_reason in (False, True):
            text = answer_text(record, with_reason)
            parsed = parse_answer(text)
            assert parsed.valid and parsed.is_fraud is label
            if with_reason:
                assert (parsed.fraud_speaker, parsed.reason) == (speaker, record.reason)
            assert json.loads(text)["is_fraud"] is label
