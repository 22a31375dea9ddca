"""Predict tab: base and fine-tuned answers side by side, the model slot's reuse and freeing, escaping."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import gradio as gr
import pytest

from core.data.records import Record
from lab import tab_predict
from lab.i18n import t
from lab.model_slot import ModelSlot
from lab.resolve import base_model, checkpoint_choices

IMAGE = "<img src=x onerror=alert(1)>"
DIALOGUE = "客服小王: 您好，您的快递丢了，我们三倍理赔，请提供银行卡号和验证码。\n李女士: 验证码是多少位？"


def random_adapter(workspace: Path, base: Path, name: str, seed: int) -> Path:
    """A real LoRA adapter of the tiny model with random (not zero) B matrices, saved as a run.

    Untrained, it still moves the model's answers away from the base's, which is all the page
    needs to show two different answers; it takes a second where training takes minutes.
    `data.train` in config.yaml names the demo training file, as a training run's config does.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from core.models import model_fingerprint

    run_dir = workspace / "runs" / name
    if (run_dir / "adapter" / "adapter_config.json").is_file():
        return run_dir / "adapter"
    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(base)),
                           # alpha 128: the embedded base leans to one answer, and a smaller random
                           # update does not move any of a few dozen answers across it.
                           LoraConfig(r=8, lora_alpha=128, target_modules=["q_proj", "v_proj"],
                                      task_type="CAUSAL_LM", init_lora_weights=False))
    model.save_pretrained(str(run_dir / "adapter"))
    (run_dir / "fraud_lab_run.json").write_text(json.dumps(
        {"base_model": str(base), "model_fingerprint": model_fingerprint(str(base)), "head": "causal-lm",
         "with_reason": False, "max_length": 512}), encoding="utf-8")
    from core.demo.dataset import ensure_demo_dataset

    train = ensure_demo_dataset(workspace)["train"]
    (run_dir / "config.yaml").write_text(f"data:\n  train: {train}\n", encoding="utf-8")
    return run_dir / "adapter"


@pytest.fixture(scope="module")
def adapters(session_workspace, tiny_model_dir, demo_splits) -> list[str]:
    """Two adapters, as the page names them (paths relative to the workspace)."""
    for name, seed in (("20990101-000000-train-ui-a", 0), ("20990101-000001-train-ui-b", 1)):
        random_adapter(session_workspace, tiny_model_dir, name, seed)
    return ["runs/20990101-000000-train-ui-a/adapter", "runs/20990101-000001-train-ui-b/adapter"]


def test_checkpoints_are_listed_newest_run_first(session_workspace, adapters):
    listed = checkpoint_choices(session_workspace)
    assert listed.index(adapters[1]) < listed.index(adapters[0])


def test_base_and_fine_tuned_answer_side_by_side(session_workspace, tiny_model_dir, adapters):
    from core.eval.predict import load_predictor

    slot = ModelSlot()
    view = tab_predict.predict(session_workspace, DIALOGUE, "embedded", adapters[0], False, "en", slot=slot)
    assert set(view.answers) == {"base", "tuned"}
    # The same prompt through freshly loaded models gives the same answers.
    options = tab_predict.prompt_options(session_workspace / adapters[0], False)
    assert options.max_length == 512  # read from the adapter's run
    record = Record(input=DIALOGUE, label=False)
    for name, adapter in (("base", None), ("tuned", session_workspace / adapters[0])):
        predictor = load_predictor(str(tiny_model_dir), adapter=adapter, workspace=session_workspace)
        expected = predictor.generate([record], options, batch_size=1)[0]
        predictor.free()
        answer = view.answers[name]
        assert (answer.raw_text, answer.is_fraud, answer.valid) == (expected.raw_text, expected.is_fraud,
                                                                    expected.valid)
        assert answer.p_true == pytest.approx(expected.p_true, abs=1e-5)
    assert view.answers["base"].p_true != pytest.approx(view.answers["tuned"].p_true, abs=1e-4)
    assert f"{view.answers['base'].p_true:.3f}" in view.base
    assert f"{view.answers['tuned'].p_true:.3f}" in view.tuned
    assert "Fine-tuned: runs/20990101-000000-train-ui-a/adapter" in view.tuned
    # Without a checkpoint only the base answers.
    alone = tab_predict.predict(session_workspace, DIALOGUE, "embedded", "", False, "en", slot=slot)
    assert set(alone.answers) == {"base"} and t("predict.no_checkpoint", "en") in alone.tuned
    slot.free()


