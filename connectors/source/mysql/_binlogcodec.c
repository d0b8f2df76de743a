/*
 * connectors.source.mysql._binlogcodec: a binlog rows event (WRITE, UPDATE, DELETE; v1 or v2)
 * straight to the JSON bytes of its Debezium change events and keys, for the MySQL source's
 * hot path (connectors/source/mysql/encoded.py drives it; the slow path in stream.py is its
 * reference, and the tests compare the two byte for byte).
 *
 *   RowsCodec(fields, key, columns)
 *   .rows(event, pos, end, op, wrap, src, tombstones, packed)
 *       -> (keys, values, rows, events) or, packed, (values, value ends, keys, key ends,
 *          tombstone keys, rows, events); None: declined; False: packed, but a key changed
 *   .text_packed(data) -> (structs, ends, keys, key ends, packet ends, declined)
 *   frame(buf, pos, max_rows) -> (end, rows, status)  (module level)
 *
 * The snapshot's rows come as the text protocol's row packets (length-coded text fields):
 * frame() finds where whole packets end, text_packed() encodes them into shared buffers as the
 * PostgreSQL codec's copy_packed does for COPY text (without the GIL for fast kinds only).
 *
 * Each column's binary value is first rendered as the text MySQL's text protocol would print
 * for it (integers, DECIMAL with its scale's digits, 'YYYY-MM-DD HH:MM:SS.ffffff', TIME as
 * '[-]H:MM:SS.ffffff', ENUM/SET labels, strings as their bytes, BINARY(n) padded), then
 * encoded by the shared row codec core (hub/_c/rowcodec.h): a fast path per field kind, and the
 * field's Python converter (which parses that text) for everything else. So one field list
 * serves both the stream and the snapshot (whose values arrive as that text).
 *
 * `columns` describes every column of the TABLE_MAP, captured or not (each value must be read
 * to find the next): (render, width, arg, labels), R_* below. The whole event is declined
 * (None, nothing emitted: the caller takes the slow path, which reports what is wrong) when a
 * column cannot be rendered here, an image is partial, the event is malformed, or a converter
 * raises TypeError.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "fastcall.h"
#include "rowcodec.h"

/* how a column's binary value becomes text (Python: encoded.R_*) */
#define R_UNSUPPORTED 0
#define R_INT 1       /* width 1/2/3/4/8 little-endian; arg 1: unsigned */
#define R_FLOAT 2     /* 4-byte float, printed exactly (%.17g of its double) */
#define R_DOUBLE 3    /* 8-byte double, %.17g */
#define R_DECIMAL 4   /* NEWDECIMAL; arg: precision << 8 | scale */
#define R_DATE 5      /* 3 bytes */
#define R_DATETIME2 6 /* arg: fsp */
#define R_TIMESTAMP2 7
#define R_TIME2 8
#define R_YEAR 9
#define R_STR 10      /* width-byte length (1-4), then the bytes */
#define R_BINARY 11   /* BINARY(arg): width-byte length, bytes, padded with 0x00 to arg */
#define R_ENUM 12     /* width-byte 1-based index into labels (0: '') */
#define R_SET 13      /* width-byte bit mask over labels, joined by ',' */
#define R_FIXED 14    /* width bytes as they are (BIT) */

typedef struct {
    int render;
    int width;
    long arg;
    PyObject *labels; /* borrowed from the columns tuple: a tuple of bytes, or NULL */
} bcol_t;

typedef struct {
    RowCodec rc; /* first: the core's functions take it */
    PyObject *columns;
    Py_ssize_t ncols;
    bcol_t *cols;
} RowsCodec;

static int
RowsCodec_traverse(RowsCodec *self, visitproc visit, void *arg)
{
    Py_VISIT(self->columns);
    return RowCodec_traverse(&self->rc, visit, arg);
}

static int
RowsCodec_clear(RowsCodec *self)
{
    PyMem_Free(self->cols);
    self->cols = NULL;
    self->ncols = 0;
    Py_CLEAR(self->columns);
    return RowCodec_clear(&self->rc);
}

