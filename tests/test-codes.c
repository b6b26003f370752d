/* test-codes.c - the SASL result codes of gss_spnego(7) (DIAGNOSTICS,
 * "SASL result codes"), one case per row of that table, with our plugin
 * on both sides through libsasl2 (tests/sasl-harness.h) in the fixture's
 * realm.  The last case reads the man page and checks that its table and
 * the cases here name the same codes, row for row.
 *
 * The rule (issue 13, point 4): the mechanism or the peer refusing the
 * credentials (a wrong password, an altered ticket, a mechListMIC that
 * does not verify, wrong channel bindings) is SASL_BADAUTH; a malformed
 * SPNEGO message is SASL_BADPROT; local problems are SASL_FAIL (no
 * keytab, an unknown service) or SASL_NOMEM.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* dladdr */
#endif
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sasl-harness.h"

/* ---- allocation failures inside the plugin ---- */

/* A sanitizer brings its own allocator: no interposition there (the
 * out-of-memory case is skipped; the normal build runs it). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CAN_FAIL_ALLOCATIONS 0
#else
#define CAN_FAIL_ALLOCATIONS 1
#endif

static long fail_countdown = -1; /* >= 0: fail the plugin's Nth call */
static int failed_one;            /* an allocation was made to fail */

#if CAN_FAIL_ALLOCATIONS
/* glibc's own allocator under its exported names: what the interposed
 * functions below call (dlsym(RTLD_NEXT) would itself allocate). */
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
void *__libc_malloc(size_t n);
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
void *__libc_calloc(size_t n, size_t size);
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
void *__libc_realloc(void *p, size_t n);

static _Thread_local int in_hook;

/* 1 if the allocation called from `caller` is the one to fail: only
 * allocations made by the plugin's own code count (those of libsasl2 or
 * MIT krb5 are not ours to test). */
static int
should_fail(const void *caller)
{
    Dl_info info;
    int ours;

    if (fail_countdown < 0 || in_hook)
        return 0;
    in_hook = 1;
    ours = dladdr(caller, &info) != 0 && info.dli_fname != NULL &&
           strstr(info.dli_fname, "libgssspnego") != NULL;
    in_hook = 0;
    if (!ours || fail_countdown-- != 0)
        return 0;
    failed_one = 1;
    return 1;
}

void *
malloc(size_t n)
{
    return should_fail(__builtin_return_address(0)) ? NULL
                                                     : __libc_malloc(n);
}

void *
calloc(size_t n, size_t size)
{
    return should_fail(__builtin_return_address(0)) ? NULL
                                                     : __libc_calloc(n, size);
}

void *
realloc(void *p, size_t n)
{
    return should_fail(__builtin_return_address(0)) ? NULL
                                                     : __libc_realloc(p, n);
}
#endif

/* ---- helpers ---- */

static const struct hx_opts KRB5 = { .mechs = "krb5" };
static const struct hx_opts NTLM = { .mechs = "ntlmssp" };
static const struct hx_opts KRB5_NTLM = { .mechs = "krb5 ntlmssp" };

/* Run one exchange; the hook (may be NULL) edits messages in transit. */
static struct hx_session *
run(const struct hx_opts *c, const struct hx_opts *s, hx_hook hook,
    void *arg)
{
    struct hx_session *x = hx_session_new(c, s, SASL_SUCCESS_DATA);

    hx_exchange(x, hook, arg);
    return x;
}

/* The side `conn` ended with `code`, and its error names `why`. */
static void
assert_code(sasl_conn_t *conn, int rc, int code, const char *why)
{
    if (rc != code || strstr(hx_errdetail(conn), why) == NULL)
        fail_msg("got %d (%s), want %d with \"%s\"", rc, hx_errdetail(conn),
                 code, why);
}

/* Which message to damage, and how. */
struct damage {
    enum hx_dir dir;
    unsigned index;
    long at;      /* byte offset from the end (1 = last byte) to flip */
    size_t keep;  /* or, with at 0: cut the message to this many bytes */
};

static void
damage_hook(void *arg, enum hx_dir dir, unsigned index, struct hx_msg *msg)
{
    const struct damage *d = arg;

    if (dir != d->dir || index != d->index)
        return;
    if (d->at > 0 && (size_t)d->at <= msg->len)
        msg->data[msg->len - (size_t)d->at] ^= 0x01;
    else if (d->at == 0 && d->keep < msg->len)
        msg->len = d->keep;
}

/* ---- SASL_BADAUTH: the mechanism or the peer refused ---- */

