"""Serve the page: loopback by default, optional login, Gradio's files kept in the workspace."""
from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

from core.env import workspace_dir
from lab import gradio_temp_dir

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, auth) -> str | None:
    if is_loopback(host) or auth:
        return None
    return (f"WARNING: serving on {host} without --auth: anyone who can reach this address can read the "
            f"workspace's data and start jobs. Add --auth USER:PASS, or serve on 127.0.0.1.")


def serve(host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
          workspace: str | Path | None = None, language: str = "zh", block: bool = True,
          warm: bool = True):
    """Start the lab page. With `block=False` it returns the running app (call `.close()`).

    `warm` starts generating the demo data and building the embedded model in the background,
    so the first click does not wait minutes for them.
    """
    workspace = workspace_dir(workspace)
    temp_dir = gradio_temp_dir(workspace)
    temp_dir.mkdir(parents=True, exist_ok=True)
    # Read by gradio at upload time: uploads stay in the workspace, not in the system /tmp.
    os.environ["GRADIO_TEMP_DIR"] = str(temp_dir)
    warning = exposure_warning(host, auth)
    if warning:
        print(warning, file=sys.stderr)

    from lab.app import LAUNCH_OPTIONS, build_app
    from lab.state import warm_up

    if warm:
        warm_up(workspace)
    app = build_app(workspace, language)
    app.queue(default_concurrency_limit=1)
    app.launch(server_name=host, server_port=port, auth=auth, prevent_thread_lock=not block, quiet=not block,
               allowed_paths=[], max_file_size="500mb", **LAUNCH_OPTIONS)
    return app
