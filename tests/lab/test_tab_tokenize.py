"""Tokenize tab handlers: token spans against the encoding, truncation warning, length histogram."""
from __future__ import annotations

import json
import re
import shutil

import gradio as gr
import pytest

from tests.paths import QWEN_TOKENIZER, require_shared
from core.config.schema import DataSection
from core.data.answers import answer_text
from core.data.encoding import EncodeOptions, encode
from core.data.records import load_records
from lab import tab_tokenize
from lab.resolve import tokenizer_choices
from lab.tab_tokenize import PASTE, TokenizeRequest

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def small_dataset(session_workspace, demo_splits, tiny_model_dir) -> dict:
    """40 demo rows plus one long row, as one file in the workspace."""
    rows = [json.loads(line) for line in demo_splits["train"].read_text(encoding="utf-8").splitlines()[:40]]
    rows.append({"input": "\n".join(f"甲: 第{turn}句，{SCRIPT}" for turn in range(60)), "label": True,
                 "fraud_speaker": "甲", "reason": "测试"})
    folder = session_workspace / "ui-tokenize"
    folder.mkdir(exist_ok=True)
    path = folder / "rows.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return {"choice": "ui-tokenize/rows.jsonl", "compare": ""}


def _spans(markup: str, kind: str) -> int:
    return len(re.findall(rf'class="tok {kind}[ "]', markup))


def test_trained_spans_equal_the_encoded_answer(session_workspace, small_dataset, tiny_tokenizer):
    request = TokenizeRequest(split="rows", index=3, prompt=DataSection(with_reason=True, max_length=1024))
    view = tab_tokenize.tokenize(session_workspace, small_dataset, request, "en")
    record = load_records(session_workspace / "ui-tokenize" / "rows.jsonl").records[3]
    expected = encode(tiny_tokenizer, record, EncodeOptions(with_reason=True, max_length=1024))
    assert view.encoded.input_ids == expected.input_ids
    assert _spans(view.tokens_html, "trained") == expected.num_trained > 0
    assert _spans(view.tokens_html, "masked") == len(expected.input_ids) - expected.num_trained
    special = {tiny_tokenizer.convert_tokens_to_ids(token) for token in ("<|im_start|>", "<|im_end|>")}
    assert len(re.findall(r'class="tok \w+ special"', view.tokens_html)) == sum(
        token_id in special for token_id in expected.input_ids)
    total, trained = len(expected.input_ids), expected.num_trained
    assert f"**{total}** tokens: **{trained}** trained, **{total - trained}** masked" in view.counts
    assert view.warning == "" and view.chat == tiny_tokenizer.decode(expected.input_ids)


def test_small_max_length_warns_of_truncation(session_workspace, small_dataset):
    long_row = TokenizeRequest(split="rows", index=40, prompt=DataSection(max_length=200))
    view = tab_tokenize.tokenize(session_workspace, small_dataset, long_row, "en")
    assert view.encoded.truncated and len(view.encoded.input_ids) <= 200
    assert f"needs {view.encoded.untruncated_length} tokens, more than max_length 200" in view.warning
    assert "the dialogue's end" in view.warning
    roomy = tab_tokenize.tokenize(session_workspace, small_dataset,
                                  TokenizeRequest(split="rows", index=40,
                                                  prompt=DataSection(max_length=8192)), "en")
    assert roomy.warning == "" and len(roomy.encoded.input_ids) == view.encoded.untruncated_length


