"""JSON columns: dialogue state, citations and options survive a round trip exactly."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import date

import pytest

from assistant.db import serde
from assistant.core.types import Citation, DialogueState, Option


def test_state_round_trip_through_json_text() -> None:
    state = DialogueState(
        current_item="residence-permit-apply",
        slots={"situation": "studying"},
        lang="en",
        unresolved_turns=2,
        pending_options=(Option(label="在沪就读", value="studying", item_id="residence-permit-apply", situation="studying"),),
        pending_intent="consult.materials",
        pending_question="您是就业、有住所还是就读？",
        handed_off=True,
    )
    stored = json.loads(json.dumps(serde.state_to_json(state), ensure_ascii=False))
    assert serde.state_from_json(stored) == state
    assert isinstance(serde.state_from_json(stored).pending_options, tuple)


def test_citations_and_options_round_trip() -> None:
    citations = (Citation(item_id="a", item_name="甲", field="fees", updated=date(2026, 1, 31)),)
    assert serde.citations_from_json(json.loads(json.dumps(serde.citations_to_json(citations)))) == citations
    options = (Option(label="x", value="y"),)
    assert serde.options_from_json(serde.options_to_json(options)) == options


def test_missing_fields_take_defaults_and_unknown_ones_are_dropped_with_a_warning(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        state = serde.state_from_json({"current_item": "x", "retired_field": 1})
    assert state == DialogueState(current_item="x")
    assert "retired_field" in caplog.text


def test_bad_stored_values_fail_loudly() -> None:
    with pytest.raises(ValueError):
        serde.state_from_json({"lang": "fr"})
    with pytest.raises(TypeError):
        serde.state_from_json({"unresolved_turns": "two"})
    with pytest.raises(TypeError):
        serde.to_json(object())


def test_a_field_added_to_the_state_is_stored_without_code_changes() -> None:
    @dataclasses.dataclass(frozen=True)
    class Later:
        name: str
        tags: tuple[str, ...] = ()
        when: date | None = None

    value = Later(name="n", tags=("a", "b"), when=date(2026, 11, 25))
    assert serde.from_json(Later, serde.to_json(value)) == value
