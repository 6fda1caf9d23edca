"""The SSH key pair OSM asks a VM charm for when a VNFD sets `config-access.ssh-access.required`
(`generate-ssh-key`, then `get-ssh-public-key`, whose key OSM injects into the VM)."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def generate(comment: str) -> tuple[str, str]:
    """A new Ed25519 key pair: (private key in OpenSSH PEM, public key line)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, f"{public.decode()} {comment}"
