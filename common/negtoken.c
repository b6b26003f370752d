/* negtoken.c - SPNEGO NegotiationToken codec.  See negtoken.h. */
#include "negtoken.h"

#include <string.h>

#include "oids.h"

static const uint8_t ntlmssp_signature[8] = { 'N', 'T', 'L', 'M',
                                              'S', 'S', 'P', 0 };

/* Decoder state shared by the field readers. */
struct parser {
    der_err *err;
    enum negtoken_status status; /* why the last 0 was returned */
    size_t max_mechs;
    unsigned lenience;
    const uint8_t *buf; /* the whole token */
    size_t len;
};

static int
fail(struct parser *p, enum negtoken_status status)
{
    p->status = status;
    return 0;
}

void
negtoken_init(struct negtoken *tok)
{
    memset(tok, 0, sizeof(*tok));
    tok->neg_state = NEG_STATE_ABSENT;
}

static struct negtoken_bytes
bytes_of(const der_view *v)
{
    struct negtoken_bytes b = { v->data, v->len };

    return b;
}

/* Open the explicit tag [n] whose contents are `field`: read exactly one
 * element with `tag` from it.  Nothing may follow inside the tag. */
static int
get_explicit(struct parser *p, der_view field, uint8_t tag, const char *what,
             der_view *contents_out, der_view *whole_out)
{
    if (!der_get(&field, tag, what, contents_out, whole_out, p->err))
        return 0;
    return der_expect_end(&field, what, p->err);
}

static int
get_explicit_octets(struct parser *p, der_view field, const char *what,
                    struct negtoken_bytes *out)
{
    der_view v = DER_VIEW_EMPTY;

    if (!der_get_octet_string(&field, what, &v, p->err) ||
        !der_expect_end(&field, what, p->err))
        return 0;
    *out = bytes_of(&v);
    return 1;
}

static int
parse_mech_types(struct parser *p, der_view field, struct negtoken *tok)
{
    der_view list = DER_VIEW_EMPTY, whole = DER_VIEW_EMPTY, oid = DER_VIEW_EMPTY;
    size_t start = field.offset;

    if (!get_explicit(p, field, DER_TAG_SEQUENCE, "mechTypes", &list, &whole))
        return 0;
    if (list.len == 0)
        return der_fail(p->err, start, "mechTypes is an empty SEQUENCE at "
                        "offset %zu (RFC 4178 4.2.1: initiator must list at "
                        "least one mechanism)", start);
    while (list.len > 0) {
        if (tok->n_mechs == p->max_mechs) {
            der_fail(p->err, list.offset, "mechTypes lists more than %zu "
                     "mechanisms (limit reached at offset %zu)",
                     p->max_mechs, list.offset);
            return fail(p, NEGTOKEN_TOO_MANY_MECHS);
        }
        if (!der_get_oid(&list, "MechType", &oid, p->err))
            return 0;
        tok->mechs[tok->n_mechs++] = bytes_of(&oid);
    }
    tok->has_mech_types = 1;
    tok->mech_list_der = bytes_of(&whole);
    return 1;
}

static unsigned
flags_from_bits(const der_view *bits)
{
    unsigned flags = 0, i;

    if (bits->len < 2)
        return 0;
    for (i = 0; i < 7; i++) {
        if (bits->data[1] & (0x80u >> i))
            flags |= 1u << i;
    }
    return flags;
}

static int
parse_req_flags(struct parser *p, der_view field, struct negtoken *tok)
{
    der_view bits = DER_VIEW_EMPTY;

    /* Any valid DER BIT STRING is accepted (MIT wrongly rejects the
     * minimal 03 02 07 80); the acceptor ignores the flags anyway. */
    if (!der_get_bit_string(&field, "reqFlags", &bits, p->err) ||
        !der_expect_end(&field, "reqFlags", p->err))
        return 0;
    tok->has_req_flags = 1;
    tok->req_flags_raw = bytes_of(&bits);
    tok->req_flags = flags_from_bits(&bits);
    return 1;
}

