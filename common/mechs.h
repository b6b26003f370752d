/*
 * mechs.h - the real mechanisms under SPNEGO, and the credentials that make
 * them negotiable.
 *
 * A struct spnego_mech is one underlying GSS-API mechanism (Kerberos 5,
 * NTLMSSP, ...) called with an explicit OID through a table of operations;
 * the real table calls MIT's GSS-API, tests may supply a scripted one.
 *
 * A struct spnego_creds is what one side can negotiate: for each mechanism
 * it could acquire credentials for, the GSS credential, and the ordered
 * list of OIDs it offers or accepts (the negotiable set of RFC 4178
 * Appendix A; several OIDs may name one mechanism, e.g. krb5 and ms-krb5).
 * It is built once (e.g. per server, per configuration) and shared,
 * read-only, by any number of engine contexts, from any thread; it must
 * outlive them.
 */
#ifndef SPNEGO_MECHS_H
#define SPNEGO_MECHS_H

#include <stddef.h>
#include <stdint.h>

#include <gssapi/gssapi.h>

#include "oids.h"

#define SPNEGO_MAX_NEG_MECHS 16

enum spnego_role { SPNEGO_INITIATOR = 1, SPNEGO_ACCEPTOR };

/* The GSS-API calls the engine makes on a mechanism.  Each has the
 * semantics of the GSS-API call it is named after, with the mechanism's
 * OID passed explicitly where GSS takes one.  Output buffers must be
 * releasable with gss_release_buffer() (allocated with malloc). */
struct spnego_mech_ops {
    OM_uint32 (*init)(OM_uint32 *minor, gss_cred_id_t cred,
                      gss_ctx_id_t *ctx, gss_name_t target, gss_OID mech,
                      OM_uint32 req_flags, gss_channel_bindings_t cb,
                      gss_buffer_t in, gss_buffer_t out,
                      OM_uint32 *ret_flags);
    OM_uint32 (*accept)(OM_uint32 *minor, gss_ctx_id_t *ctx,
                        gss_cred_id_t cred, gss_buffer_t in,
                        gss_channel_bindings_t cb, gss_name_t *src_name,
                        gss_buffer_t out, OM_uint32 *ret_flags,
                        gss_cred_id_t *deleg);
    OM_uint32 (*get_mic)(OM_uint32 *minor, gss_ctx_id_t ctx,
                         gss_buffer_t msg, gss_buffer_t mic);
    OM_uint32 (*verify_mic)(OM_uint32 *minor, gss_ctx_id_t ctx,
                            gss_buffer_t msg, gss_buffer_t mic);
    /* 1 if the mechanism demands the mechListMIC exchange (NTLM whose
     * AUTHENTICATE carried its own MIC).  `in` is the token the context
     * last consumed (NULL/0 if none); role says which side ctx is. */
    int (*requires_mic)(gss_ctx_id_t ctx, enum spnego_role role,
                        const uint8_t *in, size_t in_len);
    /* Called after each mechListMIC made (verify = 0) or checked (1). */
    void (*after_mic)(gss_ctx_id_t ctx, int verify);
    void (*delete_ctx)(gss_ctx_id_t *ctx);
};

struct spnego_mech {
    const char *name;      /* "krb5", "ntlmssp", "iakerb" or dotted OID */
    enum spnego_oid_id id; /* SPNEGO_OID_UNKNOWN for other mechanisms */
    gss_OID_desc oid;      /* the OID passed to GSS-API */
    const struct spnego_mech_ops *ops;
    int bindings;          /* known to carry channel bindings to the
                            * acceptor (Kerberos's authenticator, NTLM's
                            * MsvAvChannelBindings) */
};

/* The operations over MIT GSS-API. */
extern const struct spnego_mech_ops spnego_gss_ops;

struct spnego_creds;

struct spnego_cred_params {
    enum spnego_role role;
    /* Acceptor: keytab to accept with (NULL: KRB5_KTNAME or default). */
    const char *keytab;
    /* Initiator: with a password, acquire for this user through
     * gss_acquire_cred_with_password for each mechanism; without one,
     * default credentials for this name (NULL: any default). */
    const char *user;
    const char *password;
    /* Mechanisms in preference order, e.g. "krb5 ntlmssp" or
     * "ms-krb5,krb5,1.3.6.1.4.1.311.2.2.10" (see spnego_parse_mech_list);
     * NULL: every available mechanism in the default order krb5, ntlmssp. */
    const char *mechs;
    /* Acceptor: accept Kerberos only for this host-based service,
     * "service@host" (as Cyrus does), so that a keytab holding keys of
     * other services does not make them acceptable here.  NULL: any key in
     * the keytab. */
    const char *service;
};

enum spnego_acquire_result {
    SPNEGO_ACQUIRE_FAILED = 0, /* no mechanism usable */
    SPNEGO_ACQUIRE_OK,
    SPNEGO_ACQUIRE_NOMEM       /* none usable, and memory ran out */
};

/*
 * Discover the available mechanisms (gss_indicate_mechs, never SPNEGO or
 * NEGOEX) and acquire credentials for each wanted one.  Mechanisms without
 * usable credentials are left out.  Returns SPNEGO_ACQUIRE_OK and
 * *creds_out on success, with err naming each mechanism left out and why
 * ("" when none was); otherwise a sentence in err naming each mechanism
 * and why it failed.
 */
enum spnego_acquire_result
spnego_creds_acquire(const struct spnego_cred_params *params,
                     struct spnego_creds **creds_out, char *err,
                     size_t errlen);

