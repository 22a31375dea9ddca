"""Data rows -> `Record`s, with every problem named by file, line and field.

Accepted files: JSONL (one object a line), a JSON list of objects, or CSV with a header.
Fields: `instruction, input, label, fraud_speaker, reason`; only `input` and `label` are required.
Strict mode raises one `DataError` listing every problem; lenient mode skips bad rows and
returns the problems beside the good rows.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

TRUE_LABELS = {"true", "是", "1", "yes", "fraud"}
FALSE_LABELS = {"false", "否", "0", "no", "normal"}
TEXT_FIELDS = ("instruction", "reason")


@dataclass(frozen=True)
class Record:
    input: str
    label: bool
    instruction: str = ""
    fraud_speaker: str = ""
    reason: str = ""
    source: str = ""
    line: int = 0

    def to_dict(self) -> dict:
        return {
            "instruction": self.instruction,
            "input": self.input,
            "label": self.label,
            "fraud_speaker": self.fraud_speaker,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message}"

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message}


class DataError(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n".join(f"  {problem}" for problem in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} problem(s) in the data:\n{shown}{more}")


@dataclass
class LoadResult:
    records: list[Record]
    problems: list[Problem] = field(default_factory=list)

    def label_counts(self) -> dict[str, int]:
        positives = sum(record.label for record in self.records)
        return {"true": positives, "false": len(self.records) - positives}


def parse_label(value) -> bool:
    """Map the label spellings the notebooks used to a bool; raise ValueError otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in TRUE_LABELS:
            return True
        if lowered in FALSE_LABELS:
            return False
    raise ValueError(f"unknown label value {value!r} (expected true/false, 是/否 or 1/0)")


def _describe(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def row_to_record(row, file: str, line: int) -> tuple[Record | None, list[Problem]]:
    """Validate one parsed row; return the record or the problems that prevent it."""
    if not isinstance(row, dict):
        return None, [Problem(file, line, "", f"expected an object with fields, found {_describe(row)}")]
    problems: list[Problem] = []
    dialogue = row.get("input")
    if dialogue is None:
        problems.append(Problem(file, line, "input", "missing (required)"))
    elif not isinstance(dialogue, str):
        problems.append(Problem(file, line, "input", f"expected text, found {_describe(dialogue)}"))
    elif not dialogue.strip():
        problems.append(Problem(file, line, "input", "empty text"))
    label = None
    if "label" not in row or row["label"] is None or row["label"] == "":
        problems.append(Problem(file, line, "label", "missing (required)"))
    else:
        try:
            label = parse_label(row["label"])
        except ValueError as error:
            problems.append(Problem(file, line, "label", str(error)))
    speaker = row.get("fraud_speaker")
    if speaker is None:
        speaker = ""
    elif isinstance(speaker, list) and all(isinstance(name, str) for name in speaker):
        speaker = ",".join(name.strip() for name in speaker if name.strip())
    elif not isinstance(speaker, str):
        problems.append(Problem(file, line, "fraud_speaker",
                                f"expected text or a list of text, found {_describe(speaker)}"))
    texts = {}
    for name in TEXT_FIELDS:
        value = row.get(name)
        if value is None:
            value = ""
        elif not isinstance(value, str):
            problems.append(Problem(file, line, name, f"expected text, found {_describe(value)}"))
        texts[name] = value
    if problems:
        return None, problems
    return Record(input=dialogue, label=label, instruction=texts["instruction"],
                  fraud_speaker=speaker.strip() if isinstance(speaker, str) else "",
                  reason=texts["reason"], source=file, line=line), []


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        # utf-8-sig: files saved by Excel / Notepad start with a BOM and must still load.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError([Problem(str(path), line, "", f"not UTF-8 text (byte 0x{raw[error.start]:02x} "
                                 f"at offset {error.start}); save the file as UTF-8")]) from None


def _json_list_rows(text: str, file: str):
    """Yield (line, row) of each element of a JSON list, keeping each element's line number.

    json.loads of the whole list would lose where each element starts, and the error
    message must name the line of a bad row.
    """
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text):
            raise DataError([Problem(file, text.count("\n") + 1, "", "the JSON list is not closed with ]")])
        if text[position] == "]":
            return
        line = text.count("\n", 0, position) + 1
        try:
            row, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise DataError([Problem(file, text.count("\n", 0, error.pos) + 1, "",
                                     f"not valid JSON: {error.msg}")]) from None
        yield line, row


def _jsonl_rows(text: str, file: str, problems: list[Problem]):
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(Problem(file, number, "", f"not valid JSON: {error.msg} (column {error.colno})"))


def _csv_rows(text: str):
    reader = csv.DictReader(io.StringIO(text))
    start = 2
    for row in reader:
        # CSV gives strings; an empty cell means "not given" for the optional fields.
        yield start, {key: (value if value != "" else None) for key, value in row.items() if key}
        start = reader.line_num + 1


def load_records(path: str | Path, strict: bool = True) -> LoadResult:
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise DataError([Problem(file, 0, "", "file not found")])
    text = _read_text(path)
    if not text.strip():
        raise DataError([Problem(file, 0, "", "the file is empty")])
    problems: list[Problem] = []
    if path.suffix.lower() == ".csv":
        rows = _csv_rows(text)
    elif text.lstrip().startswith("["):
        rows = _json_list_rows(text, file)
    else:
        rows = _jsonl_rows(text, file, problems)
    records: list[Record] = []
    for line, row in rows:
        record, row_problems = row_to_record(row, file, line)
        problems.extend(row_problems)
        if record is not None:
            records.append(record)
    problems.sort(key=lambda problem: problem.line)
    if not records and not problems:
        problems.append(Problem(file, 0, "", "no rows found"))
    if strict and problems:
        raise DataError(problems)
    if not records:
        raise DataError(problems)
    return LoadResult(records, problems)
