/* test-policy.c - the negotiation tables of common/policy.c.
 *
 *   - gss_spnego(7) holds, as its NEGOTIATION RULES section, exactly what
 *     spnego_policy_print_man prints (regenerate the page with
 *     "make update-man-policy" after changing a table);
 *   - no row of the conclusion table is shadowed by the rows above it
 *     (every row decides for some combination of facts), and every
 *     combination gets a decision;
 *   - only the opt-in, a configuration error and another mechanism
 *     together make a refused optimistic token fall back;
 *   - the state table: nothing leaves FAILED or DONE, every state can
 *     fail.
 *
 * "test-policy --print" prints the section (for make update-man-policy).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"

#define ALL_FACTS ((unsigned)SPNEGO_F_MUTUAL << 1) /* the last fact, doubled */

static char *
read_all(FILE *f, size_t *len)
{
    char *buf = NULL;
    size_t cap = 0, n = 0, got;

    for (;;) {
        if (n + 4096 > cap) {
            char *more = realloc(buf, cap + 65536);

            assert_non_null(more);
            buf = more;
            cap += 65536;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The man page's NEGOTIATION RULES section, up to the next .SH. */
static char *
man_section(void)
{
    const char *top = getenv("top_srcdir");
    char path[512], *text, *start, *end, *out;
    size_t len;
    FILE *f;

    (void)snprintf(path, sizeof(path), "%s/plugins/gss_spnego.7",
                   top != NULL ? top : ".");
    f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot read %s", path);
    text = read_all(f, &len);
    (void)fclose(f);
    start = strstr(text, ".SH NEGOTIATION RULES\n");
    if (start == NULL) {
        free(text);
        fail_msg("%s has no NEGOTIATION RULES section", path);
        return NULL;
    }
    end = strstr(start + 1, "\n.SH ");
    end = end != NULL ? end + 1 : text + len;
    out = strndup(start, (size_t)(end - start));
    free(text);
    return out;
}

static void
man_page_matches_the_tables(void **st)
{
    char *printed = NULL, *page;
    size_t len = 0;
    FILE *f = open_memstream(&printed, &len);

    (void)st;
    assert_non_null(f);
    spnego_policy_print_man(f);
    (void)fclose(f);
    page = man_section();
    if (strcmp(page, printed) != 0)
        fail_msg("plugins/gss_spnego.7's NEGOTIATION RULES differ from "
                 "common/policy.c's tables; run: make update-man-policy");
    free(page);
    free(printed);
}

/* Every row decides for at least one combination of facts, and every
 * combination gets a row of its role. */
static void
no_row_is_shadowed(void **st)
{
    static const enum spnego_role roles[] = { SPNEGO_INITIATOR,
                                              SPNEGO_ACCEPTOR };
    size_t n = spnego_policy_rule_count(), i, r;
    int used[64] = { 0 };
    unsigned facts;

    (void)st;
    assert_true(n <= 64);
    for (r = 0; r < 2; r++) {
        for (facts = 0; facts < ALL_FACTS; facts++) {
            const struct spnego_policy_rule *rule =
                spnego_policy_conclude(roles[r], facts);

            assert_int_equal(rule->role, roles[r]);
            assert_true(rule->action != SPNEGO_C_FAIL ||
                        rule->failure != NULL);
            for (i = 0; i < n; i++) {
                if (spnego_policy_rule_at(i) == rule)
                    used[i] = 1;
            }
        }
    }
    for (i = 0; i < n; i++) {
        if (!used[i])
            fail_msg("conclusion row %zu never decides: the rows above it "
                     "cover every case it names", i + 1);
    }
}

static void
fallback_needs_all_three(void **st)
{
    int a, b, c;

    (void)st;
    for (a = 0; a < 2; a++)
        for (b = 0; b < 2; b++)
            for (c = 0; c < 2; c++)
                assert_int_equal(spnego_policy_fallback(a, b, c),
                                 a && b && c ? SPNEGO_FB_NEXT
                                             : SPNEGO_FB_FAIL);
}

static void
states_never_leave_failed_or_done(void **st)
{
    int in;

    (void)st;
    for (in = 0; in < SPNEGO_PI_COUNT; in++) {
        enum spnego_pstate to = spnego_policy_move(SPNEGO_PS_FAILED,
                                                   (enum spnego_pinput)in);

        assert_true(to == SPNEGO_PS_FAILED || to == SPNEGO_PS_COUNT);
        assert_int_equal(spnego_policy_move(SPNEGO_PS_DONE,
                                            (enum spnego_pinput)in),
                         SPNEGO_PS_COUNT);
    }
    assert_int_equal(spnego_policy_move(SPNEGO_PS_START,
                                        SPNEGO_PI_FAILURE),
                     SPNEGO_PS_FAILED);
    assert_int_equal(spnego_policy_move(SPNEGO_PS_EXCHANGE,
                                        SPNEGO_PI_FAILURE),
                     SPNEGO_PS_FAILED);
    /* nothing completes before the exchange started */
    assert_int_equal(spnego_policy_move(SPNEGO_PS_START,
                                        SPNEGO_PI_COMPLETE),
                     SPNEGO_PS_COUNT);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(man_page_matches_the_tables),
        cmocka_unit_test(no_row_is_shadowed),
        cmocka_unit_test(fallback_needs_all_three),
        cmocka_unit_test(states_never_leave_failed_or_done),
    };

    if (argc == 2 && strcmp(argv[1], "--print") == 0) {
        spnego_policy_print_man(stdout);
        return 0;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