static int
parse_neg_hints(struct parser *p, der_view field, struct negtoken *tok)
{
    der_view hints = DER_VIEW_EMPTY, v = DER_VIEW_EMPTY, s = DER_VIEW_EMPTY;
    int present;

    if (!get_explicit(p, field, DER_TAG_SEQUENCE, "negHints", &hints, NULL))
        return 0;
    if (!der_get_optional(&hints, DER_CONTEXT(0), "negHints.hintName", &v,
                          &present, p->err))
        return 0;
    if (present) {
        if (!get_explicit(p, v, DER_TAG_GENERAL_STRING, "hintName", &s, NULL))
            return 0;
        tok->has_hint_name = 1;
        tok->hint_name = bytes_of(&s);
    }
    if (!der_get_optional(&hints, DER_CONTEXT(1), "negHints.hintAddress", &v,
                          &present, p->err))
        return 0;
    if (present) {
        if (!get_explicit_octets(p, v, "hintAddress", &tok->hint_address))
            return 0;
        tok->has_hint_address = 1;
    }
    if (!der_expect_end(&hints, "negHints", p->err))
        return 0;
    tok->has_neg_hints = 1;
    return 1;
}

/* Field [3] of a NegTokenInit is the mechListMIC (OCTET STRING); in a
 * NegTokenInit2 it is negHints (SEQUENCE).  The inner tag tells which. */
static int
parse_init_field3(struct parser *p, der_view field, struct negtoken *tok)
{
    uint8_t inner = 0;

    if (der_peek_tag(&field, &inner) && inner == DER_TAG_SEQUENCE) {
        tok->type = NEGTOKEN_INIT2;
        return parse_neg_hints(p, field, tok);
    }
    tok->has_mic = 1;
    return get_explicit_octets(p, field, "mechListMIC", &tok->mic);
}

static int
parse_init_field(struct parser *p, unsigned n, der_view field,
                 struct negtoken *tok)
{
    switch (n) {
    case 0:
        return parse_mech_types(p, field, tok);
    case 1:
        return parse_req_flags(p, field, tok);
    case 2:
        tok->has_mech_token = 1;
        return get_explicit_octets(p, field, "mechToken", &tok->mech_token);
    case 3:
        return parse_init_field3(p, field, tok);
    case 4:
        if (tok->type != NEGTOKEN_INIT2)
            return -1; /* an extension field of a plain NegTokenInit */
        tok->has_mic = 1;
        return get_explicit_octets(p, field, "mechListMIC", &tok->mic);
    default:
        return -1;
    }
}

static int
parse_resp_field(struct parser *p, unsigned n, der_view field,
                 struct negtoken *tok)
{
    unsigned state = 0;
    der_view oid = DER_VIEW_EMPTY;

    switch (n) {
    case 0:
        if (!der_get_enumerated(&field, "negState", 3, &state, p->err) ||
            !der_expect_end(&field, "negState", p->err))
            return 0;
        tok->neg_state = (enum negtoken_state)state;
        return 1;
    case 1:
        if (!der_get_oid(&field, "supportedMech", &oid, p->err) ||
            !der_expect_end(&field, "supportedMech", p->err))
            return 0;
        tok->has_supported_mech = 1;
        tok->supported_mech = bytes_of(&oid);
        return 1;
    case 2:
        tok->has_response_token = 1;
        return get_explicit_octets(p, field, "responseToken",
                                   &tok->response_token);
    case 3:
        tok->has_mic = 1;
        return get_explicit_octets(p, field, "mechListMIC", &tok->mic);
    default:
        return -1;
    }
}

typedef int (*field_fn)(struct parser *, unsigned, der_view,
                        struct negtoken *);

/*
 * Walk the elements of a NegTokenInit/NegTokenResp SEQUENCE: each must be
 * an explicit context tag [n] with n strictly increasing (DER order).
 * Known numbers go to `fn`; a field it does not know (fn returns -1) is an
 * extension and is skipped (draft section 6), its number recorded.
 */
