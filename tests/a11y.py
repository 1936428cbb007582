"""Accessibility check for browser tests: axe-core (axe-playwright-python, which ships axe.min.js) on a
Playwright page, failing on violations of impact "serious" or "critical" with a readable report.

    from tests.a11y import assert_accessible
    assert_accessible(page, "inbox (it)")

axe is injected with Playwright's evaluate (the DevTools protocol), so the pages keep their CSP.
"""

from __future__ import annotations

from typing import Any

BLOCKING = ("serious", "critical")
# WCAG 2.1 A and AA plus axe's best practices (landmarks, headings, regions).
RULESETS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_violations(page: Any, *, include: str | None = None) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (or within the `include` selector)."""
    from axe_playwright_python.sync_playwright import Axe

    options = {"resultTypes": ["violations"], "runOnly": {"type": "tag", "values": RULESETS}}
    results = Axe().run(page, context=include, options=options)
    return list(results.response.get("violations", []))


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- [{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"][:8]:
            target = " ".join(node["target"]) if isinstance(node["target"], list) else node["target"]
            summary = node.get("failureSummary")
            lines.append(f"    {target}: {summary.splitlines()[-1].strip() if summary else ''}")
            lines.append(f"      {node['html'][:160]}")
        if len(violation["nodes"]) > 8:
            lines.append(f"    … and {len(violation['nodes']) - 8} more")
    return "\n".join(lines)


def assert_accessible(page: Any, name: str, *, include: str | None = None, impacts: tuple[str, ...] = BLOCKING) -> None:
    """Fail with every serious or critical axe violation of the page, named `name` in the report."""
    blocking = [v for v in axe_violations(page, include=include) if v.get("impact") in impacts]
    assert not blocking, f"accessibility violations on {name} ({page.url}):\n{describe(blocking)}"
