/*
 * scripted-mech.h - an in-tree mechanism behind struct spnego_mech_ops for
 * engine tests, for paths no real mechanism produces (no integrity, an
 * acceptor whose optimistic token fails, any number of legs).
 *
 * A scripted mechanism has the private OID 1.3.6.1.4.1.99999.<arc>.  Its
 * exchange is `legs` tokens long, alternating initiator, acceptor,
 * initiator, ... (odd legs come from the initiator); a side completes when
 * it has sent or received the last leg.  Each token is the 12 bytes
 * "SCRIPTED" <arc> <leg> <legs> <0>, and every call checks the token it is
 * given is the very next leg of the same mechanism.  With integrity,
 * get_mic makes "SMIC" <side> <FNV-1a of the message, 4 bytes> and
 * verify_mic checks it was made by the other side over the same bytes;
 * without integrity both return GSS_S_UNAVAILABLE (and are counted, so a
 * test can show the engine never asked).
 *
 * The contexts are not GSS-API contexts: never pass spnego_ctx_gss() of a
 * scripted exchange to gss_*; use scripted_ctx_complete() instead.
 * Completed acceptors report the peer "scripted-user" (a real gss_name_t).
 * Not thread-safe (one registry, global counters): tests only.
 */
#ifndef SPNEGO_TEST_SCRIPTED_MECH_H
#define SPNEGO_TEST_SCRIPTED_MECH_H

#include <stddef.h>
#include <stdint.h>

#include <gssapi/gssapi.h>

#include "mechs.h"

#define SCRIPTED_MAX_MECHS 8
#define SCRIPTED_PEER "scripted-user"

struct scripted_mech {
    struct spnego_mech mech;  /* what the engine is given */
    char name[32];            /* "scripted-<arc>" */
    uint8_t oid[16];
    unsigned arc;
    unsigned legs;            /* 1..9 */
    /* Its contexts get GSS_C_INTEG_FLAG (and CONF when asked for). */
    int integrity;
    /* Fail the initiator's call that would produce leg n (0: never);
     * e.g. 1 fails the optimistic token. */
    unsigned fail_init_leg;
    /* Fail the acceptor's call that receives leg n (0: never). */
    unsigned fail_accept_leg;
};

struct scripted_stats {
    unsigned init_calls;
    unsigned accept_calls;
    unsigned get_mic_calls;
    unsigned verify_mic_calls;
    unsigned requires_mic_calls;
    unsigned after_mic_calls;
    unsigned contexts_created;
    unsigned contexts_deleted;
};

extern struct scripted_stats scripted_stats;
extern const struct spnego_mech_ops scripted_ops;

/* Fill sm (which must outlive every creds and context using it) and
 * register it under `arc` (1..127, unique).  Returns 1, or 0 if the
 * arguments are out of range or the registry is full. */
int scripted_mech_init(struct scripted_mech *sm, unsigned arc, unsigned legs,
                       int integrity);

/* Forget all registered mechanisms and zero the counters. */
void scripted_reset(void);

/* 1 if ctx is a completed scripted context (of either role). */
int scripted_ctx_complete(gss_ctx_id_t ctx);

/* Add sm to creds with GSS_C_NO_CREDENTIAL (asserting success). */
void scripted_add(struct spnego_creds *creds, const struct scripted_mech *sm);

#endif /* SPNEGO_TEST_SCRIPTED_MECH_H */
