"""Proxy configuration: SID entries, VNF attachments and daemon settings (the controller contract).

Validation errors name the field and the reason; `describe_error` turns a pydantic error into that message.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .labels import FIRST_UNRESERVED, MAX_LABEL

Label = Annotated[int, Field(ge=FIRST_UNRESERVED, le=MAX_LABEL)]
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,15}$")


def _check_mac(value: str | None) -> str | None:
    if value is not None and not _MAC.match(value):
        raise ValueError(f"{value!r} is not a MAC address like 02:00:00:00:00:01")
    return value.lower() if value else value


def _check_ifname(value: str | None) -> str | None:
    if value is not None and not _IFNAME.match(value):
        raise ValueError(f"{value!r} is not an interface name (1-15 chars of A-Za-z0-9_.@-)")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SidEntry(_Strict):
    sid: Label
    behaviour: Literal["static", "dynamic"]
    vnf: str = Field(min_length=1, max_length=64)
    version: int = Field(default=1, ge=0)
    # static
    restore: list[list[Label]] | None = None
    ttl: int = Field(default=64, ge=1, le=255)
    # dynamic
    return_match: Literal["same", "reverse", "either"] = "same"
    miss_policy: Literal["drop", "fallback"] = "drop"
    fallback: list[Label] | None = None
    cache_size: int = Field(default=65536, ge=1, le=16_000_000)
    idle_timeout_s: float = Field(default=300, gt=0, le=86400)

    @model_validator(mode="after")
    def _behaviour_fields(self) -> SidEntry:
        if self.behaviour == "static":
            if not self.restore:
                raise ValueError("restore: a static SID needs at least one label list")
            if any(not stack for stack in self.restore):
                raise ValueError("restore: label lists must not be empty")
        if self.behaviour == "dynamic" and self.miss_policy == "fallback" and not self.fallback:
            raise ValueError("fallback: miss_policy 'fallback' needs a non-empty fallback label list")
        return self


class Attachment(_Strict):
    vnf: str = Field(min_length=1, max_length=64)
    iface: str | None = None
    iface_out: str | None = None
    iface_in: str | None = None
    next_hop: str | None = None
    mac: str | None = None  # destination MAC when there is no next_hop (default: broadcast, for L2 VNFs)
    vlan: int | None = Field(default=None, ge=1, le=4094)

    _ifn = field_validator("iface", "iface_out", "iface_in")(_check_ifname)
    _mac = field_validator("mac")(_check_mac)

    @field_validator("next_hop")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not an IP address") from exc
        return value

    @model_validator(mode="after")
    def _ifaces(self) -> Attachment:
        if self.iface and (self.iface_in or self.iface_out):
            raise ValueError("iface: give either iface (shared) or iface_out + iface_in, not both")
        if not self.iface and not (self.iface_in and self.iface_out):
            raise ValueError("iface: give iface (shared) or both iface_out and iface_in")
        if self.next_hop and self.mac:
            raise ValueError("mac: give either next_hop (resolved) or mac, not both")
        return self

    def out_ifname(self) -> str:
        return self._sub(self.iface_out or self.iface or "")

    def in_ifname(self) -> str:
        return self._sub(self.iface_in or self.iface or "")

    def _sub(self, base: str) -> str:
        # VLAN attachments use the kernel sub-interface "<iface>.<vlan>" (created by the operator).
        return f"{base}.{self.vlan}" if self.vlan else base


class ProxyConfig(_Strict):
    sr_iface: str
    sr_next_hop_mac: str
    msd: int = Field(default=8, ge=1, le=32)
    listen: str = "unix:/run/srchain-proxy.sock"
    token_file: str
    state_file: str | None = None  # where API changes persist; default "<config>.state.json"
    io: Literal["ring", "socket"] = "ring"  # PACKET_MMAP rings, or one system call per frame (fallback)
    # SR-side loop: compiled C for the common case when it builds (auto), required (compiled), or never
    fast_path: Literal["auto", "compiled", "python"] = "auto"
    # SR-side receive ring, 2 KiB per slot: 16384 slots ride out a ~50 ms stall at 300 kpps without loss
    sr_ring_slots: int = Field(default=16384, ge=64, le=262144, multiple_of=32)
    # real-time priority (SCHED_FIFO 1-99) for the data-path thread, so other jobs on its CPU cannot delay
    # frames; needs root or CAP_SYS_NICE. The loop sleeps in epoll when idle; the kernel keeps 5 % for others.
    sched_fifo: int | None = Field(default=None, ge=1, le=99)
    # busy-poll the receive rings this long after the last frame before sleeping in epoll: while traffic
    # flows the data path is not woken up per frame. Off by default: it pays on a CPU of the proxy's own
    # (with `cpus`), it costs everyone else on a shared one (see docs/proxy.md, latency)
    spin_us: int = Field(default=0, ge=0, le=100_000)
    # CPUs the data-path thread may run on (sched_setaffinity); with workers, worker k gets cpus[k % len]
    cpus: list[Annotated[int, Field(ge=0, le=4095)]] | None = Field(default=None, min_length=1)
    # nice value of the data-path thread (-20..19; below 0 needs root or CAP_SYS_NICE): a larger CFS share on
    # a CPU shared with other work, without SCHED_FIFO's starving of the kernel's softirq thread
    nice: int | None = Field(default=None, ge=-20, le=19)
    # data-path workers (processes), each with its own rings in a PACKET_FANOUT group per interface and its
    # own flow caches; the steering keeps a flow and its reverse on one worker (fanout.py). Needs io: ring
    workers: int = Field(default=1, ge=1, le=16)
    sids: list[SidEntry] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)

    _ifn = field_validator("sr_iface")(_check_ifname)
    _mac = field_validator("sr_next_hop_mac")(_check_mac)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        if value.startswith("unix:"):
            if len(value) <= 5:
                raise ValueError("listen: unix socket path is empty")
            return value
        host, _, port = value.rpartition(":")
        if host not in ("127.0.0.1", "::1", "[::1]", "localhost") or not port.isdigit():
            raise ValueError(f"listen: {value!r} must be unix:/path or a loopback 127.0.0.1:PORT")
        return value

    @model_validator(mode="after")
    def _refs(self) -> ProxyConfig:
        check_tables(self.sids, self.attachments)
        if self.workers > 1 and self.io != "ring":
            raise ValueError("workers: several workers need io: ring (PACKET_FANOUT on the rings)")
        return self


def check_tables(sids: list[SidEntry], attachments: list[Attachment]) -> None:
    seen: set[int] = set()
    for entry in sids:
        if entry.sid in seen:
            raise ValueError(f"sids[{entry.sid}]: duplicate SID")
        seen.add(entry.sid)
    names = [a.vnf for a in attachments]
    if len(names) != len(set(names)):
        raise ValueError("attachments: duplicate vnf name")


def describe_error(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        where = f"{prefix}{'.' if prefix and loc else ''}{loc}"
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def load_config(path: str | Path) -> ProxyConfig:
    """Load the config file and, when present, the persisted state (SIDs + attachments) over it."""
    path = Path(path)
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: top level must be a mapping")
    try:
        cfg = ProxyConfig.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{path}: {describe_error(exc)}") from exc
    state = state_path(cfg, path)
    if state.exists():
        data = json.loads(state.read_text())
        try:
            cfg = cfg.model_copy(update={
                "sids": [SidEntry.model_validate(s) for s in data.get("sids", [])],
                "attachments": [Attachment.model_validate(a) for a in data.get("attachments", [])],
            })
            check_tables(cfg.sids, cfg.attachments)
        except ValidationError as exc:
            raise ValueError(f"{state}: {describe_error(exc)}") from exc
    return cfg


def state_path(cfg: ProxyConfig, config_path: str | Path) -> Path:
    return Path(cfg.state_file) if cfg.state_file else Path(f"{config_path}.state.json")


def save_state(path: Path, sids: list[SidEntry], attachments: list[Attachment]) -> None:
    """Write atomically: temp file in the same directory, fsync, rename, fsync the directory."""
    body = json.dumps({
        "sids": [s.model_dump(exclude_none=True) for s in sorted(sids, key=lambda s: s.sid)],
        "attachments": [a.model_dump(exclude_none=True) for a in sorted(attachments, key=lambda a: a.vnf)],
    }, indent=1).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
