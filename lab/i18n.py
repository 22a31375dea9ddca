"""Every label of the page, once per language. `t(key, language, **values)` looks one up.

Keys are grouped by tab ("data.", "tok.", ...). Both languages must hold the same keys; a test
checks it. Values may hold str.format fields ("{path}").
"""
from __future__ import annotations

import re

LANGUAGES = {"zh": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh"

ZH = {
    "app.title": "诈骗对话分类实验室",
    "app.heading": "## 诈骗对话分类实验室",
    "app.language": "语言 / Language",
    "tab.data": "数据",
    "tab.tokenize": "分词",
    "tab.train": "训练",
    "tab.evaluate": "评估",
    "tab.predict": "预测",
    "tab.runs": "运行记录",
    "label.true": "诈骗",
    "label.false": "正常",
    "filter.all": "全部",
    "error.outside": "路径 {path} 不在工作区或 assets 目录内，实验室不读取其他位置的文件",
    "error.not_a_file": "找不到文件：{path}",
    "error.not_a_folder": "找不到模型目录：{path}",
    "error.hub_not_cached": "{model} 既不是本地模型目录，也不在本地 Hub 缓存中，而实验室不下载模型："
                            "请把模型放进工作区（例如 models/ 下的一个目录）并填写该目录",
    "error.no_dataset": "请先选择一个数据集",
    "error.upload_type": "无法使用上传的文件 {name}：只接受 {types}",
    "error.no_row": "{split} 中没有第 {index} 行（共 {rows} 行）",
    "error.empty_dialogue": "请粘贴一段对话",
    "error.model_building": "内置小模型正在构建（在 CPU 上需要几分钟），请稍后再试",
    "data.dataset": "数据集（demo、工作区内的文件或路径）",
    "data.compare": "对比文件（可选，作为测试集）",
    "data.upload": "上传数据文件（.jsonl / .json / .csv）",
    "data.load": "加载",
    "data.summary_title": "**{name}**：共 {rows} 行，{problems} 个问题",
    "data.summary_split": "- `{split}`（`{file}`）：{rows} 行，诈骗 {positives}，正常 {negatives}",
    "data.summary_split_classes": "- `{split}`（`{file}`）：{rows} 行，{classes}",
    "data.mapping": "列与标签",
    "data.text_column": "文本列",
    "data.label_column": "标签列",
    "data.label_names": "标签名（按类别顺序，逗号分隔）",
    "data.label_names_info": "留空 = 诈骗格式（input + label true/false，"
                             "可含 fraud_speaker、reason）",
    "data.apply_mapping": "应用",
    "data.mapping_fraud": ("按诈骗格式读取：文本列 `input`，标签列 `label`（true/false），"
                           "可选 `fraud_speaker`、`reason`。"),
    "data.mapping_classes": ("文本列 `{text}`，标签列 `{label}`，{classes} 类：{names}。用同样的列训练：\n\n"
                             "`{command}`"),
    "error.bad_mapping": "列与标签的设置不可用：{error}",
    "data.problems": "加载问题（文件:行:字段）",
    "data.no_problems": "所有行都已加载，没有问题。",
    "data.summary_skipped": "- ⚠ `{file}`：跳过 {rows} 个坏行（第 {lines} 行），"
                            "训练和评估（bad_rows=skip）同样跳过",
    "data.summary_cleaned": "- ⚠ 已清理 {values} 个值（去掉控制字符），见下表",
    "data.cleaned": "已清理：{message}",
    "data.col.file": "文件",
    "data.col.line": "行",
    "data.col.field": "字段",
    "data.col.message": "问题",
    "data.col.split": "划分",
    "data.col.row": "序号",
    "data.col.label": "标签",
    "data.col.fraud_speaker": "诈骗者",
    "data.col.input": "对话",
    "data.col.text": "文本",
    "data.col.reason": "理由",
    "data.col.rows": "行数",
    "data.col.duplicates": "重复行",
    "data.col.in": "也在 {split} 中",
    "chart.label_counts": "各划分的标签数量",
    "chart.rows": "行数",
    "chart.presence": "是否填写 fraud_speaker",
    "chart.with_speaker": "有 fraud_speaker",
    "chart.without_speaker": "无 fraud_speaker",
    "chart.chars": "对话字符数（按标签）",
    "chart.characters": "字符数",
    "chart.shape": "每段对话的轮次与发言人数（按标签）",
    "chart.turns": "轮次",
    "chart.speakers": "发言人",
    "chart.tokens": "对话 token 数（按标签，{tokenizer}）",
    "chart.token_count": "token 数",
    "chart.not_computed": "点击“计算 token 长度”后显示",
    "data.tokenizer": "分词器（embedded 或模型目录）",
    "data.token_lengths": "计算 token 长度",
    "data.overlap": "重复与划分间重叠（去除标点与空白后完全相同）",
    "data.audit": "数据审计",
    "data.run_audit": "运行审计",
    "data.audit_running": "审计正在运行……",
    "data.audit_hint": "点击“运行审计”：检查标签平衡、长度、泄露标签的词语和发言人名、重复，以及 TF-IDF "
                       "基线。",
    "data.audit_failed": "审计失败：{error}",
    "data.baseline": "基线（{model}）：交叉验证准确率 {cv_accuracy}，F1 {cv_f1}",
    "data.baseline_test": "；训练→测试准确率 {accuracy}，F1 {f1}",
    "audit.baseline": "要超过的基线（{model}）：{parts}{tail}",
    "audit.baseline.cv": "训练集 {folds} 折交叉验证准确率 {accuracy} ± {std}，F1 {f1}",
    "audit.baseline.test": "测试集准确率 {accuracy}，F1 {f1}",
    "audit.baseline.solved": "——只看表面词语就能读出标签（泄露标签的词、人名、模板）："
                             "只会匹配词语的模型在这里同样得高分，所以这个测试集上的准确率无法说明微调后的"
                             "模型读懂了对话。请先找出基线依据的特征（见上方各项）并修正数据，"
                             "或在写法不同的对话上测试。",
    "audit.baseline.beat": "——微调后的模型必须超过它",
    "answer.error.empty": "答案为空",
    "answer.error.bad_value": "is_fraud 的值是 {value}，不是 true/false（或 是/否、1/0）",
    "answer.error.no_field": "JSON 对象里没有 is_fraud 字段",
    "answer.error.ambiguous": "含糊：答案同时说了是和否",
    "answer.error.no_answer": "没有含 is_fraud 的 JSON 对象，也没有单独的 是/否/true/false 答案",
    "data.severity.high": "严重",
    "data.severity.medium": "中等",
    "data.severity.low": "轻微",
    "data.severity.info": "提示",
    "data.no_findings": "没有发现问题。",
    "data.rows": "数据行",
    "data.row_title": "{split} 第 {row} 行（文件第 {line} 行）",
    "data.label_filter": "标签",
    "data.split_filter": "划分",
    "data.search": "搜索（对话、诈骗者、理由）",
    "data.page": "页码",
    "data.previous": "上一页",
    "data.next": "下一页",
    "data.page_info": "第 {page}/{pages} 页，匹配 {matches} 行",
    "tok.source": "对话来源",
    "tok.source.row": "数据集中的一行",
    "tok.source.paste": "粘贴对话",
    "tok.split": "划分",
    "tok.index": "行序号（从 0 开始）",
    "tok.pasted": "对话",
    "tok.pasted_label": "是诈骗",
    "tok.pasted_speaker": "诈骗者（可选）",
    "tok.pasted_reason": "理由（可选）",
    "tok.tokenizer": "分词器（embedded 或模型目录）",
    "tok.keep_end": "对话结尾",
    "tok.keep_start": "对话开头",
    "tok.run": "分词",
    "tok.lengths": "计算整个数据集的长度分布",
    "tok.chat": "按对话模板渲染的文本",
    "tok.tokens": "token（悬停可看 id）",
    "tok.legend.masked": "提示部分（不计损失）",
    "tok.legend.trained": "答案部分（训练目标）",
    "tok.legend.special": "特殊 token",
    "tok.counts": "共 **{total}** 个 token：训练 **{trained}**，屏蔽 **{masked}**；max_length "
                  "{max_length}（已用 {used}）",
    "tok.template": "提示模板（data.prompt_template）：`{template}`",
    "tok.truncated": "⚠️ 这一行需要 {needed} 个 token，超过 max_length "
                     "{max_length}：对话被截断（保留{side}），答案完整保留。",
    "tok.histogram": "整个数据集的 token 数（对话模板 + 答案）",
    "tok.max_line": "最大长度 {max_length}",
    "tok.over": "{over} / {rows} 行（{share}）超过 max_length {max_length}，会被截断。",
    # --- train / runs ---
    "cfg.model": "基座模型",
    "cfg.head": "输出头",
    "cfg.method": "微调方法",
    "cfg.trust_remote_code": "允许模型目录运行自带代码",
    "cfg.lora.r": "LoRA 秩",
    "cfg.lora.alpha": "LoRA 缩放",
    "cfg.lora.dropout": "LoRA 丢弃率",
    "cfg.lora.target_modules": "LoRA 目标模块",
    "cfg.data.train": "训练集",
    "cfg.data.validation": "验证集",
    "cfg.data.test": "测试集",
    "cfg.data.with_reason": "答案包含诈骗者和理由",
    "cfg.data.instruction": "指令",
    "cfg.data.system": "系统提示",
    "cfg.data.prompt_template": "提示模板（{instruction} 与 {input}；留空 = 数据行自带指令时原样拼接）",
    "cfg.data.max_length": "最大长度",
    "cfg.data.truncation": "截断方式",
    "cfg.data.validation_split": "验证集划分比例",
    "cfg.data.bad_rows": "无法使用的行",
    "cfg.data.text_column": "文本列",
    "cfg.data.label_column": "标签列",
    "cfg.data.label_names": "标签名",
    "cfg.train.epochs": "训练轮数",
    "cfg.train.max_steps": "最大步数",
    "cfg.train.batch_size": "批大小",
    "cfg.train.grad_accum": "梯度累积",
    "cfg.train.learning_rate": "学习率",
    "cfg.train.scheduler": "学习率调度",
    "cfg.train.warmup_ratio": "预热比例",
    "cfg.train.weight_decay": "权重衰减",
    "cfg.train.eval_every": "评估间隔",
    "cfg.train.save_every": "检查点间隔",
    "cfg.train.logging_steps": "记录间隔",
    "cfg.train.early_stopping_patience": "早停耐心",
    "cfg.train.gradient_checkpointing": "梯度检查点",
    "cfg.train.precision": "精度",
    "cfg.train.seed": "随机种子",
    "cfg.train.report_to": "实验记录",
    "cfg.train.device": "设备",
    "cfg.train.num_gpus": "GPU 数",
    "cfg.kfold.mode": "K 折模式",
    "cfg.kfold.k": "折数 k",
    "train.group.model": "模型与 LoRA",
    "train.group.data": "数据与提示",
    "train.group.hyper": "超参数",
    "train.group.kfold": "K 折与超参数搜索",
    "train.more": "更多选项",
    "train.new_run": "新的训练",
    "train.sweep": "超参数搜索（每行一个 键=值1,值2；也可写 sweep.random.键=… 或 sweep.draws=N）",
    "train.yaml_section": "用 YAML 配置填写表单",
    "train.yaml_text": "粘贴 YAML 配置",
    "train.yaml_upload": "上传 YAML",
    "train.yaml_fill": "填入表单",
    "train.recipe": "配方（assets/recipes，附所需硬件）",
    "train.recipe_fill": "用配方填写表单",
    "train.recipe_none": "请先选择一个配方",
    "train.yaml_empty": "请先粘贴或上传 YAML 配置",
    "train.yaml_too_big": "YAML 文件太大，不像是一个训练配置",
    "train.preview_yaml": "配置（YAML）",
    "train.preview_cli": "等价的命令行",
    "train.valid": "✓ 配置有效（{kind} 任务）；开始时还会检查数据文件和模型",
    "train.invalid": "配置有误：{error}",
    "train.preset_filled": "表单由预设 {name} 填写：{description}。每一项都可以修改。",
    "train.preset_refilled": "模型或方法已改变，表单已按预设 {name} 重新填写：{description}。"
                             "每一项仍可修改。",
    "train.preset_yaml": "表单按 YAML 配置填写（未套用预设）。",
    "train.start": "开始训练",
    "train.stop": "停止",
    "train.resume": "继续训练",
    "train.job": "训练任务",
    "train.refresh": "刷新",
    "train.log": "日志末尾",
    "train.started": "已提交任务 {job}（在独立进程中运行）",
    "train.stop_requested": "已请求停止 {job}：当前步结束后保存检查点再停止",
    "train.resumed": "任务 {job} 已重新排队，将从最后的检查点继续",
    "train.no_selection": "请先选择一个训练任务",
    "train.no_job": "还没有训练任务：填写表单后点击“开始训练”。",
    "train.skipped": "跳过了 {rows} 个坏行（data.bad_rows=skip）：",
    "train.skipped_more": "……另有 {more} 行",
    "runs.not_listed": "{job} 是另一个任务的子任务：请在其父任务中查看。",
    "train.no_points": "还没有损失数据",
    "train.step": "步数",
    "train.loss": "损失",
    "train.train_loss": "训练损失",
    "train.eval_loss": "验证损失",
    "train.fold": "第 {fold} 折",
    "train.curve_title": "{job} 的损失曲线",
    "train.progress_step": "第 {step}/{total} 步",
    "train.progress_fold": "第 {fold}/{k} 折",
    "train.progress_eta": "预计剩余 {eta}",
    "train.progress_speed": "{speed} token/秒",
    "runs.table": "任务列表",
    "runs.refresh": "刷新列表",
    "runs.col.id": "任务",
    "runs.col.kind": "类型",
    "runs.col.status": "状态",
    "runs.col.created": "创建时间",
    "runs.col.duration": "耗时",
    "runs.col.summary": "最终指标",
    "runs.col.key": "配置项",
    "runs.col.name": "名称",
    "runs.col.value": "值",
    "runs.col.fold": "折",
    "runs.status.queued": "排队中",
    "runs.status.running": "运行中",
    "runs.status.stopping": "停止中",
    "runs.status.stopped": "已停止",
    "runs.status.finished": "已完成",
    "runs.status.failed": "失败",
    "runs.compare_select": "选择要对比的任务",
    "runs.compare": "对比",
    "runs.compare_title": "损失曲线对比",
    "runs.differences": "配置差异（只列出不同的项）",
    "runs.no_differences": "这些任务的配置完全相同",
    "runs.pick_one": "请至少选择一个任务",
    "runs.selected": "选中的任务",
    "runs.run": "任务",
    "runs.mean_std": "均值 ± 标准差",
    "runs.export": "导出（合并 LoRA）",
    "runs.export_started": "已提交导出任务 {job}：合并后的模型保存在 {path}",
    "runs.export_not_lora": "只能导出已完成的训练任务（{job} 是 {kind}，状态：{status}）",
    "runs.export_full": "方法 {method} 无需合并：全量微调的 model/ 本身就是独立模型",
    "runs.confirm": "我明白：删除会移除该任务、子任务及其运行目录",
    "runs.delete": "删除",
    "runs.confirm_first": "请先勾选确认框，再删除",
    "runs.deleted": "已删除 {job}",
    # --- evaluate / predict ---
    "evalcfg.model": "基础模型（embedded、模型目录或 Hub id）",
    "evalcfg.adapters": "微调检查点（可多选：runs/*/adapter、各折的 adapter）",
    "evalcfg.data": "测试数据（demo = 内置数据集的 test 划分，或工作区内的文件）",
    "evalcfg.limit": "抽样行数（0 = 全部）",
    "evalcfg.sample_seed": "抽样种子",
    "evalcfg.with_reason": "答案包含诈骗者和理由",
    "evalcfg.mode": "方式",
    "evalcfg.instruction": "指令（留空 = 检查点训练时的指令）",
    "evalcfg.system": "系统提示（留空 = 检查点训练时的系统提示）",
    "evalcfg.prompt_template": "提示模板（留空 = 检查点训练时的模板）",
    "evalcfg.max_length": "最大长度（留空 = 检查点训练时的长度）",
    "evalcfg.batch_size": "批大小（空 = 按空闲内存自动）",
    "evalcfg.backend": "推理后端",
    "evalcfg.device": "设备",
    "evalcfg.precision": "精度",
    "evalcfg.trust_remote_code": "允许模型目录运行自带代码",
    "evalcfg.include_base": "同时评估基础模型",
    "evalcfg.train_data": "基线的训练数据（留空 = 检查点的训练集）",
    "evalcfg.bad_rows": "无法使用的行（skip = 跳过并列出行号，error = 拒绝文件）",
    "eval.refresh": "刷新列表",
    "eval.mode.score": "打分（比较 true/false 的概率，快）",
    "eval.mode.generate": "生成（解码完整 JSON 答案）",
    "eval.run": "开始评估",
    "eval.stop": "停止",
    "eval.status": "评估任务 {job}：{status}（已开始 {started}/{planned} 个模型）",
    "eval.status.queued": "排队中",
    "eval.status.running": "运行中",
    "eval.status.stopping": "正在停止",
    "eval.status.stopped": "已停止",
    "eval.status.finished": "已完成",
    "eval.status.failed": "失败",
    "eval.progress_line": "{model}：{done}/{total} 行，每秒 {speed} 行，预计剩余 {eta}",
    "eval.results": "评估结果",
    "eval.run_choice": "评估运行",
    "eval.show": "查看",
    "eval.choose_run": "请先选择一个评估运行",
    "eval.unknown_run": "没有评估运行 {run}",
    "eval.not_finished": "评估 {run} 尚未完成，完成后显示结果。",
    "eval.summary": "运行 {run}：{data} 的 {rows}/{total} 行（诈骗 {positives} 行），方式 "
                    "{mode}，含理由：{reason}",
    "eval.yes": "是",
    "eval.no": "否",
    "eval.stopped_partial": "评估被停止：只有这些模型完成了：{done}",
    "eval.no_baseline": "没有 TF-IDF 基线：不知道训练数据在哪里。",
    "eval.metrics": "各模型指标（TF-IDF + LR 为同样行上的审计基线）",
    "eval.col.model": "模型",
    "eval.col.accuracy": "准确率",
    "eval.col.precision": "精确率",
    "eval.col.recall": "召回率",
    "eval.col.f1": "F1 值",
    "eval.col.invalid": "无效答案",
    "eval.col.roc_auc": "ROC 曲线下面积",
    "eval.col.pr_auc": "PR 曲线下面积",
    "eval.col.speaker_accuracy": "诈骗者准确率",
    "eval.col.rouge_l_f1": "理由 ROUGE-L F1 值",
    "eval.col.rows_per_second": "每秒行数",
    "eval.col.tp": "真阳性",
    "eval.col.fp": "假阳性",
    "eval.col.fn": "假阴性",
    "eval.col.tn": "真阴性",
    "eval.col.rows": "行数",
    "eval.col.pair": "对比（A → B）",
    "eval.col.fixed": "B 修正的行",
    "eval.col.broken": "B 改错的行",
    "eval.col.mcnemar_p": "McNemar 检验 p 值",
    "eval.col.accuracy_a": "A 准确率",
    "eval.col.accuracy_b": "B 准确率",
    "eval.col.difference": "准确率差（B − A）",
    "eval.col.low": "{level} 置信区间下限",
    "eval.col.high": "{level} 置信区间上限",
    "eval.col.row": "序号",
    "eval.col.line": "文件行",
    "eval.col.gold": "标准答案",
    "eval.col.dialogue": "对话",
    "eval.col.answer": "答案",
    "eval.col.p_true": "诈骗概率",
    "eval.col.speaker": "诈骗者",
    "eval.col.reason": "理由",
    "eval.col.raw": "原始输出",
    "eval.confusion": "混淆矩阵（行：标准答案，列：模型答案；无效答案算作答错）",
    "eval.confusion_hover": "标准答案 %{y}，预测 %{x}：%{z} 行",
    "eval.predicted": "模型答案",
    "eval.gold": "标准答案",
    "eval.invalid": "无效",
    "eval.threshold": "判为诈骗的阈值（P(true) ≥ 阈值）",
    "eval.threshold_table": "该阈值下的指标",
    "eval.roc": "ROC 曲线（圆点：阈值 {threshold}）",
    "eval.pr": "精确率-召回率曲线（圆点：阈值 {threshold}）",
    "eval.fpr": "假阳性率",
    "eval.tpr": "真阳性率（召回率）",
    "eval.recall": "召回率",
    "eval.precision": "精确率",
    "eval.pairs": "逐行对比：B 相对 A 修正和改错的行数、McNemar 精确检验、准确率差及其自助法置信区间",
    "eval.rows_filter": "显示哪些行",
    "eval.filter.differ": "模型答案不同的行",
    "eval.filter.wrong": "有模型答错的行",
    "eval.filter.all": "全部行",
    "eval.rows": "逐行答案（点击一行查看对话和各模型的完整答案）",
    "eval.pick_row": "点击上表中的一行，查看对话、标准答案和各模型的答案。",
    "eval.no_text": "打分模式：模型没有生成文本，标签来自 P(true)（is_fraud 的值为 true 相对 "
                    "false 的概率）。要看模型写出的答案，请用生成模式评估，或在“预测”标签页粘贴这段对话。",
    "eval.no_such_row": "没有第 {row} 行",
    "eval.detail_title": "第 {row} 行（文件第 {line} 行）",
    "predict.dialogue": "对话（粘贴，或从 demo 测试集取一行）",
    "predict.demo_row": "demo 测试集行号（从 0 开始）",
    "predict.use_row": "使用这一行",
    "predict.gold": "标准答案：{label}；诈骗者：{speaker}；理由：{reason}",
    "predict.base": "基础模型（embedded、模型目录或 Hub id）",
    "predict.checkpoint": "微调检查点（留空则只用基础模型）",
    "predict.with_reason": "要求答案包含诈骗者和理由",
    "predict.run": "预测",
    "predict.free": "释放模型",
    "predict.freed": "已释放 {count} 个模型。",
    "predict.base_title": "基础模型：{name}",
    "predict.tuned_title": "微调模型：{name}",
    "predict.no_checkpoint": "没有选择微调检查点。",
    "predict.is_fraud": "是否诈骗",
    "predict.p_true": "诈骗概率 P(true)",
    "predict.speaker": "诈骗者",
    "predict.reason": "理由",
    "predict.raw": "原始输出",
    "predict.prompt": "两个模型收到的提示（按对话模板渲染）",
    "predict.examples": "示例对话（点击填入）",
    "predict.status": "已加载：{models}（本次加载 {loads} 个模型，用时 {load_seconds} 秒）；预测用时 "
                      "{seconds} 秒。",
    "predict.truncated": "提示需要 {tokens} 个 token；max_length {max_length} 中要为模型的答案{answer}留出 "
                         "{reserve} 个，提示最多 {budget} 个，所以只保留了{side}，截去 {removed} 个字。",
    "predict.answer_with_reason": "（含诈骗者和理由）",
}

EN = {
    "app.title": "Fraud dialogue lab",
    "app.heading": "## Fraud dialogue lab",
    "app.language": "语言 / Language",
    "tab.data": "Data",
    "tab.tokenize": "Tokenize",
    "tab.train": "Train",
    "tab.evaluate": "Evaluate",
    "tab.predict": "Predict",
    "tab.runs": "Runs",
    "label.true": "fraud",
    "label.false": "normal",
    "filter.all": "all",
    "error.outside": "{path} is outside the workspace and assets folders; the lab reads nothing else",
    "error.not_a_file": "file not found: {path}",
    "error.not_a_folder": "model folder not found: {path}",
    "error.hub_not_cached": "{model} is neither a local model folder nor in the local hub cache, and the lab "
                            "does not download: put the model in the workspace (a folder under models/, "
                            "for example) and give that folder",
    "error.no_dataset": "choose a dataset first",
    "error.upload_type": "cannot use the uploaded file {name}: only {types} are accepted",
    "error.no_row": "{split} has no row {index} ({rows} rows)",
    "error.empty_dialogue": "paste a dialogue first",
    "error.model_building": "the embedded tiny model is still being built (a few minutes on a CPU); try "
                            "again shortly",
    "data.dataset": "Dataset (demo, a file in the workspace, or a path)",
    "data.compare": "Compare with (optional, used as the test set)",
    "data.upload": "Upload a data file (.jsonl / .json / .csv)",
    "data.load": "Load",
    "data.summary_title": "**{name}**: {rows} rows, {problems} problem(s)",
    "data.summary_split": "- `{split}` (`{file}`): {rows} rows, {positives} fraud, {negatives} normal",
    "data.summary_split_classes": "- `{split}` (`{file}`): {rows} rows, {classes}",
    "data.mapping": "Columns and labels",
    "data.text_column": "Text column",
    "data.label_column": "Label column",
    "data.label_names": "Label names (in class order, comma-separated)",
    "data.label_names_info": ("empty = the fraud schema (input + label true/false, optional fraud_speaker, "
                              "reason)"),
    "data.apply_mapping": "Apply",
    "data.mapping_fraud": ("Read as the fraud schema: text column `input`, label column `label` "
                           "(true/false), optional `fraud_speaker` and `reason`."),
    "data.mapping_classes": ("Text column `{text}`, label column `{label}`, {classes} classes: {names}. "
                             "To train on the same columns:\n\n`{command}`"),
    "error.bad_mapping": "the columns and labels cannot be used: {error}",
    "data.problems": "Loading problems (file:line:field)",
    "data.no_problems": "Every row loaded; no problems.",
    "data.summary_skipped": "- ⚠ `{file}`: {rows} bad row(s) skipped (line(s) {lines}); "
                            "training and evaluation (bad_rows=skip) skip them too",
    "data.summary_cleaned": "- ⚠ {values} value(s) cleaned (control characters removed); see the table",
    "data.cleaned": "cleaned: {message}",
    "data.col.file": "file",
    "data.col.line": "line",
    "data.col.field": "field",
    "data.col.message": "problem",
    "data.col.split": "split",
    "data.col.row": "row",
    "data.col.label": "label",
    "data.col.fraud_speaker": "fraud_speaker",
    "data.col.input": "dialogue",
    "data.col.text": "text",
    "data.col.reason": "reason",
    "data.col.rows": "rows",
    "data.col.duplicates": "duplicate rows",
    "data.col.in": "also in {split}",
    "chart.label_counts": "Labels per split",
    "chart.rows": "rows",
    "chart.presence": "fraud_speaker given or not",
    "chart.with_speaker": "with fraud_speaker",
    "chart.without_speaker": "without fraud_speaker",
    "chart.chars": "Dialogue characters by label",
    "chart.characters": "characters",
    "chart.shape": "Turns and speakers per dialogue by label",
    "chart.turns": "turns",
    "chart.speakers": "speakers",
    "chart.tokens": "Dialogue tokens by label ({tokenizer})",
    "chart.token_count": "tokens",
    "chart.not_computed": "Click \"Compute token lengths\" to see this chart",
    "data.tokenizer": "Tokenizer (embedded or a model folder)",
    "data.token_lengths": "Compute token lengths",
    "data.overlap": "Duplicates and overlap between splits (identical after removing punctuation and spaces)",
    "data.audit": "Audit",
    "data.run_audit": "Run the audit",
    "data.audit_running": "The audit is running…",
    "data.audit_hint": "Click \"Run the audit\": label balance, length, label-giving words and speaker "
                       "names, duplicates, and a TF-IDF baseline.",
    "data.audit_failed": "The audit failed: {error}",
    "data.baseline": "Baseline ({model}): cross-validated accuracy {cv_accuracy}, F1 {cv_f1}",
    "data.baseline_test": "; train → test accuracy {accuracy}, F1 {f1}",
    "audit.baseline": "baseline to beat ({model}): {parts}{tail}",
    "audit.baseline.cv": "accuracy {accuracy} ± {std}, F1 {f1} ({folds}-fold CV on train)",
    "audit.baseline.test": "accuracy {accuracy}, F1 {f1} on test",
    "audit.baseline.solved": " — the labels can be read off surface wording (label words, names, "
                             "templates): a model that only matches words scores as well here, so accuracy "
                             "on this test set cannot show that a fine-tuned model understands the dialogue. "
                             "Find what the baseline reads (the findings above) and fix the data, or test on "
                             "dialogues written differently.",
    "audit.baseline.beat": " — a fine-tuned model must beat this",
    "answer.error.empty": "empty answer",
    "answer.error.bad_value": "is_fraud is {value}, not true/false (or 是/否, 1/0)",
    "answer.error.no_field": "the JSON object has no is_fraud field",
    "answer.error.ambiguous": "ambiguous: the answer says both yes and no",
    "answer.error.no_answer": "no JSON object with is_fraud and no bare 是/否/true/false answer",
    "data.severity.high": "high",
    "data.severity.medium": "medium",
    "data.severity.low": "low",
    "data.severity.info": "info",
    "data.no_findings": "No findings.",
    "data.rows": "Rows",
    "data.row_title": "{split}, row {row} (line {line} of the file)",
    "data.label_filter": "Label",
    "data.split_filter": "Split",
    "data.search": "Search (dialogue, fraud_speaker, reason)",
    "data.page": "Page",
    "data.previous": "Previous",
    "data.next": "Next",
    "data.page_info": "Page {page}/{pages}, {matches} matching rows",
    "tok.source": "Dialogue from",
    "tok.source.row": "a dataset row",
    "tok.source.paste": "pasted text",
    "tok.split": "Split",
    "tok.index": "Row (from 0)",
    "tok.pasted": "Dialogue",
    "tok.pasted_label": "Is fraud",
    "tok.pasted_speaker": "fraud_speaker (optional)",
    "tok.pasted_reason": "reason (optional)",
    "tok.tokenizer": "Tokenizer (embedded or a model folder)",
    "tok.keep_end": "the dialogue's end",
    "tok.keep_start": "the dialogue's start",
    "tok.run": "Tokenize",
    "tok.lengths": "Length distribution of the whole dataset",
    "tok.chat": "Text rendered by the chat template",
    "tok.tokens": "Tokens (hover for the id)",
    "tok.legend.masked": "prompt (masked, no loss)",
    "tok.legend.trained": "answer (trained on)",
    "tok.legend.special": "special token",
    "tok.counts": "**{total}** tokens: **{trained}** trained, **{masked}** masked; max_length {max_length} "
                  "({used} used)",
    "tok.template": "Prompt template (data.prompt_template): `{template}`",
    "tok.truncated": "⚠️ This row needs {needed} tokens, more than max_length {max_length}: the dialogue "
                     "was truncated (keeping {side}); the answer is kept whole.",
    "tok.histogram": "Tokens per row of the whole dataset (chat template + answer)",
    "tok.max_line": "max_length {max_length}",
    "tok.over": "{over} of {rows} rows ({share}) exceed max_length {max_length} and will be truncated.",
    # --- train / runs ---
    "cfg.model": "Base model",
    "cfg.head": "Head",
    "cfg.method": "Method",
    "cfg.trust_remote_code": "Trust remote code",
    "cfg.lora.r": "LoRA rank",
    "cfg.lora.alpha": "LoRA alpha",
    "cfg.lora.dropout": "LoRA dropout",
    "cfg.lora.target_modules": "LoRA target modules",
    "cfg.data.train": "Training file",
    "cfg.data.validation": "Validation file",
    "cfg.data.test": "Test file",
    "cfg.data.with_reason": "Answer with fraud_speaker and reason",
    "cfg.data.instruction": "Instruction",
    "cfg.data.system": "System prompt",
    "cfg.data.prompt_template": "Prompt template ({instruction} and {input}; empty = a row's own instruction "
                                "joined as is)",
    "cfg.data.max_length": "Max length",
    "cfg.data.truncation": "Truncation",
    "cfg.data.validation_split": "Validation split",
    "cfg.data.bad_rows": "Bad rows",
    "cfg.data.text_column": "Text column",
    "cfg.data.label_column": "Label column",
    "cfg.data.label_names": "Label names",
    "cfg.train.epochs": "Epochs",
    "cfg.train.max_steps": "Max steps",
    "cfg.train.batch_size": "Batch size",
    "cfg.train.grad_accum": "Gradient accumulation",
    "cfg.train.learning_rate": "Learning rate",
    "cfg.train.scheduler": "Scheduler",
    "cfg.train.warmup_ratio": "Warmup ratio",
    "cfg.train.weight_decay": "Weight decay",
    "cfg.train.eval_every": "Evaluate every",
    "cfg.train.save_every": "Checkpoint every",
    "cfg.train.logging_steps": "Log every",
    "cfg.train.early_stopping_patience": "Early-stopping patience",
    "cfg.train.gradient_checkpointing": "Gradient checkpointing",
    "cfg.train.precision": "Precision",
    "cfg.train.seed": "Seed",
    "cfg.train.report_to": "Report to",
    "cfg.train.device": "Device",
    "cfg.train.num_gpus": "GPUs",
    "cfg.kfold.mode": "K-fold mode",
    "cfg.kfold.k": "Folds (k)",
    "train.group.model": "Model & LoRA",
    "train.group.data": "Data & prompt",
    "train.group.hyper": "Hyperparameters",
    "train.group.kfold": "K-fold & sweep",
    "train.more": "More options",
    "train.new_run": "New run",
    "train.sweep": "Sweep (one key=value1,value2 a line; also sweep.random.key=… or sweep.draws=N)",
    "train.yaml_section": "Fill the form from a YAML config",
    "train.yaml_text": "Paste a YAML config",
    "train.yaml_upload": "Upload YAML",
    "train.yaml_fill": "Fill the form",
    "train.recipe": "Recipe (assets/recipes, with the hardware it needs)",
    "train.recipe_fill": "Fill the form from the recipe",
    "train.recipe_none": "Choose a recipe first",
    "train.yaml_empty": "paste or upload a YAML config first",
    "train.yaml_too_big": "the YAML file is too large to be a training config",
    "train.preview_yaml": "Config (YAML)",
    "train.preview_cli": "Equivalent command",
    "train.valid": "✓ The config is valid ({kind} job); Start also checks the data files and the model",
    "train.invalid": "Config problem: {error}",
    "train.preset_filled": "Filled by preset {name}: {description}. Every field can be changed.",
    "train.preset_refilled": "Model or method changed: the form was re-filled by preset {name}: "
                             "{description}. Every field can still be changed.",
    "train.preset_yaml": "Filled from the YAML config (no preset applied).",
    "train.start": "Start training",
    "train.stop": "Stop",
    "train.resume": "Resume",
    "train.job": "Training job",
    "train.refresh": "Refresh",
    "train.log": "Log tail",
    "train.started": "Job {job} submitted (it runs in its own process)",
    "train.stop_requested": "Stop requested for {job}: it saves a checkpoint after the current step, then "
                            "ends",
    "train.resumed": "Job {job} is queued again; it continues from its last checkpoint",
    "train.no_selection": "choose a training job first",
    "train.no_job": "No training job yet: fill in the form and click \"Start training\".",
    "train.skipped": "{rows} bad row(s) skipped (data.bad_rows=skip):",
    "train.skipped_more": "... and {more} more",
    "runs.not_listed": "{job} belongs to another job: see it in its parent's details.",
    "train.no_points": "No loss values yet",
    "train.step": "step",
    "train.loss": "loss",
    "train.train_loss": "train loss",
    "train.eval_loss": "eval loss",
    "train.fold": "fold {fold}",
    "train.curve_title": "Loss of {job}",
    "train.progress_step": "step {step}/{total}",
    "train.progress_fold": "fold {fold}/{k}",
    "train.progress_eta": "ETA {eta}",
    "train.progress_speed": "{speed} tokens/s",
    "runs.table": "Jobs",
    "runs.refresh": "Refresh the list",
    "runs.col.id": "job",
    "runs.col.kind": "kind",
    "runs.col.status": "status",
    "runs.col.created": "created",
    "runs.col.duration": "duration",
    "runs.col.summary": "final metrics",
    "runs.col.key": "config key",
    "runs.col.name": "name",
    "runs.col.value": "value",
    "runs.col.fold": "fold",
    "runs.status.queued": "queued",
    "runs.status.running": "running",
    "runs.status.stopping": "stopping",
    "runs.status.stopped": "stopped",
    "runs.status.finished": "finished",
    "runs.status.failed": "failed",
    "runs.compare_select": "Runs to compare",
    "runs.compare": "Compare",
    "runs.compare_title": "Loss curves compared",
    "runs.differences": "Config differences (only the keys that differ)",
    "runs.no_differences": "The configs of these runs are identical",
    "runs.pick_one": "choose at least one run",
    "runs.selected": "Selected run",
    "runs.run": "Run",
    "runs.mean_std": "mean ± std",
    "runs.export": "Export (merge LoRA)",
    "runs.export_started": "Export job {job} submitted; the merged model goes to {path}",
    "runs.export_not_lora": "only a finished training run can be exported ({job} is a {kind} job, {status})",
    "runs.export_full": "method {method} needs no merge: a full fine-tuning run's model/ is already "
                        "standalone",
    "runs.confirm": "I understand that Delete removes the job, its children and their run folders",
    "runs.delete": "Delete",
    "runs.confirm_first": "tick the confirmation box before deleting",
    "runs.deleted": "Deleted {job}",
    # --- evaluate / predict ---
    "evalcfg.model": "Base model (embedded, a model folder or a hub id)",
    "evalcfg.adapters": "Fine-tuned checkpoints (several: runs/*/adapter, fold adapters)",
    "evalcfg.data": "Test data (demo = the demo dataset's test split, or a file in the workspace)",
    "evalcfg.limit": "Rows to sample (0 = all)",
    "evalcfg.sample_seed": "Sample seed",
    "evalcfg.with_reason": "Answer with fraud_speaker and reason",
    "evalcfg.mode": "Mode",
    "evalcfg.instruction": "Instruction (empty = the checkpoint's training one)",
    "evalcfg.system": "System prompt (empty = the checkpoint's training one)",
    "evalcfg.prompt_template": "Prompt template (empty = the checkpoint's training one)",
    "evalcfg.max_length": "Max length (empty = the checkpoint's training one)",
    "evalcfg.batch_size": "Batch size (empty = from free memory)",
    "evalcfg.backend": "Inference backend",
    "evalcfg.device": "Device",
    "evalcfg.precision": "Precision",
    "evalcfg.trust_remote_code": "Allow the model folder to run its own code",
    "evalcfg.include_base": "Evaluate the base model too",
    "evalcfg.train_data": "Baseline training data (empty = the checkpoints' own)",
    "evalcfg.bad_rows": "Bad rows (skip = leave out and list their lines, error = refuse the file)",
    "eval.refresh": "Refresh lists",
    "eval.mode.score": "score (compare P(true) with P(false), fast)",
    "eval.mode.generate": "generate (decode the whole JSON answer)",
    "eval.run": "Evaluate",
    "eval.stop": "Stop",
    "eval.status": "Evaluation job {job}: {status} ({started} of {planned} models started)",
    "eval.status.queued": "queued",
    "eval.status.running": "running",
    "eval.status.stopping": "stopping",
    "eval.status.stopped": "stopped",
    "eval.status.finished": "finished",
    "eval.status.failed": "failed",
    "eval.progress_line": "{model}: {done}/{total} rows, {speed} rows/s, ETA {eta}",
    "eval.results": "Results",
    "eval.run_choice": "Evaluation run",
    "eval.show": "Show",
    "eval.choose_run": "choose an evaluation run first",
    "eval.unknown_run": "no evaluation run {run}",
    "eval.not_finished": "Evaluation {run} has not finished; its results appear when it does.",
    "eval.summary": "Run {run}: {rows} of {total} rows of {data} ({positives} fraud), mode {mode}, with "
                    "reasons: {reason}",
    "eval.yes": "yes",
    "eval.no": "no",
    "eval.stopped_partial": "The evaluation was stopped; only these models finished: {done}",
    "eval.no_baseline": "No TF-IDF baseline: the training data is not known.",
    "eval.metrics": "Metrics per model (TF-IDF + LR: the audit baseline on the same rows)",
    "eval.col.model": "model",
    "eval.col.accuracy": "accuracy",
    "eval.col.precision": "precision",
    "eval.col.recall": "recall",
    "eval.col.f1": "F1",
    "eval.col.invalid": "invalid",
    "eval.col.roc_auc": "ROC AUC",
    "eval.col.pr_auc": "PR AUC",
    "eval.col.speaker_accuracy": "speaker accuracy",
    "eval.col.rouge_l_f1": "ROUGE-L F1",
    "eval.col.rows_per_second": "rows/s",
    "eval.col.tp": "TP",
    "eval.col.fp": "FP",
    "eval.col.fn": "FN",
    "eval.col.tn": "TN",
    "eval.col.rows": "rows",
    "eval.col.pair": "pair (A → B)",
    "eval.col.fixed": "fixed by B",
    "eval.col.broken": "broken by B",
    "eval.col.mcnemar_p": "McNemar p",
    "eval.col.accuracy_a": "accuracy A",
    "eval.col.accuracy_b": "accuracy B",
    "eval.col.difference": "accuracy B − A",
    "eval.col.low": "{level} CI low",
    "eval.col.high": "{level} CI high",
    "eval.col.row": "row",
    "eval.col.line": "line",
    "eval.col.gold": "gold",
    "eval.col.dialogue": "dialogue",
    "eval.col.answer": "answer",
    "eval.col.p_true": "P(true)",
    "eval.col.speaker": "fraud_speaker",
    "eval.col.reason": "reason",
    "eval.col.raw": "raw text",
    "eval.confusion": "Confusion matrices (rows: gold, columns: the model's answer; an invalid answer "
                      "counts as wrong)",
    "eval.confusion_hover": "gold %{y}, predicted %{x}: %{z} rows",
    "eval.predicted": "predicted",
    "eval.gold": "gold",
    "eval.invalid": "invalid",
    "eval.threshold": "Threshold: fraud when P(true) ≥ threshold",
    "eval.threshold_table": "Metrics at this threshold",
    "eval.roc": "ROC curves (dots: threshold {threshold})",
    "eval.pr": "Precision-recall curves (dots: threshold {threshold})",
    "eval.fpr": "false positive rate",
    "eval.tpr": "true positive rate (recall)",
    "eval.recall": "recall",
    "eval.precision": "precision",
    "eval.pairs": "Row by row: rows B fixed and broke versus A, McNemar's exact test, accuracy difference "
                  "with its bootstrap interval",
    "eval.rows_filter": "Rows to list",
    "eval.filter.differ": "rows where the models differ",
    "eval.filter.wrong": "rows some model got wrong",
    "eval.filter.all": "all rows",
    "eval.rows": "Answers per row (click a row to see the dialogue and every model's full answer)",
    "eval.pick_row": "Click a row of the table above to see its dialogue, the gold answer and each model's "
                      "answer.",
    "eval.no_text": "score mode: the model generated no text; the label comes from P(true) (the weight "
                    "of true against false as the value of is_fraud). To see what it writes, evaluate in "
                    "generate mode or paste the dialogue in the Predict tab.",
    "eval.no_such_row": "no row {row}",
    "eval.detail_title": "Row {row} (line {line} of the file)",
    "predict.dialogue": "Dialogue (paste one, or take a row of the demo test split)",
    "predict.demo_row": "Demo test row (from 0)",
    "predict.use_row": "Use this row",
    "predict.gold": "Gold answer: {label}; fraud_speaker: {speaker}; reason: {reason}",
    "predict.base": "Base model (embedded, a model folder or a hub id)",
    "predict.checkpoint": "Fine-tuned checkpoint (empty: the base model alone)",
    "predict.with_reason": "Ask for fraud_speaker and reason in the answer",
    "predict.run": "Predict",
    "predict.free": "Free models",
    "predict.freed": "Freed {count} model(s).",
    "predict.base_title": "Base model: {name}",
    "predict.tuned_title": "Fine-tuned: {name}",
    "predict.no_checkpoint": "No fine-tuned checkpoint chosen.",
    "predict.is_fraud": "is_fraud",
    "predict.p_true": "P(true)",
    "predict.speaker": "fraud_speaker",
    "predict.reason": "reason",
    "predict.raw": "raw text",
    "predict.prompt": "The prompt both models were given (chat template rendered)",
    "predict.examples": "Example dialogues (click one to fill the box)",
    "predict.status": "Loaded: {models} ({loads} model(s) loaded now, {load_seconds} s); prediction took "
                      "{seconds} s.",
    "predict.truncated": "The prompt needs {tokens} tokens; of max_length {max_length}, {reserve} are kept "
                         "for the model's answer{answer}, leaving {budget} for the prompt, so only {side} "
                         "was kept and {removed} characters were cut.",
    "predict.answer_with_reason": " (with fraud_speaker and reason)",
}

TRANSLATIONS = {"zh": ZH, "en": EN}


def t(key: str, language: str = DEFAULT_LANGUAGE, **values) -> str:
    """The label of `key` in `language` (falling back to 中文, then to the key itself)."""
    table = TRANSLATIONS.get(language, ZH)
    text = table.get(key, ZH.get(key, key))
    return text.format(**values) if values else text


def label_names(language: str) -> dict[bool, str]:
    return {True: t("label.true", language), False: t("label.false", language)}


def answer_error(answer: dict, language: str) -> str:
    """Why an answer is invalid, in the page's language: from the parser's kind (and the value it
    read), else the English the parser gave (predictions saved before kinds were recorded)."""
    kind = answer.get("error_kind") or ""
    key = f"answer.error.{kind}"
    if kind and key in TRANSLATIONS[language]:
        return t(key, language, value=answer.get("error_value") or "")
    return answer.get("error") or ""


# The presets' descriptions (core.config.presets words them in English, for the CLI).
PRESET_DESCRIPTIONS_ZH = {
    "tiny-cpu": "CPU 上的内置小模型：LoRA r 16、alpha 32，作用于各投影层和词嵌入，"
                "学习率 3e-3 余弦衰减，200 步",
    "lora-1.5b": "GPU 上约 1.5B 的 Qwen2：LoRA r 8、alpha 16、dropout 0.05，学习率 1e-4，"
                 "batch 4 × 梯度累积 4",
}


def preset_description(preset, method: str, language: str) -> str:
    """A preset's description in the page's language, with the values its `method` changes."""
    worded = PRESET_DESCRIPTIONS_ZH.get(preset.name) if language == "zh" else None
    if worded is None:
        return preset.describe(method)
    changed = preset.by_method.get(method)
    if not changed:
        return worded
    return f"{worded}；{method}：" + "，".join(f"{key} {value}" for key, value in changed.items())


# -- what core returns as kinds and numbers, worded in Chinese -------------------------------------
# Core words its findings, load problems and config errors in English once (the CLI prints that
# text, and the English page shows it); the Chinese page words them here from their kind or code
# and their values, so a second English wording never drifts from core's.
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
