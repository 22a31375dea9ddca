"""A tiny BERT encoder with its own character vocabulary, built offline and seeded in seconds.

The generic path (any text classification dataset, any model family) must be testable without a
download, as the tiny Qwen2 makes the chat path testable. So a ~3-million-parameter `BertModel` is
built here with a WordPiece vocabulary read off the demo texts (fraud dialogues and reviews):
Chinese text is one token a character, as in Chinese BERT / RoBERTa models (hfl/rbt3). It loads
through `AutoTokenizer` and `AutoModelForSequenceClassification` like a hub encoder, and has no
chat template: the lab trains it as a classifier (head=seq-cls, full or LoRA) on `[CLS] text [SEP]`.
It is not pretrained: its weights are a seeded random start, so what it knows after fine-tuning it
learnt from the training rows.
"""
from __future__ import annotations

import json
import os
import shutil
import string
import time
import uuid
from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ENCODER_DIR = "tiny-encoder"
EMBEDDED_ENCODER = "embedded-encoder"  # the value of a model key naming it
BUILD_INFO_FILE = "build_info.json"
SEED = 42


def vocabulary(texts) -> list[str]:
    """Special tokens, every character of the texts (lower-cased, as the tokenizer normalizes), and
    `##` continuations of ASCII letters and digits (words of Latin script split into WordPieces)."""
    ascii_characters = "abcdefghijklmnopqrstuvwxyz0123456789"
    characters = {character for text in texts for character in text.lower() if not character.isspace()}
    characters = sorted(characters | set(ascii_characters) | set(string.punctuation))
    return SPECIAL_TOKENS + characters + [f"##{character}" for character in ascii_characters]


def demo_texts() -> list[str]:
    from core.demo.dataset import generate_demo
    from core.demo.reviews import generate_reviews

    texts = [row["input"] for rows in generate_demo().values() for row in rows]
    texts += [row["review"] for rows in generate_reviews().values() for row in rows]
    return texts


def build_tiny_encoder(out_dir: Path, texts=None, hidden: int = 256, layers: int = 3, heads: int = 4) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    started = time.perf_counter()
    vocab = vocabulary(demo_texts() if texts is None else texts)
    tokenizer = BertTokenizer(vocab={token: index for index, token in enumerate(vocab)}, do_lower_case=True,
                              tokenize_chinese_chars=True)
    tokenizer.model_max_length = 512
    torch.manual_seed(SEED)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=hidden * 2, max_position_embeddings=512,
                        pad_token_id=vocab.index("[PAD]"))
    model = BertModel(config, add_pooling_layer=True)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tokenizer.save_pretrained(staging)
        model.save_pretrained(staging, safe_serialization=True)
        info = {"vocab_size": len(vocab), "parameters": sum(parameter.numel() for parameter in model.parameters()),
                "seed": SEED, "seconds": round(time.perf_counter() - started, 2)}
        (staging / BUILD_INFO_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def ensure_tiny_encoder(workspace: Path) -> Path:
    """`workspace/cache/tiny-encoder`, built when missing (a file lock makes concurrent callers wait)."""
    from filelock import FileLock

    from core.workspace import Workspace

    target = Workspace(workspace).tiny_model_dir.parent / ENCODER_DIR
    if (target / BUILD_INFO_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f"{ENCODER_DIR}.lock")):
        if not (target / BUILD_INFO_FILE).is_file():
            build_tiny_encoder(target)
    return target
