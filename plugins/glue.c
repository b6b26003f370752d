/* glue.c - what the client and server halves share.  See plugin.h. */
#include "plugin.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi_ext.h>

void
plugin_error(const sasl_utils_t *utils, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    utils->seterror(utils->conn, 0, "%s", text);
}

void
plugin_pending(const sasl_utils_t *utils, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    utils->seterror(utils->conn, SASL_NOLOG, "%s", text);
}

void
plugin_log(const sasl_utils_t *utils, int level, const char *fmt, ...)
{
    char text[1024];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    utils->log(utils->conn, level, "%s", text);
}

static const char *
get_option(const sasl_utils_t *utils, const char *name)
{
    const char *value = NULL;
    unsigned len = 0;

    if (utils->getopt == NULL ||
        utils->getopt(utils->getopt_context, SPNEGO_MECH_NAME, name, &value,
                      &len) != SASL_OK ||
        value == NULL || len == 0)
        return NULL;
    return value;
}

static int
parse_size(const char *text, size_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (text[0] < '0' || text[0] > '9')
        return 0;
    v = strtoull(text, &end, 10);
    if (end == text || *end != '\0' || v == 0 || v > SIZE_MAX)
        return 0;
    *out = (size_t)v;
    return 1;
}

/* A yes/no option (unset: dflt).  Returns 0 after seterror if it is
 * neither. */
static int
yes_no(const sasl_utils_t *utils, const char *name, const char *v, int dflt,
       int *out)
{
    if (v == NULL || (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)) {
        *out = dflt;
        if (v == NULL)
            return 1;
        plugin_error(utils, "GSS-SPNEGO: %s \"%s\" must be yes or no", name,
                     v);
        return 0;
    }
    *out = strcmp(v, "yes") == 0;
    return 1;
}

static int
read_yes_no(const sasl_utils_t *utils, const char *name, int dflt, int *out)
{
    return yes_no(utils, name, get_option(utils, name), dflt, out);
}

int
plugin_read_options(const sasl_utils_t *utils, int client,
                    struct plugin_options *opts)
{
    const char *v;

    memset(opts, 0, sizeof(*opts));
    opts->mechs = get_option(utils, "spnego_mechs");
    if (client && opts->mechs == NULL)
        opts->mechs = getenv("SPNEGO_MECHS");
    if (opts->mechs != NULL && opts->mechs[0] == '\0')
        opts->mechs = NULL;
    opts->keytab = get_option(utils, "spnego_keytab");
    v = get_option(utils, "spnego_max_token");
    if (v != NULL && !parse_size(v, &opts->max_token)) {
        plugin_error(utils, "GSS-SPNEGO: spnego_max_token \"%s\" "
                        "is not a positive number of bytes", v);
        return SASL_BADPARAM;
    }
    v = get_option(utils, "spnego_send_mic");
    if (v == NULL || strcmp(v, "auto") == 0) {
        opts->mic_policy = SPNEGO_MIC_AUTO;
    } else if (strcmp(v, "always") == 0) {
        opts->mic_policy = SPNEGO_MIC_ALWAYS;
    } else {
        plugin_error(utils, "GSS-SPNEGO: spnego_send_mic \"%s\" "
                        "must be auto or always", v);
        return SASL_BADPARAM;
    }
    if (!read_yes_no(utils, "spnego_keytab_fallback", 0,
                     &opts->keytab_fallback) ||
        !read_yes_no(utils, "spnego_raw_tokens", 1, &opts->raw_tokens))
        return SASL_BADPARAM;
    /* a client also takes $SPNEGO_FAST_LAYER (LDAP tools have no options) */
    v = get_option(utils, "spnego_fast_layer");
    if (client && v == NULL)
        v = getenv("SPNEGO_FAST_LAYER");
    if (!yes_no(utils, "spnego_fast_layer", v, 1, &opts->fast_layer))
        return SASL_BADPARAM;
    return SASL_OK;
}

