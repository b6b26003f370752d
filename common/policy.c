/* policy.c - the negotiation's decisions as tables.  See policy.h. */
#include "policy.h"

#include <string.h>

/* ---- states ---- */

struct move_row {
    enum spnego_pstate from;
    enum spnego_pinput input;
    enum spnego_pstate to;
    const char *meaning;
};

static const struct move_row moves[] = {
    { SPNEGO_PS_START, SPNEGO_PI_FIRST_TOKEN, SPNEGO_PS_EXCHANGE,
      "the initiator sent its NegTokenInit, or the acceptor received one" },
    { SPNEGO_PS_START, SPNEGO_PI_FAILURE, SPNEGO_PS_FAILED,
      "no mechanism could start, or the first token is refused" },
    { SPNEGO_PS_EXCHANGE, SPNEGO_PI_TOKEN, SPNEGO_PS_EXCHANGE,
      "a mechanism token or mechListMIC, and more is expected" },
    { SPNEGO_PS_EXCHANGE, SPNEGO_PI_COMPLETE, SPNEGO_PS_DONE,
      "a conclusion row completes the exchange" },
    { SPNEGO_PS_EXCHANGE, SPNEGO_PI_FAILURE, SPNEGO_PS_FAILED,
      "any failure, including a conclusion row that fails" },
    { SPNEGO_PS_FAILED, SPNEGO_PI_FAILURE, SPNEGO_PS_FAILED,
      "every step after a failure fails again" },
};

static const char *const state_names[] = { "start", "exchange", "done",
                                           "failed" };
static const char *const input_names[] = { "first token", "later token",
                                           "complete", "failure" };

enum spnego_pstate
spnego_policy_move(enum spnego_pstate from, enum spnego_pinput input)
{
    size_t i;

    for (i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
        if (moves[i].from == from && moves[i].input == input)
            return moves[i].to;
    }
    return SPNEGO_PS_COUNT;
}

/* ---- why a MIC exchange is required ---- */

struct reason_row {
    const char *text;
    const char *source;
};

static const struct reason_row reasons[SPNEGO_MR_COUNT] = {
    [SPNEGO_MR_REQUEST_MIC] = { "the acceptor sent request-mic",
                                "draft 4.2.2" },
    [SPNEGO_MR_COUNTER_PROPOSAL] = { "the acceptor did not choose our first "
                                     "mechanism", "draft 5 b" },
    [SPNEGO_MR_NOT_FIRST] = { "we did not choose the initiator's first "
                              "mechanism", "draft 5 b" },
    [SPNEGO_MR_NTLM_MIC] = { "the NTLM AUTHENTICATE message carries a MIC",
                             "MS-SPNG 3.1.5.1" },
    [SPNEGO_MR_NTLM_MUTUAL] = { "NTLM has no mutual authentication of its "
                                "own; the acceptor's mechListMIC proves the "
                                "server", "INTEROP.md, POLICY.md" },
    [SPNEGO_MR_FALLBACK] = { "fell back from the initiator's first "
                             "mechanism", "draft 5 b" },
};

const char *
spnego_policy_mic_reason(enum spnego_mic_reason reason)
{
    return reason < SPNEGO_MR_COUNT ? reasons[reason].text : "";
}

/* ---- a refused optimistic token ---- */

struct fallback_row {
    int keytab_fallback, configuration, another; /* -1: any */
    enum spnego_fallback action;
    const char *why;
};

static const struct fallback_row fallbacks[] = {
    { 0, -1, -1, SPNEGO_FB_FAIL,
      "the mechanism read the token: its failure ends the exchange (every "
      "error it reports, no key for the etype or kvno, wrong service, "
      "skew, a bad OID, can be produced by editing the token's cleartext)" },
    { 1, 0, -1, SPNEGO_FB_FAIL,
      "spnego_keytab_fallback is on, but the failure is not one of "
      "configuration: possible tampering" },
    { 1, 1, 0, SPNEGO_FB_FAIL,
      "spnego_keytab_fallback is on, and no other offered mechanism is "
      "acceptable" },
    { 1, 1, 1, SPNEGO_FB_NEXT,
      "spnego_keytab_fallback is on (a downgrade, logged at WARN): fall "
      "back to the next offered mechanism, with request-mic" },
};

