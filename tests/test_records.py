"""The leaves: one JSON shape per record (both ways), one role table, one content parser,
one error table (each error knows its HTTP status; a client maps a status back)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from langchain_core.messages import AIMessage

from motorhead_magic import errors
from motorhead_magic.records import (
    MemoryView,
    Message,
    SessionInfo,
    Summary,
    content_text,
    role_kind,
)

WHEN = datetime(2026, 12, 1, 12, 30, tzinfo=timezone.utc)


def test_every_record_round_trips_through_its_dict():
    message = Message("s", 3, "AI", "hi {x}", 2, WHEN, {"model": "m", "n": [1, 2]}, True)
    summary = Summary("s", 2, "they greeted", 40, WHEN)
    view = MemoryView("s", [message], "they greeted", 40, summary)
    info = SessionInfo("s", 4, 1, WHEN, 2)
    for record in (message, summary, view, info):
        assert type(record).from_dict(record.to_dict()) == record


def test_view_message_count_needs_no_scan():
    message = Message("s", 9, "AI", "x", 1, WHEN)
    assert MemoryView("s", [message], None, 0).message_count == 10
    summary = Summary("s", 5, "c", 0, WHEN)
    assert MemoryView("s", [], "c", 0, summary).message_count == 6  # all folded
    assert MemoryView("s", [], None, 0).message_count == 0


@pytest.mark.parametrize(("role", "kind"), [
    ("Human", "human"), ("user", "human"), ("AI", "ai"), ("assistant", "ai"),
    ("System", "system"), ("Tool", "other"), ("Bob", "other")])
def test_one_role_table(role, kind):
    assert role_kind(role) == kind


def test_content_text_of_strings_blocks_and_messages():
    assert content_text("plain") == "plain"
    assert content_text(["a", {"type": "text", "text": "b"}, {"type": "image_url"}]) == "ab"
    assert content_text(AIMessage(content=[{"type": "text", "text": "hi"}])) == "hi"
    assert content_text(None) == ""


@pytest.mark.parametrize(("error", "status"), [
    (errors.InvalidInput, 400), (errors.NotAuthorized, 401), (errors.EndpointMissing, 404),
    (errors.Conflict, 409),
    (errors.StoreUnavailable, 503), (errors.WaitTimedOut, 504), (errors.MotorheadError, 500)])
def test_each_error_carries_its_status_and_comes_back_from_it(error, status):
    assert error.http_status == status
    back = errors.error_from_status(status, "why")
    assert type(back) is error and str(back) == "why"


def test_unknown_statuses_become_the_base_error():
    assert type(errors.error_from_status(418, "teapot")) is errors.MotorheadError
    assert isinstance(errors.error_from_status(504, "slow"), TimeoutError)
