/*
 * engine-util.h - test helpers shared by the engine tests (test-engine.c,
 * test-mit-interop.c): credentials acquired under a modified environment,
 * a token pump between two sides (our engine, or MIT's own SPNEGO through
 * plain GSS-API) with a man-in-the-middle hook, a printed transcript of the
 * tokens, and assertions on decoded tokens and on established contexts.
 *
 * Every helper asserts through cmocka: a failure ends the current test.
 * Nothing here knows SASL.  The pair owns everything it holds; free it with
 * eu_pair_free() (the tests do that from a cmocka teardown, so a failed
 * assertion does not leak).
 */
#ifndef SPNEGO_TEST_ENGINE_UTIL_H
#define SPNEGO_TEST_ENGINE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <gssapi/gssapi.h>

#include "engine.h"
#include "negtoken.h"

#define EU_MAX_LEGS 16
#define EU_MAX_EVENTS 64

/* The request flags of the initiators built here unless a test changes
 * cfg[EU_I].req_flags before eu_run(). */
#define EU_FLAGS (GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG)

/* "Don't care" for the presence and state arguments of the assertions. */
#define EU_ANY (-9)

enum eu_side { EU_I = 0, EU_A = 1 };

/* Who plays a side: our engine, or MIT's SPNEGO (gss_init_sec_context /
 * gss_accept_sec_context with the SPNEGO OID). */
enum eu_kind { EU_ENGINE = 0, EU_MIT };

/* Environment changes in force while credentials are acquired. */
enum eu_env {
    EU_ENV_DEFAULT = 0,
    /* No Kerberos: KRB5CCNAME, KRB5_CLIENT_KTNAME and KRB5_KTNAME point
     * at FILE:/nonexistent. */
    EU_ENV_NO_KRB5 = 1u << 0,
    /* No NTLM: NTLM_USER_FILE unset. */
    EU_ENV_NO_NTLM = 1u << 1
};

struct eu_leg {
    enum eu_side from;
    enum spnego_status status;  /* of the step that produced it */
    uint8_t *sent;              /* the token as produced (NULL: none) */
    size_t sent_len;
    uint8_t *got;               /* as delivered after the mitm hook */
    size_t got_len;
    int modified;               /* the hook changed it */
};

struct eu_event {
    enum spnego_event event;
    char text[240];
};

struct eu_trace {
    size_t n;
    struct eu_event ev[EU_MAX_EVENTS];
};

struct eu_pair;

/* Called for every token between the sides before delivery: `token` is the
 * token number (1 = the initiator's first).  May replace *tok (free the old
 * buffer, store a malloc'd one; see eu_mitm_replace). */
typedef void (*eu_mitm_fn)(struct eu_pair *p, size_t token, uint8_t **tok,
                           size_t *len);

struct eu_pair {
    const char *name;
    enum eu_kind kind[2];
    struct spnego_creds *creds[2];      /* engine sides (owned) */
    struct spnego_config cfg[2];        /* engine sides; MIT sides use
                                           target, req_flags and cb */
    struct spnego_ctx *ctx[2];          /* engine sides (owned) */
    gss_name_t target;                  /* owned */

    /* MIT sides */
    gss_cred_id_t mit_cred[2];          /* owned; GSS_C_NO_CREDENTIAL */
    gss_ctx_id_t mit_ctx[2];            /* owned */
    OM_uint32 mit_flags[2];
    gss_name_t mit_src;                 /* acceptor's peer (owned) */
    char mit_reason[2][300];

    eu_mitm_fn mitm;
    void *mitm_arg;

    struct eu_leg legs[EU_MAX_LEGS];
    size_t n_legs;
    int stepped[2];                     /* steps taken by each side */
    enum spnego_status status[2];       /* of each side's last step */
    struct eu_trace trace[2];
    char problems[2048];                /* engine misbehaviour seen */
};

/* ---- setup ---- */

/* Acquire engine credentials for `role` with parameters mechs (NULL: all)
 * under the environment changes `env`.  Fails the test if none. */
struct spnego_creds *eu_creds(enum spnego_role role, const char *mechs,
                              unsigned env);

/* The same for an initiator with a user name and password. */
struct spnego_creds *eu_creds_password(const char *mechs, unsigned env,
                                       const char *user,
                                       const char *password);

/* MIT SPNEGO credentials (desired mech SPNEGO) for usage under env,
 * restricted with gss_set_neg_mechs to neg_mechs (names, space separated;
 * NULL: not restricted). */
gss_cred_id_t eu_mit_creds(gss_cred_usage_t usage, unsigned env,
                           const char *neg_mechs);

/* A host-based service name: "host" becomes host@$SPNEGO_TEST_HOST; a
 * string with '@' is taken as is. */
gss_name_t eu_target(const char *service);

/* An empty pair named `name` (the test's name, for the transcript).  Sides
 * default to EU_ENGINE without credentials. */
struct eu_pair *eu_pair_alloc(const char *name);

/* Both sides our engine, credentials from eu_creds(). */
struct eu_pair *eu_pair_new(const char *name, const char *imechs,
                            unsigned ienv, const char *amechs, unsigned aenv);

