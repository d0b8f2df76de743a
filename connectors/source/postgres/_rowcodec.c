/*
 * connectors.source.postgres._rowcodec: C implementation of rowcodec.PyRowCodec (a row's
 * text values straight to the JSON bytes of its Connect struct and key). Same constructor,
 * same methods, byte-identical output; rowcodec.py is the reference and documents the kinds.
 *
 *   RowCodec(fields, key)
 *   .values(seq) -> (row, key or None) or None
 *   .tuple(buf, pos) -> (row or None, key or None, end)
 *   .change(buf, wrap, src, lsn, block, ts_ns) -> (value, key or None) or None
 *   .copy_packed(data) -> (structs, ends, keys, key ends, line ends, declined)
 *   copy_out(conn, get_copy_data, freemem, max_rows, max_bytes=0) -> (COPY text, status)
 *   read_xlog(conn, get_copy_data, freemem, consume_input, max_msgs) -> (starts, payloads,
 *             wal_end, other, status)  (module level)
 *
 * Each field's value is encoded by a fast path for its kind when the text has the simple form
 * the server prints; any other text goes through the field's Python converter and
 * orjson.dumps(value, default=hub.runtime.converters.json_default), exactly as the reference, so
 * the bytes never depend on the kind. A TypeError (orjson.JSONEncodeError included) from the
 * converter or orjson makes the row None, as in the reference; other exceptions propagate.
 *
 * Deliberate differences from the reference, all on input it never gets:
 *   - fields are unpacked and checked when the codec is built (a malformed field, a column
 *     index or key position that is no int, a key position outside the fields: TypeError or
 *     IndexError from the constructor, not from the first row); a built codec cannot be
 *     initialized again (a converter could do that in the middle of a row);
 *   - .values takes its values as a tuple (any other iterable is copied to one first) rather
 *     than indexing the sequence field by field;
 *   - .tuple refuses a negative pos (ValueError; struct.unpack_from would read from the end),
 *     and .tuple and .copy_packed take any bytes-like buffer;
 *   - .copy_packed decodes PostgreSQL's octal (\ooo) and hex (\xhh) escapes, as COPY FROM does
 *     (and parse_copy_text); COPY TO never writes either form. An empty line is a row of one
 *     empty field.
 *
 * The fast paths never call Python code; the slow path calls the converter and orjson, which
 * can run arbitrary code, so everything a row is read from is owned by the call (a tuple of
 * the values, the buffer's Py_buffer, the codec's own references to its converters).
 * .copy_packed of a codec without Python kinds runs with the GIL released and takes it back
 * for a slow field or an error (gil_t).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "fastcall.h"
#include "rowcodec.h"


static PyObject *
RowCodec_values(RowCodec *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"values"};
    PyObject *seq, *row, *key, *result = NULL, *items = NULL;
    span spans_stack[STACK_SPANS], *spans = spans_stack;
    Py_ssize_t n, i;
    obuf b;
    int r;

    if (parse_args("values", names, 1, args, nargs, kwnames, &seq) < 0)
        return NULL;
    /* the reference indexes values[i] field by field: a tuple is read directly, any other
       sequence copied to one first (a converter cannot free the items under us) */
    if (PyTuple_CheckExact(seq)) {
        Py_INCREF(seq);
        items = seq;
    }
    else if (!(items = PySequence_Tuple(seq)))
        return NULL;
    n = PyTuple_GET_SIZE(items);
    if (n > STACK_SPANS && !(spans = PyMem_Malloc(sizeof(span) * n))) {
        Py_DECREF(items);
        return PyErr_NoMemory();
    }
    for (i = 0; i < n; i++)
        span_of(PyTuple_GET_ITEM(items, i), &spans[i]);
    obuf_init(&b);
    r = encode_row(self, &b, spans, n, &row, &key);
    result = row_result(r, row, key);
    obuf_free(&b);
    if (spans != spans_stack)
        PyMem_Free(spans);
    Py_DECREF(items);
    return result;
}

/* ------------------------------------------------------------------------------------------ */
/* .tuple(buf, pos)                                                                           */

