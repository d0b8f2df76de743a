/*
 * hub.log._speedups: C implementation of hub/log/_pycodec.py (the records section of a Kafka
 * v2 record batch). Same functions, same signatures, byte-identical output, ValueError for
 * malformed input. _pycodec.py is the reference and documents the record layout.
 *
 *   murmur2(data) -> int
 *   encode_records(keys, values, headers, timestamps, seq_header=None)
 *       -> (bytes, count, first_ts, max_ts)
 *   partition_encode(keys, values, headers, timestamps, num_partitions, sticky,
 *                    seq_header=None) -> list
 *   slot_columns(objects, cls, names) -> list of lists, or None
 *   slot_objects(cls, names, columns) -> list
 *   decode_records(buf, pos, end, count, base_offset, first_timestamp, topic, partition, cls)
 *   json_valid(datas) -> bool; json_lines(datas, prefix) -> bytes or None (C only: JSON
 *       documents checked without decoding them, for sinks that write them as they are)
 *
 * Deliberate differences from the reference, all on input the reference mishandles:
 *   - Timestamps given to the encoders must fit in a signed 64-bit integer and so must every
 *     record's delta to the first timestamp of its batch (ValueError otherwise). The reference
 *     masks an out-of-range delta to 64 bits and emits a record that decodes to a different
 *     timestamp.
 *   - Bytes-like objects are measured in bytes (the reference writes len(), the number of
 *     items, as the length of a memoryview with a multi-byte format, then copies all its bytes).
 *   - Header keys must be str (TypeError); the reference fails with AttributeError.
 *   - decode_records requires 0 <= pos <= end <= len(buf) (ValueError); the reference indexes
 *     from the end for a negative pos and raises IndexError, or silently returns a truncated
 *     value, when end lies past the buffer.
 *   - A single record (or header section) of 4 GiB or more is refused with ValueError, and
 *     num_partitions above 2**31 - 1 too (the reference would try to build that many lists).
 *   - slot_columns and slot_objects take only object slots (T_OBJECT_EX: what __slots__
 *     makes); the reference takes any member descriptor.
 *   - decode_records decodes like the reference, values beyond int64 included (a 10-byte
 *     varint keeps the bits above 64 of its last byte there; Kafka drops them). It shares one
 *     int object between records with equal timestamps, and builds namedtuple records through
 *     tp_alloc, untracked by the garbage collector when they hold only atoms (str, int, bytes,
 *     None, untracked tuples): CPython untracks such plain tuples itself, never subclasses.
 *
 * Python code can run in the middle of an encode (a custom sequence's __iter__, an __index__,
 * a __bool__, a destructor), and it may mutate the input lists. The encoders therefore never
 * keep a borrowed item or an item array across such a call: each item is fetched again, with
 * a bounds check, and the second pass checks every write against the size the first pass
 * measured. Input that changed between the passes raises RuntimeError instead of corrupting
 * memory.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "fastcall.h"
#include "structmember.h"

#define MAX_RECORD 0xFFFFFFFFu /* largest record body the encoders produce (stored in uint32) */

static PyObject *empty_tuple; /* the shared () of records without headers */

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                    */

/* A bytes-like object's contents: a PyBytes directly, anything else through the buffer
   protocol (the view keeps the object alive until blike_release). */
typedef struct {
    const uint8_t *buf;
    Py_ssize_t len;
    int has_view;
    Py_buffer view;
} blike;

static int
blike_get(PyObject *o, blike *b)
{
    if (PyBytes_Check(o)) {
        b->buf = (const uint8_t *)PyBytes_AS_STRING(o);
        b->len = PyBytes_GET_SIZE(o);
        b->has_view = 0;
        return 0;
    }
    if (PyObject_GetBuffer(o, &b->view, PyBUF_SIMPLE) < 0)
        return -1;
    b->buf = (const uint8_t *)b->view.buf;
    b->len = b->view.len;
    b->has_view = 1;
    return 0;
}

static void
blike_release(blike *b)
{
    if (b->has_view) {
        b->has_view = 0;
        PyBuffer_Release(&b->view);
    }
}

static inline uint64_t
zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
}

/* Bytes taken by the varint of an already zigzag-encoded value. */
static inline Py_ssize_t
varint_size(uint64_t z)
{
#if defined(__GNUC__) || defined(__clang__)
    return 1 + (63 - __builtin_clzll(z | 1)) / 7;
#else
    Py_ssize_t n = 1;
    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
#endif
}

static inline uint8_t *
put_varint(uint8_t *p, uint64_t z)
{
    while (z >= 0x80) {
        *p++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *p++ = (uint8_t)z;
    return p;
}

static inline int
add_overflows(int64_t a, int64_t b, int64_t *r)
{
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b))
        return 1;
    *r = a + b;
    return 0;
}

static inline int
sub_overflows(int64_t a, int64_t b, int64_t *r)
{
    if ((b < 0 && a > INT64_MAX + b) || (b > 0 && a < INT64_MIN + b))
        return 1;
    *r = a - b;
    return 0;
}

