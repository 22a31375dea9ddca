"""The embedded tiny Qwen2 model: loads like a hub model, is a language model, builds reproducibly,
and learned nothing about fraud labels before fine-tuning."""
from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest
import torch
from tests.paths import QWEN_TOKENIZER, require_shared
from transformers import AutoModelForCausalLM, AutoTokenizer

from core.demo import tiny_corpus, tiny_model
from core.demo.tiny_model import ENDOFTEXT, IM_END, IM_START, build_tiny_model, ensure_tiny_model, is_built

SHORT_STEPS = 12


@pytest.fixture(scope="module")
def texts() -> list[str]:
    # Fewer dialogues than the default build: short builds need only a tokenizer and a few steps.
    return tiny_corpus.demo_pretraining_dialogues(600)


@pytest.fixture(scope="module")
def short_build(tmp_path_factory, texts) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("short") / "model", texts, seed=7, steps=SHORT_STEPS)


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir), AutoModelForCausalLM.from_pretrained(tiny_model_dir)


def read_info(folder: Path) -> dict:
    return json.loads((folder / "build_info.json").read_text(encoding="utf-8"))


def test_default_build_loads_like_a_hub_qwen2_model(tiny_model_dir, loaded):
    tokenizer, model = loaded
    assert (tiny_model_dir / "model.safetensors").is_file()
    assert not (tiny_model_dir / "pytorch_model.bin").exists()
    assert type(model).__name__ == "Qwen2ForCausalLM" and type(tokenizer).__name__ == "Qwen2Tokenizer"
    assert (tokenizer.eos_token, tokenizer.pad_token) == (IM_END, ENDOFTEXT)
    eos_ids = [tokenizer.convert_tokens_to_ids(IM_END), tokenizer.convert_tokens_to_ids(ENDOFTEXT)]
    assert model.generation_config.eos_token_id == eos_ids
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id
    # Untied, so that LoRA on the input embedding merges into the input side only.
    assert not model.config.tie_word_embeddings and model.config.max_position_embeddings == 2048
    assert model.config.vocab_size == len(tokenizer)
    assert 6000 <= len(tokenizer) <= 8000
    info = read_info(tiny_model_dir)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    assert parameters == info["parameters"]
    assert 5_000_000 <= parameters <= 20_000_000
    assert info["steps"] == tiny_model.DEFAULT_STEPS and info["seed"] == tiny_model.DEFAULT_SEED


def test_pretraining_took_the_loss_well_below_uniform(tiny_model_dir, loaded, texts):
    info = read_info(tiny_model_dir)
    uniform = math.log(info["vocab_size"])
    # A fresh model guesses about uniformly; the trained one must be far better.
    assert abs(info["loss_start"] - uniform) < 0.5
    assert info["loss_end"] < info["loss_start"] - 3.0
    tail = info["losses"][-10:]
    assert info["loss_end"] == pytest.approx(sum(tail) / len(tail), abs=1e-3)
    # The saved weights, not only the log, must carry the training.
    tokenizer, model = loaded
    documents = tiny_corpus.pretraining_documents(tokenizer, texts[-10:], 384, seed=5)
    ids = torch.tensor([[token for document in documents for token in document][:256]])
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss.item()
    assert loss < uniform - 3.0


def test_chinese_and_unseen_text_round_trip_exactly(loaded, texts):
    tokenizer, _ = loaded
    samples = [
        texts[0],
        "李婷: 怎么提现不了了？平台显示异常了！\n张建辉: 别着急，我去联系一下客服。",
        "龘靐齉 生僻字、emoji 😀 and ASCII 123.45 %\t tabs\r\n",
        '{"is_fraud": true, "fraud_speaker": "赵专员", "reason": "刷单返利"}',
    ]
    for text in samples:
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert tokenizer.decode(ids) == text
    # The BPE learned Chinese words: fewer tokens than characters on a training dialogue.
    assert len(tokenizer.encode(texts[0], add_special_tokens=False)) < len(texts[0])


def test_chat_template_is_qwen2_chatml(loaded):
    tokenizer, _ = loaded
    messages = [{"role": "user", "content": "对话：\n张三: 转账给我"}]
    expected = (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n对话：\n张三: 转账给我<|im_end|>\n<|im_start|>assistant\n"
    )
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == expected
    # transformers 5 returns a BatchEncoding for tokenize=True unless return_dict=False.
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True,
                                        return_dict=False)
    assert isinstance(ids, list) and all(isinstance(token, int) for token in ids)
    assert ids == tokenizer.encode(expected, add_special_tokens=False)
    suffix = tokenizer.encode(IM_START + "assistant\n", add_special_tokens=False)
    assert suffix[0] == tokenizer.convert_tokens_to_ids(IM_START) and ids[-len(suffix):] == suffix
    assert tokenizer.decode(ids) == expected
    assert ids.count(tokenizer.convert_tokens_to_ids(IM_START)) == 3


