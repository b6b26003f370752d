/* engine-util.c - shared helpers of the engine tests (see engine-util.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>

#include "der.h"
#include "engine-util.h"
#include "ntlmmsg.h"
#include "oids.h"

#define ENV_SLOTS 4

struct saved_env {
    const char *name;
    char *value; /* NULL: was unset */
};

static const char nonexistent[] = "FILE:/nonexistent";

/* ---- small text helpers ---- */

static void
append(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
append(char *buf, size_t size, const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;

    if (used + 1 >= size)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
}

static void
problem(struct eu_pair *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
problem(struct eu_pair *p, const char *fmt, ...)
{
    size_t used = strlen(p->problems);
    va_list ap;

    if (used + 4 >= sizeof(p->problems))
        return;
    append(p->problems, sizeof(p->problems), "\n  - ");
    used = strlen(p->problems);
    va_start(ap, fmt);
    vsnprintf(p->problems + used, sizeof(p->problems) - used, fmt, ap);
    va_end(ap);
}

static const char *
side_name(enum eu_side side)
{
    return side == EU_I ? "I" : "A";
}

static const char *
status_text(enum spnego_status status)
{
    switch (status) {
    case SPNEGO_COMPLETE:
        return "COMPLETE";
    case SPNEGO_CONTINUE_NEEDED:
        return "CONTINUE_NEEDED";
    case SPNEGO_BAD_MECH:
        return "BAD_MECH";
    case SPNEGO_DEFECTIVE_TOKEN:
        return "DEFECTIVE_TOKEN";
    case SPNEGO_FAILURE:
        return "FAILURE";
    default:
        return "(bad status)";
    }
}

static uint8_t *
dup_bytes(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);

    assert_non_null(copy);
    if (len)
        memcpy(copy, data, len);
    return copy;
}

static gss_OID_desc
spnego_oid(void)
{
    const struct spnego_oid_info *info = spnego_oid_info(SPNEGO_OID_SPNEGO);
    gss_OID_desc oid = { (OM_uint32)info->der_len, (void *)info->der };

    return oid;
}

static void
gss_text(OM_uint32 major, OM_uint32 minor, char *buf, size_t size)
{
    OM_uint32 junk, more = 0;
    gss_buffer_desc msg;

    buf[0] = '\0';
    do {
        if (gss_display_status(&junk, major, GSS_C_GSS_CODE, GSS_C_NO_OID,
                               &more, &msg) != GSS_S_COMPLETE)
            break;
        append(buf, size, "%.*s; ", (int)msg.length, (char *)msg.value);
        gss_release_buffer(&junk, &msg);
    } while (more);
    more = 0;
    do {
        if (minor == 0 ||
            gss_display_status(&junk, minor, GSS_C_MECH_CODE, GSS_C_NO_OID,
                               &more, &msg) != GSS_S_COMPLETE)
            break;
        append(buf, size, "%.*s; ", (int)msg.length, (char *)msg.value);
        gss_release_buffer(&junk, &msg);
    } while (more);
}

/* ---- environment ---- */

static void
env_set(struct saved_env *slot, const char *name, const char *value)
{
    const char *old = getenv(name);

    slot->name = name;
    slot->value = old ? strdup(old) : NULL;
    if (value)
        assert_int_equal(setenv(name, value, 1), 0);
    else
        assert_int_equal(unsetenv(name), 0);
}

static size_t
env_apply(unsigned env, struct saved_env saved[ENV_SLOTS])
{
    size_t n = 0;

    if (env & EU_ENV_NO_KRB5) {
        env_set(&saved[n++], "KRB5CCNAME", nonexistent);
        env_set(&saved[n++], "KRB5_CLIENT_KTNAME", nonexistent);
        env_set(&saved[n++], "KRB5_KTNAME", nonexistent);
    }
    if (env & EU_ENV_NO_NTLM)
        env_set(&saved[n++], "NTLM_USER_FILE", NULL);
    return n;
}

static void
env_restore(struct saved_env saved[ENV_SLOTS], size_t n)
{
    while (n-- > 0) {
        if (saved[n].value)
            setenv(saved[n].name, saved[n].value, 1);
        else
            unsetenv(saved[n].name);
        free(saved[n].value);
    }
}

/* ---- setup ---- */

static struct spnego_creds *
acquire(const struct spnego_cred_params *params, unsigned env)
{
    struct saved_env saved[ENV_SLOTS];
    struct spnego_creds *creds = NULL;
    char err[512] = "";
    size_t n = env_apply(env, saved);
    int ok = spnego_creds_acquire(params, &creds, err, sizeof(err)) ==
             SPNEGO_ACQUIRE_OK;

    env_restore(saved, n);
    if (!ok || creds == NULL)
        fail_msg("acquiring %s credentials (mechs \"%s\", env 0x%x) failed: "
                 "%s", params->role == SPNEGO_INITIATOR ? "initiator"
                                                        : "acceptor",
                 params->mechs ? params->mechs : "(all)", env, err);
    return creds;
}

struct spnego_creds *
eu_creds(enum spnego_role role, const char *mechs, unsigned env)
{
    struct spnego_cred_params params;

    memset(&params, 0, sizeof(params));
    params.role = role;
    params.mechs = mechs;
    return acquire(&params, env);
}

struct spnego_creds *
eu_creds_password(const char *mechs, unsigned env, const char *user,
                  const char *password)
{
    struct spnego_cred_params params;

    memset(&params, 0, sizeof(params));
    params.role = SPNEGO_INITIATOR;
    params.mechs = mechs;
    params.user = user;
    params.password = password;
    return acquire(&params, env);
}

static void
mit_set_neg_mechs(gss_cred_id_t cred, const char *neg_mechs)
{
    gss_OID_desc oids[8];
    gss_OID_set_desc set = { 0, oids };
    char copy[256], text[300], *word, *save = NULL;
    OM_uint32 major, minor = 0;

    snprintf(copy, sizeof(copy), "%s", neg_mechs);
    for (word = strtok_r(copy, " ,", &save); word != NULL && set.count < 8;
         word = strtok_r(NULL, " ,", &save)) {
        struct negtoken_bytes b = eu_oid(word);

        oids[set.count].length = (OM_uint32)b.len;
        oids[set.count].elements = (void *)b.data;
        set.count++;
    }
    major = gss_set_neg_mechs(&minor, cred, &set);
    if (GSS_ERROR(major)) {
        gss_text(major, minor, text, sizeof(text));
        fail_msg("MIT gss_set_neg_mechs(%s) failed: %s", neg_mechs, text);
    }
}

gss_cred_id_t
eu_mit_creds(gss_cred_usage_t usage, unsigned env, const char *neg_mechs)
{
    struct saved_env saved[ENV_SLOTS];
    gss_OID_desc spnego = spnego_oid();
    gss_OID_set_desc set = { 1, &spnego };
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    OM_uint32 major, minor = 0;
    char text[300];
    size_t n = env_apply(env, saved);

    major = gss_acquire_cred(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &set,
                             usage, &cred, NULL, NULL);
    env_restore(saved, n);
    if (GSS_ERROR(major)) {
        gss_text(major, minor, text, sizeof(text));
        fail_msg("MIT SPNEGO gss_acquire_cred failed: %s", text);
    }
    if (neg_mechs != NULL)
        mit_set_neg_mechs(cred, neg_mechs);
    return cred;
}

gss_name_t
eu_target(const char *service)
{
    const char *host = getenv("SPNEGO_TEST_HOST");
    char text[300];
    gss_buffer_desc buf;
    gss_name_t name = GSS_C_NO_NAME;
    OM_uint32 major, minor;

    if (strchr(service, '@') != NULL)
        snprintf(text, sizeof(text), "%s", service);
    else
        snprintf(text, sizeof(text), "%s@%s", service,
                 host ? host : "localhost");
    buf.value = text;
    buf.length = strlen(text);
    major = gss_import_name(&minor, &buf, GSS_C_NT_HOSTBASED_SERVICE, &name);
    assert_int_equal(major, GSS_S_COMPLETE);
    return name;
}

static void
trace_cb(void *arg, enum spnego_event event, const char *text)
{
    struct eu_trace *t = arg;

    if (t->n >= EU_MAX_EVENTS)
        return;
    t->ev[t->n].event = event;
    snprintf(t->ev[t->n].text, sizeof(t->ev[t->n].text), "%s",
             text ? text : "(null)");
    t->n++;
}

struct eu_pair *
eu_pair_alloc(const char *name)
{
    struct eu_pair *p = calloc(1, sizeof(*p));
    int s;

    assert_non_null(p);
    p->name = name;
    p->target = eu_target("host");
    for (s = EU_I; s <= EU_A; s++) {
        p->kind[s] = EU_ENGINE;
        p->mit_cred[s] = GSS_C_NO_CREDENTIAL;
        p->mit_ctx[s] = GSS_C_NO_CONTEXT;
        p->cfg[s].target = p->target;
        p->cfg[s].req_flags = EU_FLAGS;
        p->cfg[s].cb = GSS_C_NO_CHANNEL_BINDINGS;
        p->cfg[s].mic_policy = SPNEGO_MIC_AUTO;
        p->cfg[s].trace = trace_cb;
        p->cfg[s].trace_arg = &p->trace[s];
    }
    p->mit_src = GSS_C_NO_NAME;
    return p;
}

void
eu_pair_set_creds(struct eu_pair *p, enum eu_side side,
                  struct spnego_creds *creds)
{
    assert_null(p->creds[side]);
    assert_int_equal(spnego_creds_role(creds),
                     side == EU_I ? SPNEGO_INITIATOR : SPNEGO_ACCEPTOR);
    p->kind[side] = EU_ENGINE;
    p->creds[side] = creds;
    p->cfg[side].creds = creds;
}

void
eu_pair_set_mit(struct eu_pair *p, enum eu_side side, gss_cred_id_t cred)
{
    p->kind[side] = EU_MIT;
    p->mit_cred[side] = cred;
}

struct eu_pair *
eu_pair_new(const char *name, const char *imechs, unsigned ienv,
            const char *amechs, unsigned aenv)
{
    struct eu_pair *p = eu_pair_alloc(name);

    eu_pair_set_creds(p, EU_I, eu_creds(SPNEGO_INITIATOR, imechs, ienv));
    eu_pair_set_creds(p, EU_A, eu_creds(SPNEGO_ACCEPTOR, amechs, aenv));
    return p;
}

void
eu_pair_free(struct eu_pair *p)
{
    OM_uint32 minor;
    size_t i;
    int s;

    if (p == NULL)
        return;
    for (s = EU_I; s <= EU_A; s++) {
        spnego_ctx_free(p->ctx[s]);
        if (p->mit_ctx[s] != GSS_C_NO_CONTEXT)
            gss_delete_sec_context(&minor, &p->mit_ctx[s], GSS_C_NO_BUFFER);
        if (p->mit_cred[s] != GSS_C_NO_CREDENTIAL)
            gss_release_cred(&minor, &p->mit_cred[s]);
    }
    for (s = EU_I; s <= EU_A; s++)
        spnego_creds_free(p->creds[s]);
    for (i = 0; i < p->n_legs; i++) {
        free(p->legs[i].sent);
        free(p->legs[i].got);
    }
    if (p->mit_src != GSS_C_NO_NAME)
        gss_release_name(&minor, &p->mit_src);
    if (p->target != GSS_C_NO_NAME)
        gss_release_name(&minor, &p->target);
    free(p);
}

int
eu_teardown(void **state)
{
    eu_pair_free(*state);
    *state = NULL;
    return 0;
}

/* ---- stepping ---- */

static enum spnego_status
map_major(OM_uint32 major)
{
    if (major == GSS_S_COMPLETE)
        return SPNEGO_COMPLETE;
    if (major == GSS_S_CONTINUE_NEEDED)
        return SPNEGO_CONTINUE_NEEDED;
    switch (GSS_ROUTINE_ERROR(major)) {
    case GSS_S_BAD_MECH:
        return SPNEGO_BAD_MECH;
    case GSS_S_DEFECTIVE_TOKEN:
    case GSS_S_BAD_SIG:
        return SPNEGO_DEFECTIVE_TOKEN;
    default:
        return SPNEGO_FAILURE;
    }
}

static enum spnego_status
mit_step(struct eu_pair *p, enum eu_side side, const uint8_t *in,
         size_t in_len, uint8_t **out, size_t *out_len)
{
    gss_OID_desc spnego = spnego_oid();
    gss_buffer_desc inb, outb = GSS_C_EMPTY_BUFFER;
    gss_name_t src = GSS_C_NO_NAME;
    OM_uint32 major, minor = 0, junk;

    inb.value = (void *)in;
    inb.length = in_len;
    if (side == EU_I)
        major = gss_init_sec_context(&minor, p->mit_cred[side],
                                     &p->mit_ctx[side], p->target, &spnego,
                                     p->cfg[side].req_flags, 0,
                                     p->cfg[side].cb,
                                     in ? &inb : GSS_C_NO_BUFFER, NULL,
                                     &outb, &p->mit_flags[side], NULL);
    else
        major = gss_accept_sec_context(&minor, &p->mit_ctx[side],
                                       p->mit_cred[side], &inb,
                                       p->cfg[side].cb, &src, NULL, &outb,
                                       &p->mit_flags[side], NULL, NULL);
    if (src != GSS_C_NO_NAME) {
        if (p->mit_src != GSS_C_NO_NAME)
            gss_release_name(&junk, &p->mit_src);
        p->mit_src = src;
    }
    if (outb.length > 0) {
        *out = dup_bytes(outb.value, outb.length);
        *out_len = outb.length;
    }
    gss_release_buffer(&junk, &outb);
    if (GSS_ERROR(major))
        gss_text(major, minor, p->mit_reason[side],
                 sizeof(p->mit_reason[side]));
    return map_major(major);
}

enum spnego_status
eu_step(struct eu_pair *p, enum eu_side side, const uint8_t *in,
        size_t in_len, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (p->kind[side] == EU_MIT)
        return mit_step(p, side, in, in_len, out, out_len);
    if (p->ctx[side] == NULL)
        assert_int_equal(spnego_ctx_new(&p->cfg[side], &p->ctx[side]), 1);
    return spnego_step(p->ctx[side], in, in_len, out, out_len);
}

/* ---- rules our engine's output must follow whatever the peer sends ---- */

static void
check_status(struct eu_pair *p, enum eu_side side, const struct eu_leg *leg,
             size_t k)
{
    const struct spnego_ctx *ctx = p->ctx[side];
    const char *reason = spnego_reason(ctx);

    switch (leg->status) {
    case SPNEGO_CONTINUE_NEEDED:
        if (leg->sent == NULL)
            problem(p, "step %zu (%s): CONTINUE_NEEDED without a token to "
                    "send: the exchange cannot go on", k, side_name(side));
        if (spnego_ctx_gss(ctx) != GSS_C_NO_CONTEXT)
            problem(p, "step %zu (%s): spnego_ctx_gss() is set before "
                    "completion (prot_ready must stay false, draft 3.1)", k,
                    side_name(side));
        if (spnego_ctx_complete(ctx))
            problem(p, "step %zu (%s): spnego_ctx_complete() while "
                    "CONTINUE_NEEDED", k, side_name(side));
        break;
    case SPNEGO_COMPLETE:
        if (!spnego_ctx_complete(ctx) || spnego_ctx_mech(ctx) == NULL ||
            spnego_ctx_gss(ctx) == GSS_C_NO_CONTEXT)
            problem(p, "step %zu (%s): COMPLETE but complete=%d mech=%s "
                    "gss=%s", k, side_name(side), spnego_ctx_complete(ctx),
                    spnego_ctx_mech(ctx) ? spnego_ctx_mech(ctx)->name
                                         : "NULL",
                    spnego_ctx_gss(ctx) ? "set" : "none");
        break;
    default:
        if (reason == NULL || reason[0] == '\0')
            problem(p, "step %zu (%s): %s with an empty spnego_reason()", k,
                    side_name(side), status_text(leg->status));
        if (spnego_ctx_complete(ctx) ||
            spnego_ctx_gss(ctx) != GSS_C_NO_CONTEXT)
            problem(p, "step %zu (%s): failed context claims completion", k,
                    side_name(side));
        break;
    }
}

static int
is_error(enum spnego_status status)
{
    return status != SPNEGO_COMPLETE && status != SPNEGO_CONTINUE_NEEDED;
}

static void
check_first_token(struct eu_pair *p, const struct negtoken *t)
{
    size_t i;

    if (t->type != NEGTOKEN_INIT || !t->framed)
        problem(p, "token 1 is not a framed negTokenInit (draft 4.2)");
    for (i = 0; i < t->n_mechs; i++) {
        enum spnego_oid_id id =
            spnego_oid_lookup(t->mechs[i].data, t->mechs[i].len);

        if (id == SPNEGO_OID_SPNEGO || id == SPNEGO_OID_NEGOEX)
            problem(p, "token 1 offers %s (INTEROP 1.5 / 2)",
                    id == SPNEGO_OID_SPNEGO ? "SPNEGO itself" : "NEGOEX");
    }
}

/* The supportedMech of the acceptor's first reply is one of the OIDs in
 * the offer it received (token 1 as delivered). */
static void
check_supported_offered(struct eu_pair *p, const struct negtoken *t,
                        size_t k)
{
    struct negtoken offer;
    size_t i;

    if (p->n_legs < 1 || p->legs[0].got == NULL ||
        negtoken_decode(p->legs[0].got, p->legs[0].got_len, NULL, &offer,
                        NULL) != NEGTOKEN_OK)
        return;
    for (i = 0; i < offer.n_mechs; i++)
        if (offer.mechs[i].len == t->supported_mech.len &&
            memcmp(offer.mechs[i].data, t->supported_mech.data,
                   t->supported_mech.len) == 0)
            return;
    problem(p, "token %zu: supportedMech is not one of the offered OIDs "
            "(INTEROP 1.5)", k);
}

static void
check_acceptor_token(struct eu_pair *p, const struct eu_leg *leg,
                     const struct negtoken *t, size_t k)
{
    int first = p->stepped[EU_A] == 1;
    enum negtoken_state st = t->neg_state;

    if (is_error(leg->status) && st != NEG_STATE_REJECT)
        problem(p, "token %zu: the acceptor failed (%s) but sent negState "
                "%s instead of reject", k, status_text(leg->status),
                negtoken_state_name(st));
    if (!is_error(leg->status) && st == NEG_STATE_REJECT)
        problem(p, "token %zu: reject with status %s", k,
                status_text(leg->status));
    if (first && t->has_supported_mech)
        check_supported_offered(p, t, k);
    if (first && st == NEG_STATE_ABSENT)
        problem(p, "token %zu: the acceptor's first reply has no negState "
                "(RFC 4178 makes it mandatory there)", k);
    if (!first && t->has_supported_mech)
        problem(p, "token %zu: supportedMech in a later reply (only the "
                "first reply may carry it)", k);
    if (!first && st == NEG_STATE_REQUEST_MIC)
        problem(p, "token %zu: request-mic in a later reply (draft 3.1)", k);
    if ((leg->status == SPNEGO_COMPLETE) != (st == NEG_STATE_ACCEPT_COMPLETED))
        problem(p, "token %zu: acceptor status %s with negState %s", k,
                status_text(leg->status), negtoken_state_name(st));
}

static void
check_token(struct eu_pair *p, enum eu_side side, const struct eu_leg *leg,
            size_t k)
{
    struct negtoken t;
    der_err err;

    if (negtoken_decode(leg->sent, leg->sent_len, NULL, &t, &err) !=
        NEGTOKEN_OK) {
        problem(p, "token %zu (%s) does not decode: %s (offset %zu)", k,
                side_name(side), err.text, err.offset);
        return;
    }
    if (side == EU_I && k == 1) {
        check_first_token(p, &t);
        return;
    }
    if (t.type != NEGTOKEN_RESP || t.framed) {
        problem(p, "token %zu (%s) is a %s%s, not an unframed negTokenResp",
                k, side_name(side), t.framed ? "framed " : "",
                negtoken_type_name(t.type));
        return;
    }
    if (side == EU_A) {
        check_acceptor_token(p, leg, &t, k);
        return;
    }
    if (t.has_supported_mech || t.neg_state == NEG_STATE_REQUEST_MIC ||
        t.neg_state == NEG_STATE_REJECT)
        problem(p, "token %zu: the initiator sent %s%s", k,
                t.has_supported_mech ? "supportedMech " : "",
                negtoken_state_name(t.neg_state));
}

static void
check_step(struct eu_pair *p, enum eu_side side, const struct eu_leg *leg,
           size_t k)
{
    if (p->kind[side] != EU_ENGINE)
        return;
    check_status(p, side, leg, k);
    if (leg->sent != NULL)
        check_token(p, side, leg, k);
}

void
eu_run(struct eu_pair *p)
{
    enum eu_side side = EU_I;
    uint8_t *in = NULL;
    size_t in_len = 0;

    assert_int_equal(p->n_legs, 0);
    for (;;) {
        struct eu_leg *leg;
        uint8_t *out = NULL;
        size_t out_len = 0;
        enum spnego_status st;

        if (p->n_legs == EU_MAX_LEGS) {
            problem(p, "no end after %d steps", EU_MAX_LEGS);
            break;
        }
        if (p->stepped[side] && p->status[side] == SPNEGO_COMPLETE)
            problem(p, "step %zu: a token was sent to %s after it had "
                    "completed", p->n_legs + 1, side_name(side));
        st = eu_step(p, side, in, in_len, &out, &out_len);
        free(in);
        in = NULL;
        leg = &p->legs[p->n_legs++];
        leg->from = side;
        leg->status = st;
        leg->sent = out;
        leg->sent_len = out_len;
        p->stepped[side]++;
        p->status[side] = st;
        check_step(p, side, leg, p->n_legs);
        if (out == NULL)
            break;
        in = dup_bytes(out, out_len);
        in_len = out_len;
        if (p->mitm)
            p->mitm(p, p->n_legs, &in, &in_len);
        leg->got = dup_bytes(in, in_len);
        leg->got_len = in_len;
        leg->modified = in_len != out_len || memcmp(in, out, in_len) != 0;
        side = side == EU_I ? EU_A : EU_I;
    }
    free(in);
    eu_transcript(p);
    if (p->problems[0] != '\0')
        fail_msg("%s: the engine broke a rule that holds whatever the peer "
                 "sends:%s", p->name, p->problems);
}

size_t
eu_tokens(const struct eu_pair *p)
{
    size_t i, n = 0;

    for (i = 0; i < p->n_legs; i++)
        n += p->legs[i].sent != NULL;
    return n;
}

/* ---- transcript ---- */

static void
describe_mech_token(const struct negtoken_bytes *b, char *buf, size_t size)
{
    static const char *const names[] = { "?", "NEGOTIATE", "CHALLENGE",
                                         "AUTHENTICATE" };
    uint32_t type = ntlm_message_type(b->data, b->len);

    append(buf, size, "%zu", b->len);
    if (type >= 1 && type <= 3)
        append(buf, size, "(NTLM %s%s)", names[type],
               type == 3 && ntlm_auth_has_mic(b->data, b->len)
                   ? " with MIC" : "");
}

static void
describe(const uint8_t *tok, size_t len, char *buf, size_t size)
{
    struct negtoken t;
    der_err err;
    char oid[64];
    size_t i;

    buf[0] = '\0';
    if (tok == NULL) {
        append(buf, size, "(no token)");
        return;
    }
    if (negtoken_decode(tok, len, NULL, &t, &err) != NEGTOKEN_OK) {
        append(buf, size, "%zu bytes, undecodable: %s (offset %zu)", len,
               err.text, err.offset);
        return;
    }
    append(buf, size, "%zu bytes %s%s", len, t.framed ? "framed " : "",
           negtoken_type_name(t.type));
    if (t.type == NEGTOKEN_RESP) {
        append(buf, size, " negState=%s", negtoken_state_name(t.neg_state));
        if (t.has_supported_mech) {
            eu_oid_text(t.supported_mech.data, t.supported_mech.len, oid,
                        sizeof(oid));
            append(buf, size, " supportedMech=%s", oid);
        }
        if (t.has_response_token) {
            append(buf, size, " responseToken=");
            describe_mech_token(&t.response_token, buf, size);
        }
    } else {
        append(buf, size, " mechTypes=[");
        for (i = 0; i < t.n_mechs; i++) {
            eu_oid_text(t.mechs[i].data, t.mechs[i].len, oid, sizeof(oid));
            append(buf, size, "%s%s", i ? ", " : "", oid);
        }
        append(buf, size, "]%s", t.has_req_flags ? " reqFlags" : "");
        if (t.has_mech_token) {
            append(buf, size, " mechToken=");
            describe_mech_token(&t.mech_token, buf, size);
        }
    }
    if (t.has_mic)
        append(buf, size, " mechListMIC=%zu", t.mic.len);
}

static void
print_side(const struct eu_pair *p, enum eu_side side)
{
    const struct spnego_ctx *ctx = p->ctx[side];
    const struct spnego_mech *mech;

    if (p->kind[side] == EU_MIT) {
        print_message("#   %s (MIT SPNEGO): %s, flags 0x%x%s%s\n",
                      side_name(side),
                      p->stepped[side] ? status_text(p->status[side])
                                       : "no step",
                      (unsigned)p->mit_flags[side],
                      p->mit_reason[side][0] ? ", " : "",
                      p->mit_reason[side]);
        return;
    }
    if (ctx == NULL) {
        print_message("#   %s: no context\n", side_name(side));
        return;
    }
    mech = spnego_ctx_mech(ctx);
    print_message("#   %s (engine): %s, mech %s, flags 0x%x, MIC sent %d "
                  "verified %d%s%s\n", side_name(side),
                  p->stepped[side] ? status_text(p->status[side]) : "no step",
                  mech ? mech->name : "none",
                  (unsigned)spnego_ctx_flags(ctx), spnego_ctx_mic_sent(ctx),
                  spnego_ctx_mic_verified(ctx),
                  spnego_reason(ctx)[0] ? ", reason: " : "",
                  spnego_reason(ctx));
}

static void
print_trace(const struct eu_pair *p, enum eu_side side)
{
    size_t i;

    for (i = 0; i < p->trace[side].n; i++)
        print_message("#     %s trace %d: %s\n", side_name(side),
                      (int)p->trace[side].ev[i].event,
                      p->trace[side].ev[i].text);
}

void
eu_transcript(const struct eu_pair *p)
{
    char text[1024];
    size_t i;

    print_message("# %s: %zu token(s)\n", p->name, eu_tokens(p));
    for (i = 0; i < p->n_legs; i++) {
        const struct eu_leg *leg = &p->legs[i];

        describe(leg->sent, leg->sent_len, text, sizeof(text));
        print_message("#  %2zu %s->%s %-15s %s\n", i + 1,
                      side_name(leg->from),
                      side_name(leg->from == EU_I ? EU_A : EU_I),
                      status_text(leg->status), text);
        if (leg->modified) {
            describe(leg->got, leg->got_len, text, sizeof(text));
            print_message("#      changed in transit to: %s\n", text);
        }
    }
    print_side(p, EU_I);
    print_side(p, EU_A);
    print_trace(p, EU_I);
    print_trace(p, EU_A);
}

/* ---- OIDs ---- */

struct negtoken_bytes
eu_oid(const char *name)
{
    static uint8_t pool[16][32];
    static size_t next;
    const struct spnego_oid_info *info = spnego_oid_by_name(name);
    struct negtoken_bytes b;
    uint8_t *slot;

    if (info != NULL) {
        b.data = info->der;
        b.len = info->der_len;
        return b;
    }
    slot = pool[next++ % 16];
    b.len = der_oid_from_dotted(name, slot, sizeof(pool[0]));
    if (b.len == 0)
        fail_msg("bad OID name in a test: %s", name);
    b.data = slot;
    return b;
}

void
eu_oid_text(const uint8_t *der, size_t len, char *buf, size_t bufsize)
{
    const struct spnego_oid_info *info =
        spnego_oid_info(spnego_oid_lookup(der, len));

    if (info != NULL) {
        snprintf(buf, bufsize, "%s", info->name);
        return;
    }
    if (!der_oid_to_dotted(der, len, buf, bufsize))
        snprintf(buf, bufsize, "(bad OID)");
}

/* "krb5 ms-krb5" -> "krb5, ms-krb5" with every name canonical. */
static void
canonical_list(const char *mechs, char *buf, size_t size)
{
    char copy[256], oid[64], *word, *save = NULL;

    buf[0] = '\0';
    snprintf(copy, sizeof(copy), "%s", mechs);
    for (word = strtok_r(copy, " ,", &save); word != NULL;
         word = strtok_r(NULL, " ,", &save)) {
        struct negtoken_bytes b = eu_oid(word);

        eu_oid_text(b.data, b.len, oid, sizeof(oid));
        append(buf, size, "%s%s", buf[0] ? ", " : "", oid);
    }
}

static void
token_list(const struct negtoken *t, char *buf, size_t size)
{
    char oid[64];
    size_t i;

    buf[0] = '\0';
    for (i = 0; i < t->n_mechs; i++) {
        eu_oid_text(t->mechs[i].data, t->mechs[i].len, oid, sizeof(oid));
        append(buf, size, "%s%s", i ? ", " : "", oid);
    }
}

void
eu_set_mechs(struct negtoken *tok, const char *mechs)
{
    char copy[256], *word, *save = NULL;

    tok->n_mechs = 0;
    tok->has_mech_types = 1;
    snprintf(copy, sizeof(copy), "%s", mechs);
    for (word = strtok_r(copy, " ,", &save); word != NULL;
         word = strtok_r(NULL, " ,", &save)) {
        assert_true(tok->n_mechs < NEGTOKEN_MAX_MECHS);
        tok->mechs[tok->n_mechs++] = eu_oid(word);
    }
}

/* ---- token assertions ---- */

void
eu_decode(const struct eu_pair *p, size_t k, struct negtoken *tok)
{
    const struct eu_leg *leg;
    der_err err;

    if (k < 1 || k > p->n_legs || p->legs[k - 1].got == NULL)
        fail_msg("%s: there is no token %zu (%zu exchanged)", p->name, k,
                 eu_tokens(p));
    leg = &p->legs[k - 1];
    if (negtoken_decode(leg->got, leg->got_len, NULL, tok, &err) !=
        NEGTOKEN_OK)
        fail_msg("%s: token %zu does not decode: %s (offset %zu)", p->name,
                 k, err.text, err.offset);
}

static void
assert_presence(const char *what, size_t k, int expected, int present)
{
    if (expected == EU_ANY || (expected != 0) == (present != 0))
        return;
    fail_msg("token %zu: %s is %s, expected %s", k, what,
             present ? "present" : "absent",
             expected ? "present" : "absent");
}

void
eu_assert_init(const struct eu_pair *p, size_t k, const char *mechs,
               int mech_token, int mic)
{
    struct negtoken t;
    char want[256], got[256];

    eu_decode(p, k, &t);
    assert_int_equal(t.type, NEGTOKEN_INIT);
    assert_true(t.framed);
    canonical_list(mechs, want, sizeof(want));
    token_list(&t, got, sizeof(got));
    assert_string_equal(got, want);
    assert_presence("mechToken", k, mech_token, t.has_mech_token);
    assert_presence("mechListMIC", k, mic, t.has_mic);
}

void
eu_assert_resp(const struct eu_pair *p, size_t k, int neg_state,
               const char *supported, int response_token, int mic)
{
    struct negtoken t;
    char want[64], got[64];

    eu_decode(p, k, &t);
    if (t.type != NEGTOKEN_RESP)
        fail_msg("token %zu is a %s, expected negTokenResp", k,
                 negtoken_type_name(t.type));
    if (neg_state != EU_ANY)
        assert_string_equal(negtoken_state_name(t.neg_state),
                            negtoken_state_name(
                                (enum negtoken_state)neg_state));
    if (supported == NULL) {
        assert_presence("supportedMech", k, 0, t.has_supported_mech);
    } else if (strcmp(supported, "*") != 0) {
        struct negtoken_bytes b = eu_oid(supported);

        assert_presence("supportedMech", k, 1, t.has_supported_mech);
        eu_oid_text(b.data, b.len, want, sizeof(want));
        eu_oid_text(t.supported_mech.data, t.supported_mech.len, got,
                    sizeof(got));
        assert_string_equal(got, want);
    }
    assert_presence("responseToken", k, response_token,
                    t.has_response_token);
    assert_presence("mechListMIC", k, mic, t.has_mic);
}

/* ---- context assertions ---- */

static gss_ctx_id_t
side_gss(const struct eu_pair *p, enum eu_side side)
{
    if (p->kind[side] == EU_MIT)
        return p->mit_ctx[side];
    return spnego_ctx_gss(p->ctx[side]);
}

OM_uint32
eu_flags(const struct eu_pair *p, enum eu_side side)
{
    if (p->kind[side] == EU_MIT)
        return p->mit_flags[side];
    assert_non_null(p->ctx[side]);
    return spnego_ctx_flags(p->ctx[side]);
}

char *
eu_name_text(gss_name_t name)
{
    gss_buffer_desc buf = GSS_C_EMPTY_BUFFER;
    OM_uint32 minor, major;
    char *text;
    size_t len;

    major = gss_display_name(&minor, name, &buf, NULL);
    assert_int_equal(major, GSS_S_COMPLETE);
    len = buf.length;
    while (len > 0 && ((char *)buf.value)[len - 1] == '\0')
        len--;
    text = malloc(len + 1);
    assert_non_null(text);
    memcpy(text, buf.value, len);
    text[len] = '\0';
    gss_release_buffer(&minor, &buf);
    return text;
}

static void
assert_peer(const struct eu_pair *p, const char *peer)
{
    gss_name_t name = p->kind[EU_A] == EU_MIT
                          ? p->mit_src
                          : spnego_ctx_peer_name(p->ctx[EU_A]);
    char *text;
    int same;

    if (name == GSS_C_NO_NAME)
        fail_msg("%s: the acceptor has no peer name", p->name);
    text = eu_name_text(name);
    same = strcmp(text, peer) == 0;
    if (!same)
        print_message("# peer name \"%s\", expected \"%s\"\n", text, peer);
    free(text);
    assert_true(same);
}

void
eu_assert_status(const struct eu_pair *p, enum eu_side side,
                 enum spnego_status status)
{
    if (!p->stepped[side])
        fail_msg("%s: %s never stepped", p->name, side_name(side));
    if (p->status[side] != status)
        fail_msg("%s: %s ended with %s, expected %s", p->name,
                 side_name(side), status_text(p->status[side]),
                 status_text(status));
}

void
eu_assert_complete(const struct eu_pair *p, const char *mech,
                   const char *peer)
{
    int s;

    eu_assert_status(p, EU_I, SPNEGO_COMPLETE);
    eu_assert_status(p, EU_A, SPNEGO_COMPLETE);
    for (s = EU_I; s <= EU_A; s++) {
        if (p->kind[s] != EU_ENGINE)
            continue;
        assert_true(spnego_ctx_complete(p->ctx[s]));
        assert_non_null(spnego_ctx_mech(p->ctx[s]));
        assert_string_equal(spnego_ctx_mech(p->ctx[s])->name, mech);
    }
    if (peer != NULL)
        assert_peer(p, peer);
    eu_per_message(side_gss(p, EU_I), eu_flags(p, EU_I), side_gss(p, EU_A),
                   eu_flags(p, EU_A));
}

void
eu_assert_no_completion(const struct eu_pair *p, enum eu_side failed)
{
    if (!p->stepped[failed] || !is_error(p->status[failed]))
        fail_msg("%s: %s was expected to fail but ended with %s", p->name,
                 side_name(failed),
                 p->stepped[failed] ? status_text(p->status[failed])
                                    : "no step");
    if (p->status[EU_I] == SPNEGO_COMPLETE ||
        p->status[EU_A] == SPNEGO_COMPLETE)
        fail_msg("%s: a side completed (I %s, A %s)", p->name,
                 status_text(p->status[EU_I]), status_text(p->status[EU_A]));
}

static void
assert_mic_value(const char *what, int expected, int got)
{
    if (expected == EU_ANY || expected == got)
        return;
    fail_msg("%s is %d, expected %d", what, got, expected);
}

void
eu_assert_mics(const struct eu_pair *p, int i_sent, int i_verified,
               int a_sent, int a_verified)
{
    assert_non_null(p->ctx[EU_I]);
    assert_non_null(p->ctx[EU_A]);
    assert_mic_value("initiator mic_sent", i_sent,
                     spnego_ctx_mic_sent(p->ctx[EU_I]));
    assert_mic_value("initiator mic_verified", i_verified,
                     spnego_ctx_mic_verified(p->ctx[EU_I]));
    assert_mic_value("acceptor mic_sent", a_sent,
                     spnego_ctx_mic_sent(p->ctx[EU_A]));
    assert_mic_value("acceptor mic_verified", a_verified,
                     spnego_ctx_mic_verified(p->ctx[EU_A]));
}

void
eu_assert_dead(struct eu_pair *p, enum eu_side side, const uint8_t *in,
               size_t in_len)
{
    static const uint8_t resp[] = { 0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03,
                                    0x0a, 0x01, 0x01 };
    struct spnego_ctx *ctx = p->ctx[side];
    uint8_t *out = NULL;
    size_t out_len = 0;
    enum spnego_status st;

    assert_non_null(ctx);
    assert_false(spnego_ctx_complete(ctx));
    assert_true(spnego_ctx_gss(ctx) == GSS_C_NO_CONTEXT);
    assert_true(spnego_reason(ctx)[0] != '\0');
    assert_non_null(spnego_status_name(p->status[side]));
    (void)spnego_ctx_mech(ctx);
    (void)spnego_ctx_flags(ctx);
    (void)spnego_ctx_peer_name(ctx);
    if (in == NULL) {
        in = resp;
        in_len = sizeof(resp);
    }
    st = spnego_step(ctx, in, in_len, &out, &out_len);
    free(out);
    if (!is_error(st))
        fail_msg("%s: a step after an error returned %s", p->name,
                 status_text(st));
    assert_false(spnego_ctx_complete(ctx));
    assert_true(spnego_ctx_gss(ctx) == GSS_C_NO_CONTEXT);
}

int
eu_trace_has(const struct eu_pair *p, enum eu_side side,
             enum spnego_event ev, const char *needle)
{
    size_t i;

    for (i = 0; i < p->trace[side].n; i++)
        if (p->trace[side].ev[i].event == ev &&
            (needle == NULL || strstr(p->trace[side].ev[i].text, needle)))
            return 1;
    return 0;
}

/* ---- per-message protection ---- */

static void
protect_one_way(gss_ctx_id_t from, OM_uint32 flags, gss_ctx_id_t to,
                const char *dir)
{
    static const char msg_text[] = "per-message check over the SPNEGO "
                                   "result";
    gss_buffer_desc msg = { sizeof(msg_text) - 1, (void *)msg_text };
    gss_buffer_desc tok = GSS_C_EMPTY_BUFFER, plain = GSS_C_EMPTY_BUFFER;
    OM_uint32 major, minor, junk;
    int conf_req = (flags & GSS_C_CONF_FLAG) != 0, conf_state = 0;
    char text[300];

    if (flags & (GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG)) {
        major = gss_wrap(&minor, from, conf_req, GSS_C_QOP_DEFAULT, &msg,
                         &conf_state, &tok);
        if (major == GSS_S_COMPLETE && conf_req && !conf_state)
            fail_msg("%s: gss_wrap did not encrypt although CONF is set",
                     dir);
        if (major == GSS_S_COMPLETE)
            major = gss_unwrap(&minor, to, &tok, &plain, &conf_state, NULL);
        if (major == GSS_S_COMPLETE &&
            (plain.length != msg.length ||
             memcmp(plain.value, msg.value, msg.length) != 0))
            fail_msg("%s: gss_unwrap returned other bytes", dir);
    } else {
        major = gss_get_mic(&minor, from, GSS_C_QOP_DEFAULT, &msg, &tok);
        if (major == GSS_S_COMPLETE)
            major = gss_verify_mic(&minor, to, &msg, &tok, NULL);
    }
    gss_release_buffer(&junk, &tok);
    gss_release_buffer(&junk, &plain);
    if (major != GSS_S_COMPLETE) {
        gss_text(major, minor, text, sizeof(text));
        fail_msg("%s: per-message protection (%s) failed: %s", dir,
                 flags & (GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG)
                     ? "wrap/unwrap" : "get_mic/verify_mic",
                 text);
    }
}

void
eu_per_message(gss_ctx_id_t a, OM_uint32 a_flags, gss_ctx_id_t b,
               OM_uint32 b_flags)
{
    assert_true(a != GSS_C_NO_CONTEXT);
    assert_true(b != GSS_C_NO_CONTEXT);
    protect_one_way(a, a_flags, b, "initiator -> acceptor");
    protect_one_way(b, b_flags, a, "acceptor -> initiator");
    /* A second round catches sequence-number or RC4 state mismatches. */
    protect_one_way(a, a_flags, b, "initiator -> acceptor (2nd)");
    protect_one_way(b, b_flags, a, "acceptor -> initiator (2nd)");
}

/* ---- token surgery ---- */

void
eu_mitm_decode(const uint8_t *buf, size_t len, struct negtoken *t)
{
    der_err err;

    if (negtoken_decode(buf, len, NULL, t, &err) != NEGTOKEN_OK)
        fail_msg("man in the middle: token does not decode: %s", err.text);
}

uint8_t *
eu_encode(const struct negtoken *t, size_t *len_out)
{
    uint8_t *buf = NULL;

    assert_int_equal(negtoken_encode(t, &buf, len_out), NEGTOKEN_OK);
    return buf;
}

void
eu_mitm_replace(uint8_t **tok, size_t *len, const struct negtoken *t)
{
    size_t new_len = 0;
    uint8_t *fresh = eu_encode(t, &new_len);

    free(*tok);
    *tok = fresh;
    *len = new_len;
}