static uint32_t
murmur2_raw(const uint8_t *data, Py_ssize_t length)
{
    const uint32_t m = 0x5bd1e995u;
    uint32_t h = 0x9747b28cu ^ (uint32_t)length;
    Py_ssize_t n4 = length & ~(Py_ssize_t)3, i;
    Py_ssize_t rest = length & 3;

    for (i = 0; i < n4; i += 4) {
        uint32_t k = (uint32_t)data[i] | ((uint32_t)data[i + 1] << 8) |
                     ((uint32_t)data[i + 2] << 16) | ((uint32_t)data[i + 3] << 24);
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    if (rest == 3)
        h ^= (uint32_t)data[n4 + 2] << 16;
    if (rest >= 2)
        h ^= (uint32_t)data[n4 + 1] << 8;
    if (rest >= 1) {
        h ^= (uint32_t)data[n4];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

static PyObject *
err_changed(void)
{
    PyErr_SetString(PyExc_RuntimeError, "input changed during encoding");
    return NULL;
}

static PyObject *
err_too_large(void)
{
    PyErr_SetString(PyExc_ValueError, "record too large to encode (4 GiB or more)");
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* murmur2                                                                                    */

static PyObject *
py_murmur2(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"data"};
    PyObject *a[1];
    blike b;
    uint32_t h;

    (void)module;
    if (parse_args("murmur2", names, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    if (blike_get(a[0], &b) < 0)
        return NULL;
    h = murmur2_raw(b.buf, b.len);
    blike_release(&b);
    return PyLong_FromLongLong((h & 0x80000000u) ? (long long)h - 0x100000000LL : (long long)h);
}

/* ------------------------------------------------------------------------------------------ */
/* encoding                                                                                   */

/* Size of a key/value/header-value field: its length varint plus its bytes (len < 0: null). */
static inline uint64_t
field_size(Py_ssize_t len)
{
    return len < 0 ? 1 : (uint64_t)varint_size(zigzag(len)) + (uint64_t)len;
}

/* Measure (pp == NULL) or write (at *pp, never past lim) one record's headers section, the
   count varint included. hdr is a strong reference held by the caller. Returns the section's
   size or -1 with an exception set. */
static Py_ssize_t
headers_section(PyObject *hdr, uint8_t **pp, uint8_t *lim)
{
    PyObject *seq, *pair, *hk = NULL, *hv = NULL;
    Py_ssize_t count, j;
    uint64_t total;
    uint8_t *p = pp ? *pp : NULL;

    if (hdr == Py_None)
        goto empty;
    if (PyList_CheckExact(hdr) || PyTuple_CheckExact(hdr)) {
        if (PySequence_Fast_GET_SIZE(hdr) == 0)
            goto empty;
        Py_INCREF(hdr);
        seq = hdr;
    }
    else {
        int truth = PyObject_IsTrue(hdr); /* the reference writes no header for a falsy entry */
        if (truth < 0)
            return -1;
        if (!truth)
            goto empty;
        seq = PySequence_Fast(hdr, "record headers must be None or a sequence of "
                                   "(str, bytes | None) pairs");
        if (!seq)
            return -1;
        if (PySequence_Fast_GET_SIZE(seq) == 0) {
            Py_DECREF(seq);
            goto empty;
        }
    }
    count = PySequence_Fast_GET_SIZE(seq);
    total = (uint64_t)varint_size(zigzag(count));
    if (p) {
        if ((uint64_t)(lim - p) < total)
            goto changed;
        p = put_varint(p, zigzag(count));
    }
    for (j = 0; j < count; j++) {
        const char *ks;
        Py_ssize_t klen;
        blike vb;
        uint64_t size;

        if (j >= PySequence_Fast_GET_SIZE(seq))
            goto changed;
        pair = PySequence_Fast_GET_ITEM(seq, j);
        if ((PyTuple_CheckExact(pair) || PyList_CheckExact(pair)) &&
            PySequence_Fast_GET_SIZE(pair) == 2) {
            hk = PySequence_Fast_GET_ITEM(pair, 0);
            hv = PySequence_Fast_GET_ITEM(pair, 1);
            Py_INCREF(hk);
            Py_INCREF(hv);
        }
        else { /* `for hkey, hvalue in headers`: unpack any iterable of two */
            PyObject *f;
            Py_INCREF(pair);
            f = PySequence_Fast(pair, "a record header must be a (str, bytes | None) pair");
            Py_DECREF(pair);
            if (!f)
                goto error;
            if (PySequence_Fast_GET_SIZE(f) != 2) {
                if (PySequence_Fast_GET_SIZE(f) < 2)
                    PyErr_Format(PyExc_ValueError,
                                 "not enough values to unpack (expected 2, got %zd)",
                                 PySequence_Fast_GET_SIZE(f));
                else
                    PyErr_SetString(PyExc_ValueError, "too many values to unpack (expected 2)");
                Py_DECREF(f);
                goto error;
            }
            hk = PySequence_Fast_GET_ITEM(f, 0);
            hv = PySequence_Fast_GET_ITEM(f, 1);
            Py_INCREF(hk);
            Py_INCREF(hv);
            Py_DECREF(f);
        }
        if (!PyUnicode_Check(hk)) {
            PyErr_Format(PyExc_TypeError, "header keys must be str, not %.100s",
                         Py_TYPE(hk)->tp_name);
            goto error;
        }
        ks = PyUnicode_AsUTF8AndSize(hk, &klen); /* UnicodeEncodeError like str.encode() */
        if (!ks)
            goto error;
        if (hv == Py_None) {
            vb.len = -1;
            vb.has_view = 0;
            vb.buf = NULL;
        }
        else if (blike_get(hv, &vb) < 0)
            goto error;
        if ((uint64_t)klen > MAX_RECORD || (vb.len >= 0 && (uint64_t)vb.len > MAX_RECORD)) {
            blike_release(&vb);
            err_too_large();
            goto error;
        }
        size = field_size(klen) + field_size(vb.len);
        total += size;
        if (total > MAX_RECORD) {
            blike_release(&vb);
            err_too_large();
            goto error;
        }
        if (p) {
            if ((uint64_t)(lim - p) < size) {
                blike_release(&vb);
                goto changed;
            }
            p = put_varint(p, zigzag(klen));
            memcpy(p, ks, (size_t)klen);
            p += klen;
            if (vb.len < 0)
                *p++ = 1; /* zigzag(-1) */
            else {
                p = put_varint(p, zigzag(vb.len));
                memcpy(p, vb.buf, (size_t)vb.len);
                p += vb.len;
            }
        }
        blike_release(&vb);
        Py_CLEAR(hk);
        Py_CLEAR(hv);
    }
    Py_DECREF(seq);
    if (pp)
        *pp = p;
    return (Py_ssize_t)total;

empty:
    if (p) {
        if (lim - p < 1) {
            err_changed();
            return -1;
        }
        *p++ = 0;
        *pp = p;
    }
    return 1;

changed:
    err_changed();
error:
    Py_XDECREF(hk);
    Py_XDECREF(hv);
    Py_DECREF(seq);
    return -1;
}

static inline int
dec_digits(int64_t v, char *out)
{
    char tmp[24];
    int n = 0, len = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    return len;
}

static inline void
put_span(uint8_t **pp, const uint8_t *s, Py_ssize_t n)
{
    /* n == 0 may come with a NULL buffer (an empty key into a scratch not yet allocated):
       memcpy's arguments must not be NULL even then (UBSan) */
    if (n <= 0)
        return;
    memcpy(*pp, s, (size_t)n);
    *pp += n;
}

/* One partition's share of an encode. */
typedef struct {
    Py_ssize_t count;   /* records (pass 1) */
    Py_ssize_t done;    /* records written (pass 2) = the next offset delta */
    Py_ssize_t size;    /* bytes */
    int64_t first_ts;
    int64_t max_ts;
    uint8_t *p;         /* write position (pass 2) */
    uint8_t *end;
    PyObject *bytes;
} Part;

/* The encoders' inputs as fast sequences (lists or tuples, strong references). */
typedef struct {
    Py_ssize_t n;
    PyObject *keys;
    PyObject *values;
    PyObject *headers; /* NULL: no headers */
    PyObject *ts;      /* NULL: ts_const for every record */
    int64_t ts_const;
    /* seq_header (headers NULL then): record i's one header is (sk, sp + str(seq0 + i)) */
    PyObject *sk_obj, *sp_obj; /* strong references keeping sk and sp alive */
    const char *sk;
    const char *sp;
    Py_ssize_t sklen, splen;
    int64_t seq0;
} Input;

static void
input_clear(Input *in)
{
    Py_CLEAR(in->keys);
    Py_CLEAR(in->values);
    Py_CLEAR(in->headers);
    Py_CLEAR(in->ts);
    Py_CLEAR(in->sk_obj);
    Py_CLEAR(in->sp_obj);
}

/* Decimal digits of v (sign included). */
static inline int
dec_len(int64_t v)
{
    char tmp[24];
    return dec_digits(v, tmp);
}

/* The seq_header argument, (key: str, prefix: bytes, first_seq: int) or None, into in. */
static int
input_seq_header(Input *in, Py_ssize_t n, PyObject *seq_header, PyObject *headers)
{
    PyObject *k, *p;
    int overflow;
    long long first;

    if (!seq_header || seq_header == Py_None)
        return 0;
    if (!PyTuple_CheckExact(seq_header) || PyTuple_GET_SIZE(seq_header) != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "seq_header must be a (str, bytes, int) tuple or None");
        return -1;
    }
    k = PyTuple_GET_ITEM(seq_header, 0);
    p = PyTuple_GET_ITEM(seq_header, 1);
    if (!PyUnicode_Check(k) || !PyBytes_CheckExact(p) ||
        !PyLong_Check(PyTuple_GET_ITEM(seq_header, 2))) {
        PyErr_SetString(PyExc_TypeError,
                        "seq_header must be a (str, bytes, int) tuple or None");
        return -1;
    }
    if (headers != Py_None) {
        PyErr_SetString(PyExc_ValueError, "seq_header needs headers=None");
        return -1;
    }
    first = PyLong_AsLongLongAndOverflow(PyTuple_GET_ITEM(seq_header, 2), &overflow);
    if (first == -1 && PyErr_Occurred())
        return -1;
    /* (every seq of the call must fit too: first + n within int64) */
    if (overflow || first < 0 || first > INT64_MAX - n) {
        PyErr_SetString(PyExc_ValueError, "seq_header's first seq out of range");
        return -1;
    }
    if (!(in->sk = PyUnicode_AsUTF8AndSize(k, &in->sklen)))
        return -1;
    in->sp = PyBytes_AS_STRING(p);
    in->splen = PyBytes_GET_SIZE(p);
    if ((uint64_t)in->sklen > MAX_RECORD / 2 || (uint64_t)in->splen > MAX_RECORD / 2) {
        err_too_large();
        return -1;
    }
    Py_INCREF(k);
    in->sk_obj = k;
    Py_INCREF(p);
    in->sp_obj = p;
    in->seq0 = (int64_t)first;
    return 0;
}

/* The reference's argument checks, in its order: returns n or -1. */
static Py_ssize_t
check_lengths(PyObject *keys, PyObject *values, PyObject *headers, PyObject *timestamps)
{
    Py_ssize_t n, m;

    n = PyObject_Length(values);
    if (n < 0)
        return -1;
    m = PyObject_Length(keys);
    if (m < 0)
        return -1;
    if (m == n && headers != Py_None) {
        m = PyObject_Length(headers);
        if (m < 0)
            return -1;
    }
    if (m != n) {
        PyErr_SetString(PyExc_ValueError, "keys, values and headers must have the same length");
        return -1;
    }
    if (!PyLong_Check(timestamps)) {
        m = PyObject_Length(timestamps);
        if (m < 0)
            return -1;
        if (m != n) {
            PyErr_SetString(PyExc_ValueError,
                            "timestamps must be an int or have one entry per record");
            return -1;
        }
    }
    return n;
}

static PyObject *
as_fast(PyObject *o, const char *what, Py_ssize_t n)
{
    PyObject *f;

    if (PyList_CheckExact(o) || PyTuple_CheckExact(o)) {
        Py_INCREF(o);
        f = o;
    }
    else {
        if (!PySequence_Check(o)) {
            PyErr_Format(PyExc_TypeError, "%s must be a sequence, not %.100s", what,
                         Py_TYPE(o)->tp_name);
            return NULL;
        }
        f = PySequence_Fast(o, "not a sequence");
        if (!f)
            return NULL;
    }
    if (PySequence_Fast_GET_SIZE(f) != n) {
        Py_DECREF(f);
        PyErr_SetString(PyExc_ValueError, "keys, values and headers must have the same length");
        return NULL;
    }
    return f;
}

static int
as_timestamp(PyObject *o, int64_t *out)
{
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);

    if (v == -1 && PyErr_Occurred())
        return -1;
    if (overflow) {
        PyErr_SetString(PyExc_ValueError, "timestamp out of the range of a signed 64-bit integer");
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* in from the arguments; seq_header (NULL or None: none) checked first, as the reference */
static int
input_init(Input *in, Py_ssize_t n, PyObject *keys, PyObject *values, PyObject *headers,
           PyObject *timestamps, PyObject *seq_header)
{
    memset(in, 0, sizeof(*in));
    in->n = n;
    if (input_seq_header(in, n, seq_header, headers) < 0)
        goto error;
    if (!(in->keys = as_fast(keys, "keys", n)))
        goto error;
    if (!(in->values = as_fast(values, "values", n)))
        goto error;
    if (headers != Py_None && !(in->headers = as_fast(headers, "headers", n)))
        goto error;
    if (PyLong_Check(timestamps)) {
        if (as_timestamp(timestamps, &in->ts_const) < 0)
            goto error;
    }
    else if (!(in->ts = as_fast(timestamps, "timestamps", n)))
        goto error;
    return 0;
error:
    input_clear(in);
    return -1;
}

/* Item i of a fast sequence, or NULL (RuntimeError) if Python code shrank it meanwhile. */
static inline PyObject *
item_at(PyObject *fast, Py_ssize_t i)
{
    if (i >= PySequence_Fast_GET_SIZE(fast))
        return err_changed();
    return PySequence_Fast_GET_ITEM(fast, i);
}

/* Measure the headers section of record i. */
static Py_ssize_t
headers_size_at(Input *in, Py_ssize_t i)
{
    PyObject *h;
    Py_ssize_t r;

    if (in->sk_obj) { /* one header: count 1, its key, its value */
        Py_ssize_t vlen = in->splen + dec_len(in->seq0 + i);
        return (Py_ssize_t)(1 + field_size(in->sklen) + field_size(vlen));
    }
    if (!in->headers)
        return 1;
    if (!(h = item_at(in->headers, i)))
        return -1;
    if (h == Py_None)
        return 1;
    Py_INCREF(h);
    r = headers_section(h, NULL, NULL);
    Py_DECREF(h);
    return r;
}

/* Write a key or value field of record i (from seq) at *pp, within lim. */
static int
write_field(PyObject *seq, Py_ssize_t i, uint8_t **pp, uint8_t *lim)
{
    PyObject *o = item_at(seq, i);
    uint8_t *p = *pp;
    blike b;

    if (!o)
        return -1;
    if (o == Py_None) {
        if (lim - p < 1)
            goto changed;
        *p++ = 1; /* zigzag(-1) */
        *pp = p;
        return 0;
    }
    if (blike_get(o, &b) < 0)
        return -1;
    if ((uint64_t)b.len > MAX_RECORD || (uint64_t)(lim - p) < field_size(b.len)) {
        blike_release(&b);
        goto changed;
    }
    p = put_varint(p, zigzag(b.len));
    memcpy(p, b.buf, (size_t)b.len);
    *pp = p + b.len;
    blike_release(&b);
    return 0;
changed:
    err_changed();
    return -1;
}

/* Both encoders: split the n records over np partitions (np == 1: no hashing, everything in
   partition 0) and encode each partition's share into one exactly sized bytes object.
   Pass 1 measures every record; pass 2 writes. On success parts[k].bytes holds partition k's
   bytes (NULL when it got no record). */
static int
encode_core(Input *in, Py_ssize_t np, Py_ssize_t sticky, Part *parts)
{
    Py_ssize_t n = in->n, i, k;
    uint32_t *body = NULL, *part = NULL;
    int64_t *tsa = NULL;

    body = PyMem_New(uint32_t, (size_t)n);
    if (!body)
        goto nomem;
    if (np > 1 && !(part = PyMem_New(uint32_t, (size_t)n)))
        goto nomem;
    if (in->ts && !(tsa = PyMem_New(int64_t, (size_t)n)))
        goto nomem;

    /* pass 1: partition and size of every record */
    for (i = 0; i < n; i++) {
        PyObject *o;
        Py_ssize_t p_idx = 0, klen, vlen, hsize;
        int64_t ts, delta;
        uint64_t bsz, rec;
        Part *ps;

        if (!(o = item_at(in->keys, i)))
            goto error;
        if (o == Py_None) {
            klen = -1;
            p_idx = sticky;
        }
        else if (PyBytes_Check(o)) {
            klen = PyBytes_GET_SIZE(o);
            if (part)
                p_idx = (Py_ssize_t)((murmur2_raw((const uint8_t *)PyBytes_AS_STRING(o), klen) &
                                      0x7fffffffu) % (uint32_t)np);
        }
        else {
            blike b;
            if (blike_get(o, &b) < 0)
                goto error;
            klen = b.len;
            if (part)
                p_idx = (Py_ssize_t)((murmur2_raw(b.buf, b.len) & 0x7fffffffu) % (uint32_t)np);
            blike_release(&b);
        }

        if (!(o = item_at(in->values, i)))
            goto error;
        if (o == Py_None)
            vlen = -1;
        else if (PyBytes_Check(o))
            vlen = PyBytes_GET_SIZE(o);
        else {
            blike b;
            if (blike_get(o, &b) < 0)
                goto error;
            vlen = b.len;
            blike_release(&b);
        }
        if ((klen >= 0 && (uint64_t)klen > MAX_RECORD) ||
            (vlen >= 0 && (uint64_t)vlen > MAX_RECORD)) {
            err_too_large();
            goto error;
        }

        if ((hsize = headers_size_at(in, i)) < 0)
            goto error;

        if (tsa) {
            if (!(o = item_at(in->ts, i)))
                goto error;
            if (as_timestamp(o, &ts) < 0)
                goto error;
            tsa[i] = ts;
        }
        else
            ts = in->ts_const;

        ps = &parts[p_idx];
        if (ps->count == 0) {
            ps->first_ts = ps->max_ts = ts;
            delta = 0;
        }
        else {
            if (sub_overflows(ts, ps->first_ts, &delta)) {
                PyErr_Format(PyExc_ValueError,
                             "timestamp %lld is too far from the batch's first timestamp %lld "
                             "(the delta overflows 64 bits)",
                             (long long)ts, (long long)ps->first_ts);
                goto error;
            }
            if (ts > ps->max_ts)
                ps->max_ts = ts;
        }
        bsz = 1 + (uint64_t)varint_size(zigzag(delta)) +
              (uint64_t)varint_size(zigzag(ps->count)) + field_size(klen) + field_size(vlen) +
              (uint64_t)hsize;
        if (bsz > MAX_RECORD) {
            err_too_large();
            goto error;
        }
        rec = (uint64_t)varint_size(zigzag((int64_t)bsz)) + bsz;
        if ((uint64_t)(PY_SSIZE_T_MAX - ps->size) < rec) {
            PyErr_SetString(PyExc_MemoryError, "encoded records too large");
            goto error;
        }
        ps->size += (Py_ssize_t)rec;
        ps->count++;
        body[i] = (uint32_t)bsz;
        if (part)
            part[i] = (uint32_t)p_idx;
    }

    /* one exactly sized bytes object per partition */
    for (k = 0; k < np; k++) {
        Part *ps = &parts[k];
        if (!ps->count)
            continue;
        ps->bytes = PyBytes_FromStringAndSize(NULL, ps->size);
        if (!ps->bytes)
            goto error;
        ps->p = (uint8_t *)PyBytes_AS_STRING(ps->bytes);
        ps->end = ps->p + ps->size;
    }

    /* pass 2: write every record into its partition */
    for (i = 0; i < n; i++) {
        Part *ps = &parts[part ? part[i] : 0];
        uint64_t bsz = body[i];
        uint8_t *p = ps->p, *lim;
        int64_t delta = tsa ? tsa[i] - ps->first_ts : 0; /* checked in pass 1 */

        if (ps->done >= ps->count ||
            (uint64_t)(ps->end - p) < (uint64_t)varint_size(zigzag((int64_t)bsz)) + bsz) {
            err_changed();
            goto error;
        }
        p = put_varint(p, zigzag((int64_t)bsz));
        lim = p + bsz;
        /* attributes, timestamp delta and offset delta: the sizes pass 1 measured */
        *p++ = 0;
        p = put_varint(p, zigzag(delta));
        p = put_varint(p, zigzag(ps->done));
        if (write_field(in->keys, i, &p, lim) < 0 || write_field(in->values, i, &p, lim) < 0)
            goto error;
        if (in->headers) {
            PyObject *h = item_at(in->headers, i);
            Py_ssize_t r;
            if (!h)
                goto error;
            Py_INCREF(h);
            r = headers_section(h, &p, lim);
            Py_DECREF(h);
            if (r < 0)
                goto error;
        }
        else if (in->sk_obj) {
            char digits[24];
            int nd = dec_digits(in->seq0 + i, digits);
            Py_ssize_t vlen = in->splen + nd;
            if ((uint64_t)(lim - p) < 1 + field_size(in->sklen) + field_size(vlen)) {
                err_changed();
                goto error;
            }
            *p++ = 2; /* zigzag(1): one header */
            p = put_varint(p, zigzag(in->sklen));
            put_span(&p, (const uint8_t *)in->sk, in->sklen);
            p = put_varint(p, zigzag(vlen));
            put_span(&p, (const uint8_t *)in->sp, in->splen);
            put_span(&p, (const uint8_t *)digits, nd);
        }
        else {
            if (lim - p < 1) {
                err_changed();
                goto error;
            }
            *p++ = 0;
        }
        if (p != lim) {
            err_changed();
            goto error;
        }
        ps->p = p;
        ps->done++;
    }
    for (k = 0; k < np; k++) {
        if (parts[k].count && parts[k].p != parts[k].end) {
            err_changed();
            goto error;
        }
    }
    PyMem_Free(body);
    PyMem_Free(part);
    PyMem_Free(tsa);
    return 0;

nomem:
    PyErr_NoMemory();
error:
    PyMem_Free(body);
    PyMem_Free(part);
    PyMem_Free(tsa);
    for (k = 0; k < np; k++)
        Py_CLEAR(parts[k].bytes);
    return -1;
}

/* (bytes, count, first_ts, max_ts), stealing part->bytes. */
static PyObject *
part_result(Part *ps)
{
    PyObject *r = PyTuple_New(4), *v;

    if (!r)
        return NULL;
    PyTuple_SET_ITEM(r, 0, ps->bytes);
    ps->bytes = NULL;
    if (!(v = PyLong_FromSsize_t(ps->count)))
        goto error;
    PyTuple_SET_ITEM(r, 1, v);
    if (!(v = PyLong_FromLongLong(ps->first_ts)))
        goto error;
    PyTuple_SET_ITEM(r, 2, v);
    if (!(v = PyLong_FromLongLong(ps->max_ts)))
        goto error;
    PyTuple_SET_ITEM(r, 3, v);
    return r;
error:
    Py_DECREF(r);
    return NULL;
}

static PyObject *
py_encode_records(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"keys", "values", "headers", "timestamps",
                                        "seq_header"};
    PyObject *a[5], *result;
    Py_ssize_t n;
    Input in;
    Part part;

    (void)module;
    if (parse_args_opt("encode_records", names, 5, 4, args, nargs, kwnames, a) < 0)
        return NULL;
    if ((n = check_lengths(a[0], a[1], a[2], a[3])) < 0)
        return NULL;
    if (n == 0)
        return Py_BuildValue("(y#iii)", "", (Py_ssize_t)0, 0, -1, -1);
    if (input_init(&in, n, a[0], a[1], a[2], a[3], a[4]) < 0)
        return NULL;
    memset(&part, 0, sizeof(part));
    if (encode_core(&in, 1, 0, &part) < 0) {
        input_clear(&in);
        return NULL;
    }
    input_clear(&in);
    result = part_result(&part);
    Py_XDECREF(part.bytes);
    return result;
}

static PyObject *
py_partition_encode(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                    PyObject *kwnames)
{
    static const char *const names[] = {"keys",       "values",         "headers",
                                        "timestamps", "num_partitions", "sticky",
                                        "seq_header"};
    PyObject *a[7], *result = NULL;
    Py_ssize_t n, k;
    long long np, sticky;
    int ovf_np, ovf_sticky;
    Input in;
    Part *parts;

    (void)module;
    if (parse_args_opt("partition_encode", names, 7, 6, args, nargs, kwnames, a) < 0)
        return NULL;
    if ((n = check_lengths(a[0], a[1], a[2], a[3])) < 0)
        return NULL;
    np = PyLong_AsLongLongAndOverflow(a[4], &ovf_np);
    if (np == -1 && PyErr_Occurred())
        return NULL;
    sticky = PyLong_AsLongLongAndOverflow(a[5], &ovf_sticky);
    if (sticky == -1 && PyErr_Occurred())
        return NULL;
    if (ovf_np < 0 || (!ovf_np && np <= 0) || ovf_sticky || sticky < 0 ||
        (!ovf_np && sticky >= np)) {
        PyErr_SetString(PyExc_ValueError,
                        "num_partitions must be positive and sticky a valid partition");
        return NULL;
    }
    if (ovf_np || np > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "num_partitions too large");
        return NULL;
    }
    if (n == 0) {
        result = PyList_New((Py_ssize_t)np);
        if (!result)
            return NULL;
        for (k = 0; k < np; k++) {
            Py_INCREF(Py_None);
            PyList_SET_ITEM(result, k, Py_None);
        }
        return result;
    }
    parts = PyMem_New(Part, (size_t)np);
    if (!parts)
        return PyErr_NoMemory();
    memset(parts, 0, sizeof(Part) * (size_t)np);
    if (input_init(&in, n, a[0], a[1], a[2], a[3], a[6]) < 0)
        goto done;
    if (encode_core(&in, (Py_ssize_t)np, (Py_ssize_t)sticky, parts) < 0) {
        input_clear(&in);
        goto done;
    }
    input_clear(&in);
    if (!(result = PyList_New((Py_ssize_t)np)))
        goto done;
    PyObject_GC_UnTrack(result); /* while partly filled */
    for (k = 0; k < np; k++) {
        PyObject *r;
        if (!parts[k].count) {
            Py_INCREF(Py_None);
            r = Py_None;
        }
        else if (!(r = part_result(&parts[k]))) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, k, r);
    }
    PyObject_GC_Track(result);
done:
    for (k = 0; k < np; k++)
        Py_XDECREF(parts[k].bytes);
    PyMem_Free(parts);
    return result;
}


/* ------------------------------------------------------------------------------------------ */
/* encode_packed: records of shared buffers (see _pycodec.encode_packed)                      */

typedef struct {
    Py_ssize_t part;
    Py_ssize_t count;
    Py_ssize_t size;
    Py_ssize_t done;
    uint8_t *p;
    uint8_t *end;
    PyObject *bytes;
    struct lz4w *w; /* encode_packed_lz4: the section's block */
} Section;

#define PACKED_BAD_ENDS 1
#define PACKED_TOO_LARGE 2
#define PACKED_NOMEM 3


/* A packed record's bytes up to its key: length, attributes, timestamp delta (0: one
   timestamp a call), offset delta. */
static inline uint8_t *
record_head(uint8_t *q, uint32_t body, Py_ssize_t offset_delta)
{
    q = put_varint(q, zigzag((int64_t)body));
    *q++ = 0; /* attributes */
    *q++ = 0; /* timestamp delta */
    return put_varint(q, zigzag(offset_delta));
}

/* An LZ4 block written straight from the records' structure (encode_packed_lz4): the bytes
   every record repeats (the wrap: an event's schema and envelope, the seq header's name and
   prefix) become matches against the previous record, everything else literals. No search,
   no uncompressed copy: a valid LZ4 block whatever the data (LZ4 block format: sequences of
   token, literals, 2-byte offset, match length; the last sequence literals only; no match
   starting within 12 bytes of the block's end), decoded by any LZ4 decoder. */
#define LZ4_PIECES 5
#define LZ4_MAX_SECTION ((4 << 20) - (64 << 10)) /* uncompressed: its worst case fits 4 MB */

typedef struct lz4w {
    uint8_t *out;
    size_t olen, ocap;
    uint8_t *lit;
    size_t llen, lcap;
    size_t upos, usize; /* uncompressed position in the block, the block's size */
    size_t prev[LZ4_PIECES];
    int have[LZ4_PIECES];
    const uint8_t *pv[2]; /* the previous record's own key and value bytes (w_like) */
    size_t pvn[2], pvpos[2];
} Lz4W;

static int
w_reserve(uint8_t **buf, size_t *cap, size_t need)
{
    size_t ncap = *cap ? *cap : 4096;
    uint8_t *nb;
    if (need <= *cap)
        return 0;
    while (ncap < need)
        ncap *= 2;
    if (!(nb = realloc(*buf, ncap)))
        return -1;
    *buf = nb;
    *cap = ncap;
    return 0;
}

static int
w_lit(Lz4W *w, const uint8_t *p, size_t n)
{
    if (w_reserve(&w->lit, &w->lcap, w->llen + n) < 0)
        return -1;
    memcpy(w->lit + w->llen, p, n);
    w->llen += n;
    w->upos += n;
    return 0;
}

static inline uint8_t *
w_len(uint8_t *o, size_t n)
{
    while (n >= 255) {
        *o++ = 255;
        n -= 255;
    }
    *o++ = (uint8_t)n;
    return o;
}

/* The pending literals, then (mlen > 0) a match of mlen bytes at distance offset. */
static int
w_seq(Lz4W *w, size_t offset, size_t mlen)
{
    size_t ll = w->llen, ml = mlen ? mlen - 4 : 0;
    uint8_t *o;
    if (w_reserve(&w->out, &w->ocap, w->olen + 1 + ll / 255 + 1 + ll + 2 + ml / 255 + 1) < 0)
        return -1;
    o = w->out + w->olen;
    *o++ = (uint8_t)(((ll < 15 ? ll : 15) << 4) | (mlen ? (ml < 15 ? ml : 15) : 0));
    if (ll >= 15)
        o = w_len(o, ll - 15);
    memcpy(o, w->lit, ll);
    o += ll;
    if (mlen) {
        *o++ = (uint8_t)(offset & 0xff);
        *o++ = (uint8_t)(offset >> 8);
        if (ml >= 15)
            o = w_len(o, ml - 15);
    }
    w->olen = (size_t)(o - w->out);
    w->llen = 0;
    return 0;
}

/* Constant piece k: a match against its last occurrence when allowed, else literals. */
static int
w_piece(Lz4W *w, int k, const uint8_t *p, size_t n)
{
    if (n >= 4 && w->have[k] && w->upos - w->prev[k] <= 65535 && w->upos + n + 12 <= w->usize) {
        size_t off = w->upos - w->prev[k];
        w->prev[k] = w->upos;
        if (w_seq(w, off, n) < 0)
            return -1;
        w->upos += n;
        return 0;
    }
    w->prev[k] = w->upos;
    w->have[k] = 1;
    return w_lit(w, p, n);
}

/* The length of the common prefix of a and b (n bytes each at most). */
static inline size_t
same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t k = 0;
    while (k + 8 <= n) {
        uint64_t x, y;
        memcpy(&x, a + k, 8);
        memcpy(&y, b + k, 8);
        if (x != y) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            return k + (size_t)(__builtin_clzll(x ^ y) >> 3); /* the first byte is the top */
#else
            return k + (size_t)(__builtin_ctzll(x ^ y) >> 3); /* the first byte is the bottom */
#endif
        }
        k += 8;
    }
    while (k < n && a[k] == b[k])
        k++;
    return k;
}

