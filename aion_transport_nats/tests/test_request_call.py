"""request_call against a real server: a slow owner is asked again ever more patiently, and a
late reply is a NoReplyError, distinct from nobody being there."""

from __future__ import annotations

import itertools
import time

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from aion_core.calls import DescribeCall, SubmitCall
from aion_core.errors import NoReplyError, TransportError
from aion_core.events import SignalReceived
from aion_transport_nats import wire
from aion_transport_nats.streams import StreamNames


async def test_a_silent_owner_is_asked_again_with_growing_patience_then_no_reply(
    nc: Client, names: StreamNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "_ATTEMPT_TIMEOUT", 0.2)
    subject = f"aion.{names.namespace}.ctl.silent"
    asked: list[float] = []

    async def never_answer(message: Msg) -> None:
        asked.append(time.monotonic())

    await nc.subscribe(subject, cb=never_answer)
    await nc.flush()
    with pytest.raises(NoReplyError, match=r"no reply within 3s; the engine may be overloaded"):
        await wire.request_call(nc, subject, DescribeCall(workflow_id="w"), timeout=3)
    # Attempts wait 0.2, 0.4, 0.8, 1.6 s (0.2 s pause between): four, where a fixed 0.2 s
    # would have asked eight times.
    assert len(asked) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(asked)]
    assert gaps[0] < gaps[1] < gaps[2]


async def test_a_signal_whose_reply_is_lost_is_not_sent_again(
    nc: Client, names: StreamNames
) -> None:
    subject = f"aion.{names.namespace}.ctl.silent"
    asked: list[Msg] = []

    async def never_answer(message: Msg) -> None:
        asked.append(message)

    await nc.subscribe(subject, cb=never_answer)
    await nc.flush()
    signal = SubmitCall(workflow_id="w", kind="input", body=SignalReceived(signal_name="s"))
    with pytest.raises(NoReplyError, match="may or may not have been recorded"):
        await wire.request_call(nc, subject, signal, timeout=0.5)
    assert len(asked) == 1


async def test_nobody_listening_is_a_transport_error_that_is_not_a_late_reply(
    nc: Client, names: StreamNames
) -> None:
    with pytest.raises(TransportError, match="is an engine node") as raised:
        await wire.request_call(
            nc, f"aion.{names.namespace}.ctl.nobody", DescribeCall(workflow_id="w"), timeout=0.5
        )
    assert not isinstance(raised.value, NoReplyError)
