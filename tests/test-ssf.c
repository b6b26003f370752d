/* test-ssf.c - one security-layer rule for both sides (issue 13, point 5):
 * our client against our server over Kerberos, for every combination of
 * min_ssf, max_ssf and external SSF on each side, and maxbufsize 0.
 *
 * The rule (gss_spnego(7), SECURITY LAYER), written here independently of
 * plugins/glue.c: a side allows no layer when maxbufsize is 0 or max_ssf
 * does not exceed its external SSF, integrity when it exceeds it by 1,
 * confidentiality when by more.  The client asks for what it allows; the
 * context carries exactly that (Kerberos, implicit flags suppressed).
 * Each side accepts the layer if it allows it and its SSF (0, 1, or 256
 * for aes256-cts) reaches min_ssf minus its external SSF.
 *
 * Asserted for each combination: the exchange succeeds exactly when both
 * sides accept; then both report the same SSF, the rule's, and data goes
 * through the layer both ways; otherwise the client never completes.  And
 * two sides with equal properties always agree.
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

#include "sasl-harness.h"

#define CONF_SSF 256u /* aes256-cts, the fixture's enctype */

static const unsigned mins[] = { 0, 1, 56, 300 };
static const unsigned maxs[] = { 0, 1, 2, 56, 256 };
static const unsigned exts[] = { 0, 256 };

/* The layer (0, 1, 2: none, integrity, confidentiality) a side allows. */
static unsigned
allowed(const struct hx_opts *o)
{
    if (o->maxbufsize == 0 || o->max_ssf <= o->external_ssf)
        return 0;
    return o->max_ssf - o->external_ssf == 1 ? 1 : 2;
}

static unsigned
ssf_of_layer(unsigned layer)
{
    return layer == 0 ? 0 : layer == 1 ? 1 : CONF_SSF;
}

/* 1 if side o accepts the layer `layer`. */
static int
accepts(const struct hx_opts *o, unsigned layer)
{
    unsigned need = o->min_ssf > o->external_ssf
                        ? o->min_ssf - o->external_ssf : 0;

    return layer <= allowed(o) && ssf_of_layer(layer) >= need;
}

/* A short round trip through the layer, if any: what one side encodes
 * the other decodes. */
static void
round_trip(sasl_conn_t *from, sasl_conn_t *to)
{
    const char *enc = NULL, *dec = NULL;
    unsigned enclen = 0, declen = 0;
    char *copy;

    assert_int_equal(sasl_encode(from, "payload", 7, &enc, &enclen),
                     SASL_OK);
    copy = malloc(enclen > 0 ? enclen : 1);
    assert_non_null(copy);
    memcpy(copy, enc, enclen);
    assert_int_equal(sasl_decode(to, copy, enclen, &dec, &declen), SASL_OK);
    assert_int_equal(declen, 7);
    assert_memory_equal(dec, "payload", 7);
    free(copy);
}

static void
describe(char *buf, size_t size, const struct hx_opts *c,
         const struct hx_opts *s)
{
    (void)snprintf(buf, size, "client min %u max %u ext %u buf %u, server "
                   "min %u max %u ext %u buf %u", c->min_ssf, c->max_ssf,
                   c->external_ssf, c->maxbufsize, s->min_ssf, s->max_ssf,
                   s->external_ssf, s->maxbufsize);
}

/* Run one combination; returns 1 if it succeeded. */
static int
run_case(const struct hx_opts *c, const struct hx_opts *s)
{
    unsigned layer = allowed(c);
    int want = accepts(c, layer) && accepts(s, layer);
    struct hx_session *x = hx_session_new(c, s, SASL_SUCCESS_DATA);
    char what[256];
    int ok;

    describe(what, sizeof(what), c, s);
    hx_exchange(x, NULL, NULL);
    ok = x->client_rc == SASL_OK && x->server_rc == SASL_OK;
    if (ok != want)
        fail_msg("%s: want %s, got client %d (%s), server %d (%s)", what,
                 want ? "success" : "failure", x->client_rc,
                 hx_errdetail(x->client), x->server_rc,
                 hx_errdetail(x->server));
    if (ok) {
        if (hx_ssf(x->client) != ssf_of_layer(layer) ||
            hx_ssf(x->server) != ssf_of_layer(layer))
            fail_msg("%s: SSF client %u, server %u, want %u", what,
                     hx_ssf(x->client), hx_ssf(x->server),
                     ssf_of_layer(layer));
        /* (libsasl2 refuses sasl_encode on a side with maxbufsize 0) */
        if (c->maxbufsize != 0 && s->maxbufsize != 0) {
            round_trip(x->client, x->server);
            round_trip(x->server, x->client);
        }
    } else if (x->client_rc == SASL_OK) {
        fail_msg("%s: the client completed although the exchange failed",
                 what);
    }
    hx_session_free(x);
    return ok;
}

static void
set(struct hx_opts *o, unsigned min, unsigned max, unsigned ext,
    unsigned buf)
{
    memset(o, 0, sizeof(*o));
    o->mechs = "krb5";
    o->set_props = 1;
    o->min_ssf = min;
    o->max_ssf = max;
    o->external_ssf = ext;
    o->maxbufsize = buf;
}

