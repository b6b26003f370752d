/* test-malformed.c - malformed and out-of-place SPNEGO tokens fed to the
 * plugin through the public libsasl2 API (tests/sasl-harness.h).
 *
 * Every case starts from real tokens (the client's first token from
 * sasl_client_start, the server's real replies) and rebuilds them with
 * one defect, outer lengths recomputed so that the defect is the only
 * one.  Server cases go through sasl_server_start / sasl_server_step,
 * client cases through sasl_client_step after a real first message.  Each
 * case asserts the SASL code and a piece of the plugin's sentence in
 * sasl_errdetail(), prints that sentence, and disposes of the connection.
 * The last test runs a normal Kerberos login on the same libsasl2 server
 * initialisation, to show the plugin keeps serving.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "negtoken.h"
#include "sasl-harness.h"

/* ---- OIDs (DER contents) ---- */

static const uint8_t OID_SPNEGO[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02 };
static const uint8_t OID_KRB5[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7,
                                    0x12, 0x01, 0x02, 0x02 };
static const uint8_t OID_NTLM[] = { 0x2b, 0x06, 0x01, 0x04, 0x01,
                                    0x82, 0x37, 0x02, 0x02, 0x0a };
static const uint8_t OID_NEGOEX[] = { 0x2b, 0x06, 0x01, 0x04, 0x01,
                                      0x82, 0x37, 0x02, 0x02, 0x1e };
static const uint8_t OID_IAKERB[] = { 0x2b, 0x06, 0x01, 0x05, 0x02, 0x05 };
/* 1.2.3.4 and 1.3.6.1.4.1.99999.1 (private arcs nobody implements) */
static const uint8_t OID_UNKNOWN1[] = { 0x2a, 0x03, 0x04 };
static const uint8_t OID_UNKNOWN2[] = { 0x2b, 0x06, 0x01, 0x04, 0x01,
                                        0x86, 0x8d, 0x1f, 0x01 };

/* A Windows client's bare NTLM NEGOTIATE message (INTEROP.md 5). */
static const uint8_t NTLM_NEGOTIATE[] = {
    0x4e, 0x54, 0x4c, 0x4d, 0x53, 0x53, 0x50, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x97, 0x82, 0x08, 0xe2, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x0a, 0x00, 0x63, 0x45, 0x00, 0x00, 0x00, 0x0f
};

/* ---- a byte buffer and DER pieces built bottom-up ---- */

struct buf {
    uint8_t *p;
    size_t n;
};

static void
b_put(struct buf *b, const void *data, size_t n)
{
    uint8_t *p = realloc(b->p, b->n + n + 1);

    assert_non_null(p);
    b->p = p;
    if (n > 0)
        memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void
b_u8(struct buf *b, unsigned v)
{
    uint8_t c = (uint8_t)v;

    b_put(b, &c, 1);
}

static void
b_bytes(struct buf *b, size_t n, ...)
{
    va_list ap;
    size_t i;

    va_start(ap, n);
    for (i = 0; i < n; i++)
        b_u8(b, (unsigned)va_arg(ap, int));
    va_end(ap);
}

static void
b_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = 0;
}

/* DER length octets, minimal. */
static void
b_len(struct buf *b, size_t len)
{
    uint8_t tmp[sizeof(size_t)];
    size_t n = 0;

    if (len < 0x80) {
        b_u8(b, (unsigned)len);
        return;
    }
    while (len > 0) {
        tmp[n++] = (uint8_t)(len & 0xff);
        len >>= 8;
    }
    b_u8(b, 0x80u | (unsigned)n);
    while (n > 0)
        b_u8(b, tmp[--n]);
}

static void
b_tlv(struct buf *b, unsigned tag, const void *data, size_t n)
{
    b_u8(b, tag);
    b_len(b, n);
    b_put(b, data, n);
}

/* b := hdr || b */
static void
b_prefix(struct buf *b, const struct buf *hdr)
{
    struct buf r = { NULL, 0 };

    b_put(&r, hdr->p, hdr->n);
    b_put(&r, b->p, b->n);
    b_free(b);
    *b = r;
}

/* b := tag len(b) b */
static void
b_wrap(struct buf *b, unsigned tag)
{
    struct buf hdr = { NULL, 0 };

    b_u8(&hdr, tag);
    b_len(&hdr, b->n);
    b_prefix(b, &hdr);
    b_free(&hdr);
}

/* b := tag, then the given raw length octets, then b (a bad header). */
static void
b_wrap_raw(struct buf *b, unsigned tag, size_t nlen, ...)
{
    struct buf hdr = { NULL, 0 };
    va_list ap;
    size_t i;

    b_u8(&hdr, tag);
    va_start(ap, nlen);
    for (i = 0; i < nlen; i++)
        b_u8(&hdr, (unsigned)va_arg(ap, int));
    va_end(ap);
    b_prefix(b, &hdr);
    b_free(&hdr);
}

/* GSS framing: b := 60 { 06 SPNEGO, b } */
static void
frame(struct buf *b)
{
    struct buf hdr = { NULL, 0 };

    b_tlv(&hdr, 0x06, OID_SPNEGO, sizeof(OID_SPNEGO));
    b_prefix(b, &hdr);
    b_free(&hdr);
    b_wrap(b, 0x60);
}

/* b (the fields) := [0] SEQUENCE { b }: a NegTokenInit */
static void
init_choice(struct buf *b)
{
    b_wrap(b, 0x30);
    b_wrap(b, 0xa0);
}

/* b (the fields) := [1] SEQUENCE { b }: a NegTokenResp */
static void
resp_choice(struct buf *b)
{
    b_wrap(b, 0x30);
    b_wrap(b, 0xa1);
}

/* Append the explicit field [n] { tag data }. */
static void
field(struct buf *b, unsigned n, unsigned tag, const void *data,
      size_t len)
{
    struct buf f = { NULL, 0 };

    b_tlv(&f, tag, data, len);
    b_wrap(&f, 0xa0u | n);
    b_put(b, f.p, f.n);
    b_free(&f);
}

/* Append [n] { contents } where contents is already encoded. */
static void
field_raw(struct buf *b, unsigned n, const struct buf *contents)
{
    struct buf f = { NULL, 0 };

    b_put(&f, contents->p, contents->n);
    b_wrap(&f, 0xa0u | n);
    b_put(b, f.p, f.n);
    b_free(&f);
}

static void
add_oid(struct buf *b, const uint8_t *oid, size_t len)
{
    b_tlv(b, 0x06, oid, len);
}

#define ADD_OID(b, oid) add_oid((b), (oid), sizeof(oid))

/* Append mechTypes [0] { SEQUENCE { oids } } from encoded OIDs. */
static void
field_mech_types(struct buf *b, const struct buf *oids)
{
    struct buf seq = { NULL, 0 };

    b_put(&seq, oids->p, oids->n);
    b_wrap(&seq, 0x30);
    field_raw(b, 0, &seq);
    b_free(&seq);
}

/* Append negState [0] ENUMERATED v. */
static void
field_state(struct buf *b, unsigned v)
{
    uint8_t c = (uint8_t)v;

    field(b, 0, 0x0a, &c, 1);
}

/* ---- per-case context ---- */

struct mctx {
    struct buf first;       /* the client's real first token */
    struct negtoken ft;     /* decoded (views into first.p) */
    struct buf orig;        /* client cases: the real reply replaced */
    struct negtoken ot;     /* decoded (views into orig.p) */
    struct buf tok;         /* server cases: the token sent */
};

/* The running case's buffers: freed by the case, or by teardown() when a
 * failed assertion left it early. */
static struct mctx cur;

typedef void (*build_fn)(struct mctx *m, struct buf *out);

/* The encoded OIDs of the real offer. */
static void
real_oids(const struct mctx *m, struct buf *out)
{
    size_t i;

    for (i = 0; i < m->ft.n_mechs; i++)
        add_oid(out, m->ft.mechs[i].data, m->ft.mechs[i].len);
}

static void
real_mech_types(const struct mctx *m, struct buf *out)
{
    struct buf oids = { NULL, 0 };

    real_oids(m, &oids);
    field_mech_types(out, &oids);
    b_free(&oids);
}

static void
real_mech_token(const struct mctx *m, struct buf *out)
{
    field(out, 2, 0x04, m->ft.mech_token.data, m->ft.mech_token.len);
}

/* The real first token, rebuilt from its pieces (checked equal to it). */
static void
real_first(const struct mctx *m, struct buf *out)
{
    real_mech_types(m, out);
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
}

