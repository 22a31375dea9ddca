"""A tiny BERT encoder with its own character vocabulary, built offline, seeded, and pretrained briefly.

The generic path (any text classification dataset, any model family) must be testable without a
download, as the tiny Qwen2 makes the chat path testable. So a ~2-million-parameter `BertModel` is
built here with a WordPiece vocabulary read off demo-like texts (fraud dialogues and reviews):
Chinese text is one token a character, as in Chinese BERT / RoBERTa models (hfl/rbt3). It loads
through `AutoTokenizer` and `AutoModelForSequenceClassification` like a hub encoder (a fresh
classifier head on top), and has no chat template: the lab trains it as a classifier (head=seq-cls,
full or LoRA) on `[CLS] text [SEP]`.

Like a hub encoder it is pretrained, briefly, with masked-language modelling (15% of the tokens
masked by transformers' `DataCollatorForLanguageModeling`) on texts of its own: fraud dialogues and
reviews from the demo generators run with seeds of their own, minus every text of the demo splits'
validation and test rows. Labels are never read. A random encoder gives LoRA nothing to steer
(measured: loss 1.12 -> 1.00 in 40 steps on demo-reviews); after pretraining the frozen encoder's
states tell words apart, and low-rank updates plus the classifier head learn the classes.
"""
from __future__ import annotations

import json
import math
import os
import random
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
# Pretraining corpus: seeds far from the demo datasets' own (7 for reviews, the fraud demo's default).
PRETRAIN_DIALOGUES = 1500
PRETRAIN_REVIEWS = 6000
REVIEW_PRETRAIN_SEED = 1_000_037
DEFAULT_STEPS = 150
SEQUENCE_LENGTH = 128  # tokens of a pretraining window, [CLS] and [SEP] included
BATCH_TOKENS = 2048  # a batch holds about this many tokens (short reviews: many rows, dialogues: few)
LEARNING_RATE = 2e-3
WARMUP_STEPS = 30
MLM_PROBABILITY = 0.15


def vocabulary(texts) -> list[str]:
    """Special tokens, every character of the texts (lower-cased, as the tokenizer normalizes), and
    `##` continuations of ASCII letters and digits (words of Latin script split into WordPieces)."""
    ascii_characters = "abcdefghijklmnopqrstuvwxyz0123456789"
    characters = {character for text in texts for character in text.lower() if not character.isspace()}
    characters = sorted(characters | set(ascii_characters) | set(string.punctuation))
    return SPECIAL_TOKENS + characters + [f"##{character}" for character in ascii_characters]


def pretraining_texts(dialogues: int = PRETRAIN_DIALOGUES, reviews: int = PRETRAIN_REVIEWS) -> list[str]:
    """Unlabeled texts of the demo generators run with seeds of their own, none of them a text of the
    demo datasets' validation or test rows: fraud dialogues (as the tiny Qwen2 gets) and reviews."""
    from core.demo.reviews import generate_reviews
    from core.demo.tiny_corpus import demo_pretraining_dialogues

    held_out = {row["review"] for name in ("validation", "test") for row in generate_reviews()[name]}
    texts = [row["review"] for row in generate_reviews(seed=REVIEW_PRETRAIN_SEED,
                                                       sizes={"pretrain": reviews})["pretrain"]]
    return demo_pretraining_dialogues(count=dialogues) + [text for text in texts if text not in held_out]


def pretraining_windows(tokenizer, texts: list[str], length: int = SEQUENCE_LENGTH) -> list[list[int]]:
    """`[CLS] piece [SEP]` token ids: each text cut into pieces of at most `length` tokens."""
    body = length - 2
    windows = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        for start in range(0, len(ids), body):
            piece = ids[start:start + body]
            if len(piece) >= 4:
                windows.append([tokenizer.cls_token_id, *piece, tokenizer.sep_token_id])
    return windows


def token_batches(windows: list[list[int]], rng: random.Random) -> list[list[int]]:
    """Indices of windows of similar length batched together (about BATCH_TOKENS tokens a batch),
    batches in random order."""
    order = sorted(range(len(windows)), key=lambda index: (len(windows[index]), rng.random()))
    batches, batch = [], []
    for index in order:
        if batch and (len(batch) + 1) * len(windows[index]) > BATCH_TOKENS:
            batches.append(batch)
            batch = []
        batch.append(index)
    batches.append(batch)
    rng.shuffle(batches)
    return batches


