/* test-mitm.c - an active attacker between a real client and a real server
 * of the plugin (draft-ietf-kitten-2478bis section 7).
 *
 * Both sides run through libsasl2 in one process (tests/sasl-harness.h),
 * with Kerberos (alice's ticket, the service keytab) and NTLM
 * (NTLM_USER_FILE) credentials on both sides.  The attacker decodes the
 * SPNEGO tokens in transit with common/negtoken.h, changes them, and
 * re-encodes them.  Each case states the outcome section 7 (or section 5)
 * promises and asserts it: the SASL code of each side, and the mechanism a
 * side completed with, read from the plugin's "complete with X" log line.
 *
 * Section 7, when the selected mechanism has integrity and the mechanism
 * list was altered so that a mechanism that is not mutually preferred
 * could be selected:
 *   - the initiator sends the last mechanism token (NTLM): both fail;
 *   - the acceptor sends the last mechanism token (Kerberos with mutual
 *     authentication): the acceptor does not complete, the initiator at
 *     worst completes with its own preferred mechanism;
 *   - an alteration without material impact may go through: both
 *     complete with the mutually preferred mechanism.
 * "Fails" for the side waiting for a message that never comes means: it
 * never completes (its last code is SASL_CONTINUE, no "complete with").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "negtoken.h"
#include "sasl-harness.h"

static const uint8_t OID_KRB5[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7,
                                    0x12, 0x01, 0x02, 0x02 };
static const uint8_t OID_NTLM[] = { 0x2b, 0x06, 0x01, 0x04, 0x01,
                                    0x82, 0x37, 0x02, 0x02, 0x0a };

/* Configurations.  The server's spnego_mechs makes its own order win
 * (RFC 4178 Appendix A); without it the server takes the initiator's
 * order among krb5 and ntlmssp. */
static const struct hx_opts KRB5_FIRST = { .mechs = "krb5 ntlmssp" };
static const struct hx_opts NTLM_FIRST = { .mechs = "ntlmssp krb5" };
static const struct hx_opts DEFAULTS = { .mechs = NULL };
static const struct hx_opts NTLM_ONLY = { .mechs = "ntlmssp" };

/* ---- the attacker ---- */

/* What to do to one message. */
enum action {
    SET_OFFER,          /* mechTypes := offer[0..n_offer) */
    DROP_MECH_TOKEN,    /* remove the optimistic token */
    FLIP_TOKEN,         /* flip one bit of the optimistic token */
    SET_SUPPORTED_MECH, /* supportedMech := offer[0] */
    SET_NEG_STATE,      /* negState := neg_state */
    DROP_MIC,           /* remove mechListMIC */
    FLIP_MIC,           /* flip one bit of mechListMIC */
    CLEAR_NTLM_SIGN,    /* clear NEGOTIATE_SIGN and _SEAL in the NTLM
                         * NEGOTIATE or CHALLENGE the token carries */
    REPLACE,            /* the whole message := replacement */
    REPLAY              /* the whole message := an earlier one of the
                         * same direction in this session (src_index) */
};

struct edit {
    enum hx_dir dir;
    unsigned index;
    enum action action;
    const uint8_t *offer[4];
    size_t offer_len[4];
    size_t n_offer;
    int keep_token;      /* SET_OFFER: keep the optimistic token */
    enum negtoken_state neg_state;
    unsigned src_index;  /* REPLAY */
};

struct attacker {
    const struct edit *edits;
    size_t n_edits;
    size_t fired;
    /* REPLACE: the message to inject */
    const uint8_t *replacement;
    size_t replacement_len;
    /* copies of the messages as delivered (after the edits), per
     * direction and index */
    struct hx_msg seen[2][8];
};

static void
reencode(struct hx_msg *msg, const struct negtoken *tok)
{
    uint8_t *buf = NULL;
    size_t len = 0;

    assert_int_equal(negtoken_encode(tok, &buf, &len), NEGTOKEN_OK);
    free(msg->data); /* the views in tok are no longer needed */
    msg->data = buf;
    msg->len = len;
}

/* A copy of the NTLM NEGOTIATE or CHALLENGE in tok (the optimistic token
 * or the response token) with NEGOTIATE_SIGN and NEGOTIATE_SEAL cleared:
 * the attacker wants a context without integrity.  tok then points to
 * the copy (freed by the caller). */
