/* Compiled fast path (srchain_proxy._fastsr, built by setup.py): the common case of Engine.from_sr and
 * Engine.from_vnf, in C; everything else is left to them (the Python reference, fastpath.py).
 *
 * SRv6 (srv6.py's behaviours) is further down: srv6_in / srv6_out per frame for srv6.Srv6Compiled, one6 in
 * the SR ring's walk (ethertype IPv6) and ret6 in the return walk (entry kind 2).
 *
 * drain(ring, i, nr, budget, now, table, stack_room, tag) -> (i, done, why, error)
 *   Walks ready TPACKET_V2 slots of the SR receive ring from slot i. A frame in the common case (the link
 *   facts the kernel reported -- see slot_link -- equal to `tag`: to our MAC, untagged or with the SR VLAN; MPLS, top
 *   label in `table` with TTL > 1, bottom of stack within stack_room bytes, IPv4 without options, a ready
 *   attachment, a free TX slot and, for dynamic SIDs, a TCP/UDP/SCTP non-fragment of a flow already in the
 *   cache) is popped, learned (cache refresh), copied into the attachment's TX ring and released. It stops
 *   at the first frame that is not the common case WITHOUT touching it (why = SLOW: Python handles that
 *   frame through its own path), at a slot not ready (why = NOT_READY), after budget frames (BUDGET), or
 *   when the Python C API failed on a frame (ERROR, with the exception; that frame is left in place too).
 *
 * table: {sid: (att, od | None, rx_counters array('Q') [packets, bytes], tx_map mmap,
 *               tx_state array('q') [index, pending, errors], tx_slots, tx_fd)}
 * att.dmac is None while the next hop is unresolved (SLOW); att.hdr4 is its 14-byte Ethernet header.
 * The flow cache `od` is the Python FlowCache's OrderedDict: key (proto, 12 bytes src+dst+ports), value
 * (stack bytes, last_seen float); a refresh is od[key] = (stack, now) + od.move_to_end(key), as in Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define FRAME_SIZE 2048
#define TX_DATA_OFFSET 32

/* txst = [next slot, pending, errors, longest frame the interface sends (its MTU + 14)] */
static inline Py_ssize_t tx_limit(const int64_t *txst) {
    return txst[3] > 0 && txst[3] < FRAME_SIZE - TX_DATA_OFFSET ? (Py_ssize_t)txst[3] : FRAME_SIZE - TX_DATA_OFFSET;
}
#define TP_STATUS_USER 1u
#define TP_STATUS_SEND_REQUEST 1u
#define TP_STATUS_VLAN_VALID 0x10u
#define TP_STATUS_VLAN_TPID_VALID 0x40u
#define SLL_PKTTYPE 42  /* sockaddr_ll.sll_pkttype: the sockaddr_ll follows the 32-byte tpacket2_hdr */
#define SLOT_HDR 52     /* tpacket2_hdr (32) + sockaddr_ll (20): the slot's bytes before the frame area */
#define PACKET_BROADCAST 1ull
#define TX_BATCH 32

/* What the kernel reported about the frame in slot, as srchain_net.rings.link_meta masked with
 * engine.LINK_MASK: sll_pkttype << 32 | TPID << 16 | VLAN ID of the outer tag it took off (0 untagged, the
 * priority bits left out). 0: untagged, to our own MAC. */
static inline uint64_t slot_link(const uint8_t *slot) {
    uint32_t status;
    memcpy(&status, slot, 4);
    uint64_t link = (uint64_t)slot[SLL_PKTTYPE] << 32;
    if (status & TP_STATUS_VLAN_VALID) {
        uint16_t tci, tpid;
        memcpy(&tci, slot + 24, 2);
        memcpy(&tpid, slot + 26, 2);
        if (!(status & TP_STATUS_VLAN_TPID_VALID))
            tpid = 0x8100;
        link |= (uint64_t)tpid << 16 | (tci & 0x0FFFu);
    }
    return link;
}

/* Hand a filled TX slot (n bytes of frame) to the kernel: length, then status in one release store; next
 * slot; one send() per TX_BATCH frames (the rest at the end of the turn). txst as tx_limit's. */
static inline void tx_commit(uint8_t *tx, Py_ssize_t n, int64_t *txst, Py_ssize_t txnr, int fd) {
    uint32_t n32 = (uint32_t)n;
    memcpy(tx + 4, &n32, 4);
    __atomic_store_n((uint32_t *)tx, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    txst[0] = txst[0] + 1 < txnr ? txst[0] + 1 : 0;
    if (++txst[1] >= TX_BATCH) {
        txst[1] = 0;
        if (send(fd, NULL, 0, MSG_DONTWAIT) < 0)
            txst[2] += 1;
    }
}

static int one6(uint8_t *f, Py_ssize_t snap, double now, PyObject *table);  /* SRv6, below */

enum { WHY_BUDGET = 0, WHY_NOT_READY = 1, WHY_SLOW = 2, WHY_ERROR = 3,
       /* cycle() only */ WHY_IDLE = 4, WHY_SLICE = 5, WHY_WAKE = 6, WHY_HOLE = 7 };

static PyObject *s_move_to_end, *s_dmac, *s_hdr4;

/* Buffers of the SID entry used by the previous frame (traffic is bursty per SID: acquire once). */
typedef struct {
    PyObject *entry;
    Py_buffer rx, txmap, txst;
} cur_t;

static void cur_release(cur_t *c) {
    if (c->entry) {
        PyBuffer_Release(&c->rx);
        PyBuffer_Release(&c->txmap);
        PyBuffer_Release(&c->txst);
        c->entry = NULL;
    }
}

static int cur_acquire(cur_t *c, PyObject *entry) {
    if (c->entry == entry)
        return 0;
    cur_release(c);
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(entry, 2), &c->rx, PyBUF_WRITABLE) < 0)
        return -1;
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(entry, 3), &c->txmap, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&c->rx);
        return -1;
    }
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(entry, 4), &c->txst, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&c->rx);
        PyBuffer_Release(&c->txmap);
        return -1;
    }
    if (c->rx.len < 16 || c->txst.len < 32) {
        PyBuffer_Release(&c->rx);
        PyBuffer_Release(&c->txmap);
        PyBuffer_Release(&c->txst);
        PyErr_SetString(PyExc_ValueError, "fast table entry: counter arrays too short");
        return -1;
    }
    c->entry = entry;
    return 0;
}

/* Refresh an existing flow (1 done, 0 not cached: SLOW, -1 error). */
static int refresh_flow(PyObject *od, const uint8_t *ip, const uint8_t *stack, Py_ssize_t slen, double now) {
    PyObject *addr = PyBytes_FromStringAndSize((const char *)ip + 12, 12);
    if (!addr)
        return -1;
    PyObject *key = PyTuple_New(2);
    if (!key) {
        Py_DECREF(addr);
        return -1;
    }
    PyTuple_SET_ITEM(key, 0, PyLong_FromLong(ip[9]));  /* small int: cached, cannot fail */
    PyTuple_SET_ITEM(key, 1, addr);
    int rc = 0;
    PyObject *ent = PyDict_GetItemWithError(od, key);  /* OrderedDict is a dict: plain lookup is safe */
    if (!ent) {
        rc = PyErr_Occurred() ? -1 : 0;
        goto out;
    }
    if (!PyTuple_Check(ent) || PyTuple_GET_SIZE(ent) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(ent, 0))) {
        rc = 0;  /* not the shape we write: let Python deal with it */
        goto out;
    }
    PyObject *value = PyTuple_GET_ITEM(ent, 0);
    PyObject *seen = PyTuple_GET_ITEM(ent, 1);
    int same = PyBytes_GET_SIZE(value) == slen && memcmp(PyBytes_AS_STRING(value), stack, slen) == 0;
    if (same && PyFloat_Check(seen) && PyFloat_AS_DOUBLE(seen) == now) {
        rc = 1;  /* touched in this batch already */
        goto out;
    }
    PyObject *nv = same ? Py_NewRef(value) : PyBytes_FromStringAndSize((const char *)stack, slen);
    if (!nv) {
        rc = -1;
        goto out;
    }
    PyObject *nt = PyFloat_FromDouble(now);
    if (!nt) {
        Py_DECREF(nv);
        rc = -1;
        goto out;
    }
    PyObject *nent = PyTuple_Pack(2, nv, nt);
    Py_DECREF(nv);
    Py_DECREF(nt);
    if (!nent || PyObject_SetItem(od, key, nent) < 0) {
        Py_XDECREF(nent);
        rc = -1;
        goto out;
    }
    Py_DECREF(nent);
    PyObject *r = PyObject_CallMethodOneArg(od, s_move_to_end, key);
    if (!r) {
        rc = -1;
        goto out;
    }
    Py_DECREF(r);
    rc = 1;
out:
    Py_DECREF(key);
    return rc;
}

