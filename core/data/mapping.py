"""Which column of a data file holds the text, which the label, and what the labels are called.

The fraud schema (`input`, `label` true/false, optional `fraud_speaker`, `reason`) is the default:
its mapping has no label names, and its records keep a bool label and every fraud feature. Any
other dataset (HC3's `text` + human/chatgpt, ChnSentiCorp's `review` + 0/1, three-class reviews)
is described by a `DataMapping` with two or more label names; its records carry the index of their
label name (an int, so `int(record.label)` is the class id of a classifier head everywhere).

`propose_mapping(path)` reads a file and proposes a mapping the user can then edit.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

FRAUD_TEXT = "input"
FRAUD_LABEL = "label"
# Column names tried first, in order, when a file's columns are guessed.
TEXT_NAMES = ("input", "text", "review", "content", "sentence", "answer", "query", "document", "comment")
LABEL_NAMES = ("label", "labels", "class", "category", "target", "sentiment", "y")
MAX_CLASSES = 50  # more distinct values than this is not a label column
SAMPLED_ROWS = 5000  # rows read to propose a mapping


@dataclass(frozen=True)
class DataMapping:
    text_column: str = FRAUD_TEXT
    label_column: str = FRAUD_LABEL
    label_names: tuple[str, ...] = ()  # empty = the fraud schema (true/false, speaker, reason)

    def __post_init__(self):
        object.__setattr__(self, "label_names", tuple(str(name) for name in self.label_names))
        if self.label_names and len(self.label_names) < 2:
            raise ValueError("a label set needs at least two label names")
        folded = [name.strip().lower() for name in self.label_names]
        if len(set(folded)) != len(folded):
            raise ValueError(f"label names given twice: {', '.join(self.label_names)}")
        if not self.text_column.strip() or not self.label_column.strip():
            raise ValueError("the text and label columns must be named")
        if self.text_column == self.label_column:
            raise ValueError(f"the text and the label cannot both be column {self.text_column!r}")
        # Without label names the fraud loader reads `input` and `label` whatever the columns say:
        # other columns without names would be silently ignored.
        if not self.label_names and (self.text_column, self.label_column) != (FRAUD_TEXT, FRAUD_LABEL):
            raise ValueError(f"columns {self.text_column!r} and {self.label_column!r} need their label names "
                             "(the fraud schema, with no label names, reads the columns input and label)")

    @property
    def is_fraud(self) -> bool:
        return not self.label_names

    @property
    def names(self) -> tuple[str, ...]:
        """The class names in class-id order (the fraud schema: false = 0, true = 1)."""
        return self.label_names or ("false", "true")

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def required_columns(self) -> tuple[str, str]:
        return self.text_column, self.label_column

    def settings(self) -> dict[str, str]:
        """The `data.*` keys of a RunConfig that describe this mapping (label names comma-joined, as
        `--set` takes them); the fraud schema sets label_names empty."""
        return {"data.text_column": self.text_column, "data.label_column": self.label_column,
                "data.label_names": ",".join(self.label_names)}

    def set_line(self) -> str:
        """The mapping as `--set` arguments of `python -m lab train`."""
        return " ".join(f"--set {key}={value}" for key, value in self.settings().items())

    def label_index(self, value) -> int:
        """The class id of a label value as a file spells it; ValueError names the accepted values."""
        text = _spelling(value)
        for index, name in enumerate(self.label_names):
            if text == name.strip().lower():
                return index
        raise ValueError(f"unknown label value {value!r} (expected one of: {', '.join(self.label_names)})")


FRAUD = DataMapping()


def _spelling(value) -> str:
    """A label value as text: 1 and "1", True and "true", 1.0 and "1" are the same label."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()


def _fraud_value(value: str) -> bool:
    from core.data.records import parse_label

    try:
        parse_label(value)
        return True
    except ValueError:
        return False


def sampled_columns(path: str | Path) -> list[str]:
    """The column names of a data file's first rows, in the order they appear (what the Data tab
    offers as text and label columns). Raises core.data.records.DataError for a file it cannot read."""
    from core.data.records import read_rows

    rows = read_rows(path, limit=SAMPLED_ROWS, required=())
    return list(dict.fromkeys(key for _, row in rows if isinstance(row, dict) for key in row))


