/* client.c - the GSS-SPNEGO client half.
 *
 * Credentials (gather_identity): a name the application gives wins.
 * Nothing given: the defaults (ccache, client keytab, NTLM_USER_FILE),
 * acquired once and shared by the connections of the process while those
 * files are unchanged (credcache.h); a name and password are asked for
 * only when there are none.  A name and a password: credentials for that
 * name through gss_acquire_cred_with_password, or failure.  A name alone:
 * the stored credentials of that principal, else its password is asked.
 */
#include "plugin.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi_krb5.h>
#include <krb5.h>

#include "credcache.h"

#define TARGET_CACHE 16

/* Target names imported and canonicalised once: gss_init_sec_context would
 * otherwise convert the name on every call.  Kept until the plugin is
 * freed (names are shared read-only by connections). */
struct target_name {
    char text[512];             /* "service@host" */
    gss_name_t name;
};

struct client_glob {
    struct cred_cache *cache;
    pthread_mutex_t mutex;      /* for what follows */
    char default_ccache[1024];  /* krb5's default, resolved once */
    char for_config[1024];      /* the KRB5_CONFIG it was resolved for */
    int resolved;
    struct target_name targets[TARGET_CACHE];
    size_t n_targets;
    /* Held for the plugin's life: MIT keeps krb5.conf parsed while any
     * krb5 context exists, instead of re-reading it in each GSS call. */
    krb5_context krb5;
};

struct client_conn {
    struct conn c;
    struct client_glob *glob;
    struct cred_ref *shared;     /* default credentials, from the cache */
    struct spnego_creds *own;    /* credentials from a password */
    struct spnego_creds *creds;  /* whichever of the two is used */
    gss_name_t target;        /* owned, unless target_shared */
    int target_shared;        /* target belongs to the glob's cache */
    char *name;               /* who we authenticate as (malloc) */
    char *authzid;            /* the application's, if any (malloc) */
    sasl_interact_t *prompts; /* handed to the application */
    char default_err[1024];   /* why the default credentials failed */
    int defaults_tried;
    enum spnego_acquire_result defaults; /* how they were acquired */
};

/* ---- callbacks and interaction ---- */

/* A value the application answered in an earlier SASL_INTERACT. */
static const char *
prompt_answer(sasl_interact_t **need, unsigned long id)
{
    sasl_interact_t *p;

    if (need == NULL || *need == NULL)
        return NULL;
    for (p = *need; p->id != SASL_CB_LIST_END; p++) {
        if (p->id == id)
            return p->result != NULL ? p->result : "";
    }
    return NULL;
}

/* SASL_CB_USER / SASL_CB_AUTHNAME: from the answers, else the callback.
 * Returns SASL_OK (*out may be NULL: no such callback), SASL_INTERACT, or
 * an error. */
static int
get_simple(sasl_client_params_t *cp, sasl_interact_t **need,
           unsigned long id, const char **out)
{
    sasl_getsimple_t *cb = NULL;
    void *ctx = NULL;
    unsigned len = 0;
    int r;

    *out = prompt_answer(need, id);
    if (*out != NULL)
        return SASL_OK;
    r = cp->utils->getcallback(cp->utils->conn, id, (sasl_callback_ft *)&cb,
                               &ctx);
    if (r == SASL_INTERACT)
        return SASL_INTERACT;
    if (r != SASL_OK || cb == NULL)
        return SASL_OK;
    /* A callback that has no answer means "not given". */
    if (cb(ctx, (int)id, out, &len) != SASL_OK)
        *out = NULL;
    return SASL_OK;
}

static int
get_password(sasl_client_params_t *cp, sasl_interact_t **need,
             const char **out)
{
    sasl_getsecret_t *cb = NULL;
    sasl_secret_t *secret = NULL;
    void *ctx = NULL;
    int r;

    *out = prompt_answer(need, SASL_CB_PASS);
    if (*out != NULL)
        return SASL_OK;
    r = cp->utils->getcallback(cp->utils->conn, SASL_CB_PASS,
                               (sasl_callback_ft *)&cb, &ctx);
    if (r == SASL_INTERACT)
        return SASL_INTERACT;
    if (r != SASL_OK || cb == NULL)
        return SASL_OK;
    r = cb(cp->utils->conn, ctx, SASL_CB_PASS, &secret);
    if (r == SASL_OK && secret != NULL)
        *out = (const char *)secret->data;
    return SASL_OK;
}

