/* layer.c - SASL security layer framing over GSS-API.  See layer.h. */
#include "layer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>

#include "cfx.h"

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

/* GSS_KRB5_EXPORT_LUCID_SEC_CONTEXT_OID (1.2.840.113554.1.2.2.5.6) with
 * version 1 appended: what gss_krb5_export_lucid_sec_context asks for
 * before it deletes the context.  Asked directly, the context lives on. */
static gss_OID_desc lucid_v1_oid = {
    12, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x05\x06\x01"
};

static void
set_path(struct spnego_layer *l, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void
set_path(struct spnego_layer *l, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(l->path, sizeof(l->path), fmt, ap);
    va_end(ap);
}

/* The keys of a lucid v1 context, or 0 with the reason in l->path. */
static int
lucid_keys(struct spnego_layer *l, const gss_krb5_lucid_context_v1_t *lc,
           unsigned peer_mics, struct cfx_keys *k)
{
    const gss_krb5_lucid_key_t *key;

    if (lc->version != 1 || lc->protocol != 1) {
        set_path(l, "gss_wrap: the Kerberos context has RFC 1964 tokens "
                 "(an enctype older than AES)");
        return 0;
    }
    key = lc->cfx_kd.have_acceptor_subkey ? &lc->cfx_kd.acceptor_subkey
                                          : &lc->cfx_kd.ctx_key;
    if (kc_enctype_find((int32_t)key->type) == NULL) {
        set_path(l, "gss_wrap: enctype %u has no AES profile here",
                 (unsigned)key->type);
        return 0;
    }
    k->initiator = lc->initiate != 0;
    k->acceptor_subkey = lc->cfx_kd.have_acceptor_subkey != 0;
    k->enctype = (int32_t)key->type;
    k->key = key->data;
    k->keylen = key->length;
    k->send_seq = lc->send_seq;
    /* MIT's lucid recv_seq is the number expected when the context was
     * established; the peer's mechListMIC used it. */
    k->recv_seq = lc->recv_seq + peer_mics;
    return 1;
}

/* Start the fast path, or leave l->fast NULL with the reason in l->path.
 * Returns LAYER_OK, or LAYER_NOMEM. */
static enum layer_status
fast_start(struct spnego_layer *l, gss_ctx_id_t gss,
           const struct spnego_layer_fast *f)
{
    gss_buffer_set_t set = GSS_C_NO_BUFFER_SET;
    gss_krb5_lucid_context_v1_t *lc = NULL;
    OM_uint32 major, minor;
    struct cfx_keys keys;
    struct cfx *fast = NULL;
    char err[128];
    enum layer_status st = LAYER_OK;

    /* The answer is one buffer holding a pointer to the lucid struct. */
    major = gss_inquire_sec_context_by_oid(&minor, gss, &lucid_v1_oid, &set);
    if (GSS_ERROR(major) || set == GSS_C_NO_BUFFER_SET || set->count != 1 ||
        set->elements[0].length != sizeof(void *)) {
        set_path(l, "gss_wrap: the mechanism does not give its keys (not "
                 "MIT's Kerberos; major 0x%x)", (unsigned)major);
        goto cleanup;
    }
    memcpy(&lc, set->elements[0].value, sizeof(void *));
    if (!lucid_keys(l, lc, f->peer_mics, &keys))
        goto cleanup;
    fast = calloc(1, sizeof(*fast));
    if (fast == NULL) {
        st = layer_fail(l, LAYER_NOMEM, "out of memory");
        goto cleanup;
    }
    if (!cfx_init(fast, &keys, l->conf, err, sizeof(err))) {
        set_path(l, "gss_wrap: %s", err);
        goto cleanup;
    }
    set_path(l, "RFC 4121 tokens on libcrypto (%s, %s)", fast->et->name,
             l->conf ? "sealed" : "integrity only");
    l->fast = fast;
    fast = NULL;
cleanup:
    if (fast != NULL) {
        cfx_free(fast);
        free(fast);
    }
    if (lc != NULL)
        (void)gss_krb5_free_lucid_sec_context(&minor, lc); /* wipes keys */
    (void)gss_release_buffer_set(&minor, &set);
    return st;
}

/* maxoutbuf and the received-token bound of the GSS-API path. */
static enum layer_status
gss_sizes(struct spnego_layer *l, OM_uint32 limit)
{
    OM_uint32 major, minor, max_in = 0;

    major = gss_wrap_size_limit(&minor, l->gss, l->conf, GSS_C_QOP_DEFAULT,
                                limit, &max_in);
    if (GSS_ERROR(major) || max_in == 0)
        return layer_fail(l, LAYER_FAIL, "gss_wrap_size_limit failed for a "
                          "%zu-byte buffer (major 0x%x)", l->send_max,
                          (unsigned)major);
    l->maxoutbuf = max_in;
    return LAYER_OK;
}

enum layer_status
spnego_layer_init(struct spnego_layer *l, gss_ctx_id_t gss, int conf,
                  size_t send_max, size_t recv_max,
                  const struct spnego_layer_fast *fast)
{
    OM_uint32 limit;
    size_t overhead;
    enum layer_status st;

    memset(l, 0, sizeof(*l));
    l->gss = gss;
    l->conf = conf;
    l->use_iov = 1;
    l->send_max = send_max;
    l->recv_max = recv_max;
    set_path(l, "gss_wrap: the fast path is off");
    if (send_max <= HDR || recv_max == 0 || recv_max > 0xffffffffu)
        return layer_fail(l, LAYER_FAIL, "invalid buffer sizes (send %zu, "
                          "receive %zu)", send_max, recv_max);
    limit = send_max - HDR > 0xffffffffu ? 0xffffffffu
                                         : (OM_uint32)(send_max - HDR);
    if (fast != NULL && fast->enable) {
        st = fast_start(l, gss, fast);
        if (st != LAYER_OK)
            return st;
    }
    if (l->fast != NULL) {
        overhead = cfx_overhead(l->fast);
        if (limit <= overhead)
            return layer_fail(l, LAYER_FAIL, "a %zu-byte buffer holds no "
                              "data after the token overhead", send_max);
        l->maxoutbuf = limit - overhead;
    } else {
        st = gss_sizes(l, limit);
        if (st != LAYER_OK)
            return st;
    }
    /* recv_max counts the data a packet carries: its token may be larger
     * by the wrap overhead, plus one cipher block of padding (or of
     * filler, EC, in RFC 4121 tokens). */
    overhead = limit - l->maxoutbuf;
    if (l->recv_max <= 0xffffffffu - overhead - LAYER_PAD_SLACK)
        l->recv_max += overhead + LAYER_PAD_SLACK;
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

/* One packet on the fast path, made in place in l->enc. */
static enum layer_status
wrap_chunk_fast(struct spnego_layer *l, struct cursor *c, size_t len)
{
    size_t tok = len + cfx_overhead(l->fast);
    uint8_t *p;

    if (!reserve(&l->enc, l->enc.len + HDR + tok))
        return layer_fail(l, LAYER_NOMEM, "out of memory for a %zu-byte "
                          "packet", tok);
    p = l->enc.data + l->enc.len + HDR;
    gather(c->iov, c->n, &c->idx, &c->off, p + cfx_data_offset(l->fast), len);
    if (cfx_wrap(l->fast, p, len) != CFX_OK)
        return layer_fail(l, LAYER_FAIL, "cannot make a packet: %s",
                          l->fast->why);
    put_be32(l->enc.data + l->enc.len, tok);
    l->enc.len += HDR + tok;
    return LAYER_OK;
}

/* One packet on the GSS-API path: gss_wrap_iov, or gss_wrap for a
 * mechanism without IOV support. */
static enum layer_status
wrap_chunk_gss(struct spnego_layer *l, struct cursor *c, size_t len)
{
    enum layer_status st = LAYER_FAIL;

    if (l->use_iov) {
        struct cursor saved = *c;

        st = wrap_chunk_iov(l, c, len);
        if (st != LAYER_OK && !l->use_iov)
            *c = saved; /* no IOV support: retry the same bytes */
    }
    if (!l->use_iov)
        st = wrap_chunk_plain(l, c, len);
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
        st = l->fast != NULL ? wrap_chunk_fast(l, &c, chunk)
                             : wrap_chunk_gss(l, &c, chunk);
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

/* The fast path: the token is checked and decrypted in place in pkt. */
static enum layer_status
unwrap_fast(struct spnego_layer *l, struct pending *p)
{
    uint8_t *msg = NULL;
    size_t len = 0;
    int sealed = 0;

    switch (cfx_unwrap(l->fast, l->pkt.data, l->pkt.len, &msg, &len,
                       &sealed)) {
    case CFX_OK:
        p->data = msg;
        p->len = len;
        return LAYER_OK;
    case CFX_BAD_SEQ:
        return layer_fail(l, LAYER_BAD_MAC, "a security-layer packet arrived "
                          "replayed or out of order: the stream was "
                          "tampered with");
    case CFX_BAD_MAC:
    case CFX_DEFECTIVE:
        return layer_fail(l, LAYER_BAD_MAC, "a security-layer packet of %zu "
                          "bytes failed its integrity check: %s", l->pkt.len,
                          l->fast->why);
    case CFX_FAIL:
    default:
        return layer_fail(l, LAYER_FAIL, "cannot check a packet: %s",
                          l->fast->why);
    }
}

/* Unwrap the complete packet in l->pkt; p gets its plaintext.  GSS-API:
 * plain gss_unwrap, not gss_unwrap_iov with a STREAM buffer: MIT krb5 1.20
 * dereferences NULL in kg_unseal_stream_iov for an RFC 1964 token ID on an
 * RFC 4121 context, before any integrity check (found by fuzz-layer). */
static enum layer_status
unwrap_packet(struct spnego_layer *l, struct pending *p)
{
    return l->fast != NULL ? unwrap_fast(l, p) : unwrap_plain(l, p);
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
    if (l->fast != NULL) {
        cfx_free(l->fast);
        free(l->fast);
        l->fast = NULL;
    }
}
