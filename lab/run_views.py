"""What the Train and Runs tabs show of jobs: live curves, progress, the jobs table, comparisons.

Live curves keep their reading position in a plain dict (a gr.State value per page):
{"job": id, "cursors": {path: [offset, check]}, "series": {name: {...points...}}, "last": line}.
Each poll reads only the bytes appended since, so a long run costs the same as a short one.
Text from files and jobs reaches the page as figure text (html.escape'd), Dataframe cells
(plain strings) or escaped HTML.
"""
from __future__ import annotations

import html
import math
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from core.jobs.registry import FINISHED, JobRegistry
from core.train.run_files import config_differences, flatten, fold_table, metrics_sources, read_all_metrics
from core.train.sweep import sweep_table
from core.workspace import read_appended
from lab.i18n import problem_text, t
from lab.state import hide_workspace

STATUS_COLORS = {"queued": "#757575", "running": "#1565c0", "stopping": "#e65100", "stopped": "#6d4c41",
                 "finished": "#2e7d32", "failed": "#b71c1c"}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22")
SUMMARY_KEYS = ("eval_loss", "train_loss", "accuracy", "f1", "steps")
SHOWN_SKIPPED = 10  # skipped rows listed under a job's progress; summary.json keeps up to 100


# -- live curves -----------------------------------------------------------------------------------
def new_curves(job_id: str | None) -> dict:
    return {"job": job_id, "cursors": {}, "series": {}, "last": None, "last_train": None}


def _series_name(group: str, fold, kind: str, language: str) -> str:
    parts = [group] if group else []
    if fold is not None:
        parts.append(t("train.fold", language, fold=fold))
    parts.append(t("train.eval_loss" if kind == "eval" else "train.train_loss", language))
    return " · ".join(parts)


def _line_point(line: dict):
    """(kind, step, loss) of a metrics line, or None when it carries no loss."""
    kind = "eval" if line.get("kind") == "eval" else "train"
    value = line.get("eval_loss" if kind == "eval" else "loss")
    if line.get("step") is None or value is None:
        return None
    return kind, line["step"], value


def _add_line(curves: dict, source: str, label: str, line: dict) -> None:
    point = _line_point(line)
    if point is None:
        return
    kind, step, value = point
    key = f"{label}|{line.get('fold')}|{kind}"
    series = curves["series"].setdefault(key, {"source": source, "kind": kind, "group": label,
                                               "fold": line.get("fold"), "x": [], "y": []})
    series["x"].append(step)
    series["y"].append(value)
    curves["last"] = line
    if kind == "train":
        curves["last_train"] = line


def update_curves(curves: dict, job, registry: JobRegistry | None) -> bool:
    """Read what was appended to each of the job's metrics files; True when anything changed."""
    changed = False
    for source in metrics_sources(job, registry):
        key = str(source.path)
        offset, check = curves["cursors"].get(key, (0, ""))
        found = read_appended(source.path, offset, check)
        if found.restarted:
            curves["series"] = {name: series for name, series in curves["series"].items()
                                if series["source"] != key}
            changed = True
        for line in found.lines:
            _add_line(curves, key, source.label, line)
        curves["cursors"][key] = (found.offset, found.check)
        changed = changed or bool(found.lines)
    return changed


def point_count(curves: dict) -> int:
    return sum(len(series["x"]) for series in curves["series"].values())


def curves_figure(series: list[dict], title: str, language: str) -> go.Figure:
    """Loss by step: train lines solid, eval lines dashed with markers; one colour per run / fold."""
    figure = go.Figure()
    colors: dict = {}
    for item in series:
        color = colors.setdefault((item.get("group"), item.get("fold")), PALETTE[len(colors) % len(PALETTE)])
        evaluation = item["kind"] == "eval"
        figure.add_scatter(x=list(item["x"]), y=list(item["y"]), name=html.escape(item["name"]),
                           mode="lines+markers" if evaluation else "lines",
                           line=dict(color=color, dash="dash" if evaluation else "solid",
                                     width=2 if evaluation else 1.5),
                           marker=dict(size=7 if evaluation else 4))
    if not series:
        figure.add_annotation(text=t("train.no_points", language), showarrow=False, x=0.5, y=0.5,
                              xref="paper", yref="paper")
    figure.update_layout(title=html.escape(title), xaxis_title=t("train.step", language),
                         yaxis_title=t("train.loss", language), height=380,
                         margin=dict(l=50, r=20, t=50, b=40),
                         legend=dict(orientation="h", y=-0.2), uirevision="curves")
    return figure


