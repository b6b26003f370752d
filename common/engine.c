/* engine.c - the SPNEGO negotiation engine.  See engine.h.
 *
 * Both roles share one context object for the whole life of the
 * negotiation (MIT CVE-2015-2695), an explicit "nothing selected yet"
 * (Heimdal's NULL dereference), and stay valid after an error (MIT
 * CVE-2017-11462).  Every decision is a row of common/policy.c's tables,
 * for both roles: the state moves, why a mechListMIC is required (draft
 * section 5), what a refused optimistic token leads to, and what to do
 * once the mechanism is complete (send a MIC, complete, or fail); this
 * file computes the facts the rows read and carries out their actions.
 */
#include "engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "negtoken.h"
#include "policy.h"

/* The state (policy.h: moved only through spnego_policy_move) and the
 * facts the decisions read (SPNEGO_F_MECH_DONE ... SPNEGO_F_VERIFIED). */
#define ST_START SPNEGO_PS_START
#define ST_EXCHANGE SPNEGO_PS_EXCHANGE
#define ST_DONE SPNEGO_PS_DONE
#define ST_FAILED SPNEGO_PS_FAILED

#define NO_SELECTION ((size_t)-1)

struct spnego_ctx {
    struct spnego_config cfg;
    enum spnego_role role;
    enum spnego_pstate state;
    unsigned facts;       /* SPNEGO_F_*: what the policy tables read */

    /* The negotiable entries of cfg.creds the initiator offered (in
     * order), or that the acceptor received and could match. */
    size_t n_offer;
    size_t offer[SPNEGO_MAX_NEG_MECHS];
    int dropped[SPNEGO_MAX_NEG_MECHS]; /* initiator: failed to start */

    /* The selection: an index into cfg.creds, or NO_SELECTION. */
    size_t selected;
    const struct spnego_mech *mech;
    uint8_t sel_wire[32]; /* the OID as offered by the initiator */
    size_t sel_wire_len;

    gss_ctx_id_t gss;
    uint8_t *mech_list;   /* MechTypeList DER as sent / received */
    size_t mech_list_len;

    OM_uint32 flags;
    gss_name_t peer;
    gss_cred_id_t deleg;
    int raw;             /* a bare mechanism exchange, no SPNEGO */
    char earlier[384];   /* why the optimistic mechanism was abandoned */
    char reason[768];
    enum spnego_cause cause;    /* of the failure in reason */
};

/* One step's working state, so helpers stay small. */
struct step {
    struct negtoken in;
    gss_buffer_desc mech_out; /* from the mechanism; gss_release_buffer */
    gss_buffer_desc mic_out;  /* our mechListMIC */
    uint8_t *framed;          /* a bare AP-REQ, framed (frame_bare_krb5) */
    int has_mic_in;
    uint8_t *out;
    size_t out_len;
};

/* ---- facts and moves ---- */

static int
has(const struct spnego_ctx *ctx, unsigned fact)
{
    return (ctx->facts & fact) != 0;
}

static void
set_fact(struct spnego_ctx *ctx, unsigned fact, int on)
{
    if (on)
        ctx->facts |= fact;
    else
        ctx->facts &= ~fact;
}

/* Move by the state table; 0 if it has no row for this input. */
static int
move(struct spnego_ctx *ctx, enum spnego_pinput input)
{
    enum spnego_pstate to = spnego_policy_move(ctx->state, input);

    if (to == SPNEGO_PS_COUNT)
        return 0;
    ctx->state = to;
    return 1;
}

/* ---- small helpers ---- */

