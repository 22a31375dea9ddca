"""The optional vLLM backend: which backend runs, refusals said before a model loads, and (only
where vllm is installed and a GPU is visible) the same answers as the transformers predictor."""
from __future__ import annotations

import pytest
import torch

from core.data.encoding import EncodeOptions
from core.config.schema import ConfigProblems, EvalConfig
from core.eval.evaluation import validate_eval
from core.models import ModelError
from core.eval.predict import load_predictor
from core.data.records import load_records
from core.eval.vllm_backend import resolve_backend, vllm_available


def test_auto_runs_transformers_on_a_cpu_and_for_classifier_heads():
    assert resolve_backend("auto", "cpu") == "transformers"
    assert resolve_backend(None, "cpu") == "transformers"
    assert resolve_backend("transformers", "cuda:0") == "transformers"
    assert resolve_backend("auto", "cuda:0", head="seq_cls") == "transformers"
    assert resolve_backend("auto", "cuda:0") == ("vllm" if vllm_available() else "transformers")


def test_vllm_where_it_cannot_run_is_refused_with_the_reason():
    with pytest.raises(ModelError, match="backend must be one of auto, transformers, vllm"):
        resolve_backend("tgi", "cpu")
    with pytest.raises(ModelError, match="not installed" if not vllm_available() else "CUDA GPU"):
        resolve_backend("vllm", "cpu")


def test_an_evaluation_asking_for_vllm_on_a_cpu_is_refused_before_any_model_loads(tiny_model_dir):
    with pytest.raises(ConfigProblems, match="backend vllm"):
        validate_eval(EvalConfig(model=str(tiny_model_dir), data="demo", backend="vllm", device="cpu"))


@pytest.mark.skipif(not vllm_available() or not torch.cuda.is_available(),
                    reason="vllm is not installed here (it needs a CUDA machine)")
def test_vllm_answers_like_the_transformers_predictor_with_and_without_an_adapter(
        session_workspace, tiny_model_dir, demo_splits):
    from tests.test_predict import build_tiny_adapter

    rows = load_records(demo_splits["test"]).records[:64]
    adapter = build_tiny_adapter(session_workspace, tiny_model_dir, demo_splits["train"])
    for options in (EncodeOptions(max_length=512), EncodeOptions(with_reason=True, max_length=512)):
        for adapter_path in (None, adapter):
            reference = load_predictor(str(tiny_model_dir), adapter_path, device="cuda", precision="fp32",
                                       workspace=session_workspace)
            expected = reference.generate(rows, options)
            reference.free()
            served = load_predictor(str(tiny_model_dir), adapter_path, device="cuda", precision="fp32",
                                    workspace=session_workspace, backend="vllm")
            assert served.backend == "vllm"
            answers = served.generate(rows, options)
            scored = served.score(rows, options)
            served.free()
            same = sum(a.is_fraud == b.is_fraud and a.valid == b.valid for a, b in zip(answers, expected))
            assert same >= 0.99 * len(rows)
            for answer, reference_answer, score in zip(answers, expected, scored):
                assert answer.p_true == pytest.approx(reference_answer.p_true, abs=1e-3)
                assert score.p_true == pytest.approx(answer.p_true, abs=1e-6)