/* One frame: 1 forwarded, 0 not the common case (untouched), -1 Python error. */
static int one(uint8_t *slot, double now, PyObject *table, Py_ssize_t stack_room, uint64_t tag, cur_t *c) {
    uint32_t len, snap;
    uint16_t mac;
    if (slot_link(slot) != tag)
        return 0;  /* another VLAN, or not to our MAC: Python counts why */
    memcpy(&len, slot + 4, 4);
    memcpy(&snap, slot + 8, 4);
    memcpy(&mac, slot + 12, 2);
    if (snap != len || snap < 42 || (Py_ssize_t)mac + snap > FRAME_SIZE || mac < 14)
        return 0;
    uint8_t *f = slot + mac;
    if (f[12] != 0x88 || f[13] != 0x47)
        return f[12] == 0x86 && f[13] == 0xDD ? one6(f, snap, now, table) : 0;
    uint32_t top = (uint32_t)f[14] << 24 | (uint32_t)f[15] << 16 | (uint32_t)f[16] << 8 | f[17];
    if ((top & 0xFF) <= 1)
        return 0;
    PyObject *sid = PyLong_FromUnsignedLong(top >> 12);
    if (!sid)
        return -1;
    PyObject *entry = PyDict_GetItemWithError(table, sid);
    Py_DECREF(sid);
    if (!entry)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 7)
        return 0;
    Py_ssize_t p = 18;
    if (!(f[16] & 1)) {  /* walk to the bottom of stack within the MSD */
        Py_ssize_t limit = 14 + stack_room;
        for (;;) {
            if (p >= limit || p + 4 > (Py_ssize_t)snap)
                return 0;
            p += 4;
            if (f[p - 2] & 1)
                break;
        }
    }
    uint8_t *ip = f + p;
    if ((Py_ssize_t)snap - p < 20 || ip[0] != 0x45)
        return 0;
    Py_ssize_t end = p + (ip[2] << 8 | ip[3]);
    if (end < p + 20 || end > (Py_ssize_t)snap)
        return 0;
    PyObject *od = PyTuple_GET_ITEM(entry, 1);
    if (od != Py_None && (end < p + 24 || !(ip[9] == 6 || ip[9] == 17 || ip[9] == 132) || (ip[6] & 0x1F) || ip[7]))
        return 0;
    PyObject *att = PyTuple_GET_ITEM(entry, 0);
    PyObject *dmac = PyObject_GetAttr(att, s_dmac);
    if (!dmac)
        return -1;
    int ready = dmac != Py_None;
    Py_DECREF(dmac);
    if (!ready)
        return 0;
    PyObject *hdr = PyObject_GetAttr(att, s_hdr4);
    if (!hdr)
        return -1;
    if (!PyBytes_Check(hdr) || PyBytes_GET_SIZE(hdr) != 14) {
        Py_DECREF(hdr);
        return 0;
    }
    if (cur_acquire(c, entry) < 0) {
        Py_DECREF(hdr);
        return -1;
    }
    Py_ssize_t txnr = PyLong_AsSsize_t(PyTuple_GET_ITEM(entry, 5));
    int fd = (int)PyLong_AsLong(PyTuple_GET_ITEM(entry, 6));
    if (PyErr_Occurred()) {
        Py_DECREF(hdr);
        return -1;
    }
    int64_t *txst = c->txst.buf;
    Py_ssize_t n = end - (p - 14);
    if (txst[0] < 0 || txst[0] >= txnr || (txst[0] + 1) * FRAME_SIZE > c->txmap.len) {
        Py_DECREF(hdr);
        return 0;
    }
    uint8_t *tx = (uint8_t *)c->txmap.buf + txst[0] * FRAME_SIZE;
    if (__atomic_load_n((uint32_t *)tx, __ATOMIC_ACQUIRE) != 0 || n > tx_limit(txst)) {
        Py_DECREF(hdr);
        return 0;  /* TX slot still the kernel's (or a rejected frame), or over the MTU: Python's put counts */
    }
    if (od != Py_None) {
        int r = refresh_flow(od, ip, f + 18, p - 18, now);
        if (r <= 0) {
            Py_DECREF(hdr);
            return r;
        }
    }
    memcpy(f + p - 14, PyBytes_AS_STRING(hdr), 14);
    Py_DECREF(hdr);
    memcpy(tx + TX_DATA_OFFSET, f + p - 14, n);
    uint64_t *rx = c->rx.buf;
    rx[0] += 1;
    rx[1] += snap;
    tx_commit(tx, n, txst, txnr, fd);
    return 1;
}

/* Take an exception raised by the C API as a value (PyErr_Fetch: Python 3.11 has no
 * PyErr_GetRaisedException). */
static PyObject *fetch_exc(void) {
    PyObject *etype, *exc, *etb;
    PyErr_Fetch(&etype, &exc, &etb);
    PyErr_NormalizeException(&etype, &exc, &etb);
    Py_XDECREF(etype);
    Py_XDECREF(etb);
    return exc;
}

/* One frame's work: 1 forwarded, 0 not the common case (left untouched), -1 Python error. */
typedef int (*frame_fn)(uint8_t *slot, double now, void *ctx);

/* Walk up to budget ready slots of a receive ring from *pi (updated), fn on each. Returns frames done;
 * *why: BUDGET, NOT_READY (empty slot), SLOW (fn left the frame to Python), ERROR (*exc holds the
 * exception, a new reference; the frame stays in place). */
static Py_ssize_t walk(uint8_t *ring, Py_ssize_t nr, Py_ssize_t *pi, Py_ssize_t budget, double now, frame_fn fn,
                       void *ctx, int *why, PyObject **exc) {
    Py_ssize_t i = *pi, done = 0;
    *why = WHY_BUDGET;
    while (done < budget) {
        uint8_t *slot = ring + i * FRAME_SIZE;
        if (!(__atomic_load_n((uint32_t *)slot, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
            *why = WHY_NOT_READY;
            break;
        }
        int r = fn(slot, now, ctx);
        if (r < 0) {
            *exc = fetch_exc();
            *why = WHY_ERROR;
            break;
        }
        if (r == 0) {
            *why = WHY_SLOW;
            break;
        }
        __atomic_store_n((uint32_t *)slot, 0u, __ATOMIC_RELEASE);  /* back to the kernel */
        i = i + 1 < nr ? i + 1 : 0;
        done++;
    }
    *pi = i;
    return done;
}

typedef struct {
    PyObject *table;
    Py_ssize_t room;
    uint64_t tag;
    cur_t cur;
} sr_ctx_t;

static int sr_frame(uint8_t *slot, double now, void *ctx) {
    sr_ctx_t *c = ctx;
    return one(slot, now, c->table, c->room, c->tag, &c->cur);
}

/* The SR ring: walk() with one() (the SID entry's buffers held across frames, released at the end). */
static Py_ssize_t sr_walk(uint8_t *ring, Py_ssize_t nr, Py_ssize_t *pi, Py_ssize_t budget, double now,
                          PyObject *table, Py_ssize_t stack_room, uint64_t tag, int *why, PyObject **exc) {
    sr_ctx_t c = {table, stack_room, tag, {0}};
    Py_ssize_t done = walk(ring, nr, pi, budget, now, sr_frame, &c, why, exc);
    cur_release(&c.cur);
    return done;
}

/* drain()/ret_drain() arguments: 1 (ring released, ValueError set) when the index or size is off. */
static int ring_bad(Py_buffer *ring, Py_ssize_t i, Py_ssize_t nr) {
    if (nr > 0 && i >= 0 && i < nr && nr * FRAME_SIZE <= ring->len)
        return 0;
    PyBuffer_Release(ring);
    PyErr_SetString(PyExc_ValueError, "ring index or size out of range");
    return 1;
}

/* (i, done, why, error): on an error, where we are and the exception (reference taken over); Python logs
 * it and handles that frame itself. */
static PyObject *walk_result(Py_ssize_t i, Py_ssize_t done, int why, PyObject *exc) {
    PyObject *out = Py_BuildValue("nniO", i, done, why, exc ? exc : Py_None);
    Py_XDECREF(exc);
    return out;
}

static PyObject *drain(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer ring;
    Py_ssize_t i, nr, budget, stack_room;
    double now;
    PyObject *table;
    unsigned long long tag;
    if (!PyArg_ParseTuple(args, "w*nnndO!nK", &ring, &i, &nr, &budget, &now, &PyDict_Type, &table, &stack_room,
                          &tag))
        return NULL;
    if (ring_bad(&ring, i, nr))
        return NULL;
    int why;
    PyObject *exc = NULL;
    Py_ssize_t done = sr_walk(ring.buf, nr, &i, budget, now, table, stack_room, tag, &why, &exc);
    PyBuffer_Release(&ring);
    return walk_result(i, done, why, exc);
}

/* ---- the return direction (VNF -> SR) ----------------------------------------------------------------
 *
 * ret_drain(ring, i, nr, budget, now, entry) -> (i, done, why, error), as drain() but for one attachment's
 * receive ring. entry (fastpath.return_entry):
 *   (kind, od | None, match, idle_s, head bytes, head_ip4 bytes, txc array('Q') [packets, bytes],
 *    lookups array('Q') [hits, misses], tx_map, tx_state array('q'), tx_slots, tx_fd, broadcast)
 * kind 0 (one static SID, one stack): push head (Ethernet to the switch + the encoded stack).
 * kind 2 (one SRv6 SID, srv6.Srv6Compiled.ret; od = its srv6_out entry): srv6_out's work on the slot, the
 *   result copied into the SR side's TX ring; anything but a clean send is left to Python (ret6).
 * kind 1 (one dynamic SID): look the flow up (match: 1 same, 2 reverse, 3 either); a live hit pushes
 *   Ethernet + the learned stack (head_ip4 when it is empty), refreshes the entry and counts a hit.
 * The common case: untagged, to our MAC (or to the broadcast MAC when `broadcast`: the VNF gets broadcast
 * frames from us), Ethernet + IPv4 without options, total length within the frame; for kind 1 a
 * TCP/UDP/SCTP packet that is not a later fragment, and a cached flow that has not expired. Anything else
 * (misses, expiry, IPv6, non-IP, a full TX ring) stops the loop untouched (SLOW) and Python's
 * Engine.from_vnf handles it, so misses, policies and drop reasons stay written once.
 */
static PyObject *flow_key4(const uint8_t *ip, int reverse) {
    uint8_t k[12];
    if (reverse) {
        memcpy(k, ip + 16, 4);
        memcpy(k + 4, ip + 12, 4);
        memcpy(k + 8, ip + 22, 2);
        memcpy(k + 10, ip + 20, 2);
    } else {
        memcpy(k, ip + 12, 12);
    }
    PyObject *addr = PyBytes_FromStringAndSize((const char *)k, 12);
    if (!addr)
        return NULL;
    PyObject *key = PyTuple_New(2);
    if (!key) {
        Py_DECREF(addr);
        return NULL;
    }
    PyTuple_SET_ITEM(key, 0, PyLong_FromLong(ip[9]));  /* small int: cached, cannot fail */
    PyTuple_SET_ITEM(key, 1, addr);
    return key;
}

/* A live cached entry for key: 1 (new reference in *ent), 0 absent, 2 present but not usable here
 * (expired, or not the shape we write), -1 error. */
static int live_entry(PyObject *od, PyObject *key, double now, double idle, PyObject **ent) {
    PyObject *e = PyDict_GetItemWithError(od, key);
    if (!e)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(e, 0))
        || !PyFloat_Check(PyTuple_GET_ITEM(e, 1)))
        return 2;
    if (now - PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(e, 1)) > idle)
        return 2;  /* expired: Python removes and counts it */
    *ent = Py_NewRef(e);
    return 1;
}

/* od[key] = (value, now); od.move_to_end(key) -- exactly what FlowCache.lookup does on a hit. */
static int touch(PyObject *od, PyObject *key, PyObject *value, double now) {
    PyObject *nt = PyFloat_FromDouble(now);
    if (!nt)
        return -1;
    PyObject *nent = PyTuple_Pack(2, value, nt);
    Py_DECREF(nt);
    if (!nent || PyObject_SetItem(od, key, nent) < 0) {
        Py_XDECREF(nent);
        return -1;
    }
    Py_DECREF(nent);
    PyObject *r = PyObject_CallMethodOneArg(od, s_move_to_end, key);
    if (!r)
        return -1;
    Py_DECREF(r);
    return 0;
}

typedef struct {
    long kind, match;
    double idle;
    PyObject *od;
    const uint8_t *head, *head4;
    Py_ssize_t head_len, head4_len;
    Py_buffer txc, lookups, txmap, txst;
    Py_ssize_t txnr;
    int fd;
    int broadcast;  /* frames to the broadcast MAC are the VNF's too */
} ret_t;

static int ret6(uint8_t *slot, Py_ssize_t mac, Py_ssize_t snap, double now, ret_t *r);  /* SRv6, below */