static uint8_t *
clear_ntlm_sign(struct negtoken *tok)
{
    static const uint8_t sig[8] = { 'N', 'T', 'L', 'M', 'S', 'S', 'P', 0 };
    struct negtoken_bytes *t =
        tok->has_mech_token ? &tok->mech_token : &tok->response_token;
    size_t at;
    uint8_t *copy;

    assert_true(tok->has_mech_token || tok->has_response_token);
    assert_true(t->len >= 24 && memcmp(t->data, sig, sizeof(sig)) == 0);
    at = t->data[8] == 1 ? 12 : 20; /* the flags of NEGOTIATE, CHALLENGE */
    assert_true(t->data[8] == 1 || t->data[8] == 2);
    copy = malloc(t->len);
    assert_non_null(copy);
    memcpy(copy, t->data, t->len);
    assert_true((copy[at] & 0x10) != 0); /* it asked for signing */
    copy[at] &= (uint8_t)~0x30u;         /* SIGN 0x10, SEAL 0x20 */
    t->data = copy;
    return copy;
}

static void
apply(struct attacker *a, const struct edit *e, struct hx_msg *msg)
{
    struct negtoken tok;
    uint8_t mic[256];
    uint8_t *flipped = NULL;
    der_err err;
    size_t i;

    if (e->action == REPLACE) {
        assert_non_null(a->replacement);
        hx_msg_set(msg, a->replacement, a->replacement_len);
        return;
    }
    if (e->action == REPLAY) {
        const struct hx_msg *old = &a->seen[e->dir][e->src_index];

        assert_true(e->src_index < e->index);
        assert_non_null(old->data);
        hx_msg_set(msg, old->data, old->len);
        return;
    }
    assert_int_equal(negtoken_decode(msg->data, msg->len, NULL, &tok, &err),
                     NEGTOKEN_OK);
    switch (e->action) {
    case SET_OFFER:
        assert_true(tok.type == NEGTOKEN_INIT);
        tok.n_mechs = e->n_offer;
        for (i = 0; i < e->n_offer; i++) {
            tok.mechs[i].data = e->offer[i];
            tok.mechs[i].len = e->offer_len[i];
        }
        if (!e->keep_token)
            tok.has_mech_token = 0;
        break;
    case DROP_MECH_TOKEN:
        assert_true(tok.has_mech_token);
        tok.has_mech_token = 0;
        break;
    case FLIP_TOKEN:
        assert_true(tok.has_mech_token && tok.mech_token.len > 0);
        flipped = malloc(tok.mech_token.len + 1);
        assert_non_null(flipped);
        memcpy(flipped, tok.mech_token.data, tok.mech_token.len);
        flipped[tok.mech_token.len - 1] ^= 0x01;
        tok.mech_token.data = flipped;
        break;
    case SET_SUPPORTED_MECH:
        assert_true(tok.has_supported_mech);
        tok.supported_mech.data = e->offer[0];
        tok.supported_mech.len = e->offer_len[0];
        break;
    case SET_NEG_STATE:
        tok.neg_state = e->neg_state;
        break;
    case CLEAR_NTLM_SIGN:
        flipped = clear_ntlm_sign(&tok);
        break;
    case DROP_MIC:
        assert_true(tok.has_mic);
        tok.has_mic = 0;
        break;
    case FLIP_MIC:
        assert_true(tok.has_mic && tok.mic.len > 0 &&
                    tok.mic.len <= sizeof(mic));
        memcpy(mic, tok.mic.data, tok.mic.len);
        /* The assertion above ends the test when the MIC is empty (cmocka
         * 1.1.5 declares no noreturn, so the analyzer walks past it).
         * NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign) */
        mic[tok.mic.len - 1] ^= 0x01;
        tok.mic.data = mic;
        break;
    case REPLACE:
    case REPLAY:
    default:
        fail_msg("unexpected action");
    }
    reencode(msg, &tok);
    free(flipped);
}

static void
attack_hook(void *arg, enum hx_dir dir, unsigned index, struct hx_msg *msg)
{
    struct attacker *a = arg;
    size_t i;

    for (i = 0; i < a->n_edits; i++) {
        if (a->edits[i].dir == dir && a->edits[i].index == index) {
            apply(a, &a->edits[i], msg);
            a->fired++;
        }
    }
    if (index < 8)
        hx_msg_set(&a->seen[dir][index], msg->data, msg->len);
}

/* Attackers not yet freed (a failed assertion leaves the test early). */
#define MAX_ATTACKERS 4
static struct attacker *attackers[MAX_ATTACKERS];

static struct attacker *
attacker_new(const struct edit *edits, size_t n_edits)
{
    struct attacker *a = calloc(1, sizeof(*a));
    size_t i;

    assert_non_null(a);
    for (i = 0; i < MAX_ATTACKERS; i++) {
        if (attackers[i] == NULL) {
            attackers[i] = a;
            break;
        }
    }
    assert_true(i < MAX_ATTACKERS);
    a->edits = edits;
    a->n_edits = n_edits;
    return a;
}

static void
attacker_free(struct attacker *a)
{
    size_t d, i;

    if (a == NULL)
        return;
    for (i = 0; i < MAX_ATTACKERS; i++) {
        if (attackers[i] == a)
            attackers[i] = NULL;
    }
    for (d = 0; d < 2; d++) {
        for (i = 0; i < 8; i++)
            free(a->seen[d][i].data);
    }
    free(a);
}