/* The server's reply, rebuilt with negState v (decoded pieces of orig). */
static void
reply_with_state(const struct mctx *m, int state, const uint8_t *mech,
                 size_t mech_len, struct buf *out)
{
    if (state >= 0)
        field_state(out, (unsigned)state);
    if (mech != NULL)
        field(out, 1, 0x06, mech, mech_len);
    if (m->ot.has_response_token)
        field(out, 2, 0x04, m->ot.response_token.data,
              m->ot.response_token.len);
    if (m->ot.has_mic)
        field(out, 3, 0x04, m->ot.mic.data, m->ot.mic.len);
    resp_choice(out);
}

/* ---- server, first token: truncation of the real token ---- */

/* Offsets of the field boundaries of the real first token, found by
 * walking it (60 L 06 L oid a0 L 30 L a0 L 30 L 06.. 06.. a2 L 04 L ..). */
enum cut {
    CUT_TAG_ONLY,
    CUT_IN_GSS_LENGTH,
    CUT_AFTER_GSS_HEADER,
    CUT_IN_THIS_MECH,
    CUT_AFTER_THIS_MECH,
    CUT_AFTER_INIT_HEADER,
    CUT_AFTER_SEQ_HEADER,
    CUT_AFTER_MECHTYPES_HEADER,
    CUT_IN_FIRST_OID,
    CUT_AFTER_FIRST_OID,
    CUT_IN_SECOND_OID,
    CUT_AFTER_MECHTYPES,
    CUT_AFTER_MECHTOKEN_HEADER,
    CUT_IN_MECHTOKEN,
    CUT_LAST_BYTE
};

/* Length of a DER header at p (tag + length octets). */
static size_t
hdr_len(const uint8_t *p)
{
    return p[1] < 0x80 ? 2 : 2 + (size_t)(p[1] & 0x7f);
}

static size_t
cut_offset(const struct mctx *m, enum cut c)
{
    const uint8_t *t = m->first.p;
    size_t gss = hdr_len(t);                 /* after 60 L */
    size_t this_mech = gss + 2 + t[gss + 1]; /* after 06 L oid */
    size_t init = this_mech + hdr_len(t + this_mech);  /* after a0 L */
    size_t seq = init + hdr_len(t + init);             /* after 30 L */
    size_t mt = seq + hdr_len(t + seq);                /* after a0 L */
    size_t mts = mt + hdr_len(t + mt);                 /* after 30 L */
    size_t oid1 = mts + 2 + t[mts + 1];
    size_t oid2 = oid1 + 2 + t[oid1 + 1];
    size_t tokf = oid2 + hdr_len(t + oid2);            /* after a2 L */
    size_t tok = tokf + hdr_len(t + tokf);             /* after 04 L */

    switch (c) {
    case CUT_TAG_ONLY:
        return 1;
    case CUT_IN_GSS_LENGTH:
        return 2;
    case CUT_AFTER_GSS_HEADER:
        return gss;
    case CUT_IN_THIS_MECH:
        return gss + 4;
    case CUT_AFTER_THIS_MECH:
        return this_mech;
    case CUT_AFTER_INIT_HEADER:
        return init;
    case CUT_AFTER_SEQ_HEADER:
        return seq;
    case CUT_AFTER_MECHTYPES_HEADER:
        return mts;
    case CUT_IN_FIRST_OID:
        return mts + 5;
    case CUT_AFTER_FIRST_OID:
        return oid1;
    case CUT_IN_SECOND_OID:
        return oid1 + 5;
    case CUT_AFTER_MECHTYPES:
        return oid2;
    case CUT_AFTER_MECHTOKEN_HEADER:
        return tok;
    case CUT_IN_MECHTOKEN:
        return tok + 100;
    case CUT_LAST_BYTE:
    default:
        return m->first.n - 1;
    }
}

static void
truncate_at(struct mctx *m, struct buf *out, enum cut c)
{
    size_t at = cut_offset(m, c);

    assert_true(at > 0 && at < m->first.n);
    b_put(out, m->first.p, at);
}

#define TRUNC(name, c)                                                      \
    static void name(struct mctx *m, struct buf *out)                      \
    {                                                                      \
        truncate_at(m, out, c);                                            \
    }

TRUNC(b_trunc_tag_only, CUT_TAG_ONLY)
TRUNC(b_trunc_in_gss_length, CUT_IN_GSS_LENGTH)
TRUNC(b_trunc_after_gss_header, CUT_AFTER_GSS_HEADER)
TRUNC(b_trunc_in_this_mech, CUT_IN_THIS_MECH)
TRUNC(b_trunc_after_this_mech, CUT_AFTER_THIS_MECH)
TRUNC(b_trunc_after_init_header, CUT_AFTER_INIT_HEADER)
TRUNC(b_trunc_after_seq_header, CUT_AFTER_SEQ_HEADER)
TRUNC(b_trunc_after_mechtypes_header, CUT_AFTER_MECHTYPES_HEADER)
TRUNC(b_trunc_in_first_oid, CUT_IN_FIRST_OID)
TRUNC(b_trunc_after_first_oid, CUT_AFTER_FIRST_OID)
TRUNC(b_trunc_in_second_oid, CUT_IN_SECOND_OID)
TRUNC(b_trunc_after_mechtypes, CUT_AFTER_MECHTYPES)
TRUNC(b_trunc_after_mechtoken_header, CUT_AFTER_MECHTOKEN_HEADER)
TRUNC(b_trunc_in_mechtoken, CUT_IN_MECHTOKEN)
TRUNC(b_trunc_last_byte, CUT_LAST_BYTE)

/* ---- server, first token: an inner element cut, outer lengths kept
 * consistent (the element's own length runs past its container) ---- */

static void
b_inner_second_oid_cut(struct mctx *m, struct buf *out)
{
    struct buf oids = { NULL, 0 };

    ADD_OID(&oids, OID_KRB5);
    b_bytes(&oids, 7, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01);
    field_mech_types(out, &oids);
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
    b_free(&oids);
}

static void
b_inner_mech_token_cut(struct mctx *m, struct buf *out)
{
    struct buf tok = { NULL, 0 };
    size_t n = m->ft.mech_token.len;

    real_mech_types(m, out);
    /* 04 with the full length, then only half of the bytes */
    b_u8(&tok, 0x04);
    b_len(&tok, n);
    b_put(&tok, m->ft.mech_token.data, n / 2);
    field_raw(out, 2, &tok);
    init_choice(out);
    frame(out);
    b_free(&tok);
}

static void
b_inner_this_mech_cut(struct mctx *m, struct buf *out)
{
    (void)m;
    /* 60 { 06 06 2b 06 01 } : thisMech claims 6 bytes, 3 present */
    b_bytes(out, 5, 0x06, 0x06, 0x2b, 0x06, 0x01);
    b_wrap(out, 0x60);
}

static void
b_inner_sequence_overruns(struct mctx *m, struct buf *out)
{
    real_mech_types(m, out);
    real_mech_token(m, out);
    /* the SEQUENCE claims 5 bytes more than its [0] holds */
    b_wrap_raw(out, 0x30, 3, 0x82, (int)((out->n + 5) >> 8),
               (int)((out->n + 5) & 0xff));
    b_wrap(out, 0xa0);
    frame(out);
}

/* ---- server, first token: DER violations ---- */

static void
b_indefinite_outer(struct mctx *m, struct buf *out)
{
    /* 60 80 <contents> 00 00 (BER indefinite form) */
    size_t h = hdr_len(m->first.p);

    b_bytes(out, 2, 0x60, 0x80);
    b_put(out, m->first.p + h, m->first.n - h);
    b_bytes(out, 2, 0x00, 0x00);
}

static void
b_indefinite_mech_types(struct mctx *m, struct buf *out)
{
    struct buf seq = { NULL, 0 };

    real_oids(m, &seq);
    b_bytes(&seq, 2, 0x00, 0x00);
    b_wrap_raw(&seq, 0x30, 1, 0x80);
    field_raw(out, 0, &seq);
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
    b_free(&seq);
}

static void
b_nonminimal_length_short(struct mctx *m, struct buf *out)
{
    struct buf seq = { NULL, 0 };

    real_oids(m, &seq);
    /* 30 81 17: long form for a length below 128 */
    b_wrap_raw(&seq, 0x30, 2, 0x81, (int)seq.n);
    field_raw(out, 0, &seq);
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
    b_free(&seq);
}

/* The outer header rewritten with the given length octets. */
static void
outer_with_length(struct mctx *m, struct buf *out, size_t nlen,
                  const uint8_t *len_octets)
{
    size_t h = hdr_len(m->first.p);

    b_u8(out, 0x60);
    b_put(out, len_octets, nlen);
    b_put(out, m->first.p + h, m->first.n - h);
}

