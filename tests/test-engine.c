/*
 * test-engine.c - the SPNEGO negotiation engine (engine.h) between two of
 * its own contexts, in one process, over the real mechanisms of a
 * throwaway MIT realm (run under tests/fixture/with-krb5), plus a scripted
 * mechanism for paths no real mechanism produces.
 *
 * Each test builds initiator and acceptor credentials and contexts, pumps
 * tokens between them (engine-util.c; a man in the middle may change them),
 * prints the transcript, and checks the decoded tokens and the results
 * against draft-ietf-kitten-2478bis sections 3 and 5 with the RFC 4178
 * corrections (INTEROP.md).  Token numbers: 1 is the initiator's first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <gssapi/gssapi.h>

#include "engine-util.h"
#include "ntlmmsg.h"
#include "engine.h"
#include "mechs.h"
#include "negtoken.h"
#include "scripted-mech.h"

#ifndef GSS_C_CHANNEL_BOUND_FLAG
#define GSS_C_CHANNEL_BOUND_FLAG 2048
#endif

/* The fixture's users as the acceptor displays them. */
static char krb5_peer[128];
static char ntlm_peer[128];

#define NO_KRB5 EU_ENV_NO_KRB5
#define INTEG_CONF (GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG)

/* ---- a man in the middle ---- */

/* MIC_ADD: put a 16-byte mechListMIC (an NTLM signature's size) that no
 * key made into the token, as a peer that signs with keys the context
 * did not negotiate would. */
enum mic_change { MIC_KEEP = 0, MIC_REMOVE, MIC_FLIP, MIC_ADD };

struct tamper {
    size_t token;            /* the token to change */
    const char *mechs;       /* INIT: replace mechTypes (NULL: keep) */
    int drop_mech_token;     /* INIT: remove the optimistic token */
    enum mic_change mic;
    int flip_mech_token;     /* INIT: corrupt the optimistic token */
    /* INIT: in the optimistic token, XOR the byte edit_at bytes into the
     * first occurrence of edit_find (edit_find_len bytes) with edit_xor:
     * a wire attacker's one-byte edit of the cleartext */
    const char *edit_find;
    size_t edit_find_len;
    size_t edit_at;
    uint8_t edit_xor;
    int neg_state;           /* RESP: new negState (EU_ANY: keep) */
    const char *supported;   /* RESP: set supportedMech (NULL: keep) */
};

static void
tamper_hook(struct eu_pair *p, size_t k, uint8_t **tok, size_t *len)
{
    const struct tamper *t = p->mitm_arg;
    struct negtoken n;

    if (k != t->token)
        return;
    eu_mitm_decode(*tok, *len, &n);
    if (t->mic == MIC_FLIP) {
        if (!n.has_mic || n.mic.len == 0)
            fail_msg("token %zu has no mechListMIC to corrupt", k);
        (*tok)[(size_t)(n.mic.data - *tok) + n.mic.len / 2] ^= 0x40;
        return;
    }
    if (t->flip_mech_token) {
        if (!n.has_mech_token || n.mech_token.len < 64)
            fail_msg("token %zu has no mechToken to corrupt", k);
        (*tok)[(size_t)(n.mech_token.data - *tok) + 60] ^= 0x40;
        return;
    }
    if (t->edit_find != NULL) {
        const uint8_t *hit;

        if (!n.has_mech_token)
            fail_msg("token %zu has no mechToken to edit", k);
        hit = memmem(n.mech_token.data, n.mech_token.len, t->edit_find,
                     t->edit_find_len);
        if (hit == NULL || t->edit_at >= t->edit_find_len)
            fail_msg("token %zu: what to edit is not in the mechToken", k);
        (*tok)[(size_t)(hit - *tok) + t->edit_at] ^= t->edit_xor;
        return;
    }
    if (t->mic == MIC_REMOVE) {
        if (!n.has_mic)
            fail_msg("token %zu has no mechListMIC to remove", k);
        n.has_mic = 0;
    }
    if (t->mic == MIC_ADD) {
        static const uint8_t foreign[16] = { 1, 0, 0, 0, 0x5a, 0x5a, 0x5a,
                                             0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
                                             0, 0, 0, 0 };

        if (n.has_mic)
            fail_msg("token %zu has a mechListMIC already", k);
        n.has_mic = 1;
        n.mic.data = foreign;
        n.mic.len = sizeof(foreign);
    }
    if (t->mechs)
        eu_set_mechs(&n, t->mechs);
    if (t->drop_mech_token)
        n.has_mech_token = 0;
    if (t->neg_state != EU_ANY)
        n.neg_state = (enum negtoken_state)t->neg_state;
    if (t->supported) {
        n.has_supported_mech = 1;
        n.supported_mech = eu_oid(t->supported);
    }
    eu_mitm_replace(tok, len, &n);
}

static struct tamper
tamper_at(size_t token)
{
    struct tamper t;

    memset(&t, 0, sizeof(t));
    t.token = token;
    t.neg_state = EU_ANY;
    return t;
}

static void
run_tampered(struct eu_pair *p, struct tamper *t)
{
    p->mitm = tamper_hook;
    p->mitm_arg = t;
    eu_run(p);
}

/* ---- pairs used by several tests ---- */

/* Both sides have Kerberos and NTLM, default order krb5, ntlmssp. */
static struct eu_pair *
pair_default(void **state, const char *name)
{
    struct eu_pair *p = eu_pair_new(name, NULL, 0, NULL, 0);

    *state = p;
    return p;
}

/* No Kerberos credentials on either side. */
static struct eu_pair *
pair_ntlm_only(void **state, const char *name)
{
    struct eu_pair *p = eu_pair_new(name, NULL, NO_KRB5, NULL, NO_KRB5);

    *state = p;
    assert_int_equal(spnego_creds_count(p->creds[EU_I]), 1);
    assert_int_equal(spnego_creds_count(p->creds[EU_A]), 1);
    assert_string_equal(spnego_creds_mech(p->creds[EU_A], 0)->name,
                        "ntlmssp");
    return p;
}

/* The initiator prefers NTLM, the acceptor has only Kerberos. */
static struct eu_pair *
pair_counter_proposal(void **state, const char *name)
{
    struct eu_pair *p = eu_pair_new(name, "ntlmssp krb5", 0, "krb5", 0);

    *state = p;
    return p;
}

/* The initiator's first (krb5) is chosen, but the acceptor's own list
 * (not explicit: default policy) puts NTLM first. */
static struct eu_pair *
pair_acceptor_prefers_ntlm(void **state, const char *name)
{
    struct eu_pair *p =
        eu_pair_new(name, "krb5 ntlmssp", 0, "ntlmssp krb5", 0);

    *state = p;
    assert_false(spnego_creds_order_is_explicit(p->creds[EU_A]));
    assert_string_equal(spnego_creds_mech(p->creds[EU_A], 0)->name,
                        "ntlmssp");
    return p;
}

/* The acceptor's order is set explicitly to NTLM first. */
static struct eu_pair *
pair_explicit_ntlm(void **state, const char *name)
{
    struct eu_pair *p = eu_pair_new(name, "krb5 ntlmssp", 0, NULL, 0);
    char err[256] = "";

    *state = p;
    if (!spnego_creds_set_neg_mechs(p->creds[EU_A], "ntlmssp krb5", err,
                                    sizeof(err)))
        fail_msg("spnego_creds_set_neg_mechs: %s", err);
    assert_true(spnego_creds_order_is_explicit(p->creds[EU_A]));
    return p;
}

static void
set_target(struct eu_pair *p, const char *service)
{
    OM_uint32 minor;

    gss_release_name(&minor, &p->target);
    p->target = eu_target(service);
    p->cfg[EU_I].target = p->target;
    p->cfg[EU_A].target = p->target;
}

/* The NTLM AUTHENTICATE message in token k carries its own MIC. */
static void
assert_ntlm_auth_mic(const struct eu_pair *p, size_t k, int expected)
{
    struct negtoken t;

    eu_decode(p, k, &t);
    assert_true(t.has_response_token);
    assert_int_equal(ntlm_message_type(t.response_token.data,
                                       t.response_token.len), 3);
    assert_int_equal(ntlm_auth_has_mic(t.response_token.data,
                                       t.response_token.len),
                     expected);
}

/* The standard NTLM-only exchange, checked token by token. */
static void
assert_ntlm_only_flow(const struct eu_pair *p)
{
    assert_int_equal(eu_tokens(p), 4);
    eu_assert_init(p, 1, "ntlmssp", 1, 0);
    eu_assert_resp(p, 2, NEG_STATE_ACCEPT_INCOMPLETE, "ntlmssp", 1, 0);
    eu_assert_resp(p, 3, EU_ANY, NULL, 1, 1);
    assert_ntlm_auth_mic(p, 3, 1);
    eu_assert_resp(p, 4, NEG_STATE_ACCEPT_COMPLETED, NULL, 0, 1);
}