static int ret_open(ret_t *r, PyObject *entry) {
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 13) {
        PyErr_SetString(PyExc_ValueError, "return entry: expected a 13-tuple");
        return -1;
    }
    r->kind = PyLong_AsLong(PyTuple_GET_ITEM(entry, 0));
    r->match = PyLong_AsLong(PyTuple_GET_ITEM(entry, 2));
    r->idle = PyFloat_AsDouble(PyTuple_GET_ITEM(entry, 3));
    r->txnr = PyLong_AsSsize_t(PyTuple_GET_ITEM(entry, 10));
    r->fd = (int)PyLong_AsLong(PyTuple_GET_ITEM(entry, 11));
    r->broadcast = PyObject_IsTrue(PyTuple_GET_ITEM(entry, 12));
    if (r->broadcast < 0 || PyErr_Occurred())
        return -1;
    r->od = PyTuple_GET_ITEM(entry, 1);
    PyObject *h = PyTuple_GET_ITEM(entry, 4), *h4 = PyTuple_GET_ITEM(entry, 5);
    if (!PyBytes_Check(h) || !PyBytes_Check(h4) || (r->kind == 1 && !PyDict_Check(r->od))
        || (r->kind == 2 && !PyTuple_Check(r->od)) || (r->kind != 0 && r->kind != 1 && r->kind != 2)) {
        PyErr_SetString(PyExc_ValueError, "return entry: bad kind, cache or headers");
        return -1;
    }
    r->head = (const uint8_t *)PyBytes_AS_STRING(h);
    r->head_len = PyBytes_GET_SIZE(h);
    r->head4 = (const uint8_t *)PyBytes_AS_STRING(h4);
    r->head4_len = PyBytes_GET_SIZE(h4);
    Py_buffer *bufs[4] = {&r->txc, &r->lookups, &r->txmap, &r->txst};
    int idx[4] = {6, 7, 8, 9};
    for (int k = 0; k < 4; k++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(entry, idx[k]), bufs[k], PyBUF_WRITABLE) < 0) {
            while (k--)
                PyBuffer_Release(bufs[k]);
            return -1;
        }
    }
    if (r->txc.len < 16 || r->lookups.len < 16 || r->txst.len < 32 || r->txnr <= 0
        || r->txnr * FRAME_SIZE > r->txmap.len) {
        for (int k = 0; k < 4; k++)
            PyBuffer_Release(bufs[k]);
        PyErr_SetString(PyExc_ValueError, "return entry: counters or TX ring too short");
        return -1;
    }
    return 0;
}

static void ret_close(ret_t *r) {
    PyBuffer_Release(&r->txc);
    PyBuffer_Release(&r->lookups);
    PyBuffer_Release(&r->txmap);
    PyBuffer_Release(&r->txst);
}

/* One returning frame: 1 sent, 0 not the common case (untouched), -1 Python error. */
static int ret_one(uint8_t *slot, double now, ret_t *r) {
    uint32_t len, snap;
    uint16_t mac;
    memcpy(&len, slot + 4, 4);
    memcpy(&snap, slot + 8, 4);
    memcpy(&mac, slot + 12, 2);
    if (snap != len || snap < 34 || (Py_ssize_t)mac + snap > FRAME_SIZE)
        return 0;
    uint64_t link = slot_link(slot);
    if (link && !(link == PACKET_BROADCAST << 32 && r->broadcast))
        return 0;  /* tagged, or not to our MAC: Python counts why */
    if (r->kind == 2)
        return link ? 0 : ret6(slot, mac, snap, now, r);  /* SRv6 (the broadcast rule stays Python's) */
    const uint8_t *f = slot + mac;
    const uint8_t *ip = f + 14;
    if (f[12] != 0x08 || f[13] != 0x00 || ip[0] != 0x45)
        return 0;
    Py_ssize_t total = ip[2] << 8 | ip[3];
    if (total < 20 || total > (Py_ssize_t)snap - 14)
        return 0;
    int64_t *txst = r->txst.buf;
    if (txst[0] < 0 || txst[0] >= r->txnr)
        return 0;
    uint8_t *tx = (uint8_t *)r->txmap.buf + txst[0] * FRAME_SIZE;
    if (__atomic_load_n((uint32_t *)tx, __ATOMIC_ACQUIRE) != 0)
        return 0;  /* TX slot still the kernel's: Python's put reclaims and counts */
    PyObject *stack = NULL;  /* kind 1: the learned stack (new reference) */
    const uint8_t *head = r->head, *push = NULL;
    Py_ssize_t head_len = r->head_len, push_len = 0;
    if (r->kind == 1) {
        if (total < 24 || !(ip[9] == 6 || ip[9] == 17 || ip[9] == 132) || (ip[6] & 0x1F) || ip[7])
            return 0;
        PyObject *key = NULL, *ent = NULL;
        int got = 0;
        for (int reverse = 0; reverse < 2 && got == 0; reverse++) {
            if (!(r->match & (reverse ? 2 : 1)))
                continue;
            key = flow_key4(ip, reverse);
            if (!key)
                return -1;
            got = live_entry(r->od, key, now, r->idle, &ent);
            if (got != 1)
                Py_CLEAR(key);
        }
        if (got != 1)
            return got < 0 ? -1 : 0;  /* a miss or an expired flow: Python's policy */
        stack = Py_NewRef(PyTuple_GET_ITEM(ent, 0));
        Py_DECREF(ent);
        if (head_len + PyBytes_GET_SIZE(stack) + total > tx_limit(txst)) {  /* head4 is as long as head */
            Py_DECREF(key);
            Py_DECREF(stack);
            return 0;
        }
        int rc = touch(r->od, key, stack, now);
        Py_DECREF(key);
        if (rc < 0) {
            Py_DECREF(stack);
            return -1;
        }
        ((uint64_t *)r->lookups.buf)[0] += 1;
        push = (const uint8_t *)PyBytes_AS_STRING(stack);
        push_len = PyBytes_GET_SIZE(stack);
        if (push_len == 0) {  /* the proxy SID was the bottom label: back as plain IPv4 */
            head = r->head4;
            head_len = r->head4_len;
        }
    } else if (head_len + total > tx_limit(txst)) {
        return 0;
    }
    Py_ssize_t n = head_len + push_len + total;
    memcpy(tx + TX_DATA_OFFSET, head, head_len);
    if (push_len)
        memcpy(tx + TX_DATA_OFFSET + head_len, push, push_len);
    memcpy(tx + TX_DATA_OFFSET + head_len + push_len, ip, total);
    Py_XDECREF(stack);
    uint64_t *txc = r->txc.buf;
    txc[0] += 1;
    txc[1] += n;
    tx_commit(tx, n, txst, r->txnr, r->fd);
    return 1;
}

static int ret_frame(uint8_t *slot, double now, void *ctx) {
    return ret_one(slot, now, ctx);
}

/* An attachment's receive ring (r opened by ret_open): walk() with ret_one(). */
static Py_ssize_t ret_walk(uint8_t *ring, Py_ssize_t nr, Py_ssize_t *pi, Py_ssize_t budget, double now, ret_t *r,
                           int *why, PyObject **exc) {
    return walk(ring, nr, pi, budget, now, ret_frame, r, why, exc);
}

static PyObject *ret_drain(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer ring;
    Py_ssize_t i, nr, budget;
    double now;
    PyObject *entry;
    if (!PyArg_ParseTuple(args, "w*nnndO", &ring, &i, &nr, &budget, &now, &entry))
        return NULL;
    if (ring_bad(&ring, i, nr))
        return NULL;
    ret_t r;
    if (ret_open(&r, entry) < 0) {
        PyBuffer_Release(&ring);
        return NULL;
    }
    int why;
    PyObject *exc = NULL;
    Py_ssize_t done = ret_walk(ring.buf, nr, &i, budget, now, &r, &why, &exc);
    ret_close(&r);
    PyBuffer_Release(&ring);
    return walk_result(i, done, why, exc);
}

/* spin(watch, ns) -> index of the first ready ring, or -1 after ns nanoseconds.
 * watch: sequence of (ring buffer, byte offset of the slot to watch). Busy-polls the slots' status words
 * without the GIL (the control thread runs meanwhile), so a data path with traffic never sleeps and is
 * never woken up; the caller bounds ns (spin_us) so an idle proxy goes back to epoll. */
#define SPIN_MAX 16
static PyObject *spin(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *watch;
    long long ns;
    if (!PyArg_ParseTuple(args, "OL", &watch, &ns))
        return NULL;
    PyObject *seq = PySequence_Fast(watch, "spin: watch must be a sequence");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > SPIN_MAX) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "spin: too many rings");
        return NULL;
    }
    Py_buffer bufs[SPIN_MAX];
    const uint32_t *words[SPIN_MAX];
    Py_ssize_t got = 0;
    for (; got < n; got++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, got);
        PyObject *obj;
        Py_ssize_t off;
        if (!PyArg_ParseTuple(item, "On", &obj, &off) || PyObject_GetBuffer(obj, &bufs[got], PyBUF_SIMPLE) < 0)
            goto fail;
        if (off < 0 || off % 4 || off + 4 > bufs[got].len) {
            PyBuffer_Release(&bufs[got]);
            PyErr_SetString(PyExc_ValueError, "spin: slot offset out of range");
            goto fail;
        }
        words[got] = (const uint32_t *)((const uint8_t *)bufs[got].buf + off);
    }
    Py_ssize_t ready = -1;
    Py_BEGIN_ALLOW_THREADS
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long long deadline = (long long)t.tv_sec * 1000000000LL + t.tv_nsec + ns;
    for (;;) {
        for (Py_ssize_t k = 0; k < n; k++)
            if (__atomic_load_n(words[k], __ATOMIC_ACQUIRE) & TP_STATUS_USER) {
                ready = k;
                break;
            }
        if (ready >= 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((long long)t.tv_sec * 1000000000LL + t.tv_nsec >= deadline)
            break;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    Py_END_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < n; k++)
        PyBuffer_Release(&bufs[k]);
    Py_DECREF(seq);
    return PyLong_FromSsize_t(ready);
fail:
    for (Py_ssize_t k = 0; k < got; k++)
        PyBuffer_Release(&bufs[k]);
    Py_DECREF(seq);
    return NULL;
}

/* ---- the whole loop (cycle) ---------------------------------------------------------------------------
 *
 * cycle(jobs, pos, txs, attn, spin_ns, slice_ns) -> (job, why, frames forwarded in C)
 *   Runs the data path's turns without coming back to Python: walk every receive ring (the SR ring with
 *   sr_walk, attachments with ret_walk), flush every TX ring with pending frames, again, for as long as
 *   there is traffic that C handles. At small batches (a few frames a turn) the Python turn around two C
 *   calls -- epoll, the drain wrappers, flush(), the clock -- cost more than the frames themselves.
 * jobs: sequence of (kind, ring mmap, slots, arg): kind 0 the SR ring (arg (table, stack_room, tag) as for
 *   drain), 1 an attachment's ring with a compiled return entry (arg as for ret_drain), 2 a ring only
 *   Python handles (arg None).
 * pos: array('q'), each job's read index (read and written). txs: sequence of (tx_state array('q'), fd).
 * attn: array('q') [flag]: the control side sets it before writing the wake-up pipe.
 * Returns, after flushing every TX ring:
 *   (k, SLOW | ERROR) job k's next frame is not the common case (or the C API failed on it), untouched;
 *   (k, SLOW) for a kind-2 job with a frame; (k, HOLE) job k's slot is empty with a frame right behind it
 *   (Python's ring walk decides about holes); (-1, WAKE) attn set; (-1, SLICE) slice_ns passed (Python's
 *   housekeeping and stop flag); (-1, IDLE) every ring stayed empty for spin_ns (0: at once). The rings'
 *   empty/full checks and the spin run without the GIL; so do the flushes (the kernel's veth work). */
