"""Data rows -> `Record`s, with every problem named by file, line and field.

Accepted files: JSONL (one object a line), a JSON list of objects, or CSV with a header.
Fields: `instruction, input, label, fraud_speaker, reason`; only `input` and `label` are required.
Another dataset's columns and label names are given by a `core.data.mapping.DataMapping`.
Strict mode raises one `DataError` listing every problem; lenient mode skips bad rows and
returns the problems beside the good rows (`data.bad_rows: skip`).

Two kinds of problem:
- a bad row (a field missing or of the wrong type, a line that is not JSON, a CSV row with more
  cells than the header, a key given twice, text that is not valid Unicode): that row is skipped
  in lenient mode;
- a broken file (not UTF-8, a JSON list not closed or followed by more text, an unclosed CSV
  quote, a CSV header naming a column twice): how many rows it hides is unknown, so it is a
  `DataError` in either mode.
Control characters (NUL, terminal escape sequences) are removed from text with a warning.
Every format is read in one pass: 200,000 rows take seconds, whatever their layout.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

TRUE_LABELS = {"true", "是", "1", "yes", "fraud"}
FALSE_LABELS = {"false", "否", "0", "no", "normal"}
TEXT_FIELDS = ("instruction", "reason")
FIELDS = ("instruction", "input", "label", "fraud_speaker", "reason")
LONG_NUMBER_DIGITS = 50  # no label or field needs a longer number; Python refuses ints over 4,300 digits
SHOWN_LINES = 20
# One search finds whatever needs a closer look: C0 controls other than tab / newline / carriage
# return, DEL, and UTF-16 surrogates (a "\ud800" escape with no partner decodes to one).
_SUSPECT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Terminal escape sequences (CSI "ESC [ ... letter", OSC "ESC ] ... BEL", two-character ones),
# then any other control character left.
_CONTROL = re.compile("\x1b\\[[0-?]*[ -/]*[@-~]|\x1b\\][^\x07\x1b]*(?:\x07|\x1b\\\\)?|\x1b[@-_]?"
                      "|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_JSON_SPACE = re.compile(r"[ \t\r\n]*")


@dataclass(frozen=True)
class Record:
    input: str
    label: bool  # the fraud schema; any other dataset: the int index of the label name (core.data.mapping)
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
    """What is wrong where. `message` is the English wording (the CLI prints it); `code` names the kind
    of problem and `values` the values its wording needs, so the page can word it in its own
    language (lab.i18n.problem_text)."""

    file: str
    line: int
    field: str
    message: str
    code: str = ""
    values: dict = field(default_factory=dict, hash=False)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message}"

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message,
                "code": self.code, "values": dict(self.values)}


class DataError(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "\n".join(f"  {problem}" for problem in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} problem(s) in the data:\n{shown}{more}")


@dataclass
class LoadResult:
    """Good rows; `problems` of the rows left out (lenient mode); `warnings` about cleaned values."""

    records: list[Record]
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def label_counts(self, names: tuple[str, ...] | None = None) -> dict[str, int]:
        """Rows per label name; without `names`, the fraud schema's true/false."""
        if names:
            return {name: sum(int(record.label) == index for record in self.records)
                    for index, name in enumerate(names)}
        positives = sum(record.label for record in self.records)
        return {"true": positives, "false": len(self.records) - positives}

    @property
    def skipped_lines(self) -> list[int]:
        """Lines of the rows left out (0 stands for a problem of the whole file)."""
        return sorted({problem.line for problem in self.problems})

    def skipped_text(self, file: str | None = None) -> str:
        """One loud line naming how many rows were left out and where, then the first problems."""
        if not self.problems:
            return ""
        lines = self.skipped_lines
        shown = ", ".join(map(str, lines[:SHOWN_LINES])) + (", ..." if len(lines) > SHOWN_LINES else "")
        file = file or self.problems[0].file
        text = [f"skipped {len(lines)} bad row(s) of {file} (line{'s' if len(lines) > 1 else ''} {shown}); "
                f"{len(self.records)} good rows are used"]
        text += [f"  {problem}" for problem in self.problems[:SHOWN_LINES]]
        if len(self.problems) > SHOWN_LINES:
            text.append(f"  ... and {len(self.problems) - SHOWN_LINES} more")
        return "\n".join(text)


class LongNumber:
    """A JSON number too long to be any field's value (see `_parse_int`)."""

    def __init__(self, digits: int):
        self.digits = digits

    def __repr__(self) -> str:
        return f"a number of {self.digits} digits"


class RepeatedKeys(dict):
    """A JSON object in which a key occurs twice; `repeated` names those keys."""

    repeated: tuple[str, ...] = ()