/* cmocka teardown: what a failed test left behind. */
static int
teardown(void **state)
{
    size_t i;

    for (i = 0; i < MAX_ATTACKERS; i++)
        attacker_free(attackers[i]);
    return hx_teardown(state);
}

/* ---- running and judging ---- */

struct side_want {
    int rc;             /* the side's last SASL code */
    const char *mech;   /* completed with; "" = never completed */
    const char *detail; /* substring of sasl_errdetail, or NULL */
    int has_alt;        /* the promise allows a second outcome: */
    int alt_rc;         /* this code, */
    const char *alt_detail; /* with this sentence (mech stays the same) */
};

static void
show_side(const char *side, sasl_conn_t *conn, int rc, const char *complete)
{
    print_message("  %s: %s, %s%s\n", side, sasl_errstring(rc, NULL, NULL),
                  complete[0] ? "complete with " : "did not complete",
                  complete);
    if (rc != SASL_OK && rc != SASL_CONTINUE)
        print_message("  %s: %s\n", side, hx_errdetail(conn));
}

static void
check_side(const char *side, sasl_conn_t *conn, int rc, const char *complete,
           const struct side_want *w)
{
    const char *detail = hx_errdetail(conn);
    const char *want = w->detail;

    if (w->has_alt && rc == w->alt_rc && rc != w->rc)
        want = w->alt_detail;
    else if (rc != w->rc)
        fail_msg("%s returned %s (%d), expected %s (%d)", side,
                 sasl_errstring(rc, NULL, NULL), rc,
                 sasl_errstring(w->rc, NULL, NULL), w->rc);
    if (strcmp(complete, w->mech) != 0)
        fail_msg("%s %s%s, expected %s%s", side,
                 complete[0] ? "completed with " : "did not complete",
                 complete, w->mech[0] ? "completion with " : "no completion",
                 w->mech);
    if (want != NULL && strstr(detail, want) == NULL)
        fail_msg("%s: sasl_errdetail is \"%s\", expected \"%s\"", side,
                 detail, want);
}

#define WANT(rc, mech, detail) { rc, mech, detail, 0, 0, NULL }
#define WANT_ALT(rc, mech, detail, alt_rc, alt_detail)                      \
    { rc, mech, detail, 1, alt_rc, alt_detail }

/* Run one session through the attacker and check both sides. */
static void
run_attack(const struct hx_opts *copts, const struct hx_opts *sopts,
           struct attacker *a, const struct side_want *client,
           const struct side_want *server)
{
    struct hx_session *s;

    s = hx_session_new(copts, sopts, SASL_SUCCESS_DATA);
    hx_exchange(s, attack_hook, a);
    assert_int_equal(a->fired, a->n_edits);
    show_side("client", s->client, s->client_rc, s->clog.complete);
    show_side("server", s->server, s->server_rc, s->slog.complete);
    check_side("client", s->client, s->client_rc, s->clog.complete, client);
    check_side("server", s->server, s->server_rc, s->slog.complete, server);
    /* the plugin's name for the user tells the mechanism too (NTLM
     * names carry the domain), and both ends agree on the layer */
    if (s->server_rc == SASL_OK)
        assert_string_equal(hx_username(s->server),
                            strcmp(server->mech, "krb5") == 0
                                ? "alice"
                                : "alice@SPNEGO");
    if (s->server_rc == SASL_OK && s->client_rc == SASL_OK)
        assert_int_equal(hx_ssf(s->client), hx_ssf(s->server));
    hx_session_free(s);
}

#define EDIT_OFFER1(dir, i, o, keep)                                        \
    { dir, i, SET_OFFER, { o }, { sizeof(o) }, 1, keep, NEG_STATE_ABSENT, 0 }
#define EDIT_OFFER2(dir, i, o1, o2, keep)                                   \
    { dir, i, SET_OFFER, { o1, o2 }, { sizeof(o1), sizeof(o2) }, 2, keep,  \
      NEG_STATE_ABSENT, 0 }
#define EDIT(dir, i, act)                                                   \
    { dir, i, act, { NULL }, { 0 }, 0, 0, NEG_STATE_ABSENT, 0 }
#define EDIT_MECH(dir, i, o)                                                \
    { dir, i, SET_SUPPORTED_MECH, { o }, { sizeof(o) }, 1, 0,              \
      NEG_STATE_ABSENT, 0 }
#define EDIT_STATE(dir, i, st)                                              \
    { dir, i, SET_NEG_STATE, { NULL }, { 0 }, 0, 0, st, 0 }
#define EDIT_REPLAY(dir, i, src)                                            \
    { dir, i, REPLAY, { NULL }, { 0 }, 0, 0, NEG_STATE_ABSENT, src }

