"""Proxy configuration: daemon settings, and the SID entries and VNF attachments it starts with.

The entries' schema is the controller contract, defined once in `srchain_contracts.proxy_api` (re-exported
here for the proxy's modules). Validation errors name the field and the reason; `describe_error` turns a
pydantic error into that message.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from srchain_contracts.proxy_api import Attachment, SidEntry, Srv6SidEntry, check_ifname, check_mac

__all__ = ["Attachment", "ProxyConfig", "SidEntry", "Srv6SidEntry", "check_tables", "describe_error", "load_config",
           "save_state", "state_path"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProxyConfig(_Strict):
    sr_iface: str
    # the SR side's VLAN: frames from the switch must carry this 802.1Q ID (any other tag, and no tag, is
    # refused and counted as `vlan`), frames to the switch get it; None: untagged (a tagged frame is refused)
    sr_vlan: int | None = Field(default=None, ge=1, le=4094, strict=True)
    sr_next_hop_mac: str
    msd: int = Field(default=8, ge=1, le=32)
    listen: str = "unix:/run/srchain-proxy.sock"
    token_file: str
    # control API: each of a request's head, its body and the sending of its answer must finish within this
    api_timeout_s: float = Field(default=10.0, gt=0, le=300)
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
    srv6_sids: list[Srv6SidEntry] = Field(default_factory=list)  # SRv6 proxy SIDs (End.AS/AD/AM), srv6.py
    attachments: list[Attachment] = Field(default_factory=list)

    _ifn = field_validator("sr_iface")(check_ifname)
    _mac = field_validator("sr_next_hop_mac")(check_mac)

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
        check_tables(self.sids, self.attachments, self.srv6_sids)
        if self.workers > 1 and self.io != "ring":
            raise ValueError("workers: several workers need io: ring (PACKET_FANOUT on the rings)")
        return self


def check_tables(sids: list[SidEntry], attachments: list[Attachment], srv6: Sequence[Srv6SidEntry] = ()) -> None:
    seen: set[int] = set()
    for entry in sids:
        if entry.sid in seen:
            raise ValueError(f"sids[{entry.sid}]: duplicate SID")
        seen.add(entry.sid)
    seen6: set[str] = set()
    for entry6 in srv6:
        if entry6.sid in seen6:  # compressed form: one spelling per address
            raise ValueError(f"srv6_sids[{entry6.sid}]: duplicate SID")
        seen6.add(entry6.sid)
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
                "sids": [SidEntry.model_validate(_whole_seconds(s)) for s in data.get("sids", [])],
                "attachments": [Attachment.model_validate(a) for a in data.get("attachments", [])],
                "srv6_sids": [Srv6SidEntry.model_validate(s) for s in data.get("srv6_sids", [])],
            })
            check_tables(cfg.sids, cfg.attachments, cfg.srv6_sids)
        except ValidationError as exc:
            raise ValueError(f"{state}: {describe_error(exc)}") from exc
    return cfg


def _whole_seconds(raw: Any) -> Any:
    """State files written before `idle_timeout_s` became whole seconds hold e.g. 300.0: read it as 300."""
    timeout = raw.get("idle_timeout_s") if isinstance(raw, dict) else None
    if isinstance(timeout, float) and timeout.is_integer():
        return {**raw, "idle_timeout_s": int(timeout)}
    return raw


def state_path(cfg: ProxyConfig, config_path: str | Path) -> Path:
    return Path(cfg.state_file) if cfg.state_file else Path(f"{config_path}.state.json")


def save_state(path: Path, sids: list[SidEntry], attachments: list[Attachment],
               srv6: list[Srv6SidEntry] | None = None) -> None:
    """Write atomically: temp file in the same directory, fsync, rename, fsync the directory."""
    state: dict[str, Any] = {
        "sids": [s.model_dump(exclude_none=True) for s in sorted(sids, key=lambda s: s.sid)],
        "attachments": [a.model_dump(exclude_none=True) for a in sorted(attachments, key=lambda a: a.vnf)],
    }
    if srv6:
        state["srv6_sids"] = [s.model_dump(exclude_none=True) for s in sorted(srv6, key=lambda s: s.sid)]
    body = json.dumps(state, indent=1).encode()
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
