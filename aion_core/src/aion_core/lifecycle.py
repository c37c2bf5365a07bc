"""`Service`: something started before use and closed after, also as ``async with``."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Service"]


class Service:
    """Gives a class with `start` and `close` the ``async with`` form (engines, workers)."""

    async def start(self) -> None:
        """Begin working (connect, open, recover)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Stop working; nothing recorded is lost."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