static void
trace(const struct spnego_ctx *ctx, enum spnego_event ev, const char *fmt,
      ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void
trace(const struct spnego_ctx *ctx, enum spnego_event ev, const char *fmt,
      ...)
{
    char text[768];
    va_list ap;

    if (ctx->cfg.trace == NULL)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    ctx->cfg.trace(ctx->cfg.trace_arg, ev, text);
}

static enum spnego_status
fail(struct spnego_ctx *ctx, enum spnego_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static enum spnego_status
fail_cause(struct spnego_ctx *ctx, enum spnego_status status,
           enum spnego_cause cause, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Record a failure: its reason, and its cause (what the plugin maps to a
 * SASL code). */
static enum spnego_status
vfail(struct spnego_ctx *ctx, enum spnego_status status,
      enum spnego_cause cause, const char *fmt, va_list ap)
{
    size_t used;

    (void)vsnprintf(ctx->reason, sizeof(ctx->reason), fmt, ap);
    ctx->cause = cause;
    used = strlen(ctx->reason);
    if (ctx->earlier[0] != '\0' && used < sizeof(ctx->reason))
        (void)snprintf(ctx->reason + used, sizeof(ctx->reason) - used,
                       " (after a fallback: %s)", ctx->earlier);
    if (!move(ctx, SPNEGO_PI_FAILURE))
        ctx->state = ST_FAILED; /* (DONE: a token after completion) */
    trace(ctx, SPNEGO_EV_ERROR, "%s", ctx->reason);
    return status;
}

/* The cause a status has unless the failure says otherwise. */
static enum spnego_cause
default_cause(enum spnego_status status)
{
    switch (status) {
    case SPNEGO_DEFECTIVE_TOKEN:
        return SPNEGO_CAUSE_PROTOCOL;
    case SPNEGO_BAD_MECH:
        return SPNEGO_CAUSE_NO_MECH;
    case SPNEGO_COMPLETE:
    case SPNEGO_CONTINUE_NEEDED:
    case SPNEGO_FAILURE:
    default:
        return SPNEGO_CAUSE_LOCAL;
    }
}

static enum spnego_status
fail(struct spnego_ctx *ctx, enum spnego_status status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vfail(ctx, status, default_cause(status), fmt, ap);
    va_end(ap);
    return status;
}

static enum spnego_status
fail_cause(struct spnego_ctx *ctx, enum spnego_status status,
           enum spnego_cause cause, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vfail(ctx, status, cause, fmt, ap);
    va_end(ap);
    return status;
}

static enum spnego_status
map_gss(OM_uint32 major)
{
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
fail_gss(struct spnego_ctx *ctx, enum spnego_cause cause, const char *what,
         OM_uint32 major, OM_uint32 minor)
{
    char text[512];

    spnego_gss_error(ctx->mech != NULL ? &ctx->mech->oid : NULL, major, minor,
                     text, sizeof(text));
    return fail_cause(ctx, map_gss(major), cause, "%s (%s): %s", what,
                      ctx->mech != NULL ? ctx->mech->name : "no mechanism",
                      text);
}

static void
wire_name(const uint8_t *oid, size_t len, char *buf, size_t size)
{
    spnego_oid_name(oid, len, buf, size);
}

/* "krb5, ntlmssp" for the OIDs of a decoded NegTokenInit. */
static void
describe_offer(const struct negtoken *tok, char *buf, size_t size)
{
    size_t i, used = 0;
    char name[96];
    int n;

    buf[0] = '\0';
    for (i = 0; i < tok->n_mechs; i++) {
        wire_name(tok->mechs[i].data, tok->mechs[i].len, name, sizeof(name));
        n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", name);
        if (n < 0 || (size_t)n >= size - used)
            return;
        used += (size_t)n;
    }
}

static const gss_OID_desc *
entry_oid(const struct spnego_ctx *ctx, size_t i)
{
    return spnego_creds_wire_oid(ctx->cfg.creds, i);
}

static void
select_entry(struct spnego_ctx *ctx, size_t entry, const uint8_t *wire,
             size_t wire_len)
{
    ctx->selected = entry;
    ctx->mech = spnego_creds_mech(ctx->cfg.creds, entry);
    memcpy(ctx->sel_wire, wire, wire_len);
    ctx->sel_wire_len = wire_len;
}

static void
reset_mech_context(struct spnego_ctx *ctx)
{
    if (ctx->mech != NULL)
        ctx->mech->ops->delete_ctx(&ctx->gss);
    ctx->gss = GSS_C_NO_CONTEXT;
    ctx->flags = 0;
    set_fact(ctx, SPNEGO_F_MECH_DONE, 0);
}

/* The established context can make and check MICs (RFC 4178 section 5:
 * without integrity no mechListMIC is used; MIT and Samba decide so from
 * the context's flags too). */
static int
has_integrity(const struct spnego_ctx *ctx)
{
    return (ctx->flags & GSS_C_INTEG_FLAG) != 0;
}

/* The persistent facts, with those of the context and configuration. */
static unsigned
context_facts(const struct spnego_ctx *ctx)
{
    unsigned f = ctx->facts;

    if (has_integrity(ctx))
        f |= SPNEGO_F_INTEG;
    if (ctx->cfg.outer_protection)
        f |= SPNEGO_F_OUTER;
    if (ctx->role == SPNEGO_INITIATOR && ctx->cfg.mutual_required)
        f |= SPNEGO_F_MUTUAL;
    return f;
}

static void
require_mic(struct spnego_ctx *ctx, enum spnego_mic_reason why)
{
    if (has(ctx, SPNEGO_F_REQUIRED))
        return;
    set_fact(ctx, SPNEGO_F_REQUIRED, 1);
    trace(ctx, SPNEGO_EV_MIC_REQUIRED, "mechListMIC required: %s",
          spnego_policy_mic_reason(why));
}

static void
check_mech_requires_mic(struct spnego_ctx *ctx, const gss_buffer_desc *in)
{
    const struct spnego_mech_ops *ops = ctx->mech->ops;

    /* NTLM authenticates only the client: when the caller asks for
     * mutual authentication, the acceptor's mechListMIC (made with the
     * session key, which only a server that checked the password has)
     * is what proves the server.  Without it a forged accept-completed
     * would complete the client. */
    if (ctx->role == SPNEGO_INITIATOR && ctx->mech->id == SPNEGO_OID_NTLMSSP &&
        (ctx->cfg.req_flags & GSS_C_MUTUAL_FLAG))
        require_mic(ctx, SPNEGO_MR_NTLM_MUTUAL);

    if (ops->requires_mic != NULL && ctx->gss != GSS_C_NO_CONTEXT &&
        ops->requires_mic(ctx->gss, ctx->role,
                          in != GSS_C_NO_BUFFER ? in->value : NULL,
                          in != GSS_C_NO_BUFFER ? in->length : 0))
        require_mic(ctx, SPNEGO_MR_NTLM_MIC);
}

static void
release_step(struct step *st)
{
    OM_uint32 minor;

    (void)gss_release_buffer(&minor, &st->mech_out);
    (void)gss_release_buffer(&minor, &st->mic_out);
    free(st->framed);
    free(st->out);
}

static enum negtoken_status
decode_in(const struct spnego_ctx *ctx, const uint8_t *in, size_t len,
          struct negtoken *tok, der_err *err)
{
    struct negtoken_opts opts = { ctx->cfg.max_token, 0, ctx->cfg.lenience };

    /* Recognise a bare NTLMSSP first message (Windows LDAP clients): run
     * with raw_tokens, else refused with an explanation rather than as
     * garbage; a bare GSS token of another mechanism only with
     * raw_tokens. */
    if (ctx->role == SPNEGO_ACCEPTOR && ctx->state == ST_START) {
        opts.lenience |= NEGTOKEN_ALLOW_RAW_NTLMSSP;
        if (ctx->cfg.raw_tokens)
            opts.lenience |= NEGTOKEN_ALLOW_RAW_MECH;
    }

    return negtoken_decode(in, len, &opts, tok, err);
}

/* ---- mechListMIC ---- */

static enum spnego_status
make_mic(struct spnego_ctx *ctx, struct step *st)
{
    gss_buffer_desc msg = { ctx->mech_list_len, ctx->mech_list };
    OM_uint32 major, minor = 0;

    major = ctx->mech->ops->get_mic(&minor, ctx->gss, &msg, &st->mic_out);
    if (GSS_ERROR(major))
        return fail_gss(ctx, SPNEGO_CAUSE_LOCAL, "cannot make the mechListMIC",
                        major, minor);
    if (ctx->mech->ops->after_mic != NULL)
        ctx->mech->ops->after_mic(ctx->gss, 0);
    set_fact(ctx, SPNEGO_F_SENT, 1);
    trace(ctx, SPNEGO_EV_MIC_SENT, "mechListMIC sent (%zu bytes)",
          st->mic_out.length);
    return SPNEGO_CONTINUE_NEEDED;
}

/* Check the peer's mechListMIC, if it sent one (Windows 2000 repeated the
 * responseToken there: treated as absent, Appendix B). */
static enum spnego_status
check_mic(struct spnego_ctx *ctx, struct step *st)
{
    gss_buffer_desc msg = { ctx->mech_list_len, ctx->mech_list };
    gss_buffer_desc mic = { st->in.mic.len, (void *)st->in.mic.data };
    OM_uint32 major, minor = 0;

    st->has_mic_in = st->in.has_mic && !negtoken_mic_is_w2k_copy(&st->in);
    if (!st->has_mic_in)
        return SPNEGO_CONTINUE_NEEDED;
    if (!has(ctx, SPNEGO_F_MECH_DONE))
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "mechListMIC received "
                    "before the mechanism (%s) completed", ctx->mech->name);
    if (has(ctx, SPNEGO_F_VERIFIED))
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "a second mechListMIC was "
                    "received; only one is allowed");
    if (!has_integrity(ctx)) {
        trace(ctx, SPNEGO_EV_MIC_SKIPPED, "mechListMIC ignored: the %s "
              "context has no integrity protection", ctx->mech->name);
        st->has_mic_in = 0;
        return SPNEGO_CONTINUE_NEEDED;
    }
    major = ctx->mech->ops->verify_mic(&minor, ctx->gss, &msg, &mic);
    if (GSS_ERROR(major))
        return fail_cause(ctx, SPNEGO_DEFECTIVE_TOKEN, SPNEGO_CAUSE_REFUSED,
                          "mechListMIC did not "
                    "verify: the mechanism list was altered in transit, or "
                    "the peer computed the MIC wrongly (%s)",
                    ctx->mech->name);
    if (ctx->mech->ops->after_mic != NULL)
        ctx->mech->ops->after_mic(ctx->gss, 1);
    set_fact(ctx, SPNEGO_F_VERIFIED, 1);
    trace(ctx, SPNEGO_EV_MIC_VERIFIED, "mechListMIC verified");
    return SPNEGO_CONTINUE_NEEDED;
}

/* ---- output ---- */

static enum spnego_status
emit_resp(struct spnego_ctx *ctx, struct step *st,
          enum negtoken_state neg_state, int with_supported_mech)
{
    struct negtoken tok;

    negtoken_init(&tok);
    tok.type = NEGTOKEN_RESP;
    tok.neg_state = neg_state;
    if (with_supported_mech) {
        tok.has_supported_mech = 1;
        tok.supported_mech.data = ctx->sel_wire;
        tok.supported_mech.len = ctx->sel_wire_len;
    }
    if (st->mech_out.length > 0) {
        tok.has_response_token = 1;
        tok.response_token.data = st->mech_out.value;
        tok.response_token.len = st->mech_out.length;
    }
    if (st->mic_out.length > 0) {
        tok.has_mic = 1;
        tok.mic.data = st->mic_out.value;
        tok.mic.len = st->mic_out.length;
    }
    if (negtoken_encode(&tok, &st->out, &st->out_len) != NEGTOKEN_OK)
        return fail_cause(ctx, SPNEGO_FAILURE, SPNEGO_CAUSE_NOMEM,
                          "out of memory encoding a "
                    "NegTokenResp");
    trace(ctx, SPNEGO_EV_STATE, "sent negState %s%s%s%s",
          negtoken_state_name(neg_state),
          with_supported_mech ? " with supportedMech" : "",
          tok.has_response_token ? " with a mechanism token" : "",
          tok.has_mic ? " with mechListMIC" : "");
    return SPNEGO_CONTINUE_NEEDED;
}

static const char *
flag_names(OM_uint32 flags, char *buf, size_t size)
{
    static const struct { OM_uint32 bit; const char *name; } names[] = {
        { GSS_C_DELEG_FLAG, "deleg" }, { GSS_C_MUTUAL_FLAG, "mutual" },
        { GSS_C_REPLAY_FLAG, "replay" }, { GSS_C_SEQUENCE_FLAG, "sequence" },
        { GSS_C_CONF_FLAG, "conf" }, { GSS_C_INTEG_FLAG, "integ" },
        { GSS_C_ANON_FLAG, "anon" }
    };
    size_t i, used = 0;
    int n;

    buf[0] = '\0';
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(flags & names[i].bit))
            continue;
        n = snprintf(buf + used, size - used, "%s%s", used ? " " : "",
                     names[i].name);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    if (used == 0)
        (void)snprintf(buf, size, "none");
    return buf;
}

static enum spnego_status
complete(struct spnego_ctx *ctx)
{
    char names[96];

    if (!move(ctx, SPNEGO_PI_COMPLETE))
        return fail(ctx, SPNEGO_FAILURE, "internal error: completion in "
                    "state %d", (int)ctx->state);
    trace(ctx, SPNEGO_EV_FLAGS, "complete with %s; flags: %s; mechListMIC "
          "%s", ctx->mech->name, flag_names(ctx->flags, names, sizeof(names)),
          has(ctx, SPNEGO_F_SENT) || has(ctx, SPNEGO_F_VERIFIED) ? "exchanged" : "not exchanged");
    return SPNEGO_COMPLETE;
}

/* Hand the step's token to the caller. */
static enum spnego_status
finish_step(struct step *st, enum spnego_status status, uint8_t **out,
            size_t *out_len)
{
    *out = st->out;
    *out_len = st->out_len;
    st->out = NULL;
    st->out_len = 0;
    return status;
}

static enum spnego_status conclude(struct spnego_ctx *ctx, struct step *st);
static enum spnego_status acceptor_reply(struct spnego_ctx *ctx,
                                         struct step *st, int completes);

/* ---- initiator ---- */

static OM_uint32
call_init(struct spnego_ctx *ctx, gss_buffer_t in, struct step *st,
          OM_uint32 *minor)
{
    OM_uint32 major, ret_flags = 0, tmp;

    (void)gss_release_buffer(&tmp, &st->mech_out);
    major = ctx->mech->ops->init(minor,
                                 spnego_creds_cred(ctx->cfg.creds,
                                                   ctx->selected),
                                 &ctx->gss, ctx->cfg.target,
                                 (gss_OID)&ctx->mech->oid, ctx->cfg.req_flags,
                                 ctx->cfg.cb, in, &st->mech_out, &ret_flags);
    if (!GSS_ERROR(major)) {
        ctx->flags = ret_flags;
        set_fact(ctx, SPNEGO_F_MECH_DONE, major == GSS_S_COMPLETE);
        check_mech_requires_mic(ctx, in);
    }
    return major;
}

/* Mark every negotiable entry of the same mechanism as dropped. */
static void
drop_mech(struct spnego_ctx *ctx, const struct spnego_mech *mech)
{
    size_t i;

    for (i = 0; i < spnego_creds_count(ctx->cfg.creds); i++) {
        if (spnego_creds_mech(ctx->cfg.creds, i) == mech)
            ctx->dropped[i] = 1;
    }
}

/* Start the first mechanism that can make an optimistic token. */
static enum spnego_status
start_optimistic(struct spnego_ctx *ctx, struct step *st)
{
    size_t i, n = spnego_creds_count(ctx->cfg.creds);
    OM_uint32 major, minor = 0;
    char why[1024] = "", text[512];
    size_t used = 0;

    for (i = 0; i < n; i++) {
        const gss_OID_desc *w = entry_oid(ctx, i);
        const struct spnego_mech *m = spnego_creds_mech(ctx->cfg.creds, i);

        if (ctx->dropped[i])
            continue;
        if (ctx->cfg.cb_required && !m->bindings) {
            trace(ctx, SPNEGO_EV_DROPPED, "%s dropped before sending: it is "
                  "not known to carry channel bindings, which the "
                  "application requires", m->name);
            if (used < sizeof(why))
                used += (size_t)snprintf(why + used, sizeof(why) - used,
                                         "%s%s: cannot carry the required "
                                         "channel bindings", used ? "; " : "",
                                         m->name);
            drop_mech(ctx, m);
            continue;
        }
        select_entry(ctx, i, w->elements, w->length);
        major = call_init(ctx, GSS_C_NO_BUFFER, st, &minor);
        if (!GSS_ERROR(major))
            return SPNEGO_CONTINUE_NEEDED;
        spnego_gss_error(&ctx->mech->oid, major, minor, text, sizeof(text));
        trace(ctx, SPNEGO_EV_DROPPED, "%s dropped before sending: %s",
              ctx->mech->name, text);
        if (used < sizeof(why))
            used += (size_t)snprintf(why + used, sizeof(why) - used, "%s%s: "
                                     "%s", used ? "; " : "", ctx->mech->name,
                                     text);
        reset_mech_context(ctx);
        drop_mech(ctx, ctx->mech);
    }
    ctx->selected = NO_SELECTION;
    ctx->mech = NULL;
    return fail(ctx, SPNEGO_FAILURE, "no mechanism could start: %s", why);
}

/* Build the NegTokenInit from the entries not dropped. */
static enum spnego_status
emit_init(struct spnego_ctx *ctx, struct step *st)
{
    struct negtoken tok, mine;
    size_t i, n = spnego_creds_count(ctx->cfg.creds);
    char names[512];
    der_err err;

    negtoken_init(&tok);
    tok.type = NEGTOKEN_INIT;
    tok.framed = 1;
    tok.has_mech_types = 1;
    for (i = 0; i < n; i++) {
        if (ctx->dropped[i])
            continue;
        ctx->offer[ctx->n_offer++] = i;
        tok.mechs[tok.n_mechs].data = entry_oid(ctx, i)->elements;
        tok.mechs[tok.n_mechs].len = entry_oid(ctx, i)->length;
        tok.n_mechs++;
    }
    tok.has_mech_token = st->mech_out.length > 0;
    tok.mech_token.data = st->mech_out.value;
    tok.mech_token.len = st->mech_out.length;
    if (negtoken_encode(&tok, &st->out, &st->out_len) != NEGTOKEN_OK ||
        negtoken_decode(st->out, st->out_len, NULL, &mine, &err) !=
            NEGTOKEN_OK)
        return fail_cause(ctx, SPNEGO_FAILURE, SPNEGO_CAUSE_NOMEM,
                          "out of memory encoding the "
                    "NegTokenInit");
    /* Keep the MechTypeList bytes exactly as sent, for the MIC. */
    ctx->mech_list = malloc(mine.mech_list_der.len);
    if (ctx->mech_list == NULL)
        return fail_cause(ctx, SPNEGO_FAILURE, SPNEGO_CAUSE_NOMEM,
                          "out of memory");
    memcpy(ctx->mech_list, mine.mech_list_der.data, mine.mech_list_der.len);
    ctx->mech_list_len = mine.mech_list_der.len;
    describe_offer(&mine, names, sizeof(names));
    trace(ctx, SPNEGO_EV_OFFERED, "offered: %s (optimistic token for %s)",
          names, ctx->mech->name);
    return SPNEGO_CONTINUE_NEEDED;
}

static enum spnego_status
initiator_first(struct spnego_ctx *ctx, struct step *st)
{
    enum spnego_status s;

    s = start_optimistic(ctx, st);
    if (s != SPNEGO_CONTINUE_NEEDED)
        return s;
    s = emit_init(ctx, st);
    if (s == SPNEGO_CONTINUE_NEEDED)
        (void)move(ctx, SPNEGO_PI_FIRST_TOKEN);
    return s;
}

/* The offered entry that supportedMech names (any Kerberos OID matches
 * any offered Kerberos OID), or NO_SELECTION. */
static size_t
find_offered(const struct spnego_ctx *ctx, const struct negtoken_bytes *oid)
{
    size_t k;

    for (k = 0; k < ctx->n_offer; k++) {
        const gss_OID_desc *w = entry_oid(ctx, ctx->offer[k]);

        if (spnego_same_mech(oid->data, oid->len, w->elements, w->length))
            return ctx->offer[k];
    }
    return NO_SELECTION;
}

static enum spnego_status
counter_proposal(struct spnego_ctx *ctx, struct step *st, size_t entry)
{
    const struct spnego_mech *was = ctx->mech;
    OM_uint32 major, minor = 0;

    if (st->in.has_response_token)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "the acceptor's "
                    "counter-proposal carries a mechanism token for a "
                    "mechanism we did not start");
    reset_mech_context(ctx);
    select_entry(ctx, entry, st->in.supported_mech.data,
                 st->in.supported_mech.len);
    trace(ctx, SPNEGO_EV_CHOSEN, "acceptor chose %s instead of our first "
          "choice %s (counter-proposal)", ctx->mech->name, was->name);
    set_fact(ctx, SPNEGO_F_NOT_FIRST, 1);
    require_mic(ctx, SPNEGO_MR_COUNTER_PROPOSAL);
    major = call_init(ctx, GSS_C_NO_BUFFER, st, &minor);
    if (GSS_ERROR(major))
        return fail_gss(ctx, SPNEGO_CAUSE_LOCAL,
                        "cannot start the counter-proposed mechanism", major,
                        minor);
    return SPNEGO_CONTINUE_NEEDED;
}