static void
b_nonminimal_length_leading_zero(struct mctx *m, struct buf *out)
{
    size_t c = m->first.n - hdr_len(m->first.p);
    uint8_t l[4] = { 0x83, 0x00, (uint8_t)(c >> 8), (uint8_t)(c & 0xff) };

    outer_with_length(m, out, sizeof(l), l);
}

static void
b_five_length_bytes(struct mctx *m, struct buf *out)
{
    size_t c = m->first.n - hdr_len(m->first.p);
    uint8_t l[6] = { 0x85, 0, 0, 0, (uint8_t)(c >> 8), (uint8_t)(c & 0xff) };

    outer_with_length(m, out, sizeof(l), l);
}

static void
b_length_past_end(struct mctx *m, struct buf *out)
{
    size_t c = m->first.n - hdr_len(m->first.p) + 1;
    uint8_t l[3] = { 0x82, (uint8_t)(c >> 8), (uint8_t)(c & 0xff) };

    outer_with_length(m, out, sizeof(l), l);
}

static void
b_length_4gib(struct mctx *m, struct buf *out)
{
    static const uint8_t l[5] = { 0x84, 0xff, 0xff, 0xff, 0xff };

    outer_with_length(m, out, sizeof(l), l);
}

static void
b_constructed_octet_string(struct mctx *m, struct buf *out)
{
    struct buf tok = { NULL, 0 };
    size_t n = m->ft.mech_token.len;

    /* 24 { 04 first-half, 04 second-half } (BER segmented form) */
    b_tlv(&tok, 0x04, m->ft.mech_token.data, n / 2);
    b_tlv(&tok, 0x04, m->ft.mech_token.data + n / 2, n - n / 2);
    b_wrap(&tok, 0x24);
    real_mech_types(m, out);
    field_raw(out, 2, &tok);
    init_choice(out);
    frame(out);
    b_free(&tok);
}

static void
b_nonminimal_oid(struct mctx *m, struct buf *out)
{
    static const uint8_t krb5_padded[] = { 0x2a, 0x80, 0x86, 0x48, 0x86, 0xf7,
                                           0x12, 0x01, 0x02, 0x02 };
    struct buf oids = { NULL, 0 };

    ADD_OID(&oids, krb5_padded);
    ADD_OID(&oids, OID_NTLM);
    field_mech_types(out, &oids);
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
    b_free(&oids);
}

static void
b_nonminimal_this_mech(struct mctx *m, struct buf *out)
{
    static const uint8_t spnego_padded[] = { 0x2b, 0x80, 0x06, 0x01,
                                             0x05, 0x05, 0x02 };
    struct buf pre = { NULL, 0 };

    real_mech_types(m, out);
    real_mech_token(m, out);
    init_choice(out);
    ADD_OID(&pre, spnego_padded);
    b_prefix(out, &pre);
    b_wrap(out, 0x60);
    b_free(&pre);
}

static void
b_oid_unterminated(struct mctx *m, struct buf *out)
{
    static const uint8_t krb5_cut[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7,
                                        0x12, 0x01, 0x02, 0x82 };
    struct buf oids = { NULL, 0 };

    ADD_OID(&oids, krb5_cut);
    field_mech_types(out, &oids);
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
    b_free(&oids);
}

static void
b_empty_oid(struct mctx *m, struct buf *out)
{
    struct buf oids = { NULL, 0 };

    b_bytes(&oids, 2, 0x06, 0x00);
    ADD_OID(&oids, OID_KRB5);
    field_mech_types(out, &oids);
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
    b_free(&oids);
}

static void
b_wrong_outer_tag(struct mctx *m, struct buf *out)
{
    /* [APPLICATION 1] instead of [APPLICATION 0] */
    b_put(out, m->first.p, m->first.n);
    out->p[0] = 0x61;
}

static void
b_bare_sequence(struct mctx *m, struct buf *out)
{
    /* only the NegTokenInit SEQUENCE: no framing, no [0] choice */
    real_mech_types(m, out);
    real_mech_token(m, out);
    b_wrap(out, 0x30);
}

static void
b_unframed_init(struct mctx *m, struct buf *out)
{
    real_mech_types(m, out);
    real_mech_token(m, out);
    init_choice(out);
}

static void
b_fields_out_of_order(struct mctx *m, struct buf *out)
{
    real_mech_token(m, out);
    real_mech_types(m, out);
    init_choice(out);
    frame(out);
}

static void
b_duplicate_mech_types(struct mctx *m, struct buf *out)
{
    real_mech_types(m, out);
    real_mech_types(m, out);
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
}

static void
b_trailing_in_mech_types(struct mctx *m, struct buf *out)
{
    struct buf f = { NULL, 0 };
    struct buf oids = { NULL, 0 };

    /* [0] { SEQUENCE {...} 05 00 } */
    real_oids(m, &oids);
    b_put(&f, oids.p, oids.n);
    b_wrap(&f, 0x30);
    b_bytes(&f, 2, 0x05, 0x00);
    field_raw(out, 0, &f);
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
    b_free(&f);
    b_free(&oids);
}

static void
b_trailing_in_sequence(struct mctx *m, struct buf *out)
{
    real_mech_types(m, out);
    real_mech_token(m, out);
    b_bytes(out, 2, 0x05, 0x00); /* NULL, not a context field */
    init_choice(out);
    frame(out);
}

static void
b_trailing_in_framing(struct mctx *m, struct buf *out)
{
    struct buf pre = { NULL, 0 };

    real_mech_types(m, out);
    real_mech_token(m, out);
    init_choice(out);
    b_bytes(out, 2, 0x05, 0x00);
    ADD_OID(&pre, OID_SPNEGO);
    b_prefix(out, &pre);
    b_wrap(out, 0x60);
    b_free(&pre);
}

static void
b_trailing_byte_after(struct mctx *m, struct buf *out)
{
    b_put(out, m->first.p, m->first.n);
    b_u8(out, 0x00);
}

static void
b_garbage_after(struct mctx *m, struct buf *out)
{
    b_put(out, m->first.p, m->first.n);
    b_put(out, "garbage!", 8);
}

static void
b_wrong_choice_in_framing(struct mctx *m, struct buf *out)
{
    real_mech_types(m, out);
    real_mech_token(m, out);
    b_wrap(out, 0x30);
    b_wrap(out, 0xa2); /* NegotiationToken has only [0] and [1] */
    frame(out);
}

static void
b_resp_in_framing(struct mctx *m, struct buf *out)
{
    field_state(out, 1);
    real_mech_token(m, out);
    resp_choice(out);
    frame(out);
}

static void
b_raw_krb5_token(struct mctx *m, struct buf *out)
{
    /* the Kerberos GSS token itself (what a GSSAPI client sends) */
    b_put(out, m->ft.mech_token.data, m->ft.mech_token.len);
}

static void
b_empty_mech_types(struct mctx *m, struct buf *out)
{
    struct buf none = { NULL, 0 };

    field_mech_types(out, &none);
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
}

static void
b_no_mech_types(struct mctx *m, struct buf *out)
{
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
}

static void
b_mech_types_not_sequence(struct mctx *m, struct buf *out)
{
    field(out, 0, 0x06, OID_KRB5, sizeof(OID_KRB5));
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
}

static void
b_multibyte_tag(struct mctx *m, struct buf *out)
{
    real_mech_types(m, out);
    real_mech_token(m, out);
    b_bytes(out, 4, 0xbf, 0x1f, 0x00, 0x00); /* [31], high-tag form */
    init_choice(out);
    frame(out);
}

static void
b_req_flags_8_unused(struct mctx *m, struct buf *out)
{
    static const uint8_t bits[] = { 0x08, 0x00 };

    real_mech_types(m, out);
    field(out, 1, 0x03, bits, sizeof(bits));
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
}

static void
b_req_flags_unused_set(struct mctx *m, struct buf *out)
{
    static const uint8_t bits[] = { 0x01, 0x81 };

    real_mech_types(m, out);
    field(out, 1, 0x03, bits, sizeof(bits));
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
}

static void
b_req_flags_constructed(struct mctx *m, struct buf *out)
{
    struct buf f = { NULL, 0 };
    static const uint8_t bits[] = { 0x01, 0x80 };

    b_tlv(&f, 0x03, bits, sizeof(bits));
    b_wrap(&f, 0x23); /* constructed BIT STRING (MS04-007) */
    real_mech_types(m, out);
    field_raw(out, 1, &f);
    real_mech_token(m, out);
    init_choice(out);
    frame(out);
    b_free(&f);
}

