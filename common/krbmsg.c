/* krbmsg.c - the cleartext of Kerberos messages.  See krbmsg.h. */
#include "krbmsg.h"

#include <stdio.h>
#include <string.h>

#include "der.h"

#define APP(n) ((uint8_t)(0x60 | (n)))  /* [APPLICATION n] constructed */
#define TOK_ID_LEN 2

const char *
krb_error_name(int32_t code)
{
    static const struct { int32_t code; const char *name; } names[] = {
        { 1, "KDC_ERR_NAME_EXP" }, { 2, "KDC_ERR_SERVICE_EXP" },
        { 3, "KDC_ERR_BAD_PVNO" }, { 6, "KDC_ERR_C_PRINCIPAL_UNKNOWN" },
        { 7, "KDC_ERR_S_PRINCIPAL_UNKNOWN" }, { 12, "KDC_ERR_POLICY" },
        { 14, "KDC_ERR_ETYPE_NOSUPP" }, { 18, "KDC_ERR_CLIENT_REVOKED" },
        { 23, "KDC_ERR_KEY_EXPIRED" }, { 24, "KDC_ERR_PREAUTH_FAILED" },
        { 25, "KDC_ERR_PREAUTH_REQUIRED" },
        { 31, "KRB_AP_ERR_BAD_INTEGRITY" }, { 32, "KRB_AP_ERR_TKT_EXPIRED" },
        { 33, "KRB_AP_ERR_TKT_NYV" }, { 34, "KRB_AP_ERR_REPEAT" },
        { 35, "KRB_AP_ERR_NOT_US" }, { 36, "KRB_AP_ERR_BADMATCH" },
        { 37, "KRB_AP_ERR_SKEW" }, { 38, "KRB_AP_ERR_BADADDR" },
        { 39, "KRB_AP_ERR_BADVERSION" }, { 40, "KRB_AP_ERR_MSG_TYPE" },
        { 41, "KRB_AP_ERR_MODIFIED" }, { 44, "KRB_AP_ERR_BADKEYVER" },
        { 45, "KRB_AP_ERR_NOKEY" }, { 47, "KRB_AP_ERR_BADDIRECTION" },
        { 50, "KRB_AP_ERR_INAPP_CKSUM" }, { 52, "KRB_ERR_RESPONSE_TOO_BIG" },
        { 60, "KRB_ERR_GENERIC" }, { 68, "KDC_ERR_WRONG_REALM" },
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].code == code)
            return names[i].name;
    }
    return NULL;
}

const char *
krb_etype_name(int32_t etype)
{
    switch (etype) {
    case 16:
        return "des3-cbc-sha1";
    case 17:
        return "aes128-cts-hmac-sha1-96";
    case 18:
        return "aes256-cts-hmac-sha1-96";
    case 19:
        return "aes128-cts-hmac-sha256-128";
    case 20:
        return "aes256-cts-hmac-sha384-192";
    case 23:
        return "rc4-hmac";
    case 25:
        return "camellia128-cts-cmac";
    case 26:
        return "camellia256-cts-cmac";
    default:
        return NULL;
    }
}

/* An INTEGER (minimal two's complement, at most 5 bytes) in [lo, hi]. */
static int
get_int(der_view *in, const char *what, int64_t lo, int64_t hi,
        int64_t *out, der_err *err)
{
    der_view c = DER_VIEW_EMPTY;
    int64_t v;
    size_t i;

    if (!der_get(in, DER_TAG_INTEGER, what, &c, NULL, err))
        return 0;
    if (c.len == 0 || c.len > 5 ||
        (c.len > 1 && ((c.data[0] == 0 && !(c.data[1] & 0x80)) ||
                       (c.data[0] == 0xff && (c.data[1] & 0x80)))))
        return der_fail(err, c.offset, "%s: not a minimal INTEGER of at "
                        "most 5 bytes", what);
    v = (c.data[0] & 0x80) ? -1 : 0;
    for (i = 0; i < c.len; i++)
        v = (int64_t)((uint64_t)v << 8 | c.data[i]);
    if (v < lo || v > hi)
        return der_fail(err, c.offset, "%s: %lld is out of range", what,
                        (long long)v);
    *out = v;
    return 1;
}

