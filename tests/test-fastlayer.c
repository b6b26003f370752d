/*
 * test-fastlayer.c - the fast security layer (issue 15): RFC 4121 Wrap
 * tokens made and checked on libcrypto (common/cfx.c) are the tokens of
 * MIT's gss_wrap and gss_unwrap.
 *
 * Real Kerberos contexts of the test realm, one service per enctype
 * (made here with kadmin.local: fast-ENCTYPE/HOST with only that key, in
 * the realm's keytab), the initiator limited to that enctype with
 * gss_krb5_set_allowable_enctypes so that the ticket's session key and
 * both subkeys have it.  Each side's context is exported once and
 * imported afresh wherever a test needs a side in the same state twice:
 * one copy runs the fast layer, the other MIT's (the layer with the fast
 * path off), and they must agree.
 *
 * For aes128/aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha256-128 and
 * aes256-cts-hmac-sha384-192, sealed and integrity only, both directions:
 * ours -> MIT and MIT -> ours at sizes 0..maxoutbuf; a bit flipped in the
 * header or the body, a truncated token, a reflected token (direction
 * flag), a replay and a reorder are refused by both; a token rotated by
 * any RRC is accepted by both, and so is a sealed token with filler (EC);
 * a clear EC raised on a valid token is refused.  Camellia stays on
 * GSS-API.  Through libsasl2: the mechListMIC's sequence number (SPNEGO
 * with spnego_send_mic always on both sides), spnego_fast_layer no, and
 * the log line that names the path.  cfx_free wipes the keys.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>

#include "cfx.h"
#include "layer.h"
#include "sasl-harness.h"

#define PAIR_FLAGS                                                          \
    (GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG |               \
     GSS_C_SEQUENCE_FLAG | GSS_C_REPLAY_FLAG)

#define SEND_MAX 65536u
#define RECV_MAX 0xffffffu

enum side { INIT = 0, ACC = 1 };

/* One context pair, exported: every import starts in the same state. */
struct pair {
    int32_t enctype;
    const char *name;
    gss_buffer_desc tok[2];
};

static struct pair pairs[] = {
    { 17, "aes128-cts-hmac-sha1-96", { { 0, NULL }, { 0, NULL } } },
    { 18, "aes256-cts-hmac-sha1-96", { { 0, NULL }, { 0, NULL } } },
    { 19, "aes128-cts-hmac-sha256-128", { { 0, NULL }, { 0, NULL } } },
    { 20, "aes256-cts-hmac-sha384-192", { { 0, NULL }, { 0, NULL } } },
    { 26, "camellia256-cts-cmac", { { 0, NULL }, { 0, NULL } } },
};

static gss_name_t
service(const char *enctype_name)
{
    char text[300];
    gss_buffer_desc buf;
    gss_name_t name = GSS_C_NO_NAME;
    OM_uint32 minor;

    (void)snprintf(text, sizeof(text), "fast-%s@%s", enctype_name,
                   getenv("SPNEGO_TEST_HOST"));
    buf.value = text;
    buf.length = strlen(text);
    assert_false(GSS_ERROR(gss_import_name(&minor, &buf,
                                           GSS_C_NT_HOSTBASED_SERVICE,
                                           &name)));
    return name;
}

static void
export_ctx(gss_ctx_id_t *ctx, gss_buffer_desc *tok)
{
    OM_uint32 minor;

    assert_false(GSS_ERROR(gss_export_sec_context(&minor, ctx, tok)));
}

static gss_ctx_id_t
import_ctx(const gss_buffer_desc *tok)
{
    gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
    OM_uint32 minor;

    assert_false(GSS_ERROR(gss_import_sec_context(&minor,
                                                  (gss_buffer_t)tok, &ctx)));
    return ctx;
}

static void
drop_ctx(gss_ctx_id_t *ctx)
{
    OM_uint32 minor;

    (void)gss_delete_sec_context(&minor, ctx, GSS_C_NO_BUFFER);
}

/* Establish alice -> fast-ENCTYPE/HOST with only that enctype, and keep
 * both sides exported. */
