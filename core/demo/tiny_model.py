"""A tiny Qwen2 base model with its own byte-level BPE tokenizer, built offline and seeded.

The lab, its tests and its demo need a real causal LM that loads through the same
`AutoTokenizer` / `AutoModelForCausalLM` calls as a hub Qwen2-Instruct model, yet trains in
seconds on a CPU. No such model may be downloaded, so one is built here: a BPE tokenizer trained
on the given texts with Qwen2's own pipeline (NFC, Qwen2 split regex, byte level) and ChatML
special tokens, and a few-million-parameter `Qwen2ForCausalLM` briefly pretrained on those texts
rendered as ChatML turns, so that it is a weak language model rather than noise. The pretraining
never sees a dialogue next to its label, so fine-tuning in the lab still has something to learn.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from core.env import apply_offline_defaults

apply_offline_defaults()

import torch  # noqa: E402
from filelock import FileLock  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers  # noqa: E402
from transformers import (  # noqa: E402
    GenerationConfig,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen2Tokenizer,
    get_cosine_schedule_with_warmup,
)

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

DEFAULT_STEPS = 200
DEFAULT_SEED = 42
BUILD_INFO_FILE = "build_info.json"


@dataclass(frozen=True)
class TinyModelShape:
    """Sizes of the tokenizer and network; the defaults give about 2 million parameters."""

    vocab_size: int = 8000
    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 512
    max_position_embeddings: int = 2048
    sequence_length: int = 256
    batch_size: int = 4
    learning_rate: float = 3e-3
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


def chatml_documents(tokenizer: Qwen2Tokenizer, texts: list[str]) -> list[str]:
    """Render each text as a ChatML conversation whose lines alternate user and assistant turns.

    Dialogue lines become turns so the model learns the ChatML frame it will be prompted with.
    """
    documents = []
    for text in texts:
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            continue
        messages = [
            {"role": "user" if index % 2 == 0 else "assistant", "content": line}
            for index, line in enumerate(lines)
        ]
        documents.append(tokenizer.apply_chat_template(messages, tokenize=False) + ENDOFTEXT)
    return documents


def packed_blocks(tokenizer: Qwen2Tokenizer, documents: list[str], length: int) -> torch.Tensor:
    """Concatenate the tokenized documents and cut them into blocks of `length` tokens."""
    stream = [token for ids in tokenizer(documents)["input_ids"] for token in ids]
    count = len(stream) // length
    if count == 0:
        raise ValueError(f"texts give {len(stream)} tokens, fewer than one block of {length}")
    return torch.tensor(stream[: count * length], dtype=torch.long).view(count, length)


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
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_ids,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos_ids, pad_token_id=tokenizer.pad_token_id, do_sample=False)
    return model


def pretrain(model: Qwen2ForCausalLM, blocks: torch.Tensor, steps: int, shape: TinyModelShape, seed: int) -> list[float]:
    """Causal-LM pretraining over shuffled blocks; returns the loss of every step.

    A plain loop rather than `Trainer`: it needs no checkpoints, logging, evaluation or output
    folder, and the build must stay within seconds, where Trainer's setup alone costs several.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=shape.learning_rate, weight_decay=0.01)
    schedule = get_cosine_schedule_with_warmup(optimizer, min(shape.warmup_steps, steps), steps)
    order = torch.empty(0, dtype=torch.long)
    losses = []
    model.train()
    for _ in range(steps):
        if len(order) < shape.batch_size:
            order = torch.cat([order, torch.randperm(len(blocks), generator=generator)])
        batch, order = blocks[order[: shape.batch_size]], order[shape.batch_size :]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    return losses


def training_threads() -> int:
    """Torch threads for pretraining: as many as there are idle cores, at least one.

    Measured on 2 cores: idle, 2 threads train 1.9x faster than 1; with other processes busy,
    2 threads run 2.5-5x slower than 1, since every parallel region waits for a descheduled
    thread. The weights do not depend on the thread count (checked byte for byte).
    """
    try:
        idle = (os.cpu_count() or 1) - os.getloadavg()[0]
    except OSError:  # no load average on this platform
        return torch.get_num_threads()
    return max(1, min(torch.get_num_threads(), round(idle)))


