"""Data tab: choose a dataset, see its labels, lengths, speakers, duplicates, audit and rows.

The pure functions (`analyse`, `rows_page`, `token_figure`, `audit_html`, ...) take a loaded
`Dataset` and return figures, tables and text; `build(context)` wires them to components.
Dataset text only reaches the page through Dataframes (shown as text) or html.escape.
"""
from __future__ import annotations

import html
import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from core.audit.report import audit
from core.config.schema import DEMO
from core.data.mapping import column_label_names
from core.data.stats import duplicates_and_overlap, fraud_speaker_presence, label_counts
from core.demo.reviews import DEMO_REVIEWS
from core.models import EMBEDDED_MODEL
from lab import charts
from lab.i18n import finding_text, label_names, problem_text, t
from lab.resolve import dataset_choices, tokenizer_choices, user_path
from lab.state import (DATA_EVENTS, BoundedCache, Dataset, TabContext, bind, error_html, get_tokenizer,
                       load_dataset, poll, save_upload, shown_errors, user_errors)

PAGE_SIZE = 20
UPLOADS_AT_ONCE = 2  # copying an upload into the workspace reads the whole file
SHOWN_LINES = 20  # skipped lines named in the summary; the problems table lists every one
PREVIEW_CHARS = 300
ALL = "all"
SEVERITY_COLORS = {"high": "#b71c1c", "medium": "#e65100", "low": "#9e7700", "info": "#546e7a"}


@dataclass
class DataView:
    summary: str
    problems: pd.DataFrame
    label_counts: go.Figure
    presence: go.Figure | None  # the fraud schema's speaker and dialogue-shape charts; None otherwise
    chars: go.Figure
    shape: go.Figure | None
    overlap: pd.DataFrame


def class_names(dataset: Dataset, language: str) -> dict:
    return dataset.class_names(language)


def _markdown_safe(text) -> str:
    """A name from a file inside Markdown: escaped, and no backtick to end a code span."""
    return html.escape(str(text)).replace("`", "'")


def summary_text(dataset: Dataset, language: str) -> str:
    lines = [t("data.summary_title", language, name=dataset.name.replace("`", ""), rows=dataset.size,
               problems=len(dataset.problems))]
    names = class_names(dataset, language)
    for split, records in dataset.splits.items():
        if dataset.mapping.is_fraud:
            positives = sum(record.label for record in records)
            lines.append(t("data.summary_split", language, split=split, file=dataset.files[split],
                           rows=len(records), positives=positives, negatives=len(records) - positives))
            continue
        counts = {label: 0 for label in names}
        for record in records:
            counts[record.label] += 1
        classes = " · ".join(f"{_markdown_safe(names[label])} {count}" for label, count in counts.items())
        lines.append(t("data.summary_split_classes", language, split=split, file=dataset.files[split],
                       rows=len(records), classes=classes))
    # Training and evaluation skip the same rows (bad_rows=skip): say which before anyone trains.
    for file in dict.fromkeys(problem.file for problem in dataset.problems):
        skipped = sorted({problem.line for problem in dataset.problems if problem.file == file})
        shown = ", ".join(map(str, skipped[:SHOWN_LINES])) + (", …" if len(skipped) > SHOWN_LINES else "")
        lines.append(t("data.summary_skipped", language, file=file, rows=len(skipped), lines=shown))
    if dataset.warnings:
        lines.append(t("data.summary_cleaned", language, values=len(dataset.warnings)))
    return "\n".join(lines)


def problems_table(dataset: Dataset, language: str) -> pd.DataFrame:
    """The skipped rows' problems, then the values cleaned on loading (marked as such)."""
    columns = [t(f"data.col.{name}", language) for name in ("file", "line", "field", "message")]
    rows = [[problem.file, problem.line, problem.field, problem_text(problem, language)]
            for problem in dataset.problems]
    rows += [[problem.file, problem.line, problem.field,
              t("data.cleaned", language, message=problem_text(problem, language))]
             for problem in dataset.warnings]
    if not rows:
        rows = [["", "", "", t("data.no_problems", language)]]
    return pd.DataFrame(rows, columns=columns)


