/* test-raw.c - bare mechanism tokens under GSS-SPNEGO (issue 14, point
 * 2).  Active Directory and Samba accept, under the SASL name GSS-SPNEGO,
 * a first token that is not SPNEGO at all: a bare NTLMSSP message (what
 * some Windows LDAP clients send) or a GSS-framed Kerberos token, and
 * answer in kind.  Our server does the same by default (spnego_raw_tokens
 * yes), within its mechanism allow list, with the security layer taken
 * from the context's flags; and it frames a Kerberos AP-REQ that a client
 * put into the SPNEGO mechToken without its RFC 2743 framing.
 *
 * The initiators are MIT's Kerberos mechanism and gss-ntlmssp, called
 * with the mechanism's OID directly (gss_init_sec_context), against our
 * server plugin through libsasl2; after the exchange, data goes through
 * the layer both ways (gss_wrap on the client, sasl_decode on the server,
 * and back).
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

#include "negtoken.h"
#include "sasl-harness.h"

static const uint8_t KRB5[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7,
                                0x12, 0x01, 0x02, 0x02 };
static const uint8_t NTLM[] = { 0x2b, 0x06, 0x01, 0x04, 0x01,
                                0x82, 0x37, 0x02, 0x02, 0x0a };

#define LAYER_FLAGS                                                         \
    (GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG |               \
     GSS_C_SEQUENCE_FLAG | GSS_C_REPLAY_FLAG)

/* One run: the raw initiator and our server. */
struct raw {
    struct hx_session *x;
    gss_ctx_id_t ctx;
    gss_name_t target;
    int rc;          /* the server's last code */
    OM_uint32 major; /* the initiator's last status */
};

static gss_name_t
target_name(void)
{
    char text[300];
    gss_buffer_desc buf;
    gss_name_t name = GSS_C_NO_NAME;
    OM_uint32 minor;

    (void)snprintf(text, sizeof(text), "ldap@%s", getenv("SPNEGO_TEST_HOST"));
    buf.value = text;
    buf.length = strlen(text);
    assert_false(GSS_ERROR(gss_import_name(&minor, &buf,
                                           GSS_C_NT_HOSTBASED_SERVICE,
                                           &name)));
    return name;
}

/* Give `tok` to the server (start or step); its reply in *reply. */
static void
to_server(struct raw *r, int first, const gss_buffer_desc *tok,
          gss_buffer_desc *reply)
{
    const char *out = NULL;
    unsigned outlen = 0;

    r->rc = first ? sasl_server_start(r->x->server, "GSS-SPNEGO", tok->value,
                                      (unsigned)tok->length, &out, &outlen)
                  : sasl_server_step(r->x->server, tok->value,
                                     (unsigned)tok->length, &out, &outlen);
    reply->value = (void *)out;
    reply->length = outlen;
}

/* The initiator for mechanism `oid` with `flags`, against our server with
 * options `s`, until one side stops.  `edit` may rewrite the first token
 * (bare_ap_req_in_spnego). */
static void
run_raw(struct raw *r, const struct hx_opts *s, const uint8_t *oid,
        size_t oid_len, OM_uint32 flags,
        void (*edit)(gss_buffer_desc *tok, uint8_t **owned))
{
    gss_OID_desc mech = { (OM_uint32)oid_len, (void *)oid };
    gss_buffer_desc in = GSS_C_EMPTY_BUFFER, out = GSS_C_EMPTY_BUFFER;
    OM_uint32 minor;
    uint8_t *owned = NULL;
    int first = 1;

    memset(r, 0, sizeof(*r));
    r->x = hx_session_new(NULL, s, SASL_SUCCESS_DATA);
    r->ctx = GSS_C_NO_CONTEXT;
    r->target = target_name();
    r->rc = SASL_CONTINUE;
    for (;;) {
        r->major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &r->ctx,
                                        r->target, &mech, flags, 0, NULL, &in,
                                        NULL, &out, NULL, NULL);
        assert_false(GSS_ERROR(r->major));
        if (out.length == 0)
            break;
        if (first && edit != NULL) {
            gss_buffer_desc tok = out;

            edit(&tok, &owned);
            to_server(r, 1, &tok, &in);
        } else {
            to_server(r, first, &out, &in);
        }
        first = 0;
        (void)gss_release_buffer(&minor, &out);
        /* done when the server stopped, or when the initiator was
         * complete already (the server's success data is then SPNEGO's
         * accept-completed, or nothing) */
        if ((r->rc != SASL_CONTINUE && r->rc != SASL_OK) ||
            r->major == GSS_S_COMPLETE || in.length == 0)
            break;
    }
    (void)gss_release_buffer(&minor, &out);
    free(owned);
    if (r->rc != SASL_OK)
        print_message("# server: %s\n", hx_errdetail(r->x->server));
}

