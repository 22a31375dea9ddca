"""The second demo dataset (three-class reviews) and the two recipes of other dataset shapes."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from core.config.checks import validate
from core.config.text import load_config
from core.data.mapping import DataMapping, mapping_of, propose_mapping
from core.data.records import load_records
from core.demo.reviews import LABEL_NAMES, MAPPING, OPINIONS, ensure_review_dataset, generate_reviews

RECIPES = Path(__file__).resolve().parents[2] / "assets" / "recipes"


def test_reviews_are_seeded_balanced_and_told_apart_only_by_opinion_words():
    first, again = generate_reviews(), generate_reviews()
    assert first == again
    for rows in first.values():
        counts = Counter(row["label"] for row in rows)
        assert set(counts) == set(LABEL_NAMES) and max(counts.values()) - min(counts.values()) <= 1
    for row in first["train"]:
        own = [phrase for phrase in OPINIONS[row["label"]] if phrase in row["review"]]
        assert own, row
    train = {row["review"] for row in first["train"]}
    assert len(train & {row["review"] for row in first["test"]}) < len(first["test"]) // 2


def test_review_files_load_through_their_proposed_mapping(tmp_path):
    paths = ensure_review_dataset(tmp_path)
    proposed = propose_mapping(paths["train"])
    assert (proposed.text_column, proposed.label_column) == ("review", "label")
    assert sorted(proposed.label_names) == sorted(LABEL_NAMES)
    loaded = load_records(paths["test"], mapping=MAPPING)
    assert sum(loaded.label_counts(MAPPING.names).values()) == len(loaded.records)


def test_recipes_parse_validate_and_describe_their_datasets():
    hc3 = load_config(RECIPES / "hc3-qwen1.5-0.5b-seq-cls.yaml")
    assert validate(hc3, deep=False) is hc3
    assert mapping_of(hc3.data) == DataMapping("text", "label", ("human", "chatgpt"))
    assert (hc3.head, hc3.method, hc3.lora.r, hc3.lora.alpha, hc3.lora.dropout, hc3.data.max_length,
            hc3.train.batch_size, hc3.train.epochs) == ("seq-cls", "lora", 8, 16, 0.1, 512, 4, 2)
    assert hc3.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    rbt3 = load_config(RECIPES / "chnsenticorp-rbt3.yaml")
    assert validate(rbt3, deep=False) is rbt3
    assert mapping_of(rbt3.data) == DataMapping("review", "label", ("0", "1"))
    assert (rbt3.model, rbt3.head, rbt3.method) == ("hfl/rbt3", "seq-cls", "full")


def test_training_on_reviews_without_their_mapping_is_refused_with_the_mapping_to_use(tmp_path):
    import pytest

    from core.config.schema import ConfigError, RunConfig
    from core.config.text import apply_overrides

    cfg = apply_overrides(RunConfig(), ["data.train=demo-reviews", "data.validation=", "data.test="])
    with pytest.raises(ConfigError) as caught:
        validate(cfg, tmp_path)
    assert caught.value.key == "data.train"
    assert "train.jsonl:1: review" not in str(caught.value)  # the fraud loader names its own fields
    assert "data.text_column=review data.label_column=label data.label_names=" in str(caught.value)
