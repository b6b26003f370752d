/* test-vectors.c - the decoder against the real captured tokens in
 * ../shared/vectors (read from there, never copied into the repository):
 * every row of MANIFEST.tsv decodes as the manifest says and re-encodes
 * byte-exact; every REJECT row of MANIFEST-malformed.tsv is rejected.
 * The directory is $SPNEGO_VECTORS_DIR, else $top_srcdir/../shared/vectors;
 * without it the test is reported as skipped, saying where it looked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hex.h"
#include "negtoken.h"
#include "oids.h"

#define MAX_ROWS 128
#define MAX_COLS 12

struct row {
    char *col[MAX_COLS];
    size_t ncols;
    int malformed;
    char name[160];
};

static char vectors_dir[1024];

static void
split_row(char *line, struct row *r)
{
    char *p = line;

    r->ncols = 0;
    while (r->ncols < MAX_COLS) {
        char *tab = strchr(p, '\t');

        r->col[r->ncols++] = p;
        if (tab == NULL)
            break;
        *tab = '\0';
        p = tab + 1;
    }
}

static uint8_t *
load_vector(const char *file, size_t *len_out)
{
    char path[1400];
    char *text;
    uint8_t *buf;

    (void)snprintf(path, sizeof(path), "%s/%s", vectors_dir, file);
    text = read_text_file(path);
    if (text == NULL)
        fail_msg("cannot read %s", path);
    buf = hex_decode(text, len_out);
    free(text);
    if (buf == NULL)
        fail_msg("%s is not hex", path);
    return buf;
}

/* "a,b,c" against the decoded mechTypes, dotted. */
static void
check_mechs(const struct negtoken *tok, const char *want, const char *file)
{
    char got[2048] = "", dotted[128];
    size_t i, used = 0;

    for (i = 0; i < tok->n_mechs; i++) {
        assert_true(der_oid_to_dotted(tok->mechs[i].data, tok->mechs[i].len,
                                      dotted, sizeof(dotted)));
        used += (size_t)snprintf(got + used, sizeof(got) - used, "%s%s",
                                 i ? "," : "", dotted);
    }
    if (strcmp(want, "-") == 0 && tok->n_mechs == 0)
        return;
    if (strcmp(got, want) != 0)
        fail_msg("%s: mechTypes %s, manifest says %s", file, got, want);
}

static const char *
kind_of(const struct negtoken *tok)
{
    return negtoken_type_name(tok->type);
}

static void
real_vector(void **state)
{
    struct row *r = *state;
    struct negtoken_opts opts = { 0, 0, NEGTOKEN_ALLOW_UNFRAMED_INIT |
                                            NEGTOKEN_ALLOW_RAW_NTLMSSP };
    struct negtoken tok;
    der_err err;
    size_t len, out_len = 0;
    uint8_t *buf, *out = NULL;
    enum negtoken_status st;
    const char *file = r->col[0], *kind = r->col[2];
    char sm[128];

    assert_true(r->ncols >= 9);
    buf = load_vector(file, &len);
    st = negtoken_decode(buf, len, &opts, &tok, &err);
    if (strcmp(kind, "other") == 0) {
        assert_int_equal(st, NEGTOKEN_NOT_SPNEGO);
        free(buf);
        return;
    }
    if (st != NEGTOKEN_OK)
        fail_msg("%s: rejected at %zu: %s", file, err.offset, err.text);
    if (strcmp(kind, "raw-ntlmssp") == 0) {
        assert_int_equal(tok.type, NEGTOKEN_NTLMSSP);
        free(buf);
        return;
    }
    if (strcmp(kind_of(&tok), kind) != 0)
        fail_msg("%s: type %s, manifest says %s", file, kind_of(&tok), kind);
    assert_int_equal(tok.framed, strcmp(r->col[3], "yes") == 0);
    check_mechs(&tok, r->col[4], file);
    if (strcmp(r->col[5], "-") != 0)
        assert_string_equal(negtoken_state_name(tok.neg_state), r->col[5]);
    if (strcmp(r->col[6], "-") == 0) {
        assert_false(tok.has_supported_mech);
    } else {
        assert_true(der_oid_to_dotted(tok.supported_mech.data,
                                      tok.supported_mech.len, sm,
                                      sizeof(sm)));
        assert_string_equal(sm, r->col[6]);
    }
    assert_int_equal(tok.has_mech_token || tok.has_response_token,
                     strcmp(r->col[7], "yes") == 0);
    assert_int_equal(tok.has_mic, strcmp(r->col[8], "yes") == 0);
    if (tok.n_unknown == 0) {
        assert_int_equal(negtoken_encode(&tok, &out, &out_len), NEGTOKEN_OK);
        assert_int_equal(out_len, len);
        assert_memory_equal(out, buf, len);
    }
    free(out);
    free(buf);
}