/* The counter-proposal to krb5 with mutual authentication. */
static void
assert_counter_proposal_flow(const struct eu_pair *p)
{
    assert_int_equal(eu_tokens(p), 5);
    eu_assert_init(p, 1, "ntlmssp krb5", 1, 0);
    eu_assert_resp(p, 2, NEG_STATE_REQUEST_MIC, "krb5", 0, 0);
    eu_assert_resp(p, 3, EU_ANY, NULL, 1, 0);
    eu_assert_resp(p, 4, NEG_STATE_ACCEPT_INCOMPLETE, NULL, 1, 1);
    assert_int_equal(p->legs[3].status, SPNEGO_CONTINUE_NEEDED);
    eu_assert_resp(p, 5, NEG_STATE_ACCEPT_COMPLETED, NULL, 0, 1);
    assert_int_equal(p->legs[4].status, SPNEGO_COMPLETE);
}

static void
assert_no_conf(const struct eu_pair *p)
{
    if ((eu_flags(p, EU_I) | eu_flags(p, EU_A)) & INTEG_CONF)
        fail_msg("INTEG/CONF were not requested but the context flags are "
                 "I 0x%x, A 0x%x: something forces them (MIT krb5 adds "
                 "them unless GSS_KRB5_CRED_NO_CI_FLAGS_X is set on the "
                 "initiator's credential)",
                 (unsigned)eu_flags(p, EU_I), (unsigned)eu_flags(p, EU_A));
}

/* ---- Kerberos ---- */

static void
test_krb5_optimistic_mutual_one_round_trip(void **state)
{
    struct eu_pair *p = pair_default(state, __func__);

    eu_run(p);
    assert_int_equal(eu_tokens(p), 2);
    eu_assert_init(p, 1, "krb5 ntlmssp", 1, 0);
    eu_assert_resp(p, 2, NEG_STATE_ACCEPT_COMPLETED, "krb5", 1, 0);
    assert_int_equal(p->legs[1].status, SPNEGO_COMPLETE);
    eu_assert_complete(p, "krb5", krb5_peer);
    eu_assert_mics(p, 0, 0, 0, 0);
    assert_true(eu_flags(p, EU_I) & GSS_C_MUTUAL_FLAG);
    assert_true(eu_flags(p, EU_A) & GSS_C_MUTUAL_FLAG);
}

static void
test_krb5_without_mutual_single_token(void **state)
{
    struct eu_pair *p = pair_default(state, __func__);

    p->cfg[EU_I].req_flags = INTEG_CONF;
    p->cfg[EU_A].trace = NULL; /* also: no trace callback at all */
    eu_run(p);
    assert_int_equal(eu_tokens(p), 2);
    eu_assert_init(p, 1, "krb5 ntlmssp", 1, 0);
    eu_assert_resp(p, 2, NEG_STATE_ACCEPT_COMPLETED, "krb5", 0, 0);
    eu_assert_complete(p, "krb5", krb5_peer);
    eu_assert_mics(p, 0, 0, 0, 0);
    assert_false(eu_flags(p, EU_I) & GSS_C_MUTUAL_FLAG);
    assert_false(eu_flags(p, EU_A) & GSS_C_MUTUAL_FLAG);
}

static void
test_ms_krb5_first_offer_echoed(void **state)
{
    struct eu_pair *p = eu_pair_new(__func__, "ms-krb5 krb5", 0, NULL, 0);

    *state = p;
    eu_run(p);
    assert_int_equal(eu_tokens(p), 2);
    eu_assert_init(p, 1, "ms-krb5 krb5", 1, 0);
    /* Kerberos is the acceptor's favourite whatever its OID: no MIC. */
    eu_assert_resp(p, 2, NEG_STATE_ACCEPT_COMPLETED, "1.2.840.48018.1.2.2",
                   1, 0);
    eu_assert_complete(p, "krb5", krb5_peer);
}

/* Any Kerberos OID back means Kerberos (INTEROP 2): not a counter-proposal,
 * so no MIC is needed. */
static void
test_initiator_accepts_krb5_oid_for_ms_krb5_offer(void **state)
{
    struct eu_pair *p = eu_pair_new(__func__, "ms-krb5 krb5", 0, NULL, 0);
    struct tamper t = tamper_at(2);

    *state = p;
    t.supported = "krb5";
    run_tampered(p, &t);
    eu_assert_complete(p, "krb5", krb5_peer);
    eu_assert_mics(p, 0, 0, 0, 0);
}

static void
test_initiator_accepts_ms_krb5_oid_for_krb5_offer(void **state)
{
    struct eu_pair *p = eu_pair_new(__func__, "krb5 ntlmssp", 0, NULL, 0);
    struct tamper t = tamper_at(2);

    *state = p;
    t.supported = "ms-krb5";
    run_tampered(p, &t);
    eu_assert_complete(p, "krb5", krb5_peer);
    eu_assert_mics(p, 0, 0, 0, 0);
}

/* ---- NTLM and the MIC it makes mandatory ---- */

static void
test_ntlm_only_three_legs_with_mics(void **state)
{
    struct eu_pair *p = pair_ntlm_only(state, __func__);

    eu_run(p);
    assert_ntlm_only_flow(p);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
    eu_assert_mics(p, 1, 1, 1, 1);
}

/* ---- counter-proposals and MICs both ways ---- */

static void
test_counter_proposal_initiator_prefers_ntlm(void **state)
{
    struct eu_pair *p = pair_counter_proposal(state, __func__);

    eu_run(p);
    assert_counter_proposal_flow(p);
    eu_assert_complete(p, "krb5", krb5_peer);
    eu_assert_mics(p, 1, 1, 1, 1);
}

static void
test_initiator_first_not_acceptor_favourite(void **state)
{
    struct eu_pair *p = pair_acceptor_prefers_ntlm(state, __func__);

    eu_run(p);
    /* The initiator got its first choice: nothing for a MIC to protect,
     * so no request-mic (MIT and Samba ask only when they choose
     * another; POLICY.md A8). */
    assert_int_equal(eu_tokens(p), 2);
    eu_assert_init(p, 1, "krb5 ntlmssp", 1, 0);
    eu_assert_resp(p, 2, NEG_STATE_ACCEPT_COMPLETED, "krb5", 1, 0);
    eu_assert_complete(p, "krb5", krb5_peer);
    eu_assert_mics(p, 0, 0, 0, 0);
}

static void
test_acceptor_explicit_order_prefers_own(void **state)
{
    struct eu_pair *p = pair_explicit_ntlm(state, __func__);

    eu_run(p);
    assert_int_equal(eu_tokens(p), 6);
    eu_assert_init(p, 1, "krb5 ntlmssp", 1, 0);
    eu_assert_resp(p, 2, NEG_STATE_REQUEST_MIC, "ntlmssp", 0, 0);
    eu_assert_resp(p, 3, EU_ANY, NULL, 1, 0);
    eu_assert_resp(p, 4, NEG_STATE_ACCEPT_INCOMPLETE, NULL, 1, 0);
    eu_assert_resp(p, 5, EU_ANY, NULL, 1, 1);
    eu_assert_resp(p, 6, NEG_STATE_ACCEPT_COMPLETED, NULL, 0, 1);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
    eu_assert_mics(p, 1, 1, 1, 1);
}

static void
test_no_common_mechanism_rejected(void **state)
{
    struct eu_pair *p = eu_pair_new(__func__, NULL, NO_KRB5, "krb5", 0);
    const char *reason;

    *state = p;
    eu_run(p);
    assert_int_equal(eu_tokens(p), 2);
    eu_assert_init(p, 1, "ntlmssp", 1, 0);
    eu_assert_resp(p, 2, NEG_STATE_REJECT, NULL, 0, 0);
    assert_int_equal(p->legs[1].status, SPNEGO_BAD_MECH);
    eu_assert_status(p, EU_I, SPNEGO_BAD_MECH);
    reason = spnego_reason(p->ctx[EU_A]);
    assert_non_null(strstr(reason, "ntlmssp"));
    assert_non_null(strstr(reason, "krb5"));
    eu_assert_dead(p, EU_A, p->legs[0].got, p->legs[0].got_len);
    eu_assert_dead(p, EU_I, NULL, 0);
}

/* An acceptor whose keytab lacks the key for the ticket (it holds another
 * service: a misconfiguration), with both sides also holding NTLM. */
