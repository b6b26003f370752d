/*
 * fuzz-layer.c - libFuzzer target for the security layer (common/layer.h)
 * over real established contexts: Kerberos (MIT: the layer's
 * gss_wrap_iov/gss_unwrap_iov path) and NTLM (gss-ntlmssp, which has no
 * IOV: the layer's fallback to gss_wrap/gss_unwrap).
 *
 * The contexts come from $FUZZ_LAYER_CTX/MECH-{initiator,acceptor}.ctx,
 * exported by gen-layer-seeds.c together with the seed corpus it encodes
 * with them (both made at test time, in the realm of the run: a Kerberos
 * context expires with its ticket, so none is committed).  They are
 * imported afresh for every input, so every input starts from the same
 * keys, sequence numbers and cipher state, and the valid packets of the
 * seeds verify.  Without FUZZ_LAYER_CTX a live pair is made once in the
 * test realm (tests/fixture/with-krb5) instead; then packets encoded for
 * another pair fail their integrity check like random ones.
 *
 * Replayed by fuzz/replay.c, a seed whose name ends in ".delivers-N",
 * ".waits" or ".fails" (gen-layer-seeds.c) must have that outcome: so a
 * replay with contexts that do not match the seeds fails instead of
 * passing on refusals.
 *
 * The first input byte chooses:
 *   bits 0-2  how the stream is cut into decode calls: whole, 1, 3, 4, 7,
 *             64 or 1000 bytes at a time, or pseudo-random sizes 1..257
 *   bit 3     an integrity-only layer (else confidentiality)
 *   bit 4     small limits: packets of at most 4096 bytes both ways (else
 *             the plugin's: 65536 out, 0xffffff bytes of data in)
 *   bit 5     round trip (below)
 *   bit 6     NTLM contexts (else Kerberos)
 *   bit 7     the initiator decodes (what the acceptor sends), else the
 *             acceptor decodes
 * Without bit 5 the rest is the received stream.  With it, the second
 * byte chooses a bit of the encoded stream to flip (0: none) and the rest
 * is plaintext, encoded by the peer's layer and decoded again.
 *
 * Kerberos, with imported contexts (FUZZ_LAYER_CTX), is differential:
 * every input runs twice, on the layer's fast path (RFC 4121 tokens made
 * and checked on libcrypto, common/cfx.c) and on MIT's gss_wrap and
 * gss_unwrap, each from its own import of the same context, and both
 * must agree: the same status and the same plaintext delivered.  In a
 * round trip, the fast encoder's packets go to MIT's decoder and MIT's
 * encoder's packets to the fast decoder, with the same bit flipped.
 * (A live pair cannot be imported twice: there, Kerberos runs on MIT's
 * path only.)
 *
 * Checks: the plaintext delivered never exceeds the bytes received;
 * every output is readable for its length; a failure sets the reason and
 * every later decode fails with no output; an empty decode delivers
 * nothing; cleanup is safe twice.  Round trip: packets of 4 + length at
 * most the send limit, as few as maxoutbuf allows, decoding to exactly
 * the plaintext; after a flipped bit, what is delivered is a prefix of
 * the plaintext.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "gss-pair.h"
#include "layer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* The sanitizer runtime's hook: its name is reserved by that runtime. */
const char *__asan_default_options(void); /* NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */

/*
 * gss-ntlmssp 1.2.0's gss_unwrap mallocs (length - 16) bytes for a token
 * shorter than its 16-byte signature, i.e. nearly SIZE_MAX; glibc returns
 * NULL and gss-ntlmssp then fails with GSS_S_FAILURE, but ASan would
 * abort.  Let malloc fail as glibc does (this hook, read by ASan at start,
 * is the sanitizer's name, hence the reserved identifier; ASAN_OPTIONS
 * still overrides it).
 */
const char *
__asan_default_options(void) /* NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
{
    return "allocator_may_return_null=1";
}

/* Set by fuzz/replay.c to the file being replayed; absent (NULL address)
 * under libFuzzer. */
extern const char *fuzz_replay_input __attribute__((weak));

/* The file being replayed, or NULL (under libFuzzer). */
static const char *
replay_input(void)
{
    return &fuzz_replay_input != NULL ? fuzz_replay_input : NULL;
}

static const char prog[] = "fuzz-layer";
static int under_libfuzzer;
static int verbose;

