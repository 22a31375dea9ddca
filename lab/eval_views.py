"""Figures and tables of an evaluation run (core.eval.report's metrics.json and predictions.jsonl).

Nothing here computes a metric of its own: numbers are read from metrics.json or computed by
core.eval.metrics (the threshold table, the baseline's curves). Tables come in two forms: a numeric
DataFrame (what a test compares with metrics.json) and `formatted(...)`, the strings the page
shows. Text from the data or from a model reaches HTML only through html.escape; Dataframe cells
are shown as plain text by the page (datatype "str").
"""
from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from core.eval.report import EvalResult, load_evaluation
from core.workspace import RunDir
from core.eval.metrics import curves, metrics_at_threshold
from lab.i18n import answer_error, label_names, t
from lab.state import BoundedCache

BASELINE = "TF-IDF + LR"
METRIC_COLUMNS = ("accuracy", "precision", "recall", "f1", "invalid", "roc_auc", "pr_auc", "speaker_accuracy",
                  "rouge_l_f1", "rows_per_second")
THRESHOLD_COLUMNS = ("precision", "recall", "f1", "accuracy", "tp", "fp", "fn", "tn", "rows")
PAIR_COLUMNS = ("rows", "fixed", "broken", "mcnemar_p", "accuracy_a", "accuracy_b", "difference",
                "low", "high")
COUNT_COLUMNS = {"invalid", "tp", "fp", "fn", "tn", "rows", "fixed", "broken"}
PREVIEW_CHARS = 60
DIFFER, WRONG, ALL = "differ", "wrong", "all"
COLORS = qualitative.Plotly


# -- reading ---------------------------------------------------------------------------------------
_RESULTS = BoundedCache(8)


def read_result(run_dir: Path | str) -> EvalResult:
    """load_evaluation, cached until metrics.json or predictions.jsonl change (a slider drag
    re-reads nothing)."""
    run_dir = Path(run_dir)
    run = RunDir(run_dir)
    stamps = tuple(_stamp(path) for path in (run.eval_metrics, run.predictions_file, run.metrics_lines))
    key = (str(run_dir.resolve()), stamps)
    return _RESULTS.get_or_build(key, lambda: load_evaluation(run_dir))


def _stamp(path: Path) -> tuple:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return ()
    return stat.st_mtime_ns, stat.st_size


def model_names(result: EvalResult) -> list[str]:
    return [entry["name"] for entry in (result.metrics or {}).get("models", [])]


def has_baseline(result: EvalResult) -> bool:
    return bool((result.metrics or {}).get("baseline"))


def class_names(result: EvalResult) -> list[str] | None:
    """The label names of an evaluation on a dataset with label names; None for the fraud schema."""
    models = (result.metrics or {}).get("models") or []
    return models[0]["classification"].get("labels") if models else None


def gold_labels(result: EvalResult) -> list:
    """is_fraud of each row; a dataset with label names: the class index of its gold label."""
    names = class_names(result)
    if names:
        return [names.index(row["gold"]["label"]) for row in result.predictions]
    return [bool(row["gold"]["is_fraud"]) for row in result.predictions]


def scores(result: EvalResult) -> dict[str, list[float | None]]:
    """P(true) of every row, per model and for the baseline (when it ran); none for N classes,
    whose probabilities have no single threshold."""
    if class_names(result):
        return {}
    found = {name: [row["models"][name].get("p_true") for row in result.predictions]
             for name in model_names(result)}
    if has_baseline(result) and all("baseline" in row for row in result.predictions):
        found[BASELINE] = [row["baseline"]["p_true"] for row in result.predictions]
    return found


def answer_label(answer: dict | None) -> bool | None:
    """is_fraud of one model's answer (the class, for a dataset with label names); None when it
    could not be read (core.eval.report's rule)."""
    if answer and answer.get("label") is not None and answer.get("is_fraud") is None:
        return answer["label"] if answer.get("valid", True) else None
    if not answer or not answer.get("valid", True) or answer.get("is_fraud") is None:
        return None
    return bool(answer["is_fraud"])


# -- tables ----------------------------------------------------------------------------------------
def _headers(language: str, columns) -> dict[str, str]:
    return {column: t(f"eval.col.{column}", language) for column in columns}