#define ATTACK(a, ...)                                                      \
    static const struct edit a##_edits[] = { __VA_ARGS__ };                \
    struct attacker *a =                                                   \
        attacker_new(a##_edits, sizeof(a##_edits) / sizeof(a##_edits[0]))

static const struct side_want NOT_COMPLETE = WANT(SASL_CONTINUE, "", NULL);

/* ---- stripping a mechanism from the initial offer ---- */

/* Both sides prefer krb5 and have NTLM.  The attacker strips krb5 (and
 * its optimistic token): the acceptor sees only ntlmssp, chooses it with
 * request-mic, the initiator follows.  NTLM: the initiator sends the last
 * mechanism token, with a MIC over the list it sent [krb5, ntlmssp]; the
 * acceptor checks it against [ntlmssp].
 * Section 7 promise: both fail.  The acceptor rejects the MIC; the
 * initiator never completes. */
static void
strip_krb5_ntlm_both_fail(void **state)
{
    static const struct side_want server =
        WANT(SASL_BADAUTH, "", "mechListMIC did not verify");

    ATTACK(a, EDIT_OFFER1(HX_C2S, 0, OID_NTLM, 0));
    (void)state;
    run_attack(&DEFAULTS, &DEFAULTS, a, &NOT_COMPLETE, &server);
    attacker_free(a);
}

/* Both sides prefer NTLM and have krb5.  The attacker strips ntlmssp (and
 * its optimistic token): the acceptor sees krb5 as the initiator's first
 * choice, so it asks for no MIC (RFC 4178 section 5 as MIT and Samba read
 * it: the draft's "most preferred for the acceptor" clause is not
 * applied, POLICY.md A8) and completes with the initiator's genuine
 * Kerberos authentication.  The initiator was steered away from its
 * preferred NTLM: it sees a counter-proposal, requires the acceptor's MIC
 * and refuses the AP-REP that comes without one, so the exchange fails
 * (the draft's section 7 promise for the initiator holds). */
static void
strip_ntlm_krb5_initiator_refuses(void **state)
{
    static const struct side_want client =
        WANT(SASL_BADPROT, "", "mechListMIC required but the acceptor's "
                               "last mechanism token came without one");
    static const struct side_want server = WANT(SASL_OK, "krb5", NULL);

    ATTACK(a, EDIT_OFFER1(HX_C2S, 0, OID_KRB5, 0));
    (void)state;
    run_attack(&NTLM_FIRST, &NTLM_FIRST, a, &client, &server);
    attacker_free(a);
}

/* The client offers [krb5, ntlmssp] and wants no security layer (max SSF
 * 0: so NTLM would run without signing, as inside TLS, but there is no
 * TLS).  The attacker strips krb5 and its optimistic token: the acceptor
 * takes NTLM, the initiator's (altered) first choice.  The initiator sees
 * a counter-proposal to a context without integrity, which no mechListMIC
 * could protect, and refuses before it sends any NTLM token (POLICY.md
 * I3): the attacker never holds an NTLM authentication. */
static void
strip_krb5_for_ntlm_without_signing(void **state)
{
    static const struct hx_opts no_layer = { .mechs = "krb5 ntlmssp",
                                             .set_props = 1,
                                             .max_ssf = 0,
                                             .maxbufsize = 65536 };
    static const struct side_want client =
        WANT(SASL_TOOWEAK, "", "cannot protect the negotiation");

    ATTACK(a, EDIT_OFFER1(HX_C2S, 0, OID_NTLM, 0));
    (void)state;
    run_attack(&no_layer, &DEFAULTS, a, &client, &NOT_COMPLETE);
    attacker_free(a);
}

/* NTLM only, a layer wanted (so the client asks for integrity): the
 * attacker clears NEGOTIATE_SIGN and NEGOTIATE_SEAL in the client's
 * NEGOTIATE, hoping for a context without integrity (no mechListMIC, no
 * layer).  The acceptor's CHALLENGE then offers no signing, and the
 * client, which asked for it, refuses the CHALLENGE: no AUTHENTICATE is
 * sent.  (Had it gone on, NTLM's MIC in the AUTHENTICATE covers the
 * NEGOTIATE as sent.) */
static const struct side_want NTLM_FLAG_REFUSED =
    WANT(SASL_BADAUTH, "", "A required Negotiate flag was not provided");

static void
clear_ntlm_sign_in_negotiate(void **state)
{
    ATTACK(a, EDIT(HX_C2S, 0, CLEAR_NTLM_SIGN));
    (void)state;
    run_attack(&NTLM_ONLY, &DEFAULTS, a, &NTLM_FLAG_REFUSED, &NOT_COMPLETE);
    attacker_free(a);
}

/* The same in the acceptor's CHALLENGE. */
static void
clear_ntlm_sign_in_challenge(void **state)
{
    ATTACK(a, EDIT(HX_S2C, 0, CLEAR_NTLM_SIGN));
    (void)state;
    run_attack(&NTLM_ONLY, &DEFAULTS, a, &NTLM_FLAG_REFUSED, &NOT_COMPLETE);
    attacker_free(a);
}

/* Both prefer krb5; the attacker strips ntlmssp, the mechanism neither
 * would choose, and keeps krb5's optimistic token.
 * Section 7: an alteration without material impact; both complete with
 * the mutually preferred krb5 (no MIC is required: krb5 is the first
 * choice of both). */
static void
strip_unused_ntlm_no_material_impact(void **state)
{
    static const struct side_want ok = WANT(SASL_OK, "krb5", NULL);

    ATTACK(a, EDIT_OFFER1(HX_C2S, 0, OID_KRB5, 1));
    (void)state;
    run_attack(&DEFAULTS, &DEFAULTS, a, &ok, &ok);
    attacker_free(a);
}

/* ---- reordering the initial offer ---- */

/* The initiator offers [krb5, ntlmssp] with krb5's optimistic token; the
 * attacker swaps the list and keeps the token, so the acceptor (which
 * follows the initiator's order) takes ntlmssp for the initiator's first
 * choice.  NTLM cannot use a Kerberos token.  Today the acceptor falls
 * back to krb5 with request-mic and no mechanism token, and the initiator,
 * seeing its own krb5 accepted but no AP-REP for its AP-REQ, stops; an
 * acceptor that does not fall back (see replay_first_token_...) fails at
 * once and the initiator never completes.
 * Section 7 promise (krb5, acceptor sends last): the acceptor does not
 * complete; the initiator at worst completes with krb5.  Either way both
 * stop: a denial of service, which section 7 allows. */
static void
reorder_offer_keep_token(void **state)
{
    static const struct side_want client =
        WANT_ALT(SASL_BADPROT, "", "has no mechanism token while krb5 is "
                 "not complete", SASL_CONTINUE, NULL);
    static const struct side_want server =
        WANT_ALT(SASL_CONTINUE, "", NULL, SASL_BADAUTH,
                 "optimistic token was refused (ntlmssp)");

    ATTACK(a, EDIT_OFFER2(HX_C2S, 0, OID_NTLM, OID_KRB5, 1));
    (void)state;
    run_attack(&DEFAULTS, &DEFAULTS, a, &client, &server);
    attacker_free(a);
}

/* The same swap, the optimistic token dropped too: the acceptor chooses
 * ntlmssp (the "initiator's first", not its own favourite: request-mic),
 * the initiator follows the counter-proposal.  NTLM, the initiator sends
 * last, its MIC covers [krb5, ntlmssp], the acceptor received
 * [ntlmssp, krb5].
 * Section 7 promise: both fail. */
static void
reorder_offer_drop_token_both_fail(void **state)
{
    static const struct side_want server =
        WANT(SASL_BADAUTH, "", "mechListMIC did not verify");

    ATTACK(a, EDIT_OFFER2(HX_C2S, 0, OID_NTLM, OID_KRB5, 0));
    (void)state;
    run_attack(&DEFAULTS, &DEFAULTS, a, &NOT_COMPLETE, &server);
    attacker_free(a);
}

/* ---- stripping the optimistic token ---- */

/* The list is intact, only krb5's optimistic token is removed.  The
 * acceptor selects krb5 (first of both, no MIC needed) and, having no
 * token, answers accept-incomplete without a mechanism token (3.2 c).
 * The initiator's AP-REQ went unanswered; it cannot go on.
 * Section 7: no list alteration, no promise beyond the denial of service
 * ("in all cases ... exposed to the denial of service threat"): nobody
 * completes, and certainly not with another mechanism. */
static void
strip_optimistic_token(void **state)
{
    static const struct side_want client =
        WANT(SASL_BADPROT, "", "has no mechanism token while krb5 is not "
             "complete");

    ATTACK(a, EDIT(HX_C2S, 0, DROP_MECH_TOKEN));
    (void)state;
    run_attack(&DEFAULTS, &DEFAULTS, a, &client, &NOT_COMPLETE);
    attacker_free(a);
}

/* ---- changing supportedMech in the first reply ---- */

/* krb5 first for both: the acceptor answers accept-completed, krb5, with
 * the AP-REP, and is done (Kerberos, no MIC needed).  The attacker names
 * ntlmssp instead.  The initiator reads a counter-proposal that carries a
 * token for a mechanism it never started and stops.
 * Section 7: no list alteration; the acceptor completed with the mutually
 * preferred krb5 on a genuine AP-REQ (no material impact on it), the
 * initiator refuses: a denial of service. */
static void
change_supported_mech_krb5_to_ntlm(void **state)
{
    static const struct side_want client =
        WANT(SASL_BADPROT, "", "counter-proposal carries a mechanism token");
    static const struct side_want server = WANT(SASL_OK, "krb5", NULL);

    ATTACK(a, EDIT_MECH(HX_S2C, 0, OID_NTLM));
    (void)state;
    run_attack(&DEFAULTS, &DEFAULTS, a, &client, &server);
    attacker_free(a);
}

/* NTLM first for both: the acceptor answers accept-incomplete, ntlmssp,
 * with the CHALLENGE; the attacker names krb5.  The initiator again sees
 * a counter-proposal with a foreign token.
 * Outcome: both fail (the acceptor waits for an AUTHENTICATE that never
 * comes). */
static void
change_supported_mech_ntlm_to_krb5(void **state)
{
    static const struct side_want client =
        WANT(SASL_BADPROT, "", "counter-proposal carries a mechanism token");

    ATTACK(a, EDIT_MECH(HX_S2C, 0, OID_KRB5));
    (void)state;
    run_attack(&NTLM_FIRST, &NTLM_FIRST, a, &client, &NOT_COMPLETE);
    attacker_free(a);
}

/* The initiator prefers NTLM, the acceptor insists on krb5 (its own order
 * wins) and counter-proposes krb5 with request-mic and no token.  The
 * attacker turns supportedMech into ntlmssp, so the initiator believes its
 * first choice was taken and waits for a CHALLENGE that is not there.
 * Outcome: both fail; nobody completes with NTLM. */
static void
change_counter_proposal_to_initiator_choice(void **state)
{
    static const struct side_want client =
        WANT(SASL_BADPROT, "", "has no mechanism token while ntlmssp is not "
             "complete");

    ATTACK(a, EDIT_MECH(HX_S2C, 0, OID_NTLM));
    (void)state;
    run_attack(&NTLM_FIRST, &KRB5_FIRST, a, &client, &NOT_COMPLETE);
    attacker_free(a);
}

/* ---- flipping negState ---- */

/* krb5: accept-completed -> accept-incomplete on the acceptor's only
 * reply.  The acceptor is done; the initiator, whose krb5 completed on
 * the AP-REP, is told more is coming although no mechListMIC is due
 * (5 b: accept-incomplete after the last token must carry a MIC) and
 * stops.  No list alteration: the acceptor completed with the mutually
 * preferred krb5; the initiator refuses (denial of service). */
static void
flip_completed_to_incomplete(void **state)
{
    static const struct side_want client =
        WANT(SASL_BADPROT, "", "the acceptor expects more, but the "
             "mechanism is complete and no mechListMIC is due (krb5");
    static const struct side_want server = WANT(SASL_OK, "krb5", NULL);

    ATTACK(a, EDIT_STATE(HX_S2C, 0, NEG_STATE_ACCEPT_INCOMPLETE));
    (void)state;
    run_attack(&DEFAULTS, &DEFAULTS, a, &client, &server);
    attacker_free(a);
}

/* NTLM: accept-incomplete -> accept-completed on the first reply (the one
 * with the CHALLENGE).  The initiator still has its AUTHENTICATE to send
 * and sends it with its MIC (NTLM's own MIC makes the exchange
 * mandatory); the acceptor verifies and completes.
 * Section 7: no material impact; both complete with the mutually
 * preferred ntlmssp. */
static void
flip_incomplete_to_completed(void **state)
{
    static const struct side_want ok = WANT(SASL_OK, "ntlmssp", NULL);

    ATTACK(a, EDIT_STATE(HX_S2C, 0, NEG_STATE_ACCEPT_COMPLETED));
    (void)state;
    run_attack(&NTLM_FIRST, &NTLM_FIRST, a, &ok, &ok);
    attacker_free(a);
}

/* The initiator prefers NTLM, the acceptor (initiator's order) prefers
 * krb5 but takes ntlmssp, so it sends request-mic.  The attacker turns it
 * into accept-incomplete.  The acceptor still requires the MIC; the
 * initiator sends one anyway because NTLM's AUTHENTICATE carries its own
 * MIC; the list is intact, so the MICs verify.
 * Section 7: no material impact; both complete with ntlmssp, the
 * mechanism the acceptor's policy picked from an unaltered list. */
static void
flip_request_mic_to_incomplete(void **state)
{
    static const struct side_want ok = WANT(SASL_OK, "ntlmssp", NULL);

    ATTACK(a, EDIT_STATE(HX_S2C, 0, NEG_STATE_ACCEPT_INCOMPLETE));
    (void)state;
    run_attack(&NTLM_FIRST, &DEFAULTS, a, &ok, &ok);
    attacker_free(a);
}

/* ---- removing or altering a mechListMIC ---- */

/* NTLM (initiator sends last), the MIC is mandatory (NTLM's own MIC).
 * The attacker removes the initiator's mechListMIC.
 * Section 5 c IV: the acceptor terminates; the initiator never
 * completes. */
static void
remove_initiator_mic_ntlm(void **state)
{
    static const struct side_want server =
        WANT(SASL_BADPROT, "", "mechListMIC required but the initiator sent "
             "none");

    ATTACK(a, EDIT(HX_C2S, 1, DROP_MIC));
    (void)state;
    run_attack(&NTLM_FIRST, &NTLM_FIRST, a, &NOT_COMPLETE, &server);
    attacker_free(a);
}

/* krb5 after a counter-proposal (MIC required, acceptor sends last): the
 * attacker removes the acceptor's MIC from the reply carrying the AP-REP.
 * Section 5 b IV: the initiator terminates; the acceptor never
 * completes. */
static void
remove_acceptor_mic_krb5(void **state)
{
    static const struct side_want client =
        WANT(SASL_BADPROT, "", "mechListMIC required but the acceptor's "
             "last mechanism token came without one");

    ATTACK(a, EDIT(HX_S2C, 1, DROP_MIC));
    (void)state;
    run_attack(&NTLM_FIRST, &KRB5_FIRST, a, &client, &NOT_COMPLETE);
    attacker_free(a);
}

/* NTLM: the acceptor verified the initiator's MIC (so the list is intact)
 * and completed; the attacker removes the acceptor's answering MIC.  The
 * acceptor completed with the mutually preferred ntlmssp; the initiator,
 * owed a MIC, refuses to complete. */
static void
remove_acceptor_final_mic_ntlm(void **state)
{
    static const struct side_want client =
        WANT(SASL_BADPROT, "", "the acceptor completed without returning a "
             "mechListMIC for ours");
    static const struct side_want server = WANT(SASL_OK, "ntlmssp", NULL);

    ATTACK(a, EDIT(HX_S2C, 1, DROP_MIC));
    (void)state;
    run_attack(&NTLM_FIRST, &NTLM_FIRST, a, &client, &server);
    attacker_free(a);
}

/* NTLM: one bit of the initiator's MIC flipped.  Section 5 c II: the
 * acceptor terminates (DEFECTIVE_TOKEN); the initiator never completes. */
static void
alter_initiator_mic_ntlm(void **state)
{
    static const struct side_want server =
        WANT(SASL_BADAUTH, "", "mechListMIC did not verify");

    ATTACK(a, EDIT(HX_C2S, 1, FLIP_MIC));
    (void)state;
    run_attack(&NTLM_FIRST, &NTLM_FIRST, a, &NOT_COMPLETE, &server);
    attacker_free(a);
}

/* krb5 after a counter-proposal: one bit of the acceptor's MIC flipped.
 * Section 5 b II: the initiator terminates; the acceptor never
 * completes. */
static void
alter_acceptor_mic_krb5(void **state)
{
    static const struct side_want client =
        WANT(SASL_BADAUTH, "", "mechListMIC did not verify");

    ATTACK(a, EDIT(HX_S2C, 1, FLIP_MIC));
    (void)state;
    run_attack(&NTLM_FIRST, &KRB5_FIRST, a, &client, &NOT_COMPLETE);
    attacker_free(a);
}

/* ---- replay ---- */

/* Session A runs normally (krb5, both prefer it) and its first token is
 * recorded; the attacker injects it as session B's first token.  The
 * mechanism list is the same, so no MIC can tell; the AP-REQ inside is a
 * replay, which the acceptor's replay cache refuses.
 * Promise: section 3 ("SPNEGO guarantees that the selected mechanism is
 * mutually preferred") and section 7 leave only a denial of service:
 * nobody completes, and above all nobody completes with ntlmssp, which
 * neither side prefers.  The acceptor must not turn a refused optimistic
 * token into a switch to NTLM (3.2 c: the token "MUST be deposited to
 * the selected mechanism"; its failure is the context's failure). */
static void
replay_first_token_from_other_session(void **state)
{
    static const struct side_want ok = WANT(SASL_OK, "krb5", NULL);
    static const struct side_want server =
        WANT(SASL_BADAUTH, "", "Request is a replay");
    struct attacker *recorder = attacker_new(NULL, 0);
    const struct hx_msg *rec;

    ATTACK(a, EDIT(HX_C2S, 0, REPLACE));
    (void)state;
    /* session A: untouched, recorded */
    run_attack(&DEFAULTS, &DEFAULTS, recorder, &ok, &ok);
    rec = &recorder->seen[HX_C2S][0];
    assert_non_null(rec->data);
    /* session B: A's first token instead of its own */
    a->replacement = rec->data;
    a->replacement_len = rec->len;
    run_attack(&DEFAULTS, &DEFAULTS, a, &NOT_COMPLETE, &server);
    attacker_free(recorder);
    attacker_free(a);
}

/* The same downgrade without a replay: one bit of krb5's optimistic token
 * (the AP-REQ's last byte, inside the encrypted authenticator) flipped.
 * The list is intact; krb5 is the first choice of both.
 * Promise (sections 3 and 7): only a denial of service; nobody completes
 * with ntlmssp.  The acceptor refuses the token (an integrity failure of
 * the authenticator, BADAUTH; or a DEFECTIVE_TOKEN, BADPROT) and the
 * initiator never completes. */
static void
corrupt_optimistic_token_no_downgrade(void **state)
{
    static const struct side_want server =
        WANT(SASL_BADAUTH, "", "optimistic token was refused (krb5)");

    ATTACK(a, EDIT(HX_C2S, 0, FLIP_TOKEN));
    (void)state;
    run_attack(&DEFAULTS, &DEFAULTS, a, &NOT_COMPLETE, &server);
    attacker_free(a);
}

/* Replay within one session, NTLM: the attacker sends the initiator's
 * first message (the NegTokenInit with the NEGOTIATE) again in place of
 * its second (the AUTHENTICATE with the MIC).  The acceptor refuses a
 * NegTokenInit after the first token.  Outcome: both fail. */
static void
replay_earlier_message_same_session_ntlm(void **state)
{
    static const struct side_want server =
        WANT(SASL_BADPROT, "", "expected a NegTokenResp from the initiator, "
             "got a negTokenInit");

    ATTACK(a, EDIT_REPLAY(HX_C2S, 1, 0));
    (void)state;
    run_attack(&NTLM_FIRST, &NTLM_FIRST, a, &NOT_COMPLETE, &server);
    attacker_free(a);
}

/* Replay within one session, krb5 after a counter-proposal (three
 * initiator messages: the offer, the AP-REQ, the final MIC).  The attacker
 * sends the AP-REQ message again in place of the final MIC.  The
 * initiator had verified the acceptor's MIC over the intact list and
 * completed with krb5 (the mechanism the acceptor's policy chose, MIC
 * protected); the acceptor refuses a second mechanism token and never
 * completes. */
static void
replay_earlier_message_same_session_krb5(void **state)
{
    static const struct side_want client = WANT(SASL_OK, "krb5", NULL);
    static const struct side_want server =
        WANT(SASL_BADPROT, "", "mechanism token received after krb5 "
             "completed");

    ATTACK(a, EDIT_REPLAY(HX_C2S, 2, 1));
    (void)state;
    run_attack(&NTLM_FIRST, &KRB5_FIRST, a, &client, &server);
    attacker_free(a);
}

/* ---- control: the same configurations without an attacker ---- */

static void
no_attacker_controls(void **state)
{
    static const struct side_want krb5 = WANT(SASL_OK, "krb5", NULL);
    static const struct side_want ntlm = WANT(SASL_OK, "ntlmssp", NULL);
    struct attacker *none = attacker_new(NULL, 0);

    (void)state;
    run_attack(&DEFAULTS, &DEFAULTS, none, &krb5, &krb5);
    run_attack(&NTLM_FIRST, &NTLM_FIRST, none, &ntlm, &ntlm);
    run_attack(&NTLM_FIRST, &KRB5_FIRST, none, &krb5, &krb5);
    run_attack(&NTLM_FIRST, &DEFAULTS, none, &ntlm, &ntlm);
    attacker_free(none);
}

#define T(f) cmocka_unit_test_teardown(f, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(no_attacker_controls),
        T(strip_krb5_ntlm_both_fail),
        T(strip_ntlm_krb5_initiator_refuses),
        T(strip_unused_ntlm_no_material_impact),
        T(strip_krb5_for_ntlm_without_signing),
        T(clear_ntlm_sign_in_negotiate),
        T(clear_ntlm_sign_in_challenge),
        T(reorder_offer_keep_token),
        T(reorder_offer_drop_token_both_fail),
        T(strip_optimistic_token),
        T(change_supported_mech_krb5_to_ntlm),
        T(change_supported_mech_ntlm_to_krb5),
        T(change_counter_proposal_to_initiator_choice),
        T(flip_completed_to_incomplete),
        T(flip_incomplete_to_completed),
        T(flip_request_mic_to_incomplete),
        T(remove_initiator_mic_ntlm),
        T(remove_acceptor_mic_krb5),
        T(remove_acceptor_final_mic_ntlm),
        T(alter_initiator_mic_ntlm),
        T(alter_acceptor_mic_krb5),
        T(replay_first_token_from_other_session),
        T(corrupt_optimistic_token_no_downgrade),
        T(replay_earlier_message_same_session_ntlm),
        T(replay_earlier_message_same_session_krb5),
    };
    int rc;

    rc = hx_init("test-mitm");
    if (rc != 0)
        return rc;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    hx_done();
    return rc;
}
