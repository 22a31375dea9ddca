"""Finding and loading models: the embedded tiny model, local folders, hub ids (offline cache).

Weights are read as safetensors only and remote code is off unless the caller turns it on:
a model folder from the internet must not run code or unpickle tensors by merely being opened.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

EMBEDDED_MODEL = "embedded"
EMBEDDED_ALIASES = {"", "embedded", "tiny", "embedded:tiny"}
PRECISIONS = ("fp32", "bf16", "fp16")
# A hub id is "owner/name": letters, digits, '-', '_', '.', neither part starting with '.' or '-',
# no '..' (so "../etc" is a path, never a hub id).
HUB_ID = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


class ModelError(ValueError):
    """A model path or setting that cannot work, said in words."""


def resolve_model_path(model: str, workspace: Path) -> str:
    """Map the name a user gave to something from_pretrained can open without a download."""
    name = (model or "").strip()
    if name in EMBEDDED_ALIASES:
        from core.demo.tiny_model import ensure_tiny_model

        return str(ensure_tiny_model(Path(workspace)))
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if not is_hub_id(name):
        raise ModelError(f"model folder not found: {name}")
    # A hub id ("Qwen/Qwen2-1.5B-Instruct"): resolved from the local hub cache only, since the
    # lab runs with HF_HUB_OFFLINE=1; from_pretrained says so if it is not cached.
    return name


def is_hub_id(text: str) -> bool:
    return bool(HUB_ID.match(str(text).strip()))


def in_hub_cache(model_id: str) -> bool:
    """Whether a hub id's model is in the local hub cache (the lab never downloads one)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(str(model_id).strip(), "config.json"), str)


def load_tokenizer(path: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except OSError as error:
        raise ModelError(f"cannot load a tokenizer from {path}: {error}") from None
    if tokenizer.pad_token_id is None:
        # Batched inference and training need a pad id; eos is the usual stand-in.
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"{path}: the tokenizer has no chat template; choose an instruct/chat model")
    return tokenizer


def pick_device(requested: str | None = None) -> str:
    import torch

    if requested and requested != "auto":
        if requested.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError(f"device {requested} asked for, but no CUDA GPU is visible")
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(precision: str, device: str):
    """The torch dtype for a precision, refused with a reason where the device cannot do it."""
    import torch

    if precision not in PRECISIONS:
        raise ModelError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return torch.float32
    if device.startswith("cuda"):
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise ModelError("bf16 asked for, but this GPU does not support bfloat16; use fp16 or fp32")
        return torch.bfloat16 if precision == "bf16" else torch.float16
    if precision == "fp16":
        raise ModelError("fp16 needs a CUDA GPU; on the CPU use fp32 (or bf16)")
    return torch.bfloat16


def default_precision(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def load_causal_lm(path: str, dtype=None, device: str = "cpu", trust_remote_code: bool = False):
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, use_safetensors=True,
                                                     trust_remote_code=trust_remote_code)
    except OSError as error:
        raise ModelError(f"cannot load a causal LM from {path}: {error}") from None
    return model.to(device)


def load_sequence_classifier(path: str, tokenizer, dtype=None, device: str = "cpu",
                             trust_remote_code: bool = False):
    from transformers import AutoModelForSequenceClassification

    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=2, dtype=dtype, use_safetensors=True, trust_remote_code=trust_remote_code)
    except OSError as error:
        raise ModelError(f"cannot load a classifier from {path}: {error}") from None
    # Sequence classification reads the last non-pad token, so the model must know the pad id.
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device)


def end_of_turn_ids(tokenizer, generation_config=None) -> list[int]:
    """Every id that ends an assistant turn: tokenizer eos, generation config eos, ChatML ends."""
    ids: list[int] = []
    candidates = [tokenizer.eos_token_id]
    if generation_config is not None:
        eos = getattr(generation_config, "eos_token_id", None)
        candidates.extend(eos if isinstance(eos, (list, tuple)) else [eos])
    for token in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id >= 0:
            candidates.append(token_id)
    for token_id in candidates:
        if isinstance(token_id, int) and token_id not in ids:
            ids.append(token_id)
    return ids


def model_fingerprint(path: str) -> dict:
    """What an adapter must match in its base: architecture, sizes, vocabulary."""
    config_file = Path(path) / "config.json"
    if not config_file.is_file():
        return {"name": str(path)}
    config = json.loads(config_file.read_text(encoding="utf-8"))
    keys = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
            "intermediate_size")
    shape = {key: config.get(key) for key in keys}
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]
    return {"name": str(path), **shape, "digest": digest}