static void
make_pair(struct pair *p)
{
    gss_OID_desc krb5 = { 9, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02" };
    gss_OID_set_desc mechs = { 1, &krb5 };
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    gss_ctx_id_t ic = GSS_C_NO_CONTEXT, ac = GSS_C_NO_CONTEXT;
    gss_buffer_desc itok = GSS_C_EMPTY_BUFFER, atok = GSS_C_EMPTY_BUFFER;
    gss_name_t target = service(p->name);
    OM_uint32 major, amajor = GSS_S_CONTINUE_NEEDED, minor, flags = 0;
    krb5_enctype et = p->enctype;
    int rounds = 0;

    assert_false(GSS_ERROR(gss_acquire_cred(&minor, GSS_C_NO_NAME,
                                            GSS_C_INDEFINITE, &mechs,
                                            GSS_C_INITIATE, &cred, NULL,
                                            NULL)));
    assert_false(GSS_ERROR(gss_krb5_set_allowable_enctypes(&minor, cred, 1,
                                                           &et)));
    do {
        major = gss_init_sec_context(&minor, cred, &ic, target, &krb5,
                                     PAIR_FLAGS, 0, NULL, &atok, NULL, &itok,
                                     &flags, NULL);
        (void)gss_release_buffer(&minor, &atok);
        if (GSS_ERROR(major))
            fail_msg("gss_init_sec_context to fast-%s: major 0x%x minor %d",
                     p->name, (unsigned)major, (int)minor);
        if (itok.length > 0)
            amajor = gss_accept_sec_context(&minor, &ac, GSS_C_NO_CREDENTIAL,
                                            &itok, NULL, NULL, NULL, &atok,
                                            NULL, NULL, NULL);
        (void)gss_release_buffer(&minor, &itok);
        assert_false(GSS_ERROR(amajor));
        assert_true(++rounds < 5);
    } while (major == GSS_S_CONTINUE_NEEDED);
    assert_int_equal(amajor, GSS_S_COMPLETE);
    assert_int_equal(flags & PAIR_FLAGS, PAIR_FLAGS);
    export_ctx(&ic, &p->tok[INIT]);
    export_ctx(&ac, &p->tok[ACC]);
    (void)gss_release_name(&minor, &target);
    (void)gss_release_cred(&minor, &cred);
}

/* kadmin.local -q QUERY in the test realm, its output discarded.
 * Returns 1 if it exited 0. */
static int
kadmin(const char *query)
{
    char *argv[] = { (char *)"kadmin.local", (char *)"-q", (char *)query,
                     NULL };
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status = -1, ok;

    if (posix_spawn_file_actions_init(&fa) != 0)
        return 0;
    ok = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) == 0 &&
         posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0) == 0 &&
         posix_spawnp(&pid, "kadmin.local", &fa, NULL, argv, environ) == 0 &&
         waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
         WEXITSTATUS(status) == 0;
    (void)posix_spawn_file_actions_destroy(&fa);
    return ok;
}

/* fast-ENCTYPE/HOST with only that enctype's key, in KRB5_KTNAME. */
static void
make_service(const char *enctype_name)
{
    const char *kt = getenv("KRB5_KTNAME");
    char q[1024];

    if (kt == NULL) {
        fail_msg("KRB5_KTNAME is not set: run inside tests/fixture/with-krb5");
        return;
    }
    if (strncmp(kt, "FILE:", 5) == 0)
        kt += 5;
    (void)snprintf(q, sizeof(q), "addprinc -randkey -e %s:normal "
                   "fast-%s/%s", enctype_name, enctype_name,
                   getenv("SPNEGO_TEST_HOST"));
    if (!kadmin(q))
        fail_msg("kadmin.local -q \"%s\" failed", q);
    (void)snprintf(q, sizeof(q), "ktadd -k %s -e %s:normal fast-%s/%s", kt,
                   enctype_name, enctype_name, getenv("SPNEGO_TEST_HOST"));
    if (!kadmin(q))
        fail_msg("kadmin.local -q \"%s\" failed", q);
}

