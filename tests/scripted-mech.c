/* scripted-mech.c - a scripted mechanism for engine tests (see
 * scripted-mech.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <gssapi/gssapi.h>

#include "scripted-mech.h"

#define TOKEN_LEN 12
#define MIC_LEN 9
#define CTX_MAGIC 0x53435254u /* "SCRT" */

/* 1.3.6.1.4.1.99999 (99999 = 6*128^2 + 13*128 + 31) */
static const uint8_t oid_prefix[] = { 0x2b, 0x06, 0x01, 0x04, 0x01,
                                      0x86, 0x8d, 0x1f };

struct scripted_ctx {
    uint32_t magic;
    int initiator;
    const struct scripted_mech *sm;
    unsigned last_leg; /* highest leg sent or received */
    int complete;
};

struct scripted_stats scripted_stats;
static const struct scripted_mech *registry[SCRIPTED_MAX_MECHS];

static void scripted_delete(gss_ctx_id_t *handle);

static const struct scripted_mech *
find_arc(unsigned arc)
{
    size_t i;

    for (i = 0; i < SCRIPTED_MAX_MECHS; i++)
        if (registry[i] != NULL && registry[i]->arc == arc)
            return registry[i];
    return NULL;
}

static const struct scripted_mech *
find_oid(const gss_OID_desc *oid)
{
    const uint8_t *der = oid->elements;

    if (oid->length != sizeof(oid_prefix) + 1 ||
        memcmp(der, oid_prefix, sizeof(oid_prefix)) != 0)
        return NULL;
    return find_arc(der[sizeof(oid_prefix)]);
}

static struct scripted_ctx *
ctx_of(gss_ctx_id_t handle)
{
    struct scripted_ctx *ctx = (struct scripted_ctx *)handle;

    if (ctx == NULL || ctx->magic != CTX_MAGIC)
        return NULL;
    return ctx;
}

static OM_uint32
make_token(const struct scripted_mech *sm, unsigned leg, gss_buffer_t out)
{
    uint8_t *buf = malloc(TOKEN_LEN);

    if (buf == NULL)
        return GSS_S_FAILURE;
    memcpy(buf, "SCRIPTED", 8);
    buf[8] = (uint8_t)sm->arc;
    buf[9] = (uint8_t)leg;
    buf[10] = (uint8_t)sm->legs;
    buf[11] = 0;
    out->value = buf;
    out->length = TOKEN_LEN;
    return GSS_S_COMPLETE;
}

/* The leg number in `in` if it is a token of sm, else 0. */
static unsigned
token_leg(const struct scripted_mech *sm, const gss_buffer_desc *in)
{
    const uint8_t *b = in ? in->value : NULL;

    if (b == NULL || in->length != TOKEN_LEN ||
        memcmp(b, "SCRIPTED", 8) != 0 ||
        (sm != NULL && (b[8] != sm->arc || b[10] != sm->legs)))
        return 0;
    return b[9];
}

static OM_uint32
new_ctx(const struct scripted_mech *sm, int initiator,
        struct scripted_ctx **ctx_out)
{
    struct scripted_ctx *ctx = calloc(1, sizeof(*ctx));

    if (ctx == NULL)
        return GSS_S_FAILURE;
    ctx->magic = CTX_MAGIC;
    ctx->initiator = initiator;
    ctx->sm = sm;
    scripted_stats.contexts_created++;
    *ctx_out = ctx;
    return GSS_S_COMPLETE;
}

static OM_uint32
flags_of(const struct scripted_mech *sm, OM_uint32 req_flags)
{
    OM_uint32 flags = req_flags & (GSS_C_MUTUAL_FLAG | GSS_C_DELEG_FLAG);

    if (sm->integrity)
        flags |= req_flags & (GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG);
    return flags;
}

/* Produce leg `leg` (or nothing if the exchange is over) and say whether
 * this side is now complete. */
static OM_uint32
advance(struct scripted_ctx *ctx, unsigned leg, gss_buffer_t out)
{
    OM_uint32 major;

    if (leg > ctx->sm->legs) {
        ctx->complete = 1;
        return GSS_S_COMPLETE;
    }
    major = make_token(ctx->sm, leg, out);
    if (major != GSS_S_COMPLETE)
        return major;
    ctx->last_leg = leg;
    ctx->complete = leg == ctx->sm->legs;
    return ctx->complete ? GSS_S_COMPLETE : GSS_S_CONTINUE_NEEDED;
}