static int
matches(int want, int got)
{
    return want < 0 || want == (got != 0);
}

enum spnego_fallback
spnego_policy_fallback(int keytab_fallback, int configuration, int another)
{
    size_t i;

    for (i = 0; i < sizeof(fallbacks) / sizeof(fallbacks[0]); i++) {
        if (matches(fallbacks[i].keytab_fallback, keytab_fallback) &&
            matches(fallbacks[i].configuration, configuration) &&
            matches(fallbacks[i].another, another))
            return fallbacks[i].action;
    }
    return SPNEGO_FB_FAIL;
}

/* ---- the conclusion ---- */

#define I SPNEGO_INITIATOR
#define A SPNEGO_ACCEPTOR
#define INTEG SPNEGO_F_INTEG
#define REQ SPNEGO_F_REQUIRED
#define SENT SPNEGO_F_SENT
#define VER SPNEGO_F_VERIFIED
#define DUE SPNEGO_F_DUE
#define LAST SPNEGO_F_SEND_LAST
#define PTOK SPNEGO_F_PEER_TOKEN
#define PDONE SPNEGO_F_PEER_DONE
#define PQUIET SPNEGO_F_PEER_QUIET
#define REPLIED SPNEGO_F_REPLIED
#define NOT_FIRST SPNEGO_F_NOT_FIRST
#define OUTER SPNEGO_F_OUTER
#define MUTUAL SPNEGO_F_MUTUAL

static const char NO_MIC_FROM_ACCEPTOR[] =
    "mechListMIC required but the acceptor sent none";
static const char NO_ANSWER[] =
    "the acceptor completed without returning a mechListMIC for ours";
static const char NO_MIC_FROM_INITIATOR[] =
    "mechListMIC required but the initiator sent none";
static const char CANNOT_PROTECT[] =
    "the chosen mechanism cannot protect the negotiation: it is not the "
    "initiator's first choice and its context has no integrity protection "
    "(GSS_C_INTEG_FLAG), so no mechListMIC can prove that the mechanism "
    "list was not altered; refused as a possible downgrade (enable signing, "
    "or run the exchange inside TLS)";
static const char CANNOT_PROVE_ACCEPTOR[] =
    "mutual authentication is required, but the context has no integrity "
    "protection (NTLM without signing never authenticates the server)";