static struct eu_pair *
pair_partial_keytab(void **state, const char *name, int keytab_fallback)
{
    struct eu_pair *p = eu_pair_alloc(name);
    struct spnego_cred_params params;
    struct spnego_creds *creds = NULL;
    char err[512];

    *state = p;
    memset(&params, 0, sizeof(params));
    params.role = SPNEGO_ACCEPTOR;
    params.keytab = getenv("SPNEGO_TEST_PARTIAL_KEYTAB");
    assert_non_null(params.keytab);
    if (spnego_creds_acquire(&params, &creds, err, sizeof(err)) !=
        SPNEGO_ACQUIRE_OK)
        fail_msg("acceptor credentials: %s", err);
    eu_pair_set_creds(p, EU_I, eu_creds(SPNEGO_INITIATOR, NULL, 0));
    eu_pair_set_creds(p, EU_A, creds);
    p->cfg[EU_A].keytab_fallback = keytab_fallback;
    return p;
}

/* Kerberos read the optimistic token and refused it (no key for the
 * ticket): the exchange ends.  The same error can be produced by a wire
 * attacker editing the ticket's kvno or etype, so it decides nothing. */
static void
test_acceptor_without_ticket_key_does_not_fall_back(void **state)
{
    struct eu_pair *p = pair_partial_keytab(state, __func__, 0);

    eu_run(p);
    eu_assert_no_completion(p, EU_A);
    assert_false(eu_trace_has(p, EU_A, SPNEGO_EV_DOWNGRADE, NULL));
    assert_non_null(strstr(spnego_reason(p->ctx[EU_A]),
                           "optimistic token was refused"));
}

/* With spnego_keytab_fallback on (an administrator's opt-in), the same
 * acceptor falls back to NTLM with request-mic, and warns each time. */
static void
test_acceptor_keytab_fallback_opt_in(void **state)
{
    struct eu_pair *p = pair_partial_keytab(state, __func__, 1);

    eu_run(p);
    eu_assert_resp(p, 2, NEG_STATE_REQUEST_MIC, "ntlmssp", 0, 0);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
    eu_assert_mics(p, 1, 1, 1, 1);
    assert_true(eu_trace_has(p, EU_A, SPNEGO_EV_DOWNGRADE, "downgrade"));
}

/* ---- an active attacker edits one byte of the optimistic AP-REQ ----
 *
 * Both sides hold Kerberos and NTLM; the list of mechanisms is left
 * alone, so mechListMICs over it would verify.  An edit of the etype,
 * the kvno or the framing OID makes MIT refuse the token with an error
 * that once allowed a fallback to NTLM (no key for the etype, kvno not
 * found, bad mechanism): nothing may complete.  An edit of the ticket's
 * cleartext sname or realm changes nothing: MIT decrypts the ticket with
 * the bound acceptor's own key whatever those say, so the exchange
 * completes with Kerberos as the real client (EDIT_IGNORED); never with
 * NTLM. */
enum edit_outcome { EDIT_REFUSED, EDIT_IGNORED };

/* A variable of the realm's environment (tests/fixture/with-krb5). */
static const char *
realm_env(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL) {
        fail_msg("%s is not set: run inside tests/fixture/with-krb5", name);
        return "";
    }
    return v;
}

static void
run_edited_ap_req(void **state, const char *name, const char *find,
                  size_t find_len, size_t at, uint8_t xor_mask,
                  enum edit_outcome outcome)
{
    struct eu_pair *p = eu_pair_alloc(name);
    struct spnego_cred_params params;
    struct spnego_creds *creds = NULL;
    struct tamper t = tamper_at(1);
    char err[512], service[300];

    /* the acceptor bound to its service, as the plugin binds it */
    *state = p;
    (void)snprintf(service, sizeof(service), "host@%s",
                   realm_env("SPNEGO_TEST_HOST"));
    memset(&params, 0, sizeof(params));
    params.role = SPNEGO_ACCEPTOR;
    params.service = service;
    if (spnego_creds_acquire(&params, &creds, err, sizeof(err)) !=
        SPNEGO_ACQUIRE_OK)
        fail_msg("acceptor credentials: %s", err);
    eu_pair_set_creds(p, EU_I, eu_creds(SPNEGO_INITIATOR, NULL, 0));
    eu_pair_set_creds(p, EU_A, creds);

    t.edit_find = find;
    t.edit_find_len = find_len;
    t.edit_at = at;
    t.edit_xor = xor_mask;
    run_tampered(p, &t);
    assert_false(eu_trace_has(p, EU_A, SPNEGO_EV_DOWNGRADE, NULL));
    if (outcome == EDIT_IGNORED) {
        eu_assert_complete(p, "krb5", krb5_peer);
        return;
    }
    eu_assert_no_completion(p, EU_A);
    assert_false(p->ctx[EU_I] != NULL && spnego_ctx_complete(p->ctx[EU_I]));
}

/* the ticket's enc-part etype, aes256-cts (18) -> rc4-hmac (23): the
 * first "[0] INTEGER 18" of the AP-REQ is the ticket's (pvno, msg-type
 * and tkt-vno are 5, 14, 5) */
static void
test_attacker_edits_ticket_etype(void **state)
{
    run_edited_ap_req(state, __func__, "\xa0\x03\x02\x01\x12", 5, 4,
                      0x12 ^ 0x17, EDIT_REFUSED);
}

/* the ticket's kvno, right after its etype */
static void
test_attacker_edits_ticket_kvno(void **state)
{
    run_edited_ap_req(state, __func__, "\xa0\x03\x02\x01\x12\xa1\x03\x02\x01",
                      9, 8, 0x40, EDIT_REFUSED);
}

/* the ticket's sname: "host" -> "hpst" */
static void
test_attacker_edits_ticket_sname(void **state)
{
    run_edited_ap_req(state, __func__, "\x1b\x04host", 6, 3, 0x1f,
                      EDIT_IGNORED);
}

/* the ticket's realm: its first letter */
static void
test_attacker_edits_ticket_realm(void **state)
{
    const char *realm = realm_env("SPNEGO_TEST_REALM");

    run_edited_ap_req(state, __func__, realm, strlen(realm), 0, 0x01,
                      EDIT_IGNORED);
}

/* the krb5 OID of the token's RFC 2743 framing: 1.2.840.113554.1.2.2 ->
 * 1.2.840.113554.1.2.3 */
static void
test_attacker_edits_framing_oid(void **state)
{
    run_edited_ap_req(state, __func__,
                      "\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02", 11,
                      10, 0x01, EDIT_REFUSED);
}

/* A corrupted optimistic token is a sign of tampering: no fallback to
 * NTLM, or an attacker could steer both sides to the weaker mechanism. */
static void
test_corrupted_optimistic_token_no_fallback(void **state)
{
    struct eu_pair *p = pair_default(state, __func__);
    struct tamper t = tamper_at(1);

    t.flip_mech_token = 1;
    run_tampered(p, &t);
    eu_assert_no_completion(p, EU_A);
}

/* ---- draft section 7: a tampered mechanism list ---- */

/* NTLM (the initiator sends the last mechanism token): both fail. */
static void
test_tampered_list_ntlm_both_fail(void **state)
{
    struct eu_pair *p = pair_default(state, __func__);
    struct tamper t = tamper_at(1);

    t.mechs = "ntlmssp"; /* strip krb5 and its optimistic token */
    t.drop_mech_token = 1;
    run_tampered(p, &t);
    eu_assert_resp(p, 2, EU_ANY, "ntlmssp", EU_ANY, 0);
    eu_assert_status(p, EU_A, SPNEGO_DEFECTIVE_TOKEN);
    eu_assert_no_completion(p, EU_A);
    eu_assert_dead(p, EU_A, NULL, 0);
}

/* krb5 with mutual authentication (the acceptor sends last), the list
 * reordered so that krb5 comes first: the acceptor got the initiator's
 * (altered) first choice, so it asks for no MIC (RFC 4178 5; MIT, Samba)
 * and may complete with the initiator's genuine Kerberos authentication;
 * the initiator sees a counter-proposal, requires the acceptor's MIC and
 * refuses the AP-REP without one, so the exchange fails. */
static void
test_tampered_list_krb5_initiator_detects(void **state)
{
    struct eu_pair *p =
        eu_pair_new(__func__, "ntlmssp krb5", 0, "ntlmssp krb5", 0);
    struct tamper t = tamper_at(1);

    *state = p;
    t.mechs = "krb5 ntlmssp"; /* reorder, drop the NTLM token */
    t.drop_mech_token = 1;
    run_tampered(p, &t);
    eu_assert_resp(p, 2, NEG_STATE_ACCEPT_INCOMPLETE, "krb5", 0, 0);
    eu_assert_status(p, EU_I, SPNEGO_DEFECTIVE_TOKEN);
    assert_non_null(strstr(spnego_reason(p->ctx[EU_I]),
                           "mechListMIC required"));
    assert_false(spnego_ctx_complete(p->ctx[EU_I]));
}

