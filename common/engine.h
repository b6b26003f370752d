/*
 * engine.h - the SPNEGO negotiation engine (draft-ietf-kitten-2478bis
 * sections 3 and 5 with the RFC 4178 corrections), for both roles, driving
 * the real mechanisms of mechs.h.  No SASL here.
 *
 * Life of a context: spnego_ctx_new(), then spnego_step() with each token
 * from the peer (the initiator's first call takes no token) until it
 * returns SPNEGO_COMPLETE or an error, then spnego_ctx_free().  The context
 * stays valid (and can be queried and freed) after an error; further steps
 * then fail.  A context is used by one thread at a time; different
 * contexts sharing one struct spnego_creds may run in parallel.
 */
#ifndef SPNEGO_ENGINE_H
#define SPNEGO_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <gssapi/gssapi.h>

#include "mechs.h"

enum spnego_status {
    SPNEGO_COMPLETE = 0,     /* GSS_S_COMPLETE */
    SPNEGO_CONTINUE_NEEDED,  /* GSS_S_CONTINUE_NEEDED */
    SPNEGO_BAD_MECH,         /* GSS_S_BAD_MECH: no common mechanism */
    SPNEGO_DEFECTIVE_TOKEN,  /* GSS_S_DEFECTIVE_TOKEN: bad token or MIC */
    SPNEGO_FAILURE           /* GSS_S_FAILURE: the mechanism failed, ... */
};

/* mechListMIC policy (draft Appendix B). */
enum spnego_mic_policy {
    /* Legacy Windows default: send a MIC only when the exchange requires
     * one (request-mic, a counter-proposal, or an NTLM MIC). */
    SPNEGO_MIC_AUTO = 0,
    /* Always send a MIC when the mechanism has integrity. */
    SPNEGO_MIC_ALWAYS
};

/* What the trace callback reports (one line of text each). */
enum spnego_event {
    SPNEGO_EV_OFFERED,      /* mechanisms offered (initiator) / received */
    SPNEGO_EV_DROPPED,      /* a mechanism dropped before sending */
    SPNEGO_EV_CHOSEN,       /* the selected mechanism and why */
    SPNEGO_EV_MIC_REQUIRED, /* the mechListMIC exchange became mandatory */
    SPNEGO_EV_MIC_SENT,
    SPNEGO_EV_MIC_VERIFIED,
    SPNEGO_EV_MIC_SKIPPED,  /* not exchanged, and why */
    SPNEGO_EV_STATE,        /* negState sent or received */
    SPNEGO_EV_FLAGS,        /* the context flags at completion */
    SPNEGO_EV_ERROR,        /* the reason for a failure */
    SPNEGO_EV_DOWNGRADE     /* keytab_fallback used: a warning */
};

typedef void (*spnego_trace_fn)(void *arg, enum spnego_event event,
                                const char *text);

struct spnego_config {
    struct spnego_creds *creds;   /* borrowed; decides the role */
    gss_name_t target;            /* initiator: the acceptor (borrowed) */
    OM_uint32 req_flags;          /* initiator: passed as given */
    gss_channel_bindings_t cb;    /* borrowed; GSS_C_NO_CHANNEL_BINDINGS */
    enum spnego_mic_policy mic_policy;
    unsigned lenience;            /* negtoken_lenience bits */
    size_t max_token;             /* 0: NEGTOKEN_DEFAULT_MAX_TOKEN */
    spnego_trace_fn trace;        /* NULL: no trace */
    void *trace_arg;
    /* Acceptor: after the mechanism refused the optimistic token for a
     * configuration reason (no key for the ticket, expired ticket, skew),
     * go on with another offered mechanism.  A downgrade an attacker can
     * trigger by editing the token's cleartext (etype, kvno, sname):
     * off unless the administrator opts in. */
    int keytab_fallback;
    /* Initiator: the application requires channel binding (critical):
     * offer only mechanisms known to carry the bindings to the acceptor
     * (struct spnego_mech.bindings). */
    int cb_required;
    /* The exchange runs inside a channel that protects it (SASL external
     * SSF > 0: TLS).  A context without integrity may then complete
     * although the selected mechanism was not the initiator's first
     * choice (nothing a mechListMIC could add). */
    int outer_protection;
    /* Initiator: the application requires mutual authentication
     * (SASL_SEC_MUTUAL_AUTH): a context without integrity (NTLM without
     * signing) cannot prove the acceptor, so it is refused. */
    int mutual_required;
    /* Acceptor: a first token that is a bare mechanism token, no SPNEGO
     * (an NTLMSSP message, or a GSS-framed Kerberos token), runs that
     * mechanism directly with bare replies, as Active Directory and Samba
     * do; the mechanism must be one of cfg.creds.  0: refused with an
     * explanation. */
    int raw_tokens;
    /* Acceptor leniency: a Kerberos mechToken that is a bare AP-REQ,
     * without its RFC 2743 framing (a Python LDAP client sends one;
     * Active Directory accepts it), is framed before the mechanism sees
     * it. */
    int frame_bare_krb5;
};