static void
malformed_vector(void **state)
{
    struct row *r = *state;
    struct negtoken_opts opts = { 0, 0, NEGTOKEN_ALLOW_UNFRAMED_INIT |
                                            NEGTOKEN_ALLOW_RAW_NTLMSSP };
    struct negtoken tok;
    der_err err;
    size_t len;
    uint8_t *buf;
    enum negtoken_status st;
    const char *verdict = r->col[r->ncols - 1];

    buf = load_vector(r->col[0], &len);
    st = negtoken_decode(buf, len, &opts, &tok, &err);
    free(buf);
    if (strncmp(verdict, "REJECT", 6) == 0) {
        if (st == NEGTOKEN_OK)
            fail_msg("%s decoded, but must be rejected (%s)", r->col[0],
                     verdict);
        print_message("%s: %s (offset %zu)\n", r->col[0], err.text,
                      err.offset);
    } else {
        assert_int_equal(st, NEGTOKEN_OK);
    }
}

static size_t
load_manifest(const char *name, int malformed, struct row *rows,
              size_t nrows, char **text_out)
{
    char path[1400], *line, *save = NULL;
    int header = 1;

    (void)snprintf(path, sizeof(path), "%s/%s", vectors_dir, name);
    *text_out = read_text_file(path);
    if (*text_out == NULL)
        return nrows;
    for (line = strtok_r(*text_out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (header) {
            header = 0;
            continue;
        }
        if (nrows == MAX_ROWS)
            break;
        split_row(line, &rows[nrows]);
        rows[nrows].malformed = malformed;
        (void)snprintf(rows[nrows].name, sizeof(rows[nrows].name), "%s: %s",
                       malformed ? "malformed" : "real", rows[nrows].col[0]);
        nrows++;
    }
    return nrows;
}

int
main(void)
{
    static struct row rows[MAX_ROWS];
    static struct CMUnitTest tests[MAX_ROWS];
    char *real_text = NULL, *bad_text = NULL;
    const char *env = getenv("SPNEGO_VECTORS_DIR");
    const char *top = getenv("top_srcdir");
    size_t n, i;
    int rc;

    if (env != NULL)
        (void)snprintf(vectors_dir, sizeof(vectors_dir), "%s", env);
    else
        (void)snprintf(vectors_dir, sizeof(vectors_dir),
                       "%s/../shared/vectors", top != NULL ? top : ".");
    n = load_manifest("MANIFEST.tsv", 0, rows, 0, &real_text);
    n = load_manifest("MANIFEST-malformed.tsv", 1, rows, n, &bad_text);
    if (n == 0) {
        /* TAP: a plan of 0 with SKIP marks the whole program skipped. */
        printf("1..0 # SKIP no vectors at %s (set SPNEGO_VECTORS_DIR)\n",
               vectors_dir);
        return 0;
    }
    for (i = 0; i < n; i++) {
        struct CMUnitTest t = cmocka_unit_test_prestate(
            rows[i].malformed ? malformed_vector : real_vector, &rows[i]);

        t.name = rows[i].name;
        tests[i] = t;
    }
    rc = _cmocka_run_group_tests("vectors", tests, n, NULL, NULL);
    free(real_text);
    free(bad_text);
    return rc;
}
