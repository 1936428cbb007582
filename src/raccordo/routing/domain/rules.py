"""Routing rules' conditions: which facts of a conversation a rule (or an SLA policy) may test, the
checks of a rule as entered, and whether a conversation's facts match. Pure."""

from __future__ import annotations

from typing import Any

from raccordo.platform.errors import InvalidInput

RULE_OPERATORS = ("eq", "ne", "in", "not_in", "contains", "exists", "gte", "lte")
RULE_FIELDS = (
    "channel",
    "inbox_id",
    "language",
    "label",
    "priority",
    "queue_id",
)  # plus contact.<attribute>, conversation.<attribute>


def validate_conditions(conditions: Any) -> list[dict[str, Any]]:
    """``[{"field": "contact.vip", "op": "eq", "value": true}, ...]``; all must hold (an empty list
    matches everything)."""
    if not isinstance(conditions, list):
        raise InvalidInput("routing.conditions_invalid", field="conditions")
    clean = []
    for index, condition in enumerate(conditions):
        where = f"conditions.{index}"
        if not isinstance(condition, dict):
            raise InvalidInput("routing.conditions_invalid", field=where)
        name, op = condition.get("field"), condition.get("op", "eq")
        if not isinstance(name, str) or not (
            name in RULE_FIELDS or (name.startswith(("contact.", "conversation.")) and len(name.split(".", 1)[1]) > 0)
        ):
            raise InvalidInput("routing.condition_field_unknown", field=f"{where}.field", value=str(name))
        if op not in RULE_OPERATORS:
            raise InvalidInput("routing.condition_op_unknown", field=f"{where}.op", value=str(op))
        if op in ("in", "not_in") and not isinstance(condition.get("value"), list):
            raise InvalidInput("routing.condition_needs_list", field=f"{where}.value")
        clean.append({"field": name, "op": op, "value": condition.get("value")})
    return clean


def _fact(facts: dict[str, Any], name: str) -> Any:
    if name.startswith("contact."):
        return (facts.get("contact") or {}).get(name.split(".", 1)[1])
    if name.startswith("conversation."):
        return (facts.get("conversation") or {}).get(name.split(".", 1)[1])
    return facts.get(name)


def _holds(condition: dict[str, Any], facts: dict[str, Any]) -> bool:
    op, expected = condition["op"], condition["value"]
    if condition["field"] == "label":  # labels are a set: eq/contains mean "has the label"
        labels = set(facts.get("labels") or ())
        if op in ("eq", "contains"):
            return expected in labels
        if op == "ne":
            return expected not in labels
        if op == "in":
            return bool(labels & set(expected))
        if op == "not_in":
            return not labels & set(expected)
        if op == "exists":
            return bool(labels) == bool(expected if expected is not None else True)
        return False
    actual = _fact(facts, condition["field"])
    if op == "exists":
        return (actual is not None) == bool(expected if expected is not None else True)
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if op == "contains":
        return isinstance(actual, (str, list)) and expected in actual
    try:
        return bool(actual >= expected if op == "gte" else actual <= expected)
    except TypeError:
        return False


def rule_matches(conditions: list[dict[str, Any]], facts: dict[str, Any]) -> bool:
    """Facts: channel, inbox_id, language, labels, priority, contact (attributes), conversation (attributes)."""
    return all(_holds(condition, facts) for condition in conditions)
