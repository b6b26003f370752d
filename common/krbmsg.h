/*
 * krbmsg.h - the cleartext of Kerberos messages inside GSS tokens, for
 * spnego-dump (RFC 4120 5.5.1 AP-REQ, 5.5.2 AP-REP, 5.9.1 KRB-ERROR): what
 * decides most failed binds (the ticket's realm, service, etype and kvno,
 * the error code) without any key.
 */
#ifndef SPNEGO_KRBMSG_H
#define SPNEGO_KRBMSG_H

#include <stddef.h>
#include <stdint.h>

#define KRB_MAX_NAME_PARTS 4

struct krb_str {
    const uint8_t *data;
    size_t len;
};

enum krb_msg_type {
    KRB_MSG_AP_REQ = 14,
    KRB_MSG_AP_REP = 15,
    KRB_MSG_ERROR = 30
};

struct krb_info {
    enum krb_msg_type type;
    /* AP-REQ: ap-options (the first 32 bits, bit 0 first, as RFC 4120
     * numbers them: 1 use-session-key, 2 mutual-required) */
    uint32_t ap_options;
    /* AP-REQ: the ticket's; KRB-ERROR: the server's */
    struct krb_str realm;
    int32_t sname_type;
    size_t n_sname;
    struct krb_str sname[KRB_MAX_NAME_PARTS];
    int sname_truncated;
    /* AP-REQ: the ticket's enc-part; AP-REP: its enc-part */
    int32_t etype;
    int has_kvno;
    uint32_t kvno;
    /* AP-REQ: the authenticator's etype */
    int32_t auth_etype;
    /* KRB-ERROR */
    int32_t error_code;
    int has_e_text;
    struct krb_str e_text;
};

/* Decode a Kerberos AP-REQ, AP-REP or KRB-ERROR, bare or inside its RFC
 * 2743 framing (any Kerberos OID and a TOK_ID), strictly (DER, every field
 * inside its parent).  Returns 1, or 0 with a sentence in err. */
int krb_decode(const uint8_t *token, size_t len, struct krb_info *out,
               char *err, size_t errlen);

/* "KDC_ERR_S_PRINCIPAL_UNKNOWN", "KRB_AP_ERR_SKEW"... or NULL. */
const char *krb_error_name(int32_t code);

/* "aes256-cts-hmac-sha1-96"... or NULL. */
const char *krb_etype_name(int32_t etype);

#endif /* SPNEGO_KRBMSG_H */
