"""Predict tab: one dialogue, the base model and a fine-tuned checkpoint answering side by side.

Heavy work belongs in jobs, with one exception here: predicting one dialogue runs in the
handler. It is one prompt through a model that `lab.model_slot.SLOT` keeps loaded between clicks,
under a second on the tiny model (and a few seconds for a small Qwen on a GPU), while a job would
start a process and load the model again for every dialogue, which is what makes a job slow.
Loading happens once per choice of models and the user sees it happen.
"""
from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from core.config.schema import DEMO
from core.data.encoding import EncodeOptions, answer_reserve, encode_prompt, prompt_budget
from core.env import ASSETS_DIR
from core.models import EMBEDDED_MODEL
from core.eval.predict import Prediction
from core.data.records import Record
from core.workspace import run_info_of
from lab.i18n import answer_error, label_names, t
from lab.model_slot import NONE, SLOT, ModelSlot
from lab import resolve
from lab.state import TabContext, load_dataset, user_errors

DEFAULT_MAX_LENGTH = 1024
DEMO_SPLIT = "test"
# Dialogues of the lab's own writing (scams and ordinary talk), in the data format plus a "title".
EXAMPLES_FILE = ASSETS_DIR / "examples" / "dialogues.jsonl"


def example_dialogues(path: Path = EXAMPLES_FILE) -> tuple[list[list[str]], list[str]]:
    """The example dialogues as gr.Examples takes them (one [dialogue] each) and their titles."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [[row["input"]] for row in rows], [row["title"] for row in rows]


def example_dialogue(index: int, path: Path = EXAMPLES_FILE) -> str:
    """The dialogue of example `index`, as the box's value alone.

    Why not gr.Examples' own click: it sends the box's props as they were when the page was built
    along with the value, which put the box's label back in the page's first language after a switch.
    """
    examples, _ = example_dialogues(path)
    return examples[int(index)][0]


def prompt_options(checkpoint: Path | None, with_reason: bool) -> EncodeOptions:
    """The prompt the checkpoint was trained with; the base gets the same one, so the two answers
    differ by the fine-tuning alone (as in an evaluation)."""
    info = run_info_of(checkpoint) if checkpoint is not None else {}
    return EncodeOptions(with_reason=bool(with_reason), instruction=info.get("instruction") or None,
                         system=info.get("system") or None,
                         prompt_template=info.get("prompt_template") or None,
                         max_length=int(info.get("max_length") or DEFAULT_MAX_LENGTH),
                         truncation=info.get("truncation") or "keep_end",
                         label_names=tuple(info.get("label_names") or ()))


@dataclass
class PredictView:
    base: str  # HTML of the base model's answer
    tuned: str  # HTML of the fine-tuned model's answer
    prompt: str  # HTML of the prompt both were given
    status: str  # HTML: models loaded, time taken
    answers: dict  # name -> Prediction, for callers that want the values


def predict(workspace: Path, dialogue: str, base: str, checkpoint: str | None, with_reason: bool,
            language: str, slot: ModelSlot = SLOT) -> PredictView:
    """The base model's and (with a checkpoint) the fine-tuned model's answers to one dialogue."""
    text = (dialogue or "").strip()
    if not text:
        raise gr.Error(t("error.empty_dialogue", language), print_exception=False)
    base_path = resolve.base_model(base, workspace, language)
    checkpoint_path = resolve.checkpoint(checkpoint, workspace,
                                         language) if str(checkpoint or "").strip() else None
    options = prompt_options(checkpoint_path, with_reason)
    record = Record(input=text, label=False)  # the label is not part of the prompt
    started = time.perf_counter()
    loads_before = slot.loads
    with slot.use(workspace, base_path, checkpoint_path) as (base_model, tuned_model):
        loaded = time.perf_counter()
        answers = {"base": base_model.generate([record], options, batch_size=1)[0]}
        if tuned_model is not None:
            answers["tuned"] = tuned_model.generate([record], options, batch_size=1)[0]
        prompt = encode_prompt(base_model.tokenizer, record, options)
        names = slot.describe()
    finished = time.perf_counter()
    tuned_html = (answer_html(t("predict.tuned_title", language, name=str(checkpoint)), answers["tuned"],
                              language, options.label_names)
                  if "tuned" in answers else f"<p>{html.escape(t('predict.no_checkpoint', language))}</p>")
    status = t("predict.status", language, models=", ".join(names), loads=slot.loads - loads_before,
               load_seconds=f"{loaded - started:.1f}", seconds=f"{finished - loaded:.2f}")
    if prompt.truncated:
        status += " " + truncation_text(record, prompt, options, language)
    return PredictView(base=answer_html(t("predict.base_title", language, name=str(base or EMBEDDED_MODEL)),
                                        answers["base"], language, options.label_names),
                       tuned=tuned_html, prompt=prompt_html(prompt.text, language),
                       status=f"<p>{html.escape(status)}</p>", answers=answers)


def truncation_text(record: Record, prompt, options: EncodeOptions, language: str) -> str:
    """What was cut and why: the prompt's budget is max_length less the room kept for the answer
    (far more for an answer with a reason), so a dialogue under max_length can still be shortened."""
    reserve = answer_reserve(options)
    return t("predict.truncated", language, tokens=prompt.untruncated_length, max_length=options.max_length,
             reserve=reserve, budget=prompt_budget(options),
             answer=t("predict.answer_with_reason", language) if options.with_reason else "",
             side=t(f"tok.{options.truncation}", language), removed=len(record.input) - len(prompt.dialogue))


def _row(name: str, value_html: str) -> str:
    return (f'<tr><th style="text-align:left;vertical-align:top;padding:4px 10px 4px 0;white-space:nowrap">'
            f'{html.escape(name)}</th><td style="padding:4px 0">{value_html}</td></tr>')


def _pre(text: str) -> str:
    return ('<pre '
            'style="white-space:pre-wrap;word-break:break-word;margin:0;max-height:300px;overflow:auto">'
            f"{html.escape(text)}</pre>")


def class_answer_html(title: str, answer: Prediction, label_names: tuple[str, ...]) -> str:
    """A dataset with label names: the class read, each class's probability with a bar; escaped."""
    if answer.valid and answer.label is not None:
        verdict = (f'<span style="background:#1f77b4;color:#fff;border-radius:4px;padding:1px 8px">'
                   f"{html.escape(label_names[answer.label])}</span>")
    else:
        verdict = html.escape(f"— {answer.error}")
    rows = [_row("label", verdict)]
    for name, share in zip(label_names, answer.probabilities or []):
        share = max(0.0, min(1.0, float(share)))
        rows.append(_row(name, f'{share:.3f} <span style="display:inline-block;width:160px;height:10px;'
                               f'background:#eee;vertical-align:middle"><span style="display:block;'
                               f'width:{share * 100:.1f}%;height:10px;background:#1f77b4"></span></span>'))
    rows.append(_row("raw", _pre(answer.raw_text or "")))
    return f'<h4>{html.escape(title)}</h4><table style="width:100%">{"".join(rows)}</table>'


