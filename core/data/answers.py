"""The answer format a model is trained to produce, and the parsing of what it produced."""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

from core.data.records import Record, parse_label


LABEL_FIELD = "label"


def answer_dict(record: Record, with_reason: bool, label_names: tuple[str, ...] = ()) -> dict:
    """The fraud answer, or for a dataset with label names `{"label": "<name>"}`."""
    if label_names:
        return {LABEL_FIELD: label_names[int(record.label)]}
    if not with_reason:
        return {"is_fraud": bool(record.label)}
    return {"is_fraud": bool(record.label), "fraud_speaker": record.fraud_speaker, "reason": record.reason}


def answer_text(record: Record, with_reason: bool, label_names: tuple[str, ...] = ()) -> str:
    return json.dumps(answer_dict(record, with_reason, label_names), ensure_ascii=False)


# Parsing what a model produced.

# Words a model may answer with instead of JSON; matched against the whole (cleaned) answer only,
# because "是" occurs in almost any Chinese sentence and must not be read as a verdict there.
BARE_TRUE = {"是", "是的", "true", "yes", "诈骗"}
BARE_FALSE = {"否", "不是", "false", "no", "非诈骗"}
SPEAKER_FIELD = "fraud_speaker"
REASON_FIELD = "reason"
VERDICT_FIELD = "is_fraud"

_FENCE = re.compile(r"```[A-Za-z0-9_-]*")
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
# Last resort for answers cut off by max_new_tokens: the verdict usually comes first and survives.
_VERDICT_PATTERN = re.compile(
    r"""["'“”‘’]?is_fraud["'“”‘’]?\s*[:：=]\s*["'“”‘’]?\s*(true|false|yes|no|是|否|1|0)(?![A-Za-z0-9_])""",
    re.IGNORECASE)
_EDGE_PUNCTUATION = " \t\r\n\"'“”‘’`。.!！,，:：;；"
# Parsing is quadratic in the number of braces in the worst case; real answers have a handful.
_MAX_BRACES = 64


@dataclass(frozen=True)
class ParsedAnswer:
    valid: bool
    is_fraud: bool | None
    fraud_speaker: str = ""
    reason: str = ""
    raw: str = ""
    error: str = ""
    # What was wrong, for a page to word in its language: empty, bad_value (error_value holds the
    # value given for is_fraud), no_field, ambiguous, no_answer.
    error_kind: str = ""
    error_value: str = ""


class _JsonLiterals(ast.NodeTransformer):
    """Turn the JSON words true/false/null into Python constants so one literal_eval reads both
    dialects (and single quotes, and trailing commas, which Python accepts) without rewriting
    the text, which would also change those words inside reason strings."""

    WORDS = {"true": True, "false": False, "null": None}

    def visit_Name(self, node: ast.Name):
        if node.id in self.WORDS:
            return ast.copy_location(ast.Constant(self.WORDS[node.id]), node)
        return node


def _normalise_punctuation(text: str) -> str:
    """Full-width quotes / colons / commas a model wrote as JSON syntax -> ASCII.

    Only used after the text failed to parse as written, because these characters are
    legitimate inside reason strings.
    """
    text = text.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")
    text = text.replace("：", ":")
    return re.sub(r"，(?=\s*[\"'])", ",", text)


def _literal_object(text: str, start: int, ends: list[int]):
    for end in ends:
        if end <= start:
            continue
        try:
            tree = ast.parse(text[start:end + 1], mode="eval")
            value = ast.literal_eval(_JsonLiterals().visit(tree).body)
        except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    return None


def _objects(text: str):
    """Yield every dict that starts at a '{', in order of its start.

    json.JSONDecoder.raw_decode reads an object at a position and ignores what follows; the
    ast fallback tries the shortest balanced-looking span first so the first object wins.
    Nested objects are yielded too, so {"answer": {"is_fraud": true}} is still found.
    """
    decoder = json.JSONDecoder()
    starts = [match.start() for match in re.finditer(r"\{", text)][:_MAX_BRACES]
    ends = [match.start() for match in re.finditer(r"\}", text)][:_MAX_BRACES]
    for start in starts:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            value = _literal_object(text, start, ends)
        if isinstance(value, dict):
            yield value


