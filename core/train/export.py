"""Export a LoRA run as a standalone model: the adapter merged into its base (`merge_and_unload`).

The merged folder loads with plain `from_pretrained`, no peft needed, and runs at the base
model's speed. It gets its own fraud_lab_run.json so an evaluation encodes prompts the same way.
"""
from __future__ import annotations

import shutil
import uuid
from datetime import datetime
from pathlib import Path

from core.jobs.kinds import register_job_kind
from core.models import (ModelError, load_causal_lm, load_sequence_classifier, load_tokenizer,
                         model_fingerprint)
from core.workspace import RunDir


def read_run_info(run_dir: Path) -> dict:
    info = RunDir(run_dir).read_run_info()
    if info is None:
        raise ModelError(f"{run_dir}: no {RunDir(run_dir).run_info_file.name}; export needs a finished "
                         "training run")
    return info


def export_run(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Merge the run's adapter into its base and save model + tokenizer; returns the folder.

    Default folder: RUN/merged. A full fine-tuning run is already standalone: its model/ is
    returned, or copied when out_dir is given.
    """
    run_dir = Path(run_dir).resolve()
    info = read_run_info(run_dir)
    source = run_dir / info.get("output", "adapter")
    if not source.is_dir():
        raise ModelError(f"{source} is missing: the run's output folder was moved or deleted")
    if info.get("method") == "full":
        if out_dir is None:
            return source
        out_dir = Path(out_dir).resolve()
        _replace(out_dir, lambda staging: shutil.copytree(source, staging))
        return out_dir
    base = info["base_model"]
    expected = (info.get("model_fingerprint") or {}).get("digest")
    actual = model_fingerprint(base).get("digest")
    if expected and actual and expected != actual:
        raise ModelError(f"{base} is not the model this adapter was trained on "
                         f"(fingerprint {actual}, adapter expects {expected})")
    out_dir = Path(out_dir).resolve() if out_dir is not None else RunDir(run_dir).merged_dir
    trust = bool(info.get("trust_remote_code", False))
    tokenizer = load_tokenizer(str(source), trust_remote_code=trust)
    if info.get("head") == "seq-cls":
        base_model = load_sequence_classifier(base, tokenizer, dtype="auto", trust_remote_code=trust)
    else:
        base_model = load_causal_lm(base, dtype="auto", trust_remote_code=trust)
    from peft import PeftModel

    merged = PeftModel.from_pretrained(base_model, str(source)).merge_and_unload()
    merged.config.use_cache = True

    def write(staging: Path) -> None:
        merged.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        merged_info = {**info, "output": ".", "method": "merged", "merged_from": str(run_dir),
                       "merged_fingerprint": model_fingerprint(str(staging)),
                       "created": datetime.now().isoformat(timespec="seconds")}
        RunDir(staging).write_run_info(merged_info)

    _replace(out_dir, write)
    return out_dir


def _replace(out_dir: Path, fill) -> None:
    """Fill a sibling staging folder, then swap it in: a failed export never leaves half a model."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.exporting-{uuid.uuid4().hex[:8]}"
    try:
        fill(staging)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def run_export_job(run_dir: Path, config: dict, context) -> dict:
    """Entry point of an `export` job (EXPORT_KIND, below): config {"run": source run folder, "out": optional
    folder}."""
    source = config.get("run")
    if not source:
        raise ValueError("an export job needs config 'run' (the training run folder)")
    source = Path(source)
    if not source.is_absolute() and context is not None:
        source = Path(context.registry.workspace) / source
    out = export_run(source, config.get("out"))
    print(f"exported {source} -> {out}", flush=True)
    return {"output": str(out), "source": str(source)}


EXPORT_KIND = register_job_kind("export", run_export_job)