def overlap_table(dataset: Dataset, language: str) -> pd.DataFrame:
    table = duplicates_and_overlap(dataset.frame)
    names = {"split": t("data.col.split", language), "rows": t("data.col.rows", language),
             "duplicates": t("data.col.duplicates", language)}
    names.update({f"in {split}": t("data.col.in", language, split=split) for split in dataset.splits})
    return table.rename(columns=names)


_VIEWS = BoundedCache(16)


def analyse(dataset: Dataset, language: str) -> DataView:
    """Every chart and table of the tab that needs no tokenizer and no audit (cached per language)."""
    return _VIEWS.get_or_build((dataset.key, language), lambda: _analyse(dataset, language))


def _analyse(dataset: Dataset, language: str) -> DataView:
    frame, names = dataset.frame, class_names(dataset, language)
    fraud = dataset.mapping.is_fraud
    present = {True: t("chart.with_speaker", language), False: t("chart.without_speaker", language)}
    # Speakers, turns and fraud_speaker exist in the fraud schema's dialogues only.
    return DataView(
        summary=summary_text(dataset, language),
        problems=problems_table(dataset, language),
        label_counts=charts.label_counts_figure(label_counts(frame, dataset.labels), names,
                                                t("chart.label_counts", language), t("chart.rows", language)),
        presence=charts.presence_figure(fraud_speaker_presence(frame), names, present,
                                        t("chart.presence", language), t("chart.rows", language))
        if fraud else None,
        chars=charts.histogram_by_label(frame, "chars", names,
                                        t("chart.chars" if fraud else "chart.text_chars", language),
                                        t("chart.characters", language), t("chart.rows", language)),
        shape=charts.box_by_label(frame, {"turns": t("chart.turns", language),
                                          "speakers": t("chart.speakers", language)},
                                  names, t("chart.shape", language)) if fraud else None,
        overlap=overlap_table(dataset, language),
    )


def mapping_note(dataset: Dataset, language: str) -> str:
    """How the file's columns are read, and the `--set` arguments that train on it the same way."""
    mapping = dataset.mapping
    if mapping.is_fraud:
        return t("data.mapping_fraud", language)
    names = "、".join(_markdown_safe(name) for name in mapping.label_names)
    if dataset.name == DEMO_REVIEWS:
        train = validation = test = DEMO_REVIEWS
    else:  # the chosen file to train on, a validation split of it, the compared file (if any) to test on
        files = list(dataset.files.values())
        train, validation, test = files[0], "", files[1] if len(files) > 1 else ""
    command = (f"python -m lab train --set data.train={train} --set data.validation={validation} "
               f"--set data.test={test} {mapping.set_line()}")
    return t("data.mapping_classes", language, text=_markdown_safe(mapping.text_column),
             label=_markdown_safe(mapping.label_column), classes=mapping.num_classes, names=names,
             command=_markdown_safe(command))


def label_value(dataset: Dataset, label_filter: str):
    """The label value a filter choice stands for ("true"/"false", or a class index), None for all."""
    if dataset.mapping.is_fraud:
        return {"true": True, "false": False}.get(label_filter)
    text = str(label_filter or "")
    return int(text) if text.isdigit() and int(text) < dataset.mapping.num_classes else None


def label_filter_choices(dataset: Dataset | None, language: str) -> list[tuple[str, str]]:
    if dataset is None or dataset.mapping.is_fraud:
        return _label_filter_choices(language)
    return [(t("filter.all", language), ALL)] + [(name, str(index)) for index, name in
                                                 enumerate(dataset.mapping.label_names)]


def filtered_rows(dataset: Dataset, label_filter: str, split_filter: str, search: str) -> pd.DataFrame:
    frame = dataset.frame
    keep = pd.Series(True, index=frame.index)
    wanted = label_value(dataset, label_filter)
    if wanted is not None:
        keep &= frame["label"] == wanted
    if split_filter and split_filter != ALL:
        keep &= frame["split"] == split_filter
    text = (search or "").strip()
    if text:
        found = pd.Series(False, index=frame.index)
        for column in ("input", "fraud_speaker", "reason"):
            found |= frame[column].str.contains(text, case=False, regex=False)
        keep &= found
    return frame[keep]


