"""A tiny Qwen2 base model with its own byte-level BPE tokenizer, built offline and seeded.

The lab, its tests and its demo need a real causal LM that loads through the same
`AutoTokenizer` / `AutoModelForCausalLM` calls as a hub Qwen2-Instruct model, yet trains in
a minute on a CPU. No such model may be downloaded, so one is built here: a BPE tokenizer trained
on dialogues with Qwen2's own pipeline (NFC, Qwen2 split regex, byte level) and ChatML special
tokens, and a ~5-million-parameter `Qwen2ForCausalLM` pretrained on those dialogues rendered as
the lab's prompts (core.demo.tiny_corpus). Like an instruct model it then answers the lab's question
in JSON, but its answers are coin flips: pretraining never pairs a dialogue with its label, so
fine-tuning has everything to teach about which answer is right.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from filelock import FileLock
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import (
    GenerationConfig,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen2Tokenizer,
    get_cosine_schedule_with_warmup,
)

from core.demo.tiny_corpus import (
    demo_pretraining_dialogues, file_dialogues, pretraining_documents, tokenizer_texts,
)
from core.env import idle_cpu_threads

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]

# Qwen2's pre-tokenizer regex, as in transformers' Qwen2Tokenizer and Qwen's tokenizer.json.
QWEN2_SPLIT_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
    r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# Qwen2-Instruct's ChatML template, verbatim from its tokenizer_config.json.
QWEN2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

DEFAULT_STEPS = 300
DEFAULT_SEED = 42
BUILD_INFO_FILE = "build_info.json"


@dataclass(frozen=True)
class TinyModelShape:
    """Sizes of the tokenizer and network, and the pretraining batch; about 5 million parameters."""

    vocab_size: int = 8000
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 768
    max_position_embeddings: int = 2048
    sequence_length: int = 384  # longest pretraining document; longer dialogues are shortened
    batch_size: int = 8
    learning_rate: float = 2e-3
    warmup_steps: int = 20


def train_tokenizer(texts: list[str], vocab_size: int) -> Qwen2Tokenizer:
    """Train a byte-level BPE on `texts` with Qwen2's pipeline and wrap it as a Qwen2Tokenizer."""
    backend = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        # Every byte is in the vocabulary, so any text (even unseen characters) encodes losslessly.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    trained = json.loads(backend.to_str())["model"]
    # Qwen2Tokenizer rebuilds the very same pipeline around the trained vocabulary and merges, so
    # the saved tokenizer loads and behaves as the real Qwen2 class does.
    return Qwen2Tokenizer(
        vocab=trained["vocab"],
        merges=[tuple(merge) if isinstance(merge, list) else tuple(merge.split(" ")) for merge in trained["merges"]],
        unk_token=None,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        additional_special_tokens=[IM_START, IM_END],
        chat_template=QWEN2_CHAT_TEMPLATE,
        model_max_length=TinyModelShape.max_position_embeddings,
        clean_up_tokenization_spaces=False,
        errors="replace",
    )


def new_model(tokenizer: Qwen2Tokenizer, shape: TinyModelShape) -> Qwen2ForCausalLM:
    eos_ids = [tokenizer.convert_tokens_to_ids(IM_END), tokenizer.convert_tokens_to_ids(ENDOFTEXT)]
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        max_position_embeddings=shape.max_position_embeddings,
        # Untied: LoRA on the input embedding (the tiny preset's target) must merge into the input
        # side only, as it trained; a tied output layer would change with it.
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=eos_ids,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos_ids, pad_token_id=tokenizer.pad_token_id, do_sample=False)
    return model