def _text_field(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(str(item).strip() for item in value if item is not None and str(item).strip())
    return str(value).strip()


def _verdict(value) -> bool:
    if isinstance(value, float) and value in (0.0, 1.0):
        return bool(value)
    return parse_label(value)


def _from_object(found: dict, raw: str) -> ParsedAnswer:
    fields = {str(key).strip().lower(): value for key, value in found.items()}
    try:
        verdict = _verdict(fields[VERDICT_FIELD])
    except ValueError:
        return ParsedAnswer(False, None, raw=raw,
                            error=f"is_fraud is {fields[VERDICT_FIELD]!r}, not true/false (or 是/否, 1/0)",
                            error_kind="bad_value", error_value=repr(fields[VERDICT_FIELD]))
    return ParsedAnswer(True, verdict, _text_field(fields.get(SPEAKER_FIELD)),
                        _text_field(fields.get(REASON_FIELD)), raw=raw)


def _bare_answer(text: str) -> bool | None:
    cleaned = text.strip(_EDGE_PUNCTUATION).lower()
    if cleaned in BARE_TRUE:
        return True
    if cleaned in BARE_FALSE:
        return False
    return None


def parse_answer(text: str) -> ParsedAnswer:
    """Read a model's answer; an answer whose verdict cannot be recovered is `valid=False`.

    Unreadable answers are never turned into is_fraud=False (the notebooks did, which counts
    every broken answer as a correct rejection and inflates precision).
    Order: json.loads-compatible objects, then ast literals (single quotes, True/False/None,
    trailing commas), both again after normalising full-width punctuation, then a regex for
    the verdict of a truncated object, then a bare 是/否/true/false answer.
    """
    raw = text if isinstance(text, str) else ("" if text is None else str(text))
    body = _FENCE.sub(" ", _THINK.sub(" ", raw)).strip()
    if not body:
        return ParsedAnswer(False, None, raw=raw, error="empty answer", error_kind="empty")
    saw_object = False
    for candidate in dict.fromkeys((body, _normalise_punctuation(body))):
        for found in _objects(candidate):
            saw_object = True
            if VERDICT_FIELD in {str(key).strip().lower() for key in found}:
                return _from_object(found, raw)
    for candidate in dict.fromkeys((body, _normalise_punctuation(body))):
        match = _VERDICT_PATTERN.search(candidate)
        if match:
            return ParsedAnswer(True, _verdict(match.group(1)), raw=raw)
    if saw_object:
        return ParsedAnswer(False, None, raw=raw, error="the JSON object has no is_fraud field",
                            error_kind="no_field")
    bare = _bare_answer(body)
    if bare is not None:
        return ParsedAnswer(True, bare, raw=raw)
    lowered = body.lower()
    says_true = "是" in body or "true" in lowered
    says_false = "否" in body or "false" in lowered
    if says_true and says_false:
        return ParsedAnswer(False, None, raw=raw, error="ambiguous: the answer says both yes and no",
                            error_kind="ambiguous")
    return ParsedAnswer(False, None, raw=raw,
                        error="no JSON object with is_fraud and no bare 是/否/true/false answer",
                        error_kind="no_answer")


# A dataset with label names: {"label": "<name>"}.
_LABEL_PATTERN = re.compile(r"""["'“”‘’]?label["'“”‘’]?\s*[:：=]\s*["'“”‘’]?([^"'“”‘’,，}\n]+)""",
                            re.IGNORECASE)


@dataclass(frozen=True)
class ParsedLabel:
    valid: bool
    label: int | None  # the index of the label name
    raw: str = ""
    error: str = ""


def _name_index(value, label_names: tuple[str, ...]) -> int | None:
    if isinstance(value, bool):
        value = "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip(_EDGE_PUNCTUATION).lower()
    folded = [name.strip().lower() for name in label_names]
    return folded.index(text) if text in folded else None


def parse_label_answer(text: str, label_names: tuple[str, ...]) -> ParsedLabel:
    """Read `{"label": "<name>"}` (or a bare label name) from a model's answer; an answer that names
    no label of the set is `valid=False`, never a guess. The same readers as `parse_answer`."""
    raw = text if isinstance(text, str) else ("" if text is None else str(text))
    body = _FENCE.sub(" ", _THINK.sub(" ", raw)).strip()
    if not body:
        return ParsedLabel(False, None, raw, "empty answer")
    for candidate in dict.fromkeys((body, _normalise_punctuation(body))):
        for found in _objects(candidate):
            fields = {str(key).strip().lower(): value for key, value in found.items()}
            if LABEL_FIELD in fields:
                index = _name_index(fields[LABEL_FIELD], label_names)
                if index is None:
                    return ParsedLabel(False, None, raw, f"label is {fields[LABEL_FIELD]!r}, not one of "
                                       f"{', '.join(label_names)}")
                return ParsedLabel(True, index, raw)
        match = _LABEL_PATTERN.search(candidate)
        if match and _name_index(match.group(1), label_names) is not None:
            return ParsedLabel(True, _name_index(match.group(1), label_names), raw)
    index = _name_index(body, label_names)
    if index is not None:
        return ParsedLabel(True, index, raw)
    return ParsedLabel(False, None, raw, f"no JSON object with a label among {', '.join(label_names)}")
