"""Training on the tiny model: a real job stopped and resumed, seq-cls, full fine-tuning, export."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from core.train.batching import EncodedDataset, LengthGroupedSampler, make_collator, random_batches
from core.config.schema import RunConfig
from core.config.text import apply_overrides
from core.train.callbacks import METRIC_FIELDS
from core.workspace import RunDir

MAX_STEPS = 16
LOGGING_STEPS = 2


def _subset(source: Path, target: Path, rows: int) -> Path:
    lines = source.read_text(encoding="utf-8").splitlines()[:rows]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def small_data(demo_splits, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("small-data")
    return {"train": _subset(demo_splits["train"], folder / "train.jsonl", 96),
            "validation": _subset(demo_splits["validation"], folder / "validation.jsonl", 16)}


def small_config(small_data: dict, *overrides: str) -> RunConfig:
    return apply_overrides(RunConfig(), [
        f"data.train={small_data['train']}", f"data.validation={small_data['validation']}", "data.test=",
        "data.max_length=192", "train.batch_size=4", f"train.max_steps={MAX_STEPS}",
        "train.learning_rate=1e-3",
        "train.warmup_ratio=0", f"train.logging_steps={LOGGING_STEPS}", "train.eval_every=8",
        "train.save_every=8", *overrides])


@pytest.fixture(scope="module")
def lora_run(session_workspace, tiny_model_dir, small_data) -> dict:
    """One LoRA job in its own process, stopped mid-way by a STOP request, then resumed."""
    from core.jobs.registry import JobRegistry
    from core.train.submit import start_training

    registry = JobRegistry(session_workspace)
    job = start_training(small_config(small_data), session_workspace, registry)
    deadline = time.monotonic() + 240
    while not any(line["kind"] == "train" and line["step"] >= 4
                  for line in RunDir(job.run_dir).read_metrics()):
        job = registry.get(job.id)
        assert not job.is_final, f"job ended {job.status} before it could be stopped: {job.error}"
        assert time.monotonic() < deadline, registry.log_tail(job.id)
        time.sleep(0.2)
    registry.stop(job.id)
    stopped = registry.wait(job.id, timeout=180)
    checkpoints_at_stop = sorted(path.name for path in (job.run_dir / "checkpoints").iterdir())
    lines_at_stop = RunDir(job.run_dir).read_metrics()
    registry.resume(job.id)
    finished = registry.wait(job.id, timeout=300)
    assert finished.status == "finished", registry.log_tail(job.id, 60)
    return {"stopped": stopped, "finished": finished, "run_dir": job.run_dir,
            "lines": RunDir(job.run_dir).read_metrics(),
            "lines_at_stop": lines_at_stop, "checkpoints_at_stop": checkpoints_at_stop,
            "base": str(tiny_model_dir)}


def test_a_stopped_job_ends_stopped_with_a_checkpoint(lora_run):
    stopped = lora_run["stopped"]
    assert stopped.status == "stopped" and stopped.summary["stopped"] is True
    step = stopped.summary["steps"]
    assert 4 <= step < MAX_STEPS
    assert f"checkpoint-{step}" in lora_run["checkpoints_at_stop"]
    assert not (lora_run["run_dir"] / "STOP").exists()  # resume removed it


def test_resumed_job_finishes_at_max_steps_without_duplicate_or_missing_lines(lora_run):
    assert lora_run["finished"].summary["steps"] == MAX_STEPS
    train_steps = [line["step"] for line in lora_run["lines"] if line["kind"] == "train"]
    # logging_first_step gives step 1, then every LOGGING_STEPS steps, across the stop.
    assert train_steps == [1] + list(range(LOGGING_STEPS, MAX_STEPS + 1, LOGGING_STEPS))
    eval_steps = [line["step"] for line in lora_run["lines"] if line["kind"] == "eval"]
    assert eval_steps == sorted(set(eval_steps)) and eval_steps[-1] == MAX_STEPS
    assert set(eval_steps) >= {8, 16}
    elapsed = [line["elapsed"] for line in lora_run["lines"]]
    assert elapsed == sorted(elapsed)  # the clock carries on over the resume
    # Lines up to the checkpoint are kept as they were; the resumed run appends after them.
    stop_step = lora_run["stopped"].summary["steps"]
    kept = [line for line in lora_run["lines_at_stop"] if line["step"] <= stop_step]
    assert kept and lora_run["lines"][:len(kept)] == kept


def test_resume_is_exact_an_uninterrupted_run_ends_with_the_same_model(lora_run, session_workspace):
    # The data order is a function of (seed, epoch) and the checkpoint holds optimizer, scheduler
    # and RNG state, so stopping and resuming must not change a single weight.
    # The uninterrupted run is a job too: both runs then compute in a fresh process. This test
    # process built the tiny model, and torch.set_num_threads (which the build calls) also turns
    # MKL's dynamic threading off, which moves results in the last bit of float32.
    from core.config.text import load_config
    from core.jobs.registry import JobRegistry
    from core.train.submit import start_training

    run_dir = lora_run["run_dir"]
    registry = JobRegistry(session_workspace)
    started = start_training(load_config(run_dir / "config.yaml"), session_workspace, registry)
    straight = registry.wait(started.id, timeout=600)
    assert straight.status == "finished", registry.log_tail(straight.id, 40)
    assert straight.summary["train_loss"] == lora_run["finished"].summary["train_loss"]
    torch.testing.assert_close(_reference(straight.run_dir)["logits"], _reference(run_dir)["logits"],
                               atol=0, rtol=0)


def test_a_run_killed_while_saving_a_checkpoint_resumes_from_the_last_complete_one(session_workspace,
                                                                                   small_data):
    import os
    import signal

    from core.jobs.registry import JobRegistry
    from core.train.submit import start_training

    registry = JobRegistry(session_workspace)
    job = start_training(small_config(small_data, "train.save_every=4"), session_workspace, registry)
    deadline = time.monotonic() + 240
    while not any(line["step"] >= 9 for line in RunDir(job.run_dir).read_metrics()):  # checkpoints 4, 8
        assert not registry.get(job.id).is_final and time.monotonic() < deadline, registry.log_tail(job.id)
        time.sleep(0.1)
    os.kill(registry.get(job.id).pid, signal.SIGKILL)
    assert registry.wait(job.id, timeout=60).status == "failed"
    # A kill during the save of checkpoint-8 leaves its folder without trainer_state.json (the
    # Trainer writes it last) and with files cut short: made here, since a kill cannot be timed
    # into a save that lasts milliseconds.
    torn = job.run_dir / "checkpoints" / "checkpoint-8"
    (torn / "trainer_state.json").unlink()
    optimizer = torn / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[:100])

    registry.resume(job.id)
    finished = registry.wait(job.id, timeout=300)
    assert finished.status == "finished", registry.log_tail(job.id, 60)
    log = registry.log_tail(job.id, lines=400)
    assert "checkpoint-8 is incomplete (cut while it was being saved): removed" in log
    assert f"resuming from {job.run_dir / 'checkpoints' / 'checkpoint-4'}" in log
    assert finished.summary["steps"] == MAX_STEPS
    lines = RunDir(job.run_dir).read_metrics()
    train_steps = [line["step"] for line in lines if line["kind"] == "train"]
    assert train_steps == [1] + list(range(LOGGING_STEPS, MAX_STEPS + 1, LOGGING_STEPS))  # no gap, no repeat
    elapsed = [line["elapsed"] for line in lines]
    assert elapsed == sorted(elapsed)
    remaining = sorted((job.run_dir / "checkpoints").iterdir())
    assert remaining and all((folder / "trainer_state.json").is_file() for folder in remaining)


def test_metrics_lines_have_every_field(lora_run):
    for line in lora_run["lines"]:
        assert set(line) == set(METRIC_FIELDS), line
        assert line["total_steps"] == MAX_STEPS and line["fold"] is None
        assert line["elapsed"] >= 0 and line["epoch"] > 0
        if line["kind"] == "train":
            for key in ("loss", "learning_rate", "grad_norm", "tokens_per_second", "remaining"):
                assert line[key] is not None, (key, line)
            assert line["tokens_per_second"] > 0
        else:
            assert line["eval_loss"] is not None and line["loss"] is None


def test_lora_loss_falls(lora_run):
    losses = [line["loss"] for line in lora_run["lines"] if line["kind"] == "train"]
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first - 0.2, losses
    evals = [line["eval_loss"] for line in lora_run["lines"] if line["kind"] == "eval"]
    assert evals[-1] < evals[0]


def _reference(run_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "reference_logits.safetensors"))


def test_saved_adapter_reloads_with_the_trained_logits(lora_run):
    from peft import PeftModel

    from core.models import load_causal_lm

    run_dir = lora_run["run_dir"]
    info = json.loads((run_dir / "fraud_lab_run.json").read_text())
    assert info["base_model"] == lora_run["base"] and info["head"] == "causal-lm"
    assert info["model_fingerprint"]["digest"] and info["max_length"] == 192
    reference = _reference(run_dir)
    model = PeftModel.from_pretrained(load_causal_lm(info["base_model"]), str(run_dir / "adapter")).eval()
    with torch.no_grad():
        logits = model(input_ids=reference["input_ids"]).logits[:, -reference["logits"].shape[1]:]
    torch.testing.assert_close(logits, reference["logits"], atol=1e-5, rtol=1e-5)
    # The adapter changed the model: the base alone gives other logits.
    with torch.no_grad():
        base_logits = load_causal_lm(info["base_model"])(input_ids=reference["input_ids"]).logits
    assert (base_logits[:, -logits.shape[1]:] - logits).abs().max() > 1e-2


def test_export_merges_into_a_standalone_model_with_the_same_logits(lora_run, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from core.train.export import export_run
    from core.models import load_causal_lm

    run_dir = lora_run["run_dir"]
    out = export_run(run_dir, tmp_path / "merged")
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert not (out / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    adapted = PeftModel.from_pretrained(load_causal_lm(lora_run["base"]), str(run_dir / "adapter")).eval()
    rows = torch.randint(3, 7000, (3, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=rows).logits, adapted(input_ids=rows).logits,
                                   atol=1e-4, rtol=1e-4)
    assert json.loads((out / "fraud_lab_run.json").read_text())["merged_from"] == str(run_dir.resolve())


def _real_and_padded(dataset: EncodedDataset, tokenizer, sampler) -> tuple[int, int]:
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, sampler=sampler,
                                         collate_fn=make_collator(tokenizer, "causal-lm"))
    real = padded = 0
    for batch in loader:
        real += int(batch["attention_mask"].sum())
        padded += batch["input_ids"].numel()
        assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    return real, padded


def test_length_grouping_keeps_padding_low(tiny_tokenizer, demo_splits):
    from core.data.records import load_records
    from core.train.training import encode_records

    records = load_records(demo_splits["train"]).records[:800]
    dataset = EncodedDataset([{key: value for key, value in feature.items() if key != "truncated"}
                              for feature in encode_records(tiny_tokenizer, records, RunConfig())])
    grouped_real, grouped_padded = _real_and_padded(dataset, tiny_tokenizer,
                                                    LengthGroupedSampler(dataset.lengths, 8))
    random_real, random_padded = _real_and_padded(
        dataset, tiny_tokenizer,
        torch.utils.data.RandomSampler(dataset, generator=torch.Generator().manual_seed(0)))
    assert grouped_real == random_real == sum(dataset.lengths)
    grouped_ratio, random_ratio = grouped_padded / grouped_real, random_padded / random_real
    assert grouped_ratio < 1.03, grouped_ratio
    assert grouped_ratio < random_ratio - 0.05, (grouped_ratio, random_ratio)


def test_length_grouped_order_is_a_seeded_shuffle_of_every_row():
    lengths = [(index * 37) % 101 + 5 for index in range(203)]
    sampler = LengthGroupedSampler(lengths, 8, seed=3)
    first = list(sampler)
    assert sorted(first) == list(range(203)) and list(sampler) == first
    assert list(LengthGroupedSampler(lengths, 8, seed=3)) == first  # a fresh process sees the same order
    sampler.set_epoch(1)
    assert list(sampler) != first
    batches = [first[start:start + 8] for start in range(0, 203, 8)]
    assert max(lengths[index] for index in batches[0]) == max(lengths)  # longest batch first
    random_order = random_batches(203, 8, torch.Generator().manual_seed(0))
    assert sorted(index for batch in random_order for index in batch) == list(range(203))


def test_seq_cls_head_trains_and_predicts_a_label_per_row(session_workspace, tiny_model_dir, tiny_tokenizer,
                                                          small_data, tmp_path):
    from peft import PeftModel

    from core.config.schema import encode_options
    from core.data.encoding import encode_prompt
    from core.models import load_sequence_classifier
    from core.data.records import load_records
    from core.data.splits import Splits
    from core.train.training import train_run

    cfg = small_config(small_data, "head=seq-cls", "data.validation=", "data.validation_split=0.25",
                       "train.max_steps=8", "train.eval_every=4", "lora.r=4")
    summary = train_run(cfg, tmp_path / "seq", session_workspace)
    assert summary["steps"] == 8 and summary["eval_loss"] is not None
    # best_step names the evaluation with the lowest eval_loss (it was null without load-best-at-end).
    evaluations = [line for line in RunDir(tmp_path / "seq").read_metrics() if line["kind"] == "eval"]
    best = min(evaluations, key=lambda line: line["eval_loss"])
    assert (summary["best_step"], summary["best_eval_loss"]) == (best["step"], best["eval_loss"])
    splits = Splits.load(tmp_path / "seq" / "validation_split.json")
    records = load_records(small_data["train"]).records
    held_out = splits.select(records, "validation")
    assert len(held_out) == 24 and not set(splits.train) & set(splits.validation)
    assert {record.label for record in held_out} == {True, False}  # stratified
    model = PeftModel.from_pretrained(load_sequence_classifier(str(tiny_model_dir), tiny_tokenizer),
                                      str(tmp_path / "seq" / "adapter")).eval()
    reference = _reference(tmp_path / "seq")
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=reference["input_ids"]).logits, reference["logits"],
                                   atol=1e-5, rtol=1e-5)
    collate = make_collator(tiny_tokenizer, "seq-cls")
    prompts = [{"input_ids": encode_prompt(tiny_tokenizer, record, encode_options(cfg)).input_ids}
               for record in held_out]
    with torch.no_grad():
        logits = model(**collate(prompts)).logits
    labels = logits.argmax(dim=-1).tolist()
    assert logits.shape == (len(held_out), 2) and len(labels) == len(held_out) and set(labels) <= {0, 1}
    # LoRA B matrices start at zero: non-zero ones were trained. (The tiny model's last-token states
    # barely differ between rows, so its classifier loss moves little in a few steps.)
    from safetensors.torch import load_file

    weights = load_file(str(tmp_path / "seq" / "adapter" / "adapter_model.safetensors"))
    lora_b = [tensor for name, tensor in weights.items() if "lora_B" in name]
    assert lora_b and all(tensor.abs().sum() > 0 for tensor in lora_b)
    assert any("score" in name for name in weights)  # the new head is saved with the adapter
    losses = [line["loss"] for line in RunDir(tmp_path / "seq").read_metrics() if line["kind"] == "train"]
    assert all(0 < loss < 5 for loss in losses)


def test_full_fine_tuning_saves_a_standalone_model(session_workspace, tiny_model_dir, small_data, tmp_path):
    from transformers import AutoModelForCausalLM

    from core.train.training import train_run

    cfg = small_config(small_data, "method=full", "train.max_steps=4", "train.eval_every=0",
                       "train.learning_rate=1e-4", "train.save_every=4")
    summary = train_run(cfg, tmp_path / "full", session_workspace)
    assert summary["steps"] == 4 and summary["output"] == "model"
    model_dir = tmp_path / "full" / "model"
    assert (model_dir / "model.safetensors").is_file() and not (tmp_path / "full" / "adapter").exists()
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    reference = _reference(tmp_path / "full")
    with torch.no_grad():
        logits = model(input_ids=reference["input_ids"]).logits[:, -reference["logits"].shape[1]:]
        base_logits = base(input_ids=reference["input_ids"]).logits[:, -reference["logits"].shape[1]:]
    torch.testing.assert_close(logits, reference["logits"], atol=1e-4, rtol=1e-4)
    assert (logits - base_logits).abs().max() > 1e-3