def test_histogram_share_over_max_length(session_workspace, small_dataset, tiny_tokenizer):
    records = load_records(session_workspace / "ui-tokenize" / "rows.jsonl").records
    by_hand = [encode(tiny_tokenizer, record, EncodeOptions(max_length=100000)).untruncated_length
               for record in records]
    max_length = sorted(by_hand)[len(by_hand) // 2]
    over = sum(length > max_length for length in by_hand)
    figure, text = tab_tokenize.length_histogram(session_workspace, small_dataset,
                                                 TokenizeRequest(prompt=DataSection(max_length=max_length)),
                                                 "en")
    assert sorted(list(figure.data[0].x) + list(figure.data[1].x)) == sorted(by_hand)
    assert figure.layout.shapes[0].x0 == max_length == figure.layout.shapes[0].x1
    assert text.startswith(f"{over} of {len(records)} rows ({over / len(records):.1%}) exceed max_length "
                           f"{max_length}")
    # Once computed, the histogram redraws for another max_length from the cache.
    _, again = tab_tokenize.length_histogram(session_workspace, small_dataset,
                                             TokenizeRequest(prompt=DataSection(max_length=max(by_hand))),
                                             "en", only_cached=True)
    assert again.startswith(f"0 of {len(records)} rows")


def test_pasted_html_is_escaped(session_workspace, tiny_model_dir):
    request = TokenizeRequest(source=PASTE, dialogue=f"骗子: {SCRIPT}\n受害人: <img src=x onerror=alert(1)>",
                              is_fraud=True, fraud_speaker="骗子")
    view = tab_tokenize.tokenize(session_workspace, None, request, "zh")
    assert "<script" not in view.tokens_html and "<img" not in view.tokens_html
    assert "&lt;" in view.tokens_html and SCRIPT in view.chat  # the Textbox shows it as text
    with pytest.raises(gr.Error):
        tab_tokenize.tokenize(session_workspace, None, TokenizeRequest(source=PASTE, dialogue="  "), "en")


def test_row_out_of_range_and_outside_tokenizer_are_refused(session_workspace, small_dataset, tiny_model_dir):
    with pytest.raises(gr.Error, match="no row 41"):
        tab_tokenize.tokenize(session_workspace, small_dataset, TokenizeRequest(split="rows", index=41), "en")
    with pytest.raises(gr.Error, match="outside"):
        tab_tokenize.tokenize(session_workspace, small_dataset, TokenizeRequest(tokenizer="/usr/lib"), "en")


def test_real_qwen_tokenizer_inside_the_workspace(session_workspace, small_dataset, qwen_tokenizer):
    source = require_shared(QWEN_TOKENIZER)
    with pytest.raises(gr.Error, match="outside"):  # ../shared itself is not an allowed root
        tab_tokenize.tokenize(session_workspace, small_dataset, TokenizeRequest(tokenizer=str(source)), "en")
    target = session_workspace / "models" / "qwen-tokenizer"
    if not target.exists():
        shutil.copytree(source, target)
    assert "models/qwen-tokenizer" in tokenizer_choices(session_workspace)
    view = tab_tokenize.tokenize(session_workspace, small_dataset,
                                 TokenizeRequest(split="rows", index=0, tokenizer="models/qwen-tokenizer"),
                                 "en")
    record = load_records(session_workspace / "ui-tokenize" / "rows.jsonl").records[0]
    answer = qwen_tokenizer.encode(answer_text(record, with_reason=False), add_special_tokens=False)
    assert view.tokens[0]["text"] == "<|im_start|>" and view.tokens[0]["special"]
    assert view.tokens[-1]["id"] == 151645 and view.tokens[-1]["trained"]  # <|im_end|> closes the answer
    assert _spans(view.tokens_html, "trained") == view.encoded.num_trained == len(answer) + 1


def test_the_prompt_template_is_shown_and_applied(session_workspace, tiny_model_dir):
    pasted = dict(source=PASTE, dialogue="甲: 你好\n乙: 在吗")
    view = tab_tokenize.tokenize(session_workspace, None, TokenizeRequest(**pasted), "en")
    assert "Prompt template (data.prompt_template): `{instruction}\\n{input}`" in view.counts
    template = "对话：{input}\n要求：{instruction}"
    custom = TokenizeRequest(**pasted, prompt=DataSection(prompt_template=template))
    view = tab_tokenize.tokenize(session_workspace, None, custom, "en")
    assert "`对话：{input}\\n要求：{instruction}`" in view.counts
    assert "对话：甲: 你好\n乙: 在吗\n要求：" in view.chat


def _controls(split: str, index: int, max_length: int) -> list:
    """The values the tab's controls send, in `build`'s order: row controls, then the prompt fields."""
    prompt = {spec.key: spec.default for spec in tab_tokenize.prompt_specs()}
    prompt["max_length"] = max_length
    return ["row", split, index, "", False, "", "", "embedded",
            *[prompt[spec.key] for spec in tab_tokenize.prompt_specs()]]


def test_an_error_replaces_the_tokens_and_the_next_success_replaces_the_error(session_workspace,
                                                                              small_dataset):
    """max_length too small for the answer: the previous row's tokens are cleared and the reason shown
    in their place (no gr.Error, whose pills would stay); then a good max_length shows the row again,
    and row mode fills the paste boxes with the row that was tokenized."""
    failed = tab_tokenize.tokenize_outputs(session_workspace, small_dataset, "en", *_controls("rows", 3, 20))
    counts, warning, tokens, chat = failed[:4]
    assert (counts, tokens, chat) == ("", "", "")
    assert "max_length 20 is too small" in warning and "lab-error" in warning
    shown = tab_tokenize.tokenize_outputs(session_workspace, small_dataset, "en", *_controls("rows", 3, 384))
    record = load_records(session_workspace / "ui-tokenize" / "rows.jsonl").records[3]
    assert "lab-error" not in shown[1] and "tokens:" in shown[0] and shown[3]
    assert list(shown[4:]) == [record.input, record.label, record.fraud_speaker, record.reason]


def test_the_tab_starts_at_the_training_max_length():
    defaults = {spec.key: spec.default for spec in tab_tokenize.prompt_specs()}
    assert defaults["max_length"] == DataSection().max_length
