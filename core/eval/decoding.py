"""Greedy decoding of many prompts at once, token for token what `model.generate(do_sample=False)`
gives each prompt alone, in less time:

- rows that finish leave the batch at once and waiting rows take their place (continuous
  batching), so no step is spent on a finished row and no batch waits for its longest answer;
- the rows' shared prompt start (system prompt + instruction) is computed once and its keys and
  values copied into every row, as the score path does;
- a row stops as soon as its answer is a closed JSON object that parses, one step before the
  end-of-turn token that `generate` would still produce (`answer_closed` says why that cannot
  change the parsed answer);
- how many rows run at once follows from the free memory and the rows' lengths.

Written by hand because neither of transformers' own paths does this exactly and fast enough:
`generate` decodes fixed batches, and continuous batching (`generate_batch`, paged cache) has no
shared-prefix start or per-row stop rule and, on a CPU, sizes its cache from the machine's memory
and runs slower than one `generate` per row (see `bench/eval_throughput.py`, which times it).

The cache holds one row per batch entry; each row's keys occupy its own columns with masked holes
between them (a row that joins late is padded on the right, a row that is shorter than the
others too). Causality in transformers' masks follows the cache columns and rotary positions
follow the explicit position ids, so holes change nothing but the work.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable

import torch
from transformers.cache_utils import Cache, DynamicLayer

from core.data.answers import parse_answer

# Architectures whose logits are exactly lm_head(decoder output) and whose attention layers all
# see the whole sequence (no sliding window): the loop calls those two parts itself.
PLAIN_DECODERS = {"qwen2", "qwen3", "qwen2_moe", "qwen3_moe", "llama", "mistral"}
MIN_SHARED_PREFIX = 8
# Rows of a CPU batch: past this the step is compute-bound and larger batches only delay the
# first rows' results (measured with bench/eval_throughput.py). A GPU batch stops at its memory.
CPU_MAX_ROWS = 64
GPU_MAX_ROWS = 512
# Share of the free memory the cache and the step's activations may take.
CPU_MEMORY_SHARE = 0.25
GPU_MEMORY_SHARE = 0.8
# Tokens of one prefill forward (the admitted rows' own prompt parts together).
CPU_PREFILL_TOKENS = 4096
GPU_PREFILL_TOKENS = 32768
GROW_COLUMNS = 64  # room added to the cache when it is full, so growing copies it rarely

Progress = Callable[[int, int], None]


@dataclass
class Decoded:
    tokens: list[int]  # the answer's ids, without the end-of-turn id
    watched: torch.Tensor | None = None  # logits of the watched ids at the watch step, when reached
    stop: str = "limit"  # "end" (end-of-turn), "closed" (the JSON answer closed), "limit"


@dataclass
class Watch:
    """Keep the logits of `ids` at the step after `prefix`, for rows whose answer starts with it
    (the is_fraud true/false tokens after `{"is_fraud": `, read without another forward)."""

    prefix: list[int]
    ids: list[int]


def plain_decoder(model) -> bool:
    config = getattr(model, "config", None)
    if getattr(config, "model_type", "") not in PLAIN_DECODERS or not hasattr(model, "lm_head"):
        return False
    layer_types = getattr(config, "layer_types", None) or []
    if any(kind != "full_attention" for kind in layer_types):
        return False
    return not (getattr(config, "use_sliding_window", False) and getattr(config, "sliding_window", None))


def answer_closed(text: str) -> bool:
    """Whether `text` is already a whole JSON answer, so nothing generated after it can change
    what `parse_answer` reads.

    parse_answer reads the first object (from the first '{') that has is_fraud; when the stripped
    text is one JSON object with is_fraud, any continuation leaves that object first and whole.
    Fences and <think> blocks are removed before parsing and could reach back into the object,
    so a text holding either goes on to the end-of-turn as generate would.
    """
    stripped = text.strip()
    if not stripped.startswith("{") or "```" in stripped or "<think>" in stripped:
        return False
    try:
        value = json.loads(stripped)
    except ValueError:
        return False
    return isinstance(value, dict) and parse_answer(stripped).valid


def closing_token_mask(tokenizer, vocabulary_size: int, device) -> torch.Tensor:
    """True for ids whose text contains '}': only after those can an answer have closed."""
    mask = torch.zeros(vocabulary_size, dtype=torch.bool)
    pieces = tokenizer.convert_ids_to_tokens(list(range(min(vocabulary_size, len(tokenizer)))))
    for token_id, piece in enumerate(pieces):
        if piece is not None and ("}" in piece or "<0x7D>" in piece):
            mask[token_id] = True
    return mask.to(device)


class RoomyLayer(DynamicLayer):
    """A DynamicLayer whose tensors keep spare columns: DynamicLayer.update concatenates, which
    copies the whole cache at every step; here a step writes one column in place."""

    def __init__(self):
        super().__init__()
        self.key_buffer: torch.Tensor | None = None
        self.value_buffer: torch.Tensor | None = None
        self.length = 0

    def load(self, keys: torch.Tensor, values: torch.Tensor, room: int = GROW_COLUMNS) -> None:
        """Hold these keys and values (copied), with `room` free columns after them."""
        self.stack([(keys, values)], keys.shape[-2], room)

    def stack(self, parts: list[tuple[torch.Tensor, torch.Tensor]], width: int,
              room: int = GROW_COLUMNS) -> None:
        """Rows of several parts one below the other, each padded on the right to `width` columns
        (masked holes), written once into a new buffer."""
        first = parts[0][0]
        shape = (sum(keys.shape[0] for keys, _ in parts), *first.shape[1:-2], width + room, first.shape[-1])
        key_buffer, value_buffer = first.new_zeros(shape), first.new_zeros(shape)
        row = 0
        for keys, values in parts:
            key_buffer[row: row + keys.shape[0], ..., : keys.shape[-2], :] = keys
            value_buffer[row: row + keys.shape[0], ..., : keys.shape[-2], :] = values
            row += keys.shape[0]
        self.key_buffer, self.value_buffer, self.length = key_buffer, value_buffer, width
        self._views()

    def _views(self) -> None:
        self.keys = self.key_buffer[..., : self.length, :]
        self.values = self.value_buffer[..., : self.length, :]
        self.device = self.key_buffer.device
        self.is_initialized = True

    def update(self, key_states, value_states, *args, **kwargs):
        if self.key_buffer is None:
            self.load(key_states, value_states)
            return self.keys, self.values
        end = self.length + key_states.shape[-2]
        if end > self.key_buffer.shape[-2]:
            self.load(self.keys, self.values, room=key_states.shape[-2] + GROW_COLUMNS)
        self.key_buffer[..., self.length:end, :] = key_states
        self.value_buffer[..., self.length:end, :] = value_states
        self.length = end
        self._views()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length


def _layers(cache: Cache) -> list[RoomyLayer]:
    return cache.layers  # type: ignore[return-value]


def _new_cache(count: int) -> Cache:
    return Cache(layers=[RoomyLayer() for _ in range(count)])


@dataclass
class _Rows:
    """The rows decoding together: their cache, mask and where each one stands."""

    cache: Cache
    mask: torch.Tensor  # [rows, columns], 1 where a column holds one of the row's tokens
    positions: torch.Tensor  # [rows] position id of each row's next token
    last: torch.Tensor  # [rows] each row's newest token, fed to the next step
    indices: list[int] = field(default_factory=list)  # each row's prompt index


def _join(active: _Rows | None, admitted: _Rows) -> _Rows:
    if active is None:
        return admitted
    width = max(active.mask.shape[1], admitted.mask.shape[1])
    for mine, theirs in zip(_layers(active.cache), _layers(admitted.cache)):
        mine.stack([(mine.keys, mine.values), (theirs.keys, theirs.values)], width)
    masks = [torch.nn.functional.pad(rows.mask, (0, width - rows.mask.shape[1]))
             for rows in (active, admitted)]
    return _Rows(active.cache, torch.cat(masks), torch.cat([active.positions, admitted.positions]),
                 torch.cat([active.last, admitted.last]), active.indices + admitted.indices)


def _keep(rows: _Rows, keep: list[int]) -> _Rows:
    """The rows at batch positions `keep`, and only the columns some of them still use."""
    device = rows.mask.device
    selected = torch.tensor(keep, dtype=torch.long, device=device)
    mask = rows.mask[selected]
    used = mask.any(dim=0)
    columns = None
    if int(used.sum()) < mask.shape[1]:
        columns = used.nonzero().squeeze(-1)
        mask = mask[:, columns]
    for layer in _layers(rows.cache):
        keys, values = layer.keys[selected], layer.values[selected]
        if columns is not None:
            keys, values = keys[..., columns, :], values[..., columns, :]
        layer.load(keys, values)
    return _Rows(rows.cache, mask, rows.positions[selected], rows.last[selected],
                 [rows.indices[position] for position in keep])


def prefill_chunks(lengths: list[int], max_tokens: int, max_padding: float = 0.25) -> list[list[int]]:
    """Split rows (sorted longest first) into prefill forwards of at most `max_tokens` padded
    tokens, each padding at most `max_padding` of its real tokens: padding a batch of prompts to
    its longest can double the work of the prefill."""
    chunks: list[list[int]] = []
    real = 0
    for position, length in enumerate(lengths):
        if chunks:
            chunk = chunks[-1]
            longest = lengths[chunk[0]]
            padded = (len(chunk) + 1) * longest
            if padded <= max_tokens and padded <= (1 + max_padding) * (real + length):
                chunk.append(position)
                real += length
                continue
        chunks.append([position])
        real = length
    return chunks


def free_memory_bytes(device) -> int:
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30  # no /proc (not Linux): assume a few GiB


def bytes_per_token(model) -> int:
    """Keys and values of one token in every layer, in the model's dtype."""
    config = model.config
    heads = getattr(config, "num_attention_heads", 1)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    size = torch.finfo(model.dtype).bits // 8 if model.dtype.is_floating_point else 4
    return 2 * config.num_hidden_layers * kv_heads * head_dim * size