static void
b_unknown_field_ignored(struct mctx *m, struct buf *out)
{
    real_mech_types(m, out);
    real_mech_token(m, out);
    field(out, 7, 0x05, "", 0); /* [7] NULL: an extension (section 6) */
    init_choice(out);
    frame(out);
}

static void
b_mic_without_token(struct mctx *m, struct buf *out)
{
    real_mech_types(m, out);
    field(out, 3, 0x04, "not-a-mic", 9);
    init_choice(out);
    frame(out);
}

static void
b_mic_with_token(struct mctx *m, struct buf *out)
{
    real_mech_types(m, out);
    real_mech_token(m, out);
    field(out, 3, 0x04, "not-a-mic-at-all", 16);
    init_choice(out);
    frame(out);
}

/* ---- server, first token: wrong kind, sizes, offers ---- */

static void
b_resp_first(struct mctx *m, struct buf *out)
{
    field_state(out, 1);
    field(out, 1, 0x06, OID_KRB5, sizeof(OID_KRB5));
    real_mech_token(m, out);
    resp_choice(out);
}

static void
b_bare_ntlmssp(struct mctx *m, struct buf *out)
{
    (void)m;
    b_put(out, NTLM_NEGOTIATE, sizeof(NTLM_NEGOTIATE));
}

static void
b_real(struct mctx *m, struct buf *out)
{
    b_put(out, m->first.p, m->first.n);
}

/* A NegTokenInit of exactly `size` bytes: the offer `oids` and an
 * optimistic token of zeros padding it out. */
static void
init_of_size(const struct buf *oids, struct buf *out, size_t size)
{
    struct buf pad = { NULL, 0 };

    pad.p = calloc(1, size);
    assert_non_null(pad.p);
    pad.n = size;
    /* shrink the padding until the whole token has the wanted size */
    for (;;) {
        b_free(out);
        field_mech_types(out, oids);
        field(out, 2, 0x04, pad.p, pad.n);
        init_choice(out);
        frame(out);
        if (out->n <= size)
            break;
        pad.n -= out->n - size;
    }
    assert_int_equal(out->n, size);
    b_free(&pad);
}

static void
b_over_default_limit(struct mctx *m, struct buf *out)
{
    struct buf oids = { NULL, 0 };

    real_oids(m, &oids);
    init_of_size(&oids, out, NEGTOKEN_DEFAULT_MAX_TOKEN + 1);
    b_free(&oids);
}

/* Exactly at the limit: read.  The padding is the optimistic token of an
 * unknown first mechanism, so the acceptor picks krb5 (second) with
 * request-mic and never looks at it. */
static void
b_at_default_limit(struct mctx *m, struct buf *out)
{
    struct buf oids = { NULL, 0 };

    (void)m;
    ADD_OID(&oids, OID_UNKNOWN1);
    ADD_OID(&oids, OID_KRB5);
    init_of_size(&oids, out, NEGTOKEN_DEFAULT_MAX_TOKEN);
    b_free(&oids);
}

static void
offer_only(struct buf *out, const struct buf *oids)
{
    field_mech_types(out, oids);
    init_choice(out);
    frame(out);
}

static void
b_unknown_oids_only(struct mctx *m, struct buf *out)
{
    struct buf oids = { NULL, 0 };

    (void)m;
    ADD_OID(&oids, OID_UNKNOWN1);
    ADD_OID(&oids, OID_UNKNOWN2);
    offer_only(out, &oids);
    b_free(&oids);
}

static void
b_negoex_only(struct mctx *m, struct buf *out)
{
    struct buf oids = { NULL, 0 };

    (void)m;
    ADD_OID(&oids, OID_NEGOEX);
    offer_only(out, &oids);
    b_free(&oids);
}

static void
b_spnego_in_offer(struct mctx *m, struct buf *out)
{
    struct buf oids = { NULL, 0 };

    (void)m;
    ADD_OID(&oids, OID_SPNEGO);
    offer_only(out, &oids);
    b_free(&oids);
}

/* n OIDs: n-1 private ones 1.3.6.1.4.1.99999.1.i, then krb5. */
static void
many_oids(struct buf *out, size_t n)
{
    struct buf oids = { NULL, 0 };
    size_t i;

    for (i = 1; i < n; i++) {
        uint8_t oid[sizeof(OID_UNKNOWN2) + 1];

        memcpy(oid, OID_UNKNOWN2, sizeof(OID_UNKNOWN2));
        oid[sizeof(OID_UNKNOWN2)] = (uint8_t)i;
        ADD_OID(&oids, oid);
    }
    ADD_OID(&oids, OID_KRB5);
    offer_only(out, &oids);
    b_free(&oids);
}

static void
b_65_oids(struct mctx *m, struct buf *out)
{
    (void)m;
    many_oids(out, 65);
}

static void
b_64_oids(struct mctx *m, struct buf *out)
{
    (void)m;
    many_oids(out, 64);
}

/* ---- server, later tokens (after an offer without optimistic token,
 * answered accept-incomplete with supportedMech krb5) ---- */

static void
b_setup_offer(struct mctx *m, struct buf *out)
{
    real_mech_types(m, out);
    init_choice(out);
    frame(out);
}

static void
b_later_empty(struct mctx *m, struct buf *out)
{
    (void)m;
    (void)out;
}

static void
b_later_supported_mech(struct mctx *m, struct buf *out)
{
    field_state(out, 1);
    field(out, 1, 0x06, OID_KRB5, sizeof(OID_KRB5));
    real_mech_token(m, out);
    resp_choice(out);
}

static void
b_later_request_mic(struct mctx *m, struct buf *out)
{
    field_state(out, 3);
    real_mech_token(m, out);
    resp_choice(out);
}

static void
b_later_reject(struct mctx *m, struct buf *out)
{
    (void)m;
    field_state(out, 2);
    resp_choice(out);
}

static void
b_later_no_token(struct mctx *m, struct buf *out)
{
    (void)m;
    field_state(out, 1);
    resp_choice(out);
}

static void
b_later_garbage_token(struct mctx *m, struct buf *out)
{
    (void)m;
    field_state(out, 1);
    field(out, 2, 0x04, "garbage", 7);
    resp_choice(out);
}

static void
b_later_negstate_5(struct mctx *m, struct buf *out)
{
    field_state(out, 5);
    real_mech_token(m, out);
    resp_choice(out);
}

static void
b_later_absent_negstate(struct mctx *m, struct buf *out)
{
    /* Samba and Impacket clients omit negState (RFC 4178 allows it) */
    real_mech_token(m, out);
    resp_choice(out);
}

static void
b_later_trailing(struct mctx *m, struct buf *out)
{
    field_state(out, 1);
    real_mech_token(m, out);
    resp_choice(out);
    b_put(out, "xx", 2);
}

/* ---- client: forged first replies (the real one is accept-completed,
 * supportedMech krb5, the AP-REP) ---- */

static void
b_reply_negstate_4(struct mctx *m, struct buf *out)
{
    reply_with_state(m, 4, OID_KRB5, sizeof(OID_KRB5), out);
}

static void
b_reply_negstate_9(struct mctx *m, struct buf *out)
{
    reply_with_state(m, 9, OID_KRB5, sizeof(OID_KRB5), out);
}

static void
b_reply_negstate_255(struct mctx *m, struct buf *out)
{
    reply_with_state(m, 255, OID_KRB5, sizeof(OID_KRB5), out);
}

static void
b_reply_negstate_nonminimal(struct mctx *m, struct buf *out)
{
    static const uint8_t two[] = { 0x00, 0x00 };

    field(out, 0, 0x0a, two, sizeof(two));
    field(out, 1, 0x06, OID_KRB5, sizeof(OID_KRB5));
    field(out, 2, 0x04, m->ot.response_token.data, m->ot.response_token.len);
    resp_choice(out);
}

static void
b_reply_negstate_integer(struct mctx *m, struct buf *out)
{
    static const uint8_t zero[] = { 0x00 };

    field(out, 0, 0x02, zero, sizeof(zero)); /* INTEGER, not ENUMERATED */
    field(out, 1, 0x06, OID_KRB5, sizeof(OID_KRB5));
    field(out, 2, 0x04, m->ot.response_token.data, m->ot.response_token.len);
    resp_choice(out);
}

static void
b_reply_absent_negstate(struct mctx *m, struct buf *out)
{
    reply_with_state(m, -1, OID_KRB5, sizeof(OID_KRB5), out);
}

static void
b_reply_reject(struct mctx *m, struct buf *out)
{
    (void)m;
    field_state(out, 2);
    resp_choice(out);
}

static void
b_reply_not_offered(struct mctx *m, struct buf *out)
{
    reply_with_state(m, 0, OID_IAKERB, sizeof(OID_IAKERB), out);
}