static int
parse_fields(struct parser *p, der_view seq, const char *what, field_fn fn,
             struct negtoken *tok)
{
    int last = -1, r;

    while (seq.len > 0) {
        size_t off = seq.offset;
        uint8_t tag;
        unsigned n;
        der_view field;

        if (!der_get_any(&seq, what, &tag, &field, NULL, p->err))
            return 0;
        if ((tag & (DER_CLASS_MASK | DER_CONSTRUCTED)) !=
            (DER_CLASS_CONTEXT | DER_CONSTRUCTED))
            return der_fail(p->err, off, "%s: unexpected tag 0x%02x at "
                            "offset %zu (expected a context tag [n])", what,
                            tag, off);
        n = tag & 0x1f;
        if ((int)n <= last)
            return der_fail(p->err, off, "%s: field [%u] out of order or "
                            "duplicated at %zu (DER SEQUENCE order)", what,
                            n, off);
        last = (int)n;
        r = fn(p, n, field, tok);
        if (r == 0)
            return 0;
        if (r < 0 && tok->n_unknown < NEGTOKEN_MAX_UNKNOWN)
            tok->unknown_tags[tok->n_unknown++] = n;
    }
    return 1;
}

static int
parse_init(struct parser *p, der_view choice, struct negtoken *tok)
{
    der_view seq = DER_VIEW_EMPTY;

    tok->type = NEGTOKEN_INIT;
    if (!get_explicit(p, choice, DER_TAG_SEQUENCE, "NegTokenInit", &seq,
                      NULL))
        return 0;
    if (!parse_fields(p, seq, "NegTokenInit", parse_init_field, tok))
        return 0;
    if (!tok->has_mech_types && tok->type != NEGTOKEN_INIT2)
        return der_fail(p->err, choice.offset, "NegTokenInit at offset %zu "
                        "has no mechTypes [0] (required outside "
                        "NegTokenInit2)", choice.offset);
    return 1;
}

static int
parse_resp(struct parser *p, der_view choice, struct negtoken *tok)
{
    der_view seq = DER_VIEW_EMPTY;

    tok->type = NEGTOKEN_RESP;
    if (!get_explicit(p, choice, DER_TAG_SEQUENCE, "NegTokenResp", &seq,
                      NULL))
        return 0;
    return parse_fields(p, seq, "NegTokenResp", parse_resp_field, tok);
}

static int
bad_outer_tag(struct parser *p, uint8_t tag)
{
    return der_fail(p->err, 0, "outer tag 0x%02x is not 0x60 "
                    "(InitialContextToken), 0xa0 (NegTokenInit) or 0xa1 "
                    "(NegTokenResp)", tag);
}

/* The GSS framing: [APPLICATION 0] { thisMech OID, innerToken }. */
static int
parse_framed(struct parser *p, der_view contents, struct negtoken *tok)
{
    der_view oid = DER_VIEW_EMPTY, choice = DER_VIEW_EMPTY;
    uint8_t tag = 0;
    size_t tag_off;
    const struct spnego_oid_info *info;
    char dotted[128];

    if (!der_get_oid(&contents, "thisMech", &oid, p->err))
        return 0;
    info = spnego_oid_info(spnego_oid_lookup(oid.data, oid.len));
    if ((info == NULL || info->id != SPNEGO_OID_SPNEGO) &&
        (p->lenience & NEGTOKEN_ALLOW_RAW_MECH)) {
        tok->type = NEGTOKEN_RAW_MECH;
        tok->framed = 1;
        tok->raw_mech.data = oid.data;
        tok->raw_mech.len = oid.len;
        tok->has_mech_token = 1;
        tok->mech_token.data = p->buf;
        tok->mech_token.len = p->len;
        return 1;
    }
    if (info == NULL || info->id != SPNEGO_OID_SPNEGO) {
        if (!der_oid_to_dotted(oid.data, oid.len, dotted, sizeof(dotted)))
            strcpy(dotted, "(unprintable)");
        der_fail(p->err, oid.offset, "GSS token for mechanism %s%s%s%s at "
                 "offset %zu, not SPNEGO (1.3.6.1.5.5.2)",
                 info != NULL ? info->name : dotted,
                 info != NULL ? " (" : "", info != NULL ? dotted : "",
                 info != NULL ? ")" : "", oid.offset);
        return fail(p, NEGTOKEN_NOT_SPNEGO);
    }
    tag_off = contents.offset;
    if (!der_get_any(&contents, "NegotiationToken", &tag, &choice, NULL,
                     p->err))
        return 0;
    if (!der_expect_end(&contents, "the GSS initial token", p->err))
        return 0;
    tok->framed = 1;
    if (tag == DER_CONTEXT(0))
        return parse_init(p, choice, tok);
    if (tag == DER_CONTEXT(1))
        return der_fail(p->err, tag_off, "NegTokenResp inside the GSS "
                        "initial-token framing at offset %zu (RFC 4178 4.2: "
                        "subsequent tokens are not framed)", tag_off);
    return der_fail(p->err, tag_off, "GSS initial token carries tag 0x%02x "
                    "at offset %zu, not a NegotiationToken [0]", tag,
                    tag_off);
}