def _parse_int(text: str):
    # int() of a 5,000-digit string raises ValueError deep inside json; kept as a marker, the
    # row gets a problem naming the field instead of the whole file failing.
    return int(text) if len(text) <= LONG_NUMBER_DIGITS else LongNumber(len(text.lstrip("-")))


def _object(pairs: list[tuple[str, object]]) -> dict:
    row = dict(pairs)
    if len(row) == len(pairs):
        return row
    seen, repeated = set(), []
    for key, _ in pairs:
        if key in seen and key not in repeated:
            repeated.append(key)
        seen.add(key)
    row = RepeatedKeys(row)
    row.repeated = tuple(repeated)
    return row


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_int=_parse_int)


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
    if isinstance(value, LongNumber):
        return repr(value)
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _clean_text(value: str, file: str, line: int, name: str, problems: list[Problem],
                warnings: list[Problem] | None) -> str:
    """The text with control characters removed (a warning says so); a surrogate is a problem."""
    if not _SUSPECT.search(value):
        return value
    surrogate = _SURROGATE.search(value)
    if surrogate:
        problems.append(Problem(file, line, name,
                                f"not valid Unicode: an unpaired surrogate {surrogate.group()!r} "
                                f"at character {surrogate.start() + 1} (a broken \\u escape?)", "surrogate",
                                {"character": repr(surrogate.group()), "position": surrogate.start() + 1}))
        return value
    cleaned, count = _CONTROL.subn("", value)
    if count and warnings is not None:
        warnings.append(Problem(file, line, name, f"removed {count} control character(s) or terminal escape "
                                "sequence(s) (NUL, ESC, ...)", "control_removed", {"count": count}))
    return cleaned


def row_to_record(row, file: str, line: int,
                  warnings: list[Problem] | None = None) -> tuple[Record | None, list[Problem]]:
    """Validate one parsed row; return the record or the problems that prevent it.

    Text fields lose their control characters; each cleaning adds a warning to `warnings`.
    """
    if not isinstance(row, dict):
        return None, [Problem(file, line, "", f"expected an object with fields, found {_describe(row)}",
                              "not_an_object", {"found": _describe(row)})]
    problems: list[Problem] = [
        Problem(file, line, key, "given more than once in this row; which value is meant is unclear",
                "repeated_key")
        for key in getattr(row, "repeated", ()) if key in FIELDS]
    dialogue = row.get("input")
    if dialogue is None:
        problems.append(Problem(file, line, "input", "missing (required)", "missing"))
    elif not isinstance(dialogue, str):
        problems.append(Problem(file, line, "input", f"expected text, found {_describe(dialogue)}",
                                "not_text", {"found": _describe(dialogue)}))
    else:
        dialogue = _clean_text(dialogue, file, line, "input", problems, warnings)
        if not dialogue.strip():
            problems.append(Problem(file, line, "input", "empty text", "empty_text"))
    label = None
    if "label" not in row or row["label"] is None or row["label"] == "":
        problems.append(Problem(file, line, "label", "missing (required)", "missing"))
    else:
        try:
            label = parse_label(row["label"])
        except ValueError as error:
            problems.append(Problem(file, line, "label", str(error), "bad_label",
                                    {"value": repr(row["label"]), "expected": "true/false, 是/否, 1/0"}))
    speaker = row.get("fraud_speaker")
    if speaker is None:
        speaker = ""
    elif isinstance(speaker, list) and all(isinstance(name, str) for name in speaker):
        speaker = ",".join(name.strip() for name in speaker if name.strip())
    elif not isinstance(speaker, str):
        problems.append(Problem(file, line, "fraud_speaker",
                                f"expected text or a list of text, found {_describe(speaker)}", "not_text",
                                {"found": _describe(speaker)}))
    if isinstance(speaker, str):
        speaker = _clean_text(speaker, file, line, "fraud_speaker", problems, warnings)
    texts = {}
    for name in TEXT_FIELDS:
        value = row.get(name)
        if value is None:
            value = ""
        elif not isinstance(value, str):
            problems.append(Problem(file, line, name, f"expected text, found {_describe(value)}", "not_text",
                                    {"found": _describe(value)}))
        else:
            value = _clean_text(value, file, line, name, problems, warnings)
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
                                 f"at offset {error.start}); save the file as UTF-8", "not_utf8",
                                 {"byte": f"0x{raw[error.start]:02x}", "offset": error.start})]) from None


