"""Smaller hardening: error texts without unfilled placeholders, safe Content-Disposition, Secure
cookies behind a trusted HTTPS proxy, owner-only files, a bearer token on /metrics, and an HTML 404
page for browsers."""

from __future__ import annotations

import base64
import os
import stat
import uuid
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from starlette.testclient import TestClient

from raccordo.bootstrap.http import create_app
from raccordo.platform.config import Settings
from raccordo.platform.files import FileStore
from raccordo.platform.runtime import Runtime
from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.orgs import make_org


@pytest.fixture(scope="module")
def proxied(database_url, tmp_path_factory) -> Iterator[tuple[Runtime, TestClient]]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("proxied"),
        database_url=database_url,
        secret_key="test-secret-key",
        embedded_worker=False,
        trusted_proxies="*",
        metrics_token="metrics-secret",
    )
    runtime = Runtime.build(settings)
    with TestClient(create_app(runtime, run_delivery=False), raise_server_exceptions=False) as client:
        yield runtime, client
    runtime.close()


def test_error_texts_have_no_unfilled_placeholders(client, org):
    inbox = create_api_inbox(client, org.headers())
    bad = customer_message(f"p-{uuid.uuid4().hex}") | {"text": 12}
    response = post_inbound(client, inbox, bad)
    assert response.status_code == 422, response.text
    assert "{" not in response.json()["detail"] and "text" in response.json()["detail"]
    method = client.post("/healthz")
    assert method.status_code == 405
    assert "{" not in method.json()["title"] and "{" not in method.json()["detail"]


@pytest.mark.parametrize(
    "filename, expected",
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\report.pdf", "report.pdf"),
        ('evil";\r\nSet-Cookie: a=b.txt', None),
        ("fattura è pronta.pdf", "fattura è pronta.pdf"),
    ],
)
def test_attachment_names_are_sent_without_paths_as_rfc6266(client, org, filename, expected):
    owner = org.headers()
    inbox = create_api_inbox(client, owner)
    marker = uuid.uuid4().hex[:10]
    post_inbound(client, inbox, customer_message(f"cd-{marker}", f"file {marker}", email=f"cd-{marker}@example.com"))
    conversation = client.get("/api/v1/conversations", params={"q": marker}, headers=owner).json()["items"][0]["id"]
    note = client.post(
        f"/api/v1/conversations/{conversation}/notes",
        headers=owner,
        json={
            "text": "allegato",
            "attachments": [{"filename": filename, "data_base64": base64.b64encode(b"data").decode()}],
        },
    )
    assert note.status_code == 201, note.text
    download = client.get(f"/api/v1/attachments/{note.json()['attachments'][0]['id']}", headers=owner)
    assert download.status_code == 200
    header = download.headers["content-disposition"]
    assert header.startswith('attachment; filename="') and "filename*=UTF-8''" in header
    assert (
        "\r" not in header
        and "\n" not in header
        and "/" not in header
        and "\\" not in header.split("filename*")[0].replace('\\"', "")
    )
    starred = header.split("filename*=UTF-8''", 1)[1]
    if expected is not None:
        assert unquote(starred) == expected
    assert "a=b" not in download.headers.get("set-cookie", "")


def test_session_cookie_is_secure_behind_a_trusted_https_proxy(proxied, client):
    rt, proxy_client = proxied
    org = make_org(rt)
    body = {"email": org.email("agent"), "password": org.password}
    over_https = proxy_client.post(
        "/api/v1/auth/login", json=body, headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    )
    assert over_https.status_code == 200, over_https.text
    cookies = over_https.headers.get_list("set-cookie")
    assert cookies and all("secure" in c.lower() for c in cookies)
    plain = proxy_client.post("/api/v1/auth/login", json=body)
    assert plain.status_code == 200
    assert all("secure" not in c.lower() for c in plain.headers.get_list("set-cookie"))
    # Without trusted proxies the header is not believed.
    spoofed = client.post(
        "/api/v1/auth/login",
        json={"email": "nobody@example.com", "password": "x" * 12},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert all("secure" not in c.lower() for c in spoofed.headers.get_list("set-cookie"))


def test_database_and_attachments_are_owner_only(tmp_path):
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'data' / 'r.db'}",
        secret_key="k" * 32,
        embedded_worker=False,
    )
    runtime = Runtime.build(settings)
    try:
        assert stat.S_IMODE(os.stat(tmp_path / "data" / "r.db").st_mode) == 0o600
    finally:
        runtime.close()
    store = FileStore(tmp_path / "files")
    relative, _ = store.put(7, b"secret")
    path = store.path(relative)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (tmp_path / "files", tmp_path / "files" / "7", path.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_metrics_need_the_bearer_token_when_one_is_set(proxied, client):
    _, proxy_client = proxied
    assert proxy_client.get("/metrics").status_code == 401
    assert proxy_client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = proxy_client.get("/metrics", headers={"Authorization": "Bearer metrics-secret"})
    assert ok.status_code == 200 and "raccordo_http_requests" in ok.text
    assert client.get("/metrics").status_code == 200  # no token set: open, as documented


def test_unknown_page_is_an_html_404_for_browsers_and_problem_json_for_the_api(client):
    page = client.get("/no-such-page", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text.lower()
    api = client.get("/api/v1/no-such-thing", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
    plain = client.get("/no-such-page")
    assert plain.status_code == 404 and plain.headers["content-type"] == "application/problem+json"
