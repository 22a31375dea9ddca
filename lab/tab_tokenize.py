"""Tokenize tab: what one row becomes for the model, token by token, and how long all rows are.

The prompt options are the training config's own (DataSection's PROMPT_KEYS, through
lab.config_form), with its defaults, so what this tab shows is what a run with that config trains on.

Token texts come from `core.data.encoding.token_view` and are html.escape'd one by one; the chat text
goes to a Textbox, which shows text as text.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field, replace
from pathlib import Path

import gradio as gr
import plotly.graph_objects as go

from core.config.schema import DEMO, PROMPT_KEYS, DataSection, field_specs, prompt_options
from core.config.text import config_from_dict
from core.data.encoding import EncodeOptions, Encoded, encode, encode_prompt, template_for, token_view
from core.data.records import Record
from core.data.stats import share_over, untruncated_lengths
from core.models import EMBEDDED_MODEL
from lab import charts, config_form
from lab.help_zh import field_help
from lab.i18n import t
from lab.resolve import tokenizer_choices
from lab.state import (BoundedCache, TabContext, bind, error_html, get_tokenizer, load_dataset, shown_errors,
                       user_errors)

ROW, PASTE = "row", "paste"
STYLES = {
    "masked": "background:#eceff1;color:#37474f",
    "trained": "background:#c8e6c9;color:#1b5e20",
    "special": "background:#e1bee7;color:#4a148c;font-weight:600",
}
TRAINED_SPECIAL = "background:#e1bee7;color:#4a148c;font-weight:600;outline:2px solid #2e7d32"
SPAN_STYLE = "border-radius:3px;padding:0 1px;margin:0 1px 0 0"


@dataclass
class TokenizeRequest:
    """Everything the tab's controls say about one row to tokenize."""

    source: str = ROW
    split: str = ""
    index: int = 0
    dialogue: str = ""
    is_fraud: bool = False
    fraud_speaker: str = ""
    reason: str = ""
    tokenizer: str = EMBEDDED_MODEL
    prompt: DataSection = field(default_factory=DataSection)  # its PROMPT_KEYS shape the prompt

    def options(self) -> EncodeOptions:
        return prompt_options(self.prompt)


def prompt_specs():
    """The prompt fields of DataSection, in declaration order."""
    return [spec for spec in field_specs(DataSection) if spec.key in PROMPT_KEYS]


def prompt_of(values) -> DataSection:
    """The prompt the tab's option components describe; ConfigError names a wrong value."""
    return config_from_dict(config_form.values_to_dict(prompt_specs(), values), DataSection)


@dataclass
class TokenizeView:
    record: Record
    encoded: Encoded
    tokens: list[dict]
    counts: str
    warning: str
    chat: str
    tokens_html: str


def pick_record(dataset, request: TokenizeRequest, language: str) -> Record:
    if request.source == PASTE:
        if not request.dialogue.strip():
            raise gr.Error(t("error.empty_dialogue", language), print_exception=False)
        return Record(input=request.dialogue, label=bool(request.is_fraud),
                      fraud_speaker=request.fraud_speaker.strip(), reason=request.reason.strip())
    split = request.split if request.split in dataset.splits else next(iter(dataset.splits))
    records = dataset.splits[split]
    index = int(request.index or 0)
    if not 0 <= index < len(records):
        raise gr.Error(t("error.no_row", language, split=split, index=index, rows=len(records)),
                       print_exception=False)
    return records[index]


def tokens_html(tokens: list[dict], language: str) -> str:
    """The legend, then one span per token coloured by masked / trained / special."""
    legend = "".join(f'<span style="{STYLES[kind]};{SPAN_STYLE};padding:0 6px">'
                     f'{html.escape(t(f"tok.legend.{kind}", language))}</span> '
                     for kind in ("masked", "trained", "special"))
    spans = []
    for token in tokens:
        kind = "trained" if token["trained"] else "masked"
        classes = f"tok {kind}" + (" special" if token["special"] else "")
        if token["special"]:
            style = TRAINED_SPECIAL if token["trained"] else STYLES["special"]
        else:
            style = STYLES[kind]
        text = html.escape(token["text"]).replace("\n", "↵\n")
        spans.append(f'<span class="{classes}" title="id {int(token["id"])}" '
                     f'style="{style};{SPAN_STYLE}">{text}</span>')
    return (f'<div style="margin:28px 0 8px 0">{legend}</div>'
            f'<div style="white-space:pre-wrap;line-height:1.9;font-family:monospace;font-size:13px">'
            f'{"".join(spans)}</div>')