/* ---- corrupted and missing MICs ---- */

static void
test_corrupted_initiator_mic_ntlm(void **state)
{
    struct eu_pair *p = pair_ntlm_only(state, __func__);
    struct tamper t = tamper_at(3);

    t.mic = MIC_FLIP;
    run_tampered(p, &t);
    eu_assert_status(p, EU_A, SPNEGO_DEFECTIVE_TOKEN);
    eu_assert_no_completion(p, EU_A);
    eu_assert_dead(p, EU_A, NULL, 0);
}

static void
test_corrupted_acceptor_mic_krb5(void **state)
{
    struct eu_pair *p = pair_counter_proposal(state, __func__);
    struct tamper t = tamper_at(4); /* the AP-REP with the acceptor's MIC */

    t.mic = MIC_FLIP;
    run_tampered(p, &t);
    eu_assert_status(p, EU_I, SPNEGO_DEFECTIVE_TOKEN);
    eu_assert_no_completion(p, EU_I);
    eu_assert_dead(p, EU_I, NULL, 0);
}

static void
test_missing_initiator_mic_ntlm(void **state)
{
    struct eu_pair *p = pair_ntlm_only(state, __func__);
    struct tamper t = tamper_at(3);

    t.mic = MIC_REMOVE; /* the AUTHENTICATE still carries its NTLM MIC */
    run_tampered(p, &t);
    assert_ntlm_auth_mic(p, 3, 1);
    eu_assert_status(p, EU_A, SPNEGO_DEFECTIVE_TOKEN);
    eu_assert_no_completion(p, EU_A);
}

static void
test_missing_initiator_mic_after_request_mic(void **state)
{
    struct eu_pair *p = pair_counter_proposal(state, __func__);
    struct tamper t = tamper_at(5);

    t.mic = MIC_REMOVE;
    run_tampered(p, &t);
    eu_assert_status(p, EU_A, SPNEGO_DEFECTIVE_TOKEN);
    assert_false(spnego_ctx_complete(p->ctx[EU_A]));
}

static void
test_missing_acceptor_mic_ntlm(void **state)
{
    struct eu_pair *p = pair_ntlm_only(state, __func__);
    struct tamper t = tamper_at(4);

    t.mic = MIC_REMOVE;
    run_tampered(p, &t);
    eu_assert_status(p, EU_I, SPNEGO_DEFECTIVE_TOKEN);
    assert_false(spnego_ctx_complete(p->ctx[EU_I]));
    eu_assert_dead(p, EU_I, NULL, 0);
}

static void
test_missing_acceptor_mic_after_request_mic(void **state)
{
    struct eu_pair *p = pair_counter_proposal(state, __func__);
    struct tamper t = tamper_at(4); /* the AP-REP with the acceptor's MIC */

    t.mic = MIC_REMOVE;
    run_tampered(p, &t);
    eu_assert_status(p, EU_I, SPNEGO_DEFECTIVE_TOKEN);
    eu_assert_no_completion(p, EU_I);
}

/* ---- unknown mechanisms in the offer ---- */

/* Spliced in transit: the MIC exchange the acceptor demands exposes it. */
static void
test_unknown_oids_spliced_in_transit(void **state)
{
    struct eu_pair *p = pair_default(state, __func__);
    struct tamper t = tamper_at(1);

    t.mechs = "1.2.3.4 negoex krb5 ntlmssp";
    run_tampered(p, &t);
    /* krb5 is chosen but is not the first offered: request-mic, and the
     * optimistic token (for 1.2.3.4 as far as the acceptor can tell) is
     * not used (draft 3.2 (c)). */
    eu_assert_resp(p, 2, NEG_STATE_REQUEST_MIC, "krb5", 0, EU_ANY);
    if (p->status[EU_I] == SPNEGO_COMPLETE ||
        p->status[EU_A] == SPNEGO_COMPLETE)
        fail_msg("a side completed over a spliced mechanism list");
}

/* A fresh acceptor's first reply to a forged offer without mechToken. */
static void
forged_offer(struct eu_pair *p, const char *mechs, int neg_state,
             const char *supported)
{
    struct negtoken t, r;
    uint8_t *in, *out = NULL;
    size_t in_len, out_len = 0;
    enum spnego_status st;
    der_err err;

    negtoken_init(&t);
    t.type = NEGTOKEN_INIT;
    t.framed = 1;
    eu_set_mechs(&t, mechs);
    in = eu_encode(&t, &in_len);
    spnego_ctx_free(p->ctx[EU_A]);
    p->ctx[EU_A] = NULL;
    st = eu_step(p, EU_A, in, in_len, &out, &out_len);
    free(in);
    print_message("# offer [%s] -> %s, %s\n", mechs, spnego_status_name(st),
                  spnego_reason(p->ctx[EU_A]));
    assert_int_equal(st, SPNEGO_CONTINUE_NEEDED);
    assert_non_null(out);
    assert_int_equal(negtoken_decode(out, out_len, NULL, &r, &err),
                     NEGTOKEN_OK);
    assert_string_equal(negtoken_state_name(r.neg_state),
                        negtoken_state_name((enum negtoken_state)neg_state));
    assert_true(r.has_supported_mech);
    assert_true(spnego_same_mech(r.supported_mech.data, r.supported_mech.len,
                                 eu_oid(supported).data,
                                 eu_oid(supported).len));
    assert_false(r.has_response_token);
    assert_false(r.has_mic);
    free(out);
}

static void
test_unknown_oids_skipped_when_choosing(void **state)
{
    struct eu_pair *p = eu_pair_alloc(__func__);

    *state = p;
    eu_pair_set_creds(p, EU_A, eu_creds(SPNEGO_ACCEPTOR, NULL, 0));
    forged_offer(p, "1.2.3.4 negoex krb5 ntlmssp", NEG_STATE_REQUEST_MIC,
                 "krb5");
    forged_offer(p, "krb5 1.2.3.4 ntlmssp", NEG_STATE_ACCEPT_INCOMPLETE,
                 "krb5");
    forged_offer(p, "1.2.3.4 iakerb ntlmssp", NEG_STATE_REQUEST_MIC,
                 "ntlmssp");
    forged_offer(p, "1.3.6.1.5.5.2 ntlmssp", NEG_STATE_REQUEST_MIC,
                 "ntlmssp");
}

/* ---- malformed acceptor replies (the initiator must reject) ---- */

static void
run_bad_reply(void **state, const char *name, const char *imechs,
              unsigned ienv, struct tamper *t)
{
    struct eu_pair *p = eu_pair_new(name, imechs, ienv, NULL, ienv);

    *state = p;
    run_tampered(p, t);
    eu_assert_status(p, EU_I, SPNEGO_DEFECTIVE_TOKEN);
    eu_assert_dead(p, EU_I, NULL, 0);
}

static void
test_initiator_rejects_supported_mech_not_offered(void **state)
{
    struct tamper t = tamper_at(2);

    t.supported = "ntlmssp"; /* it has NTLM credentials, but offered krb5 */
    run_bad_reply(state, __func__, "krb5", 0, &t);
}

static void
test_initiator_rejects_unknown_supported_mech(void **state)
{
    struct tamper t = tamper_at(2);

    t.supported = "1.2.3.4";
    run_bad_reply(state, __func__, NULL, 0, &t);
}

static void
test_initiator_rejects_supported_mech_in_later_reply(void **state)
{
    struct tamper t = tamper_at(4);

    t.supported = "ntlmssp";
    run_bad_reply(state, __func__, NULL, NO_KRB5, &t);
}

static void
test_initiator_rejects_request_mic_in_later_reply(void **state)
{
    struct tamper t = tamper_at(4);

    t.neg_state = NEG_STATE_REQUEST_MIC;
    run_bad_reply(state, __func__, NULL, NO_KRB5, &t);
}

static void
test_initiator_rejects_first_reply_without_neg_state(void **state)
{
    struct tamper t = tamper_at(2);

    t.neg_state = NEG_STATE_ABSENT;
    run_bad_reply(state, __func__, NULL, 0, &t);
}

/* ---- tokens in the wrong state ---- */

static const uint8_t resp_token[] = { /* accept-completed, krb5 */
    0xa1, 0x14, 0x30, 0x12, 0xa0, 0x03, 0x0a, 0x01, 0x00, 0xa1, 0x0b, 0x06,
    0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02
};