static void
b_reply_spnego_chosen(struct mctx *m, struct buf *out)
{
    reply_with_state(m, 0, OID_SPNEGO, sizeof(OID_SPNEGO), out);
}

static void
b_reply_no_supported_mech(struct mctx *m, struct buf *out)
{
    reply_with_state(m, 0, NULL, 0, out);
}

static void
b_reply_completed_no_token(struct mctx *m, struct buf *out)
{
    (void)m;
    field_state(out, 0);
    field(out, 1, 0x06, OID_KRB5, sizeof(OID_KRB5));
    resp_choice(out);
}

static void
b_reply_counter_with_token(struct mctx *m, struct buf *out)
{
    reply_with_state(m, 3, OID_NTLM, sizeof(OID_NTLM), out);
}

static void
b_reply_garbage_token(struct mctx *m, struct buf *out)
{
    (void)m;
    field_state(out, 1);
    field(out, 1, 0x06, OID_KRB5, sizeof(OID_KRB5));
    field(out, 2, 0x04, "garbage", 7);
    resp_choice(out);
}

static void
b_reply_init(struct mctx *m, struct buf *out)
{
    b_put(out, m->first.p, m->first.n);
}

static void
b_reply_framed_resp(struct mctx *m, struct buf *out)
{
    reply_with_state(m, 0, OID_KRB5, sizeof(OID_KRB5), out);
    frame(out);
}

static void
b_reply_real(struct mctx *m, struct buf *out)
{
    b_put(out, m->orig.p, m->orig.n);
}

static void
b_reply_trailing(struct mctx *m, struct buf *out)
{
    b_put(out, m->orig.p, m->orig.n);
    b_put(out, "garbage!", 8);
}

static void
b_reply_over_default_limit(struct mctx *m, struct buf *out)
{
    struct buf pad = { NULL, 0 };

    (void)m;
    pad.n = NEGTOKEN_DEFAULT_MAX_TOKEN;
    pad.p = calloc(1, pad.n);
    assert_non_null(pad.p);
    field_state(out, 1);
    field(out, 1, 0x06, OID_KRB5, sizeof(OID_KRB5));
    field(out, 2, 0x04, pad.p, pad.n);
    resp_choice(out);
    b_free(&pad);
}

/* ---- client: forged later replies (NTLM; the real one is
 * accept-completed with the acceptor's mechListMIC) ---- */

static void
b_later_reply_supported_mech(struct mctx *m, struct buf *out)
{
    reply_with_state(m, 0, OID_NTLM, sizeof(OID_NTLM), out);
}

static void
b_later_reply_request_mic(struct mctx *m, struct buf *out)
{
    reply_with_state(m, 3, NULL, 0, out);
}

static void
b_later_reply_reject(struct mctx *m, struct buf *out)
{
    (void)m;
    field_state(out, 2);
    resp_choice(out);
}

static void
b_later_reply_absent_negstate(struct mctx *m, struct buf *out)
{
    reply_with_state(m, -1, NULL, 0, out);
}

static void
b_later_reply_negstate_4(struct mctx *m, struct buf *out)
{
    reply_with_state(m, 4, NULL, 0, out);
}

/* ---- the runner ---- */

enum kind {
    SERVER_FIRST,  /* build() is the client's first message */
    SERVER_LATER,  /* b_setup_offer first (CONTINUE), then build() */
    CLIENT_REPLY,  /* build() replaces server message reply_index */
    CUSTOM         /* run() does everything */
};

struct mcase {
    const char *name;
    enum kind kind;
    build_fn build;
    int want_rc;
    const char *want;           /* substring of sasl_errdetail */
    struct hx_opts copts, sopts;
    unsigned reply_index;       /* CLIENT_REPLY */
    void (*run)(const struct mcase *c);
};

static const char NTLM_ONLY[] = "ntlmssp";

static void
load_first(struct mctx *m, const uint8_t *tok, size_t len)
{
    struct buf again = { NULL, 0 };
    der_err err;

    b_put(&m->first, tok, len);
    assert_int_equal(negtoken_decode(m->first.p, m->first.n, NULL, &m->ft,
                                     &err),
                     NEGTOKEN_OK);
    /* the pieces rebuild the very same bytes */
    if (m->ft.has_mech_token && !m->ft.has_req_flags && !m->ft.has_mic) {
        real_first(m, &again);
        assert_int_equal(again.n, m->first.n);
        assert_memory_equal(again.p, m->first.p, again.n);
    }
    b_free(&again);
}

static void
mctx_free(struct mctx *m)
{
    b_free(&m->first);
    b_free(&m->orig);
    b_free(&m->tok);
}

/* Assert the outcome of one side and print the sentence. */
static void
expect(const struct mcase *c, sasl_conn_t *conn, int rc)
{
    const char *detail = hx_errdetail(conn);

    print_message("%-40s %s -> %s\n", c->name, sasl_errstring(rc, NULL, NULL),
                  rc != SASL_OK && rc != SASL_CONTINUE ? detail
                                                       : "(no error)");
    assert_int_equal(rc, c->want_rc);
    if (c->want != NULL && strstr(detail, c->want) == NULL)
        fail_msg("%s: sasl_errdetail is \"%s\", expected it to contain "
                 "\"%s\"", c->name, detail, c->want);
}

static void
run_server(const struct mcase *c)
{
    struct hx_session *s;
    struct mctx *m = &cur;
    const uint8_t *first = NULL;
    size_t first_len = 0;
    const char *out = NULL;
    unsigned outlen = 0;
    int rc;

    memset(m, 0, sizeof(*m));
    s = hx_session_new(&c->copts, &c->sopts, SASL_SUCCESS_DATA);
    assert_int_equal(hx_client_start(s, &first, &first_len), SASL_CONTINUE);
    load_first(m, first, first_len);
    if (c->kind == SERVER_LATER) {
        b_setup_offer(m, &m->tok);
        rc = sasl_server_start(s->server, "GSS-SPNEGO",
                               (const char *)m->tok.p, (unsigned)m->tok.n,
                               &out, &outlen);
        assert_int_equal(rc, SASL_CONTINUE);
        assert_true(outlen > 0);
        b_free(&m->tok);
    }
    c->build(m, &m->tok);
    assert_true(m->tok.n <= 0xffffffffu);
    if (c->kind == SERVER_LATER)
        rc = sasl_server_step(s->server, (const char *)m->tok.p,
                              (unsigned)m->tok.n, &out, &outlen);
    else
        rc = sasl_server_start(s->server, "GSS-SPNEGO",
                               (const char *)m->tok.p, (unsigned)m->tok.n,
                               &out, &outlen);
    expect(c, s->server, rc);
    if (rc != SASL_OK && rc != SASL_CONTINUE)
        assert_int_equal(outlen, 0);
    mctx_free(m);
    hx_session_free(s);
}

struct reply_hook {
    const struct mcase *c;
    struct mctx *m;
    int replaced;
};

static void
replace_reply(void *arg, enum hx_dir dir, unsigned index, struct hx_msg *msg)
{
    struct reply_hook *h = arg;
    struct buf tok = { NULL, 0 };
    der_err err;

    if (dir == HX_C2S && index == 0) {
        load_first(h->m, msg->data, msg->len);
        return;
    }
    if (dir != HX_S2C || index != h->c->reply_index)
        return;
    b_put(&h->m->orig, msg->data, msg->len);
    assert_int_equal(negtoken_decode(h->m->orig.p, h->m->orig.n, NULL,
                                     &h->m->ot, &err),
                     NEGTOKEN_OK);
    h->c->build(h->m, &tok);
    hx_msg_set(msg, tok.p, tok.n);
    b_free(&tok);
    h->replaced = 1;
}

static void
run_client(const struct mcase *c)
{
    struct hx_session *s;
    struct reply_hook h;

    memset(&cur, 0, sizeof(cur));
    h.c = c;
    h.m = &cur;
    h.replaced = 0;
    s = hx_session_new(&c->copts, &c->sopts, SASL_SUCCESS_DATA);
    hx_exchange(s, replace_reply, &h);
    assert_true(h.replaced);
    expect(c, s->client, s->client_rc);
    mctx_free(&cur);
    hx_session_free(s);
}

/* ---- custom cases ---- */

/* An empty initial response: the plugin asks for the client's token
 * (an empty challenge); the real token then logs in. */