void
plugin_trace(void *arg, enum spnego_event event, const char *text)
{
    const struct conn *c = arg;
    int level;

    switch (event) {
    case SPNEGO_EV_STATE:
        level = SASL_LOG_TRACE;
        break;
    case SPNEGO_EV_ERROR:
        return; /* reported through seterror */
    case SPNEGO_EV_DOWNGRADE:
        level = SASL_LOG_WARN;
        break;
    case SPNEGO_EV_DROPPED: /* a mechanism that could not start */
        level = SASL_LOG_NOTE;
        break;
    case SPNEGO_EV_OFFERED:
    case SPNEGO_EV_CHOSEN:
    case SPNEGO_EV_MIC_REQUIRED:
    case SPNEGO_EV_MIC_SENT:
    case SPNEGO_EV_MIC_VERIFIED:
    case SPNEGO_EV_MIC_SKIPPED:
    case SPNEGO_EV_FLAGS:
    default:
        level = SASL_LOG_DEBUG;
        break;
    }
    plugin_log(c->utils, level, "GSS-SPNEGO: %s", text);
}

void
plugin_set_cb(struct conn *c, const sasl_channel_binding_t *cb)
{
    memset(&c->cb, 0, sizeof(c->cb));
    c->has_cb = cb != NULL && cb->data != NULL && cb->len > 0;
    if (!c->has_cb)
        return;
    /* Application data only, no addresses (what Active Directory and
     * OpenLDAP's tls-endpoint expect). */
    c->cb.initiator_addrtype = GSS_C_AF_UNSPEC;
    c->cb.acceptor_addrtype = GSS_C_AF_UNSPEC;
    c->cb.application_data.length = cb->len;
    c->cb.application_data.value = (void *)cb->data;
}

/* The SASL code of a failure, by its cause (gss_spnego(7), DIAGNOSTICS:
 * the table of codes). */
static int
cause_sasl_code(enum spnego_cause cause)
{
    switch (cause) {
    case SPNEGO_CAUSE_PROTOCOL:
        return SASL_BADPROT;
    case SPNEGO_CAUSE_REFUSED:
        return SASL_BADAUTH;
    case SPNEGO_CAUSE_NO_MECH:
        return SASL_NOMECH;
    case SPNEGO_CAUSE_NOMEM:
        return SASL_NOMEM;
    case SPNEGO_CAUSE_UNPROTECTED:
        return SASL_TOOWEAK;
    case SPNEGO_CAUSE_LOCAL:
    case SPNEGO_CAUSE_NONE:
    default:
        return SASL_FAIL;
    }
}

int
plugin_engine_error(struct conn *c)
{
    if (c->engine == NULL) {
        plugin_error(c->utils, "GSS-SPNEGO: no negotiation context");
        return SASL_FAIL;
    }
    plugin_error(c->utils, "GSS-SPNEGO: %s", spnego_reason(c->engine));
    return cause_sasl_code(spnego_failure_cause(c->engine));
}

int
plugin_engine_step(struct conn *c, const char *in, unsigned inlen,
                   const char **out, unsigned *out_len)
{
    enum spnego_status st;
    uint8_t *tok = NULL;
    size_t toklen = 0;
    int r;

    st = spnego_step(c->engine, (const uint8_t *)in, inlen, &tok, &toklen);
    r = plugin_hand_out(c, tok, toklen, out, out_len);
    if (r != SASL_OK)
        return r;
    switch (st) {
    case SPNEGO_CONTINUE_NEEDED:
        return SASL_CONTINUE;
    case SPNEGO_COMPLETE:
        return SASL_OK;
    case SPNEGO_BAD_MECH:
    case SPNEGO_DEFECTIVE_TOKEN:
    case SPNEGO_FAILURE:
    default:
        return plugin_engine_error(c);
    }
}

/* The SSF of a layer: none 0, integrity 1, confidentiality the
 * mechanism's SASL SSF (56 when it cannot say). */
static sasl_ssf_t
layer_ssf(gss_ctx_id_t gss, enum plugin_layer layer)
{
    OM_uint32 major, minor;
    gss_buffer_set_t bufs = GSS_C_NO_BUFFER_SET;
    sasl_ssf_t ssf = 56;

    if (layer != PLUGIN_LAYER_CONF)
        return layer == PLUGIN_LAYER_INTEG ? 1 : 0;
    major = gss_inquire_sec_context_by_oid(&minor, gss,
                                           GSS_C_SEC_CONTEXT_SASL_SSF, &bufs);
    if (major == GSS_S_COMPLETE && bufs != GSS_C_NO_BUFFER_SET &&
        bufs->count == 1 && bufs->elements[0].length == 4) {
        const uint8_t *p = bufs->elements[0].value;

        ssf = (sasl_ssf_t)p[0] << 24 | (sasl_ssf_t)p[1] << 16 |
              (sasl_ssf_t)p[2] << 8 | p[3];
    }
    (void)gss_release_buffer_set(&minor, &bufs);
    return ssf;
}