static enum spnego_status
step_by_hand(struct eu_pair *p, enum eu_side side, const uint8_t *in,
             size_t in_len, uint8_t **out, size_t *out_len)
{
    enum spnego_status st = eu_step(p, side, in, in_len, out, out_len);

    p->stepped[side]++;
    p->status[side] = st;
    print_message("# %s step %d: %s (%s)\n", side == EU_I ? "I" : "A",
                  p->stepped[side], spnego_status_name(st),
                  spnego_reason(p->ctx[side]));
    return st;
}

static void
test_acceptor_rejects_resp_as_first_token(void **state)
{
    struct eu_pair *p = pair_default(state, __func__);
    uint8_t *init = NULL, *out = NULL;
    size_t init_len = 0, out_len = 0;

    assert_int_equal(step_by_hand(p, EU_A, resp_token, sizeof(resp_token),
                                  &out, &out_len),
                     SPNEGO_DEFECTIVE_TOKEN);
    free(out);
    assert_int_equal(step_by_hand(p, EU_I, NULL, 0, &init, &init_len),
                     SPNEGO_CONTINUE_NEEDED);
    eu_assert_dead(p, EU_A, init, init_len); /* a good token now fails */
    free(init);
}

static void
test_initiator_rejects_init_as_later_token(void **state)
{
    struct eu_pair *p = pair_default(state, __func__);
    uint8_t *init = NULL, *out = NULL;
    size_t init_len = 0, out_len = 0;

    assert_int_equal(step_by_hand(p, EU_I, NULL, 0, &init, &init_len),
                     SPNEGO_CONTINUE_NEEDED);
    assert_int_equal(step_by_hand(p, EU_I, init, init_len, &out, &out_len),
                     SPNEGO_DEFECTIVE_TOKEN);
    free(out);
    free(init);
    eu_assert_dead(p, EU_I, resp_token, sizeof(resp_token));
}

static void
test_acceptor_rejects_init_as_later_token(void **state)
{
    struct eu_pair *p = pair_ntlm_only(state, __func__);
    uint8_t *t1 = NULL, *t2 = NULL, *t3 = NULL, *out = NULL;
    size_t l1 = 0, l2 = 0, l3 = 0, out_len = 0;

    assert_int_equal(step_by_hand(p, EU_I, NULL, 0, &t1, &l1),
                     SPNEGO_CONTINUE_NEEDED);
    assert_int_equal(step_by_hand(p, EU_A, t1, l1, &t2, &l2),
                     SPNEGO_CONTINUE_NEEDED);
    assert_int_equal(step_by_hand(p, EU_I, t2, l2, &t3, &l3),
                     SPNEGO_CONTINUE_NEEDED);
    assert_int_equal(step_by_hand(p, EU_A, t1, l1, &out, &out_len),
                     SPNEGO_DEFECTIVE_TOKEN);
    free(out);
    eu_assert_dead(p, EU_A, t3, l3);
    free(t1);
    free(t2);
    free(t3);
}

static void
test_empty_tokens_rejected(void **state)
{
    struct eu_pair *p = pair_ntlm_only(state, __func__);
    static const uint8_t nothing[1];
    uint8_t *t1 = NULL, *out = NULL;
    size_t l1 = 0, out_len = 0;

    assert_int_equal(step_by_hand(p, EU_I, NULL, 0, &t1, &l1),
                     SPNEGO_CONTINUE_NEEDED);
    assert_int_equal(step_by_hand(p, EU_I, nothing, 0, &out, &out_len),
                     SPNEGO_DEFECTIVE_TOKEN);
    free(out);
    out = NULL;
    assert_int_equal(step_by_hand(p, EU_A, nothing, 0, &out, &out_len),
                     SPNEGO_DEFECTIVE_TOKEN);
    free(out);
    free(t1);
}

/* ---- the optimistic mechanism fails on the initiator ---- */

static void
test_optimistic_failure_drops_mech_before_sending(void **state)
{
    struct eu_pair *p = eu_pair_new(__func__, "krb5 ntlmssp", 0, NULL, 0);

    *state = p;
    set_target(p, "nosuch"); /* no such service principal in the KDC */
    eu_run(p);
    eu_assert_init(p, 1, "ntlmssp", 1, 0);
    assert_true(eu_trace_has(p, EU_I, SPNEGO_EV_DROPPED, "krb5"));
    /* ntlmssp is the first offered (not the acceptor's favourite: no
     * request-mic); the MICs come from NTLM's AUTHENTICATE MIC. */
    eu_assert_resp(p, 2, NEG_STATE_ACCEPT_INCOMPLETE, "ntlmssp", 1, 0);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
    eu_assert_mics(p, 1, 1, 1, 1);
}

/* ---- channel bindings ---- */

static struct gss_channel_bindings_struct cb_one, cb_two;

static void
init_bindings(void)
{
    static char one[] = "tls-server-end-point:0123456789abcdef";
    static char two[] = "tls-server-end-point:fedcba9876543210";

    memset(&cb_one, 0, sizeof(cb_one));
    memset(&cb_two, 0, sizeof(cb_two));
    cb_one.application_data.value = one;
    cb_one.application_data.length = sizeof(one) - 1;
    cb_two.application_data.value = two;
    cb_two.application_data.length = sizeof(two) - 1;
}

static void
test_channel_bindings_match_krb5(void **state)
{
    struct eu_pair *p = pair_default(state, __func__);

    p->cfg[EU_I].cb = &cb_one;
    p->cfg[EU_A].cb = &cb_one;
    eu_run(p);
    eu_assert_complete(p, "krb5", krb5_peer);
    assert_true(eu_flags(p, EU_A) & GSS_C_CHANNEL_BOUND_FLAG);
}

static void
test_channel_bindings_mismatch_krb5(void **state)
{
    struct eu_pair *p = eu_pair_new(__func__, "krb5", 0, "krb5", 0);

    *state = p;
    p->cfg[EU_I].cb = &cb_one;
    p->cfg[EU_A].cb = &cb_two;
    eu_run(p);
    eu_assert_no_completion(p, EU_A);
}

static void
test_channel_bindings_match_ntlm(void **state)
{
    struct eu_pair *p = pair_ntlm_only(state, __func__);

    p->cfg[EU_I].cb = &cb_one;
    p->cfg[EU_A].cb = &cb_one;
    eu_run(p);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
    assert_true(eu_flags(p, EU_A) & GSS_C_CHANNEL_BOUND_FLAG);
}

/* gss-ntlmssp 1.2.0 checks the MsvAvChannelBindings hash: the acceptor
 * fails on the AUTHENTICATE message. */
static void
test_channel_bindings_mismatch_ntlm(void **state)
{
    struct eu_pair *p = pair_ntlm_only(state, __func__);

    p->cfg[EU_I].cb = &cb_one;
    p->cfg[EU_A].cb = &cb_two;
    eu_run(p);
    assert_true(eu_tokens(p) >= 3); /* it failed on the AUTHENTICATE */
    eu_assert_no_completion(p, EU_A);
}

/* ---- request flags are the caller's ---- */

static void
test_req_flags_zero_krb5_no_conf(void **state)
{
    struct eu_pair *p = pair_default(state, __func__);

    p->cfg[EU_I].req_flags = 0;
    eu_run(p);
    assert_int_equal(eu_tokens(p), 2);
    eu_assert_complete(p, "krb5", krb5_peer);
    assert_no_conf(p);
}

static void
test_req_flags_integ_conf_krb5(void **state)
{
    struct eu_pair *p = pair_default(state, __func__);

    p->cfg[EU_I].req_flags = GSS_C_MUTUAL_FLAG | INTEG_CONF;
    eu_run(p);
    eu_assert_complete(p, "krb5", krb5_peer);
    assert_int_equal(eu_flags(p, EU_I) & INTEG_CONF, INTEG_CONF);
    assert_int_equal(eu_flags(p, EU_A) & INTEG_CONF, INTEG_CONF);
}

/* Without SIGN/SEAL gss-ntlmssp adds no NTLM MIC, so nothing makes the
 * mechListMIC mandatory and the AUTO policy sends none. */
static void
test_req_flags_zero_ntlm_no_conf(void **state)
{
    struct eu_pair *p = pair_ntlm_only(state, __func__);

    p->cfg[EU_I].req_flags = 0;
    eu_run(p);
    assert_int_equal(eu_tokens(p), 4);
    assert_ntlm_auth_mic(p, 3, 0);
    eu_assert_resp(p, 3, EU_ANY, NULL, 1, 0);
    eu_assert_resp(p, 4, NEG_STATE_ACCEPT_COMPLETED, NULL, 0, 0);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
    eu_assert_mics(p, 0, 0, 0, 0);
    assert_no_conf(p);
}

