"""What a user typed or picked on the page: a data file, a base model, a checkpoint or a tokenizer.

Every path goes through the workspace check first (`user_path`): it must lie under the workspace
or the repository's assets/ folder, after symlinks are resolved. Only text that is not a folder
there, and that has a hub id's form ("Qwen/Qwen2-1.5B-Instruct"), is taken as a hub id, which the
lab opens from the local hub cache only. The lists the dropdowns offer come from the same walk
over the same roots, so what a list offers is what the resolver accepts.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from core.config.schema import DEMO
from core.demo.reviews import DEMO_REVIEWS, REVIEWS_DIR
from core.demo.tiny_encoder import EMBEDDED_ENCODER
from core.env import ASSETS_DIR, PathOutsideWorkspace, resolve_user_path
from core.models import EMBEDDED_ALIASES, EMBEDDED_MODEL, ENCODER_ALIASES, in_hub_cache, is_hub_id
from core.workspace import ADAPTER_CONFIG_FILE, CACHE_DIR, OUTPUT_FOLDERS, RUNS_DIR, UPLOADS_DIR, RunDir
from lab.i18n import DEFAULT_LANGUAGE, t

ASSETS_PREFIX = "assets/"
DATA_SUFFIXES = (".jsonl", ".json", ".csv")
SEARCH_DEPTH = 4
MODEL_FILE, TOKENIZER_FILE = "config.json", "tokenizer_config.json"
# Not data a user brought (uploads are): the lab's own outputs. Runs are listed as checkpoints.
# assets/examples holds the Predict tab's example dialogues, not a dataset to train or evaluate on.
# demo-reviews/ holds the second demo's files, offered by its name.
NOT_DATA_FOLDERS = (set(OUTPUT_FOLDERS) - {UPLOADS_DIR}) | {"examples", REVIEWS_DIR}
NOT_BASE_MODEL_FOLDERS = set(OUTPUT_FOLDERS)


def _error(key: str, language: str, **values) -> gr.Error:
    return gr.Error(t(key, language, **values), print_exception=False)


def roots(workspace: Path) -> list[Path]:
    return [Path(workspace), ASSETS_DIR]


# -- resolving -------------------------------------------------------------------------------------
def user_path(text: str | Path, workspace: Path, language: str = DEFAULT_LANGUAGE) -> Path:
    """A typed path resolved under the workspace (relative paths) or assets ("assets/..."); anything
    else is a gr.Error."""
    text = str(text).strip()
    if text.startswith(ASSETS_PREFIX):
        text = str(ASSETS_DIR / text[len(ASSETS_PREFIX):])
    try:
        return resolve_user_path(text, roots(workspace))
    except PathOutsideWorkspace:
        raise _error("error.outside", language, path=text) from None


def display_path(path: Path | str, workspace: Path) -> str:
    """Workspace files by their relative path; the page never shows where the workspace lies."""
    path = Path(path)
    try:
        return path.resolve().relative_to(Path(workspace).resolve()).as_posix()
    except ValueError:
        pass
    try:
        return ASSETS_PREFIX + path.resolve().relative_to(ASSETS_DIR.resolve()).as_posix()
    except ValueError:
        return path.name


def data_file(text: str, workspace: Path, language: str = DEFAULT_LANGUAGE) -> str:
    """"demo" / "demo-reviews", or the absolute path of an existing data file under the allowed roots."""
    text = str(text or "").strip()
    if text in (DEMO, DEMO_REVIEWS):
        return text
    if not text:
        raise _error("error.no_dataset", language)
    path = user_path(text, workspace, language)
    if not path.is_file():
        raise _error("error.not_a_file", language, path=text)
    return str(path)


def embedded_model(workspace: Path, language: str = DEFAULT_LANGUAGE) -> Path:
    """The embedded model's folder; while it is still being built, a gr.Error that says so.

    Building takes minutes on a CPU, far too long for a handler: it runs in the background
    (started by `warm_up` when the server starts, or here on first use).
    """
    from core.demo.tiny_model import ensure_tiny_model, is_built
    from core.workspace import Workspace
    from lab.state import in_background

    folder = Workspace(workspace).tiny_model_dir
    if is_built(folder):
        return folder
    in_background("tiny-model", lambda: ensure_tiny_model(Path(workspace)))
    raise _error("error.model_building", language)


def embedded_encoder(workspace: Path, language: str = DEFAULT_LANGUAGE) -> Path:
    """The embedded tiny encoder's folder; while it is still being built, a gr.Error that says so.

    Its masked-language-model pretraining takes about a minute on a CPU: like the embedded model it
    is built in the background on first use.
    """
    from core.demo.tiny_encoder import encoder_dir, ensure_tiny_encoder, is_built
    from lab.state import in_background

    folder = encoder_dir(workspace)
    if is_built(folder):
        return folder
    in_background("tiny-encoder", lambda: ensure_tiny_encoder(Path(workspace)))
    raise _error("error.model_building", language)


def base_model(text: str, workspace: Path, language: str = DEFAULT_LANGUAGE) -> str:
    """What load_predictor, a RunConfig or an EvalConfig get as the model: the embedded model's
    folder, a model folder under the allowed roots, or a hub id (checked in that order)."""
    text = str(text or "").strip()
    if text in EMBEDDED_ALIASES:
        return str(embedded_model(workspace, language))
    if text in ENCODER_ALIASES:
        return str(embedded_encoder(workspace, language))
    folder = user_path(text, workspace, language)
    if folder.is_dir():
        return str(folder)
    if is_hub_id(text):
        # Said here, before a model loads: transformers would say "couldn't connect to huggingface.co".
        if not in_hub_cache(text):
            raise _error("error.hub_not_cached", language, model=text)
        return text
    raise _error("error.not_a_folder", language, path=text)


def checkpoint(text: str, workspace: Path, language: str = DEFAULT_LANGUAGE) -> Path:
    """A checkpoint choice as a folder under the allowed roots: an adapter, a run folder holding
    adapter/ or model/, a Trainer checkpoint, or a full fine-tune's model folder."""
    folder = user_path(text, workspace, language)
    if not folder.is_dir():
        raise _error("error.not_a_folder", language, path=str(text))
    return folder