static int
layer_sasl_code(enum layer_status st)
{
    switch (st) {
    case LAYER_OK:
        return SASL_OK;
    case LAYER_NOMEM:
        return SASL_NOMEM;
    case LAYER_BAD_MAC:
        return SASL_BADMAC;
    case LAYER_BAD_LENGTH:
        return SASL_BADPROT;
    case LAYER_FAIL:
    default:
        return SASL_FAIL;
    }
}

static int
layer_encode(void *context, const struct iovec *invec, unsigned numiov,
             const char **output, unsigned *outputlen)
{
    struct conn *c = context;
    const uint8_t *out = NULL;
    size_t len = 0;
    enum layer_status st;

    st = spnego_layer_encode(&c->layer, invec, numiov, &out, &len);
    if (st == LAYER_OK && len > UINT_MAX)
        st = LAYER_FAIL;
    if (st != LAYER_OK) {
        plugin_error(c->utils, "GSS-SPNEGO security layer: "
                           "%s", c->layer.err);
        return layer_sasl_code(st);
    }
    *output = out != NULL ? (const char *)out : "";
    *outputlen = (unsigned)len;
    return SASL_OK;
}

static int
layer_decode(void *context, const char *input, unsigned inputlen,
             const char **output, unsigned *outputlen)
{
    struct conn *c = context;
    const uint8_t *out = NULL;
    size_t len = 0;
    enum layer_status st;

    st = spnego_layer_decode(&c->layer, (const uint8_t *)input, inputlen,
                             &out, &len);
    if (st == LAYER_OK && len > UINT_MAX)
        st = LAYER_FAIL;
    if (st != LAYER_OK) {
        plugin_error(c->utils, "GSS-SPNEGO security layer: "
                           "%s", c->layer.err);
        return layer_sasl_code(st);
    }
    /* never NULL, even when no packet completed: callers memcpy it */
    *output = out != NULL ? (const char *)out : "";
    *outputlen = (unsigned)len;
    return SASL_OK;
}

static const char *const kind_words[] = { "no security layer",
                                         "integrity only",
                                         "confidentiality" };

const char *
plugin_layer_name(enum plugin_layer layer)
{
    return kind_words[layer];
}

/* The strongest layer these properties allow: none when maxbufsize is 0
 * (sasl.h: no security layer) or max_ssf does not exceed the external
 * SSF; integrity when it exceeds it by 1; confidentiality by more. */
enum plugin_layer
plugin_allowed_layer(const sasl_security_properties_t *p, sasl_ssf_t ext)
{
    if (p->maxbufsize == 0 || p->max_ssf <= ext)
        return PLUGIN_LAYER_NONE;
    return p->max_ssf - ext == 1 ? PLUGIN_LAYER_INTEG : PLUGIN_LAYER_CONF;
}

OM_uint32
plugin_layer_flags(enum plugin_layer layer)
{
    OM_uint32 flags = 0;

    if (layer >= PLUGIN_LAYER_INTEG)
        flags |= GSS_C_INTEG_FLAG | GSS_C_SEQUENCE_FLAG | GSS_C_REPLAY_FLAG;
    if (layer == PLUGIN_LAYER_CONF)
        flags |= GSS_C_CONF_FLAG;
    return flags;
}

static enum plugin_layer
flags_layer(OM_uint32 flags)
{
    if (!(flags & GSS_C_INTEG_FLAG))
        return PLUGIN_LAYER_NONE;
    return (flags & GSS_C_CONF_FLAG) ? PLUGIN_LAYER_CONF : PLUGIN_LAYER_INTEG;
}

/* 1 if the mechanism protects its layer against replay and reordering
 * although its context does not say so: NTLM's signatures carry a
 * sequence number that gss-ntlmssp checks on every packet (MS-NLMP
 * 3.4.4), and gss-ntlmssp 1.2.0 sets neither flag. */
static int
mech_sequences_inherently(const struct spnego_mech *mech)
{
    return mech != NULL && mech->id == SPNEGO_OID_NTLMSSP;
}

