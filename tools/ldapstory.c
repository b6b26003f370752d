/* ldapstory.c - GSS-SPNEGO binds in LDAP streams, as a story.  See
 * ldapstory.h.
 *
 * LDAP is BER, not DER: OpenLDAP writes 4-byte lengths for every
 * constructed type, so the few LDAP fields read here go through a small
 * lenient reader of its own (definite lengths of up to 4 bytes, minimal
 * or not; one-byte tags), never common/der.c, which is strict DER for
 * SPNEGO.  The SPNEGO and mechanism tokens go through common/. */
#include "ldapstory.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "der.h"
#include "krbmsg.h"
#include "negtoken.h"
#include "ntlmmsg.h"
#include "oids.h"

#define MAX_MSGS 4096   /* LDAP messages read per direction */
#define MAX_ROUNDS 16   /* rounds of one SASL bind */

/* ---- BER, leniently ---- */

struct ber {
    const uint8_t *p;
    size_t len;
};

/* One TLV: tag, contents.  Returns 1, or 0 (cut, indefinite, too long). */
static int
ber_get(struct ber *in, uint8_t *tag_out, struct ber *val)
{
    size_t n, len = 0, i, hdr;

    if (in->len < 2)
        return 0;
    *tag_out = in->p[0];
    if ((in->p[0] & 0x1f) == 0x1f) /* multi-byte tags: not in LDAP */
        return 0;
    if (in->p[1] < 0x80) {
        len = in->p[1];
        hdr = 2;
    } else {
        n = in->p[1] & 0x7f;
        if (n == 0 || n > 4 || in->len < 2 + n)
            return 0;
        for (i = 0; i < n; i++)
            len = len << 8 | in->p[2 + i];
        hdr = 2 + n;
    }
    if (len > in->len - hdr)
        return 0;
    val->p = in->p + hdr;
    val->len = len;
    in->p += hdr + len;
    in->len -= hdr + len;
    return 1;
}

static int
ber_expect(struct ber *in, uint8_t tag, struct ber *val)
{
    struct ber save = *in;
    uint8_t t;

    if (!ber_get(in, &t, val) || t != tag) {
        *in = save;
        return 0;
    }
    return 1;
}

static int
ber_uint(const struct ber *v, uint32_t *out)
{
    size_t i;

    if (v->len == 0 || v->len > 5)
        return 0;
    *out = 0;
    for (i = 0; i < v->len; i++)
        *out = *out << 8 | v->p[i];
    return 1;
}

/* ---- LDAP messages ---- */

#define OP_BIND_REQ 0x60
#define OP_BIND_RESP 0x61

struct ldap_msg {
    uint32_t id;
    uint8_t op;
    /* BindRequest */
    int sasl;
    struct ber mech, creds;
    int has_creds;
    /* BindResponse */
    uint32_t result;
    struct ber diag;
    int has_server_creds;
    struct ber server_creds;
};

struct side {
    struct ldap_msg *m;
    size_t n;
    size_t stop;        /* where LDAP parsing stopped */
};

static void
parse_bind_req(struct ber op, struct ldap_msg *m)
{
    struct ber v, auth;
    uint8_t tag;

    if (!ber_expect(&op, 0x02, &v) || !ber_expect(&op, 0x04, &v) ||
        !ber_get(&op, &tag, &auth) || tag != 0xa3)
        return;
    m->sasl = 1;
    if (!ber_expect(&auth, 0x04, &m->mech))
        return;
    m->has_creds = ber_expect(&auth, 0x04, &m->creds);
}

static void
parse_result(struct ber op, struct ldap_msg *m)
{
    struct ber v;

    if (!ber_expect(&op, 0x0a, &v) || !ber_uint(&v, &m->result) ||
        !ber_expect(&op, 0x04, &v) || !ber_expect(&op, 0x04, &m->diag))
        return;
    (void)ber_expect(&op, 0xa3, &v); /* referral */
    m->has_server_creds = ber_expect(&op, 0x87, &m->server_creds);
}

