/* server.c - the GSS-SPNEGO server half.
 *
 * Acceptor credentials are acquired once per configuration (keytab,
 * mechanisms) and shared by all connections of the server; they are
 * acquired again when the keytab file changes.  Connections hold a
 * reference, so a refresh never pulls credentials from under one.
 */
#include "plugin.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <krb5.h>

struct shared_creds {
    struct spnego_creds *creds;
    unsigned refs;           /* the cache's own reference counts too */
    char keytab[1024];       /* configuration it was built for */
    char mechs[256];
    struct stat kt_stat;     /* the keytab file when acquired */
    int kt_exists;
};

/* Our own mutex: libsasl2's default mutex functions do nothing unless the
 * application installs real ones with sasl_set_mutex. */
struct server_glob {
    pthread_mutex_t mutex;
    struct shared_creds *current;
    char realm[256];         /* default realm, "" if none */
    int realm_loaded;
};

struct server_conn {
    struct conn c;
    struct shared_creds *creds;
    struct server_glob *glob;
};

/* ---- the credential cache ---- */

static void
keytab_path(const char *keytab, char *buf, size_t size)
{
    const char *name = keytab;

    if (name == NULL)
        name = getenv("KRB5_KTNAME");
    if (name == NULL)
        name = "/etc/krb5.keytab";
    if (strncmp(name, "FILE:", 5) == 0)
        name += 5;
    else if (strncmp(name, "WRFILE:", 7) == 0)
        name += 7;
    (void)snprintf(buf, size, "%s", name);
}

static int
same_file_state(const struct shared_creds *s, const struct stat *st,
                int exists)
{
    if (exists != s->kt_exists)
        return 0;
    if (!exists)
        return 1;
    return st->st_ino == s->kt_stat.st_ino && st->st_dev == s->kt_stat.st_dev &&
           st->st_size == s->kt_stat.st_size &&
           st->st_mtim.tv_sec == s->kt_stat.st_mtim.tv_sec &&
           st->st_mtim.tv_nsec == s->kt_stat.st_mtim.tv_nsec;
}

static int
cache_matches(const struct shared_creds *s, const char *path,
              const char *mechs, const struct stat *st, int exists)
{
    return s != NULL && strcmp(s->keytab, path) == 0 &&
           strcmp(s->mechs, mechs != NULL ? mechs : "") == 0 &&
           same_file_state(s, st, exists);
}

static void
release_shared(struct server_glob *g, struct shared_creds *s)
{
    int last;

    if (s == NULL)
        return;
    pthread_mutex_lock(&g->mutex);
    last = --s->refs == 0;
    pthread_mutex_unlock(&g->mutex);
    if (!last)
        return;
    spnego_creds_free(s->creds);
    free(s);
}

/* Acquire fresh credentials for the configuration (outside the lock). */
static int
build_shared(const sasl_utils_t *utils, const struct plugin_options *o,
             const char *path, const struct stat *st, int exists,
             struct shared_creds **out)
{
    struct spnego_cred_params params = { SPNEGO_ACCEPTOR, o->keytab, NULL,
                                         NULL, o->mechs };
    struct shared_creds *s = calloc(1, sizeof(*s));
    char err[1024];

    *out = NULL;
    if (s == NULL)
        return SASL_NOMEM;
    if (!spnego_creds_acquire(&params, &s->creds, err, sizeof(err))) {
        plugin_error(utils, "GSS-SPNEGO: cannot accept: %s "
                        "(keytab %s%s; check spnego_keytab or KRB5_KTNAME, "
                        "and NTLM_USER_FILE for NTLM)", err, path,
                        exists ? "" : ", which does not exist");
        free(s);
        return SASL_FAIL;
    }
    if (o->mechs != NULL &&
        !spnego_creds_set_neg_mechs(s->creds, o->mechs, err, sizeof(err))) {
        plugin_error(utils, "GSS-SPNEGO: spnego_mechs: %s", err);
        spnego_creds_free(s->creds);
        free(s);
        return SASL_BADPARAM;
    }
    s->refs = 1;
    (void)snprintf(s->keytab, sizeof(s->keytab), "%s", path);
    (void)snprintf(s->mechs, sizeof(s->mechs), "%s",
                   o->mechs != NULL ? o->mechs : "");
    s->kt_exists = exists;
    if (exists)
        s->kt_stat = *st;
    *out = s;
    return SASL_OK;
}

/* Take a reference to credentials for this configuration, building them
 * if the cache is empty, for another configuration, or stale. */
