/* test-gsscreds.c - credentials the application lends (issue 14, point
 * 3): libsasl2's SASL_GSS_CREDS, which libldap sets from
 * LDAP_OPT_X_SASL_GSS_CREDS (PowerShell's PSOpenAD and Python's bonsai use
 * it).  The credential is the identity, whatever default ticket exists:
 * a mechanism credential (Kerberos, NTLM) for another user, a SPNEGO
 * credential whose list gss_set_neg_mechs restricted (its list and order
 * are what we offer), a default-mechanism union credential; and on the
 * server, an acceptor credential for one keytab entry.  The plugin
 * borrows it: the credential still works after the connection is gone
 * (and the sanitizer and valgrind runs would see a double release).
 *
 * Under the fixture: alice holds the default ticket; bob has only his
 * password (bob-pw), for Kerberos and NTLM.
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
#include <gssapi/gssapi_ext.h>

#include "mechs.h"
#include "sasl-harness.h"

static gss_OID_desc krb5_oid = { 9, (void *)"\x2a\x86\x48\x86\xf7\x12\x01"
                                            "\x02\x02" };
static gss_OID_desc ntlm_oid = { 10, (void *)"\x2b\x06\x01\x04\x01\x82\x37"
                                             "\x02\x02\x0a" };
static gss_OID_desc spnego_oid = { 6, (void *)"\x2b\x06\x01\x05\x05\x02" };

static gss_name_t
import(const char *text, gss_OID type)
{
    gss_buffer_desc buf = { strlen(text), (void *)text };
    gss_name_t name = GSS_C_NO_NAME;
    OM_uint32 minor;

    assert_false(GSS_ERROR(gss_import_name(&minor, &buf, type, &name)));
    return name;
}

/* bob's credential for one mechanism, from his password. */
static gss_cred_id_t
bob_cred(gss_OID mech, const char *user)
{
    gss_OID_set_desc set = { 1, mech };
    gss_buffer_desc pw = { 6, (void *)"bob-pw" };
    gss_name_t name = import(user, GSS_C_NT_USER_NAME);
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    OM_uint32 major, minor;

    major = gss_acquire_cred_with_password(&minor, name, &pw,
                                           GSS_C_INDEFINITE, &set,
                                           GSS_C_INITIATE, &cred, NULL,
                                           NULL);
    (void)gss_release_name(&minor, &name);
    assert_false(GSS_ERROR(major));
    return cred;
}

static gss_cred_id_t
default_cred(gss_OID_set mechs, gss_cred_usage_t usage, gss_name_t name)
{
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    OM_uint32 minor;

    assert_false(GSS_ERROR(gss_acquire_cred(&minor, name, GSS_C_INDEFINITE,
                                            mechs, usage, &cred, NULL,
                                            NULL)));
    return cred;
}

/* A bind with the client (and/or server) lending `ccred` (`scred`). */
static struct hx_session *
bind_with(gss_cred_id_t ccred, gss_cred_id_t scred)
{
    struct hx_session *s = hx_session_new(NULL, NULL, SASL_SUCCESS_DATA);

    if (ccred != GSS_C_NO_CREDENTIAL)
        assert_int_equal(sasl_setprop(s->client, SASL_GSS_CREDS, ccred),
                         SASL_OK);
    if (scred != GSS_C_NO_CREDENTIAL)
        assert_int_equal(sasl_setprop(s->server, SASL_GSS_CREDS, scred),
                         SASL_OK);
    hx_exchange(s, NULL, NULL);
    return s;
}

static void
assert_bound(const struct hx_session *s, const char *user, const char *mech)
{
    if (s->client_rc != SASL_OK || s->server_rc != SASL_OK)
        fail_msg("client %d (%s), server %d (%s)", s->client_rc,
                 hx_errdetail(s->client), s->server_rc,
                 hx_errdetail(s->server));
    assert_string_equal(hx_username(s->server), user);
    assert_string_equal(s->clog.complete, mech);
    assert_string_equal(s->slog.complete, mech);
}

/* Still usable: the plugin borrowed it and did not release it. */
static void
release_checked(gss_cred_id_t *cred)
{
    OM_uint32 minor;

    assert_false(GSS_ERROR(gss_inquire_cred(&minor, *cred, NULL, NULL, NULL,
                                            NULL)));
    assert_false(GSS_ERROR(gss_release_cred(&minor, cred)));
}

/* ---- the client ---- */