static void
test_req_flags_integ_conf_ntlm(void **state)
{
    struct eu_pair *p = pair_ntlm_only(state, __func__);

    p->cfg[EU_I].req_flags = INTEG_CONF;
    eu_run(p);
    assert_ntlm_only_flow(p);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
    assert_int_equal(eu_flags(p, EU_I) & INTEG_CONF, INTEG_CONF);
    assert_int_equal(eu_flags(p, EU_A) & INTEG_CONF, INTEG_CONF);
}

/* A counter-proposed mechanism whose context has no integrity cannot
 * protect the negotiation: the initiator refuses before it sends the
 * token that authenticates it (POLICY.md I3). */
static void
assert_refused_unprotected(struct eu_pair *p)
{
    eu_assert_resp(p, 2, NEG_STATE_REQUEST_MIC, "*", 0, 0);
    assert_int_equal(eu_tokens(p), 2);
    eu_assert_status(p, EU_I, SPNEGO_DEFECTIVE_TOKEN);
    assert_non_null(strstr(spnego_reason(p->ctx[EU_I]),
                           "cannot protect the negotiation"));
    assert_false(spnego_ctx_complete(p->ctx[EU_I]));
    assert_false(spnego_ctx_complete(p->ctx[EU_A]));
}

static void
test_counter_proposal_without_integ_krb5_refused(void **state)
{
    struct eu_pair *p = pair_counter_proposal(state, __func__);

    p->cfg[EU_I].req_flags = GSS_C_MUTUAL_FLAG;
    eu_run(p);
    assert_refused_unprotected(p); /* no AP-REQ was sent */
}

static void
test_counter_proposal_without_integ_ntlm_refused(void **state)
{
    struct eu_pair *p = pair_explicit_ntlm(state, __func__);

    p->cfg[EU_I].req_flags = 0;
    eu_run(p);
    assert_refused_unprotected(p); /* not even the NEGOTIATE */
}

/* Inside TLS (external SSF > 0) there is nothing for a MIC to add: a
 * context without integrity completes without one, in both directions. */
static void
test_counter_proposal_without_integ_krb5_inside_tls(void **state)
{
    struct eu_pair *p = pair_counter_proposal(state, __func__);

    p->cfg[EU_I].req_flags = GSS_C_MUTUAL_FLAG;
    p->cfg[EU_I].outer_protection = 1;
    p->cfg[EU_A].outer_protection = 1;
    eu_run(p);
    eu_assert_resp(p, 2, NEG_STATE_REQUEST_MIC, "krb5", 0, 0);
    eu_assert_complete(p, "krb5", krb5_peer);
    eu_assert_mics(p, 0, 0, 0, 0);
    assert_no_conf(p);
}

static void
test_counter_proposal_without_integ_ntlm_inside_tls(void **state)
{
    struct eu_pair *p = pair_explicit_ntlm(state, __func__);

    p->cfg[EU_I].req_flags = 0;
    p->cfg[EU_I].outer_protection = 1;
    p->cfg[EU_A].outer_protection = 1;
    eu_run(p);
    eu_assert_resp(p, 2, NEG_STATE_REQUEST_MIC, "ntlmssp", 0, 0);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
    eu_assert_mics(p, 0, 0, 0, 0);
    assert_no_conf(p);
}

/* Only one side inside TLS: the other refuses (the acceptor here, at its
 * conclusion: the initiator thought the exchange was protected). */
static void
test_counter_proposal_without_integ_acceptor_outside_tls(void **state)
{
    struct eu_pair *p = pair_explicit_ntlm(state, __func__);

    p->cfg[EU_I].req_flags = 0;
    p->cfg[EU_I].outer_protection = 1;
    eu_run(p);
    eu_assert_status(p, EU_A, SPNEGO_DEFECTIVE_TOKEN);
    assert_non_null(strstr(spnego_reason(p->ctx[EU_A]),
                           "cannot protect the negotiation"));
    assert_false(spnego_ctx_complete(p->ctx[EU_A]));
}

/* A mechListMIC over a context without integrity is ignored (MIT, Samba):
 * some NTLM clients sign one with keys the context never negotiated. */
static void
test_mic_over_context_without_integ_ignored(void **state)
{
    struct eu_pair *p = pair_ntlm_only(state, __func__);
    struct tamper t = tamper_at(3); /* the AUTHENTICATE */

    p->cfg[EU_I].req_flags = 0;
    t.mic = MIC_ADD;
    run_tampered(p, &t);
    eu_assert_resp(p, 3, EU_ANY, NULL, 1, 1);
    eu_assert_resp(p, 4, NEG_STATE_ACCEPT_COMPLETED, NULL, 0, 0);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
    assert_false(spnego_ctx_mic_verified(p->ctx[EU_A]));
    assert_true(eu_trace_has(p, EU_A, SPNEGO_EV_MIC_SKIPPED,
                             "no integrity protection"));
}

/* The application requires mutual authentication: NTLM without signing
 * cannot prove the acceptor (POLICY.md I5). */
static void
test_ntlm_without_integ_mutual_required_refused(void **state)
{
    struct eu_pair *p = pair_ntlm_only(state, __func__);

    p->cfg[EU_I].req_flags = GSS_C_MUTUAL_FLAG;
    p->cfg[EU_I].mutual_required = 1;
    eu_run(p);
    assert_int_equal(eu_tokens(p), 2); /* no AUTHENTICATE sent */
    eu_assert_status(p, EU_I, SPNEGO_DEFECTIVE_TOKEN);
    assert_non_null(strstr(spnego_reason(p->ctx[EU_I]),
                           "mutual authentication is required"));
}

/* ---- MIC policy ---- */

static void
test_mic_always_acceptor_krb5_mutual(void **state)
{
    struct eu_pair *p = pair_default(state, __func__);

    p->cfg[EU_A].mic_policy = SPNEGO_MIC_ALWAYS;
    eu_run(p);
    assert_int_equal(eu_tokens(p), 3);
    eu_assert_resp(p, 2, NEG_STATE_ACCEPT_INCOMPLETE, "krb5", 1, 1);
    assert_int_equal(p->legs[1].status, SPNEGO_CONTINUE_NEEDED);
    eu_assert_resp(p, 3, NEG_STATE_ACCEPT_COMPLETED, NULL, 0, 1);
    eu_assert_complete(p, "krb5", krb5_peer);
    eu_assert_mics(p, 1, 1, 1, 1);
}

/* NTLM without signing (no GSS_C_INTEG_FLAG): no mechListMIC even when
 * the policy says always, as MIT and Samba (RFC 4178 section 5). */
static void
test_mic_always_initiator_ntlm_without_integ(void **state)
{
    struct eu_pair *p = pair_ntlm_only(state, __func__);

    p->cfg[EU_I].req_flags = 0;
    p->cfg[EU_I].mic_policy = SPNEGO_MIC_ALWAYS;
    p->cfg[EU_A].mic_policy = SPNEGO_MIC_ALWAYS;
    eu_run(p);
    assert_int_equal(eu_tokens(p), 4);
    eu_assert_resp(p, 3, EU_ANY, NULL, 1, 0);
    eu_assert_resp(p, 4, NEG_STATE_ACCEPT_COMPLETED, NULL, 0, 0);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
    eu_assert_mics(p, 0, 0, 0, 0);
    assert_int_equal(eu_flags(p, EU_I) & GSS_C_INTEG_FLAG, 0);
    assert_int_equal(eu_flags(p, EU_A) & GSS_C_INTEG_FLAG, 0);
}

/* ---- trace ---- */

static void
test_trace_reports_offer_choice_and_mics(void **state)
{
    struct eu_pair *p = pair_counter_proposal(state, __func__);

    eu_run(p);
    eu_assert_complete(p, "krb5", krb5_peer);
    assert_true(eu_trace_has(p, EU_I, SPNEGO_EV_OFFERED, "ntlmssp"));
    assert_true(eu_trace_has(p, EU_I, SPNEGO_EV_OFFERED, "krb5"));
    assert_true(eu_trace_has(p, EU_A, SPNEGO_EV_OFFERED, "ntlmssp"));
    assert_true(eu_trace_has(p, EU_A, SPNEGO_EV_CHOSEN, "krb5"));
    assert_true(eu_trace_has(p, EU_I, SPNEGO_EV_CHOSEN, "krb5"));
    assert_true(eu_trace_has(p, EU_A, SPNEGO_EV_MIC_REQUIRED, NULL));
    assert_true(eu_trace_has(p, EU_I, SPNEGO_EV_MIC_REQUIRED, NULL));
    assert_true(eu_trace_has(p, EU_I, SPNEGO_EV_MIC_SENT, NULL));
    assert_true(eu_trace_has(p, EU_I, SPNEGO_EV_MIC_VERIFIED, NULL));
    assert_true(eu_trace_has(p, EU_A, SPNEGO_EV_MIC_SENT, NULL));
    assert_true(eu_trace_has(p, EU_A, SPNEGO_EV_MIC_VERIFIED, NULL));
}

