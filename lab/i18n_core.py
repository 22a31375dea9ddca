"""What core returns as kinds, codes and values, worded in Chinese for the page: audit findings
(`finding_text`), load problems (`problem_text`, `problem_line`) and config errors (`config_error_text`).

Core words each of them in English once (the CLI prints that text, and the English page shows it);
the Chinese page words them here from their kind or code and their values, so a second English
wording never drifts from core's. lab.i18n re-exports the functions.
"""
from __future__ import annotations

import re

FINDINGS_ZH = {
    "balance.one_label": "{split} 只有{label}行（{rows} 行）；{effect}——请补充另一标签的行",
    "balance.one_label.train": "分类器无法从中学习",
    "balance.one_label.other": "它上面的分数无法说明另一标签的情况",
    "balance.skewed": "{split} 标签不平衡：正例占 {ratio}；请报告 F1 或平衡准确率而非准确率，或重新平衡",
    "balance.shift": "正例比例在 {first}（{first_ratio}）和 {second}（{second_ratio}）之间不同；"
                     "测试分数无法反映训练时的条件",
    "length": "仅凭{unit}长度就能预测标签，准确率 {accuracy}（交叉验证{test}；多数类 {majority}）{side}",
    "length.test": "，测试集 {accuracy}",
    "length.side": "；长于 {threshold} 个{unit}的行多为{label}",
    "length.tail": "——请让各标签的长度分布一致，否则模型会学到长度",
    "length.chars": "字符",
    "length.tokens": "token",
    "term": "{term}出现在 {coverage} 的{label}行中，{other}",
    "term.word": "词",
    "term.text": "片段",
    "term.no_other": "没有出现在任何{label}行中",
    "term.other": "也出现在 {rows} 个{label}行中",
    "label_word.rule": "有它时预测{label}、否则预测{absent}，准确率 {accuracy}{test}",
    "label_word.rule.test": "（测试集 {accuracy}）",
    "label_word.best_rule": "{term}；{rule}——模型只需找到它就能得分；请删除它或使它在两个标签中均衡",
    "label_word.best_rule.weak": "最佳单词规则：{term}；{rule}（多数类 {majority}）",
    "label_word.strong_terms": "几乎只属于一个标签的词：{terms}",
    "speaker.rule": "发言人名泄露了标签：{named}；按发言人名的规则准确率 {accuracy}（交叉验证{test}）"
                    "——请在两个标签中统一重命名发言人（例如 A/B）",
    "speaker.rule.named": "{pattern} 类名字出现在 {rows} 个{label}行中，{other}",
    "speaker.rule.no_other": "不出现在{label}行中",
    "speaker.rule.other": "{label}行中 {rows} 个",
    "speaker.rule.test": "，测试集 {accuracy}",
    "speaker.label_words": "发言人名中含有标签词：{named}——答案写在名字里；请重命名这些发言人",
    "speaker.label_words.named": "{pattern}（{examples}）：正例 {positives} 行 / 负例 {negatives} 行",
    "duplicates.cross_exact": "{rows} 个测试行（{share}）也出现在训练集中{conflict}；请从测试集中删除它们，"
                              "否则测试分数衡量的是记忆而不是能力",
    "duplicates.cross_exact.conflict": "（其中 {rows} 个在训练集中标签相反）",
    "duplicates.cross_near": "另有 {rows} 个测试行（{share}）是训练行的近似副本（Jaccard >= {threshold}）；"
                             "考虑从测试集中删除它们",
    "duplicates.within_exact": "{split} 重复了 {rows} 行（{share}），共 {groups} 组；"
                               "请去重，以免重复的对话权重更大",
    "duplicates.within_near": "{split} 有 {pairs} 对近似重复（{rows} 行）；{effect}",
    "duplicates.within_near.train": "交叉验证的各折会共享它们",
    "duplicates.within_near.other": "它们在该划分的分数中被重复计算",
    "duplicates.within_conflicts": "{split} 有 {conflicts} 段重复对话带有两种标签"
                                   "（完全相同 {exact}，近似 {near}）；请修正这些标签",
    "duplicates.cross_conflicts": "{rows} 个测试行在训练集中有标签相反的副本；每一对中有一个标错了",
    "duplicates.cross_exact.conflict.classes": "（其中 {rows} 个在训练集中标签不同）",
    "duplicates.within_conflicts.classes": "{split} 有 {conflicts} 段重复文本带有不同标签"
                                           "（完全相同 {exact}，近似 {near}）；请修正这些标签",
    "duplicates.cross_conflicts.classes": "{rows} 个测试行在训练集中有标签不同的副本；每一对中有一个标错了",
    # A dataset with label names (N classes).
    "balance.empty_classes": "{split} 没有类别 {classes} 的行；{effect}——请补充每个类别的行",
    "balance.empty_classes.train": "分类器无法学会这些类别",
    "balance.empty_classes.other": "它上面的分数无法说明这些类别的情况",
    "balance.class_skewed": "{split} 类别不平衡：类别 {name} 只占 {share} 的行（{rows} 行）；"
                            "请报告 macro-F1 而非准确率，或重新平衡",
    "balance.class_shift": "类别 {name} 的比例在 {first}（{first_share}）和 {second}（{second_share}）"
                           "之间不同；测试分数无法反映训练时的条件",
    "class_term": "片段{term}的出现有 {precision} 属于类别 {name}",
    "class_rule": "{term}：它出现在 {coverage} 的 {name} 行中，{others}；只凭它把 {name} 与其他类别区分开，"
                  "准确率 {accuracy}{test}（多数类 {majority}）",
    "class_rule.no_other": "没有出现在其他类别的行中",
    "class_rule.other": "也出现在其他类别的 {rows} 行中",
    "class_rule.strong": "{rule}——模型只需找到它就能得分；请删除它或使它在各类别中均衡",
    "class_rule.weak": "最佳单词规则：{rule}",
    "class_terms": "几乎只属于一个类别的词：{terms}",
    "class_terms.term": "{term}（出现在 {coverage} 的 {name} 行中）",
    "positive": "正例",
    "negative": "负例",
    "positive.long": "正例（诈骗）",
    "negative.long": "负例（正常）",
}