/*
 * Credentials from a gss_cred_id_t the application lends (libsasl2's
 * SASL_GSS_CREDS, libldap's LDAP_OPT_X_SASL_GSS_CREDS).  It is borrowed:
 * the set refers to it and never releases it, so it must outlive the set.
 *   - a mechanism credential (Kerberos, NTLM) or a union of several: the
 *     mechanisms of `mechs` (NULL: krb5, ntlmssp), in that order, that
 *     the credential holds;
 *   - a SPNEGO credential (MIT keeps the mechanisms' credentials inside it
 *     out of reach, and gss-ntlmssp 1.2.0 cannot import what it exports):
 *     a credential of each mechanism for its identity (its name; for
 *     NTLM, the default NTLM credential of the same user name), and for
 *     an initiator with a target, the list and order gss_set_neg_mechs
 *     gave it (read from the NegTokenInit MIT's SPNEGO makes with it),
 *     within `mechs`; refused for an acceptor (its keytab is out of
 *     reach).
 * Returns SPNEGO_ACQUIRE_OK, or FAILED/NOMEM with a sentence in err.
 */
enum spnego_acquire_result
spnego_creds_borrow(enum spnego_role role, gss_cred_id_t cred,
                    const char *mechs, gss_name_t target,
                    struct spnego_creds **creds_out, char *err,
                    size_t errlen);

/* 1 if the NTLM account ntlm_name ("DOMAIN\\user", "user@DOMAIN") is the
 * one the Kerberos principal krb5_name ("user@REALM") names: the same user
 * (ignoring case) in a domain that is the realm or its first label.  Used
 * for a SPNEGO credential's NTLM part (spnego_creds_borrow). */
int spnego_same_account(const char *krb5_name, const char *ntlm_name);

/* An empty set for `role`, to be filled with spnego_creds_add (tests,
 * scripted mechanisms).  Returns NULL on allocation failure. */
struct spnego_creds *spnego_creds_new(enum spnego_role role);

/* Add a negotiable OID for `mech` with credential `cred` (ownership of
 * cred passes to creds; GSS_C_NO_CREDENTIAL is allowed).  wire_oid NULL
 * means mech->oid.  Returns 1, or 0 if the list is full. */
int spnego_creds_add(struct spnego_creds *creds,
                     const struct spnego_mech *mech,
                     const gss_OID_desc *wire_oid, gss_cred_id_t cred);

/* Free creds (NULL is fine).  Contexts using it must be freed first. */
void spnego_creds_free(struct spnego_creds *creds);

enum spnego_role spnego_creds_role(const struct spnego_creds *creds);

/*
 * Appendix A, GSS_Set_neg_mechs: restrict and order the negotiable OIDs.
 * `list` is parsed by spnego_parse_mech_list; names without credentials
 * here are dropped.  Returns 1, or 0 (creds unchanged) with a reason in err
 * if the list is invalid or leaves nothing negotiable.
 */
int spnego_creds_set_neg_mechs(struct spnego_creds *creds, const char *list,
                               char *err, size_t errlen);

/* Appendix A, GSS_Get_neg_mechs: the negotiable OIDs in order. */
size_t spnego_creds_count(const struct spnego_creds *creds);
const gss_OID_desc *spnego_creds_wire_oid(const struct spnego_creds *creds,
                                          size_t i);
const struct spnego_mech *spnego_creds_mech(const struct spnego_creds *creds,
                                            size_t i);
gss_cred_id_t spnego_creds_cred(const struct spnego_creds *creds, size_t i);
/* 1 if the order was set explicitly (the acceptor then prefers its own
 * order over the initiator's). */
int spnego_creds_order_is_explicit(const struct spnego_creds *creds);

/* The display name of the first credential ("alice@REALM",
 * "DOMAIN\\alice"), a trailing NUL dropped; malloc'd, NULL if unknown. */
char *spnego_creds_name(const struct spnego_creds *creds);

/* Write "krb5, ntlmssp" for the negotiable OIDs into buf. */
void spnego_creds_describe(const struct spnego_creds *creds, char *buf,
                           size_t bufsize);

/*
 * Parse "krb5 ms-krb5, ntlmssp 1.2.3.4" (names or dotted OIDs separated by
 * spaces or commas) into OIDs (DER contents, each up to 32 bytes).
 * Returns the count, or 0 with a reason in err (unknown name, bad OID, too
 * many, SPNEGO or NEGOEX listed).
 */
size_t spnego_parse_mech_list(const char *list, uint8_t oids[][32],
                              size_t lens[], size_t max, char *err,
                              size_t errlen);

/* The real mechanism for a mechanism OID (Kerberos aliases map to krb5),
 * or NULL if it is not one we can drive. */
const struct spnego_mech *spnego_mech_for_oid(const uint8_t *der,
                                              size_t len);

/* 1 if two mechanism OIDs name the same mechanism (any Kerberos OID
 * equals any other). */
int spnego_same_mech(const uint8_t *a, size_t alen, const uint8_t *b,
                     size_t blen);

/* 1 if a mechanism's refusal of the optimistic token is a matter of
 * configuration (no key or credentials for it, an unknown or expired
 * ticket, clock skew), after which the acceptor may fall back to another
 * offered mechanism.  Anything else, in particular a defective, altered or
 * replayed token or wrong channel bindings, is treated as possible
 * tampering: no fallback, or an attacker could steer both sides to a
 * weaker mechanism. */
int spnego_failure_allows_fallback(const struct spnego_mech *mech,
                                   OM_uint32 major, OM_uint32 minor);

/* A short name for an OID: "krb5", "ms-krb5", ... or the dotted form. */
void spnego_oid_name(const uint8_t *der, size_t len, char *buf,
                     size_t bufsize);

/* GSS major/minor status as text for `mech` (NULL: no mechanism). */
void spnego_gss_error(const gss_OID_desc *mech, OM_uint32 major,
                      OM_uint32 minor, char *buf, size_t bufsize);

#endif /* SPNEGO_MECHS_H */