static enum spnego_status
initiator_first_reply(struct spnego_ctx *ctx, struct step *st)
{
    char offered[256], name[96];
    size_t entry;

    set_fact(ctx, SPNEGO_F_REPLIED, 1);
    spnego_creds_describe(ctx->cfg.creds, offered, sizeof(offered));
    if (st->in.neg_state == NEG_STATE_REJECT)
        return fail(ctx, SPNEGO_BAD_MECH, "no common mechanism: we offered "
                    "%s; the acceptor accepts none of them", offered);
    if (st->in.neg_state == NEG_STATE_ABSENT)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "the acceptor's first "
                    "reply has no negState (RFC 4178 4.2.2 requires it)");
    if (!st->in.has_supported_mech)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "the acceptor's first "
                    "reply has no supportedMech");
    entry = find_offered(ctx, &st->in.supported_mech);
    if (entry == NO_SELECTION) {
        wire_name(st->in.supported_mech.data, st->in.supported_mech.len,
                  name, sizeof(name));
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "the acceptor chose %s, "
                    "which we did not offer (we offered %s)", name, offered);
    }
    if (st->in.neg_state == NEG_STATE_REQUEST_MIC)
        require_mic(ctx, SPNEGO_MR_REQUEST_MIC);
    if (spnego_creds_mech(ctx->cfg.creds, entry) != ctx->mech)
        return counter_proposal(ctx, st, entry);
    trace(ctx, SPNEGO_EV_CHOSEN, "acceptor accepted our first choice %s",
          ctx->mech->name);
    return SPNEGO_CONTINUE_NEEDED;
}

