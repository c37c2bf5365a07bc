"""Live events go out one message per append, split only where a message would be too large."""

from __future__ import annotations

import pytest

from aion_core.errors import WireFormatError
from aion_core.events import Payload, SignalReceived, WorkflowStarted
from aion_core.testing.store_contract import make_events
from aion_transport_nats.wire import decode_events, encode_events

_LARGE = Payload(metadata={"encoding": "json/plain"}, data=b"1" * 3000)


def test_the_events_of_an_append_go_as_one_message() -> None:
    events = make_events("w", [WorkflowStarted(workflow_type="T"), SignalReceived(signal_name="s")])
    [message] = encode_events(events, max_bytes=1 << 20)
    assert decode_events(message) == events


def test_events_are_split_in_order_where_a_message_would_exceed_the_limit() -> None:
    events = make_events("w", [SignalReceived(signal_name="s", args=(_LARGE,))] * 5)
    messages = encode_events(events, max_bytes=9000)
    assert len(messages) == 3  # two events fit a message, not three
    assert all(len(message) <= 9000 for message in messages)
    assert [e for message in messages for e in decode_events(message)] == events


def test_an_event_larger_than_the_limit_goes_alone() -> None:
    events = make_events("w", [SignalReceived(signal_name="s", args=(_LARGE,))] * 2)
    messages = encode_events(events, max_bytes=1000)
    assert [len(decode_events(message)) for message in messages] == [1, 1]


@pytest.mark.parametrize("garbage", [b"", b"{}", b"[1]", b'[{"seq": "x"}]', b"\xff"])
def test_anything_else_is_a_wire_format_error(garbage: bytes) -> None:
    with pytest.raises(WireFormatError):
        decode_events(garbage)
