"""The Predict tab with a checkpoint trained on label names: its prompt asks for a label, and the
answer shows the class read and every class's probability, escaped."""
from __future__ import annotations

from core.eval.predict import Prediction
from core.workspace import RunDir
from lab.tab_predict import answer_html, prompt_options


def test_prompt_options_carry_the_checkpoints_label_names(tmp_path):
    RunDir(tmp_path).write_run_info({"label_names": ["正面", "中性", "<负面>"], "max_length": 64,
                                     "head": "seq-cls"})
    options = prompt_options(tmp_path, with_reason=False)
    assert options.label_names == ("正面", "中性", "<负面>") and options.max_length == 64


def test_a_class_answer_shows_its_class_and_every_probability_escaped():
    names = ("正面", "中性", "<负面>")
    answer = Prediction(is_fraud=None, valid=True, raw_text='{"label": "<负面>"}', label=2,
                        probabilities=[0.1, 0.2, 0.7])
    page = answer_html("tuned", answer, "en", names)
    assert "&lt;负面&gt;" in page and "<负面>" not in page
    assert "0.700" in page and "0.100" in page and "70.0%" in page
    invalid = answer_html("base", Prediction(is_fraud=None, valid=False, raw_text="嗯", error="no label"),
                          "en", names)
    assert "no label" in invalid and "0.700" not in invalid
