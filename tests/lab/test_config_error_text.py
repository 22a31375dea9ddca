"""The common config errors carry a code and values, and the Chinese page words them from those
(lab.i18n.config_error_text): out-of-range values, a missing data file or model, bad data; the
Train form's check and its Start say them in the page's language. The CLI's wording stays."""
from __future__ import annotations

import re

import gradio as gr
import pytest

from core.config.checks import validate
from core.config.presets import default_config
from core.config.schema import ConfigError, ConfigProblems
from core.config.text import apply_overrides
from lab import tab_train
from lab.i18n import config_error_text

KEYS = [spec.key for spec in tab_train.form_specs()]


def _refused(workspace, *overrides) -> ConfigError:
    with pytest.raises(ConfigError) as refused:
        validate(apply_overrides(default_config(), list(overrides)), workspace)
    return refused.value


def _english_words(text: str, *kept: str) -> set[str]:
    for value in kept:
        text = text.replace(value, "")
    return set(re.findall(r"[A-Za-z]{2,}", text))


@pytest.mark.parametrize("override, key, worded", [
    ("train.learning_rate=0", "train.learning_rate", "必须大于 0，当前为 0.0"),
    ("train.batch_size=0", "train.batch_size", "必须至少为 1，当前为 0"),
    ("lora.dropout=1.5", "lora.dropout", "必须在 [0, 1) 之间，当前为 1.5"),
    ("data.max_length=20", "data.max_length", "20 太小"),
    ("method=fancy", "method", "'fancy' 不是 "),
    ("data.train=", "data.train", "必须提供训练数据文件"),
])
def test_a_value_out_of_range_is_worded_in_chinese(session_workspace, override, key, worded):
    error = _refused(session_workspace, override)
    chinese = config_error_text(error, "zh")
    assert chinese.startswith(f"{key}：") and worded in chinese, chinese
    # Only the key and the values themselves (a value given, the choices) stay as they are.
    assert not _english_words(chinese, key, "max_length", *map(str, error.values.values())), chinese
    assert config_error_text(error, "en") == str(error)  # core's words, as the CLI prints them
    assert all(number in chinese for number in re.findall(r"\d+(?:\.\d+)?", error.message))


def test_every_problem_of_a_refused_run_is_worded_in_chinese(session_workspace):
    error = _refused(session_workspace, "train.learning_rate=-1", "data.train=nowhere.jsonl",
                     "model=Qwen/Qwen2-1.5B-Instruct")
    assert isinstance(error, ConfigProblems) and len(error.errors) == 3
    chinese = config_error_text(error, "zh")
    lines = chinese.splitlines()
    assert lines[0] == "无法开始这次运行：" and len(lines) == 4
    assert lines[1] == "  - train.learning_rate：必须大于 0，当前为 -1.0"
    assert lines[2].startswith("  - data.train：找不到文件：") and lines[2].endswith("nowhere.jsonl")
    assert lines[3].startswith("  - model：Qwen/Qwen2-1.5B-Instruct 既不是本地目录")
    assert "--set model=/path/to/Qwen2-1.5B-Instruct" in lines[3]  # the how-to stays exact
    assert config_error_text(error, "en") == str(error)


def test_bad_training_data_lists_its_problems_in_chinese(session_workspace):
    path = session_workspace / "uploads" / "bad-config-data.jsonl"
    path.parent.mkdir(exist_ok=True)
    path.write_text('{"input": "甲: 你好", "label": "maybe"}\n{oops\n', encoding="utf-8")
    error = _refused(session_workspace, f"data.train={path}", "data.bad_rows=error")
    chinese = config_error_text(error, "zh")
    assert chinese.splitlines() == [
        "data.train：数据中有 2 个问题：",
        f"  {path}:1: label: 未知的标签值 'maybe'（应为 true/false, 是/否, 1/0 之一）",
        f"  {path}:2: 不是有效的 JSON：Expecting property name enclosed in double quotes（第 2 列）"]
    assert str(error).startswith("data.train: 2 problem(s) in the data:")


def test_the_train_form_says_its_config_problem_in_the_page_language(session_workspace):
    values = tab_train.initial_values()
    values[KEYS.index("train.learning_rate")] = 0
    chinese = tab_train.preview(session_workspace, values, "", "zh").note
    english = tab_train.preview(session_workspace, values, "", "en").note
    assert "配置有误：train.learning_rate：必须大于 0" in chinese and "must be above 0" in english
    for language, worded in (("zh", "必须大于 0"), ("en", "must be above 0")):
        with pytest.raises(gr.Error) as refused:
            tab_train.start_job(session_workspace, values, "", language)
        assert worded in refused.value.message


def _model_folder(workspace):
    """A model folder the checks accept (config.json only: nothing here loads it)."""
    folder = workspace / "models" / "config-only"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "qwen2"}', encoding="utf-8")
    return folder


def test_a_refused_evaluation_is_worded_in_chinese_line_by_line(session_workspace):
    from core.config.schema import EvalConfig
    from core.eval.evaluation import validate_eval

    data = session_workspace / "uploads" / "no-labels.jsonl"
    data.parent.mkdir(exist_ok=True)
    data.write_text('{"input": "甲: 你好"}\n{"input": "乙: 再见", "label": "maybe"}\n', encoding="utf-8")
    config = EvalConfig(model=str(_model_folder(session_workspace)), data=str(data), batch_size=0, limit=0,
                        include_base=False)
    with pytest.raises(ConfigProblems) as refused:
        validate_eval(config, session_workspace)
    error = refused.value
    assert config_error_text(error, "en") == str(error)  # as the CLI prints it
    assert config_error_text(error, "zh").splitlines() == [
        "无法评估：",
        "  - batch_size：必须至少为 1，当前为 0",
        "  - limit：必须至少为 1（或留空表示全部行），当前为 0",
        "  - 没有可评估的模型：include_base 已关闭，也没有给出检查点",
        f"  - {data}：2 行没有可用的标签；评估要把答案与每一行的标准标签比较",
        f"  - {data}:1: label: 缺失（必填）",
        f"  - {data}:2: label: 未知的标签值 'maybe'（应为 true/false, 是/否, 1/0 之一）"]


def test_the_evaluate_form_says_its_config_problem_in_the_page_language(session_workspace, demo_splits):
    from core.config.schema import EvalConfig
    from lab import tab_evaluate

    folder = _model_folder(session_workspace).relative_to(session_workspace).as_posix()
    # (The form shows a limit or batch size of 0 as empty, "every row" and "automatic".)
    values = tab_evaluate.form_values(EvalConfig(model=folder, data="demo", max_length=20))
    for language, worded in (("zh", "无法评估：\n  - max_length：必须至少为 64"
                                    "（或留空使用各检查点自己的值），当前为 20"),
                             ("en", "max_length: must be at least 64")):
        with pytest.raises(gr.Error) as refused:
            tab_evaluate.start_evaluation_job(session_workspace, language, *values)
        assert worded in refused.value.message
