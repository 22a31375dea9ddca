"""Serve the page: loopback by default, optional login, Gradio's files kept in the workspace.

Every request first passes `lab.http_guard.RequestGuard` (Host allow-list, login rate limit,
security headers). The server owns the workspace's job queue: at start it records the GPUs it
sees for the jobs it will start, and pumps the queue (jobs queued before a restart start, jobs
whose process died are marked).
"""
from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Iterable

from core.env import workspace_dir
from lab import gradio_temp_dir
from lab.http_guard import LOOPBACK_NAMES, LoginLimiter, RequestGuard, allowed_host_names



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
          warm: bool = True, allowed_hosts: Iterable[str] = (), limiter: LoginLimiter | None = None):
    """Start the lab page. With `block=False` it returns the running app (call `.close()`).

    `warm` starts generating the demo data and building the embedded model in the background,
    so the first click does not wait minutes for them. `allowed_hosts`: Host names accepted
    besides the loopback names and `host` ("*" accepts any).
    """
    workspace = workspace_dir(workspace)
    temp_dir = gradio_temp_dir(workspace)
    temp_dir.mkdir(parents=True, exist_ok=True)
    # Read by gradio at upload time: uploads stay in the workspace, not in the system /tmp.
    os.environ["GRADIO_TEMP_DIR"] = str(temp_dir)
    warning = exposure_warning(host, auth)
    if warning:
        print(warning, file=sys.stderr)

    from fastapi.middleware import Middleware

    from lab.app import LAUNCH_OPTIONS, build_app
    from lab.state import registry_for, warm_up

    registry_for(workspace, owns_queue=True).pump()
    if warm:
        warm_up(workspace)
    app = build_app(workspace, language)
    app.queue(default_concurrency_limit=1)
    guard = Middleware(RequestGuard, allowed_hosts=allowed_host_names(host, allowed_hosts), limiter=limiter)
    app.launch(server_name=host, server_port=port, auth=auth, prevent_thread_lock=not block, quiet=not block,
               allowed_paths=[], max_file_size="500mb", app_kwargs={"middleware": [guard]}, **LAUNCH_OPTIONS)
    return app