def answer_html(title: str, answer: Prediction, language: str, classes: tuple[str, ...] = ()) -> str:
    """One model's answer: is_fraud, P(true) with a bar, fraud_speaker, reason, raw text; escaped.
    `classes`: the label names of a checkpoint trained on them (its answer is a class)."""
    if classes:
        return class_answer_html(title, answer, classes)
    if answer.valid and answer.is_fraud is not None:
        color = "#d62728" if answer.is_fraud else "#1f77b4"
        verdict = (f'<span style="background:{color};color:#fff;border-radius:4px;padding:1px 8px">'
                   f"{html.escape(label_names(language)[bool(answer.is_fraud)])}</span>")
    else:
        verdict = (f'<span style="background:#757575;color:#fff;border-radius:4px;padding:1px 8px">'
                   f"{html.escape(t('eval.invalid', language))}</span>")
        if answer.error:
            verdict += f" {html.escape(answer_error(answer.to_dict(), language))}"
    if answer.p_true is None:
        probability = "—"
    else:
        share = max(0.0, min(1.0, float(answer.p_true)))
        probability = (f'{share:.3f} <span '
                       'style="display:inline-block;width:160px;height:10px;background:#eee;'
                       'vertical-align:middle"><span '
                       f'style="display:block;width:{share * 100:.1f}%;height:10px;'
                       f'background:#d62728"></span></span>')
    rows = [_row(t("predict.is_fraud", language), verdict), _row(t("predict.p_true", language), probability),
            _row(t("predict.speaker", language), html.escape(answer.fraud_speaker or "—")),
            _row(t("predict.reason", language), html.escape(answer.reason or "—")),
            _row(t("predict.raw", language), _pre(answer.raw_text or ""))]
    return f'<h4>{html.escape(title)}</h4><table style="width:100%">{"".join(rows)}</table>'


