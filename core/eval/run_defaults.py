"""What an evaluation of a run's checkpoint compares against when the user leaves base and data as
they are: the run's own base model and its own test data.

Without this, evaluating a checkpoint of the embedded encoder or of a run on another dataset with the
Evaluate form's defaults ("embedded", "demo") is refused (the adapter's base does not match) or
reads the fraud demo through the run's label names. A value the user changed is never replaced.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.config.schema import DEMO, EMBEDDED, ConfigError, EvalConfig, RunConfig
from core.config.text import load_config
from core.workspace import CONFIG_FILE, run_folder_of


def run_defaults(checkpoint: str | Path) -> dict[str, str]:
    """{"model": the run's base, "data": its test data} of the training run a checkpoint (adapter,
    model/ folder, checkpoint-N, or the run folder) belongs to; {} when it is not a run's."""
    run = run_folder_of(Path(checkpoint), marker=CONFIG_FILE)
    if run is None:
        return {}
    try:
        cfg = load_config(run.config_file, RunConfig)
    except (ConfigError, OSError, ValueError):
        return {}
    found = {"model": cfg.model}
    if (cfg.data.test or "").strip():
        found["data"] = cfg.data.test.strip()
    return found


def with_run_defaults(cfg: EvalConfig) -> tuple[EvalConfig, dict[str, str]]:
    """The config with base model and test data taken from the first checkpoint's run where they are
    left at their defaults, and what was taken ({} when nothing changed)."""
    if not cfg.adapters:
        return cfg, {}
    taken = {key: value for key, value in run_defaults(cfg.adapters[0]).items()
             if getattr(cfg, key) == {"model": EMBEDDED, "data": DEMO}[key] and value != getattr(cfg, key)}
    return (replace(cfg, **taken) if taken else cfg), taken