static int
parse_ntlmssp(struct parser *p, const uint8_t *buf, size_t len,
              struct negtoken *tok)
{
    uint32_t type;

    if (len < 12)
        return der_fail(p->err, len, "NTLMSSP message of %zu bytes is too "
                        "short for its type field", len);
    type = (uint32_t)buf[8] | (uint32_t)buf[9] << 8 |
           (uint32_t)buf[10] << 16 | (uint32_t)buf[11] << 24;
    if (type < 1 || type > 3)
        return der_fail(p->err, 8, "NTLMSSP message type %u at offset 8 is "
                        "not 1, 2 or 3", (unsigned)type);
    tok->type = NEGTOKEN_NTLMSSP;
    tok->ntlmssp_type = type;
    tok->has_mech_token = 1;
    tok->mech_token.data = buf;
    tok->mech_token.len = len;
    return 1;
}

static int
parse_token(struct parser *p, const uint8_t *buf, size_t len,
            unsigned lenience, struct negtoken *tok)
{
    der_view in = DER_VIEW_EMPTY, contents = DER_VIEW_EMPTY, whole = DER_VIEW_EMPTY;
    uint8_t tag = 0;

    if (len == 0)
        return der_fail(p->err, 0, "empty token (0 bytes)");
    if ((lenience & NEGTOKEN_ALLOW_RAW_NTLMSSP) &&
        len >= sizeof(ntlmssp_signature) &&
        memcmp(buf, ntlmssp_signature, sizeof(ntlmssp_signature)) == 0)
        return parse_ntlmssp(p, buf, len, tok);
    der_view_init(&in, buf, len);
    tag = buf[0];
    if (tag != DER_TAG_APPLICATION_0 && tag != DER_CONTEXT(0) &&
        tag != DER_CONTEXT(1))
        return bad_outer_tag(p, tag);
    if (!der_get_any(&in, "the outer token", &tag, &contents, &whole,
                     p->err))
        return 0;
    if (in.len != 0)
        return der_fail(p->err, whole.len, "%zu byte%s of trailing data "
                        "after the outer token (ends at %zu, buffer %zu)",
                        in.len, in.len == 1 ? "" : "s", whole.len, len);
    if (tag == DER_TAG_APPLICATION_0)
        return parse_framed(p, contents, tok);
    if (tag == DER_CONTEXT(1))
        return parse_resp(p, contents, tok);
    /* An unframed NegTokenInit.  gokrb5 produces it, and MIT and gokrb5
     * accept it, against RFC 2743 3.1; allowed only on request. */
    if (!(lenience & NEGTOKEN_ALLOW_UNFRAMED_INIT))
        return der_fail(p->err, 0, "NegTokenInit without the GSS "
                        "[APPLICATION 0] framing (RFC 2743 3.1 requires it "
                        "on the initial token)");
    return parse_init(p, contents, tok);
}

