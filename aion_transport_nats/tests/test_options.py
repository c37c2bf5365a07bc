"""Transport URLs: every form parses into NatsOptions; bad ones fail with a fix and no secret."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from aion_core.errors import ConfigurationError
from aion_transport_nats.options import NatsOptions, parse_nats_url, redact_nats_url

SECRET = "s3cr3t-Pa55"


def test_a_single_server_gets_the_default_port_and_aion_defaults() -> None:
    options = parse_nats_url("nats://127.0.0.1")
    assert options.servers == ("nats://127.0.0.1:4222",)
    assert options.namespace is None
    assert options.partitions == 16
    assert (options.user, options.password, options.token) == (None, None, None)
    assert not options.uses_tls


@pytest.mark.parametrize(
    "url",
    [
        "nats://h1:4222,h2:4223",
        "nats://h1:4222,nats://h2:4223",
        "nats://h1:4222,nats://h2:4223/",
        "nats://h1:4222 , h2:4223",
    ],
)
def test_several_servers_are_comma_separated_with_or_without_a_scheme(url: str) -> None:
    assert parse_nats_url(url).servers == ("nats://h1:4222", "nats://h2:4223")


def test_ipv6_servers_keep_their_brackets() -> None:
    assert parse_nats_url("nats://[::1]:4300,[::1]").servers == (
        "nats://[::1]:4300",
        "nats://[::1]:4222",
    )


def test_tls_scheme_means_tls_without_files() -> None:
    options = parse_nats_url("tls://nats.example.com:4443")
    assert options.servers == ("tls://nats.example.com:4443",)
    assert options.uses_tls
    assert options.ssl_context() is None  # nats-py then uses the system's default context


def test_websocket_servers_keep_their_scheme_and_need_no_port() -> None:
    assert parse_nats_url("wss://nats.example.com").servers == ("wss://nats.example.com",)


def test_a_token_before_the_host_is_token_auth() -> None:
    options = parse_nats_url(f"nats://{SECRET}@127.0.0.1:4222")
    assert options.token == SECRET
    assert options.user is None
    assert options.connect_kwargs()["token"] == SECRET
    assert SECRET not in repr(options)
    assert options.redacted_url == "nats://***@127.0.0.1:4222"


def test_user_and_password_are_percent_decoded() -> None:
    options = parse_nats_url("nats://ada%40shop:p%40ss%2Cw%3Ard@h1:4222,h2")
    assert (options.user, options.password) == ("ada@shop", "p@ss,w:rd")
    assert options.servers == ("nats://h1:4222", "nats://h2:4222")
    kwargs = options.connect_kwargs()
    assert (kwargs["user"], kwargs["password"]) == ("ada@shop", "p@ss,w:rd")
    assert "p@ss" not in repr(options)
    assert options.redacted_url == "nats://ada@shop:***@h1:4222,nats://h2:4222"


def test_the_same_credentials_may_repeat_on_every_server() -> None:
    options = parse_nats_url(f"nats://u:{SECRET}@h1,nats://u:{SECRET}@h2")
    assert (options.user, options.password) == ("u", SECRET)


def test_query_parameters_reach_the_options_and_connect_kwargs(tmp_path: Path) -> None:
    creds = tmp_path / "user.creds"
    creds.write_text("creds")
    options = parse_nats_url(
        f"nats://h1:4222?creds={creds}&name=engine-1&connect_timeout=1.5"
        "&reconnect_time_wait=0.25&max_reconnect_attempts=10&ping_interval=20"
        "&max_outstanding_pings=3&drain_timeout=7&no_echo=true&inbox_prefix=_AION"
        "&namespace=shop-eu&partitions=64"
    )
    assert options == NatsOptions(
        servers=("nats://h1:4222",),
        creds_file=str(creds),
        name="engine-1",
        connect_timeout=1.5,
        reconnect_time_wait=0.25,
        max_reconnect_attempts=10,
        ping_interval=20.0,
        max_outstanding_pings=3,
        drain_timeout=7.0,
        no_echo=True,
        inbox_prefix="_AION",
        namespace="shop-eu",
        partitions=64,
    )
    kwargs = options.connect_kwargs()
    assert kwargs["servers"] == ["nats://h1:4222"]
    assert kwargs["user_credentials"] == str(creds)
    assert kwargs["name"] == "engine-1"
    assert kwargs["connect_timeout"] == 1.5
    assert kwargs["reconnect_time_wait"] == 0.25
    assert kwargs["max_reconnect_attempts"] == 10
    assert kwargs["ping_interval"] == 20.0
    assert kwargs["no_echo"] is True
    assert kwargs["inbox_prefix"] == "_AION"
    assert "namespace" not in kwargs
    assert "partitions" not in kwargs


def test_nkey_seed_file_is_passed_as_nkeys_seed(tmp_path: Path) -> None:
    seed = tmp_path / "user.nk"
    seed.write_text("SUAAAAAA")
    assert parse_nats_url(f"nats://h?nkey={seed}").connect_kwargs()["nkeys_seed"] == str(seed)


def test_reconnect_defaults_retry_forever_with_a_short_wait() -> None:
    kwargs = parse_nats_url("nats://h").connect_kwargs()
    assert kwargs["max_reconnect_attempts"] == -1
    assert kwargs["allow_reconnect"] is True
    assert kwargs["reconnect_time_wait"] <= 1


def _write_test_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key made by the openssl command line, if present."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = folder / "client.pem", folder / "client.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=aion-test", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_files_build_an_ssl_context(tmp_path: Path) -> None:
    cert, key = _write_test_certificate(tmp_path)
    options = parse_nats_url(
        f"tls://h:4443?tls_ca={cert}&tls_cert={cert}&tls_key={key}"
        "&tls_hostname=nats.internal&tls_handshake_first=yes"
    )
    context = options.ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    kwargs = options.connect_kwargs()
    assert isinstance(kwargs["tls"], ssl.SSLContext)
    assert kwargs["tls_hostname"] == "nats.internal"
    assert kwargs["tls_handshake_first"] is True


def test_a_tls_file_that_is_not_pem_is_a_configuration_error(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    options = parse_nats_url(f"nats://u:{SECRET}@h?tls_ca={bogus}")
    with pytest.raises(ConfigurationError, match="tls_ca=") as caught:
        options.ssl_context()
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "advice"),
    [
        ("", "empty"),
        ("127.0.0.1:4222", "must start with nats://"),
        ("http://h:4222", "use nats://"),
        ("nats://", "no host"),
        ("nats://h1,,h2", "server 2 .* no host"),
        ("nats://:4222", "no host"),
        ("nats://h:notaport", "port"),
        ("nats://h:70000", "port"),
        ("nats://h:4222/path", "path"),
        ("nats://h:4222#frag", "fragment"),
        ("nats://[::1:4222", "IPv6"),
        ("nats://h,ws://h2", "mixes WebSocket"),
        (
            "nats://h?color=blue",
            "unknown NATS URL parameter 'color'; known parameters: connect_timeout, creds",
        ),
        ("nats://h?name=a&name=b", "given twice"),
        ("nats://h?name=", "no value"),
        ("nats://h?connect_timeout=soon", "connect_timeout='soon' is not a valid number"),
        ("nats://h?connect_timeout=0", "above 0"),
        ("nats://h?connect_timeout=nan", "not a valid number"),
        ("nats://h?reconnect_time_wait=-1", "at least 0"),
        ("nats://h?partitions=many", "partitions='many' is not a whole number"),
        ("nats://h?partitions=0", "from 1 to"),
        ("nats://h?max_reconnect_attempts=-2", ">= -1"),
        ("nats://h?no_echo=maybe", "not a boolean"),
        ("nats://h?namespace=a.b", "namespace 'a.b' cannot be a NATS subject token"),
        ("nats://h?namespace=a%20b", "whitespace"),
        ("nats://h?creds=/nonexistent/user.creds", "creds='/nonexistent/user.creds': no such"),
        ("nats://h?nkey=/nonexistent/seed.nk", "nkey=.*no such file"),
        ("nats://h?tls_ca=/nonexistent/ca.pem", "tls_ca=.*no such file"),
        ("nats://h?tls_cert=/nonexistent/c.pem", "tls_cert=.*no such file"),
        ("nats://h?tls_key=/nonexistent/k.pem", "tls_key=.*no such file"),
    ],
)
def test_bad_urls_raise_configuration_errors_that_say_what_to_fix(url: str, advice: str) -> None:
    with pytest.raises(ConfigurationError, match=advice):
        parse_nats_url(url)


@pytest.mark.parametrize(
    "url",
    [
        f"nats://user:{SECRET}@h:notaport",
        f"nats://user:{SECRET}@:4222",
        f"nats://{SECRET}@h?color=blue",
        f"nats://user:{SECRET}@h?creds=/nonexistent",
        f"nats://user:{SECRET}@h1,other:{SECRET}x@h2",
        f"nats://user:{SECRET}@h:4222/path",
        f"nats://user:{SECRET}@h,ws://h2",
        f"http://user:{SECRET}@h",
        # A raw ',' in the password splits it across "servers"; still no part of it leaks.
        "nats://user:s3cr3t,Pa55@h",
        # A raw '#' would start a fragment.
        "nats://user:s3cr3t#Pa55@h",
    ],
)
def test_error_messages_never_contain_the_password_or_token(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_nats_url(url)
    message = str(caught.value)
    assert SECRET not in message
    assert "s3cr3t" not in message
    assert "Pa55" not in message


def test_both_creds_and_nkey_are_refused(tmp_path: Path) -> None:
    creds, seed = tmp_path / "u.creds", tmp_path / "u.nk"
    creds.write_text("x")
    seed.write_text("x")
    with pytest.raises(ConfigurationError, match="not both"):
        parse_nats_url(f"nats://h?creds={creds}&nkey={seed}")


def test_a_tls_key_without_a_certificate_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_text("x")
    with pytest.raises(ConfigurationError, match="tls_key= without tls_cert="):
        parse_nats_url(f"nats://h?tls_key={key}")


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (f"nats://{SECRET}@h:4222", "nats://***@h:4222"),
        (f"nats://u:{SECRET}@h1:4222,h2", "nats://u:***@h1:4222,h2"),
        (f"nats://u:{SECRET}@h1,nats://u:{SECRET}@h2?name=x", "nats://u:***@h1,nats://u:***@h2?name=x"),
        ("nats://h1:4222,h2", "nats://h1:4222,h2"),
        (f"tls://u:a@b{SECRET}@h", "tls://u:***@h"),
        ("not a url at all", "not a url at all"),
    ],
)  # fmt: skip
def test_redact_nats_url_hides_user_info_of_every_server(url: str, redacted: str) -> None:
    assert redact_nats_url(url) == redacted