static const struct spnego_policy_rule rules[] = {
    /* the initiator, its mechanism complete: decided before its last
     * mechanism token (NTLM AUTHENTICATE) is sent */
    { I, NOT_FIRST, INTEG | OUTER, SPNEGO_C_FAIL, CANNOT_PROTECT, 1,
      "RFC 4178 5; POLICY.md I3" },
    { I, MUTUAL, INTEG, SPNEGO_C_FAIL, CANNOT_PROVE_ACCEPTOR, 1,
      "POLICY.md I5" },
    { I, LAST | DUE, 0, SPNEGO_C_MIC_CONTINUE, NULL, 0, "draft 5 c" },
    { I, LAST, 0, SPNEGO_C_CONTINUE, NULL, 0, "draft 5 c" },
    { I, INTEG | REQ | PTOK, VER, SPNEGO_C_FAIL,
      "mechListMIC required but the acceptor's last mechanism token came "
      "without one", 0, "draft 5 b IV" },
    { I, PDONE | INTEG | SENT, VER, SPNEGO_C_FAIL, NO_ANSWER, 0, "draft 5 c" },
    { I, PDONE | INTEG | REQ, VER, SPNEGO_C_FAIL, NO_MIC_FROM_ACCEPTOR, 0,
      "draft 5 b" },
    { I, PDONE, 0, SPNEGO_C_COMPLETE, NULL, 0, "draft 4.2.2" },
    { I, PQUIET | INTEG | SENT, VER | DUE, SPNEGO_C_FAIL, NO_ANSWER, 0,
      "draft 5 c" },
    { I, PQUIET | INTEG | REQ, VER | DUE, SPNEGO_C_FAIL, NO_MIC_FROM_ACCEPTOR,
      0, "draft 5 b" },
    { I, PQUIET, DUE, SPNEGO_C_COMPLETE, NULL, 0, "RFC 4178 4.2.2" },
    { I, 0, DUE, SPNEGO_C_FAIL,
      "the acceptor expects more, but the mechanism is complete and no "
      "mechListMIC is due", 0, "draft 5" },
    { I, VER, 0, SPNEGO_C_MIC_COMPLETE, NULL, 0, "draft 5 b I" },
    { I, 0, 0, SPNEGO_C_MIC_CONTINUE, NULL, 0, "draft 5 c I" },
    /* the acceptor, its mechanism complete */
    { A, NOT_FIRST, INTEG | OUTER, SPNEGO_C_FAIL, CANNOT_PROTECT, 1,
      "RFC 4178 5; POLICY.md A9" },
    { A, 0, INTEG, SPNEGO_C_COMPLETE, NULL, 0, "RFC 4178 5; MIT, Samba" },
    { A, VER | SENT, 0, SPNEGO_C_COMPLETE_QUIET, NULL, 0, "draft 5 b I" },
    { A, VER, 0, SPNEGO_C_MIC_COMPLETE, NULL, 0, "draft 5 c I" },
    { A, SENT, 0, SPNEGO_C_FAIL, NO_MIC_FROM_INITIATOR, 0, "draft 5 b" },
    { A, LAST, DUE, SPNEGO_C_COMPLETE, NULL, 0, "draft 5" },
    { A, 0, DUE | REPLIED, SPNEGO_C_COMPLETE, NULL, 0, "draft 5" },
    { A, 0, REQ | LAST | REPLIED, SPNEGO_C_COMPLETE, NULL, 0, "draft 5" },
    { A, LAST, 0, SPNEGO_C_MIC_CONTINUE, NULL, 0, "draft 5 b" },
    { A, 0, REPLIED, SPNEGO_C_MIC_CONTINUE, NULL, 0, "RFC 4178 5" },
    { A, REQ, 0, SPNEGO_C_FAIL, NO_MIC_FROM_INITIATOR, 0, "draft 5 b" },
    { A, 0, 0, SPNEGO_C_COMPLETE, NULL, 0, "draft 5" },
};

const char *
spnego_policy_unprotected(unsigned facts)
{
    if ((facts & NOT_FIRST) != 0 && (facts & (INTEG | OUTER)) == 0)
        return CANNOT_PROTECT;
    return NULL;
}

const struct spnego_policy_rule *
spnego_policy_conclude(enum spnego_role role, unsigned facts)
{
    size_t i;

    for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (rules[i].role == role && (facts & rules[i].when) ==
                                         rules[i].when &&
            (facts & rules[i].unless) == 0)
            return &rules[i];
    }
    return &rules[sizeof(rules) / sizeof(rules[0]) - 1]; /* not reached */
}

size_t
spnego_policy_rule_count(void)
{
    return sizeof(rules) / sizeof(rules[0]);
}

const struct spnego_policy_rule *
spnego_policy_rule_at(size_t i)
{
    return i < spnego_policy_rule_count() ? &rules[i] : NULL;
}

/* ---- the man page ---- */

static const char *const fact_words[] = {
    "the mechanism is complete",
    "the first reply was exchanged",
    "a mechListMIC is required",
    "our mechListMIC was sent",
    "the peer's mechListMIC verified",
    "the context has integrity (GSS_C_INTEG_FLAG)",
    "we owe a mechListMIC",
    "we send the last mechanism token",
    "the peer sent a mechanism token",
    "the acceptor said accept\\-completed",
    "the acceptor sent no negState",
    "the mechanism is not the initiator's first choice",
    "an outer channel protects the exchange (external SSF > 0)",
    "the application requires mutual authentication",
};

static const char MIC_AND_WAIT[] =
    "send our mechListMIC (with the mechanism token, if any), negState "
    "accept\\-incomplete, and wait for the peer's";