def test_chat_template_renders_as_the_real_qwen_tokenizer(loaded):
    real = AutoTokenizer.from_pretrained(require_shared(QWEN_TOKENIZER))
    tokenizer, _ = loaded
    messages = [{"role": "system", "content": "你是专家"}, {"role": "user", "content": "你好"},
                {"role": "assistant", "content": '{"is_fraud": false}'}]
    for generation_prompt in (False, True):
        assert tokenizer.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=generation_prompt) == \
            real.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def test_greedy_generation_runs_and_stops_at_end_of_turn(loaded):
    tokenizer, model = loaded
    messages = [{"role": "user", "content": "张三: 你好，我是银行客服，你的账户有异常。\n李四: 真的吗？"}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
    output = model.generate(torch.tensor([prompt]), max_new_tokens=120, do_sample=False)
    generated = output[0, len(prompt):].tolist()
    # Pretraining ends every turn with <|im_end|>, so the model ends its turn well before the cap.
    assert 0 < len(generated) < 120
    assert generated[-1] in model.generation_config.eos_token_id
    again = model.generate(torch.tensor([prompt]), max_new_tokens=120, do_sample=False)
    assert torch.equal(output, again)


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path, short_build, texts):
    again = build_tiny_model(tmp_path / "again", texts, seed=7, steps=SHORT_STEPS)
    other = build_tiny_model(tmp_path / "other", texts, seed=8, steps=SHORT_STEPS)
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json", "model.safetensors"):
        assert (short_build / name).read_bytes() == (again / name).read_bytes(), name
    assert (short_build / "model.safetensors").read_bytes() != (other / "model.safetensors").read_bytes()
    assert read_info(short_build)["losses"] == read_info(again)["losses"]


def test_a_failed_build_keeps_the_previous_model_and_leaves_no_half_folder(tmp_path, texts, monkeypatch):
    target = tmp_path / "model"
    build_tiny_model(target, texts, seed=7, steps=2)
    before = (target / "model.safetensors").read_bytes()

    def interrupted(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tiny_model.Qwen2ForCausalLM, "save_pretrained", interrupted)
    with pytest.raises(OSError, match="disk full"):
        build_tiny_model(target, texts, seed=7, steps=2)
    assert (target / "model.safetensors").read_bytes() == before and is_built(target)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]


def test_unusable_input_is_refused_with_a_reason(tmp_path, texts):
    with pytest.raises(ValueError, match="fewer than one document"):
        build_tiny_model(tmp_path / "model", ["你好"], steps=1)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        build_tiny_model(tmp_path / "model", texts, steps=0)
    assert not (tmp_path / "model").exists()


def test_concurrent_ensure_builds_once(tmp_path, monkeypatch):
    builds = []
    real_build = tiny_model.build_tiny_model

    def counted(*args, **kwargs):
        builds.append(args[0])
        return real_build(*args, **kwargs)

    monkeypatch.setattr(tiny_model, "build_tiny_model", counted)
    results = []
    workers = [threading.Thread(target=lambda: results.append(ensure_tiny_model(tmp_path, steps=2)))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert results == [tmp_path / "cache" / "tiny-model"] * 2
    assert len(builds) == 1 and is_built(results[0])
    AutoModelForCausalLM.from_pretrained(results[0])
    # A built model is returned as is.
    assert ensure_tiny_model(tmp_path) == results[0] and len(builds) == 1



def test_pretraining_never_pairs_a_dialogue_with_a_verdict(tiny_tokenizer, texts):
    documents = [tiny_tokenizer.decode(ids)
                 for ids in tiny_corpus.pretraining_documents(tiny_tokenizer, texts[:300], 384, 1)]
    with_dialogue = [text for text in documents if "<|im_start|>user" in text]
    answers = [text for text in documents if "is_fraud\": " in text]
    assert len(with_dialogue) > 250 and len(answers) > 30
    for text in with_dialogue:
        # The assistant continues the conversation; no verdict follows a dialogue.
        assert "is_fraud\": " not in text.split("<|im_start|>assistant", 1)[1]
    for text in answers:
        assert "<|im_start|>user" not in text


def test_demo_pretraining_leaves_out_the_demo_evaluation_dialogues():
    from core.demo.dataset import generate_demo

    held_out = {row["input"] for name in ("validation", "test") for row in generate_demo()[name]}
    dialogues = tiny_corpus.demo_pretraining_dialogues()
    assert len(dialogues) > 5000 and not held_out & set(dialogues)
    # Another seed than the demo dataset's: mostly other conversations, not the training rows either.
    train = {row["input"] for row in generate_demo()["train"]}
    assert len(train & set(dialogues)) < 0.05 * len(train)


def test_file_dialogues_reads_the_input_texts_and_nothing_else(tmp_path):
    rows = [{"input": "甲: 你好\n乙: 在吗", "label": "not a label", "reason": "ignored"},
            {"input": "   ", "label": True}, {"label": False}, {"input": "丙: 转账给我", "label": None}]
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n", encoding="utf-8")
    listed = tmp_path / "train.json"
    listed.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    table = tmp_path / "train.csv"
    table.write_text("input,label\n\"甲: 你好\n乙: 在吗\",maybe\n,1\n丙: 转账给我,\n", encoding="utf-8")
    for path in (jsonl, listed, table):
        assert tiny_corpus.file_dialogues(path) == ["甲: 你好\n乙: 在吗", "丙: 转账给我"], path
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"label": True}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no row with a non-empty 'input'"):
        tiny_corpus.file_dialogues(empty)


def test_a_model_built_from_a_file_learns_that_files_words(tmp_path):
    rows = [{"input": f"阿尔法{index}号: 请把麒麟贝壳币转到星云钱包\n贝塔: 好的，星云钱包收到了",
             "label": index % 2 == 0}
            for index in range(80)]
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    built = tiny_model.ensure_tiny_model_for_file(tmp_path / "workspace", data, steps=2)
    assert built.name.startswith("tiny-mine-") and is_built(built)
    info = read_info(built)
    assert info["source"] == str(data.resolve()) and info["dialogues"] == 80
    tokenizer = AutoTokenizer.from_pretrained(built)
    # Words of the file are whole tokens of its tokenizer, as demo words are of the demo's.
    assert len(tokenizer.encode("星云钱包", add_special_tokens=False)) <= 2
    assert tiny_model.ensure_tiny_model_for_file(tmp_path / "workspace", data, steps=2) == built
