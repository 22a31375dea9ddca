"""The embedded default's loop, reduced: the default LoRA recipe, fewer steps, fewer test rows.

A regression back to "fine-tuning learns nothing" (a flat loss, answers at chance, answers that
are not JSON) fails here. bench/demo_loop.py runs the full loop with the figures that judge it.
"""
from __future__ import annotations

import json

import pytest

from core.config.schema import RunConfig
from core.config.text import apply_overrides
from core.data.encoding import EncodeOptions
from core.data.records import load_records

STEPS = 120
TEST_ROWS = 80


# In the workspace's runs/ (named as the oldest run), where the Predict tab takes its checkpoints from.
RUN_NAME = "20000101-000000-train-demo-loop"
# Two dialogues written for this test, not taken from the demo: an "old friend" on a new number who
# needs money at once, sent to someone else's card, and asks for secrecy (the red flags of the demo's
# commonest scheme, in words of its own); friends fixing a class reunion. Hand-written dialogues far
# from the demo's schemes are not read reliably by the embedded model (see README, "The embedded default").
SCAM = ("赵磊: 老钱，是我，赵磊，我手机丢了，这是新号。\n"
        "钱伟: 赵磊？好久没见了。\n"
        "赵磊: 我在成都出差，钱包被偷了，急需5600元周转，你先转给我，回去马上还你。\n"
        "赵磊: 你直接转到这个卡号，是我朋友的卡。\n"
        "赵磊: 这事你别跟其他人说，挺丢人的。\n"
        "钱伟: 嗯，那我凑一凑。")
ORDINARY = ("李娜: 周五晚上同学聚会，你来吗？\n"
            "王强: 来啊，在哪儿？\n"
            "李娜: 老地方那家烤肉店，七点。\n"
            "王强: 好，我下班直接过去。\n"
            "李娜: 那到时候见。")


@pytest.fixture(scope="module")
def trained(tiny_model_dir, demo_splits, session_workspace):
    from core.train.training import train_run

    cfg = apply_overrides(RunConfig(), [f"train.max_steps={STEPS}", "train.eval_every=0",
                                        "train.save_every=0", "data.validation=", "data.validation_split=0",
                                        "data.test="])
    run_dir = session_workspace / "runs" / RUN_NAME
    summary = train_run(cfg, run_dir, session_workspace)
    return run_dir, summary


@pytest.fixture(scope="module")
def test_rows(demo_splits):
    records = load_records(demo_splits["test"]).records
    # Both labels and the hard pairs, in file order: the first rows of a shuffled split.
    return records[:TEST_ROWS]


def accuracy(predictions, records) -> float:
    return sum(prediction.valid and prediction.is_fraud == record.label
               for prediction, record in zip(predictions, records)) / len(records)


def test_the_default_recipe_is_lora_and_its_loss_falls(trained):
    run_dir, summary = trained
    config = json.loads((run_dir / "fraud_lab_run.json").read_text(encoding="utf-8"))
    assert config["method"] == "lora" and (run_dir / "adapter" / "adapter_config.json").is_file()
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [line["loss"] for line in lines if line["kind"] == "train"]
    # From a base that has never seen the answer format to a loss near that of the verdict alone.
    assert losses[0] > 1.0 and summary["train_loss"] < 0.2, losses


def test_fine_tuned_beats_the_base_by_a_wide_margin_with_valid_answers(trained, test_rows, tiny_model_dir):
    from core.eval.predict import load_predictor

    run_dir, _ = trained
    options = EncodeOptions(max_length=384)
    base = load_predictor(str(tiny_model_dir), device="cpu")
    base_scores = base.score(test_rows, options)
    base_answers = base.generate(test_rows, options)
    base.free()
    tuned = load_predictor(None, adapter=run_dir, device="cpu")
    tuned_scores = tuned.score(test_rows, options)
    tuned_answers = tuned.generate(test_rows, options)

    base_score, tuned_score = accuracy(base_scores, test_rows), accuracy(tuned_scores, test_rows)
    base_generated, tuned_generated = accuracy(base_answers, test_rows), accuracy(tuned_answers, test_rows)
    valid = sum(answer.valid for answer in tuned_answers) / len(tuned_answers)
    print(f"score mode: base {base_score:.3f}, fine-tuned {tuned_score:.3f}; "
          f"generate: base {base_generated:.3f}, "
          f"fine-tuned {tuned_generated:.3f} with {valid:.0%} valid answers")
    assert base_score <= 0.65 and base_generated <= 0.65
    # 120 steps reach ~0.91 here; the full default run (200 steps) reaches ~0.99 on the whole split.
    assert tuned_score >= base_score + 0.25 and tuned_score >= 0.75
    assert valid >= 0.9 and tuned_generated >= 0.75
    # Greedy decoding and one-forward scoring read the same two logits.
    agree = sum(answer.is_fraud == score.is_fraud for answer, score in zip(tuned_answers, tuned_scores)
                if answer.valid)
    assert agree >= 0.95 * sum(answer.valid for answer in tuned_answers)


@pytest.mark.parametrize("dialogue, verdict", [(SCAM, True), (ORDINARY, False)], ids=["scam", "ordinary"])
def test_predict_tab_answers_valid_json_with_the_right_verdict(trained, session_workspace, dialogue, verdict):
    from lab import tab_predict
    from lab.i18n import label_names
    from lab.model_slot import ModelSlot

    slot = ModelSlot()
    try:
        view = tab_predict.predict(session_workspace, dialogue, "embedded", f"runs/{RUN_NAME}/adapter", False,
                                   "en", slot=slot)
    finally:
        slot.free()
    tuned = view.answers["tuned"]
    assert tuned.valid and json.loads(tuned.raw_text) == {"is_fraud": verdict}, tuned.raw_text
    assert f">{label_names('en')[verdict]}</span>" in view.tuned  # the verdict the page shows