static int
setup_pairs(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        make_service(pairs[i].name);
        make_pair(&pairs[i]);
    }
    return 0;
}

static int
teardown_pairs(void **state)
{
    OM_uint32 minor;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        (void)gss_release_buffer(&minor, &pairs[i].tok[INIT]);
        (void)gss_release_buffer(&minor, &pairs[i].tok[ACC]);
    }
    return 0;
}

/* ---- a layer over a fresh import of one side ---- */

struct end {
    gss_ctx_id_t ctx;
    struct spnego_layer l;
};

static void
end_up(struct end *e, const struct pair *p, enum side side, int fast,
       int conf)
{
    struct spnego_layer_fast f = { fast, 0 };

    e->ctx = import_ctx(&p->tok[side]);
    assert_int_equal(spnego_layer_init(&e->l, e->ctx, conf, SEND_MAX,
                                       RECV_MAX, &f), LAYER_OK);
    if (fast && p->enctype != 26) {
        if (e->l.fast == NULL || strstr(e->l.path, p->name) == NULL)
            fail_msg("%s: the fast path did not start: %s", p->name,
                     e->l.path);
    } else {
        assert_null(e->l.fast);
        assert_non_null(strstr(e->l.path, "gss_wrap"));
    }
}

static void
end_down(struct end *e)
{
    spnego_layer_cleanup(&e->l);
    drop_ctx(&e->ctx);
}

/* Encode len bytes; the stream is copied into *wire (malloc). */
static size_t
encode(struct end *e, const uint8_t *data, size_t len, uint8_t **wire)
{
    struct iovec iov = { (void *)data, len };
    const uint8_t *out = NULL;
    size_t out_len = 0;

    if (spnego_layer_encode(&e->l, &iov, 1, &out, &out_len) != LAYER_OK)
        fail_msg("encode of %zu bytes: %s", len, e->l.err);
    *wire = malloc(out_len + 1);
    assert_non_null(*wire);
    if (out_len > 0)
        memcpy(*wire, out, out_len);
    return out_len;
}

/* Decode a stream; returns 1 if every byte decoded, with what came out
 * in *got (*got_len bytes; malloc). */
static int
decode(struct end *e, const uint8_t *wire, size_t len, uint8_t **got,
       size_t *got_len)
{
    const uint8_t *out = NULL;
    size_t out_len = 0;
    enum layer_status st;

    st = spnego_layer_decode(&e->l, wire, len, &out, &out_len);
    *got = malloc(out_len + 1);
    assert_non_null(*got);
    if (out_len > 0)
        memcpy(*got, out, out_len);
    *got_len = out_len;
    return st == LAYER_OK;
}

static void
fill(uint8_t *p, size_t n, uint32_t seed)
{
    size_t i;

    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* One message from `from` to `to`: it must arrive intact. */
static void
carry(struct end *from, struct end *to, size_t len, uint32_t seed)
{
    uint8_t *data = malloc(len + 1), *wire = NULL, *got = NULL;
    size_t wire_len, got_len = 0;

    assert_non_null(data);
    fill(data, len, seed);
    wire_len = encode(from, data, len, &wire);
    if (!decode(to, wire, wire_len, &got, &got_len))
        fail_msg("%zu bytes (%s -> %s) refused: %s", len, from->l.path,
                 to->l.path, to->l.err);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, data, len);
    free(data);
    free(wire);
    free(got);
}

/* Sizes 0..maxoutbuf: the edges of the blocks and of the packet, and
 * pseudo-random ones. */
static size_t
size_at(size_t i, size_t maxoutbuf)
{
    static const size_t fixed[] = { 0, 1, 15, 16, 17, 31, 32, 33, 100, 4096 };
    uint32_t r = (uint32_t)i * 2654435761u;

    if (i < sizeof(fixed) / sizeof(fixed[0]))
        return fixed[i];
    if (i == 10)
        return maxoutbuf;
    if (i == 11)
        return maxoutbuf - 1;
    if (i == 12)
        return 2 * maxoutbuf + 7; /* three packets */
    return (r >> 8) % (maxoutbuf + 1);
}

