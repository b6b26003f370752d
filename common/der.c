/* der.c - strict DER reader and size-then-fill writer.  See der.h. */
#include "der.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
der_view_init(der_view *v, const uint8_t *buf, size_t len)
{
    v->data = buf;
    v->len = len;
    v->offset = 0;
}

int
der_fail(der_err *err, size_t offset, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return 0;
    err->offset = offset;
    va_start(ap, fmt);
    (void)vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
    return 0;
}

int
der_skip(der_view *in, size_t n, der_view *out_opt)
{
    if (n > in->len)
        return 0;
    if (out_opt != NULL) {
        out_opt->data = in->data;
        out_opt->len = n;
        out_opt->offset = in->offset;
    }
    in->data += n;
    in->len -= n;
    in->offset += n;
    return 1;
}

int
der_peek_tag(const der_view *in, uint8_t *tag_out)
{
    if (in->len == 0)
        return 0;
    *tag_out = in->data[0];
    return 1;
}

/* Read the length octets at in->data[1..]; *hdr_out gets tag+length size. */
static int
read_length(const der_view *in, const char *what, size_t *len_out,
            size_t *hdr_out, der_err *err)
{
    size_t off = in->offset + 1;
    uint8_t first, nbytes;
    size_t len = 0, i;

    if (in->len < 2)
        return der_fail(err, in->offset,
                        "truncated: %s has no length byte at offset %zu",
                        what, off);
    first = in->data[1];
    if (first < 0x80) {
        *len_out = first;
        *hdr_out = 2;
        return 1;
    }
    if (first == 0x80)
        return der_fail(err, off,
                        "indefinite length at offset %zu in %s "
                        "(DER forbids it, X.690 10.1)", off, what);
    nbytes = first & 0x7f;
    if (nbytes > DER_MAX_LENGTH_BYTES)
        return der_fail(err, off,
                        "length of %s at offset %zu uses %u bytes "
                        "(at most %d accepted)", what, off, nbytes,
                        DER_MAX_LENGTH_BYTES);
    if (in->len - 2 < nbytes)
        return der_fail(err, off, "truncated: length of %s at offset %zu "
                        "needs %u more bytes", what, off, nbytes);
    if (in->data[2] == 0)
        return der_fail(err, off, "non-minimal length at offset %zu in %s: "
                        "leading zero byte (DER X.690 10.1)", off, what);
    for (i = 0; i < nbytes; i++)
        len = (len << 8) | in->data[2 + i];
    if (len < 0x80)
        return der_fail(err, off, "non-minimal length 0x%02x %02x for %zu "
                        "at offset %zu in %s (DER X.690 10.1: short form "
                        "required)", first, in->data[2], len, off, what);
    *len_out = len;
    *hdr_out = 2 + (size_t)nbytes;
    return 1;
}

int
der_get_any(der_view *in, const char *what, uint8_t *tag_out,
            der_view *contents_out, der_view *whole_out_opt, der_err *err)
{
    size_t len = 0, hdr = 0;
    der_view copy = *in, whole = DER_VIEW_EMPTY;
    uint8_t tag = 0;

    if (!der_peek_tag(in, &tag))
        return der_fail(err, in->offset,
                        "truncated: expected %s at offset %zu, "
                        "found end of data", what, in->offset);
    if ((tag & 0x1f) == 0x1f)
        return der_fail(err, in->offset, "unsupported multi-byte tag 0x%02x "
                        "for %s at offset %zu", tag, what, in->offset);
    if (!read_length(in, what, &len, &hdr, err))
        return 0;
    if (len > in->len - hdr)
        return der_fail(err, in->offset, "truncated: TLV at %zu declares %zu "
                        "content bytes, only %zu available (%s)", in->offset,
                        len, in->len - hdr, what);
    if (!der_skip(&copy, hdr + len, &whole))
        return 0;
    *tag_out = tag;
    contents_out->data = whole.data + hdr;
    contents_out->len = len;
    contents_out->offset = whole.offset + hdr;
    if (whole_out_opt != NULL)
        *whole_out_opt = whole;
    *in = copy;
    return 1;
}

int
der_get(der_view *in, uint8_t tag, const char *what, der_view *contents_out,
        der_view *whole_out_opt, der_err *err)
{
    uint8_t got = 0;
    der_view copy = *in, contents = DER_VIEW_EMPTY, whole = DER_VIEW_EMPTY;

    if (!der_get_any(&copy, what, &got, &contents, &whole, err))
        return 0;
    if (got != tag)
        return der_fail(err, in->offset, "expected %s (tag 0x%02x) at "
                        "offset %zu, found tag 0x%02x", what, tag,
                        in->offset, got);
    *contents_out = contents;
    if (whole_out_opt != NULL)
        *whole_out_opt = whole;
    *in = copy;
    return 1;
}

int
der_get_optional(der_view *in, uint8_t tag, const char *what,
                 der_view *contents_out, int *present_out, der_err *err)
{
    uint8_t got = 0;

    *present_out = 0;
    if (!der_peek_tag(in, &got) || got != tag)
        return 1;
    if (!der_get(in, tag, what, contents_out, NULL, err))
        return 0;
    *present_out = 1;
    return 1;
}

