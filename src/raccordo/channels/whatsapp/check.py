"""Trying an inbox's settings against the Graph API, step by step, naming the step and the setting that fails.

Steps: the Graph API answers at the base URL at all (``reach``), the access token is accepted and
sees the phone number id (``phone_number``), and it sees the WhatsApp Business Account's templates
(``templates``). The app secret cannot be tried from here: Meta only uses it to sign webhooks,
so a wrong one shows as refused (401) webhook requests, counted on the inbox.
"""

from __future__ import annotations

from raccordo.channels.base import CheckResult, InboxConfig
from raccordo.channels.whatsapp.graph import Graph, GraphFailure

_TOKEN_CODES = frozenset({0, 190, 10, 200})


def run_check(inbox: InboxConfig, graph: Graph) -> list[CheckResult]:
    phone_number_id = str(inbox.settings.get("phone_number_id", ""))
    waba_id = str(inbox.settings.get("waba_id", ""))
    results: list[CheckResult] = []
    try:
        number = graph.phone_number(phone_number_id)
    except GraphFailure as exc:
        error = exc.error
        if error.code is None and error.http_status is None:
            return [
                CheckResult(
                    "reach", False, "settings.graph_base_url", "whatsapp.check.unreachable", {"error": error.title}
                )
            ]
        results.append(CheckResult("reach", True))
        if error.code in _TOKEN_CODES or error.http_status in (401, 403):
            results.append(
                CheckResult(
                    "phone_number", False, "secrets.access_token", "whatsapp.check.token", {"error": error.title}
                )
            )
        else:
            results.append(
                CheckResult(
                    "phone_number",
                    False,
                    "settings.phone_number_id",
                    "whatsapp.check.phone_number",
                    {"error": error.title},
                )
            )
        return results
    results.append(CheckResult("reach", True))
    results.append(CheckResult("phone_number", True, params={"number": number.get("display_phone_number", "")}))
    try:
        graph.templates(waba_id)
    except GraphFailure as exc:
        results.append(
            CheckResult("templates", False, "settings.waba_id", "whatsapp.check.waba", {"error": exc.error.title})
        )
        return results
    results.append(CheckResult("templates", True))
    return results