enum negtoken_status
negtoken_decode(const uint8_t *buf, size_t len,
                const struct negtoken_opts *opts, struct negtoken *out,
                der_err *err)
{
    struct negtoken_opts o = { 0, 0, 0 };
    struct parser p;

    if (opts != NULL)
        o = *opts;
    if (o.max_token == 0)
        o.max_token = NEGTOKEN_DEFAULT_MAX_TOKEN;
    if (o.max_mechs == 0 || o.max_mechs > NEGTOKEN_MAX_MECHS)
        o.max_mechs = NEGTOKEN_MAX_MECHS;
    p.err = err;
    p.status = NEGTOKEN_MALFORMED;
    p.max_mechs = o.max_mechs;
    p.lenience = o.lenience;
    p.buf = buf;
    p.len = len;
    negtoken_init(out);
    if (len > o.max_token) {
        der_fail(err, o.max_token, "token of %zu bytes exceeds the limit of "
                 "%zu bytes", len, o.max_token);
        return NEGTOKEN_TOO_BIG;
    }
    if (!parse_token(&p, buf, len, o.lenience, out)) {
        negtoken_init(out);
        return p.status;
    }
    return NEGTOKEN_OK;
}

/* ---- encoder: sizes first, then fill ---- */

static size_t
explicit_size(size_t inner_content_len)
{
    return der_tlv_size(der_tlv_size(inner_content_len));
}

static void
put_explicit(der_writer *w, unsigned n, uint8_t inner_tag,
             const uint8_t *data, size_t len)
{
    der_put_header(w, DER_CONTEXT(n), der_tlv_size(len));
    der_put_tlv(w, inner_tag, data, len);
}

/* Minimal DER BIT STRING contents for the flag bits (trailing zero bits
 * removed, X.690 11.2.2). */
static size_t
flags_to_bits(unsigned flags, uint8_t out[2])
{
    uint8_t byte = 0;
    unsigned i, unused = 0;

    for (i = 0; i < 7; i++) {
        if (flags & (1u << i))
            byte |= (uint8_t)(0x80u >> i);
    }
    if (byte == 0) {
        out[0] = 0;
        return 1;
    }
    while ((byte & (1u << unused)) == 0)
        unused++;
    out[0] = (uint8_t)unused;
    out[1] = byte;
    return 2;
}

struct encoding {
    uint8_t flag_bits[2];
    struct negtoken_bytes req_flags;
    size_t mech_list_content, hints_content, seq_content, choice_size;
};

static size_t
mech_list_content_size(const struct negtoken *tok)
{
    size_t i, n = 0;

    for (i = 0; i < tok->n_mechs; i++)
        n += der_tlv_size(tok->mechs[i].len);
    return n;
}

static size_t
hints_content_size(const struct negtoken *tok)
{
    size_t n = 0;

    if (tok->has_hint_name)
        n += explicit_size(tok->hint_name.len);
    if (tok->has_hint_address)
        n += explicit_size(tok->hint_address.len);
    return n;
}

static size_t
init_content_size(const struct negtoken *tok, struct encoding *e)
{
    size_t n = 0;

    e->mech_list_content = mech_list_content_size(tok);
    e->hints_content = hints_content_size(tok);
    if (tok->has_mech_types)
        n += explicit_size(e->mech_list_content);
    if (tok->has_req_flags)
        n += explicit_size(e->req_flags.len);
    if (tok->has_mech_token)
        n += explicit_size(tok->mech_token.len);
    if (tok->type == NEGTOKEN_INIT2)
        n += explicit_size(e->hints_content);
    if (tok->has_mic)
        n += explicit_size(tok->mic.len);
    return n;
}

static size_t
resp_content_size(const struct negtoken *tok)
{
    size_t n = 0;

    if (tok->neg_state != NEG_STATE_ABSENT)
        n += explicit_size(1);
    if (tok->has_supported_mech)
        n += der_tlv_size(der_tlv_size(tok->supported_mech.len));
    if (tok->has_response_token)
        n += explicit_size(tok->response_token.len);
    if (tok->has_mic)
        n += explicit_size(tok->mic.len);
    return n;
}

