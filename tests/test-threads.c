/* test-threads.c - load and threads: 8 threads x 500 handshakes, each
 * followed by data both ways through the confidentiality layer, in one
 * process through libsasl2 (as slapd runs the plugin), with zero failures
 * and memory after the run within a small bound of memory after the
 * first 100 handshakes.  Runs under tests/fixture/with-krb5. */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sasl/sasl.h>

#define THREADS 8u
#define PER_THREAD 500u
#define WARMUP 100u
/* Allowed heap growth between the warm-up and the end of the run. */
#define GROWTH_LIMIT ((size_t)2 * 1024 * 1024)

static char plugin_dir[256];
static const char *host;

struct result {
    unsigned ok, failed;
    char first_error[512];
};

/* libsasl2's default mutexes do nothing: a threaded application installs
 * real ones, as slapd does. */
static void *
mutex_alloc(void)
{
    /* sizeof the type, not of *m: a pthread_mutex_t is only ever touched
     * through the pthread_mutex_* functions (CERT FIO38-C). */
    pthread_mutex_t *m = malloc(sizeof(pthread_mutex_t));

    if (m != NULL)
        pthread_mutex_init(m, NULL);
    return m;
}

static int
mutex_lock(void *m)
{
    return pthread_mutex_lock(m) == 0 ? SASL_OK : SASL_FAIL;
}

static int
mutex_unlock(void *m)
{
    return pthread_mutex_unlock(m) == 0 ? SASL_OK : SASL_FAIL;
}

static void
mutex_free(void *m)
{
    pthread_mutex_destroy(m);
    free(m);
}

static int
getopt_cb(void *ctx, const char *plugin, const char *option,
          const char **result, unsigned *len)
{
    (void)ctx;
    (void)plugin;
    if (strcmp(option, "mech_list") != 0)
        return SASL_FAIL;
    *result = "GSS-SPNEGO";
    if (len != NULL)
        *len = (unsigned)strlen(*result);
    return SASL_OK;
}

#define CB(f) ((int (*)(void))(void (*)(void))(f))

static const sasl_callback_t server_cbs[] = {
    { SASL_CB_GETOPT, CB(getopt_cb), NULL },
    { SASL_CB_LIST_END, NULL, NULL },
};

static void
set_props(sasl_conn_t *conn)
{
    sasl_security_properties_t p;

    memset(&p, 0, sizeof(p));
    p.max_ssf = 256;
    p.maxbufsize = 65536;
    (void)sasl_setprop(conn, SASL_SEC_PROPS, &p);
}

static int
authenticate(sasl_conn_t *c, sasl_conn_t *s)
{
    const char *out = NULL, *sout = NULL, *mech = NULL;
    unsigned outlen = 0, soutlen = 0;
    int cr, sr, first = 1;

    cr = sasl_client_start(c, "GSS-SPNEGO", NULL, &out, &outlen, &mech);
    while (cr == SASL_CONTINUE || cr == SASL_OK) {
        sr = first ? sasl_server_start(s, "GSS-SPNEGO", out, outlen, &sout,
                                       &soutlen)
                   : sasl_server_step(s, out, outlen, &sout, &soutlen);
        first = 0;
        if (sr == SASL_OK && cr == SASL_CONTINUE && soutlen > 0)
            cr = sasl_client_step(c, sout, soutlen, NULL, &out, &outlen);
        if (sr == SASL_OK)
            return cr == SASL_OK ? 0 : -1;
        if (sr != SASL_CONTINUE)
            return -2;
        cr = sasl_client_step(c, sout, soutlen, NULL, &out, &outlen);
    }
    return -1;
}

/* Encode on `from`, decode on `to`, compare. */
static int
through_layer(sasl_conn_t *from, sasl_conn_t *to, const char *msg)
{
    const char *enc = NULL, *dec = NULL;
    unsigned enclen = 0, declen = 0;
    char *copy;
    int ok;

    if (sasl_encode(from, msg, (unsigned)strlen(msg), &enc, &enclen) !=
        SASL_OK)
        return 0;
    copy = malloc(enclen);
    if (copy == NULL)
        return 0;
    memcpy(copy, enc, enclen);
    ok = sasl_decode(to, copy, enclen, &dec, &declen) == SASL_OK &&
         declen == strlen(msg) && memcmp(dec, msg, declen) == 0;
    free(copy);
    return ok;
}

