/* server.c - the GSS-SPNEGO server half.
 *
 * Acceptor credentials are acquired once per configuration (keytab,
 * mechanisms, NTLM user file) and shared by all connections of the server
 * (credcache.h); they are acquired again when one of those files changes.
 */
#include "plugin.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gssapi/gssapi_ext.h>
#include <krb5.h>

#include "credcache.h"

struct server_glob {
    struct cred_cache *cache;
    pthread_mutex_t mutex;   /* for the realm */
    char realm[256];         /* default realm, "" if none */
    int realm_loaded;
    /* Held for the plugin's life: MIT keeps krb5.conf parsed while any
     * krb5 context exists, instead of re-reading it in each GSS call. */
    krb5_context krb5;
};

struct server_conn {
    struct conn c;
    struct cred_ref *creds;
    struct spnego_creds *borrowed; /* from SASL_GSS_CREDS, or NULL */
    struct server_glob *glob;
    int asked_for_token;     /* answered an empty message already */
    gss_cred_id_t deleg;     /* delegated credentials handed out */
};

/* ---- credentials ---- */

/* The keytab the acceptor will use: spnego_keytab, else what the Kerberos
 * library would use (KRB5_KTNAME, then krb5.conf's default_keytab_name,
 * then its built-in default). */
static const char *
keytab_name(struct server_glob *g, const char *option, char *buf,
            size_t size)
{
    krb5_error_code code = -1;

    if (option != NULL)
        return option;
    pthread_mutex_lock(&g->mutex);
    if (g->krb5 != NULL && size <= INT_MAX)
        code = krb5_kt_default_name(g->krb5, buf, (int)size);
    pthread_mutex_unlock(&g->mutex);
    return code == 0 ? buf : "FILE:/etc/krb5.keytab";
}

static int
get_creds(struct server_conn *s, const sasl_server_params_t *sp,
          const struct plugin_options *o)
{
    const sasl_utils_t *utils = sp->utils;
    char kt_buf[1024];
    const char *keytab = keytab_name(s->glob, o->keytab, kt_buf,
                                     sizeof(kt_buf));
    const char *ntlm = getenv("NTLM_USER_FILE");
    const char *file = credcache_file_of(keytab);
    struct cred_request req;
    char key[2048], err[1024], service[512];
    int fresh = 0;
    enum spnego_acquire_result got;

    (void)snprintf(service, sizeof(service), "%s@%s",
                   sp->service != NULL ? sp->service : "host",
                   sp->serverFQDN != NULL ? sp->serverFQDN : "localhost");
    (void)snprintf(key, sizeof(key), "keytab=%s\nmechs=%s\nntlm=%s\n"
                   "service=%s", keytab, o->mechs != NULL ? o->mechs : "",
                   ntlm != NULL ? ntlm : "", service);
    memset(&req, 0, sizeof(req));
    req.key = key;
    req.files[0] = file;
    req.files[1] = ntlm;
    req.params.role = SPNEGO_ACCEPTOR;
    req.params.keytab = o->keytab;
    req.params.mechs = o->mechs;
    req.params.service = service;
    req.neg_mechs = o->mechs;
    got = cred_cache_get(s->glob->cache, &req, &s->creds, &fresh, err,
                         sizeof(err));
    if (got != SPNEGO_ACQUIRE_OK) {
        plugin_error(utils, "GSS-SPNEGO: cannot accept as %s: %s (keytab "
                     "%s%s; check spnego_keytab or KRB5_KTNAME, the service "
                     "principal, and NTLM_USER_FILE for NTLM)", service, err,
                     keytab,
                     file != NULL && access(file, R_OK) != 0
                         ? ", which cannot be read" : "");
        return got == SPNEGO_ACQUIRE_NOMEM ? SASL_NOMEM : SASL_FAIL;
    }
    if (fresh)
        plugin_log(utils, SASL_LOG_DEBUG, "GSS-SPNEGO: acceptor credentials "
                   "acquired (keytab %s)", keytab);
    return SASL_OK;
}

