"""The page shell: both languages, the language switch, the footer, login on a real server."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from lab.app import build_app
from lab.i18n import EN, ZH, t
from lab.http_guard import LoginLimiter, allowed_host_names, host_name, machine_names
from lab.server import exposure_warning, is_loopback, serve


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _labels(app) -> set[str]:
    return {component["props"].get("label") for component in app.config["components"]} - {None}


def test_both_languages_hold_the_same_keys():
    assert set(ZH) == set(EN)
    untranslated = [key for key in ZH if ZH[key] == EN[key] and key != "app.language"]
    assert untranslated == []


def test_build_app_in_both_languages_and_switch(tmp_path):
    chinese, english = build_app(tmp_path, "zh"), build_app(tmp_path, "en")
    assert {t("tab.data", "zh"), t("tab.tokenize", "zh"), t("data.search", "zh")} <= _labels(chinese)
    assert {"Data", "Tokenize", t("data.search", "en")} <= _labels(english)
    assert not _labels(english) & {t("tab.data", "zh"), t("data.search", "zh")}
    # The switch returns one update per registered component: the Chinese page's labels in English.
    context = chinese.lab_context
    updates = context.relabel("en")
    assert len(updates) == len(context.translations) > 30
    by_component = {component._id: update for (component, _), update in zip(context.translations, updates)}
    tabs = [component for component in chinese.config["components"] if component["type"] == "tabitem"]
    assert [by_component[tab["id"]]["label"] for tab in tabs][:2] == ["Data", "Tokenize"]
    # The switch is wired: the Radio's change event outputs every translated component.
    switch = next(dependency for dependency in chinese.config["dependencies"]
                  if dependency["targets"] == [(context.language_input._id, "change")]
                  and len(dependency["outputs"]) == len(context.translations))
    assert switch["outputs"] == [component._id for component, _ in context.translations]
    with pytest.raises(ValueError):
        build_app(tmp_path, "fr")


def test_polling_timers_have_their_own_concurrency_group(tmp_path):
    app = build_app(tmp_path)
    ticks = [function for function in app.fns.values()
             if any(event == "tick" for _, event in function.targets)]
    assert ticks and all(str(function.concurrency_id).startswith("poll-") for function in ticks)
    others = {function.concurrency_id for function in app.fns.values() if function not in ticks}
    assert not others & {function.concurrency_id for function in ticks}


def test_exposure_warning():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0")
    assert exposure_warning("127.0.0.1", None) is None
    assert exposure_warning("0.0.0.0", ("user", "pass")) is None
    assert "--auth" in exposure_warning("0.0.0.0", None)


def test_login_is_required_for_page_and_api(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", "unset-by-serve")  # serve() points it into the workspace
    port = _free_port()
    app = serve(port=port, auth=("user", "secret"), workspace=tmp_path, block=False, warm=False)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            for address in ("/", "/?all_endpoints=true"):
                page = client.get(address)
                assert page.status_code == 200 and '"auth_required":true' in page.text.replace(" ", "")
                assert t("data.search", "zh") not in page.text  # no label reaches a stranger
            for path in ("/config", "/gradio_api/info", "/gradio_api/login_check"):
                assert client.get(path).status_code == 401, path
            call = client.post("/gradio_api/queue/join",
                               json={"data": [], "fn_index": 0, "session_hash": "x"})
            assert call.status_code == 401
            assert client.post("/login", data={"username": "user", "password": "wrong"}).status_code == 400
            assert client.post("/login", data={"username": "user", "password": "secret"}).status_code == 200
            config = client.get("/config")
            assert config.status_code == 200
            assert t("data.search", "zh") in config.text
            assert config.json()["footer_links"] == []
    finally:
        app.close()
    temp_dir = tmp_path / "cache" / "gradio"
    assert os.environ["GRADIO_TEMP_DIR"] == str(temp_dir) and temp_dir.is_dir()


def test_a_private_event_called_through_the_api_gets_the_same_checks_as_the_page(tmp_path):
    """Events hidden from the API listing still answer /gradio_api/run/predict by fn_index: the
    handler itself refuses what the page's controls could not send."""
    port = _free_port()
    app = serve(port=port, workspace=tmp_path, block=False, warm=False)
    try:
        choose = min(index for index, function in app.fns.items()  # the Load button's (then the upload's)
                     if function.fn.__module__ == "lab.tab_data" and function.fn.__name__ == "choose_dataset")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for path in ("/etc/passwd", "../outside.jsonl"):
                answer = client.post("/gradio_api/run/predict",
                                     json={"data": [path, "", "en"], "fn_index": choose, "session_hash": "x"})
                # Refused: an error, or (the Data tab shows errors in the page) no dataset chosen and
                # the reason shown where the result would go.
                refused = answer.status_code != 200 or "error" in answer.json() or (
                    answer.json()["data"][0] is None and "lab-error" in answer.text)
                assert refused, answer.text
                assert "outside" in answer.text and "root:" not in answer.text
    finally:
        app.close()


