/* sasl-harness.c - client and server of the plugin in one process.  See
 * sasl-harness.h. */
#include "sasl-harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define MECH "GSS-SPNEGO"
#define COMPLETE_MARK "GSS-SPNEGO: complete with "

static char plugin_dir[256];
static char plugin_path[512];
static const char *host;

/* libsasl2 stores every callback as int (*)(void); going through
 * void (*)(void) is the cast C allows between function types. */
#define CB(f) ((int (*)(void))(void (*)(void))(f))

/* ---- callbacks ---- */

static int
log_cb(void *ctx, int level, const char *message)
{
    struct hx_log *log = ctx;
    const char *p;
    size_t n, room;
    int w;

    if (message == NULL)
        return SASL_OK;
    if (getenv("SPNEGO_TEST_VERBOSE") != NULL)
        fprintf(stderr, "  [%s %d] %s\n", log->side, level, message);
    if (level == SASL_LOG_FAIL || level == SASL_LOG_ERR)
        log->failures++;
    p = strstr(message, COMPLETE_MARK);
    if (p != NULL) {
        p += strlen(COMPLETE_MARK);
        n = strcspn(p, "; ");
        if (n >= sizeof(log->complete))
            n = sizeof(log->complete) - 1;
        memcpy(log->complete, p, n);
        log->complete[n] = '\0';
    }
    room = sizeof(log->text) - log->len;
    if (room > 1) {
        w = snprintf(log->text + log->len, room, "%s\n", message);
        if (w > 0)
            log->len += (size_t)w < room ? (size_t)w : room - 1;
    }
    return SASL_OK;
}

static int
getopt_cb(void *ctx, const char *plugin, const char *option,
          const char **result, unsigned *len)
{
    const struct hx_opts *o = ctx;

    (void)plugin;
    *result = NULL;
    if (strcmp(option, "mech_list") == 0)
        *result = MECH;
    else if (strcmp(option, "spnego_mechs") == 0)
        *result = o->mechs;
    else if (strcmp(option, "spnego_max_token") == 0)
        *result = o->max_token;
    else if (strcmp(option, "spnego_send_mic") == 0)
        *result = o->send_mic;
    else if (strcmp(option, "spnego_keytab") == 0)
        *result = o->keytab;
    else if (strcmp(option, "spnego_raw_tokens") == 0)
        *result = o->raw_tokens;
    else if (strcmp(option, "spnego_fast_layer") == 0)
        *result = o->fast_layer;
    if (*result == NULL)
        return SASL_FAIL;
    if (len != NULL)
        *len = (unsigned)strlen(*result);
    return SASL_OK;
}

static int
authname_cb(void *ctx, int id, const char **result, unsigned *len)
{
    const struct hx_opts *o = ctx;

    (void)id;
    *result = o->authname;
    if (len != NULL)
        *len = (unsigned)strlen(*result);
    return SASL_OK;
}

static int
pass_cb(sasl_conn_t *conn, void *ctx, int id, sasl_secret_t **psecret)
{
    static sasl_secret_t *secret; /* libsasl2 does not free it */
    const struct hx_opts *o = ctx;
    size_t n = strlen(o->password);

    (void)conn;
    (void)id;
    free(secret);
    secret = malloc(sizeof(*secret) + n);
    if (secret == NULL)
        return SASL_NOMEM;
    secret->len = n;
    memcpy(secret->data, o->password, n + 1);
    *psecret = secret;
    return SASL_OK;
}

/* The client's callbacks for its identity, from index i; returns the
 * index after them. */
static size_t
identity_callbacks(struct hx_session *s, size_t i)
{
    static const unsigned long ids[] = { SASL_CB_USER, SASL_CB_AUTHNAME,
                                         SASL_CB_PASS };
    size_t k;

    for (k = 0; k < 3; k++) {
        if (s->copts.prompt & (1u << k))
            s->ccb[i++] = (sasl_callback_t){ ids[k], NULL, NULL };
    }
    if (s->copts.authname != NULL && !(s->copts.prompt & HX_PROMPT_AUTHNAME))
        s->ccb[i++] = (sasl_callback_t){ SASL_CB_AUTHNAME, CB(authname_cb),
                                         &s->copts };
    if (s->copts.password != NULL && !(s->copts.prompt & HX_PROMPT_PASS))
        s->ccb[i++] = (sasl_callback_t){ SASL_CB_PASS, CB(pass_cb),
                                         &s->copts };
    return i;
}

/* Answer the prompts of a SASL_INTERACT, noting what was asked. */
static void
answer_prompts(struct hx_session *s, sasl_interact_t *p)
{
    static const char *const names[] = { "user ", "authname ", "pass " };
    const char *answer;
    size_t used;
    int k;

    for (; p != NULL && p->id != SASL_CB_LIST_END; p++) {
        k = p->id == SASL_CB_USER ? 0 : p->id == SASL_CB_AUTHNAME ? 1 : 2;
        answer = k == 1 ? s->copts.authname : k == 2 ? s->copts.password
                                                     : NULL;
        if (answer == NULL)
            answer = "";
        used = strlen(s->asked);
        (void)snprintf(s->asked + used, sizeof(s->asked) - used, "%s",
                       names[k]);
        p->result = answer;
        p->len = (unsigned)strlen(answer);
    }
}