/* A record's own key (k 0) or value (k 1) bytes (a row's key and struct): runs of equal bytes
   at the same position as in the previous record's (its field names, the constant parts of values with the same
   layout) become matches against it, the rest literals. No search: 8-byte words of both
   are compared on a grid, which finds every run of 15 bytes or more (and most from 8). */
static int
w_like(Lz4W *w, int k, const uint8_t *p, size_t n)
{
    const uint8_t *pv = w->pv[k];
    size_t i = 0, lit = 0, m = n < w->pvn[k] ? n : w->pvn[k];
    size_t start = w->upos, offset = start - w->pvpos[k];

    w->pv[k] = p;
    w->pvn[k] = n;
    w->pvpos[k] = start;
    if (!pv || offset > 65535)
        return w_lit(w, p, n);
    while (i + 8 <= m) {
        uint64_t x, y;
        size_t b, r;
        memcpy(&x, p + i, 8);
        memcpy(&y, pv + i, 8);
        if (x != y) {
            i += 8;
            continue;
        }
        for (b = i; b > lit && p[b - 1] == pv[b - 1];)
            b--;
        r = i + 8 - b + same_bytes(p + i + 8, pv + i + 8, m - i - 8);
        if (start + b + r + 12 > w->usize)
            break; /* no match that close to the block's end */
        if (w_lit(w, p + lit, b - lit) < 0 || w_seq(w, offset, r) < 0)
            return -1;
        w->upos += r;
        i = lit = b + r;
    }
    return w_lit(w, p + lit, n - lit);
}

static int
w_varint(Lz4W *w, int64_t v)
{
    uint8_t tmp[10];
    return w_lit(w, tmp, (size_t)(put_varint(tmp, zigzag(v)) - tmp));
}

/* LZ4 frame header: magic, FLG (version 1, independent blocks, no checksums, no size), BD
   (4 MB blocks), HC = (xxh32(FLG BD) >> 8) & 0xff */
static const uint8_t lz4_frame_header[7] = {0x04, 0x22, 0x4d, 0x18, 0x60, 0x70, 0x73};