static void
run_server_empty_first(const struct mcase *c)
{
    struct hx_session *s;
    const uint8_t *first = NULL;
    size_t first_len = 0;
    const char *out = NULL;
    unsigned outlen = 1;
    int rc;

    s = hx_session_new(&c->copts, &c->sopts, SASL_SUCCESS_DATA);
    rc = sasl_server_start(s->server, "GSS-SPNEGO", "", 0, &out, &outlen);
    assert_int_equal(rc, SASL_CONTINUE);
    assert_int_equal(outlen, 0);
    assert_int_equal(hx_client_start(s, &first, &first_len), SASL_CONTINUE);
    rc = sasl_server_step(s->server, (const char *)first, (unsigned)first_len,
                          &out, &outlen);
    expect(c, s->server, rc);
    assert_string_equal(s->slog.complete, "krb5");
    hx_session_free(s);
}

/* No initial response at all: libsasl2 sends the empty challenge itself;
 * the real token then logs in. */
static void
run_server_no_initial_response(const struct mcase *c)
{
    struct hx_session *s;
    const uint8_t *first = NULL;
    size_t first_len = 0;
    const char *out = NULL;
    unsigned outlen = 1;
    int rc;

    s = hx_session_new(&c->copts, &c->sopts, SASL_SUCCESS_DATA);
    rc = sasl_server_start(s->server, "GSS-SPNEGO", NULL, 0, &out, &outlen);
    assert_int_equal(rc, SASL_CONTINUE);
    assert_int_equal(outlen, 0);
    assert_int_equal(hx_client_start(s, &first, &first_len), SASL_CONTINUE);
    rc = sasl_server_step(s->server, (const char *)first, (unsigned)first_len,
                          &out, &outlen);
    expect(c, s->server, rc);
    assert_string_equal(s->slog.complete, "krb5");
    hx_session_free(s);
}

/* The plugin asked for the client's token and got an empty message
 * again: a protocol error, not another request (else a client can keep
 * the exchange going forever). */
static void
run_server_empty_twice(const struct mcase *c)
{
    struct hx_session *s;
    const char *out = NULL;
    unsigned outlen = 1;
    int rc;

    s = hx_session_new(&c->copts, &c->sopts, SASL_SUCCESS_DATA);
    rc = sasl_server_start(s->server, "GSS-SPNEGO", "", 0, &out, &outlen);
    assert_int_equal(rc, SASL_CONTINUE);
    rc = sasl_server_step(s->server, "", 0, &out, &outlen);
    expect(c, s->server, rc);
    hx_session_free(s);
}

/* After a failed step, the connection refuses more and stays disposable. */
static void
run_server_step_after_failure(const struct mcase *c)
{
    struct hx_session *s;
    const uint8_t *first = NULL;
    size_t first_len = 0;
    const char *out = NULL;
    unsigned outlen = 0;
    int rc;

    s = hx_session_new(&c->copts, &c->sopts, SASL_SUCCESS_DATA);
    assert_int_equal(hx_client_start(s, &first, &first_len), SASL_CONTINUE);
    rc = sasl_server_start(s->server, "GSS-SPNEGO", "\x30\x00", 2, &out,
                           &outlen);
    assert_int_equal(rc, SASL_BADPROT);
    rc = sasl_server_step(s->server, (const char *)first, (unsigned)first_len,
                          &out, &outlen);
    expect(c, s->server, rc);
    hx_session_free(s);
}

/* The client's empty reply to the server's first token. */
static void
run_client_empty_reply(const struct mcase *c)
{
    struct hx_session *s;
    const uint8_t *first = NULL;
    size_t first_len = 0;
    const char *out = NULL;
    unsigned outlen = 0;
    int rc;

    s = hx_session_new(&c->copts, &c->sopts, SASL_SUCCESS_DATA);
    assert_int_equal(hx_client_start(s, &first, &first_len), SASL_CONTINUE);
    rc = sasl_client_step(s->client, "", 0, NULL, &out, &outlen);
    expect(c, s->client, rc);
    hx_session_free(s);
}

/* The client after a failed step: no crash, a clear refusal. */
static void
run_client_step_after_failure(const struct mcase *c)
{
    struct hx_session *s;
    const uint8_t *first = NULL;
    size_t first_len = 0;
    const char *out = NULL;
    unsigned outlen = 0;
    int rc;

    s = hx_session_new(&c->copts, &c->sopts, SASL_SUCCESS_DATA);
    assert_int_equal(hx_client_start(s, &first, &first_len), SASL_CONTINUE);
    rc = sasl_client_step(s->client, "\x30\x00", 2, NULL, &out, &outlen);
    assert_int_equal(rc, SASL_BADPROT);
    rc = sasl_client_step(s->client, "\xa1\x07\x30\x05\xa0\x03\x0a\x01\x01",
                          9, NULL, &out, &outlen);
    expect(c, s->client, rc);
    hx_session_free(s);
}

/* ---- the table ---- */

#define SRV(n, b, rc, w)                                                    \
    { #n, SERVER_FIRST, b, rc, w, { .mechs = NULL },                    \
      { .mechs = NULL }, 0, NULL }
#define SRV_OPT(n, b, rc, w, smech, smax)                                   \
    { #n, SERVER_FIRST, b, rc, w, { .mechs = NULL },                    \
      { .mechs = (smech), .max_token = (smax) }, 0, NULL }
#define SRV_NORAW(n, b, rc, w)                                              \
    { #n, SERVER_FIRST, b, rc, w, { .mechs = NULL },                    \
      { .mechs = NULL, .raw_tokens = "no" }, 0, NULL }
#define LATER(n, b, rc, w)                                                  \
    { #n, SERVER_LATER, b, rc, w, { .mechs = NULL },                    \
      { .mechs = NULL }, 0, NULL }
#define CLI(n, b, rc, w)                                                    \
    { #n, CLIENT_REPLY, b, rc, w, { .mechs = NULL },                    \
      { .mechs = NULL }, 0, NULL }
#define CLI_OPT(n, b, rc, w, cmax)                                          \
    { #n, CLIENT_REPLY, b, rc, w, { .max_token = (cmax) },                \
      { .mechs = NULL }, 0, NULL }
#define CLI_NTLM(n, b, rc, w)                                               \
    { #n, CLIENT_REPLY, b, rc, w, { .mechs = NTLM_ONLY },               \
      { .mechs = NULL }, 1, NULL }
#define CUST(n, f, rc, w)                                                   \
    { #n, CUSTOM, NULL, rc, w, { .mechs = NULL }, { .mechs = NULL }, \
      0, f }
#define CUST_NTLM(n, f, rc, w)                                              \
    { #n, CUSTOM, NULL, rc, w, { .mechs = NTLM_ONLY },                  \
      { .mechs = NULL }, 0, f }

#define TRUNCATED "truncated: TLV at 0 declares"