def metrics_frame(result: EvalResult, language: str) -> pd.DataFrame:
    """One row per model, then the audit baseline on the same rows; numbers as in metrics.json."""
    metrics = result.metrics or {}
    rows = []
    for entry in metrics.get("models", []):
        classification = entry["classification"]
        rouge = (entry.get("rouge") or {}).get("rouge-l") or {}
        rows.append({"model": entry["name"], **{name: classification[name] for name in
                                                ("accuracy", "precision", "recall", "f1", "invalid",
                                                 "roc_auc", "pr_auc")},
                     "speaker_accuracy": (entry.get("speaker") or {}).get("accuracy"),
                     "rouge_l_f1": rouge.get("f1"), "rows_per_second": entry.get("rows_per_second")})
    baseline = metrics.get("baseline")
    if baseline:
        classification = baseline["classification"]
        rows.append({"model": BASELINE, **{name: classification[name] for name in
                                           ("accuracy", "precision", "recall", "f1", "invalid", "roc_auc",
                                            "pr_auc")},
                     "speaker_accuracy": None, "rouge_l_f1": None, "rows_per_second": None})
    frame = pd.DataFrame(rows, columns=["model", *METRIC_COLUMNS])
    return frame.rename(columns={"model": t("eval.col.model", language),
                                 **_headers(language, METRIC_COLUMNS)})


def _cell(value, integer: bool = False, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, str):
        return value
    if integer:
        return str(int(value))
    return f"{float(value):.{digits}f}"


def formatted(frame: pd.DataFrame, counts: set[str] = frozenset(),
              digits: dict[str, int] | None = None) -> pd.DataFrame:
    """The frame as the page shows it: numbers rounded to text, missing values as "—"."""
    digits = digits or {}
    shown = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        shown[column] = [_cell(value, column in counts, digits.get(column, 3)) for value in frame[column]]
    return shown


def metrics_table(result: EvalResult, language: str) -> pd.DataFrame:
    frame = metrics_frame(result, language)
    headers = _headers(language, METRIC_COLUMNS)
    return formatted(frame, {headers["invalid"]}, {headers["rows_per_second"]: 1})


def threshold_frame(result: EvalResult, threshold: float, language: str) -> pd.DataFrame:
    """Per model (and baseline): the metrics when a row is called fraud at P(true) >= threshold."""
    gold = gold_labels(result)
    rows = []
    for name, p_true in scores(result).items():
        values = metrics_at_threshold(gold, p_true, threshold)
        rows.append({"model": name, **{column: values[column] for column in THRESHOLD_COLUMNS}})
    frame = pd.DataFrame(rows, columns=["model", *THRESHOLD_COLUMNS])
    return frame.rename(columns={"model": t("eval.col.model", language),
                                 **_headers(language, THRESHOLD_COLUMNS)})


def threshold_table(result: EvalResult, threshold: float, language: str) -> pd.DataFrame:
    headers = _headers(language, THRESHOLD_COLUMNS)
    return formatted(threshold_frame(result, threshold, language),
                     {headers[name] for name in THRESHOLD_COLUMNS if name in COUNT_COLUMNS})


def pairs_frame(result: EvalResult, language: str) -> pd.DataFrame:
    """Every pair of models, then the baseline against each model: rows B fixed / broke versus
    A, McNemar's exact p, accuracy(B) - accuracy(A) with its bootstrap interval."""
    metrics = result.metrics or {}
    pairs = [(pair["a"], pair["b"], pair) for pair in metrics.get("pairs", [])]
    baseline = metrics.get("baseline") or {}
    pairs += [(BASELINE, name, comparison) for name, comparison in (baseline.get("versus") or {}).items()]
    rows = []
    for first, second, pair in pairs:
        rows.append({"pair": f"{first} → {second}", "rows": pair["rows"], "fixed": len(pair["fixed"]),
                     "broken": len(pair["broken"]), "mcnemar_p": pair["mcnemar_p"],
                     "accuracy_a": pair["accuracy_a"],
                     "accuracy_b": pair["accuracy_b"], "difference": pair["difference"],
                     "low": pair["interval"][0], "high": pair["interval"][1]})
    frame = pd.DataFrame(rows, columns=["pair", *PAIR_COLUMNS])
    confidence = next((pair.get("confidence") for _, _, pair in pairs), 0.95)
    names = _headers(language, PAIR_COLUMNS)
    names["low"] = t("eval.col.low", language, level=f"{confidence:.0%}")
    names["high"] = t("eval.col.high", language, level=f"{confidence:.0%}")
    return frame.rename(columns={"pair": t("eval.col.pair", language), **names})