static enum spnego_status
initiator_later_reply(struct spnego_ctx *ctx, const struct step *st)
{
    if (st->in.has_supported_mech)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "supportedMech in a later "
                    "reply (only the acceptor's first reply may carry it)");
    if (st->in.neg_state == NEG_STATE_REQUEST_MIC)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "request-mic in a later "
                    "reply (only the acceptor's first reply may carry it)");
    if (st->in.neg_state == NEG_STATE_REJECT)
        return fail_cause(ctx, SPNEGO_FAILURE, SPNEGO_CAUSE_REFUSED,
                          "the acceptor rejected the "
                    "exchange (%s)", ctx->mech->name);
    return SPNEGO_CONTINUE_NEEDED;
}

/* Feed the acceptor's mechanism token, if the mechanism wants one. */
static enum spnego_status
initiator_mech_step(struct spnego_ctx *ctx, struct step *st, int restarted)
{
    gss_buffer_desc in = { st->in.response_token.len,
                           (void *)st->in.response_token.data };
    OM_uint32 major, minor = 0;

    if (restarted)
        return SPNEGO_CONTINUE_NEEDED;
    if (has(ctx, SPNEGO_F_MECH_DONE)) {
        if (st->in.has_response_token)
            return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "mechanism token "
                        "received after %s completed", ctx->mech->name);
        return SPNEGO_CONTINUE_NEEDED;
    }
    if (!st->in.has_response_token) {
        if (st->in.neg_state == NEG_STATE_ACCEPT_COMPLETED)
            return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "the acceptor "
                        "completed but %s on our side is not complete",
                        ctx->mech->name);
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "the acceptor's reply has "
                    "no mechanism token while %s is not complete",
                    ctx->mech->name);
    }
    major = call_init(ctx, &in, st, &minor);
    if (GSS_ERROR(major))
        return fail_gss(ctx, SPNEGO_CAUSE_REFUSED,
                        "the acceptor's mechanism token was refused",
                        major, minor);
    return SPNEGO_CONTINUE_NEEDED;
}