/* The pgoutput TupleData at buf[*pos:size] as spans into buf (in *spans: the caller's stack
   array of STACK_SPANS, or a PyMem_Malloc'd one the caller frees); *pos moves past it. The
   number of columns, or -1 with ValueError (malformed) or MemoryError set. */
static Py_ssize_t
tuple_spans(RowCodec *self, const uint8_t *buf, Py_ssize_t size, Py_ssize_t *at, span **spans)
{
    Py_ssize_t pos = *at, i, ncols;
    int16_t n;

    if (pos < 0 || pos > size || size - pos < 2) {
        PyErr_SetString(PyExc_ValueError, "truncated TupleData");
        return -1;
    }
    n = (int16_t)((uint16_t)buf[pos] << 8 | buf[pos + 1]);
    pos += 2;
    ncols = n > 0 ? n : 0;
    if (ncols > STACK_SPANS) {
        span *heap = PyMem_Malloc(sizeof(span) * ncols);
        if (!heap) {
            PyErr_NoMemory();
            return -1;
        }
        *spans = heap;
    }
    for (i = 0; i < ncols; i++) {
        uint8_t k;
        span *s = &(*spans)[i];
        if (pos >= size) {
            PyErr_SetString(PyExc_ValueError, "truncated TupleData");
            return -1;
        }
        k = buf[pos++];
        s->obj = NULL;
        if (k == 0x74) {
            int32_t len;
            if (size - pos < 4) {
                PyErr_SetString(PyExc_ValueError, "truncated TupleData");
                return -1;
            }
            len = (int32_t)((uint32_t)buf[pos] << 24 | (uint32_t)buf[pos + 1] << 16 |
                            (uint32_t)buf[pos + 2] << 8 | buf[pos + 3]);
            pos += 4;
            if (len < 0 || len > size - pos) {
                PyErr_SetString(PyExc_ValueError, "truncated TupleData");
                return -1;
            }
            s->kind = V_TEXT;
            s->p = buf + pos;
            s->n = len;
            pos += len;
        }
        else if (k == 0x6E) {
            s->kind = V_NULL;
            s->p = NULL;
            s->n = 0;
        }
        else if (k == 0x75)
            s->kind = V_TOAST;
        else {
            PyObject *c = PyUnicode_FromOrdinal(k);
            if (c) {
                PyErr_Format(PyExc_ValueError, "unexpected tuple column kind %R", c);
                Py_DECREF(c);
            }
            return -1;
        }
    }
    if (self->nfields && self->max_column >= n) {
        PyErr_SetString(PyExc_ValueError, "TupleData has fewer columns than the relation");
        return -1;
    }
    *at = pos;
    return ncols;
}

