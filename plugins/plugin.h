/*
 * plugin.h - the Cyrus SASL glue of the GSS-SPNEGO plugin: what the client
 * and server halves share.  This layer parses no DER and knows no SPNEGO
 * rule: it maps SASL parameters onto the engine (common/engine.h) and the
 * security layer (common/layer.h), and engine results onto SASL.
 */
#ifndef SPNEGO_PLUGIN_H
#define SPNEGO_PLUGIN_H

#include <stddef.h>

#include <gssapi/gssapi.h>
#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "engine.h"
#include "layer.h"

#define SPNEGO_MECH_NAME "GSS-SPNEGO"

/* Hash size in the security flags (libsasl2 >= 2.1.28 sorts mechanisms by
 * it last, after the SASL_SEC_* flags, channel binding and max_ssf).  128
 * bits: MD4/MD5 (NTLM, RC4-HMAC Kerberos) is the smallest hash any mechanism
 * we negotiate authenticates with; AES Kerberos uses SHA-1 or SHA-2.  It
 * ranks us above Cyrus' libgssapiv2, which declares none, independently of
 * the order libsasl2 reads the plugin files in. */
#ifdef SASL_SET_HASH_STRENGTH_BITS
#define SPNEGO_HASH_STRENGTH SASL_SET_HASH_STRENGTH_BITS(128)
#else
#define SPNEGO_HASH_STRENGTH 0
#endif

/* The data a received packet may carry when the application's maxbufsize
 * is smaller: OpenLDAP's largest (Cyrus' libgssapiv2 sends packets as
 * large as its own maxbufsize; GSS-SPNEGO exchanges no buffer sizes). */
#define SPNEGO_RECV_MAX 0xffffffu
/* The largest packet sent: what every GSS-SPNEGO peer accepts (Cyrus'
 * libgssapiv2 and slapd with it take 64 KiB). */
#define SPNEGO_DEFAULT_MAXBUF 65536u

/* Options (utils->getopt, prefixed spnego_; see the man page). */
struct plugin_options {
    const char *mechs;    /* spnego_mechs; client also $SPNEGO_MECHS */
    const char *keytab;   /* spnego_keytab (server) */
    size_t max_token;     /* spnego_max_token; 0 = default */
    enum spnego_mic_policy mic_policy; /* spnego_send_mic auto|always */
    int keytab_fallback;  /* spnego_keytab_fallback yes|no (server) */
    int raw_tokens;       /* spnego_raw_tokens yes|no (server) */
    int fast_layer;       /* spnego_fast_layer yes|no */
};

/* Per-connection state shared by both roles. */
struct conn {
    const sasl_utils_t *utils;
    struct spnego_ctx *engine;
    struct gss_channel_bindings_struct cb;
    int has_cb;
    struct spnego_layer layer;
    int has_layer;
    int fast_layer;        /* spnego_fast_layer */
    uint8_t *out;          /* the last token returned to libsasl2 */
    char *authid;          /* canonical authentication id (utils->malloc) */
    int failed;            /* the SASL code of the first failed step, or 0 */
};

/* libsasl2's own formatter knows only %s, %d, %i, %c and %m: these
 * format with vsnprintf and hand libsasl2 the finished sentence. */
void plugin_error(const sasl_utils_t *utils, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void plugin_log(const sasl_utils_t *utils, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The sentence the application reports if it cannot answer the prompts
 * the plugin is about to return (SASL_INTERACT): set, not logged, so
 * that a bind that goes on to succeed leaves no failure in the log. */
void plugin_pending(const sasl_utils_t *utils, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Read the options; returns SASL_OK or SASL_BADPARAM (with seterror). */
int plugin_read_options(const sasl_utils_t *utils, int client,
                        struct plugin_options *opts);

/* Engine trace -> the SASL log (debug/trace levels). */
void plugin_trace(void *arg, enum spnego_event event, const char *text);

/* Fill the GSS channel bindings from SASL's (application data only). */
void plugin_set_cb(struct conn *c, const sasl_channel_binding_t *cb);

/* Every step of both roles begins and ends here.  plugin_step_begin
 * clears the output and refuses the step (SASL_BADAUTH) when the
 * connection is gone (c NULL: libsasl2 2.1.28 calls again after a failed
 * step, with the state already disposed of) or failed once before, naming
 * that failure, whatever the step is given.  plugin_step_end records a
 * failure (c may be NULL) and hands out no token with it. */
int plugin_step_begin(struct conn *c, const sasl_utils_t *utils,
                      const char **out, unsigned *out_len);
int plugin_step_end(struct conn *c, int r, const char **out,
                    unsigned *out_len);

/* One engine step on `in`, its token handed out (plugin_hand_out): the
 * shared middle of both roles' steps.  SASL_CONTINUE, SASL_OK when the
 * exchange is complete (the caller then finishes: identity, layer), or
 * the failure's code (plugin_engine_error). */
int plugin_engine_step(struct conn *c, const char *in, unsigned inlen,
                       const char **out, unsigned *out_len);

/* The SASL code of the engine's last failure (by its cause: BADPROT,
 * BADAUTH, NOMECH, FAIL, NOMEM), with seterror(reason). */
int plugin_engine_error(struct conn *c);

/* The security layer, decided by one rule on both sides (gss_spnego(7),
 * SECURITY LAYER). */
enum plugin_layer {
    PLUGIN_LAYER_NONE = 0,
    PLUGIN_LAYER_INTEG,
    PLUGIN_LAYER_CONF
};

/* The strongest layer the properties allow. */
enum plugin_layer plugin_allowed_layer(const sasl_security_properties_t *p,
                                       sasl_ssf_t external_ssf);
/* "no security layer", "integrity only", "confidentiality". */
const char *plugin_layer_name(enum plugin_layer layer);
/* The GSS flags that ask for `layer` (with replay and sequence
 * detection for any layer). */
OM_uint32 plugin_layer_flags(enum plugin_layer layer);

/*
 * After SPNEGO_COMPLETE, on both sides: the layer is the one the context
 * flags give; refuse it (SASL_TOOWEAK with the reason) if it is stronger
 * than the properties allow, weaker than min_ssf needs, or lacks sequence
 * detection (NTLM, whose signatures are sequenced, excepted);
 * set up the security layer and the oparams fields for it.
 */
int plugin_setup_layer(struct conn *c, const sasl_security_properties_t *p,
                       sasl_ssf_t external_ssf, sasl_out_params_t *oparams);

/* Free what plugin_* set up in c (not c itself). */
void plugin_conn_cleanup(struct conn *c);

/* Remember `tok` as the token handed to libsasl2 (freed on the next step
 * or at dispose); converts the length for SASL. */
int plugin_hand_out(struct conn *c, uint8_t *tok, size_t len,
                    const char **out, unsigned *out_len);

/* The plug tables (client.c, server.c). */
extern sasl_client_plug_t spnego_client_plugin;
extern sasl_server_plug_t spnego_server_plugin;

#endif /* SPNEGO_PLUGIN_H */
