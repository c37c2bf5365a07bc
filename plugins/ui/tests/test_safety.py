"""Safe by default: loopback unless told, a token for anything else, CSRF on every form."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from aion_plugin_ui import UiSettings, is_loopback

from .conftest import WAIT, Populated, console, csrf_of

TOKEN = "s3cret-token-for-tests"


def aion() -> str:
    found = shutil.which("aion", path=os.path.dirname(sys.executable))
    assert found is not None
    return found


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_listening_beyond_loopback_without_a_token_is_refused(host: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "AION_UI_TOKEN"}
    done = subprocess.run(
        [aion(), "ui", "--host", host, "--port", "0"],
        capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(f"aion: refusing to listen on {host} without a token")
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_loopback_addresses_are_recognised() -> None:
    loopback = ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost")
    assert all(is_loopback(host) for host in loopback)
    assert not any(is_loopback(host) for host in ("0.0.0.0", "::", "10.0.0.1", "my.host"))


def test_with_a_token_every_request_needs_it(populated: Populated) -> None:
    with console(UiSettings(store=populated.url, token=TOKEN)) as http:
        html_page = http.get("/workflows", headers={"accept": "text/html"}, follow_redirects=False)
        plain = http.get("/workflows/approval")
        feed = http.get("/live/list")
        wrong_bearer = http.get("/workflows", headers={"authorization": "Bearer nope"})
        right_bearer = http.get("/workflows", headers={"authorization": f"Bearer {TOKEN}"})
        static = http.get("/static/ui.css")
    assert html_page.status_code == 303
    assert html_page.headers["location"] == "/login?next=%2Fworkflows"
    for refused in (plain, feed, wrong_bearer):
        assert refused.status_code == 401
        assert "approval" not in refused.text
    assert right_bearer.status_code == 200
    assert "approval" in right_bearer.text
    assert static.status_code == 200  # styles are no secret; the login page needs them


def test_the_login_form_lets_a_session_in_with_the_token(populated: Populated) -> None:
    with console(UiSettings(store=populated.url, token=TOKEN)) as http:
        login = http.get("/login", params={"next": "/workflows/approval"})
        csrf = csrf_of(login.text)
        wrong = http.post("/login", data={"csrf_token": csrf, "token": "guess", "next": "/"})
        assert wrong.status_code == 401
        assert "That is not the token" in wrong.text
        assert http.get("/workflows/approval").status_code == 401
        right = http.post(
            "/login",
            data={"csrf_token": csrf, "token": TOKEN, "next": "/workflows/approval"},
            follow_redirects=False,
        )
        assert right.status_code == 303
        assert right.headers["location"] == "/workflows/approval"
        page = http.get("/workflows/approval")
        assert page.status_code == 200
        assert "Log out" in page.text
        http.post("/logout", data={"csrf_token": csrf_of(page.text)})
        assert http.get("/workflows/approval").status_code == 401


def test_login_never_redirects_to_another_site(populated: Populated) -> None:
    with console(UiSettings(store=populated.url, token=TOKEN)) as http:
        csrf = csrf_of(http.get("/login").text)
        for target in ("https://evil.example", "//evil.example", "/\\evil.example"):
            response = http.post(
                "/login",
                data={"csrf_token": csrf, "token": TOKEN, "next": target},
                follow_redirects=False,
            )
            assert response.headers["location"] == "/"
            csrf = csrf_of(http.get("/workflows").text)


def test_a_form_without_its_csrf_token_is_refused(populated: Populated) -> None:
    with console(UiSettings(store=populated.url, token=TOKEN)) as http:
        csrf = csrf_of(http.get("/login").text)
        no_token = http.post("/login", data={"token": TOKEN})
        other_session = httpx.post(
            f"{http.base_url}/login", data={"csrf_token": csrf, "token": TOKEN}
        )
        assert http.post("/login", data={"csrf_token": csrf, "token": TOKEN}).status_code == 303
    assert no_token.status_code == 403
    assert "security token is missing or out of date" in no_token.text
    assert other_session.status_code == 403  # a token from another session is worth nothing


def test_pages_carry_security_headers(populated: Populated) -> None:
    with console(UiSettings(store=populated.url)) as http:
        page = http.get("/workflows")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_the_settings_never_show_the_token() -> None:
    settings = UiSettings(store="postgresql://aion:pw@db/aion", token=TOKEN)
    assert TOKEN not in repr(settings)
    assert "pw" not in repr(settings)


def test_aion_ui_reads_its_settings_like_every_command_and_serves_with_a_token(
    tmp_path: Path, populated: Populated
) -> None:
    (tmp_path / "aion.toml").write_text(f'store = "{populated.url}"\n', encoding="utf-8")
    env = {**os.environ, "AION_UI_TOKEN": TOKEN}
    env.pop("AION_STORE", None)
    log = tmp_path / "ui.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [aion(), "ui", "--host", "0.0.0.0", "--port", "0"],
            cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + WAIT
        banner = re.compile(r"serving http://0\.0\.0\.0:(\d+)/ \(token required\)")
        while not (found := banner.search(log.read_text())):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        base = f"http://127.0.0.1:{found.group(1)}"
        refused = httpx.get(f"{base}/workflows", timeout=WAIT)
        page = httpx.get(
            f"{base}/workflows", headers={"authorization": f"Bearer {TOKEN}"}, timeout=WAIT
        )
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(WAIT)
    assert refused.status_code == 401
    assert page.status_code == 200
    assert populated.url in page.text  # the store aion.toml names
    assert 'data-workflow-id="approval"' in page.text
    assert code == 0
    output_text = log.read_text()
    assert "aion ui: stopped" in output_text
    assert TOKEN not in output_text
