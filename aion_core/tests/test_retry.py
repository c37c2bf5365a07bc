"""RetryPolicy: the defaults of DESIGN 4.6 and exponential backoff with a cap."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aion_core import RetryPolicy


def test_defaults_match_the_design() -> None:
    policy = RetryPolicy()
    assert policy.initial_interval == timedelta(seconds=1)
    assert policy.backoff_coefficient == 2
    assert policy.maximum_interval == timedelta(seconds=100)
    assert policy.maximum_attempts == 0
    assert policy.non_retryable_error_types == ()


def test_intervals_grow_by_the_coefficient_up_to_the_maximum() -> None:
    policy = RetryPolicy()
    waits = [policy.interval_after(attempt).total_seconds() for attempt in range(1, 10)]
    assert waits == [1, 2, 4, 8, 16, 32, 64, 100, 100]
    assert policy.interval_after(10_000) == timedelta(seconds=100)


def test_maximum_attempts_zero_is_unlimited() -> None:
    assert RetryPolicy().allows_attempt(1_000_000)
    limited = RetryPolicy(maximum_attempts=3)
    assert [limited.allows_attempt(n) for n in (1, 3, 4)] == [True, True, False]


def test_non_retryable_errors_end_retries() -> None:
    policy = RetryPolicy(non_retryable_error_types=("CardDeclined",))
    assert policy.retries_error("Timeout")
    assert not policy.retries_error("CardDeclined")
    assert not policy.retries_error("Timeout", non_retryable=True)


@pytest.mark.parametrize(
    "fields",
    [
        {"initial_interval": timedelta(0)},
        {"backoff_coefficient": 0.5},
        {"maximum_attempts": -1},
        {"initial_interval": timedelta(seconds=10), "maximum_interval": timedelta(seconds=1)},
    ],
)
def test_invalid_policies_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="validation error"):
        RetryPolicy.model_validate(fields)