class _LineCounter:
    """Line numbers of increasing offsets into one text, counting each newline once.

    Counting from the start for every row made a 40,000-row JSON list take 34 s.
    """

    def __init__(self, text: str):
        self.text, self.offset, self.line = text, 0, 1

    def at(self, offset: int) -> int:
        if offset < self.offset:  # not expected; correct rather than fast
            self.offset, self.line = 0, 1
        self.line += self.text.count("\n", self.offset, offset)
        self.offset = offset
        return self.line


def _json_list_rows(text: str, file: str):
    """Yield (line, row) of each element of a JSON list, keeping each element's line number.

    json.loads of the whole list would lose where each element starts, and the error
    message must name the line of a bad row. A broken list raises DataError: where the next
    row starts is unknown after it.
    """
    lines = _LineCounter(text)
    position = text.index("[") + 1
    first = True
    while True:
        position = _JSON_SPACE.match(text, position).end()
        if position >= len(text):
            raise DataError([Problem(file, lines.at(len(text)), "", "the JSON list is not closed with ]",
                                     "list_not_closed")])
        if text[position] == "]":
            break
        if not first:
            if text[position] != ",":
                raise DataError([Problem(file, lines.at(position), "", "not valid JSON: expected ',' or ']' "
                                         "after a row of the list", "list_separator")])
            position = _JSON_SPACE.match(text, position + 1).end()
            if position >= len(text):
                raise DataError([Problem(file, lines.at(len(text)), "",
                                         "the JSON list is not closed with ]", "list_not_closed")])
            if text[position] == "]":
                raise DataError([Problem(file, lines.at(position), "", "not valid JSON: a ',' before ']'",
                                         "list_trailing_comma")])
        first = False
        line = lines.at(position)
        try:
            row, position = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise DataError([Problem(file, lines.at(error.pos), "",
                                     f"not valid JSON: {error.msg}", "bad_json",
                                     {"detail": error.msg})]) from None
        except RecursionError:
            raise DataError([Problem(file, line, "", "not valid as a row: nested too deeply (rows are flat "
                                     "objects)", "too_deep")]) from None
        yield line, row
    rest = _JSON_SPACE.match(text, position + 1).end()
    if rest < len(text):
        raise DataError([Problem(file, lines.at(rest), "",
                                 "more text after the end of the JSON list (a second "
                                 "list?); a file holds one list, or one JSON object a line",
                                 "text_after_list")])


def _jsonl_rows(text: str, file: str, problems: list[Problem]):
    # Lines end at "\n" only: str.splitlines would also cut at U+2028, U+0085 and other
    # characters that JSON strings may hold as they are.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, _DECODER.decode(line)
        except json.JSONDecodeError as error:
            problems.append(Problem(file, number, "", f"not valid JSON: {error.msg} (column {error.colno})",
                                    "bad_json", {"detail": error.msg, "column": error.colno}))
        except RecursionError:
            problems.append(Problem(file, number, "", "not valid as a row: nested too deeply (rows are flat "
                                    "objects)", "too_deep"))


def _csv_problem(file: str, line: int, error: csv.Error) -> Problem:
    if "unexpected end of data" in str(error):
        return Problem(file, line, "", "a quoted cell that starts in this row is never closed (a missing \")",
                       "csv_unclosed_quote")
    return Problem(file, line, "", f"not valid CSV: {error}", "bad_csv", {"detail": str(error)})


def _csv_rows(text: str, file: str, problems: list[Problem], required: tuple[str, ...] = ("input", "label")):
    # A dialogue may be longer than csv's default cell limit (131,072 characters); no cell can
    # be longer than the file.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    # strict: a stray quote is an error naming its row, not a silently merged or cut cell.
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        header = next(reader)
    except csv.Error as error:
        raise DataError([_csv_problem(file, 1, error)]) from None
    names = [name.strip() for name in header]
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        raise DataError([Problem(file, 1, name,
                                 f"the header names this column {names.count(name)} times; which "
                                 "one is meant is unclear", "csv_repeated_column",
                                 {"count": names.count(name)})
                         for name in repeated])
    missing = [name for name in required if name not in names]
    if missing:
        raise DataError([Problem(file, 1, name, f"the header has no {name} column (it names: "
                                 f"{', '.join(filter(None, names)) or 'nothing'})", "csv_missing_column",
                                 {"column": name, "names": ", ".join(filter(None, names))})
                         for name in missing])
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            problem = _csv_problem(file, start, error)
            if "unexpected end of data" in str(error):
                raise DataError([problem]) from None
            problems.append(problem)
            start = reader.line_num + 1
            continue
        if len(cells) > len(names) and any(cell.strip() for cell in cells[len(names):]):
            problems.append(Problem(file, start, "", f"{len(cells)} cells, but the header names {len(names)} "
                                    "columns (an unquoted comma inside a cell?)", "csv_extra_cells",
                                    {"cells": len(cells), "columns": len(names)}))
        elif cells:
            # CSV gives strings; an empty cell means "not given" for the optional fields.
            yield start, {name: (cell if cell != "" else None) for name, cell in zip(names, cells) if name}
        start = reader.line_num + 1


