"""Training throughput: the notebooks' batching against the lab's, same model, data and steps.

    python -m bench.train_throughput [--steps 8] [--warmup 2] [--hidden 512] [--layers 4]

(a) notebook recipe: Trainer's random order, DataCollatorForSeq2Seq(padding=True), batch 8.
(b) lab recipe: the same Trainer with core.train.batching's length-grouped order
(core.train.training.LabTrainer).
Both train the same freshly initialized bench-size Qwen2 model (the real Qwen vocabulary from
../shared/qwen-tokenizer when present, else the tiny model's) with the lab's default LoRA, on the
same rows (../shared real data when present, else the demo set) encoded by core.data.encoding.

Only the time inside optimizer steps is timed (Trainer callbacks), after `--warmup` untimed
steps; "real" tokens are the non-pad tokens of each batch. The last line is the ratio (b)/(a)
of real tokens per second.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time

# First: importing core sets the offline defaults that transformers reads when it is imported.
from core.env import REPO_ROOT

import torch
from transformers import (DataCollatorForSeq2Seq, PrinterCallback, Qwen2Config, Qwen2ForCausalLM, Trainer,
                          TrainerCallback, TrainingArguments)
from transformers.utils import logging as transformers_logging

from core.train.batching import EncodedDataset, make_collator
from core.config.schema import RunConfig
from core.train.training import LabTrainer, encode_records

SHARED = REPO_ROOT.parent / "shared"
QWEN_TOKENIZER = SHARED / "qwen-tokenizer"
REAL_DATA = SHARED / "data" / "fraud_dialogues" / "eval0902.jsonl"


def load_inputs(rows: int, seed: int):
    from core.env import workspace_dir
    from core.models import load_tokenizer
    from core.data.records import load_records

    workspace = workspace_dir()
    if QWEN_TOKENIZER.is_dir():
        tokenizer_source = str(QWEN_TOKENIZER)
    else:
        from core.demo.tiny_model import ensure_tiny_model

        tokenizer_source = str(ensure_tiny_model(workspace))
    if REAL_DATA.is_file():
        data_source = REAL_DATA
    else:
        from core.demo.dataset import ensure_demo_dataset

        data_source = ensure_demo_dataset(workspace)["train"]
    tokenizer = load_tokenizer(tokenizer_source)
    records = load_records(data_source, strict=False).records
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(len(records), generator=generator)[:rows].tolist()
    features = encode_records(tokenizer, [records[index] for index in chosen], RunConfig())
    features = [{key: value for key, value in feature.items() if key != "truncated"} for feature in features]
    return tokenizer, EncodedDataset(features), tokenizer_source, str(data_source)


def bench_model(tokenizer, hidden: int, layers: int, seed: int, device: str, dtype):
    from peft import LoraConfig, TaskType, get_peft_model

    torch.manual_seed(seed)
    heads = max(1, hidden // 64)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=hidden,
                         intermediate_size=hidden * 8 // 3 // 64 * 64,
                         num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=max(1, heads // 4), max_position_embeddings=4096,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id)
    model = Qwen2ForCausalLM(config).to(device=device, dtype=dtype)
    model.config.use_cache = False
    lora = RunConfig().lora
    peft_config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                             target_modules=list(lora.target_modules), task_type=TaskType.CAUSAL_LM)
    return get_peft_model(model, peft_config)


def matmul_weights(model) -> tuple[int, int]:
    """Multiply-accumulates per token of the Linear layers: (decoder body incl. LoRA, LM head).

    The embedding lookup does no arithmetic and is not counted; nor are attention scores.
    """
    head = model.get_output_embeddings()
    total = sum(module.in_features * module.out_features for module in model.modules()
                if isinstance(module, torch.nn.Linear))
    return total - head.in_features * head.out_features, head.in_features * head.out_features


class CountingCollator:
    """Wraps a collator to record each batch's real, padded and trained token counts, in order."""

    def __init__(self, collator):
        self.collator = collator
        self.batches: list[tuple[int, int, int]] = []

    def __call__(self, features):
        batch = self.collator(features)
        trained = int((batch["labels"][:, 1:] != -100).sum())
        self.batches.append((int(batch["attention_mask"].sum()), int(batch["input_ids"].numel()), trained))
        return batch


class StepTimer(TrainerCallback):
    def __init__(self):
        self.seconds: list[float] = []
        self.started = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds.append(time.perf_counter() - self.started)