static void
raw_free(struct raw *r)
{
    OM_uint32 minor;

    (void)gss_delete_sec_context(&minor, &r->ctx, GSS_C_NO_BUFFER);
    (void)gss_release_name(&minor, &r->target);
    hx_session_free(r->x);
}

/* Both ways through the layer (SASL packets: a 4-byte big-endian length,
 * then the wrap token): the client's gss_wrap to sasl_decode, and
 * sasl_encode to the client's gss_unwrap. */
static void
assert_layer_both_ways(struct raw *r, int conf)
{
    static const char msg[] = "a message through the raw context's layer";
    gss_buffer_desc in = { sizeof(msg), (void *)msg }, wrapped, plain;
    uint8_t packet[4096];
    const char *out = NULL;
    unsigned outlen = 0;
    OM_uint32 minor;
    int state = 0;

    assert_false(GSS_ERROR(gss_wrap(&minor, r->ctx, conf, GSS_C_QOP_DEFAULT,
                                    &in, &state, &wrapped)));
    assert_int_equal(state, conf);
    assert_true(wrapped.length + 4 <= sizeof(packet));
    packet[0] = (uint8_t)(wrapped.length >> 24);
    packet[1] = (uint8_t)(wrapped.length >> 16);
    packet[2] = (uint8_t)(wrapped.length >> 8);
    packet[3] = (uint8_t)wrapped.length;
    memcpy(packet + 4, wrapped.value, wrapped.length);
    assert_int_equal(sasl_decode(r->x->server, (const char *)packet,
                                 (unsigned)wrapped.length + 4, &out,
                                 &outlen),
                     SASL_OK);
    assert_int_equal(outlen, sizeof(msg));
    assert_memory_equal(out, msg, sizeof(msg));
    (void)gss_release_buffer(&minor, &wrapped);
    assert_int_equal(sasl_encode(r->x->server, msg, sizeof(msg), &out,
                                 &outlen),
                     SASL_OK);
    assert_true(outlen > 4);
    wrapped.value = (void *)(out + 4);
    wrapped.length = outlen - 4;
    assert_false(GSS_ERROR(gss_unwrap(&minor, r->ctx, &wrapped, &plain,
                                      &state, NULL)));
    assert_memory_equal(plain.value, msg, sizeof(msg));
    (void)gss_release_buffer(&minor, &plain);
}

static const char *
username(struct raw *r)
{
    return hx_username(r->x->server);
}

/* ---- bare Kerberos ---- */

static void
raw_krb5_with_layer(void **st)
{
    struct raw r;

    (void)st;
    run_raw(&r, NULL, KRB5, sizeof(KRB5), LAYER_FLAGS, NULL);
    assert_int_equal(r.rc, SASL_OK);
    assert_int_equal(r.major, GSS_S_COMPLETE); /* the bare AP-REP */
    assert_string_equal(username(&r), "alice");
    assert_string_equal(r.x->slog.complete, "krb5");
    assert_non_null(strstr(r.x->slog.text, "a bare mechanism token without "
                                           "SPNEGO"));
    assert_int_equal(hx_ssf(r.x->server), 256); /* from the flags: CONF */
    assert_layer_both_ways(&r, 1);
    raw_free(&r);
}

/* The allow list applies: a server that takes only NTLM refuses it. */
static void
raw_krb5_not_allowed(void **st)
{
    struct hx_opts s = { .mechs = "ntlmssp" };
    struct raw r;

    (void)st;
    run_raw(&r, &s, KRB5, sizeof(KRB5), LAYER_FLAGS, NULL);
    assert_int_equal(r.rc, SASL_NOMECH);
    assert_non_null(strstr(hx_errdetail(r.x->server),
                           "a bare krb5 mechanism token without SPNEGO, but "
                           "we accept only ntlmssp"));
    raw_free(&r);
}

static void
raw_krb5_refused_when_off(void **st)
{
    struct hx_opts s = { .raw_tokens = "no" };
    struct raw r;

    (void)st;
    run_raw(&r, &s, KRB5, sizeof(KRB5), LAYER_FLAGS, NULL);
    assert_int_equal(r.rc, SASL_BADPROT);
    assert_non_null(strstr(hx_errdetail(r.x->server),
                           "a plain GSS token, not SPNEGO"));
    raw_free(&r);
}

/* ---- bare NTLMSSP ---- */

static void
raw_ntlm_seal(void **st)
{
    struct raw r;

    (void)st;
    run_raw(&r, NULL, NTLM, sizeof(NTLM), LAYER_FLAGS, NULL);
    assert_int_equal(r.rc, SASL_OK);
    assert_string_equal(r.x->slog.complete, "ntlmssp");
    assert_string_equal(username(&r), "alice@SPNEGO");
    assert_true(hx_ssf(r.x->server) > 1); /* sealing, from the flags */
    assert_layer_both_ways(&r, 1);
    raw_free(&r);
}