def live_figure(curves: dict, job, language: str) -> go.Figure:
    series = [dict(item, name=_series_name(item["group"], item["fold"], item["kind"], language))
              for item in curves["series"].values()]
    title = t("train.curve_title", language, job=job.id) if job is not None else ""
    return curves_figure(series, title, language)


def compare_figure(jobs: list, registry: JobRegistry, language: str) -> go.Figure:
    """Train and eval loss of several runs overlaid (read whole: a comparison is one click)."""
    series: dict[str, dict] = {}
    for job in jobs:
        for label, line in read_all_metrics(job, registry):
            point = _line_point(line)
            if point is None:
                continue
            kind, step, value = point
            group = job.id + (f" {label}" if label else "")
            name = _series_name(group, line.get("fold"), kind, language)
            item = series.setdefault(name,
                                     {"name": name, "kind": kind, "group": group, "fold": line.get("fold"),
                                            "x": [], "y": []})
            item["x"].append(step)
            item["y"].append(value)
    return curves_figure(list(series.values()), t("runs.compare_title", language), language)


# -- progress and text -----------------------------------------------------------------------------
def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return ""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def status_badge(status: str, language: str) -> str:
    color = STATUS_COLORS.get(status, "#546e7a")
    text = html.escape(t(f"runs.status.{status}", language))
    return (f'<span style="background:{color};color:#fff;border-radius:4px;padding:1px 8px;'
            f'font-weight:600">{text}</span>')


def progress_html(job, curves: dict, language: str) -> str:
    """Status, a bar of step / total, ETA and tokens/s; every piece of text escaped."""
    if job is None:
        return f"<p>{html.escape(t('train.no_job', language))}</p>"
    last, last_train = curves.get("last") or {}, curves.get("last_train") or {}
    step, total = last.get("step") or 0, last.get("total_steps") or 0
    summary = job.summary or {}
    if not job.is_active and summary.get("steps") is not None and last.get("fold") is None:
        # A stop ends at the step it was asked at, after the last logged line: the step the job ended at
        # is the one its log names ("saving a checkpoint at step 27"), not the last logged one (25).
        step, total = summary["steps"], summary.get("total_steps") or total
    share = 1.0 if job.status == FINISHED else (min(1.0, step / total) if total else 0.0)
    parts = [t("train.progress_step", language, step=step, total=total or "?")]
    if last.get("fold") is not None:
        k = ((job.config or {}).get("kfold") or {}).get("k", "?")
        parts.insert(0, t("train.progress_fold", language, fold=int(last["fold"]) + 1, k=k))
    if job.is_active and last.get("remaining") is not None:
        parts.append(t("train.progress_eta", language, eta=_duration(last["remaining"])))
    if last_train.get("tokens_per_second"):
        parts.append(t("train.progress_speed", language, speed=f"{last_train['tokens_per_second']:.0f}"))
    if last_train.get("loss") is not None:
        parts.append(f"loss {last_train['loss']:.4f}")
    text = html.escape(" · ".join(parts))
    error = (f'<pre style="white-space:pre-wrap;color:#b71c1c">{html.escape(job.error)}</pre>' if job.error
             else "")
    color = STATUS_COLORS.get(job.status, "#1565c0")
    return (f'<div style="display:flex;gap:10px;align-items:center;margin-bottom:6px">'
            f'{status_badge(job.status, language)}<code>{html.escape(job.id)}</code>'
            f'<span>{text}</span></div>'
            f'<div style="background:#e0e0e0;border-radius:4px;height:14px;overflow:hidden">'
            f'<div style="width:{share * 100:.1f}%;background:{color};height:100%"></div></div>{error}'
            f'{skipped_html(job.summary, language)}')


def skipped_html(summary: dict | None, language: str, shown: int = SHOWN_SKIPPED) -> str:
    """The rows a finished run left out (data.bad_rows=skip): how many, then the first problems."""
    summary = summary or {}
    problems, count = summary.get("skipped_problems") or [], summary.get("skipped_rows") or 0
    if not count:
        return ""

    def item(problem: dict) -> str:
        # The file's name only: the page never shows where the workspace lies.
        where = f"{Path(str(problem.get('file', ''))).name}:{int(problem.get('line') or 0)}"
        return (f"<li><code>{html.escape(where)}</code> {html.escape(str(problem.get('field') or ''))}: "
                f"{html.escape(problem_text(problem, language))}</li>")

    items = "".join(item(problem) for problem in problems[:shown])
    if not problems:  # an evaluation's summary lists the lines alone
        lines = summary.get("skipped_lines") or []
        items = html.escape(", ".join(map(str, lines[:shown])) + (", …" if len(lines) > shown else ""))
        items = f"<li>{items}</li>" if items else ""
    more = (f"<li>{html.escape(t('train.skipped_more', language, more=count - shown))}</li>"
            if problems and count > shown else "")
    title = html.escape(t("train.skipped", language, rows=count))
    return (f'<div style="color:#e65100;margin-top:6px"><b>{title}'
            f'</b><ul style="margin:2px 0">{items}{more}</ul></div>')


