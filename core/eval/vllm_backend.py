"""Optional vLLM backend for evaluation on a GPU, used when the `vllm` package is importable.

vLLM is never a requirement (it does not install on the CPU machines the lab is built on); when
it is present it answers the same prompts as `core.predict.Predictor` (the ids of
`core.encoding.encode_prompt`, given as token prompts), stops at the same end-of-turn ids, and
its text goes through the same `prediction_from_text`. A LoRA adapter is passed as a LoRA
request on the base model rather than merged. p_true is read from the log-probabilities of the
two answer tokens as prompt tokens (prompt + answer prefix + true / false token), which vLLM
returns exactly whatever their rank, where sampled-token log-probabilities give the top k only.
"""
from __future__ import annotations

import gc
import importlib.util
import math
from pathlib import Path

from core.data.encoding import EncodeOptions, encode_prompt
from core.models import ModelError, end_of_turn_ids, load_tokenizer
from core.data.records import Record

BACKENDS = ("auto", "transformers", "vllm")
TRANSFORMERS = "transformers"
VLLM = "vllm"
# Ranks vLLM compiles LoRA kernels for; an adapter's rank is rounded up to one of them.
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
# Rows per generate call: vLLM batches within a call; calls of this size let progress and a
# stop request through without leaving the GPU idle for long.
ROWS_PER_CALL = 512

_engines: dict[tuple, object] = {}  # one engine per base model, reused by its adapters
_lora_ids: dict[str, int] = {}  # vLLM caches adapters by id: one id per adapter folder


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def resolve_backend(requested: str | None, device: str, head: str = "causal") -> str:
    """The backend that will run: "auto" takes vLLM for a causal LM on a GPU when it is
    installed, else transformers; asking for vLLM where it cannot run is an error."""
    requested = (requested or "auto").strip().lower()
    if requested not in BACKENDS:
        raise ModelError(f"backend must be one of {', '.join(BACKENDS)}, got {requested!r}")
    usable = head == "causal" and str(device).startswith("cuda")
    if requested == VLLM:
        if not vllm_available():
            raise ModelError("backend vllm asked for, but the vllm package is not installed here")
        if not usable:
            raise ModelError("backend vllm needs a causal language model on a CUDA GPU")
        return VLLM
    if requested == "auto" and usable and vllm_available():
        return VLLM
    return TRANSFORMERS


def _lora_rank(adapter_config: dict) -> int:
    rank = int(adapter_config.get("r") or 8)
    return next((allowed for allowed in LORA_RANKS if allowed >= rank), rank)


def _engine(base_path: str, tokenizer_path: str, precision: str, trust_remote_code: bool,
            lora_rank: int | None,
            max_model_len: int):
    """A vLLM engine for `base_path`, reused while the base stays the same; an engine made
    without LoRA support is replaced when an adapter comes."""
    from vllm import LLM

    key = (base_path, tokenizer_path, precision, trust_remote_code)
    cached = _engines.get(key)
    if cached is not None and (lora_rank is None or cached[1] >= lora_rank) and cached[2] >= max_model_len:
        return cached[0]
    release_engines()
    dtype = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(precision, "auto")
    options = dict(model=base_path, tokenizer=tokenizer_path, dtype=dtype,
                   trust_remote_code=trust_remote_code,
                   enable_prefix_caching=True, max_model_len=max_model_len, seed=0)
    if lora_rank is not None:
        options.update(enable_lora=True, max_lora_rank=lora_rank, max_loras=1)
    engine = LLM(**options)
    _engines[key] = (engine, lora_rank or 0, max_model_len)
    return engine