/* encode_packed_lz4's pass 2: every record into its section's LZ4 block (GIL released).
   Returns 0, or PACKED_NOMEM. */
static int
packed_lz4_pass(Section *secs, Py_ssize_t ns, const uint32_t *sec_of, const uint32_t *bsz,
                Py_ssize_t n, const int64_t *vends, const int64_t *kends,
                const Py_buffer *vb, const Py_buffer *kb, const Py_buffer *wb, const char *hk,
                Py_ssize_t hklen, const Py_buffer *pb, long long first_seq)
{
    uint8_t *tailhdr; /* value tail + header count (+ header key length and key) */
    size_t thlen;
    Py_ssize_t i;
    int err = 0;

    thlen = (size_t)wb[1].len + 1 + (hk ? 10 + (size_t)hklen : 0);
    if (!(tailhdr = malloc(thlen)))
        return PACKED_NOMEM;
    {
        uint8_t *q = tailhdr;
        memcpy(q, wb[1].buf, (size_t)wb[1].len);
        q += wb[1].len;
        if (hk) {
            q = put_varint(q, zigzag(1));
            q = put_varint(q, zigzag(hklen));
            memcpy(q, hk, (size_t)hklen);
            q += hklen;
        }
        else
            *q++ = 0;
        thlen = (size_t)(q - tailhdr);
    }
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n && !err; i++) {
        Section *sc = &secs[sec_of[i]];
        Lz4W *w = sc->w;
        int64_t lo = vends[i], hi = vends[i + 1];
        uint8_t head[40], *q = head;
        char digits[24];
        int nd;

        q = record_head(q, bsz[i], sc->done);
        if (kends) {
            int64_t klo = kends[i], khi = kends[i + 1];
            q = put_varint(q, zigzag(wb[2].len + (khi - klo) + wb[3].len));
            err = w_lit(w, head, (size_t)(q - head)) || w_piece(w, 0, wb[2].buf, wb[2].len) ||
                  w_like(w, 0, (const uint8_t *)kb->buf + klo, (size_t)(khi - klo)) ||
                  w_piece(w, 1, wb[3].buf, wb[3].len);
        }
        else {
            q = put_varint(q, zigzag(-1));
            err = w_lit(w, head, (size_t)(q - head));
        }
        if (err)
            break;
        err = w_varint(w, wb[0].len + (hi - lo) + wb[1].len) ||
              w_piece(w, 2, wb[0].buf, wb[0].len) ||
              w_like(w, 1, (const uint8_t *)vb->buf + lo, (size_t)(hi - lo)) ||
              w_piece(w, 3, tailhdr, thlen);
        if (!err && hk) {
            nd = dec_digits((int64_t)(first_seq + i), digits);
            err = w_varint(w, pb->len + nd) || w_piece(w, 4, pb->buf, pb->len) ||
                  w_lit(w, (const uint8_t *)digits, (size_t)nd);
        }
        sc->done++;
    }
    for (i = 0; i < ns && !err; i++)
        err = w_seq(secs[i].w, 0, 0); /* the last literals */
    Py_END_ALLOW_THREADS
    free(tailhdr);
    return err ? PACKED_NOMEM : 0;
}

static PyObject *
encode_packed_impl(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int lz4)
{
    static const char *const names[] = {
        "values", "value_ends", "keys", "key_ends", "start", "stop", "wrap", "header_key",
        "header_prefix", "first_seq", "timestamp", "num_partitions", "sticky", "max_bytes",
        "max_count"};
    PyObject *a[15], *result = NULL, *lists = NULL;
    Py_buffer vb, veb, kb, keb, wb[4], pb;
    int have_v = 0, have_ve = 0, have_k = 0, have_ke = 0, have_p = 0, nw = 0, err = 0;
    const char *hk = NULL;
    Py_ssize_t hklen = 0, start, stop, nends, n, np, sticky, max_bytes, max_count, i, ns = 0;
    Py_ssize_t scap = 0, *cur = NULL, largest = 0;
    long long first_seq, ts;
    const int64_t *vends, *kends = NULL;
    int64_t *vcopy = NULL, *kcopy = NULL;
    uint32_t *bsz = NULL, *sec_of = NULL;
    Section *secs = NULL;
    uint8_t *scratch = NULL;
    Py_ssize_t scratch_cap = 0;

    if (parse_args(lz4 ? "encode_packed_lz4" : "encode_packed", names, 15, args, nargs, kwnames,
                   a) < 0)
        return NULL;
    if (PyObject_GetBuffer(a[0], &vb, PyBUF_SIMPLE) < 0)
        goto done;
    have_v = 1;
    if (PyObject_GetBuffer(a[1], &veb, PyBUF_SIMPLE) < 0)
        goto done;
    have_ve = 1;
    if (a[2] != Py_None) {
        if (PyObject_GetBuffer(a[2], &kb, PyBUF_SIMPLE) < 0)
            goto done;
        have_k = 1;
        if (PyObject_GetBuffer(a[3], &keb, PyBUF_SIMPLE) < 0)
            goto done;
        have_ke = 1;
    }
    if (!PyTuple_Check(a[6]) || PyTuple_GET_SIZE(a[6]) != 4) {
        PyErr_SetString(PyExc_TypeError, "encode_packed(): wrap must be a tuple of 4 bytes");
        goto done;
    }
    for (; nw < 4; nw++)
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(a[6], nw), &wb[nw], PyBUF_SIMPLE) < 0)
            goto done;
    if (a[7] != Py_None) {
        if (!PyUnicode_Check(a[7])) {
            PyErr_SetString(PyExc_TypeError, "encode_packed(): header_key must be str or None");
            goto done;
        }
        if (!(hk = PyUnicode_AsUTF8AndSize(a[7], &hklen)))
            goto done;
    }
    if (PyObject_GetBuffer(a[8], &pb, PyBUF_SIMPLE) < 0)
        goto done;
    have_p = 1;
    start = PyNumber_AsSsize_t(a[4], PyExc_OverflowError);
    stop = PyNumber_AsSsize_t(a[5], PyExc_OverflowError);
    first_seq = PyLong_AsLongLong(a[9]);
    ts = PyLong_AsLongLong(a[10]);
    np = PyNumber_AsSsize_t(a[11], PyExc_OverflowError);
    sticky = PyNumber_AsSsize_t(a[12], PyExc_OverflowError);
    max_bytes = PyNumber_AsSsize_t(a[13], PyExc_OverflowError);
    max_count = PyNumber_AsSsize_t(a[14], PyExc_OverflowError);
    if (PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "encode_packed(): an argument is out of range");
        }
        goto done;
    }
    if (np <= 0 || np > INT32_MAX || sticky < 0 || sticky >= np) {
        PyErr_SetString(PyExc_ValueError,
                        "num_partitions must be positive and sticky a valid partition");
        goto done;
    }
    if (max_count <= 0) {
        PyErr_SetString(PyExc_ValueError, "max_count must be positive");
        goto done;
    }
    nends = veb.len / 8;
    if (veb.len % 8 || (have_ke && keb.len != veb.len) || start < 0 || start > stop ||
        stop > nends) {
        PyErr_SetString(PyExc_ValueError, "start and stop must lie within the packed records");
        goto done;
    }
    n = stop - start;
    /* private copies of the ends of start..stop-1, each with the end before it first: pass 2
       must see the sizes pass 1 measured even if a writable buffer changes meanwhile */
    if (!(vcopy = PyMem_New(int64_t, (size_t)n + 1)) ||
        (have_ke && !(kcopy = PyMem_New(int64_t, (size_t)n + 1)))) {
        PyErr_NoMemory();
        goto done;
    }
    vcopy[0] = 0; /* memcpy: the buffer need not be aligned */
    if (start)
        memcpy(vcopy, (const char *)veb.buf + 8 * (start - 1), 8);
    memcpy(vcopy + 1, (const char *)veb.buf + 8 * start, sizeof(int64_t) * (size_t)n);
    vends = vcopy;
    if (have_ke) {
        kcopy[0] = 0;
        if (start)
            memcpy(kcopy, (const char *)keb.buf + 8 * (start - 1), 8);
        memcpy(kcopy + 1, (const char *)keb.buf + 8 * start, sizeof(int64_t) * (size_t)n);
        kends = kcopy;
    }
    if (!(bsz = PyMem_New(uint32_t, (size_t)(n ? n : 1))) ||
        !(sec_of = PyMem_New(uint32_t, (size_t)(n ? n : 1))) ||
        !(cur = PyMem_New(Py_ssize_t, (size_t)np))) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < np; i++)
        cur[i] = -1;

    /* pass 1: each record's partition, section and size */
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n && !err; i++) {
        Py_ssize_t klen = -1, vlen, hvlen = 0, p = sticky, c;
        int64_t lo = vends[i], hi = vends[i + 1], klo = 0, khi = 0;
        uint64_t hsize = 1, body, rec, size;
        char digits[24];

        if (lo < 0 || lo > hi || hi > vb.len) {
            err = PACKED_BAD_ENDS;
            break;
        }
        vlen = wb[0].len + (Py_ssize_t)(hi - lo) + wb[1].len;
        if (kends) {
            klo = kends[i];
            khi = kends[i + 1];
            if (klo < 0 || klo > khi || khi > kb.len) {
                err = PACKED_BAD_ENDS;
                break;
            }
            klen = wb[2].len + (Py_ssize_t)(khi - klo) + wb[3].len;
            if (np > 1) {
                uint8_t *q;
                if (klen > scratch_cap) {
                    uint8_t *ns_ = realloc(scratch, (size_t)klen);
                    if (!ns_) {
                        err = PACKED_NOMEM;
                        break;
                    }
                    scratch = ns_;
                    scratch_cap = klen;
                }
                q = scratch;
                put_span(&q, wb[2].buf, wb[2].len);
                put_span(&q, (const uint8_t *)kb.buf + klo, (Py_ssize_t)(khi - klo));
                put_span(&q, wb[3].buf, wb[3].len);
                p = (Py_ssize_t)((murmur2_raw(scratch, klen) & 0x7fffffffu) % (uint32_t)np);
            }
        }
        if (hk) {
            hvlen = pb.len + dec_digits((int64_t)(first_seq + i), digits);
            hsize = (uint64_t)varint_size(zigzag(1)) + field_size(hklen) + field_size(hvlen);
        }
        size = (uint64_t)(klen > 0 ? klen : 0) + (uint64_t)vlen + (uint64_t)hklen +
               (uint64_t)hvlen;
        if ((Py_ssize_t)size > largest)
            largest = (Py_ssize_t)size;
        c = cur[p];
        /* a section always holds a record once made: c >= 0 means count > 0 */
        body = 1 + 1 /* timestamp delta 0 */ +
               (uint64_t)varint_size(zigzag(c < 0 ? 0 : secs[c].count)) + field_size(klen) +
               field_size(vlen) + hsize;
        rec = (uint64_t)varint_size(zigzag((int64_t)body)) + body;
        if (c >= 0 && (secs[c].count >= max_count ||
                       (uint64_t)secs[c].size + rec > (uint64_t)max_bytes))
            c = -1;
        if (c < 0) { /* a new section for partition p, the record at offset delta 0 */
            if (ns == scap) {
                Py_ssize_t ncap = scap ? scap * 2 : 16;
                Section *nsx = realloc(secs, sizeof(Section) * (size_t)ncap);
                if (!nsx) {
                    err = PACKED_NOMEM;
                    break;
                }
                secs = nsx;
                scap = ncap;
            }
            memset(&secs[ns], 0, sizeof(Section));
            secs[ns].part = p;
            c = cur[p] = ns++;
            body = 1 + 1 + 1 + field_size(klen) + field_size(vlen) + hsize;
            rec = (uint64_t)varint_size(zigzag((int64_t)body)) + body;
        }
        if (body > MAX_RECORD) {
            err = PACKED_TOO_LARGE;
            break;
        }
        secs[c].count++;
        secs[c].size += (Py_ssize_t)rec;
        bsz[i] = (uint32_t)body;
        sec_of[i] = (uint32_t)c;
    }
    Py_END_ALLOW_THREADS
    if (err == PACKED_BAD_ENDS) {
        PyErr_SetString(PyExc_ValueError, "packed ends out of order or past their buffer");
        goto done;
    }
    if (err == PACKED_TOO_LARGE) {
        err_too_large();
        goto done;
    }
    if (err == PACKED_NOMEM) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < ns; i++) {
        if (lz4) {
            if (secs[i].size > LZ4_MAX_SECTION) { /* a record too big for one block */
                Py_INCREF(Py_None);
                result = Py_None;
                goto done;
            }
            if (!(secs[i].w = calloc(1, sizeof(Lz4W)))) {
                PyErr_NoMemory();
                goto done;
            }
            secs[i].w->usize = (size_t)secs[i].size;
            continue;
        }
        if (!(secs[i].bytes = PyBytes_FromStringAndSize(NULL, secs[i].size)))
            goto done;
        secs[i].p = (uint8_t *)PyBytes_AS_STRING(secs[i].bytes);
        secs[i].end = secs[i].p + secs[i].size;
    }

    /* pass 2: write (only memory the call owns or holds a buffer of) */
    if (lz4) {
        err = packed_lz4_pass(secs, ns, sec_of, bsz, n, vends, kends, &vb, &kb, wb, hk,
                              hklen, &pb, first_seq);
        if (err) {
            PyErr_NoMemory();
            goto done;
        }
        for (i = 0; i < ns; i++) {
            Lz4W *w = secs[i].w;
            uint8_t *q;
            if (!(secs[i].bytes = PyBytes_FromStringAndSize(NULL, 7 + 4 + w->olen + 4)))
                goto done;
            q = (uint8_t *)PyBytes_AS_STRING(secs[i].bytes);
            memcpy(q, lz4_frame_header, 7);
            q[7] = (uint8_t)(w->olen & 0xff);
            q[8] = (uint8_t)((w->olen >> 8) & 0xff);
            q[9] = (uint8_t)((w->olen >> 16) & 0xff);
            q[10] = (uint8_t)((w->olen >> 24) & 0x7f);
            memcpy(q + 11, w->out, w->olen);
            memset(q + 11 + w->olen, 0, 4); /* EndMark */
        }
        goto build;
    }
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n; i++) {
        Section *sc = &secs[sec_of[i]];
        int64_t lo = vends[i], hi = vends[i + 1];
        uint8_t *q = sc->p;
        char digits[24];
        int nd;

        q = record_head(q, bsz[i], sc->done);
        if (kends) {
            int64_t klo = kends[i], khi = kends[i + 1];
            q = put_varint(q, zigzag(wb[2].len + (khi - klo) + wb[3].len));
            put_span(&q, wb[2].buf, wb[2].len);
            put_span(&q, (const uint8_t *)kb.buf + klo, (Py_ssize_t)(khi - klo));
            put_span(&q, wb[3].buf, wb[3].len);
        }
        else
            q = put_varint(q, zigzag(-1));
        q = put_varint(q, zigzag(wb[0].len + (hi - lo) + wb[1].len));
        put_span(&q, wb[0].buf, wb[0].len);
        put_span(&q, (const uint8_t *)vb.buf + lo, (Py_ssize_t)(hi - lo));
        put_span(&q, wb[1].buf, wb[1].len);
        if (hk) {
            q = put_varint(q, zigzag(1));
            q = put_varint(q, zigzag(hklen));
            put_span(&q, (const uint8_t *)hk, hklen);
            nd = dec_digits((int64_t)(first_seq + i), digits);
            q = put_varint(q, zigzag(pb.len + nd));
            put_span(&q, pb.buf, pb.len);
            put_span(&q, (const uint8_t *)digits, nd);
        }
        else
            *q++ = 0;
        sc->p = q;
        sc->done++;
    }
    Py_END_ALLOW_THREADS
    for (i = 0; i < ns; i++)
        if (secs[i].p != secs[i].end) {
            err_changed();
            goto done;
        }