static const struct mcase cases[] = {
    /* truncation of the real first token at each field boundary: the
     * outer length catches all of them first */
    SRV(server_trunc_gss_tag_only, b_trunc_tag_only, SASL_BADPROT,
        "truncated: the outer token has no length byte at offset 1"),
    SRV(server_trunc_in_gss_length, b_trunc_in_gss_length, SASL_BADPROT,
        "truncated: length of the outer token at offset 1 needs 2 more "
        "bytes"),
    SRV(server_trunc_after_gss_header, b_trunc_after_gss_header,
        SASL_BADPROT, TRUNCATED),
    SRV(server_trunc_in_this_mech_oid, b_trunc_in_this_mech, SASL_BADPROT,
        TRUNCATED),
    SRV(server_trunc_after_this_mech_oid, b_trunc_after_this_mech,
        SASL_BADPROT, TRUNCATED),
    SRV(server_trunc_after_negtokeninit_header, b_trunc_after_init_header,
        SASL_BADPROT, TRUNCATED),
    SRV(server_trunc_after_sequence_header, b_trunc_after_seq_header,
        SASL_BADPROT, TRUNCATED),
    SRV(server_trunc_after_mechtypes_header,
        b_trunc_after_mechtypes_header, SASL_BADPROT, TRUNCATED),
    SRV(server_trunc_in_first_oid, b_trunc_in_first_oid, SASL_BADPROT,
        TRUNCATED),
    SRV(server_trunc_after_first_oid, b_trunc_after_first_oid, SASL_BADPROT,
        TRUNCATED),
    SRV(server_trunc_in_second_oid, b_trunc_in_second_oid, SASL_BADPROT,
        TRUNCATED),
    SRV(server_trunc_after_mechtypes, b_trunc_after_mechtypes, SASL_BADPROT,
        TRUNCATED),
    SRV(server_trunc_after_mechtoken_header,
        b_trunc_after_mechtoken_header, SASL_BADPROT, TRUNCATED),
    SRV(server_trunc_in_mechtoken, b_trunc_in_mechtoken, SASL_BADPROT,
        TRUNCATED),
    SRV(server_trunc_last_byte, b_trunc_last_byte, SASL_BADPROT, TRUNCATED),
    /* an inner element cut, the enclosing lengths consistent */
    SRV(server_inner_oid_runs_past_mechtypes, b_inner_second_oid_cut,
        SASL_BADPROT, "content bytes, only 5 available (MechType)"),
    SRV(server_inner_mechtoken_runs_past_field, b_inner_mech_token_cut,
        SASL_BADPROT, "available (mechToken)"),
    SRV(server_inner_this_mech_runs_past_frame, b_inner_this_mech_cut,
        SASL_BADPROT, "declares 6 content bytes, only 3 available "
        "(thisMech)"),
    SRV(server_inner_sequence_runs_past_choice, b_inner_sequence_overruns,
        SASL_BADPROT, "available (NegTokenInit)"),
    /* DER violations */
    SRV(server_indefinite_length_outer, b_indefinite_outer, SASL_BADPROT,
        "indefinite length at offset 1 in the outer token"),
    SRV(server_indefinite_length_mechtypes, b_indefinite_mech_types,
        SASL_BADPROT, "indefinite length at offset 23 in mechTypes"),
    SRV(server_nonminimal_length_short_form, b_nonminimal_length_short,
        SASL_BADPROT, "non-minimal length 0x81 17 for 23 at offset 23 in "
        "mechTypes"),
    SRV(server_nonminimal_length_leading_zero,
        b_nonminimal_length_leading_zero, SASL_BADPROT,
        "non-minimal length at offset 1 in the outer token: leading zero"),
    SRV(server_five_length_bytes, b_five_length_bytes, SASL_BADPROT,
        "length of the outer token at offset 1 uses 5 bytes (at most 4 "
        "accepted)"),
    SRV(server_length_past_end, b_length_past_end, SASL_BADPROT, TRUNCATED),
    SRV(server_length_4gib, b_length_4gib, SASL_BADPROT,
        "declares 4294967295 content bytes"),
    SRV(server_constructed_octet_string, b_constructed_octet_string,
        SASL_BADPROT, "constructed encoding of mechToken"),
    SRV(server_nonminimal_oid_in_mechtypes, b_nonminimal_oid, SASL_BADPROT,
        "non-minimal OID sub-identifier at 27 in MechType"),
    SRV(server_nonminimal_this_mech_oid, b_nonminimal_this_mech,
        SASL_BADPROT, "non-minimal OID sub-identifier at 7 in thisMech"),
    SRV(server_oid_unterminated, b_oid_unterminated, SASL_BADPROT,
        "truncated OID sub-identifier"),
    SRV(server_empty_oid, b_empty_oid, SASL_BADPROT,
        "empty OBJECT IDENTIFIER in MechType"),
    SRV(server_wrong_outer_tag, b_wrong_outer_tag, SASL_BADPROT,
        "outer tag 0x61 is not 0x60 (InitialContextToken)"),
    SRV(server_bare_sequence, b_bare_sequence, SASL_BADPROT,
        "outer tag 0x30 is not 0x60"),
    SRV(server_unframed_negtokeninit, b_unframed_init, SASL_BADPROT,
        "NegTokenInit without the GSS [APPLICATION 0] framing"),
    SRV(server_fields_out_of_order, b_fields_out_of_order, SASL_BADPROT,
        "NegTokenInit: field [0] out of order or duplicated"),
    SRV(server_duplicate_mechtypes, b_duplicate_mech_types, SASL_BADPROT,
        "NegTokenInit: field [0] out of order or duplicated"),
    SRV(server_trailing_inside_mechtypes, b_trailing_in_mech_types,
        SASL_BADPROT, "2 unexpected bytes at offset"),
    SRV(server_trailing_inside_sequence, b_trailing_in_sequence,
        SASL_BADPROT, "NegTokenInit: unexpected tag 0x05"),
    SRV(server_trailing_inside_framing, b_trailing_in_framing, SASL_BADPROT,
        "after the end of the GSS initial token"),
    SRV(server_trailing_byte_after_token, b_trailing_byte_after,
        SASL_BADPROT, "1 byte of trailing data after the outer token"),
    SRV(server_garbage_after_valid_token, b_garbage_after, SASL_BADPROT,
        "8 bytes of trailing data after the outer token"),
    SRV(server_wrong_choice_in_framing, b_wrong_choice_in_framing,
        SASL_BADPROT, "GSS initial token carries tag 0xa2"),
    SRV(server_negtokenresp_in_framing, b_resp_in_framing, SASL_BADPROT,
        "NegTokenResp inside the GSS initial-token framing"),
    /* a bare Kerberos token: run directly (spnego_raw_tokens, default
     * yes, as AD and Samba), or refused as not SPNEGO */
    SRV(server_raw_krb5_token_accepted, b_raw_krb5_token, SASL_OK, NULL),
    SRV_NORAW(server_raw_krb5_token_not_spnego, b_raw_krb5_token,
              SASL_BADPROT,
              "the initiator sent a plain GSS token, not SPNEGO: GSS token "
              "for mechanism krb5 (1.2.840.113554.1.2.2) at offset 6"),
    SRV(server_empty_mechtypes, b_empty_mech_types, SASL_BADPROT,
        "mechTypes is an empty SEQUENCE"),
    SRV(server_no_mechtypes, b_no_mech_types, SASL_BADPROT,
        "has no mechTypes [0]"),
    SRV(server_mechtypes_not_sequence, b_mech_types_not_sequence,
        SASL_BADPROT, "expected mechTypes (tag 0x30)"),
    SRV(server_multibyte_tag, b_multibyte_tag, SASL_BADPROT,
        "unsupported multi-byte tag 0xbf"),
    SRV(server_reqflags_8_unused_bits, b_req_flags_8_unused, SASL_BADPROT,
        "declares 8 unused bits"),
    SRV(server_reqflags_unused_bits_set, b_req_flags_unused_set,
        SASL_BADPROT, "unused bits at offset"),
    SRV(server_reqflags_constructed, b_req_flags_constructed, SASL_BADPROT,
        "constructed encoding of reqFlags"),
    /* well-formed but out of place */
    SRV(server_unknown_field_is_ignored, b_unknown_field_ignored, SASL_OK,
        NULL),
    SRV(server_mic_in_init_without_token, b_mic_without_token, SASL_BADPROT,
        "mechListMIC in the NegTokenInit without a completed mechanism"),
    SRV(server_bogus_mic_in_init_with_token, b_mic_with_token, SASL_BADAUTH,
        "mechListMIC did not verify"),
    SRV(server_negtokenresp_first, b_resp_first, SASL_BADPROT,
        "expected a NegTokenInit with mechTypes as the first token, got a "
        "negTokenResp"),
    /* refused; the engine has a sentence naming a bare NTLMSSP message,
     * but the plugin never enables NEGTOKEN_ALLOW_RAW_NTLMSSP, so the
     * decoder's generic one is what the administrator reads */
    SRV(server_bare_ntlmssp_message_runs_ntlm, b_bare_ntlmssp, SASL_CONTINUE,
        NULL),
    SRV_NORAW(server_bare_ntlmssp_message, b_bare_ntlmssp, SASL_BADPROT,
              "a bare NTLMSSP message without SPNEGO (as some Windows LDAP "
              "clients send): not accepted here (spnego_raw_tokens no"),
    /* sizes */
    SRV_OPT(server_over_spnego_max_token, b_real, SASL_BADPROT,
            "over the limit of 200 bytes (raise spnego_max_token", NULL,
            "200"),
    SRV_OPT(server_bad_spnego_max_token_option, b_real, SASL_BADPARAM,
            "spnego_max_token \"200k\" is not a positive number of bytes",
            NULL, "200k"),
    SRV(server_over_default_limit, b_over_default_limit, SASL_BADPROT,
        "a 262145-byte token, over the limit of 262144 bytes"),
    SRV(server_at_default_limit_is_read, b_at_default_limit, SASL_CONTINUE,
        NULL),
    /* offers */
    SRV(server_65_mechtypes, b_65_oids, SASL_BADPROT,
        "mechTypes lists more than 64 mechanisms"),
    SRV(server_64_mechtypes_krb5_last, b_64_oids, SASL_CONTINUE, NULL),
    SRV(server_unknown_oids_only, b_unknown_oids_only, SASL_NOMECH,
        "no common mechanism: the initiator offers 1.2.3.4, "
        "1.3.6.1.4.1.99999.1; we accept krb5, ntlmssp"),
    SRV(server_negoex_only, b_negoex_only, SASL_NOMECH,
        "no common mechanism: the initiator offers negoex; we accept"),
    SRV(server_spnego_in_offer, b_spnego_in_offer, SASL_NOMECH,
        "no common mechanism: the initiator offers spnego; we accept"),
    SRV_OPT(server_optimistic_token_for_unaccepted_mech, b_real,
            SASL_CONTINUE, NULL, "ntlmssp", NULL),
    /* empty input */
    CUST(server_empty_first_asks_for_token, run_server_empty_first, SASL_OK,
         NULL),
    CUST(server_no_initial_response, run_server_no_initial_response,
         SASL_OK, NULL),
    /* asked once, the client must send its token: a second empty message
     * is a protocol error, not another request (RFC 4422 5) */
    CUST(server_empty_twice, run_server_empty_twice, SASL_BADPROT,
         "empty"),
    LATER(server_later_empty, b_later_empty, SASL_BADPROT,
          "empty token from the initiator"),
    /* libsasl2 disposes of the mechanism context after a failed step
     * but hands a later sasl_server_step to the plugin with a NULL one:
     * the plugin must refuse, not dereference it */
    CUST(server_step_after_failure, run_server_step_after_failure,
         SASL_BADAUTH, "already failed"),
    /* later client messages in the wrong shape */
    LATER(server_later_negtokeninit, b_real, SASL_BADPROT,
          "expected a NegTokenResp from the initiator, got a negTokenInit"),
    LATER(server_later_supported_mech, b_later_supported_mech, SASL_BADPROT,
          "the initiator sent a supportedMech (only the acceptor may)"),
    LATER(server_later_request_mic, b_later_request_mic, SASL_BADPROT,
          "the initiator sent request-mic"),
    LATER(server_later_reject, b_later_reject, SASL_BADAUTH,
          "the initiator ended the negotiation (negState reject)"),
    LATER(server_later_no_mech_token, b_later_no_token, SASL_BADPROT,
          "has no mechanism token while krb5 is not complete"),
    LATER(server_later_garbage_mech_token, b_later_garbage_token,
          SASL_BADAUTH, "the initiator's mechanism token was refused "
          "(krb5)"),
    LATER(server_later_negstate_5, b_later_negstate_5, SASL_BADPROT,
          "negState value 5"),
    LATER(server_later_trailing_garbage, b_later_trailing, SASL_BADPROT,
          "2 bytes of trailing data after the outer token"),
    LATER(server_later_absent_negstate_is_accepted,
          b_later_absent_negstate, SASL_OK, NULL),
    /* the client: forged first replies */
    CUST(client_empty_first_reply, run_client_empty_reply, SASL_BADPROT,
         "empty token from the acceptor"),
    CUST(client_step_after_failure, run_client_step_after_failure,
         SASL_BADAUTH, "the negotiation already failed: malformed SPNEGO "
         "token from the acceptor: outer tag 0x30"),
    CLI(client_reply_negstate_4, b_reply_negstate_4, SASL_BADPROT,
        "negState value 4 at offset 10 not in {0..3}"),
    CLI(client_reply_negstate_9, b_reply_negstate_9, SASL_BADPROT,
        "negState value 9 at offset"),
    CLI(client_reply_negstate_255, b_reply_negstate_255, SASL_BADPROT,
        "negState value 255 at offset"),
    CLI(client_reply_negstate_nonminimal, b_reply_negstate_nonminimal,
        SASL_BADPROT, "negState ENUMERATED at offset 10 is not minimally "
        "encoded"),
    CLI(client_reply_negstate_integer, b_reply_negstate_integer,
        SASL_BADPROT, "expected negState (tag 0x0a)"),
    CLI(client_reply_absent_negstate, b_reply_absent_negstate, SASL_BADPROT,
        "the acceptor's first reply has no negState"),
    CLI(client_reply_reject, b_reply_reject, SASL_NOMECH,
        "no common mechanism: we offered krb5, ntlmssp; the acceptor "
        "accepts none of them"),
    CLI(client_reply_supported_mech_not_offered, b_reply_not_offered,
        SASL_BADPROT, "the acceptor chose iakerb, which we did not offer "
        "(we offered krb5, ntlmssp)"),
    CLI(client_reply_supported_mech_spnego, b_reply_spnego_chosen,
        SASL_BADPROT, "the acceptor chose spnego, which we did not offer"),
    CLI(client_reply_no_supported_mech, b_reply_no_supported_mech,
        SASL_BADPROT, "the acceptor's first reply has no supportedMech"),
    CLI(client_reply_completed_without_token, b_reply_completed_no_token,
        SASL_BADPROT, "the acceptor completed but krb5 on our side is not "
        "complete"),
    CLI(client_reply_counter_proposal_with_token, b_reply_counter_with_token,
        SASL_BADPROT, "counter-proposal carries a mechanism token"),
    CLI(client_reply_garbage_mech_token, b_reply_garbage_token,
        SASL_BADAUTH, "the acceptor's mechanism token was refused (krb5)"),
    CLI(client_reply_negtokeninit, b_reply_init, SASL_BADPROT,
        "expected a NegTokenResp from the acceptor, got a negTokenInit"),
    CLI(client_reply_framed_negtokenresp, b_reply_framed_resp, SASL_BADPROT,
        "NegTokenResp inside the GSS initial-token framing"),
    CLI(client_reply_garbage_after_valid_token, b_reply_trailing,
        SASL_BADPROT, "8 bytes of trailing data after the outer token"),
    CLI(client_reply_over_default_limit, b_reply_over_default_limit,
        SASL_BADPROT, "over the limit of 262144 bytes"),
    CLI_OPT(client_reply_over_spnego_max_token, b_reply_real, SASL_BADPROT,
            "over the limit of 100 bytes", "100"),
    /* the client: forged later replies (NTLM) */
    CLI_NTLM(client_later_reply_supported_mech_repeated,
             b_later_reply_supported_mech, SASL_BADPROT,
             "supportedMech in a later reply"),
    CLI_NTLM(client_later_reply_request_mic, b_later_reply_request_mic,
             SASL_BADPROT, "request-mic in a later reply"),
    CLI_NTLM(client_later_reply_reject, b_later_reply_reject, SASL_BADAUTH,
             "the acceptor rejected the exchange (ntlmssp)"),
    CLI_NTLM(client_later_reply_empty, b_later_empty, SASL_BADPROT,
             "empty token from the acceptor"),
    CLI_NTLM(client_later_reply_negstate_4, b_later_reply_negstate_4,
             SASL_BADPROT, "negState value 4"),
    /* RFC 4178 4.2.2: negState is optional after the first reply and is
     * then inferred from the mechanism: here NTLM is complete and both
     * MICs are exchanged, so the exchange is complete */
    CLI_NTLM(client_later_reply_absent_negstate_is_accepted,
             b_later_reply_absent_negstate, SASL_OK, NULL),
};