def build_tiny_model(
    out_dir: Path,
    texts: list[str] | None = None,
    *,
    seed: int = DEFAULT_SEED,
    steps: int = DEFAULT_STEPS,
    shape: TinyModelShape = TinyModelShape(),
) -> Path:
    """Build tokenizer + model into `out_dir` (replacing it); returns `out_dir`.

    `texts` defaults to the demo dataset's texts. Everything is written into a temporary sibling
    folder that is renamed into place last, so an interrupted build never leaves a half model.
    """
    out_dir = Path(out_dir)
    if texts is None:
        texts = demo_texts()
    if not texts:
        raise ValueError("build_tiny_model: no texts to train the tokenizer and model on")
    if steps < 1:
        raise ValueError(f"build_tiny_model: steps must be at least 1, got {steps}")
    started = time.perf_counter()
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(texts, shape.vocab_size)
    blocks = packed_blocks(tokenizer, chatml_documents(tokenizer, texts), shape.sequence_length)
    torch.manual_seed(seed)
    model = new_model(tokenizer, shape)
    threads_before, threads = torch.get_num_threads(), training_threads()
    torch.set_num_threads(threads)
    try:
        losses = pretrain(model, blocks, steps, shape, seed)
    finally:
        torch.set_num_threads(threads_before)
    tail = losses[-min(10, len(losses)) :]
    info = {
        "seed": seed,
        "steps": steps,
        "loss_start": losses[0],
        "loss_end": sum(tail) / len(tail),
        "loss_uniform": math.log(len(tokenizer)),
        "losses": [round(loss, 4) for loss in losses],
        "parameters": model.num_parameters(),
        "vocab_size": len(tokenizer),
        "corpus_tokens": blocks.numel(),
        "trained_tokens": steps * shape.batch_size * shape.sequence_length,
        "texts": len(texts),
        "shape": asdict(shape),
        "torch_threads": threads,
        "seconds": 0.0,
    }
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tokenizer.save_pretrained(staging)
        model.save_pretrained(staging, safe_serialization=True)
        info["seconds"] = round(time.perf_counter() - started, 2)
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


def demo_texts(seed: int = DEFAULT_SEED, size: int = 2000) -> list[str]:
    """Texts of the demo dataset: dialogues, the default instructions and every answer, so that
    the tokens of prompts and of `{"is_fraud": true}` answers are in the vocabulary."""
    from core.data.answers import answer_text
    from core.demo.dataset import generate_demo
    from core.data.encoding import DEFAULT_INSTRUCTION, DEFAULT_INSTRUCTION_WITH_REASON
    from core.data.records import Record

    rows = [row for split in generate_demo(seed=seed, size=size).values() for row in split]
    records = [
        Record(input=row["input"], label=bool(row["label"]), fraud_speaker=row.get("fraud_speaker", ""), reason=row.get("reason", ""))
        for row in rows
    ]
    texts = [record.input for record in records]
    texts += sorted({row["instruction"] for row in rows if row.get("instruction")})
    texts += [DEFAULT_INSTRUCTION, DEFAULT_INSTRUCTION_WITH_REASON]
    texts += [answer_text(record, with_reason=True) for record in records]
    texts += [answer_text(Record(input="", label=value), with_reason=False) for value in (True, False)]
    return texts


def is_built(path: Path) -> bool:
    return (Path(path) / BUILD_INFO_FILE).is_file()


def ensure_tiny_model(workspace: Path, *, steps: int = DEFAULT_STEPS) -> Path:
    """Return `workspace/cache/tiny-model`, building it from the demo texts if it is missing.

    A file lock makes concurrent callers (lab page, job processes) wait for one build.
    `steps` only matters when a build happens (tests build shorter ones).
    """
    from core.workspace import Workspace

    target = Workspace(workspace).tiny_model_dir
    if is_built(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / "tiny-model.lock")):
        if not is_built(target):
            for leftover in target.parent.glob(f".{target.name}.building-*"):
                shutil.rmtree(leftover, ignore_errors=True)
            build_tiny_model(target, steps=steps)
    return target