def pairs_table(result: EvalResult, language: str) -> pd.DataFrame:
    frame = pairs_frame(result, language)
    counts = {frame.columns[index] for index, name in enumerate(["pair", *PAIR_COLUMNS])
              if name in COUNT_COLUMNS}
    return formatted(frame, counts, {t("eval.col.mcnemar_p", language): 4})


def row_labels(result: EvalResult) -> dict[str, list[bool | None]]:
    """Each model's is_fraud per row (None: invalid answer), in the models' order."""
    return {name: [answer_label(row["models"].get(name)) for row in result.predictions]
            for name in model_names(result)}


def chosen_rows(result: EvalResult, which: str) -> list[int]:
    """Row numbers (predictions.jsonl "row") where the models' answers differ, where any model is
    wrong (an invalid answer is wrong), or all rows."""
    labels = row_labels(result)
    gold = gold_labels(result)
    chosen = []
    for position, row in enumerate(result.predictions):
        answers = [values[position] for values in labels.values()]
        if which == DIFFER:
            keep = len(set(answers)) > 1
        elif which == WRONG:
            keep = any(answer is None or answer != gold[position] for answer in answers)
        else:
            keep = True
        if keep:
            chosen.append(row["row"])
    return chosen


def _label_text(value, language: str, names: list[str] | None = None) -> str:
    if value is None:
        return t("eval.invalid", language)
    if names:
        return names[value] if isinstance(value, int) else str(value)
    return label_names(language)[bool(value)]


def _gold_text(gold: dict, language: str, names: list[str] | None) -> str:
    return str(gold["label"]) if names else _label_text(gold["is_fraud"], language)


def _baseline_label(answer: dict):
    return answer["label"] if "label" in answer else answer["is_fraud"]


def _preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def rows_table(result: EvalResult, which: str, language: str) -> pd.DataFrame:
    """The chosen rows: row number, file line, gold label, each model's label, the dialogue's start."""
    labels = row_labels(result)
    by_row = {row["row"]: position for position, row in enumerate(result.predictions)}
    names = list(labels)
    classes = class_names(result)
    with_baseline = has_baseline(result)
    records = []
    for number in chosen_rows(result, which):
        position = by_row[number]
        row = result.predictions[position]
        record = {t("eval.col.row", language): str(number),
                  t("eval.col.line", language): str(row.get("line", "")),
                  t("eval.col.gold", language): _gold_text(row["gold"], language, classes)}
        for name in names:
            record[name] = _label_text(labels[name][position], language, classes)
        if with_baseline and "baseline" in row:
            record[BASELINE] = _label_text(_baseline_label(row["baseline"]), language, classes)
        record[t("eval.col.dialogue", language)] = _preview(row["input"])
        records.append(record)
    columns = [t("eval.col.row", language), t("eval.col.line", language), t("eval.col.gold", language),
               *names]
    columns += [BASELINE] if with_baseline else []
    columns += [t("eval.col.dialogue", language)]
    return pd.DataFrame(records, columns=columns)


def _pre(text: str) -> str:
    return ('<pre style="white-space:pre-wrap;word-break:break-word;margin:4px '
            '0;max-height:320px;overflow:auto">'
            f"{html.escape(str(text))}</pre>")


def _probability(value) -> str:
    return "—" if value is None else f"{float(value):.3f}"


def row_detail_html(result: EvalResult, number: int, language: str) -> str:
    """One row: its dialogue, the gold answer and every model's answer, raw text included; escaped."""
    row = next((item for item in result.predictions if item["row"] == number), None)
    if row is None:
        return f"<p>{html.escape(t('eval.no_such_row', language, row=number))}</p>"
    gold = row["gold"]
    classes = class_names(result)
    header = t("eval.detail_title", language, row=number, line=row.get("line", ""))
    gold_parts = [f"<b>{html.escape(t('eval.gold', language))}</b>: "
                  f"{html.escape(_gold_text(gold, language, classes))}"]
    for key, field in (("eval.col.speaker", "fraud_speaker"), ("eval.col.reason", "reason")):
        if gold.get(field):
            gold_parts.append(f"{html.escape(t(key, language))}: {html.escape(gold[field])}")
    parts = [f"<h4>{html.escape(header)}</h4>", _pre(row["input"]), f"<p>{' · '.join(gold_parts)}</p>"]
    cells = [t(f"eval.col.{name}", language)
             for name in ("model", "answer", "p_true", "speaker", "reason", "raw")]
    head = "".join(f'<th style="text-align:left;padding:4px 8px">{html.escape(cell)}</th>' for cell in cells)
    body = []
    scored = scored_models(result)
    for name, answer in row["models"].items():
        label = answer_label(answer)
        shown = _label_text(label, language, classes)
        if label is None and answer.get("error"):
            shown += f" ({answer_error(answer, language)})"
        if name in scored:  # no text was generated: whatever raw_text holds was never written by the model
            body.append(_detail_row(name, shown, answer.get("p_true"), "", "", "",
                                    note=t("eval.no_text", language)))
            continue
        body.append(_detail_row(name, shown, answer.get("p_true"), answer.get("fraud_speaker") or "",
                                answer.get("reason") or "", answer.get("raw_text") or ""))
    if "baseline" in row:
        body.append(_detail_row(BASELINE, _label_text(_baseline_label(row["baseline"]), language, classes),
                                row["baseline"].get("p_true"), "", "", ""))
    parts.append(f'<table style="border-collapse:collapse;width:100%"><tr>{head}</tr>{"".join(body)}</table>')
    return "".join(parts)


