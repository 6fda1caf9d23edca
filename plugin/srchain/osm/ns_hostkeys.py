"""SSH host keys generated at instantiation, so a VM charm's day 1 completes unattended and strictly.

OSM carries two things from `ns-create` to a VM and its proxy charm, and nothing back from the VM:
  * the VDU's `cloud-init-file`, rendered as a jinja2 template with the member's `additionalParamsForVnf`
    (LCM `ns.py` `NsLcm._parse_cloud_init`, StrictUndefined + autoescape; the 2025 LCM hands the text and the
    vdur's additionalParams to NG-RO, which renders it the same way);
  * the initial-config-primitives' `<placeholder>` values, from the same parameters (`_map_primitive_params`);
    N2VC applies `config` as Juju application config, then runs `verify-ssh-credentials`.
So `srchain osm ns-create` generates one Ed25519 host key pair per VM member that asks for one (its rendered
parameters carry `ssh_host_key_type: ed25519`): the private half goes to the VM's cloud-init (`ssh_keys`, no
other key type generated), the public half to the charm's `config` (`ssh-host-key`) and, for an SR proxy the
controller reaches over SSH, to the NS charm's `proxy-host-keys`. The first login is already strict.
The keys live only in the request sent to OSM (never in a file srchain writes, never in argv or output).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from srchain.charms import sshkeys
from srchain.errors import SrchainError

KEY_TYPE = "ssh_host_key_type"  # the marker: render-nsd writes it for every VM member
PRIVATE = "ssh_host_key"  # cloud-init only: the private key, its newlines escaped (a YAML "..." scalar)
PUBLIC = "ssh_host_key_pub"  # the `config` primitive's ssh-host-key
PROXY_HOST_KEYS = "proxy_host_keys"  # additionalParamsForNs: the controller's proxy-host-keys (YAML)
SUPPORTED_TYPES = ("ed25519",)
# What ns-create fills in, for the placeholder rule: per member with the marker, and at NS level.
GENERATED_PER_VNF = frozenset({PRIVATE, PUBLIC})
GENERATED_PER_NS = frozenset({PROXY_HOST_KEYS})


class HostKeyError(SrchainError):
    """The ns-create parameters cannot get host keys; the message names the member and the parameter."""


def cloud_init_value(private_pem: str) -> str:
    """The private key as the cloud-init template's `"{{ ssh_host_key }}"` wants it: one line, `\\n` escapes
    (a YAML double-quoted scalar turns them back into newlines). PEM text has no `"`, `\\`, `&`, `<`, `>`, so
    neither YAML nor LCM's autoescaping changes it."""
    if any(c in private_pem for c in '"\\&<>\''):
        raise HostKeyError("host key: unexpected characters in the PEM text")
    return private_pem.strip().replace("\n", "\\n") + "\\n"


def fingerprint(public_line: str) -> str:
    """`TYPE SHA256:...` of a public key line, as ssh-keygen -l prints it."""
    kind, b64 = public_line.split()[:2]
    digest = base64.b64encode(hashlib.sha256(base64.b64decode(b64)).digest()).decode().rstrip("=")
    return f"{kind} SHA256:{digest}"


def _members(params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in params.get("additionalParamsForVnf") or []:
        if isinstance(item, dict) and isinstance(item.get("additionalParams"), dict):
            yield item


def wants_keys(params: dict[str, Any]) -> list[str]:
    """The members whose parameters ask for a generated host key."""
    return [str(m["member-vnf-index"]) for m in _members(params) if KEY_TYPE in m["additionalParams"]]


def _ssh_proxies(params: dict[str, Any]) -> list[str]:
    text = (params.get("additionalParamsForNs") or {}).get("inventory")
    if not isinstance(text, str):
        return []
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return []  # the controller charm reports a bad inventory itself
    proxies = doc.get("proxies") if isinstance(doc, dict) else None
    return [str(p["name"]) for p in proxies or [] if isinstance(p, dict) and p.get("ssh") and p.get("name")]


def with_host_keys(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A copy of the ns-create parameters with a fresh host key pair for every member that asks for one, and
    the SSH proxies' public keys as `proxy_host_keys` for the NS charm. Returns (parameters, {member: public
    key line}). A member that already carries a key is refused: the pair is made here, never reused."""
    out = copy.deepcopy(params)
    public: dict[str, str] = {}
    for item in _members(out):
        ap = item["additionalParams"]
        if KEY_TYPE not in ap:
            continue
        member = str(item["member-vnf-index"])
        given = sorted(k for k in (PRIVATE, PUBLIC) if k in ap)
        if given:
            raise HostKeyError(f"additionalParamsForVnf[member-vnf-index={member}]: {', '.join(given)} given; "
                               "srchain osm ns-create generates the VM's host key for each instantiation "
                               "(remove it from the parameters)")
        if ap[KEY_TYPE] not in SUPPORTED_TYPES:
            raise HostKeyError(f"additionalParamsForVnf[member-vnf-index={member}]: {KEY_TYPE} "
                               f"'{ap[KEY_TYPE]}' is not one of {', '.join(SUPPORTED_TYPES)}")
        private, pub = sshkeys.generate(f"srchain-host-{member}")
        ap[PRIVATE] = cloud_init_value(private)
        ap[PUBLIC] = " ".join(pub.split()[:2])
        public[member] = ap[PUBLIC]
    ns = out.get("additionalParamsForNs")
    pins = {p: public[p] for p in _ssh_proxies(out) if p in public}
    if isinstance(ns, dict) and pins:
        if PROXY_HOST_KEYS in ns:
            raise HostKeyError(f"additionalParamsForNs: {PROXY_HOST_KEYS} given; srchain osm ns-create fills it "
                               "with the keys it generates (remove it from the parameters)")
        ns[PROXY_HOST_KEYS] = yaml.safe_dump(pins, sort_keys=True, width=1000)
    return out, public


@contextmanager
def private_file(params: dict[str, Any]) -> Iterator[Path]:
    """The parameters as a 0600 file in a private directory, removed on exit (the `osm ns-create
    --config_file` path: osmclient reads a file)."""
    with tempfile.TemporaryDirectory(prefix="srchain-ns-config-") as d:
        path = Path(d) / "ns-config.yaml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(params, f, sort_keys=False, width=1000)
        yield path
