"""Pretraining text of the tiny model: unlabeled dialogues rendered in the lab's chat format.

Two sources of dialogues:
- the demo generator, run with a seed of its own (never the demo dataset's seed), minus any
  dialogue that also occurs in the demo's validation or test split;
- a user's training file (`python -m lab build-tiny --data FILE`): its `input` texts only; the
  file's labels, speakers and reasons are never read.

Each dialogue becomes one document in the chat format of a fine-tuning row (default system
prompt, the lab's instruction and the first turns as the user's message) whose assistant turn is
the rest of the dialogue: predicting who says what next makes the model read the dialogue at the
position where it will later answer. Short documents hold a bare answer in the lab's JSON format
(no dialogue before it), so that its tokens are known words when fine-tuning starts. No document
pairs a dialogue with a verdict: the pretrained model continues conversations, and learns what a
fraud is only from fine-tuning.

Measured on the demo (5M-parameter model, LoRA): documents that did pair each dialogue with a
coin-flip verdict gave a base that answered in JSON, but it had learned that the verdict does not
depend on the dialogue, and fine-tuning then never learned the hard pairs (0.51 after 200 steps,
0.92-0.98 without those documents).
"""
from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

from core.data.answers import answer_text
from core.data.encoding import DEFAULT_INSTRUCTION, DEFAULT_INSTRUCTION_WITH_REASON
from core.data.records import Record

DEMO_PRETRAIN_SEED = 1_000_003  # far from any seed the demo dataset is generated with
DEMO_PRETRAIN_DIALOGUES = 6000
# Share of documents with the instruction (and answer format) that asks for a speaker and reason.
REASON_SHARE = 0.2
# Bare answers per dialogue: short documents, about 3% of the pretraining tokens.
ANSWER_SHARE = 0.3
# Reasons for the random answers of reason documents: generic, they describe no dialogue.
GENERIC_REASONS = (
    "对方以各种理由要求转账，存在诈骗风险。",
    "对方冒充他人身份索要钱财，属于诈骗行为。",
    "对方诱导对方向陌生账户付款，符合诈骗特征。",
)


def demo_pretraining_dialogues(count: int = DEMO_PRETRAIN_DIALOGUES, seed: int = DEMO_PRETRAIN_SEED) -> list[str]:
    """Dialogues from the demo generator with a seed of their own, none of them a demo eval row."""
    from core.demo.dataset import generate_demo

    held_out = {row["input"] for name in ("validation", "test") for row in generate_demo()[name]}
    dialogues = [row["input"] for rows in generate_demo(seed=seed, size=count).values() for row in rows]
    return [dialogue for dialogue in dialogues if dialogue not in held_out]


def file_dialogues(path: str | Path) -> list[str]:
    """The non-empty `input` texts of a JSONL / JSON list / CSV file; no other field is read."""
    path = Path(path)
    text = path.read_bytes().decode("utf-8-sig")
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
    elif text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not valid JSON: {error.msg}") from None
    dialogues = [row.get("input") for row in rows if isinstance(row, dict)]
    dialogues = [dialogue for dialogue in dialogues if isinstance(dialogue, str) and dialogue.strip()]
    if not dialogues:
        raise ValueError(f"{path}: no row with a non-empty 'input' text")
    return dialogues


def speakers_of(dialogue: str) -> list[str]:
    names = [line.split(":", 1)[0].strip() for line in dialogue.split("\n") if ":" in line]
    return [name for name in names if 0 < len(name) <= 12] or ["对方"]


def random_answer_record(rng: random.Random, dialogue: str) -> Record:
    """The dialogue with a coin-flip answer (and a speaker of its own, a generic reason)."""
    label = rng.random() < 0.5
    return Record(input=dialogue, label=label,
                  fraud_speaker=rng.choice(speakers_of(dialogue)) if label else "",
                  reason=rng.choice(GENERIC_REASONS) if label else "")


def tokenizer_texts(dialogues: list[str]) -> list[str]:
    """What the BPE is trained on: dialogues, both instructions and both answer formats."""
    answers = [answer_text(Record(input="", label=label, fraud_speaker=speaker, reason=reason), with_reason)
               for label, speaker, reason in ((True, "甲", GENERIC_REASONS[0]), (False, "", ""))
               for with_reason in (False, True)]
    return list(dialogues) + [DEFAULT_INSTRUCTION, DEFAULT_INSTRUCTION_WITH_REASON] * 50 + answers * 200


def continuation_document(tokenizer, rng: random.Random, dialogue: str, max_length: int) -> list[int] | None:
    """The instruction and the first turns as the user's message, the rest as the assistant's;
    None for a text too short to cut."""
    lines = [line for line in dialogue.split("\n") if line.strip()]
    if len(lines) < 2:  # one line, no turns: cut the text itself
        text = dialogue.strip()
        if len(text) < 2:
            return None
        cut = rng.randrange(1, len(text))
        lines, cut = [text[:cut], text[cut:]], 1
    else:
        cut = rng.randrange(1, len(lines))
    instruction = DEFAULT_INSTRUCTION_WITH_REASON if rng.random() < REASON_SHARE else DEFAULT_INSTRUCTION
    messages = [{"role": "user", "content": instruction + "\n" + "\n".join(lines[:cut])},
                {"role": "assistant", "content": "\n".join(lines[cut:])}]
    return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False))[:max_length]


def answer_document(tokenizer, rng: random.Random) -> list[int]:
    """An assistant turn holding one answer in the lab's format, with no dialogue before it."""
    with_reason = rng.random() < REASON_SHARE
    record = random_answer_record(rng, rng.choice(("张伟", "李娜", "客服小王", "发言人1", "王经理")) + ": -")
    messages = [{"role": "assistant", "content": answer_text(record, with_reason)}]
    return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False))


def pretraining_documents(tokenizer, dialogues: list[str], max_length: int, seed: int) -> list[list[int]]:
    """Token ids of the documents: one continuation per dialogue, and bare answers besides."""
    rng = random.Random(seed)
    documents = []
    for dialogue in dialogues:
        document = continuation_document(tokenizer, rng, dialogue, max_length)
        if document is not None:
            documents.append(document)
        if rng.random() < ANSWER_SHARE:
            documents.append(answer_document(tokenizer, rng))
    return documents