static void
RowsCodec_dealloc(RowsCodec *self)
{
    PyObject_GC_UnTrack(self);
    RowsCodec_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
RowsCodec_init(RowsCodec *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fields", "key", "columns", NULL};
    PyObject *fields, *key, *columns_arg, *columns = NULL, *core_args;
    bcol_t *cols = NULL;
    Py_ssize_t n, i;
    int r;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO:RowsCodec", kwlist, &fields, &key,
                                     &columns_arg))
        return -1;
    if (self->columns) {
        PyErr_SetString(PyExc_TypeError, "RowsCodec is already initialized");
        return -1;
    }
    if (!(columns = PySequence_Tuple(columns_arg)))
        return -1;
    n = PyTuple_GET_SIZE(columns);
    if (!(cols = PyMem_Calloc(n ? n : 1, sizeof(bcol_t)))) {
        PyErr_NoMemory();
        goto fail;
    }
    for (i = 0; i < n; i++) {
        PyObject *c = PyTuple_GET_ITEM(columns, i), *labels;
        long render, width;
        if (!PyTuple_Check(c) || PyTuple_GET_SIZE(c) != 4) {
            PyErr_SetString(PyExc_TypeError, "a column is (render, width, arg, labels)");
            goto fail;
        }
        if ((render = PyLong_AsLong(PyTuple_GET_ITEM(c, 0))) == -1 && PyErr_Occurred())
            goto fail;
        if ((width = PyLong_AsLong(PyTuple_GET_ITEM(c, 1))) == -1 && PyErr_Occurred())
            goto fail;
        if ((cols[i].arg = PyLong_AsLong(PyTuple_GET_ITEM(c, 2))) == -1 && PyErr_Occurred())
            goto fail;
        labels = PyTuple_GET_ITEM(c, 3);
        if (labels != Py_None) {
            Py_ssize_t k;
            if (!PyTuple_Check(labels)) {
                PyErr_SetString(PyExc_TypeError, "labels are a tuple of bytes or None");
                goto fail;
            }
            for (k = 0; k < PyTuple_GET_SIZE(labels); k++)
                if (!PyBytes_Check(PyTuple_GET_ITEM(labels, k))) {
                    PyErr_SetString(PyExc_TypeError, "labels are a tuple of bytes or None");
                    goto fail;
                }
            cols[i].labels = labels;
        }
        if (width < 0 || width > 8) {
            PyErr_SetString(PyExc_ValueError, "a column's width is 0 to 8 bytes");
            goto fail;
        }
        cols[i].render = (render >= R_UNSUPPORTED && render <= R_FIXED) ? (int)render
                                                                          : R_UNSUPPORTED;
        cols[i].width = (int)width;
        if ((cols[i].render == R_ENUM || cols[i].render == R_SET) && !cols[i].labels)
            cols[i].render = R_UNSUPPORTED;
        if (cols[i].render == R_ENUM && cols[i].width > 2)
            cols[i].render = R_UNSUPPORTED; /* an ENUM index is 1 or 2 bytes */
    }
    if (!(core_args = PyTuple_Pack(2, fields, key)))
        goto fail;
    r = RowCodec_init(&self->rc, core_args, NULL);
    Py_DECREF(core_args);
    if (r < 0)
        goto fail;
    if (self->rc.nfields && self->rc.max_column >= n) {
        PyErr_SetString(PyExc_IndexError, "a field's column is not among the columns");
        goto fail;
    }
    self->columns = columns;
    self->cols = cols;
    self->ncols = n;
    return 0;
fail:
    PyMem_Free(cols);
    Py_XDECREF(columns);
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* binary values as text                                                                      */

static const uint8_t dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};

static inline uint64_t
be_uint(const uint8_t *p, int n)
{
    uint64_t v = 0;
    int k;
    for (k = 0; k < n; k++)
        v = v << 8 | p[k];
    return v;
}

static inline uint64_t
le_uint(const uint8_t *p, int n)
{
    uint64_t v = 0;
    int k;
    for (k = n - 1; k >= 0; k--)
        v = v << 8 | p[k];
    return v;
}

static inline char *
put2(char *o, int v)
{
    *o++ = (char)('0' + v / 10 % 10);
    *o++ = (char)('0' + v % 10);
    return o;
}

/* a year: 4 digits, or all of them past 9999 (never a valid date: the fast paths decline) */
static inline char *
put4(char *o, int v)
{
    if (v > 9999 || v < 0)
        return o + u64_digits((uint64_t)(v < 0 ? 0 : v), o);
    o = put2(o, v / 100 % 100);
    return put2(o, v % 100);
}

static char *
put_frac6(char *o, int64_t micros)
{
    int k;
    *o++ = '.';
    for (k = 5; k >= 0; k--) {
        o[k] = (char)('0' + micros % 10);
        micros /= 10;
    }
    return o + 6;
}

/* fractional seconds of fsp digits at p, as micros; bytes read in *used */
static int64_t
frac_micros(const uint8_t *p, long fsp, int *used)
{
    if (fsp <= 0) {
        *used = 0;
        return 0;
    }
    if (fsp <= 2) {
        *used = 1;
        return (int64_t)p[0] * 10000;
    }
    if (fsp <= 4) {
        *used = 2;
        return (int64_t)be_uint(p, 2) * 100;
    }
    *used = 3;
    return (int64_t)be_uint(p, 3);
}

static inline int
frac_width(long fsp)
{
    return fsp <= 0 ? 0 : fsp <= 2 ? 1 : fsp <= 4 ? 2 : 3;
}

/* 'YYYY-MM-DD HH:MM:SS' at o (19 bytes) */
static char *
put_datetime(char *o, int y, int mo, int d, int h, int mi, int s)
{
    o = put4(o, y);
    *o++ = '-';
    o = put2(o, mo);
    *o++ = '-';
    o = put2(o, d);
    *o++ = ' ';
    o = put2(o, h);
    *o++ = ':';
    o = put2(o, mi);
    *o++ = ':';
    return put2(o, s);
}