/* The initiator's reply: accept-completed (and complete) or
 * accept-incomplete, with what the step produced. */
static enum spnego_status
initiator_reply(struct spnego_ctx *ctx, struct step *st, int completes)
{
    enum spnego_status s;

    s = emit_resp(ctx, st, completes ? NEG_STATE_ACCEPT_COMPLETED
                                     : NEG_STATE_ACCEPT_INCOMPLETE, 0);
    return s == SPNEGO_CONTINUE_NEEDED && completes ? complete(ctx) : s;
}

/* Send the mechanism's next token, unless the negotiation could not be
 * protected (policy.h: spnego_policy_unprotected): then it is refused
 * before the peer gets a token that authenticates us. */
static enum spnego_status
initiator_continue(struct spnego_ctx *ctx, struct step *st)
{
    const char *why = spnego_policy_unprotected(context_facts(ctx));

    if (why != NULL)
        return fail_cause(ctx, SPNEGO_DEFECTIVE_TOKEN,
                          SPNEGO_CAUSE_UNPROTECTED, "%s (%s)", why,
                          ctx->mech->name);
    return emit_resp(ctx, st, NEG_STATE_ACCEPT_INCOMPLETE, 0);
}

static enum spnego_status
initiator_next(struct spnego_ctx *ctx, struct step *st)
{
    enum spnego_status s;
    const struct spnego_mech *before = ctx->mech;
    int restarted;

    if (st->in.type != NEGTOKEN_RESP)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "expected a NegTokenResp "
                    "from the acceptor, got a %s",
                    negtoken_type_name(st->in.type));
    trace(ctx, SPNEGO_EV_STATE, "received negState %s",
          negtoken_state_name(st->in.neg_state));
    s = has(ctx, SPNEGO_F_REPLIED) ? initiator_later_reply(ctx, st)
                              : initiator_first_reply(ctx, st);
    if (s != SPNEGO_CONTINUE_NEEDED)
        return s;
    restarted = ctx->mech != before;
    s = initiator_mech_step(ctx, st, restarted);
    if (s == SPNEGO_CONTINUE_NEEDED)
        s = check_mic(ctx, st);
    if (s != SPNEGO_CONTINUE_NEEDED)
        return s;
    if (!has(ctx, SPNEGO_F_MECH_DONE))
        return initiator_continue(ctx, st);
    return conclude(ctx, st);
}

/* ---- acceptor ---- */

/* The negotiable entry matching an offered OID, or NO_SELECTION. */
static size_t
entry_for(const struct spnego_ctx *ctx, const struct negtoken_bytes *oid,
          const struct spnego_mech *exclude)
{
    size_t j, n = spnego_creds_count(ctx->cfg.creds);

    for (j = 0; j < n; j++) {
        const gss_OID_desc *w = entry_oid(ctx, j);

        if (spnego_creds_mech(ctx->cfg.creds, j) == exclude)
            continue;
        if (spnego_same_mech(oid->data, oid->len, w->elements, w->length))
            return j;
    }
    return NO_SELECTION;
}

/* Choose per policy: the initiator's order, or ours when set explicitly.
 * *k_out is the index of the chosen OID in the initiator's list. */
static size_t
choose(const struct spnego_ctx *ctx, const struct negtoken *init,
       const struct spnego_mech *exclude, size_t *k_out)
{
    size_t j, k, entry, n = spnego_creds_count(ctx->cfg.creds);

    if (!spnego_creds_order_is_explicit(ctx->cfg.creds)) {
        for (k = 0; k < init->n_mechs; k++) {
            entry = entry_for(ctx, &init->mechs[k], exclude);
            if (entry != NO_SELECTION) {
                *k_out = k;
                return entry;
            }
        }
        return NO_SELECTION;
    }
    for (j = 0; j < n; j++) {
        const gss_OID_desc *w = entry_oid(ctx, j);

        if (spnego_creds_mech(ctx->cfg.creds, j) == exclude)
            continue;
        for (k = 0; k < init->n_mechs; k++) {
            if (spnego_same_mech(init->mechs[k].data, init->mechs[k].len,
                                 w->elements, w->length)) {
                *k_out = k;
                return j;
            }
        }
    }
    return NO_SELECTION;
}

static enum spnego_status
reject(struct spnego_ctx *ctx, struct step *st)
{
    char theirs[512], ours[256];
    enum spnego_status s;

    describe_offer(&st->in, theirs, sizeof(theirs));
    spnego_creds_describe(ctx->cfg.creds, ours, sizeof(ours));
    s = emit_resp(ctx, st, NEG_STATE_REJECT, 0);
    if (s != SPNEGO_CONTINUE_NEEDED)
        return s;
    return fail(ctx, SPNEGO_BAD_MECH, "no common mechanism: the initiator "
                "offers %s; we accept %s", theirs, ours);
}

/* Select entry for the initiator's OID k and decide about request-mic. */
static void
acceptor_select(struct spnego_ctx *ctx, const struct negtoken *init,
                size_t entry, size_t k)
{
    const struct spnego_mech *first = spnego_creds_mech(ctx->cfg.creds, 0);

    select_entry(ctx, entry, init->mechs[k].data, init->mechs[k].len);
    if (k != 0 && !spnego_same_mech(init->mechs[0].data, init->mechs[0].len,
                                    ctx->mech->oid.elements,
                                    ctx->mech->oid.length)) {
        trace(ctx, SPNEGO_EV_CHOSEN, "chose %s, not the initiator's first "
              "choice", ctx->mech->name);
        set_fact(ctx, SPNEGO_F_NOT_FIRST, 1);
        require_mic(ctx, SPNEGO_MR_NOT_FIRST);
    } else if (ctx->mech != first) {
        /* Nothing for a MIC to protect: the initiator got its first
         * choice (MIT and Samba ask for one only when they choose
         * another). */
        trace(ctx, SPNEGO_EV_CHOSEN, "chose %s, the initiator's first "
              "choice (we prefer %s)", ctx->mech->name, first->name);
    } else {
        trace(ctx, SPNEGO_EV_CHOSEN, "chose %s, first choice of both sides",
              ctx->mech->name);
    }
}

static OM_uint32
call_accept(struct spnego_ctx *ctx, const struct negtoken_bytes *tok,
            struct step *st, OM_uint32 *minor)
{
    gss_buffer_desc in = { tok->len, (void *)tok->data };
    OM_uint32 major, ret_flags = 0, tmp;
    gss_name_t src = GSS_C_NO_NAME;
    gss_cred_id_t deleg = GSS_C_NO_CREDENTIAL;

    (void)gss_release_buffer(&tmp, &st->mech_out);
    major = ctx->mech->ops->accept(minor, &ctx->gss,
                                   spnego_creds_cred(ctx->cfg.creds,
                                                     ctx->selected),
                                   &in, ctx->cfg.cb, &src, &st->mech_out,
                                   &ret_flags, &deleg);
    if (GSS_ERROR(major))
        return major;
    ctx->flags = ret_flags;
    set_fact(ctx, SPNEGO_F_MECH_DONE, major == GSS_S_COMPLETE);
    if (src != GSS_C_NO_NAME) {
        (void)gss_release_name(&tmp, &ctx->peer);
        ctx->peer = src;
    }
    if (deleg != GSS_C_NO_CREDENTIAL) {
        (void)gss_release_cred(&tmp, &ctx->deleg);
        ctx->deleg = deleg;
    }
    check_mech_requires_mic(ctx, &in);
    return major;
}