/* Where the contexts come from, per mechanism and side (0 initiator,
 * 1 acceptor): exported tokens, or one live pair. */
struct source {
    gss_buffer_desc tok[2];
    int use_tokens;
    gss_ctx_id_t live[2];
};
static struct source sources[2];

#define MODE_CHUNKS 0x07u
#define MODE_INTEG 0x08u
#define MODE_SMALL 0x10u
#define MODE_ROUND_TRIP 0x20u
#define MODE_NTLMSSP 0x40u
#define MODE_INITIATOR_DECODES 0x80u

/* the plugin's limits (plugins/plugin.h, glue.c) and the small ones */
#define PLUGIN_SEND_MAX 65536u
#define PLUGIN_RECV_MAX 0xffffffu
#define SMALL_MAX 4096u

/* ---- set-up ---- */

static void
ctx_path(char *buf, size_t size, const char *dir, enum fuzz_mech mech,
         const char *side)
{
    (void)snprintf(buf, size, "%s/%s-%s.ctx", dir, fuzz_mech_name(mech),
                   side);
}

static int
load_tokens(enum fuzz_mech mech, struct source *src)
{
    const char *dir = getenv("FUZZ_LAYER_CTX");
    char ipath[PATH_MAX], apath[PATH_MAX];
    gss_ctx_id_t i = GSS_C_NO_CONTEXT, a = GSS_C_NO_CONTEXT;
    int ok;

    if (dir == NULL || dir[0] == '\0')
        return 0;
    ctx_path(ipath, sizeof(ipath), dir, mech, "initiator");
    ctx_path(apath, sizeof(apath), dir, mech, "acceptor");
    if (!fuzz_read_file(ipath, &src->tok[0]) ||
        !fuzz_read_file(apath, &src->tok[1])) {
        fprintf(stderr, "%s: cannot read %s and %s (FUZZ_LAYER_CTX: made "
                "by fuzz/gen-layer-seeds)\n", prog, ipath, apath);
        return 0;
    }
    ok = fuzz_gss_import(&src->tok[0], &i) &&
         fuzz_gss_import(&src->tok[1], &a);
    fuzz_gss_delete(&i);
    fuzz_gss_delete(&a);
    if (!ok)
        fprintf(stderr, "%s: gss_import_sec_context refused %s or %s "
                "(made by another version of the mechanism?)\n", prog, ipath,
                apath);
    return ok;
}

static void
setup_mech(enum fuzz_mech mech, int tap_skip)
{
    struct source *src = &sources[mech];
    char err[1024];

    if (load_tokens(mech, src)) {
        src->use_tokens = 1;
        return;
    }
    if (getenv("KRB5_KTNAME") == NULL) {
        if (tap_skip) {
            printf("1..0 # SKIP %s: no importable %s contexts "
                   "(FUZZ_LAYER_CTX) and not inside "
                   "tests/fixture/with-krb5\n", prog, fuzz_mech_name(mech));
            exit(0);
        }
        fprintf(stderr, "%s: and KRB5_KTNAME is not set, so no live pair "
                "either: run it as\n  tests/fixture/with-krb5 fuzz/%s "
                "[libFuzzer options] [CORPUS_DIR...]\n", prog, prog);
        exit(1);
    }
    if (!fuzz_gss_pair(mech, &src->live[0], &src->live[1], err,
                       sizeof(err))) {
        fprintf(stderr, "%s: cannot make a live %s context pair: %s\n",
                prog, fuzz_mech_name(mech), err);
        exit(1);
    }
    fprintf(stderr, "%s: using a live %s context pair (no FUZZ_LAYER_CTX): "
            "%s packets encoded for another pair will fail their integrity "
            "check\n", prog, fuzz_mech_name(mech), fuzz_mech_name(mech));
}

static void
setup(int tap_skip)
{
    static int done;

    if (done)
        return;
    done = 1;
    verbose = getenv("FUZZ_VERBOSE") != NULL;
    setup_mech(FUZZ_KRB5, tap_skip);
    setup_mech(FUZZ_NTLMSSP, tap_skip);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    under_libfuzzer = 1;
    setup(0);
    return 0;
}