/* Give `side` engine credentials (ownership passes to the pair) and the
 * default configuration: target host@H, EU_FLAGS, tracing into
 * p->trace[side]. */
void eu_pair_set_creds(struct eu_pair *p, enum eu_side side,
                       struct spnego_creds *creds);

/* Make `side` MIT's SPNEGO with credential cred (ownership passes). */
void eu_pair_set_mit(struct eu_pair *p, enum eu_side side,
                     gss_cred_id_t cred);

void eu_pair_free(struct eu_pair *p);

/* cmocka teardown: frees the pair in *state. */
int eu_teardown(void **state);

/* ---- running ---- */

/* Create the engine contexts (if not yet), then pump tokens between the
 * sides, starting with the initiator, until a side has nothing to send.
 * Prints the transcript, then fails the test if the engine broke a rule
 * that holds whatever the peer sends (see p->problems). */
void eu_run(struct eu_pair *p);

/* One step of `side` by hand with token in (the pair's legs are not
 * recorded).  Returns the status; *out gets the output token or NULL. */
enum spnego_status eu_step(struct eu_pair *p, enum eu_side side,
                           const uint8_t *in, size_t in_len, uint8_t **out,
                           size_t *out_len);

void eu_transcript(const struct eu_pair *p);

/* Number of tokens exchanged. */
size_t eu_tokens(const struct eu_pair *p);

/* ---- assertions ---- */

/* Decode token number k (1-based) as delivered; views into the pair. */
void eu_decode(const struct eu_pair *p, size_t k, struct negtoken *tok);

/* Token k is a framed NegTokenInit whose mechTypes are exactly `mechs`
 * (names or dotted OIDs, space separated), with/without a mechToken and
 * mechListMIC (1, 0 or EU_ANY). */
void eu_assert_init(const struct eu_pair *p, size_t k, const char *mechs,
                    int mech_token, int mic);

/* Token k is a NegTokenResp with negState neg_state (or EU_ANY),
 * supportedMech `supported` (a name or dotted OID; NULL: absent; "*":
 * don't care), and presence of responseToken and mechListMIC. */
void eu_assert_resp(const struct eu_pair *p, size_t k, int neg_state,
                    const char *supported, int response_token, int mic);

/* Both sides completed with mechanism `mech` (engine sides: by
 * spnego_ctx_mech()->name), the acceptor's peer is `peer` (NULL: not
 * checked; a trailing NUL is stripped), and messages protected by one side
 * verify on the other, both ways. */
void eu_assert_complete(const struct eu_pair *p, const char *mech,
                        const char *peer);

/* The status of side's last step. */
void eu_assert_status(const struct eu_pair *p, enum eu_side side,
                      enum spnego_status status);

/* Neither side completed, and side `failed` returned an error. */
void eu_assert_no_completion(const struct eu_pair *p, enum eu_side failed);

/* mic_sent/mic_verified of both engine sides (EU_ANY: not checked). */
void eu_assert_mics(const struct eu_pair *p, int i_sent, int i_verified,
                    int a_sent, int a_verified);

/* A failed engine context can still be queried, reports a reason, and a
 * further step (with `in`, or a small NegTokenResp if NULL) fails. */
void eu_assert_dead(struct eu_pair *p, enum eu_side side, const uint8_t *in,
                    size_t in_len);

/* The context flags of side. */
OM_uint32 eu_flags(const struct eu_pair *p, enum eu_side side);

/* Protect messages with ctx a (gss_wrap, or gss_get_mic when flags has
 * neither INTEG nor CONF) and check them with ctx b, then the other way. */
void eu_per_message(gss_ctx_id_t a, OM_uint32 a_flags, gss_ctx_id_t b,
                    OM_uint32 b_flags);

/* The display form of a name without trailing NULs (malloc'd). */
char *eu_name_text(gss_name_t name);

/* 1 if the trace of side has event ev whose text contains `needle` (NULL:
 * any text). */
int eu_trace_has(const struct eu_pair *p, enum eu_side side,
                 enum spnego_event ev, const char *needle);

/* ---- tokens ---- */

/* The OID contents for a short name ("krb5") or a dotted OID, valid until
 * the program ends. */
struct negtoken_bytes eu_oid(const char *name);

/* A short name or the dotted form of OID contents. */
void eu_oid_text(const uint8_t *der, size_t len, char *buf, size_t bufsize);

/* Set tok's mechTypes to the names in `mechs` (space separated). */
void eu_set_mechs(struct negtoken *tok, const char *mechs);

/* Decode *tok into t (views into *tok), asserting success. */
void eu_mitm_decode(const uint8_t *buf, size_t len, struct negtoken *t);

/* Encode t and replace *tok with the result (the old buffer, which t may
 * point into, is freed after encoding). */
void eu_mitm_replace(uint8_t **tok, size_t *len, const struct negtoken *t);

/* Encode t into a fresh buffer (assert success). */
uint8_t *eu_encode(const struct negtoken *t, size_t *len_out);

#endif /* SPNEGO_TEST_ENGINE_UTIL_H */