int
der_check_oid(const der_view *contents, const char *what, der_err *err)
{
    size_t i, start = 0;

    if (contents->len == 0)
        return der_fail(err, contents->offset, "empty OBJECT IDENTIFIER in "
                        "%s at offset %zu", what, contents->offset);
    for (i = 0; i < contents->len; i++) {
        uint8_t b = contents->data[i];
        size_t off = contents->offset + i;

        if (i == start && b == 0x80)
            return der_fail(err, off, "non-minimal OID sub-identifier at "
                            "%zu in %s (X.690 8.19.2)", off, what);
        if (i - start >= 9)
            return der_fail(err, off, "OID sub-identifier longer than 63 "
                            "bits at %zu in %s", off, what);
        if ((b & 0x80) == 0)
            start = i + 1;
    }
    if (start != contents->len)
        return der_fail(err, contents->offset + contents->len - 1,
                        "truncated OID sub-identifier at %zu in %s",
                        contents->offset + contents->len - 1, what);
    return 1;
}

int
der_get_oid(der_view *in, const char *what, der_view *oid_out, der_err *err)
{
    der_view copy = *in, contents = DER_VIEW_EMPTY;

    if (!der_get(&copy, DER_TAG_OID, what, &contents, NULL, err))
        return 0;
    if (!der_check_oid(&contents, what, err))
        return 0;
    *oid_out = contents;
    *in = copy;
    return 1;
}

/* A constructed form of a string type is BER only (and the MS04-007 bug). */
static int
get_primitive_string(der_view *in, uint8_t tag, const char *what,
                     der_view *out, der_err *err)
{
    uint8_t got = 0;

    if (der_peek_tag(in, &got) && got == (tag | DER_CONSTRUCTED))
        return der_fail(err, in->offset, "constructed encoding of %s at "
                        "offset %zu (DER requires the primitive form)", what,
                        in->offset);
    return der_get(in, tag, what, out, NULL, err);
}

int
der_get_octet_string(der_view *in, const char *what, der_view *out,
                     der_err *err)
{
    return get_primitive_string(in, DER_TAG_OCTET_STRING, what, out, err);
}

int
der_get_bit_string(der_view *in, const char *what, der_view *out,
                   der_err *err)
{
    der_view copy = *in, bits = DER_VIEW_EMPTY;
    uint8_t unused = 0, last = 0;

    if (!get_primitive_string(&copy, DER_TAG_BIT_STRING, what, &bits, err))
        return 0;
    if (bits.len == 0)
        return der_fail(err, bits.offset, "BIT STRING %s at offset %zu has "
                        "no unused-bits byte", what, bits.offset);
    unused = bits.data[0];
    if (unused > 7)
        return der_fail(err, bits.offset, "BIT STRING %s at offset %zu "
                        "declares %u unused bits (at most 7)", what,
                        bits.offset, unused);
    if (bits.len == 1 && unused != 0)
        return der_fail(err, bits.offset, "empty BIT STRING %s at offset %zu "
                        "declares %u unused bits", what, bits.offset, unused);
    last = bits.data[bits.len - 1];
    if (bits.len > 1 && (last & ((1u << unused) - 1u)) != 0)
        return der_fail(err, bits.offset + bits.len - 1, "BIT STRING %s: "
                        "unused bits at offset %zu are not zero (X.690 "
                        "11.2.1)", what, bits.offset + bits.len - 1);
    *out = bits;
    *in = copy;
    return 1;
}

int
der_get_enumerated(der_view *in, const char *what, unsigned max,
                   unsigned *value_out, der_err *err)
{
    der_view copy = *in, v = DER_VIEW_EMPTY;

    if (!der_get(&copy, DER_TAG_ENUMERATED, what, &v, NULL, err))
        return 0;
    if (v.len == 0)
        return der_fail(err, v.offset, "%s ENUMERATED has zero-length "
                        "content at offset %zu (X.690 8.4/8.3.1)", what,
                        v.offset);
    if (v.len > 1 && ((v.data[0] == 0x00 && v.data[1] < 0x80) ||
                      (v.data[0] == 0xff && v.data[1] >= 0x80)))
        return der_fail(err, v.offset, "%s ENUMERATED at offset %zu is not "
                        "minimally encoded (X.690 8.3.2)", what, v.offset);
    if (v.len > 1 || v.data[0] > max)
        return der_fail(err, v.offset, "%s value %s%u at offset %zu not in "
                        "{0..%u}", what, v.len > 1 ? "(multi-byte) " : "",
                        (unsigned)v.data[0], v.offset, max);
    *value_out = v.data[0];
    *in = copy;
    return 1;
}

int
der_expect_end(const der_view *in, const char *what, der_err *err)
{
    if (in->len == 0)
        return 1;
    return der_fail(err, in->offset, "%zu unexpected byte%s at offset %zu "
                    "after the end of %s", in->len, in->len == 1 ? "" : "s",
                    in->offset, what);
}