def tokenize(workspace: Path, dataset_value: dict | None, request: TokenizeRequest,
             language: str) -> TokenizeView:
    tokenizer = get_tokenizer(request.tokenizer, workspace, language)
    dataset = load_dataset(workspace, language=language, **(dataset_value or {"choice": DEMO})) \
        if request.source == ROW else None
    record = pick_record(dataset, request, language)
    options = request.options()
    if dataset is not None and not dataset.mapping.is_fraud and not options.label_names:
        # A row of a dataset with label names is answered with its class name, as training does.
        options = replace(options, label_names=dataset.mapping.label_names, with_reason=False)
    # An encoder's tokenizer has no chat template: it is shown [CLS] text [SEP] as it classifies it.
    encoded = (encode(tokenizer, record, options) if getattr(tokenizer, "chat_template", None)
               else encode_prompt(tokenizer, record, options))
    tokens = token_view(tokenizer, encoded)
    total, trained = len(encoded.input_ids), encoded.num_trained
    counts = t("tok.counts", language, total=total, trained=trained, masked=total - trained,
               max_length=options.max_length, used=f"{total / options.max_length:.0%}")
    # The template this row was rendered with, \n shown as such: a row's own instruction is kept verbatim.
    template = template_for(record, options).replace("\n", "\\n").replace("`", "'")
    counts += "  \n" + t("tok.template", language, template=template)
    warning = ""
    if encoded.truncated:
        side = t(f"tok.{options.truncation}", language)
        warning = t("tok.truncated", language, needed=encoded.untruncated_length,
                    max_length=options.max_length, side=side)
    return TokenizeView(record=record, encoded=encoded, tokens=tokens, counts=counts, warning=warning,
                        chat=encoded.text, tokens_html=tokens_html(tokens, language))


_LENGTHS = BoundedCache(8)


def dataset_lengths(workspace: Path, dataset_value: dict | None, request: TokenizeRequest, language: str,
                    only_cached: bool = False) -> tuple[list[int], list[bool]] | None:
    """Untruncated token counts of every row of the dataset (cached per dataset, tokenizer, prompt)."""
    dataset = load_dataset(workspace, language=language, **(dataset_value or {"choice": DEMO}))
    records = [record for split_records in dataset.splits.values() for record in split_records]
    options = request.options()
    if not dataset.mapping.is_fraud and not options.label_names:
        options = replace(options, label_names=dataset.mapping.label_names, with_reason=False)
    key = (dataset.key, request.tokenizer, options.with_reason, options.instruction, options.system,
           options.prompt_template, options.label_names)
    lengths = _LENGTHS.get(key)
    if lengths is None:
        if only_cached:
            return None
        tokenizer = get_tokenizer(request.tokenizer, workspace, language)
        lengths = _LENGTHS.get_or_build(key, lambda: untruncated_lengths(tokenizer, records, options))
    return lengths, [record.label for record in records]


def length_histogram(workspace: Path, dataset_value: dict | None, request: TokenizeRequest, language: str,
                     only_cached: bool = False) -> tuple[go.Figure, str] | None:
    """The histogram with max_length drawn on it, and how many rows lie over max_length."""
    found = dataset_lengths(workspace, dataset_value, request, language, only_cached)
    if found is None:
        return None
    lengths, labels = found
    dataset = load_dataset(workspace, language=language, **(dataset_value or {"choice": DEMO}))
    names = dataset.class_names(language)
    max_length = int(request.prompt.max_length)
    over, share = share_over(lengths, max_length)
    figure = charts.token_length_figure(lengths, labels, max_length, names,
                                        t("tok.histogram", language), t("chart.token_count", language),
                                        t("chart.rows", language),
                                        t("tok.max_line", language, max_length=max_length))
    return figure, t("tok.over", language, over=over, rows=len(lengths), share=f"{share:.1%}",
                     max_length=max_length)


ROW_CONTROLS = 8  # source, split, index, dialogue, is_fraud, speaker, reason, tokenizer; then the prompt's


def request_of(values) -> TokenizeRequest:
    """The request the tab's controls describe, in `build`'s order; ConfigError names a wrong value."""
    return TokenizeRequest(*values[:ROW_CONTROLS], prompt=prompt_of(values[ROW_CONTROLS:]))


def _tokenize_failed(message: str) -> tuple:
    # The tokens on screen belong to the controls' previous values: cleared, with the reason in their place.
    return ("", error_html(message), "", "", *[gr.skip()] * 4)


@shown_errors(_tokenize_failed)
def tokenize_outputs(workspace: Path, dataset_value: dict | None, language: str, *values) -> tuple:
    """The counts, warning, tokens and chat text; in row mode also the row's dialogue, label, speaker
    and reason, so the paste boxes show the row that was tokenized (and can be edited from there)."""
    request = request_of(values)
    view = tokenize(workspace, dataset_value, request, language)
    warning = f"<p>{html.escape(view.warning)}</p>" if view.warning else ""
    record = view.record
    row = ([gr.skip()] * 4 if request.source == PASTE
           else [record.input, bool(record.label), record.fraud_speaker or "", record.reason or ""])
    return (view.counts, warning, view.tokens_html, view.chat, *row)


def _lengths_failed(message: str) -> tuple:
    return charts.empty_figure(""), error_html(message)