/* Every combination of the grids on both sides (maxbufsize 65536). */
static void
table_ours_against_ours(void **st)
{
    struct hx_opts c, s;
    size_t a, b, d, e, f, g;
    unsigned n = 0, good = 0;

    (void)st;
    for (a = 0; a < 4; a++)
        for (b = 0; b < 5; b++)
            for (d = 0; d < 2; d++)
                for (e = 0; e < 4; e++)
                    for (f = 0; f < 5; f++)
                        for (g = 0; g < 2; g++) {
                            set(&c, mins[a], maxs[b], exts[d], 65536);
                            set(&s, mins[e], maxs[f], exts[g], 65536);
                            good += (unsigned)run_case(&c, &s);
                            n++;
                        }
    print_message("# %u combinations, %u succeeded\n", n, good);
}

/* Equal properties on both sides: always an agreement, and a success
 * whenever the properties can be met at all. */
static void
equal_properties_agree(void **st)
{
    struct hx_opts o;
    size_t a, b, d;

    (void)st;
    for (a = 0; a < 4; a++)
        for (b = 0; b < 5; b++)
            for (d = 0; d < 2; d++) {
                set(&o, mins[a], maxs[b], exts[d], 65536);
                if (accepts(&o, allowed(&o)))
                    assert_true(run_case(&o, &o));
                else
                    assert_false(run_case(&o, &o));
            }
    /* the case that used to fail: both at max_ssf 56 */
    set(&o, 0, 56, 0, 65536);
    assert_true(run_case(&o, &o));
}

/* maxbufsize 0 means no security layer (sasl.h): a client with it asks
 * for none; a server with it refuses a client that asks for one. */
static void
maxbufsize_zero_means_no_layer(void **st)
{
    struct hx_opts c, s;

    (void)st;
    set(&c, 0, 256, 0, 0);
    set(&s, 0, 256, 0, 65536);
    assert_true(run_case(&c, &s));
    set(&c, 0, 256, 0, 65536);
    set(&s, 0, 256, 0, 0);
    assert_false(run_case(&c, &s));
    set(&c, 0, 256, 0, 0);
    set(&s, 0, 256, 0, 0);
    assert_true(run_case(&c, &s));
}

/* ---- a real initiator that asks for no sequence detection ---- */

/* MIT's own SPNEGO initiator (gss_init_sec_context with the SPNEGO OID,
 * alice's ticket) against our server plugin through libsasl2, asking for
 * `flags`.  Returns the server's last SASL code. */
static int
mit_spnego_against_server(OM_uint32 flags)
{
    static const uint8_t spnego[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02 };
    gss_OID_desc oid = { sizeof(spnego), (void *)spnego };
    char target[300];
    gss_buffer_desc tbuf, in = GSS_C_EMPTY_BUFFER, out = GSS_C_EMPTY_BUFFER;
    gss_name_t name = GSS_C_NO_NAME;
    gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
    struct hx_session *x = hx_session_new(NULL, NULL, SASL_SUCCESS_DATA);
    const char *sout = NULL;
    unsigned soutlen = 0;
    OM_uint32 major, minor;
    int rc = SASL_CONTINUE, first = 1;

    (void)snprintf(target, sizeof(target), "ldap@%s",
                   getenv("SPNEGO_TEST_HOST"));
    tbuf.value = target;
    tbuf.length = strlen(target);
    assert_false(GSS_ERROR(gss_import_name(&minor, &tbuf,
                                           GSS_C_NT_HOSTBASED_SERVICE,
                                           &name)));
    while (rc == SASL_CONTINUE) {
        in.value = (void *)sout;
        in.length = soutlen;
        major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &ctx, name,
                                     &oid, flags, 0, NULL, &in, NULL, &out,
                                     NULL, NULL);
        assert_false(GSS_ERROR(major));
        rc = first ? sasl_server_start(x->server, "GSS-SPNEGO", out.value,
                                       (unsigned)out.length, &sout, &soutlen)
                   : sasl_server_step(x->server, out.value,
                                      (unsigned)out.length, &sout, &soutlen);
        first = 0;
        (void)gss_release_buffer(&minor, &out);
    }
    if (rc != SASL_OK)
        print_message("# server: %s\n", hx_errdetail(x->server));
    (void)gss_delete_sec_context(&minor, &ctx, GSS_C_NO_BUFFER);
    (void)gss_release_name(&minor, &name);
    hx_session_free(x);
    return rc;
}

/* Kerberos without sequence detection would let replayed and reordered
 * packets through the layer: the server refuses such a layer. */
static void
server_refuses_layer_without_sequence(void **st)
{
    (void)st;
    assert_int_equal(mit_spnego_against_server(GSS_C_MUTUAL_FLAG |
                                               GSS_C_INTEG_FLAG |
                                               GSS_C_CONF_FLAG),
                     SASL_TOOWEAK);
    /* sequence detection alone is enough (what Cyrus' client asks) */
    assert_int_equal(mit_spnego_against_server(GSS_C_MUTUAL_FLAG |
                                               GSS_C_INTEG_FLAG |
                                               GSS_C_CONF_FLAG |
                                               GSS_C_SEQUENCE_FLAG),
                     SASL_OK);
    /* MIT adds CONF and INTEG to a context that asked for no layer
     * (unless the credential suppresses them, as our client and Cyrus'
     * do): a layer without sequence detection again */
    assert_int_equal(mit_spnego_against_server(GSS_C_MUTUAL_FLAG),
                     SASL_TOOWEAK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(equal_properties_agree, hx_teardown),
        cmocka_unit_test_teardown(maxbufsize_zero_means_no_layer,
                                  hx_teardown),
        cmocka_unit_test_teardown(table_ours_against_ours, hx_teardown),
        cmocka_unit_test_teardown(server_refuses_layer_without_sequence,
                                  hx_teardown),
    };
    int rc;

    rc = hx_init("test-ssf");
    if (rc != 0)
        return rc;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    hx_done();
    return rc;
}