def test_host_names_the_server_answers_to():
    assert [host_name(header) for header in ("127.0.0.1:7860", "[::1]:7860", "LOCALHOST", "lab.example.:80",
                                             "::1")] \
        == ["127.0.0.1", "::1", "localhost", "lab.example", "::1"]
    loopback = allowed_host_names("127.0.0.1")
    assert {"127.0.0.1", "localhost", "::1"} <= loopback and "evil.example" not in loopback
    assert "10.1.2.3" in allowed_host_names("10.1.2.3") and "10.1.2.3" not in loopback
    assert {"lab.example", "other.example"} <= allowed_host_names("127.0.0.1", ["lab.example,other.example"])
    assert allowed_host_names("0.0.0.0") >= machine_names() | {"localhost"}
    assert allowed_host_names("127.0.0.1", ["*"]) is None


def test_login_lockout_counts_failures_per_address_within_a_window():
    now = [0.0]
    limiter = LoginLimiter(failures=3, window=10, lockout=30, clock=lambda: now[0])
    limiter.failed("a"), limiter.failed("a")
    now[0] = 20.0  # the first two fell out of the window
    limiter.failed("a"), limiter.failed("a")
    assert limiter.wait_seconds("a") == 0
    limiter.failed("a")
    assert limiter.wait_seconds("a") == 30 and limiter.wait_seconds("b") == 0
    now[0] = 51.0
    assert limiter.wait_seconds("a") == 0


def test_foreign_host_headers_are_refused_logins_are_rate_limited_headers_are_sent(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", "unset-by-serve")
    port = _free_port()
    now = [1000.0]
    limiter = LoginLimiter(failures=3, lockout=60, clock=lambda: now[0])
    app = serve(port=port, auth=("user", "secret"), workspace=tmp_path, block=False, warm=False,
                allowed_hosts=["lab.example"], limiter=limiter)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            # DNS rebinding: a page of evil.example makes the browser call 127.0.0.1 as evil.example.
            for method, path in (("GET", "/"), ("GET", "/config"), ("POST", "/gradio_api/queue/join"),
                                 ("POST", "/login")):
                refused = client.request(method, path, headers={"Host": "evil.example"})
                assert refused.status_code == 400 and "evil.example" in refused.text, path
            for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"lab.example:{port}"):
                page = client.get("/", headers={"Host": host})
                assert page.status_code == 200, host
            assert page.headers["x-content-type-options"] == "nosniff"
            assert page.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
            assert page.headers["referrer-policy"] == "same-origin"
            assert client.get("/config").headers["x-frame-options"] == "DENY"  # the 401 too
            for _ in range(3):
                assert client.post("/login",
                                   data={"username": "user", "password": "guess"}).status_code == 400
            locked = client.post("/login", data={"username": "user", "password": "secret"})
            assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 59
            now[0] += 61
            assert client.post("/login", data={"username": "user", "password": "secret"}).status_code == 200
    finally:
        app.close()


def _start_server(workspace, port: int, log) -> subprocess.Popen:
    from tests.paths import REPO_ROOT

    environment = dict(os.environ, FRAUD_LAB_WORKSPACE=str(workspace))
    # Its own process group, as a terminal would start it: killing the group kills the server and
    # everything in its group, and the job must not be in it.
    # serve() as `python -m lab serve` calls it, without building the demo data and tiny model.
    command = f"from lab.server import serve; serve(port={port}, workspace={str(workspace)!r}, warm=False)"
    return subprocess.Popen([sys.executable, "-c", command], cwd=REPO_ROOT, env=environment, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(predicate, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_job_outlives_its_killed_server_and_the_restarted_server_sees_it_run_and_finish(tmp_path):
    from core.jobs.registry import JobRegistry, kill_tree, process_alive
    from tests.jobs.job_fixtures import SLEEPY

    workspace = tmp_path / "workspace"
    registry = JobRegistry(workspace, max_running=1)
    job = registry.submit(SLEEPY, {"steps": 300, "step_seconds": 0.05}, start=False)
    steps = job.run_dir / "steps.txt"
    servers = []
    try:
        with open(tmp_path / "server.log", "wb") as log:
            servers.append(_start_server(workspace, _free_port(), log))
            # The server pumps the queue as it starts: the job becomes its child process.
            running = _wait_for(lambda: (seen := registry.get(job.id)).pid and steps.exists() and seen,
                                "the server to start the job")
            assert running.status == "running" and psutil.Process(running.pid).ppid() == servers[0].pid
            os.killpg(servers[0].pid, signal.SIGKILL)
            servers[0].wait(timeout=30)

            done_before = len(steps.read_text().splitlines())
            _wait_for(lambda: len(steps.read_text().splitlines()) > done_before + 5, "the job to go on", 30)
            assert process_alive(running.pid, running.pid_create_time)
            assert registry.get(job.id).status == "running"

            port = _free_port()
            servers.append(_start_server(workspace, port, log))
            _wait_for(lambda: _answers(port), "the restarted server")  # it reconciled the queue as it started
            seen = registry.get(job.id)
            assert seen.status in ("running", "finished") and seen.pid == running.pid and seen.attempts == 1
            done = _wait_for(lambda: (final := registry.get(job.id)).is_final and final, "the job to end", 60)
        assert (done.status, done.attempts, done.error) == ("finished", 1, None)
        # One run, no restart.
        assert steps.read_text().splitlines() == [f"step {step}" for step in range(300)]
    finally:
        for server in servers:
            kill_tree(server.pid, grace=5)
        job = registry.get(job.id)
        if job.is_active and job.pid:
            kill_tree(job.pid, job.pid_create_time, grace=1)