/* ---- setup ---- */

static int
setup_plugin_dir(void)
{
    const char *top = getenv("top_builddir");
    char link[600];

    (void)snprintf(plugin_path, sizeof(plugin_path),
                   "%s/plugins/.libs/libgssspnego.so",
                   top != NULL ? top : ".");
    (void)snprintf(plugin_dir, sizeof(plugin_dir),
                   "/tmp/spnego-plugins.XXXXXX");
    if (mkdtemp(plugin_dir) == NULL)
        return 0;
    (void)snprintf(link, sizeof(link), "%s/libgssspnego.so", plugin_dir);
    return symlink(plugin_path, link) == 0;
}

static void
remove_plugin_dir(void)
{
    char link[600];

    if (plugin_dir[0] == '\0')
        return;
    (void)snprintf(link, sizeof(link), "%s/libgssspnego.so", plugin_dir);
    (void)unlink(link);
    (void)rmdir(plugin_dir);
    plugin_dir[0] = '\0';
}

int
hx_init(const char *prog)
{
    host = getenv("SPNEGO_TEST_HOST");
    if (host == NULL) {
        fprintf(stderr, "%s: run me under tests/fixture/with-krb5\n", prog);
        return 77;
    }
    /* the client's mechanisms come from its getopt callback only */
    unsetenv("SPNEGO_MECHS");
    if (!setup_plugin_dir()) {
        fprintf(stderr, "%s: cannot make a plugin directory\n", prog);
        return 99;
    }
    if (sasl_set_path(SASL_PATH_TYPE_PLUGIN, plugin_dir) != SASL_OK ||
        sasl_client_init(NULL) != SASL_OK ||
        sasl_server_init(NULL, prog) != SASL_OK) {
        fprintf(stderr, "%s: libsasl2 initialisation failed (plugin %s)\n",
                prog, plugin_path);
        remove_plugin_dir();
        return 99;
    }
    return 0;
}

void
hx_done(void)
{
    sasl_done();
    remove_plugin_dir();
}

/* ---- sessions ---- */

static void
set_props(sasl_conn_t *conn, const struct hx_opts *o)
{
    sasl_security_properties_t p;
    sasl_ssf_t ext = o->set_props ? o->external_ssf : 0;

    memset(&p, 0, sizeof(p));
    p.min_ssf = o->set_props ? o->min_ssf : 0;
    p.max_ssf = o->set_props ? o->max_ssf : 256;
    p.maxbufsize = o->set_props ? o->maxbufsize : 65536;
    p.security_flags = o->security_flags;
    assert_int_equal(sasl_setprop(conn, SASL_SEC_PROPS, &p), SASL_OK);
    assert_int_equal(sasl_setprop(conn, SASL_SSF_EXTERNAL, &ext), SASL_OK);
}

/* Sessions not yet freed (a failed assertion leaves the test early). */
#define MAX_LIVE 8
static struct hx_session *live[MAX_LIVE];

struct hx_session *
hx_session_new(const struct hx_opts *copts, const struct hx_opts *sopts,
               unsigned server_flags)
{
    struct hx_session *s = calloc(1, sizeof(*s));
    size_t i;

    assert_non_null(s);
    for (i = 0; i < MAX_LIVE; i++) {
        if (live[i] == NULL) {
            live[i] = s;
            break;
        }
    }
    if (i == MAX_LIVE) {
        free(s);
        fail_msg("more than %d sessions open at once", MAX_LIVE);
    }
    if (copts != NULL)
        s->copts = *copts;
    if (sopts != NULL)
        s->sopts = *sopts;
    s->clog.side = "client";
    s->slog.side = "server";
    s->client_rc = SASL_CONTINUE;
    s->server_rc = SASL_CONTINUE;
    s->ccb[0] = (sasl_callback_t){ SASL_CB_GETOPT, CB(getopt_cb), &s->copts };
    s->ccb[1] = (sasl_callback_t){ SASL_CB_LOG, CB(log_cb), &s->clog };
    s->ccb[identity_callbacks(s, 2)] =
        (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
    s->scb[0] = (sasl_callback_t){ SASL_CB_GETOPT, CB(getopt_cb), &s->sopts };
    s->scb[1] = (sasl_callback_t){ SASL_CB_LOG, CB(log_cb), &s->slog };
    s->scb[2] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
    assert_int_equal(sasl_server_new("ldap", host, NULL, NULL, NULL, s->scb,
                                     server_flags, &s->server),
                     SASL_OK);
    assert_int_equal(sasl_client_new("ldap", host, NULL, NULL, s->ccb, 0,
                                     &s->client),
                     SASL_OK);
    set_props(s->client, &s->copts);
    set_props(s->server, &s->sopts);
    return s;
}

void
hx_session_free(struct hx_session *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < MAX_LIVE; i++) {
        if (live[i] == s)
            live[i] = NULL;
    }
    sasl_dispose(&s->client);
    sasl_dispose(&s->server);
    free(s);
}

