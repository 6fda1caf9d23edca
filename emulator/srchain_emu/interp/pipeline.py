"""A loaded P4 program: `Pipeline.process(port, frame)` runs ingress, the TM decision and egress.

The split `ingress()` / `egress()` lets a traffic manager sit in between (queue depth and delay feed the
egress intrinsic metadata); `process()` is both with an empty queue, for tests and simple use.
"""

from __future__ import annotations

import collections
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from ..frontend.errors import P4Error
from ..frontend.parser import parse_text
from ..frontend.preprocess import preprocess
from . import runtime as R
from .compiler import CompiledProgram, compile_program
from .dynhash import DynHash
from .target import DEFAULT_TARGET
from .trace import Tracer, hexdump

log = logging.getLogger(__name__)


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field, per packet
class ToTM:
    """A packet leaving ingress towards the traffic manager."""

    port: int
    frame: bytes
    qid: int
    bypass_egress: bool = False
    mirrored: bool = False
    rid: int = 0  # the replication id egress sees (eg_intr_md.egress_rid): a multicast copy's node RID


@dataclass(slots=True)
class Emitted:
    """A packet leaving the switch."""

    port: int
    frame: bytes
    qid: int


@dataclass(frozen=True, slots=True)
class DigestMessage:
    name: str
    fields: dict[str, int]


def _last(stack):
    if stack.ni == 0:
        raise R.ParserReject("StackOutOfBounds")
    return stack.h[stack.ni - 1]


def _next(stack):
    i = stack.ni
    if i >= len(stack.h):
        raise R.ParserReject("StackOutOfBounds")
    stack.ni = i + 1
    return stack.h[i]


def _push_front(stack, n, _cls):
    # Rotate the element objects instead of copying fields: the n elements pushed out at the back come
    # back in front, invalid (field values of an invalid header are undefined in P4).
    h = stack.h
    n = min(n, len(h))
    moved = h[len(h) - n :]
    del h[len(h) - n :]
    for x in moved:
        x._v = False
    h[0:0] = moved
    stack.ni = min(stack.ni + n, len(h))


def _pop_front(stack, n, _cls):
    h = stack.h
    n = min(n, len(h))
    moved = h[:n]
    del h[:n]
    for x in moved:
        x._v = False
    h.extend(moved)
    stack.ni = max(stack.ni - n, 0)


HELPERS = {
    "PacketIn": R.PacketIn,
    "ParserReject": R.ParserReject,
    "ExitControl": R.ExitControl,
    "hash_value": R.hash_value,
    "ones_fold": R.ones_fold,
    "hash_site": R.hash_site,
    "_last": _last,
    "_next": _next,
    "_push_front": _push_front,
    "_pop_front": _pop_front,
    "_plen": 0,
    "_tnow": 0,
}


def load_source(path: str | Path, include_dirs: list[str | Path] | None = None,
                defines: dict[str, str] | None = None) -> str:
    """Preprocessed program text (the emulator's 'program binary': self-contained, with #line markers)."""
    return preprocess(path, include_dirs, defines)


def compile_source(text: str, filename: str = "<program>", target_model: str = DEFAULT_TARGET,
                   trace: bool = False) -> CompiledProgram:
    return compile_program(parse_text(text, filename), target_model, trace)


MAX_PIPES = 4  # Tofino 1: up to four pipes
PIPE_SHIFT = 7  # a device port's pipe is dev_port bits 8:7 (Tofino 1); its local port is dev_port & 0x7F
RECIRC_LOCAL_PORT = 68  # Tofino 1: each pipe's recirculation port is 68 + 128 * pipe
MAX_RECIRCULATIONS = 16  # process(): passes one frame may make before its copies are dropped (a program loop)


def is_recirculation_port(port: int) -> bool:
    return port & 0x7F == RECIRC_LOCAL_PORT


def pipe_of(port: int) -> int:
    return (port & 0x1FF) >> PIPE_SHIFT