def _zh(key: str, **values) -> str:
    return FINDINGS_ZH[key].format(**values)


def _side(label) -> str:
    if isinstance(label, str):  # a class of a dataset with label names, by its name
        return label
    return _zh("positive" if label else "negative")


def _classes_zh(finding) -> str | None:
    """The wordings of a dataset with label names (core.audit.findings' class_* functions)."""
    from core.audit.findings import HIGH, MEDIUM, percent, shows

    details, case = finding.details, finding.details.get("case")
    if case == "empty_classes":
        effect = _zh("balance.empty_classes.train" if details["split"] == "train"
                     else "balance.empty_classes.other")
        return _zh("balance.empty_classes", split=details["split"], classes="、".join(details["empty"]),
                   effect=effect)
    if case == "class_skewed":
        name = details["class"]
        return _zh("balance.class_skewed", split=details["split"], name=name,
                   share=percent(details["shares"][name]), rows=details["counts"][name])
    if case == "class_shift":
        (first, second), (first_share, second_share) = details["splits"], details["shares"]
        return _zh("balance.class_shift", name=details["class"], first=first, second=second,
                   first_share=percent(first_share), second_share=percent(second_share))
    if case == "class_rule":
        others = (_zh("class_rule.other", rows=details["other_rows_with_term"])
                  if details["other_rows_with_term"] else _zh("class_rule.no_other"))
        test = (_zh("label_word.rule.test", accuracy=percent(details["test_accuracy"]))
                if details.get("test_accuracy") is not None else "")
        term = _zh("class_term", term=shows(details["term"]), precision=percent(details["precision"]),
                   name=details["class"])
        rule = _zh("class_rule", term=term, coverage=percent(details["coverage"]), name=details["class"],
                   others=others, accuracy=percent(details["rule_accuracy"]), test=test,
                   majority=percent(details["majority_rate"]))
        strong = finding.severity in (HIGH, MEDIUM)
        return _zh("class_rule.strong" if strong else "class_rule.weak", rule=rule)
    if case == "class_terms":
        terms = "；".join(_zh("class_terms.term", term=_zh("class_term", term=shows(item["term"]),
                                                          precision=percent(item["precision"]),
                                                          name=item["class"]),
                              coverage=percent(item["coverage"]), name=item["class"])
                          for item in details["terms"])
        return _zh("class_terms", terms=terms)
    return None