#define N_SIZES 40

/* Our side `fast_side` runs the fast layer, the other MIT's; messages go
 * both ways, interleaved, so sequence numbers advance on both. */
static void
interop(struct pair *p, int conf, enum side fast_side)
{
    struct end e[2];
    size_t i;

    end_up(&e[INIT], p, INIT, fast_side == INIT, conf);
    end_up(&e[ACC], p, ACC, fast_side == ACC, conf);
    for (i = 0; i < N_SIZES; i++) {
        carry(&e[INIT], &e[ACC], size_at(i, e[INIT].l.maxoutbuf), (uint32_t)i);
        carry(&e[ACC], &e[INIT], size_at(i, e[ACC].l.maxoutbuf),
              (uint32_t)i + 1000u);
    }
    end_down(&e[INIT]);
    end_down(&e[ACC]);
}

static void
interop_all(struct pair *p)
{
    interop(p, 1, INIT);
    interop(p, 1, ACC);
    interop(p, 0, INIT);
    interop(p, 0, ACC);
}

/* The same maxoutbuf on both paths: peers size packets the same way. */
static void
same_sizes(struct pair *p, int conf)
{
    struct end fast, gss;

    end_up(&fast, p, INIT, 1, conf);
    end_up(&gss, p, INIT, 0, conf);
    assert_int_equal(fast.l.maxoutbuf, gss.l.maxoutbuf);
    end_down(&fast);
    end_down(&gss);
}

/* ---- tampering: both receivers must refuse ---- */

typedef size_t (*mutate_fn)(uint8_t *wire, size_t len, size_t arg);

/* Three packets of 100, 37 and 0..1000 bytes from `sender` (made by the
 * fast or MIT's layer), mutated, then given to a fresh fast receiver and
 * a fresh MIT receiver.  Returns how many of the two accepted all of it;
 * *delivered gets the larger plaintext delivered. */
static int
tamper_one(struct pair *p, int conf, enum side sender, int fast_sender,
           mutate_fn mutate, size_t arg, size_t *delivered)
{
    struct end s, r;
    uint8_t data[1200], *wire, *all = NULL, *piece = NULL, *got = NULL;
    size_t lens[3] = { 100, 37, 1 + arg % 1000 }, total = 0, i, n, got_len;
    int accepted = 0, fast;

    *delivered = 0;
    end_up(&s, p, sender, fast_sender, conf);
    for (i = 0; i < 3; i++) {
        uint8_t *grown;

        fill(data, lens[i], (uint32_t)(i + 7));
        n = encode(&s, data, lens[i], &piece);
        grown = realloc(all, total + n + 64);
        assert_non_null(grown);
        all = grown;
        memcpy(all + total, piece, n);
        total += n;
        free(piece);
    }
    end_down(&s);
    for (fast = 0; fast < 2; fast++) {
        wire = malloc(2 * total + 64); /* room for a replay */
        assert_non_null(wire);
        memcpy(wire, all, total);
        n = mutate(wire, total, arg);
        end_up(&r, p, sender == INIT ? ACC : INIT, fast, conf);
        if (decode(&r, wire, n, &got, &got_len))
            accepted++;
        if (got_len > *delivered)
            *delivered = got_len;
        free(got);
        free(wire);
        end_down(&r);
    }
    free(all);
    return accepted;
}

static size_t
tok_len(const uint8_t *w)
{
    return (size_t)w[0] << 24 | (size_t)w[1] << 16 | (size_t)w[2] << 8 | w[3];
}

static void
set_len(uint8_t *w, size_t n)
{
    w[0] = (uint8_t)(n >> 24);
    w[1] = (uint8_t)(n >> 16);
    w[2] = (uint8_t)(n >> 8);
    w[3] = (uint8_t)n;
}

