"""fraud-lab's engine: everything that is not the page. Never imports gradio.

Rooms: `data` (rows -> records -> encoded examples), `demo` (the embedded default), `audit`,
`train`, `eval`, `jobs`, plus `config` (run and evaluation configs), `workspace` (every file and
folder name of a workspace and a run), `models` (finding and loading models) and `env`.

Importing the package sets the offline defaults (core.env) before any of its modules imports
transformers, huggingface_hub or datasets, which read those variables at import time: a model
that is not on disk must fail at once, never turn into a download that hangs.
"""
from core.env import apply_offline_defaults

apply_offline_defaults()