def tokenizer_folder(text: str, workspace: Path, language: str = DEFAULT_LANGUAGE) -> Path:
    """The folder holding the tokenizer a choice names (the embedded model's, or a model folder)."""
    text = str(text or "").strip()
    if text in EMBEDDED_ALIASES:
        return embedded_model(workspace, language)
    if text in ENCODER_ALIASES:
        return embedded_encoder(workspace, language)
    return checkpoint(text, workspace, language)


# -- listing ---------------------------------------------------------------------------------------
def _walk(folder: Path, skip: set[str], depth: int = SEARCH_DEPTH):
    """Files under `folder`, `depth` levels deep, leaving out hidden entries, links and the
    top-level folders named in `skip`."""
    if depth < 0 or not folder.is_dir():
        return
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_dir():
            if depth == SEARCH_DEPTH and entry.name in skip:
                continue
            yield from _walk(entry, set(), depth - 1)
        else:
            yield entry


def _found(workspace: Path, skip: set[str], keep) -> list[str]:
    return [display_path(path, workspace) for root in roots(Path(workspace)) for path in _walk(root, skip)
            if keep(path)]


def dataset_choices(workspace: Path) -> list[str]:
    """"demo", then data files under the workspace (relative paths) and assets; the JSON files of a
    model or tokenizer folder are not data."""
    def is_data(path: Path) -> bool:
        return path.suffix.lower() in DATA_SUFFIXES and not any(
            (path.parent / name).is_file() for name in (MODEL_FILE, TOKENIZER_FILE, ADAPTER_CONFIG_FILE))

    return [DEMO, DEMO_REVIEWS] + _found(workspace, NOT_DATA_FOLDERS, is_data)


def is_model_folder(folder: Path) -> bool:
    """A whole model (config.json) rather than an adapter."""
    return (folder / MODEL_FILE).is_file() and not (folder / ADAPTER_CONFIG_FILE).is_file()


def model_choices(workspace: Path) -> list[str]:
    """"embedded", then model folders (config.json and a tokenizer, no adapter) outside the lab's
    own output folders: what a run or an evaluation can take as its base."""
    return [EMBEDDED_MODEL, EMBEDDED_ENCODER] + [str(Path(choice).parent.as_posix()) for choice in _found(
        workspace, NOT_BASE_MODEL_FOLDERS,
        lambda path: path.name == TOKENIZER_FILE and is_model_folder(path.parent))]


def tokenizer_choices(workspace: Path) -> list[str]:
    """"embedded", then every folder holding a tokenizer (models, adapters, exported models)."""
    # cache/ holds the embedded models, listed by their names.
    return [EMBEDDED_MODEL, EMBEDDED_ENCODER] + [str(Path(choice).parent.as_posix()) for choice in _found(
        workspace, {CACHE_DIR}, lambda path: path.name == TOKENIZER_FILE)]


def checkpoint_choices(workspace: Path) -> list[str]:
    """Adapters and full fine-tunes of the workspace's runs (a K-fold run's folds too), newest run
    first (run ids start with their time), as paths relative to the workspace."""
    runs = Path(workspace) / RUNS_DIR
    found = []
    for run in sorted(runs.iterdir()) if runs.is_dir() else []:
        if run.is_symlink() or not run.is_dir():
            continue
        for folder in [RunDir(run)] + RunDir(run).folds():
            for output in (folder.adapter_dir, folder.model_dir):
                trained = (output / ADAPTER_CONFIG_FILE).is_file() or is_model_folder(output)
                if trained and not output.is_symlink():
                    found.append(output.relative_to(Path(workspace)).as_posix())
    return sorted(found, key=lambda text: (text.split("/")[1], text), reverse=True)
