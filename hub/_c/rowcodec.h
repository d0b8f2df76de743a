/* The row codec's core, shared by the CDC sources' C accelerators
 * (connectors/source/postgres/_rowcodec.c, connectors/source/mysql/_binlogcodec.c): a row's
 * values as text spans straight to the JSON bytes of its Connect struct and key, field by
 * field (a fast path per kind, the field's Python converter + orjson for anything else), the
 * growable output buffer, the RowCodec object's fields and their parsing. Each module includes
 * it once (everything is static), defines its own RowCodec type around these functions and
 * calls rowcodec_core_init() from its init. Include after Python.h, structmember.h and
 * fastcall.h. See connectors/source/postgres/rowcodec.py (the reference) for the kinds. */
#ifndef HUB_ROWCODEC_H
#define HUB_ROWCODEC_H

#include <stdint.h>
#include <string.h>
#include <time.h>

/* a module uses what it needs of these */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#define KIND_PY 0
#define KIND_INT 1
#define KIND_BOOL 2
#define KIND_STR 3
#define KIND_DECIMAL 4
#define KIND_TIMESTAMPTZ 5
#define KIND_TIMESTAMP 6
#define KIND_DATE 7
#define KIND_ZONED 8  /* 'YYYY-MM-DD HH:MM:SS[.f]' in UTC -> ZonedTimestamp; arg as TIMESTAMPTZ */
#define KIND_TIME 9   /* '[-]H+:MM:SS[.f]' -> MicroTime (arg 0) or millis (arg 1), floored */
#define KIND_BYTES 10 /* raw bytes -> base64 string */
#define KIND_LAST KIND_BYTES

/* Debezium's ±infinity markers for timestamps, epoch micros (types.TIMESTAMP_*_INFINITY) */
#define TS_POS_INF 9223372036825200000LL
#define TS_NEG_INF (-9223372036832400000LL)

static PyObject *orjson_dumps;    /* orjson.dumps */
static PyObject *json_default;    /* hub.runtime.converters.json_default */
static PyObject *unchanged_toast; /* pgoutput.UNCHANGED_TOAST */
static PyObject *default_kwnames; /* ("default",) */

/* ------------------------------------------------------------------------------------------ */
/* growable output buffer                                                                     */

#define STACK_BUF 8192 /* a streamed change with its schema (~3 kB) fits: no malloc a call */

/* copy_packed encodes with the GIL released (`ts` set) and takes it back only for what
   needs Python: a field's converter, an error to raise. */
typedef struct {
    PyThreadState *ts; /* the saved thread state while the GIL is released */
    int oom;           /* a MemoryError to raise once the GIL is back */
} gil_t;

static inline void
gil_take(gil_t *g)
{
    if (g && g->ts) {
        PyEval_RestoreThread(g->ts);
        g->ts = NULL;
    }
}

/* Raise MemoryError, now or (GIL released) once the GIL is back. */
static void
no_memory(gil_t *g)
{
    if (g && g->ts)
        g->oom = 1;
    else
        PyErr_NoMemory();
}

typedef struct {
    char *p;
    Py_ssize_t len;
    Py_ssize_t cap;
    gil_t *gil; /* NULL: the GIL is held */
    char stack[STACK_BUF];
} obuf;

static void
obuf_init(obuf *b)
{
    b->p = b->stack;
    b->len = 0;
    b->cap = STACK_BUF;
    b->gil = NULL;
}

static void
obuf_free(obuf *b)
{
    if (b->p != b->stack)
        PyMem_RawFree(b->p);
    b->p = b->stack;
}

static int
obuf_grow(obuf *b, Py_ssize_t extra)
{
    Py_ssize_t need = b->len + extra, cap = b->cap;
    char *np;

    if (extra > PY_SSIZE_T_MAX / 2 - b->len) {
        no_memory(b->gil);
        return -1;
    }
    while (cap < need)
        cap *= 2;
    if (b->p == b->stack) {
        np = PyMem_RawMalloc(cap);
        if (np)
            memcpy(np, b->p, b->len);
    }
    else
        np = PyMem_RawRealloc(b->p, cap);
    if (!np) {
        no_memory(b->gil);
        return -1;
    }
    b->p = np;
    b->cap = cap;
    return 0;
}

static inline int
obuf_reserve(obuf *b, Py_ssize_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    return obuf_grow(b, extra);
}

