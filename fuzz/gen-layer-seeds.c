/* gen-layer-seeds.c - make what fuzz-layer needs from real exchanges,
 * Kerberos and NTLM: the exported contexts CTXDIR/MECH-initiator.ctx and
 * CTXDIR/MECH-acceptor.ctx, and seed inputs CORPUSDIR/MECH-NAME[.EXPECT]
 * (format: fuzz-layer.c) whose packets were encoded by the peer's real
 * layer from those same contexts, so that they verify whenever fuzz-layer
 * imports them (FUZZ_LAYER_CTX=CTXDIR).
 *
 *   tests/fixture/with-krb5 fuzz/gen-layer-seeds CTXDIR CORPUSDIR
 *
 * Nothing of this is committed: a Kerberos context carries its ticket's
 * end time, so fuzz/test-replay-layer.sh and tests/check make both afresh
 * in the realm of the run.  EXPECT, read by fuzz-layer when it replays a
 * file: "delivers-N" (no failure, exactly N bytes of plaintext), "waits"
 * (no failure, nothing delivered: the stream ends inside a packet),
 * "fails" (the layer refuses the stream); none for round trips, which
 * check themselves. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "gss-pair.h"
#include "layer.h"

static const char prog[] = "gen-layer-seeds";

static gss_buffer_desc tok[2][2]; /* [mech][0 initiator, 1 acceptor] */
static enum fuzz_mech mech;        /* of the seeds being made */

/* mode bits, as in fuzz-layer.c */
#define WHOLE 0x00u
#define ONE_BYTE 0x01u
#define HEADERS 0x03u
#define SIXTY_FOUR 0x05u
#define RANDOM_CUTS 0x07u
#define INTEG 0x08u
#define SMALL 0x10u
#define ROUND_TRIP 0x20u
#define NTLMSSP 0x40u
#define INITIATOR_DECODES 0x80u

struct stream {
    uint8_t data[16384];
    size_t len;
    size_t plain; /* plaintext bytes encoded into data */
};

/* What the replay must see: the seed name's suffix (see above). */
enum expect { EXPECT_NONE, EXPECT_DELIVERS, EXPECT_WAITS, EXPECT_FAILS };

static void
die(const char *what)
{
    fprintf(stderr, "%s: %s\n", prog, what);
    exit(1);
}

static void
append(struct stream *s, const void *p, size_t n)
{
    if (n > sizeof(s->data) - s->len)
        die("a seed grew too large");
    memcpy(s->data + s->len, p, n);
    s->len += n;
}

/* One packet per plaintext, encoded by `side` (0 initiator, 1 acceptor)
 * from a freshly imported context, appended to s. */
static void
encode(struct stream *s, int side, int conf, int small,
       const char *const *plain, const size_t *len, size_t n)
{
    gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
    struct spnego_layer l;
    size_t i;

    if (!fuzz_gss_import(&tok[mech][side], &ctx))
        die("gss_import_sec_context failed");
    if (spnego_layer_init(&l, ctx, conf, small ? 4096 : 65536,
                          small ? 4096 : 0xffffff, NULL) != LAYER_OK)
        die(l.err);
    for (i = 0; i < n; i++) {
        struct iovec iov = { (void *)plain[i], len[i] };
        const uint8_t *out = NULL;
        size_t out_len = 0;

        if (spnego_layer_encode(&l, &iov, 1, &out, &out_len) != LAYER_OK)
            die(l.err);
        append(s, out, out_len);
        s->plain += len[i];
    }
    spnego_layer_cleanup(&l);
    fuzz_gss_delete(&ctx);
}

static void
encode1(struct stream *s, int side, int conf, int small, const char *text)
{
    size_t len = strlen(text);

    encode(s, side, conf, small, &text, &len, 1);
}

static const char *outdir;

static void
reset(struct stream *s)
{
    s->len = 0;
    s->plain = 0;
}

static void
write_seed(const char *name, unsigned mode, const struct stream *s,
           enum expect expect)
{
    char path[4096], suffix[32];
    uint8_t buf[sizeof(s->data) + 1];

    buf[0] = (uint8_t)(mode | (mech == FUZZ_NTLMSSP ? NTLMSSP : 0));
    memcpy(buf + 1, s->data, s->len);
    switch (expect) {
    case EXPECT_DELIVERS:
        (void)snprintf(suffix, sizeof(suffix), ".delivers-%zu", s->plain);
        break;
    case EXPECT_WAITS:
        (void)snprintf(suffix, sizeof(suffix), ".waits");
        break;
    case EXPECT_FAILS:
        (void)snprintf(suffix, sizeof(suffix), ".fails");
        break;
    default:
        suffix[0] = '\0';
        break;
    }
    (void)snprintf(path, sizeof(path), "%s/%s-%s%s", outdir,
                   fuzz_mech_name(mech), name, suffix);
    if (!fuzz_write_file(path, buf, s->len + 1)) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path,
                strerror(errno));
        exit(1);
    }
    printf("%s: %zu bytes\n", path, s->len + 1);
}

