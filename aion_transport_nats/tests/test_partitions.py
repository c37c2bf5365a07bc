"""partition_of: the same partition for a workflow id everywhere, spread evenly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aion_transport_nats.partitions import partition_of

# Pinned results: changing the hash would move every running workflow to another partition.
PINNED = [
    ("order-42", 16, 3),
    ("order-42", 1024, 499),
    ("", 16, 4),
    ("ünïcode/ïd", 16, 7),
    ("a.b*c>d e", 1024, 773),
]


@pytest.mark.parametrize(("workflow_id", "partitions", "expected"), PINNED)
def test_partition_of_is_pinned_across_versions(
    workflow_id: str, partitions: int, expected: int
) -> None:
    assert partition_of(workflow_id, partitions) == expected


@given(workflow_id=st.text(), partitions=st.integers(min_value=1, max_value=4096))
def test_partition_of_is_in_range_and_deterministic(workflow_id: str, partitions: int) -> None:
    partition = partition_of(workflow_id, partitions)
    assert 0 <= partition < partitions
    assert partition_of(workflow_id, partitions) == partition


def test_partition_of_is_the_same_in_processes_with_other_hash_seeds() -> None:
    ids = [f"wf-{n}" for n in range(50)] + [work for work, _, _ in PINNED]
    expected = [partition_of(workflow_id, 16) for workflow_id in ids]
    script = (
        "import json, sys\n"
        "from aion_transport_nats.partitions import partition_of\n"
        "ids = json.loads(sys.stdin.read())\n"
        "print(json.dumps([partition_of(i, 16) for i in ids]))\n"
    )
    for seed in ("1", "12345"):
        result = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(ids),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert json.loads(result.stdout) == expected


@given(
    prefix=st.text(max_size=20),
    partitions=st.sampled_from([2, 7, 16, 64]),
)
def test_partition_of_spreads_similar_ids_evenly(prefix: str, partitions: int) -> None:
    # 200 ids per partition on average; each partition gets within 40% of that.
    count = 200 * partitions
    spread = Counter(partition_of(f"{prefix}{n}", partitions) for n in range(count))
    assert set(spread) == set(range(partitions))
    assert all(120 <= hits <= 280 for hits in spread.values()), spread


def test_partition_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        partition_of("wf", 0)
