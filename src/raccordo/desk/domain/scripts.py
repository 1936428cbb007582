"""Guided scripts: a design of steps an agent follows beside a conversation, its validation, and a run's
state transitions (answer → checked value → next step; back). Pure: no I/O.

A step has an ``id``, an optional ``title``, a ``prompt`` (what the agent says or does; it may use the
answer-template variables of ``domain/templates.py`` and ``{{answer.<step id>}}``), an optional
``answer`` type (text, number, yes_no, choice with ``options``, date), an optional ``target`` attribute
(``conversation.<key>`` or ``contact.<key>``) that receives the answer, ``branches`` (answer → step id:
``yes``/``no`` for yes_no, each option for choice) and ``next`` (the default next step; none = the end).

**Cycles are forbidden.** A run is a path through the conversation: with no cycle every run ends after
at most one answer per step, an attribute is written once per pass, and the history that "Back" walks
is the path itself. Asking again is what "Back" is for, so a loop adds nothing an agent needs.
Every step must be reachable from the first one (an unreachable step is a design mistake).

Written by hand: a few dozen lines of graph checks and parsing; no library fits a flow this small.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from raccordo.platform.errors import InvalidInput

STEP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
TARGET = re.compile(r"^(conversation|contact)\.([a-z][a-z0-9_]{0,63})$")
MAX_STEPS = 100
MAX_PROMPT = 4000
MAX_TITLE = 100
MAX_OPTIONS = 20
MAX_OPTION = 100
MAX_TEXT_ANSWER = 2000
YES = ("yes", "y", "si", "sì", "true", "1")
NO = ("no", "n", "false", "0")


class AnswerType(enum.StrEnum):
    TEXT = "text"
    NUMBER = "number"
    YES_NO = "yes_no"
    CHOICE = "choice"
    DATE = "date"


@dataclass(frozen=True)
class Step:
    id: str
    prompt: str
    title: str = ""
    answer: AnswerType | None = None
    options: tuple[str, ...] = ()
    target: str | None = None
    branches: Mapping[str, str] = field(default_factory=dict)
    next: str | None = None

    def branch_keys(self) -> tuple[str, ...]:
        """The answers a branch may name: yes/no, or the options."""
        if self.answer is AnswerType.YES_NO:
            return ("yes", "no")
        if self.answer is AnswerType.CHOICE:
            return self.options
        return ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "prompt": self.prompt,
            "answer": self.answer.value if self.answer else None,
            "options": list(self.options),
            "target": self.target,
            "branches": dict(self.branches),
            "next": self.next,
        }


@dataclass(frozen=True)
class Design:
    steps: tuple[Step, ...]

    @property
    def start(self) -> str | None:
        return self.steps[0].id if self.steps else None

    def step(self, step_id: str | None) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def ids(self) -> set[str]:
        return {s.id for s in self.steps}

    def as_list(self) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self.steps]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a design: the field (``steps.2.next``), a translation key, its parameters."""

    field: str
    key: str
    # ``dataclasses.field`` by its full name: the ``field`` attribute above shadows it in the class body.
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def error(self) -> InvalidInput:
        return InvalidInput(self.key, field=self.field, **self.params)


# --- reading a design -----------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def parse(raw: Any) -> Design:
    """A design from its JSON shape (a list of step objects); raises ``InvalidInput`` on the wrong shape.

    Values are only cleaned here (trimmed, empties dropped); ``problems`` says what is wrong with them.
    """
    if not isinstance(raw, list):
        raise InvalidInput("script.steps_shape", field="steps")
    if len(raw) > MAX_STEPS:
        raise InvalidInput("script.too_many_steps", field="steps", limit=MAX_STEPS)
    steps = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise InvalidInput("script.steps_shape", field=f"steps.{index}")
        answer_raw = _text(item.get("answer"))
        try:
            answer = AnswerType(answer_raw) if answer_raw else None
        except ValueError:
            raise InvalidInput("script.answer_type_unknown", field=f"steps.{index}.answer", value=answer_raw) from None
        options = item.get("options") or []
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise InvalidInput("script.options_shape", field=f"steps.{index}.options")
        branches = item.get("branches") or {}
        if not isinstance(branches, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str | None) for k, v in branches.items()
        ):
            raise InvalidInput("script.branches_shape", field=f"steps.{index}.branches")
        prompt = item.get("prompt")
        steps.append(
            Step(
                id=_text(item.get("id")),
                prompt=prompt if isinstance(prompt, str) else "",
                title=_text(item.get("title")),
                answer=answer,
                options=tuple(o.strip() for o in options if o.strip()),
                target=_text(item.get("target")) or None,
                branches={k.strip(): v.strip() for k, v in branches.items() if isinstance(v, str) and v.strip()},
                next=_text(item.get("next")) or None,
            )
        )
    return Design(tuple(steps))