static OM_uint32
scripted_init(OM_uint32 *minor, gss_cred_id_t cred, gss_ctx_id_t *handle,
              gss_name_t target, gss_OID mech, OM_uint32 req_flags,
              gss_channel_bindings_t cb, gss_buffer_t in, gss_buffer_t out,
              OM_uint32 *ret_flags)
{
    struct scripted_ctx *ctx = ctx_of(*handle);
    const struct scripted_mech *sm = find_oid(mech);
    unsigned leg;
    OM_uint32 major;

    (void)cred;
    (void)target;
    (void)cb;
    *minor = 0;
    out->value = NULL;
    out->length = 0;
    scripted_stats.init_calls++;
    if (sm == NULL || (*handle != GSS_C_NO_CONTEXT && ctx == NULL))
        return GSS_S_NO_CONTEXT;
    if (ctx == NULL) {
        if (sm->fail_init_leg == 1)
            return GSS_S_FAILURE;
        major = new_ctx(sm, 1, &ctx);
        if (major != GSS_S_COMPLETE)
            return major;
        *handle = (gss_ctx_id_t)ctx;
        leg = 1;
    } else {
        if (ctx->sm != sm || !ctx->initiator || ctx->complete ||
            token_leg(sm, in) != ctx->last_leg + 1)
            return GSS_S_DEFECTIVE_TOKEN;
        ctx->last_leg++;
        leg = ctx->last_leg + 1;
        if (sm->fail_init_leg == leg)
            return GSS_S_FAILURE;
    }
    if (ret_flags)
        *ret_flags = flags_of(sm, req_flags);
    return advance(ctx, leg, out);
}

static OM_uint32
accept_first(gss_ctx_id_t *handle, gss_buffer_t in,
             struct scripted_ctx **ctx_out)
{
    const uint8_t *b = in ? in->value : NULL;
    const struct scripted_mech *sm;
    OM_uint32 major;

    if (token_leg(NULL, in) != 1)
        return GSS_S_DEFECTIVE_TOKEN;
    sm = find_arc(b[8]);
    if (sm == NULL || b[10] != sm->legs)
        return GSS_S_DEFECTIVE_TOKEN;
    major = new_ctx(sm, 0, ctx_out);
    if (major == GSS_S_COMPLETE)
        *handle = (gss_ctx_id_t)*ctx_out;
    return major;
}

static OM_uint32
scripted_accept(OM_uint32 *minor, gss_ctx_id_t *handle, gss_cred_id_t cred,
                gss_buffer_t in, gss_channel_bindings_t cb,
                gss_name_t *src_name, gss_buffer_t out, OM_uint32 *ret_flags,
                gss_cred_id_t *deleg)
{
    struct scripted_ctx *ctx = ctx_of(*handle);
    gss_buffer_desc peer = { sizeof(SCRIPTED_PEER) - 1,
                             (void *)SCRIPTED_PEER };
    OM_uint32 major;

    (void)cred;
    (void)cb;
    *minor = 0;
    out->value = NULL;
    out->length = 0;
    if (src_name)
        *src_name = GSS_C_NO_NAME;
    if (deleg)
        *deleg = GSS_C_NO_CREDENTIAL;
    scripted_stats.accept_calls++;
    if (*handle != GSS_C_NO_CONTEXT && ctx == NULL)
        return GSS_S_NO_CONTEXT;
    if (ctx == NULL) {
        major = accept_first(handle, in, &ctx);
        if (major != GSS_S_COMPLETE)
            return major;
    } else if (ctx->initiator || ctx->complete ||
               token_leg(ctx->sm, in) != ctx->last_leg + 1) {
        return GSS_S_DEFECTIVE_TOKEN;
    }
    ctx->last_leg++;
    if (ctx->sm->fail_accept_leg == ctx->last_leg) {
        /* Like MIT's mechglue: a failed call deletes what it created. */
        if (ctx->last_leg == 1)
            scripted_delete(handle);
        /* "no credentials for this": a configuration failure, after
         * which the acceptor may fall back to another mechanism */
        return GSS_S_NO_CRED;
    }
    major = advance(ctx, ctx->last_leg + 1, out);
    if (ret_flags)
        *ret_flags = flags_of(ctx->sm, GSS_C_MUTUAL_FLAG |
                                           GSS_C_INTEG_FLAG |
                                           GSS_C_CONF_FLAG);
    if (major == GSS_S_COMPLETE && src_name)
        major = gss_import_name(minor, &peer, GSS_C_NT_USER_NAME, src_name);
    return major;
}

static uint32_t
fnv1a(const gss_buffer_desc *msg)
{
    const uint8_t *b = msg->value;
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < msg->length; i++) {
        h ^= b[i];
        h *= 16777619u;
    }
    return h;
}

static void
mic_bytes(const struct scripted_ctx *ctx, int initiator_made,
          const gss_buffer_desc *msg, uint8_t mic[MIC_LEN])
{
    static const uint8_t magic[4] = { 'S', 'M', 'I', 'C' }; /* no NUL */
    uint32_t h = fnv1a(msg) ^ ctx->sm->arc;

    memcpy(mic, magic, sizeof(magic));
    mic[4] = initiator_made ? 'I' : 'A';
    mic[5] = (uint8_t)(h >> 24);
    mic[6] = (uint8_t)(h >> 16);
    mic[7] = (uint8_t)(h >> 8);
    mic[8] = (uint8_t)h;
}