/* Build the prompt list for the ids flagged in `want`. */
static int
make_prompts(struct client_conn *k, sasl_client_params_t *cp,
             const unsigned long *ids, size_t n, sasl_interact_t **need)
{
    static const char *const text[] = { "Authorization name",
                                        "Authentication name", "Password" };
    size_t i;

    k->prompts = cp->utils->malloc((unsigned)((n + 1) * sizeof(*k->prompts)));
    if (k->prompts == NULL)
        return SASL_NOMEM;
    memset(k->prompts, 0, (n + 1) * sizeof(*k->prompts));
    for (i = 0; i < n; i++) {
        k->prompts[i].id = ids[i];
        k->prompts[i].prompt = ids[i] == SASL_CB_USER     ? text[0]
                               : ids[i] == SASL_CB_AUTHNAME ? text[1]
                                                            : text[2];
        k->prompts[i].challenge = NULL;
        k->prompts[i].defresult = NULL;
    }
    k->prompts[n].id = SASL_CB_LIST_END;
    *need = k->prompts;
    return SASL_INTERACT;
}

static void
free_prompts(struct client_conn *k, const sasl_utils_t *utils)
{
    if (k->prompts == NULL)
        return;
    utils->free(k->prompts);
    k->prompts = NULL;
}

/* ---- credentials ---- */

/* krb5's default ticket cache name when KRB5CCNAME is unset; resolved
 * once per configuration (krb5_init_context reads krb5.conf). */
static void
default_ccache(struct client_glob *g, char *buf, size_t size)
{
    const char *conf = getenv("KRB5_CONFIG");
    krb5_context k = NULL;

    pthread_mutex_lock(&g->mutex);
    if (!g->resolved ||
        strcmp(g->for_config, conf != NULL ? conf : "") != 0) {
        g->default_ccache[0] = '\0';
        if (krb5_init_context(&k) == 0) {
            (void)snprintf(g->default_ccache, sizeof(g->default_ccache), "%s",
                           krb5_cc_default_name(k));
            krb5_free_context(k);
        }
        (void)snprintf(g->for_config, sizeof(g->for_config), "%s",
                       conf != NULL ? conf : "");
        g->resolved = 1;
    }
    (void)snprintf(buf, size, "%s", g->default_ccache);
    pthread_mutex_unlock(&g->mutex);
}

static enum spnego_acquire_result
try_defaults(struct client_conn *k, const struct plugin_options *o)
{
    const char *cc = getenv("KRB5CCNAME"), *ckt = getenv("KRB5_CLIENT_KTNAME");
    const char *ntlm = getenv("NTLM_USER_FILE");
    struct cred_request req;
    char key[4096], ccname[1024];

    if (k->defaults_tried)
        return k->defaults;
    k->defaults_tried = 1;
    if (cc != NULL)
        (void)snprintf(ccname, sizeof(ccname), "%s", cc);
    else
        default_ccache(k->glob, ccname, sizeof(ccname));
    (void)snprintf(key, sizeof(key), "mechs=%s\nccache=%s\nckt=%s\n"
                   "ntlm=%s\nconf=%s", o->mechs != NULL ? o->mechs : "",
                   ccname, ckt != NULL ? ckt : "", ntlm != NULL ? ntlm : "",
                   k->glob->for_config);
    memset(&req, 0, sizeof(req));
    req.key = key;
    req.files[0] = credcache_file_of(ccname);
    req.files[1] = credcache_file_of(ckt);
    req.files[2] = ntlm;
    req.may_grow = 1u; /* the ticket cache gains service tickets */
    req.params.role = SPNEGO_INITIATOR;
    req.params.mechs = o->mechs;
    k->defaults = cred_cache_get(k->glob->cache, &req, &k->shared, NULL,
                                 k->default_err, sizeof(k->default_err));
    if (k->defaults == SPNEGO_ACQUIRE_OK)
        k->creds = cred_ref_creds(k->shared);
    return k->defaults;
}