static void
put_init(der_writer *w, const struct negtoken *tok, const struct encoding *e)
{
    size_t i;

    if (tok->has_mech_types) {
        der_put_header(w, DER_CONTEXT(0), der_tlv_size(e->mech_list_content));
        der_put_header(w, DER_TAG_SEQUENCE, e->mech_list_content);
        for (i = 0; i < tok->n_mechs; i++)
            der_put_tlv(w, DER_TAG_OID, tok->mechs[i].data,
                        tok->mechs[i].len);
    }
    if (tok->has_req_flags)
        put_explicit(w, 1, DER_TAG_BIT_STRING, e->req_flags.data,
                     e->req_flags.len);
    if (tok->has_mech_token)
        put_explicit(w, 2, DER_TAG_OCTET_STRING, tok->mech_token.data,
                     tok->mech_token.len);
    if (tok->type == NEGTOKEN_INIT2) {
        der_put_header(w, DER_CONTEXT(3), der_tlv_size(e->hints_content));
        der_put_header(w, DER_TAG_SEQUENCE, e->hints_content);
        if (tok->has_hint_name)
            put_explicit(w, 0, DER_TAG_GENERAL_STRING, tok->hint_name.data,
                         tok->hint_name.len);
        if (tok->has_hint_address)
            put_explicit(w, 1, DER_TAG_OCTET_STRING, tok->hint_address.data,
                         tok->hint_address.len);
    }
    if (tok->has_mic)
        put_explicit(w, tok->type == NEGTOKEN_INIT2 ? 4 : 3,
                     DER_TAG_OCTET_STRING, tok->mic.data, tok->mic.len);
}

static void
put_resp(der_writer *w, const struct negtoken *tok)
{
    uint8_t state = (uint8_t)tok->neg_state;

    if (tok->neg_state != NEG_STATE_ABSENT)
        put_explicit(w, 0, DER_TAG_ENUMERATED, &state, 1);
    if (tok->has_supported_mech) {
        der_put_header(w, DER_CONTEXT(1),
                       der_tlv_size(tok->supported_mech.len));
        der_put_tlv(w, DER_TAG_OID, tok->supported_mech.data,
                    tok->supported_mech.len);
    }
    if (tok->has_response_token)
        put_explicit(w, 2, DER_TAG_OCTET_STRING, tok->response_token.data,
                     tok->response_token.len);
    if (tok->has_mic)
        put_explicit(w, 3, DER_TAG_OCTET_STRING, tok->mic.data, tok->mic.len);
}

static int
encodable(const struct negtoken *tok)
{
    switch (tok->type) {
    case NEGTOKEN_INIT:
        return tok->has_mech_types && tok->n_mechs > 0 &&
               tok->n_mechs <= NEGTOKEN_MAX_MECHS;
    case NEGTOKEN_INIT2:
        return tok->n_mechs <= NEGTOKEN_MAX_MECHS &&
               (!tok->has_mech_types || tok->n_mechs > 0);
    case NEGTOKEN_RESP:
        return tok->neg_state >= NEG_STATE_ABSENT &&
               tok->neg_state <= NEG_STATE_REQUEST_MIC;
    case NEGTOKEN_NTLMSSP:
    case NEGTOKEN_RAW_MECH:
    default:
        return 0;
    }
}

