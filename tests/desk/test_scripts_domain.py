"""Guided scripts, pure rules: design validation, answers, the runner's transitions (domain/scripts.py)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from raccordo.desk.domain import scripts as rules
from raccordo.platform.errors import InvalidInput

RETURN = [
    {"id": "intro", "prompt": "Buongiorno {{contact.first_name}}", "next": "motivo"},
    {
        "id": "motivo",
        "prompt": "Perché?",
        "answer": "choice",
        "options": ["Difettoso", "Ripensamento"],
        "target": "conversation.reason",
        "branches": {"Difettoso": "foto"},
        "next": "ordine",
    },
    {"id": "foto", "prompt": "Ha le foto?", "answer": "yes_no", "branches": {"no": "fine"}, "next": "ordine"},
    {"id": "ordine", "prompt": "Numero d'ordine?", "answer": "number", "target": "contact.last_order", "next": "fine"},
    {"id": "fine", "prompt": "Grazie"},
]


def fields(raw) -> list[tuple[str, str]]:
    return [(p.field, p.key) for p in rules.problems(rules.parse(raw))]


def test_a_valid_design_runs_along_its_branches():
    design = rules.validate(RETURN)
    state = rules.start(design)
    assert state.current == "intro"
    state, value = rules.answer(design, state, None)  # a step without a question just goes on
    assert value is None and state.current == "motivo"
    state, value = rules.answer(design, state, "difettoso")  # case-insensitive, stored as designed
    assert value == "Difettoso" and state.current == "foto"
    state, value = rules.answer(design, state, "sì")
    assert value is True and state.current == "ordine"  # yes has no branch: the default
    state, value = rules.answer(design, state, "12345")
    assert value == 12345 and state.current == "fine"
    state, _ = rules.answer(design, state, None)
    assert state.finished and [a.step for a in state.history] == ["intro", "motivo", "foto", "ordine", "fine"]
    # The other branch skips the photo question.
    other = rules.answer(design, rules.answer(design, rules.start(design), None)[0], "Ripensamento")[0]
    assert other.current == "ordine"
    # Back walks the path and stops at the start.
    back = rules.back(design, state)
    assert back.current == "fine" and len(back.history) == 4
    assert rules.back(design, rules.start(design)) == rules.start(design)
    assert rules.values_for_prompt(state.history)["answer.foto"] == "yes"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.__setitem__(0, {**d[0], "next": "nowhere"}), ("steps.0.next", "script.step_unknown")),
        (
            lambda d: d.__setitem__(1, {**d[1], "branches": {"Rotto": "foto"}}),
            ("steps.1.branches", "script.branch_key_invalid"),
        ),
        (
            lambda d: d.__setitem__(2, {**d[2], "branches": {"no": "ghost"}}),
            ("steps.2.branches", "script.step_unknown"),
        ),
        (lambda d: d.__setitem__(3, {**d[3], "next": "motivo"}), ("steps.1.next", "script.cycle")),
        (lambda d: d.__setitem__(1, {**d[1], "options": ["Solo"]}), ("steps.1.options", "script.options_count")),
        (
            lambda d: d.__setitem__(1, {**d[1], "options": ["A", "a"], "branches": {}}),
            ("steps.1.options", "script.options_duplicate"),
        ),
        (lambda d: d.__setitem__(3, {**d[3], "target": "order.number"}), ("steps.3.target", "script.target_invalid")),
        (lambda d: d.__setitem__(0, {**d[0], "target": "contact.x"}), ("steps.0.target", "script.target_needs_answer")),
        (lambda d: d.__setitem__(4, {**d[4], "id": "Fine!"}), ("steps.4.id", "script.step_id_invalid")),
        (lambda d: d.__setitem__(4, {**d[4], "id": "intro"}), ("steps.4.id", "script.step_id_duplicate")),
        (lambda d: d.__setitem__(2, {**d[2], "prompt": "  "}), ("steps.2.prompt", "script.prompt_required")),
        (
            lambda d: d.append({"id": "orfano", "prompt": "Nessuno arriva qui"}),
            ("steps.5.id", "script.step_unreachable"),
        ),
        (
            lambda d: d.__setitem__(0, {**d[0], "options": ["x", "y"]}),
            ("steps.0.options", "script.options_only_for_choice"),
        ),
    ],
)
def test_design_problems_name_their_field(change, expected):
    design = [dict(step) for step in RETURN]
    change(design)
    assert expected in fields(design)
    with pytest.raises(InvalidInput) as raised:
        rules.validate(design)
    assert raised.value.field.startswith("steps.")


def test_design_shape_errors():
    assert fields([]) == [("steps", "script.steps_required")]
    for raw, field in (
        ({"id": "x"}, "steps"),
        ([1], "steps.0"),
        ([{"id": "a", "prompt": "p", "answer": "colour"}], "steps.0.answer"),
    ):
        with pytest.raises(InvalidInput) as raised:
            rules.parse(raw)
        assert raised.value.field == field
    # Every answer branched: the default next is unused, so it does not make a step reachable or a cycle.
    covered = [
        {"id": "a", "prompt": "?", "answer": "yes_no", "branches": {"yes": "b", "no": "b"}, "next": "a"},
        {"id": "b", "prompt": "fine"},
    ]
    assert fields(covered) == []


@pytest.mark.parametrize(
    ("answer", "raw", "expected"),
    [
        ("text", "  ciao ", "ciao"),
        ("number", "3,5", 3.5),
        ("number", "42", 42),
        ("number", 7, 7),
        ("yes_no", "No", False),
        ("yes_no", True, True),
        ("date", "25/11/2026", "2026-11-25"),
        ("date", "2026-11-25", "2026-11-25"),
        ("choice", "B", "b"),
    ],
)
def test_answers_are_checked_and_normalized(answer, raw, expected):
    step = rules.Step(
        id="q", prompt="?", answer=rules.AnswerType(answer), options=("a", "b") if answer == "choice" else ()
    )
    assert rules.parse_answer(step, raw) == expected


@pytest.mark.parametrize(
    ("answer", "raw", "key"),
    [
        ("text", " ", "script.answer_required"),
        ("number", "tre", "script.answer_number"),
        ("number", "nan", "script.answer_number"),
        ("yes_no", "forse", "script.answer_yes_no"),
        ("date", "31/02/2026", "script.answer_date"),
        ("choice", "c", "script.answer_choice"),
        ("text", "x" * 2001, "script.answer_too_long"),
    ],
)
def test_bad_answers_are_refused_on_value(answer, raw, key):
    step = rules.Step(
        id="q", prompt="?", answer=rules.AnswerType(answer), options=("a", "b") if answer == "choice" else ()
    )
    with pytest.raises(InvalidInput) as raised:
        rules.parse_answer(step, raw)
    assert (raised.value.key, raised.value.field) == (key, "value")


def test_a_finished_run_cannot_be_answered_and_versions_are_followed_by_step_id():
    design = rules.validate(RETURN)
    with pytest.raises(InvalidInput) as raised:
        rules.answer(design, rules.RunState(None), "x")
    assert raised.value.field == "step_id"
    newer = rules.validate([{"id": "ordine", "prompt": "Numero?", "answer": "text"}])
    assert rules.follows(newer, "ordine") and not rules.follows(newer, "motivo") and not rules.follows(newer, None)
    # Back on a newer version skips steps it no longer has.
    state = rules.RunState("ordine", (rules.Answer("intro", None), rules.Answer("motivo", "Ripensamento")))
    assert rules.back(newer, state) == state


# --- properties ----------------------------------------------------------------------------------

TYPES = [None, "text", "number", "yes_no", "choice", "date"]


@st.composite
def designs(draw):
    """Forward-only random designs (no cycles by construction), most of them valid."""
    n = draw(st.integers(1, 8))
    steps = []
    for i in range(n):
        answer = draw(st.sampled_from(TYPES))
        options = ["uno", "due", "tre"][: draw(st.integers(2, 3))] if answer == "choice" else []
        later = [f"s{j}" for j in range(i + 1, n)]
        keys = ["yes", "no"] if answer == "yes_no" else options
        branches = {k: draw(st.sampled_from(later)) for k in keys if later and draw(st.booleans())}
        nxt = (
            f"s{i + 1}"
            if i + 1 < n and draw(st.integers(0, 4))
            else (draw(st.sampled_from([None, *later])) if later else None)
        )
        steps.append(
            {
                "id": f"s{i}",
                "prompt": f"Passo {i}",
                "answer": answer,
                "options": options,
                "branches": branches,
                "next": nxt,
            }
        )
    return steps


def raw_answer(step: rules.Step):
    if step.answer is None:
        return st.none()
    return {
        rules.AnswerType.TEXT: st.text(min_size=1, max_size=20),
        rules.AnswerType.NUMBER: st.one_of(st.integers(-1000, 1000).map(str), st.text(max_size=5)),
        rules.AnswerType.YES_NO: st.sampled_from(["yes", "no", "sì", "boh", ""]),
        rules.AnswerType.CHOICE: st.sampled_from([*step.options, "altro"]),
        rules.AnswerType.DATE: st.sampled_from(["2026-01-31", "31/01/2026", "ieri", "2026-13-01"]),
    }[step.answer]


@settings(max_examples=150, deadline=None)
@given(raw=designs(), data=st.data())
def test_any_valid_design_runs_to_its_end_and_bad_answers_never_advance(raw, data):
    found = rules.problems(rules.parse(raw))
    assume(not found)
    design = rules.validate(raw)
    state = rules.start(design)
    for _ in range(len(design.steps) * 20):
        if state.finished:
            break
        step = design.step(state.current)
        assert step is not None, "a run always stands on a step of its design"
        given_raw = data.draw(raw_answer(step))
        try:
            new, value = rules.answer(design, state, given_raw)
        except InvalidInput as exc:
            assert exc.field == "value"
            continue  # refused: the state is unchanged (it is immutable and not replaced)
        assert new.history == (*state.history, rules.Answer(step.id, value))
        assert new.current is None or new.current in design.ids()
        state = new
    assert state.finished, "every valid design reaches an end"
    assert len(state.history) <= len(design.steps), "no step is answered twice on one path (no cycles)"
    # Back, repeated, returns to the start along the same path.
    for expected in reversed(state.history):
        state = rules.back(design, state)
        assert state.current == expected.step
    assert state == rules.start(design)


@settings(max_examples=100, deadline=None)
@given(raw=designs())
def test_a_step_leading_back_to_the_start_is_a_cycle_error(raw):
    assume(not rules.problems(rules.parse(raw)))
    last = len(raw) - 1  # the last step has no way forward, so everything stays reachable
    raw[last] = {**raw[last], "answer": None, "options": [], "branches": {}, "next": "s0"}
    found = rules.problems(rules.parse(raw))
    assert [p.key for p in found] == ["script.cycle"]
    assert "s0" in found[0].params["path"]


def test_the_demo_script_is_valid_and_branches():
    from raccordo.demo.content import load_content

    design = rules.validate(load_content().setup.script["steps"])
    state = rules.answer(design, rules.start(design), None)[0]
    state = rules.answer(design, state, "A-1042")[0]
    assert rules.answer(design, state, "difettoso / faulty")[0].current == "foto"
    assert rules.answer(design, state, "Ripensamento / Changed mind")[0].current == "consegna"