/* A context of one mechanism and side (0 initiator, 1 acceptor). */
static gss_ctx_id_t
get_ctx(enum fuzz_mech mech, int side)
{
    struct source *src = &sources[mech];
    gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;

    if (!src->use_tokens)
        return src->live[side];
    if (!fuzz_gss_import(&src->tok[side], &ctx)) {
        fprintf(stderr, "%s: gss_import_sec_context failed\n", prog);
        abort();
    }
    return ctx;
}

static void
put_ctx(enum fuzz_mech mech, gss_ctx_id_t *ctx)
{
    if (sources[mech].use_tokens)
        fuzz_gss_delete(ctx);
}

/* ---- decoding a stream in pieces ---- */

struct chunker {
    unsigned mode;
    uint32_t state;
};

static size_t
next_chunk(struct chunker *c, size_t left)
{
    static const size_t fixed[7] = { 0, 1, 3, 4, 7, 64, 1000 };
    size_t n;

    if (c->mode == 0)
        return left;
    if (c->mode < 7) {
        n = fixed[c->mode];
    } else {
        c->state ^= c->state << 13; /* xorshift32 */
        c->state ^= c->state >> 17;
        c->state ^= c->state << 5;
        n = 1 + c->state % 257u;
    }
    return n < left ? n : left;
}

/* The received bytes in a buffer of their own, so that ASan sees a read
 * past them and a use after the call. */
static uint8_t *
own_copy(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n > 0 ? n : 1);

    if (c == NULL)
        abort();
    if (n > 0)
        memcpy(c, p, n);
    return c;
}

static void
fail_check(const char *what)
{
    const char *input = replay_input();

    fprintf(stderr, "%s: invariant broken: %s%s%s\n", prog, what,
            input != NULL ? ": " : "", input != NULL ? input : "");
    abort();
}

struct fed {
    uint8_t *out;          /* all plaintext delivered (malloc) */
    size_t out_len;
    enum layer_status st;  /* the first failure, or LAYER_OK */
};

/* After a failure: the reason is set, and the stream stays failed. */
static void
check_failed(struct spnego_layer *l, const uint8_t *more, size_t more_len)
{
    const uint8_t *out = (const uint8_t *)"x";
    size_t out_len = 1;
    size_t n = strnlen(l->err, sizeof(l->err));

    if (n == 0 || n == sizeof(l->err))
        fail_check("a failure without a reason");
    if (spnego_layer_decode(l, more, more_len, &out, &out_len) != LAYER_FAIL)
        fail_check("a decode after a failure did not fail");
    if (out != NULL || out_len != 0)
        fail_check("a decode after a failure delivered output");
}

static void
feed(struct spnego_layer *l, const uint8_t *in, size_t len, unsigned chunks,
     uint32_t seed, struct fed *f)
{
    struct chunker ch = { chunks, seed != 0 ? seed : 1u };
    size_t off = 0;

    memset(f, 0, sizeof(*f));
    while (off < len) {
        size_t n = next_chunk(&ch, len - off);
        uint8_t *copy = own_copy(in + off, n);
        const uint8_t *out = NULL;
        size_t out_len = 0;
        enum layer_status st;
        uint8_t *grown;

        st = spnego_layer_decode(l, copy, n, &out, &out_len);
        off += n;
        if (verbose)
            fprintf(stderr, "%s: decode %zu bytes (%zu of %zu): status %d, "
                    "%zu out%s%s\n", prog, n, off, len, (int)st, out_len,
                    st != LAYER_OK ? ": " : "",
                    st != LAYER_OK ? l->err : "");
        if ((unsigned)st > (unsigned)LAYER_FAIL)
            fail_check("a status outside enum layer_status");
        if (st != LAYER_OK) {
            f->st = st;
            check_failed(l, in + off, len - off);
            free(copy);
            return;
        }
        if (out_len > 0 && out == NULL)
            fail_check("output length without output");
        if (f->out_len + out_len > off)
            fail_check("more plaintext delivered than bytes received");
        grown = realloc(f->out, f->out_len + out_len + 1);
        if (grown == NULL)
            abort();
        f->out = grown;
        if (out_len > 0)
            memcpy(f->out + f->out_len, out, out_len);
        f->out_len += out_len;
        free(copy); /* after reading out: it must not point into copy */
    }
    {
        const uint8_t *out = (const uint8_t *)"x";
        size_t out_len = 1;

        if (spnego_layer_decode(l, NULL, 0, &out, &out_len) != LAYER_OK ||
            out_len != 0)
            fail_check("an empty decode did not deliver nothing");
    }
}