static void
seed_text(const char *name, unsigned mode, int side, int conf,
          const char *text, enum expect expect)
{
    struct stream s = { { 0 }, 0, 0 };

    encode1(&s, side, conf, (mode & SMALL) != 0, text);
    write_seed(name, mode, &s, expect);
}

static void
raw_seed(const char *name, unsigned mode, const void *p, size_t n,
         enum expect expect)
{
    struct stream s = { { 0 }, 0, 0 };

    append(&s, p, n);
    write_seed(name, mode, &s, expect);
}

static void
make_seeds(void)
{
    static const char *const three[3] = { "first message",
                                          "second, a little longer",
                                          "3" };
    static const size_t three_len[3] = { 13, 23, 1 };
    static char big[4500];
    const char *bigp = big;
    size_t i, big_len;
    struct stream s = { { 0 }, 0, 0 }, t = { { 0 }, 0, 0 };
    uint8_t len4[4];
    gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
    gss_buffer_desc msg = { 5, (void *)"hello" }, mic = GSS_C_EMPTY_BUFFER;
    OM_uint32 minor;

    for (i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);

    /* valid packets from the initiator, cut in every way */
    seed_text("conf-one-packet", WHOLE, 0, 1, "hello, world",
              EXPECT_DELIVERS);
    encode(&s, 0, 1, 0, three, three_len, 3);
    write_seed("conf-three-packets", WHOLE, &s, EXPECT_DELIVERS);
    write_seed("conf-three-packets-1-byte-cuts", ONE_BYTE, &s,
               EXPECT_DELIVERS);
    write_seed("conf-three-packets-4-byte-cuts", HEADERS, &s,
               EXPECT_DELIVERS);
    write_seed("conf-three-packets-random-cuts", RANDOM_CUTS, &s,
               EXPECT_DELIVERS);
    reset(&s);
    big_len = 3000;
    encode(&s, 0, 1, 0, &bigp, &big_len, 1);
    write_seed("conf-3000-byte-packet-64-byte-cuts", SIXTY_FOUR, &s,
               EXPECT_DELIVERS);
    big_len = sizeof(big);
    reset(&s);
    encode(&s, 0, 1, 1, &bigp, &big_len, 1);
    write_seed("conf-small-limits-two-packets", SMALL, &s, EXPECT_DELIVERS);

    /* the acceptor's packets, decoded by the initiator */
    seed_text("initiator-decodes-conf-packet", INITIATOR_DECODES, 1, 1,
              "from the server", EXPECT_DELIVERS);
    seed_text("initiator-decodes-integ-packet", INITIATOR_DECODES | INTEG, 1,
              0, "from the server, signed", EXPECT_DELIVERS);

    /* integrity only; a sealed packet is more than an integrity layer
     * asks for and is accepted, a signed one on a sealing layer is not
     * (gss-ntlmssp seals every wrap token, asked or not) */
    seed_text("integ-layer-integ-packet", INTEG, 0, 0, "signed only",
              EXPECT_DELIVERS);
    seed_text("integ-layer-conf-packet", INTEG, 0, 1, "sealed anyway",
              EXPECT_DELIVERS);
    seed_text("conf-layer-integ-packet", WHOLE, 0, 0, "not sealed",
              mech == FUZZ_KRB5 ? EXPECT_FAILS : EXPECT_DELIVERS);

    /* the wrong side's packet: the acceptor reading its own */
    seed_text("acceptor-reads-own-packet", WHOLE, 1, 1, "reflected",
              EXPECT_FAILS);

    /* replayed and reordered packets */
    reset(&s);
    encode1(&s, 0, 1, 0, "once");
    append(&s, s.data, s.len);
    write_seed("replayed-packet", WHOLE, &s, EXPECT_FAILS);
    reset(&s);
    encode(&s, 0, 1, 0, three, three_len, 2);
    reset(&t);
    encode(&t, 0, 1, 0, three, three_len, 1); /* the first packet alone */
    memmove(s.data, s.data + t.len, s.len - t.len);
    memcpy(s.data + s.len - t.len, t.data, t.len);
    write_seed("reordered-packets", WHOLE, &s, EXPECT_FAILS);

    /* broken framing and tokens */
    reset(&s);
    encode1(&s, 0, 1, 0, "tampered");
    s.data[s.len - 3] ^= 0x10;
    write_seed("tampered-packet", WHOLE, &s, EXPECT_FAILS);
    reset(&s);
    encode1(&s, 0, 1, 0, "cut short");
    s.len--;
    write_seed("truncated-packet", WHOLE, &s, EXPECT_WAITS);
    reset(&s);
    encode1(&s, 0, 1, 0, "then garbage");
    append(&s, "\x00\x00\x00\x05garbage", 11);
    write_seed("packet-then-garbage", WHOLE, &s, EXPECT_FAILS);
    raw_seed("zero-length-packet", WHOLE, "\x00\x00\x00\x00", 4,
             EXPECT_FAILS);
    /* over the data limits (4096, 16 MiB - 1) by more than any wrap
     * overhead */
    raw_seed("packet-over-small-limit", SMALL, "\x00\x00\x11\x01zz", 6,
             EXPECT_FAILS);
    raw_seed("packet-over-plugin-limit", WHOLE, "\x01\x10\x00\x00", 4,
             EXPECT_FAILS);

    /* a MIC token where a wrap token belongs */
    if (!fuzz_gss_import(&tok[mech][0], &ctx) ||
        GSS_ERROR(gss_get_mic(&minor, ctx, GSS_C_QOP_DEFAULT, &msg, &mic)))
        die("gss_get_mic failed");
    len4[0] = (uint8_t)(mic.length >> 24);
    len4[1] = (uint8_t)(mic.length >> 16);
    len4[2] = (uint8_t)(mic.length >> 8);
    len4[3] = (uint8_t)mic.length;
    reset(&s);
    append(&s, len4, 4);
    append(&s, mic.value, mic.length);
    write_seed("mic-token-instead-of-wrap", WHOLE, &s, EXPECT_FAILS);
    (void)gss_release_buffer(&minor, &mic);
    fuzz_gss_delete(&ctx);

    /* round trips: a byte choosing a bit to flip (0: none), then the
     * plaintext; fuzz-layer checks them itself, with any pair */
    raw_seed("round-trip-hello", ROUND_TRIP, "\0hello", 6, EXPECT_NONE);
    raw_seed("round-trip-empty", ROUND_TRIP, "\0", 1, EXPECT_NONE);
    raw_seed("round-trip-integ", ROUND_TRIP | INTEG, "\0signed only", 12,
             EXPECT_NONE);
    raw_seed("round-trip-server-to-client", ROUND_TRIP | INITIATOR_DECODES,
             "\0from the server", 16, EXPECT_NONE);
    raw_seed("round-trip-bit-flipped", ROUND_TRIP, "\x2atamper me", 10,
             EXPECT_NONE);
    big[0] = 0;
    raw_seed("round-trip-small-limits-random-cuts",
             ROUND_TRIP | SMALL | RANDOM_CUTS, big, sizeof(big), EXPECT_NONE);
}