#define CYCLE_BUDGET 64  /* frames per ring per turn */

static inline long long mono_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);  /* time.monotonic()'s clock: flow timestamps stay comparable */
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static inline int slot_ready(const uint8_t *ring, Py_ssize_t i) {
    return (__atomic_load_n((const uint32_t *)(ring + i * FRAME_SIZE), __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
}

typedef struct {
    long kind;
    Py_buffer ring;
    Py_ssize_t nr, room;
    unsigned long long tag;
    PyObject *table;
    ret_t ret;
    int opened;  /* 1: ring buffer held, 2: ret too */
} job_t;

typedef struct {
    Py_buffer st;
    int fd;
} txj_t;

static void flush_all(txj_t *tx, Py_ssize_t ntx) {
    int any = 0;  /* release the GIL only for real work: another thread may hold it a while once it has it */
    for (Py_ssize_t t = 0; t < ntx && !any; t++)
        any = ((int64_t *)tx[t].st.buf)[1] != 0;
    if (!any)
        return;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t t = 0; t < ntx; t++) {
        int64_t *st = tx[t].st.buf;
        if (st[1]) {
            st[1] = 0;
            if (send(tx[t].fd, NULL, 0, MSG_DONTWAIT) < 0)
                st[2] += 1;
        }
    }
    Py_END_ALLOW_THREADS
}

static int job_open(job_t *j, PyObject *item) {
    PyObject *ring, *arg;
    if (!PyArg_ParseTuple(item, "lOnO", &j->kind, &ring, &j->nr, &arg))
        return -1;
    if (PyObject_GetBuffer(ring, &j->ring, PyBUF_WRITABLE) < 0)
        return -1;
    j->opened = 1;
    if (j->nr <= 0 || j->nr * FRAME_SIZE > j->ring.len) {
        PyErr_SetString(PyExc_ValueError, "cycle: ring size out of range");
        return -1;
    }
    if (j->kind == 0) {
        if (!PyArg_ParseTuple(arg, "O!nK", &PyDict_Type, &j->table, &j->room, &j->tag))
            return -1;
    } else if (j->kind == 1) {
        if (ret_open(&j->ret, arg) < 0)
            return -1;
        j->opened = 2;
    } else if (j->kind != 2) {
        PyErr_SetString(PyExc_ValueError, "cycle: job kind must be 0, 1 or 2");
        return -1;
    }
    return 0;
}

static PyObject *cycle(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *jobs_in, *txs_in;
    Py_buffer pos, attn;
    long long spin_ns, slice_ns;
    if (!PyArg_ParseTuple(args, "Ow*Ow*LL", &jobs_in, &pos, &txs_in, &attn, &spin_ns, &slice_ns))
        return NULL;
    PyObject *out = NULL, *jseq = NULL, *tseq = NULL;
    job_t *jobs = NULL;
    txj_t *tx = NULL;
    Py_ssize_t nj = 0, ntx = 0, k = -1, total = 0;
    int why = WHY_IDLE;
    jseq = PySequence_Fast(jobs_in, "cycle: jobs must be a sequence");
    tseq = jseq ? PySequence_Fast(txs_in, "cycle: txs must be a sequence") : NULL;
    if (!tseq)
        goto fail;
    nj = PySequence_Fast_GET_SIZE(jseq);
    ntx = PySequence_Fast_GET_SIZE(tseq);
    jobs = PyMem_Calloc(nj ? nj : 1, sizeof(job_t));
    tx = PyMem_Calloc(ntx ? ntx : 1, sizeof(txj_t));
    if (!jobs || !tx) {
        PyErr_NoMemory();
        goto fail;
    }
    if (pos.len < nj * 8 || attn.len < 8) {
        PyErr_SetString(PyExc_ValueError, "cycle: pos or attn too short");
        goto fail;
    }
    int64_t *pi = pos.buf;
    for (Py_ssize_t j = 0; j < nj; j++) {
        if (job_open(&jobs[j], PySequence_Fast_GET_ITEM(jseq, j)) < 0)
            goto fail;
        if (pi[j] < 0 || pi[j] >= jobs[j].nr) {
            PyErr_SetString(PyExc_ValueError, "cycle: ring index out of range");
            goto fail;
        }
    }
    for (Py_ssize_t t = 0; t < ntx; t++) {
        PyObject *st;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(tseq, t), "Oi", &st, &tx[t].fd))
            goto fail;
        if (PyObject_GetBuffer(st, &tx[t].st, PyBUF_WRITABLE) < 0) {
            tx[t].fd = -1;  /* not held: not released below */
            goto fail;
        }
        if (tx[t].st.len < 32) {
            PyErr_SetString(PyExc_ValueError, "cycle: TX state too short");
            ntx = t + 1;
            goto fail;
        }
    }
    volatile int64_t *flag = attn.buf;
    long long deadline = mono_ns() + slice_ns;
    for (;;) {
        long long t_ns = mono_ns();
        double now = (double)t_ns / 1e9;
        int work = 0;
        for (Py_ssize_t j = 0; j < nj; j++) {
            job_t *jb = &jobs[j];
            uint8_t *ring = jb->ring.buf;
            Py_ssize_t i = pi[j];
            if (!slot_ready(ring, i)) {
                if (slot_ready(ring, i + 1 < jb->nr ? i + 1 : 0)) {
                    k = j;
                    why = WHY_HOLE;
                    goto done;
                }
                continue;
            }
            if (jb->kind == 2) {
                k = j;
                why = WHY_SLOW;
                goto done;
            }
            int w;
            PyObject *exc = NULL;
            Py_ssize_t n = jb->kind == 0
                ? sr_walk(ring, jb->nr, &i, CYCLE_BUDGET, now, jb->table, jb->room, jb->tag, &w, &exc)
                : ret_walk(ring, jb->nr, &i, CYCLE_BUDGET, now, &jb->ret, &w, &exc);
            pi[j] = i;
            work |= n > 0;
            total += n;
            if (w == WHY_SLOW || w == WHY_ERROR) {
                Py_XDECREF(exc);  /* Python's drain meets it again on that frame, and logs it there */
                k = j;
                why = w;
                goto done;
            }
        }
        flush_all(tx, ntx);
        if (*flag) {
            why = WHY_WAKE;
            goto done;
        }
        if (mono_ns() >= deadline) {
            why = WHY_SLICE;
            goto done;
        }
        if (work)
            continue;
        if (spin_ns <= 0) {
            why = WHY_IDLE;
            goto done;
        }
        int ready = 0;  /* spin without the GIL until a frame, the flag or spin_ns (not cut by the slice: an
                         * idle loop must end in IDLE, i.e. epoll, even when spin_ns exceeds slice_ns) */
        Py_BEGIN_ALLOW_THREADS
        long long until = mono_ns() + spin_ns;
        while (!ready && !*flag) {
            for (Py_ssize_t j = 0; j < nj && !ready; j++)
                ready = slot_ready(jobs[j].ring.buf, pi[j]);
            if (ready || mono_ns() >= until)
                break;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
        Py_END_ALLOW_THREADS
        if (!ready && !*flag) {
            why = WHY_IDLE;
            goto done;
        }
    }
done:
    flush_all(tx, ntx);
    out = Py_BuildValue("nin", k, why, total);
fail:
    for (Py_ssize_t j = 0; jobs && j < nj; j++) {
        if (jobs[j].opened == 2)
            ret_close(&jobs[j].ret);
        if (jobs[j].opened)
            PyBuffer_Release(&jobs[j].ring);
    }
    for (Py_ssize_t t = 0; tx && t < ntx; t++)
        if (tx[t].st.obj)
            PyBuffer_Release(&tx[t].st);
    PyMem_Free(jobs);
    PyMem_Free(tx);
    Py_XDECREF(jseq);
    Py_XDECREF(tseq);
    PyBuffer_Release(&pos);
    PyBuffer_Release(&attn);
    return out;
}

/* ---- SRv6 (srv6.py's per-frame work) -------------------------------------------------------------------
 *
 * srv6_in(buf, s, e, now, sids, out) -> entry | None
 *   Srv6.from_sr on the frame buf[s:e] (Ethernet, ethertype IPv6, link rules already passed, e - s >= 18):
 *   the IPv6 header, extension headers to the SRH, SRH checks, the inner packet, then End.AS / End.AD /
 *   End.AM in place, End.AD's learning (slot or flow cache) and the SID's rx counters. Returns the SID's
 *   entry and out = [ostart, oend, -1, events], or None and out = [0, 0, reason, events] (reason: index
 *   in SRV6_REASONS, which srv6.py counts in the engine's drops; events: bits of SRV6_EVENT_BITS).
 *   sids: {16-byte SID: (kind, Srv6State, AttState | None, rx array('Q'), FlowCache | None)}; kind as
 *   K6_*. Every read is bounds-checked against the IPv6 payload length and e.
 * srv6_out(buf, s, e, now, entry, out) -> 1 send buf[out[0]:out[1]] | 0 dropped (out[2] reason) | 2 slow
 *   Srv6.from_vnf for an attachment with one SRv6 SID (link rules passed, `s` with HEADROOM bytes free
 *   before it): End.AS with one segment list, End.AD per attachment or per flow, End.AM. Slow (2) touches nothing
 *   and counts nothing: Python's Srv6.from_vnf handles the frame (a header longer than the headroom).
 *   entry: (kind, Srv6State, txc array('Q'), lookups array('Q'), tmpl4, tmpl6, SID key, head, limit
 *           [, FlowCache, return_match 1 same | 2 reverse | 3 either: End.AD per flow])
 */
enum { K6_AS = 0, K6_AD_IFACE = 1, K6_AD_FLOW = 2, K6_AM = 3 };
enum { R6_TRUNCATED, R6_UNKNOWN_SID, R6_HOP_LIMIT, R6_EXT_HEADER, R6_NO_SRH, R6_BAD_SRH, R6_FRAGMENT, R6_SL_ZERO,
       R6_INNER_TYPE, R6_NO_ATTACHMENT, R6_NO_NEIGHBOUR, R6_RET_TRUNCATED, R6_RET_NOT_IP, R6_FLOW_MISS,
       R6_NO_SID, R6_RET_SL_ZERO, R6_RET_UNKNOWN_SID, R6_RET_HOP_LIMIT, R6_RET_BAD_SRH, R6_RET_NO_SRH,
       R6_RET_FRAGMENT, R6_RET_EXT_HEADER, R6_RET_VLAN, R6_AM_REDUCED, R6_COUNT };