static OM_uint32
scripted_get_mic(OM_uint32 *minor, gss_ctx_id_t handle, gss_buffer_t msg,
                 gss_buffer_t mic)
{
    const struct scripted_ctx *ctx = ctx_of(handle);
    uint8_t *buf;

    *minor = 0;
    mic->value = NULL;
    mic->length = 0;
    scripted_stats.get_mic_calls++;
    if (ctx == NULL || !ctx->complete)
        return GSS_S_NO_CONTEXT;
    if (!ctx->sm->integrity)
        return GSS_S_UNAVAILABLE;
    buf = malloc(MIC_LEN);
    if (buf == NULL)
        return GSS_S_FAILURE;
    mic_bytes(ctx, ctx->initiator, msg, buf);
    mic->value = buf;
    mic->length = MIC_LEN;
    return GSS_S_COMPLETE;
}

static OM_uint32
scripted_verify_mic(OM_uint32 *minor, gss_ctx_id_t handle, gss_buffer_t msg,
                    gss_buffer_t mic)
{
    const struct scripted_ctx *ctx = ctx_of(handle);
    uint8_t want[MIC_LEN];

    *minor = 0;
    scripted_stats.verify_mic_calls++;
    if (ctx == NULL || !ctx->complete)
        return GSS_S_NO_CONTEXT;
    if (!ctx->sm->integrity)
        return GSS_S_UNAVAILABLE;
    mic_bytes(ctx, !ctx->initiator, msg, want);
    if (mic->length != MIC_LEN || memcmp(mic->value, want, MIC_LEN) != 0)
        return GSS_S_BAD_SIG;
    return GSS_S_COMPLETE;
}

static int
scripted_requires_mic(gss_ctx_id_t handle, enum spnego_role role,
                      const uint8_t *in, size_t in_len)
{
    (void)handle;
    (void)role;
    (void)in;
    (void)in_len;
    scripted_stats.requires_mic_calls++;
    return 0;
}

static void
scripted_after_mic(gss_ctx_id_t handle, int verify)
{
    (void)handle;
    (void)verify;
    scripted_stats.after_mic_calls++;
}

static void
scripted_delete(gss_ctx_id_t *handle)
{
    struct scripted_ctx *ctx = ctx_of(*handle);

    if (ctx == NULL)
        return;
    ctx->magic = 0;
    free(ctx);
    scripted_stats.contexts_deleted++;
    *handle = GSS_C_NO_CONTEXT;
}

const struct spnego_mech_ops scripted_ops = {
    scripted_init,       scripted_accept,       scripted_get_mic,
    scripted_verify_mic, scripted_requires_mic, scripted_after_mic,
    scripted_delete,
};

int
scripted_mech_init(struct scripted_mech *sm, unsigned arc, unsigned legs,
                   int integrity)
{
    size_t i;

    if (arc < 1 || arc > 127 || legs < 1 || legs > 9 || find_arc(arc))
        return 0;
    for (i = 0; i < SCRIPTED_MAX_MECHS && registry[i] != NULL; i++)
        ;
    if (i == SCRIPTED_MAX_MECHS)
        return 0;
    memset(sm, 0, sizeof(*sm));
    snprintf(sm->name, sizeof(sm->name), "scripted-%u", arc);
    memcpy(sm->oid, oid_prefix, sizeof(oid_prefix));
    sm->oid[sizeof(oid_prefix)] = (uint8_t)arc;
    sm->arc = arc;
    sm->legs = legs;
    sm->mech.name = sm->name;
    sm->mech.id = SPNEGO_OID_UNKNOWN;
    sm->mech.oid.length = (OM_uint32)(sizeof(oid_prefix) + 1);
    sm->mech.oid.elements = sm->oid;
    sm->integrity = integrity;
    sm->mech.ops = &scripted_ops;
    sm->mech.bindings = 1; /* a test may say otherwise */
    registry[i] = sm;
    return 1;
}

void
scripted_reset(void)
{
    memset(registry, 0, sizeof(registry));
    memset(&scripted_stats, 0, sizeof(scripted_stats));
}

int
scripted_ctx_complete(gss_ctx_id_t handle)
{
    const struct scripted_ctx *ctx = ctx_of(handle);

    return ctx != NULL && ctx->complete;
}

void
scripted_add(struct spnego_creds *creds, const struct scripted_mech *sm)
{
    assert_int_equal(spnego_creds_add(creds, &sm->mech, NULL,
                                      GSS_C_NO_CREDENTIAL), 1);
}