/* Credentials for the name the application gave, and for that name only:
 * with its password, or (no password) the stored credentials of that
 * principal (a ticket cache of the collection, the client keytab, an
 * NTLM_USER_FILE entry).  Never the default credentials of someone else. */
/* Some mechanisms got no credentials for the name the application gave:
 * say which and why (a wrong Kerberos password leaves NTLM alone, which
 * the user should hear about), at WARN with a password, else NOTE. */
static void
note_left_out(sasl_client_params_t *cp, const struct spnego_creds *creds,
              const char *user, int with_password, const char *why)
{
    char offered[256];

    spnego_creds_describe(creds, offered, sizeof(offered));
    plugin_log(cp->utils, with_password ? SASL_LOG_WARN : SASL_LOG_NOTE,
               "GSS-SPNEGO: left out for \"%s\"%s: %s; offering %s only",
               user, with_password ? " with the password given" : "", why,
               offered);
}

static int
creds_for_name(struct client_conn *k, sasl_client_params_t *cp,
               const struct plugin_options *o, const char *user,
               const char *password, int can_ask)
{
    struct spnego_cred_params p = { SPNEGO_INITIATOR, NULL, user, password,
                                    o->mechs, NULL };
    char err[1024];
    enum spnego_acquire_result got = SPNEGO_ACQUIRE_OK;

    /* k->own may come from an earlier round, before a prompt. */
    if (k->own == NULL) {
        got = spnego_creds_acquire(&p, &k->own, err, sizeof(err));
        if (got == SPNEGO_ACQUIRE_OK && err[0] != '\0')
            note_left_out(cp, k->own, user, password != NULL, err);
    }
    if (got == SPNEGO_ACQUIRE_OK) {
        k->creds = k->own;
        return SASL_OK;
    }
    if (got == SPNEGO_ACQUIRE_NOMEM) {
        plugin_error(cp->utils, "GSS-SPNEGO: out of memory acquiring "
                     "credentials for \"%s\" (%s)", user, err);
        return SASL_NOMEM;
    }
    if (password != NULL)
        plugin_error(cp->utils, "GSS-SPNEGO: the password for \"%s\" was "
                     "refused (%s); the default credentials are not used "
                     "when a name and password are given", user, err);
    else if (can_ask) /* the password is asked for next */
        plugin_pending(cp->utils, "GSS-SPNEGO: no stored credentials of "
                       "\"%s\" (%s), and the application did not answer "
                       "the password prompt", user, err);
    else
        plugin_error(cp->utils, "GSS-SPNEGO: no stored credentials of "
                     "\"%s\" (%s); give that name's password, or get a "
                     "ticket for it with kinit", user, err);
    return SASL_BADAUTH;
}

/* GSS-SPNEGO has no authorization identity on the wire: only an empty
 * one, or the authentication identity itself, can be honoured. */
static int
check_authzid(sasl_client_params_t *cp, const char *authzid,
              const char *name)
{
    size_t al, nl;

    if (authzid == NULL || authzid[0] == '\0' || name == NULL)
        return SASL_OK;
    al = strlen(authzid);
    nl = strlen(name);
    if (strcmp(authzid, name) == 0 ||
        (strncmp(authzid, name, al) == 0 && name[al] == '@') ||
        (nl > al && name[nl - al - 1] == '\\' &&
         strcmp(name + nl - al, authzid) == 0))
        return SASL_OK;
    plugin_error(cp->utils, "GSS-SPNEGO cannot carry an "
                        "authorization identity: \"%s\" was requested while "
                        "authenticating as \"%s\"; leave the authorization "
                        "identity empty", authzid, name);
    return SASL_BADPARAM;
}

