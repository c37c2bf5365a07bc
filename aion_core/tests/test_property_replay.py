"""Random workflow programs replay exactly the commands they recorded (DESIGN 4.2).

The programs, their interpreter and the replay checks live in
`aion_core.testing.programs`, shared with the reliability suite (which runs
more of them, over a SQLite store). Each generated program runs to completion
under a time-skipping environment; then its history must replay under
`Replayer`, and a fresh instance fed the recorded inputs, from the start or
after replaying any prefix of the history (as after an eviction or a restart
there), must issue exactly the recorded commands, in order, and reach the same
result.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings

from aion_core.testing.programs import (
    Step,
    check_replays_exactly,
    programs,
    results_seen,
    run_program,
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(program=programs())
def test_random_programs_replay_the_commands_they_recorded(program: list[Step]) -> None:
    results_seen.clear()
    result, history = asyncio.run(run_program(program))
    check_replays_exactly(history, result)
