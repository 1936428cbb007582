"""Trying an inbox's settings against the Graph API, step by step, naming the step and the setting that fails.

Steps: the Graph API answers at the base URL (``reach``), the page access token is accepted and
sees the page (``page``: ``GET /{page-id}?fields=id,name``), and the app is subscribed to the
page's webhooks (``subscribed_apps``: ``GET /{page-id}/subscribed_apps`` lists at least one app).
The app secret cannot be tried from here (Meta only signs webhooks with it): a wrong one shows as
refused (401) webhook requests, counted on the inbox.
"""

from __future__ import annotations

from raccordo.channels.base import CheckResult, InboxConfig
from raccordo.channels.messenger.config import page_id
from raccordo.channels.messenger.graph import Graph, SendFailure

_TOKEN_CODES = frozenset({190, 102, 10, 200})


def run_check(inbox: InboxConfig, graph: Graph) -> list[CheckResult]:
    page = page_id(inbox)
    try:
        found = graph.page(page)
    except SendFailure as exc:
        error = exc.error
        if error.code is None and error.http_status is None:
            return [
                CheckResult(
                    "reach", False, "settings.graph_base_url", "meta.check.unreachable", {"error": error.message}
                )
            ]
        if error.code in _TOKEN_CODES or error.http_status in (401, 403):
            failed = CheckResult("page", False, "secrets.access_token", "meta.check.token", {"error": error.message})
        else:
            failed = CheckResult("page", False, "settings.page_id", "meta.check.page", {"error": error.message})
        return [CheckResult("reach", True), failed]
    results = [CheckResult("reach", True), CheckResult("page", True, params={"name": found.get("name", "")})]
    try:
        apps = graph.subscribed_apps(page)
    except SendFailure as exc:
        results.append(
            CheckResult(
                "subscribed_apps", False, "secrets.access_token", "meta.check.token", {"error": exc.error.message}
            )
        )
        return results
    if not apps:
        results.append(CheckResult("subscribed_apps", False, "settings.page_id", "meta.check.not_subscribed"))
    else:
        results.append(
            CheckResult("subscribed_apps", True, params={"apps": ", ".join(str(a.get("name", "")) for a in apps)})
        )
    return results