/* [n] EXPLICIT INTEGER. */
static int
get_tagged_int(der_view *in, unsigned n, const char *what, int64_t lo,
               int64_t hi, int64_t *out, der_err *err)
{
    der_view c = DER_VIEW_EMPTY;

    return der_get(in, DER_CONTEXT(n), what, &c, NULL, err) &&
           get_int(&c, what, lo, hi, out, err) &&
           der_expect_end(&c, what, err);
}

static int
get_tagged_string(der_view *in, unsigned n, const char *what,
                  struct krb_str *out, der_err *err)
{
    der_view c = DER_VIEW_EMPTY, s = DER_VIEW_EMPTY;

    if (!der_get(in, DER_CONTEXT(n), what, &c, NULL, err) ||
        !der_get(&c, DER_TAG_GENERAL_STRING, what, &s, NULL, err) ||
        !der_expect_end(&c, what, err))
        return 0;
    out->data = s.data;
    out->len = s.len;
    return 1;
}

/* pvno [0] (5) and msg-type [1] (the message's). */
static int
get_header(der_view *seq, int64_t type, der_err *err)
{
    int64_t pvno = 0, mt = 0;

    if (!get_tagged_int(seq, 0, "pvno", 0, 255, &pvno, err) ||
        !get_tagged_int(seq, 1, "msg-type", 0, 255, &mt, err))
        return 0;
    if (pvno != 5 || mt != type)
        return der_fail(err, seq->offset, "pvno %lld, msg-type %lld: not a "
                        "Kerberos 5 message of type %lld", (long long)pvno,
                        (long long)mt, (long long)type);
    return 1;
}

/* [n] PrincipalName ::= SEQUENCE { name-type [0], name-string [1] SEQUENCE
 * OF KerberosString } */
static int
get_principal(der_view *in, unsigned n, struct krb_info *out, der_err *err)
{
    der_view c = DER_VIEW_EMPTY, seq = DER_VIEW_EMPTY, ns = DER_VIEW_EMPTY,
             list = DER_VIEW_EMPTY, s = DER_VIEW_EMPTY;
    int64_t type = 0;

    if (!der_get(in, DER_CONTEXT(n), "sname", &c, NULL, err) ||
        !der_get(&c, DER_TAG_SEQUENCE, "PrincipalName", &seq, NULL, err) ||
        !get_tagged_int(&seq, 0, "name-type", INT32_MIN, INT32_MAX, &type,
                        err) ||
        !der_get(&seq, DER_CONTEXT(1), "name-string", &ns, NULL, err) ||
        !der_get(&ns, DER_TAG_SEQUENCE, "name-string", &list, NULL, err))
        return 0;
    out->sname_type = (int32_t)type;
    while (list.len > 0) {
        if (!der_get(&list, DER_TAG_GENERAL_STRING, "name component", &s,
                     NULL, err))
            return 0;
        if (out->n_sname < KRB_MAX_NAME_PARTS) {
            out->sname[out->n_sname].data = s.data;
            out->sname[out->n_sname].len = s.len;
            out->n_sname++;
        } else {
            out->sname_truncated = 1;
        }
    }
    return der_expect_end(&ns, "name-string", err) &&
           der_expect_end(&seq, "PrincipalName", err) &&
           der_expect_end(&c, "sname", err);
}

/* [n] EncryptedData ::= SEQUENCE { etype [0], kvno [1] OPTIONAL,
 * cipher [2] OCTET STRING } */
