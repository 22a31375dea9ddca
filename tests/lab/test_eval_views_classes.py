"""The Evaluate tab's views of an evaluation on a dataset with label names: an N x N confusion
heatmap with the names on its axes, class names in the rows, no threshold curves; all escaped."""
from __future__ import annotations

from pathlib import Path

from core.config.schema import EvalConfig
from core.data.mapping import DataMapping
from core.data.records import Record
from core.eval.evaluation import EvalPlan
from core.eval.predict import Prediction
from core.eval.report import build_metrics, prediction_rows, write_report
from lab import eval_views

NAMES = ("正面", "中性", "<负面>")
GOLD = [0, 1, 2, 2, 1, 0, 2]
TUNED = [0, 1, 2, 1, None, 0, 2]


def _prediction(label):
    if label is None:
        return Prediction(is_fraud=None, valid=False, raw_text="嗯", error="no label")
    probabilities = [0.1, 0.1, 0.1]
    probabilities[label] = 0.8
    return Prediction(is_fraud=None, valid=True, raw_text=f'{{"label": "{NAMES[label]}"}}', label=label,
                      probabilities=probabilities)


def _result(tmp_path: Path):
    records = [Record(input=f"评论 {index} <b>", label=label, line=index + 1)
               for index, label in enumerate(GOLD)]
    plan = EvalPlan(config=EvalConfig(data="x.jsonl"), data_file=Path("x.jsonl"), records=records,
                    row_indices=list(range(len(records))), total_rows=len(records), models=[],
                    train_file=None, mapping=DataMapping("review", "label", NAMES))
    results = {"base": [_prediction(0) for _ in GOLD], "tuned": [_prediction(label) for label in TUNED]}
    infos = [{"name": name, "rows_per_second": 1.0, "head": "seq_cls"} for name in results]
    baseline = ([0, 1, 2, 2, 1, 0, 0], [[0.5, 0.3, 0.2]] * len(GOLD), "train.jsonl")
    metrics = build_metrics(plan, infos, results, baseline, False)
    write_report(tmp_path, prediction_rows(plan, results, baseline), metrics)
    return eval_views.read_result(tmp_path)


def test_confusion_heatmaps_are_n_by_n_with_the_label_names(tmp_path):
    result = _result(tmp_path)
    figure = eval_views.confusion_figure(result, "en")
    heatmaps = {trace.name: trace for trace in figure.data}
    assert set(heatmaps) == {"base", "tuned", eval_views.BASELINE}
    tuned = heatmaps["tuned"]
    assert list(tuned.x) == list(NAMES) and list(tuned.y) == list(NAMES)
    assert [list(row) for row in tuned.z] == [[2, 0, 0], [0, 1, 0], [0, 1, 2]]
    assert sum(map(sum, tuned.z)) == len(GOLD) - TUNED.count(None)
    assert [list(row) for row in heatmaps["base"].z] == [[2, 0, 0], [2, 0, 0], [3, 0, 0]]


def test_tables_and_row_details_show_class_names_escaped(tmp_path):
    result = _result(tmp_path)
    metrics = eval_views.metrics_table(result, "en")
    assert len(metrics) == 3
    rows = eval_views.rows_table(result, eval_views.ALL, "en")
    assert list(rows["tuned"])[:5] == ["正面", "中性", "<负面>", "中性", "invalid"]
    # The base always answers 正面: every row but the two 正面 ones has a wrong answer.
    assert len(eval_views.rows_table(result, eval_views.WRONG, "en")) == len(GOLD) - GOLD.count(0)
    detail = eval_views.row_detail_html(result, 2, "en")
    assert "&lt;负面&gt;" in detail and "<负面>" not in detail and "&lt;b&gt;" in detail
    roc, pr = eval_views.curve_figures(result, 0.5, "en")
    assert len(eval_views.threshold_table(result, 0.5, "en")) == 0
    assert len(eval_views.pairs_table(result, "en")) == 3  # base -> tuned, baseline -> each


def test_summary_counts_rows_per_class_and_the_threshold_section_is_hidden(tmp_path):
    result = _result(tmp_path)
    summary = eval_views.summary_html(result, "x.jsonl", "en")
    assert "正面 2 · 中性 2 · &lt;负面&gt; 3" in summary and "fraud" not in summary
    from lab.tab_evaluate import ResultsView

    view = ResultsView(summary, None, None, None, None, None, None, "", None, "", "run",
                       curves={"visible": False})
    assert view.outputs()[-1] == {"visible": False}
    assert ResultsView(summary, None, None, None, None, None, None, "", None, "", "run").outputs()[-1][
        "visible"] is True