/* One LDAPMessage; 0 if the bytes are not one. */
static int
parse_msg(struct ber *in, struct ldap_msg *m)
{
    struct ber msg, v, op;
    uint8_t tag;

    memset(m, 0, sizeof(*m));
    if (!ber_expect(in, 0x30, &msg) || !ber_expect(&msg, 0x02, &v) ||
        !ber_uint(&v, &m->id) || !ber_get(&msg, &tag, &op) ||
        (tag & 0xc0) != 0x40)
        return 0;
    m->op = tag;
    switch (tag) {
    case OP_BIND_REQ:
        parse_bind_req(op, m);
        break;
    case OP_BIND_RESP:
        parse_result(op, m);
        break;
    default:
        break;
    }
    return 1;
}

/* The LDAP messages at the start of a stream, up to the first bytes that
 * are not one (a security layer, TLS, the end). */
static int
parse_side(const struct cap_stream *s, struct side *out)
{
    struct ber in = { s->data, s->len };
    struct ldap_msg m;

    memset(out, 0, sizeof(*out));
    while (out->n < MAX_MSGS && parse_msg(&in, &m)) {
        if (out->n % 64 == 0) {
            struct ldap_msg *grown =
                realloc(out->m, (out->n + 64) * sizeof(*grown));

            if (grown == NULL)
                return 0;
            out->m = grown;
        }
        out->m[out->n++] = m;
    }
    out->stop = s->len - in.len;
    return 1;
}

/* ---- one SASL bind ---- */

struct round {
    int has_client, has_server, answered;
    struct ber client, server;
    uint32_t result;
    struct ber diag;
};

struct bind {
    struct ber mech;
    uint32_t first_id;
    size_t n;
    struct round r[MAX_ROUNDS];
    int gave_up;       /* the server asked for more; the client sent none */
    size_t client_end; /* client messages used (index after the last) */
    size_t server_end;
};

/* What the tokens said, for the story's conclusions. */
struct facts {
    int spnego;                   /* the client's first token was SPNEGO */
    size_t n_offered;
    const char *offered[8];
    const char *chosen;           /* supportedMech or the bare mechanism */
    int rejected;                 /* negState reject */
    int request_mic;
    int client_mic, server_mic;
    /* NTLM */
    int ntlm;
    uint32_t ntlm_neg_flags, ntlm_auth_flags;
    int have_neg, have_auth;
    const char *ntlm_cb;          /* "set", "zero" or NULL (absent) */
    /* Kerberos */
    struct krb_info ap_req;
    int have_ap_req;
    int32_t krb_error;
    int have_krb_error;
};

static const char *
result_name(uint32_t code)
{
    switch (code) {
    case 0: return "success";
    case 1: return "operationsError";
    case 2: return "protocolError";
    case 7: return "authMethodNotSupported";
    case 8: return "strongerAuthRequired";
    case 14: return "saslBindInProgress";
    case 48: return "inappropriateAuthentication";
    case 49: return "invalidCredentials";
    case 50: return "insufficientAccessRights";
    case 51: return "busy";
    case 52: return "unavailable";
    case 53: return "unwillingToPerform";
    case 80: return "other";
    default: return "result";
    }
}

static const char *
oid_name(const struct negtoken_bytes *oid)
{
    const struct spnego_oid_info *info =
        spnego_oid_info(spnego_oid_lookup(oid->data, oid->len));

    return info != NULL ? info->name : "an unknown OID";
}

