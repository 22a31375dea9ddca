"""Batches that spend little compute on padding, and the counts that prove it.

Rows of similar length go in the same batch (length grouping), and each batch is padded only to
its own longest row. The mega-batch grouping is transformers' `get_length_grouped_indices`; the
sampler around it is ours because transformers' `LengthGroupedSampler` draws its order from the
global torch RNG when the epoch starts, so a resumed run (which skips the batches already
trained) would skip different rows than the first run trained on, and it keeps each mega-batch's
batches in falling-length order, a long-to-short sawtooth in every stretch of the loss curve.
Here the order is a pure function of (seed, epoch), and the batches are shuffled.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Dataset, Sampler

IGNORE_INDEX = -100


class EncodedDataset(Dataset):
    """Encoded rows as dicts of id lists; lengths known up front for the sampler."""

    def __init__(self, features: list[dict]):
        self.features = features
        self.lengths = [len(feature["input_ids"]) for feature in features]

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> dict:
        return self.features[index]


def length_grouped_batches(lengths: Sequence[int], batch_size: int, generator: torch.Generator,
                           mega_batch_factor: int | None = None) -> list[list[int]]:
    """Batches of similar-length indices: random mega-batches sorted by length, cut, then shuffled.

    Every batch has `batch_size` rows except the last, which stays last, so that a DataLoader
    cutting the flat order into `batch_size` chunks finds exactly these batches.
    The batch holding the longest row goes first, so an out-of-memory shows at step one.
    """
    from transformers.trainer_pt_utils import get_length_grouped_indices

    if not lengths:
        return []
    order = get_length_grouped_indices(list(lengths), batch_size, mega_batch_mult=mega_batch_factor,
                                       generator=generator)
    # Each mega-batch holds a whole number of batches, so only the very last cut can be short.
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    full = [batch for batch in batches if len(batch) == batch_size]
    partial = [batch for batch in batches if len(batch) < batch_size]
    permutation = torch.randperm(len(full), generator=generator).tolist()
    shuffled = [full[index] for index in permutation]
    if shuffled:
        longest = max(range(len(shuffled)), key=lambda index: max(lengths[i] for i in shuffled[index]))
        shuffled.insert(0, shuffled.pop(longest))
    return shuffled + partial


class LengthGroupedSampler(Sampler[int]):
    """Flat index order whose consecutive `batch_size` chunks are length-grouped batches.

    Seeded per epoch (`set_epoch`, called by the Trainer / accelerate): the same seed and epoch
    give the same order in a fresh process, which exact resume depends on.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 42,
                 mega_batch_factor: int | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.mega_batch_factor = mega_batch_factor
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def batches(self) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return length_grouped_batches(self.lengths, self.batch_size, generator, self.mega_batch_factor)

    def __iter__(self) -> Iterator[int]:
        return iter([index for batch in self.batches() for index in batch])

    def __len__(self) -> int:
        return len(self.lengths)


def random_batches(count: int, batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """Batches in plain random order (what the notebooks' Trainer did), for comparison."""
    order = torch.randperm(count, generator=generator).tolist()
    return [order[start:start + batch_size] for start in range(0, count, batch_size)]


def padding_stats(lengths: Sequence[int], batches: list[list[int]]) -> dict:
    """Real and padded token counts when each batch is padded to its longest row."""
    real = sum(lengths[index] for batch in batches for index in batch)
    padded = sum(max(lengths[index] for index in batch) * len(batch) for batch in batches if batch)
    return {"real_tokens": real, "padded_tokens": padded, "pad_tokens": padded - real,
            "padded_per_real": padded / real if real else 0.0}


def make_collator(tokenizer, head: str):
    """Pads to the batch's longest row; labels of a causal LM are padded with -100 (ignored)."""
    from transformers import DataCollatorForSeq2Seq, DataCollatorWithPadding

    if head == "seq-cls":
        return DataCollatorWithPadding(tokenizer, padding="longest")
    return DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=IGNORE_INDEX)


def real_tokens(batch: dict) -> int:
    """Non-pad tokens of a collated batch (what tokens/s counts)."""
    return int(batch["attention_mask"].sum().item())
