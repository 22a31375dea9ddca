"""Trainer callbacks: the metrics file the page plots, and stop-on-request.

`metrics.jsonl` has one JSON object a line, appended and flushed as each log or eval event
happens, so a page reading it mid-run sees every finished line. Every line has every field of
METRIC_FIELDS (null where it does not apply): train lines carry loss, eval lines eval_loss.
"""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from transformers import TrainerCallback

from core.workspace import RunDir

METRIC_FIELDS = ("kind", "step", "total_steps", "epoch", "fold", "loss", "eval_loss", "learning_rate",
                 "grad_norm", "tokens_per_second", "elapsed", "remaining", "time")


def truncate_metrics(run_dir: str | Path, last_step: int) -> float:
    """Keep the lines with step <= last_step (the checkpoint resumed from); returns their elapsed.

    Lines after the checkpoint describe steps the resumed run trains again; keeping them would
    duplicate steps, dropping lines before it would leave a gap.
    """
    run = RunDir(run_dir)
    kept = [line for line in run.read_metrics() if line.get("step", 0) <= last_step]
    if run.metrics_lines.exists() or kept:
        run.rewrite_metrics(kept)  # also drops a line cut by a killed process
    return max((line.get("elapsed") or 0.0 for line in kept), default=0.0)


class MetricsFileCallback(TrainerCallback):
    """Appends a line per log / eval event and echoes it to stdout (the job's log.txt).

    tokens_per_second counts real (non-pad) tokens over the time spent inside optimizer steps
    since the previous line, so evaluation and checkpoint saving do not dilute it.
    """

    def __init__(self, run_dir: str | Path, fold: int | None = None, elapsed_before: float = 0.0):
        self.run = RunDir(run_dir)
        self.fold = fold
        self.elapsed_before = elapsed_before
        self.started = time.monotonic()
        self.start_step = 0
        self.step_started = None
        self.step_seconds = 0.0
        self.last_tokens = 0
        self.last_train_line: dict | None = None
        self.last_eval_line: dict | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()
        self.start_step = state.global_step
        self.last_tokens = state.num_input_tokens_seen

    def on_step_begin(self, args, state, control, **kwargs):
        self.step_started = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if self.step_started is not None:
            self.step_seconds += time.monotonic() - self.step_started
            self.step_started = None

    def _base(self, state) -> dict:
        session = time.monotonic() - self.started
        done = state.global_step - self.start_step
        remaining = None
        if done > 0 and state.max_steps:
            remaining = round(session / done * max(0, state.max_steps - state.global_step), 1)
        line = dict.fromkeys(METRIC_FIELDS)
        line.update(step=state.global_step, total_steps=state.max_steps,
                    epoch=round(state.epoch, 4) if state.epoch is not None else None, fold=self.fold,
                    elapsed=round(self.elapsed_before + session, 2), remaining=remaining,
                    time=datetime.now().isoformat(timespec="seconds"))
        return line

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return  # under a multi-GPU launch, rank 0 alone writes the file
        logs = logs or {}
        if "loss" in logs:
            line = self._base(state)
            tokens = state.num_input_tokens_seen - self.last_tokens
            line.update(kind="train", loss=logs["loss"], learning_rate=logs.get("learning_rate"),
                        grad_norm=logs.get("grad_norm"),
                        tokens_per_second=round(tokens / self.step_seconds, 1) if self.step_seconds else None)
            self.last_tokens = state.num_input_tokens_seen
            self.step_seconds = 0.0
            self.last_train_line = line
        elif "eval_loss" in logs:
            line = self._base(state)
            line.update(kind="eval", eval_loss=logs["eval_loss"])
            self.last_eval_line = line
        else:
            return  # the end-of-training summary; the job's summary carries it
        self.run.append_metrics(line)
        print(_describe(line), flush=True)


def _describe(line: dict) -> str:
    fold = f"fold {line['fold']} " if line["fold"] is not None else ""
    head = f"{fold}step {line['step']}/{line['total_steps']}"
    if line["kind"] == "eval":
        return f"{head} eval_loss {line['eval_loss']:.4f}"
    speed = f" {line['tokens_per_second']:.0f} tok/s" if line["tokens_per_second"] else ""
    eta = f" eta {line['remaining']:.0f}s" if line["remaining"] is not None else ""
    norm = f" grad_norm {line['grad_norm']:.3f}" if line["grad_norm"] is not None else ""
    return f"{head} loss {line['loss']:.4f} lr {line['learning_rate']:.3g}{norm}{speed}{eta}"


class StopOnRequestCallback(TrainerCallback):
    """Ends training after the current step when the run's STOP file appears, saving a checkpoint.

    A file, not a signal: the web server and the CLI ask for a stop the same way, and the job
    ends between optimizer steps, where a checkpoint is consistent.
    """

    def __init__(self, run_dir: str | Path):
        self.run = RunDir(run_dir)
        self.stopped_at: int | None = None

    def on_step_end(self, args, state, control, **kwargs):
        if _on_any_process(self.run.stop_requested(), args.device):
            control.should_training_stop = True
            control.should_save = True
            self.stopped_at = state.global_step
            print(f"stop requested: saving a checkpoint at step {state.global_step} and ending", flush=True)
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.stopped_at is not None:
            # The checkpoint is already saved; an end-of-epoch evaluation would only delay the stop.
            control.should_evaluate = False
            control.should_save = False
        return control


def _on_any_process(flag: bool, device) -> bool:
    """True on every process when it is True on one: data-parallel ranks must stop at the same step,
    or the ones still training wait forever for the gradients of those that stopped."""
    import torch
    import torch.distributed as distributed

    if not (distributed.is_available() and distributed.is_initialized()):
        return flag
    value = torch.tensor([int(flag)], device=device)
    distributed.all_reduce(value, op=distributed.ReduceOp.MAX)
    return bool(value.item())
