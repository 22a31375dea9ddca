"""Training runs: LoRA / QLoRA / full fine-tuning of a causal LM or a 2-way classifier head.

core.train.submit validates a RunConfig and submits it as a job (its own OS process, see
core.jobs.registry); the job process calls `run_training_job`, which trains with transformers' Trainer.
A run folder ends up with:
    config.yaml, log.txt, metrics.jsonl, checkpoints/checkpoint-N/ (resumable Trainer state),
    adapter/ (LoRA, a PEFT adapter + tokenizer) or model/ (full), fraud_lab_run.json (what the
    evaluation needs to rebuild the prompts and check the base), summary.json, reference_logits.
"""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, TrainingArguments, set_seed

from core.train.batching import (IGNORE_INDEX, EncodedDataset, LengthGroupedSampler, make_collator,
                                 padding_stats)
from core.config.checks import data_file
from core.config.schema import EPOCH, ConfigError, RunConfig, encode_options
from core.config.text import config_from_dict, save_config
from core.data.encoding import encode, encode_prompt
from core.data.mapping import mapping_of
from core.env import idle_cpu_threads, is_main_process, workspace_dir
from core.jobs.kinds import CONFIG_GPUS, register_job_kind
from core.train.submit import TRAIN
from core.config.schema import DEFAULT_TARGET_MODULES
from core.models import (ENCODER_TARGET_MODULES, default_precision, is_encoder, load_causal_lm,
                         load_sequence_classifier, load_tokenizer, model_fingerprint, pick_device, pick_dtype,
                         resolve_model_path)
from core.data.records import Problem, Record, load_records
from core.train.callbacks import MetricsFileCallback, StopOnRequestCallback, truncate_metrics
from core.workspace import RunDir, write_text

REFERENCE_POSITIONS = 4  # last positions of the reference input whose logits are kept


# -- the job ---------------------------------------------------------------------------------------
def run_training_job(run_dir: Path, config: dict, context) -> dict:
    """Entry point of a `train` job (TRAIN_KIND, below)."""
    from transformers.utils import logging as transformers_logging

    # log.txt is read by people: no progress bars drawn with carriage returns, no deprecation
    # notices about peft's internals.
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    run_dir = Path(run_dir)
    cfg = config_from_dict(config)
    workspace = Path(context.registry.workspace) if context is not None else workspace_dir()
    if is_main_process() and not RunDir(run_dir).config_file.is_file():
        save_config(cfg, RunDir(run_dir).config_file)
    return train_run(cfg, run_dir, workspace, resume=bool(context is not None and context.resume))


TRAIN_KIND = register_job_kind(TRAIN, run_training_job, gpus=CONFIG_GPUS)


@dataclass
class Prepared:
    """Everything a run needs before the Trainer: built once, usable by K-fold and sweeps."""
    cfg: RunConfig
    model_path: str
    tokenizer: object
    device: str
    precision: str
    dtype: torch.dtype


def prepare(cfg: RunConfig, workspace: Path) -> Prepared:
    device = pick_device(cfg.train.device)
    precision = default_precision(device) if cfg.train.precision == "auto" else cfg.train.precision
    dtype = pick_dtype(precision, device)
    model_path = resolve_model_path(cfg.model, workspace)
    tokenizer = load_tokenizer(model_path, trust_remote_code=cfg.trust_remote_code)
    if is_encoder(model_path) and cfg.head != "seq-cls":
        raise ConfigError("head", f"{cfg.model} is an encoder (no answer to generate): use head=seq-cls")
    return Prepared(cfg, model_path, tokenizer, device, precision, dtype)


SHOWN_PROBLEMS = 100  # skipped-row problems kept in a summary; the log lists the first ones too


def load_run_file(path: Path, cfg: RunConfig) -> tuple[list[Record], list[Problem]]:
    """The good rows of a data file and the problems of the rows left out (data.bad_rows=skip).

    Skipped rows are printed as a WARNING block, which log.txt keeps and `train_and_wait` echoes.
    """
    result = load_records(path, strict=cfg.data.bad_rows == "error", mapping=mapping_of(cfg.data))
    if result.warnings:
        print(f"WARNING: {len(result.warnings)} value(s) of {path} were cleaned:", flush=True)
        for warning in result.warnings[:SHOWN_PROBLEMS]:
            print(f"  {warning}", flush=True)
    if result.problems:
        print(f"WARNING (data.bad_rows=skip): {result.skipped_text(str(path))}", flush=True)
    return result.records, result.problems


