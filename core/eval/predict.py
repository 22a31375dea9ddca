"""One predictor for every model the lab holds: a base causal LM, base + LoRA adapter, a merged
model, or a sequence-classification head.

Two ways to read an answer:
- `generate`: greedy decoding of the JSON answer, parsed with `core.data.answers.parse_answer`.
- `score`: one forward pass per batch that compares the logits of the two tokens where the
  answers `{"is_fraud": true` and `{"is_fraud": false` first differ, after the shared prefix of
  those answers is appended to the prompt. Greedy decoding picks the larger of those two logits
  at that very position, so whenever a generated answer follows the trained prefix both paths
  give the same label; scoring skips the decoding loop and computes logits for one position only.
"""
from __future__ import annotations

import copy
import gc
import inspect
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from transformers import DynamicCache, GenerationConfig, LogitsProcessor, LogitsProcessorList

from core.data.answers import answer_text
from core.data.encoding import EncodeOptions, answer_reserve, encode_prompt
from core.env import workspace_dir
from core.eval.decoding import MIN_SHARED_PREFIX, PLAIN_DECODERS, GreedyDecoder, Watch, plain_decoder
from core.models import (
    ModelError,
    default_precision,
    end_of_turn_ids,
    load_causal_lm,
    load_sequence_classifier,
    is_encoder,
    load_tokenizer,
    model_fingerprint,
    pick_device,
    pick_dtype,
    resolve_model_path,
)
from core.data.records import Record
from core.eval.vllm_backend import VLLM, load_vllm_predictor, resolve_backend
from core.workspace import ADAPTER_CONFIG_FILE, ADAPTER_DIR, RunDir, run_info_of

CAUSAL = "causal"
SEQ_CLS = "seq_cls"
SEQ_CLS_NAMES = {"seq_cls", "seq-cls", "seqcls", "classifier", "classification", "sequence_classification"}
BASE_MODEL_KEYS = ("base_model", "base_model_path", "model_path", "model")
# Tokens beyond the longest is_fraud-only answer: room for a stray space or newline before the
# end-of-turn token, so a slightly off answer still closes and parses.
SHORT_ANSWER_SLACK = 4

Progress = Callable[[int, int], None]


@dataclass
class Prediction:
    is_fraud: bool | None
    fraud_speaker: str = ""
    reason: str = ""
    valid: bool = False
    raw_text: str = ""
    p_true: float | None = None
    error: str = ""
    error_kind: str = ""  # core.data.answers.ParsedAnswer's, for the page to word
    error_value: str = ""
    label: int | None = None  # a dataset with label names: the class (core.eval.classes)
    probabilities: list[float] | None = None  # ... and every class's probability

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AdapterInfo:
    """Where an adapter lies and what its training run recorded about it."""

    path: Path  # the folder holding adapter_config.json
    adapter_config: dict = field(default_factory=dict)
    run_info: dict = field(default_factory=dict)

    @property
    def base_model(self) -> str | None:
        for key in BASE_MODEL_KEYS:
            value = self.run_info.get(key)
            if isinstance(value, str) and value.strip():
                return value
        value = self.adapter_config.get("base_model_name_or_path")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def head(self) -> str:
        head = str(self.run_info.get("head", "")).lower()
        if head in SEQ_CLS_NAMES or self.adapter_config.get("task_type") == "SEQ_CLS":
            return SEQ_CLS
        return CAUSAL

    @property
    def fingerprint(self) -> dict | None:
        saved = self.run_info.get("model_fingerprint")
        if isinstance(saved, dict) and saved.get("digest"):
            return saved
        base = self.base_model
        if base and (Path(base) / "config.json").is_file():
            return model_fingerprint(base)
        return None


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: cannot be read as JSON ({error})") from None
    return value if isinstance(value, dict) else {}


def find_adapter(path: str | Path) -> AdapterInfo:
    """Accept a run folder (with adapter/), an adapter folder, or a Trainer checkpoint folder."""
    given = Path(path).expanduser()
    if (given / ADAPTER_CONFIG_FILE).is_file():
        folder = given
    elif (RunDir(given).adapter_dir / ADAPTER_CONFIG_FILE).is_file():
        folder = RunDir(given).adapter_dir
    elif not given.exists():
        raise ModelError(f"adapter folder not found: {given}")
    else:
        raise ModelError(f"{given}: no {ADAPTER_CONFIG_FILE} here or in {RunDir(given).adapter_dir}; "
                         "choose a training run or its adapter folder")
    folder = folder.resolve()
    try:
        run_info = run_info_of(folder)
    except ValueError as error:
        raise ModelError(str(error)) from None
    return AdapterInfo(path=folder, adapter_config=_read_json(folder / ADAPTER_CONFIG_FILE),
                       run_info=run_info)