static int
get_shared(struct server_glob *g, const sasl_utils_t *utils,
           const struct plugin_options *o, struct shared_creds **out)
{
    char path[1024];
    struct stat st;
    struct shared_creds *fresh = NULL, *old = NULL;
    int exists, r;

    keytab_path(o->keytab, path, sizeof(path));
    exists = stat(path, &st) == 0;
    pthread_mutex_lock(&g->mutex);
    if (cache_matches(g->current, path, o->mechs, &st, exists)) {
        g->current->refs++;
        *out = g->current;
        pthread_mutex_unlock(&g->mutex);
        return SASL_OK;
    }
    pthread_mutex_unlock(&g->mutex);
    r = build_shared(utils, o, path, &st, exists, &fresh);
    if (r != SASL_OK)
        return r;
    pthread_mutex_lock(&g->mutex);
    old = g->current;
    g->current = fresh;
    fresh->refs++; /* the caller's reference */
    pthread_mutex_unlock(&g->mutex);
    release_shared(g, old);
    *out = fresh;
    return SASL_OK;
}

/* ---- identity ---- */

static void
load_realm(struct server_glob *g)
{
    krb5_context k = NULL;
    char *realm = NULL;

    pthread_mutex_lock(&g->mutex);
    if (!g->realm_loaded && krb5_init_context(&k) == 0) {
        if (krb5_get_default_realm(k, &realm) == 0) {
            (void)snprintf(g->realm, sizeof(g->realm), "%s", realm);
            krb5_free_default_realm(k, realm);
        }
        krb5_free_context(k);
        g->realm_loaded = 1;
    }
    pthread_mutex_unlock(&g->mutex);
}

/* "DOMAIN\user" (NTLM) becomes "user@DOMAIN"; a trailing NUL (gss-ntlmssp
 * 1.2.0 counts one) is dropped; "@<default realm>" is stripped as Cyrus
 * does.  Returns a malloc'd string or NULL. */
static char *
canonical_name(const char *name, size_t len, const char *realm)
{
    const char *bs;
    char *out;
    size_t rl = strlen(realm), ol;

    while (len > 0 && name[len - 1] == '\0')
        len--;
    out = malloc(len + 2);
    if (out == NULL)
        return NULL;
    bs = memchr(name, '\\', len);
    if (bs != NULL && memchr(name, '@', len) == NULL)
        (void)snprintf(out, len + 2, "%.*s@%.*s",
                       (int)(len - (size_t)(bs - name) - 1), bs + 1,
                       (int)(bs - name), name);
    else
        (void)snprintf(out, len + 2, "%.*s", (int)len, name);
    ol = strlen(out);
    if (rl > 0 && ol > rl + 1 && out[ol - rl - 1] == '@' &&
        strcmp(out + ol - rl, realm) == 0)
        out[ol - rl - 1] = '\0';
    return out;
}

static int
set_identity(struct server_conn *s, sasl_server_params_t *sp,
             sasl_out_params_t *oparams)
{
    OM_uint32 major, minor;
    gss_buffer_desc disp = GSS_C_EMPTY_BUFFER;
    char *name = NULL;
    int r;

    major = gss_display_name(&minor, spnego_ctx_peer_name(s->c.engine),
                             &disp, NULL);
    if (GSS_ERROR(major)) {
        plugin_error(sp->utils, "GSS-SPNEGO: cannot display "
                            "the client's name");
        return SASL_FAIL;
    }
    load_realm(s->glob);
    name = canonical_name(disp.value, disp.length, s->glob->realm);
    (void)gss_release_buffer(&minor, &disp);
    if (name == NULL)
        return SASL_NOMEM;
    plugin_log(sp->utils, SASL_LOG_DEBUG, "GSS-SPNEGO: client "
                   "authenticated as %s", name);
    r = sp->canon_user(sp->utils->conn, name, 0,
                       SASL_CU_AUTHID | SASL_CU_AUTHZID |
                           SASL_CU_EXTERNALLY_VERIFIED,
                       oparams);
    free(name);
    return r;
}

/* ---- steps ---- */

static int
server_start(struct server_conn *s, sasl_server_params_t *sp)
{
    struct plugin_options o;
    struct spnego_config cfg;
    int r;

    r = plugin_read_options(sp->utils, 0, &o);
    if (r != SASL_OK)
        return r;
    r = get_shared(s->glob, sp->utils, &o, &s->creds);
    if (r != SASL_OK)
        return r;
    plugin_set_cb(&s->c, sp->cbinding);
    memset(&cfg, 0, sizeof(cfg));
    cfg.creds = s->creds->creds;
    cfg.cb = s->c.has_cb ? &s->c.cb : GSS_C_NO_CHANNEL_BINDINGS;
    cfg.mic_policy = o.mic_policy;
    cfg.max_token = o.max_token;
    cfg.trace = plugin_trace;
    cfg.trace_arg = &s->c;
    if (!spnego_ctx_new(&cfg, &s->c.engine))
        return SASL_NOMEM;
    return SASL_OK;
}

static int
server_finish(struct server_conn *s, sasl_server_params_t *sp,
              sasl_out_params_t *oparams)
{
    int r;

    r = set_identity(s, sp, oparams);
    if (r != SASL_OK)
        return r;
    r = plugin_setup_layer(&s->c, &sp->props, sp->external_ssf, oparams);
    if (r != SASL_OK)
        return r;
    oparams->client_creds = spnego_ctx_take_deleg_cred(s->c.engine);
    oparams->doneflag = 1;
    return SASL_OK;
}

