"""Throw-away certificate authorities and certificates for the TLS tests, made with `cryptography`.

Each test run gets fresh keys: a CA that signs a server certificate for
``127.0.0.1``/``localhost`` and a client certificate (mutual TLS), and a second
CA that signed neither, for a client that trusts the wrong authority.
Elliptic-curve keys keep generation in the milliseconds.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TestPki", "make_pki"]

_VALID_FOR = datetime.timedelta(days=2)


@dataclass(frozen=True)
class TestPki:
    """PEM files of one run's certificates.

    Attributes:
        ca: The CA that signed the server and client certificates.
        other_ca: A CA that signed nothing the server presents.
        server_cert: The server's certificate (SAN ``127.0.0.1``, ``localhost``).
        server_key: Its private key.
        client_cert: A client certificate the CA signed (for mutual TLS).
        client_key: Its private key.
    """

    __test__ = False  # a data holder, not a test class

    ca: Path
    other_ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def _write_cert(certificate: x509.Certificate, path: Path) -> Path:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def _key_usage(*, authority: bool) -> x509.KeyUsage:
    """What a key may do: sign certificates (a CA), or sign and agree keys in TLS (a leaf)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not authority,
        key_cert_sign=authority,
        crl_sign=authority,
        encipher_only=False,
        decipher_only=False,
    )


def _new_ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(authority=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def _new_leaf(
    common_name: str,
    usage: x509.ObjectIdentifier,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    *,
    hosts: bool,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_certificate, ca_key = issuer
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(authority=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if hosts:
        # Clients check the address they dialled (127.0.0.1) against these names.
        names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def make_pki(folder: Path) -> TestPki:
    """A CA, a server and a client certificate it signed, and an unrelated CA, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    authority = _new_ca("aion test CA")
    other_authority = _new_ca("aion test CA nobody trusts")
    server = _new_leaf("aion-nats", ExtendedKeyUsageOID.SERVER_AUTH, authority, hosts=True)
    client = _new_leaf("aion-client", ExtendedKeyUsageOID.CLIENT_AUTH, authority, hosts=False)
    return TestPki(
        ca=_write_cert(authority[0], folder / "ca.pem"),
        other_ca=_write_cert(other_authority[0], folder / "other-ca.pem"),
        server_cert=_write_cert(server[0], folder / "server-cert.pem"),
        server_key=_write_key(server[1], folder / "server-key.pem"),
        client_cert=_write_cert(client[0], folder / "client-cert.pem"),
        client_key=_write_key(client[1], folder / "client-key.pem"),
    )
