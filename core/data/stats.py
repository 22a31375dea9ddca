"""Per-row numbers of a dataset for the Data and Tokenize tabs' charts (pure pandas, no gradio).

Speaker names and the text duplicates are compared on come from the audit's own rules
(core.audit.speakers, core.audit.duplicates), so the charts and the audit count the same way.
"""
from __future__ import annotations

import pandas as pd

from core.audit.duplicates import normalise
from core.audit.speakers import speaker_names
from core.data.encoding import EncodeOptions, build_messages, encode
from core.data.records import Record

FRAME_COLUMNS = ("split", "row", "line", "label", "input", "fraud_speaker", "reason", "chars", "turns",
                 "speakers", "has_fraud_speaker")


def dialogue_speakers(text: str) -> list[str]:
    """The speaker of each turn, in order ("" once for a dialogue without "name:" lines: one turn)."""
    names = speaker_names(text)
    return names if names else [""]


def records_frame(splits: dict[str, list[Record]]) -> pd.DataFrame:
    """One row per record: split, position, label, the text fields and their per-dialogue numbers."""
    rows = []
    for split, records in splits.items():
        for position, record in enumerate(records):
            speakers = dialogue_speakers(record.input)
            rows.append({
                # The fraud schema's bool, or a label-name dataset's class index (core.data.mapping).
                "split": split, "row": position, "line": record.line, "label": record.label,
                "input": record.input, "fraud_speaker": record.fraud_speaker, "reason": record.reason,
                "chars": len(record.input), "turns": len(speakers),
                "speakers": len({name for name in speakers if name}),
                "has_fraud_speaker": bool(record.fraud_speaker.strip()),
            })
    return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))


def label_counts(frame: pd.DataFrame, labels=(False, True)) -> pd.DataFrame:
    """Rows per split and label: index split (in the frame's order), one column per label value
    (False / True for the fraud schema, the class indices 0..N-1 for a dataset with label names)."""
    splits = list(dict.fromkeys(frame["split"]))
    table = pd.crosstab(frame["split"], frame["label"]).reindex(index=splits, columns=list(labels),
                                                                fill_value=0)
    return table.fillna(0).astype(int)


def fraud_speaker_presence(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows per label with and without a fraud_speaker: index label, columns False / True."""
    table = pd.crosstab(frame["label"], frame["has_fraud_speaker"])
    return table.reindex(index=[False, True], columns=[False, True], fill_value=0).fillna(0).astype(int)


def duplicates_and_overlap(frame: pd.DataFrame) -> pd.DataFrame:
    """Per split: rows, extra copies of a dialogue inside the split, and rows whose dialogue also
    appears in each other split (exact copies after the audit's normalisation; the audit itself
    also finds near copies, between train and test only)."""
    keys = frame["input"].map(normalise)
    splits = list(dict.fromkeys(frame["split"]))
    texts = {split: set(keys[frame["split"] == split]) for split in splits}
    table = []
    for split in splits:
        own = keys[frame["split"] == split]
        entry = {"split": split, "rows": int(len(own)), "duplicates": int(own.duplicated().sum())}
        for other in splits:
            # None on the diagonal: "in itself" is what the duplicates column counts.
            entry[f"in {other}"] = None if other == split else int(own.isin(texts[other]).sum())
        table.append(entry)
    # A single split has no other split to overlap with: its lone column is all None.
    return pd.DataFrame(table).astype({f"in {split}": "Int64" for split in splits}).dropna(axis=1, how="all")


def untruncated_lengths(tokenizer, records: list[Record], options: EncodeOptions) -> list[int]:
    """Tokens each row needs (prompt + answer + end of turn), as `encode(...).untruncated_length`.

    encode() renders the template three times per row; for a histogram of a whole dataset one
    batched tokenization of the rendered chats is about three times faster. What the template puts
    after the answer's end-of-turn token is not counted by encode(); that tail is measured once
    on the first row and taken off every row.
    """
    if not records:
        return []
    if not getattr(tokenizer, "chat_template", None):  # an encoder: [CLS] text [SEP]
        extra = len(tokenizer.encode("", add_special_tokens=True))
        return [len(ids) + extra for ids in tokenizer([record.input for record in records],
                                                      add_special_tokens=False)["input_ids"]]
    texts = tokenizer.apply_chat_template([build_messages(record, options) for record in records],
                                          tokenize=False)
    lengths = [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    reference = encode(tokenizer, records[0], EncodeOptions(
        with_reason=options.with_reason, instruction=options.instruction, system=options.system,
        max_length=10 ** 9))
    tail = lengths[0] - reference.untruncated_length
    return [length - tail for length in lengths]


def share_over(lengths: list[int], max_length: int) -> tuple[int, float]:
    """How many lengths exceed max_length, and their share of all (0.0 for no rows)."""
    over = sum(length > max_length for length in lengths)
    return over, (over / len(lengths) if lengths else 0.0)