/* fast: the fast path, which must then start (Kerberos only). */
static void
layer_up(struct spnego_layer *l, gss_ctx_id_t ctx, unsigned mode, int fast)
{
    size_t send_max = (mode & MODE_SMALL) ? SMALL_MAX : PLUGIN_SEND_MAX;
    size_t recv_max = (mode & MODE_SMALL) ? SMALL_MAX : PLUGIN_RECV_MAX;
    struct spnego_layer_fast f = { fast, 0 };

    if (spnego_layer_init(l, ctx, !(mode & MODE_INTEG), send_max,
                          recv_max, &f) != LAYER_OK) {
        fprintf(stderr, "%s: spnego_layer_init: %s\n", prog, l->err);
        abort();
    }
    if (fast && l->fast == NULL) {
        fprintf(stderr, "%s: the fast path did not start: %s\n", prog,
                l->path);
        abort();
    }
}

/* Whether inputs of this mode also run on the fast path. */
static int
differential(unsigned mode)
{
    return !(mode & MODE_NTLMSSP) && sources[FUZZ_KRB5].use_tokens;
}

/* The fast path and MIT's must have done the same with the same input. */
static void
check_same(const struct fed *mit, const struct fed *fast)
{
    if ((mit->st == LAYER_OK) != (fast->st == LAYER_OK))
        fail_check("the fast layer and MIT's disagree on accepting a stream");
    if (mit->out_len != fast->out_len ||
        (mit->out_len > 0 && memcmp(mit->out, fast->out, mit->out_len) != 0))
        fail_check("the fast layer and MIT's delivered different plaintext");
}

/* ---- the two modes ---- */

/* The MIT krb5 crash this target found (gss_unwrap_iov with a STREAM
 * buffer and an RFC 1964 token ID on an RFC 4121 context) is avoided by
 * the layer, which unwraps with plain gss_unwrap; the input stays in
 * fuzz/findings/layer/ and replays in make check. */

static enum fuzz_mech
mech_of(unsigned mode)
{
    return (mode & MODE_NTLMSSP) ? FUZZ_NTLMSSP : FUZZ_KRB5;
}

/* When replaying a named seed (gen-layer-seeds.c): the outcome its name
 * promises.  Under libFuzzer, or for other files, nothing is checked. */
static void
check_expected(const struct fed *f)
{
    const char *path = replay_input();
    const char *dot = path != NULL ? strrchr(path, '.') : NULL;
    const char *slash = path != NULL ? strrchr(path, '/') : NULL;
    char *end = NULL;
    unsigned long want;

    if (dot == NULL || (slash != NULL && dot < slash))
        return;
    if (strcmp(dot, ".fails") == 0) {
        if (f->st == LAYER_OK)
            fail_check("a seed named .fails was accepted");
    } else if (strcmp(dot, ".waits") == 0) {
        if (f->st != LAYER_OK || f->out_len != 0)
            fail_check("a seed named .waits failed or delivered data");
    } else if (strncmp(dot, ".delivers-", 10) == 0) {
        want = strtoul(dot + 10, &end, 10);
        if (f->st != LAYER_OK || end == NULL || *end != '\0' ||
            f->out_len != want)
            fail_check("a seed named .delivers-N did not deliver N bytes "
                       "(contexts not those it was made with?)");
    }
}

static void
decode_mode(unsigned mode, const uint8_t *in, size_t len)
{
    enum fuzz_mech mech = mech_of(mode);
    gss_ctx_id_t ctx;
    struct spnego_layer l;
    struct fed f;

    ctx = get_ctx(mech, (mode & MODE_INITIATOR_DECODES) ? 0 : 1);
    layer_up(&l, ctx, mode, 0);
    feed(&l, in, len, mode & MODE_CHUNKS, (uint32_t)len * 2654435761u, &f);
    check_expected(&f);
    spnego_layer_cleanup(&l);
    spnego_layer_cleanup(&l);
    put_ctx(mech, &ctx);
    if (differential(mode)) {
        struct fed g;

        ctx = get_ctx(mech, (mode & MODE_INITIATOR_DECODES) ? 0 : 1);
        layer_up(&l, ctx, mode, 1);
        feed(&l, in, len, mode & MODE_CHUNKS, (uint32_t)len * 2654435761u,
             &g);
        check_same(&f, &g);
        free(g.out);
        spnego_layer_cleanup(&l);
        put_ctx(mech, &ctx);
    }
    free(f.out);
}