static void
run_case(void **state)
{
    const struct mcase *c = *state;

    switch (c->kind) {
    case SERVER_FIRST:
    case SERVER_LATER:
        run_server(c);
        break;
    case CLIENT_REPLY:
        run_client(c);
        break;
    case CUSTOM:
    default:
        c->run(c);
        break;
    }
}

static int
teardown(void **state)
{
    mctx_free(&cur);
    return hx_teardown(state);
}

/* After the whole table: the same libsasl2 server still logs in. */
static void
server_still_serves_kerberos(void **state)
{
    struct hx_session *s;

    (void)state;
    s = hx_session_new(NULL, NULL, SASL_SUCCESS_DATA);
    hx_exchange(s, NULL, NULL);
    assert_int_equal(s->client_rc, SASL_OK);
    assert_int_equal(s->server_rc, SASL_OK);
    assert_string_equal(s->slog.complete, "krb5");
    assert_string_equal(s->clog.complete, "krb5");
    assert_string_equal(hx_username(s->server), "alice");
    hx_session_free(s);
}

int
main(void)
{
    size_t n = sizeof(cases) / sizeof(cases[0]), i;
    struct CMUnitTest *tests = calloc(n + 1, sizeof(*tests));
    int rc;

    if (tests == NULL)
        return 99;
    rc = hx_init("test-malformed");
    if (rc != 0) {
        free(tests);
        return rc;
    }
    for (i = 0; i < n; i++) {
        tests[i].name = cases[i].name;
        tests[i].test_func = run_case;
        tests[i].initial_state = (void *)&cases[i];
        tests[i].teardown_func = teardown;
    }
    tests[n].name = "server_still_serves_kerberos";
    tests[n].test_func = server_still_serves_kerberos;
    tests[n].teardown_func = teardown;
    rc = _cmocka_run_group_tests("test-malformed", tests, n + 1, NULL, NULL);
    hx_done();
    free(tests);
    return rc;
}