/* The optimistic token failed.  Once a mechanism has read the token, its
 * failure ends the exchange: every error it can report (no key for the
 * etype or kvno, wrong service, skew, a bad OID) can be produced by
 * editing the token's cleartext, so a fallback decided by it would let a
 * wire attacker steer both sides from Kerberos to NTLM.  Mechanisms
 * without credentials here were left out before any token was read.
 * Only with keytab_fallback (an administrator's opt-in for misconfigured
 * keytabs) do configuration failures fall back to another offered
 * mechanism, with request-mic and a warning each time. */
static enum spnego_status
fall_back(struct spnego_ctx *ctx, struct step *st, OM_uint32 major,
          OM_uint32 minor)
{
    const struct spnego_mech *failed = ctx->mech;
    size_t k = 0, entry;
    char text[512];

    entry = choose(ctx, &st->in, failed, &k);
    if (spnego_policy_fallback(ctx->cfg.keytab_fallback,
                               spnego_failure_allows_fallback(failed, major,
                                                              minor),
                               entry != NO_SELECTION) == SPNEGO_FB_FAIL)
        return fail_gss(ctx, SPNEGO_CAUSE_REFUSED,
                        "the initiator's optimistic token was refused",
                        major, minor);
    spnego_gss_error(&failed->oid, major, minor, text, sizeof(text));
    (void)snprintf(ctx->earlier, sizeof(ctx->earlier), "%s refused the "
                   "optimistic token first: %.300s", failed->name, text);
    reset_mech_context(ctx);
    (void)gss_release_buffer(&minor, &st->mech_out);
    select_entry(ctx, entry, st->in.mechs[k].data, st->in.mechs[k].len);
    trace(ctx, SPNEGO_EV_DOWNGRADE, "downgrade: %s refused the optimistic "
          "token (%s); falling back to %s because spnego_keytab_fallback "
          "is on", failed->name, text, ctx->mech->name);
    set_fact(ctx, SPNEGO_F_NOT_FIRST, 1);
    require_mic(ctx, SPNEGO_MR_FALLBACK);
    set_fact(ctx, SPNEGO_F_REPLIED, 1);
    return emit_resp(ctx, st, NEG_STATE_REQUEST_MIC, 1);
}

/* The negState for the reply that carries what the mechanism produced. */
static enum negtoken_state
reply_state(const struct spnego_ctx *ctx, int completes)
{
    if (!has(ctx, SPNEGO_F_REPLIED) && has(ctx, SPNEGO_F_REQUIRED))
        return NEG_STATE_REQUEST_MIC;
    return completes ? NEG_STATE_ACCEPT_COMPLETED
                     : NEG_STATE_ACCEPT_INCOMPLETE;
}

static enum spnego_status
acceptor_reply(struct spnego_ctx *ctx, struct step *st, int completes)
{
    int first = !has(ctx, SPNEGO_F_REPLIED);
    enum spnego_status s;

    s = emit_resp(ctx, st, reply_state(ctx, completes), first);
    set_fact(ctx, SPNEGO_F_REPLIED, 1);
    if (s != SPNEGO_CONTINUE_NEEDED || !completes)
        return s;
    return complete(ctx);
}

static enum spnego_status
acceptor_mech_token(struct spnego_ctx *ctx, struct step *st,
                    const struct negtoken_bytes *tok)
{
    OM_uint32 major, minor = 0;
    enum spnego_status s;

    major = call_accept(ctx, tok, st, &minor);
    if (GSS_ERROR(major)) {
        if (!has(ctx, SPNEGO_F_REPLIED))
            return fall_back(ctx, st, major, minor);
        return fail_gss(ctx, SPNEGO_CAUSE_REFUSED,
                        "the initiator's mechanism token was refused",
                        major, minor);
    }
    s = check_mic(ctx, st);
    if (s != SPNEGO_CONTINUE_NEEDED)
        return s;
    if (!has(ctx, SPNEGO_F_MECH_DONE))
        return acceptor_reply(ctx, st, 0);
    return conclude(ctx, st);
}

static int
keep_mech_list(struct spnego_ctx *ctx, const struct negtoken *init)
{
    ctx->mech_list = malloc(init->mech_list_der.len);
    if (ctx->mech_list == NULL)
        return 0;
    memcpy(ctx->mech_list, init->mech_list_der.data, init->mech_list_der.len);
    ctx->mech_list_len = init->mech_list_der.len;
    return 1;
}

/* ---- bare mechanism tokens, no SPNEGO (raw_tokens) ---- */

/* Accept one bare token; the mechanism's reply goes out bare too. */
static enum spnego_status
raw_accept(struct spnego_ctx *ctx, struct step *st,
           const struct negtoken_bytes *tok)
{
    OM_uint32 major, minor = 0;

    major = call_accept(ctx, tok, st, &minor);
    if (GSS_ERROR(major))
        return fail_gss(ctx, SPNEGO_CAUSE_REFUSED, "the initiator's bare "
                        "mechanism token was refused", major, minor);
    if (st->mech_out.length > 0) {
        st->out = malloc(st->mech_out.length);
        if (st->out == NULL)
            return fail_cause(ctx, SPNEGO_FAILURE, SPNEGO_CAUSE_NOMEM,
                              "out of memory");
        memcpy(st->out, st->mech_out.value, st->mech_out.length);
        st->out_len = st->mech_out.length;
    }
    return has(ctx, SPNEGO_F_MECH_DONE) ? complete(ctx)
                                        : SPNEGO_CONTINUE_NEEDED;
}

/* The entry for a bare first token's mechanism, or NO_SELECTION. */
static size_t
raw_entry(const struct spnego_ctx *ctx, const struct negtoken *in)
{
    size_t j;

    if (in->type == NEGTOKEN_RAW_MECH)
        return entry_for(ctx, &in->raw_mech, NULL);
    for (j = 0; j < spnego_creds_count(ctx->cfg.creds); j++) {
        if (spnego_creds_mech(ctx->cfg.creds, j)->id == SPNEGO_OID_NTLMSSP)
            return j;
    }
    return NO_SELECTION;
}

static enum spnego_status
acceptor_raw_first(struct spnego_ctx *ctx, struct step *st)
{
    const char *what = st->in.type == NEGTOKEN_NTLMSSP ? "NTLMSSP message"
                                                       : "mechanism token";
    char ours[256], name[96] = "";
    size_t entry;

    /* A bare exchange has no mechListMIC: an administrator who wants one
     * always (spnego_send_mic always) gets no raw tokens either. */
    if (!ctx->cfg.raw_tokens || ctx->cfg.mic_policy == SPNEGO_MIC_ALWAYS)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "a bare %s without SPNEGO "
                    "(as some Windows LDAP clients send): not accepted here "
                    "(spnego_raw_tokens no, or spnego_send_mic always); "
                    "configure the client for GSS-SPNEGO with SPNEGO or use "
                    "the NTLM mechanism", what);
    entry = raw_entry(ctx, &st->in);
    if (entry == NO_SELECTION) {
        spnego_creds_describe(ctx->cfg.creds, ours, sizeof(ours));
        if (st->in.type == NEGTOKEN_RAW_MECH)
            wire_name(st->in.raw_mech.data, st->in.raw_mech.len, name,
                      sizeof(name) - 1);
        return fail(ctx, SPNEGO_BAD_MECH, "a bare %s%s%s without SPNEGO, "
                    "but we accept only %s", name, name[0] ? " " : "", what,
                    ours);
    }
    select_entry(ctx, entry, entry_oid(ctx, entry)->elements,
                 entry_oid(ctx, entry)->length);
    ctx->raw = 1;
    (void)move(ctx, SPNEGO_PI_FIRST_TOKEN);
    trace(ctx, SPNEGO_EV_CHOSEN, "a bare %s without SPNEGO (as Active "
          "Directory and Samba accept): running %s directly, bare replies, "
          "no mechListMIC", what, ctx->mech->name);
    return raw_accept(ctx, st, &st->in.mech_token);
}