/* Packets: 0 < length, 4 + length <= limit, exactly covering buf. */
static size_t
count_packets(const uint8_t *buf, size_t len, size_t limit)
{
    size_t off = 0, n = 0;

    while (off < len) {
        size_t plen;

        if (len - off < 4)
            fail_check("an encoded stream ends inside a length");
        plen = (size_t)buf[off] << 24 | (size_t)buf[off + 1] << 16 |
               (size_t)buf[off + 2] << 8 | buf[off + 3];
        if (plen == 0 || 4 + plen > limit || plen > len - off - 4)
            fail_check("an encoded packet of a bad length");
        off += 4 + plen;
        n++;
    }
    return n;
}

/* One round trip: encoded on the fast path or MIT's (enc_fast), decoded
 * on the other one when differential, else on MIT's; *f gets what was
 * delivered. */
static void
round_trip(unsigned mode, unsigned flip, const uint8_t *plain, size_t len,
           int enc_fast, struct fed *f)
{
    enum fuzz_mech mech = mech_of(mode);
    int dec_side = (mode & MODE_INITIATOR_DECODES) ? 0 : 1;
    gss_ctx_id_t enc_ctx = get_ctx(mech, 1 - dec_side);
    gss_ctx_id_t dec_ctx = get_ctx(mech, dec_side);
    struct spnego_layer enc, dec;
    struct iovec iov[3];
    const uint8_t *out = NULL;
    size_t out_len = 0, packets, want;
    uint8_t *wire;

    layer_up(&enc, enc_ctx, mode, enc_fast);
    layer_up(&dec, dec_ctx, mode, differential(mode) && !enc_fast);
    /* three pieces, to go through the gathering of iovecs */
    iov[0].iov_base = (void *)plain;
    iov[0].iov_len = len / 3;
    iov[1].iov_base = (void *)(plain + len / 3);
    iov[1].iov_len = len / 3;
    iov[2].iov_base = (void *)(plain + 2 * (len / 3));
    iov[2].iov_len = len - 2 * (len / 3);
    if (spnego_layer_encode(&enc, iov, 3, &out, &out_len) != LAYER_OK) {
        fprintf(stderr, "%s: spnego_layer_encode: %s\n", prog, enc.err);
        abort();
    }
    packets = count_packets(out, out_len, enc.send_max);
    want = len == 0 ? 0 : (len + enc.maxoutbuf - 1) / enc.maxoutbuf;
    if (packets != want)
        fail_check("more packets than maxoutbuf requires");
    wire = own_copy(out, out_len);
    if (flip != 0 && out_len > 0) {
        size_t bit = (size_t)(flip * 2654435761u) % (out_len * 8);

        wire[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    feed(&dec, wire, out_len, mode & MODE_CHUNKS, (uint32_t)len + 1u, f);
    if (f->out_len > len ||
        (f->out_len > 0 && memcmp(f->out, plain, f->out_len) != 0))
        fail_check("delivered plaintext that was never sent");
    if (flip == 0 && (f->st != LAYER_OK || f->out_len != len))
        fail_check("a round trip did not deliver the plaintext");
    free(wire);
    spnego_layer_cleanup(&enc);
    spnego_layer_cleanup(&dec);
    put_ctx(mech, &enc_ctx);
    put_ctx(mech, &dec_ctx);
}

static void
round_trip_mode(unsigned mode, unsigned flip, const uint8_t *plain,
                size_t len)
{
    struct fed f, g;

    round_trip(mode, flip, plain, len, 0, &f);
    if (differential(mode)) {
        round_trip(mode, flip, plain, len, 1, &g);
        check_same(&f, &g);
        free(g.out);
    }
    free(f.out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned mode;

    setup(!under_libfuzzer);
    if (size == 0)
        return 0;
    mode = data[0];
    if (!(mode & MODE_ROUND_TRIP))
        decode_mode(mode, data + 1, size - 1);
    else if (size >= 2)
        round_trip_mode(mode, data[1], data + 2, size - 2);
    return 0;
}
