"""`RunConfig`: one typed description of a training run, from YAML, `--set key=value` or the page.

Each field's metadata carries a help text and, for a closed set, its `choices`: the page builds
its form from `field_specs()`. Two levels of checking:
- `config_from_dict` / `apply_overrides` check structure and types (unknown key, wrong type);
- `validate` checks values against the world (files, device, libraries) before any process starts.
Both raise `ConfigError(key, message)`, so every message names the dotted key at fault.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import shlex
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEMO = "demo"
HEADS = ("causal-lm", "seq-cls")
METHODS = ("lora", "full", "qlora")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_min_lr", "polynomial")
REPORTERS = ("none", "tensorboard", "mlflow")
DEVICES = ("auto", "cpu", "cuda")
KFOLD_MODES = ("none", "chained", "independent")
TRUNCATIONS = ("keep_end", "keep_start")
BAD_ROWS = ("skip", "error")
EPOCH = "epoch"
# Every attention and MLP projection of Qwen2 / Llama-style blocks.
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MIN_MAX_LENGTH = 64
REPORTER_MODULES = {"tensorboard": ("tensorboard", "tensorboardX"), "mlflow": ("mlflow",)}


class ConfigError(ValueError):
    """A config value that cannot work; `key` is the dotted key, e.g. `train.learning_rate`."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)