/* cfg.frame_bare_krb5: a Kerberos mechToken that is a bare AP-REQ gets
 * its RFC 2743 framing before MIT sees it. */
static enum spnego_status
frame_bare_krb5(struct spnego_ctx *ctx, struct step *st)
{
    size_t len = 0;

    if (!ctx->cfg.frame_bare_krb5 ||
        !spnego_oid_is_krb5(ctx->mech->id) ||
        !negtoken_is_bare_ap_req(st->in.mech_token.data,
                                 st->in.mech_token.len))
        return SPNEGO_CONTINUE_NEEDED;
    if (negtoken_frame_krb5(st->in.mech_token.data, st->in.mech_token.len,
                            &st->framed, &len) != NEGTOKEN_OK)
        return fail_cause(ctx, SPNEGO_FAILURE, SPNEGO_CAUSE_NOMEM,
                          "out of memory");
    trace(ctx, SPNEGO_EV_CHOSEN, "the optimistic Kerberos token is a bare "
          "AP-REQ without its GSS framing (some Python clients; Active "
          "Directory accepts it): framed before use");
    st->in.mech_token.data = st->framed;
    st->in.mech_token.len = len;
    return SPNEGO_CONTINUE_NEEDED;
}

static enum spnego_status
acceptor_first(struct spnego_ctx *ctx, struct step *st)
{
    char names[512];
    size_t entry, k = 0;
    enum spnego_status s;

    if (st->in.type == NEGTOKEN_NTLMSSP || st->in.type == NEGTOKEN_RAW_MECH)
        return acceptor_raw_first(ctx, st);
    if (st->in.type == NEGTOKEN_RESP || !st->in.has_mech_types)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "expected a NegTokenInit "
                    "with mechTypes as the first token, got a %s",
                    negtoken_type_name(st->in.type));
    if (!keep_mech_list(ctx, &st->in))
        return fail_cause(ctx, SPNEGO_FAILURE, SPNEGO_CAUSE_NOMEM,
                          "out of memory");
    (void)move(ctx, SPNEGO_PI_FIRST_TOKEN);
    describe_offer(&st->in, names, sizeof(names));
    trace(ctx, SPNEGO_EV_OFFERED, "initiator offers: %s%s", names,
          st->in.has_mech_token ? " (with an optimistic token)" : "");
    entry = choose(ctx, &st->in, NULL, &k);
    if (entry == NO_SELECTION)
        return reject(ctx, st);
    acceptor_select(ctx, &st->in, entry, k);
    if (k == 0 && st->in.has_mech_token) {
        s = frame_bare_krb5(ctx, st);
        return s == SPNEGO_CONTINUE_NEEDED
                   ? acceptor_mech_token(ctx, st, &st->in.mech_token)
                   : s;
    }
    if (st->in.has_mic)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "mechListMIC in the "
                    "NegTokenInit without a completed mechanism");
    return acceptor_reply(ctx, st, 0);
}

static enum spnego_status
acceptor_next(struct spnego_ctx *ctx, struct step *st)
{
    enum spnego_status s;

    if (st->in.type != NEGTOKEN_RESP)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "expected a NegTokenResp "
                    "from the initiator, got a %s",
                    negtoken_type_name(st->in.type));
    trace(ctx, SPNEGO_EV_STATE, "received negState %s",
          negtoken_state_name(st->in.neg_state));
    if (st->in.has_supported_mech)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "the initiator sent a "
                    "supportedMech (only the acceptor may)");
    if (st->in.neg_state == NEG_STATE_REQUEST_MIC)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "the initiator sent "
                    "request-mic (only the acceptor's first reply may)");
    if (st->in.neg_state == NEG_STATE_REJECT)
        return fail_cause(ctx, SPNEGO_FAILURE, SPNEGO_CAUSE_REFUSED,
                          "the initiator ended the "
                    "negotiation (negState reject)");
    if (!has(ctx, SPNEGO_F_MECH_DONE)) {
        if (!st->in.has_response_token)
            return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "the initiator's token "
                        "has no mechanism token while %s is not complete",
                        ctx->mech->name);
        return acceptor_mech_token(ctx, st, &st->in.response_token);
    }
    if (st->in.has_response_token)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "mechanism token received "
                    "after %s completed", ctx->mech->name);
    s = check_mic(ctx, st);
    if (s != SPNEGO_CONTINUE_NEEDED)
        return s;
    if (!st->has_mic_in)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "mechListMIC required but "
                    "the initiator's token has none");
    return conclude(ctx, st);
}

/* ---- the conclusion, for both roles ---- */

/* The facts of this step for the conclusion table (policy.h). */
static unsigned
conclusion_facts(const struct spnego_ctx *ctx, const struct step *st)
{
    unsigned f = context_facts(ctx);
    int always = ctx->cfg.mic_policy == SPNEGO_MIC_ALWAYS;

    if (has_integrity(ctx) && !has(ctx, SPNEGO_F_SENT) &&
        (has(ctx, SPNEGO_F_REQUIRED) || has(ctx, SPNEGO_F_VERIFIED) ||
         always))
        f |= SPNEGO_F_DUE;
    if (st->mech_out.length > 0)
        f |= SPNEGO_F_SEND_LAST;
    if (st->in.has_response_token)
        f |= SPNEGO_F_PEER_TOKEN;
    if (st->in.neg_state == NEG_STATE_ACCEPT_COMPLETED)
        f |= SPNEGO_F_PEER_DONE;
    if (st->in.neg_state == NEG_STATE_ABSENT)
        f |= SPNEGO_F_PEER_QUIET;
    return f;
}

/* This role's reply, accept-completed (and complete) or not. */
static enum spnego_status
reply(struct spnego_ctx *ctx, struct step *st, int completes)
{
    return ctx->role == SPNEGO_INITIATOR
               ? initiator_reply(ctx, st, completes)
               : acceptor_reply(ctx, st, completes);
}

/* The mechanism is complete on this side: the first row of the
 * conclusion table that holds decides about MICs and the end. */