def run_recipe(name: str, lab: bool, tokenizer, dataset, arguments, device, dtype,
               trained_logits_only: bool = True) -> dict:
    model = bench_model(tokenizer, arguments.hidden, arguments.layers, arguments.seed, device, dtype)
    if lab:
        collator = CountingCollator(make_collator(tokenizer, "causal-lm"))
    else:
        collator = CountingCollator(DataCollatorForSeq2Seq(tokenizer, padding=True))
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as output:
        args = TrainingArguments(output_dir=output, per_device_train_batch_size=arguments.batch_size,
                                 max_steps=arguments.warmup + arguments.steps, learning_rate=2e-4,
                                 save_strategy="no", eval_strategy="no", logging_steps=10_000, report_to=[],
                                 disable_tqdm=True, seed=arguments.seed, use_cpu=device == "cpu",
                                 bf16=dtype == torch.bfloat16, remove_unused_columns=False,
                                 dataloader_num_workers=0)
        trainer_class = LabTrainer if lab else Trainer
        extra = {"length_seed": arguments.seed, "trained_logits_only": trained_logits_only} if lab else {}
        trainer = trainer_class(model=model, args=args, data_collator=collator, train_dataset=dataset,
                                callbacks=[timer], **extra)
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    timed = slice(arguments.warmup, arguments.warmup + arguments.steps)
    real, padded, trained = (sum(batch[column] for batch in collator.batches[timed]) for column in range(3))
    seconds = sum(timer.seconds[timed])
    body, head = matmul_weights(model)
    result = {"name": name, "real": real, "padded": padded, "trained": trained, "seconds": seconds,
              "tokens_per_second": real / seconds, "body": body, "head": head,
              "parameters": sum(p.numel() for p in model.parameters()),
              # The arithmetic a run needs: the body on every real token, the LM head where a label is.
              "useful_macs": body * real + head * trained}
    print(f"{name}: {arguments.steps} steps, {real} real / {padded} padded / {trained} trained tokens "
          f"(padded/real {padded / real:.2f}), {seconds:.1f} s, {result['tokens_per_second']:.0f} real "
          "tokens/s",
          flush=True)
    del trainer, model
    return result


def matmul_flops(device: str, dtype, size: int, repeats: int = 5) -> float:
    """Best-of-three FLOP/s of a plain square torch.matmul in the training dtype."""
    left = torch.randn(size, size, device=device, dtype=dtype)
    right = torch.randn(size, size, device=device, dtype=dtype)
    torch.matmul(left, right)
    best = 0.0
    for _ in range(3):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(repeats):
            torch.matmul(left, right)
        if device == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * size ** 3 * repeats / (time.perf_counter() - started))
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="timed optimizer steps per recipe")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps before timing")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--rows", type=int, default=800, help="rows sampled from the data")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also run length grouping alone, with full logits, to split the gain")
    arguments = parser.parse_args(argv)
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    tokenizer, dataset, tokenizer_source, data_source = load_inputs(arguments.rows, arguments.seed)
    lengths = dataset.lengths
    print(f"device {device} ({torch.get_num_threads()} threads), {dtype}; tokenizer {tokenizer_source} "
          f"({len(tokenizer)} tokens); data {data_source}: {len(dataset)} rows, length mean "
          f"{sum(lengths) / len(lengths):.0f}, max {max(lengths)}", flush=True)
    size = 2048 if device == "cpu" else 8192
    peak_before = matmul_flops(device, dtype, size)
    notebook = run_recipe("(a) notebook: random order, DataCollatorForSeq2Seq(padding=True), full logits",
                          False, tokenizer, dataset, arguments, device, dtype)
    if arguments.breakdown:
        run_recipe("(b') lab batching only: length-grouped, full logits", True, tokenizer, dataset, arguments,
                   device, dtype, trained_logits_only=False)
    lab = run_recipe("(b) lab: length-grouped batches, logits only where a label is", True, tokenizer,
                     dataset, arguments, device, dtype)
    peak = max(peak_before, matmul_flops(device, dtype, size))
    print(f"model: {lab['parameters'] / 1e6:.1f}M parameters; per token {lab['body'] / 1e6:.1f}M "
          f"multiply-adds in the decoder's Linear layers (LoRA included) and {lab['head'] / 1e6:.1f}M in the "
          "LM head. Counted: FLOPs = factor x multiply-adds, the body on every real token, the head on "
          "every trained token (the work the run needs); embedding lookup and attention scores not counted")
    print(f"torch.matmul peak in this run: {peak / 1e9:.1f} GFLOP/s ({size}x{size} @ {size}x{size}, {dtype})")
    for result in (notebook, lab):
        for label, factor in (("6 x (full-training convention)", 6),
                              ("4 x (LoRA: no gradients of frozen weights)", 4)):
            achieved = factor * result["useful_macs"] / result["seconds"]
            print(f"{result['name'][:3]} model FLOP/s, {label}: {achieved / 1e9:.1f} GFLOP/s = "
                  f"{achieved / peak:.1%} of matmul peak")
    ratio = lab["tokens_per_second"] / notebook["tokens_per_second"]
    print(f"real tokens/s ratio (b)/(a): {ratio:.2f}")
    return 0 if math.isfinite(ratio) else 1


if __name__ == "__main__":
    sys.exit(main())