def scored_models(result: EvalResult) -> set[str]:
    """The models whose answers were scored, not generated: every model in score mode, and a
    classifier head in either mode. Their label comes from P(true); they wrote no text."""
    metrics = result.metrics or {}
    score_mode = (metrics.get("config") or {}).get("mode") == "score"
    return {entry["name"] for entry in metrics.get("models", [])
            if score_mode or entry.get("head") == "seq_cls"}


def _detail_row(name: str, label: str, p_true, speaker: str, reason: str, raw: str, note: str = "") -> str:
    raw_cell = _pre(raw) if raw else ""
    if note:
        raw_cell = f'<i style="color:#546e7a">{html.escape(note)}</i>'
    cells = [html.escape(name), html.escape(label), _probability(p_true), html.escape(speaker),
             html.escape(reason), raw_cell]
    return "<tr>" + "".join('<td style="vertical-align:top;padding:4px 8px;border-top:1px solid '
                            f'#ddd">{cell}</td>'
                            for cell in cells) + "</tr>"


# -- figures ---------------------------------------------------------------------------------------
def _layout(figure: go.Figure, title: str, height: int = 360) -> go.Figure:
    figure.update_layout(title=title, height=height, margin=dict(l=60, r=20, t=60, b=50),
                         legend=dict(orientation="h", y=-0.2))
    return figure


def confusion_figure(result: EvalResult, language: str) -> go.Figure:
    """One heatmap per model, then the baseline: rows gold, columns predicted, z [[tn, fp], [fn, tp]]."""
    metrics = result.metrics or {}
    entries = [(entry["name"], entry["classification"]) for entry in metrics.get("models", [])]
    if metrics.get("baseline"):
        entries.append((BASELINE, metrics["baseline"]["classification"]))
    names = label_names(language)
    axis = class_names(result) or [names[False], names[True]]
    columns = max(1, len(entries))
    figure = make_subplots(rows=1, cols=columns,
                           subplot_titles=[html.escape(name) for name, _ in entries] or [""],
                           horizontal_spacing=0.08)
    for index, (name, classification) in enumerate(entries, start=1):
        z = classification.get("confusion") or [[classification["tn"], classification["fp"]],
                                                [classification["fn"], classification["tp"]]]
        figure.add_trace(go.Heatmap(z=z, x=axis, y=axis, name=html.escape(name), colorscale="Blues",
                                    showscale=False, texttemplate="%{z}", textfont=dict(size=16),
                                    hovertemplate=t("eval.confusion_hover", language) + "<extra></extra>"),
                         row=1, col=index)
        figure.update_xaxes(title_text=t("eval.predicted", language), row=1, col=index)
        figure.update_yaxes(title_text=t("eval.gold", language) if index == 1 else "", autorange="reversed",
                            row=1, col=index)
    return _layout(figure, t("eval.confusion", language), height=340)


def _threshold_point(gold: list[bool], p_true: list, threshold: float) -> dict:
    values = metrics_at_threshold(gold, p_true, threshold)
    negatives = values["fp"] + values["tn"]
    return {"fpr": values["fp"] / negatives if negatives else 0.0, "tpr": values["recall"],
            "precision": values["precision"], "recall": values["recall"]}


