/* test-nosign.c - contexts without integrity through libsasl2 (issue 14,
 * point 1): our client against our server, Kerberos and NTLM credentials
 * on both sides, no security layer wanted (max_ssf 0, so the client asks
 * the mechanism for neither integrity nor confidentiality and gss-ntlmssp
 * leaves NEGOTIATE_SIGN out, as Samba's "plain" wrapping and LDAP clients
 * inside TLS do).
 *
 * RFC 4178 section 5 (and MIT, Samba): the mechListMIC follows the
 * established context's GSS_C_INTEG_FLAG, so such a context completes
 * without one.  Downgrade protection stays: without a MIC, the selected
 * mechanism must be the initiator's first choice, or an outer channel
 * (external SSF > 0, TLS) must protect the exchange; otherwise both sides
 * refuse, the initiator before it sends the token that authenticates it.
 * And an application that requires mutual authentication cannot get it
 * from NTLM without signing (POLICY.md I5).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sasl-harness.h"

#define TLS_SSF 256u

static struct hx_opts
no_layer(const char *mechs, unsigned external_ssf)
{
    struct hx_opts o;

    memset(&o, 0, sizeof(o));
    o.mechs = mechs;
    o.set_props = 1;
    o.max_ssf = external_ssf; /* nothing above what the channel gives */
    o.external_ssf = external_ssf;
    o.maxbufsize = 65536;
    return o;
}

static struct hx_session *
run(const struct hx_opts *c, const struct hx_opts *s)
{
    struct hx_session *x = hx_session_new(c, s, SASL_SUCCESS_DATA);

    hx_exchange(x, NULL, NULL);
    return x;
}

static void
assert_completes(const struct hx_session *x, const char *mech)
{
    if (x->client_rc != SASL_OK || x->server_rc != SASL_OK)
        fail_msg("client %d (%s), server %d (%s)", x->client_rc,
                 hx_errdetail(x->client), x->server_rc,
                 hx_errdetail(x->server));
    assert_string_equal(x->clog.complete, mech);
    assert_string_equal(x->slog.complete, mech);
    assert_int_equal(hx_ssf(x->client), 0);
    assert_int_equal(hx_ssf(x->server), 0);
    /* no MIC either way: the context cannot make one */
    assert_non_null(strstr(x->slog.text, "mechListMIC not exchanged"));
    assert_non_null(strstr(x->clog.text, "mechListMIC not exchanged"));
}

/* NTLM is the client's first (and only) choice: nothing for a MIC to
 * protect; completes without signing, outside TLS (Samba's "ldap server
 * require strong auth = no"). */
static void
ntlm_first_choice_outside_tls(void **st)
{
    struct hx_opts c = no_layer("ntlmssp", 0);
    struct hx_session *x;

    (void)st;
    x = run(&c, NULL);
    assert_completes(x, "ntlmssp");
    hx_session_free(x);
}

/* The server takes only NTLM; the client prefers Kerberos: a
 * counter-proposal.  Inside TLS: completes without a MIC. */
static void
ntlm_counter_proposal_inside_tls(void **st)
{
    struct hx_opts c = no_layer("krb5 ntlmssp", TLS_SSF);
    struct hx_opts s = no_layer("ntlmssp", TLS_SSF);
    struct hx_session *x;

    (void)st;
    x = run(&c, &s);
    assert_completes(x, "ntlmssp");
    hx_session_free(x);
}

/* The same outside TLS: nothing could prove that the client's list was
 * not altered.  The client refuses before it sends any NTLM token. */
static void
ntlm_counter_proposal_outside_tls_refused(void **st)
{
    struct hx_opts c = no_layer("krb5 ntlmssp", 0);
    struct hx_opts s = no_layer("ntlmssp", 0);
    struct hx_session *x;

    (void)st;
    x = run(&c, &s);
    assert_int_equal(x->client_rc, SASL_TOOWEAK);
    assert_non_null(strstr(hx_errdetail(x->client),
                           "cannot protect the negotiation"));
    assert_string_equal(x->slog.complete, "");
    assert_string_equal(x->clog.complete, "");
    assert_int_equal(x->c2s, 1); /* only the NegTokenInit */
    hx_session_free(x);
}

/* Kerberos without integrity flags, counter-proposed inside TLS. */
static void
krb5_counter_proposal_inside_tls(void **st)
{
    struct hx_opts c = no_layer("ntlmssp krb5", TLS_SSF);
    struct hx_opts s = no_layer("krb5", TLS_SSF);
    struct hx_session *x;

    (void)st;
    x = run(&c, &s);
    assert_completes(x, "krb5");
    hx_session_free(x);
}

/* The client inside TLS, the server not (it sees no external SSF): the
 * server refuses at its conclusion. */
static void
server_outside_tls_refuses(void **st)
{
    struct hx_opts c = no_layer("krb5 ntlmssp", TLS_SSF);
    struct hx_opts s = no_layer("ntlmssp", 0);
    struct hx_session *x;

    (void)st;
    x = run(&c, &s);
    assert_int_not_equal(x->server_rc, SASL_OK);
    assert_non_null(strstr(hx_errdetail(x->server),
                           "cannot protect the negotiation"));
    assert_string_equal(x->slog.complete, "");
    hx_session_free(x);
}

/* The application requires mutual authentication: NTLM without signing
 * never authenticates the server, so the client refuses (before its
 * AUTHENTICATE). */
static void
ntlm_without_signing_mutual_required(void **st)
{
    struct hx_opts c = no_layer("ntlmssp", TLS_SSF);
    struct hx_session *x;

    (void)st;
    c.security_flags = SASL_SEC_MUTUAL_AUTH;
    x = run(&c, NULL);
    assert_int_not_equal(x->client_rc, SASL_OK);
    assert_non_null(strstr(hx_errdetail(x->client),
                           "mutual authentication is required"));
    assert_string_equal(x->slog.complete, "");
    hx_session_free(x);
}

/* With a layer (signing negotiated), the same application gets mutual
 * authentication from the acceptor's mechListMIC. */
static void
ntlm_with_signing_mutual_required(void **st)
{
    struct hx_opts c;
    struct hx_session *x;

    (void)st;
    memset(&c, 0, sizeof(c));
    c.mechs = "ntlmssp";
    c.set_props = 1;
    c.max_ssf = 256;
    c.maxbufsize = 65536;
    c.security_flags = SASL_SEC_MUTUAL_AUTH;
    x = run(&c, NULL);
    assert_int_equal(x->client_rc, SASL_OK);
    assert_int_equal(x->server_rc, SASL_OK);
    assert_non_null(strstr(x->clog.text, "mechListMIC exchanged"));
    hx_session_free(x);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(ntlm_first_choice_outside_tls,
                                  hx_teardown),
        cmocka_unit_test_teardown(ntlm_counter_proposal_inside_tls,
                                  hx_teardown),
        cmocka_unit_test_teardown(ntlm_counter_proposal_outside_tls_refused,
                                  hx_teardown),
        cmocka_unit_test_teardown(krb5_counter_proposal_inside_tls,
                                  hx_teardown),
        cmocka_unit_test_teardown(server_outside_tls_refuses, hx_teardown),
        cmocka_unit_test_teardown(ntlm_without_signing_mutual_required,
                                  hx_teardown),
        cmocka_unit_test_teardown(ntlm_with_signing_mutual_required,
                                  hx_teardown),
    };
    int rc;

    rc = hx_init("test-nosign");
    if (rc != 0)
        return rc;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    hx_done();
    return rc;
}