/* civil date of days since 1970-01-01 (Howard Hinnant's algorithm) */
static void
civil_from_days(int64_t z, int *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* NEWDECIMAL(precision, scale) at p (size bytes, checked by the caller) as text at o (room for
   precision + 3); its length */
static Py_ssize_t
decimal_text(const uint8_t *p, int precision, int scale, char *o)
{
    int intg = precision - scale, int_full = intg / 9, int_rest = intg % 9;
    int frac_full = scale / 9, frac_rest = scale % 9, k, g, at = 0, negative;
    uint8_t mask;
    char digits[96];
    int nd = 0, start;
    char *o0 = o;

    negative = !(p[0] & 0x80);
    mask = negative ? 0xFF : 0x00;
#define BYTE(i) ((uint8_t)((i) == 0 ? (p[0] ^ 0x80) ^ mask : p[i] ^ mask))
#define GROUP(nbytes, ndig)                                                                    \
    do {                                                                                       \
        uint32_t v_ = 0;                                                                       \
        int j_;                                                                                \
        for (j_ = 0; j_ < (nbytes); j_++)                                                      \
            v_ = v_ << 8 | BYTE(at + j_);                                                      \
        at += (nbytes);                                                                        \
        for (j_ = (ndig)-1; j_ >= 0; j_--) {                                                   \
            digits[nd + j_] = (char)('0' + v_ % 10);                                           \
            v_ /= 10;                                                                          \
        }                                                                                      \
        nd += (ndig);                                                                          \
    } while (0)
    if (int_rest)
        GROUP(dig2bytes[int_rest], int_rest);
    for (g = 0; g < int_full; g++)
        GROUP(4, 9);
    start = 0;
    while (start < nd - 1 && digits[start] == '0')
        start++;
    if (nd == 0) {
        digits[0] = '0';
        nd = 1;
    }
    if (negative)
        *o++ = '-';
    memcpy(o, digits + start, nd - start);
    o += nd - start;
    if (scale) {
        nd = 0;
        for (g = 0; g < frac_full; g++)
            GROUP(4, 9);
        if (frac_rest)
            GROUP(dig2bytes[frac_rest], frac_rest);
        *o++ = '.';
        for (k = 0; k < nd; k++)
            *o++ = digits[k];
    }
#undef GROUP
#undef BYTE
    return o - o0;
}

static Py_ssize_t
decimal_size(int precision, int scale)
{
    int intg = precision - scale;
    return dig2bytes[intg % 9] + 4 * (intg / 9 + scale / 9) + dig2bytes[scale % 9];
}

/* where a column's text is: in the event, or at an offset of the scratch buffer */
typedef struct {
    const uint8_t *p; /* in the event (or NULL: scratch) */
    Py_ssize_t off;   /* in scratch */
    Py_ssize_t n;
    int null;
} cell;

/* Read column c's value at *pos (before end) into *out, rendering into scratch where it needs
   text of its own: 1 read, 0 cannot (the event is declined), -1 memory error. */
static int
read_cell(bcol_t *c, const uint8_t *ev, Py_ssize_t *pos, Py_ssize_t end, obuf *scratch,
          cell *out)
{
    const uint8_t *p = ev + *pos;
    Py_ssize_t avail = end - *pos, len;
    char tmp[128], *o = tmp;
    int used;

    out->p = NULL;
    out->null = 0;
    switch (c->render) {
    case R_INT: {
        uint64_t u;
        if (avail < c->width || c->width < 1)
            return 0;
        u = le_uint(p, c->width);
        *pos += c->width;
        if (c->arg) {
            o += u64_digits(u, o);
        }
        else {
            int64_t v;
            int bits = 8 * c->width;
            if (bits < 64 && (u >> (bits - 1)) & 1)
                u |= ~(uint64_t)0 << bits; /* sign-extend */
            v = (int64_t)u;
            if (v < 0) {
                *o++ = '-';
                o += u64_digits((uint64_t)0 - (uint64_t)v, o);
            }
            else
                o += u64_digits((uint64_t)v, o);
        }
        break;
    }
    case R_FLOAT: {
        float f;
        if (avail < 4)
            return 0;
        memcpy(&f, p, 4);
        *pos += 4;
        o += snprintf(o, 64, "%.17g", (double)f);
        break;
    }
    case R_DOUBLE: {
        double d;
        if (avail < 8)
            return 0;
        memcpy(&d, p, 8);
        *pos += 8;
        o += snprintf(o, 64, "%.17g", d);
        break;
    }
    case R_DECIMAL: {
        int precision = (int)(c->arg >> 8), scale = (int)(c->arg & 0xFF);
        Py_ssize_t size;
        if (precision < 1 || precision > 65 || scale > 30 || scale > precision)
            return 0;
        size = decimal_size(precision, scale);
        if (avail < size)
            return 0;
        o += decimal_text(p, precision, scale, o);
        *pos += size;
        break;
    }
    case R_DATE: {
        uint32_t v;
        if (avail < 3)
            return 0;
        v = (uint32_t)le_uint(p, 3);
        *pos += 3;
        o = put4(o, (int)(v >> 9));
        *o++ = '-';
        o = put2(o, (int)((v >> 5) & 15));
        *o++ = '-';
        o = put2(o, (int)(v & 31));
        break;
    }
    case R_DATETIME2: {
        int64_t packed, ymd, hms, ym;
        int64_t micros;
        int fw = frac_width(c->arg);
        if (avail < 5 + fw)
            return 0;
        packed = (int64_t)be_uint(p, 5) - 0x8000000000LL;
        micros = frac_micros(p + 5, c->arg, &used);
        *pos += 5 + used;
        if (packed < 0)
            return 0; /* negative datetimes (never written by a server): the slow path's */
        ymd = packed >> 17;
        hms = packed & 0x1FFFF;
        ym = ymd >> 5;
        o = put_datetime(o, (int)(ym / 13), (int)(ym % 13), (int)(ymd & 31), (int)(hms >> 12),
                         (int)((hms >> 6) & 63), (int)(hms & 63));
        if (c->arg > 0)
            o = put_frac6(o, micros);
        break;
    }
    case R_TIMESTAMP2: {
        int64_t seconds, micros, days, rest;
        int y, m, d;
        int fw = frac_width(c->arg);
        if (avail < 4 + fw)
            return 0;
        seconds = (int64_t)be_uint(p, 4);
        micros = frac_micros(p + 4, c->arg, &used);
        *pos += 4 + used;
        if (seconds == 0 && micros == 0) {
            o = put_datetime(o, 0, 0, 0, 0, 0, 0); /* the zero date */
        }
        else {
            days = seconds / 86400;
            rest = seconds % 86400;
            civil_from_days(days, &y, &m, &d);
            o = put_datetime(o, y, m, d, (int)(rest / 3600), (int)(rest / 60 % 60),
                             (int)(rest % 60));
        }
        if (c->arg > 0)
            o = put_frac6(o, micros);
        break;
    }
    case R_TIME2: {
        int64_t intpart, frac, hms, total;
        int fw = frac_width(c->arg), negative, scale;
        if (avail < 3 + fw)
            return 0;
        intpart = (int64_t)be_uint(p, 3) - 0x800000;
        frac = fw ? (int64_t)be_uint(p + 3, fw) : 0;
        *pos += 3 + fw;
        if (intpart < 0 && frac) {
            intpart += 1;
            frac -= (int64_t)1 << (8 * fw);
        }
        scale = fw == 1 ? 10000 : fw == 2 ? 100 : 1;
        frac *= scale;
        negative = intpart < 0 || (intpart == 0 && frac < 0);
        hms = intpart < 0 ? -intpart : intpart;
        total = ((((hms >> 12) & 0x3FF) * 60 + ((hms >> 6) & 63)) * 60 + (hms & 63)) * 1000000 +
                (frac < 0 ? -frac : frac);
        if (negative)
            *o++ = '-';
        o += u64_digits((uint64_t)(total / 3600000000LL), o);
        *o++ = ':';
        o = put2(o, (int)(total / 60000000 % 60));
        *o++ = ':';
        o = put2(o, (int)(total / 1000000 % 60));
        o = put_frac6(o, total % 1000000);
        break;
    }
    case R_YEAR: {
        if (avail < 1)
            return 0;
        *pos += 1;
        o += u64_digits(p[0] ? 1900 + (uint64_t)p[0] : 0, o);
        break;
    }
    case R_STR:
    case R_BINARY:
        if (c->width < 1 || c->width > 4 || avail < c->width)
            return 0;
        len = (Py_ssize_t)le_uint(p, c->width);
        if (len > avail - c->width)
            return 0;
        *pos += c->width + len;
        if (c->render == R_BINARY && len < c->arg) {
            out->off = scratch->len;
            out->n = c->arg;
            if (obuf_reserve(scratch, c->arg) < 0)
                return -1;
            memcpy(scratch->p + scratch->len, p + c->width, len);
            memset(scratch->p + scratch->len + len, 0, c->arg - len);
            scratch->len += c->arg;
            return 1;
        }
        out->p = p + c->width;
        out->n = len;
        return 1;
    case R_ENUM:
    case R_SET: {
        uint64_t v;
        Py_ssize_t nl = PyTuple_GET_SIZE(c->labels), k;
        int first = 1;
        if (c->width < 1 || avail < c->width)
            return 0;
        v = le_uint(p, c->width);
        *pos += c->width;
        out->off = scratch->len;
        if (c->render == R_ENUM) {
            PyObject *label;
            if (v == 0) {
                out->n = 0;
                return 1;
            }
            if (v > (uint64_t)nl)
                return 0;
            label = PyTuple_GET_ITEM(c->labels, (Py_ssize_t)v - 1);
            out->p = (const uint8_t *)PyBytes_AS_STRING(label);
            out->n = PyBytes_GET_SIZE(label);
            return 1;
        }
        for (k = 0; k < nl && k < 64; k++) {
            PyObject *label;
            if (!(v >> k & 1))
                continue;
            label = PyTuple_GET_ITEM(c->labels, k);
            if ((!first && obuf_put(scratch, ",", 1) < 0) ||
                obuf_put(scratch, PyBytes_AS_STRING(label), PyBytes_GET_SIZE(label)) < 0)
                return -1;
            first = 0;
        }
        out->n = scratch->len - out->off;
        return 1;
    }
    case R_FIXED:
        if (avail < c->width)
            return 0;
        out->p = p;
        out->n = c->width;
        *pos += c->width;
        return 1;
    default:
        return 0;
    }
    /* text rendered in tmp: into scratch */
    out->off = scratch->len;
    out->n = o - tmp;
    return obuf_put(scratch, tmp, out->n) < 0 ? -1 : 1;
}

/* One row image at *pos: the null bitmap over the columns, then the values, into spans
   (ncols of them): 1, 0 declined, -1 error. */
static int
read_image(RowsCodec *self, const uint8_t *ev, Py_ssize_t *pos, Py_ssize_t end, obuf *scratch,
           cell *cells, span *spans)
{
    Py_ssize_t n = self->ncols, nb = (n + 7) / 8, i;
    const uint8_t *nulls;
    int r;

    if (end - *pos < nb)
        return 0;
    nulls = ev + *pos;
    *pos += nb;
    scratch->len = 0;
    for (i = 0; i < n; i++) {
        if (nulls[i / 8] >> (i % 8) & 1) {
            cells[i].null = 1;
            continue;
        }
        if ((r = read_cell(&self->cols[i], ev, pos, end, scratch, &cells[i])) != 1)
            return r;
    }
    for (i = 0; i < n; i++) {
        spans[i].obj = NULL;
        if (cells[i].null) {
            spans[i].kind = V_NULL;
            spans[i].p = NULL;
            spans[i].n = 0;
        }
        else {
            spans[i].kind = V_TEXT;
            spans[i].p = cells[i].p ? cells[i].p : (const uint8_t *)scratch->p + cells[i].off;
            spans[i].n = cells[i].n;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* .rows(...)                                                                                 */

typedef struct {
    PyObject *head, *tail, *khead, *ktail, *src_a, *src_b;
    char ts[80]; /* ',"ts_ms":..,"ts_us":..,"ts_ns":..}' */
    Py_ssize_t ts_len;
} parts_t;

/* Append head + {"before":B,"after":A,"source":src_a ROW src_b,"op":"x"ts} + tail to b
   (bare: without head and tail, which a Packed's wrap adds). */
static int
put_event(obuf *b, parts_t *w, const char *before, Py_ssize_t nb, const char *after,
          Py_ssize_t na, Py_ssize_t row, char op, int bare)
{
    char digits[24], opb[8] = ",\"op\":\"";
    Py_ssize_t nd = u64_digits((uint64_t)row, digits);

    opb[7] = op;
    if ((!bare && put_bytes(b, w->head) < 0) || PUT_LIT(b, "{\"before\":") < 0 ||
        (before ? obuf_put(b, before, nb) : PUT_LIT(b, "null")) < 0 ||
        PUT_LIT(b, ",\"after\":") < 0 ||
        (after ? obuf_put(b, after, na) : PUT_LIT(b, "null")) < 0 ||
        PUT_LIT(b, ",\"source\":") < 0 || put_bytes(b, w->src_a) < 0 ||
        obuf_put(b, digits, nd) < 0 || put_bytes(b, w->src_b) < 0 ||
        obuf_put(b, opb, 8) < 0 || PUT_LIT(b, "\"") < 0 || obuf_put(b, w->ts, w->ts_len) < 0 ||
        (!bare && put_bytes(b, w->tail) < 0))
        return -1;
    return 0;
}

/* Append key head + the key of the struct at structp (its fields in marks) + key tail (bare:
   the key alone). */
static int
put_key(RowsCodec *self, obuf *b, parts_t *w, const char *structp, const Py_ssize_t *marks,
        int bare)
{
    Py_ssize_t kh = bare ? 0 : PyBytes_GET_SIZE(w->khead);
    Py_ssize_t kt = bare ? 0 : PyBytes_GET_SIZE(w->ktail);
    Py_ssize_t kn = key_size(&self->rc, marks);
    if (obuf_reserve(b, kh + kn + kt) < 0)
        return -1;
    memcpy(b->p + b->len, PyBytes_AS_STRING(w->khead), kh);
    key_write(&self->rc, structp, marks, b->p + b->len + kh);
    memcpy(b->p + b->len + kh + kn, PyBytes_AS_STRING(w->ktail), kt);
    b->len += kh + kn + kt;
    return 0;
}

/* Where a rows event's records go: two lists (keys, values; a tombstone's value None), or
   packed into shared buffers (hub.log.packed.Packed: values and their ends, keys and theirs,
   each without the wrap's head and tail) with the tombstones' keys (whole) in a list of their
   own, written after them. */
typedef struct {
    int packed;
    PyObject *keys, *values, *tombs;
    obuf vals, vends, kbuf, kends;
    obuf tmp; /* one record's bytes (lists) */
} emit_t;

/* One change event (key from the struct at kstruct with its marks, or none). */
static int
emit(RowsCodec *self, emit_t *em, parts_t *w, const char *before, Py_ssize_t nb,
     const char *after, Py_ssize_t na, Py_ssize_t row, char op, const char *kstruct,
     const Py_ssize_t *marks)
{
    PyObject *key, *value;
    int r;

    if (em->packed) {
        if (put_event(&em->vals, w, before, nb, after, na, row, op, 1) < 0 ||
            put_end(&em->vends, em->vals.len) < 0)
            return -1;
        if (kstruct && (put_key(self, &em->kbuf, w, kstruct, marks, 1) < 0 ||
                        put_end(&em->kends, em->kbuf.len) < 0))
            return -1;
        return 0;
    }
    em->tmp.len = 0;
    if (put_event(&em->tmp, w, before, nb, after, na, row, op, 0) < 0)
        return -1;
    if (!(value = PyBytes_FromStringAndSize(em->tmp.p, em->tmp.len)))
        return -1;
    if (kstruct) {
        em->tmp.len = 0;
        if (put_key(self, &em->tmp, w, kstruct, marks, 0) < 0 ||
            !(key = PyBytes_FromStringAndSize(em->tmp.p, em->tmp.len))) {
            Py_DECREF(value);
            return -1;
        }
    }
    else {
        key = Py_None;
        Py_INCREF(key);
    }
    r = PyList_Append(em->keys, key) < 0 || PyList_Append(em->values, value) < 0 ? -1 : 0;
    Py_DECREF(key);
    Py_DECREF(value);
    return r;
}

/* A tombstone (null value) for the key of the struct at kstruct. */
static int
emit_tombstone(RowsCodec *self, emit_t *em, parts_t *w, const char *kstruct,
               const Py_ssize_t *marks)
{
    PyObject *key;
    int r;

    em->tmp.len = 0;
    if (put_key(self, &em->tmp, w, kstruct, marks, 0) < 0 ||
        !(key = PyBytes_FromStringAndSize(em->tmp.p, em->tmp.len)))
        return -1;
    if (em->packed)
        r = PyList_Append(em->tombs, key);
    else
        r = PyList_Append(em->keys, key) < 0 || PyList_Append(em->values, Py_None) < 0 ? -1 : 0;
    Py_DECREF(key);
    return r;
}

static PyObject *
RowsCodec_rows(RowsCodec *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"event", "pos", "end", "op", "wrap", "src",
                                        "tombstones", "packed"};
    PyObject *a[8], *result = NULL;
    Py_buffer view;
    const uint8_t *ev;
    Py_ssize_t pos, end, ncols, nb, i, rows = 0, events = 0, nspans = self->ncols;
    Py_ssize_t mb_stack[2 * STACK_MARKS], ma_stack[2 * STACK_MARKS], *mb = NULL, *ma = NULL;
    span *sp = NULL;
    cell *cells = NULL;
    obuf sb, sa, scratch;
    emit_t em;
    parts_t w;
    long op;
    int tombstones, r = 0, keyed = self->rc.nkey > 0;
    struct timespec now;
    long long ns;

    if (parse_args("rows", names, 8, args, nargs, kwnames, a) < 0)
        return NULL;
    if ((pos = PyNumber_AsSsize_t(a[1], PyExc_OverflowError)) == -1 && PyErr_Occurred())
        return NULL;
    if ((end = PyNumber_AsSsize_t(a[2], PyExc_OverflowError)) == -1 && PyErr_Occurred())
        return NULL;
    if ((op = PyLong_AsLong(a[3])) == -1 && PyErr_Occurred())
        return NULL;
    if ((tombstones = PyObject_IsTrue(a[6])) < 0 || (em.packed = PyObject_IsTrue(a[7])) < 0)
        return NULL;
    if (!PyTuple_CheckExact(a[4]) || PyTuple_GET_SIZE(a[4]) != 4 || !PyTuple_CheckExact(a[5]) ||
        PyTuple_GET_SIZE(a[5]) != 2) {
        PyErr_SetString(PyExc_TypeError, "rows(): wrap is a 4-tuple, src a 2-tuple of bytes");
        return NULL;
    }
    w.head = PyTuple_GET_ITEM(a[4], 0);
    w.tail = PyTuple_GET_ITEM(a[4], 1);
    w.khead = PyTuple_GET_ITEM(a[4], 2);
    w.ktail = PyTuple_GET_ITEM(a[4], 3);
    w.src_a = PyTuple_GET_ITEM(a[5], 0);
    w.src_b = PyTuple_GET_ITEM(a[5], 1);
    if (!PyBytes_Check(w.head) || !PyBytes_Check(w.tail) || !PyBytes_Check(w.khead) ||
        !PyBytes_Check(w.ktail) || !PyBytes_Check(w.src_a) || !PyBytes_Check(w.src_b)) {
        PyErr_SetString(PyExc_TypeError, "rows(): wrap and src hold bytes");
        return NULL;
    }
    if (op != 'c' && op != 'u' && op != 'd') {
        PyErr_SetString(PyExc_ValueError, "rows(): op is ord('c'), ord('u') or ord('d')");
        return NULL;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
    w.ts_len = snprintf(w.ts, sizeof(w.ts), ",\"ts_ms\":%lld,\"ts_us\":%lld,\"ts_ns\":%lld}",
                        ns / 1000000, ns / 1000, ns);
    if (PyObject_GetBuffer(a[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    ev = (const uint8_t *)view.buf;
    obuf_init(&sb);
    obuf_init(&sa);
    obuf_init(&scratch);
    obuf_init(&em.vals);
    obuf_init(&em.vends);
    obuf_init(&em.kbuf);
    obuf_init(&em.kends);
    obuf_init(&em.tmp);
    em.keys = em.values = em.tombs = NULL;
    if (end > view.len || pos < 0 || pos > end)
        goto decline;
    if (!(em.keys = PyList_New(0)) || !(em.values = PyList_New(0)) ||
        !(em.tombs = PyList_New(0)))
        goto fail;
    if (!(sp = PyMem_Malloc(sizeof(span) * (nspans ? nspans : 1))) ||
        !(cells = PyMem_Malloc(sizeof(cell) * (nspans ? nspans : 1)))) {
        PyErr_NoMemory();
        goto fail;
    }
    if (keyed && self->rc.nfields <= STACK_MARKS) {
        mb = mb_stack;
        ma = ma_stack;
    }
    else if (keyed) {
        mb = PyMem_Malloc(sizeof(Py_ssize_t) * 2 * self->rc.nfields);
        ma = PyMem_Malloc(sizeof(Py_ssize_t) * 2 * self->rc.nfields);
        if (!mb || !ma) {
            PyErr_NoMemory();
            goto fail;
        }
    }
    /* the column count and the present-columns bitmap(s): any column missing declines */
    if (pos >= end)
        goto decline;
    if (ev[pos] < 251) {
        ncols = ev[pos];
        pos += 1;
    }
    else if (ev[pos] == 0xFC && end - pos >= 3) {
        ncols = (Py_ssize_t)le_uint(ev + pos + 1, 2);
        pos += 3;
    }
    else
        goto decline;
    if (ncols != self->ncols)
        goto decline;
    nb = (ncols + 7) / 8;
    for (i = 0; i < (op == 'u' ? 2 : 1); i++) {
        Py_ssize_t k;
        if (end - pos < nb)
            goto decline;
        for (k = 0; k < ncols; k++)
            if (!(ev[pos + k / 8] >> (k % 8) & 1))
                goto decline;
        pos += nb;
    }
    while (pos < end) {
        Py_ssize_t ob = 0, oa = 0;
        sb.len = sa.len = 0;
        if (op != 'c') { /* before image */
            if ((r = read_image(self, ev, &pos, end, &scratch, cells, sp)) != 1)
                goto decline_or_fail;
            if ((r = encode_struct(&self->rc, &sb, sp, nspans, keyed ? mb : NULL)) != 1)
                goto decline_or_fail;
            ob = 1;
        }
        if (op != 'd') { /* after image */
            if ((r = read_image(self, ev, &pos, end, &scratch, cells, sp)) != 1)
                goto decline_or_fail;
            if ((r = encode_struct(&self->rc, &sa, sp, nspans, keyed ? ma : NULL)) != 1)
                goto decline_or_fail;
            oa = 1;
        }
        if (op == 'u' && keyed) {
            /* a changed key: a delete of the old (and its tombstone), a create of the new */
            Py_ssize_t kb = key_size(&self->rc, mb), ka = key_size(&self->rc, ma), k, same;
            same = kb == ka;
            for (k = 0; same && k < self->rc.nkey; k++) {
                Py_ssize_t f = self->rc.keypos[k];
                Py_ssize_t lb = mb[2 * f + 1] - mb[2 * f], la = ma[2 * f + 1] - ma[2 * f];
                same = lb == la && memcmp(sb.p + mb[2 * f], sa.p + ma[2 * f], lb) == 0;
            }
            if (!same) {
                if (em.packed) { /* in order, inline: the lists' call */
                    result = Py_False;
                    Py_INCREF(result);
                    goto out;
                }
                if (emit(self, &em, &w, sb.p, sb.len, NULL, 0, rows, 'd', sb.p, mb) < 0 ||
                    (tombstones && emit_tombstone(self, &em, &w, sb.p, mb) < 0) ||
                    emit(self, &em, &w, NULL, 0, sa.p, sa.len, rows, 'c', sa.p, ma) < 0)
                    goto fail;
                events += 2;
                rows++;
                continue;
            }
        }
        if (emit(self, &em, &w, ob ? sb.p : NULL, sb.len, oa ? sa.p : NULL, sa.len, rows,
                 (char)op, keyed ? (op == 'd' ? sb.p : sa.p) : NULL, op == 'd' ? mb : ma) < 0)
            goto fail;
        if (op == 'd' && tombstones && keyed && emit_tombstone(self, &em, &w, sb.p, mb) < 0)
            goto fail;
        events++;
        rows++;
    }
    if (!em.packed)
        result = Py_BuildValue("(OOnn)", em.keys, em.values, rows, events);
    else if (keyed)
        result = Py_BuildValue("(y#y#y#y#Onn)", em.vals.p, em.vals.len, em.vends.p,
                               em.vends.len, em.kbuf.p, em.kbuf.len, em.kends.p, em.kends.len,
                               em.tombs, rows, events);
    else
        result = Py_BuildValue("(y#y#OOOnn)", em.vals.p, em.vals.len, em.vends.p, em.vends.len,
                               Py_None, Py_None, em.tombs, rows, events);
    goto out;
decline_or_fail:
    if (r < 0) {
        /* a converter's TypeError declines (the core cleared it); others propagate */
        goto fail;
    }
decline:
    result = Py_None;
    Py_INCREF(result);
    goto out;
fail:
    if (!PyErr_Occurred())
        PyErr_NoMemory();
out:
    Py_XDECREF(em.keys);
    Py_XDECREF(em.values);
    Py_XDECREF(em.tombs);
    obuf_free(&em.vals);
    obuf_free(&em.vends);
    obuf_free(&em.kbuf);
    obuf_free(&em.kends);
    obuf_free(&em.tmp);
    PyMem_Free(sp);
    PyMem_Free(cells);
    if (mb && mb != mb_stack)
        PyMem_Free(mb);
    if (ma && ma != ma_stack)
        PyMem_Free(ma);
    obuf_free(&sb);
    obuf_free(&sa);
    obuf_free(&scratch);
    PyBuffer_Release(&view);
    return result;
}

/* ------------------------------------------------------------------------------------------ */
/* the text protocol: a result's row packets (the snapshot)                                   */

#define MAX_PACKET 0xFFFFFF

/* The logical packet at buf[pos:end] (a payload of MAX_PACKET bytes continues in the next
   packet): 1 with *next after it and *size its payload's total size, 0 incomplete. */
static int
next_packet(const uint8_t *buf, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t *next,
            Py_ssize_t *size)
{
    Py_ssize_t total = 0, len;
    do {
        if (end - pos < 4)
            return 0;
        len = (Py_ssize_t)le_uint(buf + pos, 3);
        if (end - pos - 4 < len)
            return 0;
        total += len;
        pos += 4 + len;
    } while (len == MAX_PACKET);
    *next = pos;
    *size = total;
    return 1;
}

/* A logical packet's payload: in place when it is one packet, else copied into *owned
   (PyMem_RawMalloc'd, the caller frees); NULL on a memory error. */
static const uint8_t *
payload_of(const uint8_t *buf, Py_ssize_t pos, Py_ssize_t size, uint8_t **owned)
{
    Py_ssize_t len = (Py_ssize_t)le_uint(buf + pos, 3), at = 0;
    uint8_t *o;
    *owned = NULL;
    if (len != MAX_PACKET)
        return buf + pos + 4;
    if (!(o = PyMem_RawMalloc(size ? size : 1)))
        return NULL;
    do {
        len = (Py_ssize_t)le_uint(buf + pos, 3);
        memcpy(o + at, buf + pos + 4, len);
        at += len;
        pos += 4 + len;
    } while (len == MAX_PACKET);
    *owned = o;
    return o;
}

/* frame(buf, pos, max_rows) -> (end, rows, status): row packets from pos, up to max_rows (0:
   any number), end just after the last whole one. status 0: more bytes are needed; 1: the
   end-of-rows packet starts at end; 2: an error packet starts at end; 3: max_rows read. */
static PyObject *
py_frame(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs,
         PyObject *kwnames)
{
    static const char *const names[] = {"buf", "pos", "max_rows"};
    PyObject *a[3];
    Py_buffer view;
    Py_ssize_t pos, max_rows, rows = 0, next, size, end;
    const uint8_t *buf;
    int status = 0;

    if (parse_args("frame", names, 3, args, nargs, kwnames, a) < 0)
        return NULL;
    if ((pos = PyNumber_AsSsize_t(a[1], PyExc_OverflowError)) == -1 && PyErr_Occurred())
        return NULL;
    if ((max_rows = PyNumber_AsSsize_t(a[2], PyExc_OverflowError)) == -1 && PyErr_Occurred())
        return NULL;
    if (PyObject_GetBuffer(a[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    buf = (const uint8_t *)view.buf;
    end = view.len;
    if (pos < 0 || pos > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "frame(): pos outside the buffer");
        return NULL;
    }
    while (!max_rows || rows < max_rows) {
        if (!next_packet(buf, pos, end, &next, &size))
            break;
        if (size > 0 && size < 9 && buf[pos + 4] == 0xFE) {
            status = 1;
            break;
        }
        if (size > 0 && buf[pos + 4] == 0xFF) {
            status = 2;
            break;
        }
        pos = next;
        rows++;
    }
    if (status == 0 && max_rows && rows >= max_rows)
        status = 3;
    PyBuffer_Release(&view);
    return Py_BuildValue("(nni)", pos, rows, status);
}

/* A text-protocol row (length-coded fields, 0xFB: NULL) into spans: the number of fields,
   or -1 if malformed. */
static Py_ssize_t
text_spans(const uint8_t *p, Py_ssize_t n, span *spans, Py_ssize_t max)
{
    Py_ssize_t pos = 0, k = 0;
    while (pos < n) {
        uint8_t first = p[pos++];
        Py_ssize_t len;
        if (k >= max)
            return -1;
        spans[k].obj = NULL;
        if (first == 0xFB) {
            spans[k].kind = V_NULL;
            spans[k].p = NULL;
            spans[k].n = 0;
            k++;
            continue;
        }
        if (first < 0xFB)
            len = first;
        else {
            int w = first == 0xFC ? 2 : first == 0xFD ? 3 : first == 0xFE ? 8 : 0;
            uint64_t v;
            if (!w || n - pos < w)
                return -1;
            v = le_uint(p + pos, w);
            pos += w;
            if (v > (uint64_t)(n - pos))
                return -1;
            len = (Py_ssize_t)v;
        }
        if (len > n - pos)
            return -1;
        spans[k].kind = V_TEXT;
        spans[k].p = p + pos;
        spans[k].n = len;
        pos += len;
        k++;
    }
    return k;
}

static PyObject *
RowsCodec_text_packed(RowsCodec *self, PyObject *const *args, Py_ssize_t nargs,
                      PyObject *kwnames)
{
    static const char *const names[] = {"data"};
    RowCodec *rc = &self->rc;
    PyObject *a[1], *result;
    Py_ssize_t pos = 0;
    Py_ssize_t nmax = self->ncols > rc->max_column + 1 ? self->ncols : rc->max_column + 1;
    Py_buffer view;
    const uint8_t *data;
    span *spans;
    packer_t pk;
    int failed = 0;

    if (parse_args("text_packed", names, 1, args, nargs, kwnames, a) < 0)
        return NULL;
    if (PyObject_GetBuffer(a[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    data = (const uint8_t *)view.buf;
    if (!(spans = PyMem_RawMalloc(sizeof(span) * (nmax ? nmax : 1)))) {
        PyErr_NoMemory();
        failed = 1;
    }
    if (packer_init(&pk, rc, view.len) < 0)
        failed = 1;
    while (!failed && pos < view.len) {
        Py_ssize_t next, size, nf;
        const uint8_t *payload;
        uint8_t *owned = NULL;

        if (!next_packet(data, pos, view.len, &next, &size)) {
            gil_take(&pk.g);
            PyErr_SetString(PyExc_ValueError, "text_packed(): a truncated row packet");
            failed = 1;
            break;
        }
        if (!(payload = payload_of(data, pos, size, &owned))) {
            no_memory(&pk.g);
            failed = 1;
            break;
        }
        pos = next;
        nf = text_spans(payload, size, spans, nmax);
        if (nf < 0 || nf <= rc->max_column) {
            PyMem_RawFree(owned);
            gil_take(&pk.g);
            PyErr_Format(PyExc_ValueError, "text_packed(): a malformed row packet (row %zd)",
                         pk.row);
            failed = 1;
            break;
        }
        if (packer_row(&pk, spans, nf, pos) < 0)
            failed = 1;
        PyMem_RawFree(owned);
    }
    result = packer_finish(&pk, failed);
    PyMem_RawFree(spans);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef RowsCodec_methods[] = {
    {"rows", FASTCALL_KW(RowsCodec_rows), METH_FASTCALL | METH_KEYWORDS,
     "rows(event, pos, end, op, wrap, src, tombstones, packed)\n"
     "    -> (keys, values, rows, events), or packed: (values, value_ends, keys, key_ends,\n"
     "       tombstone keys, rows, events); None: declined; False (packed): a key changed\n\n"
     "The change events of the rows event in event[pos:end] (pos: its column count), op\n"
     "ord('c'), ord('u') or ord('d') (see the module's doc)."},
    {"text_packed", FASTCALL_KW(RowsCodec_text_packed), METH_FASTCALL | METH_KEYWORDS,
     "text_packed(data) -> (values, value_ends, keys, key_ends, packet_ends, declined)\n\n"
     "Every text-protocol row packet in data encoded into shared buffers (as copy_packed)."},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef module_methods[] = {
    {"frame", FASTCALL_KW(py_frame), METH_FASTCALL | METH_KEYWORDS,
     "frame(buf, pos, max_rows) -> (end, rows, status)\n\n"
     "Whole row packets of a text-protocol result from pos (see the C source)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef RowsCodec_members[] = {
    {"fields", T_OBJECT, offsetof(RowsCodec, rc) + offsetof(RowCodec, fields), READONLY,
     "the fields, as a tuple"},
    {"columns", T_OBJECT, offsetof(RowsCodec, columns), READONLY, "the columns, as a tuple"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject RowsCodecType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "connectors.source.mysql._binlogcodec.RowsCodec",
    .tp_basicsize = sizeof(RowsCodec),
    .tp_dealloc = (destructor)RowsCodec_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "RowsCodec(fields, key, columns): binlog rows events to Debezium event bytes.",
    .tp_traverse = (traverseproc)RowsCodec_traverse,
    .tp_clear = (inquiry)RowsCodec_clear,
    .tp_methods = RowsCodec_methods,
    .tp_members = RowsCodec_members,
    .tp_init = (initproc)RowsCodec_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef binlogcodec_module = {
    PyModuleDef_HEAD_INIT,
    "connectors.source.mysql._binlogcodec",
    "Binlog rows events to Debezium event bytes (see connectors/source/mysql/encoded.py).",
    -1,
    module_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__binlogcodec(void)
{
    return rowcodec_module(&binlogcodec_module, &RowsCodecType, "RowsCodec", NULL, NULL);
}