build:
    if (!(lists = PyList_New(np)))
        goto done;
    for (i = 0; i < np; i++) {
        Py_INCREF(Py_None);
        PyList_SET_ITEM(lists, i, Py_None);
    }
    for (i = 0; i < ns; i++) {
        PyObject *lst = PyList_GET_ITEM(lists, secs[i].part), *item;
        if (lst == Py_None) {
            if (!(lst = PyList_New(0)))
                goto done;
            PyList_SetItem(lists, secs[i].part, lst); /* steals; drops the None */
        }
        item = Py_BuildValue("(OnLL)", secs[i].bytes, secs[i].count, ts, ts);
        if (!item || PyList_Append(lst, item) < 0) {
            Py_XDECREF(item);
            goto done;
        }
        Py_DECREF(item);
    }
    result = Py_BuildValue("(On)", lists, largest);
done:
    Py_XDECREF(lists);
    for (i = 0; i < ns; i++) {
        Py_XDECREF(secs[i].bytes);
        if (secs[i].w) {
            free(secs[i].w->out);
            free(secs[i].w->lit);
            free(secs[i].w);
        }
    }
    free(secs);
    free(scratch);
    PyMem_Free(bsz);
    PyMem_Free(sec_of);
    PyMem_Free(cur);
    PyMem_Free(vcopy);
    PyMem_Free(kcopy);
    if (have_v)
        PyBuffer_Release(&vb);
    if (have_ve)
        PyBuffer_Release(&veb);
    if (have_k)
        PyBuffer_Release(&kb);
    if (have_ke)
        PyBuffer_Release(&keb);
    while (nw > 0)
        PyBuffer_Release(&wb[--nw]);
    if (have_p)
        PyBuffer_Release(&pb);
    return result;
}

static PyObject *
py_encode_packed(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)module;
    return encode_packed_impl(args, nargs, kwnames, 0);
}