def _term_zh(score: dict, term_kind: str = "") -> str:
    from core.audit.findings import percent, shows

    other = (_zh("term.no_other", label=_side(not score["label"])) if not score["other_rows"]
             else _zh("term.other", rows=score["other_rows"], label=_side(not score["label"])))
    kind = _zh("term.word" if term_kind == "word" else "term.text") if term_kind else ""
    return _zh("term", term=kind + shows(score["term"]), coverage=percent(score["coverage"]),
               label=_side(score["label"]), other=other)


def _finding_zh(finding) -> str | None:
    """The Chinese wording of a finding, or None where its details do not say enough (an older audit)."""
    from core.audit.findings import HIGH, MEDIUM, percent, shows

    details, case = finding.details, finding.details.get("case")
    strong = finding.severity in (HIGH, MEDIUM)
    classes = ".classes" if details.get("classes") else ""
    if case and case.startswith(("class_", "empty_classes")):
        return _classes_zh(finding)
    if finding.kind == "balance" and case == "one_label":
        effect = _zh("balance.one_label.train" if details["split"] == "train" else "balance.one_label.other")
        return _zh("balance.one_label", split=details["split"], rows=details["rows"], effect=effect,
                   label=_zh("positive.long" if details["label"] else "negative.long"))
    if finding.kind == "balance" and case == "skewed":
        return _zh("balance.skewed", split=details["split"], ratio=percent(details["positive_ratio"]))
    if finding.kind == "balance" and case == "shift":
        (first, second), (first_ratio, second_ratio) = details["splits"], details["positive_ratios"]
        return _zh("balance.shift", first=first, second=second, first_ratio=percent(first_ratio),
                   second_ratio=percent(second_ratio))
    if finding.kind == "length" and "unit" in details:
        unit = FINDINGS_ZH.get(f"length.{details['unit']}", details["unit"])
        test = (_zh("length.test", accuracy=percent(details["test_accuracy"]))
                if details.get("test_accuracy") is not None else "")
        side = (_zh("length.side", threshold=f"{details['threshold']:.0f}", unit=unit,
                    label=_side(details["label_above"])) if details.get("threshold") is not None else "")
        return _zh("length", unit=unit, accuracy=percent(details["cv_accuracy"]), test=test,
                   majority=percent(details["majority"]), side=side) + (_zh("length.tail") if strong else "")
    if finding.kind == "label_word" and case == "best_rule":
        test = (_zh("label_word.rule.test", accuracy=percent(details["test_accuracy"]))
                if details.get("test_accuracy") is not None else "")
        rule = _zh("label_word.rule", label=_side(details["label"]),
                   absent=_side(details["label_when_absent"]), accuracy=percent(details["rule_accuracy"]),
                   test=test)
        term = _term_zh(details, details.get("term_kind") or "text")
        if strong:
            return _zh("label_word.best_rule", term=term, rule=rule)
        return _zh("label_word.best_rule.weak", term=term, rule=rule, majority=percent(details["majority"]))
    if finding.kind == "label_word" and case == "strong_terms":
        return _zh("label_word.strong_terms", terms="；".join(_term_zh(score) for score in details["scores"]))
    if finding.kind == "speaker" and case == "rule":
        named = []
        for pattern in details["named"]:
            label = pattern["positives"] > pattern["negatives"]
            other = min(pattern["positives"], pattern["negatives"])
            named.append(_zh("speaker.rule.named", pattern=shows(pattern["pattern"]), label=_side(label),
                             rows=max(pattern["positives"], pattern["negatives"]),
                             other=_zh("speaker.rule.other", rows=other, label=_side(not label)) if other
                             else _zh("speaker.rule.no_other", label=_side(not label))))
        test = (_zh("speaker.rule.test", accuracy=percent(details["test_accuracy"]))
                if details.get("test_accuracy") is not None else "")
        return _zh("speaker.rule", named="；".join(named), accuracy=percent(details["cv_accuracy"]),
                   test=test)
    if finding.kind == "speaker" and case == "label_words":
        named = "；".join(_zh("speaker.label_words.named", pattern=shows(pattern["pattern"]),
                             examples="、".join(pattern["examples"]), positives=pattern["positives"],
                             negatives=pattern["negatives"]) for pattern in details["named"])
        return _zh("speaker.label_words", named=named)
    if finding.kind == "duplicates" and case == "cross_exact":
        conflict = (_zh("duplicates.cross_exact.conflict" + classes, rows=details["conflicting_rows"])
                    if details["conflicting_rows"] else "")
        return _zh("duplicates.cross_exact", rows=details["exact_test_rows"],
                   share=percent(details["fraction"]), conflict=conflict)
    if finding.kind == "duplicates" and case == "cross_near":
        return _zh("duplicates.cross_near", rows=details["near_test_rows"],
                   share=percent(details["fraction"]), threshold=details["threshold"])
    if finding.kind == "duplicates" and case == "within_exact":
        return _zh("duplicates.within_exact", split=details["split"], rows=details["extra_rows"],
                   share=percent(details["share"]), groups=details["groups"])
    if finding.kind == "duplicates" and case == "within_near":
        effect = _zh("duplicates.within_near.train" if details["split"] == "train"
                     else "duplicates.within_near.other")
        return _zh("duplicates.within_near", split=details["split"], pairs=details["near_pairs"],
                   rows=details["near_rows"], effect=effect)
    if finding.kind == "duplicates" and case == "within_conflicts":
        return _zh("duplicates.within_conflicts" + classes, split=details["split"],
                   conflicts=details["conflicts"], exact=details["exact"], near=details["near"])
    if finding.kind == "duplicates" and case == "cross_conflicts":
        return _zh("duplicates.cross_conflicts" + classes, rows=details["exact"] + details["near"])
    return None


