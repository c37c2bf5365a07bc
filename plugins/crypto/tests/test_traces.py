"""The leak detector the other tests rely on finds a secret in every form it is stored in."""

from __future__ import annotations

import base64
import json

import pytest

from .conftest import reveals

SECRET = b"MARKER-0123456789abcdef"


@pytest.mark.parametrize("prefix", ["", "a", "ab", "abc", "\u00e9x"])
def test_a_secret_is_found_in_base64_at_any_offset_and_in_hex(prefix: str) -> None:
    data = json.dumps(f"{prefix}{SECRET.decode()} and more").encode()
    encoded = base64.b64encode(data)
    assert reveals(encoded, SECRET)
    assert reveals(b"\\x" + encoded.hex().encode(), SECRET)
    assert reveals(data, SECRET)
    assert reveals(data.hex(), SECRET)


def test_other_bytes_do_not_look_like_the_secret() -> None:
    other = base64.b64encode(json.dumps("MARKER-0123456789abcdeX and more").encode())
    assert not reveals(other, SECRET)
    assert not reveals(other.hex(), SECRET)
