"""The configs' schema: `RunConfig` (a training run) and `EvalConfig` (an evaluation), typed dataclasses.

Each field's metadata carries its help text and, for a closed set, its `choices`; `field_specs`
lists a config's leaf fields with their type and default. Everything else is derived from it:
the Train and Evaluate forms (lab.config_form), the YAML, `--set` and CLI-flag forms
(core.config.text) and the value checks (core.config.checks). Every problem is a
`ConfigError(key, message)` naming the dotted key at fault.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import Any

DEMO = "demo"  # the embedded demo dataset, as a value of a data key
EMBEDDED = "embedded"  # the embedded tiny model, as a value of a model key
HEADS = ("causal-lm", "seq-cls")
METHODS = ("lora", "full", "qlora")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_min_lr", "polynomial")
REPORTERS = ("none", "tensorboard", "mlflow")
DEVICES = ("auto", "cpu", "cuda")
KFOLD_MODES = ("none", "chained", "independent")
TRUNCATIONS = ("keep_end", "keep_start")
BAD_ROWS = ("skip", "error")
EVAL_BACKENDS = ("auto", "transformers", "vllm")
EVAL_MODES = ("score", "generate")
EPOCH = "epoch"
# Every attention and MLP projection of Qwen2 / Llama-style blocks.
PROJECTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# The defaults are the embedded tiny model's preset (core/config/presets.py): its word knowledge sits in
# the token embedding, which LoRA must adapt too (rank 16: 8000x16 + 16x256 weights).
DEFAULT_TARGET_MODULES = PROJECTION_MODULES + ("embed_tokens",)
MIN_MAX_LENGTH = 64


class ConfigError(ValueError):
    """A config value that cannot work; `key` is the dotted key, e.g. `train.learning_rate`.

    `message` is the English wording (the CLI prints it); the common errors also carry a `code` and
    the `values` their wording needs, so the page words them in its own language (lab.i18n)."""

    def __init__(self, key: str, message: str, code: str = "", values: dict | None = None):
        self.key = key
        self.message = message
        self.code = code
        self.values = dict(values or {})
        super().__init__(f"{key}: {message}" if key else message)


class ConfigProblems(ConfigError):
    """Several problems found at once (an evaluation or a run is checked whole before it is refused).

    `errors` holds the ConfigErrors behind the lines when there are some (a form marks each key, the
    page words them in its language)."""

    def __init__(self, what: str, problems: list[str], errors: list[ConfigError] | None = None):
        self.what = what
        self.problems = problems
        self.errors = list(errors or [])
        super().__init__("", f"cannot {what}:\n" + "\n".join(f"  - {problem}" for problem in problems))


def option(default, help: str, choices: tuple | None = None):
    """A dataclass field with the metadata the forms, the CLI and the checks are generated from."""
    metadata = {"help": help, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class LoraSection:
    r: int = option(16, "LoRA rank: size of the low-rank update (more = more capacity, memory and time)")
    alpha: int = option(32, "LoRA alpha: the update is scaled by alpha / r")
    dropout: float = option(0.0, "dropout on the LoRA input during training")
    target_modules: list[str] = option(list(DEFAULT_TARGET_MODULES),
                                       "module names that get a LoRA update (comma-separated on the CLI)")


@dataclass
class DataSection:
    train: str = option(DEMO, "training file (JSONL / JSON list / CSV); 'demo' = the embedded demo dataset")
    validation: str = option(DEMO,
                             "validation file; empty = a stratified validation_split of the training file")
    test: str = option(DEMO, "test file, kept with the run for evaluation; empty = none")
    with_reason: bool = option(False, "train the answer with fraud_speaker and reason, not only is_fraud")
    instruction: str = option("", "instruction for every row; empty = each row's own, else the default")
    system: str | None = option(None, "system prompt; null = the chat template's default")
    prompt_template: str = option("", "the user message, over {instruction} and {input}; empty = "
                                  "{instruction}{input} (byte for byte, as the seeds built it) for a row's "
                                  "own instruction, {instruction}\\n{input} for the default or a run's one")
    max_length: int = option(384, "most tokens of prompt + answer; longer dialogues are shortened")
    truncation: str = option("keep_end", "which part of a too-long dialogue is kept", TRUNCATIONS)
    validation_split: float = option(0.1, "fraction of the training file held out when no validation file "
                                     "is given (stratified, seeded; indices saved in the run folder)")
    bad_rows: str = option("skip", "a row that cannot be used: skip = train on the good rows and list the "
                           "skipped lines in the log and summary; error = refuse the file", BAD_ROWS)
    text_column: str = option("input", "the column holding the text to classify")
    label_column: str = option("label", "the column holding the label")
    label_names: list[str] = option([], "the label names, two or more, in class order (e.g. human, chatgpt "
                                    "or 0, 1); empty = the fraud schema (true/false, speaker, reason)")


@dataclass
class TrainSection:
    epochs: float = option(1.0, "passes over the training data (used when max_steps is -1)")
    max_steps: int = option(200, "optimizer steps to train; -1 = as many as the epochs take")
    batch_size: int = option(8, "rows per forward pass")
    grad_accum: int = option(1,
                             "forward passes per optimizer step (effective batch = batch_size x grad_accum)")
    learning_rate: float = option(3e-3, "peak learning rate (embedded tiny model: LoRA 3e-3, full 5e-4; "
                                  "~1.5B model: LoRA 1e-4, full ~1e-5)")
    scheduler: str = option("cosine", "learning-rate schedule after warmup", SCHEDULERS)
    warmup_ratio: float = option(0.05, "fraction of the steps spent warming the learning rate up from 0")
    weight_decay: float = option(0.0, "AdamW weight decay")
    eval_every: int | str = option(100, "evaluate every N steps, or 'epoch'; 0 = only at the end")
    save_every: int | str = option(100, "save a resumable checkpoint every N steps, or 'epoch'")
    logging_steps: int = option(5, "write a metrics line every N steps")
    early_stopping_patience: int = option(0, "stop after N evaluations without a better eval_loss; 0 = off")
    gradient_checkpointing: bool = option(False,
                                          "recompute activations in the backward pass: less memory, slower")
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
    model: str = option(EMBEDDED, "base model: a folder, a hub id in the local cache, or 'embedded'")
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


@dataclass
class EvalConfig:
    """A side-by-side evaluation: the base model and its checkpoints answer the same rows."""

    model: str = option(EMBEDDED, "base model: a folder, a hub id in the local cache, or 'embedded'")
    adapters: list[str] = option([], "fine-tuned checkpoints compared with the base: run folders, adapter "
                                     "folders, Trainer checkpoints or full fine-tunes")
    data: str = option(DEMO, "labelled test file; 'demo' = the demo dataset's test split")
    limit: int | None = option(None, "evaluate a seeded sample of this many rows (file order kept); "
                                     "empty = every row")
    sample_seed: int = option(42, "seed of the sample")
    with_reason: bool = option(False, "ask for fraud_speaker and reason too (scored in generate mode)")
    mode: str = option("score", "score = compare the classes' answer probabilities (P(true) with P(false)) "
                                "after one forward pass (fast); "
                                "generate = decode the whole JSON answer", EVAL_MODES)
    instruction: str | None = option(None, "instruction for every row; empty = each checkpoint's training "
                                           "instruction, else the default")
    system: str | None = option(None, "system prompt; empty = each checkpoint's training one, else the "
                                      "template's default")
    prompt_template: str | None = option(None, "the user message, over {instruction} and {input}; empty = "
                                               "each checkpoint's training one, else the default for the "
                                               "row's instruction")
    max_length: int | None = option(None, "most prompt tokens; empty = each checkpoint's training "
                                          "max_length, else 1024")
    batch_size: int | None = option(None, "rows decoded at once; empty = as many as the free memory holds "
                                          "for these prompts")
    device: str = option("auto", "where to run; auto = CUDA when visible", DEVICES)
    precision: str = option("auto", "weights/compute precision; auto = bf16 on a GPU that has it, else fp32",
                            PRECISIONS)
    trust_remote_code: bool = option(False, "allow the model folder to run its own Python code")
    backend: str = option("auto", "auto = vLLM for a causal LM on a GPU when it is installed, else "
                                  "transformers", EVAL_BACKENDS)
    include_base: bool = option(True, "evaluate the base model itself too, as the first column")
    train_data: str | None = option(None, "training file of the TF-IDF baseline; empty = the checkpoints' "
                                          "own (the demo's for demo data)")
    bad_rows: str = option("skip", "a test row that cannot be used (no input, no usable label): skip = "
                           "evaluate the good rows and list the skipped lines in metrics.json; "
                           "error = refuse the file", BAD_ROWS)


# The DataSection fields that shape the prompt: the Tokenize tab and `python -m lab preview` offer these.
PROMPT_KEYS = ("with_reason", "instruction", "system", "prompt_template", "max_length", "truncation")
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

    @property
    def optional(self) -> bool:
        """True for `X | None` fields, whose empty value means "not set"."""
        return type(None) in typing.get_args(self.type)

    @property
    def base_type(self) -> Any:
        """The type without its `| None`."""
        members = [member for member in typing.get_args(self.type) if member is not type(None)]
        if typing.get_origin(self.type) in (typing.Union, types.UnionType) and len(members) == 1:
            return members[0]
        return self.type


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _default(spec: dataclasses.Field):
    if spec.default is not dataclasses.MISSING:
        return spec.default
    return spec.default_factory()


def _leaf_specs(cls, prefix: str = "") -> list[FieldSpec]:
    hints = _hints(cls)
    return [FieldSpec(f"{prefix}{leaf.name}", hints[leaf.name], _default(leaf), leaf.metadata["help"],
                      leaf.metadata.get("choices")) for leaf in dataclasses.fields(cls)]


def field_specs(cls=None, include_sweep: bool = False) -> list[FieldSpec]:
    """Every leaf key of a config class (RunConfig unless given) in declaration order, with its type,
    default, help and choices. RunConfig's sections give dotted keys; its sweep only when asked."""
    cls = cls or RunConfig
    if cls is not RunConfig:
        return _leaf_specs(cls)
    specs = []
    for top in dataclasses.fields(RunConfig):
        section = SECTIONS.get(top.name)
        if section is None:
            specs += [spec for spec in _leaf_specs(RunConfig) if spec.key == top.name]
        elif section is not SweepSection or include_sweep:
            specs += _leaf_specs(section, f"{top.name}.")
    return specs


def spec_table(cls=None) -> dict[str, FieldSpec]:
    return {spec.key: spec for spec in field_specs(cls)}


def get_value(cfg, key: str) -> Any:
    """The value of a dotted key (`train.learning_rate`) in a config."""
    value: Any = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return value


def unknown_key(key: str, known) -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ConfigError(key, f"unknown key{hint}")


def prompt_options(data: DataSection):
    """The prompt a data section describes (its PROMPT_KEYS), as core.data.encoding takes it."""
    from core.data.encoding import EncodeOptions

    return EncodeOptions(with_reason=data.with_reason, instruction=data.instruction or None,
                         system=data.system, max_length=data.max_length, truncation=data.truncation,
                         prompt_template=data.prompt_template or None,
                         label_names=tuple(data.label_names or ()))


def encode_options(cfg: RunConfig):
    """The prompt a training run's config describes."""
    return prompt_options(cfg.data)
