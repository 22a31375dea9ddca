"""Answers of a dataset with label names (core.data.mapping): `{"label": "<name>"}` read as a class.

Score mode reads, after the answers' shared start `{"label": "`, the logits of the first token of
each label name and takes their softmax: the probabilities of the N classes from one forward pass.
Greedy decoding picks the largest of those logits at that very position, so a generated answer that
follows the trained prefix gets the same class. Names whose first tokens coincide cannot be told
apart at one position; they are refused with a reason (use generate mode, or rename the labels).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import torch

from core.data.answers import answer_text, parse_label_answer
from core.data.records import Record
from core.models import ModelError


@dataclass(frozen=True)
class LabelTokens:
    """The shared start of the N answers and the first token of each label name after it."""

    prefix: list[int]
    ids: list[int]  # one per label name, in class order
    longest: int  # tokens of the longest answer


def label_tokens(tokenizer, label_names: tuple[str, ...]) -> LabelTokens:
    answers = [tokenizer.encode(answer_text(Record(input="-", label=index), False, label_names),
                                add_special_tokens=False) for index in range(len(label_names))]
    shared = 0
    while (all(len(answer) > shared for answer in answers)
           and len({answer[shared] for answer in answers}) == 1):
        shared += 1
    ids = [answer[shared] if len(answer) > shared else None for answer in answers]
    if None in ids or len(set(ids)) < len(ids):
        same = sorted({label_names[index] for index, token in enumerate(ids) if ids.count(token) > 1
                       or token is None})
        raise ModelError(f"the label names {', '.join(same)} start with the same token for this tokenizer, "
                         "so one forward pass cannot tell them apart: use mode=generate, or label names "
                         "that start differently")
    return LabelTokens(prefix=answers[0][:shared], ids=ids, longest=max(len(answer) for answer in answers))


def class_prediction(probabilities: torch.Tensor, label_names: tuple[str, ...]):
    """A valid prediction of the most probable class, its answer written as training wrote it."""
    from core.eval.predict import Prediction

    values = [float(value) for value in probabilities]
    label = max(range(len(values)), key=values.__getitem__)
    return Prediction(is_fraud=None, valid=True, raw_text=json.dumps({"label": label_names[label]},
                                                                   ensure_ascii=False),
                      label=label, probabilities=values)


def class_prediction_from_text(text: str, logits: torch.Tensor | None, label_names: tuple[str, ...]):
    """A generated answer read as a class; probabilities from the watched logits when it reached them."""
    from core.eval.predict import Prediction

    parsed = parse_label_answer(text, label_names)
    probabilities = None if logits is None else [float(value) for value in torch.softmax(logits.float(), -1)]
    return Prediction(is_fraud=None, valid=parsed.valid, raw_text=text, error=parsed.error,
                      label=parsed.label if parsed.valid else None, probabilities=probabilities)