/* ---- identity ---- */

static void
load_realm(struct server_glob *g)
{
    char *realm = NULL;

    pthread_mutex_lock(&g->mutex);
    if (!g->realm_loaded && g->krb5 != NULL &&
        krb5_get_default_realm(g->krb5, &realm) == 0) {
        (void)snprintf(g->realm, sizeof(g->realm), "%s", realm);
        krb5_free_default_realm(g->krb5, realm);
    }
    g->realm_loaded = 1;
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

/* The application lent an acceptor credential (SASL_GSS_CREDS): accept
 * with it alone (e.g. one keytab entry), borrowed, never released here. */
static int
borrow_creds(struct server_conn *s, const sasl_server_params_t *sp,
             const struct plugin_options *o)
{
    char err[1024];
    enum spnego_acquire_result got;

    got = spnego_creds_borrow(SPNEGO_ACCEPTOR, (gss_cred_id_t)sp->gss_creds,
                              o->mechs, GSS_C_NO_NAME, &s->borrowed, err,
                              sizeof(err));
    if (got != SPNEGO_ACQUIRE_OK) {
        plugin_error(sp->utils, "GSS-SPNEGO: cannot accept with the "
                     "credential the application gave (SASL_GSS_CREDS): %s",
                     err);
        return got == SPNEGO_ACQUIRE_NOMEM ? SASL_NOMEM : SASL_FAIL;
    }
    plugin_log(sp->utils, SASL_LOG_DEBUG, "GSS-SPNEGO: accepting with the "
               "credential the application gave (SASL_GSS_CREDS)");
    return SASL_OK;
}

static int
server_start(struct server_conn *s, sasl_server_params_t *sp)
{
    struct plugin_options o;
    struct spnego_config cfg;
    int r;

    r = plugin_read_options(sp->utils, 0, &o);
    if (r != SASL_OK)
        return r;
    r = sp->gss_creds != NULL ? borrow_creds(s, sp, &o)
                              : get_creds(s, sp, &o);
    if (r != SASL_OK)
        return r;
    s->c.fast_layer = o.fast_layer;
    plugin_set_cb(&s->c, sp->cbinding);
    memset(&cfg, 0, sizeof(cfg));
    cfg.creds = s->borrowed != NULL ? s->borrowed : cred_ref_creds(s->creds);
    cfg.cb = s->c.has_cb ? &s->c.cb : GSS_C_NO_CHANNEL_BINDINGS;
    cfg.mic_policy = o.mic_policy;
    cfg.keytab_fallback = o.keytab_fallback;
    cfg.outer_protection = sp->external_ssf > 0;
    cfg.raw_tokens = o.raw_tokens;
    cfg.frame_bare_krb5 = 1;
    cfg.max_token = o.max_token;
    cfg.trace = plugin_trace;
    cfg.trace_arg = &s->c;
    if (!spnego_ctx_new(&cfg, &s->c.engine))
        return SASL_NOMEM;
    return SASL_OK;
}

/* Channel bindings: what the context says was bound, for the application
 * (cbindingdisp, cbindingname), and a critical binding enforced: a client
 * whose token carried none is refused, as it could be a relay. */
static int
check_binding(struct server_conn *s, sasl_server_params_t *sp,
              sasl_out_params_t *oparams)
{
    int bound = (spnego_ctx_flags(s->c.engine) &
                 GSS_C_CHANNEL_BOUND_FLAG) != 0;

    if (!SASL_CB_PRESENT(sp))
        return SASL_OK;
    oparams->cbindingname = sp->cbinding->name;
    oparams->cbindingdisp = bound ? SASL_CB_DISP_USED : SASL_CB_DISP_NONE;
    if (bound || !SASL_CB_CRITICAL(sp))
        return SASL_OK;
    plugin_error(sp->utils, "GSS-SPNEGO: channel binding %s is required "
                 "(critical), but the client's token carried none; the "
                 "client must pass the TLS channel binding",
                 sp->cbinding->name != NULL ? sp->cbinding->name : "");
    return SASL_BADBINDING;
}

static int
server_finish(struct server_conn *s, sasl_server_params_t *sp,
              sasl_out_params_t *oparams)
{
    int r;

    r = check_binding(s, sp, oparams);
    if (r == SASL_OK)
        r = set_identity(s, sp, oparams);
    if (r != SASL_OK)
        return r;
    r = plugin_setup_layer(&s->c, &sp->props, sp->external_ssf, oparams);
    if (r != SASL_OK)
        return r;
    /* Delegated credentials stay ours (released at dispose); the
     * application may use them until then, as with Cyrus' plugin. */
    s->deleg = spnego_ctx_take_deleg_cred(s->c.engine);
    oparams->client_creds = s->deleg != GSS_C_NO_CREDENTIAL ? s->deleg : NULL;
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
server_negotiate(struct server_conn *s, sasl_server_params_t *sp,
                 const char *in, unsigned inlen, const char **out,
                 unsigned *outlen, sasl_out_params_t *oparams)
{
    int r;

    if (s->c.engine == NULL) {
        if (inlen == 0 && s->asked_for_token) {
            plugin_error(sp->utils, "GSS-SPNEGO: the client sent an empty "
                         "message again instead of its first token");
            return SASL_BADPROT;
        }
        if (inlen == 0) {
            s->asked_for_token = 1;
            return SASL_CONTINUE; /* ask for the client's first token */
        }
        r = server_start(s, sp);
        if (r != SASL_OK)
            return r;
    }
    r = plugin_engine_step(&s->c, in, inlen, out, outlen);
    /* complete: the last token, if any, is success data */
    return r == SASL_OK ? server_finish(s, sp, oparams) : r;
}

static int
server_step(void *conn, sasl_server_params_t *sp, const char *in,
            unsigned inlen, const char **out, unsigned *outlen,
            sasl_out_params_t *oparams)
{
    struct server_conn *s = conn;
    struct conn *c = s != NULL ? &s->c : NULL;
    int r;

    r = plugin_step_begin(c, sp->utils, out, outlen);
    if (r == SASL_OK && c != NULL) /* begin refuses a NULL c */
        r = server_negotiate(s, sp, in, inlen, out, outlen, oparams);
    return plugin_step_end(c, r, out, outlen);
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
    (void)gss_release_cred(&minor, &s->deleg);
    if (s->c.engine != NULL) {
        deleg = spnego_ctx_take_deleg_cred(s->c.engine);
        (void)gss_release_cred(&minor, &deleg);
    }
    plugin_conn_cleanup(&s->c);
    spnego_creds_free(s->borrowed); /* the application's credential stays */
    cred_cache_release(s->glob->cache, s->creds);
    free(s);
}

static void
server_free(void *glob, const sasl_utils_t *utils)
{
    struct server_glob *g = glob;

    (void)utils;
    if (g == NULL)
        return;
    cred_cache_free(g->cache);
    if (g->krb5 != NULL)
        krb5_free_context(g->krb5);
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
                      SASL_SEC_PASS_CREDENTIALS | SPNEGO_HASH_STRENGTH,
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
    g->cache = cred_cache_new();
    if (g->cache == NULL || pthread_mutex_init(&g->mutex, NULL) != 0) {
        cred_cache_free(g->cache);
        free(g);
        return SASL_FAIL;
    }
    if (krb5_init_context(&g->krb5) != 0)
        g->krb5 = NULL; /* only a cache, and the realm for names */
    spnego_server_plugin.glob_context = g;
    *out_version = SASL_SERVER_PLUG_VERSION;
    *pluglist = &spnego_server_plugin;
    *plugcount = 1;
    return SASL_OK;
}