static const char *const srv6_reasons[R6_COUNT] = {
    "srv6_truncated", "srv6_unknown_sid", "srv6_hop_limit", "srv6_ext_header", "srv6_no_srh", "srv6_bad_srh",
    "srv6_fragment", "srv6_sl_zero", "srv6_inner_type", "no_attachment", "no_neighbour", "return_truncated",
    "return_not_ip", "srv6_flow_miss", "no_sid", "srv6_return_sl_zero", "srv6_return_unknown_sid",
    "srv6_return_hop_limit", "srv6_return_bad_srh", "srv6_return_no_srh", "srv6_return_fragment",
    "srv6_return_ext_header", "return_vlan", "srv6_am_reduced_srh"};
enum { EV_HMAC = 1, EV_EXT_BEFORE = 2, EV_DOPT_AFTER = 4 };  /* engine.SRV6_EVENTS, in that order */
#define NH6_HBH 0
#define NH6_IPV4 4
#define NH6_ROUTING 43
#define NH6_FRAGMENT 44
#define NH6_IPV6 41
#define NH6_DEST 60
#define MAX_EXT6 8

static PyObject *s_hdr6, *s_slot, *s_learn, *s_od, *s_idle;

/* engine.ip_end: end of the IP packet at p within [p, e), or -1 (truncated or not IP). */
static Py_ssize_t ip_end_c(const uint8_t *b, Py_ssize_t p, Py_ssize_t e) {
    Py_ssize_t avail = e - p;
    if (avail < 1)
        return -1;
    int ver = b[p] >> 4;
    if (ver == 4) {
        if (avail < 20 || (b[p] & 0x0F) < 5)
            return -1;
        Py_ssize_t total = b[p + 2] << 8 | b[p + 3];
        if (total < (b[p] & 0x0F) * 4 || total > avail)
            return -1;
        return p + total;
    }
    if (ver == 6) {
        if (avail < 40)
            return -1;
        Py_ssize_t total = 40 + (b[p + 4] << 8 | b[p + 5]);
        return total > avail ? -1 : p + total;
    }
    return -1;
}

/* Srv6.find_srh: -1 and the SRH's offset in *pq, or an inbound reason (R6_*). end: the IPv6 packet's end. */
static int srh_find(const uint8_t *b, Py_ssize_t p, Py_ssize_t end, Py_ssize_t *pq, int *ev) {
    int nh = b[p + 6];
    Py_ssize_t q = p + 40;
    int walked = 0;
    while (nh != NH6_ROUTING) {
        if (nh == NH6_FRAGMENT)
            return R6_FRAGMENT;
        if (nh != NH6_HBH && nh != NH6_DEST)
            return R6_NO_SRH;
        if ((nh == NH6_HBH && walked) || walked >= MAX_EXT6)
            return R6_EXT_HEADER;
        if (q + 2 > end)
            return R6_TRUNCATED;
        nh = b[q];
        q += (b[q + 1] + 1) * 8;
        if (q > end)
            return R6_TRUNCATED;
        walked++;
    }
    if (walked)
        *ev |= EV_EXT_BEFORE;
    if (q + 8 > end)
        return R6_TRUNCATED;
    if (b[q + 2] != 4)
        return R6_NO_SRH;
    Py_ssize_t stop = q + (b[q + 1] + 1) * 8;
    if (stop > end)
        return R6_TRUNCATED;
    int last = b[q + 4], sl = b[q + 3];
    Py_ssize_t tlv = q + 8 + 16 * (last + 1);
    /* RFC 8754 4.3.1.1 S10-S11: SL <= Last Entry + 1; SL = Last Entry + 1 is a reduced SRH (RFC 8986 5.2
     * H.Encaps.Red, the first segment only in the DA): End takes Segment List[Last Entry], inside the list */
    if (tlv > stop || sl > last + 1)
        return R6_BAD_SRH;
    int hmac = 0;
    while (tlv < stop) {
        if (b[tlv] == 0) {  /* Pad1 */
            tlv++;
            continue;
        }
        if (tlv + 2 > stop || tlv + 2 + b[tlv + 1] > stop)
            return R6_BAD_SRH;
        hmac |= b[tlv] == 5;
        tlv += 2 + b[tlv + 1];
    }
    if (hmac)
        *ev |= EV_HMAC;
    *pq = q;
    return -1;
}

/* Srv6.inner: -1 with the inner packet [*pr, *piend) and the offset of the byte naming it, or a reason. */
static int srh_inner(const uint8_t *b, Py_ssize_t q, Py_ssize_t end, Py_ssize_t *pr, Py_ssize_t *piend,
                     Py_ssize_t *pnh_at, int *ev) {
    Py_ssize_t nh_at = q, r = q + (b[q + 1] + 1) * 8;  /* within end: srh_find checked it */
    int nh = b[q], walked = 0;
    while (nh == NH6_DEST) {
        if (walked >= MAX_EXT6)
            return R6_EXT_HEADER;
        if (r + 2 > end)
            return R6_TRUNCATED;
        nh_at = r;
        nh = b[r];
        r += (b[r + 1] + 1) * 8;
        walked++;
    }
    if (walked)
        *ev |= EV_DOPT_AFTER;
    if (nh == NH6_FRAGMENT)
        return R6_FRAGMENT;
    if (nh != NH6_IPV4 && nh != NH6_IPV6)
        return R6_INNER_TYPE;
    Py_ssize_t iend = ip_end_c(b, r, end);
    if (iend < 0 || b[r] >> 4 != (nh == NH6_IPV4 ? 4 : 6))
        return R6_TRUNCATED;
    *pr = r;
    *piend = iend;
    *pnh_at = nh_at;
    return -1;
}

/* engine.flow_key of the validated IP packet [p, e): (protocol, addresses + ports as bytes). */
static PyObject *flow_key_c(const uint8_t *b, Py_ssize_t p, Py_ssize_t e) {
    uint8_t k[36];
    Py_ssize_t n;
    int proto;
    if (b[p] >> 4 == 4) {
        proto = b[p + 9];
        Py_ssize_t hl = (b[p] & 0x0F) * 4;
        memcpy(k, b + p + 12, 8);
        memset(k + 8, 0, 4);
        if ((proto == 6 || proto == 17 || proto == 132) && !((b[p + 6] & 0x1F) || b[p + 7]) && p + hl + 4 <= e)
            memcpy(k + 8, b + p + hl, 4);
        n = 12;
    } else {
        proto = b[p + 6];
        memcpy(k, b + p + 8, 32);
        memset(k + 32, 0, 4);
        if ((proto == 6 || proto == 17 || proto == 132) && p + 44 <= e)
            memcpy(k + 32, b + p + 40, 4);
        n = 36;
    }
    PyObject *addr = PyBytes_FromStringAndSize((const char *)k, n);
    if (!addr)
        return NULL;
    PyObject *key = PyTuple_New(2);
    if (!key) {
        Py_DECREF(addr);
        return NULL;
    }
    PyTuple_SET_ITEM(key, 0, PyLong_FromLong(proto));  /* small int: cached, cannot fail */
    PyTuple_SET_ITEM(key, 1, addr);
    return key;
}

/* The attachment's Ethernet header for `ethertype_ip` (4 or 6): 1 (new reference in *hdr), 0 none yet
 * (no neighbour), -1 error. */
static int att_header(PyObject *att, int ver, PyObject **hdr) {
    PyObject *dmac = PyObject_GetAttr(att, s_dmac);
    if (!dmac)
        return -1;
    int ready = dmac != Py_None;
    Py_DECREF(dmac);
    if (!ready)
        return 0;
    PyObject *h = PyObject_GetAttr(att, ver == 4 ? s_hdr4 : s_hdr6);
    if (!h)
        return -1;
    if (!PyBytes_Check(h) || PyBytes_GET_SIZE(h) != 14) {
        Py_DECREF(h);
        PyErr_SetString(PyExc_ValueError, "srv6: attachment header is not 14 bytes");
        return -1;
    }
    *hdr = h;
    return 1;
}

static int count_pair(PyObject *arr, uint64_t bytes) {
    Py_buffer c;
    if (PyObject_GetBuffer(arr, &c, PyBUF_WRITABLE) < 0)
        return -1;
    if (c.len < 16) {
        PyBuffer_Release(&c);
        PyErr_SetString(PyExc_ValueError, "srv6: counter array too short");
        return -1;
    }
    ((uint64_t *)c.buf)[0] += 1;
    ((uint64_t *)c.buf)[1] += bytes;
    PyBuffer_Release(&c);
    return 0;
}

/* The learned value already stored, if it equals (header h[0:n], offset off): a new reference, else NULL
 * (no error set; -1 in *err on a C API error). */
static PyObject *same_learned(PyObject *held, const uint8_t *h, Py_ssize_t n, Py_ssize_t off, int *err) {
    if (!PyTuple_Check(held) || PyTuple_GET_SIZE(held) < 2)
        return NULL;
    PyObject *hb = PyTuple_GET_ITEM(held, 0), *ho = PyTuple_GET_ITEM(held, 1);
    if (!PyBytes_Check(hb) || PyBytes_GET_SIZE(hb) != n || memcmp(PyBytes_AS_STRING(hb), h, n) != 0
        || !PyLong_Check(ho))
        return NULL;
    Py_ssize_t o = PyLong_AsSsize_t(ho);
    if (o == -1 && PyErr_Occurred()) {
        *err = -1;
        return NULL;
    }
    return o == off ? Py_NewRef(held) : NULL;
}

/* End.AD's learning: End applied to a copy of the outer headers [p, r), stored as the SID's slot or in its
 * flow cache under the inner packet's key, exactly as srv6.py does (FlowCache.learn's refresh of an equal
 * value is done here; a new or changed flow goes through FlowCache.learn). The header already held is
 * reused when it is equal (the common case: the same path frame after frame). 0 or -1. */
