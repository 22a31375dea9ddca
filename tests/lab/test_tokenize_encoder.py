"""The Tokenize tab with the embedded encoder: [CLS] text [SEP], nothing trained, the max_length cut."""
from __future__ import annotations

from core.config.schema import DataSection
from core.data.records import Record
from core.data.stats import untruncated_lengths
from lab import tab_tokenize
from lab.state import get_tokenizer
from lab.tab_tokenize import PASTE, TokenizeRequest

SCRIPT = "<script>alert(1)</script>"


def test_the_encoder_shows_cls_text_sep_and_its_cut(session_workspace, tiny_encoder_dir):
    text = "这家酒店的服务很好" + "，早餐也很丰富" * 10 + SCRIPT  # keep_end keeps the script
    request = TokenizeRequest(source=PASTE, dialogue=text, tokenizer="embedded-encoder",
                              prompt=DataSection(max_length=64))
    view = tab_tokenize.tokenize(session_workspace, None, request, "en")
    assert [token["text"] for token in view.tokens][0] == "[CLS]" and view.tokens[-1]["text"] == "[SEP]"
    assert len(view.tokens) == 64 and view.encoded.truncated and view.warning
    assert all(not token["trained"] for token in view.tokens)
    assert SCRIPT not in view.tokens_html and "&lt;" in view.tokens_html
    tokenizer = get_tokenizer("embedded-encoder", session_workspace, "en")
    whole = untruncated_lengths(tokenizer, [Record(input=text, label=0)], request.options())
    assert whole == [view.encoded.untruncated_length] and whole[0] > 64
