/* layer.c - SASL security layer framing over GSS-API.  See layer.h. */
#include "layer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi_ext.h>

#define HDR 4
#define LAYER_MIN_TOKEN 16

static enum layer_status
layer_fail(struct spnego_layer *l, enum layer_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static enum layer_status
layer_fail(struct spnego_layer *l, enum layer_status st, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(l->err, sizeof(l->err), fmt, ap);
    va_end(ap);
    return st;
}

/* Grow b to hold at least `need` bytes, keeping b->len bytes.  The old
 * buffer is zeroed before it is freed: it may hold plaintext. */
static int
reserve(struct layer_buf *b, size_t need)
{
    uint8_t *grown;
    size_t cap = b->cap ? b->cap : 4096;

    if (need <= b->cap)
        return 1;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return 0;
        cap *= 2;
    }
    grown = malloc(cap);
    if (grown == NULL)
        return 0;
    if (b->data != NULL) {
        memcpy(grown, b->data, b->len);
        explicit_bzero(b->data, b->cap);
        free(b->data);
    }
    b->data = grown;
    b->cap = cap;
    return 1;
}

static void
buf_free(struct layer_buf *b)
{
    if (b->data != NULL)
        explicit_bzero(b->data, b->cap);
    free(b->data);
    b->data = NULL;
    b->cap = b->len = 0;
}