static const char *const action_words[] = {
    "send the mechanism token, negState accept\\-incomplete",
    MIC_AND_WAIT,
    "send our mechListMIC, negState accept\\-completed; complete",
    "complete (the acceptor replies accept\\-completed)",
    "complete, sending nothing more",
    "fail",
};

static void
print_facts(FILE *out, unsigned when, unsigned unless)
{
    size_t i, n = 0;

    for (i = 0; i < sizeof(fact_words) / sizeof(fact_words[0]); i++) {
        if (when & (1u << i))
            (void)fprintf(out, "%s%s", n++ ? ", " : "", fact_words[i]);
    }
    for (i = 0; i < sizeof(fact_words) / sizeof(fact_words[0]); i++) {
        if (unless & (1u << i))
            (void)fprintf(out, "%snot: %s", n++ ? ", " : "", fact_words[i]);
    }
    if (n == 0)
        (void)fputs("otherwise", out);
}

static void
print_moves(FILE *out)
{
    size_t i;

    (void)fputs(".SS States\n", out);
    for (i = 0; i < sizeof(moves) / sizeof(moves[0]); i++)
        (void)fprintf(out, ".TP\n.B %s + %s \\(-> %s\n%s.\n",
                      state_names[moves[i].from],
                      input_names[moves[i].input], state_names[moves[i].to],
                      moves[i].meaning);
    (void)fputs(".PP\nAny other input in a state is refused.\n", out);
}

static void
print_reasons(FILE *out)
{
    size_t i;

    (void)fputs(".SS When a mechListMIC is required\n", out);
    for (i = 0; i < SPNEGO_MR_COUNT; i++)
        (void)fprintf(out, ".IP \\(bu 2\n%s (%s).\n", reasons[i].text,
                      reasons[i].source);
}

static void
print_fallbacks(FILE *out)
{
    static const char *const flag[] = { "no", "yes" };
    size_t i;

    (void)fputs(".SS A refused optimistic token\n", out);
    for (i = 0; i < sizeof(fallbacks) / sizeof(fallbacks[0]); i++) {
        const struct fallback_row *r = &fallbacks[i];

        (void)fprintf(out, ".TP\n.B keytab_fallback %s, configuration "
                      "error %s, another mechanism %s\n%s: %s.\n",
                      r->keytab_fallback < 0 ? "any"
                                             : flag[r->keytab_fallback],
                      r->configuration < 0 ? "any" : flag[r->configuration],
                      r->another < 0 ? "any" : flag[r->another],
                      r->action == SPNEGO_FB_NEXT ? "fall back" : "fail",
                      r->why);
    }
}

static void
print_rules(FILE *out)
{
    size_t i;

    (void)fputs(".SS Before the initiator sends a mechanism token\n"
                "When the selected mechanism is not the initiator's first "
                "choice, its context (as the mechanism reports it so far) "
                "has no integrity protection, and no outer channel "
                "protects the exchange, the initiator refuses to go on: ",
                out);
    (void)fprintf(out, "%s (RFC 4178 5; POLICY.md I3).\n", CANNOT_PROTECT);
    (void)fputs(".SS When the mechanism is complete\n"
                "The first row that holds decides.\n", out);
    for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const struct spnego_policy_rule *r = &rules[i];

        (void)fprintf(out, ".TP\n.B %zu. %s:\n", i + 1,
                      r->role == SPNEGO_INITIATOR ? "initiator"
                                                  : "acceptor");
        print_facts(out, r->when, r->unless);
        (void)fprintf(out, ": %s%s%s (%s).\n", action_words[r->action],
                      r->failure != NULL ? ": " : "",
                      r->failure != NULL ? r->failure : "", r->source);
    }
}

void
spnego_policy_print_man(FILE *out)
{
    (void)fputs(".SH NEGOTIATION RULES\n"
                "Printed from the engine's tables (common/policy.c); both "
                "roles use them.\n", out);
    print_moves(out);
    print_reasons(out);
    print_fallbacks(out);
    print_rules(out);
}
