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
ENCODER_ALIASES = {"embedded-encoder", "tiny-encoder"}  # the embedded tiny BERT (core.demo.tiny_encoder)
PRECISIONS = ("fp32", "bf16", "fp16")
# A hub id is "owner/name": letters, digits, '-', '_', '.', neither part starting with '.' or '-',
# no '..' (so "../etc" is a path, never a hub id).
HUB_ID = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


class ModelError(ValueError):
    """A model path or setting that cannot work, said in words."""


def resolve_model_path(model: str, workspace: Path) -> str:
    """Map the name a user gave to something from_pretrained can open without a download."""
    name = (model or "").strip()
    if name in ENCODER_ALIASES:
        from core.demo.tiny_encoder import ensure_tiny_encoder

        return str(ensure_tiny_encoder(Path(workspace)))
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


# Encoder families (BERT / RoBERTa and kin): bidirectional, read through [CLS], no chat template.
ENCODER_TYPES = {"bert", "roberta", "xlm-roberta", "ernie", "electra", "albert", "deberta", "deberta-v2",
                 "distilbert", "nezha", "megatron-bert", "camembert", "mpnet", "modernbert"}
# LoRA targets of BERT-style encoders: the attention projections and every dense layer.
ENCODER_TARGET_MODULES = ("query", "key", "value", "dense")


def is_encoder(config_or_path) -> bool:
    """Whether a model (its config, or its folder) is an encoder that classifies through [CLS]."""
    if isinstance(config_or_path, (str, Path)):
        if not str(config_or_path):
            return False
        config_file = Path(config_or_path) / "config.json"
        if not config_file.is_file():
            return False
        try:
            model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
        except (OSError, ValueError):
            return False
    else:
        model_type = getattr(config_or_path, "model_type", None)
    return model_type in ENCODER_TYPES


def _adapter_base(path: str) -> str:
    """The base model folder an adapter folder (with its own tokenizer copy) names; "" otherwise."""
    config_file = Path(path) / "adapter_config.json"
    try:
        return str(json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path") or "")
    except (OSError, ValueError, AttributeError):
        return ""


def load_tokenizer(path: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except OSError as error:
        raise ModelError(f"cannot load a tokenizer from {path}: {error}") from None
    if tokenizer.pad_token_id is None:
        # Batched inference and training need a pad id; eos is the usual stand-in.
        tokenizer.pad_token = tokenizer.eos_token
    # An encoder classifies the text as it is ([CLS] text [SEP]); only a causal LM needs the template.
    if not getattr(tokenizer, "chat_template", None) and not is_encoder(path) and not is_encoder(
            _adapter_base(path)):
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
                             trust_remote_code: bool = False, label_names: tuple[str, ...] = ()):
    """A classifier head of len(label_names) classes (2 without names: the fraud schema)."""
    from transformers import AutoModelForSequenceClassification

    names = tuple(label_names) or saved_class_names(path) or ("false", "true")
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=len(names), id2label=dict(enumerate(names)),
            label2id={name: index for index, name in enumerate(names)}, dtype=dtype,
            use_safetensors=True, trust_remote_code=trust_remote_code)
    except OSError as error:
        raise ModelError(f"cannot load a classifier from {path}: {error}") from None
    # Sequence classification reads the last non-pad token, so the model must know the pad id.
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device)


def saved_class_names(path: str) -> tuple[str, ...]:
    """The class names a saved classifier (a full fine-tune's model/) was trained with; () otherwise."""
    config_file = Path(path) / "config.json"
    if not config_file.is_file():
        return ()
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    if not any(str(name).endswith("ForSequenceClassification") for name in config.get("architectures") or []):
        return ()
    classes = config.get("id2label") or {}
    return tuple(str(classes[key]) for key in sorted(classes, key=int))


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