static PyObject *
py_encode_packed_lz4(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                     PyObject *kwnames)
{
    (void)module;
    return encode_packed_impl(args, nargs, kwnames, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* decoding                                                                                   */

/* A decoded zigzag varint. The reference accepts up to 10 bytes and keeps all 70 bits of a
   tenth byte, so a value may not fit in int64: then big is set and raw/extra hold it. */
typedef struct {
    int64_t v;
    int big;
    uint64_t raw;   /* raw (pre-zigzag) bits 0..63 */
    unsigned extra; /* raw bits 64..69 */
} varint_t;

static inline int
read_varint(const uint8_t *buf, Py_ssize_t *ppos, Py_ssize_t end, varint_t *out)
{
    Py_ssize_t pos = *ppos;
    uint64_t raw = 0;
    unsigned extra = 0;
    int shift = 0;
    uint8_t b;

    if (pos < end && buf[pos] < 0x80) { /* one byte: the common case */
        raw = buf[pos];
        *ppos = pos + 1;
        out->big = 0;
        out->raw = raw;
        out->extra = 0;
        out->v = (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1);
        return 0;
    }
    for (;;) {
        if (pos >= end) {
            PyErr_SetString(PyExc_ValueError, "truncated varint");
            return -1;
        }
        b = buf[pos++];
        if (shift < 63)
            raw |= (uint64_t)(b & 0x7f) << shift;
        else {
            raw |= (uint64_t)(b & 1) << 63;
            extra = (unsigned)(b & 0x7f) >> 1;
        }
        if (!(b & 0x80))
            break;
        shift += 7;
        if (shift > 63) {
            PyErr_SetString(PyExc_ValueError, "varint too long");
            return -1;
        }
    }
    *ppos = pos;
    out->big = extra != 0;
    out->raw = raw;
    out->extra = extra;
    out->v = (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1); /* meaningless when big */
    return 0;
}

/* A varint's value as a Python int. */
static PyObject *
varint_obj(const varint_t *v)
{
    PyObject *hi, *sh, *lo, *t, *r;

    if (!v->big)
        return PyLong_FromLongLong(v->v);
    /* (raw >> 1) ^ -(raw & 1) with raw = extra * 2**64 + v->raw */
    if (!(hi = PyLong_FromUnsignedLong(v->extra)))
        return NULL;
    if (!(sh = PyLong_FromLong(63))) {
        Py_DECREF(hi);
        return NULL;
    }
    t = PyNumber_Lshift(hi, sh);
    Py_DECREF(hi);
    Py_DECREF(sh);
    if (!t)
        return NULL;
    if (!(lo = PyLong_FromUnsignedLongLong(v->raw >> 1))) {
        Py_DECREF(t);
        return NULL;
    }
    r = PyNumber_Or(t, lo);
    Py_DECREF(t);
    Py_DECREF(lo);
    if (r && (v->raw & 1)) {
        t = PyNumber_Invert(r);
        Py_DECREF(r);
        r = t;
    }
    return r;
}

/* base + delta as a Python int: int64 arithmetic unless it would overflow. */
static inline PyObject *
add_delta(int64_t base, int base_big, PyObject *base_obj, const varint_t *d)
{
    int64_t r;
    PyObject *dobj, *res;

    if (!base_big && !d->big && !add_overflows(base, d->v, &r))
        return PyLong_FromLongLong(r);
    if (!(dobj = varint_obj(d)))
        return NULL;
    res = PyNumber_Add(base_obj, dobj);
    Py_DECREF(dobj);
    return res;
}

/* A nullable byte string: *ppos advances past it, *start and *len give it (len -1: null). */
static inline int
read_span(const uint8_t *buf, Py_ssize_t *ppos, Py_ssize_t end, Py_ssize_t *start,
          Py_ssize_t *len)
{
    varint_t v;

    if (read_varint(buf, ppos, end, &v) < 0)
        return -1;
    if (v.big || v.v < -1) {
        if (v.big && !(v.raw & 1))
            PyErr_SetString(PyExc_ValueError, "length past the end of the record");
        else
            PyErr_SetString(PyExc_ValueError, "negative length");
        return -1;
    }
    if (v.v == -1) {
        *start = *ppos;
        *len = -1;
        return 0;
    }
    if (v.v > end - *ppos) {
        PyErr_SetString(PyExc_ValueError, "length past the end of the record");
        return -1;
    }
    *start = *ppos;
    *len = (Py_ssize_t)v.v;
    *ppos += (Py_ssize_t)v.v;
    return 0;
}

static inline PyObject *
span_obj(const uint8_t *buf, Py_ssize_t start, Py_ssize_t len)
{
    if (len < 0) {
        Py_INCREF(Py_None);
        return Py_None;
    }
    return PyBytes_FromStringAndSize((const char *)buf + start, len);
}

/* Whether a tuple holding o could be part of a reference cycle: CPython's own rule for
   untracking tuples (_PyTuple_MaybeUntrack), with public API. */
static int
is_atomic(PyObject *o)
{
    return !PyObject_IS_GC(o) || (PyTuple_CheckExact(o) && !PyObject_GC_IsTracked(o));
}

/* How records are built from cls. */
enum { CLS_CALL, CLS_ALLOC };

static int
cls_mode(PyObject *cls)
{
    PyTypeObject *t;
    PyObject *fields;
    int ok;

    if (!PyType_Check(cls))
        return CLS_CALL;
    t = (PyTypeObject *)cls;
    /* a tuple subclass adding no storage: no __dict__, no __weakref__, no slots */
    if (t == &PyTuple_Type || !PyType_IsSubtype(t, &PyTuple_Type) || t->tp_dictoffset != 0 ||
        t->tp_basicsize != PyTuple_Type.tp_basicsize ||
        t->tp_itemsize != PyTuple_Type.tp_itemsize || !t->tp_alloc)
        return CLS_CALL;
    /* a namedtuple of exactly the 7 fields */
    fields = PyObject_GetAttrString(cls, "_fields");
    if (!fields) {
        PyErr_Clear();
        return CLS_CALL;
    }
    ok = PyTuple_Check(fields) && PyTuple_GET_SIZE(fields) == 7;
    Py_DECREF(fields);
    return ok ? CLS_ALLOC : CLS_CALL;
}

/* cls(*items), stealing the 7 references in items (topic and partition included). */
static PyObject *
make_record(PyObject *cls, int mode, PyObject **items)
{
    PyObject *rec;
    int i;

    if (mode == CLS_ALLOC) {
#if PY_VERSION_HEX < 0x030E0000 && !defined(HUB_SPEEDUPS_TUPLE_NEW)
        /* what tuple.__new__ does for a subclass, minus the temporary tuple */
        rec = ((PyTypeObject *)cls)->tp_alloc((PyTypeObject *)cls, 7);
        if (rec) {
            for (i = 0; i < 7; i++)
                PyTuple_SET_ITEM(rec, i, items[i]);
            return rec;
        }
#else
        /* 3.14 caches tuple hashes: let tuple.__new__ initialise the subclass instance */
        PyObject *tmp = PyTuple_New(7), *argt;
        if (tmp) {
            for (i = 0; i < 7; i++)
                PyTuple_SET_ITEM(tmp, i, items[i]);
            argt = PyTuple_Pack(1, tmp);
            Py_DECREF(tmp);
            if (!argt)
                return NULL;
            rec = PyTuple_Type.tp_new((PyTypeObject *)cls, argt, NULL);
            Py_DECREF(argt);
            return rec;
        }
#endif
        for (i = 0; i < 7; i++)
            Py_DECREF(items[i]);
        return NULL;
    }
    rec = PyObject_Vectorcall(cls, items, 7, NULL);
    for (i = 0; i < 7; i++)
        Py_DECREF(items[i]);
    return rec;
}

static PyObject *
py_decode_records(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"buf",         "pos",
                                        "end",         "count",
                                        "base_offset", "first_timestamp",
                                        "topic",       "partition",
                                        "cls"};
    PyObject *a[9], *out = NULL, *base_obj = NULL, *first_obj = NULL;
    PyObject *last_ts = NULL; /* the previous record's timestamp, shared when it repeats */
    int64_t last_tsd = 0;
    /* the last header key decoded, shared when the next is the same (every record of a
       source carries hub.source.seq: one str for the batch, not one a record) */
    PyObject *last_hk = NULL;
    const char *last_hk_utf8 = NULL;
    Py_ssize_t last_hk_len = 0;
    PyObject *topic, *partition, *cls;
    Py_buffer view;
    const uint8_t *buf;
    long long lpos, lend, lcount, base = 0, first = 0;
    int ovf_pos, ovf_end, ovf_count, base_big, first_big, mode, untrack;
    Py_ssize_t pos, end, count, i;

    (void)module;
    if (parse_args("decode_records", names, 9, args, nargs, kwnames, a) < 0)
        return NULL;
    topic = a[6];
    partition = a[7];
    cls = a[8];
    if (PyObject_GetBuffer(a[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    buf = (const uint8_t *)view.buf;

    lpos = PyLong_AsLongLongAndOverflow(a[1], &ovf_pos);
    if (lpos == -1 && PyErr_Occurred())
        goto error;
    lend = PyLong_AsLongLongAndOverflow(a[2], &ovf_end);
    if (lend == -1 && PyErr_Occurred())
        goto error;
    lcount = PyLong_AsLongLongAndOverflow(a[3], &ovf_count);
    if (lcount == -1 && PyErr_Occurred())
        goto error;
    if (!(base_obj = PyNumber_Index(a[4])) || !(first_obj = PyNumber_Index(a[5])))
        goto error;
    base = PyLong_AsLongLongAndOverflow(base_obj, &base_big);
    if (base == -1 && PyErr_Occurred())
        goto error;
    first = PyLong_AsLongLongAndOverflow(first_obj, &first_big);
    if (first == -1 && PyErr_Occurred())
        goto error;

    if (ovf_pos || ovf_end || lpos < 0 || lend > (long long)view.len || lpos > lend) {
        PyErr_Format(PyExc_ValueError, "records section [%R, %R) lies outside the %zd-byte buffer",
                     a[1], a[2], view.len);
        goto error;
    }
    pos = (Py_ssize_t)lpos;
    end = (Py_ssize_t)lend;
    if (ovf_count < 0 || (!ovf_count && lcount < 0))
        count = 0;
    else if (ovf_count || lcount > (end - pos) / 7) {
        /* every record takes at least 7 bytes */
        PyErr_Format(PyExc_ValueError, "%R records cannot fit in %zd bytes", a[3], end - pos);
        goto error;
    }
    else
        count = (Py_ssize_t)lcount;

    mode = cls_mode(cls);
    untrack = mode == CLS_ALLOC && is_atomic(topic) && is_atomic(partition);
    if (!(out = PyList_New(count)))
        goto error;
    /* Not visible to the collector (gc.get_objects, gc callbacks) while partly filled. */
    PyObject_GC_UnTrack(out);

    for (i = 0; i < count; i++) {
        varint_t v, tsd, offd;
        Py_ssize_t rec_end, kpos, klen, vpos, vlen;
        PyObject *hdrs, *items[7];
        int64_t nh, j;

        if (read_varint(buf, &pos, end, &v) < 0)
            goto error;
        if (v.big || v.v < 1 || v.v > end - pos) {
            PyErr_SetString(PyExc_ValueError, "record length past the end of the batch");
            goto error;
        }
        rec_end = pos + (Py_ssize_t)v.v;
        pos += 1; /* attributes */
        if (read_varint(buf, &pos, rec_end, &tsd) < 0 ||
            read_varint(buf, &pos, rec_end, &offd) < 0 ||
            read_span(buf, &pos, rec_end, &kpos, &klen) < 0 ||
            read_span(buf, &pos, rec_end, &vpos, &vlen) < 0 ||
            read_varint(buf, &pos, rec_end, &v) < 0)
            goto error;
        if (v.big || v.v < 0) {
            PyErr_SetString(PyExc_ValueError, (v.big && !(v.raw & 1))
                                                  ? "header count past the end of the record"
                                                  : "negative header count");
            goto error;
        }
        nh = v.v;
        if (nh == 0) {
            Py_INCREF(empty_tuple);
            hdrs = empty_tuple;
        }
        else {
            /* every header takes at least 2 bytes */
            if (nh > (rec_end - pos) / 2) {
                PyErr_SetString(PyExc_ValueError, "header count past the end of the record");
                goto error;
            }
            if (!(hdrs = PyTuple_New((Py_ssize_t)nh)))
                goto error;
            for (j = 0; j < nh; j++) {
                Py_ssize_t hkpos, hklen, hvpos, hvlen;
                PyObject *hk, *hv, *pair;

                if (read_span(buf, &pos, rec_end, &hkpos, &hklen) < 0)
                    goto header_error;
                if (hklen < 0) {
                    PyErr_SetString(PyExc_ValueError, "null header key");
                    goto header_error;
                }
                if (read_span(buf, &pos, rec_end, &hvpos, &hvlen) < 0)
                    goto header_error;
                if (last_hk && hklen == last_hk_len &&
                    memcmp(buf + hkpos, last_hk_utf8, (size_t)hklen) == 0) {
                    Py_INCREF(last_hk);
                    hk = last_hk;
                }
                /* UnicodeDecodeError (a ValueError) on invalid UTF-8 */
                else if (!(hk = PyUnicode_DecodeUTF8((const char *)buf + hkpos, hklen, NULL))) {
                    goto header_error;
                }
                else {
                    /* (valid UTF-8 decoded strictly: its UTF-8 is the bytes read) */
                    const char *u = PyUnicode_AsUTF8AndSize(hk, &last_hk_len);
                    if (!u) {
                        Py_DECREF(hk);
                        goto header_error;
                    }
                    Py_INCREF(hk);
                    Py_XSETREF(last_hk, hk);
                    last_hk_utf8 = u;
                }
                if (!(hv = span_obj(buf, hvpos, hvlen))) {
                    Py_DECREF(hk);
                    goto header_error;
                }
                if (!(pair = PyTuple_New(2))) {
                    Py_DECREF(hk);
                    Py_DECREF(hv);
                    goto header_error;
                }
                PyTuple_SET_ITEM(pair, 0, hk);
                PyTuple_SET_ITEM(pair, 1, hv);
                PyObject_GC_UnTrack(pair); /* (str, bytes | None): cannot be in a cycle */
                PyTuple_SET_ITEM(hdrs, (Py_ssize_t)j, pair);
            }
            PyObject_GC_UnTrack(hdrs); /* holds only untracked pairs */
        }
        if (pos != rec_end) {
            PyErr_SetString(PyExc_ValueError, "record length does not match its contents");
            goto header_error;
        }
        items[0] = topic;
        items[1] = partition;
        items[6] = hdrs;
        items[2] = add_delta(base, base_big, base_obj, &offd);
        if (!items[2])
            items[3] = NULL;
        else if (last_ts && !tsd.big && tsd.v == last_tsd) {
            Py_INCREF(last_ts);
            items[3] = last_ts;
        }
        else if ((items[3] = add_delta(first, first_big, first_obj, &tsd)) && !tsd.big) {
            Py_XDECREF(last_ts);
            Py_INCREF(items[3]);
            last_ts = items[3];
            last_tsd = tsd.v;
        }
        items[4] = items[3] ? span_obj(buf, kpos, klen) : NULL;
        items[5] = items[4] ? span_obj(buf, vpos, vlen) : NULL;
        if (!items[5]) {
            Py_XDECREF(items[2]);
            Py_XDECREF(items[3]);
            Py_XDECREF(items[4]);
            goto header_error;
        }
        Py_INCREF(topic);
        Py_INCREF(partition);
        if (!(items[0] = make_record(cls, mode, items)))
            goto error;
        /* A namedtuple of atoms cannot be in a reference cycle, but the collector never
           untracks tuple subclasses: untracked, millions of records cost it nothing. */
        if (untrack)
            PyObject_GC_UnTrack(items[0]);
        PyList_SET_ITEM(out, i, items[0]);
        continue;
    header_error:
        Py_DECREF(hdrs);
        goto error;
    }
    if (pos != end) {
        PyErr_SetString(PyExc_ValueError, "trailing bytes after the last record");
        goto error;
    }
    Py_DECREF(base_obj);
    Py_DECREF(first_obj);
    Py_XDECREF(last_ts);
    Py_XDECREF(last_hk);
    PyBuffer_Release(&view);
    PyObject_GC_Track(out);
    return out;

error:
    Py_XDECREF(out);
    Py_XDECREF(last_ts);
    Py_XDECREF(last_hk);
    Py_XDECREF(base_obj);
    Py_XDECREF(first_obj);
    PyBuffer_Release(&view);
    return NULL;
}


/* ------------------------------------------------------------------------------------------ */
/* slot_columns / slot_objects: the runners' per-record attribute work, a batch at a time      */

/* The byte offsets of names' __slots__ members in cls (writable: for slot_objects), or -1
   with an exception set. offsets has len(names) entries. */
static int
slot_offsets(PyTypeObject *cls, PyObject *names, Py_ssize_t *offsets, int writable)
{
    Py_ssize_t j, m = PyTuple_GET_SIZE(names);

    for (j = 0; j < m; j++) {
        PyObject *name = PyTuple_GET_ITEM(names, j), *d;
        PyMemberDef *md;

        if (!PyUnicode_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "slot names must be str");
            return -1;
        }
        d = _PyType_Lookup(cls, name); /* borrowed, along the MRO */
        if (!d || !PyObject_TypeCheck(d, &PyMemberDescr_Type)) {
            PyErr_Format(PyExc_TypeError, "%.100s.%U is not a __slots__ member", cls->tp_name,
                         name);
            return -1;
        }
        if (!PyType_IsSubtype(cls, PyDescr_TYPE(d))) { /* (one of another class, set here) */
            PyErr_Format(PyExc_TypeError, "%.100s.%U is another class's slot", cls->tp_name,
                         name);
            return -1;
        }
        md = ((PyMemberDescrObject *)d)->d_member;
        if (md->type != T_OBJECT_EX || (writable && (md->flags & READONLY))) {
            PyErr_Format(PyExc_TypeError, "%.100s.%U is not a writable object slot",
                         cls->tp_name, name);
            return -1;
        }
        offsets[j] = md->offset;
    }
    return 0;
}

static PyObject *
py_slot_columns(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"objects", "cls", "names"};
    PyObject *a[3], *objs, *cols = NULL;
    PyTypeObject *cls;
    Py_ssize_t n, m, i, j, *offsets = NULL;

    (void)module;
    if (parse_args("slot_columns", names, 3, args, nargs, kwnames, a) < 0)
        return NULL;
    objs = a[0];
    if (!PyList_CheckExact(objs) || !PyType_Check(a[1]) || !PyTuple_CheckExact(a[2])) {
        PyErr_SetString(PyExc_TypeError, "slot_columns(list, type, tuple of str)");
        return NULL;
    }
    cls = (PyTypeObject *)a[1];
    m = PyTuple_GET_SIZE(a[2]);
    n = PyList_GET_SIZE(objs);
    if (!(offsets = PyMem_New(Py_ssize_t, (size_t)(m ? m : 1))))
        return PyErr_NoMemory();
    if (slot_offsets(cls, a[2], offsets, 0) < 0)
        goto error;
    /* the columns first: allocating can run Python code (the garbage collector), the pass
       below runs none */
    if (!(cols = PyList_New(m)))
        goto error;
    for (j = 0; j < m; j++) {
        PyObject *col = PyList_New(n);
        if (!col)
            goto error;
        PyList_SET_ITEM(cols, j, col);
    }
    if (PyList_GET_SIZE(objs) != n) {
        err_changed();
        goto error;
    }
    /* only objects of exactly cls with every slot set */
    for (i = 0; i < n; i++) {
        PyObject *o = PyList_GET_ITEM(objs, i);
        if (Py_TYPE(o) != cls)
            goto none;
        for (j = 0; j < m; j++) {
            PyObject *v = *(PyObject **)((char *)o + offsets[j]);
            if (!v)
                goto none;
            Py_INCREF(v);
            PyList_SET_ITEM(PyList_GET_ITEM(cols, j), i, v);
        }
    }
    PyMem_Free(offsets);
    return cols;
none:
    PyMem_Free(offsets);
    Py_DECREF(cols); /* (items not filled yet are NULL: freed as such) */
    Py_RETURN_NONE;
error:
    PyMem_Free(offsets);
    Py_XDECREF(cols);
    return NULL;
}

static PyObject *
py_slot_objects(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"cls", "names", "columns"};
    PyObject *a[3], *out = NULL, *cols = NULL;
    PyTypeObject *cls;
    Py_ssize_t n = 0, m, i, j, *offsets = NULL;

    (void)module;
    if (parse_args("slot_objects", names, 3, args, nargs, kwnames, a) < 0)
        return NULL;
    if (!PyType_Check(a[0]) || !PyTuple_CheckExact(a[1]) || !PyTuple_CheckExact(a[2]) ||
        PyTuple_GET_SIZE(a[1]) != PyTuple_GET_SIZE(a[2]) || PyTuple_GET_SIZE(a[1]) == 0) {
        PyErr_SetString(PyExc_TypeError,
                        "slot_objects(type, tuple of str, tuple of lists of the same size)");
        return NULL;
    }
    cls = (PyTypeObject *)a[0];
    if (cls->tp_flags & Py_TPFLAGS_IS_ABSTRACT) {
        PyErr_Format(PyExc_TypeError, "%.100s is abstract", cls->tp_name);
        return NULL;
    }
    if (cls->tp_new != PyBaseObject_Type.tp_new || cls->tp_itemsize != 0) {
        PyErr_Format(PyExc_TypeError, "%.100s has its own __new__", cls->tp_name);
        return NULL;
    }
    m = PyTuple_GET_SIZE(a[1]);
    cols = a[2];
    for (j = 0; j < m; j++) {
        PyObject *c = PyTuple_GET_ITEM(cols, j);
        if (!PyList_CheckExact(c) || (j && PyList_GET_SIZE(c) != n)) {
            PyErr_SetString(PyExc_TypeError, "slot_objects: columns must be lists of one size");
            return NULL;
        }
        n = PyList_GET_SIZE(c);
    }
    if (!(offsets = PyMem_New(Py_ssize_t, (size_t)m)))
        return PyErr_NoMemory();
    if (slot_offsets(cls, a[1], offsets, 1) < 0)
        goto error;
    if (!(out = PyList_New(n)))
        goto error;
    for (i = 0; i < n; i++) {
        /* an allocation can run the garbage collector, and with it Python code that could
           shrink a column: check the size again */
        PyObject *o = cls->tp_alloc(cls, 0);
        if (!o)
            goto error;
        PyList_SET_ITEM(out, i, o);
        for (j = 0; j < m; j++) {
            PyObject *c = PyTuple_GET_ITEM(cols, j);
            PyObject *v;
            if (i >= PyList_GET_SIZE(c)) {
                err_changed();
                goto error;
            }
            v = PyList_GET_ITEM(c, i);
            Py_INCREF(v);
            *(PyObject **)((char *)o + offsets[j]) = v;
        }
    }
    PyMem_Free(offsets);
    return out;
error:
    PyMem_Free(offsets);
    Py_XDECREF(out);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* JSON documents checked without being decoded (a sink that writes them as they are)        */

/* The scanner accepts a subset of what orjson.loads accepts (RFC 8259 as orjson reads it:
   strict UTF-8 without surrogates, \u escapes paired, no control character in a string, no
   NaN, no trailing comma, depth at most 1024), and declines what it cannot vouch for without
   decoding: numbers orjson would read as infinity (refused there) are declined by magnitude
   (more than JS_MAX_MAGNITUDE digits before the point after the exponent), integers that
   orjson would turn into a float (outside [-2**63, 2**64 - 1]), and nesting deeper than
   JS_MAX_DEPTH: orjson.dumps writes at most 254 levels (past them a sink's decoded path
   falls back to the json module and Python's recursion limit, and fails the record).
   "Declined" and "invalid" are the same answer: the caller decodes instead. */
#define JS_MAX_DEPTH 254
#define JS_MAX_MAGNITUDE 300

typedef struct {
    const unsigned char *p, *end;
} jscan;

static void
js_ws(jscan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int
js_hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    unsigned u = 0;
    int i;
    if (end - p < 4)
        return 0;
    for (i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return 0;
        u = (u << 4) | d;
    }
    *out = u;
    return 1;
}

#define JS_CONT(x) (((x) & 0xC0) == 0x80)

/* at the opening quote */
static int
js_string(jscan *s)
{
    const unsigned char *p = s->p + 1, *end = s->end;
    while (p < end) {
        unsigned c = *p;
        if (c == '"') {
            s->p = p + 1;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (++p >= end)
                return 0;
            c = *p++;
            switch (c) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                break;
            case 'u': {
                unsigned u, lo;
                if (!js_hex4(p, end, &u))
                    return 0;
                p += 4;
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return 0; /* a low surrogate first */
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !js_hex4(p + 2, end, &lo) ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return 0;
                    p += 6;
                }
                break;
            }
            default:
                return 0;
            }
            continue;
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        /* UTF-8: shortest forms only, no surrogates, at most U+10FFFF */
        if (c >= 0xC2 && c <= 0xDF) {
            if (end - p < 2 || !JS_CONT(p[1]))
                return 0;
            p += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
            if (end - p < 3 || p[1] < lo || p[1] > hi || !JS_CONT(p[2]))
                return 0;
            p += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
            if (end - p < 4 || p[1] < lo || p[1] > hi || !JS_CONT(p[2]) || !JS_CONT(p[3]))
                return 0;
            p += 4;
        } else {
            return 0;
        }
    }
    return 0;
}

static int
js_number(jscan *s)
{
    const unsigned char *p = s->p, *end = s->end, *digits;
    int neg = 0, is_float = 0;
    Py_ssize_t ndigits, exp = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    digits = p;
    if (p >= end || *p < '0' || *p > '9')
        return 0;
    if (*p == '0')
        p++;
    else
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    ndigits = p - digits;
    if (p < end && *p == '.') {
        is_float = 1;
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return 0;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0;
        is_float = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p >= end || *p < '0' || *p > '9')
            return 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (exp < 100000)
                exp = exp * 10 + (*p - '0');
            p++;
        }
        if (eneg)
            exp = -exp;
    }
    if (is_float) {
        if (ndigits + exp > JS_MAX_MAGNITUDE) /* may be infinity as a double: orjson refuses */
            return 0;
    } else if (ndigits > 18) {
        /* orjson keeps [-2**63, 2**64 - 1] as int, turns the rest into a float */
        if (neg ? (ndigits > 19 || memcmp(digits, "9223372036854775808", 19) > 0)
                : (ndigits > 20 || (ndigits == 20 && memcmp(digits, "18446744073709551615", 20) > 0)))
            return 0;
    }
    s->p = p;
    return 1;
}