/* What the application gave, and what it can still be asked for. */
struct identity {
    const char *authzid, *user, *password;
    const char *login;    /* libsasl2's default name (USER), if it answered */
    unsigned long ask[3]; /* prompts to issue, SASL_CB_* ids */
    size_t n_ask;
    int can_ask_user, can_ask_password;
};

/* 1 if name is the process's login name as libsasl2's own default
 * SASL_CB_AUTHNAME returns it (the USER or USERNAME variable itself, not
 * a copy): ambient, like a default ticket, and not a name the
 * application chose. */
static int
is_login_name(const char *name)
{
    return name == getenv("USER") || name == getenv("USERNAME");
}

/* Read the three values from answered prompts or callbacks, never by
 * prompting: whether to prompt depends on the credentials found. */
static int
read_identity(sasl_client_params_t *cp, sasl_interact_t **need,
              struct identity *id)
{
    int r;

    memset(id, 0, sizeof(*id));
    r = get_simple(cp, need, SASL_CB_USER, &id->authzid);
    if (r == SASL_INTERACT)
        id->ask[id->n_ask++] = SASL_CB_USER;
    else if (r != SASL_OK)
        return r;
    r = get_simple(cp, need, SASL_CB_AUTHNAME, &id->user);
    if (r != SASL_OK && r != SASL_INTERACT)
        return r;
    id->can_ask_user = r == SASL_INTERACT;
    r = get_password(cp, need, &id->password);
    if (r != SASL_OK && r != SASL_INTERACT)
        return r;
    id->can_ask_password = r == SASL_INTERACT;
    /* An empty answer is no answer (SSSD answers every prompt, "" for the
     * password it does not have). */
    if (id->user != NULL && is_login_name(id->user))
        id->login = id->user;
    if (id->user != NULL && (id->user[0] == '\0' || id->login != NULL))
        id->user = NULL;
    if (id->password != NULL && id->password[0] == '\0')
        id->password = NULL;
    return SASL_OK;
}

/*
 * Collect what the first step needs; SASL_INTERACT asks for the rest.
 * A name given by the application wins over the default credentials
 * (creds_for_name); its password is asked for when no stored credentials
 * of that name exist.  Nothing given: the defaults, and the name and
 * password are asked for only when there are none.
 */
static int
gather_identity(struct client_conn *k, sasl_client_params_t *cp,
                const struct plugin_options *o, sasl_interact_t **need,
                const char **authzid)
{
    struct identity id;
    int r;

    r = read_identity(cp, need, &id);
    if (r != SASL_OK)
        return r;
    *authzid = id.authzid;
    free_prompts(k, cp->utils);
    if (id.user != NULL && id.password == NULL && id.can_ask_password) {
        r = creds_for_name(k, cp, o, id.user, NULL, 1);
        if (r == SASL_BADAUTH) { /* none stored: ask for the password */
            id.ask[id.n_ask++] = SASL_CB_PASS;
            r = SASL_OK;
        }
    } else if (id.user != NULL) {
        r = creds_for_name(k, cp, o, id.user, id.password, 0);
    } else if (try_defaults(k, o) == SPNEGO_ACQUIRE_OK) {
        r = SASL_OK;
    } else if (k->defaults == SPNEGO_ACQUIRE_NOMEM) {
        plugin_error(cp->utils, "GSS-SPNEGO: out of memory acquiring the "
                     "default credentials (%s)", k->default_err);
        r = SASL_NOMEM;
    } else if (id.login != NULL && id.password != NULL) {
        /* no ambient credentials, but a password: for the login name */
        r = creds_for_name(k, cp, o, id.login, id.password, 0);
    } else if (!id.can_ask_user) {
        plugin_error(cp->utils, "GSS-SPNEGO: no usable credentials (%s), "
                     "and no authentication name and password were given; "
                     "run kinit, or supply them", k->default_err);
        r = SASL_BADAUTH;
    } else {
        id.ask[id.n_ask++] = SASL_CB_AUTHNAME;
        if (id.can_ask_password)
            id.ask[id.n_ask++] = SASL_CB_PASS;
        /* If the application cannot answer, this is what it reports. */
        plugin_pending(cp->utils, "GSS-SPNEGO: no usable default "
                       "credentials (%s), and the application did not "
                       "answer the prompts for an authentication name and "
                       "password (run kinit, or supply them)",
                       k->default_err);
    }
    if (id.n_ask > 0 && r == SASL_OK)
        return make_prompts(k, cp, id.ask, id.n_ask, need);
    return r;
}