enum negtoken_status
negtoken_encode(const struct negtoken *tok, uint8_t **buf_out,
                size_t *len_out)
{
    const struct spnego_oid_info *spnego = spnego_oid_info(SPNEGO_OID_SPNEGO);
    struct encoding e;
    der_writer w;
    size_t frame_content = 0, total;
    int is_resp = tok->type == NEGTOKEN_RESP;

    *buf_out = NULL;
    *len_out = 0;
    if (!encodable(tok))
        return NEGTOKEN_MALFORMED;
    memset(&e, 0, sizeof(e));
    e.req_flags = tok->req_flags_raw;
    if (e.req_flags.len == 0) {
        e.req_flags.len = flags_to_bits(tok->req_flags, e.flag_bits);
        e.req_flags.data = e.flag_bits;
    }
    e.seq_content = is_resp ? resp_content_size(tok)
                            : init_content_size(tok, &e);
    e.choice_size = der_tlv_size(der_tlv_size(e.seq_content));
    total = e.choice_size;
    if (tok->framed) {
        frame_content = der_tlv_size(spnego->der_len) + e.choice_size;
        total = der_tlv_size(frame_content);
    }
    if (!der_writer_init(&w, total))
        return NEGTOKEN_NOMEM;
    if (tok->framed) {
        der_put_header(&w, DER_TAG_APPLICATION_0, frame_content);
        der_put_tlv(&w, DER_TAG_OID, spnego->der, spnego->der_len);
    }
    der_put_header(&w, DER_CONTEXT(is_resp ? 1 : 0),
                   der_tlv_size(e.seq_content));
    der_put_header(&w, DER_TAG_SEQUENCE, e.seq_content);
    if (is_resp)
        put_resp(&w, tok);
    else
        put_init(&w, tok, &e);
    if (!der_writer_finish(&w, buf_out, len_out))
        return NEGTOKEN_NOMEM;
    return NEGTOKEN_OK;
}

const char *
negtoken_type_name(enum negtoken_type type)
{
    switch (type) {
    case NEGTOKEN_INIT:
        return "negTokenInit";
    case NEGTOKEN_INIT2:
        return "negTokenInit2";
    case NEGTOKEN_RESP:
        return "negTokenResp";
    case NEGTOKEN_NTLMSSP:
        return "ntlmssp";
    case NEGTOKEN_RAW_MECH:
        return "raw mechanism token";
    default:
        return "unknown";
    }
}

const char *
negtoken_state_name(enum negtoken_state state)
{
    switch (state) {
    case NEG_STATE_ACCEPT_COMPLETED:
        return "accept-completed";
    case NEG_STATE_ACCEPT_INCOMPLETE:
        return "accept-incomplete";
    case NEG_STATE_REJECT:
        return "reject";
    case NEG_STATE_REQUEST_MIC:
        return "request-mic";
    case NEG_STATE_ABSENT:
        return "absent";
    default:
        return "unknown";
    }
}

int
negtoken_mic_is_w2k_copy(const struct negtoken *tok)
{
    return tok->has_mic && tok->has_response_token &&
           tok->mic.len == tok->response_token.len &&
           memcmp(tok->mic.data, tok->response_token.data, tok->mic.len) == 0;
}

/* ---- a bare Kerberos AP-REQ ---- */

int
negtoken_is_bare_ap_req(const uint8_t *token, size_t len)
{
    return len > 2 && token[0] == 0x6e; /* [APPLICATION 14] constructed */
}

enum negtoken_status
negtoken_frame_krb5(const uint8_t *ap_req, size_t len, uint8_t **out,
                    size_t *out_len)
{
    static const uint8_t krb5[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7,
                                    0x12, 0x01, 0x02, 0x02 };
    static const uint8_t tok_id[] = { 0x01, 0x00 }; /* KRB_AP_REQ */
    size_t inner = der_tlv_size(sizeof(krb5)) + sizeof(tok_id) + len;
    der_writer w;

    *out = NULL;
    *out_len = 0;
    if (!der_writer_init(&w, der_tlv_size(inner)))
        return NEGTOKEN_NOMEM;
    der_put_header(&w, DER_TAG_APPLICATION_0, inner);
    der_put_tlv(&w, DER_TAG_OID, krb5, sizeof(krb5));
    der_put_bytes(&w, tok_id, sizeof(tok_id));
    der_put_bytes(&w, ap_req, len);
    return der_writer_finish(&w, out, out_len) ? NEGTOKEN_OK : NEGTOKEN_NOMEM;
}