int
der_oid_to_dotted(const uint8_t *oid, size_t len, char *buf, size_t bufsize)
{
    der_view v = DER_VIEW_EMPTY;
    uint64_t sub = 0;
    size_t i, used = 0;
    int first = 1, n;

    der_view_init(&v, oid, len);
    if (bufsize == 0 || !der_check_oid(&v, "OID", NULL))
        return 0;
    buf[0] = '\0';
    for (i = 0; i < len; i++) {
        sub = (sub << 7) | (oid[i] & 0x7f);
        if (oid[i] & 0x80)
            continue;
        if (first) {
            uint64_t arc1 = sub < 40 ? 0 : sub < 80 ? 1 : 2;
            n = snprintf(buf + used, bufsize - used, "%llu.%llu",
                         (unsigned long long)arc1,
                         (unsigned long long)(sub - arc1 * 40));
            first = 0;
        } else {
            n = snprintf(buf + used, bufsize - used, ".%llu",
                         (unsigned long long)sub);
        }
        if (n < 0 || (size_t)n >= bufsize - used)
            return 0;
        used += (size_t)n;
        sub = 0;
    }
    return 1;
}

/* Parse one decimal arc; advances *p.  Returns 0 if none or overflow. */
static int
parse_arc(const char **p, uint64_t *arc_out)
{
    uint64_t v = 0;
    const char *s = *p;

    if (*s < '0' || *s > '9')
        return 0;
    if (*s == '0' && s[1] >= '0' && s[1] <= '9')
        return 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX >> 8) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *p = s;
    *arc_out = v;
    return 1;
}

/* Append sub-identifier v in base 128; returns bytes written or 0. */
static size_t
put_subid(uint64_t v, uint8_t *out, size_t room)
{
    uint8_t tmp[10];
    size_t n = 0, i;

    do {
        tmp[n++] = (uint8_t)(v & 0x7f);
        v >>= 7;
    } while (v != 0);
    if (n > room)
        return 0;
    for (i = 0; i < n; i++)
        out[i] = (uint8_t)(tmp[n - 1 - i] | (i + 1 < n ? 0x80 : 0));
    return n;
}

size_t
der_oid_from_dotted(const char *dotted, uint8_t *out, size_t outsize)
{
    const char *p = dotted;
    uint64_t a1, a2, arc;
    size_t used, n;

    if (!parse_arc(&p, &a1) || a1 > 2 || *p++ != '.' || !parse_arc(&p, &a2))
        return 0;
    if (a1 < 2 && a2 >= 40)
        return 0;
    used = put_subid(a1 * 40 + a2, out, outsize);
    if (used == 0)
        return 0;
    while (*p == '.') {
        p++;
        if (!parse_arc(&p, &arc))
            return 0;
        n = put_subid(arc, out + used, outsize - used);
        if (n == 0)
            return 0;
        used += n;
    }
    return *p == '\0' ? used : 0;
}

/* ---- writer ---- */

static size_t
length_bytes(size_t content_len)
{
    size_t n = 1;

    if (content_len < 0x80)
        return 1;
    while (content_len > 0) {
        n++;
        content_len >>= 8;
    }
    return n;
}

size_t
der_tlv_size(size_t content_len)
{
    return 1 + length_bytes(content_len) + content_len;
}

int
der_writer_init(der_writer *w, size_t size)
{
    w->cap = size;
    w->len = 0;
    w->failed = 0;
    w->buf = malloc(size == 0 ? 1 : size);
    if (w->buf == NULL)
        w->failed = 1;
    return !w->failed;
}

void
der_put_bytes(der_writer *w, const uint8_t *data, size_t len)
{
    if (w->failed || len > w->cap - w->len) {
        w->failed = 1;
        return;
    }
    if (len > 0)
        memcpy(w->buf + w->len, data, len);
    w->len += len;
}

void
der_put_header(der_writer *w, uint8_t tag, size_t content_len)
{
    uint8_t hdr[1 + 1 + sizeof(size_t)];
    size_t nlen = length_bytes(content_len), i;

    hdr[0] = tag;
    if (nlen == 1) {
        hdr[1] = (uint8_t)content_len;
    } else {
        hdr[1] = (uint8_t)(0x80 | (nlen - 1));
        for (i = 0; i < nlen - 1; i++)
            hdr[2 + i] = (uint8_t)(content_len >> (8 * (nlen - 2 - i)));
    }
    der_put_bytes(w, hdr, 1 + nlen);
}

void
der_put_tlv(der_writer *w, uint8_t tag, const uint8_t *data, size_t len)
{
    der_put_header(w, tag, len);
    der_put_bytes(w, data, len);
}

int
der_writer_finish(der_writer *w, uint8_t **buf_out, size_t *len_out)
{
    *buf_out = NULL;
    *len_out = 0;
    if (w->failed || w->len != w->cap) {
        /* A size computation that disagrees with the fill is a bug. */
        assert(w->buf == NULL);
        der_writer_cleanup(w);
        return 0;
    }
    *buf_out = w->buf;
    *len_out = w->len;
    w->buf = NULL;
    return 1;
}

void
der_writer_cleanup(der_writer *w)
{
    free(w->buf);
    w->buf = NULL;
    w->cap = w->len = 0;
}
