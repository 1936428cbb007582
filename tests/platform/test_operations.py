"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from tests.helpers import create_api_inbox, customer_message, post_inbound


def test_health_ready_and_metrics(client, org):
    assert client.get("/healthz").json()["status"] == "alive"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok" and ready.json()["bus"] == "ok"
    inbox = create_api_inbox(client, org.headers())
    post_inbound(client, inbox, customer_message("m-1", email="metrics@example.com"))
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    client.post(
        f"/api/v1/conversations/{conversation['id']}/reply", json={"text": "queued"}, headers=org.headers("agent")
    )
    text = client.get("/metrics").text
    assert (
        'raccordo_http_requests_total{method="POST",route="/api/v1/channels/{channel}/{identifier}/messages",status="200"}'
        in text
    )
    for name in (
        "raccordo_websocket_clients",
        "raccordo_bus_lag_seconds",
        "raccordo_outbox_depth",
        "raccordo_due_timers",
        "raccordo_bus_healthy 1.0",
    ):
        assert name in text, name
    depth = float(next(line.split()[-1] for line in text.splitlines() if line.startswith("raccordo_outbox_depth")))
    assert depth >= 1
