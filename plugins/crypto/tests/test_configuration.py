"""Keys from the environment and key files; every mistake is a ConfigurationError that says
what to fix."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

import pytest

from aion_core.errors import ConfigurationError
from aion_plugin_crypto import keyring_from_environment

K16, K24, K32 = (base64.b64encode(os.urandom(n)).decode() for n in (16, 24, 32))


def test_one_inline_key_is_the_current_key() -> None:
    keyring = keyring_from_environment({"AION_CRYPTO_KEYS": f"2025-06:{K32}"})
    assert keyring.current.id == "2025-06"
    assert keyring.key_ids == ("2025-06",)


def test_several_inline_keys_of_every_size_with_the_current_one_named() -> None:
    keyring = keyring_from_environment(
        {"AION_CRYPTO_KEYS": f" a:{K16} , b:{K24},c:{K32}, ", "AION_CRYPTO_CURRENT_KEY": "b"}
    )
    assert keyring.key_ids == ("a", "b", "c")
    assert keyring.current.id == "b"
    assert [keyring.key(i).bits for i in keyring.key_ids] == [128, 192, 256]


def test_several_keys_without_a_current_one_are_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"2 encryption keys .*\(a, b\).*CURRENT_KEY"):
        keyring_from_environment({"AION_CRYPTO_KEYS": f"a:{K16},b:{K32}"})


def test_a_current_key_that_is_not_configured_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="AION_CRYPTO_CURRENT_KEY makes key 'c' current"):
        keyring_from_environment(
            {"AION_CRYPTO_KEYS": f"a:{K16},b:{K32}", "AION_CRYPTO_CURRENT_KEY": "c"}
        )


def test_no_key_at_all_is_refused_with_the_variables_to_set() -> None:
    for environ in ({}, {"AION_CRYPTO_KEYS": ""}, {"AION_CRYPTO_KEYS": " , "}):
        with pytest.raises(ConfigurationError) as caught:
            keyring_from_environment(environ)
        message = str(caught.value)
        for variable in ("AION_CRYPTO_KEYS", "AION_CRYPTO_KEY_FILE", "AION_CRYPTO_CURRENT_KEY"):
            assert variable in message
        assert "AION_DISABLE_PLUGINS=crypto" in message


@pytest.mark.parametrize(
    ("listed", "problem"),
    [
        (K32, "entry 1 of AION_CRYPTO_KEYS is not ID:BASE64KEY"),
        (f"a:{K16},{K32}", "entry 2 of AION_CRYPTO_KEYS is not ID:BASE64KEY"),
        (f"bad id:{K16}", "entry 1 of AION_CRYPTO_KEYS has an invalid key id"),
        (f":{K16}", "invalid key id"),
        ("a:not base64!", "key 'a' in AION_CRYPTO_KEYS is not valid base64"),
        (f"a:{base64.b64encode(bytes(20)).decode()}", "key 'a' in AION_CRYPTO_KEYS is 20 bytes"),
        (f"a:{K16},a:{K32}", "key id 'a' is given twice"),
    ],
)
def test_malformed_inline_keys_are_refused(listed: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        keyring_from_environment({"AION_CRYPTO_KEYS": listed})


def write_key_file(folder: Path, text: str) -> Path:
    path = folder / "keys.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_a_key_file_names_its_keys_and_the_current_one(tmp_path: Path) -> None:
    path = write_key_file(
        tmp_path,
        f'# rotated in June\ncurrent = "2025-06"\n\n[keys]\n"2025-01" = "{K16}"\n'
        f'"2025-06" = "{K32}"\n',
    )
    keyring = keyring_from_environment({"AION_CRYPTO_KEY_FILE": str(path)})
    assert keyring.key_ids == ("2025-01", "2025-06")
    assert keyring.current.id == "2025-06"
    # The variable wins over the file, for a quick roll-back.
    environ = {"AION_CRYPTO_KEY_FILE": str(path), "AION_CRYPTO_CURRENT_KEY": "2025-01"}
    assert keyring_from_environment(environ).current.id == "2025-01"


def test_keys_inline_and_in_a_file_are_used_together(tmp_path: Path) -> None:
    path = write_key_file(tmp_path, f'[keys]\nold = "{K16}"\n')
    environ = {
        "AION_CRYPTO_KEY_FILE": str(path),
        "AION_CRYPTO_KEYS": f"new:{K32}",
        "AION_CRYPTO_CURRENT_KEY": "new",
    }
    keyring = keyring_from_environment(environ)
    assert keyring.key_ids == ("new", "old")
    write_key_file(tmp_path, f'[keys]\nnew = "{K16}"\n')
    with pytest.raises(ConfigurationError, match=r"'new' is given twice \(in AION_CRYPTO_KEYS"):
        keyring_from_environment(environ)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("current = [", "is not valid TOML"),
        (f'key = "{K16}"', "unknown settings 'key'"),
        ('current = "k"', "no \\[keys\\] table"),
        ("[keys]\nk = 5", "key 'k' in key file .* is not a base64 string"),
        (f'[keys]\n"a b" = "{K16}"', "invalid key id"),
        ('[keys]\nk = "AAAA"', "key 'k' in key file .* is 3 bytes long"),
        (f'current = "x"\n[keys]\nk = "{K16}"', "key file .* makes key 'x' current"),
        (f'current = 3\n[keys]\nk = "{K16}"', "current in key file .* is not a key id"),
    ],
)
def test_malformed_key_files_are_refused(tmp_path: Path, text: str, problem: str) -> None:
    path = write_key_file(tmp_path, text)
    with pytest.raises(ConfigurationError, match=problem):
        keyring_from_environment({"AION_CRYPTO_KEY_FILE": str(path)})


def test_a_missing_key_file_is_refused_with_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigurationError, match=f"cannot read key file {missing}"):
        keyring_from_environment({"AION_CRYPTO_KEY_FILE": str(missing)})


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_key_file_others_can_read_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_key_file(tmp_path, f'[keys]\nk = "{K16}"\n')
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="aion.plugins.crypto"):
        assert keyring_from_environment({"AION_CRYPTO_KEY_FILE": str(path)}).current.id == "k"
    assert "chmod 600" in caplog.text