def option(default, help: str, choices: tuple | None = None):
    """A dataclass field with the metadata the page's form is generated from."""
    metadata = {"help": help, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class LoraSection:
    r: int = option(8, "LoRA rank: size of the low-rank update (more = more capacity, memory and time)")
    alpha: int = option(16, "LoRA alpha: the update is scaled by alpha / r")
    dropout: float = option(0.05, "dropout on the LoRA input during training")
    target_modules: list[str] = option(list(DEFAULT_TARGET_MODULES),
                                       "module names that get a LoRA update (comma-separated on the CLI)")


@dataclass
class DataSection:
    train: str = option(DEMO, "training file (JSONL / JSON list / CSV); 'demo' = the embedded demo dataset")
    validation: str = option(DEMO, "validation file; empty = a stratified validation_split of the training file")
    test: str = option(DEMO, "test file, kept with the run for evaluation; empty = none")
    with_reason: bool = option(False, "train the answer with fraud_speaker and reason, not only is_fraud")
    instruction: str = option("", "instruction for every row; empty = each row's own, else the default")
    system: str | None = option(None, "system prompt; null = the chat template's default")
    max_length: int = option(384, "most tokens of prompt + answer; longer dialogues are shortened")
    truncation: str = option("keep_end", "which part of a too-long dialogue is kept", TRUNCATIONS)
    validation_split: float = option(0.1, "fraction of the training file held out when no validation file "
                                     "is given (stratified, seeded; indices saved in the run folder)")
    bad_rows: str = option("skip", "a row that cannot be used: skip = train on the good rows and list the "
                           "skipped lines in the log and summary; error = refuse the file", BAD_ROWS)


@dataclass
class TrainSection:
    epochs: float = option(1.0, "passes over the training data (used when max_steps is -1)")
    max_steps: int = option(80, "optimizer steps to train; -1 = as many as the epochs take")
    batch_size: int = option(8, "rows per forward pass")
    grad_accum: int = option(1, "forward passes per optimizer step (effective batch = batch_size x grad_accum)")
    learning_rate: float = option(2e-4, "peak learning rate (LoRA ~1e-4..5e-4; full fine-tuning ~1e-5)")
    scheduler: str = option("cosine", "learning-rate schedule after warmup", SCHEDULERS)
    warmup_ratio: float = option(0.05, "fraction of the steps spent warming the learning rate up from 0")
    weight_decay: float = option(0.0, "AdamW weight decay")
    eval_every: int | str = option(20, "evaluate every N steps, or 'epoch'; 0 = only at the end")
    save_every: int | str = option(20, "save a resumable checkpoint every N steps, or 'epoch'")
    logging_steps: int = option(5, "write a metrics line every N steps")
    early_stopping_patience: int = option(0, "stop after N evaluations without a better eval_loss; 0 = off")
    gradient_checkpointing: bool = option(False, "recompute activations in the backward pass: less memory, slower")
    precision: str = option("auto", "weights/compute precision; auto = bf16 on a GPU that has it, else fp32",
                            PRECISIONS)
    seed: int = option(42, "seed of the model init, data order and validation split")
    report_to: str = option("none", "also log to an experiment tracker", REPORTERS)
    device: str = option("auto", "where to train; auto = CUDA when visible", DEVICES)
    num_gpus: int = option(1, "GPUs for one run, one data-parallel process each; 1 = a single process")


@dataclass
class KFoldSection:
    mode: str = option("none", "K-fold cross-validation: chained = each fold continues from the previous "
                       "fold's adapter, independent = each fold starts from the base", KFOLD_MODES)
    k: int = option(5, "number of folds")


@dataclass
class SweepSection:
    grid: dict = option({}, "every combination of these values, e.g. {train.learning_rate: [1e-4, 2e-4]}")
    random: dict = option({}, "random draws: key -> list of choices or {low, high, log}")
    draws: int = option(0, "number of random draws")
    metric: str = option("eval_loss", "metric that ranks the trials")


@dataclass
class RunConfig:
    model: str = option("embedded", "base model: a folder, a hub id in the local cache, or 'embedded'")
    head: str = option("causal-lm", "causal-lm = generate the JSON answer; seq-cls = a 2-way classifier head",
                       HEADS)
    method: str = option("lora", "lora = low-rank adapters; full = all weights; qlora = LoRA on a 4-bit base",
                         METHODS)
    trust_remote_code: bool = option(False, "allow the model folder to run its own Python code")
    lora: LoraSection = field(default_factory=LoraSection, metadata={"help": "LoRA adapter"})
    data: DataSection = field(default_factory=DataSection, metadata={"help": "data and prompt"})
    train: TrainSection = field(default_factory=TrainSection, metadata={"help": "optimization"})
    kfold: KFoldSection = field(default_factory=KFoldSection, metadata={"help": "cross-validation"})
    sweep: SweepSection | None = field(default=None, metadata={"help": "hyper-parameter sweep; null = none"})


SECTIONS = {"lora": LoraSection, "data": DataSection, "train": TrainSection, "kfold": KFoldSection,
            "sweep": SweepSection}


# -- field introspection ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldSpec:
    key: str  # dotted
    type: Any
    default: Any
    help: str
    choices: tuple | None


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _default(spec: dataclasses.Field):
    if spec.default is not dataclasses.MISSING:
        return spec.default
    return spec.default_factory()


def field_specs(include_sweep: bool = False) -> list[FieldSpec]:
    """Every leaf key of RunConfig in declaration order, with its type, default, help and choices."""
    specs = []
    hints = _hints(RunConfig)
    for top in dataclasses.fields(RunConfig):
        section = SECTIONS.get(top.name)
        if section is None:
            specs.append(FieldSpec(top.name, hints[top.name], _default(top), top.metadata["help"],
                                   top.metadata.get("choices")))
            continue
        if section is SweepSection and not include_sweep:
            continue
        section_hints = _hints(section)
        for leaf in dataclasses.fields(section):
            specs.append(FieldSpec(f"{top.name}.{leaf.name}", section_hints[leaf.name], _default(leaf),
                                   leaf.metadata["help"], leaf.metadata.get("choices")))
    return specs


def _spec_table() -> dict[str, FieldSpec]:
    return {spec.key: spec for spec in field_specs()}


def _unknown(key: str, known) -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ConfigError(key, f"unknown key{hint}")


# -- coercion --------------------------------------------------------------------------------------
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _type_name(kind) -> str:
    return getattr(kind, "__name__", str(kind))


def coerce(key: str, value: Any, kind) -> Any:
    """`value` (from YAML, a form or a `--set` string) as the field's type, or ConfigError."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(kind)
        if type(None) in members:
            if value is None or (isinstance(value, str) and value.strip() in ("null", "~")):
                return None
            (inner,) = [member for member in members if member is not type(None)]
            return coerce(key, value, inner)
        # int | str: the only such fields take a step count or the word "epoch".
        if isinstance(value, str) and value.strip().lower() == EPOCH:
            return EPOCH
        try:
            return coerce(key, value, int)
        except ConfigError:
            raise ConfigError(key, f"expected a whole number of steps or '{EPOCH}', got {value!r}") from None
    if origin is list or kind is list:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"expected a list, got {value!r}")
        (inner,) = typing.get_args(kind) or (str,)
        return [coerce(key, item, inner) for item in value]
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(key, f"expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(key, f"expected a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(key, f"expected a whole number, got {value!r}")
    if kind is float:
        if isinstance(value, bool):
            raise ConfigError(key, f"expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            # PyYAML reads "2e-4" (no dot) as text, so text numbers are normal here.
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(key, f"expected a number, got {value!r}")
    if kind is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(key, f"expected text, got {value!r}")
    if kind is dict:
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a mapping, got {value!r}")
        return dict(value)
    raise ConfigError(key, f"cannot read a value of type {_type_name(kind)}")


# -- dict <-> config -------------------------------------------------------------------------------
def _section_from_dict(name: str, cls, data: Any):
    if isinstance(data, cls):
        data = dataclasses.asdict(data)
    if not isinstance(data, dict):
        raise ConfigError(name, f"expected a mapping of {', '.join(f.name for f in dataclasses.fields(cls))}, "
                          f"got {data!r}")
    hints = _hints(cls)
    known = {leaf.name for leaf in dataclasses.fields(cls)}
    values = {}
    for key, value in data.items():
        if key not in known:
            raise _unknown(f"{name}.{key}", [f"{name}.{other}" for other in known] + list(_spec_table()))
        values[key] = coerce(f"{name}.{key}", value, hints[key])
    return cls(**values)


def _sweep_from_dict(data: Any) -> SweepSection | None:
    if data is None:
        return None
    sweep = _section_from_dict("sweep", SweepSection, data)
    table = _spec_table()
    for part in ("grid", "random"):
        normalized = {}
        for key, values in getattr(sweep, part).items():
            if key not in table or key.startswith("sweep."):
                raise _unknown(f"sweep.{part}.{key}", [f"sweep.{part}.{other}" for other in table])
            normalized[key] = _sweep_values(f"sweep.{part}.{key}", values, table[key].type, part)
        setattr(sweep, part, normalized)
    return sweep


def _sweep_values(key: str, values: Any, kind, part: str):
    if part == "random" and isinstance(values, dict):
        unknown = set(values) - {"low", "high", "log"}
        if unknown:
            raise ConfigError(key, f"a random range takes low, high and log; unknown: {', '.join(sorted(unknown))}")
        if "low" not in values or "high" not in values:
            raise ConfigError(key, "a random range needs both low and high")
        return {"low": coerce(f"{key}.low", values["low"], kind), "high": coerce(f"{key}.high", values["high"], kind),
                "log": coerce(f"{key}.log", values.get("log", False), bool)}
    if isinstance(values, str):
        values = yaml.safe_load(values) if values.strip().startswith("[") else values.split(",")
    if not isinstance(values, (list, tuple)):
        values = [values]
    return [coerce(key, value, kind) for value in values]


def config_from_dict(data: dict | None) -> RunConfig:
    """A RunConfig from nested dicts (missing keys take defaults); ConfigError names a bad key."""
    data = data or {}
    if not isinstance(data, dict):
        raise ConfigError("", f"a config is a mapping of keys, got {type(data).__name__}")
    hints = _hints(RunConfig)
    top_known = {top.name for top in dataclasses.fields(RunConfig)}
    values = {}
    for key, value in data.items():
        if key not in top_known:
            raise _unknown(str(key), list(top_known) + list(_spec_table()))
        if key == "sweep":
            values[key] = _sweep_from_dict(value)
        elif key in SECTIONS:
            values[key] = _section_from_dict(key, SECTIONS[key], value if value is not None else {})
        else:
            values[key] = coerce(key, value, hints[key])
    return RunConfig(**values)


def config_to_dict(cfg: RunConfig) -> dict:
    return dataclasses.asdict(cfg)


def to_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True, default_flow_style=False)


def save_config(cfg: RunConfig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_yaml(cfg), encoding="utf-8")
    return path


def load_config(path: str | Path) -> RunConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("", f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError("", f"{path}:{where} not valid YAML: {getattr(error, 'problem', error)}") from None
    try:
        return config_from_dict(data)
    except ConfigError as error:
        raise ConfigError(error.key, f"{error.message} (in {path})") from None


# -- overrides -------------------------------------------------------------------------------------
def _set_nested(data: dict, key: str, value: Any) -> None:
    head, _, leaf = key.partition(".")
    if not leaf:
        data[head] = value
    else:
        data.setdefault(head, {})[leaf] = value


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """A copy of cfg with each `key=value` applied; the value is read as the field's type.

    Sweep entries: `sweep.grid.train.learning_rate=1e-4,2e-4`, `sweep.random.KEY=[..]` or
    `{low: .., high: .., log: true}`, `sweep.draws=N`, `sweep.metric=NAME`, `sweep=null`.
    """
    data = config_to_dict(cfg)
    table = _spec_table()
    for item in overrides:
        key, equals, text = item.partition("=")
        key = key.strip()
        if not equals:
            raise ConfigError(key, f"expected KEY=VALUE, got {item!r}")
        if key == "sweep":
            data["sweep"] = None if text.strip() in ("", "null", "~", "none") else yaml.safe_load(text)
            continue
        if key.startswith("sweep."):
            sweep = data.get("sweep") or config_to_dict_sweep(SweepSection())
            rest = key[len("sweep."):]
            part, _, target = rest.partition(".")
            if part in ("grid", "random") and target:
                if target not in table:
                    raise _unknown(key, [f"sweep.{part}.{other}" for other in table])
                parsed = yaml.safe_load(text) if part == "random" and text.strip().startswith(("{", "[")) else text
                sweep[part][target] = _sweep_values(key, parsed, table[target].type, part)
            elif rest in ("draws", "metric"):
                sweep[rest] = text
            else:
                raise _unknown(key, ["sweep.grid", "sweep.random", "sweep.draws", "sweep.metric"])
            data["sweep"] = sweep
            continue
        if key not in table:
            raise _unknown(key, table)
        _set_nested(data, key, coerce(key, text, table[key].type))
    return config_from_dict(data)


def config_to_dict_sweep(sweep: SweepSection) -> dict:
    return dataclasses.asdict(sweep)


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        if any(isinstance(item, (list, dict)) for item in value):
            return yaml.safe_dump(list(value), default_flow_style=True).strip()
        return ",".join(_format_value(item) for item in value)
    if isinstance(value, dict):
        return yaml.safe_dump(value, default_flow_style=True).strip()
    return str(value)


def to_cli_command(cfg: RunConfig) -> str:
    """`python -m lab train --set ...` with only the keys that differ from the defaults."""
    default = RunConfig()
    parts = ["python", "-m", "lab", "train"]
    for spec in field_specs():
        value = _get(cfg, spec.key)
        if value != _get(default, spec.key):
            parts += ["--set", f"{spec.key}={_format_value(value)}"]
    if cfg.sweep is not None:
        for part in ("grid", "random"):
            for key, values in getattr(cfg.sweep, part).items():
                parts += ["--set", f"sweep.{part}.{key}={_format_value(values)}"]
        if cfg.sweep.draws:
            parts += ["--set", f"sweep.draws={cfg.sweep.draws}"]
        parts += ["--set", f"sweep.metric={cfg.sweep.metric}"]
    return " ".join(shlex.quote(part) for part in parts)


def _get(cfg: RunConfig, key: str) -> Any:
    value: Any = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return value


# -- validation ------------------------------------------------------------------------------------
def data_file(value: str, split: str, workspace: Path) -> Path | None:
    """The file a data key names: 'demo' -> the demo split, '' -> None, relative -> cwd, then workspace."""
    text = (value or "").strip()
    if not text:
        return None
    if text == DEMO:
        from core.demo_data import ensure_demo_dataset

        return Path(ensure_demo_dataset(Path(workspace))[split])
    path = Path(text).expanduser()
    if path.is_absolute():
        return path
    for root in (Path.cwd(), Path(workspace)):
        if (root / path).exists():
            return (root / path).resolve()
    return path.resolve()


def with_absolute_paths(cfg: RunConfig, workspace: Path) -> RunConfig:
    """cfg with relative data and model paths made absolute: the job process runs elsewhere."""
    data = config_to_dict(cfg)
    for split in ("train", "validation", "test"):
        value = data["data"][split]
        if value and value.strip() != DEMO:
            data["data"][split] = str(data_file(value, split, workspace))
    model = Path(cfg.model).expanduser()
    if cfg.model.startswith((".", "~")) and model.is_dir():
        data["model"] = str(model.resolve())
    return config_from_dict(data)


def _require(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(key, message)


def _check_choices(cfg: RunConfig) -> None:
    for spec in field_specs():
        value = _get(cfg, spec.key)
        if spec.choices and value not in spec.choices:
            raise ConfigError(spec.key, f"{value!r} is not one of {', '.join(spec.choices)}")


def _check_numbers(cfg: RunConfig) -> None:
    train, lora, data = cfg.train, cfg.lora, cfg.data
    _require(train.learning_rate > 0, "train.learning_rate", f"must be above 0, got {train.learning_rate}")
    _require(train.learning_rate < 1, "train.learning_rate", f"{train.learning_rate} is far too large to train")
    _require(train.batch_size >= 1, "train.batch_size", f"must be at least 1, got {train.batch_size}")
    _require(train.grad_accum >= 1, "train.grad_accum", f"must be at least 1, got {train.grad_accum}")
    _require(train.max_steps == -1 or train.max_steps >= 1, "train.max_steps",
             f"must be -1 (train by epochs) or at least 1, got {train.max_steps}")
    _require(train.max_steps != -1 or train.epochs > 0, "train.epochs",
             f"must be above 0 when max_steps is -1, got {train.epochs}")
    _require(0 <= train.warmup_ratio < 1, "train.warmup_ratio", f"must be in [0, 1), got {train.warmup_ratio}")
    _require(train.weight_decay >= 0, "train.weight_decay", f"must be 0 or more, got {train.weight_decay}")
    _require(train.logging_steps >= 1, "train.logging_steps", f"must be at least 1, got {train.logging_steps}")
    for key in ("eval_every", "save_every"):
        value = getattr(train, key)
        _require(value == EPOCH or value >= 0, f"train.{key}", f"must be a step count >= 0 or '{EPOCH}', got {value}")
    _require(train.save_every == EPOCH or train.save_every >= 1, "train.save_every",
             "must be at least 1 (checkpoints are what stop and resume work from)")
    _require(train.early_stopping_patience >= 0, "train.early_stopping_patience",
             f"must be 0 (off) or more, got {train.early_stopping_patience}")
    _require(train.num_gpus >= 1, "train.num_gpus", f"must be at least 1, got {train.num_gpus}")
    _require(train.early_stopping_patience == 0 or train.eval_every != 0, "train.early_stopping_patience",
             "early stopping needs periodic evaluation: set train.eval_every to a step count or 'epoch'")
    if cfg.method in ("lora", "qlora"):
        _require(lora.r >= 1, "lora.r", f"must be at least 1, got {lora.r}")
        _require(lora.alpha > 0, "lora.alpha", f"must be above 0, got {lora.alpha}")
        _require(0 <= lora.dropout < 1, "lora.dropout", f"must be in [0, 1), got {lora.dropout}")
        _require(bool(lora.target_modules), "lora.target_modules", "name at least one module")
    _require(data.max_length >= MIN_MAX_LENGTH, "data.max_length",
             f"{data.max_length} is too small: the chat template, instruction and answer alone need "
             f"more; use at least {MIN_MAX_LENGTH}")
    _require(0 <= data.validation_split <= 0.5, "data.validation_split",
             f"must be in [0, 0.5], got {data.validation_split}")
    _require(not (cfg.head == "seq-cls" and data.with_reason), "data.with_reason",
             "a seq-cls head predicts only the label; turn with_reason off or use head=causal-lm")
    if cfg.kfold.mode != "none":
        _require(cfg.kfold.k >= 2, "kfold.k", f"K-fold needs k >= 2, got {cfg.kfold.k}")


def _check_sweep(cfg: RunConfig) -> None:
    sweep = cfg.sweep
    if sweep is None:
        return
    _require(bool(sweep.grid) or bool(sweep.random), "sweep", "give sweep.grid or sweep.random values")
    for key, values in sweep.grid.items():
        _require(bool(values), f"sweep.grid.{key}", "list at least one value")
    if sweep.random:
        _require(sweep.draws >= 1, "sweep.draws", f"random search needs draws >= 1, got {sweep.draws}")
        for key, values in sweep.random.items():
            if isinstance(values, dict):
                _require(values["low"] < values["high"], f"sweep.random.{key}", "low must be below high")
                _require(not values["log"] or values["low"] > 0, f"sweep.random.{key}",
                         "a log range needs low above 0")
            else:
                _require(bool(values), f"sweep.random.{key}", "list at least one value")
    _require(bool(sweep.metric.strip()), "sweep.metric", "name the metric that ranks the trials")


def _check_environment(cfg: RunConfig) -> str:
    """Device, precision, QLoRA and tracker availability; returns the device that will be used."""
    from core.models import ModelError, pick_device, pick_dtype

    try:
        device = pick_device(cfg.train.device)
    except ModelError as error:
        raise ConfigError("train.device", str(error)) from None
    if cfg.train.precision != "auto":
        try:
            pick_dtype(cfg.train.precision, device)
        except ModelError as error:
            raise ConfigError("train.precision", f"{error} (device: {device})") from None
    if cfg.method == "qlora":
        missing = []
        if importlib.util.find_spec("bitsandbytes") is None:
            missing.append("bitsandbytes is not installed")
        if not device.startswith("cuda"):
            missing.append("no CUDA GPU is in use")
        _require(not missing, "method", f"qlora needs bitsandbytes and a CUDA GPU: {'; '.join(missing)}; "
                 "use method=lora")
    if cfg.train.num_gpus > 1:
        import torch

        visible = torch.cuda.device_count()
        _require(visible >= cfg.train.num_gpus, "train.num_gpus",
                 f"{cfg.train.num_gpus} GPUs asked for, {visible} visible")
    if cfg.train.report_to != "none":
        modules = REPORTER_MODULES[cfg.train.report_to]
        _require(any(importlib.util.find_spec(module) for module in modules), "train.report_to",
                 f"{cfg.train.report_to} is not installed (pip install {modules[0]}); use report_to=none")
    return device


def _check_model(cfg: RunConfig, workspace: Path):
    """The model must open without a download; returns its local folder when one exists."""
    from core.models import EMBEDDED_ALIASES, ModelError, resolve_model_path

    if cfg.model.strip() in EMBEDDED_ALIASES:
        from core.tiny_model import is_built

        folder = Path(workspace) / "cache" / "tiny-model"
        return folder if is_built(folder) else None
    try:
        path = resolve_model_path(cfg.model, workspace)
    except ModelError as error:
        raise ConfigError("model", str(error)) from None
    if Path(path).is_dir():
        _require((Path(path) / "config.json").is_file(), "model", f"{path} has no config.json")
        return Path(path)
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(path, "config.json")
    _require(isinstance(cached, str), "model", f"{path} is neither a local folder nor in the local hub cache, "
             "and the lab does not download; give a model folder")
    return Path(cached).parent


def _check_data(cfg: RunConfig, workspace: Path):
    from core.records import DataError, load_records

    first = None
    for split in ("train", "validation", "test"):
        key = f"data.{split}"
        value = getattr(cfg.data, split)
        if split == "train":
            _require(bool(value.strip()), key, "a training file is required")
        if split == "validation" and not value.strip() and cfg.data.validation_split == 0:
            _require(cfg.train.early_stopping_patience == 0, "train.early_stopping_patience",
                     "early stopping needs validation data: give data.validation or data.validation_split")
        path = data_file(value, split, workspace)
        if path is None:
            continue
        _require(path.is_file(), key, f"file not found: {path}")
        try:
            records = load_records(path, strict=cfg.data.bad_rows == "error").records
        except DataError as error:
            raise ConfigError(key, str(error)) from None
        if split == "train":
            first = records[0]
            if cfg.kfold.mode != "none":
                _require(len(records) >= cfg.kfold.k, "kfold.k",
                         f"{cfg.kfold.k} folds need at least {cfg.kfold.k} rows; {path} has {len(records)}")
    return first


def _check_max_length(cfg: RunConfig, model_folder: Path | None, record) -> None:
    """Encode one row with the real tokenizer when it is on disk: proves max_length fits."""
    if model_folder is None or record is None:
        return
    from core.encoding import encode, encode_prompt
    from core.models import ModelError, load_tokenizer

    try:
        tokenizer = load_tokenizer(str(model_folder), trust_remote_code=cfg.trust_remote_code)
    except ModelError as error:
        raise ConfigError("model", str(error)) from None
    options = encode_options(cfg)
    try:
        (encode_prompt if cfg.head == "seq-cls" else encode)(tokenizer, record, options)
    except ValueError as error:
        raise ConfigError("data.max_length", str(error)) from None


def encode_options(cfg: RunConfig):
    from core.encoding import EncodeOptions

    return EncodeOptions(with_reason=cfg.data.with_reason, instruction=cfg.data.instruction or None,
                         system=cfg.data.system, max_length=cfg.data.max_length,
                         truncation=cfg.data.truncation)


def validate(cfg: RunConfig, workspace: str | Path | None = None, deep: bool = True) -> RunConfig:
    """Refuse what cannot run, naming the key; returns cfg unchanged when all is well.

    deep=False skips what reads files or loads a tokenizer (for checks on every form edit).
    """
    from core.env import workspace_dir

    workspace = workspace_dir(workspace)
    _check_choices(cfg)
    _check_numbers(cfg)
    _check_sweep(cfg)
    _check_environment(cfg)
    if deep:
        record = _check_data(cfg, workspace)
        model_folder = _check_model(cfg, workspace)
        _check_max_length(cfg, model_folder, record)
    return cfg