static int
get_enc(der_view *in, unsigned n, const char *what, int32_t *etype,
        int *has_kvno, uint32_t *kvno, der_err *err)
{
    der_view c = DER_VIEW_EMPTY, seq = DER_VIEW_EMPTY, k = DER_VIEW_EMPTY,
             cipher = DER_VIEW_EMPTY, oct = DER_VIEW_EMPTY;
    int64_t v = 0;
    int present = 0;

    if (!der_get(in, DER_CONTEXT(n), what, &c, NULL, err) ||
        !der_get(&c, DER_TAG_SEQUENCE, what, &seq, NULL, err) ||
        !get_tagged_int(&seq, 0, "etype", INT32_MIN, INT32_MAX, &v, err))
        return 0;
    *etype = (int32_t)v;
    if (!der_get_optional(&seq, DER_CONTEXT(1), "kvno", &k, &present, err))
        return 0;
    if (present) {
        if (!get_int(&k, "kvno", 0, UINT32_MAX, &v, err) ||
            !der_expect_end(&k, "kvno", err))
            return 0;
        if (has_kvno != NULL) {
            *has_kvno = 1;
            *kvno = (uint32_t)v;
        }
    }
    return der_get(&seq, DER_CONTEXT(2), "cipher", &cipher, NULL, err) &&
           der_get_octet_string(&cipher, "cipher", &oct, err) &&
           der_expect_end(&cipher, "cipher", err) &&
           der_expect_end(&seq, what, err) &&
           der_expect_end(&c, what, err);
}

static int
decode_ap_req(der_view *seq, struct krb_info *out, der_err *err)
{
    der_view opt = DER_VIEW_EMPTY, bits = DER_VIEW_EMPTY, t = DER_VIEW_EMPTY,
             app = DER_VIEW_EMPTY, tseq = DER_VIEW_EMPTY;
    int64_t vno = 0;
    size_t i;

    if (!get_header(seq, KRB_MSG_AP_REQ, err) ||
        !der_get(seq, DER_CONTEXT(2), "ap-options", &opt, NULL, err) ||
        !der_get_bit_string(&opt, "ap-options", &bits, err) ||
        !der_expect_end(&opt, "ap-options", err))
        return 0;
    for (i = 1; i < bits.len && i <= 4; i++)
        out->ap_options |= (uint32_t)bits.data[i] << (8 * (4 - i));
    if (!der_get(seq, DER_CONTEXT(3), "ticket", &t, NULL, err) ||
        !der_get(&t, APP(1), "Ticket", &app, NULL, err) ||
        !der_get(&app, DER_TAG_SEQUENCE, "Ticket", &tseq, NULL, err) ||
        !get_tagged_int(&tseq, 0, "tkt-vno", 5, 5, &vno, err) ||
        !get_tagged_string(&tseq, 1, "realm", &out->realm, err) ||
        !get_principal(&tseq, 2, out, err) ||
        !get_enc(&tseq, 3, "ticket enc-part", &out->etype, &out->has_kvno,
                 &out->kvno, err) ||
        !der_expect_end(&tseq, "Ticket", err) ||
        !der_expect_end(&app, "Ticket", err) ||
        !der_expect_end(&t, "ticket", err))
        return 0;
    return get_enc(seq, 4, "authenticator", &out->auth_etype, NULL, NULL,
                   err);
}

static int
decode_ap_rep(der_view *seq, struct krb_info *out, der_err *err)
{
    return get_header(seq, KRB_MSG_AP_REP, err) &&
           get_enc(seq, 2, "enc-part", &out->etype, &out->has_kvno,
                   &out->kvno, err);
}

/* KRB-ERROR: ctime [2] and cusec [3] optional, stime [4], susec [5],
 * error-code [6], crealm [7] and cname [8] optional, realm [9], sname
 * [10], e-text [11] and e-data [12] optional. */