def rows_at_once(model, prompt_lengths: list[int], max_new_tokens: int, device, free: int | None = None,
                 ceiling: int | None = None) -> int:
    """How many rows decode together: as many as the free memory holds at the longest rows'
    length (cache, plus the step's logits and hidden states), up to the device's ceiling."""
    device = torch.device(device)
    on_gpu = device.type == "cuda"
    free = free_memory_bytes(device) if free is None else free
    budget = free * (GPU_MEMORY_SHARE if on_gpu else CPU_MEMORY_SHARE)
    longest = max(prompt_lengths) + max_new_tokens
    config = model.config
    per_row = (bytes_per_token(model) * (longest + GROW_COLUMNS)
               + 4 * 2 * config.vocab_size  # one row of logits, and its float copy
               + 4 * 4 * (config.hidden_size + getattr(config, "intermediate_size", 4 * config.hidden_size)))
    ceiling = ceiling or (GPU_MAX_ROWS if on_gpu else CPU_MAX_ROWS)
    return max(1, min(len(prompt_lengths), ceiling, int(budget // per_row)))


class GreedyDecoder:
    """Decodes prompts greedily with continuous batching; see the module docstring."""

    def __init__(self, model, tokenizer, end_ids: list[int], pad_id: int):
        self.model = model
        self.tokenizer = tokenizer
        self.end_ids = list(end_ids)
        self.pad_id = pad_id
        self.device = model.device
        self._decoder = model.get_decoder()
        self._layer_count = model.config.num_hidden_layers
        self._closers: torch.Tensor | None = None
        self._end = torch.tensor(self.end_ids, dtype=torch.long, device=self.device)
        self.share_prefix = True
        self.last_run: dict = {}  # what the last decode did: rows at once, shared prefix, steps

    def _forward(self, ids, mask, positions, cache: Cache) -> torch.Tensor:
        return self._decoder(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache,
                             use_cache=True).last_hidden_state

    def closers(self) -> torch.Tensor:
        if self._closers is None:
            self._closers = closing_token_mask(self.tokenizer, self.model.config.vocab_size, self.device)
        return self._closers

    def _prefix(self, shared: list[int]) -> Cache | None:
        if not shared:
            return None
        cache = _new_cache(self._layer_count)
        ids = torch.tensor([shared], dtype=torch.long, device=self.device)
        positions = torch.arange(len(shared), device=self.device).unsqueeze(0)
        self._forward(ids, torch.ones_like(ids), positions, cache)
        return cache

    def _prefill(self, prefix: Cache | None, start: int, rows: list[list[int]]) -> tuple[_Rows, torch.Tensor]:
        """The admitted rows' own prompt parts after the cached prefix, padded on the right;
        returns their rows and the logits after each row's last prompt token."""
        device = self.device
        width = max(len(row) for row in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), start + width), dtype=torch.long)
        mask[:, :start] = 1
        for position, row in enumerate(rows):
            ids[position, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[position, start: start + len(row)] = 1
        cache = _new_cache(self._layer_count)
        if prefix is not None:
            for mine, shared in zip(_layers(cache), _layers(prefix)):
                mine.load(shared.keys.expand(len(rows), -1, -1, -1),
                          shared.values.expand(len(rows), -1, -1, -1),
                          room=width + GROW_COLUMNS)
        mask = mask.to(device)
        positions = torch.arange(start, start + width, device=device).expand(len(rows), -1)
        hidden = self._forward(ids.to(device), mask, positions, cache)
        lengths = torch.tensor([len(row) for row in rows], device=device)
        logits = self.model.lm_head(hidden[torch.arange(len(rows), device=device), lengths - 1])
        state = _Rows(cache, mask, start + lengths, torch.zeros(len(rows), dtype=torch.long, device=device))
        return state, logits

    @torch.inference_mode()
    def decode(self, prompts: list[list[int]], max_new_tokens: int, max_rows: int | None = None,
               watch: Watch | None = None, stop_when_closed: bool = True,
               progress: Progress | None = None) -> list[Decoded]:
        if not prompts:
            return []
        max_rows = max_rows or rows_at_once(self.model, [len(prompt) for prompt in prompts], max_new_tokens,
                                            self.device)
        prefill_tokens = GPU_PREFILL_TOKENS if self.device.type == "cuda" else CPU_PREFILL_TOKENS
        shared = os.path.commonprefix(prompts)[: min(len(prompt) for prompt in prompts) - 1]
        if not self.share_prefix or len(shared) < MIN_SHARED_PREFIX:
            shared = []
        prefix = self._prefix(shared)
        start = len(shared)
        # Longest first: the memory peak comes at once, and rows admitted together pad little.
        waiting = sorted(range(len(prompts)), key=lambda index: (-len(prompts[index]), index))
        results: list[Decoded | None] = [None] * len(prompts)
        generated: dict[int, list[int]] = {}
        watched: dict[int, torch.Tensor] = {}
        closers = self.closers() if stop_when_closed else None
        watch_ids = torch.tensor(watch.ids, device=self.device) if watch else None
        active: _Rows | None = None
        done = steps = admissions = most_rows = 0
        refill = max(1, max_rows // 8)  # admit in groups: one prefill per row would pad and copy more

        def take(logits: torch.Tensor, rows: _Rows) -> None:
            """Pick each row's next token and settle the rows that finish with it."""
            nonlocal done
            chosen = logits.max(dim=-1).indices  # the first of equal maxima, as argmax; faster on CPU
            rows.last = chosen
            is_end = torch.isin(chosen, self._end)
            check = closers[chosen] if closers is not None else torch.zeros_like(is_end)
            chosen_list, end_list, check_list = chosen.tolist(), is_end.tolist(), check.tolist()
            finished = 0
            for position, index in enumerate(rows.indices):
                if results[index] is not None:  # finished earlier, still in the batch
                    continue
                tokens = generated[index]
                if watch is not None and len(tokens) == len(watch.prefix) and tokens == watch.prefix:
                    watched[index] = logits[position, watch_ids].float().cpu()
                if end_list[position]:
                    results[index] = Decoded(tokens, watched.get(index), "end")
                else:
                    tokens.append(chosen_list[position])
                    closed = check_list[position] and answer_closed(
                        self.tokenizer.decode(tokens, skip_special_tokens=True))
                    if closed:
                        results[index] = Decoded(tokens, watched.get(index), "closed")
                    elif len(tokens) >= max_new_tokens:
                        results[index] = Decoded(tokens, watched.get(index), "limit")
                finished += results[index] is not None
            if finished:
                done += finished
                if progress:
                    progress(done, len(prompts))

        def finished_positions(rows: _Rows) -> list[int]:
            return [position for position, index in enumerate(rows.indices) if results[index] is not None]

        while waiting or active is not None:
            gone = finished_positions(active) if active is not None else []
            live = len(active.indices) - len(gone) if active is not None else 0
            free_slots = max_rows - live
            admit = bool(waiting) and (live == 0 or free_slots >= min(refill, len(waiting)))
            # Finished rows leave in groups: each removal copies the cache, and a row left in
            # costs one row of a step, so removal waits for an eighth of the batch (or a refill).
            if gone and (admit or live == 0 or len(gone) * 8 >= len(active.indices)):
                keep = [position for position in range(len(active.indices)) if position not in set(gone)]
                active = _keep(active, keep) if keep else None
            if admit:
                group, waiting = waiting[:free_slots], waiting[free_slots:]
                for chunk in prefill_chunks([len(prompts[index]) - start for index in group], prefill_tokens):
                    indices = [group[position] for position in chunk]
                    admitted, logits = self._prefill(prefix, start,
                                                     [prompts[index][start:] for index in indices])
                    admitted.indices = indices
                    for index in indices:
                        generated[index] = []
                    take(logits, admitted)
                    active = _join(active, admitted)
                    admissions += 1
                most_rows = max(most_rows, len(active.indices))
                continue
            if active is None:
                continue
            step_mask = torch.nn.functional.pad(active.mask, (0, 1), value=1)
            hidden = self._forward(active.last.unsqueeze(1), step_mask, active.positions.unsqueeze(1),
                                   active.cache)
            active.mask = step_mask
            active.positions = active.positions + 1
            steps += 1
            take(self.model.lm_head(hidden[:, -1]), active)
        self.last_run = {"rows_at_once": max_rows, "shared_prefix": start, "steps": steps,
                         "admissions": admissions, "most_rows": most_rows}
        return [result for result in results]  # type: ignore[misc]