def read_rows(path: str | Path, problems: list[Problem] | None = None, limit: int | None = None,
              required: tuple[str, ...] = ("input", "label")):
    """Yield (line, parsed row) of a data file, whatever its format; rows that cannot be parsed
    are added to `problems`. A broken file raises DataError. `required`: columns a CSV must name."""
    path = Path(path)
    file = str(path)
    if not path.is_file():
        raise DataError([Problem(file, 0, "", "file not found", "file_not_found")])
    text = _read_text(path)
    if not text.strip():
        raise DataError([Problem(file, 0, "", "the file is empty", "empty_file")])
    problems = [] if problems is None else problems
    if path.suffix.lower() == ".csv":
        rows = _csv_rows(text, file, problems, required)
    elif text.lstrip().startswith("["):
        rows = _json_list_rows(text, file)
    else:
        rows = _jsonl_rows(text, file, problems)
    for count, item in enumerate(rows):
        if limit is not None and count >= limit:
            return
        yield item


def load_records(path: str | Path, strict: bool = True, mapping=None) -> LoadResult:
    """Every good row of the file. strict: any bad row raises DataError; else it is skipped and
    named in `problems`. A broken file raises DataError in both modes. `mapping`
    (core.data.mapping.DataMapping) names the text and label columns and the label names; None is
    the fraud schema."""
    file = str(Path(path))
    problems: list[Problem] = []
    warnings: list[Problem] = []
    generic = mapping is not None and not mapping.is_fraud
    required = mapping.required_columns() if generic else ("input", "label")
    records: list[Record] = []
    try:
        for line, row in read_rows(path, problems, required=required):
            if generic:
                record, row_problems = mapped_row_to_record(row, file, line, mapping, warnings)
            else:
                record, row_problems = row_to_record(row, file, line, warnings)
            problems.extend(row_problems)
            if record is not None:
                records.append(record)
    except DataError as error:
        raise DataError(sorted(problems + error.problems, key=lambda problem: problem.line)) from None
    problems.sort(key=lambda problem: problem.line)
    if not records and not problems:
        problems.append(Problem(file, 0, "", "no rows found", "no_rows"))
    if strict and problems:
        raise DataError(problems)
    if not records:
        raise DataError(problems)
    return LoadResult(records, problems, warnings)


def mapped_row_to_record(row, file: str, line: int, mapping,
                         warnings: list[Problem] | None = None) -> tuple[Record | None, list[Problem]]:
    """A row of a non-fraud dataset: the mapping's text column and label column, the label as the
    index of its name. Problems name the file's own column names."""
    if not isinstance(row, dict):
        return None, [Problem(file, line, "", f"expected an object with fields, found {_describe(row)}",
                              "not_an_object", {"found": _describe(row)})]
    text_column, label_column = mapping.required_columns()
    problems: list[Problem] = [
        Problem(file, line, key, "given more than once in this row; which value is meant is unclear",
                "repeated_key")
        for key in getattr(row, "repeated", ()) if key in (text_column, label_column)]
    text = row.get(text_column)
    if text is None:
        problems.append(Problem(file, line, text_column, "missing (required: the text column)", "missing",
                                {"role": "text"}))
    elif not isinstance(text, str):
        problems.append(Problem(file, line, text_column, f"expected text, found {_describe(text)}",
                                "not_text", {"found": _describe(text)}))
    else:
        text = _clean_text(text, file, line, text_column, problems, warnings)
        if not text.strip():
            problems.append(Problem(file, line, text_column, "empty text", "empty_text"))
    label = None
    value = row.get(label_column)
    if value is None or value == "":
        problems.append(Problem(file, line, label_column, "missing (required: the label column)", "missing",
                                {"role": "label"}))
    elif isinstance(value, (dict, list, LongNumber)):
        problems.append(Problem(file, line, label_column, f"expected a label, found {_describe(value)}",
                                "not_a_label", {"found": _describe(value)}))
    else:
        try:
            label = mapping.label_index(value)
        except ValueError as error:
            problems.append(Problem(file, line, label_column, str(error), "bad_label",
                                    {"value": repr(value), "expected": ", ".join(mapping.label_names)}))
    if problems:
        return None, problems
    return Record(input=text, label=label, source=file, line=line), []