def _baseline_text(finding, language: str) -> str:
    # Imported here: lab.i18n imports this module at its top, for its re-exports.
    from lab.i18n import t

    details = finding.details

    def number(value) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    parts = []
    if details.get("cv_accuracy") is not None:
        parts.append(t("audit.baseline.cv", language, folds=details["cv_folds"],
                       accuracy=number(details["cv_accuracy"]), std=number(details["cv_accuracy_std"]),
                       f1=number(details["cv_f1"])))
    if details.get("test"):
        parts.append(t("audit.baseline.test", language, accuracy=number(details["test"].get("accuracy")),
                       f1=number(details["test"].get("f1"))))
    tail = t("audit.baseline.solved" if finding.severity == "high" else "audit.baseline.beat", language)
    if details.get("average") == "macro":  # a dataset with label names: macro-F1, and texts of any kind
        parts = [part.replace("F1", "macro-F1") for part in parts]
        tail = (tail.replace("对话", "文本") if language == "zh"
                else tail.replace("the dialogue", "the text").replace("dialogues", "texts"))
    return t("audit.baseline", language, model=details.get("model", ""),
             parts=("；" if language == "zh" else "; ").join(parts), tail=tail)


def finding_text(finding, language: str) -> str:
    """An audit finding (core.audit.findings.Finding) in the page's language, worded from its kind and
    details: in Chinese by the tables above, in English as core worded it (what the CLI prints); a
    finding this page does not know is shown as core worded it."""
    if finding.kind == "baseline" and "model" in finding.details:
        return _baseline_text(finding, language)
    if language != "zh":
        return finding.message
    return _finding_zh(finding) or finding.message