int
hx_teardown(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < MAX_LIVE; i++)
        hx_session_free(live[i]);
    return 0;
}

int
hx_client_start(struct hx_session *s, const uint8_t **tok_out,
                size_t *len_out)
{
    const char *out = NULL, *mech = NULL;
    unsigned outlen = 0, rounds = 0;
    sasl_interact_t *prompts = NULL;

    do {
        answer_prompts(s, prompts);
        s->client_rc = sasl_client_start(s->client, MECH, &prompts, &out,
                                         &outlen, &mech);
    } while (s->client_rc == SASL_INTERACT && ++rounds < 4);
    *tok_out = (const uint8_t *)out;
    *len_out = outlen;
    return s->client_rc;
}

void
hx_msg_set(struct hx_msg *msg, const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);

    assert_non_null(copy);
    if (len > 0)
        memcpy(copy, data, len);
    free(msg->data);
    msg->data = copy;
    msg->len = len;
}

/* Copy (out, outlen) into a message, pass it through the hook. */
static void
transit(struct hx_session *s, hx_hook hook, void *arg, enum hx_dir dir,
        const char *out, unsigned outlen, struct hx_msg *msg)
{
    unsigned *count = dir == HX_C2S ? &s->c2s : &s->s2c;

    msg->data = NULL;
    msg->len = 0;
    hx_msg_set(msg, (const uint8_t *)out, outlen);
    if (hook != NULL)
        hook(arg, dir, *count, msg);
    (*count)++;
}

/* A message's data for libsasl2 (unsigned length, checked). */
static unsigned
msg_len(const struct hx_msg *msg)
{
    assert_true(msg->len <= 0xffffffffu);
    return (unsigned)msg->len;
}

static void
to_client(struct hx_session *s, hx_hook hook, void *arg, const char *sout,
          unsigned soutlen)
{
    struct hx_msg msg;
    const char *out = NULL;
    unsigned outlen = 0;

    transit(s, hook, arg, HX_S2C, sout, soutlen, &msg);
    s->client_rc = sasl_client_step(s->client, (const char *)msg.data,
                                    msg_len(&msg), NULL, &out, &outlen);
    free(msg.data);
    /* keep the client's answer for the next round */
    s->pending = out;
    s->pending_len = outlen;
}

void
hx_exchange(struct hx_session *s, hx_hook hook, void *arg)
{
    const uint8_t *first = NULL;
    size_t first_len = 0;
    const char *sout = NULL;
    unsigned soutlen;
    struct hx_msg msg;
    int started = 0;

    if (hx_client_start(s, &first, &first_len) != SASL_CONTINUE &&
        s->client_rc != SASL_OK)
        return;
    s->pending = (const char *)first;
    s->pending_len = (unsigned)first_len;
    for (;;) {
        /* The client completed and has nothing more to say. */
        if (s->client_rc == SASL_OK && s->pending_len == 0 && started)
            break;
        transit(s, hook, arg, HX_C2S, s->pending, s->pending_len, &msg);
        sout = NULL;
        soutlen = 0;
        s->server_rc = !started
                           ? sasl_server_start(s->server, MECH,
                                               (const char *)msg.data,
                                               msg_len(&msg), &sout, &soutlen)
                           : sasl_server_step(s->server,
                                              (const char *)msg.data,
                                              msg_len(&msg), &sout, &soutlen);
        free(msg.data);
        started = 1;
        if (s->server_rc == SASL_OK) {
            if (s->client_rc == SASL_CONTINUE && soutlen > 0) {
                s->server_success_data = 1;
                to_client(s, hook, arg, sout, soutlen);
            }
            break;
        }
        if (s->server_rc != SASL_CONTINUE || s->client_rc == SASL_OK)
            break;
        to_client(s, hook, arg, sout, soutlen);
        if (s->client_rc != SASL_CONTINUE && s->client_rc != SASL_OK)
            break;
    }
}

const char *
hx_errdetail(sasl_conn_t *conn)
{
    const char *d = sasl_errdetail(conn);

    return d != NULL ? d : "";
}

const char *
hx_username(sasl_conn_t *conn)
{
    const void *v = NULL;

    if (sasl_getprop(conn, SASL_USERNAME, &v) != SASL_OK || v == NULL)
        return "";
    return v;
}

unsigned
hx_ssf(sasl_conn_t *conn)
{
    const void *v = NULL;

    if (sasl_getprop(conn, SASL_SSF, &v) != SASL_OK || v == NULL)
        return 0;
    return *(const unsigned *)v;
}
