"""A local certificate authority and a broker certificate it signed: TLS at the edge on one
machine (`hn up --tls`, the tests), where no public CA can vouch for 127.0.0.1.

Clients trust the CA's certificate (the Python SDK's `ca_file`, `hn bots --ca-file`, a
browser's or node's extra CA), never the broker's key. ECDSA P-256 keys, SHA-256 signatures;
the broker certificate names every host given (IP addresses and DNS names) in its
subjectAltName, as browsers and Python's ssl require. Production brokers get their certificate
from the operator (infra/terraform: SSM Parameter Store), not from here.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["LocalCa", "make_local_ca"]


@dataclass(frozen=True)
class LocalCa:
    """PEM files: the CA's certificate (what clients trust), the broker's chain and its key."""

    ca_file: str
    cert_file: str
    key_file: str

    def env(self) -> dict[str, str]:
        """The broker's variables for this certificate."""
        return {"HN_BROKER_TLS_CERT": self.cert_file, "HN_BROKER_TLS_KEY": self.key_file}


def make_local_ca(directory: str, hosts: Sequence[str] = ("127.0.0.1", "localhost"), *, days: int = 30) -> LocalCa:
    """Write a new CA and a broker certificate for `hosts` into `directory` (keys readable by
    the owner only); return their paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    os.makedirs(directory, mode=0o700, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "HighNoon local CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "HighNoon broker")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = LocalCa(
        os.path.join(directory, "ca.pem"), os.path.join(directory, "broker.pem"), os.path.join(directory, "broker.key")
    )
    _write(paths.ca_file, ca_cert.public_bytes(pem), 0o644)
    _write(paths.cert_file, cert.public_bytes(pem), 0o644)
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write(paths.key_file, key_pem, 0o600)
    # The CA's key is not kept: nothing else is ever signed with it.
    return paths


def _write(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
