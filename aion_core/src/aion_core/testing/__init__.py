"""Testing helpers: a time-skipping environment, a replayer, and the backend contract suites.

`StoreContract` and `TransportContract` need pytest and pytest-asyncio
(``pip install aion-core[testing]``); they are imported on first use so that
importing this package needs neither. `aion_core.testing.programs` (random
workflow programs for replay property tests) needs hypothesis, from the same
extra; import it by its module name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aion_core.testing.environment import WorkflowEnvironment
from aion_core.testing.replayer import Replayer

if TYPE_CHECKING:
    from aion_core.testing.store_contract import StoreContract
    from aion_core.testing.transport_contract import TransportContract

__all__ = ["Replayer", "StoreContract", "TransportContract", "WorkflowEnvironment"]


def __getattr__(name: str) -> Any:
    if name == "StoreContract":
        from aion_core.testing.store_contract import StoreContract

        return StoreContract
    if name == "TransportContract":
        from aion_core.testing.transport_contract import TransportContract

        return TransportContract
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