def curve_figures(result: EvalResult, threshold: float, language: str) -> tuple[go.Figure, go.Figure]:
    """ROC and PR curves of every model and the baseline, each with its point at `threshold`."""
    gold = gold_labels(result)
    saved = {entry["name"]: entry.get("curves") for entry in (result.metrics or {}).get("models", [])}
    roc, pr = go.Figure(), go.Figure()
    roc.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#999"), showlegend=False,
                    hoverinfo="skip")
    for index, (name, p_true) in enumerate(scores(result).items()):
        points = saved.get(name) or curves(gold, p_true)
        color = COLORS[index % len(COLORS)]
        shown = html.escape(name)
        if points.get("roc"):
            roc.add_scatter(x=points["roc"]["fpr"], y=points["roc"]["tpr"], mode="lines", name=shown,
                            line=dict(color=color), legendgroup=shown)
            pr.add_scatter(x=points["pr"]["recall"], y=points["pr"]["precision"], mode="lines", name=shown,
                           line=dict(color=color), legendgroup=shown)
        point = _threshold_point(gold, p_true, threshold)
        roc.add_scatter(x=[point["fpr"]], y=[point["tpr"]], mode="markers", marker=dict(size=11, color=color),
                        name=f"{shown} @ {threshold:.2f}", legendgroup=shown, showlegend=False)
        pr.add_scatter(x=[point["recall"]], y=[point["precision"]], mode="markers",
                       marker=dict(size=11, color=color),
                       name=f"{shown} @ {threshold:.2f}", legendgroup=shown, showlegend=False)
    roc.update_xaxes(title_text=t("eval.fpr", language), range=[-0.02, 1.02])
    roc.update_yaxes(title_text=t("eval.tpr", language), range=[-0.02, 1.02])
    pr.update_xaxes(title_text=t("eval.recall", language), range=[-0.02, 1.02])
    pr.update_yaxes(title_text=t("eval.precision", language), range=[-0.02, 1.02])
    return (_layout(roc, t("eval.roc", language, threshold=f"{threshold:.2f}")),
            _layout(pr, t("eval.pr", language, threshold=f"{threshold:.2f}")))


# -- text ------------------------------------------------------------------------------------------
def summary_html(result: EvalResult, data_name: str, language: str) -> str:
    metrics = result.metrics or {}
    config = metrics.get("config", {})
    values = dict(run=result.run_dir.name, rows=metrics.get("rows", 0), total=metrics.get("total_rows", 0),
                  data=data_name, mode=config.get("mode", ""),
                  reason=t("eval.yes" if config.get("with_reason") else "eval.no", language))
    names = class_names(result)
    if names:  # rows per class, not "fraud" rows
        gold = gold_labels(result)
        classes = " · ".join(f"{name} {gold.count(index)}" for index, name in enumerate(names))
        line = t("eval.summary_classes", language, classes=classes, **values)
    else:
        line = t("eval.summary", language, positives=metrics.get("gold_positive", 0), **values)
    notes = []
    if metrics.get("stopped"):
        notes.append(t("eval.stopped_partial", language,
                       done=", ".join(metrics.get("completed_models", [])) or "—"))
    if not metrics.get("baseline") and not metrics.get("stopped"):
        notes.append(t("eval.no_baseline", language))
    notes += list(metrics.get("warnings", []))
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return f"<p>{html.escape(line)}</p>" + (f"<ul>{items}</ul>" if items else "")


def eta_text(line: dict) -> str:
    """Time left for one model at its rate so far, as h:mm:ss or m:ss; "—" before its first row."""
    speed, left = line.get("rows_per_second"), line["total"] - line["done"]
    if left <= 0:
        return "0:00"
    if not speed:
        return "—"
    minutes, seconds = divmod(round(left / speed), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def progress_html(job_id: str, status: str, result: EvalResult | None, planned: int, error: str | None,
                  language: str) -> str:
    """The job's status and each model's rows done (from metrics.jsonl), models started of planned."""
    latest = result.latest_progress() if result is not None else {}
    title = t("eval.status", language, job=job_id, status=t("eval.status." + status, language),
              started=len(latest), planned=planned)
    parts = [f"<p><b>{html.escape(title)}</b></p>"]
    items = []
    for name, line in latest.items():
        speed = line.get("rows_per_second")
        items.append(t("eval.progress_line", language, model=name, done=line["done"], total=line["total"],
                       speed="—" if speed is None else f"{speed:.1f}", eta=eta_text(line)))
    if items:
        parts.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>")
    if error:
        parts.append(_pre(error))
    return "".join(parts)