/* Import "service@host", canonicalised for Kerberos. */
static OM_uint32
import_canonical(const char *text, gss_name_t *out)
{
    OM_uint32 major, minor;
    gss_buffer_desc buf = { strlen(text), (void *)text };
    gss_name_t name = GSS_C_NO_NAME;

    *out = GSS_C_NO_NAME;
    major = gss_import_name(&minor, &buf, GSS_C_NT_HOSTBASED_SERVICE, &name);
    if (GSS_ERROR(major))
        return major;
    if (GSS_ERROR(gss_canonicalize_name(&minor, name,
                                        (gss_OID)gss_mech_krb5, out))) {
        *out = name; /* no Kerberos here: the plain name will do */
        return GSS_S_COMPLETE;
    }
    (void)gss_release_name(&minor, &name);
    return GSS_S_COMPLETE;
}

/* The cached name for text, adding it if there is room. */
static gss_name_t
shared_target(struct client_glob *g, const char *text)
{
    gss_name_t name = GSS_C_NO_NAME;
    size_t i;

    pthread_mutex_lock(&g->mutex);
    for (i = 0; i < g->n_targets; i++) {
        if (strcmp(g->targets[i].text, text) == 0) {
            name = g->targets[i].name;
            break;
        }
    }
    if (name == GSS_C_NO_NAME && g->n_targets < TARGET_CACHE &&
        strlen(text) < sizeof(g->targets[0].text) &&
        import_canonical(text, &name) == GSS_S_COMPLETE) {
        (void)snprintf(g->targets[g->n_targets].text,
                       sizeof(g->targets[0].text), "%s", text);
        g->targets[g->n_targets++].name = name;
    }
    pthread_mutex_unlock(&g->mutex);
    return name;
}

static int
import_target(struct client_conn *k, sasl_client_params_t *cp)
{
    char name[1024];
    int n;

    n = snprintf(name, sizeof(name), "%s@%s", cp->service, cp->serverFQDN);
    if (n < 0 || (size_t)n >= sizeof(name)) {
        plugin_error(cp->utils, "GSS-SPNEGO: service name too long");
        return SASL_BADPARAM;
    }
    k->target = shared_target(k->glob, name);
    k->target_shared = k->target != GSS_C_NO_NAME;
    if (!k->target_shared && import_canonical(name, &k->target) !=
                                 GSS_S_COMPLETE) {
        plugin_error(cp->utils, "GSS-SPNEGO: cannot import the service name "
                     "%s", name);
        return SASL_FAIL;
    }
    return SASL_OK;
}

/* Request flags: the layer the security properties allow
 * (plugin_allowed_layer, the rule the server applies too; INTEROP.md
 * section 3), mutual authentication, delegation if asked. */
static OM_uint32
request_flags(const sasl_client_params_t *cp)
{
    OM_uint32 flags = GSS_C_MUTUAL_FLAG;

    flags |= plugin_layer_flags(plugin_allowed_layer(&cp->props,
                                                     cp->external_ssf));
    if (cp->props.security_flags & SASL_SEC_PASS_CREDENTIALS)
        flags |= GSS_C_DELEG_FLAG;
    return flags;
}

/* The application lent a credential (SASL_GSS_CREDS): it is the
 * identity, whatever names, passwords or default tickets exist; borrowed,
 * never released here.  libldap can set it only once the SASL connection
 * exists, that is from its interaction callback (as Python's bonsai
 * does): a step after the prompts were answered picks it up.  Needs the
 * target (a SPNEGO credential's list is read from the token MIT's SPNEGO
 * would send to it). */