def skipped_summary(problems: list[Problem]) -> dict:
    """The summary's account of skipped rows: how many, and the first problems by file/line/field."""
    return {"skipped_rows": len({(problem.file, problem.line) for problem in problems}),
            "skipped_problems": [problem.to_dict() for problem in problems[:SHOWN_PROBLEMS]]}


def load_run_records(cfg: RunConfig, run_dir: Path,
                     workspace: Path) -> tuple[list[Record], list[Record], list[Problem]]:
    """Training and validation records (a saved stratified split without a validation file), and
    the problems of the rows skipped in either file."""
    from core.data.splits import Splits, split_records

    train_path = data_file(cfg.data.train, "train", workspace)
    train, skipped = load_run_file(train_path, cfg)
    validation_path = data_file(cfg.data.validation, "validation", workspace)
    if validation_path is not None:
        validation, validation_skipped = load_run_file(validation_path, cfg)
        return train, validation, skipped + validation_skipped
    if cfg.data.validation_split <= 0:
        return train, [], skipped
    split_file = RunDir(run_dir).split_file
    if split_file.is_file():
        # A resumed run must hold out exactly the rows the first attempt held out.
        splits = Splits.load(split_file)
    else:
        splits = split_records(train, validation=cfg.data.validation_split, test=0.0, seed=cfg.train.seed,
                               source=str(train_path))
        if is_main_process():
            splits.save(split_file)
    return splits.select(train, "train"), splits.select(train, "validation"), skipped


def encode_records(tokenizer, records: list[Record], cfg: RunConfig) -> list[dict]:
    """Causal LM: prompt + answer, labels -100 on the prompt. Classifier: the prompt, label 0/1."""
    options = encode_options(cfg)
    features = []
    for record in records:
        if cfg.head == "seq-cls":
            encoded = encode_prompt(tokenizer, record, options)
            features.append({"input_ids": encoded.input_ids, "attention_mask": encoded.attention_mask,
                             "labels": int(record.label)})
        else:
            encoded = encode(tokenizer, record, options)
            features.append({"input_ids": encoded.input_ids, "attention_mask": encoded.attention_mask,
                             "labels": encoded.labels})
        features[-1]["truncated"] = encoded.truncated
    return features


def _strip(features: list[dict]) -> list[dict]:
    return [{key: value for key, value in feature.items() if key != "truncated"} for feature in features]


def build_model(prepared: Prepared, init_adapter: str | Path | None = None):
    """The network to train: base (+ LoRA, or quantized + LoRA), trainable parameters set."""
    cfg = prepared.cfg
    full = cfg.method == "full"
    # Full fine-tuning keeps fp32 master weights (mixed precision autocasts the compute);
    # LoRA trains only small fp32 adapters, so the frozen base can sit in the low precision.
    dtype = torch.float32 if full else prepared.dtype
    if cfg.method == "qlora":
        model = _load_quantized(prepared)
    elif cfg.head == "seq-cls":
        model = load_sequence_classifier(prepared.model_path, prepared.tokenizer, dtype, prepared.device,
                                         cfg.trust_remote_code, tuple(cfg.data.label_names))
    else:
        model = load_causal_lm(prepared.model_path, dtype, prepared.device, cfg.trust_remote_code)
    model.config.use_cache = False  # the KV cache is useless in training and conflicts with checkpointing
    if full:
        return model
    from peft import LoraConfig, PeftModel, TaskType, get_peft_model

    if init_adapter is not None:
        return PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True)
    seq_cls = cfg.head == "seq-cls"
    lora = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=lora_targets(model, cfg.lora.target_modules),
                      task_type=TaskType.SEQ_CLS if seq_cls else TaskType.CAUSAL_LM,
                      # The new classifier head has no pretrained weights: it must train in full.
                      modules_to_save=classifier_head(model) if seq_cls else None)
    try:
        return get_peft_model(model, lora)
    except ValueError as error:
        linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                         if isinstance(module, torch.nn.Linear)})
        raise ConfigError("lora.target_modules", f"{error}; linear modules of this model: "
                          f"{', '.join(linear)}") from None