static int ad_learn(const uint8_t *b, Py_ssize_t p, Py_ssize_t q, Py_ssize_t r, Py_ssize_t iend, Py_ssize_t nh_at,
                    int kind, PyObject *st, PyObject *cache, double now) {
    int sl = b[q + 3];
    Py_ssize_t n = r - p, off = nh_at - p;
    uint8_t small[512];
    uint8_t *h = n <= (Py_ssize_t)sizeof small ? small : PyMem_Malloc(n);
    if (!h) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(h, b + p, n);
    h[7] -= 1;  /* hop limit > 1 checked */
    h[q - p + 3] = (uint8_t)(sl - 1);
    memcpy(h + 24, h + (q - p) + 8 + 16 * (sl - 1), 16);  /* 1 <= SL <= Last Entry + 1: inside the SRH */
    int rc = -1, err = 0;
    PyObject *t = NULL, *val = NULL, *key = NULL, *res = NULL, *held = NULL, *same = NULL, *od = NULL;
    if (kind == K6_AD_IFACE) {
        held = PyObject_GetAttr(st, s_slot);
        if (!held)
            goto out;
        same = same_learned(held, h, n, off, &err);
        if (err)
            goto out;
        if (same && PyTuple_GET_SIZE(same) == 3 && PyFloat_Check(PyTuple_GET_ITEM(same, 2))
            && PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(same, 2)) == now) {
            rc = 0;  /* learned at this `now` already (one `now` per batch): an equal slot stays */
            goto out;
        }
        t = PyFloat_FromDouble(now);
        if (!t)
            goto out;
        if (same)
            val = PyTuple_Pack(3, PyTuple_GET_ITEM(same, 0), PyTuple_GET_ITEM(same, 1), t);
        else {
            PyObject *hb = PyBytes_FromStringAndSize((const char *)h, n), *ob = PyLong_FromSsize_t(off);
            val = hb && ob ? PyTuple_Pack(3, hb, ob, t) : NULL;
            Py_XDECREF(hb);
            Py_XDECREF(ob);
        }
        if (val && PyObject_SetAttr(st, s_slot, val) == 0)
            rc = 0;
        goto out;
    }
    key = flow_key_c(b, r, iend);
    od = key ? PyObject_GetAttr(cache, s_od) : NULL;
    if (!od)
        goto out;
    if (!PyDict_Check(od)) {
        PyErr_SetString(PyExc_ValueError, "srv6: flow cache od is not a dict");
        goto out;
    }
    PyObject *ent = PyDict_GetItemWithError(od, key);  /* borrowed */
    if (!ent && PyErr_Occurred())
        goto out;
    if (ent && PyTuple_Check(ent) && PyTuple_GET_SIZE(ent) == 2) {
        same = same_learned(PyTuple_GET_ITEM(ent, 0), h, n, off, &err);
        if (err)
            goto out;
    }
    if (same) {  /* FlowCache.learn on an equal value: untouched when seen at this `now`, else refreshed */
        PyObject *seen = PyTuple_GET_ITEM(ent, 1);
        if (PyFloat_Check(seen) && PyFloat_AS_DOUBLE(seen) == now) {
            rc = 0;
            goto out;
        }
        rc = touch(od, key, same, now);
        goto out;
    }
    {
        PyObject *hb = PyBytes_FromStringAndSize((const char *)h, n), *ob = PyLong_FromSsize_t(off);
        val = hb && ob ? PyTuple_Pack(2, hb, ob) : NULL;
        Py_XDECREF(hb);
        Py_XDECREF(ob);
    }
    t = val ? PyFloat_FromDouble(now) : NULL;
    if (!t)
        goto out;
    res = PyObject_CallMethodObjArgs(cache, s_learn, key, val, t, NULL);
    rc = res ? 0 : -1;
out:
    if (h != small)
        PyMem_Free(h);
    Py_XDECREF(t);
    Py_XDECREF(val);
    Py_XDECREF(key);
    Py_XDECREF(res);
    Py_XDECREF(held);
    Py_XDECREF(same);
    Py_XDECREF(od);
    return rc;
}

static int srv6_args(PyObject *args, const char *fmt, Py_buffer *buf, Py_ssize_t *s, Py_ssize_t *e, double *now,
                     PyObject **obj, Py_buffer *out) {
    if (!PyArg_ParseTuple(args, fmt, buf, s, e, now, obj, out))
        return -1;
    if (*s < 0 || *e > buf->len || *s > *e || out->len < 32) {
        PyBuffer_Release(buf);
        PyBuffer_Release(out);
        PyErr_SetString(PyExc_ValueError, "srv6: frame bounds or out array out of range");
        return -1;
    }
    return 0;
}

/* The compiled SR loop's SRv6 send side (one6): the attachment's TX ring. */
typedef struct {
    Py_buffer txmap, txst;
    Py_ssize_t txnr;
    int fd;
    uint8_t *slot;  /* the free TX slot (set by srv6_in_frame's checks) */
} tx6_t;

#define SLOW6 (-2)  /* out[2] of a frame the ring loop leaves to Python (untouched, nothing counted) */

/* A forward of n bytes in C: 1 (tx->slot is the free slot), 0 not here (an event Python counts, the TX
 * slot still the kernel's, over the MTU). */
static int tx6_check(tx6_t *tx, int ev, Py_ssize_t n) {
    int64_t *txst = tx->txst.buf;
    if (ev || txst[0] < 0 || txst[0] >= tx->txnr || (txst[0] + 1) * FRAME_SIZE > tx->txmap.len)
        return 0;
    uint8_t *slot = (uint8_t *)tx->txmap.buf + txst[0] * FRAME_SIZE;
    if (__atomic_load_n((uint32_t *)slot, __ATOMIC_ACQUIRE) != 0 || n > tx_limit(txst))
        return 0;
    tx->slot = slot;
    return 1;
}

/* After a forward in ring mode: the frame [o[0], o[1]) of b into the slot tx6_check found, to the kernel. */
static void tx6_send(tx6_t *tx, const uint8_t *b, const int64_t *o) {
    if (!tx)
        return;
    memcpy(tx->slot + TX_DATA_OFFSET, b + o[0], o[1] - o[0]);
    tx_commit(tx->slot, o[1] - o[0], tx->txst.buf, tx->txnr, tx->fd);
}

/* srv6_in's work. tx NULL: the engine's call. tx set (the ring loop, one6): anything but a clean forward
 * -- a drop, an event to count, no free TX slot, a frame over the MTU -- returns None with out[2] = SLOW6
 * before the frame, a cache or a counter is touched; a forward also copies the frame into tx's slot. */
static PyObject *srv6_in_frame(uint8_t *b, Py_ssize_t s, Py_ssize_t e, double now, PyObject *sids, int64_t *o,
                               tx6_t *tx) {
    int ev = 0;
    o[0] = o[1] = 0;
    o[3] = 0;
#define DROP6(reason) do { o[2] = tx ? SLOW6 : (reason); o[3] = tx ? 0 : ev; Py_RETURN_NONE; } while (0)
    Py_ssize_t p = s + 14;
    if (e - s < 18)
        DROP6(R6_TRUNCATED);
    Py_ssize_t end = ip_end_c(b, p, e);
    if (end < 0 || b[p] >> 4 != 6)
        DROP6(R6_TRUNCATED);
    PyObject *k = PyBytes_FromStringAndSize((const char *)b + p + 24, 16);
    if (!k)
        return NULL;
    PyObject *entry = PyDict_GetItemWithError(sids, k);
    Py_DECREF(k);
    if (!entry) {
        if (PyErr_Occurred())
            return NULL;
        DROP6(R6_UNKNOWN_SID);
    }
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) < 5) {
        PyErr_SetString(PyExc_ValueError, "srv6: SID entry is not a 5-tuple");
        return NULL;
    }
    if (tx && PyTuple_GET_SIZE(entry) != 9)
        DROP6(0);  /* no TX ring entry: Python's path */
    long kind = PyLong_AsLong(PyTuple_GET_ITEM(entry, 0));
    if (kind == -1 && PyErr_Occurred())
        return NULL;
    PyObject *att = PyTuple_GET_ITEM(entry, 2);
    if (b[p + 7] <= 1)
        DROP6(R6_HOP_LIMIT);
    Py_ssize_t q = 0;
    int why = srh_find(b, p, end, &q, &ev);
    if (why >= 0)
        DROP6(why);
    int sl = b[q + 3];
    if (sl == 0)
        DROP6(R6_SL_ZERO);
    PyObject *hdr = NULL;
    Py_ssize_t start, stop;
    if (kind == K6_AM) {
        if (sl > b[q + 4])  /* reduced SRH: the SID only in the DA, which masquerading overwrites */
            DROP6(R6_AM_REDUCED);
        if (att == Py_None)
            DROP6(R6_NO_ATTACHMENT);
        int got = att_header(att, 6, &hdr);
        if (got < 0)
            return NULL;
        if (!got)
            DROP6(R6_NO_NEIGHBOUR);
        if (tx && tx6_check(tx, ev, end - (p - 14)) <= 0) {
            Py_DECREF(hdr);
            DROP6(0);
        }
        memcpy(b + p + 24, b + q + 8, 16);  /* DA = Segment List[0]; SL and the SRH stay */
        memcpy(b + p - 14, PyBytes_AS_STRING(hdr), 14);
        start = p - 14;
        stop = end;
    } else {
        Py_ssize_t r = 0, iend = 0, nh_at = 0;
        why = srh_inner(b, q, end, &r, &iend, &nh_at, &ev);
        if (why >= 0)
            DROP6(why);
        if (att == Py_None)
            DROP6(R6_NO_ATTACHMENT);
        int got = att_header(att, b[r] >> 4, &hdr);
        if (got < 0)
            return NULL;
        if (!got)
            DROP6(R6_NO_NEIGHBOUR);
        if (tx && tx6_check(tx, ev, iend - (r - 14)) <= 0) {
            Py_DECREF(hdr);
            DROP6(0);
        }
        if ((kind == K6_AD_IFACE || kind == K6_AD_FLOW)
            && ad_learn(b, p, q, r, iend, nh_at, (int)kind, PyTuple_GET_ITEM(entry, 1), PyTuple_GET_ITEM(entry, 4),
                        now) < 0) {
            Py_DECREF(hdr);
            return NULL;
        }
        memcpy(b + r - 14, PyBytes_AS_STRING(hdr), 14);  /* r - 14 >= p + 26: inside the outer headers */
        start = r - 14;
        stop = iend;
    }
    Py_DECREF(hdr);
    if (count_pair(PyTuple_GET_ITEM(entry, 3), (uint64_t)(e - s)) < 0)
        return NULL;
    o[0] = start;
    o[1] = stop;
    tx6_send(tx, b, o);
    o[2] = -1;
    o[3] = ev;
#undef DROP6
    return Py_NewRef(entry);
}

static PyObject *srv6_in(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer buf, out;
    Py_ssize_t s, e;
    double now;
    PyObject *sids;
    if (srv6_args(args, "w*nndOw*", &buf, &s, &e, &now, &sids, &out) < 0)
        return NULL;
    if (!PyDict_Check(sids)) {
        PyBuffer_Release(&buf);
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_TypeError, "srv6_in: sids must be a dict");
        return NULL;
    }
    PyObject *res = srv6_in_frame(buf.buf, s, e, now, sids, out.buf, NULL);
    PyBuffer_Release(&buf);
    PyBuffer_Release(&out);
    return res;
}

/* Ethernet head + a header template `hdr` (IPv6 + SRH, payload length patched) in front of the IP packet
 * [p, end): 1 written (out set), 2 it does not fit before p or in the headroom (Python copies). */