def fingerprint_mismatch(expected: dict | None, actual: dict) -> list[str]:
    """Shape fields that differ between two fingerprints (names may differ: models move)."""
    if not expected or "digest" not in actual:
        return []
    keys = [key for key in expected if key not in ("name", "digest")]
    return [f"{key}: adapter's base has {expected[key]!r}, this model has {actual.get(key)!r}"
            for key in keys if expected.get(key) != actual.get(key)]


def model_head(path: str) -> str:
    if is_encoder(path):  # an encoder answers only through a classifier head
        return SEQ_CLS
    config_file = Path(path) / "config.json"
    if config_file.is_file():
        architectures = _read_json(config_file).get("architectures") or []
        if any(str(name).endswith("ForSequenceClassification") for name in architectures):
            return SEQ_CLS
    return CAUSAL


@dataclass(frozen=True)
class AnswerTokens:
    """The shared start of the two answers and the first token where they differ."""

    prefix: list[int]
    true_id: int
    false_id: int
    longest: int  # tokens of the longest is_fraud-only answer


def answer_tokens(tokenizer, with_reason: bool) -> AnswerTokens:
    def ids(label: bool, reasons: bool) -> list[int]:
        record = Record(input="-", label=label, fraud_speaker="甲" if label else "",
                        reason="理由" if label else "")
        return tokenizer.encode(answer_text(record, reasons), add_special_tokens=False)

    true_ids, false_ids = ids(True, with_reason), ids(False, with_reason)
    split = next((position for position, (a, b) in enumerate(zip(true_ids, false_ids)) if a != b), None)
    if split is None:
        raise ModelError("this tokenizer gives the true and false answers the same tokens")
    longest = max(len(ids(True, False)), len(ids(False, False)))
    return AnswerTokens(prefix=true_ids[:split], true_id=true_ids[split], false_id=false_ids[split],
                        longest=longest)


def answer_budget(short_answer: AnswerTokens, options: EncodeOptions) -> int:
    """max_new_tokens of an answer: the room encode_prompt leaves after the prompt with reasons,
    else the longest is_fraud-only answer and its end-of-turn token, with a little slack."""
    if options.with_reason:
        return answer_reserve(options)
    return short_answer.longest + 1 + SHORT_ANSWER_SLACK


