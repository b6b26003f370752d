/*
 * negtoken.h - SPNEGO NegotiationToken codec (draft-ietf-kitten-2478bis
 * section 4, with the RFC 4178 corrections and Microsoft's NegTokenInit2).
 *
 * Decoding fills a struct negtoken whose byte fields are views into the
 * caller's buffer (no allocation; the buffer must outlive the struct).
 * Encoding builds a fresh buffer from such a struct.  This layer knows no
 * GSS-API and no negotiation state: which token is acceptable when is the
 * engine's business.
 */
#ifndef SPNEGO_NEGTOKEN_H
#define SPNEGO_NEGTOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "der.h"

/* Hard cap on mechanisms kept from one mechTypes list. */
#define NEGTOKEN_MAX_MECHS 64
/* Default limit on a whole token, settable per decode. */
#define NEGTOKEN_DEFAULT_MAX_TOKEN ((size_t)256 * 1024)
/* Unknown extension fields recorded (more are skipped, not recorded). */
#define NEGTOKEN_MAX_UNKNOWN 16

enum negtoken_type {
    NEGTOKEN_INIT = 1,  /* NegTokenInit [0] */
    NEGTOKEN_INIT2,     /* Microsoft NegTokenInit2 [0] with negHints */
    NEGTOKEN_RESP,      /* NegTokenResp [1] */
    NEGTOKEN_NTLMSSP,   /* bare NTLMSSP message, no SPNEGO wrapper */
    NEGTOKEN_RAW_MECH   /* a GSS initial token of another mechanism
                         * (e.g. a framed Kerberos AP-REQ), no SPNEGO */
};

enum negtoken_state {
    NEG_STATE_ABSENT = -1,
    NEG_STATE_ACCEPT_COMPLETED = 0,
    NEG_STATE_ACCEPT_INCOMPLETE = 1,
    NEG_STATE_REJECT = 2,
    NEG_STATE_REQUEST_MIC = 3
};

/* ContextFlags bits, numbered as in the ASN.1 (bit 0 = first bit). */
enum negtoken_req_flag {
    NEGTOKEN_FLAG_DELEG = 1u << 0,
    NEGTOKEN_FLAG_MUTUAL = 1u << 1,
    NEGTOKEN_FLAG_REPLAY = 1u << 2,
    NEGTOKEN_FLAG_SEQUENCE = 1u << 3,
    NEGTOKEN_FLAG_ANON = 1u << 4,
    NEGTOKEN_FLAG_CONF = 1u << 5,
    NEGTOKEN_FLAG_INTEG = 1u << 6
};

/* Decoder leniencies; each is needed by a named peer (see negtoken.c). */
enum negtoken_lenience {
    /* Accept an initial NegTokenInit/NegTokenInit2 without the GSS
     * [APPLICATION 0] framing (gokrb5 sends it; MIT and gokrb5 accept). */
    NEGTOKEN_ALLOW_UNFRAMED_INIT = 1u << 0,
    /* Recognise a bare NTLMSSP message ("NTLMSSP\0...") as type
     * NEGTOKEN_NTLMSSP (Windows LDAP clients send one under GSS-SPNEGO). */
    NEGTOKEN_ALLOW_RAW_NTLMSSP = 1u << 1,
    /* Decode a GSS initial token of another mechanism as type
     * NEGTOKEN_RAW_MECH instead of refusing it (NEGTOKEN_NOT_SPNEGO):
     * Active Directory and Samba accept a bare Kerberos token under the
     * SASL name GSS-SPNEGO. */
    NEGTOKEN_ALLOW_RAW_MECH = 1u << 2
};

enum negtoken_status {
    NEGTOKEN_OK = 0,
    NEGTOKEN_MALFORMED,      /* not valid DER / not the SPNEGO grammar */
    NEGTOKEN_TOO_BIG,        /* over the size limit */
    NEGTOKEN_TOO_MANY_MECHS, /* mechTypes longer than the limit */
    NEGTOKEN_NOT_SPNEGO,     /* a GSS token of another mechanism */
    NEGTOKEN_NOMEM           /* encoder allocation failure */
};

struct negtoken_opts {
    size_t max_token; /* 0 = NEGTOKEN_DEFAULT_MAX_TOKEN */
    size_t max_mechs; /* 0 = NEGTOKEN_MAX_MECHS; larger values are capped */
    unsigned lenience; /* negtoken_lenience bits */
};