/*
 * The one decision of both sides: the layer is the one the context flags
 * give (the client asked for it with plugin_layer_flags from its own
 * properties; GSS-SPNEGO has no later step to agree on another).  This
 * side refuses a layer stronger than its properties allow (it cannot be
 * undone), weaker than min_ssf needs, or without sequence detection: with
 * it, MIT's unwrap reports a replayed packet as old or duplicate, which
 * the layer refuses, so replay detection alone is not required (Cyrus'
 * libgssapiv2 client asks for sequence detection only).
 */
static int
check_layer(struct conn *c, const sasl_security_properties_t *p,
            sasl_ssf_t ext, OM_uint32 flags, enum plugin_layer got,
            sasl_ssf_t ssf)
{
    enum plugin_layer allowed = plugin_allowed_layer(p, ext);
    sasl_ssf_t need = p->min_ssf > ext ? p->min_ssf - ext : 0;

    if (got > allowed) {
        plugin_error(c->utils, "GSS-SPNEGO: the context has a security "
                     "layer of SSF %u (%s), but this side allows %s "
                     "(max_ssf %u, external SSF %u, maxbufsize %u); the "
                     "client should ask for less (maxssf)", ssf,
                     kind_words[got], kind_words[allowed], p->max_ssf, ext,
                     p->maxbufsize);
        return SASL_TOOWEAK;
    }
    if (ssf < need) {
        plugin_error(c->utils, "GSS-SPNEGO: the negotiated security layer "
                     "has SSF %u (%s), but min_ssf %u with external SSF %u "
                     "requires at least %u; ask for a stronger layer "
                     "(maxssf) or lower minssf", ssf, kind_words[got],
                     p->min_ssf, ext, need);
        return SASL_TOOWEAK;
    }
    if (got != PLUGIN_LAYER_NONE && !(flags & GSS_C_SEQUENCE_FLAG) &&
        !mech_sequences_inherently(spnego_ctx_mech(c->engine))) {
        plugin_error(c->utils, "GSS-SPNEGO: the %s context of this security "
                     "layer has no sequence detection: replayed and "
                     "reordered packets would go through; the client must "
                     "ask for it (GSS_C_SEQUENCE_FLAG)",
                     spnego_ctx_mech(c->engine) != NULL
                         ? spnego_ctx_mech(c->engine)->name : "mechanism");
        return SASL_TOOWEAK;
    }
    return SASL_OK;
}

int
plugin_setup_layer(struct conn *c, const sasl_security_properties_t *p,
                   sasl_ssf_t external_ssf, sasl_out_params_t *oparams)
{
    gss_ctx_id_t gss = spnego_ctx_gss(c->engine);
    OM_uint32 flags = spnego_ctx_flags(c->engine);
    enum plugin_layer layer = flags_layer(flags);
    sasl_ssf_t ssf = layer_ssf(gss, layer);
    /* GSS-SPNEGO exchanges no buffer sizes.  Send packets no larger than
     * maxbufsize (a peer with the same properties takes them) nor than
     * 64 KiB (what every peer takes).  Receive packets of maxbufsize
     * bytes of data, and up to OpenLDAP's 16 MiB - 1 when maxbufsize is
     * smaller: Cyrus' libgssapiv2 sends packets as large as its own
     * maxbufsize (libldap's 16 MiB - 1), whatever ours is. */
    size_t recv_max = p->maxbufsize > SPNEGO_RECV_MAX ? p->maxbufsize
                                                      : SPNEGO_RECV_MAX;
    size_t send_max = p->maxbufsize < SPNEGO_DEFAULT_MAXBUF
                          ? p->maxbufsize : SPNEGO_DEFAULT_MAXBUF;
    const struct spnego_mech *mech = spnego_ctx_mech(c->engine);
    struct spnego_layer_fast fast;
    enum layer_status st;
    int r;

    plugin_log(c->utils, SASL_LOG_DEBUG, "GSS-SPNEGO: security "
                  "layer SSF %u (%s)", ssf, kind_words[layer]);
    r = check_layer(c, p, external_ssf, flags, layer, ssf);
    if (r != SASL_OK)
        return r;
    oparams->mech_ssf = ssf;
    if (ssf == 0) {
        oparams->encode = NULL;
        oparams->decode = NULL;
        oparams->maxoutbuf = 0;
        return SASL_OK;
    }
    /* Only Kerberos has RFC 4121 tokens; the layer checks the rest. */
    fast.enable = c->fast_layer && mech != NULL &&
                  mech->id != SPNEGO_OID_NTLMSSP;
    fast.peer_mics = spnego_ctx_mic_verified(c->engine) ? 1u : 0u;
    st = spnego_layer_init(&c->layer, gss, ssf > 1, send_max, recv_max,
                           &fast);
    c->has_layer = 1;
    if (st != LAYER_OK) {
        plugin_error(c->utils, "GSS-SPNEGO security layer: "
                           "%s", c->layer.err);
        return layer_sasl_code(st);
    }
    plugin_log(c->utils, SASL_LOG_DEBUG, "GSS-SPNEGO: security layer made "
               "with %s", !c->fast_layer ? "gss_wrap (spnego_fast_layer no)"
               : mech != NULL && mech->id == SPNEGO_OID_NTLMSSP
                   ? "gss_wrap (NTLM has no RFC 4121 tokens)"
                   : c->layer.path);
    oparams->encode_context = c;
    oparams->encode = layer_encode;
    oparams->decode_context = c;
    oparams->decode = layer_decode;
    oparams->maxoutbuf = c->layer.maxoutbuf > UINT_MAX
                             ? UINT_MAX
                             : (unsigned)c->layer.maxoutbuf;
    return SASL_OK;
}