static void
client_krb5_cred_of_another_user(void **st)
{
    gss_cred_id_t cred = bob_cred(&krb5_oid, "bob");
    struct hx_session *s;

    (void)st;
    s = bind_with(cred, GSS_C_NO_CREDENTIAL); /* alice's ticket exists */
    assert_bound(s, "bob", "krb5");
    /* the client reports the name from the context */
    assert_non_null(strstr(hx_username(s->client), "bob"));
    hx_session_free(s);
    release_checked(&cred);
}

static void
client_ntlm_cred_of_another_user(void **st)
{
    gss_cred_id_t cred = bob_cred(&ntlm_oid, "SPNEGO\\bob");
    struct hx_session *s;

    (void)st;
    s = bind_with(cred, GSS_C_NO_CREDENTIAL);
    assert_bound(s, "bob@SPNEGO", "ntlmssp");
    hx_session_free(s);
    release_checked(&cred);
}

/* A SPNEGO credential restricted to NTLM with gss_set_neg_mechs: only
 * NTLM is offered, although alice has a Kerberos ticket. */
static void
client_spnego_cred_restricted_to_ntlm(void **st)
{
    gss_OID_set_desc spnego = { 1, &spnego_oid }, ntlm = { 1, &ntlm_oid };
    gss_cred_id_t cred = default_cred(&spnego, GSS_C_INITIATE, GSS_C_NO_NAME);
    struct hx_session *s;
    OM_uint32 minor;

    (void)st;
    assert_false(GSS_ERROR(gss_set_neg_mechs(&minor, cred, &ntlm)));
    s = bind_with(cred, GSS_C_NO_CREDENTIAL);
    assert_bound(s, "alice@SPNEGO", "ntlmssp");
    assert_non_null(strstr(s->slog.text, "initiator offers: ntlmssp "));
    hx_session_free(s);
    release_checked(&cred);
}

/* Its order too: [ntlmssp, krb5] puts NTLM first. */
static void
client_spnego_cred_order(void **st)
{
    gss_OID_desc both[2] = { ntlm_oid, krb5_oid };
    gss_OID_set_desc spnego = { 1, &spnego_oid }, list = { 2, both };
    gss_cred_id_t cred = default_cred(&spnego, GSS_C_INITIATE, GSS_C_NO_NAME);
    struct hx_session *s;
    OM_uint32 minor;

    (void)st;
    assert_false(GSS_ERROR(gss_set_neg_mechs(&minor, cred, &list)));
    s = bind_with(cred, GSS_C_NO_CREDENTIAL);
    assert_bound(s, "alice@SPNEGO", "ntlmssp");
    assert_non_null(strstr(s->slog.text, "initiator offers: ntlmssp, krb5"));
    hx_session_free(s);
    release_checked(&cred);
}

/* The default-mechanism union credential: Kerberos first, as configured. */
static void
client_union_cred(void **st)
{
    gss_cred_id_t cred = default_cred(GSS_C_NO_OID_SET, GSS_C_INITIATE,
                                      GSS_C_NO_NAME);
    struct hx_session *s;

    (void)st;
    s = bind_with(cred, GSS_C_NO_CREDENTIAL);
    assert_bound(s, "alice", "krb5");
    assert_non_null(strstr(s->slog.text, "initiator offers: krb5, ntlmssp"));
    hx_session_free(s);
    release_checked(&cred);
}

/* An acceptor credential given to the client: refused, with the reason
 * (not the default ticket instead). */
static void
client_cred_without_mechanism_we_negotiate(void **st)
{
    gss_OID_set_desc krb5 = { 1, &krb5_oid };
    gss_name_t host;
    gss_cred_id_t cred;
    struct hx_session *s;
    OM_uint32 minor;
    char text[300];

    (void)st;
    (void)snprintf(text, sizeof(text), "ldap@%s", getenv("SPNEGO_TEST_HOST"));
    host = import(text, GSS_C_NT_HOSTBASED_SERVICE);
    cred = default_cred(&krb5, GSS_C_ACCEPT, host);
    (void)gss_release_name(&minor, &host);
    s = bind_with(cred, GSS_C_NO_CREDENTIAL);
    assert_int_not_equal(s->client_rc, SASL_OK);
    assert_non_null(strstr(hx_errdetail(s->client), "(SASL_GSS_CREDS) is "
                                                    "for accepting only"));
    assert_string_equal(s->slog.complete, "");
    hx_session_free(s);
    release_checked(&cred);
}

/* Its list is still within spnego_mechs: [ntlmssp, krb5] with the
 * administrator's krb5 offers krb5 only. */
