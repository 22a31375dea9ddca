"""The configs checked against the world: files that must exist and parse, the model that must open
without a download, the device, precision and libraries a run needs. Also where a data key's
text points (`data_file`), since a check and the job that runs must agree on it.

`validate(cfg, workspace, deep=False)` skips what reads files or loads a tokenizer, for a check on
every form edit; a job is only submitted after the deep check.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from core.config.schema import (DEMO, EPOCH, MIN_MAX_LENGTH, ConfigError, ConfigProblems, EvalConfig,
                                RunConfig, encode_options, field_specs, get_value)
from core.config.text import config_from_dict, config_to_dict

REPORTER_MODULES = {"tensorboard": ("tensorboard", "tensorboardX"), "mlflow": ("mlflow",)}


def data_file(value: str, split: str, workspace: Path) -> Path | None:
    """The file a data key names: 'demo' -> the demo split, '' -> None, relative -> cwd, then workspace."""
    text = (value or "").strip()
    if not text:
        return None
    if text == DEMO:
        from core.demo.dataset import ensure_demo_dataset

        return Path(ensure_demo_dataset(Path(workspace))[split])
    from core.demo.reviews import DEMO_REVIEWS

    if text == DEMO_REVIEWS:
        from core.demo.reviews import ensure_review_dataset

        return Path(ensure_review_dataset(Path(workspace))[split])
    path = Path(text).expanduser()
    if path.is_absolute():
        return path
    for root in (Path.cwd(), Path(workspace)):
        if (root / path).exists():
            return (root / path).resolve()
    return path.resolve()


PATH_KEYS = ("model", "data.train", "data.validation", "data.test")


def absolute_path_value(key: str, value, workspace: Path):
    """A model or data key's value as the job process must get it: relative folders and files made
    absolute the way the checks found them (a data file in the current folder, else the workspace;
    a model folder in the current folder), since the job runs with another working folder. "demo",
    "demo-reviews", "embedded", hub ids and empty values are kept."""
    text = str(value).strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not text:
        return value
    if key == "model":
        from core.models import EMBEDDED_ALIASES

        folder = Path(text).expanduser()
        return str(folder.resolve()) if text not in EMBEDDED_ALIASES and folder.is_dir() else value
    from core.demo.reviews import DEMO_REVIEWS

    # The demos are named, not located: each workspace has its own copy.
    return value if text in (DEMO, DEMO_REVIEWS) else str(data_file(text, key.split(".")[1], workspace))


def with_absolute_paths(cfg: RunConfig, workspace: Path) -> RunConfig:
    """cfg with relative data and model paths made absolute, a sweep's values too: the job process
    runs elsewhere."""
    data = config_to_dict(cfg)
    for split in ("train", "validation", "test"):
        data["data"][split] = absolute_path_value(f"data.{split}", data["data"][split], workspace)
    data["model"] = absolute_path_value("model", data["model"], workspace)
    for table in ("grid", "random"):
        values = (data.get("sweep") or {}).get(table) or {}
        for key in [key for key in values if key in PATH_KEYS and isinstance(values[key], list)]:
            values[key] = [absolute_path_value(key, value, workspace) for value in values[key]]
    return config_from_dict(data)


def _require(condition: bool, key: str, message: str, code: str = "", **values) -> None:
    if not condition:
        raise ConfigError(key, message, code, values)


def _require_at_least(value, minimum, key: str) -> None:
    _require(value >= minimum, key, f"must be at least {minimum}, got {value}", "at_least", minimum=minimum,
             value=value)


def _require_in(value, low, high, key: str) -> None:
    """low <= value < high."""
    _require(low <= value < high, key, f"must be in [{low}, {high}), got {value}", "in_range",
             range=f"[{low}, {high})", value=value)


def _check_choices(cfg: RunConfig) -> None:
    for spec in field_specs():
        value = get_value(cfg, spec.key)
        if spec.choices and value not in spec.choices:
            raise ConfigError(spec.key, f"{value!r} is not one of {', '.join(spec.choices)}", "not_a_choice",
                              {"value": repr(value), "choices": ", ".join(spec.choices)})


def _check_numbers(cfg: RunConfig) -> None:
    train, lora, data = cfg.train, cfg.lora, cfg.data
    _require(train.learning_rate > 0, "train.learning_rate", f"must be above 0, got {train.learning_rate}",
             "above", minimum=0, value=train.learning_rate)
    _require(train.learning_rate < 1, "train.learning_rate",
             f"{train.learning_rate} is far too large to train", "too_large", value=train.learning_rate)
    _require_at_least(train.batch_size, 1, "train.batch_size")
    _require_at_least(train.grad_accum, 1, "train.grad_accum")
    _require(train.max_steps == -1 or train.max_steps >= 1, "train.max_steps",
             f"must be -1 (train by epochs) or at least 1, got {train.max_steps}", "max_steps",
             value=train.max_steps)
    _require(train.max_steps != -1 or train.epochs > 0, "train.epochs",
             f"must be above 0 when max_steps is -1, got {train.epochs}", "epochs", value=train.epochs)
    _require_in(train.warmup_ratio, 0, 1, "train.warmup_ratio")
    _require(train.weight_decay >= 0, "train.weight_decay", f"must be 0 or more, got {train.weight_decay}",
             "at_least", minimum=0, value=train.weight_decay)
    _require_at_least(train.logging_steps, 1, "train.logging_steps")
    for key in ("eval_every", "save_every"):
        value = getattr(train, key)
        _require(value == EPOCH or value >= 0, f"train.{key}",
                 f"must be a step count >= 0 or '{EPOCH}', got {value}")
    _require(train.save_every == EPOCH or train.save_every >= 1, "train.save_every",
             "must be at least 1 (checkpoints are what stop and resume work from)")
    _require(train.early_stopping_patience >= 0, "train.early_stopping_patience",
             f"must be 0 (off) or more, got {train.early_stopping_patience}")
    _require_at_least(train.num_gpus, 1, "train.num_gpus")
    _require(train.early_stopping_patience == 0 or train.eval_every != 0, "train.early_stopping_patience",
             "early stopping needs periodic evaluation: set train.eval_every to a step count or 'epoch'")
    if cfg.method in ("lora", "qlora"):
        _require_at_least(lora.r, 1, "lora.r")
        _require(lora.alpha > 0, "lora.alpha", f"must be above 0, got {lora.alpha}", "above", minimum=0,
                 value=lora.alpha)
        _require_in(lora.dropout, 0, 1, "lora.dropout")
        _require(bool(lora.target_modules), "lora.target_modules", "name at least one module")
    _require(data.max_length >= MIN_MAX_LENGTH, "data.max_length",
             f"{data.max_length} is too small: the chat template, instruction and answer alone need "
             f"more; use at least {MIN_MAX_LENGTH}", "max_length_small", value=data.max_length,
             minimum=MIN_MAX_LENGTH)
    if data.prompt_template:
        _require_template(data.prompt_template, "data.prompt_template")
    _require(0 <= data.validation_split <= 0.5, "data.validation_split",
             f"must be in [0, 0.5], got {data.validation_split}")
    _require(not (cfg.head == "seq-cls" and data.with_reason), "data.with_reason",
             "a seq-cls head predicts only the label; turn with_reason off or use head=causal-lm")
    if cfg.kfold.mode != "none":
        _require(cfg.kfold.k >= 2, "kfold.k", f"K-fold needs k >= 2, got {cfg.kfold.k}", "at_least",
                 minimum=2, value=cfg.kfold.k)
    _check_mapping(cfg)


def _check_mapping(cfg: RunConfig) -> None:
    from core.data.mapping import mapping_of

    try:
        mapping = mapping_of(cfg.data)
    except ValueError as error:
        raise ConfigError("data.label_names", str(error)) from None
    _require(mapping.is_fraud or not cfg.data.with_reason, "data.with_reason",
             "speaker and reason exist in the fraud schema only; turn with_reason off for a dataset with "
             "label names")


def _require_template(template: str, key: str) -> None:
    from core.data.encoding import check_prompt_template

    try:
        check_prompt_template(template)
    except ValueError as error:
        raise ConfigError(key, str(error)) from None


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
        from core.demo.tiny_model import is_built
        from core.workspace import Workspace

        folder = Workspace(workspace).tiny_model_dir
        return folder if is_built(folder) else None
    try:
        path = resolve_model_path(cfg.model, workspace)
    except ModelError as error:
        raise ConfigError("model", str(error)) from None
    if Path(path).is_dir():
        _require((Path(path) / "config.json").is_file(), "model", f"{path} has no config.json", "no_config",
                 path=str(path))
        return Path(path)
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(path, "config.json")
    _require(isinstance(cached, str), "model",
             f"{path} is neither a local folder nor in the local hub cache, and the lab does not download. "
             "Point model at a local folder that holds it (config.json, the tokenizer files, *.safetensors): "
             f"--set model=/path/to/{path.rsplit('/', 1)[-1]} on the command line, `model: /path/to/...` in "
             f"a recipe, or the Model field of the Train form; fetch it where there is internet with "
             f"`hf download {path} --local-dir DIR` and copy DIR here", "model_not_local", model=path,
             name=path.rsplit('/', 1)[-1])
    return Path(cached).parent


def _check_data(cfg: RunConfig, workspace: Path):
    from core.data.mapping import mapping_of
    from core.data.records import DataError, load_records

    first = None
    for split in ("train", "validation", "test"):
        key = f"data.{split}"
        value = getattr(cfg.data, split)
        if split == "train":
            _require(bool(value.strip()), key, "a training file is required", "required_file")
        if split == "validation" and not value.strip() and cfg.data.validation_split == 0:
            _require(cfg.train.early_stopping_patience == 0, "train.early_stopping_patience",
                     "early stopping needs validation data: give data.validation or data.validation_split")
        path = data_file(value, split, workspace)
        if path is None:
            continue
        _require(path.is_file(), key, f"file not found: {path}", "file_not_found", path=str(path))
        try:
            records = load_records(path, strict=cfg.data.bad_rows == "error",
                                   mapping=mapping_of(cfg.data)).records
        except DataError as error:
            hint = _mapping_hint(path, mapping_of(cfg.data))
            shown = [problem.to_dict() for problem in error.problems]
            raise ConfigError(key, str(error) + hint, "bad_data", {"problems": shown, "hint": hint}) from None
        if split == "train":
            first = records[0]
            if cfg.kfold.mode != "none":
                _require(len(records) >= cfg.kfold.k, "kfold.k",
                         f"{cfg.kfold.k} folds need at least {cfg.kfold.k} rows; {path} has {len(records)}")
    return first


def _mapping_hint(path: Path, mapping) -> str:
    """For a file that does not fit the mapping asked for, the mapping it seems to follow."""
    from core.data.mapping import propose_mapping
    from core.data.records import DataError

    try:
        proposed = propose_mapping(path)
    except DataError:
        return ""
    if proposed == mapping:
        return ""
    if proposed.is_fraud:
        return "\nthis file looks like the fraud schema: data.label_names empty"
    settings = proposed.settings().items()
    return "\nthis file looks like: " + " ".join(f"{key}={value}" for key, value in settings)


def _check_max_length(cfg: RunConfig, model_folder: Path | None, record) -> None:
    """Encode one row with the real tokenizer when it is on disk: proves max_length fits."""
    if model_folder is None or record is None:
        return
    from core.data.encoding import encode, encode_prompt
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


def validate(cfg: RunConfig, workspace: str | Path | None = None, deep: bool = True) -> RunConfig:
    """Refuse what cannot run, naming the key; returns cfg unchanged when all is well.

    deep=False skips what reads files or loads a tokenizer (for checks on every form edit).
    """
    from core.env import workspace_dir

    workspace = workspace_dir(workspace)
    # Each group is checked even when another failed, so a user fixes every problem in one go
    # (a missing model and a missing data file are both named).
    problems: list[ConfigError] = []

    def check(group, *arguments):
        try:
            return group(*arguments), True
        except ConfigError as error:
            problems.append(error)
            return None, False

    for group in (_check_choices, _check_numbers, _check_sweep, _check_environment):
        check(group, cfg)
    if deep:
        record, data_ok = check(_check_data, cfg, workspace)
        model_folder, model_ok = check(_check_model, cfg, workspace)
        if data_ok and model_ok and not problems:
            check(_check_max_length, cfg, model_folder, record)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ConfigProblems("start this run", [str(problem) for problem in problems], problems)
    return cfg


def check_eval_values(cfg: EvalConfig) -> list[ConfigError]:
    """What is wrong with an evaluation's values alone (no file read): one error per problem."""
    problems = [ConfigError(spec.key, f"{get_value(cfg, spec.key)!r} is not one of {', '.join(spec.choices)}",
                            "not_a_choice", {"value": repr(get_value(cfg, spec.key)),
                                             "choices": ", ".join(spec.choices)})
                for spec in field_specs(EvalConfig)
                if spec.choices and get_value(cfg, spec.key) not in spec.choices]
    if cfg.batch_size is not None and cfg.batch_size < 1:
        problems.append(ConfigError("batch_size", f"must be at least 1, got {cfg.batch_size}", "at_least",
                                    {"minimum": 1, "value": cfg.batch_size}))
    if cfg.limit is not None and cfg.limit < 1:
        problems.append(ConfigError("limit", f"must be at least 1 (or empty for every row), got {cfg.limit}",
                                    "at_least_or_empty", {"minimum": 1, "value": cfg.limit}))
    if cfg.max_length is not None and cfg.max_length < MIN_MAX_LENGTH:
        problems.append(ConfigError("max_length", f"must be at least {MIN_MAX_LENGTH} (or empty for each "
                                    f"checkpoint's own), got {cfg.max_length}", "at_least_or_own",
                                    {"minimum": MIN_MAX_LENGTH, "value": cfg.max_length}))
    if cfg.prompt_template:
        try:
            _require_template(cfg.prompt_template, "prompt_template")
        except ConfigError as error:
            problems.append(error)
    if not cfg.include_base and not cfg.adapters:
        problems.append(ConfigError("", "nothing to evaluate: include_base is off and no checkpoint is given",
                                    "nothing_to_evaluate"))
    return problems