/* A SASL code in words.  Not sasl_errstring: the plugin must not need a
 * symbol of libsasl2 itself, which a process that loaded libsasl2 with
 * RTLD_LOCAL (SSSD's sssd_be, through libldap) does not export to the
 * plugins it opens. */
static const char *
code_text(int code)
{
    switch (code) {
    case SASL_BADAUTH:
        return "authentication failure";
    case SASL_BADPROT:
        return "bad protocol";
    case SASL_NOMECH:
        return "no common mechanism";
    case SASL_TOOWEAK:
        return "too weak";
    case SASL_BADBINDING:
        return "channel binding failure";
    case SASL_NOMEM:
        return "out of memory";
    case SASL_BADPARAM:
        return "bad parameter";
    case SASL_NOAUTHZ:
        return "authorization failure";
    case SASL_NOUSER:
        return "user not found";
    default:
        return "generic failure";
    }
}

int
plugin_step_begin(struct conn *c, const sasl_utils_t *utils,
                  const char **out, unsigned *out_len)
{
    const char *why;

    *out = NULL;
    *out_len = 0;
    if (c == NULL) {
        plugin_error(utils, "GSS-SPNEGO: the negotiation already failed; "
                     "start a new authentication");
        return SASL_BADAUTH;
    }
    if (c->failed == 0)
        return SASL_OK;
    why = c->engine != NULL ? spnego_reason(c->engine) : "";
    plugin_error(c->utils, "GSS-SPNEGO: the negotiation already failed: %s; "
                 "start a new authentication",
                 why[0] != '\0' ? why : code_text(c->failed));
    return SASL_BADAUTH;
}

int
plugin_step_end(struct conn *c, int r, const char **out, unsigned *out_len)
{
    if (r == SASL_OK || r == SASL_CONTINUE || r == SASL_INTERACT)
        return r;
    if (c != NULL)
        c->failed = r;
    *out = NULL;
    *out_len = 0;
    return r;
}

int
plugin_hand_out(struct conn *c, uint8_t *tok, size_t len, const char **out,
                unsigned *out_len)
{
    free(c->out);
    c->out = tok;
    *out = (const char *)tok;
    *out_len = 0;
    if (len > UINT_MAX) {
        plugin_error(c->utils, "GSS-SPNEGO: a token of %zu "
                           "bytes is too large for SASL", len);
        return SASL_FAIL;
    }
    *out_len = (unsigned)len;
    return SASL_OK;
}

void
plugin_conn_cleanup(struct conn *c)
{
    spnego_ctx_free(c->engine);
    c->engine = NULL;
    if (c->has_layer)
        spnego_layer_cleanup(&c->layer);
    c->has_layer = 0;
    free(c->out);
    c->out = NULL;
    if (c->authid != NULL)
        c->utils->free(c->authid);
    c->authid = NULL;
}