def test_slot_loads_once_reloads_on_a_new_choice_and_frees(session_workspace, adapters):
    slot = ModelSlot()
    tab_predict.predict(session_workspace, DIALOGUE, "embedded", adapters[0], False, "en", slot=slot)
    assert slot.loads == 2
    base, tuned = slot.base.predictor, slot.tuned.predictor
    view = tab_predict.predict(session_workspace, DIALOGUE, "tiny", adapters[0], False, "en", slot=slot)
    assert slot.loads == 2 and slot.base.predictor is base and slot.tuned.predictor is tuned
    assert "0 model(s) loaded now" in view.status
    # Another checkpoint: the base stays, the old fine-tuned model is freed before the new one loads.
    tab_predict.predict(session_workspace, DIALOGUE, "embedded", adapters[1], False, "en", slot=slot)
    assert slot.loads == 3 and slot.base.predictor is base
    assert tuned.model is None and slot.tuned.predictor is not tuned
    assert Path(slot.tuned.predictor.adapter_path) == (session_workspace / adapters[1]).resolve()
    second = slot.tuned.predictor
    assert "Freed 2 model(s)." in tab_predict.free_models("en", slot=slot)
    assert slot.base is None and slot.tuned is None and base.model is None and second.model is None
    assert "Freed 0 model(s)." in tab_predict.free_models("en", slot=slot)


def test_free_waits_for_a_prediction_in_progress(session_workspace, tiny_model_dir):
    slot = ModelSlot()
    base = base_model("embedded", session_workspace)
    entered, release, freed = threading.Event(), threading.Event(), threading.Event()

    def hold():
        with slot.use(session_workspace, base, None) as (model, _):
            entered.set()
            release.wait(30)
            assert model.model is not None  # not freed under our feet

    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(60)
    freeing = threading.Thread(target=lambda: (slot.free(), freed.set()))
    freeing.start()
    time.sleep(0.3)
    assert not freed.is_set()  # free() waits for the lock
    release.set()
    holder.join(30)
    freeing.join(30)
    assert freed.is_set() and slot.base is None


def test_empty_dialogue_is_a_readable_error(session_workspace):
    for text in ("", "  \n "):
        with pytest.raises(gr.Error, match=t("error.empty_dialogue", "en")):
            tab_predict.predict(session_workspace, text, "embedded", "", False, "en", slot=ModelSlot())


def test_checkpoint_outside_the_workspace_is_refused(session_workspace, tiny_model_dir):
    with pytest.raises(gr.Error, match="outside"):
        tab_predict.predict(session_workspace, DIALOGUE, "embedded", "../../etc", False, "en",
                            slot=ModelSlot())


def test_html_in_the_dialogue_comes_back_escaped(session_workspace, adapters):
    slot = ModelSlot()
    dialogue = f"骗子: {IMAGE} 请转账\n受害人: 好的"
    view = tab_predict.predict(session_workspace, dialogue, "embedded", adapters[0], False, "en", slot=slot)
    slot.free()
    for text in (view.base, view.tuned, view.prompt, view.status):
        assert "<img" not in text and "<script" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in view.prompt
    # A model that repeats the markup in its answer is escaped in every field too.
    from core.eval.predict import prediction_from_text

    answer = prediction_from_text(json.dumps({"is_fraud": True, "fraud_speaker": IMAGE, "reason": IMAGE},
                                             ensure_ascii=False) + IMAGE, 0.25)
    shown = tab_predict.answer_html(IMAGE, answer, "en")
    assert "<img" not in shown and shown.count("&lt;img src=x onerror=alert(1)&gt;") >= 2