static inline int
obuf_put(obuf *b, const char *s, Py_ssize_t n)
{
    if (obuf_reserve(b, n) < 0)
        return -1;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* the type                                                                                   */

typedef struct {
    Py_ssize_t column;  /* index into the row's values (may be negative, as in Python) */
    int kind;
    long arg;
    PyObject *convert;  /* owned */
    PyObject *prefix;   /* bytes: orjson.dumps(name) + b":" */
} field_t;

typedef struct {
    PyObject_HEAD
    PyObject *fields; /* tuple of the fields as given */
    PyObject *key;    /* tuple of key positions as given */
    Py_ssize_t nfields;
    Py_ssize_t nkey;
    field_t *f;
    Py_ssize_t *keypos; /* normalized positions into f */
    Py_ssize_t max_column; /* largest column index */
} RowCodec;

static int
RowCodec_traverse(RowCodec *self, visitproc visit, void *arg)
{
    Py_ssize_t i;

    for (i = 0; self->f && i < self->nfields; i++)
        Py_VISIT(self->f[i].convert);
    Py_VISIT(self->fields);
    Py_VISIT(self->key);
    return 0;
}

static void
free_fields(RowCodec *self)
{
    Py_ssize_t i;

    if (self->f) {
        for (i = 0; i < self->nfields; i++) {
            Py_XDECREF(self->f[i].prefix);
            Py_XDECREF(self->f[i].convert);
        }
        PyMem_Free(self->f);
        self->f = NULL;
    }
    PyMem_Free(self->keypos);
    self->keypos = NULL;
    self->nfields = 0;
    self->nkey = 0;
}

static int
RowCodec_clear(RowCodec *self)
{
    free_fields(self);
    Py_CLEAR(self->fields);
    Py_CLEAR(self->key);
    return 0;
}

static void
RowCodec_dealloc(RowCodec *self)
{
    PyObject_GC_UnTrack(self);
    RowCodec_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
RowCodec_init(RowCodec *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fields", "key", NULL};
    PyObject *fields_arg, *key_arg, *fields = NULL, *key = NULL;
    field_t *f = NULL;
    Py_ssize_t *keypos = NULL;
    Py_ssize_t n, nk, i, max_column = PY_SSIZE_T_MIN;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:RowCodec", kwlist, &fields_arg, &key_arg))
        return -1;
    if (self->fields) {
        /* a converter could re-initialize the codec in the middle of a row */
        PyErr_SetString(PyExc_TypeError, "RowCodec is already initialized");
        return -1;
    }
    if (!(fields = PySequence_Tuple(fields_arg)))
        return -1;
    if (!(key = PySequence_Tuple(key_arg)))
        goto fail;
    n = PyTuple_GET_SIZE(fields);
    nk = PyTuple_GET_SIZE(key);
    f = PyMem_Calloc(n ? n : 1, sizeof(field_t));
    keypos = PyMem_Calloc(nk ? nk : 1, sizeof(Py_ssize_t));
    if (!f || !keypos) {
        PyErr_NoMemory();
        goto fail;
    }
    for (i = 0; i < n; i++) {
        PyObject *item, *enc;
        long kind;

        /* any sequence of five: read from a tuple of its own */
        if (!(item = PySequence_Tuple(PyTuple_GET_ITEM(fields, i))))
            goto fail;
        if (PyTuple_GET_SIZE(item) != 5) {
            Py_DECREF(item);
            PyErr_SetString(PyExc_TypeError,
                            "a field is (column index, name, kind, arg, convert)");
            goto fail;
        }
        f[i].convert = PyTuple_GET_ITEM(item, 4);
        Py_INCREF(f[i].convert);
        f[i].column = PyNumber_AsSsize_t(PyTuple_GET_ITEM(item, 0), PyExc_IndexError);
        if (f[i].column == -1 && PyErr_Occurred())
            goto fail_item;
        if (f[i].column > max_column)
            max_column = f[i].column;
        kind = PyLong_AsLong(PyTuple_GET_ITEM(item, 2));
        if (kind == -1 && PyErr_Occurred())
            goto fail_item;
        f[i].kind = (kind >= KIND_PY && kind <= KIND_LAST) ? (int)kind : KIND_PY;
        f[i].arg = PyLong_AsLong(PyTuple_GET_ITEM(item, 3));
        if (f[i].arg == -1 && PyErr_Occurred())
            goto fail_item;
        enc = PyObject_CallOneArg(orjson_dumps, PyTuple_GET_ITEM(item, 1));
        if (!enc)
            goto fail_item;
        if (!PyBytes_Check(enc)) {
            Py_DECREF(enc);
            PyErr_SetString(PyExc_TypeError, "orjson.dumps gave no bytes");
            goto fail_item;
        }
        f[i].prefix = PyBytes_FromStringAndSize(NULL, PyBytes_GET_SIZE(enc) + 1);
        if (!f[i].prefix) {
            Py_DECREF(enc);
            goto fail_item;
        }
        memcpy(PyBytes_AS_STRING(f[i].prefix), PyBytes_AS_STRING(enc), PyBytes_GET_SIZE(enc));
        PyBytes_AS_STRING(f[i].prefix)[PyBytes_GET_SIZE(enc)] = ':';
        Py_DECREF(enc);
        Py_DECREF(item);
        continue;
    fail_item:
        Py_DECREF(item);
        goto fail;
    }
    for (i = 0; i < nk; i++) {
        Py_ssize_t k = PyNumber_AsSsize_t(PyTuple_GET_ITEM(key, i), PyExc_IndexError);
        if (k == -1 && PyErr_Occurred())
            goto fail;
        if (k < 0)
            k += n;
        if (k < 0 || k >= n) {
            PyErr_SetString(PyExc_IndexError, "key position outside the fields");
            goto fail;
        }
        keypos[i] = k;
    }
    self->fields = fields;
    self->key = key;
    self->f = f;
    self->keypos = keypos;
    self->nfields = n;
    self->nkey = nk;
    self->max_column = max_column;
    return 0;

fail:
    if (f) {
        for (i = 0; i < n; i++) {
            Py_XDECREF(f[i].prefix);
            Py_XDECREF(f[i].convert);
        }
        PyMem_Free(f);
    }
    PyMem_Free(keypos);
    Py_XDECREF(fields);
    Py_XDECREF(key);
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* fast paths: each returns 1 when it wrote the value, 0 when the text is not its simple form
   (nothing written), -1 on a memory error                                                    */

static inline int
is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static inline int
all_digits(const uint8_t *p, Py_ssize_t n)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++)
        if (!is_digit(p[i]))
            return 0;
    return 1;
}

static inline int
num2(const uint8_t *p)
{
    return (p[0] - '0') * 10 + (p[1] - '0');
}

static inline int
num4(const uint8_t *p)
{
    return num2(p) * 100 + num2(p + 2);
}

static int
put_int64(obuf *b, int64_t v)
{
    char tmp[24];
    int i = 24;
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        tmp[--i] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    if (v < 0)
        tmp[--i] = '-';
    return obuf_put(b, tmp + i, 24 - i);
}

/* int2/int4/int8/oid: a canonical integer orjson writes the same (within its 64-bit range) */
static int
fast_int(obuf *b, const uint8_t *p, Py_ssize_t n)
{
    Py_ssize_t i = 0, nd;

    if (n > 0 && p[0] == '-')
        i = 1;
    nd = n - i;
    if (nd < 1 || nd > 19 || !all_digits(p + i, nd))
        return 0;
    if (p[i] == '0' && (nd > 1 || i))  /* leading zero, or "-0" */
        return 0;
    if (i && nd == 19 && memcmp(p + 1, "9223372036854775808", 19) > 0)
        return 0;  /* below -2**63: orjson refuses it, let the slow path see that */
    if (obuf_put(b, (const char *)p, n) < 0)
        return -1;
    return 1;
}

/* how orjson writes each ASCII byte inside a string: 0 as is, else the escape's second char
   ('u' for \u00XX) */
static char str_escape[128];

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* No byte of w needs a JSON escape: none below 0x20, no '"', no '\\' (bytes from 0x80 on
   are copied as they are). Exact as a yes/no (the classic has-zero/has-less tricks). */
static inline int
word_plain(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"'), bs = w ^ (ONES * '\\');
    uint64_t t = ((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) | ((bs - ONES) & ~bs);
    return (t & HIGHS) == 0;
}

static int
fast_str(obuf *b, const uint8_t *p, Py_ssize_t n)
{
    static const char hex[] = "0123456789abcdef";
    Py_ssize_t i = 0, start;
    char *o;

    /* validate first (strict UTF-8, as bytes.decode), so nothing is written for bad input */
    while (i < n) {
        uint8_t c;
        uint64_t w;
        if (i + 8 <= n) { /* 8 ASCII bytes at a time */
            memcpy(&w, p + i, 8);
            if (!(w & HIGHS)) {
                i += 8;
                continue;
            }
        }
        c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (p[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            uint8_t lo = 0x80, hi = 0xBF;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
            if (i + 2 >= n || p[i + 1] < lo || p[i + 1] > hi || (p[i + 2] & 0xC0) != 0x80)
                return 0;
            i += 3;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            uint8_t lo = 0x80, hi = 0xBF;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
            if (i + 3 >= n || p[i + 1] < lo || p[i + 1] > hi || (p[i + 2] & 0xC0) != 0x80 ||
                (p[i + 3] & 0xC0) != 0x80)
                return 0;
            i += 4;
        }
        else
            return 0;
    }
    if (n > (PY_SSIZE_T_MAX - 2) / 6) {
        no_memory(b->gil);
        return -1;
    }
    if (obuf_reserve(b, 6 * n + 2) < 0)
        return -1;
    o = b->p + b->len;
    *o++ = '"';
    i = 0;
    while (i < n) {
        start = i;
        for (;;) { /* 8 bytes at a time while none needs escaping, then byte by byte */
            Py_ssize_t lim;
            uint64_t w;
            while (i + 8 <= n) {
                memcpy(&w, p + i, 8);
                if (!word_plain(w))
                    break;
                i += 8;
            }
            lim = i + 8 < n ? i + 8 : n;
            while (i < lim && (p[i] >= 0x80 || !str_escape[p[i]]))
                i++;
            if (i < lim || i >= n)
                break;
        }
        memcpy(o, p + start, i - start);
        o += i - start;
        if (i < n) {
            uint8_t c = p[i++];
            char e = str_escape[c];
            *o++ = '\\';
            *o++ = e;
            if (e == 'u') {
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
        }
    }
    *o++ = '"';
    b->len = o - b->p;
    return 1;
}

/* bytes p[:n] as a JSON string of their standard base64 (as json_default) */
static int
put_base64(obuf *b, const uint8_t *p, Py_ssize_t n)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Py_ssize_t k;
    char *o;

    if (n > (PY_SSIZE_T_MAX - 8) / 4 * 3) {
        no_memory(b->gil);
        return -1;
    }
    if (obuf_reserve(b, 2 + 4 * ((n + 2) / 3)) < 0)
        return -1;
    o = b->p + b->len;
    *o++ = '"';
    for (k = 0; k + 2 < n; k += 3) {
        uint32_t t = (uint32_t)p[k] << 16 | (uint32_t)p[k + 1] << 8 | p[k + 2];
        *o++ = b64[t >> 18];
        *o++ = b64[(t >> 12) & 63];
        *o++ = b64[(t >> 6) & 63];
        *o++ = b64[t & 63];
    }
    if (n - k == 1) {
        uint32_t t = (uint32_t)p[k] << 16;
        *o++ = b64[t >> 18];
        *o++ = b64[(t >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    }
    else if (n - k == 2) {
        uint32_t t = (uint32_t)p[k] << 16 | (uint32_t)p[k + 1] << 8;
        *o++ = b64[t >> 18];
        *o++ = b64[(t >> 12) & 63];
        *o++ = b64[(t >> 6) & 63];
        *o++ = '=';
    }
    *o++ = '"';
    b->len = o - b->p;
    return 1;
}

typedef __int128 i128;
typedef unsigned __int128 u128;

/* numeric(p, s) precise: base64 of the unscaled value's minimal two's complement */
static int
fast_decimal(obuf *b, const uint8_t *p, Py_ssize_t n, long scale)
{
    Py_ssize_t i = 0, ni, nf = 0, dot = -1;
    u128 mag = 0;
    i128 v;
    uint8_t bytes[17];
    int nbytes, bits, k;

    if (scale < 0)
        return 0;
    if (n > 0 && p[0] == '-')
        i = 1;
    for (ni = 0; i + ni < n && is_digit(p[i + ni]); ni++)
        ;
    if (ni == 0)
        return 0;
    if (i + ni < n) {
        if (p[i + ni] != '.')
            return 0;
        dot = i + ni;
        nf = n - dot - 1;
        if (nf == 0 || !all_digits(p + dot + 1, nf))
            return 0;
    }
    if (nf > scale || ni + scale > 38)
        return 0;
    for (k = 0; k < ni; k++)
        mag = mag * 10 + (p[i + k] - '0');
    for (k = 0; k < nf; k++)
        mag = mag * 10 + (p[dot + 1 + k] - '0');
    for (k = (int)nf; k < scale; k++)
        mag *= 10;
    /* mag < 10**38 < 2**127 */
    v = i ? -(i128)mag : (i128)mag;
    {
        u128 m = v < 0 ? (u128)~v : (u128)v;
        bits = 0;
        while (m) {
            bits++;
            m >>= 1;
        }
    }
    nbytes = bits / 8 + 1;
    for (k = 0; k < nbytes; k++)
        bytes[nbytes - 1 - k] = (uint8_t)((u128)v >> (8 * k));
    return put_base64(b, bytes, nbytes);
}

/* "YYYY-MM-DD HH:MM:SS" (ASCII digits where digits go) */
static inline int
datetime_shape(const uint8_t *p)
{
    return all_digits(p, 4) && p[4] == '-' && all_digits(p + 5, 2) && p[7] == '-' &&
           all_digits(p + 8, 2) && p[10] == ' ' && all_digits(p + 11, 2) && p[13] == ':' &&
           all_digits(p + 14, 2) && p[16] == ':' && all_digits(p + 17, 2);
}

/* A ZonedTimestamp string from a checked 'YYYY-MM-DD HH:MM:SS' at p and its nf fraction
   digits at p + 20: the fraction padded or cut to width digits (1-9), or without its trailing
   zeros (width <= 0). */
static int
put_zoned(obuf *b, const uint8_t *p, Py_ssize_t nf, long width)
{
    char *o;
    int k;

    if (obuf_reserve(b, 32) < 0)
        return -1;
    o = b->p + b->len;
    *o++ = '"';
    memcpy(o, p, 10);
    o[10] = 'T';
    memcpy(o + 11, p + 11, 8);
    o += 19;
    if (width > 0 && width <= 9) {
        *o++ = '.';
        for (k = 0; k < width; k++)
            *o++ = k < nf ? (char)p[20 + k] : '0';
    }
    else {
        while (nf > 0 && p[20 + nf - 1] == '0')
            nf--;
        if (nf) {
            *o++ = '.';
            memcpy(o, p + 20, nf);
            o += nf;
        }
    }
    *o++ = 'Z';
    *o++ = '"';
    b->len = o - b->p;
    return 1;
}

/* timestamptz printed in UTC: 'YYYY-MM-DD HH:MM:SS[.f{1,6}]+00' reshuffled, as
   _timestamptz_value's first branch (no range checks there either) */
static int
fast_timestamptz(obuf *b, const uint8_t *p, Py_ssize_t n, long width)
{
    Py_ssize_t nf = 0;

    if (n < 22 || n > 29 || !datetime_shape(p))
        return 0;
    if (p[n - 3] != '+' || p[n - 2] != '0' || p[n - 1] != '0')
        return 0;
    if (n > 22) {
        nf = n - 23;
        if (p[19] != '.' || nf < 1 || !all_digits(p + 20, nf))
            return 0;
    }
    return put_zoned(b, p, nf, width);
}

static inline int
leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* days since 1970-01-01 of a valid date with year >= 1, else 0 with *ok = 0 */
static int64_t
civil_days(const uint8_t *p, int *ok)
{
    static const int dim[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t y = num4(p), era, yoe, doy, doe;
    int m = num2(p + 5), d = num2(p + 8);

    *ok = 0;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > dim[m] + (m == 2 && leap((int)y)))
        return 0;
    *ok = 1;
    y -= m <= 2;
    era = y / 400; /* y >= 0 */
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
fast_date(obuf *b, const uint8_t *p, Py_ssize_t n)
{
    int ok;
    int64_t days;

    if (n != 10 || !all_digits(p, 4) || p[4] != '-' || !all_digits(p + 5, 2) || p[7] != '-' ||
        !all_digits(p + 8, 2))
        return 0;
    days = civil_days(p, &ok);
    if (!ok)
        return 0;
    return put_int64(b, days) < 0 ? -1 : 1;
}

static int
fast_timestamp(obuf *b, const uint8_t *p, Py_ssize_t n, long millis)
{
    int ok, h, mi, s, k;
    Py_ssize_t nf = 0;
    int64_t days, micros, frac = 0;

    if (n < 19 || n > 26 || !datetime_shape(p))
        return 0;
    if (n > 19) {
        nf = n - 20;
        if (p[19] != '.' || nf < 1 || !all_digits(p + 20, nf))
            return 0;
    }
    h = num2(p + 11);
    mi = num2(p + 14);
    s = num2(p + 17);
    if (h > 23 || mi > 59 || s > 59)
        return 0;
    days = civil_days(p, &ok);
    if (!ok)
        return 0;
    for (k = 0; k < 6; k++)
        frac = frac * 10 + (k < nf ? p[20 + k] - '0' : 0);
    micros = days * 86400000000LL + ((int64_t)(h * 60 + mi) * 60 + s) * 1000000 + frac;
    if (millis) {
        int64_t q = micros / 1000;
        if (micros % 1000 < 0)
            q--;
        micros = q;
    }
    /* a real value equal to Debezium's ±infinity marker is refused by the converter (years
       1..9999 never are one: this keeps the two paths equal whatever the range above) */
    if (micros == (millis ? TS_POS_INF / 1000 : TS_POS_INF) ||
        micros == (millis ? TS_NEG_INF / 1000 : TS_NEG_INF))
        return 0;
    return put_int64(b, micros) < 0 ? -1 : 1;
}

/* a timestamp printed in UTC without a zone ('YYYY-MM-DD HH:MM:SS[.f{1,6}]', as MySQL's
   TIMESTAMP in a UTC session) -> ZonedTimestamp, as fast_timestamptz; a date the calendar
   cannot hold (MySQL's zero dates) is the converter's */
static int
fast_zoned(obuf *b, const uint8_t *p, Py_ssize_t n, long width)
{
    Py_ssize_t nf = 0;
    int ok;

    if (n < 19 || n > 26 || !datetime_shape(p))
        return 0;
    if (n > 19) {
        nf = n - 20;
        if (p[19] != '.' || nf < 1 || !all_digits(p + 20, nf))
            return 0;
    }
    civil_days(p, &ok);
    if (!ok || num2(p + 11) > 23 || num2(p + 14) > 59 || num2(p + 17) > 59)
        return 0;
    return put_zoned(b, p, nf, width);
}

/* a time of day or duration '[-]H+:MM:SS[.f{1,6}]' (MySQL's TIME, -838:59:59 to 838:59:59)
   -> micros, or millis floored (arg 1) */
static int
fast_time(obuf *b, const uint8_t *p, Py_ssize_t n, long millis)
{
    Py_ssize_t i = 0, nh = 0, nf = 0, at;
    int64_t h = 0, micros, frac = 0;
    int k;

    if (n > 0 && p[0] == '-')
        i = 1;
    while (i + nh < n && is_digit(p[i + nh]))
        nh++;
    if (nh < 1 || nh > 6)
        return 0;
    at = i + nh;
    if (n - at < 6 || p[at] != ':' || !all_digits(p + at + 1, 2) || p[at + 3] != ':' ||
        !all_digits(p + at + 4, 2))
        return 0;
    if (n - at > 6) {
        nf = n - at - 7;
        if (p[at + 6] != '.' || nf < 1 || nf > 6 || !all_digits(p + at + 7, nf))
            return 0;
    }
    if (num2(p + at + 1) > 59 || num2(p + at + 4) > 59)
        return 0;
    for (k = 0; k < nh; k++)
        h = h * 10 + (p[i + k] - '0');
    for (k = 0; k < 6; k++)
        frac = frac * 10 + (k < nf ? p[at + 7 + k] - '0' : 0);
    micros = ((h * 60 + num2(p + at + 1)) * 60 + num2(p + at + 4)) * 1000000 + frac;
    if (i)
        micros = -micros;
    if (millis) {
        int64_t q = micros / 1000;
        if (micros % 1000 < 0)
            q--;
        micros = q;
    }
    return put_int64(b, micros) < 0 ? -1 : 1;
}

/* ------------------------------------------------------------------------------------------ */
/* one field                                                                                  */

/* The slow path: prefix + orjson.dumps(convert(raw), default=json_default). raw_obj is the bytes
   to pass (borrowed) or NULL to make one of p[:n]. 1 written, 0 the row is None (TypeError),
   -1 error. */
static int
slow_field(obuf *b, field_t *f, const uint8_t *p, Py_ssize_t n, PyObject *raw_obj)
{
    PyObject *raw, *val, *enc, *args[2];
    int r;

    if (raw_obj) {
        raw = raw_obj;
        Py_INCREF(raw);
    }
    else if (!(raw = PyBytes_FromStringAndSize((const char *)p, n)))
        return -1;
    val = PyObject_CallOneArg(f->convert, raw);
    Py_DECREF(raw);
    if (!val)
        goto error;
    args[0] = val;
    args[1] = json_default;
    enc = PyObject_Vectorcall(orjson_dumps, args, 1, default_kwnames);
    Py_DECREF(val);
    if (!enc)
        goto error;
    if (!PyBytes_Check(enc)) {
        Py_DECREF(enc);
        PyErr_SetString(PyExc_TypeError, "orjson.dumps gave no bytes");
        return -1;
    }
    r = obuf_put(b, PyBytes_AS_STRING(f->prefix), PyBytes_GET_SIZE(f->prefix));
    if (r == 0)
        r = obuf_put(b, PyBytes_AS_STRING(enc), PyBytes_GET_SIZE(enc));
    Py_DECREF(enc);
    return r < 0 ? -1 : 1;

error:
    if (PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* Field f of value p[:n] (p NULL: SQL NULL): 1 written, 0 row is None, -1 error. */
static int
encode_field(obuf *b, field_t *f, const uint8_t *p, Py_ssize_t n, PyObject *raw_obj)
{
    Py_ssize_t mark = b->len;
    int r;

    if (obuf_put(b, PyBytes_AS_STRING(f->prefix), PyBytes_GET_SIZE(f->prefix)) < 0)
        return -1;
    if (!p)
        return obuf_put(b, "null", 4) < 0 ? -1 : 1;
    switch (f->kind) {
    case KIND_INT:
        r = fast_int(b, p, n);
        break;
    case KIND_BOOL:
        if ((n == 1 && p[0] == 't') || (n == 4 && memcmp(p, "true", 4) == 0))
            r = obuf_put(b, "true", 4) < 0 ? -1 : 1;
        else
            r = obuf_put(b, "false", 5) < 0 ? -1 : 1;
        break;
    case KIND_STR:
        r = fast_str(b, p, n);
        break;
    case KIND_DECIMAL:
        r = fast_decimal(b, p, n, f->arg);
        break;
    case KIND_TIMESTAMPTZ:
        r = fast_timestamptz(b, p, n, f->arg);
        break;
    case KIND_TIMESTAMP:
        r = fast_timestamp(b, p, n, f->arg);
        break;
    case KIND_DATE:
        r = fast_date(b, p, n);
        break;
    case KIND_ZONED:
        r = fast_zoned(b, p, n, f->arg);
        break;
    case KIND_TIME:
        r = fast_time(b, p, n, f->arg);
        break;
    case KIND_BYTES:
        r = put_base64(b, p, n);
        break;
    default:
        r = 0;
    }
    if (r != 0)
        return r;
    b->len = mark;
    if (b->gil && b->gil->ts) { /* the converter is Python: with the GIL, then without */
        gil_t *g = b->gil;
        gil_take(g);
        b->gil = NULL;
        r = slow_field(b, f, p, n, raw_obj);
        b->gil = g;
        g->ts = PyEval_SaveThread();
        return r;
    }
    return slow_field(b, f, p, n, raw_obj);
}

/* ------------------------------------------------------------------------------------------ */
/* a row: the values as spans                                                                 */

#define V_NULL 0
#define V_TEXT 1
#define V_TOAST 2
#define V_OBJ 3 /* some other object: bytes(obj) decides */

typedef struct {
    const uint8_t *p;
    Py_ssize_t n;
    PyObject *obj; /* borrowed: the exact bytes object of p, or the V_OBJ object */
    int kind;
} span;

#define STACK_SPANS 64
#define STACK_MARKS 64

/* Append the struct of a row whose values are spans[0:nspans] to b: 1 written, 0 the row is
   None (b may hold part of it: the caller resets b->len), -1 error. marks (2 * nfields, or
   NULL without a key) gets each field's [start, end) in b. */
static int
encode_struct(RowCodec *self, obuf *b, span *spans, Py_ssize_t nspans, Py_ssize_t *marks)
{
    Py_ssize_t i;
    int r;

    if (obuf_put(b, "{", 1) < 0)
        return -1;
    for (i = 0; i < self->nfields; i++) {
        field_t *f = &self->f[i];
        Py_ssize_t c = f->column;
        span *s;

        if (c < 0)
            c += nspans;
        if (c < 0 || c >= nspans) {
            gil_take(b->gil);
            PyErr_SetString(PyExc_IndexError, "list index out of range");
            return -1;
        }
        s = &spans[c];
        if (i && obuf_put(b, ",", 1) < 0)
            return -1;
        if (marks)
            marks[2 * i] = b->len;
        if (s->kind == V_TOAST)
            return 0;
        if (s->kind == V_OBJ && PyMemoryView_Check(s->obj)) {
            /* read a contiguous memoryview in place; anything else goes through bytes() */
            Py_buffer view;
            if (PyObject_GetBuffer(s->obj, &view, PyBUF_SIMPLE) == 0) {
                r = encode_field(b, f, (const uint8_t *)view.buf, view.len, NULL);
                PyBuffer_Release(&view);
                goto field_done;
            }
            PyErr_Clear();
        }
        if (s->kind == V_OBJ) {
            /* bytes(raw), inside the reference's try: a TypeError makes the row None */
            PyObject *bytes = PyObject_CallOneArg((PyObject *)&PyBytes_Type, s->obj);
            if (!bytes) {
                if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                    PyErr_Clear();
                    return 0;
                }
                return -1;
            }
            r = encode_field(b, f, (const uint8_t *)PyBytes_AS_STRING(bytes),
                             PyBytes_GET_SIZE(bytes), bytes);
            Py_DECREF(bytes);
        }
        else
            r = encode_field(b, f, s->kind == V_NULL ? NULL : s->p, s->n, s->obj);
    field_done:
        if (r != 1)
            return r;
        if (marks)
            marks[2 * i + 1] = b->len;
    }
    return obuf_put(b, "}", 1) < 0 ? -1 : 1;
}

/* The key's length: its fields' JSON (as marked in a struct) in braces. */
static Py_ssize_t
key_size(RowCodec *self, const Py_ssize_t *marks)
{
    Py_ssize_t i, klen = 1 + self->nkey;
    for (i = 0; i < self->nkey; i++)
        klen += marks[2 * self->keypos[i] + 1] - marks[2 * self->keypos[i]];
    return klen;
}

/* Write the key (key_size bytes) from the struct at src, whose fields marks holds. */
static void
key_write(RowCodec *self, const char *src, const Py_ssize_t *marks, char *o)
{
    Py_ssize_t i;
    *o++ = '{';
    for (i = 0; i < self->nkey; i++) {
        Py_ssize_t k = self->keypos[i], len = marks[2 * k + 1] - marks[2 * k];
        if (i)
            *o++ = ',';
        memcpy(o, src + marks[2 * k], len);
        o += len;
    }
    *o = '}';
}

/* marks for a codec's fields: the caller's stack array when it is big enough. */
static Py_ssize_t *
marks_for(RowCodec *self, Py_ssize_t *stack)
{
    Py_ssize_t *m;
    if (!self->nkey)
        return NULL;
    if (self->nfields <= STACK_MARKS)
        return stack;
    if (!(m = PyMem_Malloc(sizeof(Py_ssize_t) * 2 * self->nfields)))
        PyErr_NoMemory();
    return m;
}

/* Encode a row whose values are spans[0:nspans]: 1 with *row (and *key, or None) set, 0 when
   the row is None, -1 error. */
static int
encode_row(RowCodec *self, obuf *b, span *spans, Py_ssize_t nspans, PyObject **row,
           PyObject **key)
{
    Py_ssize_t marks_stack[2 * STACK_MARKS], *marks;
    int r;

    *row = *key = NULL;
    b->len = 0;
    marks = marks_for(self, marks_stack);
    if (self->nkey && !marks)
        return -1;
    r = encode_struct(self, b, spans, nspans, marks);
    if (r != 1)
        goto done;
    r = -1;
    if (!(*row = PyBytes_FromStringAndSize(b->p, b->len)))
        goto done;
    if (self->nkey) {
        if (!(*key = PyBytes_FromStringAndSize(NULL, key_size(self, marks)))) {
            Py_CLEAR(*row);
            goto done;
        }
        key_write(self, b->p, marks, PyBytes_AS_STRING(*key));
    }
    else {
        *key = Py_None;
        Py_INCREF(Py_None);
    }
    r = 1;
done:
    if (marks != marks_stack)
        PyMem_Free(marks);
    return r;
}

static PyObject *
row_result(int r, PyObject *row, PyObject *key)
{
    PyObject *t;

    if (r < 0)
        return NULL;
    if (r == 0)
        Py_RETURN_NONE;
    t = PyTuple_New(2);
    if (!t) {
        Py_DECREF(row);
        Py_DECREF(key);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, row);
    PyTuple_SET_ITEM(t, 1, key);
    return t;
}

/* ------------------------------------------------------------------------------------------ */
/* .values(seq)                                                                               */

static void
span_of(PyObject *v, span *s)
{
    s->obj = v;
    if (v == Py_None) {
        s->kind = V_NULL;
        s->p = NULL;
        s->n = 0;
    }
    else if (v == unchanged_toast)
        s->kind = V_TOAST;
    else if (PyBytes_CheckExact(v)) {
        s->kind = V_TEXT;
        s->p = (const uint8_t *)PyBytes_AS_STRING(v);
        s->n = PyBytes_GET_SIZE(v);
    }
    else
        s->kind = V_OBJ;
}

/* v in decimal at o (up to 20 digits); the length. */
static Py_ssize_t
u64_digits(uint64_t v, char *o)
{
    char tmp[20];
    Py_ssize_t n = 0, len = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        o[len++] = tmp[--n];
    return len;
}

static int
put_bytes(obuf *b, PyObject *o)
{
    return obuf_put(b, PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o));
}

#define PUT_LIT(b, s) obuf_put((b), (s), (Py_ssize_t)(sizeof(s) - 1))

static int
put_end(obuf *b, int64_t v)
{
    return obuf_put(b, (const char *)&v, sizeof(v));
}

static PyObject *
import_attr(const char *module, const char *name)
{
    PyObject *m = PyImport_ImportModule(module), *a;
    if (!m)
        return NULL;
    a = PyObject_GetAttrString(m, name);
    Py_DECREF(m);
    return a;
}

/* ------------------------------------------------------------------------------------------ */
/* packed rows: a bulk read's rows encoded into shared buffers                                */

static PyObject *
span_object(span *s)
{
    if (s->kind == V_NULL)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize((const char *)s->p, s->n);
}

/* The state of one bulk call (copy_packed, text_packed): the rows' structs and keys in shared
   buffers with their ends (native int64s), each row's end in the input, the declined rows as
   (row, [values]). A codec without Python kinds runs with the GIL released (g). */
typedef struct {
    RowCodec *rc;
    obuf vals, keys, vends, kends, ends;
    PyObject *declined;
    Py_ssize_t marks_stack[2 * STACK_MARKS], *marks;
    gil_t g;
    int release;
    Py_ssize_t row;
} packer_t;

/* Before any row, with the GIL: 0, or -1 with an exception set (packer_finish still frees). */
static int
packer_init(packer_t *pk, RowCodec *rc, Py_ssize_t hint)
{
    Py_ssize_t i;

    pk->rc = rc;
    pk->row = 0;
    pk->g.ts = NULL;
    pk->g.oom = 0;
    obuf_init(&pk->vals);
    obuf_init(&pk->keys);
    obuf_init(&pk->vends);
    obuf_init(&pk->kends);
    obuf_init(&pk->ends);
    pk->declined = NULL;
    pk->marks = pk->marks_stack;
    pk->release = 0;
    if (!(pk->marks = marks_for(rc, pk->marks_stack)) && rc->nkey)
        return -1;
    if (!(pk->declined = PyList_New(0)))
        return -1;
    /* room for a typical chunk up front: fewer regrowths of big buffers */
    if (obuf_reserve(&pk->vals, hint * 2 + 64) < 0)
        return -1;
    /* a table of fast kinds only encodes without the GIL (a reader thread and the log's
       writer go on meanwhile); a field's text the fast form does not cover still takes it
       back for its converter. With Python kinds, every row would: keep it. */
    pk->release = 1;
    for (i = 0; i < rc->nfields; i++)
        if (rc->f[i].kind == KIND_PY)
            pk->release = 0;
    if (pk->release) {
        pk->vals.gil = pk->keys.gil = pk->vends.gil = pk->kends.gil = pk->ends.gil = &pk->g;
        pk->g.ts = PyEval_SaveThread();
    }
    return 0;
}

/* One row of nf values that ends at input position end: 0, or -1 (an exception to raise once
   the GIL is back, see packer_finish). */
static int
packer_row(packer_t *pk, span *spans, Py_ssize_t nf, Py_ssize_t end)
{
    RowCodec *rc = pk->rc;
    Py_ssize_t start = pk->vals.len, i;
    int r = encode_struct(rc, &pk->vals, spans, nf, pk->marks);

    if (r < 0)
        return -1;
    if (r == 0) {
        /* declined: (row, its values) for the caller; no bytes here */
        PyObject *v, *item;
        int ok = 0;
        pk->vals.len = start;
        gil_take(&pk->g);
        if ((v = PyList_New(nf))) {
            ok = 1;
            for (i = 0; i < nf && ok; i++) {
                PyObject *o = span_object(&spans[i]);
                if (!o)
                    ok = 0;
                else
                    PyList_SET_ITEM(v, i, o);
            }
            item = ok ? Py_BuildValue("(nO)", pk->row, v) : NULL;
            Py_DECREF(v);
            ok = item && PyList_Append(pk->declined, item) == 0;
            Py_XDECREF(item);
        }
        if (!ok)
            return -1;
        if (pk->release)
            pk->g.ts = PyEval_SaveThread();
    }
    else if (rc->nkey) {
        Py_ssize_t kl = key_size(rc, pk->marks);
        if (obuf_reserve(&pk->keys, kl) < 0)
            return -1;
        key_write(rc, pk->vals.p, pk->marks, pk->keys.p + pk->keys.len);
        pk->keys.len += kl;
    }
    if (put_end(&pk->vends, pk->vals.len) < 0 ||
        (rc->nkey && put_end(&pk->kends, pk->keys.len) < 0) || put_end(&pk->ends, end) < 0)
        return -1;
    pk->row++;
    return 0;
}

/* The GIL back, the buffers freed: (values, value ends, keys or None, key ends or None, row
   ends, declined), or NULL with the exception (failed: a packer_init/packer_row error). */
static PyObject *
packer_finish(packer_t *pk, int failed)
{
    PyObject *result = NULL;

    gil_take(&pk->g);
    if (failed) {
        if (pk->g.oom || !PyErr_Occurred())
            PyErr_NoMemory();
    }
    else if (pk->rc->nkey)
        result = Py_BuildValue("(y#y#y#y#y#O)", pk->vals.p, pk->vals.len, pk->vends.p,
                               pk->vends.len, pk->keys.p, pk->keys.len, pk->kends.p,
                               pk->kends.len, pk->ends.p, pk->ends.len, pk->declined);
    else
        result = Py_BuildValue("(y#y#OOy#O)", pk->vals.p, pk->vals.len, pk->vends.p,
                               pk->vends.len, Py_None, Py_None, pk->ends.p, pk->ends.len,
                               pk->declined);
    if (pk->marks && pk->marks != pk->marks_stack)
        PyMem_Free(pk->marks);
    Py_XDECREF(pk->declined);
    obuf_free(&pk->vals);
    obuf_free(&pk->keys);
    obuf_free(&pk->vends);
    obuf_free(&pk->kends);
    obuf_free(&pk->ends);
    return result;
}

/* The module-level objects the core calls, and the escape table: 0, or -1 with an exception
   set. toast_module/toast_name: the unchanged-TOAST placeholder (PostgreSQL), or NULL for a
   source without one (then no value is ever taken for it). */
static int
rowcodec_core_init(const char *toast_module, const char *toast_name)
{
    int c;

    for (c = 0; c < 32; c++)
        str_escape[c] = 'u';
    str_escape['\b'] = 'b';
    str_escape['\t'] = 't';
    str_escape['\n'] = 'n';
    str_escape['\f'] = 'f';
    str_escape['\r'] = 'r';
    str_escape['"'] = '"';
    str_escape['\\'] = '\\';
    if (!orjson_dumps && !(orjson_dumps = import_attr("orjson", "dumps")))
        return -1;
    if (!json_default && !(json_default = import_attr("hub.runtime.converters", "json_default")))
        return -1;
    if (toast_module && !unchanged_toast &&
        !(unchanged_toast = import_attr(toast_module, toast_name)))
        return -1;
    if (!default_kwnames) {
        /* interned: orjson tells its keyword arguments apart by identity */
        PyObject *name = PyUnicode_InternFromString("default");
        if (!name)
            return -1;
        default_kwnames = PyTuple_Pack(1, name);
        Py_DECREF(name);
        if (!default_kwnames)
            return -1;
    }
    return 0;
}

/* A codec module: the core initialized, its type ready and added under name. */
static PyObject *
rowcodec_module(struct PyModuleDef *def, PyTypeObject *type, const char *name,
                const char *toast_module, const char *toast_name)
{
    PyObject *m;

    if (rowcodec_core_init(toast_module, toast_name) < 0)
        return NULL;
    if (PyType_Ready(type) < 0)
        return NULL;
    if (!(m = PyModule_Create(def)))
        return NULL;
    Py_INCREF(type);
    if (PyModule_AddObject(m, name, (PyObject *)type) < 0) {
        Py_DECREF(type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

#pragma GCC diagnostic pop

#endif /* HUB_ROWCODEC_H */