static int
borrow_creds(struct client_conn *k, sasl_client_params_t *cp,
             const struct plugin_options *o, sasl_interact_t **need,
             const char **authzid)
{
    char err[1024];
    enum spnego_acquire_result got;
    int r;

    r = get_simple(cp, need, SASL_CB_USER, authzid);
    if (r == SASL_INTERACT)
        *authzid = NULL; /* nothing to ask for: the credential decides */
    else if (r != SASL_OK)
        return r;
    free_prompts(k, cp->utils);
    if (k->target == GSS_C_NO_NAME)
        r = import_target(k, cp);
    if (r != SASL_OK)
        return r;
    /* An earlier round may have found credentials before the prompts
     * that gave the application the chance to lend its own. */
    spnego_creds_free(k->own);
    k->own = NULL;
    k->creds = NULL;
    got = spnego_creds_borrow(SPNEGO_INITIATOR,
                              (gss_cred_id_t)cp->gss_creds, o->mechs,
                              k->target, &k->own, err, sizeof(err));
    if (got != SPNEGO_ACQUIRE_OK) {
        plugin_error(cp->utils, "GSS-SPNEGO: cannot use the credential the "
                     "application gave (SASL_GSS_CREDS): %s", err);
        return got == SPNEGO_ACQUIRE_NOMEM ? SASL_NOMEM : SASL_BADAUTH;
    }
    k->creds = k->own;
    plugin_log(cp->utils, SASL_LOG_DEBUG, "GSS-SPNEGO: using the "
               "credential the application gave (SASL_GSS_CREDS)");
    return SASL_OK;
}

static int
client_start(struct client_conn *k, sasl_client_params_t *cp,
             sasl_interact_t **need)
{
    struct plugin_options o;
    struct spnego_config cfg;
    const char *authzid = NULL;
    int r;

    r = plugin_read_options(cp->utils, 1, &o);
    if (r == SASL_OK && cp->gss_creds != NULL)
        r = borrow_creds(k, cp, &o, need, &authzid);
    else if (r == SASL_OK)
        r = gather_identity(k, cp, &o, need, &authzid);
    if (r != SASL_OK)
        return r;
    if (k->shared != NULL && k->creds != k->own &&
        cred_ref_name(k->shared) != NULL)
        k->name = strdup(cred_ref_name(k->shared));
    else
        k->name = spnego_creds_name(k->creds);
    r = check_authzid(cp, authzid, k->name);
    if (r == SASL_OK && authzid != NULL && authzid[0] != '\0' &&
        (k->authzid = strdup(authzid)) == NULL)
        r = SASL_NOMEM;
    if (r == SASL_OK && k->target == GSS_C_NO_NAME)
        r = import_target(k, cp);
    if (r != SASL_OK)
        return r;
    k->c.fast_layer = o.fast_layer;
    plugin_set_cb(&k->c, cp->cbinding);
    if (cp->cbinding != NULL && cp->cbinding->critical && !k->c.has_cb) {
        plugin_error(cp->utils, "GSS-SPNEGO: channel binding is required "
                     "(critical) but the application gave no binding data "
                     "(%s)", cp->cbinding->name != NULL ? cp->cbinding->name
                                                        : "unnamed");
        return SASL_BADBINDING;
    }
    plugin_log(cp->utils, SASL_LOG_DEBUG, "GSS-SPNEGO: security properties "
               "min_ssf %u, max_ssf %u, external SSF %u, maxbufsize %u: "
               "asking for %s", cp->props.min_ssf, cp->props.max_ssf,
               cp->external_ssf, cp->props.maxbufsize,
               plugin_layer_name(plugin_allowed_layer(&cp->props,
                                                      cp->external_ssf)));
    memset(&cfg, 0, sizeof(cfg));
    cfg.creds = k->creds;
    cfg.target = k->target;
    cfg.req_flags = request_flags(cp);
    cfg.cb = k->c.has_cb ? &k->c.cb : GSS_C_NO_CHANNEL_BINDINGS;
    cfg.cb_required = cp->cbinding != NULL && cp->cbinding->critical;
    cfg.outer_protection = cp->external_ssf > 0;
    cfg.mutual_required =
        (cp->props.security_flags & SASL_SEC_MUTUAL_AUTH) != 0;
    cfg.mic_policy = o.mic_policy;
    cfg.max_token = o.max_token;
    cfg.trace = plugin_trace;
    cfg.trace_arg = &k->c;
    if (!spnego_ctx_new(&cfg, &k->c.engine))
        return SASL_NOMEM;
    return SASL_OK;
}