static int
is_mech(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static void
put_bytes(FILE *out, const uint8_t *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        fputc(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?', out);
}

static void
put_ber(FILE *out, const struct ber *b)
{
    put_bytes(out, b->p, b->len);
}

/* An AP-REQ's ticket principal: service/host@REALM. */
static void
put_principal(FILE *out, const struct krb_info *k)
{
    size_t i;

    for (i = 0; i < k->n_sname; i++) {
        fputs(i ? "/" : "", out);
        put_bytes(out, k->sname[i].data, k->sname[i].len);
    }
    fputc('@', out);
    put_bytes(out, k->realm.data, k->realm.len);
}

/* Pair the client's BindRequests of one mechanism with the server's
 * BindResponses, from client message ci and server message si. */
static void
collect_bind(const struct side *c, const struct side *s, size_t ci,
             size_t si, struct bind *b)
{
    memset(b, 0, sizeof(*b));
    b->mech = c->m[ci].mech;
    b->first_id = c->m[ci].id;
    for (; ci < c->n && b->n < MAX_ROUNDS; ci++) {
        const struct ldap_msg *q = &c->m[ci];
        struct round *r;

        if (q->op != OP_BIND_REQ || !q->sasl || q->mech.len != b->mech.len ||
            (b->mech.len > 0 && memcmp(q->mech.p, b->mech.p, b->mech.len) != 0))
            break;
        r = &b->r[b->n++];
        r->has_client = q->has_creds;
        r->client = q->creds;
        while (si < s->n && (s->m[si].op != OP_BIND_RESP ||
                             s->m[si].id != q->id))
            si++;
        b->client_end = ci + 1;
        if (si == s->n)
            break;
        r->answered = 1;
        r->result = s->m[si].result;
        r->diag = s->m[si].diag;
        r->has_server = s->m[si].has_server_creds;
        r->server = s->m[si].server_creds;
        b->server_end = ++si;
        if (r->result != 14)
            break;
    }
    b->gave_up = b->n > 0 && b->r[b->n - 1].answered &&
                 b->r[b->n - 1].result == 14 &&
                 (ci >= c->n || c->m[ci].op != OP_BIND_REQ);
}

/* ---- the tokens ---- */

static void
note_ntlm(struct facts *f, const struct ntlm_info *m)
{
    size_t i, j;

    f->ntlm = 1;
    if (m->type == 1) {
        f->have_neg = 1;
        f->ntlm_neg_flags = m->flags;
    } else if (m->type == 3) {
        f->have_auth = 1;
        f->ntlm_auth_flags = m->flags;
        for (i = 0; i < m->n_av; i++) {
            if (m->av[i].id != NTLM_AV_CHANNEL_BINDINGS)
                continue;
            f->ntlm_cb = "zero";
            for (j = 0; j < m->av[i].value.len; j++) {
                if (m->av[i].value.data[j] != 0)
                    f->ntlm_cb = "set";
            }
        }
    }
}

static void
note_krb(struct facts *f, const struct krb_info *k)
{
    if (k->type == KRB_MSG_AP_REQ) {
        f->ap_req = *k;
        f->have_ap_req = 1;
    } else if (k->type == KRB_MSG_ERROR) {
        f->krb_error = k->error_code;
        f->have_krb_error = 1;
    }
}

/* A mechanism token: NTLMSSP or Kerberos, told in one line. */
static void
tell_inner(FILE *out, struct facts *f, const uint8_t *p, size_t len)
{
    struct ntlm_info m;
    struct krb_info k;
    char err[160];
    unsigned bit;
    size_t i;

    if (ntlm_decode(p, len, &m, err, sizeof(err))) {
        note_ntlm(f, &m);
        fprintf(out, "NTLMSSP %s, flags",
                m.type == 1 ? "NEGOTIATE" : m.type == 2 ? "CHALLENGE"
                                                         : "AUTHENTICATE");
        for (bit = 0; bit < 32; bit++) {
            const char *name = ntlm_flag_name(bit);

            if ((m.flags >> bit & 1u) && name != NULL &&
                (strcmp(name, "SIGN") == 0 || strcmp(name, "SEAL") == 0 ||
                 strcmp(name, "ALWAYS_SIGN") == 0 ||
                 strcmp(name, "KEY_EXCH") == 0))
                fprintf(out, " %s", name);
        }
        if (!(m.flags & NTLM_FLAG_SIGN))
            fputs(" (no SIGN)", out);
        if (m.type == 3) {
            fputs(", user ", out);
            for (i = 0; i < m.user.len; i += m.unicode ? 2 : 1)
                fputc(m.user.data[i] >= 0x20 && m.user.data[i] < 0x7f
                          ? m.user.data[i] : '?', out);
            fprintf(out, ", MIC %s, channel bindings %s",
                    m.mic_present ? "present" : "absent",
                    f->ntlm_cb != NULL ? f->ntlm_cb : "absent");
        }
        return;
    }
    if (krb_decode(p, len, &k, err, sizeof(err))) {
        note_krb(f, &k);
        switch (k.type) {
        case KRB_MSG_AP_REQ:
            fputs("Kerberos AP-REQ for ", out);
            put_principal(out, &k);
            fprintf(out, " (ticket %s", krb_etype_name(k.etype) != NULL
                                            ? krb_etype_name(k.etype)
                                            : "etype ?");
            if (k.has_kvno)
                fprintf(out, ", kvno %u", (unsigned)k.kvno);
            fprintf(out, ")%s", (k.ap_options & 0x20000000u)
                                    ? ", mutual authentication asked" : "");
            break;
        case KRB_MSG_AP_REP:
            fputs("Kerberos AP-REP (mutual authentication)", out);
            break;
        case KRB_MSG_ERROR:
        default:
            fprintf(out, "Kerberos KRB-ERROR %s (%d)",
                    krb_error_name(k.error_code) != NULL
                        ? krb_error_name(k.error_code) : "?",
                    (int)k.error_code);
            if (k.has_e_text) {
                fputs(": ", out);
                put_bytes(out, k.e_text.data, k.e_text.len);
            }
            break;
        }
        return;
    }
    fprintf(out, "a mechanism token of %zu bytes", len);
}

/* A SPNEGO token from one side, told. */
static void
tell_token(FILE *out, struct facts *f, int from_client, const struct ber *b,
           int first)
{
    struct negtoken_opts o = { 0, 0, NEGTOKEN_ALLOW_UNFRAMED_INIT |
                                         NEGTOKEN_ALLOW_RAW_NTLMSSP |
                                         NEGTOKEN_ALLOW_RAW_MECH };
    struct negtoken t;
    der_err err = { 0, "" };
    size_t i;

    fprintf(out, "    %s: ", from_client ? "client" : "server");
    if (negtoken_decode(b->p, b->len, &o, &t, &err) != NEGTOKEN_OK) {
        fprintf(out, "%zu bytes that are not SPNEGO (%s)\n", b->len,
                err.text);
        return;
    }
    switch (t.type) {
    case NEGTOKEN_INIT:
    case NEGTOKEN_INIT2:
        if (from_client && first) {
            f->spnego = 1;
            for (i = 0; i < t.n_mechs && f->n_offered < 8; i++)
                f->offered[f->n_offered++] = oid_name(&t.mechs[i]);
        }
        fputs("offers", out);
        for (i = 0; i < t.n_mechs; i++)
            fprintf(out, "%s %s", i ? "," : "", oid_name(&t.mechs[i]));
        if (t.has_mech_token) {
            fputs("; optimistic token: ", out);
            tell_inner(out, f, t.mech_token.data, t.mech_token.len);
        }
        break;
    case NEGTOKEN_RESP:
        fputs(negtoken_state_name(t.neg_state), out);
        if (t.neg_state == NEG_STATE_REJECT)
            f->rejected = 1;
        if (t.neg_state == NEG_STATE_REQUEST_MIC)
            f->request_mic = 1;
        if (t.has_supported_mech) {
            f->chosen = oid_name(&t.supported_mech);
            fprintf(out, ", chose %s", f->chosen);
        }
        if (t.has_response_token) {
            fputs("; ", out);
            tell_inner(out, f, t.response_token.data, t.response_token.len);
        }
        break;
    case NEGTOKEN_NTLMSSP:
    case NEGTOKEN_RAW_MECH:
    default:
        fputs("a bare mechanism token without SPNEGO: ", out);
        if (!from_client || first)
            f->chosen = t.type == NEGTOKEN_NTLMSSP ? "ntlmssp" : "krb5";
        tell_inner(out, f, t.mech_token.data, t.mech_token.len);
        break;
    }
    if (t.has_mic) {
        fputs("; mechListMIC", out);
        if (from_client)
            f->client_mic = 1;
        else
            f->server_mic = 1;
    }
    fputc('\n', out);
}

/* ---- the security layer ---- */

struct layer_seen {
    size_t packets, min, max, bytes;
    const char *kind;
};

static void
scan_layer(const struct cap_stream *s, size_t from, struct layer_seen *l)
{
    size_t off = from;

    memset(l, 0, sizeof(*l));
    while (s->len - off >= 4) {
        size_t n = (size_t)s->data[off] << 24 | (size_t)s->data[off + 1] << 16 |
                   (size_t)s->data[off + 2] << 8 | s->data[off + 3];
        const uint8_t *t = s->data + off + 4;

        if (n == 0 || n > s->len - off - 4)
            break;
        if (l->packets == 0 || n < l->min)
            l->min = n;
        if (n > l->max)
            l->max = n;
        l->packets++;
        l->bytes += n;
        if (l->kind == NULL) {
            if (n >= 16 && t[0] == 0x05 && t[1] == 0x04)
                l->kind = (t[2] & 0x02) ? "sealed Kerberos (RFC 4121) tokens: "
                                          "confidentiality"
                                        : "integrity-only Kerberos (RFC 4121) "
                                          "tokens: SSF 1";
            else if (n >= 16 && t[0] == 0x01 && t[1] == 0 && t[2] == 0 &&
                     t[3] == 0)
                l->kind = "NTLM signed (or sealed) messages";
            else
                l->kind = "packets of an unknown kind";
        }
        off += 4 + n;
    }
}

static void
tell_layer(FILE *out, const char *dir, const struct layer_seen *l)
{
    if (l->packets == 0)
        return;
    fprintf(out, "    security layer %s: %zu packet%s of %zu", dir,
            l->packets, l->packets == 1 ? "" : "s", l->min);
    if (l->max != l->min)
        fprintf(out, "-%zu", l->max);
    fprintf(out, " bytes, %s\n", l->kind);
}

/* ---- conclusions ---- */

static const char *
first_offered(const struct facts *f)
{
    return f->n_offered > 0 ? f->offered[0] : NULL;
}

static void
tell_mic(FILE *out, const struct facts *f)
{
    const char *first = first_offered(f);
    int counter = f->chosen != NULL && first != NULL &&
                  !is_mech(f->chosen, first);

    if (!f->spnego)
        return;
    fprintf(out, "    mechListMIC: %s; client %s, server %s\n",
            counter ? "due (the server chose another mechanism than the "
                      "client's first)"
            : f->request_mic ? "asked for by the server (request-mic)"
                             : "not required (the client's first choice)",
            f->client_mic ? "sent one" : "sent none",
            f->server_mic ? "sent one" : "sent none");
}

static int
diag_has(const struct ber *d, const char *word)
{
    size_t n = strlen(word), i;

    for (i = 0; i + n <= d->len; i++) {
        if (strncasecmp((const char *)d->p + i, word, n) == 0)
            return 1;
    }
    return 0;
}

static void
tell_krb_error(FILE *out, const struct facts *f)
{
    const struct krb_info *a = &f->ap_req;

    switch (f->krb_error) {
    case 37:
        fputs("the client's and the server's clocks differ by more than "
              "Kerberos allows (KRB_AP_ERR_SKEW): synchronize them (NTP)",
              out);
        break;
    case 32:
        fputs("the client's service ticket has expired "
              "(KRB_AP_ERR_TKT_EXPIRED): get a new one (kinit)", out);
        break;
    case 41:
    case 44:
    case 45:
        fputs("the server has no key that opens the ticket", out);
        if (f->have_ap_req && a->has_kvno)
            fprintf(out, " (kvno %u, %s)", (unsigned)a->kvno,
                    krb_etype_name(a->etype) != NULL
                        ? krb_etype_name(a->etype) : "etype ?");
        fprintf(out, " (%s): export the service's current key into the "
                "server's keytab, or point the server at the right keytab",
                krb_error_name(f->krb_error) != NULL
                    ? krb_error_name(f->krb_error) : "?");
        break;
    default:
        fprintf(out, "Kerberos refused the client's ticket: %s (%d)",
                krb_error_name(f->krb_error) != NULL
                    ? krb_error_name(f->krb_error) : "?",
                (int)f->krb_error);
        break;
    }
}

/* The service principal of the client's AP-REQ, as text. */
static void
put_service(FILE *out, const struct facts *f)
{
    if (!f->have_ap_req) {
        fputs("the service", out);
        return;
    }
    put_principal(out, &f->ap_req);
    if (f->ap_req.has_kvno)
        fprintf(out, " kvno %u", (unsigned)f->ap_req.kvno);
}

/* Kerberos failures the server only names in its diagnostic message
 * (MIT's acceptor sends no KRB-ERROR for them).  Returns 1 if told. */
static int
tell_krb_diag(FILE *out, const struct facts *f, const struct ber *diag)
{
    if (!f->have_ap_req)
        return 0;
    if (diag_has(diag, "cannot decrypt") ||
        diag_has(diag, "integrity check failed")) {
        fputs("the server's keytab holds a key for ", out);
        put_service(out, f);
        fputs(" that does not open the ticket: the key changed on the KDC "
              "since the keytab was made; export the current key into the "
              "server's keytab (spnego-check SERVICE@HOST shows both)", out);
        return 1;
    }
    if (diag_has(diag, "keytab") || diag_has(diag, "key table") ||
        diag_has(diag, "no key")) {
        fputs("the server has no key for ", out);
        put_service(out, f);
        fputs(" in its keytab: add the service's current key, or point the "
              "server at the keytab that has it", out);
        return 1;
    }
    if (diag_has(diag, "skew")) {
        fputs("the client's and the server's clocks differ by more than "
              "Kerberos allows: synchronize them (NTP)", out);
        return 1;
    }
    if (diag_has(diag, "expired")) {
        fputs("the client's ticket has expired: get a new one (kinit)", out);
        return 1;
    }
    return 0;
}

/* The most likely cause of a failed bind, in one sentence. */
static void
tell_cause(FILE *out, const struct bind *b, const struct facts *f)
{
    const struct round *last = &b->r[b->n - 1];
    const char *first = first_offered(f);

    fputs("    likely cause: ", out);
    if (!last->answered) {
        fputs("the server never answered this bind request (the "
              "connection closed, or the capture ends)", out);
    } else if (f->have_krb_error) {
        tell_krb_error(out, f);
    } else if (tell_krb_diag(out, f, &last->diag)) {
        /* told */
    } else if (f->ntlm && ((f->have_auth && !(f->ntlm_auth_flags &
                                               NTLM_FLAG_SIGN)) ||
                           (f->have_neg && !(f->ntlm_neg_flags &
                                             NTLM_FLAG_SIGN)))) {
        fputs("NTLM without signing: the client did not negotiate NTLM "
              "signing (no SIGN flag), so neither the negotiation nor a "
              "security layer is protected, and a server that requires "
              "integrity (a SASL layer, Active Directory's LDAP signing) "
              "refuses it outside TLS; let the client sign (maxssf > 0) or "
              "use TLS", out);
    } else if ((f->ntlm && f->ntlm_cb != NULL &&
                strcmp(f->ntlm_cb, "set") == 0) ||
               diag_has(&last->diag, "channel binding")) {
        fputs("channel bindings do not match: the client bound its "
              "authentication to a TLS channel (or to different channel "
              "data) that the server does not see; on clear LDAP the client "
              "must send none (SASL_CBINDING none), behind a TLS proxy the "
              "server must bind to the client's TLS channel", out);
    } else if (f->rejected && f->chosen == NULL) {
        fputs("no common mechanism: the server accepts none of what the "
              "client offered (", out);
        fputs(first != NULL ? first : "nothing", out);
        fputs(first != NULL && f->n_offered > 1 ? ", ...)" : ")", out);
    } else if (b->gave_up) {
        fprintf(out, "the client stopped after the server's reply and "
                "sent no further bind: it refused what the server %s "
                "(see the client's log)",
                f->chosen != NULL && first != NULL &&
                        !is_mech(f->chosen, first)
                    ? "proposed instead of its first choice"
                    : "sent");
    } else {
        fprintf(out, "the server refused the bind with %s (%u)",
                result_name(last->result), (unsigned)last->result);
        if (last->diag.len > 0) {
            fputs(": ", out);
            put_ber(out, &last->diag);
        }
    }
    fputc('\n', out);
}

/* ---- one bind, one connection ---- */

static void
tell_bind(FILE *out, const struct cap_conn *c, const struct side *cs,
          const struct side *ss, const struct bind *b, int last_bind)
{
    struct facts f;
    const struct round *last = &b->r[b->n - 1];
    int ok = last->answered && last->result == 0;
    size_t i;

    memset(&f, 0, sizeof(f));
    fprintf(out, "  bind (message %u) SASL ", (unsigned)b->first_id);
    put_ber(out, &b->mech);
    fprintf(out, ", %zu round%s\n", b->n, b->n == 1 ? "" : "s");
    for (i = 0; i < b->n; i++) {
        const struct round *r = &b->r[i];

        if (r->has_client)
            tell_token(out, &f, 1, &r->client, i == 0);
        if (r->has_server)
            tell_token(out, &f, 0, &r->server, 0);
        if (r->answered && r->result != 14) {
            fprintf(out, "    result: %s (%u)", result_name(r->result),
                    (unsigned)r->result);
            if (r->diag.len > 0) {
                fputs(": ", out);
                put_ber(out, &r->diag);
            }
            fputc('\n', out);
        }
    }
    tell_mic(out, &f);
    if (ok && last_bind) {
        struct layer_seen up, down;

        scan_layer(&c->dir[0], cs->stop, &up);
        scan_layer(&c->dir[1], ss->stop, &down);
        tell_layer(out, "client to server", &up);
        tell_layer(out, "server to client", &down);
        if (up.packets == 0 && down.packets == 0)
            fputs("    security layer: none (SSF 0): LDAP continues in "
                  "clear\n", out);
    }
    if (!ok)
        tell_cause(out, b, &f);
}

static int
is_spnego(const struct ber *mech)
{
    return mech->len == 10 && memcmp(mech->p, "GSS-SPNEGO", 10) == 0;
}

static void
json_bind(FILE *out, const struct cap_conn *c, const struct bind *b)
{
    const struct round *last = &b->r[b->n - 1];
    size_t i;

    fprintf(out, "{\"client\":\"%s\",\"server\":\"%s\",\"message\":%u,"
                 "\"mechanism\":\"", c->client, c->server,
            (unsigned)b->first_id);
    put_ber(out, &b->mech);
    fprintf(out, "\",\"rounds\":%zu,\"answered\":%s", b->n,
            last->answered ? "true" : "false");
    if (last->answered) {
        fprintf(out, ",\"result\":%u,\"result_name\":\"%s\",\"diagnostic\":\"",
                (unsigned)last->result, result_name(last->result));
        for (i = 0; i < last->diag.len; i++) {
            uint8_t ch = last->diag.p[i];

            if (ch == '"' || ch == '\\')
                fprintf(out, "\\%c", ch);
            else if (ch < 0x20 || ch >= 0x7f)
                fprintf(out, "\\u%04x", ch);
            else
                fputc(ch, out);
        }
        fputc('"', out);
    }
    fputs("}\n", out);
}

static size_t
tell_conn(FILE *out, const struct cap_conn *c, int json)
{
    struct side cs = { NULL, 0, 0 }, ss = { NULL, 0, 0 };
    struct bind b;
    size_t ci, si = 0, found = 0, n_binds = 0;
    int told = 0;

    if (!parse_side(&c->dir[0], &cs) || !parse_side(&c->dir[1], &ss))
        goto cleanup;
    for (ci = 0; ci < cs.n; ci++) {
        if (cs.m[ci].op == OP_BIND_REQ && cs.m[ci].sasl &&
            is_spnego(&cs.m[ci].mech))
            n_binds++;
    }
    for (ci = 0; ci < cs.n;) {
        if (cs.m[ci].op != OP_BIND_REQ || !cs.m[ci].sasl) {
            ci++;
            continue;
        }
        collect_bind(&cs, &ss, ci, si, &b);
        ci = b.client_end > ci ? b.client_end : ci + 1;
        if (b.server_end > si)
            si = b.server_end;
        if (!is_spnego(&b.mech) || b.n == 0)
            continue;
        found++;
        if (json) {
            json_bind(out, c, &b);
            continue;
        }
        if (!told) {
            fprintf(out, "connection %s -> %s (LDAP; %zu bytes client to "
                    "server, %zu back)\n", c->client, c->server,
                    c->dir[0].len, c->dir[1].len);
            told = 1;
        }
        tell_bind(out, c, &cs, &ss, &b, found == n_binds);
    }
    if (told && (c->dir[0].hole || c->dir[1].hole))
        fputs("  (the capture misses bytes of this connection: what "
              "follows the gap is not shown)\n", out);
cleanup:
    free(cs.m);
    free(ss.m);
    return found;
}

size_t
ldapstory_print(FILE *out, const struct capture *cap, int json)
{
    size_t i, found = 0;

    for (i = 0; i < cap->n_conns; i++)
        found += tell_conn(out, &cap->conns[i], json);
    return found;
}