def release_engines() -> None:
    """Shut every cached engine down, so the next model has the GPU to itself."""
    while _engines:
        _, (engine, _, _) = _engines.popitem()
        shutdown = getattr(getattr(engine, "llm_engine", None), "shutdown", None)
        if callable(shutdown):
            shutdown()
        del engine
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class VllmPredictor:
    """`generate` and `score` with the Predictor's prompts and parsing, run by vLLM."""

    backend = VLLM
    head = "causal"

    def __init__(self, engine, tokenizer, lora_request, device: str, name: str, base_path: str,
                 adapter_path: str | None, precision: str):

        self.engine = engine
        self.tokenizer = tokenizer
        self.lora_request = lora_request
        self.device = device
        self.name = name
        self.base_path = base_path
        self.adapter_path = adapter_path
        self.precision = precision
        self.end_ids = end_of_turn_ids(tokenizer)
        self._answer_tokens: dict = {}

    def prompts(self, records: list[Record], options: EncodeOptions) -> list[list[int]]:
        return [list(encode_prompt(self.tokenizer, record, options).input_ids) for record in records]

    def answer_tokens(self, with_reason: bool):
        from core.eval.predict import answer_tokens

        if with_reason not in self._answer_tokens:
            self._answer_tokens[with_reason] = answer_tokens(self.tokenizer, with_reason)
        return self._answer_tokens[with_reason]

    def max_new_tokens(self, options: EncodeOptions) -> int:
        from core.eval.predict import answer_budget

        return answer_budget(self.answer_tokens(False), options)

    def _run(self, prompts: list[list[int]], params, progress=None, total: int | None = None) -> list:
        from vllm.inputs import TokensPrompt

        outputs = []
        for start in range(0, len(prompts), ROWS_PER_CALL):
            chunk = [TokensPrompt(prompt_token_ids=ids) for ids in prompts[start:start + ROWS_PER_CALL]]
            outputs.extend(self.engine.generate(chunk, params, lora_request=self.lora_request,
                                                use_tqdm=False))
            if progress:
                progress(min(len(outputs), total or len(prompts)), total or len(prompts))
        return outputs

    def _pair_logprobs(self, prompts: list[list[int]], with_reason: bool) -> list[tuple[float, float]]:
        """log P(true token), log P(false token) after prompt + answer prefix, as prompt tokens."""
        from vllm import SamplingParams

        tokens = self.answer_tokens(with_reason)
        asked = [prompt + tokens.prefix + [answer] for prompt in prompts for answer in (tokens.true_id,
                                                                                        tokens.false_id)]
        outputs = self._run(asked, SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0))
        values = []
        for output, ids in zip(outputs, asked):
            entry = output.prompt_logprobs[-1] or {}
            values.append(entry[ids[-1]].logprob if ids[-1] in entry else -math.inf)
        return list(zip(values[0::2], values[1::2]))

    @staticmethod
    def _p_true(pair: tuple[float, float]) -> float:
        high = max(pair)
        if high == -math.inf:
            return 0.5
        true, false = (math.exp(value - high) for value in pair)
        return true / (true + false)

    def generate(self, records: list[Record], options: EncodeOptions, batch_size: int | None = None,
                 max_new_tokens: int | None = None, progress=None) -> list:
        from vllm import SamplingParams

        from core.eval.predict import prediction_from_text

        prompts = self.prompts(records, options)
        params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens or self.max_new_tokens(options),
                                stop_token_ids=self.end_ids, skip_special_tokens=True)
        outputs = self._run(prompts, params, progress)
        pairs = self._pair_logprobs(prompts, options.with_reason)
        return [prediction_from_text(output.outputs[0].text, self._p_true(pair))
                for output, pair in zip(outputs, pairs)]

    def score(self, records: list[Record], options: EncodeOptions, batch_size: int = 32,
              progress=None) -> list:
        from core.eval.predict import _label_prediction

        pairs = self._pair_logprobs(self.prompts(records, options), options.with_reason)
        if progress:
            progress(len(records), len(records))
        return [_label_prediction(self._p_true(pair), pair[0] > pair[1]) for pair in pairs]

    def free(self) -> None:
        """The engine stays cached for the next adapter of the same base (release_engines ends it)."""
        self.engine = None
        gc.collect()


def load_vllm_predictor(base_path: str, info, device: str, precision: str, trust_remote_code: bool,
                        tokenizer_folder: Path, max_model_len: int = 4096) -> VllmPredictor:
    """`info` is the adapter's core.predict.AdapterInfo, or None for the base model alone."""
    from vllm.lora.request import LoRARequest

    tokenizer = load_tokenizer(str(tokenizer_folder), trust_remote_code=trust_remote_code)
    if info is not None and info.head != "causal":
        raise ModelError(f"{info.path}: a sequence-classification adapter cannot run on vLLM")
    rank = _lora_rank(info.adapter_config) if info is not None else None
    engine = _engine(base_path, str(tokenizer_folder), precision, trust_remote_code, rank, max_model_len)
    request = None
    if info is not None:
        lora_id = _lora_ids.setdefault(str(info.path), len(_lora_ids) + 1)
        request = LoRARequest(f"adapter-{lora_id}", lora_id, str(info.path))
    name = (info.path.parent.name if info.path.name == "adapter" else info.path.name) if info is not None \
        else Path(base_path).name
    return VllmPredictor(engine, tokenizer, request, device, name, base_path,
                         str(info.path) if info is not None else None, precision)