static int
js_literal(jscan *s, const char *word, Py_ssize_t n)
{
    if (s->end - s->p < n || memcmp(s->p, word, (size_t)n) != 0)
        return 0;
    s->p += n;
    return 1;
}

/* An object member's name and its colon, and the whitespace after them */
static int
js_member_name(jscan *s)
{
    if (s->p >= s->end || *s->p != '"' || !js_string(s))
        return 0;
    js_ws(s);
    if (s->p >= s->end || *s->p != ':')
        return 0;
    s->p++;
    js_ws(s);
    return 1;
}

/* One value at s->p (no leading whitespace). Iterative: containers on an explicit stack. */
static int
js_value(jscan *s)
{
    char stack[JS_MAX_DEPTH]; /* '{' or '[' per open container */
    int depth = 0;
    for (;;) {
        /* a value */
        if (s->p >= s->end)
            return 0;
        switch (*s->p) {
        case '{':
        case '[':
            if (depth == JS_MAX_DEPTH)
                return 0;
            stack[depth++] = (char)*s->p++;
            js_ws(s);
            if (s->p < s->end && *s->p == (stack[depth - 1] == '{' ? '}' : ']')) {
                s->p++;
                depth--;
                break; /* an empty container: a complete value */
            }
            if (stack[depth - 1] == '{' && !js_member_name(s))
                return 0;
            continue; /* the first member's value */
        case '"':
            if (!js_string(s))
                return 0;
            break;
        case 't':
            if (!js_literal(s, "true", 4))
                return 0;
            break;
        case 'f':
            if (!js_literal(s, "false", 5))
                return 0;
            break;
        case 'n':
            if (!js_literal(s, "null", 4))
                return 0;
            break;
        default:
            if (!js_number(s))
                return 0;
        }
        /* after a complete value: close containers, or go on to the next member */
        for (;;) {
            if (!depth)
                return 1;
            js_ws(s);
            if (s->p >= s->end)
                return 0;
            if (*s->p == ',') {
                s->p++;
                js_ws(s);
                if (stack[depth - 1] == '{' && !js_member_name(s))
                    return 0;
                break; /* the next value */
            }
            if (*s->p != (stack[depth - 1] == '{' ? '}' : ']'))
                return 0;
            s->p++;
            depth--;
        }
    }
}

/* 1 when buf is one JSON document (whitespace around it allowed) the scanner vouches for;
   with lines set, also neither a top-level string (a sink writes a string's text) nor a
   CR or LF anywhere */
static int
js_document(const unsigned char *buf, Py_ssize_t n, int lines)
{
    jscan s = {buf, buf + n};
    if (lines && (memchr(buf, '\n', (size_t)n) || memchr(buf, '\r', (size_t)n)))
        return 0;
    js_ws(&s);
    if (s.p >= s.end || (lines && *s.p == '"'))
        return 0;
    if (!js_value(&s))
        return 0;
    js_ws(&s);
    return s.p == s.end;
}

typedef struct {
    PyObject *obj; /* a new reference, or NULL for None */
    const unsigned char *buf;
    Py_ssize_t len;
} js_item;

/* the items of a list of bytes-or-None, referenced (NULL with an exception set); with an
   item index (not NULL), of a list of tuples: item ``index`` of each (a batch of log
   records, their keys or values, without a list of them made first) */
static js_item *
js_items(PyObject *list, Py_ssize_t *n, PyObject *index)
{
    js_item *items;
    Py_ssize_t i, item = -1;
    if (!PyList_CheckExact(list)) {
        PyErr_SetString(PyExc_TypeError, "a list of bytes or None");
        return NULL;
    }
    if (index && index != Py_None) {
        item = PyLong_AsSsize_t(index);
        if (item < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "item must be >= 0");
            return NULL;
        }
    }
    *n = PyList_GET_SIZE(list);
    if (!(items = PyMem_New(js_item, (size_t)(*n ? *n : 1)))) {
        PyErr_NoMemory();
        return NULL;
    }
    for (i = 0; i < *n; i++) {
        PyObject *o = PyList_GET_ITEM(list, i);
        if (item >= 0) {
            if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) <= item) {
                while (i--)
                    Py_XDECREF(items[i].obj);
                PyMem_Free(items);
                PyErr_Format(PyExc_TypeError, "a list of tuples of more than %zd items", item);
                return NULL;
            }
            o = PyTuple_GET_ITEM(o, item);
        }
        if (o == Py_None) {
            items[i].obj = NULL;
            items[i].buf = NULL;
            items[i].len = 0;
        } else if (PyBytes_CheckExact(o)) {
            Py_INCREF(o);
            items[i].obj = o;
            items[i].buf = (const unsigned char *)PyBytes_AS_STRING(o);
            items[i].len = PyBytes_GET_SIZE(o);
        } else {
            while (i--)
                Py_XDECREF(items[i].obj);
            PyMem_Free(items);
            PyErr_Format(PyExc_TypeError, "a list of bytes or None, not %.100s",
                         Py_TYPE(o)->tp_name);
            return NULL;
        }
    }
    return items;
}

static void
js_items_free(js_item *items, Py_ssize_t n)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++)
        Py_XDECREF(items[i].obj);
    PyMem_Free(items);
}

/* Whether obj holds a float that is not finite (NaN, an infinity), itself or as a dict
   value or a list or tuple item at any depth: orjson writes those as null, so the JSON
   converter looks for them only where this says there are some. Deeper than orjson writes
   (its limit is 255), or a container holding itself: 1, for the caller to look. */
static int
nonfinite_in(PyObject *obj, int depth)
{
    Py_ssize_t i, n, pos = 0;
    PyObject *key, *value;
    PyTypeObject *type = Py_TYPE(obj);

    if (type == &PyUnicode_Type || type == &PyLong_Type || obj == Py_None)
        return 0; /* (the usual leaves, at once) */
    if (PyFloat_Check(obj)) {
        double d = PyFloat_AS_DOUBLE(obj);
        return !(d - d == 0.0);
    }
    if (!PyDict_Check(obj) && !PyList_Check(obj) && !PyTuple_Check(obj))
        return 0;
    if (depth > 256)
        return 1;
    if (PyDict_Check(obj)) {
        while (PyDict_Next(obj, &pos, &key, &value))
            if (nonfinite_in(value, depth + 1))
                return 1;
        return 0;
    }
    n = PyList_Check(obj) ? PyList_GET_SIZE(obj) : PyTuple_GET_SIZE(obj);
    for (i = 0; i < n; i++) {
        /* (a list's size is read again: nothing here runs Python code, but stay in bounds) */
        if (PyList_Check(obj) && i >= PyList_GET_SIZE(obj))
            break;
        value = PyList_Check(obj) ? PyList_GET_ITEM(obj, i) : PyTuple_GET_ITEM(obj, i);
        if (nonfinite_in(value, depth + 1))
            return 1;
    }
    return 0;
}

static PyObject *
py_nonfinite(PyObject *module, PyObject *obj)
{
    (void)module;
    return PyBool_FromLong(nonfinite_in(obj, 0));
}

static PyObject *
py_json_valid(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"datas", "item"};
    PyObject *a[2];
    js_item *items;
    Py_ssize_t n, i;
    int ok = 1;

    (void)module;
    if (parse_args_opt("json_valid", names, 2, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    if (!(items = js_items(a[0], &n, a[1])))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n && ok; i++)
        ok = !items[i].obj || js_document(items[i].buf, items[i].len, 0);
    Py_END_ALLOW_THREADS
    js_items_free(items, n);
    return PyBool_FromLong(ok);
}