static void
client_spnego_cred_within_allow_list(void **st)
{
    gss_OID_desc both[2] = { ntlm_oid, krb5_oid };
    gss_OID_set_desc spnego = { 1, &spnego_oid }, list = { 2, both };
    gss_cred_id_t cred = default_cred(&spnego, GSS_C_INITIATE, GSS_C_NO_NAME);
    struct hx_opts c = { .mechs = "krb5" };
    struct hx_session *s;
    OM_uint32 minor;

    (void)st;
    assert_false(GSS_ERROR(gss_set_neg_mechs(&minor, cred, &list)));
    s = hx_session_new(&c, NULL, SASL_SUCCESS_DATA);
    assert_int_equal(sasl_setprop(s->client, SASL_GSS_CREDS, cred), SASL_OK);
    hx_exchange(s, NULL, NULL);
    assert_bound(s, "alice", "krb5");
    assert_non_null(strstr(s->slog.text, "initiator offers: krb5 "));
    hx_session_free(s);
    release_checked(&cred);
}

/* As libldap does it: the credential is lent from the interaction
 * callback, after a first round that found alice's stored credentials and
 * asked for the authorization name.  The next round uses bob's (and frees
 * what the first found: the sanitizer and valgrind runs check). */
static void
client_cred_lent_between_prompt_rounds(void **st)
{
    struct hx_opts c = { .authname = "alice", .prompt = HX_PROMPT_USER };
    gss_cred_id_t cred = bob_cred(&krb5_oid, "bob");
    struct hx_session *s = hx_session_new(&c, NULL, SASL_SUCCESS_DATA);
    sasl_interact_t *prompts = NULL, *p;
    const char *out = NULL, *mech = NULL, *sout = NULL;
    unsigned outlen = 0, soutlen = 0;
    int rc, src;

    (void)st;
    rc = sasl_client_start(s->client, "GSS-SPNEGO", &prompts, &out, &outlen,
                           &mech);
    assert_int_equal(rc, SASL_INTERACT);
    assert_int_equal(sasl_setprop(s->client, SASL_GSS_CREDS, cred), SASL_OK);
    for (p = prompts; p->id != SASL_CB_LIST_END; p++) {
        p->result = "";
        p->len = 0;
    }
    rc = sasl_client_start(s->client, "GSS-SPNEGO", &prompts, &out, &outlen,
                           &mech);
    assert_int_equal(rc, SASL_CONTINUE);
    src = sasl_server_start(s->server, "GSS-SPNEGO", out, outlen, &sout,
                            &soutlen);
    while (src == SASL_CONTINUE && rc == SASL_CONTINUE) {
        rc = sasl_client_step(s->client, sout, soutlen, NULL, &out, &outlen);
        if (rc == SASL_CONTINUE || (rc == SASL_OK && outlen > 0))
            src = sasl_server_step(s->server, out, outlen, &sout, &soutlen);
    }
    if (src == SASL_OK && rc == SASL_CONTINUE)
        rc = sasl_client_step(s->client, sout, soutlen, NULL, &out, &outlen);
    assert_int_equal(src, SASL_OK);
    assert_int_equal(rc, SASL_OK);
    assert_string_equal(hx_username(s->server), "bob");
    hx_session_free(s);
    release_checked(&cred);
}

/* ---- which NTLM account a Kerberos name names ---- */

static void
same_account_rule(void **st)
{
    (void)st;
    assert_true(spnego_same_account("alice@SPNEGO.TEST", "SPNEGO\\alice"));
    assert_true(spnego_same_account("alice@SPNEGO.TEST", "alice@SPNEGO"));
    assert_true(spnego_same_account("Alice@SPNEGO.TEST", "spnego\\alice"));
    assert_true(spnego_same_account("alice@SPNEGO.TEST",
                                    "SPNEGO.TEST\\alice"));
    /* another domain's alice is another account */
    assert_false(spnego_same_account("alice@SPNEGO.TEST", "OTHER\\alice"));
    assert_false(spnego_same_account("alice@SPNEGO.TEST",
                                     "SPNEGOX\\alice"));
    assert_false(spnego_same_account("alice@SPNEGO.TEST",
                                     "CHILD.SPNEGO.TEST\\alice"));
    assert_false(spnego_same_account("alice@SPNEGO.TEST", "alice"));
    assert_false(spnego_same_account("alice@SPNEGO.TEST", "SPNEGO\\bob"));
}

/* ---- the server ---- */

/* A SPNEGO acceptor credential hides the keytab it was made from: refused
 * (not silently replaced by the default keytab). */
