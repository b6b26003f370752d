/* fuzz-sasl-server.c - libFuzzer target for the acceptor through the
 * public libsasl2 API: per input, a fresh server connection fed the
 * input's messages (fuzz-sasl.h) with sasl_server_start and
 * sasl_server_step until an error or the end, then sasl_dispose.
 *
 * Checks, besides what ASan and UBSan catch: every token handed out is
 * readable for its length; a failure comes with a message that names
 * GSS-SPNEGO and gives a reason.
 *
 * Needs the test realm: tests/fixture/with-krb5 fuzz/fuzz-sasl-server ... */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-sasl.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char prog[] = "fuzz-sasl-server";
static int under_libfuzzer;
static volatile unsigned sink;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    under_libfuzzer = 1;
    fuzz_sasl_setup(prog, 0);
    return 0;
}

static int
step(sasl_conn_t *conn, int first, const uint8_t *msg, size_t len)
{
    char *copy = fuzz_own_copy(msg, len);
    const char *out = NULL;
    unsigned outlen = 0;
    int r;

    if (first)
        r = sasl_server_start(conn, "GSS-SPNEGO", copy, (unsigned)len, &out,
                              &outlen);
    else
        r = sasl_server_step(conn, copy, (unsigned)len, &out, &outlen);
    free(copy);
    if (outlen > 0) {
        if (out == NULL)
            abort();
        sink += fuzz_touch(out, outlen);
    }
    return r;
}

/* A failure says what failed, in GSS-SPNEGO, and why. */
static void
check_detail(sasl_conn_t *conn)
{
    const char *d = sasl_errdetail(conn);
    const char *p = strstr(d, "GSS-SPNEGO");
    size_t n = strlen(d);

    if (p == NULL || (n >= 2 && strcmp(d + n - 2, ": ") == 0)) {
        fprintf(stderr, "%s: a failure without a reason: \"%s\"\n", prog, d);
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in;
    struct fuzz_config cfg;
    struct fuzz_conn s;
    size_t i;
    int r;

    fuzz_sasl_setup(prog, !under_libfuzzer);
    fuzz_split(data, size, &in);
    fuzz_config_from_byte(in.config, &cfg);
    r = fuzz_conn_new(&s, 1, &cfg);
    if (r != SASL_OK) {
        fprintf(stderr, "%s: sasl_server_new: %s\n", prog,
                sasl_errstring(r, NULL, NULL));
        abort();
    }
    r = SASL_CONTINUE;
    if (in.n == 0) /* no initial response: asks for one */
        r = step(s.conn, 1, NULL, 0);
    for (i = 0; i < in.n && r == SASL_CONTINUE; i++)
        r = step(s.conn, i == 0, in.msg[i], in.len[i]);
    if (fuzz_verbose())
        fprintf(stderr, "%s: config 0x%02x, %zu of %zu messages: %s (%s)\n",
                prog, in.config, i, in.n, sasl_errstring(r, NULL, NULL),
                sasl_errdetail(s.conn));
    if (r != SASL_OK && r != SASL_CONTINUE) {
        /* No further step: libsasl2 2.1.28 has disposed of the
         * mechanism context and would pass NULL to the plugin. */
        check_detail(s.conn);
    }
    fuzz_conn_free(&s);
    return 0;
}