def test_demo_row_fills_the_dialogue(session_workspace, demo_splits):
    rows = [json.loads(line) for line in Path(demo_splits["test"]).read_text(encoding="utf-8").splitlines()]
    dialogue, gold = tab_predict.demo_row(session_workspace, 3, "en")
    assert dialogue == rows[3]["input"]
    assert f"Gold answer: {'fraud' if rows[3]['label'] else 'normal'};" in gold
    with pytest.raises(gr.Error, match="no row 100000"):
        tab_predict.demo_row(session_workspace, 100000, "en")


def test_the_truncation_note_says_what_was_cut_and_why(tiny_tokenizer):
    """A dialogue shorter than max_length is still shortened for an answer with a reason (the answer's
    room comes off the prompt's budget): the note says so instead of "more than max_length"."""
    from core.data.encoding import EncodeOptions, encode_prompt

    options = EncodeOptions(with_reason=True, max_length=384)
    dialogue = "\n".join(f"甲: 第{turn}句，请把验证码告诉我。" for turn in range(40))
    record = Record(input=dialogue, label=False)
    prompt = encode_prompt(tiny_tokenizer, record, options)
    lines = 40
    while prompt.untruncated_length >= options.max_length:  # keep it under max_length, as in the report
        lines -= 2
        record = Record(input="\n".join(dialogue.splitlines()[:lines]), label=False)
        prompt = encode_prompt(tiny_tokenizer, record, options)
    assert prompt.truncated and prompt.untruncated_length < options.max_length
    removed = len(record.input) - len(prompt.dialogue)
    text = tab_predict.truncation_text(record, prompt, options, "en")
    assert f"The prompt needs {prompt.untruncated_length} tokens; of max_length 384, 192 are kept for the " \
           f"model's answer (with fraud_speaker and reason), leaving 192 for the prompt" in text
    assert f"{removed} characters were cut" in text and removed > 0
    assert "截去" in tab_predict.truncation_text(record, prompt, options, "zh")


def test_an_invalid_answer_says_why_in_the_page_language():
    import html

    from core.eval.predict import prediction_from_text

    cases = (("", "答案为空"), ('{"is_fraud": "maybe"}', "is_fraud 的值是 'maybe'"),
             ('{"speaker": "x"}', "没有 is_fraud 字段"), ("我不知道", "没有含 is_fraud 的 JSON"))
    for text, chinese in cases:
        answer = prediction_from_text(text, None)
        assert not answer.valid and answer.error_kind
        shown = html.unescape(tab_predict.answer_html("base", answer, "zh"))
        assert chinese in shown and answer.error not in shown
        assert answer.error in html.unescape(tab_predict.answer_html("base", answer, "en"))


def test_an_example_fills_the_dialogue_and_leaves_its_label_in_the_switched_language(tmp_path):
    """A click on an example sends the dialogue alone: gr.Examples also re-sent the box's label as
    built, which turned the box's label back to 中文 on the English page."""
    from lab.app import build_app

    app = build_app(tmp_path, "zh")
    examples, titles = tab_predict.example_dialogues()
    context = app.lab_context
    [box] = [component for component, _ in context.translations
             if getattr(component, "label", None) == t("predict.examples", "zh")]
    assert box.sample_labels == titles
    [click] = [function for function in app.fns.values()
               if any(target == box._id and event == "click" for target, event in function.targets)]
    for index, (dialogue,) in enumerate(examples):
        filled = click.fn(index)
        assert filled == dialogue  # the value, and no label or other prop of the page as built
    [dialogue_box] = click.outputs
    relabel = next(update for component, update in context.translations if component is dialogue_box)
    assert relabel("en") == {"label": t("predict.dialogue", "en")}