def mapping_of(data) -> DataMapping:
    """The mapping a config's data section (core.config.schema.DataSection) describes."""
    return DataMapping(text_column=getattr(data, "text_column", FRAUD_TEXT) or FRAUD_TEXT,
                       label_column=getattr(data, "label_column", FRAUD_LABEL) or FRAUD_LABEL,
                       label_names=tuple(getattr(data, "label_names", ()) or ()))


def _sort_key(name: str):
    # 0, 1, 2, ... in number order, then words in text order.
    try:
        return (0, float(name), "")
    except ValueError:
        return (1, 0.0, name)


def _pick(columns: list[str], preferred: tuple[str, ...], accept) -> str | None:
    lowered = {column.lower(): column for column in columns}
    for name in preferred:
        if name in lowered and accept(lowered[name]):
            return lowered[name]
    return None


def propose_mapping(path: str | Path) -> DataMapping:
    """The mapping this file most likely follows: the fraud schema when its rows fit it, else the
    longest text column and the column of few distinct values, with those values as label names.

    Raises core.data.records.DataError when the file cannot be read or has no such columns.
    """
    from core.data.records import DataError, Problem, read_rows

    file = str(path)
    rows = [row for _, row in read_rows(path, limit=SAMPLED_ROWS, required=()) if isinstance(row, dict)]
    if not rows:
        raise DataError([Problem(file, 0, "", "no rows with named fields found", "no_named_rows")])
    columns = list(dict.fromkeys(key for row in rows for key in row))
    text_lengths: Counter = Counter()
    values: dict[str, Counter] = {column: Counter() for column in columns}
    for row in rows:
        for column, value in row.items():
            if value is None or value == "":
                continue
            if isinstance(value, str):
                text_lengths[column] += len(value)
            if isinstance(value, (str, int, float, bool)):
                values[column][_spelling(value)] += 1

    def is_label(column: str) -> bool:
        return 2 <= len(values[column]) <= MAX_CLASSES

    def is_text(column: str) -> bool:
        return text_lengths[column] > 0

    if FRAUD_TEXT in columns and FRAUD_LABEL in columns:
        # The fraud schema's columns with any true/false value: the fraud schema, whose loader then
        # names the bad values (a bad value must not become a class of its own).
        if any(_fraud_value(value) for value in values[FRAUD_LABEL]):
            return FRAUD
    label = _pick(columns, LABEL_NAMES, is_label) or next(
        (column for column in sorted(columns, key=lambda name: len(values[name])) if is_label(column)
         and text_lengths[column] / max(1, sum(values[column].values())) < 20), None)
    if label is None:
        raise DataError([Problem(file, 0, "", "no column with 2 to 50 distinct values to be the label "
                                 "(columns: "
                                 f"{', '.join(columns)})", "no_label_column",
                                 {"classes": MAX_CLASSES, "columns": ", ".join(columns)})])
    candidates = [column for column in columns if column != label and is_text(column)]
    text = _pick(candidates, TEXT_NAMES, is_text) or max(candidates, key=lambda name: text_lengths[name],
                                                          default=None)
    if text is None:
        raise DataError([Problem(file, 0, "", f"no text column besides the label {label!r} (columns: "
                                 f"{', '.join(columns)})", "no_text_column",
                                 {"label": repr(label), "columns": ", ".join(columns)})])
    return DataMapping(text_column=text, label_column=label, label_names=_label_names(rows, label))


def _label_names(rows: list[dict], column: str) -> tuple[str, ...]:
    """The distinct values of a column in number, then text order, each as the file first spells it
    (not the lower-cased spelling they are counted by)."""
    spelled = {}
    for row in rows:
        value = row.get(column)
        if value is not None and value != "" and isinstance(value, (str, int, float, bool)):
            spelled.setdefault(_spelling(value), str(int(value) if isinstance(value, float)
                                                     and value.is_integer() else value).strip())
    return tuple(spelled[name] for name in sorted(spelled, key=_sort_key))


def column_label_names(path: str | Path, column: str) -> tuple[str, ...]:
    """The label names a column of the file's first rows holds (the Data tab proposes them when the
    user picks another label column); empty when the column has more than MAX_CLASSES values."""
    from core.data.records import read_rows

    rows = [row for _, row in read_rows(path, limit=SAMPLED_ROWS, required=()) if isinstance(row, dict)]
    names = _label_names(rows, column)
    return names if len(names) <= MAX_CLASSES else ()
