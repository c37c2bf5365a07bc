"""The reliability suite: fixtures come from the root conftest; modules here import each other.

The suite is its own stage of ``python dev.py test`` (after the unit and
end-to-end tests): it attacks aion with crashes, faults and bad input, and
takes longer than the rest.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Test modules import their helpers (`crash_flows`, `security_*`...) by name, as the
# engine processes they start do (with this folder on PYTHONPATH).
sys.path.insert(0, str(Path(__file__).parent))
