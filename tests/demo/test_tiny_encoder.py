"""The embedded tiny encoder is a pretrained BERT: its masked-language-model loss fell during the
build, on texts of its own (never a demo validation/test text), and it loads as a classifier whose
only new weights are the head."""
from __future__ import annotations

import json

import pytest
import torch

from core.demo.dataset import generate_demo
from core.demo.reviews import generate_reviews
from core.demo.tiny_encoder import BUILD_INFO_FILE, DEFAULT_STEPS, build_tiny_encoder, pretraining_texts


def test_the_build_pretrained_the_encoder_and_its_mlm_loss_fell(tiny_encoder_dir):
    info = json.loads((tiny_encoder_dir / BUILD_INFO_FILE).read_text(encoding="utf-8"))
    losses = info["losses"]
    assert info["steps"] == DEFAULT_STEPS == len(losses) and info["mlm_probability"] == 0.15
    # It starts at the loss of a uniform guess over the vocabulary and ends well below it.
    assert abs(losses[0] - info["loss_uniform"]) < 0.5
    assert info["loss_end"] < info["loss_start"] - 1.5
    assert sum(losses[-20:]) / 20 == pytest.approx(info["loss_end"], abs=1e-3)


def test_the_encoder_loads_as_a_classifier_with_only_a_new_head(tiny_encoder_dir):
    from transformers import AutoModelForSequenceClassification

    model, loading = AutoModelForSequenceClassification.from_pretrained(
        tiny_encoder_dir, num_labels=3, use_safetensors=True, output_loading_info=True)
    assert sorted(loading["missing_keys"]) == ["classifier.bias", "classifier.weight"]
    assert not loading["unexpected_keys"] and model.config.model_type == "bert"


def test_pretraining_texts_hold_no_demo_validation_or_test_text():
    texts = set(pretraining_texts(dialogues=300, reviews=3000))
    held_out = {row["input"] for split in ("validation", "test") for row in generate_demo()[split]}
    held_out |= {row["review"] for split in ("validation", "test") for row in generate_reviews()[split]}
    assert len(texts) > 1000 and not texts & held_out
    # Without the filter, reviews from another seed do repeat held-out reviews (a small space).
    other = {row["review"] for row in generate_reviews(seed=1_000_037, sizes={"pretrain": 3000})["pretrain"]}
    assert other & held_out


def test_a_build_is_seeded_and_replaces_the_folder_whole(tmp_path):
    from safetensors.torch import load_file

    texts = ["这家酒店的服务很好，早餐也很丰富。", "物流太慢了，很失望！",
             "客服说账户异常，需要转账到安全账户。"] * 20
    first = build_tiny_encoder(tmp_path / "a", texts, hidden=32, layers=1, heads=2, steps=4)
    second = build_tiny_encoder(tmp_path / "b", texts, hidden=32, layers=1, heads=2, steps=4)
    a, b = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[key], b[key], atol=1e-5) for key in a)
    info = json.loads((first / BUILD_INFO_FILE).read_text(encoding="utf-8"))
    assert info["steps"] == 4 and len(info["losses"]) == 4
    build_tiny_encoder(tmp_path / "a", texts, hidden=32, layers=1, heads=2, steps=1)  # a rebuild
    assert json.loads((first / BUILD_INFO_FILE).read_text(encoding="utf-8"))["steps"] == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a", "b"]  # no staging folder left