def prompt_html(prompt: str, language: str) -> str:
    return f"<details><summary>{html.escape(t('predict.prompt', language))}</summary>{_pre(prompt)}</details>"


def demo_row(workspace: Path, index, language: str) -> tuple[str, str]:
    """The dialogue of one demo test row and its gold answer (escaped HTML)."""
    dataset = load_dataset(workspace, DEMO, language=language)
    records = dataset.splits[DEMO_SPLIT]
    position = int(index or 0)
    if not 0 <= position < len(records):
        raise gr.Error(t("error.no_row", language, split=DEMO_SPLIT, index=position, rows=len(records)),
                       print_exception=False)
    record = records[position]
    gold = t("predict.gold", language, label=label_names(language)[record.label],
             speaker=record.fraud_speaker or "—", reason=record.reason or "—")
    return record.input, f"<p>{html.escape(gold)}</p>"


def free_models(language: str, slot: ModelSlot = SLOT) -> str:
    count = slot.free()
    return f"<p>{html.escape(t('predict.freed', language, count=count))}</p>"


def build(context: TabContext) -> None:
    workspace = context.workspace
    with gr.Row():
        with gr.Column(scale=3):
            dialogue_box = context.translated(gr.Textbox(lines=8, max_lines=20,
                                                         label=context.t("predict.dialogue")),
                                              "predict.dialogue")
            with gr.Row():
                row_box = context.translated(gr.Number(0, precision=0, minimum=0,
                                                       label=context.t("predict.demo_row"),
                                                       scale=1), "predict.demo_row")
                row_button = context.translated(gr.Button(context.t("predict.use_row"), scale=1),
                                                "predict.use_row", "value")
            gold_box = gr.HTML()
            examples, titles = example_dialogues()
            example_box = context.translated(gr.Dataset(components=[dialogue_box], samples=examples,
                                                        sample_labels=titles, type="index",
                                                        label=context.t("predict.examples")),
                                             "predict.examples")
        with gr.Column(scale=2):
            base_box = context.translated(gr.Dropdown(resolve.model_choices(workspace), value=EMBEDDED_MODEL,
                                                      allow_custom_value=True,
                                                      label=context.t("predict.base")),
                                          "predict.base")
            checkpoints = resolve.checkpoint_choices(workspace)
            checkpoint_box = context.translated(
                gr.Dropdown([NONE, *checkpoints], value=checkpoints[0] if checkpoints else NONE,
                            label=context.t("predict.checkpoint")), "predict.checkpoint")
            reason_box = context.translated(gr.Checkbox(False, label=context.t("predict.with_reason")),
                                            "predict.with_reason")
            with gr.Row():
                predict_button = context.translated(gr.Button(context.t("predict.run"), variant="primary"),
                                                    "predict.run", "value")
                free_button = context.translated(gr.Button(context.t("predict.free")), "predict.free",
                                                 "value")
                refresh = context.translated(gr.Button(context.t("eval.refresh")), "eval.refresh", "value")
    status = gr.HTML()
    with gr.Row(equal_height=False):
        base_answer, tuned_answer = gr.HTML(), gr.HTML()
    prompt_box = gr.HTML()

    @user_errors
    def predict_dialogue(dialogue, base, checkpoint, with_reason, language):
        view = predict(workspace, dialogue, base, checkpoint, with_reason, language)
        return view.base, view.tuned, view.prompt, view.status

    predict_button.click(predict_dialogue, [dialogue_box, base_box, checkpoint_box, reason_box,
                                            context.language_input],
                         [base_answer, tuned_answer, prompt_box, status])
    free_button.click(free_models, context.language_input, status)

    @user_errors
    def use_demo_row(index, language):
        return demo_row(workspace, index, language)

    row_button.click(use_demo_row, [row_box, context.language_input], [dialogue_box, gold_box])
    example_box.click(example_dialogue, example_box, dialogue_box, show_progress="hidden")

    def refresh_predict_choices():
        found = resolve.checkpoint_choices(workspace)
        return gr.update(choices=resolve.model_choices(workspace)), gr.update(choices=[NONE, *found])

    refresh.click(refresh_predict_choices, None, [base_box, checkpoint_box])
    context.app.load(refresh_predict_choices, None, [base_box, checkpoint_box])