static int
one_handshake(unsigned n, char *err, size_t errlen)
{
    sasl_conn_t *c = NULL, *s = NULL;
    const void *ssf = NULL;
    char msg[64];
    int rc = 0;

    if (sasl_server_new("ldap", host, NULL, NULL, NULL, server_cbs, 0, &s) !=
            SASL_OK ||
        sasl_client_new("ldap", host, NULL, NULL, NULL, 0, &c) != SASL_OK)
        goto cleanup;
    set_props(c);
    set_props(s);
    if (authenticate(c, s) != 0)
        goto cleanup;
    if (sasl_getprop(s, SASL_SSF, &ssf) != SASL_OK ||
        *(const unsigned *)ssf < 56)
        goto cleanup;
    (void)snprintf(msg, sizeof(msg), "handshake %u", n);
    rc = through_layer(c, s, msg) && through_layer(s, c, msg);
cleanup:
    if (!rc && err[0] == '\0')
        (void)snprintf(err, errlen, "handshake %u: client: %s; server: %s", n,
                       c != NULL ? sasl_errdetail(c) : "(none)",
                       s != NULL ? sasl_errdetail(s) : "(none)");
    sasl_dispose(&c);
    sasl_dispose(&s);
    return rc;
}

static void *
worker(void *arg)
{
    struct result *r = arg;
    unsigned i;

    for (i = 0; i < PER_THREAD; i++) {
        if (one_handshake(i, r->first_error, sizeof(r->first_error)))
            r->ok++;
        else
            r->failed++;
    }
    return NULL;
}

static size_t
heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks;
}

static int
setup(void)
{
    const char *top = getenv("top_builddir");
    char so[512], link[600];

    host = getenv("SPNEGO_TEST_HOST");
    if (host == NULL) {
        printf("1..0 # SKIP run me under tests/fixture/with-krb5\n");
        return 0;
    }
    (void)snprintf(so, sizeof(so), "%s/plugins/.libs/libgssspnego.so",
                   top != NULL ? top : ".");
    (void)snprintf(plugin_dir, sizeof(plugin_dir), "/tmp/spnego-threads."
                   "XXXXXX");
    if (mkdtemp(plugin_dir) == NULL)
        return 0;
    (void)snprintf(link, sizeof(link), "%s/libgssspnego.so", plugin_dir);
    if (symlink(so, link) != 0)
        return 0;
    sasl_set_mutex(mutex_alloc, mutex_lock, mutex_unlock, mutex_free);
    return sasl_set_path(SASL_PATH_TYPE_PLUGIN, plugin_dir) == SASL_OK &&
           sasl_client_init(NULL) == SASL_OK &&
           sasl_server_init(NULL, "test-threads") == SASL_OK;
}

static void
teardown(void)
{
    char link[600];

    sasl_done();
    (void)snprintf(link, sizeof(link), "%s/libgssspnego.so", plugin_dir);
    (void)unlink(link);
    (void)rmdir(plugin_dir);
}

int
main(void)
{
    pthread_t tid[THREADS];
    struct result res[THREADS];
    char err[512] = "";
    unsigned i, ok = 0, failed = 0;
    size_t warm, after;
    int measurable;

    if (!setup()) {
        if (host == NULL)
            return 0;
        printf("Bail out! cannot set up libsasl2 with the plugin\n");
        return 1;
    }
    printf("1..3\n");
    for (i = 0; i < WARMUP; i++)
        failed += !one_handshake(i, err, sizeof(err));
    printf("%s 1 - %u warm-up handshakes%s%s\n", failed ? "not ok" : "ok",
           WARMUP, failed ? ": " : "", err);
    warm = heap_in_use();
    memset(res, 0, sizeof(res));
    for (i = 0; i < THREADS; i++)
        pthread_create(&tid[i], NULL, worker, &res[i]);
    for (i = 0; i < THREADS; i++) {
        pthread_join(tid[i], NULL);
        ok += res[i].ok;
        failed += res[i].failed;
        if (res[i].failed && err[0] == '\0')
            (void)snprintf(err, sizeof(err), "%s", res[i].first_error);
    }
    printf("%s 2 - %u threads x %u handshakes with a confidentiality layer: "
           "%u ok, %u failed%s%s\n", ok == THREADS * PER_THREAD ? "ok"
                                                                : "not ok",
           THREADS, PER_THREAD, ok, failed, err[0] ? "; first: " : "", err);
    after = heap_in_use();
    /* ASan replaces malloc and mallinfo2 then reports nothing. */
    measurable = warm > 0;
    printf("%s 3 - heap in use %zu bytes after the warm-up, %zu after the "
           "run (limit +%zu)%s\n",
           !measurable || after <= warm + GROWTH_LIMIT ? "ok" : "not ok",
           warm, after, GROWTH_LIMIT,
           measurable ? "" : " # SKIP malloc statistics unavailable here");
    teardown();
    return 0;
}
