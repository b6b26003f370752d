/*
 * policy.h - the negotiation's decisions as tables, one set for both
 * roles.  The engine (engine.c) keeps its state as a step plus fact bits
 * (struct spnego_ctx), and decides only through these tables:
 *
 *   - spnego_policy_move: which state an input leads to (a state x input
 *     table; an input with no row is refused);
 *   - spnego_policy_mic_reason: the rows that make a mechListMIC exchange
 *     required (draft section 5);
 *   - spnego_policy_fallback: what a refused optimistic token leads to;
 *   - spnego_policy_conclude: what to do once the mechanism is complete
 *     on this side (send a MIC, complete, or fail), from the facts.
 *
 * gss_spnego(7), NEGOTIATION RULES, is printed from these tables by
 * spnego_policy_print_man, and tests/test-policy checks that the page
 * holds exactly that text.
 */
#ifndef SPNEGO_POLICY_H
#define SPNEGO_POLICY_H

#include <stdio.h>

#include "mechs.h"

/* ---- states ---- */

enum spnego_pstate {
    SPNEGO_PS_START = 0, /* nothing exchanged */
    SPNEGO_PS_EXCHANGE,  /* negotiating: tokens flow */
    SPNEGO_PS_DONE,      /* complete; no more tokens */
    SPNEGO_PS_FAILED,    /* failed; every later step fails */
    SPNEGO_PS_COUNT
};

enum spnego_pinput {
    SPNEGO_PI_FIRST_TOKEN = 0, /* the first token sent or received */
    SPNEGO_PI_TOKEN,           /* a later token */
    SPNEGO_PI_COMPLETE,        /* the conclusion completes the exchange */
    SPNEGO_PI_FAILURE,         /* a failure */
    SPNEGO_PI_COUNT
};

/* The state input leads to from `from`, or SPNEGO_PS_COUNT if no row
 * allows it. */
enum spnego_pstate spnego_policy_move(enum spnego_pstate from,
                                      enum spnego_pinput input);

/* ---- facts ---- */

/* What the engine knows at a conclusion; MECH_DONE ... VERIFIED and
 * NOT_FIRST persist in the context; INTEG is the established context's
 * GSS_C_INTEG_FLAG; OUTER and MUTUAL come from the configuration; the
 * others describe the step. */
enum spnego_fact {
    SPNEGO_F_MECH_DONE = 1u << 0,  /* the mechanism completed here */
    SPNEGO_F_REPLIED = 1u << 1,    /* the acceptor's first reply was sent
                                    * (initiator: received) */
    SPNEGO_F_REQUIRED = 1u << 2,   /* a MIC exchange is required */
    SPNEGO_F_SENT = 1u << 3,       /* our mechListMIC was sent */
    SPNEGO_F_VERIFIED = 1u << 4,   /* the peer's mechListMIC verified */
    SPNEGO_F_INTEG = 1u << 5,      /* the context has GSS_C_INTEG_FLAG */
    SPNEGO_F_DUE = 1u << 6,        /* we owe a MIC: INTEG, not SENT, and
                                    * REQUIRED, VERIFIED or always */
    SPNEGO_F_SEND_LAST = 1u << 7,  /* this step sends our last mechanism
                                    * token */
    SPNEGO_F_PEER_TOKEN = 1u << 8, /* the peer's message had a mechanism
                                    * token */
    SPNEGO_F_PEER_DONE = 1u << 9,  /* the acceptor said accept-completed */
    SPNEGO_F_PEER_QUIET = 1u << 10, /* the acceptor's negState was absent */
    SPNEGO_F_NOT_FIRST = 1u << 11, /* the selected mechanism is not the
                                    * initiator's first choice */
    SPNEGO_F_OUTER = 1u << 12,     /* an outer channel protects the
                                    * exchange (external SSF > 0) */
    SPNEGO_F_MUTUAL = 1u << 13     /* the application requires mutual
                                    * authentication (initiator) */
};

/* ---- why a MIC exchange is required ---- */

enum spnego_mic_reason {
    SPNEGO_MR_REQUEST_MIC = 0,   /* the acceptor sent request-mic */
    SPNEGO_MR_COUNTER_PROPOSAL,  /* the acceptor chose another mechanism */
    SPNEGO_MR_NOT_FIRST,         /* not the initiator's first mechanism */
    SPNEGO_MR_NTLM_MIC,          /* NTLM's AUTHENTICATE carries a MIC */
    SPNEGO_MR_NTLM_MUTUAL,       /* NTLM when mutual auth is asked for */
    SPNEGO_MR_FALLBACK,          /* the acceptor fell back (opt-in) */
    SPNEGO_MR_COUNT
};

/* The row's sentence, for the trace. */
const char *spnego_policy_mic_reason(enum spnego_mic_reason reason);

/* ---- a refused optimistic token ---- */

enum spnego_fallback {
    SPNEGO_FB_FAIL = 0, /* end the exchange with the mechanism's error */
    SPNEGO_FB_NEXT      /* fall back to the next offered mechanism */
};

/* keytab_fallback: the administrator's opt-in; configuration: the
 * mechanism's error is one of configuration (spnego_failure_allows_
 * fallback); another: another offered mechanism is available. */
enum spnego_fallback spnego_policy_fallback(int keytab_fallback,
                                            int configuration, int another);

/* ---- the conclusion ---- */

enum spnego_conclusion {
    SPNEGO_C_CONTINUE = 0,   /* reply accept-incomplete, no MIC */
    SPNEGO_C_MIC_CONTINUE,   /* send our MIC, reply accept-incomplete */
    SPNEGO_C_MIC_COMPLETE,   /* send our MIC, reply accept-completed, done */
    SPNEGO_C_COMPLETE,       /* done; the acceptor replies accept-completed */
    SPNEGO_C_COMPLETE_QUIET, /* done, sending nothing */
    SPNEGO_C_FAIL            /* fail with the row's sentence */
};

struct spnego_policy_rule {
    enum spnego_role role;
    unsigned when;   /* facts that must hold */
    unsigned unless; /* facts that must not */
    enum spnego_conclusion action;
    const char *failure; /* SPNEGO_C_FAIL: the sentence */
    int unprotected;     /* SPNEGO_C_FAIL: a refusal of policy (the
                          * negotiation cannot be protected), not a
                          * protocol error */
    const char *source;  /* where the rule comes from */
};

/* The first row for role whose facts hold (the table ends with a row
 * that always matches). */
const struct spnego_policy_rule *
spnego_policy_conclude(enum spnego_role role, unsigned facts);

/* The initiator, before it sends a token of the selected mechanism
 * (the one that authenticates it, NTLM AUTHENTICATE or a Kerberos AP-REQ,
 * included): the sentence that refuses to go on when the facts (INTEG:
 * the context's flags as the mechanism reports them so far) say the
 * negotiation could not be protected, or NULL. */
const char *spnego_policy_unprotected(unsigned facts);

/* The rows, in order (for tests). */
size_t spnego_policy_rule_count(void);
const struct spnego_policy_rule *spnego_policy_rule_at(size_t i);

/* Print the NEGOTIATION RULES section of gss_spnego(7) (man markup). */
void spnego_policy_print_man(FILE *out);

#endif /* SPNEGO_POLICY_H */