def _preview(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rows_page(dataset: Dataset, label_filter: str, split_filter: str, search: str, page,
              language: str) -> tuple[pd.DataFrame, int, str]:
    """One page (PAGE_SIZE rows) of the filtered rows, the page number actually shown, and a caption."""
    matches = filtered_rows(dataset, label_filter, split_filter, search)
    pages = max(1, math.ceil(len(matches) / PAGE_SIZE))
    page = min(max(1, int(page or 1)), pages)
    shown = matches.iloc[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    names = class_names(dataset, language)
    columns = {
        t("data.col.split", language): shown["split"],
        t("data.col.row", language): shown["row"],
        t("data.col.label", language): [names[label] for label in shown["label"]],
        t("data.col.fraud_speaker", language): shown["fraud_speaker"],
        t("data.col.input" if dataset.mapping.is_fraud else "data.col.text", language):
            [_preview(text, PREVIEW_CHARS) for text in shown["input"]],
        t("data.col.reason", language): [_preview(text, 120) for text in shown["reason"]],
    }
    if not dataset.mapping.is_fraud:  # no speaker, no reason: the text is the row
        del columns[t("data.col.fraud_speaker", language)], columns[t("data.col.reason", language)]
    table = pd.DataFrame(columns)
    return table, page, t("data.page_info", language, page=page, pages=pages, matches=len(matches))


FRAUD_WIDTHS = ["7%", "5%", "6%", "9%", "48%", "25%"]
CLASS_WIDTHS = ["8%", "6%", "10%", "76%"]


def rows_table(dataset: Dataset, table: pd.DataFrame):
    """The rows table with the column widths of its schema (six columns, or four without speaker/reason)."""
    return gr.update(value=table, column_widths=FRAUD_WIDTHS if dataset.mapping.is_fraud else CLASS_WIDTHS)


def row_detail_html(dataset: Dataset, split: str, row: int, language: str) -> str:
    """One row in full: its dialogue with its line breaks, label, fraud_speaker and reason; escaped."""
    frame = dataset.frame
    found = frame[(frame["split"] == split) & (frame["row"] == int(row))]
    if found.empty:
        return ""
    item = found.iloc[0]
    title = t("data.row_title", language, split=split, row=int(row), line=item["line"])
    fields = [(t("data.col.label", language), class_names(dataset, language)[item["label"]])]
    if dataset.mapping.is_fraud:
        fields += [(t("data.col.fraud_speaker", language), item["fraud_speaker"] or "—"),
                   (t("data.col.reason", language), item["reason"] or "—")]
    facts = " · ".join(f"<b>{html.escape(name)}</b>: {html.escape(str(value))}" for name, value in fields)
    return (f"<h4>{html.escape(title)}</h4><p>{facts}</p>"
            f'<pre style="white-space:pre-wrap;word-break:break-word;max-height:480px;overflow:auto">'
            f"{html.escape(item['input'])}</pre>")


def pick_row(workspace: Path, value: dict | None, language: str, event: gr.SelectData) -> str:
    """A click on a row of the table opens it in full below the table."""
    if event is None or not event.row_value:
        return gr.skip()
    split, row = event.row_value[0], event.row_value[1]
    return row_detail_html(dataset_of(workspace, value, language), str(split), int(row), language)


def token_figure(workspace: Path, dataset: Dataset, tokenizer_choice: str, language: str) -> go.Figure:
    """Dialogue token counts by label, with the chosen tokenizer (dialogue text only, no template)."""
    tokenizer = get_tokenizer(tokenizer_choice, workspace, language)
    frame = dataset.frame
    ids = tokenizer(list(frame["input"]), add_special_tokens=False)["input_ids"]
    lengths = frame.assign(tokens=[len(row) for row in ids])
    return charts.histogram_by_label(lengths, "tokens", class_names(dataset, language),
                                     t("chart.tokens", language,
                                       tokenizer=html.escape(tokenizer_choice or EMBEDDED_MODEL)),
                                     t("chart.token_count", language), t("chart.rows", language))


# The audit takes seconds to minutes, so it runs in one background thread and a timer polls it.
_AUDIT_RUNNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lab-audit")
_AUDITS = BoundedCache(8)  # dataset key -> Future of its audit


def start_audit(dataset: Dataset) -> Future:
    """The audit of a dataset, started once per dataset (a second click finds the first one's Future)."""
    train, test = dataset.audit_splits()
    names = {} if dataset.mapping.is_fraud else {"label_names": dataset.mapping.label_names}
    return _AUDITS.setdefault(dataset.key, lambda: _AUDIT_RUNNER.submit(audit, train, test, **names))


def audit_html(report, language: str) -> str:
    """Findings coloured by severity, the baseline and duplicate examples; all text escaped."""
    parts = []
    for finding in report.findings:
        color = SEVERITY_COLORS.get(finding.severity, "#546e7a")
        badge = html.escape(t(f"data.severity.{finding.severity}", language))
        text = html.escape(finding_text(finding, language))
        parts.append(f'<li style="margin:4px 0"><span style="background:{color};color:#fff;border-radius:4px;'
                     f'padding:0 6px;margin-right:6px">{badge}</span>{text}</li>')
    body = "".join(parts) or f"<li>{html.escape(t('data.no_findings', language))}</li>"
    baseline = report.baseline
    text = t("data.baseline", language, model=baseline.model, cv_accuracy=_number(baseline.cv_accuracy),
             cv_f1=_number(baseline.cv_f1))
    if baseline.test:
        text += t("data.baseline_test", language, accuracy=_number(baseline.test.get("accuracy")),
                  f1=_number(baseline.test.get("f1")))
    examples = "".join(
        f"<li>{html.escape(pair.kind)} {pair.similarity:.2f}: "
        f"{html.escape(pair.first.split)}#{pair.first.index} 「{html.escape(pair.first.preview)}」 ↔ "
        f"{html.escape(pair.second.split)}#{pair.second.index} 「{html.escape(pair.second.preview)}」</li>"
        for pair in report.duplicates.examples[:10])
    return (f'<ul style="list-style:none;padding-left:0">{body}</ul><p><b>{html.escape(text)}</b></p>'
            + class_words_html(report, language)
            + (f'<ul style="font-size:90%">{examples}</ul>' if examples else ""))


CLASS_WORDS_SHOWN = 8


def class_words_html(report, language: str) -> str:
    """A dataset with label names: per class, the n-grams that point to it (precision: share of the
    rows holding the term that are of this class; coverage: share of the class's rows holding it)."""
    words = getattr(report, "class_words", None)
    if words is None:
        return ""
    head = "".join(f"<th>{html.escape(t(key, language))}</th>" for key in
                   ("audit.col.class", "audit.col.rows", "audit.col.words"))
    body = []
    for name, terms in words.by_class.items():
        shown = "，".join(f"「{html.escape(term.term)}」 {term.precision:.0%}/{term.coverage:.0%}"
                         for term in terms[:CLASS_WORDS_SHOWN]) or "—"
        body.append(f"<tr><td>{html.escape(str(name))}</td><td>{words.counts.get(name, 0)}</td>"
                    f"<td>{shown}</td></tr>")
    return (f"<p>{html.escape(t('audit.class_words', language))}</p>"
            f'<table style="font-size:90%"><tr>{head}</tr>{"".join(body)}</table>')


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _note(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def audit_status(dataset: Dataset, language: str, start: bool = False) -> tuple[str, bool]:
    """The audit section's HTML and whether the audit is still running."""
    future = start_audit(dataset) if start else _AUDITS.get(dataset.key)
    if future is None:
        return _note(t("data.audit_hint", language)), False
    if not future.done():
        return _note(t("data.audit_running", language)), True
    error = future.exception()
    if error is not None:
        return _note(t("data.audit_failed", language, error=error)), False
    return audit_html(future.result(), language), False


def dataset_of(workspace: Path, value: dict | None, language: str) -> Dataset:
    return load_dataset(workspace, language=language, **(value or {"choice": DEMO}))


VIEW_OUTPUTS = 19  # the outputs of `view_outputs`, in `build`'s `shown` order


def _optional_plot(figure: go.Figure | None):
    return gr.update(value=figure, visible=True) if figure is not None else gr.update(visible=False)


def mapping_outputs(dataset: Dataset, language: str) -> tuple:
    """The mapping controls filled from the dataset: its columns offered, its mapping shown."""
    mapping = dataset.mapping
    columns = dataset.columns or list(mapping.required_columns())
    return (gr.update(choices=columns, value=mapping.text_column),
            gr.update(choices=columns, value=mapping.label_column),
            ", ".join(mapping.label_names), mapping_note(dataset, language))


@shown_errors(lambda message: (error_html(message), *[gr.skip()] * (VIEW_OUTPUTS - 1)))
def view_outputs(workspace: Path, value: dict | None, label_value: str, split_value: str, search_value: str,
                 page_value, language: str) -> tuple:
    """Everything the tab shows of the chosen dataset; a failure is said above the dataset still shown."""
    dataset = dataset_of(workspace, value, language)
    view = analyse(dataset, language)
    split_choices = [(t("filter.all", language), ALL)] + [(split, split) for split in dataset.splits]
    split_value = split_value if split_value in dict(split_choices).values() else ALL
    label_choices = label_filter_choices(dataset, language)
    label_value = label_value if label_value in dict(label_choices).values() else ALL
    rows, shown_page, info = rows_page(dataset, label_value, split_value, search_value, page_value, language)
    audit_text, running = audit_status(dataset, language)
    return (view.summary, view.problems, view.label_counts, _optional_plot(view.presence), view.chars,
            _optional_plot(view.shape), view.overlap, gr.update(choices=split_choices, value=split_value),
            rows_table(dataset, rows), shown_page, info, audit_text, gr.Timer(active=running),
            charts.empty_figure(t("chart.not_computed", language)),
            gr.update(choices=label_choices, value=label_value), *mapping_outputs(dataset, language))


@shown_errors(lambda message: (gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), error_html(message)))
def choose_dataset(workspace: Path, choice: str, compare: str, language: str) -> tuple:
    """The Load button: the new choice and reset filters, or (a refused path, an unreadable file) the
    reason, with the dataset already shown left as it is. The columns are detected anew."""
    value = {"choice": choice or DEMO, "compare": compare or "", "mapping": None}
    dataset_of(workspace, value, language)  # reports a bad choice before anything changes
    return value, ALL, ALL, "", 1, ""


@shown_errors(lambda message: (gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), error_html(message)))
def apply_mapping(workspace: Path, value: dict | None, text_column: str, label_column: str, names: str,
                  language: str) -> tuple:
    """The mapping the user edited, applied to the dataset shown (its rows read again through it);
    a mapping that does not fit (no such column, a value without a name) is said and nothing changes."""
    value = {**(value or {"choice": DEMO, "compare": ""}),
             "mapping": {"text_column": text_column, "label_column": label_column, "label_names": names}}
    dataset_of(workspace, value, language)
    return value, ALL, ALL, "", 1, ""


@user_errors
def propose_label_names(workspace: Path, value: dict | None, label_column: str, language: str) -> str:
    """A newly picked label column's own values, offered as its label names."""
    value = value or {"choice": DEMO}
    dataset = dataset_of(workspace, value, language)
    if not label_column or label_column == dataset.mapping.label_column:
        return ", ".join(dataset.mapping.label_names)
    if value.get("choice") in (DEMO, DEMO_REVIEWS):
        return gr.skip()
    return ", ".join(column_label_names(user_path(value["choice"], workspace, language), label_column))


@shown_errors(lambda message: (gr.skip(), *[gr.skip()] * 5, error_html(message)))
def take_upload(workspace: Path, file, compare: str, language: str) -> tuple:
    """An uploaded file, copied into the workspace, becomes the choice (as `choose_dataset` does)."""
    saved = save_upload(file, workspace, language).relative_to(workspace).as_posix()
    return gr.update(choices=dataset_choices(workspace), value=saved), *choose_dataset.__wrapped__(
        workspace, saved, compare, language)


def build(context: TabContext) -> None:
    workspace, language = context.workspace, context.language
    with gr.Row():
        dataset_box = context.translated(gr.Dropdown(dataset_choices(workspace), value=DEMO,
                                                     allow_custom_value=True,
                                                     label=context.t("data.dataset"), scale=3),
                                         "data.dataset")
        compare_box = context.translated(gr.Dropdown([""] + dataset_choices(workspace)[1:], value="",
                                                     allow_custom_value=True, label=context.t("data.compare"),
                                                     scale=3), "data.compare")
        upload = context.translated(gr.UploadButton(context.t("data.upload"),
                                                    file_types=[".jsonl", ".json", ".csv"],
                                                    scale=2), "data.upload")
        load = context.translated(gr.Button(context.t("data.load"), variant="primary", scale=1), "data.load",
                                  "value")
    load_message = gr.HTML()
    # How the file's columns are read: detected on Load, editable, applied by the button.
    with context.translated(gr.Accordion(context.t("data.mapping"), open=True), "data.mapping"):
        with gr.Row():
            text_column = context.translated(gr.Dropdown([], allow_custom_value=True, scale=2,
                                                         label=context.t("data.text_column")),
                                             "data.text_column")
            label_column = context.translated(gr.Dropdown([], allow_custom_value=True, scale=2,
                                                          label=context.t("data.label_column")),
                                              "data.label_column")
            names_box = context.on_language(gr.Textbox(label=context.t("data.label_names"), scale=4,
                                                       info=context.t("data.label_names_info")),
                                            lambda lang: {"label": t("data.label_names", lang),
                                                          "info": t("data.label_names_info", lang)})
            apply_button = context.translated(gr.Button(context.t("data.apply_mapping"), scale=1),
                                              "data.apply_mapping", "value")
        mapping_text = gr.Markdown()
    summary = gr.Markdown()
    problems = context.translated(gr.Dataframe(label=context.t("data.problems"), interactive=False,
                                               max_height=220, wrap=True), "data.problems")
    with gr.Row():
        label_plot, presence_plot = gr.Plot(show_label=False), gr.Plot(show_label=False)
    with gr.Row():
        chars_plot, shape_plot = gr.Plot(show_label=False), gr.Plot(show_label=False)
    with gr.Row():
        tokenizer_box = context.translated(gr.Dropdown(tokenizer_choices(workspace), value=EMBEDDED_MODEL,
                                                       allow_custom_value=True,
                                                       label=context.t("data.tokenizer"),
                                                       scale=3), "data.tokenizer")
        token_button = context.translated(gr.Button(context.t("data.token_lengths"), scale=1),
                                          "data.token_lengths", "value")
    token_plot = gr.Plot(charts.empty_figure(context.t("chart.not_computed")), show_label=False)
    overlap = context.translated(gr.Dataframe(label=context.t("data.overlap"), interactive=False),
                                 "data.overlap")
    _heading(context, "data.audit")
    audit_button = context.translated(gr.Button(context.t("data.run_audit")), "data.run_audit", "value")
    audit_box = gr.HTML(_note(context.t("data.audit_hint")))
    audit_timer = gr.Timer(1.0, active=False)
    _heading(context, "data.rows")
    with gr.Row():
        # Its choices are the dataset's labels, set (and translated) with the rest of the view.
        label_filter = context.translated(
            gr.Radio(_label_filter_choices(language), value=ALL, label=context.t("data.label_filter"),
                     scale=2), "data.label_filter")
        split_filter = context.translated(gr.Dropdown([(context.t("filter.all"), ALL)], value=ALL,
                                                      label=context.t("data.split_filter"),
                                                      scale=1),
                                          "data.split_filter")
        search = context.translated(gr.Textbox(label=context.t("data.search"), scale=3), "data.search")
    with gr.Row():
        previous = context.translated(gr.Button(context.t("data.previous"), size="sm", scale=1),
                                      "data.previous", "value")
        page = context.translated(gr.Number(1, precision=0, minimum=1, label=context.t("data.page"), scale=1),
                                  "data.page")
        following = context.translated(gr.Button(context.t("data.next"), size="sm", scale=1), "data.next",
                                       "value")
        page_info = gr.Markdown()
    # Fixed widths keep the reason on screen; the dialogue's line breaks show (the page's CSS for
    # #data-rows), and a click opens the row in full below.
    table = gr.Dataframe(interactive=False, wrap=True, max_height=700, show_label=False, elem_id="data-rows",
                         column_widths=FRAUD_WIDTHS)
    row_detail = gr.HTML()

    def dataset_of(value, language):
        return load_dataset(workspace, language=language, **(value or {"choice": DEMO}))

    shown = [summary, problems, label_plot, presence_plot, chars_plot, shape_plot, overlap,
             split_filter, table, page, page_info, audit_box, audit_timer, token_plot, label_filter,
             text_column, label_column, names_box, mapping_text]
    view_inputs = [context.dataset, label_filter, split_filter, search, page, context.language_input]
    choose = bind(choose_dataset, workspace)
    show = bind(view_outputs, workspace)

    def refresh_choices():
        choices = dataset_choices(workspace)
        return gr.update(choices=choices), gr.update(choices=[""] + choices[1:]), gr.update(
            choices=tokenizer_choices(workspace))

    reset = [context.dataset, label_filter, split_filter, search, page, load_message]
    # Reading and showing a dataset: no queue limit (DATA_EVENTS), so another session's quick load is
    # never queued behind a large file's; lab.state bounds the reading of large files itself.
    load.click(choose, [dataset_box, compare_box, context.language_input], reset, **DATA_EVENTS).success(
        show, view_inputs, shown, **DATA_EVENTS)
    upload.upload(bind(take_upload, workspace), [upload, compare_box, context.language_input],
                  [dataset_box, *reset], concurrency_id="data-upload",
                  concurrency_limit=UPLOADS_AT_ONCE).success(show, view_inputs, shown, **DATA_EVENTS)
    apply_button.click(bind(apply_mapping, workspace), [context.dataset, text_column, label_column, names_box,
                                                        context.language_input], reset,
                       **DATA_EVENTS).success(show, view_inputs, shown, **DATA_EVENTS)
    label_column.input(bind(propose_label_names, workspace),
                       [context.dataset, label_column, context.language_input], names_box, **DATA_EVENTS)
    context.language_input.change(show, view_inputs, shown, **DATA_EVENTS)
    context.app.load(refresh_choices, None, [dataset_box, compare_box, tokenizer_box]).then(
        show, view_inputs, shown, **DATA_EVENTS)

    @user_errors
    def rows_only(value, label_value, split_value, search_value, page_value, language, step=0):
        dataset = dataset_of(value, language)
        rows, shown_page, info = rows_page(dataset, label_value, split_value, search_value,
                                           int(page_value or 1) + step, language)
        return rows_table(dataset, rows), shown_page, info

    rows_outputs = [table, page, page_info]
    row_inputs = [context.dataset, label_filter, split_filter, search, page, context.language_input]
    for control in (label_filter, split_filter, search):
        control.input(lambda *values: rows_only(*values[:4], 1, values[5]), row_inputs, rows_outputs,
                      **DATA_EVENTS)
    page.submit(rows_only, row_inputs, rows_outputs, **DATA_EVENTS)
    table.select(bind(pick_row, workspace), [context.dataset, context.language_input], row_detail)
    previous.click(lambda *values: rows_only(*values, step=-1), row_inputs, rows_outputs, **DATA_EVENTS)
    following.click(lambda *values: rows_only(*values, step=1), row_inputs, rows_outputs, **DATA_EVENTS)

    @user_errors
    def tokens(value, tokenizer_choice, language):
        return token_figure(workspace, dataset_of(value, language), tokenizer_choice, language)

    # Tokenizing every row takes the CPU for seconds: its own group, one at a time.
    token_button.click(tokens, [context.dataset, tokenizer_box, context.language_input], token_plot,
                       concurrency_id="data-tokens", concurrency_limit=1)

    @user_errors
    def run_audit(value, language, start=True):
        text, running = audit_status(dataset_of(value, language), language, start=start)
        return text, gr.Timer(active=running)

    # The audit itself runs in _AUDIT_RUNNER; the click only reads the dataset (cached) and starts it.
    audit_button.click(run_audit, [context.dataset, context.language_input], [audit_box, audit_timer],
                       **DATA_EVENTS)
    poll(audit_timer, lambda value, language: run_audit(value, language, start=False),
         [context.dataset, context.language_input], [audit_box, audit_timer], "audit")


def _heading(context: TabContext, key: str):
    return context.on_language(gr.Markdown("### " + context.t(key)),
                               lambda lang: {"value": "### " + t(key, lang)})


def _label_filter_choices(language: str) -> list[tuple[str, str]]:
    names = label_names(language)
    return [(t("filter.all", language), ALL), (names[True], "true"), (names[False], "false")]