/* ---- initiator credentials from a password ---- */

static struct eu_pair *
pair_password(void **state, const char *name, const char *mechs,
              const char *user)
{
    const char *password = getenv("SPNEGO_TEST_PASSWORD");
    struct eu_pair *p = eu_pair_alloc(name);

    *state = p;
    /* No ccache, client keytab or NTLM user file: only the password. */
    eu_pair_set_creds(p, EU_I,
                      eu_creds_password(mechs, NO_KRB5 | EU_ENV_NO_NTLM,
                                        user, password ? password
                                                       : "alice-pw"));
    eu_pair_set_creds(p, EU_A, eu_creds(SPNEGO_ACCEPTOR, NULL, 0));
    return p;
}

static void
test_password_initiator_krb5(void **state)
{
    struct eu_pair *p = pair_password(state, __func__, NULL, "alice");

    eu_run(p);
    eu_assert_init(p, 1, "krb5 ntlmssp", 1, 0);
    eu_assert_complete(p, "krb5", krb5_peer);
}

static void
test_password_initiator_ntlm(void **state)
{
    struct eu_pair *p =
        pair_password(state, __func__, "ntlmssp", "alice@SPNEGO");

    eu_run(p);
    eu_assert_init(p, 1, "ntlmssp", 1, 0);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
}

/* ---- the scripted mechanism ---- */

static struct scripted_mech sm_a, sm_b;

static struct eu_pair *
pair_scripted(void **state, const char *name, const struct scripted_mech *i1,
              const struct scripted_mech *i2, const struct scripted_mech *a1,
              const struct scripted_mech *a2)
{
    struct eu_pair *p = eu_pair_alloc(name);
    struct spnego_creds *ic = spnego_creds_new(SPNEGO_INITIATOR);
    struct spnego_creds *ac = spnego_creds_new(SPNEGO_ACCEPTOR);

    *state = p;
    assert_non_null(ic);
    assert_non_null(ac);
    eu_pair_set_creds(p, EU_I, ic);
    eu_pair_set_creds(p, EU_A, ac);
    scripted_add(ic, i1);
    if (i2)
        scripted_add(ic, i2);
    scripted_add(ac, a1);
    if (a2)
        scripted_add(ac, a2);
    return p;
}

static void
assert_scripted_complete(const struct eu_pair *p,
                         const struct scripted_mech *sm)
{
    char *peer;

    eu_assert_status(p, EU_I, SPNEGO_COMPLETE);
    eu_assert_status(p, EU_A, SPNEGO_COMPLETE);
    assert_string_equal(spnego_ctx_mech(p->ctx[EU_I])->name, sm->name);
    assert_string_equal(spnego_ctx_mech(p->ctx[EU_A])->name, sm->name);
    assert_true(scripted_ctx_complete(spnego_ctx_gss(p->ctx[EU_I])));
    assert_true(scripted_ctx_complete(spnego_ctx_gss(p->ctx[EU_A])));
    assert_true(spnego_ctx_peer_name(p->ctx[EU_A]) != GSS_C_NO_NAME);
    peer = eu_name_text(spnego_ctx_peer_name(p->ctx[EU_A]));
    assert_string_equal(peer, SCRIPTED_PEER);
    free(peer);
}

static void
test_scripted_three_legs(void **state)
{
    struct eu_pair *p;

    scripted_reset();
    assert_true(scripted_mech_init(&sm_a, 1, 3, 0));
    p = pair_scripted(state, __func__, &sm_a, NULL, &sm_a, NULL);
    eu_run(p);
    assert_int_equal(eu_tokens(p), 4);
    eu_assert_init(p, 1, "1.3.6.1.4.1.99999.1", 1, 0);
    eu_assert_resp(p, 2, NEG_STATE_ACCEPT_INCOMPLETE, "1.3.6.1.4.1.99999.1",
                   1, 0);
    eu_assert_resp(p, 3, EU_ANY, NULL, 1, 0);
    eu_assert_resp(p, 4, NEG_STATE_ACCEPT_COMPLETED, NULL, 0, 0);
    assert_scripted_complete(p, &sm_a);
    eu_assert_mics(p, 0, 0, 0, 0);
}

static void
test_scripted_one_leg(void **state)
{
    struct eu_pair *p;

    scripted_reset();
    assert_true(scripted_mech_init(&sm_a, 1, 1, 1));
    p = pair_scripted(state, __func__, &sm_a, NULL, &sm_a, NULL);
    eu_run(p);
    assert_int_equal(eu_tokens(p), 2);
    eu_assert_resp(p, 2, NEG_STATE_ACCEPT_COMPLETED, "1.3.6.1.4.1.99999.1",
                   0, 0);
    assert_scripted_complete(p, &sm_a);
}

/* An application that requires channel binding: the initiator offers only
 * the mechanisms known to carry the bindings to the acceptor, and none
 * when no mechanism can. */
static void
test_scripted_cb_required_offers_binding_mechs(void **state)
{
    struct eu_pair *p;

    scripted_reset();
    assert_true(scripted_mech_init(&sm_a, 1, 2, 1));
    assert_true(scripted_mech_init(&sm_b, 2, 2, 1));
    sm_a.mech.bindings = 0;
    p = pair_scripted(state, __func__, &sm_a, &sm_b, &sm_a, &sm_b);
    p->cfg[EU_I].cb_required = 1;
    eu_run(p);
    eu_assert_init(p, 1, "1.3.6.1.4.1.99999.2", 1, 0);
    assert_scripted_complete(p, &sm_b);
}

static void
test_scripted_cb_required_without_binding_mech_fails(void **state)
{
    struct eu_pair *p;

    scripted_reset();
    assert_true(scripted_mech_init(&sm_a, 1, 2, 1));
    sm_a.mech.bindings = 0;
    p = pair_scripted(state, __func__, &sm_a, NULL, &sm_a, NULL);
    p->cfg[EU_I].cb_required = 1;
    eu_run(p);
    eu_assert_status(p, EU_I, SPNEGO_FAILURE);
    assert_int_equal(eu_tokens(p), 0);
    assert_non_null(strstr(spnego_reason(p->ctx[EU_I]),
                           "cannot carry the required channel bindings"));
}

/* Draft section 5, first paragraph: a mechanism without integrity uses no
 * mechListMIC, even after request-mic; it was not the initiator's first
 * choice, so only inside TLS may it complete. */
static struct eu_pair *
pair_scripted_no_integrity(void **state, const char *name)
{
    scripted_reset();
    assert_true(scripted_mech_init(&sm_a, 1, 3, 0));
    assert_true(scripted_mech_init(&sm_b, 2, 2, 1));
    return pair_scripted(state, name, &sm_b, &sm_a, &sm_a, NULL);
}

static void
test_scripted_no_integrity_not_first_refused(void **state)
{
    struct eu_pair *p = pair_scripted_no_integrity(state, __func__);

    eu_run(p);
    assert_int_equal(eu_tokens(p), 2);
    eu_assert_resp(p, 2, NEG_STATE_REQUEST_MIC, "1.3.6.1.4.1.99999.1", 0,
                   0);
    eu_assert_status(p, EU_I, SPNEGO_DEFECTIVE_TOKEN);
    assert_non_null(strstr(spnego_reason(p->ctx[EU_I]),
                           "cannot protect the negotiation"));
    assert_int_equal(scripted_stats.get_mic_calls, 0);
}

static void
test_scripted_no_integrity_skips_mic_after_request_mic(void **state)
{
    struct eu_pair *p = pair_scripted_no_integrity(state, __func__);

    p->cfg[EU_I].outer_protection = 1;
    p->cfg[EU_A].outer_protection = 1;
    eu_run(p);
    assert_int_equal(eu_tokens(p), 6);
    eu_assert_init(p, 1, "1.3.6.1.4.1.99999.2 1.3.6.1.4.1.99999.1", 1, 0);
    eu_assert_resp(p, 2, NEG_STATE_REQUEST_MIC, "1.3.6.1.4.1.99999.1", 0,
                   0);
    eu_assert_resp(p, 5, EU_ANY, NULL, 1, 0);
    eu_assert_resp(p, 6, NEG_STATE_ACCEPT_COMPLETED, NULL, 0, 0);
    assert_scripted_complete(p, &sm_a);
    eu_assert_mics(p, 0, 0, 0, 0);
    assert_int_equal(scripted_stats.get_mic_calls, 0);
    assert_int_equal(scripted_stats.verify_mic_calls, 0);
    assert_true(eu_trace_has(p, EU_I, SPNEGO_EV_MIC_SKIPPED, NULL));
    assert_true(eu_trace_has(p, EU_A, SPNEGO_EV_MIC_SKIPPED, NULL));
}