PROBLEMS_ZH = {
    "not_an_object": "应为带字段的对象，实际是 {found}",
    "repeated_key": "在这一行中出现了不止一次，无法确定用哪个值",
    "missing": "缺失（必填）",
    "missing.text": "缺失（必填：文本列）",
    "missing.label": "缺失（必填：标签列）",
    "not_text": "应为文本，实际是 {found}",
    "empty_text": "文本为空",
    "bad_label": "未知的标签值 {value}（应为 {expected} 之一）",
    "not_a_label": "应为标签值，实际是 {found}",
    "surrogate": "不是有效的 Unicode：第 {position} 个字符是不成对的代理字符 {character}（\\u 转义写错了？）",
    "control_removed": "已删除 {count} 个控制字符或终端转义序列（NUL、ESC 等）",
    "not_utf8": "不是 UTF-8 文本（偏移 {offset} 处的字节 {byte}）；请将文件另存为 UTF-8",
    "list_not_closed": "JSON 列表没有以 ] 结束",
    "list_separator": "不是有效的 JSON：列表中的一行之后应为 ',' 或 ']'",
    "list_trailing_comma": "不是有效的 JSON：']' 之前多了一个 ','",
    "bad_json": "不是有效的 JSON：{detail}",
    "bad_json.column": "不是有效的 JSON：{detail}（第 {column} 列）",
    "too_deep": "不是有效的数据行：嵌套太深（每行应是扁平的对象）",
    "text_after_list": "JSON 列表结束后还有内容（第二个列表？）；"
                       "一个文件只能是一个列表，或每行一个 JSON 对象",
    "csv_unclosed_quote": "从这一行开始的带引号单元格没有闭合（缺少一个 \"）",
    "bad_csv": "不是有效的 CSV：{detail}",
    "csv_repeated_column": "表头中这一列出现了 {count} 次，无法确定用哪一列",
    "csv_missing_column": "表头中没有 {column} 列（表头的列：{names}）",
    "csv_extra_cells": "这一行有 {cells} 个单元格，但表头只有 {columns} 列（单元格内有未加引号的逗号？）",
    "file_not_found": "找不到文件",
    "empty_file": "文件为空",
    "no_rows": "没有找到数据行",
    "no_named_rows": "没有找到带字段名的数据行",
    "no_label_column": "没有一列的取值在 2 到 {classes} 种之间，可以作为标签（各列：{columns}）",
    "no_text_column": "除标签列 {label} 外没有文本列（各列：{columns}）",
}


def problem_text(problem, language: str) -> str:
    """A load problem's message (core.data.records.Problem, or its `to_dict()`) in the page's language:
    in Chinese from its code and values, in English as core worded it (what the CLI prints); a
    problem without a known code keeps core's words."""
    if isinstance(problem, dict):
        message, code, values = problem.get("message", ""), problem.get("code"), problem.get("values") or {}
    else:
        message, code, values = problem.message, problem.code, problem.values
    if language != "zh" or code not in PROBLEMS_ZH:
        return message
    key = code
    if code == "missing" and values.get("role"):
        key = f"missing.{values['role']}"
    elif code == "bad_json" and "column" in values:
        key = "bad_json.column"
    elif code == "csv_missing_column" and not values.get("names"):
        values = {**values, "names": "无"}
    try:
        return PROBLEMS_ZH[key].format(**values)
    except (KeyError, IndexError):  # values from an older summary.json that lack a field
        return message


def problem_line(problem, language: str) -> str:
    """`str(problem)` (of a Problem or its `to_dict()`) in the page's language: file:line: field: message."""
    if isinstance(problem, dict):
        file, line, field_name = problem.get("file", ""), problem.get("line"), problem.get("field")
    else:
        file, line, field_name = problem.file, problem.line, problem.field
    where = f"{file}:{line}" if line else file
    return f"{where}: {field_name + ': ' if field_name else ''}{problem_text(problem, language)}"


