"""Training defaults that fit the model: a named preset of RunConfig values per kind of model.

The recipe that works for a 1.5-billion-parameter Qwen2 (LoRA rank 8, learning rate 1e-4) does
nothing visible to the 5-million-parameter embedded model in a CPU-minute, and the embedded
model's recipe would wreck a large one. `preset_for(model)` names the preset for a model and
`apply_preset` fills a RunConfig with it; every value stays a default the user can change.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from core.config.schema import DEFAULT_TARGET_MODULES, PROJECTION_MODULES, RunConfig
from core.config.text import apply_overrides
from core.models import ENCODER_ALIASES, ENCODER_TARGET_MODULES, ENCODER_TYPES

TINY_NAME = "tiny-cpu"
ENCODER_NAME = "tiny-encoder-cpu"
LARGE_NAME = "lora-1.5b"
# Below this many parameters a model is trained with the tiny model's recipe.
SMALL_MODEL_PARAMETERS = 100_000_000
EMBEDDED_NAMES = {"", "embedded", "tiny", "embedded:tiny"}


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    values: dict[str, Any]  # dotted RunConfig key -> value
    by_method: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> values that differ

    def describe(self, method: str = "lora") -> str:
        """The description, and the values that differ for `method` (e.g. full fine-tuning's rate)."""
        changed = self.by_method.get(method)
        if not changed:
            return self.description
        return f"{self.description}; {method}: " + ", ".join(f"{key} {_text(value)}"
                                                             for key, value in changed.items())

    def values_for(self, method: str = "lora") -> dict[str, Any]:
        """Dotted key -> value for a run with `method`."""
        return {**self.values, **self.by_method.get(method, {})}

    def overrides(self, method: str = "lora") -> list[str]:
        return [f"{key}={_text(value)}" for key, value in self.values_for(method).items()]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


# The embedded model (hidden 256, 4 layers, 7M parameters). Measured on the demo (bench/demo_loop.py):
# - LoRA must adapt the token embedding as well as every projection: with the projections only
#   the loss stays at chance for 400 steps (the frozen model's hidden states barely separate the
#   classes, and a tiny model keeps what it knows about words in its embedding);
# - learning rate 3e-3 with cosine decay: 2e-4 (a large model's rate) does not even learn the answer
#   format in a short run, 1e-2 is unstable, and a constant 3e-3 leaves 8% of generated answers
#   malformed (`{"is_fraud true}`) where the decay's last quiet steps leave none;
# - no dropout: a few hundred steps do not over-fit.
TINY = Preset(TINY_NAME, "embedded tiny model on a CPU: LoRA r 16, alpha 32 on projections and embedding, "
              "lr 3e-3 cosine, 200 steps", {
                  "lora.r": 16,
                  "lora.alpha": 32,
                  "lora.dropout": 0.0,
                  "lora.target_modules": list(DEFAULT_TARGET_MODULES),
                  "train.learning_rate": 3e-3,
                  "train.scheduler": "cosine",
                  "train.warmup_ratio": 0.05,
                  "train.batch_size": 8,
                  "train.grad_accum": 1,
                  "train.max_steps": 200,
                  "train.epochs": 1.0,  # unused while max_steps is set; named so a switch from LARGE resets
                  "train.eval_every": 100,
                  "train.save_every": 100,
                  "data.max_length": 384,
              }, by_method={"full": {"train.learning_rate": 5e-4}})

# The embedded tiny encoder (core.demo.tiny_encoder: a 2M-parameter BERT, briefly MLM-pretrained), and
# any other small encoder. Measured on demo-reviews (three classes, 600 training rows, 150 test rows):
# - LoRA on every attention projection and dense layer (the pooler's too) with the classifier head
#   trained in full (core.train.training saves it with the adapter): 100 steps at 3e-3 reach 0.96-1.0
#   where chance is 0.33; 1e-2 diverges;
# - full fine-tuning at 1e-3 (0.98 at 5e-4, 0.99 at 2e-3 in 100 steps);
# - an encoder classifies through a head (head=seq-cls): it has no answer to generate.
ENCODER = Preset(ENCODER_NAME, "small encoder on a CPU: seq-cls head, LoRA r 16, alpha 32 on query/key/value/"
                 "dense, lr 3e-3 cosine, 150 steps of 16", {
                     "head": "seq-cls",
                     "lora.r": 16,
                     "lora.alpha": 32,
                     "lora.dropout": 0.0,
                     "lora.target_modules": list(ENCODER_TARGET_MODULES),
                     "train.learning_rate": 3e-3,
                     "train.scheduler": "cosine",
                     "train.warmup_ratio": 0.1,
                     "train.batch_size": 16,
                     "train.grad_accum": 1,
                     "train.max_steps": 150,
                     "train.epochs": 1.0,
                     "train.eval_every": 50,
                     "train.save_every": 50,
                     "data.max_length": 128,
                 }, by_method={"full": {"train.learning_rate": 1e-3}})

# The seed procedure for Qwen2-1.5B-Instruct on one GPU.
LARGE = Preset(LARGE_NAME,
               "~1.5B Qwen2 on a GPU: LoRA r 8, alpha 16, dropout 0.05, lr 1e-4, batch 4 x accum 4", {
    "lora.r": 8,
    "lora.alpha": 16,
    "lora.dropout": 0.05,
    "lora.target_modules": list(PROJECTION_MODULES),
    "train.learning_rate": 1e-4,
    "train.scheduler": "cosine",
    "train.warmup_ratio": 0.05,
    "train.batch_size": 4,
    "train.grad_accum": 4,
    "train.max_steps": -1,
    "train.epochs": 1.0,
    "train.eval_every": 50,
    "train.save_every": 50,
    "data.max_length": 1024,
}, by_method={"full": {"train.learning_rate": 1e-5}})

PRESETS = {preset.name: preset for preset in (TINY, ENCODER, LARGE)}


def estimated_parameters(config: dict) -> int | None:
    """Parameters of a decoder from its config.json: embeddings + per-layer attention and MLP."""
    try:
        hidden = int(config["hidden_size"])
        layers = int(config["num_hidden_layers"])
        vocabulary = int(config["vocab_size"])
    except (KeyError, TypeError, ValueError):
        return None
    intermediate = int(config.get("intermediate_size") or 4 * hidden)
    return vocabulary * hidden + layers * (4 * hidden * hidden + 3 * hidden * intermediate)


def preset_for(model: str) -> Preset:
    """The preset for `model`: the embedded name, a folder, or a hub id (large unless known small)."""
    name = (model or "").strip()
    if name in EMBEDDED_NAMES:
        return TINY
    if name in ENCODER_ALIASES:
        return ENCODER
    folder = Path(name).expanduser()
    config_file = folder / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    except (OSError, ValueError):
        config = {}
    small = TINY
    if isinstance(config, dict) and config.get("model_type") in ENCODER_TYPES:
        small = ENCODER
    if (folder / "build_info.json").is_file():  # built by core.demo.tiny_model / tiny_encoder
        return small
    parameters = estimated_parameters(config) if isinstance(config, dict) else None
    if parameters is not None and parameters < SMALL_MODEL_PARAMETERS:
        return small
    return LARGE


def apply_preset(cfg: RunConfig, preset: Preset) -> RunConfig:
    """A copy of `cfg` with the preset's values for its method; other fields are left as they are."""
    return apply_overrides(cfg, preset.overrides(cfg.method))


def default_config(overrides: Sequence[str] = ()) -> RunConfig:
    """The run `python -m lab train` starts without a config file, and the untouched Train form:
    RunConfig's defaults filled by the preset of the model and method the overrides name, then the
    overrides again, so what the user sets wins over the preset."""
    config = apply_overrides(RunConfig(), list(overrides))
    return apply_overrides(apply_preset(config, preset_for(config.model)), list(overrides))


def preset_config(model: str, **changes) -> RunConfig:
    """RunConfig for `model` filled by its preset (the form's starting point for that model)."""
    cfg = dataclasses.replace(RunConfig(), model=model or "embedded", **changes)
    return apply_preset(cfg, preset_for(cfg.model))