def problems(design: Design) -> list[Problem]:
    """Everything wrong with a design, each naming its field; empty when it can run."""
    found: list[Problem] = []
    if not design.steps:
        return [Problem("steps", "script.steps_required")]
    seen: set[str] = set()
    for i, step in enumerate(design.steps):
        at = f"steps.{i}"
        if not STEP_ID.match(step.id):
            found.append(Problem(f"{at}.id", "script.step_id_invalid", {"value": step.id}))
        elif step.id in seen:
            found.append(Problem(f"{at}.id", "script.step_id_duplicate", {"value": step.id}))
        seen.add(step.id)
        if len(step.title) > MAX_TITLE:
            found.append(Problem(f"{at}.title", "script.title_too_long", {"limit": MAX_TITLE}))
        if not step.prompt.strip() or len(step.prompt) > MAX_PROMPT:
            found.append(Problem(f"{at}.prompt", "script.prompt_required", {"limit": MAX_PROMPT}))
        if step.answer is AnswerType.CHOICE:
            lowered = [o.lower() for o in step.options]
            if len(step.options) < 2 or len(step.options) > MAX_OPTIONS:
                found.append(Problem(f"{at}.options", "script.options_count", {"limit": MAX_OPTIONS}))
            elif len(set(lowered)) != len(lowered):
                found.append(Problem(f"{at}.options", "script.options_duplicate"))
            elif any(len(o) > MAX_OPTION for o in step.options):
                found.append(Problem(f"{at}.options", "script.option_too_long", {"limit": MAX_OPTION}))
        elif step.options:
            found.append(Problem(f"{at}.options", "script.options_only_for_choice"))
        if step.target is not None:
            if not TARGET.match(step.target):
                found.append(Problem(f"{at}.target", "script.target_invalid", {"value": step.target}))
            elif step.answer is None:
                found.append(Problem(f"{at}.target", "script.target_needs_answer"))
        keys = step.branch_keys()
        for key, to in step.branches.items():
            if key not in keys:
                found.append(Problem(f"{at}.branches", "script.branch_key_invalid", {"value": key}))
            elif to not in design.ids():
                found.append(Problem(f"{at}.branches", "script.step_unknown", {"value": to}))
        if step.next is not None and step.next not in design.ids():
            found.append(Problem(f"{at}.next", "script.step_unknown", {"value": step.next}))
    if found:
        return found  # the graph checks need valid references
    cycle = _cycle(design)
    if cycle:
        index = next(i for i, s in enumerate(design.steps) if s.id == cycle[0])
        found.append(Problem(f"steps.{index}.next", "script.cycle", {"path": " → ".join(cycle)}))
        return found
    reachable = _reachable(design)
    for i, step in enumerate(design.steps):
        if step.id not in reachable:
            found.append(Problem(f"steps.{i}.id", "script.step_unreachable", {"value": step.id}))
    return found


def validate(raw: Any) -> Design:
    """The design if it can run; otherwise ``InvalidInput`` for its first problem."""
    design = parse(raw)
    found = problems(design)
    if found:
        raise found[0].error()
    return design


def successors(step: Step) -> list[str]:
    out = list(dict.fromkeys(to for key, to in step.branches.items() if key in step.branch_keys()))
    keys = step.branch_keys()
    # The default applies unless every possible answer has its own branch.
    if step.next is not None and not (keys and all(k in step.branches for k in keys)):
        out.append(step.next)
    return list(dict.fromkeys(out))


def _reachable(design: Design) -> set[str]:
    seen: set[str] = set()
    todo = [design.start] if design.start else []
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        step = design.step(current)
        if step is not None:
            todo.extend(successors(step))
    return seen