@shown_errors(_lengths_failed)
def lengths_outputs(workspace: Path, dataset_value: dict | None, language: str, *values) -> tuple:
    """The token-length histogram and the rows over max_length (tokenizes every row the first time)."""
    found = length_histogram(workspace, dataset_value, request_of(values), language)
    return found[0], f"<p>{html.escape(found[1])}</p>"


@shown_errors(_lengths_failed)
def cached_lengths_outputs(workspace: Path, dataset_value: dict | None, language: str, *values) -> tuple:
    """As `lengths_outputs` when the lengths were already counted, else nothing changes."""
    found = length_histogram(workspace, dataset_value, request_of(values), language, only_cached=True)
    return (found[0], f"<p>{html.escape(found[1])}</p>") if found is not None else (gr.skip(), gr.skip())


def build(context: TabContext) -> None:
    workspace, language = context.workspace, context.language
    with gr.Row():
        with gr.Column(scale=2):
            source = context.on_language(
                gr.Radio(_source_choices(language), value=ROW, label=context.t("tok.source")),
                lambda lang: {"choices": _source_choices(lang), "label": t("tok.source", lang)})
            with gr.Row():
                split = context.translated(gr.Dropdown(["train"], value="train",
                                                       label=context.t("tok.split")),
                                           "tok.split")
                index = context.translated(gr.Number(0, precision=0, minimum=0, label=context.t("tok.index")),
                                           "tok.index")
            dialogue = context.translated(gr.Textbox(lines=5, label=context.t("tok.pasted")), "tok.pasted")
            with gr.Row():
                is_fraud = context.translated(gr.Checkbox(False, label=context.t("tok.pasted_label")),
                                              "tok.pasted_label")
                speaker = context.translated(gr.Textbox(label=context.t("tok.pasted_speaker")),
                                             "tok.pasted_speaker")
            reason = context.translated(gr.Textbox(label=context.t("tok.pasted_reason")), "tok.pasted_reason")
        with gr.Column(scale=2):
            tokenizer_box = context.translated(gr.Dropdown(tokenizer_choices(workspace), value=EMBEDDED_MODEL,
                                                           allow_custom_value=True,
                                                           label=context.t("tok.tokenizer")),
                                               "tok.tokenizer")
            prompt_fields = [context.on_language(
                config_form.field_component(spec, *_prompt_labels(spec, language),
                                            info=field_help(f"data.{spec.key}", spec.help, language)),
                lambda lang, spec=spec: {**dict(zip(("label", "choices"), _prompt_labels(spec, lang))),
                                         "info": field_help(f"data.{spec.key}", spec.help, lang)})
                             for spec in prompt_specs()]
            max_length = prompt_fields[PROMPT_KEYS.index("max_length")]
            with gr.Row():
                run = context.translated(gr.Button(context.t("tok.run"), variant="primary"), "tok.run",
                                         "value")
                lengths_button = context.translated(gr.Button(context.t("tok.lengths")), "tok.lengths",
                                                    "value")
    counts = gr.Markdown()
    warning = gr.HTML()
    tokens_box = context.translated(gr.HTML(label=context.t("tok.tokens"), show_label=True, container=True),
                                    "tok.tokens")
    chat = context.translated(gr.Textbox(lines=8, max_lines=20, interactive=False,
                                         label=context.t("tok.chat")),
                              "tok.chat")
    histogram = gr.Plot(show_label=False)
    over = gr.HTML()

    row_controls = [source, split, index, dialogue, is_fraud, speaker, reason, tokenizer_box]
    controls = row_controls + prompt_fields

    @user_errors
    def splits_of(dataset_value, current, language):
        names = list(load_dataset(workspace, language=language, **(dataset_value or {"choice": DEMO})).splits)
        return gr.update(choices=names, value=current if current in names else names[0])

    inputs = [context.dataset, context.language_input, *controls]
    shown = [counts, warning, tokens_box, chat, dialogue, is_fraud, speaker, reason]
    lengths_shown = [histogram, over]
    run.click(bind(tokenize_outputs, workspace), inputs, shown).success(
        bind(cached_lengths_outputs, workspace), inputs, lengths_shown)
    index.submit(bind(tokenize_outputs, workspace), inputs, shown)
    lengths_button.click(bind(lengths_outputs, workspace), inputs, lengths_shown)
    max_length.submit(bind(cached_lengths_outputs, workspace), inputs, lengths_shown)
    context.dataset.change(splits_of, [context.dataset, split, context.language_input], split)
    context.app.load(splits_of, [context.dataset, split, context.language_input], split)


def _source_choices(language: str) -> list[tuple[str, str]]:
    return [(t("tok.source.row", language), ROW), (t("tok.source.paste", language), PASTE)]


def _prompt_labels(spec, language: str) -> tuple:
    """A prompt field's label and, for truncation, its choices named in the page's language."""
    label = config_form.field_label(f"data.{spec.key}", language)
    if not spec.choices:
        return (label,)
    return label, [(t(f"tok.{choice}", language), choice) for choice in spec.choices]