static enum spnego_status
conclude(struct spnego_ctx *ctx, struct step *st)
{
    const struct spnego_policy_rule *r;
    enum spnego_status s;

    if (!has_integrity(ctx))
        trace(ctx, SPNEGO_EV_MIC_SKIPPED, "no mechListMIC: the %s context "
              "has no integrity protection%s", ctx->mech->name,
              has(ctx, SPNEGO_F_NOT_FIRST)
                  ? ""
                  : " (the initiator's first choice: nothing to protect)");
    r = spnego_policy_conclude(ctx->role, conclusion_facts(ctx, st));
    switch (r->action) {
    case SPNEGO_C_CONTINUE:
        return reply(ctx, st, 0);
    case SPNEGO_C_MIC_CONTINUE:
    case SPNEGO_C_MIC_COMPLETE:
        s = make_mic(ctx, st);
        return s == SPNEGO_CONTINUE_NEEDED
                   ? reply(ctx, st, r->action == SPNEGO_C_MIC_COMPLETE)
                   : s;
    case SPNEGO_C_COMPLETE:
        return ctx->role == SPNEGO_ACCEPTOR ? reply(ctx, st, 1)
                                            : complete(ctx);
    case SPNEGO_C_COMPLETE_QUIET:
        return complete(ctx);
    case SPNEGO_C_FAIL:
    default:
        return fail_cause(ctx, SPNEGO_DEFECTIVE_TOKEN,
                          r->unprotected ? SPNEGO_CAUSE_UNPROTECTED
                                         : SPNEGO_CAUSE_PROTOCOL,
                          "%s (%s; %s)", r->failure, ctx->mech->name,
                          r->source);
    }
}

/* ---- public API ---- */

int
spnego_ctx_new(const struct spnego_config *cfg, struct spnego_ctx **ctx_out)
{
    struct spnego_ctx *ctx;

    *ctx_out = NULL;
    ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return 0;
    ctx->cfg = *cfg;
    ctx->role = spnego_creds_role(cfg->creds);
    ctx->state = ST_START;
    ctx->selected = NO_SELECTION;
    ctx->gss = GSS_C_NO_CONTEXT;
    ctx->peer = GSS_C_NO_NAME;
    ctx->deleg = GSS_C_NO_CREDENTIAL;
    *ctx_out = ctx;
    return 1;
}

static const char *
peer_word(const struct spnego_ctx *ctx)
{
    return ctx->role == SPNEGO_INITIATOR ? "acceptor" : "initiator";
}

static enum spnego_status
dispatch(struct spnego_ctx *ctx, struct step *st, const uint8_t *in,
         size_t in_len)
{
    enum negtoken_status ds;
    der_err err;

    if (ctx->role == SPNEGO_INITIATOR && ctx->state == ST_START) {
        if (in_len != 0)
            return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "the initiator's first "
                        "step takes no input token (got %zu bytes)", in_len);
        return initiator_first(ctx, st);
    }
    if (in_len == 0)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "empty token from the %s",
                    ctx->role == SPNEGO_INITIATOR ? "acceptor" : "initiator");
    if (ctx->raw) {
        struct negtoken_bytes bare = { in, in_len };

        return raw_accept(ctx, st, &bare);
    }
    ds = decode_in(ctx, in, in_len, &st->in, &err);
    if (ds == NEGTOKEN_TOO_BIG)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "the %s sent a %zu-byte "
                    "token, over the limit of %zu bytes (raise "
                    "spnego_max_token if this peer is legitimate)", peer_word(ctx),
                    in_len, err.offset);
    if (ds == NEGTOKEN_NOT_SPNEGO)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "the %s sent a plain GSS "
                    "token, not SPNEGO: %s (it speaks the mechanism directly, "
                    "e.g. SASL GSSAPI, under the name GSS-SPNEGO)",
                    peer_word(ctx), err.text);
    if (ds != NEGTOKEN_OK)
        return fail(ctx, SPNEGO_DEFECTIVE_TOKEN, "malformed SPNEGO token "
                    "from the %s: %s", peer_word(ctx), err.text);
    if (ctx->role == SPNEGO_INITIATOR)
        return initiator_next(ctx, st);
    if (ctx->state == ST_START)
        return acceptor_first(ctx, st);
    return acceptor_next(ctx, st);
}

enum spnego_status
spnego_step(struct spnego_ctx *ctx, const uint8_t *in, size_t in_len,
            uint8_t **out, size_t *out_len)
{
    struct step st;
    enum spnego_status s;

    *out = NULL;
    *out_len = 0;
    memset(&st, 0, sizeof(st));
    negtoken_init(&st.in);
    if (ctx->state == ST_DONE) {
        (void)snprintf(ctx->reason, sizeof(ctx->reason), "the negotiation "
                       "is already complete; no more tokens are expected");
        ctx->cause = SPNEGO_CAUSE_PROTOCOL;
        return SPNEGO_FAILURE;
    }
    if (ctx->state == ST_FAILED) {
        char was[sizeof(ctx->reason)];

        memcpy(was, ctx->reason, sizeof(was));
        return fail_cause(ctx, SPNEGO_FAILURE, ctx->cause, "the negotiation "
                          "already failed: %.600s", was);
    }
    s = dispatch(ctx, &st, in, in_len);
    if (s == SPNEGO_CONTINUE_NEEDED)
        (void)move(ctx, ctx->state == ST_START ? SPNEGO_PI_FIRST_TOKEN
                                               : SPNEGO_PI_TOKEN);
    s = finish_step(&st, s, out, out_len);
    release_step(&st);
    return s;
}

enum spnego_cause
spnego_failure_cause(const struct spnego_ctx *ctx)
{
    return ctx->cause;
}

const char *
spnego_reason(const struct spnego_ctx *ctx)
{
    return ctx->reason;
}

void
spnego_ctx_free(struct spnego_ctx *ctx)
{
    OM_uint32 minor;

    if (ctx == NULL)
        return;
    /* Names first: while the mechanism context lives, MIT still has
     * krb5.conf parsed and releasing them is cheap. */
    (void)gss_release_name(&minor, &ctx->peer);
    (void)gss_release_cred(&minor, &ctx->deleg);
    reset_mech_context(ctx);
    free(ctx->mech_list);
    free(ctx);
}

int
spnego_ctx_complete(const struct spnego_ctx *ctx)
{
    return ctx->state == ST_DONE;
}

const struct spnego_mech *
spnego_ctx_mech(const struct spnego_ctx *ctx)
{
    return ctx->selected == NO_SELECTION ? NULL : ctx->mech;
}

gss_ctx_id_t
spnego_ctx_gss(const struct spnego_ctx *ctx)
{
    return ctx->state == ST_DONE ? ctx->gss : GSS_C_NO_CONTEXT;
}

OM_uint32
spnego_ctx_flags(const struct spnego_ctx *ctx)
{
    return ctx->flags;
}

gss_name_t
spnego_ctx_peer_name(const struct spnego_ctx *ctx)
{
    return ctx->peer;
}

gss_cred_id_t
spnego_ctx_take_deleg_cred(struct spnego_ctx *ctx)
{
    gss_cred_id_t cred = ctx->deleg;

    ctx->deleg = GSS_C_NO_CREDENTIAL;
    return cred;
}

int
spnego_ctx_mic_sent(const struct spnego_ctx *ctx)
{
    return has(ctx, SPNEGO_F_SENT);
}

int
spnego_ctx_mic_verified(const struct spnego_ctx *ctx)
{
    return has(ctx, SPNEGO_F_VERIFIED);
}

const char *
spnego_status_name(enum spnego_status status)
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
        return "UNKNOWN";
    }
}