static int push6(uint8_t *b, Py_ssize_t p, Py_ssize_t end, PyObject *head, PyObject *hdr, Py_ssize_t limit,
                 Py_ssize_t nh_off, int nh, int64_t *o) {
    Py_ssize_t hl = PyBytes_GET_SIZE(head), n = hl + PyBytes_GET_SIZE(hdr);
    if (n > limit || n > p || PyBytes_GET_SIZE(hdr) < 40 || nh_off >= PyBytes_GET_SIZE(hdr))
        return 2;
    Py_ssize_t plen = PyBytes_GET_SIZE(hdr) - 40 + end - p;
    if (plen > 0xFFFF)
        return 2;
    Py_ssize_t h = p - n;
    memcpy(b + h, PyBytes_AS_STRING(head), hl);
    memcpy(b + h + hl, PyBytes_AS_STRING(hdr), PyBytes_GET_SIZE(hdr));
    b[h + hl + 4] = (uint8_t)(plen >> 8);
    b[h + hl + 5] = (uint8_t)plen;
    if (nh_off >= 0)
        b[h + hl + nh_off] = (uint8_t)nh;
    o[0] = h;
    o[1] = end;
    return 1;
}

/* engine.reverse_key of a flow_key_c key: addresses and ports swapped. */
static PyObject *reverse_key_c(PyObject *key) {
    PyObject *k = PyTuple_GET_ITEM(key, 1);
    Py_ssize_t len = PyBytes_GET_SIZE(k), a = (len - 4) / 2;
    const uint8_t *f = (const uint8_t *)PyBytes_AS_STRING(k);
    uint8_t r[36];
    memcpy(r, f + a, a);
    memcpy(r + a, f, a);
    memcpy(r + 2 * a, f + 2 * a + 2, 2);
    memcpy(r + 2 * a + 2, f + 2 * a, 2);
    PyObject *addr = PyBytes_FromStringAndSize((const char *)r, len);
    if (!addr)
        return NULL;
    PyObject *out = PyTuple_New(2);
    if (!out) {
        Py_DECREF(addr);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 0, Py_NewRef(PyTuple_GET_ITEM(key, 0)));
    PyTuple_SET_ITEM(out, 1, addr);
    return out;
}

/* End.AD's flow cache entry for key: 1 live (borrowed (header, offset) value in *val), 0 absent, 2 present
 * but expired or not the shape srv6.py writes (Python's FlowCache.lookup deals with it), -1 error. */
static int live6(PyObject *od, PyObject *key, double now, double idle, PyObject **val) {
    PyObject *e = PyDict_GetItemWithError(od, key);
    if (!e)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) != 2 || !PyFloat_Check(PyTuple_GET_ITEM(e, 1)))
        return 2;
    PyObject *v = PyTuple_GET_ITEM(e, 0);
    if (!PyTuple_Check(v) || PyTuple_GET_SIZE(v) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(v, 0))
        || !PyLong_Check(PyTuple_GET_ITEM(v, 1)))
        return 2;
    if (now - PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(e, 1)) > idle)
        return 2;  /* expired: Python removes and counts it */
    *val = v;
    return 1;
}

static int push6(uint8_t *b, Py_ssize_t p, Py_ssize_t end, PyObject *head, PyObject *hdr, Py_ssize_t limit,
                 Py_ssize_t nh_off, int nh, int64_t *o);
static void tx6_send(tx6_t *tx, const uint8_t *b, const int64_t *o);

/* Back from an End.AD-per-flow VNF (entry[9] the FlowCache, entry[10] return_match 1 same, 2 reverse,
 * 3 either), as Srv6.from_vnf: the flow's learned header restored (its next header naming this packet's
 * type), the entry refreshed, a hit counted; a miss counted and dropped (srv6_flow_miss). Ring mode (tx):
 * a miss is left to Python. Anything Python's lookup would change otherwise (an expired entry) is slow. */
static int ad_flow_return(uint8_t *b, Py_ssize_t p, Py_ssize_t end, double now, PyObject *entry, PyObject *head,
                          Py_ssize_t limit, int want, int ev, int64_t *o, tx6_t *tx) {
    if (PyTuple_GET_SIZE(entry) < 11) {
        o[3] = 0;
        return 2;
    }
    long match = PyLong_AsLong(PyTuple_GET_ITEM(entry, 10));
    if (match == -1 && PyErr_Occurred())
        return -1;
    int rc = -1;
    PyObject *cache = PyTuple_GET_ITEM(entry, 9), *od = NULL, *idle_o = NULL, *key = NULL, *rkey = NULL;
    PyObject *val = NULL, *hit = NULL;
    Py_buffer lk = {0};
    od = PyObject_GetAttr(cache, s_od);
    idle_o = od ? PyObject_GetAttr(cache, s_idle) : NULL;
    if (!idle_o)
        goto out;
    double idle = PyFloat_AsDouble(idle_o);
    if ((idle == -1.0 && PyErr_Occurred()) || !PyDict_Check(od)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "srv6: flow cache od is not a dict");
        goto out;
    }
    key = flow_key_c(b, p, end);
    if (!key)
        goto out;
    int got = 0;
    if (match != 2) {
        got = live6(od, key, now, idle, &val);
        if (got == 1)
            hit = key;
    }
    if (got == 0 && match != 1) {
        rkey = reverse_key_c(key);
        if (!rkey)
            goto out;
        got = live6(od, rkey, now, idle, &val);
        if (got == 1)
            hit = rkey;
    }
    if (got < 0)
        goto out;
    if (got == 2 || (got == 0 && tx)) {  /* expired (Python deletes and counts it), or a miss in the ring loop */
        o[3] = 0;
        rc = 2;
        goto out;
    }
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(entry, 3), &lk, PyBUF_WRITABLE) < 0)
        goto out;
    if (lk.len < 16) {
        PyErr_SetString(PyExc_ValueError, "srv6: lookups array too short");
        goto out;
    }
    if (got == 0) {  /* a miss: counted, dropped (the only SID here: no End.AS to fall back to) */
        ((uint64_t *)lk.buf)[1] += 1;
        o[2] = R6_FLOW_MISS;
        o[3] = ev;
        rc = 0;
        goto out;
    }
    PyObject *hdr = PyTuple_GET_ITEM(val, 0);
    Py_ssize_t nh_off = PyLong_AsSsize_t(PyTuple_GET_ITEM(val, 1));
    Py_ssize_t n = PyBytes_GET_SIZE(head) + PyBytes_GET_SIZE(hdr);
    if (nh_off < 0 || nh_off >= PyBytes_GET_SIZE(hdr) || PyErr_Occurred() || n > limit || n > p
        || PyBytes_GET_SIZE(hdr) < 40 || (tx && tx6_check(tx, ev, n + end - p) <= 0)) {
        PyErr_Clear();  /* a copy, a bad value, no TX slot: Python */
        o[3] = 0;
        rc = 2;
        goto out;
    }
    Py_INCREF(val);  /* touch() replaces the entry holding it */
    int t = touch(od, hit, val, now);
    Py_DECREF(val);
    if (t < 0)
        goto out;
    ((uint64_t *)lk.buf)[0] += 1;
    if (push6(b, p, end, head, hdr, limit, nh_off, want == 4 ? NH6_IPV4 : NH6_IPV6, o) != 1) {
        PyErr_SetString(PyExc_ValueError, "srv6: End.AD header does not fit");
        goto out;
    }
    if (count_pair(PyTuple_GET_ITEM(entry, 2), (uint64_t)(o[1] - o[0])) < 0)
        goto out;
    o[3] = ev;
    tx6_send(tx, b, o);
    rc = 1;
out:
    if (lk.obj)
        PyBuffer_Release(&lk);
    Py_XDECREF(od);
    Py_XDECREF(idle_o);
    Py_XDECREF(key);
    Py_XDECREF(rkey);
    return rc;
}

/* srv6_out's work. tx set (the compiled return loop, ret6): a drop, an event, no free TX slot or a frame
 * over the MTU returns 2 (slow) before anything is touched; a send also copies the frame into tx's slot. */