def length_batches(documents: list[list[int]], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Indices of documents of similar length batched together, batches in random order.

    Documents are not packed into one stream: each starts at position 0 as a prompt does in
    fine-tuning, and grouping by length keeps the padding small.
    """
    order = sorted(range(len(documents)), key=lambda index: (len(documents[index]), rng.random()))
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def padded_batch(documents: list[list[int]], indices: list[int], pad_id: int) -> tuple[torch.Tensor, ...]:
    width = max(len(documents[index]) for index in indices)
    ids = torch.full((len(indices), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(indices), width), dtype=torch.long)
    for row, index in enumerate(indices):
        ids[row, : len(documents[index])] = torch.tensor(documents[index], dtype=torch.long)
        mask[row, : len(documents[index])] = 1
    return ids, mask, ids.masked_fill(mask == 0, -100)


def bf16_matmuls() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 / AMX): then autocast halves
    the pretraining time; elsewhere bfloat16 is emulated and slower than float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def pretrain(model: Qwen2ForCausalLM, documents: list[list[int]], pad_id: int, steps: int, shape: TinyModelShape,
             seed: int, autocast: bool = False) -> list[float]:
    """Causal-LM pretraining over the documents; returns the loss of every step.

    A plain loop rather than `Trainer`: it needs no checkpoints, logging, evaluation or output
    folder, and the build must stay within a minute, where Trainer's setup alone costs seconds.
    """
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=shape.learning_rate, weight_decay=0.01)
    schedule = get_cosine_schedule_with_warmup(optimizer, min(shape.warmup_steps, steps), steps)
    queue: list[list[int]] = []
    losses = []
    model.train()
    for _ in range(steps):
        if not queue:
            queue = length_batches(documents, shape.batch_size, rng)
        ids, mask, labels = padded_batch(documents, queue.pop(), pad_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    return losses


def build_tiny_model(
    out_dir: Path,
    dialogues: list[str] | None = None,
    *,
    seed: int = DEFAULT_SEED,
    steps: int = DEFAULT_STEPS,
    shape: TinyModelShape = TinyModelShape(),
    source: str = "demo",
) -> Path:
    """Build tokenizer + model into `out_dir` (replacing it); returns `out_dir`.

    `dialogues` default to the demo generator's pretraining dialogues (core.demo.tiny_corpus).
    Everything is written into a temporary sibling folder that is renamed into place last, so an
    interrupted build never leaves a half model.
    """
    out_dir = Path(out_dir)
    if dialogues is None:
        dialogues = demo_pretraining_dialogues()
    if not dialogues:
        raise ValueError("build_tiny_model: no dialogues to train the tokenizer and model on")
    if steps < 1:
        raise ValueError(f"build_tiny_model: steps must be at least 1, got {steps}")
    started, cpu_started = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(tokenizer_texts(dialogues), shape.vocab_size)
    documents = pretraining_documents(tokenizer, dialogues, shape.sequence_length, seed)
    corpus_tokens = sum(len(document) for document in documents)
    if corpus_tokens < shape.sequence_length:
        raise ValueError(f"build_tiny_model: the dialogues give {corpus_tokens} tokens of pretraining text, fewer "
                         f"than one document of {shape.sequence_length}; give it more dialogues")
    torch.manual_seed(seed)
    model = new_model(tokenizer, shape)
    threads_before = torch.get_num_threads()
    threads = idle_cpu_threads(threads_before)
    autocast = bf16_matmuls()
    torch.set_num_threads(threads)
    try:
        losses = pretrain(model, documents, tokenizer.pad_token_id, steps, shape, seed, autocast)
    finally:
        torch.set_num_threads(threads_before)
    tail = losses[-min(10, len(losses)) :]
    info = {
        "seed": seed,
        "steps": steps,
        "source": source,
        "loss_start": losses[0],
        "loss_end": sum(tail) / len(tail),
        "loss_uniform": math.log(len(tokenizer)),
        "losses": [round(loss, 4) for loss in losses],
        "parameters": model.num_parameters(),
        "vocab_size": len(tokenizer),
        "dialogues": len(dialogues),
        "corpus_tokens": corpus_tokens,
        "trained_tokens": min(steps * shape.batch_size, len(documents)) * corpus_tokens // len(documents),
        "shape": asdict(shape),
        "torch_threads": threads,
        "bf16_autocast": autocast,
        "seconds": 0.0,
        "cpu_seconds": 0.0,
    }
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


def replace_directory(source: Path, target: Path) -> None:
    """Move `source` to `target`; an existing `target` is swapped out first, then deleted."""
    retired = None
    if target.exists():
        retired = target.parent / f".{target.name}.retired-{uuid.uuid4().hex[:8]}"
        target.rename(retired)
    source.rename(target)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)


def is_built(path: Path) -> bool:
    return (Path(path) / BUILD_INFO_FILE).is_file()


def ensure_tiny_model(workspace: Path, *, steps: int = DEFAULT_STEPS) -> Path:
    """Return `workspace/cache/tiny-model`, building it from the demo dialogues if it is missing.

    A file lock makes concurrent callers (lab page, job processes) wait for one build.
    `steps` only matters when a build happens (tests build shorter ones).
    """
    from core.workspace import Workspace

    target = Workspace(workspace).tiny_model_dir
    return _ensure(target, lambda: build_tiny_model(target, steps=steps))


def file_model_dir(workspace: Path, data_file: str | Path) -> Path:
    """Where the tiny model built from a user's file lives: named after the file and its content."""
    data_file = Path(data_file)
    digest = hashlib.sha256(data_file.read_bytes()).hexdigest()[:10]
    name = "".join(character if character.isalnum() or character in "-_" else "-" for character in data_file.stem)
    from core.workspace import Workspace

    return Workspace(workspace).tiny_model_dir.parent / f"tiny-{name[:40]}-{digest}"


def ensure_tiny_model_for_file(workspace: Path, data_file: str | Path, *, steps: int = DEFAULT_STEPS,
                               rebuild: bool = False) -> Path:
    """The tiny model whose tokenizer and pretraining come from the dialogues of `data_file`.

    Only the file's `input` texts are read: its labels never reach the model before fine-tuning.
    """
    target = file_model_dir(workspace, data_file)
    if rebuild and is_built(target):
        shutil.rmtree(target)
    return _ensure(target, lambda: build_tiny_model(target, file_dialogues(data_file), steps=steps,
                                                    source=str(Path(data_file).resolve())))


def _ensure(target: Path, build) -> Path:
    if is_built(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f"{target.name}.lock")):
        if not is_built(target):
            for leftover in target.parent.glob(f".{target.name}.building-*"):
                shutil.rmtree(leftover, ignore_errors=True)
            build()
    return target