static void
badauth_wrong_password(void **st)
{
    struct hx_opts c = { .mechs = "krb5", .authname = "bob",
                         .password = "wrong" };
    struct hx_session *x;

    (void)st;
    x = run(&c, &KRB5, NULL, NULL);
    assert_code(x->client, x->client_rc, SASL_BADAUTH, "was refused");
    hx_session_free(x);
}

/* One bit of the AP-REQ's authenticator flipped (the optimistic token's
 * last bytes): Kerberos refuses it. */
static void
badauth_altered_ticket(void **st)
{
    struct damage d = { HX_C2S, 0, 20, 0 };
    struct hx_session *x;

    (void)st;
    x = run(&KRB5, &KRB5, damage_hook, &d);
    assert_code(x->server, x->server_rc, SASL_BADAUTH,
                "optimistic token was refused (krb5)");
    hx_session_free(x);
}

/* NTLM's last initiator message ends with the mechListMIC: one bit of it
 * flipped. */
static void
badauth_altered_mic(void **st)
{
    struct damage d = { HX_C2S, 1, 1, 0 };
    struct hx_session *x;

    (void)st;
    x = run(&NTLM, &NTLM, damage_hook, &d);
    assert_code(x->server, x->server_rc, SASL_BADAUTH,
                "mechListMIC did not verify");
    hx_session_free(x);
}

static void
badauth_wrong_channel_bindings(void **st)
{
    sasl_channel_binding_t cc = { "tls-server-end-point", 0, 1,
                                  (const unsigned char *)"A" };
    sasl_channel_binding_t sc = { "tls-server-end-point", 0, 1,
                                  (const unsigned char *)"B" };
    struct hx_session *x = hx_session_new(&KRB5, &KRB5, SASL_SUCCESS_DATA);

    (void)st;
    assert_int_equal(sasl_setprop(x->client, SASL_CHANNEL_BINDING, &cc),
                     SASL_OK);
    assert_int_equal(sasl_setprop(x->server, SASL_CHANNEL_BINDING, &sc),
                     SASL_OK);
    hx_exchange(x, NULL, NULL);
    assert_code(x->server, x->server_rc, SASL_BADAUTH,
                "Incorrect channel bindings");
    hx_session_free(x);
}

/* ---- SASL_BADBINDING ---- */

static void
badbinding_required_binding_missing(void **st)
{
    sasl_channel_binding_t sc = { "tls-server-end-point", 1, 1,
                                  (const unsigned char *)"B" };
    struct hx_session *x = hx_session_new(&KRB5, &KRB5, SASL_SUCCESS_DATA);

    (void)st;
    assert_int_equal(sasl_setprop(x->server, SASL_CHANNEL_BINDING, &sc),
                     SASL_OK);
    hx_exchange(x, NULL, NULL);
    assert_code(x->server, x->server_rc, SASL_BADBINDING,
                "is required (critical)");
    hx_session_free(x);
}

/* A client whose application requires channel binding but has no
 * binding data refuses to start. */
static void
badbinding_client_required_without_data(void **st)
{
    sasl_channel_binding_t cc = { "tls-server-end-point", 1, 0, NULL };
    struct hx_session *x = hx_session_new(&KRB5, &KRB5, SASL_SUCCESS_DATA);
    const uint8_t *tok = NULL;
    size_t len = 0;

    (void)st;
    assert_int_equal(sasl_setprop(x->client, SASL_CHANNEL_BINDING, &cc),
                     SASL_OK);
    (void)hx_client_start(x, &tok, &len);
    assert_code(x->client, x->client_rc, SASL_BADBINDING,
                "no binding data");
    hx_session_free(x);
}

/* ---- SASL_BADPROT: a malformed SPNEGO message ---- */

static void
badprot_truncated_token(void **st)
{
    struct damage d = { HX_C2S, 0, 0, 40 };
    struct hx_session *x;

    (void)st;
    x = run(&KRB5, &KRB5, damage_hook, &d);
    assert_code(x->server, x->server_rc, SASL_BADPROT, "truncated");
    hx_session_free(x);
}

/* ---- SASL_NOMECH ---- */

static void
nomech_nothing_in_common(void **st)
{
    struct hx_session *x;

    (void)st;
    x = run(&NTLM, &KRB5, NULL, NULL);
    assert_code(x->server, x->server_rc, SASL_NOMECH,
                "no common mechanism");
    hx_session_free(x);
}

/* ---- SASL_TOOWEAK ---- */