def classifier_head(model) -> list[str]:
    """The classifier head's module name: `score` in decoder classifiers, `classifier` in encoders."""
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    return [name for name in ("score", "classifier") if name in names][:1] or ["score"]


def lora_targets(model, targets) -> list[str]:
    """The target modules, less the input embedding of a model that ties it to its output layer:
    merging an embedding update there would change the output layer too, which training did not.
    An encoder given the decoder defaults (none of which it has) gets its own attention projections."""
    targets = list(targets)
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    if is_encoder(model.config) and not names & set(targets) and set(targets) <= set(DEFAULT_TARGET_MODULES):
        targets = [name for name in ENCODER_TARGET_MODULES if name in names]
        print(f"LoRA on the encoder's {', '.join(targets)} (the decoder module names are not in it)",
              flush=True)
    if not getattr(model.config, "tie_word_embeddings", False):
        return targets
    embeddings = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                  if isinstance(module, torch.nn.Embedding)}
    kept = [target for target in targets if target not in embeddings]
    if len(kept) < len(targets):
        print(f"LoRA leaves out {', '.join(sorted(set(targets) - set(kept)))}: this model ties its embedding "
              "to its output layer", flush=True)
    return kept


def _load_quantized(prepared: Prepared):
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, BitsAndBytesConfig

    cfg = prepared.cfg
    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                      bnb_4bit_compute_dtype=prepared.dtype, bnb_4bit_use_double_quant=True)
    common = dict(quantization_config=quantization, dtype=prepared.dtype, use_safetensors=True,
                  trust_remote_code=cfg.trust_remote_code, device_map={"": torch.cuda.current_device()})
    if cfg.head == "seq-cls":
        model = AutoModelForSequenceClassification.from_pretrained(
            prepared.model_path, num_labels=len(cfg.data.label_names) or 2, **common)
        model.config.pad_token_id = prepared.tokenizer.pad_token_id
    else:
        model = AutoModelForCausalLM.from_pretrained(prepared.model_path, **common)
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.train.gradient_checkpointing,
                                           gradient_checkpointing_kwargs={"use_reentrant": False})


class LabTrainer(Trainer):
    """Trainer that spends no compute on padding nor on logits that no label reads.

    - Training batches are length-grouped, in an order fixed by (seed, epoch).
    - Causal LM (`trained_logits_only`): the vocabulary projection runs only at positions whose
      next token is trained (the answer), via the model's own `logits_to_keep` boolean mask. The
      prompt is ~95% of a row and its labels are -100, so computing its logits (vocabulary-wide:
      151k columns for Qwen) only to discard them is most of the LM head's time and memory.
      The loss is the same token-level cross-entropy the model computes itself.
    """

    def __init__(self, *args, length_seed: int = 42, trained_logits_only: bool = False, **kwargs):
        self.length_seed = length_seed
        self.trained_logits_only = trained_logits_only
        super().__init__(*args, **kwargs)

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        return LengthGroupedSampler(dataset.lengths, self._train_batch_size, seed=self.length_seed)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not self.trained_logits_only or "labels" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        targets = labels[:, 1:]  # position t predicts the token at t + 1
        # The positions where any row of the batch has a label (a 1-D index, which every
        # transformers 5 release accepts); length-grouped rows put their answers side by side.
        positions = (targets != IGNORE_INDEX).any(dim=0).nonzero().squeeze(-1)
        outputs = model(**inputs, logits_to_keep=positions)
        logits = outputs.logits.float()
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 targets[:, positions].reshape(-1), reduction="sum")
        if num_items_in_batch is not None:
            # Normalized over the whole accumulated batch, as the model's own loss does.
            loss = loss / num_items_in_batch
            if self.args.average_tokens_across_devices:  # as Trainer.compute_loss does
                scale = self.accelerator.num_processes // self.get_tp_size()
                loss = loss * (scale if self.args.n_gpu <= 1 else self.args.n_gpu)
            self.loss_is_scaled_for_ga = True
        else:
            loss = loss / (targets != IGNORE_INDEX).sum().clamp(min=1)
            self.loss_is_scaled_for_ga = False
        return (loss, outputs) if return_outputs else loss