/* A view of bytes inside the decoded buffer (or the caller's, to encode). */
struct negtoken_bytes {
    const uint8_t *data;
    size_t len;
};

struct negtoken {
    enum negtoken_type type;
    int framed;                  /* carried the GSS [APPLICATION 0] header */

    /* NegTokenInit / NegTokenInit2 */
    int has_mech_types;          /* always 1 for INIT; optional for INIT2 */
    size_t n_mechs;
    struct negtoken_bytes mechs[NEGTOKEN_MAX_MECHS]; /* OID contents */
    struct negtoken_bytes mech_list_der; /* received "30 len 06 ..." bytes */
    int has_req_flags;
    struct negtoken_bytes req_flags_raw; /* BIT STRING contents */
    unsigned req_flags;          /* negtoken_req_flag bits from the above */
    int has_mech_token;
    struct negtoken_bytes mech_token;
    int has_neg_hints;           /* INIT2 only */
    int has_hint_name;
    struct negtoken_bytes hint_name;    /* GeneralString contents */
    int has_hint_address;
    struct negtoken_bytes hint_address; /* OCTET STRING contents */

    /* NegTokenResp */
    enum negtoken_state neg_state;
    int has_supported_mech;
    struct negtoken_bytes supported_mech; /* OID contents */
    int has_response_token;
    struct negtoken_bytes response_token;

    /* Both: mechListMIC ([3] in INIT and RESP, [4] in INIT2) */
    int has_mic;
    struct negtoken_bytes mic;

    /* Unknown extension fields that were skipped (context tag numbers). */
    size_t n_unknown;
    unsigned unknown_tags[NEGTOKEN_MAX_UNKNOWN];

    /* NTLMSSP: the whole message is in mech_token; its type (1, 2, 3). */
    uint32_t ntlmssp_type;

    /* RAW_MECH: the whole token is in mech_token; the mechanism's OID
     * (contents) from its framing. */
    struct negtoken_bytes raw_mech;
};

/*
 * Decode one token.  opts may be NULL (defaults, no leniency).  On success
 * returns NEGTOKEN_OK and fills *out with views into buf.  On failure
 * returns the status, fills *err (if not NULL) with a sentence and the byte
 * offset, and leaves *out zeroed.
 */
enum negtoken_status negtoken_decode(const uint8_t *buf, size_t len,
                                     const struct negtoken_opts *opts,
                                     struct negtoken *out, der_err *err);

/*
 * Encode tok into a fresh buffer (*buf_out, free() it).  Fields are taken
 * as the struct says; INIT2 puts the MIC at [4].  req_flags_raw is used if
 * non-empty, else req_flags is encoded minimally.  Returns NEGTOKEN_OK,
 * NEGTOKEN_MALFORMED if tok violates the grammar (no mechTypes in INIT, bad
 * neg_state, too many mechs, type NTLMSSP), or NEGTOKEN_NOMEM.  Unknown
 * fields are not encoded.
 */
enum negtoken_status negtoken_encode(const struct negtoken *tok,
                                     uint8_t **buf_out, size_t *len_out);

/* Zero a struct negtoken and set neg_state to NEG_STATE_ABSENT. */
void negtoken_init(struct negtoken *tok);

/* Name of a type or state for messages ("negTokenInit", "request-mic"). */
const char *negtoken_type_name(enum negtoken_type type);
const char *negtoken_state_name(enum negtoken_state state);

/* Windows 2000 repeated the responseToken in the mechListMIC field
 * (draft Appendix B; MIT and pyspnego drop such a MIC).  1 if tok shows
 * that quirk, so the engine can treat the MIC as absent. */
int negtoken_mic_is_w2k_copy(const struct negtoken *tok);

/* 1 if token is a bare Kerberos AP-REQ ([APPLICATION 14]) rather than
 * an RFC 2743 initial-context token. */
int negtoken_is_bare_ap_req(const uint8_t *token, size_t len);

/* Wrap a bare Kerberos AP-REQ in the RFC 2743 initial-context framing of
 * RFC 4121 4.1 (thisMech 1.2.840.113554.1.2.2, TOK_ID 01 00), into a new
 * buffer (*out, *out_len; free with free()).  Returns NEGTOKEN_OK or
 * NEGTOKEN_NOMEM. */
enum negtoken_status negtoken_frame_krb5(const uint8_t *ap_req, size_t len,
                                         uint8_t **out, size_t *out_len);

#endif /* SPNEGO_NEGTOKEN_H */