static int
decode_error(der_view *seq, struct krb_info *out, der_err *err)
{
    der_view skip = DER_VIEW_EMPTY;
    int64_t code = 0;
    int present = 0;
    uint8_t next = 0;
    unsigned n;

    if (!get_header(seq, KRB_MSG_ERROR, err))
        return 0;
    for (n = 2; n <= 3; n++) { /* ctime, cusec: optional */
        if (!der_get_optional(seq, DER_CONTEXT(n), "ctime", &skip, &present,
                              err))
            return 0;
    }
    if (!der_get(seq, DER_CONTEXT(4), "stime", &skip, NULL, err) ||
        !der_get(seq, DER_CONTEXT(5), "susec", &skip, NULL, err))
        return 0;
    if (!get_tagged_int(seq, 6, "error-code", INT32_MIN, INT32_MAX, &code,
                        err))
        return 0;
    out->error_code = (int32_t)code;
    for (n = 7; n <= 8; n++) {
        if (!der_get_optional(seq, DER_CONTEXT(n), "client", &skip,
                              &present, err))
            return 0;
    }
    if (!get_tagged_string(seq, 9, "realm", &out->realm, err) ||
        !get_principal(seq, 10, out, err))
        return 0;
    if (der_peek_tag(seq, &next) && next == DER_CONTEXT(11)) {
        if (!get_tagged_string(seq, 11, "e-text", &out->e_text, err))
            return 0;
        out->has_e_text = 1;
    }
    return der_get_optional(seq, DER_CONTEXT(12), "e-data", &skip, &present,
                            err) &&
           der_expect_end(seq, "KRB-ERROR", err);
}

/* Skip the RFC 2743 framing: [APPLICATION 0] { OID, TOK_ID, message }. */
static int
unframe(der_view *in, der_err *err)
{
    der_view inner = DER_VIEW_EMPTY, oid = DER_VIEW_EMPTY;

    if (!der_get(in, DER_TAG_APPLICATION_0, "GSS framing", &inner, NULL,
                 err) ||
        !der_expect_end(in, "the token", err) ||
        !der_get_oid(&inner, "thisMech", &oid, err))
        return 0;
    if (!der_skip(&inner, TOK_ID_LEN, NULL))
        return der_fail(err, inner.offset, "GSS framing without a TOK_ID");
    *in = inner;
    return 1;
}

int
krb_decode(const uint8_t *token, size_t len, struct krb_info *out,
           char *err, size_t errlen)
{
    der_view in = DER_VIEW_EMPTY, seq = DER_VIEW_EMPTY;
    der_err derr;
    uint8_t tag = 0;
    int ok = 0;

    memset(out, 0, sizeof(*out));
    memset(&derr, 0, sizeof(derr));
    der_view_init(&in, token, len);
    if (len > 0 && token[0] == DER_TAG_APPLICATION_0 && !unframe(&in, &derr))
        goto cleanup;
    if (!der_peek_tag(&in, &tag)) {
        der_fail(&derr, in.offset, "no Kerberos message");
        goto cleanup;
    }
    if (tag != APP(KRB_MSG_AP_REQ) && tag != APP(KRB_MSG_AP_REP) &&
        tag != APP(KRB_MSG_ERROR)) {
        der_fail(&derr, in.offset, "tag 0x%02x is not an AP-REQ, AP-REP or "
                 "KRB-ERROR", tag);
        goto cleanup;
    }
    out->type = (enum krb_msg_type)(tag & 0x1f);
    if (!der_get(&in, tag, "Kerberos message", &seq, NULL, &derr) ||
        !der_expect_end(&in, "the token", &derr))
        goto cleanup;
    {
        der_view body = DER_VIEW_EMPTY;

        if (!der_get(&seq, DER_TAG_SEQUENCE, "Kerberos message", &body,
                     NULL, &derr) ||
            !der_expect_end(&seq, "Kerberos message", &derr))
            goto cleanup;
        ok = out->type == KRB_MSG_AP_REQ   ? decode_ap_req(&body, out, &derr)
             : out->type == KRB_MSG_AP_REP ? decode_ap_rep(&body, out, &derr)
                                           : decode_error(&body, out, &derr);
        if (ok && out->type != KRB_MSG_ERROR)
            ok = der_expect_end(&body, "Kerberos message", &derr);
    }
cleanup:
    if (!ok)
        (void)snprintf(err, errlen, "%s", derr.text);
    return ok;
}
