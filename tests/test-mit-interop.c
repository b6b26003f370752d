/*
 * test-mit-interop.c - our SPNEGO engine against MIT krb5's own SPNEGO
 * (mechanism 1.3.6.1.5.5.2 through plain gss_init_sec_context and
 * gss_accept_sec_context), in both roles, over Kerberos and NTLM, in a
 * throwaway realm (run under tests/fixture/with-krb5).
 *
 * MIT's peer is not written here, so these tests assert what must hold
 * whatever MIT decides on its side (request-mic, MICs, negState): both
 * sides complete with the same mechanism, the acceptor sees the right
 * peer, and messages wrapped by our spnego_ctx_gss() unwrap with MIT's
 * SPNEGO context and the other way round.  The transcripts show what MIT
 * did.
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
#include "engine.h"
#include "mechs.h"
#include "negtoken.h"

static char krb5_peer[128];
static char ntlm_peer[128];

/* Our initiator (credentials from mechs/env) against MIT's acceptor whose
 * SPNEGO credentials are restricted to amechs (NULL: all). */
static struct eu_pair *
ours_to_mit(void **state, const char *name, const char *imechs,
            unsigned ienv, const char *amechs)
{
    struct eu_pair *p = eu_pair_alloc(name);

    *state = p;
    eu_pair_set_creds(p, EU_I, eu_creds(SPNEGO_INITIATOR, imechs, ienv));
    eu_pair_set_mit(p, EU_A, eu_mit_creds(GSS_C_ACCEPT, 0, amechs));
    return p;
}

/* MIT's initiator with SPNEGO credentials acquired under ienv against our
 * acceptor. */
static struct eu_pair *
mit_to_ours(void **state, const char *name, unsigned ienv,
            const char *amechs)
{
    struct eu_pair *p = eu_pair_alloc(name);

    *state = p;
    eu_pair_set_mit(p, EU_I, eu_mit_creds(GSS_C_INITIATE, ienv, NULL));
    eu_pair_set_creds(p, EU_A, eu_creds(SPNEGO_ACCEPTOR, amechs, 0));
    return p;
}

/* Token 1 lists exactly `mechs` (MIT's initiator lists what it has
 * credentials for). */
static void
assert_offer(const struct eu_pair *p, const char *mechs)
{
    eu_assert_init(p, 1, mechs, 1, EU_ANY);
}

/* ---- our initiator, MIT's acceptor ---- */

static void
test_ours_to_mit_krb5(void **state)
{
    struct eu_pair *p = ours_to_mit(state, __func__, NULL, 0, NULL);

    eu_run(p);
    assert_offer(p, "krb5 ntlmssp");
    eu_assert_resp(p, 2, EU_ANY, "krb5", 1, EU_ANY);
    eu_assert_complete(p, "krb5", krb5_peer);
}

static void
test_ours_to_mit_krb5_no_mutual(void **state)
{
    struct eu_pair *p = ours_to_mit(state, __func__, NULL, 0, NULL);

    p->cfg[EU_I].req_flags = GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG;
    eu_run(p);
    eu_assert_resp(p, 2, NEG_STATE_ACCEPT_COMPLETED, "krb5", 0, EU_ANY);
    eu_assert_complete(p, "krb5", krb5_peer);
}

static void
test_ours_to_mit_ms_krb5(void **state)
{
    struct eu_pair *p =
        ours_to_mit(state, __func__, "ms-krb5 krb5", 0, NULL);

    eu_run(p);
    assert_offer(p, "ms-krb5 krb5");
    eu_assert_resp(p, 2, EU_ANY, "ms-krb5", 1, EU_ANY);
    eu_assert_complete(p, "krb5", krb5_peer);
}

static void
test_ours_to_mit_ntlm(void **state)
{
    struct eu_pair *p =
        ours_to_mit(state, __func__, NULL, EU_ENV_NO_KRB5, NULL);

    eu_run(p);
    assert_offer(p, "ntlmssp");
    eu_assert_resp(p, 2, EU_ANY, "ntlmssp", 1, EU_ANY);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
}

/* MIT's acceptor has only Kerberos: it counter-proposes krb5 and the MIC
 * exchange is required. */
