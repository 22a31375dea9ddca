"""The form fields' help lines in Chinese. The English ones are the field specs' own help
(core.config.schema), the single source; a key missing here falls back to it, and a test checks that
every field of RunConfig and EvalConfig has its line.

Keys: "cfg.<dotted key>" for RunConfig (Train and Tokenize forms), "evalcfg.<key>" for EvalConfig.
"""
from __future__ import annotations

HELP_ZH = {
    "cfg.model": "基座模型：模型目录、本地 Hub 缓存中的 Hub id，或 embedded（内置小模型）",
    "cfg.head": "causal-lm = 生成 JSON 答案；seq-cls = 二分类头",
    "cfg.method": "lora = 低秩适配器；full = 训练全部权重；qlora = 4 位量化基座上的 LoRA",
    "cfg.trust_remote_code": "允许模型目录运行其自带的 Python 代码",
    "cfg.lora.r": "LoRA 秩：低秩更新的大小（越大容量越大，也越耗内存和时间）",
    "cfg.lora.alpha": "LoRA alpha：更新按 alpha / r 缩放",
    "cfg.lora.dropout": "训练时 LoRA 输入上的 dropout",
    "cfg.lora.target_modules": "加 LoRA 更新的模块名（命令行上用逗号分隔）",
    "cfg.data.train": "训练文件（JSONL / JSON 列表 / CSV）；demo = 内置演示数据集",
    "cfg.data.validation": "验证文件；留空 = 从训练文件按 validation_split 分层划出",
    "cfg.data.test": "测试文件，随运行保存以便评估；留空 = 无",
    "cfg.data.with_reason": "训练的答案包含 fraud_speaker 和 reason，而不只是 is_fraud",
    "cfg.data.instruction": "每一行的指令；留空 = 用每行自带的，没有则用默认指令",
    "cfg.data.system": "系统提示；null = 对话模板的默认值",
    "cfg.data.max_length": "提示加答案的最多 token 数；更长的对话会被截短",
    "cfg.data.truncation": "对话过长时保留哪一部分",
    "cfg.data.text_column": "对话或文本所在的列；留空 = input（诈骗数据的格式）",
    "cfg.data.label_column": "标签所在的列；留空 = label",
    "cfg.data.label_names": "各类标签的名称（两个或更多，如 human,chatgpt）；"
                            "留空 = 诈骗数据的 true/false",
    "cfg.data.prompt_template": "用户消息的模板，可用 {instruction} 和 {input}；留空 = "
                                "数据行自带指令时按原样拼成 {instruction}{input}"
                                "（与种子笔记本逐字节一致），默认指令或本次运行的指令用 "
                                "{instruction}\\n{input}",
    "cfg.data.validation_split": "没有验证文件时从训练文件留出的比例（分层、固定种子；索引保存在运行目录中）",
    "cfg.data.bad_rows": "无法使用的行：skip = 用好的行训练，并在日志和摘要中列出跳过的行；"
                         "error = 拒绝该文件",
    "cfg.train.epochs": "遍历训练数据的轮数（max_steps 为 -1 时使用）",
    "cfg.train.max_steps": "训练的优化步数；-1 = 按轮数计算",
    "cfg.train.batch_size": "每次前向传播的行数",
    "cfg.train.grad_accum": "每个优化步的前向次数（有效批大小 = batch_size × grad_accum）",
    "cfg.train.learning_rate": "峰值学习率（内置小模型：LoRA 3e-3，全量 5e-4；"
                               "约 1.5B 的模型：LoRA 1e-4，全量约 1e-5）",
    "cfg.train.scheduler": "预热之后的学习率调度",
    "cfg.train.warmup_ratio": "用于把学习率从 0 预热上去的步数比例",
    "cfg.train.weight_decay": "AdamW 权重衰减",
    "cfg.train.eval_every": "每 N 步评估一次，或 epoch；0 = 只在最后评估",
    "cfg.train.save_every": "每 N 步保存一个可续训的检查点，或 epoch",
    "cfg.train.logging_steps": "每 N 步写一行指标",
    "cfg.train.early_stopping_patience": "连续 N 次评估 eval_loss 没有变好就停止；0 = 关闭",
    "cfg.train.gradient_checkpointing": "反向传播时重算激活：省内存，但更慢",
    "cfg.train.precision": "权重和计算精度；auto = 支持 bf16 的 GPU 上用 bf16，否则 fp32",
    "cfg.train.seed": "模型初始化、数据顺序和验证划分的种子",
    "cfg.train.report_to": "同时记录到实验跟踪工具",
    "cfg.train.device": "在哪里训练；auto = 有 CUDA 时用 CUDA",
    "cfg.train.num_gpus": "一次运行使用的 GPU 数，每块一个数据并行进程；1 = 单进程",
    "cfg.kfold.mode": "K 折交叉验证：chained = 每折从上一折的适配器继续，independent = 每折都从基座开始",
    "cfg.kfold.k": "折数",
    "evalcfg.model": "基座模型：模型目录、本地 Hub 缓存中的 Hub id，或 embedded（内置小模型）",
    "evalcfg.adapters": "与基座对比的微调检查点：运行目录、适配器目录、Trainer 检查点或全量微调的模型",
    "evalcfg.data": "带标签的测试文件；demo = 演示数据集的 test 划分",
    "evalcfg.limit": "按种子抽样评估这么多行（保持文件顺序）；留空 = 全部行",
    "evalcfg.sample_seed": "抽样的种子",
    "evalcfg.with_reason": "同时要求 fraud_speaker 和 reason（在生成模式下评分）",
    "evalcfg.mode": ("score = 一次前向后比较各类别答案的概率（如 P(true) 与 P(false)，快）；"
                     "generate = 解码出完整的 JSON 答案"),
    "evalcfg.instruction": "每一行的指令；留空 = 各检查点训练时的指令，没有则用默认指令",
    "evalcfg.system": "系统提示；留空 = 各检查点训练时的系统提示，没有则用模板默认值",
    "evalcfg.prompt_template": "用户消息的模板，可用 {instruction} 和 {input}；"
                               "留空 = 各检查点训练时的模板，没有则按数据行的指令取默认",
    "evalcfg.max_length": "提示的最多 token 数；留空 = 各检查点训练时的 max_length，没有则 1024",
    "evalcfg.batch_size": "一次解码的行数；留空 = 按空闲内存能容纳这些提示的最大行数",
    "evalcfg.device": "在哪里运行；auto = 有 CUDA 时用 CUDA",
    "evalcfg.precision": "权重和计算精度；auto = 支持 bf16 的 GPU 上用 bf16，否则 fp32",
    "evalcfg.trust_remote_code": "允许模型目录运行其自带的 Python 代码",
    "evalcfg.backend": "auto = GPU 上的因果语言模型在装有 vLLM 时用 vLLM，否则用 transformers",
    "evalcfg.include_base": "同时评估基座模型本身，作为第一列",
    "evalcfg.bad_rows": "无法使用的测试行（没有对话、没有可用标签）：skip = 评估好的行，"
                        "并在 metrics.json 中列出跳过的行号；error = 拒绝该文件",
    "evalcfg.train_data": "TF-IDF 基线的训练文件；留空 = 检查点自己的训练文件（演示数据用演示的）",
}


def field_help(key: str, english: str, language: str, prefix: str = "cfg") -> str:
    """A field's help line in the page's language (`english`: the spec's own help)."""
    if language == "zh":
        return HELP_ZH.get(f"{prefix}.{key}", english)
    return english