struct spnego_ctx;

/* Create a context; the role is that of cfg->creds.  Returns 1, or 0 on
 * allocation failure.  cfg is copied; what it points to is borrowed. */
int spnego_ctx_new(const struct spnego_config *cfg,
                   struct spnego_ctx **ctx_out);

/*
 * One negotiation step.  `in` is the peer's token (NULL/0 for the
 * initiator's first step).  On return *out and *out_len hold the token to send
 * (malloc'd, caller frees; NULL/0 when there is none; also set with
 * SPNEGO_BAD_MECH when a reject token should be sent).  On any status
 * other than COMPLETE and CONTINUE_NEEDED, spnego_reason() says why.
 */
enum spnego_status spnego_step(struct spnego_ctx *ctx, const uint8_t *in,
                               size_t in_len, uint8_t **out,
                               size_t *out_len);

/* The last failure as a sentence ("" if none). */
const char *spnego_reason(const struct spnego_ctx *ctx);

/* What the last failure came from, for the application's error code. */
enum spnego_cause {
    SPNEGO_CAUSE_NONE = 0,
    SPNEGO_CAUSE_PROTOCOL, /* a malformed or out-of-place SPNEGO message */
    SPNEGO_CAUSE_REFUSED,  /* the mechanism refused the peer's token (bad
                            * ticket, password, channel bindings), a
                            * mechListMIC did not verify, or the peer
                            * rejected the exchange */
    SPNEGO_CAUSE_NO_MECH,  /* no mechanism in common */
    SPNEGO_CAUSE_LOCAL,    /* a local problem: no credentials, a mechanism
                            * that cannot start (KDC unreachable, unknown
                            * service) */
    SPNEGO_CAUSE_NOMEM,    /* out of memory */
    SPNEGO_CAUSE_UNPROTECTED /* the negotiation could not be protected
                              * as policy requires (a context without
                              * integrity for a mechanism that was not the
                              * initiator's first choice, outside TLS; or
                              * no proof of the acceptor when the
                              * application requires mutual
                              * authentication) */
};
enum spnego_cause spnego_failure_cause(const struct spnego_ctx *ctx);

void spnego_ctx_free(struct spnego_ctx *ctx);

/* ---- results: meaningful once spnego_step returned SPNEGO_COMPLETE ---- */

int spnego_ctx_complete(const struct spnego_ctx *ctx);
/* The selected mechanism, or NULL while nothing is selected. */
const struct spnego_mech *spnego_ctx_mech(const struct spnego_ctx *ctx);
/* The established mechanism context for wrap/unwrap; GSS_C_NO_CONTEXT
 * until negotiation completes (prot_ready is false until then).  Still
 * owned by the engine. */
gss_ctx_id_t spnego_ctx_gss(const struct spnego_ctx *ctx);
OM_uint32 spnego_ctx_flags(const struct spnego_ctx *ctx);
/* Acceptor: the initiator's name (owned by the engine). */
gss_name_t spnego_ctx_peer_name(const struct spnego_ctx *ctx);
/* Acceptor: take ownership of delegated credentials (or
 * GSS_C_NO_CREDENTIAL). */
gss_cred_id_t spnego_ctx_take_deleg_cred(struct spnego_ctx *ctx);
/* 1 if a mechListMIC was sent / verified on this side. */
int spnego_ctx_mic_sent(const struct spnego_ctx *ctx);
int spnego_ctx_mic_verified(const struct spnego_ctx *ctx);

const char *spnego_status_name(enum spnego_status status);

#endif /* SPNEGO_ENGINE_H */