static void
put_be32(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Padding a block cipher may add beyond the measured overhead. */
#define LAYER_PAD_SLACK 16u

enum layer_status
spnego_layer_init(struct spnego_layer *l, gss_ctx_id_t gss, int conf,
                  size_t send_max, size_t recv_max)
{
    OM_uint32 major, minor, max_in = 0;
    OM_uint32 limit;

    memset(l, 0, sizeof(*l));
    l->gss = gss;
    l->conf = conf;
    l->use_iov = 1;
    l->send_max = send_max;
    l->recv_max = recv_max;
    if (send_max <= HDR || recv_max == 0 || recv_max > 0xffffffffu)
        return layer_fail(l, LAYER_FAIL, "invalid buffer sizes (send %zu, "
                          "receive %zu)", send_max, recv_max);
    limit = send_max - HDR > 0xffffffffu ? 0xffffffffu
                                         : (OM_uint32)(send_max - HDR);
    major = gss_wrap_size_limit(&minor, gss, conf, GSS_C_QOP_DEFAULT, limit,
                                &max_in);
    if (GSS_ERROR(major) || max_in == 0)
        return layer_fail(l, LAYER_FAIL, "gss_wrap_size_limit failed for a "
                          "%zu-byte buffer (major 0x%x)", send_max,
                          (unsigned)major);
    l->maxoutbuf = max_in;
    /* recv_max counts the data a packet carries: its token may be larger
     * by the wrap overhead (as measured above), plus one cipher block of
     * padding. */
    if (l->recv_max <= 0xffffffffu - (limit - max_in) - LAYER_PAD_SLACK)
        l->recv_max += (limit - max_in) + LAYER_PAD_SLACK;
    return LAYER_OK;
}

/* Copy `len` bytes starting at *pos of the iovec list into dst. */
static void
gather(const struct iovec *iov, size_t n, size_t *idx, size_t *off,
       uint8_t *dst, size_t len)
{
    while (len > 0 && *idx < n) {
        size_t avail = iov[*idx].iov_len - *off;
        size_t take = avail < len ? avail : len;

        memcpy(dst, (const uint8_t *)iov[*idx].iov_base + *off, take);
        dst += take;
        len -= take;
        *off += take;
        if (*off == iov[*idx].iov_len) {
            (*idx)++;
            *off = 0;
        }
    }
}

struct cursor {
    const struct iovec *iov;
    size_t n, idx, off;
};

/* One packet with gss_wrap_iov, wrapped in place in l->enc.  Returns
 * LAYER_OK, or LAYER_FAIL with use_iov cleared if the mechanism has no
 * IOV support (the caller then falls back). */
static enum layer_status
wrap_chunk_iov(struct spnego_layer *l, struct cursor *c, size_t len)
{
    gss_iov_buffer_desc v[4];
    OM_uint32 major, minor;
    int conf_state = 0;
    size_t tok, i;
    uint8_t *p;

    memset(v, 0, sizeof(v));
    v[0].type = GSS_IOV_BUFFER_TYPE_HEADER;
    v[1].type = GSS_IOV_BUFFER_TYPE_DATA;
    v[1].buffer.length = len;
    v[2].type = GSS_IOV_BUFFER_TYPE_PADDING;
    v[3].type = GSS_IOV_BUFFER_TYPE_TRAILER;
    major = gss_wrap_iov_length(&minor, l->gss, l->conf, GSS_C_QOP_DEFAULT,
                                &conf_state, v, 4);
    if (GSS_ERROR(major)) {
        l->use_iov = 0;
        return LAYER_FAIL;
    }
    tok = v[0].buffer.length + len + v[2].buffer.length + v[3].buffer.length;
    if (!reserve(&l->enc, l->enc.len + HDR + tok))
        return layer_fail(l, LAYER_NOMEM, "out of memory for a %zu-byte "
                          "packet", tok);
    p = l->enc.data + l->enc.len + HDR;
    for (i = 0; i < 4; i++) {
        v[i].buffer.value = p;
        p += v[i].buffer.length;
    }
    gather(c->iov, c->n, &c->idx, &c->off, v[1].buffer.value, len);
    major = gss_wrap_iov(&minor, l->gss, l->conf, GSS_C_QOP_DEFAULT,
                         &conf_state, v, 4);
    if (GSS_ERROR(major) || (l->conf && !conf_state) ||
        v[0].buffer.length + v[1].buffer.length + v[2].buffer.length +
                v[3].buffer.length != tok)
        return layer_fail(l, LAYER_FAIL, "gss_wrap_iov failed (major 0x%x)",
                          (unsigned)major);
    put_be32(l->enc.data + l->enc.len, tok);
    l->enc.len += HDR + tok;
    return LAYER_OK;
}

/* One packet with plain gss_wrap (mechanisms without IOV support). */
static enum layer_status
wrap_chunk_plain(struct spnego_layer *l, struct cursor *c, size_t len)
{
    gss_buffer_desc in, out = GSS_C_EMPTY_BUFFER;
    OM_uint32 major, minor;
    int conf_state = 0;
    uint8_t *plain;
    enum layer_status st = LAYER_OK;

    if (!reserve(&l->enc, l->enc.len + HDR + len))
        return layer_fail(l, LAYER_NOMEM, "out of memory");
    /* Stage the plaintext where the packet will go; gss_wrap copies. */
    plain = l->enc.data + l->enc.len + HDR;
    gather(c->iov, c->n, &c->idx, &c->off, plain, len);
    in.value = plain;
    in.length = len;
    major = gss_wrap(&minor, l->gss, l->conf, GSS_C_QOP_DEFAULT, &in,
                     &conf_state, &out);
    explicit_bzero(plain, len);
    if (GSS_ERROR(major) || (l->conf && !conf_state)) {
        st = layer_fail(l, LAYER_FAIL, "gss_wrap failed (major 0x%x)",
                        (unsigned)major);
        goto cleanup;
    }
    if (!reserve(&l->enc, l->enc.len + HDR + out.length)) {
        st = layer_fail(l, LAYER_NOMEM, "out of memory");
        goto cleanup;
    }
    put_be32(l->enc.data + l->enc.len, out.length);
    memcpy(l->enc.data + l->enc.len + HDR, out.value, out.length);
    l->enc.len += HDR + out.length;
cleanup:
    (void)gss_release_buffer(&minor, &out);
    return st;
}

enum layer_status
spnego_layer_encode(struct spnego_layer *l, const struct iovec *iov,
                    size_t n, const uint8_t **out, size_t *out_len)
{
    struct cursor c = { iov, n, 0, 0 };
    size_t total = 0, i, chunk;
    enum layer_status st;

    *out = NULL;
    *out_len = 0;
    for (i = 0; i < n; i++)
        total += iov[i].iov_len;
    l->enc.len = 0;
    while (total > 0) {
        chunk = total < l->maxoutbuf ? total : l->maxoutbuf;
        st = LAYER_FAIL;
        if (l->use_iov) {
            struct cursor saved = c;

            st = wrap_chunk_iov(l, &c, chunk);
            if (st != LAYER_OK && !l->use_iov)
                c = saved; /* no IOV support: retry the same bytes */
        }
        if (!l->use_iov)
            st = wrap_chunk_plain(l, &c, chunk);
        if (st != LAYER_OK)
            return st;
        total -= chunk;
    }
    *out = l->enc.data;
    *out_len = l->enc.len;
    return LAYER_OK;
}

/* ---- decode ---- */

struct pending {
    const uint8_t *data; /* plaintext of the one packet completed so far */
    size_t len;
};

/* Move the pending plaintext into l->dec (before pkt is reused). */
static enum layer_status
flush_pending(struct spnego_layer *l, struct pending *p)
{
    if (p->data == NULL)
        return LAYER_OK;
    if (!reserve(&l->dec, l->dec.len + p->len))
        return layer_fail(l, LAYER_NOMEM, "out of memory");
    memcpy(l->dec.data + l->dec.len, p->data, p->len);
    l->dec.len += p->len;
    p->data = NULL;
    p->len = 0;
    return LAYER_OK;
}

static enum layer_status
unwrap_plain(struct spnego_layer *l, struct pending *p)
{
    gss_buffer_desc in = { l->pkt.len, l->pkt.data };
    gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
    OM_uint32 major, minor;
    int conf_state = 0;
    enum layer_status st = LAYER_OK;

    major = gss_unwrap(&minor, l->gss, &in, &out, &conf_state, NULL);
    if (GSS_ERROR(major)) {
        st = layer_fail(l, LAYER_BAD_MAC, "a security-layer packet of %zu "
                        "bytes failed its integrity check (major 0x%x)",
                        l->pkt.len, (unsigned)major);
        goto cleanup;
    }
    /* A replayed, duplicate, early or late packet: the stream was
     * tampered with (MIT still hands back the data of a replay). */
    if (GSS_SUPPLEMENTARY_INFO(major) != 0) {
        st = layer_fail(l, LAYER_BAD_MAC, "a security-layer packet arrived "
                        "replayed or out of order (status 0x%x): the stream "
                        "was tampered with", (unsigned)major);
        goto cleanup;
    }
    if (l->conf && !conf_state) {
        st = layer_fail(l, LAYER_BAD_MAC, "an unencrypted packet arrived on "
                        "a confidentiality layer");
        goto cleanup;
    }
    /* gss_unwrap allocated: stage the plaintext in pkt (it fits). */
    memcpy(l->pkt.data, out.value, out.length);
    p->data = l->pkt.data;
    p->len = out.length;
cleanup:
    if (out.value != NULL)
        explicit_bzero(out.value, out.length);
    (void)gss_release_buffer(&minor, &out);
    return st;
}

/* Unwrap the complete packet in l->pkt; p gets its plaintext.  Plain
 * gss_unwrap, not gss_unwrap_iov with a STREAM buffer: MIT krb5 1.20
 * dereferences NULL in kg_unseal_stream_iov for an RFC 1964 token ID on an
 * RFC 4121 context, before any integrity check (found by fuzz-layer). */
static enum layer_status
unwrap_packet(struct spnego_layer *l, struct pending *p)
{
    return unwrap_plain(l, p);
}

/* Consume length-header bytes; sets l->need once all four are in. */
static enum layer_status
take_header(struct spnego_layer *l, const uint8_t **in, size_t *in_len)
{
    size_t take = HDR - l->hdr_have;

    if (take > *in_len)
        take = *in_len;
    memcpy(l->hdr + l->hdr_have, *in, take);
    l->hdr_have += take;
    *in += take;
    *in_len -= take;
    if (l->hdr_have < HDR)
        return LAYER_OK;
    l->need = (size_t)l->hdr[0] << 24 | (size_t)l->hdr[1] << 16 |
              (size_t)l->hdr[2] << 8 | (size_t)l->hdr[3];
    /* No wrap token is shorter than 16 bytes (RFC 4121 and NTLM headers
     * alone are 16); gss-ntlmssp 1.2.0 mishandles shorter ones. */
    if (l->need < LAYER_MIN_TOKEN || l->need > l->recv_max)
        return layer_fail(l, LAYER_BAD_LENGTH, "the peer sent a "
                          "security-layer packet of %zu bytes; the limit is "
                          "%d to %zu", l->need, LAYER_MIN_TOKEN, l->recv_max);
    return LAYER_OK;
}

/* One round: header bytes, or packet bytes, possibly completing one. */
static enum layer_status
decode_some(struct spnego_layer *l, const uint8_t **in, size_t *in_len,
            struct pending *p)
{
    enum layer_status st;
    size_t take;

    if (l->hdr_have < HDR)
        return take_header(l, in, in_len);
    if (l->pkt.len == 0) {
        st = flush_pending(l, p); /* pkt is about to be reused */
        if (st != LAYER_OK)
            return st;
        if (!reserve(&l->pkt, l->need))
            return layer_fail(l, LAYER_NOMEM, "out of memory for a %zu-byte "
                              "packet", l->need);
    }
    take = l->need - l->pkt.len;
    if (take > *in_len)
        take = *in_len;
    memcpy(l->pkt.data + l->pkt.len, *in, take);
    l->pkt.len += take;
    *in += take;
    *in_len -= take;
    if (l->pkt.len < l->need)
        return LAYER_OK;
    st = unwrap_packet(l, p);
    l->pkt.len = 0;
    l->hdr_have = 0;
    l->need = 0;
    return st;
}

enum layer_status
spnego_layer_decode(struct spnego_layer *l, const uint8_t *in,
                    size_t in_len, const uint8_t **out, size_t *out_len)
{
    struct pending p = { NULL, 0 };
    enum layer_status st = LAYER_OK;

    *out = NULL;
    *out_len = 0;
    if (l->failed)
        return layer_fail(l, LAYER_FAIL, "the security layer already "
                          "failed; the connection must be closed");
    l->dec.len = 0;
    while (in_len > 0 && st == LAYER_OK)
        st = decode_some(l, &in, &in_len, &p);
    if (st != LAYER_OK) {
        l->failed = 1;
        return st;
    }
    if (l->dec.len == 0) {
        *out = p.data;
        *out_len = p.len;
        return LAYER_OK;
    }
    st = flush_pending(l, &p);
    *out = l->dec.data;
    *out_len = l->dec.len;
    return st;
}

void
spnego_layer_cleanup(struct spnego_layer *l)
{
    buf_free(&l->enc);
    buf_free(&l->pkt);
    buf_free(&l->dec);
    explicit_bzero(l->hdr, sizeof(l->hdr));
}