def summary_text(summary: dict | None) -> str:
    """A job's final metrics in one line: eval_loss, train_loss, accuracy, f1, steps."""
    if not summary:
        return ""
    parts = []
    mean_std = summary.get("eval_loss_mean_std")
    for key in SUMMARY_KEYS:
        value = summary.get(key)
        if value is None:
            continue
        if key == "eval_loss" and isinstance(mean_std, dict) and mean_std.get("std") is not None:
            parts.append(f"eval_loss {mean_std['mean']:.4g} ± {mean_std['std']:.2g}")
        else:
            parts.append(f"{key} {_number(value)}")
    # An evaluation job's headline: each model's accuracy and F1 (and invalid answers when any).
    for name, values in (summary.get("models") or {}).items():
        if isinstance(values, dict):
            headline = [f"{key} {_number(values[key])}" for key in ("accuracy", "f1")
                        if values.get(key) is not None]
            if values.get("invalid"):
                headline.append(f"invalid {values['invalid']}")
            parts.append(f"{name}: {', '.join(headline)}")
    if summary.get("stopped"):
        parts.append("stopped")
    return " · ".join(parts)


def job_choices(jobs: list, language: str) -> list[tuple[str, str]]:
    return [(f"{job.id} · {t(f'runs.status.{job.status}', language)}", job.id) for job in jobs]


def jobs_table(jobs: list, language: str, now: float | None = None) -> pd.DataFrame:
    """The registry as rows: id, kind, status, created, duration, final metrics."""
    now = time.time() if now is None else now
    rows = []
    for job in jobs:
        end = job.finished_at or (now if job.is_active else None)
        rows.append({
            t("runs.col.id", language): job.id,
            t("runs.col.kind", language): job.kind,
            t("runs.col.status", language): t(f"runs.status.{job.status}", language),
            t("runs.col.created",
              language): datetime.fromtimestamp(job.created_at).strftime("%Y-%m-%d %H:%M:%S"),
            t("runs.col.duration",
              language): _duration(end - job.started_at) if job.started_at and end else "",
            t("runs.col.summary", language): summary_text(job.summary),
        })
    columns = [t(f"runs.col.{name}", language)
               for name in ("id", "kind", "status", "created", "duration", "summary")]
    return pd.DataFrame(rows, columns=columns)


def differences_table(jobs: list, workspace: Path, language: str) -> pd.DataFrame:
    """Config keys whose values differ between the jobs (one column per job); one job: its whole config."""
    if len(jobs) == 1:
        differing = {key: {jobs[0].id: value} for key, value in flatten(jobs[0].config or {}).items()}
    else:
        differing = config_differences({job.id: job.config for job in jobs})
    key_column = t("runs.col.key", language)
    rows = [{key_column: key, **{name: "" if value is None else hide_workspace(str(value), workspace)
                                 for name, value in values.items()}}
            for key, values in differing.items()]
    if not rows:
        rows = [{key_column: t("runs.no_differences", language), **{job.id: "" for job in jobs}}]
    return pd.DataFrame(rows, columns=[key_column] + [job.id for job in jobs])


def fold_frame(job, registry: JobRegistry, language: str) -> pd.DataFrame:
    """Per-fold metrics of a K-fold run, then a "mean ± std" row."""
    table = fold_table(job.summary, registry.children(job.id))
    fold_column = t("runs.col.fold", language)
    rows = [{fold_column: str(row["fold"]), **{column: _number(row[column]) if row[column] is not None else ""
                                               for column in table.columns}}
            for row in table.rows]
    if table.mean:
        rows.append({fold_column: t("runs.mean_std", language),
                     **{column: (f"{table.mean[column]:.4g} ± {table.std[column]:.2g}"
                                 if column in table.mean else "") for column in table.columns}})
    return pd.DataFrame(rows, columns=[fold_column] + table.columns)


def sweep_frame(job) -> pd.DataFrame:
    """The sweep's trials (core.train.sweep.sweep_table) as the page's text cells."""
    frame = sweep_table(job.run_dir)
    return frame.astype(object).where(frame.notna(), "").astype(str)