/* Two scripted mechanisms offered; the acceptor's first refuses the
 * optimistic token.  Runs the exchange. */
static struct eu_pair *
run_scripted_accept_failure(void **state, const char *name,
                            int keytab_fallback)
{
    struct eu_pair *p;

    scripted_reset();
    assert_true(scripted_mech_init(&sm_a, 1, 2, 1));
    assert_true(scripted_mech_init(&sm_b, 2, 2, 1));
    sm_a.fail_accept_leg = 1;
    p = pair_scripted(state, name, &sm_a, &sm_b, &sm_a, &sm_b);
    p->cfg[EU_A].keytab_fallback = keytab_fallback;
    eu_run(p);
    return p;
}

/* The acceptor's mechanism refuses the optimistic token: the exchange
 * ends; the next offered mechanism is never tried. */
static void
test_scripted_optimistic_accept_failure_rejects(void **state)
{
    struct eu_pair *p = run_scripted_accept_failure(state, __func__, 0);

    eu_assert_no_completion(p, EU_A);
    assert_int_equal(scripted_stats.contexts_created,
                     scripted_stats.contexts_deleted + 1);
}

/* With keytab_fallback on, the acceptor falls back to the next offered
 * mechanism with request-mic. */
static void
test_scripted_optimistic_accept_failure_falls_back(void **state)
{
    struct eu_pair *p = run_scripted_accept_failure(state, __func__, 1);

    assert_int_equal(eu_tokens(p), 5);
    eu_assert_resp(p, 2, NEG_STATE_REQUEST_MIC, "1.3.6.1.4.1.99999.2", 0,
                   0);
    eu_assert_resp(p, 3, EU_ANY, NULL, 1, 0);
    eu_assert_resp(p, 4, NEG_STATE_ACCEPT_INCOMPLETE, NULL, 1, 1);
    eu_assert_resp(p, 5, NEG_STATE_ACCEPT_COMPLETED, NULL, 0, 1);
    assert_scripted_complete(p, &sm_b);
    eu_assert_mics(p, 1, 1, 1, 1);
    assert_int_equal(scripted_stats.contexts_created,
                     scripted_stats.contexts_deleted + 2);
}

/* The initiator cannot make the optimistic token: that mechanism is not
 * offered at all. */
static void
test_scripted_optimistic_init_failure_drops_mech(void **state)
{
    struct eu_pair *p;

    scripted_reset();
    assert_true(scripted_mech_init(&sm_a, 1, 2, 1));
    assert_true(scripted_mech_init(&sm_b, 2, 2, 1));
    sm_a.fail_init_leg = 1;
    p = pair_scripted(state, __func__, &sm_a, &sm_b, &sm_a, &sm_b);
    eu_run(p);
    assert_int_equal(eu_tokens(p), 2);
    eu_assert_init(p, 1, "1.3.6.1.4.1.99999.2", 1, 0);
    assert_true(eu_trace_has(p, EU_I, SPNEGO_EV_DROPPED, NULL));
    /* the first offered (not the acceptor's favourite: no request-mic,
     * nothing for a MIC to protect) */
    eu_assert_resp(p, 2, NEG_STATE_ACCEPT_COMPLETED, "1.3.6.1.4.1.99999.2",
                   1, 0);
    assert_scripted_complete(p, &sm_b);
}

/* ---- main ---- */

static int
setup_names(void **state)
{
    const char *user = getenv("SPNEGO_TEST_USER");
    const char *realm = getenv("SPNEGO_TEST_REALM");
    const char *domain = getenv("SPNEGO_TEST_NTLM_DOMAIN");

    (void)state;
    snprintf(krb5_peer, sizeof(krb5_peer), "%s@%s", user ? user : "alice",
             realm ? realm : "SPNEGO.TEST");
    snprintf(ntlm_peer, sizeof(ntlm_peer), "%s\\%s",
             domain ? domain : "SPNEGO", user ? user : "alice");
    init_bindings();
    return 0;
}

#define T(f) cmocka_unit_test_teardown(f, eu_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_krb5_optimistic_mutual_one_round_trip),
        T(test_krb5_without_mutual_single_token),
        T(test_ms_krb5_first_offer_echoed),
        T(test_initiator_accepts_krb5_oid_for_ms_krb5_offer),
        T(test_initiator_accepts_ms_krb5_oid_for_krb5_offer),
        T(test_ntlm_only_three_legs_with_mics),
        T(test_counter_proposal_initiator_prefers_ntlm),
        T(test_initiator_first_not_acceptor_favourite),
        T(test_acceptor_explicit_order_prefers_own),
        T(test_no_common_mechanism_rejected),
        T(test_acceptor_without_ticket_key_does_not_fall_back),
        T(test_acceptor_keytab_fallback_opt_in),
        T(test_attacker_edits_ticket_etype),
        T(test_attacker_edits_ticket_kvno),
        T(test_attacker_edits_ticket_sname),
        T(test_attacker_edits_ticket_realm),
        T(test_attacker_edits_framing_oid),
        T(test_corrupted_optimistic_token_no_fallback),
        T(test_tampered_list_ntlm_both_fail),
        T(test_tampered_list_krb5_initiator_detects),
        T(test_corrupted_initiator_mic_ntlm),
        T(test_corrupted_acceptor_mic_krb5),
        T(test_missing_initiator_mic_ntlm),
        T(test_missing_initiator_mic_after_request_mic),
        T(test_missing_acceptor_mic_ntlm),
        T(test_missing_acceptor_mic_after_request_mic),
        T(test_unknown_oids_spliced_in_transit),
        T(test_unknown_oids_skipped_when_choosing),
        T(test_initiator_rejects_supported_mech_not_offered),
        T(test_initiator_rejects_unknown_supported_mech),
        T(test_initiator_rejects_supported_mech_in_later_reply),
        T(test_initiator_rejects_request_mic_in_later_reply),
        T(test_initiator_rejects_first_reply_without_neg_state),
        T(test_acceptor_rejects_resp_as_first_token),
        T(test_initiator_rejects_init_as_later_token),
        T(test_acceptor_rejects_init_as_later_token),
        T(test_empty_tokens_rejected),
        T(test_optimistic_failure_drops_mech_before_sending),
        T(test_channel_bindings_match_krb5),
        T(test_channel_bindings_mismatch_krb5),
        T(test_channel_bindings_match_ntlm),
        T(test_channel_bindings_mismatch_ntlm),
        T(test_req_flags_zero_krb5_no_conf),
        T(test_req_flags_integ_conf_krb5),
        T(test_req_flags_zero_ntlm_no_conf),
        T(test_req_flags_integ_conf_ntlm),
        T(test_counter_proposal_without_integ_krb5_refused),
        T(test_counter_proposal_without_integ_ntlm_refused),
        T(test_counter_proposal_without_integ_krb5_inside_tls),
        T(test_counter_proposal_without_integ_ntlm_inside_tls),
        T(test_counter_proposal_without_integ_acceptor_outside_tls),
        T(test_ntlm_without_integ_mutual_required_refused),
        T(test_mic_over_context_without_integ_ignored),
        T(test_mic_always_acceptor_krb5_mutual),
        T(test_mic_always_initiator_ntlm_without_integ),
        T(test_trace_reports_offer_choice_and_mics),
        T(test_password_initiator_krb5),
        T(test_password_initiator_ntlm),
        T(test_scripted_three_legs),
        T(test_scripted_one_leg),
        T(test_scripted_cb_required_offers_binding_mechs),
        T(test_scripted_cb_required_without_binding_mech_fails),
        T(test_scripted_no_integrity_not_first_refused),
        T(test_scripted_no_integrity_skips_mic_after_request_mic),
        T(test_scripted_optimistic_accept_failure_rejects),
        T(test_scripted_optimistic_accept_failure_falls_back),
        T(test_scripted_optimistic_init_failure_drops_mech),
    };

    if (getenv("SPNEGO_TEST_HOST") == NULL) {
        fprintf(stderr, "test-engine: run under tests/fixture/with-krb5 "
                        "(skipped)\n");
        return 77;
    }
    return cmocka_run_group_tests_name("engine", tests, setup_names, NULL);
}
