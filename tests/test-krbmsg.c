/* test-krbmsg.c - the cleartext of Kerberos messages (krb_decode, which
 * spnego-dump uses): a live AP-REQ and AP-REP from the fixture realm
 * (MIT's krb5 mechanism), read back against what the realm holds (realm,
 * service, etype, the kvno of the service key); a KRB-ERROR built here;
 * and hostile input: every truncation and every single-byte change of a
 * real AP-REQ decodes or fails cleanly (the sanitizers watch). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gssapi/gssapi.h>
#include <krb5.h>

#include "krbmsg.h"

static gss_OID_desc krb5_oid = { 9, (void *)"\x2a\x86\x48\x86\xf7\x12\x01"
                                            "\x02\x02" };

struct tokens {
    gss_buffer_desc ap_req, ap_rep;
};

static struct tokens live;

/* alice's AP-REQ for ldap/$SPNEGO_TEST_HOST with mutual authentication,
 * and the service's AP-REP. */
static int
setup(void **state)
{
    char text[300];
    gss_buffer_desc tb;
    gss_name_t target = GSS_C_NO_NAME;
    gss_ctx_id_t ictx = GSS_C_NO_CONTEXT, actx = GSS_C_NO_CONTEXT;
    OM_uint32 major, minor;

    (void)state;
    (void)snprintf(text, sizeof(text), "ldap@%s", getenv("SPNEGO_TEST_HOST"));
    tb.value = text;
    tb.length = strlen(text);
    if (GSS_ERROR(gss_import_name(&minor, &tb, GSS_C_NT_HOSTBASED_SERVICE,
                                  &target)))
        return -1;
    major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &ictx, target,
                                 &krb5_oid, GSS_C_MUTUAL_FLAG, 0, NULL,
                                 GSS_C_NO_BUFFER, NULL, &live.ap_req, NULL,
                                 NULL);
    if (GSS_ERROR(major))
        return -1;
    major = gss_accept_sec_context(&minor, &actx, GSS_C_NO_CREDENTIAL,
                                   &live.ap_req, NULL, NULL, NULL,
                                   &live.ap_rep, NULL, NULL, NULL);
    (void)gss_delete_sec_context(&minor, &ictx, GSS_C_NO_BUFFER);
    (void)gss_delete_sec_context(&minor, &actx, GSS_C_NO_BUFFER);
    (void)gss_release_name(&minor, &target);
    return GSS_ERROR(major) ? -1 : 0;
}

static int
teardown(void **state)
{
    OM_uint32 minor;

    (void)state;
    (void)gss_release_buffer(&minor, &live.ap_req);
    (void)gss_release_buffer(&minor, &live.ap_rep);
    return 0;
}

static int
str_is(const struct krb_str *s, const char *want)
{
    return want != NULL && s->len == strlen(want) &&
           memcmp(s->data, want, s->len) == 0;
}

/* The kvno of the service key in the fixture's keytab. */
static unsigned
keytab_kvno(const char *service)
{
    krb5_context kctx = NULL;
    krb5_keytab kt = NULL;
    krb5_kt_cursor cur;
    krb5_keytab_entry e;
    unsigned kvno = 0;
    char *name = NULL;

    assert_int_equal(krb5_init_context(&kctx), 0);
    assert_int_equal(krb5_kt_default(kctx, &kt), 0);
    assert_int_equal(krb5_kt_start_seq_get(kctx, kt, &cur), 0);
    while (krb5_kt_next_entry(kctx, kt, &e, &cur) == 0) {
        if (krb5_unparse_name(kctx, e.principal, &name) == 0 &&
            strncmp(name, service, strlen(service)) == 0)
            kvno = e.vno;
        krb5_free_unparsed_name(kctx, name);
        name = NULL;
        (void)krb5_free_keytab_entry_contents(kctx, &e);
    }
    (void)krb5_kt_end_seq_get(kctx, kt, &cur);
    (void)krb5_kt_close(kctx, kt);
    krb5_free_context(kctx);
    return kvno;
}