static PyObject *
py_json_lines(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"datas", "prefix", "item"};
    PyObject *a[3], *out;
    js_item *items;
    Py_ssize_t n, i, plen, total = 0;
    const char *prefix;
    char *w;
    int ok = 1;

    (void)module;
    if (parse_args_opt("json_lines", names, 3, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    if (!PyBytes_CheckExact(a[1])) {
        PyErr_SetString(PyExc_TypeError, "json_lines: prefix must be bytes");
        return NULL;
    }
    prefix = PyBytes_AS_STRING(a[1]);
    plen = PyBytes_GET_SIZE(a[1]);
    if (!(items = js_items(a[0], &n, a[2])))
        return NULL;
    /* each document: the part after the prefix and before the closing brace that ends the
       envelope (with a prefix), or the whole (without) */
    for (i = 0; i < n; i++) {
        if (!items[i].obj) {
            if (total > PY_SSIZE_T_MAX - 5) {
                js_items_free(items, n);
                return PyErr_NoMemory();
            }
            total += 5; /* null\n */
            continue;
        }
        if (plen) {
            if (items[i].len < plen + 1 || memcmp(items[i].buf, prefix, (size_t)plen) != 0 ||
                items[i].buf[items[i].len - 1] != '}') {
                js_items_free(items, n);
                Py_RETURN_NONE;
            }
            items[i].buf += plen;
            items[i].len -= plen + 1;
        }
        if (items[i].len >= PY_SSIZE_T_MAX - 5 - total) { /* (one object listed many times) */
            js_items_free(items, n);
            return PyErr_NoMemory();
        }
        total += items[i].len + 1;
    }
    if (!(out = PyBytes_FromStringAndSize(NULL, total))) {
        js_items_free(items, n);
        return NULL;
    }
    w = PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n && ok; i++) {
        if (!items[i].obj) {
            memcpy(w, "null\n", 5);
            w += 5;
            continue;
        }
        ok = js_document(items[i].buf, items[i].len, 1);
        memcpy(w, items[i].buf, (size_t)items[i].len);
        w += items[i].len;
        *w++ = '\n';
    }
    Py_END_ALLOW_THREADS
    js_items_free(items, n);
    if (!ok) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    return out;
}

/* The elements of a JSON array, as bytes each: the converters encode a batch of values with
   one orjson call (compact JSON) and split it here, instead of one call per value. Strings
   are skipped whole (a backslash escapes the next byte); a comma at depth 0 ends an element.
   None when the text is not such an array of ``count`` elements. */
static PyObject *
py_json_split(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"data", "count"};
    PyObject *a[2], *out, *item;
    const char *p, *end, *start;
    Py_ssize_t count, i = 0;
    long depth = 0;

    (void)module;
    if (parse_args("json_split", names, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    if (!PyBytes_CheckExact(a[0])) {
        PyErr_SetString(PyExc_TypeError, "json_split: data must be bytes");
        return NULL;
    }
    count = PyLong_AsSsize_t(a[1]);
    if (count < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "json_split: count must be >= 0");
        return NULL;
    }
    p = PyBytes_AS_STRING(a[0]);
    end = p + PyBytes_GET_SIZE(a[0]);
    if (end - p < 2 || p[0] != '[' || end[-1] != ']')
        Py_RETURN_NONE;
    p++;
    end--;
    if (!(out = PyList_New(count)))
        return NULL;
    if (count == 0) {
        if (p == end)
            return out;
        goto bad;
    }
    start = p;
    while (p < end) {
        char c = *p;
        if (c == '"') { /* to the closing quote: one not preceded by an odd run of '\\' */
            const char *q, *b;
            for (p++;; p = q + 1) {
                if (!(q = memchr(p, '"', (size_t)(end - p))))
                    goto bad;
                for (b = q; b > p && b[-1] == '\\'; b--)
                    ;
                if (((q - b) & 1) == 0)
                    break;
            }
            p = q;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            if (--depth < 0)
                goto bad;
        } else if (c == ',' && depth == 0) {
            if (i >= count - 1 || p == start)
                goto bad;
            if (!(item = PyBytes_FromStringAndSize(start, p - start))) {
                Py_DECREF(out);
                return NULL;
            }
            PyList_SET_ITEM(out, i++, item);
            start = p + 1;
        }
        p++;
    }
    if (depth != 0 || i != count - 1 || p != end || end == start)
        goto bad;
    if (!(item = PyBytes_FromStringAndSize(start, end - start))) {
        Py_DECREF(out);
        return NULL;
    }
    PyList_SET_ITEM(out, i, item);
    return out;
bad:
    Py_DECREF(out); /* (its unset items are NULL, which a list's deallocation skips) */
    Py_RETURN_NONE;
}

/* What a sink runner reads of every record of a batch (tuples: topic, partition, offset,
   timestamp, key, value, headers), a batch at a time. */

static int
check_record(PyObject *r)
{
    if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) < 6) {
        PyErr_SetString(PyExc_TypeError, "records must be tuples of (topic, partition, "
                                         "offset, timestamp, key, value, ...)");
        return -1;
    }
    return 0;
}

static PyObject *
py_value_bytes(PyObject *module, PyObject *records)
{
    Py_ssize_t i, n, total = 0;

    (void)module;
    if (!PyList_CheckExact(records)) {
        PyErr_SetString(PyExc_TypeError, "value_bytes(list of records)");
        return NULL;
    }
    n = PyList_GET_SIZE(records);
    for (i = 0; i < n; i++) {
        PyObject *r = PyList_GET_ITEM(records, i), *v;
        if (check_record(r) < 0)
            return NULL;
        v = PyTuple_GET_ITEM(r, 5);
        if (v == Py_None)
            continue;
        if (!PyBytes_Check(v)) {
            PyErr_SetString(PyExc_TypeError, "value_bytes: a value is neither bytes nor None");
            return NULL;
        }
        total += PyBytes_GET_SIZE(v);
    }
    return PyLong_FromSsize_t(total);
}

static PyObject *
py_last_offsets(PyObject *module, PyObject *records)
{
    /* (strong references throughout: comparing and hashing may run Python code, which
       could change the list) */
    PyObject *out, *topic = NULL, *partition = NULL, *offset = NULL, *r = NULL;
    Py_ssize_t i;

    (void)module;
    if (!PyList_CheckExact(records)) {
        PyErr_SetString(PyExc_TypeError, "last_offsets(list of records)");
        return NULL;
    }
    if (!(out = PyDict_New()))
        return NULL;
    for (i = 0;; i++) {
        PyObject *t = NULL, *p = NULL;
        int same = 0;
        r = i < PyList_GET_SIZE(records) ? PyList_GET_ITEM(records, i) : NULL;
        if (r) {
            Py_INCREF(r);
            if (check_record(r) < 0)
                goto error;
            t = PyTuple_GET_ITEM(r, 0);
            p = PyTuple_GET_ITEM(r, 1);
            if (topic) {
                if (t == topic && p == partition) {
                    same = 1;
                } else {
                    int a = PyObject_RichCompareBool(t, topic, Py_EQ), b = 0;
                    if (a < 0 || (a && (b = PyObject_RichCompareBool(p, partition, Py_EQ)) < 0))
                        goto error;
                    same = a && b;
                }
            }
        }
        if (topic && !same) { /* the end of a run of one partition's records */
            PyObject *key = PyTuple_Pack(2, topic, partition);
            int failed = !key || PyDict_SetItem(out, key, offset) < 0;
            Py_XDECREF(key);
            if (failed)
                goto error;
        }
        if (!r)
            break;
        Py_INCREF(t);
        Py_XSETREF(topic, t);
        Py_INCREF(p);
        Py_XSETREF(partition, p);
        Py_INCREF(PyTuple_GET_ITEM(r, 2));
        Py_XSETREF(offset, PyTuple_GET_ITEM(r, 2));
        Py_CLEAR(r);
    }
    Py_XDECREF(topic);
    Py_XDECREF(partition);
    Py_XDECREF(offset);
    return out;
error:
    Py_XDECREF(r);
    Py_XDECREF(topic);
    Py_XDECREF(partition);
    Py_XDECREF(offset);
    Py_DECREF(out);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* module                                                                                     */

static PyMethodDef speedups_methods[] = {
    {"murmur2", FASTCALL_KW(py_murmur2), METH_FASTCALL | METH_KEYWORDS,
     "murmur2(data) -> int\n\nKafka's murmur2 of a bytes-like object, as a signed 32-bit int."},
    {"encode_records", FASTCALL_KW(py_encode_records), METH_FASTCALL | METH_KEYWORDS,
     "encode_records(keys, values, headers, timestamps, seq_header=None)\n"
     "    -> (bytes, count, first_ts, max_ts)\n\n"
     "Encode records with offset deltas 0..n-1; timestamps is one int or one per record;\n"
     "seq_header (key, prefix, first_seq) gives record i the one header\n"
     "(key, prefix + b'%d' % (first_seq + i)) (headers must be None)."},
    {"encode_packed", FASTCALL_KW(py_encode_packed), METH_FASTCALL | METH_KEYWORDS,
     "encode_packed(values, value_ends, keys, key_ends, start, stop, wrap, header_key,\n"
     "              header_prefix, first_seq, timestamp, num_partitions, sticky, max_bytes,\n"
     "              max_count) -> (sections per partition, largest record)\n\n"
     "Records of shared buffers, partitioned and cut into sections (see _pycodec)."},
    {"encode_packed_lz4", FASTCALL_KW(py_encode_packed_lz4), METH_FASTCALL | METH_KEYWORDS,
     "encode_packed_lz4(...) -> (sections per partition, largest record) or None\n\n"
     "encode_packed's records, each section an LZ4 frame of one block whose repeated bytes\n"
     "(the wrap, the seq header) are matches against the previous record: no search, no\n"
     "uncompressed copy. None when a section would not fit one 4 MB block."},
    {"partition_encode", FASTCALL_KW(py_partition_encode), METH_FASTCALL | METH_KEYWORDS,
     "partition_encode(keys, values, headers, timestamps, num_partitions, sticky,\n"
     "                 seq_header=None) -> list\n\n"
     "Split records by Kafka's default partitioner and encode each partition's share;\n"
     "None for a partition that got no record."},
    {"decode_records", FASTCALL_KW(py_decode_records), METH_FASTCALL | METH_KEYWORDS,
     "decode_records(buf, pos, end, count, base_offset, first_timestamp, topic, partition, "
     "cls) -> list\n\nDecode count records from buf[pos:end]; ValueError on any malformation."},
    {"slot_columns", FASTCALL_KW(py_slot_columns), METH_FASTCALL | METH_KEYWORDS,
     "slot_columns(objects, cls, names) -> list of lists, or None\n\n"
     "The values of the __slots__ members names of every object in the list objects, one\n"
     "list per name; None when an object is not exactly of type cls or a slot is unset."},
    {"slot_objects", FASTCALL_KW(py_slot_objects), METH_FASTCALL | METH_KEYWORDS,
     "slot_objects(cls, names, columns) -> list\n\n"
     "Objects of cls whose __slots__ members names hold columns' values (one list a name),\n"
     "without calling __init__: for plain slots classes (a dataclass without __post_init__)."},
    {"nonfinite", (PyCFunction)py_nonfinite, METH_O,
     "nonfinite(obj) -> bool\n\n"
     "Whether obj holds a float that is NaN or infinite, itself or in dict values and list or\n"
     "tuple items at any depth (True also past a depth of 256)."},
    {"json_valid", FASTCALL_KW(py_json_valid), METH_FASTCALL | METH_KEYWORDS,
     "json_valid(datas, item=None) -> bool\n\n"
     "Whether every item (bytes, or None) is one JSON document orjson.loads reads without\n"
     "losing an integer's exactness; False also where the scanner declines to vouch (see\n"
     "the C source). With item, datas are tuples and their item-th elements are read."},
    {"json_lines", FASTCALL_KW(py_json_lines), METH_FASTCALL | METH_KEYWORDS,
     "json_lines(datas, prefix, item=None) -> bytes or None\n\n"
     "The items as JSON lines, each followed by a newline (None as null), when every item\n"
     "is one document json_valid vouches for, on one line, not a string; with a prefix,\n"
     "every item must be prefix + document + '}' and the line is the document. None\n"
     "otherwise (decode them instead). With item, datas are tuples (as json_valid)."},
    {"value_bytes", (PyCFunction)py_value_bytes, METH_O,
     "value_bytes(records) -> int\n\n"
     "The sum of the lengths of the records' values (item 5 of each tuple; None counts 0)."},
    {"last_offsets", (PyCFunction)py_last_offsets, METH_O,
     "last_offsets(records) -> dict\n\n"
     "{(topic, partition): offset} of the last record of each partition (items 0, 1, 2 of\n"
     "each tuple), as dict(zip(map(itemgetter(0, 1), records), map(itemgetter(2), records)))."},
    {"json_split", FASTCALL_KW(py_json_split), METH_FASTCALL | METH_KEYWORDS,
     "json_split(data, count) -> list of bytes or None\n\n"
     "The count elements of the compact JSON array data (as orjson writes it), each as\n"
     "bytes; None when data is not such an array."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "hub.log._speedups",
    "C implementation of hub.log._pycodec (the records section of a Kafka v2 record batch).",
    -1,
    speedups_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *m;

    if (!empty_tuple && !(empty_tuple = PyTuple_New(0)))
        return NULL;
    m = PyModule_Create(&speedups_module);
    return m;
}
