"""Plotly figures for the Data and Tokenize tabs. Titles and names come in already translated.

Each label gets one trace, in the order of the `names` given (the fraud schema: fraud first; a
dataset with label names: its classes in class order), so a test can read a label's numbers from
`fig.data`. Class names come from files, so they are escaped like split names.
Names that come from files (split names) are html.escape'd: plotly renders a few HTML tags in
text, and shows entities as the characters they stand for.
"""
from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

LABEL_COLORS = {True: "#d62728", False: "#1f77b4"}
LABEL_ORDER = (True, False)
# Classes of a dataset with label names, in class order (plotly's default qualitative colours).
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf")


def label_color(label, position: int) -> str:
    """True/False keep the fraud colours; class indices take the palette in class order."""
    if isinstance(label, bool):
        return LABEL_COLORS[label]
    return CLASS_COLORS[position % len(CLASS_COLORS)]


def _traces(names: dict) -> list[tuple[object, str, str]]:
    """(label value, escaped name, colour) for each label, in the order of `names`."""
    return [(label, html.escape(str(name)), label_color(label, position))
            for position, (label, name) in enumerate(names.items())]


def _layout(figure: go.Figure, title: str, x_title: str = "", y_title: str = "") -> go.Figure:
    figure.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title, height=330,
                         margin=dict(l=50, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.2))
    return figure


def label_counts_figure(counts: pd.DataFrame, names: dict, title: str, y_title: str) -> go.Figure:
    """Grouped bars: one bar per split for each label (`counts`: index split, one column per label)."""
    figure = go.Figure()
    for label, name, color in _traces(names):
        values = [int(value) for value in counts[label]]
        figure.add_bar(name=name, x=[html.escape(str(split)) for split in counts.index], y=values,
                       marker_color=color, text=values, textposition="auto")
    figure.update_layout(barmode="group")
    return _layout(figure, title, "", y_title)


def presence_figure(presence: pd.DataFrame, names: dict[bool, str], present_names: dict[bool, str],
                    title: str, y_title: str) -> go.Figure:
    """Per label, rows with and without a fraud_speaker (`presence`: index label, columns False/True)."""
    figure = go.Figure()
    for has_speaker, pattern in ((True, ""), (False, "/")):
        values = [int(presence.loc[label, has_speaker]) for label in LABEL_ORDER]
        figure.add_bar(name=present_names[has_speaker], x=[names[label] for label in LABEL_ORDER], y=values,
                       marker_color=[LABEL_COLORS[label] for label in LABEL_ORDER],
                       marker_pattern_shape=pattern, text=values, textposition="auto")
    figure.update_layout(barmode="group")
    return _layout(figure, title, "", y_title)


def histogram_by_label(frame: pd.DataFrame, column: str, names: dict, title: str,
                       x_title: str, y_title: str) -> go.Figure:
    """Overlaid histograms of one numeric column, one trace per label."""
    figure = go.Figure()
    for label, name, color in _traces(names):
        values = [int(value) for value in frame.loc[frame["label"] == label, column]]
        figure.add_histogram(name=name, x=values, marker_color=color, opacity=0.6, nbinsx=40)
    figure.update_layout(barmode="overlay")
    return _layout(figure, title, x_title, y_title)


def box_by_label(frame: pd.DataFrame, columns: dict[str, str], names: dict,
                 title: str) -> go.Figure:
    """Box plots of several numeric columns (`columns`: column -> axis name), one trace per label."""
    figure = go.Figure()
    for label, name, color in _traces(names):
        subset = frame[frame["label"] == label]
        x_values, y_values = [], []
        for column, axis_name in columns.items():
            x_values.extend([axis_name] * len(subset))
            y_values.extend(int(value) for value in subset[column])
        figure.add_box(name=name, x=x_values, y=y_values, marker_color=color)
    figure.update_layout(boxmode="group")
    return _layout(figure, title)


def token_length_figure(lengths: list[int], labels: list, max_length: int, names: dict,
                        title: str, x_title: str, y_title: str, line_text: str) -> go.Figure:
    """Token-length histograms by label with max_length drawn as a vertical line."""
    figure = go.Figure()
    for label, name, color in _traces(names):
        values = [length for length, row_label in zip(lengths, labels) if row_label == label]
        figure.add_histogram(name=name, x=values, marker_color=color, opacity=0.6, nbinsx=40)
    figure.update_layout(barmode="overlay")
    figure.add_vline(x=max_length, line_dash="dash", line_color="#333", annotation_text=line_text,
                     annotation_position="top right")
    return _layout(figure, title, x_title, y_title)


def empty_figure(message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return _layout(figure, "")
