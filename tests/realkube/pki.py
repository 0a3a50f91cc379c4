"""Certificates, service-account keys and kubeconfigs for one test control plane, made fresh per run.

ECDSA P-256 throughout: the API server, the controller-manager and every client accept it, and a
key takes microseconds where an RSA key takes a tenth of a second.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The first address of the service range is the `kubernetes` Service's ClusterIP: the serving
# certificate must name it, as kubeadm's does, for in-cluster clients.
SERVICE_CIDR = "10.96.0.0/12"
KUBERNETES_SERVICE_IP = "10.96.0.1"
API_SERVER_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local")


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


class ClusterPKI:
    """A CA, the API server's serving certificate, client certificates by identity, and the
    service-account signing key, all under `directory`."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._now = datetime.datetime.now(datetime.timezone.utc)
        self._ca_key, self._ca_cert, self.ca = self._make_ca("ca", "binderhub-wizard test cluster CA")
        # The API server's request-header authentication, as kubeadm sets it up: the controller-manager
        # and scheduler read this CA from the extension-apiserver-authentication ConfigMap.
        front_key, front_cert, self.front_proxy_ca = self._make_ca("front-proxy-ca", "front-proxy-ca")
        self.front_proxy_client = self._issue("front-proxy-client", "front-proxy-client", (),
                                              ExtendedKeyUsageOID.CLIENT_AUTH, signer=(front_key, front_cert))
        service_account_key = ec.generate_private_key(ec.SECP256R1())
        self.service_account_key = _write(directory / "sa.key", _pem_key(service_account_key))
        self.service_account_public = _write(directory / "sa.pub", service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        self.api_server = self._issue("apiserver", "kube-apiserver", (), ExtendedKeyUsageOID.SERVER_AUTH,
                                      names=API_SERVER_NAMES, ips=("127.0.0.1", KUBERNETES_SERVICE_IP))

    def _make_ca(self, stem: str, common_name: str):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = (self._builder(name, name, key.public_key())
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        pair = KeyPair(_write(self.directory / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM)),
                       _write(self.directory / f"{stem}.key", _pem_key(key)))
        return key, cert, pair

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert.read_bytes()

    def _builder(self, subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(self._now - datetime.timedelta(minutes=5))
                .not_valid_after(self._now + datetime.timedelta(days=2)))

    def _issue(self, stem: str, common_name: str, groups: tuple[str, ...], usage, *,
               names: tuple[str, ...] = (), ips: tuple[str, ...] = (), signer=None) -> KeyPair:
        signer_key, signer_cert = signer or (self._ca_key, self._ca_cert)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
                            + [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups])
        builder = (self._builder(subject, signer_cert.subject, key.public_key())
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if names or ips:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]),
                critical=False)
        cert = builder.sign(signer_key, hashes.SHA256())
        return KeyPair(_write(self.directory / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM)),
                       _write(self.directory / f"{stem}.key", _pem_key(key)))

    def client(self, stem: str, user: str, groups: tuple[str, ...] = ()) -> KeyPair:
        """A client certificate: the API server takes the CN as the user and each O as a group."""
        return self._issue(stem, user, groups, ExtendedKeyUsageOID.CLIENT_AUTH)

    def kubeconfig(self, path: Path, server: str, credentials: KeyPair, context: str = "realkube") -> Path:
        """A kubeconfig with everything embedded (kubectl, helm and the python client all read it)."""
        def b64(file: Path) -> str:
            return base64.b64encode(file.read_bytes()).decode()

        document = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": context, "cluster": {"server": server,
                                                       "certificate-authority-data": b64(self.ca.cert)}}],
            "users": [{"name": context, "user": {"client-certificate-data": b64(credentials.cert),
                                                 "client-key-data": b64(credentials.key)}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }
        _write(path, yaml.safe_dump(document, sort_keys=False).encode())
        return path