/* Who the established context authenticated us as: the mechanism that was
 * negotiated may not be the one whose default credentials named us at the
 * start (a counter-proposal to NTLM).  gss-ntlmssp 1.2.0 ends its display
 * name with a NUL: the name stops at the first.  NULL if the context
 * cannot say. */
static char *
context_name(gss_ctx_id_t ctx)
{
    OM_uint32 major, minor;
    gss_name_t src = GSS_C_NO_NAME;
    gss_buffer_desc disp = GSS_C_EMPTY_BUFFER;
    char *out = NULL;

    major = gss_inquire_context(&minor, ctx, &src, NULL, NULL, NULL, NULL,
                                NULL, NULL);
    if (GSS_ERROR(major))
        goto cleanup;
    major = gss_display_name(&minor, src, &disp, NULL);
    if (GSS_ERROR(major) || disp.length == 0)
        goto cleanup;
    out = strndup(disp.value, disp.length);
cleanup:
    (void)gss_release_buffer(&minor, &disp);
    (void)gss_release_name(&minor, &src);
    return out;
}

static int
client_finish(struct client_conn *k, sasl_client_params_t *cp,
              sasl_out_params_t *oparams)
{
    char *name;
    int r;

    name = context_name(spnego_ctx_gss(k->c.engine));
    if (name == NULL) {
        plugin_error(cp->utils, "GSS-SPNEGO: the established %s context "
                     "does not say whom it authenticated",
                     spnego_ctx_mech(k->c.engine) != NULL
                         ? spnego_ctx_mech(k->c.engine)->name : "mechanism");
        return SASL_FAIL;
    }
    r = check_authzid(cp, k->authzid, name);
    if (r == SASL_OK)
        r = cp->canon_user(cp->utils->conn, name, 0,
                           SASL_CU_AUTHID | SASL_CU_AUTHZID |
                               SASL_CU_EXTERNALLY_VERIFIED,
                           oparams);
    free(name);
    if (r != SASL_OK)
        return r;
    r = plugin_setup_layer(&k->c, &cp->props, cp->external_ssf, oparams);
    if (r != SASL_OK)
        return r;
    oparams->doneflag = 1;
    return SASL_OK;
}

static int
client_new(void *glob, sasl_client_params_t *cp, void **conn_out)
{
    struct client_conn *k;

    k = calloc(1, sizeof(*k));
    if (k == NULL)
        return SASL_NOMEM;
    k->c.utils = cp->utils;
    k->glob = glob;
    k->target = GSS_C_NO_NAME;
    *conn_out = k;
    return SASL_OK;
}

static int
client_negotiate(struct client_conn *k, sasl_client_params_t *cp,
                 const char *in, unsigned inlen, sasl_interact_t **need,
                 const char **out, unsigned *outlen,
                 sasl_out_params_t *oparams)
{
    int r;

    if (k->c.engine == NULL) {
        r = client_start(k, cp, need);
        if (r != SASL_OK && r != SASL_INTERACT && need != NULL)
            *need = NULL; /* the prompts were freed */
        if (r != SASL_OK)
            return r;
        free_prompts(k, cp->utils);
        if (need != NULL)
            *need = NULL;
        in = NULL;
        inlen = 0;
    } else if (spnego_ctx_complete(k->c.engine) && inlen == 0) {
        return SASL_OK; /* nothing more: the server completed silently */
    }
    r = plugin_engine_step(&k->c, in, inlen, out, outlen);
    return r == SASL_OK ? client_finish(k, cp, oparams) : r;
}

