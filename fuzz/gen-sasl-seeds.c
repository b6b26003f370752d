/* gen-sasl-seeds.c - make the seed corpora of fuzz-sasl-server and
 * fuzz-sasl-client from real exchanges: for each configuration below, a
 * client and a server connection in this process (the plugin loaded as
 * by the targets) run a whole exchange; the client's messages become
 * OUTDIR/sasl-server/NAME and the server's replies OUTDIR/sasl-client/NAME,
 * each with the configuration byte in front (format: fuzz-sasl.h).
 *
 *   tests/fixture/with-krb5 fuzz/gen-sasl-seeds fuzz/corpus
 *
 * The Kerberos tokens are bound to the keys of the realm they were made
 * in, which with-krb5 makes anew each run: replayed later they exercise
 * the parsers and fail at the mechanism, as random tokens would not. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz-sasl.h"

static const char prog[] = "gen-sasl-seeds";

struct seed_case {
    const char *name;
    uint8_t config; /* see fuzz-sasl.h */
};

/* bit 0 success data; bits 1-2 mechs (1 krb5, 2 ntlmssp, 3 counter-
 * proposal); bit 3 MIC always; bits 4-5 max_ssf (0, 1, 256); bit 6
 * channel bindings; bit 7 spnego_max_token 1000 */
static const struct seed_case cases[] = {
    { "default-ssf256-sd", 0x21 },
    { "default-ssf256", 0x20 },
    { "krb5-ssf256-sd", 0x23 },
    { "krb5-ssf256", 0x22 },
    { "krb5-ssf1-sd", 0x13 },
    { "krb5-ssf0", 0x02 },
    { "krb5-mic-always-sd", 0x2b },
    { "krb5-cb-sd", 0x63 },
    { "ntlm-ssf256-sd", 0x25 },
    { "ntlm-ssf256", 0x24 },
    { "ntlm-ssf0-sd", 0x05 },
    { "ntlm-mic-always", 0x2c },
    { "ntlm-cb-sd", 0x65 },
    { "ntlm-max-token-1000-sd", 0xa5 },
    { "counter-proposal-sd", 0x27 },
    { "counter-proposal", 0x26 },
    { "counter-proposal-mic-always-sd", 0x2f },
};

struct transcript {
    uint8_t *msg[FUZZ_MAX_MSGS];
    size_t len[FUZZ_MAX_MSGS];
    size_t n;
};

static int
record(struct transcript *t, const char *data, unsigned len)
{
    if (t->n == FUZZ_MAX_MSGS)
        return 0;
    t->msg[t->n] = malloc(len > 0 ? len : 1);
    if (t->msg[t->n] == NULL)
        return 0;
    if (len > 0)
        memcpy(t->msg[t->n], data, len);
    t->len[t->n] = len;
    t->n++;
    return 1;
}

static void
transcript_free(struct transcript *t)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        free(t->msg[i]);
    t->n = 0;
}

/* One exchange; fills the client's messages and the server's replies.
 * Returns 1 if both sides completed. */
static int
run_case(const struct seed_case *sc, struct transcript *cmsgs,
         struct transcript *sreplies)
{
    struct fuzz_config cfg;
    struct fuzz_conn c, s;
    const char *out = NULL, *sout = NULL, *mech = NULL;
    unsigned outlen = 0, soutlen;
    int crc, src = SASL_FAIL, first = 1, ok = 0;

    fuzz_config_from_byte(sc->config, &cfg);
    if (fuzz_conn_new(&c, 0, &cfg) != SASL_OK ||
        fuzz_conn_new(&s, 1, &cfg) != SASL_OK) {
        fprintf(stderr, "%s: %s: cannot make the connections\n", prog,
                sc->name);
        exit(1);
    }
    crc = sasl_client_start(c.conn, "GSS-SPNEGO", NULL, &out, &outlen,
                            &mech);
    while (crc == SASL_CONTINUE || crc == SASL_OK) {
        if (!record(cmsgs, out, outlen))
            break;
        /* libsasl2 leaves them alone once the last token went out */
        sout = NULL;
        soutlen = 0;
        src = first ? sasl_server_start(s.conn, "GSS-SPNEGO", out, outlen,
                                        &sout, &soutlen)
                    : sasl_server_step(s.conn, out, outlen, &sout, &soutlen);
        first = 0;
        if (src != SASL_OK && src != SASL_CONTINUE)
            break;
        if (src == SASL_OK && (crc == SASL_OK || soutlen == 0)) {
            ok = crc == SASL_OK;
            break;
        }
        if (!record(sreplies, sout, soutlen))
            break;
        crc = sasl_client_step(c.conn, sout, soutlen, NULL, &out, &outlen);
        if (src == SASL_OK) {
            ok = crc == SASL_OK;
            break;
        }
    }
    if (!ok)
        fprintf(stderr, "%s: %s: the exchange failed: client %s (%s), "
                "server %s (%s)\n", prog, sc->name,
                sasl_errstring(crc, NULL, NULL), sasl_errdetail(c.conn),
                sasl_errstring(src, NULL, NULL), sasl_errdetail(s.conn));
    fuzz_conn_free(&c);
    fuzz_conn_free(&s);
    return ok;
}

static int
write_seed(const char *dir, const char *sub, const struct seed_case *sc,
           const struct transcript *t)
{
    char path[4096];

    (void)snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, sc->name);
    if (!fuzz_write_input(path, sc->config, (const uint8_t *const *)t->msg,
                          t->len, t->n)) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path,
                strerror(errno));
        return 0;
    }
    printf("%s: %zu messages\n", path, t->n);
    return 1;
}

static void
make_dir(const char *dir, const char *sub)
{
    char path[4096];

    (void)snprintf(path, sizeof(path), "%s/%s", dir, sub);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: cannot make %s: %s\n", prog, path,
                strerror(errno));
        exit(1);
    }
}

int
main(int argc, char **argv)
{
    size_t i;
    int ok = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: tests/fixture/with-krb5 %s OUTDIR\n", prog);
        return 2;
    }
    fuzz_sasl_setup(prog, 0);
    make_dir(argv[1], "sasl-server");
    make_dir(argv[1], "sasl-client");
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct transcript cmsgs, sreplies;

        memset(&cmsgs, 0, sizeof(cmsgs));
        memset(&sreplies, 0, sizeof(sreplies));
        if (!run_case(&cases[i], &cmsgs, &sreplies) ||
            !write_seed(argv[1], "sasl-server", &cases[i], &cmsgs) ||
            !write_seed(argv[1], "sasl-client", &cases[i], &sreplies))
            ok = 0;
        transcript_free(&cmsgs);
        transcript_free(&sreplies);
    }
    return ok ? 0 : 1;
}