# transformers 5.24 renamed gradient_checkpointing to activation_checkpointing (the old name is a
# deprecated alias); GPU images may carry an earlier 5.x that knows only the old name.
_CHECKPOINTING = ("activation_checkpointing" if "activation_checkpointing" in
                  {spec.name for spec in dataclasses.fields(TrainingArguments)} else "gradient_checkpointing")


def _interval(value) -> dict:
    if value == EPOCH:
        return {"strategy": "epoch", "steps": None}
    if not value:
        return {"strategy": "no", "steps": None}
    return {"strategy": "steps", "steps": int(value)}


def training_arguments(prepared: Prepared, run_dir: Path, has_eval: bool) -> TrainingArguments:
    cfg, train = prepared.cfg, prepared.cfg.train
    evaluation = _interval(train.eval_every) if has_eval else _interval(0)
    saving = _interval(train.save_every)
    best = train.early_stopping_patience > 0 and evaluation["strategy"] != "no"
    if best:
        # Keeping the best model means a checkpoint at every evaluation.
        saving = evaluation
    report = [] if train.report_to == "none" else [train.report_to]
    return TrainingArguments(
        output_dir=str(RunDir(run_dir).checkpoints_dir),
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.batch_size,
        gradient_accumulation_steps=train.grad_accum,
        num_train_epochs=train.epochs,
        max_steps=train.max_steps,
        learning_rate=train.learning_rate,
        lr_scheduler_type=train.scheduler,
        warmup_steps=train.warmup_ratio,  # transformers 5: a float below 1 is a ratio of the steps
        weight_decay=train.weight_decay,
        eval_strategy=evaluation["strategy"],
        eval_steps=evaluation["steps"],
        save_strategy=saving["strategy"],
        save_steps=saving["steps"] or 500,
        save_total_limit=2,
        load_best_model_at_end=best,
        metric_for_best_model="eval_loss" if best else None,
        greater_is_better=False if best else None,
        logging_strategy="steps",
        logging_steps=train.logging_steps,
        logging_first_step=True,
        **{_CHECKPOINTING: train.gradient_checkpointing and cfg.method != "qlora",
           f"{_CHECKPOINTING}_kwargs": {"use_reentrant": False} if train.gradient_checkpointing else None},
        bf16=prepared.precision == "bf16",
        fp16=prepared.precision == "fp16",
        use_cpu=prepared.device == "cpu",
        seed=train.seed,
        report_to=report,
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def settle_torch_threads(run: RunDir, device: str) -> int:
    """Set torch's CPU thread count explicitly, the same on every attempt of a run; returns it.

    torch.set_num_threads also turns MKL's dynamic threading off, and MKL left dynamic picks its
    own thread count per matrix product, summing in another order; a different thread count sums
    in another order too. A resume must give the model an uninterrupted run gives, so the count
    chosen at the first start (on a CPU: the idle cores, since on a shared CPU threads beyond them
    wait on each other at every parallel region) is saved in the run folder and reused.
    """
    try:
        threads = int(run.threads_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        threads = torch.get_num_threads()
        if device == "cpu":
            threads = idle_cpu_threads(threads)
        if is_main_process():
            write_text(run.threads_file, f"{threads}\n")
    torch.set_num_threads(threads)
    return threads


CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")
TRAINER_STATE = "trainer_state.json"


def latest_complete_checkpoint(checkpoints: Path, tidy: bool = False) -> str | None:
    """The newest checkpoint-N folder that is complete, or None.

    The Trainer writes trainer_state.json last, so a folder without a readable one was cut by a
    kill while it was being saved, and resuming from it fails ("Can't find a valid checkpoint").
    With `tidy` such folders newer than the one returned are removed (by the main process), so
    neither the Trainer's rotation nor a later resume meets them again.
    """
    if not checkpoints.is_dir():
        return None
    found = sorted(((int(match.group(1)), path) for path in checkpoints.iterdir()
                    if path.is_dir() and (match := CHECKPOINT_NAME.match(path.name))), reverse=True)
    for _, path in found:
        try:
            json.loads((path / TRAINER_STATE).read_text(encoding="utf-8"))
            return str(path)
        except (OSError, ValueError):
            if tidy:
                print(f"{path.name} is incomplete (cut while it was being saved): removed", flush=True)
                shutil.rmtree(path, ignore_errors=True)
    return None


def _checkpoint_step(checkpoint: str | None) -> int:
    return int(Path(checkpoint).name.rsplit("-", 1)[-1]) if checkpoint else 0


def train_run(cfg: RunConfig, run_dir: Path, workspace: Path, *, resume: bool = False,
              fold: int | None = None, records: tuple[list[Record], list[Record]] | None = None,
              init_adapter: str | Path | None = None) -> dict:
    """Train one model into run_dir and return its summary.

    `records` (train, validation) and `init_adapter` let K-fold drive folds through this function;
    `fold` is written on every metrics line.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.train.seed)
    started, cpu_started = time.monotonic(), time.process_time()
    prepared = prepare(cfg, workspace)
    settle_torch_threads(RunDir(run_dir), prepared.device)
    if records is not None:
        (train_records, eval_records), skipped = records, []
    else:
        train_records, eval_records, skipped = load_run_records(cfg, run_dir, workspace)
    train_features = encode_records(prepared.tokenizer, train_records, cfg)
    eval_features = encode_records(prepared.tokenizer, eval_records, cfg)
    truncated = sum(feature["truncated"] for feature in train_features)
    train_dataset = EncodedDataset(_strip(train_features))
    # Evaluation order does not matter to its loss, so rows go shortest first: least padding.
    eval_dataset = EncodedDataset(sorted(_strip(eval_features),
                                         key=lambda feature: len(feature["input_ids"])))
    print(f"model {prepared.model_path} ({cfg.head}, {cfg.method}) on {prepared.device}, "
          f"{prepared.precision}; {len(train_dataset)} training rows ({truncated} shortened to "
          f"{cfg.data.max_length} tokens), {len(eval_dataset)} validation rows", flush=True)

    run = RunDir(run_dir)
    if run.stop_requested():  # asked while the data was encoding: nothing trained, nothing to save
        return {"stopped": True, "steps": 0, "total_steps": None, "checkpoint": None}
    set_seed(cfg.train.seed)  # the same LoRA init whatever encoding consumed from the RNG
    model = build_model(prepared, init_adapter)
    if hasattr(model, "print_trainable_parameters"):
        model.print_trainable_parameters()
    args = training_arguments(prepared, run_dir, has_eval=len(eval_dataset) > 0)

    checkpoint = None
    elapsed_before = 0.0
    if resume:
        checkpoint = latest_complete_checkpoint(run.checkpoints_dir, tidy=is_main_process())
        if is_main_process():
            elapsed_before = truncate_metrics(run_dir, _checkpoint_step(checkpoint))
        print(f"resuming from {checkpoint}" if checkpoint else "no checkpoint to resume from: starting over",
              flush=True)
    metrics_callback = MetricsFileCallback(run_dir, fold=fold, elapsed_before=elapsed_before)
    stop_callback = StopOnRequestCallback(run_dir)
    callbacks = [metrics_callback, stop_callback]
    if args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.train.early_stopping_patience))
    trainer = LabTrainer(model=model, args=args, data_collator=make_collator(prepared.tokenizer, cfg.head),
                         train_dataset=train_dataset,
                         eval_dataset=eval_dataset if len(eval_dataset) else None,
                         processing_class=prepared.tokenizer, callbacks=callbacks, length_seed=cfg.train.seed,
                         trained_logits_only=cfg.head == "causal-lm")
    trainer.remove_callback(PrinterCallback)  # MetricsFileCallback prints a readable line instead
    output = trainer.train(resume_from_checkpoint=checkpoint)
    state = trainer.state
    if stop_callback.stopped_at is not None:
        return {"stopped": True, "steps": state.global_step, "total_steps": state.max_steps,
                "checkpoint": latest_complete_checkpoint(run.checkpoints_dir)}

    if len(eval_dataset) and not args.load_best_model_at_end:
        last_eval = metrics_callback.last_eval_line
        if last_eval is None or last_eval["step"] != state.global_step:
            trainer.evaluate()  # the summary's eval_loss is always the final model's
    if not trainer.is_world_process_zero():
        return {"stopped": False, "steps": state.global_step, "total_steps": state.max_steps}
    trained = trainer.model
    output_dir = save_outputs(trained, prepared, run_dir, state.global_step)
    save_reference_logits(trained, train_dataset, eval_dataset, run_dir)
    lines = run.read_metrics()
    train_lines = [line for line in lines if line["kind"] == "train"]
    eval_lines = [line for line in lines if line["kind"] == "eval"]
    speeds = [line["tokens_per_second"] for line in train_lines if line["tokens_per_second"]]
    sampler = LengthGroupedSampler(train_dataset.lengths, args.per_device_train_batch_size,
                                   seed=cfg.train.seed)
    summary = {
        "stopped": False,
        "train_loss": train_lines[-1]["loss"] if train_lines else None,
        # With early stopping the saved model is the best checkpoint, so its loss is the one to report.
        "eval_loss": state.best_metric if args.load_best_model_at_end else (
            eval_lines[-1]["eval_loss"] if eval_lines else None),
        "best_eval_loss": min(line["eval_loss"] for line in eval_lines) if eval_lines else None,
        # From the evaluations themselves: Trainer records a best checkpoint only when it loads the best
        # model at the end, so best_step was null although best_eval_loss came from a known step.
        "best_step": min(eval_lines, key=lambda line: line["eval_loss"])["step"] if eval_lines else None,
        "early_stopped": state.global_step < state.max_steps,
        "steps": state.global_step,
        "total_steps": state.max_steps,
        "seconds": round(elapsed_before + time.monotonic() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),  # this attempt's process only
        "train_seconds": round(output.metrics.get("train_runtime", 0.0), 1),
        "tokens_per_second": round(sum(speeds) / len(speeds), 1) if speeds else None,
        "real_tokens": state.num_input_tokens_seen,
        "train_rows": len(train_dataset),
        "eval_rows": len(eval_dataset),
        "truncated_rows": truncated,
        "padded_per_real": round(padding_stats(train_dataset.lengths, sampler.batches())["padded_per_real"],
                                 4),
        "output": str(output_dir.relative_to(run_dir)),
        "fold": fold,
        **(skipped_summary(skipped) if records is None else {}),
    }
    run.write_summary(summary)
    print(f"finished: {json.dumps(summary)}", flush=True)
    return summary


def save_outputs(model, prepared: Prepared, run_dir: Path, steps: int) -> Path:
    """adapter/ or model/ (+ tokenizer), then fraud_lab_run.json naming the base and the prompt."""
    cfg = prepared.cfg
    output_dir = RunDir(run_dir).output_dir(cfg.method)
    model.save_pretrained(str(output_dir))
    prepared.tokenizer.save_pretrained(str(output_dir))
    info = {
        "base_model": prepared.model_path,
        "model": cfg.model,
        "model_fingerprint": model_fingerprint(prepared.model_path),
        "head": cfg.head,
        "method": cfg.method,
        "output": output_dir.name,
        "with_reason": cfg.data.with_reason,
        "instruction": cfg.data.instruction or None,
        "system": cfg.data.system,
        "prompt_template": cfg.data.prompt_template or None,
        "max_length": cfg.data.max_length,
        "truncation": cfg.data.truncation,
        "text_column": cfg.data.text_column,
        "label_column": cfg.data.label_column,
        "label_names": list(cfg.data.label_names),
        "trust_remote_code": cfg.trust_remote_code,
        "steps": steps,
        "created": datetime.now().isoformat(timespec="seconds"),
    }
    RunDir(run_dir).write_run_info(info)
    return output_dir


@torch.no_grad()
def save_reference_logits(model, train_dataset: EncodedDataset, eval_dataset: EncodedDataset, run_dir: Path):
    """Logits of one fixed row from the trained model in memory: a reloaded adapter must match them."""
    from safetensors.torch import save_file

    dataset = eval_dataset if len(eval_dataset) else train_dataset
    input_ids = torch.tensor([dataset[0]["input_ids"]], device=model.device)
    was_training = model.training
    model.eval()
    logits = model(input_ids=input_ids).logits.float()
    if logits.dim() == 3:
        logits = logits[:, -REFERENCE_POSITIONS:, :]
    model.train(was_training)
    save_file({"input_ids": input_ids.cpu().contiguous(), "logits": logits.cpu().contiguous()},
              str(RunDir(run_dir).reference_file))