static void
test_ours_to_mit_counter_proposal(void **state)
{
    struct eu_pair *p =
        ours_to_mit(state, __func__, "ntlmssp krb5", 0, "krb5");

    eu_run(p);
    assert_offer(p, "ntlmssp krb5");
    eu_assert_resp(p, 2, NEG_STATE_REQUEST_MIC, "krb5", 0, EU_ANY);
    eu_assert_complete(p, "krb5", krb5_peer);
    assert_true(spnego_ctx_mic_sent(p->ctx[EU_I]));
    assert_true(spnego_ctx_mic_verified(p->ctx[EU_I]));
}

/* ---- MIT's initiator, our acceptor ---- */

static void
test_mit_to_ours_krb5(void **state)
{
    struct eu_pair *p = mit_to_ours(state, __func__, 0, NULL);

    eu_run(p);
    eu_assert_resp(p, 2, EU_ANY, "krb5", 1, EU_ANY);
    eu_assert_complete(p, "krb5", krb5_peer);
    /* MIT's SPNEGO initiator asks for INTEG whatever the caller says. */
    assert_true(eu_flags(p, EU_A) & GSS_C_INTEG_FLAG);
}

static void
test_mit_to_ours_krb5_flags_zero(void **state)
{
    struct eu_pair *p = mit_to_ours(state, __func__, 0, NULL);

    p->cfg[EU_I].req_flags = 0;
    eu_run(p);
    eu_assert_complete(p, "krb5", krb5_peer);
    print_message("# MIT initiator asked for 0: flags I 0x%x, A 0x%x\n",
                  (unsigned)eu_flags(p, EU_I), (unsigned)eu_flags(p, EU_A));
}

static void
test_mit_to_ours_ntlm(void **state)
{
    struct eu_pair *p = mit_to_ours(state, __func__, EU_ENV_NO_KRB5, NULL);

    eu_run(p);
    assert_offer(p, "ntlmssp");
    /* ntlmssp is MIT's first, not our favourite (krb5): no request-mic,
     * as MIT's acceptor; the MICs come from NTLM's AUTHENTICATE MIC. */
    eu_assert_resp(p, 2, NEG_STATE_ACCEPT_INCOMPLETE, "ntlmssp", 1, 0);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
    assert_true(spnego_ctx_mic_sent(p->ctx[EU_A]));
    assert_true(spnego_ctx_mic_verified(p->ctx[EU_A]));
}

static void
test_mit_to_ours_ntlm_only_acceptor(void **state)
{
    struct eu_pair *p =
        mit_to_ours(state, __func__, EU_ENV_NO_KRB5, "ntlmssp");

    eu_run(p);
    eu_assert_resp(p, 2, NEG_STATE_ACCEPT_INCOMPLETE, "ntlmssp", 1, 0);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
}

/* Our acceptor has only NTLM: a counter-proposal to MIT's initiator,
 * which offers krb5 first. */
static void
test_mit_to_ours_counter_proposal(void **state)
{
    struct eu_pair *p = mit_to_ours(state, __func__, 0, "ntlmssp");

    eu_run(p);
    eu_assert_resp(p, 2, NEG_STATE_REQUEST_MIC, "ntlmssp", 0, 0);
    eu_assert_complete(p, "ntlmssp", ntlm_peer);
    assert_true(spnego_ctx_mic_sent(p->ctx[EU_A]));
    assert_true(spnego_ctx_mic_verified(p->ctx[EU_A]));
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
    return 0;
}

#define T(f) cmocka_unit_test_teardown(f, eu_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_ours_to_mit_krb5),
        T(test_ours_to_mit_krb5_no_mutual),
        T(test_ours_to_mit_ms_krb5),
        T(test_ours_to_mit_ntlm),
        T(test_ours_to_mit_counter_proposal),
        T(test_mit_to_ours_krb5),
        T(test_mit_to_ours_krb5_flags_zero),
        T(test_mit_to_ours_ntlm),
        T(test_mit_to_ours_ntlm_only_acceptor),
        T(test_mit_to_ours_counter_proposal),
    };

    if (getenv("SPNEGO_TEST_HOST") == NULL) {
        fprintf(stderr, "test-mit-interop: run under "
                        "tests/fixture/with-krb5 (skipped)\n");
        return 77;
    }
    return cmocka_run_group_tests_name("mit-interop", tests, setup_names,
                                       NULL);
}
