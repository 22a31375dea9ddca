"""The answer format a model is trained to produce, and the parsing of what it produced."""
from __future__ import annotations

import json

from core.records import Record


def answer_dict(record: Record, with_reason: bool) -> dict:
    if not with_reason:
        return {"is_fraud": bool(record.label)}
    return {"is_fraud": bool(record.label), "fraud_speaker": record.fraud_speaker, "reason": record.reason}


def answer_text(record: Record, with_reason: bool) -> str:
    return json.dumps(answer_dict(record, with_reason), ensure_ascii=False)
