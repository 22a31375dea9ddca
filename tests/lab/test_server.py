"""The page shell: both languages, the language switch, the footer, login on a real server."""
from __future__ import annotations

import os
import socket

import httpx
import pytest

from lab.app import build_app
from lab.i18n import EN, ZH, t
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
