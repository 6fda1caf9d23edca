/* Compiled SR-side fast path: the same common case as fastpath.sr_drain, in C.
 *
 * drain(ring, i, nr, budget, now, table, stack_room) -> (i, done, why, error)
 *   Walks ready TPACKET_V2 slots of the SR receive ring from slot i. A frame in the common case (MPLS, top
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

#define FRAME_SIZE 2048
#define TX_DATA_OFFSET 32
#define TP_STATUS_USER 1u
#define TP_STATUS_SEND_REQUEST 1u
#define TX_BATCH 32

enum { WHY_BUDGET = 0, WHY_NOT_READY = 1, WHY_SLOW = 2, WHY_ERROR = 3 };

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
    if (c->rx.len < 16 || c->txst.len < 24) {
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
static int one(uint8_t *slot, double now, PyObject *table, Py_ssize_t stack_room, cur_t *c) {
    uint32_t len, snap;
    uint16_t mac;
    memcpy(&len, slot + 4, 4);
    memcpy(&snap, slot + 8, 4);
    memcpy(&mac, slot + 12, 2);
    if (snap != len || snap < 42 || (Py_ssize_t)mac + snap > FRAME_SIZE || mac < 14)
        return 0;
    uint8_t *f = slot + mac;
    if (f[12] != 0x88 || f[13] != 0x47)
        return 0;
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
    if (__atomic_load_n((uint32_t *)tx, __ATOMIC_ACQUIRE) != 0 || n > FRAME_SIZE - TX_DATA_OFFSET) {
        Py_DECREF(hdr);
        return 0;  /* TX slot still the kernel's (or a rejected frame): Python's put reclaims and counts */
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
    uint32_t n32 = (uint32_t)n;
    memcpy(tx + 4, &n32, 4);
    __atomic_store_n((uint32_t *)tx, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    uint64_t *rx = c->rx.buf;
    rx[0] += 1;
    rx[1] += snap;
    txst[0] = txst[0] + 1 < txnr ? txst[0] + 1 : 0;
    if (++txst[1] >= TX_BATCH) {
        txst[1] = 0;
        if (send(fd, NULL, 0, MSG_DONTWAIT) < 0)
            txst[2] += 1;
    }
    return 1;
}

static PyObject *drain(PyObject *self, PyObject *args) {
    Py_buffer ring;
    Py_ssize_t i, nr, budget, stack_room;
    double now;
    PyObject *table;
    if (!PyArg_ParseTuple(args, "w*nnndO!n", &ring, &i, &nr, &budget, &now, &PyDict_Type, &table, &stack_room))
        return NULL;
    if (nr <= 0 || i < 0 || i >= nr || nr * FRAME_SIZE > ring.len) {
        PyBuffer_Release(&ring);
        PyErr_SetString(PyExc_ValueError, "ring index or size out of range");
        return NULL;
    }
    cur_t c = {0};
    Py_ssize_t done = 0;
    int why = WHY_BUDGET;
    while (done < budget) {
        uint8_t *slot = (uint8_t *)ring.buf + i * FRAME_SIZE;
        if (!(__atomic_load_n((uint32_t *)slot, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
            why = WHY_NOT_READY;
            break;
        }
        int r = one(slot, now, table, stack_room, &c);
        if (r < 0) {  /* report where we are with the error: Python logs it and handles this frame itself */
            PyObject *etype, *exc, *etb;  /* PyErr_Fetch: Python 3.11 has no PyErr_GetRaisedException */
            PyErr_Fetch(&etype, &exc, &etb);
            PyErr_NormalizeException(&etype, &exc, &etb);
            Py_XDECREF(etype);
            Py_XDECREF(etb);
            cur_release(&c);
            PyBuffer_Release(&ring);
            PyObject *out = Py_BuildValue("nniO", i, done, WHY_ERROR, exc ? exc : Py_None);
            Py_XDECREF(exc);
            return out;
        }
        if (r == 0) {
            why = WHY_SLOW;
            break;
        }
        __atomic_store_n((uint32_t *)slot, 0u, __ATOMIC_RELEASE);  /* back to the kernel */
        i = i + 1 < nr ? i + 1 : 0;
        done++;
    }
    cur_release(&c);
    PyBuffer_Release(&ring);
    return Py_BuildValue("nniO", i, done, why, Py_None);
}

static PyMethodDef methods[] = {
    {"drain", drain, METH_VARARGS, "drain(ring, i, nr, budget, now, table, stack_room) -> (i, done, why, error)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastsr", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastsr(void) {
    s_move_to_end = PyUnicode_InternFromString("move_to_end");
    s_dmac = PyUnicode_InternFromString("dmac");
    s_hdr4 = PyUnicode_InternFromString("hdr4");
    if (!s_move_to_end || !s_dmac || !s_hdr4)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "WHY_BUDGET", WHY_BUDGET) < 0
              || PyModule_AddIntConstant(m, "WHY_NOT_READY", WHY_NOT_READY) < 0
              || PyModule_AddIntConstant(m, "WHY_SLOW", WHY_SLOW) < 0
              || PyModule_AddIntConstant(m, "WHY_ERROR", WHY_ERROR) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
