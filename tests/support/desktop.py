"""The agent desktop in a real browser: Debian's Chromium (never a downloaded one), the `raccordo serve`
under test (``Desk``), logging in to it, and the script that observes notifications and sounds."""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from raccordo.channels import signing

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]
INSTALL_HINT = (
    "install Debian's Chromium: apt-get install chromium (or run scripts/ensure-browser as root);"
    " never 'playwright install'"
)
RACCORDO = str(Path(sys.executable).parent / "raccordo")
PASSWORD = "a long password"


@dataclass
class Desk:
    base: str
    slug: str
    token: str
    agent_id: int
    inboxes: list[dict[str, Any]]
    shots: Path

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, self.base + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=10, **kwargs
        )

    def customer_says(self, text: str, email: str, inbox: int = 0) -> None:
        box = self.inboxes[inbox]
        body = json.dumps(
            {
                "message_id": uuid.uuid4().hex,
                "contact": {"name": email.split("@")[0].title(), "identities": [{"kind": "email", "value": email}]},
                "text": text,
            }
        ).encode()
        url = f"{self.base}/api/v1/channels/api/{box['identifier']}/messages"
        response = httpx.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", **signing.sign(box["secrets"]["hmac_secret"], body)},
            timeout=10,
        )
        assert response.status_code == 200, response.text


def open_desktop(browser: Any, desk: Desk, email: str, path: str = "/inbox") -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.text} at {m.location}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    page.goto(desk.base + path)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}")
    page.wait_for_selector("body[data-ws=open]", timeout=10000)
    return page


# Observe the browser APIs the desk uses: every Notification created, every oscillator started.
OBSERVE = """
window.__notifications = [];
window.__oscillators = 0;
(function () {
  var Real = window.Notification;
  if (Real) {
    var Wrapped = function (title, options) {
      var entry = { title: title, body: options && options.body, instance: null };
      window.__notifications.push(entry);
      document.documentElement.setAttribute("data-notifications", String(window.__notifications.length));
      entry.instance = new Real(title, options);
      return entry.instance;
    };
    Wrapped.requestPermission = Real.requestPermission.bind(Real);
    Object.defineProperty(Wrapped, "permission", { get: function () { return Real.permission; } });
    Wrapped.prototype = Real.prototype;
    window.Notification = Wrapped;
  }
  var start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function () {
    window.__oscillators += 1;
    document.documentElement.setAttribute("data-oscillators", String(window.__oscillators));
    return start.apply(this, arguments);
  };
})();
"""