static PyObject *
RowCodec_tuple(RowCodec *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"buf", "pos"};
    PyObject *a[2], *row = NULL, *key = NULL, *result = NULL;
    Py_buffer view;
    Py_ssize_t pos, ncols;
    span spans_stack[STACK_SPANS], *spans = spans_stack;
    obuf b;
    int r;

    if (parse_args("tuple", names, 2, args, nargs, kwnames, a) < 0)
        return NULL;
    pos = PyNumber_AsSsize_t(a[1], NULL); /* clamped: out of range all the same */
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    if (PyObject_GetBuffer(a[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    ncols = tuple_spans(self, (const uint8_t *)view.buf, view.len, &pos, &spans);
    if (ncols < 0)
        goto out;
    obuf_init(&b);
    r = encode_row(self, &b, spans, ncols, &row, &key);
    obuf_free(&b);
    if (r < 0)
        goto out;
    if (r == 0) {
        row = Py_None;
        key = Py_None;
        Py_INCREF(row);
        Py_INCREF(key);
    }
    {
        PyObject *end = PyLong_FromSsize_t(pos);
        if (!end || !(result = PyTuple_New(3))) {
            Py_XDECREF(end);
            Py_DECREF(row);
            Py_DECREF(key);
            goto out;
        }
        PyTuple_SET_ITEM(result, 0, row);
        PyTuple_SET_ITEM(result, 1, key);
        PyTuple_SET_ITEM(result, 2, end);
    }
out:
    if (spans != spans_stack)
        PyMem_Free(spans);
    PyBuffer_Release(&view);
    return result;
}

/* ------------------------------------------------------------------------------------------ */
/* .change(buf, wrap, src, lsn, block, ts_ns)                                                 */

/* Encode the struct of the TupleData at buf[*pos:] into b (marks as in encode_struct): 1, 0
   the row is None, -1 error. */
static int
tuple_struct(RowCodec *self, obuf *b, const uint8_t *buf, Py_ssize_t size, Py_ssize_t *pos,
             Py_ssize_t *marks)
{
    span spans_stack[STACK_SPANS], *spans = spans_stack;
    Py_ssize_t ncols = tuple_spans(self, buf, size, pos, &spans);
    int r = ncols < 0 ? -1 : encode_struct(self, b, spans, ncols, marks);
    if (spans != spans_stack)
        PyMem_Free(spans);
    return r;
}


static PyObject *
RowCodec_change(RowCodec *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"buf", "wrap", "src", "lsn", "block", "ts_ns"};
    PyObject *a[6], *value = NULL, *key = NULL, *result = NULL, *head, *tail, *khead, *ktail;
    PyObject *src_a, *src_b;
    Py_buffer view;
    const uint8_t *buf;
    Py_ssize_t size, pos, marks_stack[2 * STACK_MARKS], *marks = NULL, at_len, ns_len;
    unsigned long long lsn;
    long long ts_ns;
    char at[24], ns[24];
    uint8_t kind, tag;
    const char *op;
    obuf b;
    int r = 0;

    if (parse_args("change", names, 6, args, nargs, kwnames, a) < 0)
        return NULL;
    if (!PyTuple_CheckExact(a[1]) || PyTuple_GET_SIZE(a[1]) != 4 || !PyTuple_CheckExact(a[2]) ||
        PyTuple_GET_SIZE(a[2]) != 2) {
        PyErr_SetString(PyExc_TypeError, "change(): wrap is a 4-tuple, src a 2-tuple of bytes");
        return NULL;
    }
    head = PyTuple_GET_ITEM(a[1], 0);
    tail = PyTuple_GET_ITEM(a[1], 1);
    khead = PyTuple_GET_ITEM(a[1], 2);
    ktail = PyTuple_GET_ITEM(a[1], 3);
    src_a = PyTuple_GET_ITEM(a[2], 0);
    src_b = PyTuple_GET_ITEM(a[2], 1);
    if (!PyBytes_Check(head) || !PyBytes_Check(tail) || !PyBytes_Check(khead) ||
        !PyBytes_Check(ktail) || !PyBytes_Check(src_a) || !PyBytes_Check(src_b) ||
        (a[4] != Py_None && !PyBytes_Check(a[4]))) {
        PyErr_SetString(PyExc_TypeError, "change(): wrap, src and block hold bytes");
        return NULL;
    }
    lsn = PyLong_AsUnsignedLongLong(a[3]);
    if (lsn == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    if (a[5] == Py_None) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        ts_ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
    }
    else if ((ts_ns = PyLong_AsLongLong(a[5])) == -1 && PyErr_Occurred())
        return NULL;
    if (PyObject_GetBuffer(a[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    buf = (const uint8_t *)view.buf;
    size = view.len;
    obuf_init(&b);
    if (self->nkey) {
        if (self->nfields > STACK_MARKS &&
            !(marks = PyMem_Malloc(sizeof(Py_ssize_t) * 2 * self->nfields))) {
            PyErr_NoMemory();
            goto out;
        }
        if (!marks)
            marks = marks_stack;
    }
    if (size < 7)
        goto decline;
    kind = buf[0];
    tag = buf[5];
    pos = 6;
    if (put_bytes(&b, head) < 0 || PUT_LIT(&b, "{\"before\":") < 0)
        goto out;
    if (kind == 0x49) { /* Insert: 'N' + new tuple */
        op = ",\"op\":\"c\",\"ts_ms\":";
        if (tag != 0x4E || PUT_LIT(&b, "null,\"after\":") < 0)
            goto decline_or_out;
        r = tuple_struct(self, &b, buf, size, &pos, marks);
    }
    else if (kind == 0x44) { /* Delete: 'K' or 'O' + old tuple */
        op = ",\"op\":\"d\",\"ts_ms\":";
        if (tag != 0x4B && tag != 0x4F)
            goto decline;
        r = tuple_struct(self, &b, buf, size, &pos, marks);
        if (r == 1 && PUT_LIT(&b, ",\"after\":null") < 0)
            goto out;
    }
    else if (kind == 0x55) { /* Update: ['O' + old tuple] 'N' + new tuple ('K': key changed) */
        op = ",\"op\":\"u\",\"ts_ms\":";
        if (tag == 0x4F) {
            /* whether the key changed is the slow path's call (see stream._encoded_change) */
            if (self->nkey)
                goto decline;
            r = tuple_struct(self, &b, buf, size, &pos, NULL);
            if (r != 1)
                goto decline_or_out;
            if (pos >= size)
                goto decline;
            tag = buf[pos++];
        }
        else if (PUT_LIT(&b, "null") < 0)
            goto out;
        if (tag != 0x4E || PUT_LIT(&b, ",\"after\":") < 0)
            goto decline_or_out;
        r = tuple_struct(self, &b, buf, size, &pos, marks);
    }
    else
        goto decline;
    if (r != 1 || pos != size)
        goto decline_or_out;
    at_len = u64_digits(lsn, at);
    ns_len = ts_ns < 0 ? snprintf(ns, sizeof(ns), "%lld", ts_ns) : u64_digits((uint64_t)ts_ns, ns);
    if (put_bytes(&b, src_a) < 0 || obuf_put(&b, at, at_len) < 0 || put_bytes(&b, src_b) < 0 ||
        obuf_put(&b, at, at_len) < 0 || PUT_LIT(&b, ",\"xmin\":null},\"transaction\":") < 0 ||
        (a[4] == Py_None ? PUT_LIT(&b, "null") : put_bytes(&b, a[4])) < 0 ||
        obuf_put(&b, op, (Py_ssize_t)strlen(op)) < 0 ||
        obuf_put(&b, ns, ns_len > 6 ? ns_len - 6 : 0) < 0 || PUT_LIT(&b, ",\"ts_us\":") < 0 ||
        obuf_put(&b, ns, ns_len > 3 ? ns_len - 3 : 0) < 0 || PUT_LIT(&b, ",\"ts_ns\":") < 0 ||
        obuf_put(&b, ns, ns_len) < 0 || PUT_LIT(&b, "}") < 0 || put_bytes(&b, tail) < 0)
        goto out;
    if (!(value = PyBytes_FromStringAndSize(b.p, b.len)))
        goto out;
    if (self->nkey) {
        Py_ssize_t kh = PyBytes_GET_SIZE(khead), kt = PyBytes_GET_SIZE(ktail);
        Py_ssize_t kn = key_size(self, marks);
        char *o;
        if (!(key = PyBytes_FromStringAndSize(NULL, kh + kn + kt)))
            goto out;
        o = PyBytes_AS_STRING(key);
        memcpy(o, PyBytes_AS_STRING(khead), kh);
        key_write(self, b.p, marks, o + kh);
        memcpy(o + kh + kn, PyBytes_AS_STRING(ktail), kt);
    }
    else {
        key = Py_None;
        Py_INCREF(key);
    }
    result = PyTuple_Pack(2, value, key);
    goto out;
decline_or_out:
    if (r < 0 || PyErr_Occurred()) {
        /* the reference's `except ValueError`: a malformed tuple (or a converter's
           ValueError) is the slow path's to report; anything else propagates */
        if (!PyErr_ExceptionMatches(PyExc_ValueError))
            goto out;
        PyErr_Clear();
    }
decline:
    result = Py_None;
    Py_INCREF(result);
out:
    Py_XDECREF(value);
    Py_XDECREF(key);
    if (marks && marks != marks_stack)
        PyMem_Free(marks);
    obuf_free(&b);
    PyBuffer_Release(&view);
    return result;
}

/* ------------------------------------------------------------------------------------------ */
/* COPY text: escapes and lines                                                               */

static inline int
hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Unescape p[:n] into o (n bytes at most); returns the length written. */
static Py_ssize_t
unescape(const uint8_t *p, Py_ssize_t n, uint8_t *o)
{
    Py_ssize_t i = 0, w = 0;

    while (i < n) {
        uint8_t c = p[i++];
        if (c != '\\' || i >= n) {
            o[w++] = c;
            continue;
        }
        c = p[i++];
        switch (c) {
        case 'b':
            o[w++] = '\b';
            break;
        case 'f':
            o[w++] = '\f';
            break;
        case 'n':
            o[w++] = '\n';
            break;
        case 'r':
            o[w++] = '\r';
            break;
        case 't':
            o[w++] = '\t';
            break;
        case 'v':
            o[w++] = '\v';
            break;
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
            int v = c - '0';
            if (i < n && p[i] >= '0' && p[i] <= '7') {
                v = v * 8 + (p[i++] - '0');
                if (i < n && p[i] >= '0' && p[i] <= '7')
                    v = v * 8 + (p[i++] - '0');
            }
            o[w++] = (uint8_t)(v & 0xFF);
            break;
        }
        case 'x': {
            int h = i < n ? hexval(p[i]) : -1;
            if (h < 0) {
                o[w++] = 'x';
                break;
            }
            i++;
            if (i < n && hexval(p[i]) >= 0)
                h = h * 16 + hexval(p[i++]);
            o[w++] = (uint8_t)h;
            break;
        }
        default:
            o[w++] = c;
        }
    }
    return w;
}

/* Split one COPY text line [line, eol) on tabs into *spans (grown as needed, *cap entries),
   unescaping fields with a backslash into scratch (the line's own size, at its offset): the
   number of fields, or -1 when out of memory (no exception set: runs without the GIL). */
static Py_ssize_t
split_line(const uint8_t *line, const uint8_t *eol, uint8_t *sp, span **spans, Py_ssize_t *cap)
{
    int has_bs = memchr(line, '\\', eol - line) != NULL;
    const uint8_t *fp = line;
    Py_ssize_t nf = 0;

    for (;;) {
        const uint8_t *tab = memchr(fp, '\t', eol - fp);
        const uint8_t *fe = tab ? tab : eol;
        span *s;
        if (nf >= *cap) {
            Py_ssize_t ncap = *cap ? *cap * 2 : 16;
            span *ns = PyMem_RawRealloc(*spans, sizeof(span) * ncap);
            if (!ns)
                return -1; /* the caller raises MemoryError */
            *spans = ns;
            *cap = ncap;
        }
        s = &(*spans)[nf++];
        s->obj = NULL;
        s->kind = V_TEXT;
        s->p = fp;
        s->n = fe - fp;
        if (has_bs && memchr(fp, '\\', fe - fp)) {
            if (s->n == 2 && fp[0] == '\\' && fp[1] == 'N') {
                s->kind = V_NULL;
                s->p = NULL;
                s->n = 0;
            }
            else {
                /* in place of the raw field in scratch: never longer */
                s->n = unescape(fp, fe - fp, sp);
                s->p = sp;
            }
        }
        sp += fe - fp + 1;
        if (!tab)
            break;
        fp = tab + 1;
    }
    return nf;
}

/* ------------------------------------------------------------------------------------------ */
/* .copy_packed(data): a COPY chunk's rows into shared buffers                                */


static PyObject *
RowCodec_copy_packed(RowCodec *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"data"};
    PyObject *a[1], *result;
    Py_ssize_t cap = 0;
    Py_buffer view;
    const uint8_t *data, *end, *line;
    uint8_t *scratch;
    span *spans = NULL;
    packer_t pk;
    int failed = 0;

    if (parse_args("copy_packed", names, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    if (PyObject_GetBuffer(a[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    data = (const uint8_t *)view.buf;
    end = data + view.len;
    if (!(scratch = PyMem_RawMalloc(view.len ? view.len : 1))) {
        PyErr_NoMemory();
        failed = 1;
    }
    if (packer_init(&pk, self, view.len) < 0)
        failed = 1;
    line = data;
    while (!failed && line < end) {
        const uint8_t *eol = memchr(line, '\n', end - line);
        Py_ssize_t nf;

        if (!eol)
            eol = end; /* eol == line: a row of one empty field */
        if ((nf = split_line(line, eol, scratch + (line - data), &spans, &cap)) < 0) {
            no_memory(&pk.g);
            failed = 1;
            break;
        }
        line = eol + 1;
        if (packer_row(&pk, spans, nf, line > end ? view.len : line - data) < 0)
            failed = 1;
    }
    result = packer_finish(&pk, failed);
    PyMem_RawFree(scratch);
    PyMem_RawFree(spans);
    PyBuffer_Release(&view);
    return result;
}

/* ------------------------------------------------------------------------------------------ */
/* copy_out(conn, get_copy_data, freemem): the rest of a COPY TO STDOUT, read through libpq   */

typedef int (*pq_getcopydata_fn)(void *conn, char **buffer, int async);
typedef void (*pq_freemem_fn)(void *ptr);

/* Addresses given as ints (a PGconn*, libpq functions) into out[0..n): 0, or -1 with an
   exception set (not an int; ValueError for a null one, naming fname). */
static int
pointer_args(const char *fname, PyObject *const *a, Py_ssize_t n, void **out)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        if (!(out[i] = PyLong_AsVoidPtr(a[i]))) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError, "%s(): null connection or function", fname);
            return -1;
        }
    }
    return 0;
}

static PyObject *
py_copy_out(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"conn", "get_copy_data", "freemem", "max_rows",
                                        "max_bytes"};
    PyObject *a[5], *out;
    void *ptrs[3], *conn;
    pq_getcopydata_fn getcopy;
    pq_freemem_fn freemem;
    char *buf = NULL, *row;
    size_t len = 0, cap = 0, max_bytes = 0;
    Py_ssize_t max_rows, rows = 0, given;
    int r = 1, nomem = 0;

    (void)module;
    if (parse_args_opt("copy_out", names, 5, 4, args, nargs, kwnames, a) < 0)
        return NULL;
    if (pointer_args("copy_out", a, 3, ptrs) < 0)
        return NULL;
    conn = ptrs[0];
    getcopy = (pq_getcopydata_fn)ptrs[1];
    freemem = (pq_freemem_fn)ptrs[2];
    if ((max_rows = PyNumber_AsSsize_t(a[3], PyExc_OverflowError)) == -1 && PyErr_Occurred())
        return NULL;
    if (a[4] && a[4] != Py_None) {
        if ((given = PyNumber_AsSsize_t(a[4], PyExc_OverflowError)) == -1 && PyErr_Occurred())
            return NULL;
        max_bytes = given > 0 ? (size_t)given : 0;
    }
    Py_BEGIN_ALLOW_THREADS
    /* up to max_rows rows, and (max_bytes > 0) until the text holds max_bytes: at least one
       row, whatever its size */
    while ((max_rows <= 0 || rows < max_rows) && (max_bytes == 0 || len < max_bytes)) {
        r = getcopy(conn, &row, 0); /* blocking: one row (> 0), -1 done, -2 error */
        if (r <= 0)
            break;
        rows++;
        if (len + (size_t)r > cap) {
            size_t ncap = cap ? cap : 1 << 20;
            char *nb;
            while (ncap < len + (size_t)r)
                ncap *= 2;
            if (!(nb = realloc(buf, ncap))) {
                freemem(row);
                nomem = 1;
                /* read the rest, so the connection is left where the caller expects it */
                while ((r = getcopy(conn, &row, 0)) > 0)
                    freemem(row);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        memcpy(buf + len, row, (size_t)r);
        len += (size_t)r;
        freemem(row);
    }
    Py_END_ALLOW_THREADS
    if (nomem) {
        free(buf);
        return PyErr_NoMemory();
    }
    /* the status: 1 when a limit was reached (the COPY goes on), else PQgetCopyData's */
    out = Py_BuildValue("(y#i)", buf ? buf : "", (Py_ssize_t)len, r > 0 ? 1 : r);
    free(buf);
    return out;
}
/* ------------------------------------------------------------------------------------------ */
/* read_xlog(conn, get_copy_data, freemem, consume_input, max_msgs): replication messages     */

typedef int (*pq_consumeinput_fn)(void *conn);

static inline uint64_t
be64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static PyObject *
py_read_xlog(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"conn", "get_copy_data", "freemem", "consume_input",
                                        "max_msgs"};
    PyObject *a[5], *payloads = NULL, *starts = NULL, *other = NULL, *result = NULL;
    void *ptrs[4], *conn;
    pq_getcopydata_fn getcopy;
    pq_freemem_fn freemem;
    pq_consumeinput_fn consume;
    Py_ssize_t max_msgs, n = 0;
    int64_t *sp;
    uint64_t wal_end = 0;
    int r, status = 1, consumed = 0;
    char *msg;

    (void)module;
    if (parse_args("read_xlog", names, 5, args, nargs, kwnames, a) < 0)
        return NULL;
    if (pointer_args("read_xlog", a, 4, ptrs) < 0)
        return NULL;
    conn = ptrs[0];
    getcopy = (pq_getcopydata_fn)ptrs[1];
    freemem = (pq_freemem_fn)ptrs[2];
    consume = (pq_consumeinput_fn)ptrs[3];
    if ((max_msgs = PyNumber_AsSsize_t(a[4], PyExc_OverflowError)) == -1 && PyErr_Occurred())
        return NULL;
    if (max_msgs <= 0) {
        PyErr_SetString(PyExc_ValueError, "read_xlog(): max_msgs must be at least 1");
        return NULL;
    }
    if (max_msgs > 1 << 20)
        max_msgs = 1 << 20;
    if (!(payloads = PyList_New(0)) ||
        !(starts = PyBytes_FromStringAndSize(NULL, sizeof(int64_t) * max_msgs)))
        goto out;
    sp = (int64_t *)PyBytes_AS_STRING(starts);
    while (n < max_msgs) {
        PyObject *payload;
        r = getcopy(conn, &msg, 1); /* never blocks: 0 means nothing complete is buffered */
        if (r == 0) {
            /* once a call: take what the socket holds (libpq's sockets never block) */
            if (consumed++ || !consume(conn)) {
                status = 0;
                break;
            }
            continue;
        }
        if (r < 0) {
            status = r; /* -1 the server ended the COPY, -2 an error */
            break;
        }
        if (msg[0] != 'w' || r < 25) {
            /* a keepalive (or anything else): the caller's, after the messages before it */
            other = PyBytes_FromStringAndSize(msg, r);
            freemem(msg);
            if (!other)
                goto out;
            status = 2;
            break;
        }
        /* XLogData: 'w', wal_start, wal_end, send time (big-endian int64s), payload */
        {
            uint64_t end = be64((const uint8_t *)msg + 9);
            sp[n] = (int64_t)be64((const uint8_t *)msg + 1);
            if (end > wal_end)
                wal_end = end;
        }
        payload = PyBytes_FromStringAndSize(msg + 25, r - 25);
        freemem(msg);
        if (!payload || PyList_Append(payloads, payload) < 0) {
            Py_XDECREF(payload);
            goto out;
        }
        Py_DECREF(payload);
        n++;
    }
    if (_PyBytes_Resize(&starts, sizeof(int64_t) * n) < 0)
        goto out;
    result = Py_BuildValue("(OOKOi)", starts, payloads, (unsigned long long)wal_end,
                           other ? other : Py_None, status);
out:
    Py_XDECREF(payloads);
    Py_XDECREF(starts);
    Py_XDECREF(other);
    return result;
}

/* ------------------------------------------------------------------------------------------ */

static PyMethodDef RowCodec_methods[] = {
    {"values", FASTCALL_KW(RowCodec_values), METH_FASTCALL | METH_KEYWORDS,
     "values(values) -> (row, key or None) or None\n\n"
     "The struct (and key) JSON of a row given as its columns' text bytes."},
    {"tuple", FASTCALL_KW(RowCodec_tuple), METH_FASTCALL | METH_KEYWORDS,
     "tuple(buf, pos) -> (row or None, key or None, end)\n\n"
     "The struct and key JSON of the pgoutput TupleData at buf[pos:]."},
    {"change", FASTCALL_KW(RowCodec_change), METH_FASTCALL | METH_KEYWORDS,
     "change(buf, wrap, src, lsn, block, ts_ns) -> (value, key or None) or None\n\n"
     "A pgoutput Insert, Update or Delete message's event value and key (see rowcodec.py)."},
    {"copy_packed", FASTCALL_KW(RowCodec_copy_packed), METH_FASTCALL | METH_KEYWORDS,
     "copy_packed(data) -> (values, value_ends, keys, key_ends, line_ends, declined)\n\n"
     "Every row of COPY TO STDOUT text encoded into shared buffers (see rowcodec.py)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef RowCodec_members[] = {
    {"fields", T_OBJECT, offsetof(RowCodec, fields), READONLY, "the fields, as a tuple"},
    {"key", T_OBJECT, offsetof(RowCodec, key), READONLY, "the key positions, as a tuple"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject RowCodecType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "connectors.source.postgres._rowcodec.RowCodec",
    .tp_basicsize = sizeof(RowCodec),
    .tp_dealloc = (destructor)RowCodec_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "RowCodec(fields, key): rows to the JSON bytes of their Connect structs "
              "(C implementation of rowcodec.PyRowCodec).",
    .tp_traverse = (traverseproc)RowCodec_traverse,
    .tp_clear = (inquiry)RowCodec_clear,
    .tp_methods = RowCodec_methods,
    .tp_members = RowCodec_members,
    .tp_init = (initproc)RowCodec_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef module_methods[] = {
    {"copy_out", FASTCALL_KW(py_copy_out), METH_FASTCALL | METH_KEYWORDS,
     "copy_out(conn, get_copy_data, freemem, max_rows, max_bytes=0) -> (data, status)\n\n"
     "The next rows (up to max_rows; 0: all; and, with max_bytes, until the text holds\n"
     "max_bytes) of a COPY TO STDOUT on libpq connection conn (a PGconn*), read with the GIL\n"
     "released through libpq's PQgetCopyData and PQfreemem at the given addresses; status: 1\n"
     "a limit reached (more may follow), -1 done, -2 error (see PQgetResult)."},
    {"read_xlog", FASTCALL_KW(py_read_xlog), METH_FASTCALL | METH_KEYWORDS,
     "read_xlog(conn, get_copy_data, freemem, consume_input, max_msgs)\n"
     "    -> (starts, payloads, wal_end, other, status)\n\n"
     "Up to max_msgs XLogData messages of a replication COPY on libpq connection conn, as\n"
     "already buffered or in the socket (PQconsumeInput once; never blocks): their WAL starts\n"
     "(native int64s), payloads, and highest WAL end. It stops at any other message (other,\n"
     "status 2); status 1 max_msgs read, 0 nothing more buffered, -1/-2 PQgetCopyData's."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef rowcodec_module_def = {
    PyModuleDef_HEAD_INIT,
    "connectors.source.postgres._rowcodec",
    "C implementation of connectors.source.postgres.rowcodec.PyRowCodec.",
    -1,
    module_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};


PyMODINIT_FUNC
PyInit__rowcodec(void)
{
    return rowcodec_module(&rowcodec_module_def, &RowCodecType, "RowCodec",
                           "connectors.source.postgres.protocol.basics", "UNCHANGED_TOAST");
}
