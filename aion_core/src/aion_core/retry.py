"""Retry policy for activities (DESIGN 4.6)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["RetryPolicy"]


class RetryPolicy(BaseModel):
    """How often, and how far apart, a failed activity is attempted again.

    Attributes:
        initial_interval: Wait before the second attempt.
        backoff_coefficient: Each further wait is the previous one times this.
        maximum_interval: No wait is longer than this.
        maximum_attempts: Attempts in all, including the first; 0 means unlimited.
        non_retryable_error_types: Error type names that end the retries at once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_interval: timedelta = Field(default=timedelta(seconds=1), gt=timedelta(0))
    backoff_coefficient: float = Field(default=2.0, ge=1.0, allow_inf_nan=False)
    maximum_interval: timedelta = Field(default=timedelta(seconds=100), gt=timedelta(0))
    maximum_attempts: int = Field(default=0, ge=0)
    non_retryable_error_types: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _maximum_covers_initial(self) -> RetryPolicy:
        if self.maximum_interval < self.initial_interval:
            raise ValueError("maximum_interval must not be shorter than initial_interval")
        return self

    def interval_after(self, attempt: int) -> timedelta:
        """The wait between attempt number `attempt` (1-based) failing and the next attempt."""
        if attempt < 1:
            raise ValueError("attempt numbers start at 1")
        # Grow in float seconds but stop multiplying once past the cap, so a
        # large attempt number cannot overflow.
        seconds = self.initial_interval.total_seconds()
        cap = self.maximum_interval.total_seconds()
        for _ in range(attempt - 1):
            seconds *= self.backoff_coefficient
            if seconds >= cap:
                return self.maximum_interval
        return timedelta(seconds=min(seconds, cap))

    def allows_attempt(self, attempt: int) -> bool:
        """Whether attempt number `attempt` (1-based) may run under this policy."""
        return self.maximum_attempts == 0 or attempt <= self.maximum_attempts

    def retries_error(self, error_type: str, *, non_retryable: bool = False) -> bool:
        """Whether a failure of this type may be retried at all."""
        return not non_retryable and error_type not in self.non_retryable_error_types
