"""Configs: `RunConfig` (a training run) and `EvalConfig` (an evaluation) as the single source.

    schema.py  the dataclasses and their field metadata (type, default, help, choices), ConfigError
    text.py    their text forms: YAML, `--set key=value`, the command line (flags and `python -m lab` lines)
    checks.py  their values checked against files, the model, the device and the libraries

The page's forms (lab.config_form), the CLI, config.yaml in each run folder and the job all go
through these three modules.
"""