def check_num_pipes(n: int) -> int:
    if not 1 <= n <= MAX_PIPES:
        raise ValueError(f"num_pipes {n}: a Tofino 1 has 1..{MAX_PIPES} pipes")
    return n


class Pipeline:
    def __init__(self, compiled: CompiledProgram, name: str = "program", tracer: Tracer | None = None,
                 num_pipes: int = MAX_PIPES) -> None:
        """`num_pipes`: the device's pipes (dev_port >> 7 picks one); each has its own registers, counters,
        meters and filters, while the match tables hold the same entries in every pipe (symmetric)."""
        self.name = name
        self.num_pipes = check_num_pipes(num_pipes)
        self.compiled = compiled
        self.module: dict[str, object] = {**HELPERS, **compiled.env}
        if compiled.traced and tracer is None:
            raise ValueError("a program compiled with trace calls needs a Tracer")
        self.tracer = tracer
        if tracer is not None:
            tracer.stages = dict(compiled.stages)
            self.module["_TR"] = tracer
        self.digest_buffer: list = []
        self.mirror_buffer: list = []
        self.module["_DIGESTS"] = self.digest_buffer
        self.module["_MIRRORS"] = self.mirror_buffer
        self.resub_buffer: list[tuple[int | None, bytes]] = []  # Resubmit.emit: (its type or None, data)
        self.module["_RESUB"] = self.resub_buffer
        self.has_resubmit = compiled.resubmit
        code = compile(compiled.source, f"<p4 program {name}>", "exec")
        exec(code, self.module)
        for setup in compiled.setups:
            setup(self.module)
        self._ig_state = compiled.pipe_state.get("ingress", [])
        self._eg_state = compiled.pipe_state.get("egress", [])
        for obj in (*self._ig_state, *self._eg_state):
            obj.set_num_pipes(self.num_pipes)
        self._ig_pipe = self._eg_pipe = 0  # the pipe whose state each gress has selected
        # Functions of the generated source: (frame, port, ...) -> (metadata, deparser metadata, frame out).
        self._run_ingress = cast(Callable[..., Any], self.module["run_ingress"])
        self._run_egress = cast(Callable[..., Any], self.module["run_egress"])
        self.tables: dict[str, R.Table] = compiled.tables
        self.registers: dict[str, R.RegisterArray] = compiled.registers
        self.counters: dict[str, R.CounterArray] = compiled.counters
        self.meters: dict[str, R.MeterArray] = compiled.meters
        self.profiles: dict[str, R.ActionProfile] = compiled.profiles
        self.selectors: dict[str, R.ActionSelector] = compiled.selectors
        self.port_metadata: R.PortMetadata = compiled.port_metadata
        self.reg_params: dict[str, R.RegisterParam] = compiled.reg_params
        self.lpfs: dict[str, R.LpfArray] = compiled.lpfs
        self.wreds: dict[str, R.WredArray] = compiled.wreds
        self.value_sets: dict[str, R.ValueSet] = compiled.value_sets
        self.dyn_hashes: dict[str, DynHash] = compiled.dyn_hashes  # Hash name -> its dynamic hashing state
        self.scoped_value_sets: list[R.ValueSet] = []  # ingress value sets with a pipe/parser scope: select_port
        self.randoms: dict[str, random.Random] = compiled.randoms
        self.digest_infos: dict[str, R.DigestInfo] = compiled.digests
        self.mirror_sessions: dict[int, R.MirrorSession] = {}
        self.egress_mirrors: list[ToTM] = []  # E2E copies waiting for the traffic manager
        # The PRE's replication lists, MGID -> ((port, rid, l1 xid or -1), ...), written by srchain_emu.pre.
        self.mcast_groups: dict[int, tuple[tuple[int, int, int], ...]] = {}
        self.stats: collections.Counter[str] = collections.Counter()
        self.digests: collections.deque[DigestMessage] = collections.deque(maxlen=65536)
        if tracer is not None:  # the traced entry points shadow the plain ones (no cost without a tracer)
            self.ingress = self._traced_ingress  # type: ignore[method-assign]  # per instance, by design
            self.egress = self._traced_egress  # type: ignore[method-assign]

    # ------------------------------------------------------------ loading
    @classmethod
    def from_file(cls, path: str | Path, include_dirs: list[str | Path] | None = None,
                  defines: dict[str, str] | None = None, target_model: str = DEFAULT_TARGET,
                  tracer: Tracer | None = None, num_pipes: int = MAX_PIPES) -> Pipeline:
        text = load_source(path, include_dirs, defines)
        return cls(compile_source(text, str(path), target_model, tracer is not None), Path(path).stem, tracer,
                   num_pipes)

    @classmethod
    def from_source(cls, text: str, name: str = "program", target_model: str = DEFAULT_TARGET,
                    tracer: Tracer | None = None, num_pipes: int = MAX_PIPES) -> Pipeline:
        """Load an already preprocessed program (e.g. the bundle pushed through BF Runtime)."""
        return cls(compile_source(text, f"{name}.p4", target_model, tracer is not None), name, tracer, num_pipes)

    # ------------------------------------------------------------ lookups
    def table(self, name: str) -> R.Table:
        return self.tables[self.resolve(name, self.tables)]

    def register(self, name: str) -> R.RegisterArray:
        return self.registers[self.resolve(name, self.registers)]

    def counter(self, name: str) -> R.CounterArray:
        return self.counters[self.resolve(name, self.counters)]

    def meter(self, name: str) -> R.MeterArray:
        return self.meters[self.resolve(name, self.meters)]

    def action_profile(self, name: str) -> R.ActionProfile:
        return self.profiles[self.resolve(name, self.profiles)]

    def selector(self, name: str) -> R.ActionSelector:
        return self.selectors[self.resolve(name, self.selectors)]

    @staticmethod
    def resolve(name: str, names: dict) -> str:
        """Full name or any unique dotted suffix of it, as BF Runtime clients accept."""
        if name in names:
            return name
        hits = [n for n in names if n.endswith("." + name)]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise KeyError(f"no object named {name}")
        raise KeyError(f"name {name} is ambiguous: {', '.join(sorted(hits))}")

    def seed_random(self, seed: int) -> None:
        """Make every Random extern repeatable (tests of probabilistic decisions): each gets its own
        generator seeded from `seed` and its name, so adding a Random elsewhere changes no other's draws."""
        for name, rng in self.randoms.items():
            rng.seed(f"{seed}:{name}")

    def reset_state(self) -> None:
        """Forget all control-plane and data-plane state (what a program push does)."""
        for t in self.tables.values():
            t.reset()  # one copy of the entries again (EntryScope back to symmetric)
            t.clear()
            t.reset_default()
        for r in self.registers.values():
            r.reset()
        for c in self.counters.values():
            c.reset()
        for m in self.meters.values():
            m.reset()
        for s in self.selectors.values():
            s.groups.clear()
        for p in self.profiles.values():
            p.members.clear()
        self.port_metadata.values.clear()
        for rp in self.reg_params.values():
            rp.value = rp.initial
        for lpf in self.lpfs.values():
            lpf.reset()
        for wred in self.wreds.values():
            wred.reset()
        for vs in self.value_sets.values():
            vs.clear()
            vs.set_scope(None, None)
        self.scoped_value_sets = []
        self.mirror_sessions.clear()
        self.egress_mirrors.clear()
        self.mcast_groups.clear()
        self.digests.clear()

    # ------------------------------------------------------------ data plane
    def _select(self, state: list[R.PipeState], pipe: int) -> bool:
        """Point a gress's per-pipe externs at `pipe` (False: the device has no such pipe)."""
        if pipe >= self.num_pipes:
            return False
        for obj in state:
            obj.select(pipe)
        return True

    def ingress(self, port: int, frame: bytes, tstamp_ns: int | None = None, parser_port: int | None = None) \
            -> list[ToTM]:
        """One frame through ingress. `parser_port`: the port whose parser takes the frame when it is not the
        ingress port's own (the packet generator's: its packets carry the app's source port as ingress_port but
        come in on the generator port's channel, Tofino 1's port 68 of the pipe, parser 17)."""
        stats = self.stats
        stats["rx"] += 1
        pipe = (port & 0x1FF) >> 7  # PIPE_SHIFT
        if pipe != self._ig_pipe:  # state chosen once per pipe change, not per access
            if not self._select(self._ig_state, pipe):
                stats["drop_port_pipe_absent"] += 1
                return []
            self._ig_pipe = pipe
        for vs in self.scoped_value_sets:  # the copy of this port's pipe and parser (rare: an EntryScope was set)
            vs.select_port(port if parser_port is None else parser_port)
        digests, mirrors = self.digest_buffer, self.mirror_buffer
        if digests:
            digests.clear()
        if mirrors:
            mirrors.clear()
        if self.has_resubmit:
            self.resub_buffer.clear()
        try:
            now = time.monotonic_ns() if tstamp_ns is None else tstamp_ns
            tm, dprsr, out = self._run_ingress(frame, port & 0x1FF, now)
            if self.has_resubmit and self.resub_buffer:
                resub = self._take_resubmit(dprsr)
                if resub is not None:  # once: the packet as it arrived, with the resubmit data
                    stats["resubmitted"] += 1
                    tm, dprsr, out = self._run_ingress(frame, port & 0x1FF, now, resub)
                    if self.resub_buffer and self._take_resubmit(dprsr) is not None:
                        stats["resubmit_again_ignored"] += 1
        except R.ParserReject as exc:
            stats[f"drop_parser_{exc.reason}"] += 1
            return []
        except Exception:  # a runtime fault in the program must never take the switch down
            log.exception("ingress fault on port %d", port)
            stats["drop_internal_error"] += 1
            return []
        if dprsr.drop_ctl & 1:  # drops the unicast and every multicast copy; mirrors below still go
            stats["drop_ctl_ingress"] += 1
            result: list[ToTM] = []
        else:
            result = [ToTM(tm.ucast_egress_port, out, tm.qid, bool(tm.bypass_egress))] if tm._uset else []
            if tm.mcast_grp_a or tm.mcast_grp_b:
                self._replicate(tm, out, result)
            elif not result:
                stats["drop_no_egress_port"] += 1
        for info, values in digests:
            self.digests.append(DigestMessage(info.name, dict(zip((n for n, _ in info.fields), values, strict=True))))
            stats["digests"] += 1
        if mirrors:  # (tested here: most packets mirror nothing and this runs per packet)
            self._mirror(mirrors, frame, "INGRESS", result)  # I2E copies the packet as it arrived
        return result

    def _drops_since(self, before: collections.Counter[str]) -> str:
        grew = sorted(k for k, v in self.stats.items() if k.startswith("drop") and v > before.get(k, 0))
        return ", ".join(grew) or "no output"

    def _traced_ingress(self, port: int, frame: bytes, tstamp_ns: int | None = None,
                        parser_port: int | None = None) -> list[ToTM]:
        tracer = self.tracer
        assert tracer is not None
        tracer.begin("ingress", port & 0x1FF, frame)
        before = collections.Counter(self.stats)
        result = Pipeline.ingress(self, port, frame, tstamp_ns, parser_port)
        if not result:
            tracer.finish(f"dropped: {self._drops_since(before)}")
        for item in result:
            kind = "mirror copy" if item.mirrored else f"rid {item.rid:#x} copy" if item.rid else "to"
            tracer.lines.append(f"  {kind} port {item.port} qid {item.qid}, {len(item.frame)} bytes: "
                                f"{hexdump(item.frame)}")
        if result:
            tracer.finish(f"ingress done: {len(result)} packet(s) to the traffic manager")
        return result

    def _traced_egress(self, item: ToTM, enq_qdepth: int = 0, deq_timedelta: int = 0,
                       tstamp_ns: int | None = None, deq_qdepth: int | None = None,
                       enq_tstamp: int | None = None) -> Emitted | None:
        tracer = self.tracer
        assert tracer is not None
        tracer.begin("egress", item.port, item.frame)
        before = collections.Counter(self.stats)
        out = Pipeline.egress(self, item, enq_qdepth, deq_timedelta, tstamp_ns, deq_qdepth, enq_tstamp)
        if out is None:
            tracer.finish(f"dropped: {self._drops_since(before)}")
        else:
            tracer.finish(f"out port {out.port}, {len(out.frame)} bytes: {hexdump(out.frame)}")
        return out

    def _take_resubmit(self, dprsr: Any) -> bytes | None:
        """The resubmit data when the deparser resubmits: resubmit_type was written (its valid bit) and a
        Resubmit.emit ran whose type (if it has one) is that resubmit_type; zero-padded to the phase-0 bytes."""
        items = list(self.resub_buffer)
        self.resub_buffer.clear()
        if not dprsr._rset:
            return None
        for rtype, data in items:
            if rtype is None or rtype == dprsr.resubmit_type:
                return data.ljust(R.PORT_METADATA_BYTES, b"\0")
        return None

    def _mirror(self, mirrors: list[tuple[int, bytes]], packet: bytes, direction: str, result: list[ToTM]) -> None:
        """One copy per Mirror.emit: the mirror header, then `packet` (I2E: the frame as received; E2E: the
        egress deparser's output), truncated to the session's max_pkt_len, to the session's port."""
        stats = self.stats
        for sid, header in mirrors:
            session = self.mirror_sessions.get(sid)
            if session is None or not session.enabled or session.direction not in (direction, "BOTH"):
                stats["mirror_no_session"] += 1
                continue
            groups = [g for g, valid in ((session.mcast_grp_a, session.mcast_grp_a_valid),
                                         (session.mcast_grp_b, session.mcast_grp_b_valid)) if valid]
            if not session.ucast_valid and not groups:  # no unicast port, no group: the copy has nowhere to go
                stats["mirror_no_port"] += 1
                continue
            copy = header + packet
            if session.max_pkt_len:
                copy = copy[: session.max_pkt_len]
            if session.ucast_valid:
                result.append(ToTM(session.egress_port, copy, 0, mirrored=True))
            for mgid in groups:  # the PRE replicates the copy: one per port of each node but the excluded
                copies = self.mcast_groups.get(mgid)
                if copies is None:
                    stats["mcast_unknown_mgid"] += 1
                    continue
                for port, _rid, l1_xid in copies:
                    if l1_xid != session.mcast_l1_xid:
                        result.append(ToTM(port, copy, 0, mirrored=True, rid=session.mcast_rid))
                        stats["mcast_copies"] += 1
            stats["mirrored" if direction == "INGRESS" else "mirrored_e2e"] += 1

    def _replicate(self, tm: Any, out: bytes, result: list[ToTM]) -> None:
        """The PRE: one copy per port of each node of `mcast_grp_a` and of `mcast_grp_b` (0 = none), each with
        its node's RID; a node whose L1 XID is valid and equals `level1_exclusion_id` is skipped. The TM
        sends these besides the unicast copy (Tofino TM; srchain_emu/pre.py for the tables)."""
        stats = self.stats
        qid, bypass, xid = tm.qid, bool(tm.bypass_egress), tm.level1_exclusion_id
        for mgid in (tm.mcast_grp_a, tm.mcast_grp_b):
            if not mgid:
                continue
            copies = self.mcast_groups.get(mgid)
            if copies is None:
                stats["mcast_unknown_mgid"] += 1
                continue
            n = 0
            for port, rid, l1_xid in copies:
                if l1_xid == xid:
                    continue
                result.append(ToTM(port, out, qid, bypass, rid=rid))
                n += 1
            stats["mcast_copies"] += n

    def egress(self, item: ToTM, enq_qdepth: int = 0, deq_timedelta: int = 0, tstamp_ns: int | None = None,
               deq_qdepth: int | None = None, enq_tstamp: int | None = None) -> Emitted | None:
        """One packet through egress. The queue metadata as a Tofino 1 gives it (srchain_emu.tm): depths in
        cells, `deq_timedelta` ns waited, `tstamp_ns` the dequeue time (the egress global timestamp);
        `deq_qdepth` defaults to `enq_qdepth` and `enq_tstamp` to `tstamp_ns - deq_timedelta`."""
        stats = self.stats
        pipe = (item.port & 0x1FF) >> 7  # PIPE_SHIFT
        if pipe != self._eg_pipe:
            if pipe >= self.num_pipes:
                stats["drop_egress_port_pipe_absent"] += 1
                return None
            if not item.bypass_egress:
                self._select(self._eg_state, pipe)
                self._eg_pipe = pipe
        if item.bypass_egress:
            stats["tx"] += 1
            return Emitted(item.port, item.frame, item.qid)
        if self.digest_buffer:
            self.digest_buffer.clear()
        if self.mirror_buffer:
            self.mirror_buffer.clear()
        try:
            now = time.monotonic_ns() if tstamp_ns is None else tstamp_ns
            _oport, dprsr, out = self._run_egress(
                item.frame, item.port, item.qid, enq_qdepth, deq_timedelta, now, item.rid,
                enq_qdepth if deq_qdepth is None else deq_qdepth,
                now - deq_timedelta if enq_tstamp is None else enq_tstamp)
        except R.ParserReject as exc:
            stats[f"drop_egress_parser_{exc.reason}"] += 1
            return None
        except Exception:
            log.exception("egress fault on port %d", item.port)
            stats["drop_internal_error"] += 1
            return None
        if self.mirror_buffer and not dprsr.drop_ctl & 4:  # drop_ctl[2] disables mirroring
            self._mirror(self.mirror_buffer, out, "EGRESS", self.egress_mirrors)
        if dprsr.drop_ctl & 1:  # the packet itself; an E2E copy above still goes
            stats["drop_ctl_egress"] += 1
            return None
        stats["tx"] += 1
        return Emitted(item.port, out, item.qid)

    def take_egress_mirrors(self) -> list[ToTM]:
        """E2E copies made by egress since the last call: the traffic manager queues them for egress again."""
        items, self.egress_mirrors = self.egress_mirrors, []
        return items

    def process(self, port: int, frame: bytes, tstamp_ns: int | None = None) -> list[Emitted]:
        """Ingress, egress, and again for E2E copies; a packet egress sends to a pipe's recirculation port
        (68 + 128 * pipe) enters that pipe's ingress on that port, as on a Tofino 1."""
        out: list[Emitted] = []
        todo = self.ingress(port, frame, tstamp_ns)
        passes = 0
        while todo:
            recirc: list[Emitted] | None = None
            for item in todo:
                e = self.egress(item, tstamp_ns=tstamp_ns)
                if e is None:
                    continue
                if e.port & 0x7F == RECIRC_LOCAL_PORT:  # (inline: this loop runs per packet)
                    recirc = [e] if recirc is None else [*recirc, e]
                else:
                    out.append(e)
            todo = self.take_egress_mirrors()  # E2E copies pass egress again
            if recirc:
                passes += 1
                if passes > MAX_RECIRCULATIONS:
                    self.stats["drop_recirculation_limit"] += len(recirc)
                    continue
                for e in recirc:
                    self.stats["recirculated"] += 1
                    todo.extend(self.ingress(e.port, e.frame, tstamp_ns))
        return out

    def take_digests(self) -> list[DigestMessage]:
        items = list(self.digests)
        self.digests.clear()
        return items


def check_file(path: str | Path, include_dirs: list[str | Path] | None = None) -> list[P4Error]:
    """Front end + compile without running: the errors (empty list when the program is fine)."""
    try:
        Pipeline.from_file(path, include_dirs)
    except P4Error as exc:
        return [exc]
    return []
