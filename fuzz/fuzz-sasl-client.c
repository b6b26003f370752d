/* fuzz-sasl-client.c - libFuzzer target for the initiator through the
 * public libsasl2 API: per input, a fresh client connection,
 * sasl_client_start (which makes the real first token with alice's
 * ticket or NTLM credentials of the test realm), then the input's
 * messages (fuzz-sasl.h) fed as server replies with sasl_client_step
 * until an error or the end, then sasl_dispose.  If the client ever
 * completes, the messages left over go through sasl_decode.
 *
 * Checks, besides what ASan and UBSan catch: every token handed out is
 * readable for its length; a failure comes with a message that names
 * GSS-SPNEGO and gives a reason.
 *
 * Needs the test realm: tests/fixture/with-krb5 fuzz/fuzz-sasl-client ...
 * The seed corpus holds real server replies (gen-sasl-seeds.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-sasl.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char prog[] = "fuzz-sasl-client";
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
step(sasl_conn_t *conn, const uint8_t *msg, size_t len)
{
    char *copy = fuzz_own_copy(msg, len);
    const char *out = NULL;
    unsigned outlen = 0;
    int r;

    r = sasl_client_step(conn, copy, (unsigned)len, NULL, &out, &outlen);
    free(copy);
    if (outlen > 0) {
        if (out == NULL)
            abort();
        sink += fuzz_touch(out, outlen);
    }
    return r;
}

/* The gss-ntlmssp 1.2.0 crash this target found (a CHALLENGE with an
 * empty TargetName, gssapi/gss-ntlmssp#90) is kept from the library by
 * the plugin (common/mechs.c); the input stays in
 * fuzz/findings/sasl-client/ and replays in make check. */

/* After a (forged) success: the rest of the input as layer packets. */
static void
decode_rest(sasl_conn_t *conn, const struct fuzz_input *in, size_t i)
{
    size_t total_in = 0, total_out = 0;

    for (; i < in->n; i++) {
        char *copy = fuzz_own_copy(in->msg[i], in->len[i]);
        const char *out = NULL;
        unsigned outlen = 0;
        int r;

        r = sasl_decode(conn, copy, (unsigned)in->len[i], &out, &outlen);
        free(copy);
        if (r != SASL_OK)
            break;
        total_in += in->len[i];
        total_out += outlen;
        if (total_out > total_in)
            abort(); /* more plaintext than bytes received */
        if (outlen > 0)
            sink += fuzz_touch(out, outlen);
    }
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
    struct fuzz_conn c;
    const char *out = NULL, *mech = NULL;
    unsigned outlen = 0;
    size_t i = 0;
    int r;

    fuzz_sasl_setup(prog, !under_libfuzzer);
    fuzz_split(data, size, &in);
    fuzz_config_from_byte(in.config, &cfg);
    r = fuzz_conn_new(&c, 0, &cfg);
    if (r != SASL_OK) {
        fprintf(stderr, "%s: sasl_client_new: %s\n", prog,
                sasl_errstring(r, NULL, NULL));
        abort();
    }
    r = sasl_client_start(c.conn, "GSS-SPNEGO", NULL, &out, &outlen, &mech);
    if (outlen > 0)
        sink += fuzz_touch(out, outlen);
    if (r != SASL_CONTINUE && fuzz_verbose())
        fprintf(stderr, "%s: config 0x%02x: sasl_client_start: %s (%s)\n",
                prog, in.config, sasl_errstring(r, NULL, NULL),
                sasl_errdetail(c.conn));
    if (r != SASL_CONTINUE)
        goto cleanup; /* e.g. a token over spnego_max_token */
    for (i = 0; i < in.n && r == SASL_CONTINUE; i++)
        r = step(c.conn, in.msg[i], in.len[i]);
    if (fuzz_verbose())
        fprintf(stderr, "%s: config 0x%02x, %zu of %zu replies: %s (%s)\n",
                prog, in.config, i, in.n, sasl_errstring(r, NULL, NULL),
                sasl_errdetail(c.conn));
    if (r == SASL_OK) {
        /* Only a real server's replies should get here: say so once. */
        static int said;

        if (!said++ || fuzz_verbose())
            fprintf(stderr, "%s: config 0x%02x: the client completed "
                    "after %zu of %zu replies\n", prog, in.config, i, in.n);
        decode_rest(c.conn, &in, i);
    } else if (r != SASL_CONTINUE) {
        /* No further step: libsasl2 2.1.28 has disposed of the
         * mechanism context and would pass NULL to the plugin. */
        check_detail(c.conn);
    }
cleanup:
    fuzz_conn_free(&c);
    return 0;
}
