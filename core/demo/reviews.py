"""The second embedded demo dataset: three-class short product reviews (正面 / 中性 / 负面), seeded.

It has another shape than the fraud dialogues (columns `review`, `label` with three label names)
so the page and the tests show the generic path: column mapping, N classes, an encoder classifier.
Each review joins a product, an aspect and an opinion phrase of its class; the classes share
products, aspects and lengths, so only the opinion words tell them apart (what a classifier must
learn, and what the audit's label-giving words must find).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from core.data.mapping import DataMapping

REVIEWS_DIR = "demo-reviews"
DEMO_REVIEWS = "demo-reviews"  # the value of a data key naming this dataset
LABEL_NAMES = ("正面", "中性", "负面")
MAPPING = DataMapping(text_column="review", label_column="label", label_names=LABEL_NAMES)
SPLIT_SIZES = {"train": 600, "validation": 90, "test": 150}
SEED = 7

PRODUCTS = ("这款耳机", "这家酒店", "这本书", "这台电脑", "这件外套", "这家餐厅", "这个手机壳", "这款洗发水",
            "这双鞋", "这部电影", "这个背包", "这款台灯")
ASPECTS = ("质量", "做工", "服务", "价格", "包装", "物流", "味道", "外观", "音质", "手感")
OPINIONS = {
    "正面": ("非常好", "特别满意", "超出预期", "很惊喜", "值得推荐", "好评", "很喜欢", "物超所值", "太棒了", "很贴心"),
    "中性": ("还行吧", "一般般", "中规中矩", "没什么特别", "凑合", "普普通通", "说不上好坏", "和描述差不多",
             "马马虎虎", "可以接受"),
    "负面": ("太差了", "很失望", "不推荐", "差评", "后悔买了", "质量堪忧", "非常糟糕", "退货了", "很生气",
             "不值这个价"),
}
TAILS = ("。", "！", "，下次再看看。", "，就这样。", "，朋友也这么说。", "")


def review(rng: random.Random, label: str) -> str:
    opinion = rng.choice(OPINIONS[label])
    text = f"{rng.choice(PRODUCTS)}的{rng.choice(ASPECTS)}{opinion}"
    if rng.random() < 0.4:  # a second clause of the same class
        text += f"，{rng.choice(ASPECTS)}也{rng.choice(OPINIONS[label])}"
    return text + rng.choice(TAILS)


def generate_reviews(seed: int = SEED, sizes: dict[str, int] | None = None) -> dict[str, list[dict]]:
    """{split: rows}, each row {"review", "label"}; classes in equal shares, order shuffled."""
    rng = random.Random(seed)
    splits = {}
    for split, size in (sizes or SPLIT_SIZES).items():
        rows = [{"review": review(rng, LABEL_NAMES[index % len(LABEL_NAMES)]),
                 "label": LABEL_NAMES[index % len(LABEL_NAMES)]} for index in range(size)]
        rng.shuffle(rows)
        splits[split] = rows
    return splits


def ensure_review_dataset(workspace: Path) -> dict[str, Path]:
    """The review files under `workspace/demo-reviews`, written when any is missing."""
    from core.workspace import write_text

    folder = Path(workspace) / REVIEWS_DIR
    paths = {split: folder / f"{split}.jsonl" for split in SPLIT_SIZES}
    if all(path.is_file() for path in paths.values()):
        return paths
    for split, rows in generate_reviews().items():
        write_text(paths[split], "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return paths