def pretrain(model, tokenizer, windows: list[list[int]], steps: int, seed: int, autocast: bool) -> list[float]:
    """Masked-language modelling over the windows; returns the loss of every step."""
    import torch
    from transformers import DataCollatorForLanguageModeling, get_cosine_schedule_with_warmup

    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=MLM_PROBABILITY, seed=seed)
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    schedule = get_cosine_schedule_with_warmup(optimizer, min(WARMUP_STEPS, steps), steps)
    queue: list[list[int]] = []
    losses = []
    model.train()
    for _ in range(steps):
        if not queue:
            queue = token_batches(windows, rng)
        batch = collator([{"input_ids": windows[index]} for index in queue.pop()])
        masked = batch["labels"] != -100
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            hidden = model.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
            # BertForMaskedLM's own head, run on the masked positions only (the loss reads no other):
            # a fifth of a step's time saved.
            logits = model.cls(hidden[masked])
        loss = torch.nn.functional.cross_entropy(logits.float(), batch["labels"][masked])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    return losses


def build_tiny_encoder(out_dir: Path, texts=None, hidden: int = 256, layers: int = 3, heads: int = 4, *,
                       steps: int = DEFAULT_STEPS, seed: int = SEED) -> Path:
    """Build tokenizer + pretrained encoder into `out_dir` (replacing it); returns `out_dir`.

    `texts` default to `pretraining_texts()`; the vocabulary is read off the same texts. Everything is
    written into a temporary sibling folder renamed into place last: an interrupted build leaves no
    half model.
    """
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertModel, BertTokenizer

    from core.demo.tiny_model import bf16_matmuls, replace_directory

    started, cpu_started = time.perf_counter(), time.process_time()
    texts = pretraining_texts() if texts is None else list(texts)
    vocab = vocabulary(texts)
    tokenizer = BertTokenizer(vocab={token: index for index, token in enumerate(vocab)}, do_lower_case=True,
                              tokenize_chinese_chars=True)
    tokenizer.model_max_length = 512
    windows = pretraining_windows(tokenizer, texts)
    if not windows:
        raise ValueError("build_tiny_encoder: no text of at least 4 tokens to pretrain on")
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=hidden * 2, max_position_embeddings=512,
                        pad_token_id=vocab.index("[PAD]"))
    torch.manual_seed(seed)
    masked_lm = BertForMaskedLM(config)
    threads_before = torch.get_num_threads()
    # One thread: the same sums on every machine (a deterministic build), and at hidden 256 a second
    # thread gains little when idle but cost 5x when another process held a core (207 CPU s, not 39).
    threads = 1
    autocast = bf16_matmuls()
    torch.set_num_threads(threads)
    try:
        losses = pretrain(masked_lm, tokenizer, windows, steps, seed, autocast) if steps > 0 else []
    finally:
        torch.set_num_threads(threads_before)
    # Saved as a BertModel with its pooler (seeded, untrained, as the MLM objective never reads it): a
    # classifier loads every weight but its new head; the MLM head is left behind.
    torch.manual_seed(seed)
    model = BertModel(config, add_pooling_layer=True)
    missing = model.load_state_dict(masked_lm.bert.state_dict(), strict=False).missing_keys
    assert all(key.startswith("pooler.") for key in missing), missing
    tail = losses[-min(20, len(losses)):]
    info = {"vocab_size": len(vocab), "parameters": sum(parameter.numel() for parameter in model.parameters()),
            "seed": seed, "steps": steps, "texts": len(texts), "windows": len(windows),
            "mlm_probability": MLM_PROBABILITY,
            "loss_start": losses[0] if losses else None,
            "loss_end": sum(tail) / len(tail) if tail else None,
            "loss_uniform": math.log(len(vocab)),
            "losses": [round(loss, 4) for loss in losses],
            "torch_threads": threads, "bf16_autocast": autocast, "seconds": 0.0, "cpu_seconds": 0.0}
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tokenizer.save_pretrained(staging)
        model.save_pretrained(staging, safe_serialization=True)
        info["seconds"] = round(time.perf_counter() - started, 2)
        info["cpu_seconds"] = round(time.process_time() - cpu_started, 2)
        # Written last: its presence marks a finished build.
        (staging / BUILD_INFO_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
        replace_directory(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def encoder_dir(workspace: Path) -> Path:
    from core.workspace import Workspace

    return Workspace(workspace).tiny_model_dir.parent / ENCODER_DIR


def is_built(path: Path) -> bool:
    return (Path(path) / BUILD_INFO_FILE).is_file()


def ensure_tiny_encoder(workspace: Path) -> Path:
    """`workspace/cache/tiny-encoder`, built when missing (a file lock makes concurrent callers wait)."""
    from filelock import FileLock

    target = encoder_dir(workspace)
    if is_built(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f"{ENCODER_DIR}.lock")):
        if not is_built(target):
            for leftover in target.parent.glob(f".{ENCODER_DIR}.building-*"):
                shutil.rmtree(leftover, ignore_errors=True)
            build_tiny_encoder(target)
    return target