static int
client_step(void *conn, sasl_client_params_t *cp, const char *in,
            unsigned inlen, sasl_interact_t **need, const char **out,
            unsigned *outlen, sasl_out_params_t *oparams)
{
    struct client_conn *k = conn;
    struct conn *c = k != NULL ? &k->c : NULL;
    int r;

    r = plugin_step_begin(c, cp->utils, out, outlen);
    if (r == SASL_OK && c != NULL) /* begin refuses a NULL c */
        r = client_negotiate(k, cp, in, inlen, need, out, outlen, oparams);
    return plugin_step_end(c, r, out, outlen);
}

static void
client_dispose(void *conn, const sasl_utils_t *utils)
{
    struct client_conn *k = conn;
    OM_uint32 minor;

    if (k == NULL)
        return;
    plugin_conn_cleanup(&k->c);
    free_prompts(k, utils);
    if (!k->target_shared)
        (void)gss_release_name(&minor, &k->target);
    cred_cache_release(k->glob->cache, k->shared);
    spnego_creds_free(k->own);
    free(k->name);
    free(k->authzid);
    free(k);
}

/* Nothing is required: with default credentials (a Kerberos ticket) no
 * callback is asked.  An empty list, because libsasl2 reads NULL as
 * "authentication name and password required" and would then never pick
 * this mechanism for applications without a password callback. */
static void
client_free(void *glob, const sasl_utils_t *utils)
{
    struct client_glob *g = glob;
    OM_uint32 minor;
    size_t i;

    (void)utils;
    if (g == NULL)
        return;
    cred_cache_free(g->cache);
    for (i = 0; i < g->n_targets; i++)
        (void)gss_release_name(&minor, &g->targets[i].name);
    if (g->krb5 != NULL)
        krb5_free_context(g->krb5);
    pthread_mutex_destroy(&g->mutex);
    free(g);
}

static const unsigned long client_prompts[] = { SASL_CB_LIST_END };

sasl_client_plug_t spnego_client_plugin = {
    .mech_name = SPNEGO_MECH_NAME,
    .max_ssf = 256,
    .security_flags = SASL_SEC_NOPLAINTEXT | SASL_SEC_NOACTIVE |
                      SASL_SEC_NOANONYMOUS | SASL_SEC_MUTUAL_AUTH |
                      SASL_SEC_PASS_CREDENTIALS | SPNEGO_HASH_STRENGTH,
    .features = SASL_FEAT_NEEDSERVERFQDN | SASL_FEAT_WANT_CLIENT_FIRST |
                SASL_FEAT_GSS_FRAMING | SASL_FEAT_CHANNEL_BINDING,
    .required_prompts = client_prompts,
    .glob_context = NULL,
    .mech_new = client_new,
    .mech_step = client_step,
    .mech_dispose = client_dispose,
    .mech_free = client_free,
};

int sasl_client_plug_init(const sasl_utils_t *utils, int maxversion,
                          int *out_version, sasl_client_plug_t **pluglist,
                          int *plugcount);

int
sasl_client_plug_init(const sasl_utils_t *utils, int maxversion,
                      int *out_version, sasl_client_plug_t **pluglist,
                      int *plugcount)
{
    struct client_glob *g;

    if (maxversion < SASL_CLIENT_PLUG_VERSION) {
        plugin_error(utils, "GSS-SPNEGO: libsasl2 offers client "
                        "plugin version %d; version %d is needed", maxversion,
                        SASL_CLIENT_PLUG_VERSION);
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
        g->krb5 = NULL; /* only a cache; everything works without it */
    spnego_client_plugin.glob_context = g;
    *out_version = SASL_CLIENT_PLUG_VERSION;
    *pluglist = &spnego_client_plugin;
    *plugcount = 1;
    return SASL_OK;
}