def _cycle(design: Design) -> list[str] | None:
    """A cycle as a list of step ids (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        step = design.step(node)
        for to in successors(step) if step else []:
            if state.get(to) == 1:
                return [*path[path.index(to) :], to]
            if to not in state:
                found = visit(to)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for step in design.steps:
        if step.id not in state:
            found = visit(step.id)
            if found:
                return found
    return None


# --- answers and the runner ----------------------------------------------------------------------


def parse_answer(step: Step, raw: Any) -> Any:
    """The checked value of an answer (str, int/float, bool, ISO date, the option as designed);
    ``InvalidInput`` on the field ``value`` otherwise. Steps without a question take no value (None)."""
    if step.answer is None:
        return None
    text = (
        str(raw).strip()
        if raw is not None and not isinstance(raw, bool)
        else ("yes" if raw is True else "no" if raw is False else "")
    )
    if not text:
        raise InvalidInput("script.answer_required", field="value")
    if step.answer is AnswerType.TEXT:
        if len(text) > MAX_TEXT_ANSWER:
            raise InvalidInput("script.answer_too_long", field="value", limit=MAX_TEXT_ANSWER)
        return text
    if step.answer is AnswerType.NUMBER:
        try:
            number = float(text.replace(",", ".")) if not isinstance(raw, int | float) else float(raw)
        except ValueError:
            raise InvalidInput("script.answer_number", field="value", value=text) from None
        if not math.isfinite(number) or abs(number) > 1e15:
            raise InvalidInput("script.answer_number", field="value", value=text)
        return int(number) if number.is_integer() else number
    if step.answer is AnswerType.YES_NO:
        lowered = text.lower()
        if lowered in YES:
            return True
        if lowered in NO:
            return False
        raise InvalidInput("script.answer_yes_no", field="value", value=text)
    if step.answer is AnswerType.CHOICE:
        for option in step.options:
            if option.lower() == text.lower():
                return option
        raise InvalidInput("script.answer_choice", field="value", value=text, options=", ".join(step.options))
    # DATE: ISO (2026-11-25) or Italian day/month/year (25/11/2026).
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            continue
    raise InvalidInput("script.answer_date", field="value", value=text)


def branch_key(step: Step, value: Any) -> str | None:
    if step.answer is AnswerType.YES_NO:
        return "yes" if value else "no"
    if step.answer is AnswerType.CHOICE:
        return str(value)
    return None


def next_step(step: Step, value: Any) -> str | None:
    """The step after answering ``value``: its branch, else the default ``next``; None is the end."""
    key = branch_key(step, value)
    if key is not None and key in step.branches:
        return step.branches[key]
    return step.next


@dataclass(frozen=True)
class Answer:
    step: str
    value: Any


@dataclass(frozen=True)
class RunState:
    """Where a run is: the current step (None once it reached the end) and the path that led there."""

    current: str | None
    history: tuple[Answer, ...] = ()

    @property
    def finished(self) -> bool:
        return self.current is None


def start(design: Design) -> RunState:
    return RunState(design.start)


def answer(design: Design, state: RunState, raw: Any) -> tuple[RunState, Any]:
    """Answer the current step: the new state and the checked value. An invalid answer raises and
    changes nothing; a finished run or a step the design lacks is a ``InvalidInput`` on ``step_id``."""
    step = design.step(state.current)
    if step is None:
        raise InvalidInput("script.run_not_at_step", field="step_id", value=state.current or "")
    value = parse_answer(step, raw)
    return RunState(next_step(step, value), (*state.history, Answer(step.id, value))), value


def back(design: Design, state: RunState) -> RunState:
    """One step back along the path (steps the design no longer has are skipped); at the start, unchanged."""
    history = list(state.history)
    while history:
        last = history.pop()
        if design.step(last.step) is not None:
            return RunState(last.step, tuple(history))
    return state


def follows(design: Design, current: str | None) -> bool:
    """Whether a run standing at ``current`` can move onto ``design`` (a newer version): its step exists there."""
    return current is not None and design.step(current) is not None


def values_for_prompt(history: Sequence[Answer]) -> dict[str, str]:
    """``{{answer.<step id>}}`` variables from the answers given so far (the latest answer of each step)."""
    out: dict[str, str] = {}
    for item in history:
        if item.value is None:
            continue
        out[f"answer.{item.step}"] = (
            ("yes" if item.value else "no") if isinstance(item.value, bool) else str(item.value)
        )
    return out