static void
tooweak_layer_below_min_ssf(void **st)
{
    struct hx_opts c = { .mechs = "krb5", .set_props = 1, .max_ssf = 0,
                         .maxbufsize = 65536 };
    struct hx_opts s = { .mechs = "krb5", .set_props = 1, .min_ssf = 56,
                         .max_ssf = 256, .maxbufsize = 65536 };
    struct hx_session *x;

    (void)st;
    x = run(&c, &s, NULL, NULL);
    assert_code(x->server, x->server_rc, SASL_TOOWEAK, "min_ssf 56");
    hx_session_free(x);
}

/* The server takes only NTLM, the client prefers Kerberos and wants no
 * layer, outside TLS: NTLM without signing cannot protect the
 * negotiation. */
static void
tooweak_unprotected_negotiation(void **st)
{
    struct hx_opts c = { .mechs = "krb5 ntlmssp", .set_props = 1,
                         .max_ssf = 0, .maxbufsize = 65536 };
    struct hx_opts s = { .mechs = "ntlmssp" };
    struct hx_session *x;

    (void)st;
    x = run(&c, &s, NULL, NULL);
    assert_code(x->client, x->client_rc, SASL_TOOWEAK,
                "cannot protect the negotiation");
    hx_session_free(x);
}

/* ---- SASL_FAIL: local problems ---- */

static void
fail_missing_keytab(void **st)
{
    struct hx_opts s = { .mechs = "krb5",
                         .keytab = "FILE:/nonexistent/server.keytab" };
    struct hx_session *x;

    (void)st;
    x = run(&KRB5, &s, NULL, NULL);
    assert_code(x->server, x->server_rc, SASL_FAIL, "nonexistent");
    hx_session_free(x);
}

/* A service the KDC does not know: the client cannot get a ticket. */
static void
fail_unknown_service(void **st)
{
    const char *out = NULL, *mech = NULL;
    unsigned outlen = 0;
    sasl_conn_t *client = NULL;
    sasl_callback_t cb[] = { { SASL_CB_LIST_END, NULL, NULL } };
    int rc;

    (void)st;
    assert_int_equal(sasl_client_new("nosuchservice", getenv(
                                          "SPNEGO_TEST_HOST"),
                                      NULL, NULL, cb, 0, &client),
                     SASL_OK);
    setenv("SPNEGO_MECHS", "krb5", 1); /* (no NTLM to fall back on) */
    rc = sasl_client_start(client, "GSS-SPNEGO", NULL, &out, &outlen, &mech);
    unsetenv("SPNEGO_MECHS");
    assert_code(client, rc, SASL_FAIL, "no mechanism could start");
    sasl_dispose(&client);
}

/* ---- SASL_NOMEM ---- */

/* Each allocation of the plugin's, in turn, fails once during a whole
 * exchange with client options c: the exchange either copes (both sides
 * succeed) or a side reports SASL_NOMEM; never another code, never a
 * crash.  Returns how many allocations there were. */
static long
fail_each_allocation(const struct hx_opts *c, int *nomem)
{
    struct hx_session *x;
    long n;

    for (n = 0; n < 5000; n++) {
        x = hx_session_new(c, &KRB5_NTLM, SASL_SUCCESS_DATA);
        failed_one = 0;
        fail_countdown = n;
        hx_exchange(x, NULL, NULL);
        fail_countdown = -1;
        if (!failed_one) {
            /* past the last allocation: a normal exchange */
            assert_int_equal(x->client_rc, SASL_OK);
            assert_int_equal(x->server_rc, SASL_OK);
            hx_session_free(x);
            return n;
        }
        if (x->client_rc != SASL_OK || x->server_rc != SASL_OK) {
            if (x->client_rc != SASL_NOMEM && x->server_rc != SASL_NOMEM)
                fail_msg("allocation %ld failed: client %d (%s), server %d "
                         "(%s); want SASL_NOMEM", n, x->client_rc,
                         hx_errdetail(x->client), x->server_rc,
                         hx_errdetail(x->server));
            (*nomem)++;
        }
        hx_session_free(x);
    }
    fail_msg("more than %ld allocations in one exchange", n);
    return n;
}

/* Kerberos with the default ticket, NTLM, and Kerberos with a password
 * (credentials acquired for the connection). */
static void
nomem_out_of_memory(void **st)
{
    static const struct hx_opts pw = { .mechs = "krb5", .authname = "bob",
                                       .password = "bob-pw" };
    long n;
    int nomem = 0;

    (void)st;
    n = fail_each_allocation(&KRB5, &nomem);
    n += fail_each_allocation(&NTLM, &nomem);
    n += fail_each_allocation(&pw, &nomem);
    assert_true(nomem > 0);
    print_message("# %ld allocations of the plugin failed in turn, %d "
                  "ended in SASL_NOMEM\n", n, nomem);
}