/* No signing asked: no layer, and no mechListMIC to miss. */
static void
raw_ntlm_without_signing(void **st)
{
    struct raw r;

    (void)st;
    run_raw(&r, NULL, NTLM, sizeof(NTLM), 0, NULL);
    assert_int_equal(r.rc, SASL_OK);
    assert_string_equal(r.x->slog.complete, "ntlmssp");
    assert_int_equal(hx_ssf(r.x->server), 0);
    raw_free(&r);
}

static void
raw_ntlm_refused_when_off(void **st)
{
    struct hx_opts s = { .raw_tokens = "no" };
    struct raw r;

    (void)st;
    run_raw(&r, &s, NTLM, sizeof(NTLM), LAYER_FLAGS, NULL);
    assert_int_equal(r.rc, SASL_BADPROT);
    assert_non_null(strstr(hx_errdetail(r.x->server),
                           "a bare NTLMSSP message without SPNEGO"));
    raw_free(&r);
}

/* An administrator who wants a mechListMIC always gets no bare exchange,
 * which has none. */
static void
raw_refused_when_mic_always(void **st)
{
    struct hx_opts s = { .send_mic = "always" };
    struct raw r;

    (void)st;
    run_raw(&r, &s, NTLM, sizeof(NTLM), LAYER_FLAGS, NULL);
    assert_int_equal(r.rc, SASL_BADPROT);
    assert_non_null(strstr(hx_errdetail(r.x->server),
                           "spnego_send_mic always"));
    raw_free(&r);
}

static void
raw_ntlm_not_allowed(void **st)
{
    struct hx_opts s = { .mechs = "krb5" };
    struct raw r;

    (void)st;
    run_raw(&r, &s, NTLM, sizeof(NTLM), LAYER_FLAGS, NULL);
    assert_int_equal(r.rc, SASL_NOMECH);
    assert_non_null(strstr(hx_errdetail(r.x->server),
                           "we accept only krb5"));
    raw_free(&r);
}

/* ---- a bare AP-REQ as the SPNEGO mechToken ---- */

/* Replace the framed Kerberos token by a NegTokenInit offering krb5 whose
 * mechToken is the AP-REQ alone (no [APPLICATION 0], OID, TOK_ID). */
static void
spnego_with_bare_ap_req(gss_buffer_desc *tok, uint8_t **owned)
{
    const uint8_t *p = tok->value;
    struct negtoken init;
    size_t skip, len = 0;

    /* 0x60 len, 06 09 <krb5>, 01 00, then the AP-REQ */
    assert_true(tok->length > 20 && p[0] == 0x60);
    skip = (p[1] & 0x80) ? 2u + (p[1] & 0x7fu) : 2u;
    skip += 2 + sizeof(KRB5) + 2;
    assert_true(negtoken_is_bare_ap_req(p + skip, tok->length - skip));
    negtoken_init(&init);
    init.type = NEGTOKEN_INIT;
    init.framed = 1;
    init.has_mech_types = 1;
    init.n_mechs = 1;
    init.mechs[0].data = KRB5;
    init.mechs[0].len = sizeof(KRB5);
    init.has_mech_token = 1;
    init.mech_token.data = p + skip;
    init.mech_token.len = tok->length - skip;
    assert_int_equal(negtoken_encode(&init, owned, &len), NEGTOKEN_OK);
    tok->value = *owned;
    tok->length = len;
}

static void
bare_ap_req_in_spnego_is_framed(void **st)
{
    struct raw r;

    (void)st;
    /* no mutual authentication: the server's reply needs no unwrapping */
    run_raw(&r, NULL, KRB5, sizeof(KRB5),
            LAYER_FLAGS & ~(OM_uint32)GSS_C_MUTUAL_FLAG,
            spnego_with_bare_ap_req);
    assert_int_equal(r.rc, SASL_OK);
    assert_string_equal(r.x->slog.complete, "krb5");
    assert_string_equal(username(&r), "alice");
    assert_non_null(strstr(r.x->slog.text, "bare AP-REQ without its GSS "
                                           "framing"));
    raw_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(raw_krb5_with_layer, hx_teardown),
        cmocka_unit_test_teardown(raw_krb5_not_allowed, hx_teardown),
        cmocka_unit_test_teardown(raw_krb5_refused_when_off, hx_teardown),
        cmocka_unit_test_teardown(raw_ntlm_seal, hx_teardown),
        cmocka_unit_test_teardown(raw_ntlm_without_signing, hx_teardown),
        cmocka_unit_test_teardown(raw_ntlm_refused_when_off, hx_teardown),
        cmocka_unit_test_teardown(raw_ntlm_not_allowed, hx_teardown),
        cmocka_unit_test_teardown(raw_refused_when_mic_always, hx_teardown),
        cmocka_unit_test_teardown(bare_ap_req_in_spnego_is_framed,
                                  hx_teardown),
    };
    int rc;

    rc = hx_init("test-raw");
    if (rc != 0)
        return rc;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    hx_done();
    return rc;
}