static int srv6_out_frame(uint8_t *b, Py_ssize_t s, Py_ssize_t e, double now, PyObject *entry, int64_t *o,
                          tx6_t *tx) {
    int ev = 0;
    o[0] = o[1] = o[3] = 0;
#define DROP6(reason) do { o[2] = (reason); o[3] = ev; if (tx) { o[3] = 0; return 2; } return 0; } while (0)
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) < 9) {
        PyErr_SetString(PyExc_ValueError, "srv6: return entry is not a 9-tuple");
        return -1;
    }
    long kind = PyLong_AsLong(PyTuple_GET_ITEM(entry, 0));
    Py_ssize_t limit = PyLong_AsSsize_t(PyTuple_GET_ITEM(entry, 8));
    if (PyErr_Occurred())
        return -1;
    PyObject *st = PyTuple_GET_ITEM(entry, 1), *txc = PyTuple_GET_ITEM(entry, 2);
    PyObject *head = PyTuple_GET_ITEM(entry, 7);
    if (!PyBytes_Check(head)) {
        PyErr_SetString(PyExc_ValueError, "srv6: return entry head is not bytes");
        return -1;
    }
    if (e - s < 14)
        DROP6(R6_RET_TRUNCATED);
    int et = b[s + 12] << 8 | b[s + 13];
    Py_ssize_t p = s + 14;
    /* engine.return_refusal: a tag still in the frame is return_vlan, as on the SR-MPLS path */
    int want = et == 0x0800 ? 4 : et == 0x86DD ? 6 : 0;
    if (!want)
        DROP6(et == 0x8100 || et == 0x88A8 || et == 0x9100 ? R6_RET_VLAN : R6_RET_NOT_IP);
    if (p < e && b[p] >> 4 != want)
        DROP6(R6_RET_NOT_IP);
    Py_ssize_t end = ip_end_c(b, p, e);
    if (end < 0)
        DROP6(R6_RET_TRUNCATED);
    if (kind == K6_AM) {
        if (want != 6)
            DROP6(R6_NO_SID);  /* IPv4 from an End.AM-only VNF: no End.AD, no End.AS */
        Py_ssize_t q = 0;
        int why = srh_find(b, p, end, &q, &ev);
        if (why >= 0)
            DROP6(why == R6_TRUNCATED || why == R6_BAD_SRH ? R6_RET_BAD_SRH : why == R6_NO_SRH ? R6_RET_NO_SRH
                  : why == R6_FRAGMENT ? R6_RET_FRAGMENT : R6_RET_EXT_HEADER);
        int sl = b[q + 3];
        if (sl == 0)
            DROP6(R6_RET_SL_ZERO);
        PyObject *key = PyTuple_GET_ITEM(entry, 6);
        if (!PyBytes_Check(key) || PyBytes_GET_SIZE(key) != 16) {
            PyErr_SetString(PyExc_ValueError, "srv6: return entry SID key is not 16 bytes");
            return -1;
        }
        /* Segment List[SL] names the SID; a reduced SRH (SL = Last Entry + 1) names none */
        if (sl > b[q + 4] || memcmp(b + q + 8 + 16 * sl, PyBytes_AS_STRING(key), 16) != 0)
            DROP6(R6_RET_UNKNOWN_SID);
        if (b[p + 7] <= 1)
            DROP6(R6_RET_HOP_LIMIT);
        Py_ssize_t hl = PyBytes_GET_SIZE(head);
        if (hl > p || (tx && tx6_check(tx, ev, end - (p - hl)) <= 0)) {
            o[3] = 0;
            return 2;
        }
        b[p + 7] -= 1;
        b[q + 3] = (uint8_t)(sl - 1);
        memcpy(b + p + 24, b + q + 8 + 16 * (sl - 1), 16);
        memcpy(b + p - hl, PyBytes_AS_STRING(head), hl);
        if (count_pair(txc, (uint64_t)(end - (p - hl))) < 0)
            return -1;
        o[0] = p - hl;
        o[1] = end;
        o[3] = ev;
        tx6_send(tx, b, o);
        return 1;
    }
    PyObject *hdr;
    Py_ssize_t nh_off = -1;
    if (kind == K6_AS) {
        hdr = PyTuple_GET_ITEM(entry, want == 4 ? 4 : 5);
        if (!PyBytes_Check(hdr)) {
            PyErr_SetString(PyExc_ValueError, "srv6: return entry template is not bytes");
            return -1;
        }
    } else if (kind == K6_AD_IFACE) {
        PyObject *slot = PyObject_GetAttr(st, s_slot);
        if (!slot)
            return -1;
        int ok = slot != Py_None;
        if (ok && (!PyTuple_Check(slot) || PyTuple_GET_SIZE(slot) != 3 || !PyBytes_Check(PyTuple_GET_ITEM(slot, 0)))) {
            Py_DECREF(slot);
            PyErr_SetString(PyExc_ValueError, "srv6: End.AD slot is not (header, offset, learned)");
            return -1;
        }
        PyObject *lookups = PyTuple_GET_ITEM(entry, 3);
        Py_buffer lk;
        if (PyObject_GetBuffer(lookups, &lk, PyBUF_WRITABLE) < 0) {
            Py_DECREF(slot);
            return -1;
        }
        if (lk.len < 16) {
            PyBuffer_Release(&lk);
            Py_DECREF(slot);
            PyErr_SetString(PyExc_ValueError, "srv6: lookups array too short");
            return -1;
        }
        if (!ok && tx) {  /* a miss: Python counts it */
            PyBuffer_Release(&lk);
            Py_DECREF(slot);
            return 2;
        }
        if (!ok) {
            ((uint64_t *)lk.buf)[1] += 1;  /* a miss: nothing learned yet */
            PyBuffer_Release(&lk);
            Py_DECREF(slot);
            DROP6(R6_FLOW_MISS);
        }
        hdr = PyTuple_GET_ITEM(slot, 0);
        nh_off = PyLong_AsSsize_t(PyTuple_GET_ITEM(slot, 1));
        Py_ssize_t n = PyBytes_GET_SIZE(head) + PyBytes_GET_SIZE(hdr);
        if (nh_off < 0 || PyErr_Occurred() || n > limit || n > p
            || (tx && tx6_check(tx, ev, n + end - p) <= 0)) {  /* a copy, a bad slot, no TX slot: Python */
            PyErr_Clear();
            PyBuffer_Release(&lk);
            Py_DECREF(slot);
            o[3] = 0;
            return 2;
        }
        ((uint64_t *)lk.buf)[0] += 1;
        PyBuffer_Release(&lk);
        int rc = push6(b, p, end, head, hdr, limit, nh_off, want == 4 ? NH6_IPV4 : NH6_IPV6, o);
        Py_DECREF(slot);
        if (rc != 1) {  /* cannot happen after the checks above; undo the hit to stay exact */
            PyErr_SetString(PyExc_ValueError, "srv6: End.AD header does not fit");
            return -1;
        }
        if (count_pair(txc, (uint64_t)(o[1] - o[0])) < 0)
            return -1;
        o[3] = ev;
        tx6_send(tx, b, o);
        return 1;
    } else if (kind == K6_AD_FLOW) {
        return ad_flow_return(b, p, end, now, entry, head, limit, want, ev, o, tx);
    } else {
        o[3] = 0;
        return 2;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(head) + PyBytes_GET_SIZE(hdr);
    if (tx && (n > limit || n > p || tx6_check(tx, ev, n + end - p) <= 0)) {
        o[3] = 0;
        return 2;
    }
    int rc = push6(b, p, end, head, hdr, limit, -1, 0, o);
    if (rc != 1) {
        o[3] = 0;
        return rc;
    }
    if (count_pair(txc, (uint64_t)(o[1] - o[0])) < 0)
        return -1;
    o[3] = ev;
    tx6_send(tx, b, o);
#undef DROP6
    return 1;
}

static PyObject *srv6_out(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer buf, out;
    Py_ssize_t s, e;
    double now;
    PyObject *entry;
    if (srv6_args(args, "w*nndOw*", &buf, &s, &e, &now, &entry, &out) < 0)
        return NULL;
    int rc = srv6_out_frame(buf.buf, s, e, now, entry, out.buf, NULL);
    PyBuffer_Release(&buf);
    PyBuffer_Release(&out);
    return rc < 0 ? NULL : PyLong_FromLong(rc);
}

/* The SR ring loop's SRv6 frame (one() on ethertype IPv6): 1 forwarded in C, 0 left to Python, -1 error.
 * table holds, besides the MPLS SIDs, {16-byte SID: (kind, st, att, rx, cache, tx_map, tx_state, tx_slots,
 * tx_fd)} (fastpath.fast_table). */
static int one6(uint8_t *f, Py_ssize_t snap, double now, PyObject *table) {
    int64_t o[4];
    tx6_t tx = {0};
    Py_ssize_t p = 14;
    if (snap < p + 40)
        return 0;
    PyObject *k = PyBytes_FromStringAndSize((const char *)f + p + 24, 16);
    if (!k)
        return -1;
    PyObject *entry = PyDict_GetItemWithError(table, k);
    Py_DECREF(k);
    if (!entry)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 9)
        return 0;
    tx.txnr = PyLong_AsSsize_t(PyTuple_GET_ITEM(entry, 7));
    tx.fd = (int)PyLong_AsLong(PyTuple_GET_ITEM(entry, 8));
    if (PyErr_Occurred())
        return -1;
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(entry, 5), &tx.txmap, PyBUF_WRITABLE) < 0)
        return -1;
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(entry, 6), &tx.txst, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&tx.txmap);
        return -1;
    }
    int rc = 0;
    if (tx.txst.len >= 32 && tx.txnr > 0) {
        PyObject *res = srv6_in_frame(f, 0, snap, now, table, o, &tx);
        rc = res == NULL ? -1 : res != Py_None;
        Py_XDECREF(res);
    }
    PyBuffer_Release(&tx.txmap);
    PyBuffer_Release(&tx.txst);
    return rc;
}

/* The compiled return loop's SRv6 attachment (ret_one, kind 2; r->od holds srv6_out's entry): 1 sent to the
 * SR side's TX ring, 0 left to Python, -1 error. */
static int ret6(uint8_t *slot, Py_ssize_t mac, Py_ssize_t snap, double now, ret_t *r) {
    int64_t o[4];
    tx6_t tx;
    memset(&tx, 0, sizeof tx);
    tx.txmap = r->txmap;  /* borrowed views: released by ret_close, not here */
    tx.txst = r->txst;
    tx.txnr = r->txnr;
    tx.fd = r->fd;
    /* the frame's buffer starts after the slot's tpacket2 header and sockaddr_ll: the headers pushed in
     * front of the frame (srv6_out_frame keeps them at or after its buffer's start) never touch them */
    if (mac < SLOT_HDR + 14)
        return 0;
    int rc = srv6_out_frame(slot + SLOT_HDR, mac - SLOT_HDR, mac - SLOT_HDR + snap, now, r->od, o, &tx);
    return rc < 0 ? -1 : rc == 1;
}

static PyMethodDef methods[] = {
    {"drain", drain, METH_VARARGS,
     "drain(ring, i, nr, budget, now, table, stack_room, tag) -> (i, done, why, error)"},
    {"ret_drain", ret_drain, METH_VARARGS, "ret_drain(ring, i, nr, budget, now, entry) -> (i, done, why, error)"},
    {"spin", spin, METH_VARARGS, "spin(watch, ns) -> index of the first ready (buffer, offset), or -1"},
    {"cycle", cycle, METH_VARARGS, "cycle(jobs, pos, txs, attn, spin_ns, slice_ns) -> (job, why, done)"},
    {"srv6_in", srv6_in, METH_VARARGS, "srv6_in(buf, s, e, now, sids, out) -> entry | None"},
    {"srv6_out", srv6_out, METH_VARARGS, "srv6_out(buf, s, e, now, entry, out) -> 1 sent | 0 dropped | 2 slow"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "srchain_proxy._fastsr", NULL, -1, methods, NULL, NULL, NULL, NULL};

/* sha256 of this file, passed by setup.py: the loader refuses a build older than the source beside it */
#ifndef FASTSR_SOURCE_SHA256
#define FASTSR_SOURCE_SHA256 "unknown"
#endif

PyMODINIT_FUNC PyInit__fastsr(void) {
    s_move_to_end = PyUnicode_InternFromString("move_to_end");
    s_dmac = PyUnicode_InternFromString("dmac");
    s_hdr4 = PyUnicode_InternFromString("hdr4");
    s_hdr6 = PyUnicode_InternFromString("hdr6");
    s_slot = PyUnicode_InternFromString("slot");
    s_learn = PyUnicode_InternFromString("learn");
    s_od = PyUnicode_InternFromString("od");
    s_idle = PyUnicode_InternFromString("idle");
    if (!s_move_to_end || !s_dmac || !s_hdr4 || !s_hdr6 || !s_slot || !s_learn || !s_od || !s_idle)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "WHY_BUDGET", WHY_BUDGET) < 0
              || PyModule_AddIntConstant(m, "WHY_NOT_READY", WHY_NOT_READY) < 0
              || PyModule_AddIntConstant(m, "WHY_SLOW", WHY_SLOW) < 0
              || PyModule_AddIntConstant(m, "WHY_ERROR", WHY_ERROR) < 0
              || PyModule_AddIntConstant(m, "WHY_IDLE", WHY_IDLE) < 0
              || PyModule_AddIntConstant(m, "WHY_SLICE", WHY_SLICE) < 0
              || PyModule_AddIntConstant(m, "WHY_WAKE", WHY_WAKE) < 0
              || PyModule_AddIntConstant(m, "WHY_HOLE", WHY_HOLE) < 0
              || PyModule_AddStringConstant(m, "SOURCE_SHA256", FASTSR_SOURCE_SHA256) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    PyObject *names = m ? PyTuple_New(R6_COUNT) : NULL;
    for (int k = 0; names && k < R6_COUNT; k++) {
        PyObject *name = PyUnicode_FromString(srv6_reasons[k]);
        if (!name) {
            Py_CLEAR(names);
            break;
        }
        PyTuple_SET_ITEM(names, k, name);
    }
    if (m && (!names || PyModule_AddObject(m, "SRV6_REASONS", names) < 0)) {
        Py_XDECREF(names);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