/* ---- SASL_BADPARAM ---- */

static void
badparam_bad_option(void **st)
{
    struct hx_opts s = { .mechs = "krb5", .send_mic = "sometimes" };
    struct hx_session *x;

    (void)st;
    x = run(&KRB5, &s, NULL, NULL);
    assert_code(x->server, x->server_rc, SASL_BADPARAM,
                "spnego_send_mic \"sometimes\"");
    hx_session_free(x);
}

/* ---- the man page's table ---- */

struct row {
    const char *code;   /* as the man page writes it */
    const char *test;   /* the case here */
};

static const struct row rows[] = {
    { "SASL_BADAUTH", "badauth_wrong_password" },
    { "SASL_BADAUTH", "badauth_altered_ticket" },
    { "SASL_BADAUTH", "badauth_altered_mic" },
    { "SASL_BADAUTH", "badauth_wrong_channel_bindings" },
    { "SASL_BADBINDING", "badbinding_required_binding_missing" },
    { "SASL_BADBINDING", "badbinding_client_required_without_data" },
    { "SASL_BADPROT", "badprot_truncated_token" },
    { "SASL_NOMECH", "nomech_nothing_in_common" },
    { "SASL_TOOWEAK", "tooweak_layer_below_min_ssf" },
    { "SASL_TOOWEAK", "tooweak_unprotected_negotiation" },
    { "SASL_FAIL", "fail_missing_keytab" },
    { "SASL_FAIL", "fail_unknown_service" },
    { "SASL_NOMEM", "nomem_out_of_memory" },
    { "SASL_BADPARAM", "badparam_bad_option" },
};

/* The man page lists, in its table, ".B SASL_X" followed by
 * ".\" tested-by: tests/test-codes.c CASE" lines: the pairs must be those
 * of rows[], in order. */
static void
man_page_table_matches(void **st)
{
    const char *top = getenv("top_srcdir");
    char path[512], line[512], code[64] = "";
    size_t next = 0;
    FILE *f;

    (void)st;
    (void)snprintf(path, sizeof(path), "%s/plugins/gss_spnego.7",
                   top != NULL ? top : ".");
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        char name[128];

        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, ".B SASL_", 8) == 0)
            (void)snprintf(code, sizeof(code), "%.63s", line + 3);
        if (sscanf(line, ".\\\" tested-by: tests/test-codes.c %127s",
                   name) != 1)
            continue;
        if (next >= sizeof(rows) / sizeof(rows[0]))
            fail_msg("the man page names a case too many: %s", name);
        if (strcmp(code, rows[next].code) != 0 ||
            strcmp(name, rows[next].test) != 0)
            fail_msg("man page row %zu: %s %s; the test has %s %s", next + 1,
                     code, name, rows[next].code, rows[next].test);
        next++;
    }
    (void)fclose(f);
    assert_int_equal(next, sizeof(rows) / sizeof(rows[0]));
}

#define T(f) cmocka_unit_test_teardown(f, hx_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(badauth_wrong_password),
        T(badauth_altered_ticket),
        T(badauth_altered_mic),
        T(badauth_wrong_channel_bindings),
        T(badbinding_required_binding_missing),
        T(badbinding_client_required_without_data),
        T(badprot_truncated_token),
        T(nomech_nothing_in_common),
        T(tooweak_layer_below_min_ssf),
        T(tooweak_unprotected_negotiation),
        T(fail_missing_keytab),
        T(fail_unknown_service),
        T(nomem_out_of_memory),
        T(badparam_bad_option),
        T(man_page_table_matches),
    };
    struct CMUnitTest selected[sizeof(tests) / sizeof(tests[0])];
    size_t i, n = 0;
    int rc;

    /* Under a sanitizer's allocator no allocation can be made to fail
     * here: the out-of-memory case runs in the normal build only. */
    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        if (CAN_FAIL_ALLOCATIONS ||
            strcmp(tests[i].name, "nomem_out_of_memory") != 0)
            selected[n++] = tests[i];
    }
    if (n != sizeof(tests) / sizeof(tests[0]))
        printf("# nomem_out_of_memory: not in a sanitizer build (its "
               "allocator cannot be interposed); the normal build runs it\n");
    rc = hx_init("test-codes");
    if (rc != 0)
        return rc;
    rc = _cmocka_run_group_tests("tests", selected, n, NULL, NULL);
    hx_done();
    return rc;
}