CONFIG_ERRORS_ZH = {
    "above": "必须大于 {minimum}，当前为 {value}",
    "at_least": "必须至少为 {minimum}，当前为 {value}",
    "in_range": "必须在 {range} 之间，当前为 {value}",
    "too_large": "{value} 太大，无法训练",
    "max_steps": "必须为 -1（按轮数训练）或至少为 1，当前为 {value}",
    "epochs": "max_steps 为 -1 时必须大于 0，当前为 {value}",
    "max_length_small": "{value} 太小：仅对话模板、指令和答案就需要更多；请至少用 {minimum}",
    "not_a_choice": "{value} 不是 {choices} 之一",
    "required_file": "必须提供训练数据文件",
    "file_not_found": "找不到文件：{path}",
    "no_config": "{path} 中没有 config.json",
    "model_not_local": "{model} 既不是本地目录，也不在本地 Hub 缓存中，而实验室不下载模型。"
                       "请让 model 指向一个存放该模型的本地目录"
                       "（含 config.json、分词器文件和 *.safetensors）："
                       "命令行用 --set model=/path/to/{name}，配方中写 `model: /path/to/...`，"
                       "或填写训练表单的模型一栏；在有网络的地方用 "
                       "`hf download {model} --local-dir DIR` 下载后把 DIR 复制过来",
    "bad_data": "数据中有 {count} 个问题：\n{problems}{more}{hint}",
    "bad_data.more": "\n  ……还有 {count} 个",
    "bad_data.fraud_hint": "\n这个文件看起来是诈骗数据的格式：data.label_names 留空",
    "bad_data.hint": "\n这个文件看起来是：",
    "at_least_or_empty": "必须至少为 {minimum}（或留空表示全部行），当前为 {value}",
    "at_least_or_own": "必须至少为 {minimum}（或留空使用各检查点自己的值），当前为 {value}",
    "nothing_to_evaluate": "没有可评估的模型：include_base 已关闭，也没有给出检查点",
    "eval_no_rows": "{path}：文件中没有数据行",
    "eval_no_label": "{path}：{rows} 行没有可用的标签；评估要把答案与每一行的标准标签比较",
    "eval_unreadable": "{path}：无法读取数据",
    "more": "……还有 {count} 个",
    "problems.start this run": "无法开始这次运行：\n{problems}",
    "problems.evaluate": "无法评估：\n{problems}",
}
SHOWN_CONFIG_PROBLEMS = 50  # as core.data.records.DataError shows them


def config_error_text(error, language: str) -> str:
    """A config error (core.config.schema.ConfigError, or ConfigProblems holding several) in the page's
    language: in Chinese from its code and values, in English as core worded it (what the CLI
    prints); an error without a known code keeps core's words."""
    if language != "zh":
        return str(error)
    errors = getattr(error, "errors", None)
    heading = CONFIG_ERRORS_ZH.get(f"problems.{getattr(error, 'what', '')}")
    if errors and heading:
        # Lines without an error behind them (a message core gives as text alone) stay as they are.
        worded = {str(item): config_error_text(item, language) for item in errors}
        lines = []
        for line in error.problems:
            more = re.fullmatch(r"\.\.\. and (\d+) more", line)
            lines.append(CONFIG_ERRORS_ZH["more"].format(count=more.group(1)) if more
                         else worded.get(line, line))
        return heading.format(problems="\n".join(f"  - {line}" for line in lines))
    code, values = getattr(error, "code", ""), dict(getattr(error, "values", {}) or {})
    if code == "data_problem":
        return problem_line(values["problem"], language)
    if code not in CONFIG_ERRORS_ZH:
        return str(error)
    if code == "bad_data":
        problems = [problem_line(problem, language) for problem in values["problems"]]
        more = len(problems) - SHOWN_CONFIG_PROBLEMS
        hint = values.get("hint") or ""
        hint = (CONFIG_ERRORS_ZH["bad_data.fraud_hint"] if "fraud schema" in hint
                else hint.replace("\nthis file looks like: ", CONFIG_ERRORS_ZH["bad_data.hint"]))
        values = {"count": len(problems), "hint": hint,
                  "problems": "\n".join(f"  {line}" for line in problems[:SHOWN_CONFIG_PROBLEMS]),
                  "more": CONFIG_ERRORS_ZH["bad_data.more"].format(count=more) if more > 0 else ""}
    try:
        text = CONFIG_ERRORS_ZH[code].format(**values)
    except (KeyError, IndexError):
        return str(error)
    return f"{error.key}：{text}" if error.key else text
