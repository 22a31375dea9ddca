"""One file -> train / validation / test, stratified by label, reproducible from saved indices."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from core.data.records import Record
from core.workspace import write_json


@dataclass
class Splits:
    source: str
    seed: int
    train: list[int]
    validation: list[int]
    test: list[int]

    def select(self, records: list[Record], split: str) -> list[Record]:
        return [records[index] for index in getattr(self, split)]

    def save(self, path: Path) -> None:
        # Atomic: a resumed run or another rank never reads half a file.
        write_json(path, asdict(self), indent=None)

    @classmethod
    def load(cls, path: Path) -> "Splits":
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def split_records(records: list[Record], validation: float = 0.1, test: float = 0.1,
                  seed: int = 42, source: str = "") -> Splits:
    from sklearn.model_selection import train_test_split

    if not 0 <= validation < 1 or not 0 <= test < 1 or validation + test >= 1:
        raise ValueError(f"split fractions must be in [0, 1) and sum below 1 (validation={validation}, "
                         f"test={test})")
    indices = list(range(len(records)))
    labels = [record.label for record in records]
    stratify = labels if len(set(labels)) > 1 else None
    # Whole row counts, rounded once: float fractions through sklearn round 0.1+0.2 up a row.
    validation_rows, test_rows = round(validation * len(records)), round(test * len(records))
    held_out = validation_rows + test_rows
    if held_out == 0:
        return Splits(source, seed, indices, [], [])
    train, rest = train_test_split(indices, test_size=held_out, random_state=seed, stratify=stratify)
    if validation_rows == 0 or test_rows == 0:
        empty: list[int] = []
        return Splits(source, seed, sorted(train), sorted(rest) if validation_rows else empty,
                      sorted(rest) if test_rows else empty)
    rest_labels = [labels[index] for index in rest] if stratify else None
    validation_part, test_part = train_test_split(rest, test_size=test_rows, random_state=seed,
                                                  stratify=rest_labels)
    return Splits(source, seed, sorted(train), sorted(validation_part), sorted(test_part))