/* Make a pair of `m`, export both sides to CTXDIR/MECH-SIDE.ctx and keep
 * the tokens in tok[m]. */
static void
export_pair(enum fuzz_mech m, const char *ctxdir)
{
    gss_ctx_id_t ctx[2];
    char err[1024], path[4096];
    int side;

    if (!fuzz_gss_pair(m, &ctx[0], &ctx[1], err, sizeof(err)))
        die(err);
    for (side = 0; side < 2; side++) {
        if (!fuzz_gss_export(&ctx[side], &tok[m][side]))
            die("gss_export_sec_context failed");
        (void)snprintf(path, sizeof(path), "%s/%s-%s.ctx", ctxdir,
                       fuzz_mech_name(m), side == 0 ? "initiator" : "acceptor");
        if (!fuzz_write_file(path, tok[m][side].value, tok[m][side].length))
            die("cannot write an exported context");
    }
}

int
main(int argc, char **argv)
{
    gss_ctx_id_t ictx, actx;
    char err[1024];
    OM_uint32 minor;
    int m, side;

    if (argc != 3) {
        fprintf(stderr, "usage: tests/fixture/with-krb5 %s CTXDIR "
                "CORPUSDIR\n", prog);
        return 2;
    }
    /* MIT's exported context names the configuration file its krb5
     * context was made with, and the import opens it again: the pair to
     * export is made with KRB5_CONFIG=/dev/null, which exists wherever
     * fuzz-layer runs.  A first pair puts the service ticket in the
     * ccache, so the second needs no configuration. */
    if (!fuzz_gss_pair(FUZZ_KRB5, &ictx, &actx, err, sizeof(err)))
        die(err);
    fuzz_gss_delete(&ictx);
    fuzz_gss_delete(&actx);
    if (setenv("KRB5_CONFIG", "/dev/null", 1) != 0)
        die("setenv failed");
    export_pair(FUZZ_KRB5, argv[1]);
    export_pair(FUZZ_NTLMSSP, argv[1]);
    outdir = argv[2];
    for (m = FUZZ_KRB5; m <= FUZZ_NTLMSSP; m++) {
        mech = (enum fuzz_mech)m;
        make_seeds();
    }
    for (m = FUZZ_KRB5; m <= FUZZ_NTLMSSP; m++) {
        for (side = 0; side < 2; side++)
            (void)gss_release_buffer(&minor, &tok[m][side]);
    }
    return 0;
}