/* Flip one bit of the first token: arg is the bit index in the token. */
static size_t
flip_bit(uint8_t *w, size_t len, size_t arg)
{
    size_t bit = arg % (tok_len(w) * 8);

    w[4 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
    return len;
}

/* The first token loses its last byte (its length field follows). */
static size_t
truncate_first(uint8_t *w, size_t len, size_t arg)
{
    size_t n = tok_len(w);

    (void)arg;
    set_len(w, n - 1);
    memmove(w + 4 + n - 1, w + 4 + n, len - 4 - n);
    return len - 1;
}

/* The first packet twice. */
static size_t
replay_first(uint8_t *w, size_t len, size_t arg)
{
    size_t n = 4 + tok_len(w);

    (void)arg;
    memmove(w + n, w, len); /* the buffer has room: see tamper_one */
    return n + n;           /* packet 1, packet 1 */
}

/* Packets 2 and 1, swapped. */
static size_t
swap_first_two(uint8_t *w, size_t len, size_t arg)
{
    size_t a = 4 + tok_len(w), b = 4 + tok_len(w + a);
    uint8_t *t = malloc(a + b);

    (void)arg;
    assert_non_null(t);
    memcpy(t, w + a, b);
    memcpy(t + b, w, a);
    memcpy(w, t, a + b);
    free(t);
    return len;
}

/* The SentByAcceptor flag of the first token inverted. */
static size_t
reflect(uint8_t *w, size_t len, size_t arg)
{
    (void)arg;
    w[4 + 2] ^= 0x01;
    return len;
}

/* A larger EC in the clear header of the first token. */
static size_t
raise_ec(uint8_t *w, size_t len, size_t arg)
{
    w[4 + 5] = (uint8_t)(w[4 + 5] + 1 + arg % 16);
    return len;
}

/* The first token rotated right by arg (RRC), as Windows may send it. */
static size_t
rotate_first(uint8_t *w, size_t len, size_t arg)
{
    size_t n = tok_len(w) - 16, r = arg % n;
    uint8_t *body = w + 4 + 16, *t = malloc(n);

    assert_non_null(t);
    memcpy(t, body + n - r, r);
    memcpy(t + r, body, n - r);
    memcpy(body, t, n);
    free(t);
    w[4 + 6] = (uint8_t)(arg >> 8);
    w[4 + 7] = (uint8_t)arg;
    return len;
}

static void
refused_by_both(struct pair *p, int conf, mutate_fn m, size_t arg,
                const char *what)
{
    int sender, fast_sender, accepted;
    size_t delivered;

    for (sender = INIT; sender <= ACC; sender++) {
        for (fast_sender = 0; fast_sender < 2; fast_sender++) {
            accepted = tamper_one(p, conf, (enum side)sender, fast_sender, m,
                                  arg, &delivered);
            if (accepted != 0 || delivered > 0)
                fail_msg("%s, %s, %s from the %s (%s layer): accepted by %d "
                         "of 2 receivers, %zu bytes delivered", p->name,
                         conf ? "sealed" : "integrity", what,
                         sender == INIT ? "initiator" : "acceptor",
                         fast_sender ? "fast" : "MIT", accepted, delivered);
        }
    }
}

/* Replays and reorders deliver the first packet, then fail. */
static void
stops_after_first(struct pair *p, int conf, mutate_fn m, const char *what)
{
    int fast_sender, accepted;
    size_t delivered;

    for (fast_sender = 0; fast_sender < 2; fast_sender++) {
        accepted = tamper_one(p, conf, INIT, fast_sender, m, 0, &delivered);
        if (accepted != 0 || delivered > 100)
            fail_msg("%s, %s: %s accepted by %d of 2 receivers (%zu bytes)",
                     p->name, conf ? "sealed" : "integrity", what, accepted,
                     delivered);
    }
}

static void
tamper_all(struct pair *p, int conf)
{
    size_t bit, delivered;
    int fast_sender;

    /* every bit of the header but RRC's (not covered: see below) */
    for (bit = 0; bit < (size_t)16 * 8; bit++) {
        if (bit / 8 == 6 || bit / 8 == 7)
            continue;
        refused_by_both(p, conf, flip_bit, bit, "a header bit flipped");
    }
    /* body bits: first, last, and spread out */
    for (bit = (size_t)16 * 8; bit < (size_t)200 * 8; bit += 37)
        refused_by_both(p, conf, flip_bit, bit, "a body bit flipped");
    refused_by_both(p, conf, flip_bit, (size_t)-1, "the last bit flipped");
    refused_by_both(p, conf, truncate_first, 0, "a truncated token");
    refused_by_both(p, conf, reflect, 0, "a reflected token");
    if (conf)
        refused_by_both(p, conf, raise_ec, 3, "a raised EC");
    stops_after_first(p, conf, replay_first, "a replay");
    stops_after_first(p, conf, swap_first_two, "a reorder");
    /* RRC: any rotation is accepted by both */
    for (fast_sender = 0; fast_sender < 2; fast_sender++) {
        static const size_t rrcs[] = { 1, 16, 28, 60, 1000, 65535 };
        size_t i;

        for (i = 0; i < sizeof(rrcs) / sizeof(rrcs[0]); i++) {
            if (tamper_one(p, conf, INIT, fast_sender, rotate_first, rrcs[i],
                           &delivered) != 2)
                fail_msg("%s, %s: a token rotated by RRC %zu refused",
                         p->name, conf ? "sealed" : "integrity", rrcs[i]);
        }
    }
}

/* ---- a sealed token with filler (EC > 0), as other peers may send ---- */

/* Make a sealed token with `filler` filler bytes and EC `ec` (in both
 * headers) with the sender's keys, the way RFC 4121 section 4.2.4 says;
 * wire gets the packet.  Returns its length. */
static size_t
craft_sealed(struct pair *p, size_t filler, size_t ec, const uint8_t *data,
             size_t len, uint8_t *wire)
{
    struct end s;
    struct cfx *c;
    struct kc_key k;
    uint8_t tok[300];
    char err[128];
    size_t n;

    end_up(&s, p, INIT, 1, 1);
    c = s.l.fast;
    memset(tok, 0, sizeof(tok));
    tok[0] = 0x05;
    tok[1] = 0x04;
    tok[2] = (uint8_t)(0x02 | (c->acceptor_subkey ? 0x04 : 0));
    tok[3] = 0xff;
    tok[4] = (uint8_t)(ec >> 8);
    tok[5] = (uint8_t)ec;
    for (n = 0; n < 8; n++)
        tok[8 + n] = (uint8_t)(c->send_seq >> (56 - 8 * n));
    memcpy(tok + 32, data, len);
    memset(tok + 32 + len, 'x', filler);
    memcpy(tok + 32 + len + filler, tok, 16);
    /* the initiator's Wrap tokens: usage 24 (RFC 4121 section 2) */
    assert_true(kc_key_init(&k, c->et, c->base, 24, 1, err, sizeof(err)));
    assert_true(kc_encrypt(&k, tok + 16, len + filler + 16));
    kc_key_free(&k);
    n = 16 + 16 + len + filler + 16 + c->et->hlen;
    set_len(wire, n);
    memcpy(wire + 4, tok, n);
    end_down(&s);
    return 4 + n;
}

/* An EC beyond the data (a peer with the keys could send it): refused by
 * both, nothing delivered. */
static void
ec_beyond_data_refused(struct pair *p)
{
    uint8_t data[50], wire[304], *got = NULL;
    size_t n, got_len;
    int fast;

    fill(data, sizeof(data), 98);
    n = craft_sealed(p, 10, 61, data, sizeof(data), wire);
    for (fast = 0; fast < 2; fast++) {
        struct end r;

        end_up(&r, p, ACC, fast, 1);
        if (decode(&r, wire, n, &got, &got_len) || got_len != 0)
            fail_msg("%s: a sealed token whose EC exceeds its data was "
                     "accepted by the %s layer", p->name,
                     fast ? "fast" : "MIT");
        free(got);
        end_down(&r);
    }
}

/* A sealed token with ec filler bytes, as other peers may send: both
 * receivers deliver the data. */
static void
filler_accepted(struct pair *p, size_t ec)
{
    struct end r;
    uint8_t data[50], wire[304], *got = NULL;
    size_t len = sizeof(data), n, got_len;
    int fast;

    fill(data, len, 99);
    n = craft_sealed(p, ec, ec, data, len, wire);
    for (fast = 0; fast < 2; fast++) {
        end_up(&r, p, ACC, fast, 1);
        if (!decode(&r, wire, n, &got, &got_len))
            fail_msg("%s: a sealed token with EC %zu refused by the %s "
                     "layer: %s", p->name, ec, fast ? "fast" : "MIT",
                     r.l.err);
        assert_int_equal(got_len, len);
        assert_memory_equal(got, data, len);
        free(got);
        end_down(&r);
    }
}

/* A peer may seal although the layer is integrity only (MIT's unwrap
 * takes both): the fast receiver makes the sealing key on the first such
 * token and accepts it, from a fast or an MIT sender. */
static void
sealed_on_integrity_layer(struct pair *p)
{
    struct end s, r;
    int fast_sender;

    for (fast_sender = 0; fast_sender < 2; fast_sender++) {
        end_up(&s, p, INIT, fast_sender, 1);
        end_up(&r, p, ACC, 1, 0);
        carry(&s, &r, 1000, 5);
        carry(&s, &r, 10, 6);
        carry(&r, &s, 0, 7);
        end_down(&s);
        end_down(&r);
    }
}

/* ---- the cases ---- */

static void
aes_enctype(size_t i)
{
    struct pair *p = &pairs[i];

    same_sizes(p, 1);
    same_sizes(p, 0);
    interop_all(p);
    tamper_all(p, 1);
    tamper_all(p, 0);
    filler_accepted(p, 1);
    filler_accepted(p, 16);
    filler_accepted(p, 100);
    ec_beyond_data_refused(p);
    sealed_on_integrity_layer(p);
}

static void
aes128_sha1(void **state)
{
    (void)state;
    aes_enctype(0);
}

static void
aes256_sha1(void **state)
{
    (void)state;
    aes_enctype(1);
}

static void
aes128_sha256(void **state)
{
    (void)state;
    aes_enctype(2);
}

static void
aes256_sha384(void **state)
{
    (void)state;
    aes_enctype(3);
}

/* Camellia has RFC 4121 tokens but no profile here: MIT's path, which
 * still carries data both ways. */
static void
camellia_stays_on_gss(void **state)
{
    struct end e[2];

    (void)state;
    end_up(&e[INIT], &pairs[4], INIT, 1, 1);
    end_up(&e[ACC], &pairs[4], ACC, 1, 1);
    assert_non_null(strstr(e[INIT].l.path, "enctype 26"));
    carry(&e[INIT], &e[ACC], 5000, 1);
    carry(&e[ACC], &e[INIT], 5000, 2);
    end_down(&e[INIT]);
    end_down(&e[ACC]);
}

/* cfx_free leaves no key material behind. */
static void
keys_wiped(void **state)
{
    static const uint8_t zero[sizeof(struct cfx)];
    uint8_t key[32];
    struct cfx_keys k = { 1, 1, 18, key, 32, 5, 9 };
    struct cfx c;
    char err[128];

    (void)state;
    fill(key, sizeof(key), 3);
    assert_true(cfx_init(&c, &k, 1, err, sizeof(err)));
    assert_memory_equal(c.base, key, sizeof(key));
    cfx_free(&c);
    assert_memory_equal(&c, zero, sizeof(c));
    cfx_free(&c); /* twice */
}

/* ---- through libsasl2 ---- */

/* Data both ways through sasl_encode/sasl_decode. */
static void
sasl_carry(sasl_conn_t *from, sasl_conn_t *to, size_t len)
{
    char *data = malloc(len);
    const char *enc = NULL, *dec = NULL;
    unsigned enc_len = 0, dec_len = 0;

    assert_non_null(data);
    fill((uint8_t *)data, len, (uint32_t)len);
    assert_int_equal(sasl_encode(from, data, (unsigned)len, &enc, &enc_len),
                     SASL_OK);
    if (sasl_decode(to, enc, enc_len, &dec, &dec_len) != SASL_OK)
        fail_msg("sasl_decode of %zu bytes: %s", len, hx_errdetail(to));
    assert_int_equal(dec_len, len);
    assert_memory_equal(dec, data, len);
    free(data);
}

static struct hx_session *
sasl_session(const char *cfast, const char *sfast, const char *mechs,
             const char *send_mic)
{
    struct hx_opts c, s;
    struct hx_session *x;

    memset(&c, 0, sizeof(c));
    memset(&s, 0, sizeof(s));
    c.fast_layer = cfast;
    s.fast_layer = sfast;
    c.mechs = mechs;
    s.mechs = mechs;
    c.send_mic = send_mic;
    s.send_mic = send_mic;
    c.authname = "alice";
    c.password = "alice-pw";
    x = hx_session_new(&c, &s, SASL_SUCCESS_DATA);
    assert_non_null(x);
    hx_exchange(x, NULL, NULL);
    if (x->client_rc != SASL_OK || x->server_rc != SASL_OK)
        fail_msg("the exchange failed: client %d, server %d: %s", x->client_rc,
                 x->server_rc, hx_errdetail(x->server));
    assert_int_equal(hx_ssf(x->client), 256u);
    return x;
}

static void
layer_both_ways(struct hx_session *x)
{
    sasl_carry(x->client, x->server, 100);
    sasl_carry(x->server, x->client, 100);
    sasl_carry(x->client, x->server, 60000);
    sasl_carry(x->server, x->client, 60000);
}

/* With mechListMICs on both sides each side's first sequence number was
 * used by its MIC: the fast layer must start after it, whichever side
 * runs it. */
static void
sasl_mic_then_fast_layer(void **state)
{
    static const char *const ways[3][2] = { { "yes", "no" },
                                            { "no", "yes" },
                                            { "yes", "yes" } };
    struct hx_session *x;
    size_t i;

    (void)state;
    for (i = 0; i < 3; i++) {
        x = sasl_session(ways[i][0], ways[i][1], "krb5", "always");
        assert_non_null(strstr(x->slog.text, "mechListMIC verified"));
        assert_non_null(strstr(x->clog.text, "mechListMIC verified"));
        layer_both_ways(x);
        hx_session_free(x);
    }
}

/* The log names the path: the fast one by default, MIT's when off or
 * for NTLM. */
static void
sasl_path_logged(void **state)
{
    struct hx_session *x;

    (void)state;
    x = sasl_session(NULL, NULL, "krb5", NULL);
    assert_non_null(strstr(x->clog.text, "security layer made with RFC 4121 "
                                         "tokens on libcrypto (aes256-cts-"
                                         "hmac-sha1-96, sealed)"));
    assert_non_null(strstr(x->slog.text, "security layer made with RFC 4121 "
                                         "tokens on libcrypto"));
    layer_both_ways(x);
    hx_session_free(x);
    x = sasl_session("no", "no", "krb5", NULL);
    assert_non_null(strstr(x->clog.text, "gss_wrap (spnego_fast_layer no)"));
    assert_non_null(strstr(x->slog.text, "gss_wrap (spnego_fast_layer no)"));
    layer_both_ways(x);
    hx_session_free(x);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_wiped),
        cmocka_unit_test(aes128_sha1),
        cmocka_unit_test(aes256_sha1),
        cmocka_unit_test(aes128_sha256),
        cmocka_unit_test(aes256_sha384),
        cmocka_unit_test(camellia_stays_on_gss),
        cmocka_unit_test_teardown(sasl_mic_then_fast_layer, hx_teardown),
        cmocka_unit_test_teardown(sasl_path_logged, hx_teardown),
    };
    int rc;

    rc = hx_init("test-fastlayer");
    if (rc != 0)
        return rc;
    rc = cmocka_run_group_tests(tests, setup_pairs, teardown_pairs);
    hx_done();
    return rc;
}