static void
server_spnego_cred_refused(void **st)
{
    gss_OID_set_desc spnego = { 1, &spnego_oid };
    gss_cred_id_t cred = default_cred(&spnego, GSS_C_ACCEPT, GSS_C_NO_NAME);
    struct hx_session *s;

    (void)st;
    s = bind_with(GSS_C_NO_CREDENTIAL, cred);
    assert_int_not_equal(s->server_rc, SASL_OK);
    assert_non_null(strstr(hx_errdetail(s->server), "a SPNEGO acceptor "
                                                    "credential"));
    assert_string_equal(s->slog.complete, "");
    hx_session_free(s);
    release_checked(&cred);
}

/* A credential for the right keytab entry accepts; one for another entry
 * of the same keytab (HTTP/host) does not, although the keytab holds
 * the key the client's ticket needs. */
static void
server_cred_for_one_keytab_entry(void **st)
{
    gss_OID_set_desc krb5 = { 1, &krb5_oid };
    char text[300];
    gss_name_t name;
    gss_cred_id_t ldap, http;
    struct hx_session *s;
    OM_uint32 minor;

    (void)st;
    (void)snprintf(text, sizeof(text), "ldap@%s", getenv("SPNEGO_TEST_HOST"));
    name = import(text, GSS_C_NT_HOSTBASED_SERVICE);
    ldap = default_cred(&krb5, GSS_C_ACCEPT, name);
    (void)gss_release_name(&minor, &name);
    (void)snprintf(text, sizeof(text), "HTTP@%s", getenv("SPNEGO_TEST_HOST"));
    name = import(text, GSS_C_NT_HOSTBASED_SERVICE);
    http = default_cred(&krb5, GSS_C_ACCEPT, name);
    (void)gss_release_name(&minor, &name);

    s = bind_with(GSS_C_NO_CREDENTIAL, ldap);
    assert_bound(s, "alice", "krb5");
    hx_session_free(s);

    s = bind_with(GSS_C_NO_CREDENTIAL, http);
    assert_int_not_equal(s->server_rc, SASL_OK);
    assert_string_equal(s->slog.complete, "");
    hx_session_free(s);
    release_checked(&ldap);
    release_checked(&http);
}

/* A Kerberos-only acceptor credential: NTLM is not accepted with it. */
static void
server_krb5_cred_leaves_out_ntlm(void **st)
{
    gss_OID_set_desc krb5 = { 1, &krb5_oid };
    gss_cred_id_t cred = default_cred(&krb5, GSS_C_ACCEPT, GSS_C_NO_NAME);
    struct hx_opts ntlm_only = { .mechs = "ntlmssp" };
    struct hx_session *s;

    (void)st;
    s = hx_session_new(&ntlm_only, NULL, SASL_SUCCESS_DATA);
    assert_int_equal(sasl_setprop(s->server, SASL_GSS_CREDS, cred), SASL_OK);
    hx_exchange(s, NULL, NULL);
    assert_int_equal(s->server_rc, SASL_NOMECH);
    assert_non_null(strstr(hx_errdetail(s->server), "we accept krb5"));
    hx_session_free(s);
    release_checked(&cred);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(client_krb5_cred_of_another_user,
                                  hx_teardown),
        cmocka_unit_test_teardown(client_ntlm_cred_of_another_user,
                                  hx_teardown),
        cmocka_unit_test_teardown(client_spnego_cred_restricted_to_ntlm,
                                  hx_teardown),
        cmocka_unit_test_teardown(client_spnego_cred_order, hx_teardown),
        cmocka_unit_test_teardown(client_union_cred, hx_teardown),
        cmocka_unit_test_teardown(client_cred_without_mechanism_we_negotiate,
                                  hx_teardown),
        cmocka_unit_test_teardown(client_spnego_cred_within_allow_list,
                                  hx_teardown),
        cmocka_unit_test_teardown(client_cred_lent_between_prompt_rounds,
                                  hx_teardown),
        cmocka_unit_test_teardown(same_account_rule, hx_teardown),
        cmocka_unit_test_teardown(server_spnego_cred_refused, hx_teardown),
        cmocka_unit_test_teardown(server_cred_for_one_keytab_entry,
                                  hx_teardown),
        cmocka_unit_test_teardown(server_krb5_cred_leaves_out_ntlm,
                                  hx_teardown),
    };
    int rc;

    rc = hx_init("test-gsscreds");
    if (rc != 0)
        return rc;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    hx_done();
    return rc;
}