static int
server_new(void *glob, sasl_server_params_t *sp, const char *challenge,
           unsigned challen, void **conn_out)
{
    struct server_conn *s;

    (void)challenge;
    (void)challen;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SASL_NOMEM;
    s->c.utils = sp->utils;
    s->glob = glob;
    *conn_out = s;
    return SASL_OK;
}

static int
server_step(void *conn, sasl_server_params_t *sp, const char *in,
            unsigned inlen, const char **out, unsigned *outlen,
            sasl_out_params_t *oparams)
{
    struct server_conn *s = conn;
    enum spnego_status st;
    uint8_t *tok = NULL;
    size_t toklen = 0;
    int r;

    *out = NULL;
    *outlen = 0;
    if (s->c.engine == NULL) {
        if (inlen == 0)
            return SASL_CONTINUE; /* ask for the client's first token */
        r = server_start(s, sp);
        if (r != SASL_OK)
            return r;
    }
    st = spnego_step(s->c.engine, (const uint8_t *)in, inlen, &tok, &toklen);
    r = plugin_hand_out(&s->c, tok, toklen, out, outlen);
    if (r != SASL_OK)
        return r;
    switch (st) {
    case SPNEGO_CONTINUE_NEEDED:
        return SASL_CONTINUE;
    case SPNEGO_COMPLETE:
        r = server_finish(s, sp, oparams);
        if (r != SASL_OK) {
            *out = NULL;
            *outlen = 0;
        }
        return r; /* the last token, if any, is success data */
    case SPNEGO_BAD_MECH:
    case SPNEGO_DEFECTIVE_TOKEN:
    case SPNEGO_FAILURE:
    default:
        *out = NULL;
        *outlen = 0;
        return plugin_engine_error(&s->c, st);
    }
}

static void
server_dispose(void *conn, const sasl_utils_t *utils)
{
    struct server_conn *s = conn;
    OM_uint32 minor;
    gss_cred_id_t deleg;

    (void)utils;
    if (s == NULL)
        return;
    if (s->c.engine != NULL) {
        deleg = spnego_ctx_take_deleg_cred(s->c.engine);
        (void)gss_release_cred(&minor, &deleg);
    }
    plugin_conn_cleanup(&s->c);
    release_shared(s->glob, s->creds);
    free(s);
}

static void
server_free(void *glob, const sasl_utils_t *utils)
{
    struct server_glob *g = glob;

    (void)utils;
    if (g == NULL)
        return;
    release_shared(g, g->current);
    pthread_mutex_destroy(&g->mutex);
    free(g);
}

static int
server_mech_avail(void *glob, sasl_server_params_t *sp, void **conn)
{
    (void)glob;
    (void)sp;
    (void)conn;
    return SASL_OK;
}

sasl_server_plug_t spnego_server_plugin = {
    .mech_name = SPNEGO_MECH_NAME,
    .max_ssf = 256,
    .security_flags = SASL_SEC_NOPLAINTEXT | SASL_SEC_NOACTIVE |
                      SASL_SEC_NOANONYMOUS | SASL_SEC_MUTUAL_AUTH |
                      SASL_SEC_PASS_CREDENTIALS,
    .features = SASL_FEAT_WANT_CLIENT_FIRST | SASL_FEAT_GSS_FRAMING |
                SASL_FEAT_CHANNEL_BINDING | SASL_FEAT_DONTUSE_USERPASSWD,
    .glob_context = NULL,
    .mech_new = server_new,
    .mech_step = server_step,
    .mech_dispose = server_dispose,
    .mech_free = server_free,
    .mech_avail = server_mech_avail,
};

int sasl_server_plug_init(const sasl_utils_t *utils, int maxversion,
                          int *out_version, sasl_server_plug_t **pluglist,
                          int *plugcount);

int
sasl_server_plug_init(const sasl_utils_t *utils, int maxversion,
                      int *out_version, sasl_server_plug_t **pluglist,
                      int *plugcount)
{
    struct server_glob *g;

    if (maxversion < SASL_SERVER_PLUG_VERSION) {
        plugin_error(utils, "GSS-SPNEGO: libsasl2 offers server "
                        "plugin version %d; version %d is needed", maxversion,
                        SASL_SERVER_PLUG_VERSION);
        return SASL_BADVERS;
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        return SASL_NOMEM;
    if (pthread_mutex_init(&g->mutex, NULL) != 0) {
        free(g);
        return SASL_FAIL;
    }
    spnego_server_plugin.glob_context = g;
    *out_version = SASL_SERVER_PLUG_VERSION;
    *pluglist = &spnego_server_plugin;
    *plugcount = 1;
    return SASL_OK;
}