def left_pad(sequences: list[list[int]], pad_id: int,
             device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ids, attention mask and position ids of a left-padded batch.

    Position ids count real tokens only, as generate() does, so a row reads the same padded or
    alone (the forward pass would otherwise number pads too).
    """
    width = max(len(sequence) for sequence in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, width - len(sequence):] = torch.tensor(sequence, dtype=torch.long)
        mask[row, width - len(sequence):] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), positions.to(device)


def length_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Row indices grouped longest first, so each batch pads little and memory peaks at once."""
    order = sorted(range(len(lengths)), key=lambda index: (-lengths[index], index))
    return [order[start:start + batch_size] for start in range(0, len(order), max(1, batch_size))]


class _TwoTokenCapture(LogitsProcessor):
    """Logits processor that records the true/false logits at one decoding step, unchanged.

    Reading them during generation gives p_true without a second forward pass.
    """

    def __init__(self, prompt_width: int, step: int, token_ids: tuple[int, int]):
        self.position = prompt_width + step
        self.token_ids = list(token_ids)
        self.logits: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[1] == self.position:
            self.logits = scores[:, self.token_ids].float().cpu()
        return scores


def prediction_from_text(text: str, p_true: float | None) -> Prediction:
    from core.data.answers import parse_answer

    parsed = parse_answer(text)
    return Prediction(is_fraud=parsed.is_fraud if parsed.valid else None,
                      fraud_speaker=parsed.fraud_speaker or "", reason=parsed.reason or "",
                      valid=bool(parsed.valid), raw_text=text, p_true=p_true,
                      error=getattr(parsed, "error", "") or "", error_kind=parsed.error_kind,
                      error_value=parsed.error_value)


def _label_prediction(p_true: float, true_logit_wins: bool) -> Prediction:
    label = bool(true_logit_wins)
    return Prediction(is_fraud=label, valid=True, raw_text=json.dumps({"is_fraud": label}), p_true=p_true)


class Predictor:
    def __init__(self, model, tokenizer, device: str, head: str = CAUSAL, name: str = "",
                 base_path: str = "", adapter_path: str | None = None, precision: str = "fp32"):
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.head = head
        self.name = name
        self.base_path = base_path
        self.adapter_path = adapter_path
        self.precision = precision
        self.backend = "transformers"
        self.end_ids = end_of_turn_ids(tokenizer, getattr(model, "generation_config", None))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.end_ids[0]
        if head == CAUSAL:
            # A hub model's generation_config may carry sampling settings and a repetition penalty
            # that generate() would merge into ours; plain greedy needs none of them.
            model.generation_config = GenerationConfig(eos_token_id=self.end_ids, pad_token_id=self.pad_id)
        self._answer_tokens: dict[bool, AnswerTokens] = {}
        self.share_prefix = True  # compute the rows' common prompt start once
        self.continuous = True  # generate with core.eval.decoding (False: fixed batches through generate)
        self._decoder: GreedyDecoder | None = None
        # An unmerged PeftModel forwards **kwargs: ask the network underneath.
        network = model.get_base_model() if hasattr(model, "get_base_model") else model
        self._keep_one = "logits_to_keep" in inspect.signature(network.forward).parameters

    def answer_tokens(self, with_reason: bool) -> AnswerTokens:
        if with_reason not in self._answer_tokens:
            self._answer_tokens[with_reason] = answer_tokens(self.tokenizer, with_reason)
        return self._answer_tokens[with_reason]

    def max_new_tokens(self, options: EncodeOptions) -> int:
        return answer_budget(self.answer_tokens(False), options)

    def prompts(self, records: list[Record], options: EncodeOptions) -> list[list[int]]:
        return [list(encode_prompt(self.tokenizer, record, options).input_ids) for record in records]

    @torch.inference_mode()
    def generate(self, records: list[Record], options: EncodeOptions, batch_size: int | None = None,
                 max_new_tokens: int | None = None, progress: Progress | None = None) -> list[Prediction]:
        """Greedy answers. `batch_size` caps the rows decoded at once; None sizes it from the free
        memory and the prompts' lengths (core.decoding.rows_at_once)."""
        if self.head == SEQ_CLS:
            return self.score(records, options, batch_size=batch_size or 32, progress=progress)
        if options.label_names:
            return self._generate_classes(records, options, batch_size, max_new_tokens, progress)
        prompts = self.prompts(records, options)
        tokens = self.answer_tokens(options.with_reason)
        limit = max_new_tokens or self.max_new_tokens(options)
        if self.continuous and plain_decoder(self.model):
            self.decoder().share_prefix = self.share_prefix
            decoded = self.decoder().decode(prompts, limit, max_rows=batch_size,
                                            watch=Watch(tokens.prefix, [tokens.true_id, tokens.false_id]),
                                            progress=progress)
            results = [self._prediction(item.tokens, item.watched) for item in decoded]
        else:
            results = self._generate_batches(prompts, tokens, limit, batch_size or 16, progress)
        # Answers that left the trained prefix (an untuned base model's prose) get p_true from one
        # scoring pass, so every row has a probability for ROC curves.
        missing = [index for index, result in enumerate(results) if result.p_true is None]
        if missing:
            scored = self._p_true([prompts[index] for index in missing], tokens, 2 * (batch_size or 16))
            for index, (p_true, _) in zip(missing, scored):
                results[index].p_true = p_true
        return results

    def _generate_classes(self, records: list[Record], options: EncodeOptions, batch_size: int | None,
                          max_new_tokens: int | None, progress: Progress | None) -> list[Prediction]:
        from core.eval.classes import class_prediction_from_text, label_tokens

        prompts = self.prompts(records, options)
        tokens = label_tokens(self.tokenizer, options.label_names)
        limit = max_new_tokens or tokens.longest + 1 + SHORT_ANSWER_SLACK
        if plain_decoder(self.model):
            self.decoder().share_prefix = self.share_prefix
            watch = Watch(tokens.prefix, tokens.ids)
            decoded = [(item.tokens, item.watched) for item in self.decoder().decode(
                prompts, limit, max_rows=batch_size, watch=watch, progress=progress)]
        else:
            decoded = []
            for batch in length_batches([len(prompt) for prompt in prompts], batch_size or 16):
                ids, mask, _ = left_pad([prompts[index] for index in batch], self.pad_id, self.model.device)
                output = self.model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                                             max_new_tokens=limit)
                for row, index in enumerate(batch):
                    generated = output[row, ids.shape[1]:].tolist()
                    ends = [position for position, token in enumerate(generated) if token in self.end_ids]
                    decoded.append((index, generated[: ends[0]] if ends else generated))
            decoded = [(generated, None) for _, generated in sorted(decoded)]
        return [class_prediction_from_text(self.tokenizer.decode(generated, skip_special_tokens=True),
                                           watched, options.label_names) for generated, watched in decoded]

    def decoder(self) -> GreedyDecoder:
        if self._decoder is None:
            self._decoder = GreedyDecoder(self.model, self.tokenizer, self.end_ids, self.pad_id)
        return self._decoder

    def _prediction(self, generated: list[int], pair_logits: torch.Tensor | None) -> Prediction:
        text = self.tokenizer.decode(generated, skip_special_tokens=True)
        p_true = None if pair_logits is None else float(torch.softmax(pair_logits, dim=-1)[0])
        return prediction_from_text(text, p_true)

    def _generate_batches(self, prompts: list[list[int]], tokens: AnswerTokens, limit: int, batch_size: int,
                          progress: Progress | None) -> list[Prediction]:
        """Fixed sorted batches through model.generate: for models the greedy decoder does not
        drive itself (sliding-window attention, scaled logits)."""
        results: list[Prediction | None] = [None] * len(prompts)
        done = 0
        for batch in length_batches([len(prompt) for prompt in prompts], batch_size):
            ids, mask, _ = left_pad([prompts[index] for index in batch], self.pad_id, self.model.device)
            capture = _TwoTokenCapture(ids.shape[1], len(tokens.prefix), (tokens.true_id, tokens.false_id))
            output = self.model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                                         max_new_tokens=limit,
                                         logits_processor=LogitsProcessorList([capture]))
            for row, index in enumerate(batch):
                generated = output[row, ids.shape[1]:].tolist()
                ends = [position for position, token in enumerate(generated) if token in self.end_ids]
                generated = generated[: ends[0]] if ends else generated
                logits = None
                if capture.logits is not None and generated[: len(tokens.prefix)] == tokens.prefix:
                    logits = capture.logits[row]
                results[index] = self._prediction(generated, logits)
            done += len(batch)
            if progress:
                progress(done, len(prompts))
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def score(self, records: list[Record], options: EncodeOptions, batch_size: int = 32,
              progress: Progress | None = None) -> list[Prediction]:
        prompts = self.prompts(records, options)
        if options.label_names:
            from core.eval.classes import class_prediction, label_tokens

            if self.head == SEQ_CLS:
                probabilities = self._class_probabilities(prompts, batch_size, progress)
            else:
                tokens = label_tokens(self.tokenizer, options.label_names)
                probabilities = torch.softmax(self._choice_logits(prompts, tokens.prefix, tokens.ids,
                                                                  batch_size, progress), dim=-1)
            return [class_prediction(row, options.label_names) for row in probabilities]
        if self.head == SEQ_CLS:
            scored = self._classify(prompts, batch_size, progress)
        else:
            scored = self._p_true(prompts, self.answer_tokens(options.with_reason), batch_size, progress)
        return [_label_prediction(p_true, wins) for p_true, wins in scored]

    def _p_true(self, prompts: list[list[int]], tokens: AnswerTokens, batch_size: int,
                progress: Progress | None = None) -> list[tuple[float, bool]]:
        pairs = self._choice_logits(prompts, tokens.prefix, [tokens.true_id, tokens.false_id], batch_size,
                                    progress)
        probabilities = torch.softmax(pairs, dim=-1)[:, 0]
        # Greedy decoding takes the true token only when its logit is strictly larger.
        return [(float(probability), bool(pair[0] > pair[1]))
                for probability, pair in zip(probabilities, pairs)]

    def _choice_logits(self, prompts: list[list[int]], prefix: list[int], token_ids: list[int],
                       batch_size: int, progress: Progress | None = None) -> torch.Tensor:
        """The logits of `token_ids` after each prompt + `prefix`: one row per prompt, in order."""
        sequences = [prompt + prefix for prompt in prompts]
        # Every row starts with the same system prompt and (usually) instruction; with short
        # dialogues that is nearly half of the tokens. Its keys and values are computed once.
        shared = os.path.commonprefix(sequences)[: min(len(sequence) for sequence in sequences) - 1]
        use_prefix = self.share_prefix and len(shared) >= MIN_SHARED_PREFIX and self._plain_decoder()
        prefix_cache = self._prefix_cache(shared) if use_prefix else None
        start = len(shared) if use_prefix else 0
        results = torch.zeros((len(sequences), len(token_ids)))
        done = 0
        for batch in length_batches([len(sequence) for sequence in sequences], batch_size):
            rows = [sequences[index][start:] for index in batch]
            if prefix_cache is not None:
                logits = self._last_logits_after(prefix_cache, start, rows)
            else:
                ids, mask, positions = left_pad(rows, self.pad_id, self.model.device)
                extra = {"logits_to_keep": 1} if self._keep_one else {}
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                    use_cache=False, **extra).logits[:, -1, :]
            results[batch] = logits[:, token_ids].float().cpu()
            done += len(batch)
            if progress:
                progress(done, len(sequences))
        return results

    def _plain_decoder(self) -> bool:
        """A model whose logits are lm_head(decoder body output), nothing more (no soft-capping
        or logit scale): the prefix path calls those two parts itself."""
        model_type = getattr(getattr(self.model, "config", None), "model_type", "")
        return model_type in PLAIN_DECODERS and hasattr(self.model, "lm_head")

    def _cache_argument(self) -> str:
        # transformers 5.2x renamed the decoder's past_key_values argument to cache.
        parameters = inspect.signature(self.model.get_decoder().forward).parameters
        return "cache" if "cache" in parameters else "past_key_values"

    def _prefix_cache(self, shared: list[int]):
        cache = DynamicCache(config=self.model.config)
        ids = torch.tensor([shared], dtype=torch.long, device=self.model.device)
        self.model.get_decoder()(input_ids=ids, use_cache=True, **{self._cache_argument(): cache})
        return cache

    def _last_logits_after(self, prefix_cache, start: int, rows: list[list[int]]) -> torch.Tensor:
        """Logits after each row's last token, the rows continuing the cached prefix.

        Rows are padded on the right, where padding cannot disturb the real tokens of a causal
        model, and the output layer is applied to each row's last real position only.
        """
        device = self.model.device
        width = max(len(row) for row in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), start + width), dtype=torch.long)
        mask[:, :start] = 1
        for position, row in enumerate(rows):
            ids[position, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[position, start: start + len(row)] = 1
        cache = copy.deepcopy(prefix_cache)
        cache.batch_repeat_interleave(len(rows))
        positions = torch.arange(start, start + width, device=device).expand(len(rows), -1)
        hidden = self.model.get_decoder()(input_ids=ids.to(device), attention_mask=mask.to(device),
                                          position_ids=positions, use_cache=True,
                                          **{self._cache_argument(): cache}).last_hidden_state
        last = torch.tensor([len(row) - 1 for row in rows], device=device)
        return self.model.lm_head(hidden[torch.arange(len(rows), device=device), last])

    def _classify(self, prompts: list[list[int]], batch_size: int,
                  progress: Progress | None = None) -> list[tuple[float, bool]]:
        results: list[tuple[float, bool]] = [(0.0, False)] * len(prompts)
        done = 0
        for batch in length_batches([len(prompt) for prompt in prompts], batch_size):
            logits = self._head_logits([prompts[index] for index in batch])
            probabilities = torch.softmax(logits, dim=-1)[:, 1]  # class 1 is fraud (label true)
            for row, index in enumerate(batch):
                results[index] = (float(probabilities[row]), bool(logits[row, 1] > logits[row, 0]))
            done += len(batch)
            if progress:
                progress(done, len(prompts))
        return results

    def _class_probabilities(self, prompts: list[list[int]], batch_size: int,
                             progress: Progress | None = None) -> torch.Tensor:
        """A classifier head's softmax over its N classes, one row per prompt, in order."""
        probabilities = None
        done = 0
        for batch in length_batches([len(prompt) for prompt in prompts], batch_size):
            logits = self._head_logits([prompts[index] for index in batch])
            if probabilities is None:
                probabilities = torch.zeros((len(prompts), logits.shape[-1]))
            probabilities[batch] = torch.softmax(logits, dim=-1)
            done += len(batch)
            if progress:
                progress(done, len(prompts))
        return probabilities if probabilities is not None else torch.zeros((0, 0))

    def _head_logits(self, rows: list[list[int]]) -> torch.Tensor:
        """A classifier head's logits. An encoder reads its first token ([CLS]), so its rows are
        padded on the right; a decoder's head reads the last real token, padded on the left."""
        if is_encoder(self.model.config):
            width = max(len(row) for row in rows)
            ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for position, row in enumerate(rows):
                ids[position, : len(row)] = torch.tensor(row, dtype=torch.long)
                mask[position, : len(row)] = 1
            return self.model(input_ids=ids.to(self.model.device),
                              attention_mask=mask.to(self.model.device)).logits.float().cpu()
        ids, mask, positions = left_pad(rows, self.pad_id, self.model.device)
        return self.model(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float().cpu()

    def free(self) -> None:
        """Drop the model so the next one fits; the predictor is unusable afterwards."""
        self.model = None
        self._decoder = None  # it holds the model too
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _context_length(base_path: str, ceiling: int = 8192) -> int:
    config_file = Path(base_path) / "config.json"
    limit = _read_json(config_file).get("max_position_embeddings") if config_file.is_file() else None
    return min(ceiling, int(limit)) if isinstance(limit, int) and limit > 0 else ceiling


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer_config.json").is_file() and (
        (folder / "tokenizer.json").is_file() or (folder / "vocab.json").is_file())


def load_predictor(model: str | None, adapter: str | Path | None = None, device: str | None = None,
                   precision: str | None = "auto", workspace=None, trust_remote_code: bool = False,
                   merge_adapter: bool = True, backend: str = "transformers",
                   label_names: tuple[str, ...] = ()):
    """Load a model (and adapter) for inference on `device` (GPU with bf16 when present, else CPU).

    `model` may be empty when the adapter's run names its base. The adapter is merged into the
    weights by default: inference then runs at the base model's speed. `backend` "auto" or
    "vllm" hands a causal LM on a GPU to vLLM when it is installed (core.eval.vllm_backend); the
    result then has the Predictor's generate/score/free and `backend` == "vllm". `label_names` give
    a classifier head without a training run of its own (a base encoder) its N classes.
    """
    workspace = workspace_dir(workspace)
    info = find_adapter(adapter) if adapter else None
    if not (model or "").strip() and info is not None and info.base_model:
        model = info.base_model
    if not (model or "").strip():
        raise ModelError("no model given" + (f" and {info.path} does not name its base" if info else ""))
    base_path = resolve_model_path(model, workspace)
    device = pick_device(device)
    precision = default_precision(device) if precision in (None, "", "auto") else precision
    dtype = pick_dtype(precision, device)
    if info is not None:
        mismatch = fingerprint_mismatch(info.fingerprint, model_fingerprint(base_path))
        if mismatch:
            raise ModelError(f"adapter {info.path} was trained on another base model than {model}: "
                             + "; ".join(mismatch))
    tokenizer_folder = info.path if info is not None and _has_tokenizer(info.path) else Path(base_path)
    tokenizer = load_tokenizer(str(tokenizer_folder), trust_remote_code=trust_remote_code)
    head = info.head if info is not None else model_head(base_path)
    if label_names or (info is not None and info.run_info.get("label_names")):
        backend = "transformers"  # the vLLM backend reads fraud answers only
    if resolve_backend(backend, device, head) == VLLM:
        return load_vllm_predictor(base_path, info, device, precision, trust_remote_code, tokenizer_folder,
                                   max_model_len=_context_length(base_path))
    if head == SEQ_CLS:
        if info is not None and info.run_info.get("label_names"):
            label_names = tuple(info.run_info["label_names"])
        network = load_sequence_classifier(base_path, tokenizer, dtype, device, trust_remote_code,
                                           label_names)
    else:
        network = load_causal_lm(base_path, dtype, device, trust_remote_code)
    if info is not None:
        from peft import PeftModel

        network = PeftModel.from_pretrained(network, str(info.path))
        if merge_adapter:
            network = network.merge_and_unload()
        network = network.to(device)
    network.eval()
    name = info.path.parent.name if info is not None and info.path.name == ADAPTER_DIR else (
        info.path.name if info is not None else Path(base_path).name)
    return Predictor(network, tokenizer, device, head=head, name=name, base_path=base_path,
                     adapter_path=str(info.path) if info is not None else None, precision=precision)