static void
live_ap_req(void **state)
{
    struct krb_info k;
    char err[256], svc[300];

    (void)state;
    assert_int_equal(krb_decode(live.ap_req.value, live.ap_req.length, &k,
                                err, sizeof(err)), 1);
    assert_int_equal(k.type, KRB_MSG_AP_REQ);
    assert_true(str_is(&k.realm, getenv("SPNEGO_TEST_REALM")));
    assert_int_equal(k.n_sname, 2);
    assert_true(str_is(&k.sname[0], "ldap"));
    assert_true(str_is(&k.sname[1], getenv("SPNEGO_TEST_HOST")));
    assert_int_equal(k.etype, 18); /* the fixture's aes256-cts */
    assert_true(k.has_kvno);
    (void)snprintf(svc, sizeof(svc), "ldap/%s@", getenv("SPNEGO_TEST_HOST"));
    assert_int_equal(k.kvno, keytab_kvno(svc));
    assert_int_equal(k.auth_etype, 18);
    assert_true(k.ap_options & 0x20000000u); /* mutual-required */
    assert_string_equal(krb_etype_name(k.etype), "aes256-cts-hmac-sha1-96");
}

static void
live_ap_rep(void **state)
{
    struct krb_info k;
    char err[256];

    (void)state;
    assert_int_equal(krb_decode(live.ap_rep.value, live.ap_rep.length, &k,
                                err, sizeof(err)), 1);
    assert_int_equal(k.type, KRB_MSG_AP_REP);
    assert_int_equal(k.etype, 18);
}

/* KRB-ERROR (RFC 4120 5.9.1), DER by hand: pvno 5, msg-type 30, stime,
 * susec, error-code 37 (KRB_AP_ERR_SKEW), realm R, sname a/b, e-text
 * "skew". */
static const uint8_t krb_error[] = {
    0x7e, 0x49, 0x30, 0x47,
    0xa0, 0x03, 0x02, 0x01, 0x05,                    /* pvno 5 */
    0xa1, 0x03, 0x02, 0x01, 0x1e,                    /* msg-type 30 */
    0xa4, 0x11, 0x18, 0x0f, '2', '0', '2', '6', '1', '2', '0', '5', '0',
    '0', '0', '0', '0', '0', 'Z',                    /* stime */
    0xa5, 0x03, 0x02, 0x01, 0x00,                    /* susec */
    0xa6, 0x03, 0x02, 0x01, 0x25,                    /* error-code 37 */
    0xa9, 0x03, 0x1b, 0x01, 'R',                     /* realm */
    0xaa, 0x11, 0x30, 0x0f, 0xa0, 0x03, 0x02, 0x01, 0x02, /* sname */
    0xa1, 0x08, 0x30, 0x06, 0x1b, 0x01, 'a', 0x1b, 0x01, 'b',
    0xab, 0x06, 0x1b, 0x04, 's', 'k', 'e', 'w',      /* e-text */
};

static void
built_krb_error(void **state)
{
    struct krb_info k;
    char err[256];

    (void)state;
    assert_int_equal(krb_decode(krb_error, sizeof(krb_error), &k, err,
                                sizeof(err)), 1);
    assert_int_equal(k.type, KRB_MSG_ERROR);
    assert_int_equal(k.error_code, 37);
    assert_string_equal(krb_error_name(k.error_code), "KRB_AP_ERR_SKEW");
    assert_true(str_is(&k.realm, "R"));
    assert_int_equal(k.n_sname, 2);
    assert_true(k.has_e_text);
    assert_true(str_is(&k.e_text, "skew"));
}

static void
hostile(void **state)
{
    uint8_t *copy = malloc(live.ap_req.length);
    struct krb_info k;
    char err[256];
    size_t i, cut;

    (void)state;
    assert_non_null(copy);
    for (cut = 0; cut < live.ap_req.length; cut++)
        assert_int_equal(krb_decode(live.ap_req.value, cut, &k, err,
                                    sizeof(err)), 0);
    for (cut = 0; cut < sizeof(krb_error); cut++)
        assert_int_equal(krb_decode(krb_error, cut, &k, err, sizeof(err)),
                         0);
    for (i = 0; i < live.ap_req.length && i < 400; i++) {
        memcpy(copy, live.ap_req.value, live.ap_req.length);
        copy[i] ^= 0xff;
        (void)krb_decode(copy, live.ap_req.length, &k, err, sizeof(err));
    }
    free(copy);
    assert_int_equal(krb_decode((const uint8_t *)"\x30\x00", 2, &k, err,
                                sizeof(err)), 0);
    assert_non_null(strstr(err, "not an AP-REQ, AP-REP or KRB-ERROR"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(live_ap_req),
        cmocka_unit_test(live_ap_rep),
        cmocka_unit_test(built_krb_error),
        cmocka_unit_test(hostile),
    };

    if (getenv("SPNEGO_TEST_HOST") == NULL) {
        printf("1..0 # SKIP not inside tests/fixture/with-krb5\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
