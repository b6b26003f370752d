/* cfx.c - RFC 4121 Wrap tokens on kcrypto.c.  See cfx.h. */
#include "cfx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* RFC 4121 section 2: key usages of Wrap tokens, sealed or not (the
 * SIGN usages 23/25 are for MIC tokens only). */
#define USAGE_ACCEPTOR_SEAL 22u
#define USAGE_INITIATOR_SEAL 24u

/* Section 4.2.2: the flags octet. */
#define FLAG_SENT_BY_ACCEPTOR 0x01u
#define FLAG_SEALED 0x02u
#define FLAG_ACCEPTOR_SUBKEY 0x04u

static void
put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static size_t
get16(const uint8_t *p)
{
    return (size_t)p[0] << 8 | p[1];
}

static void
put64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t
get64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static uint32_t
send_usage(const struct cfx *c)
{
    return c->initiator ? USAGE_INITIATOR_SEAL : USAGE_ACCEPTOR_SEAL;
}

static uint32_t
recv_usage(const struct cfx *c)
{
    return c->initiator ? USAGE_ACCEPTOR_SEAL : USAGE_INITIATOR_SEAL;
}

int
cfx_init(struct cfx *c, const struct cfx_keys *k, int conf, char *err,
         size_t err_size)
{
    memset(c, 0, sizeof(*c));
    c->et = kc_enctype_find(k->enctype);
    if (c->et == NULL) {
        (void)snprintf(err, err_size, "enctype %d has no RFC 4121 AES "
                       "profile here", (int)k->enctype);
        return 0;
    }
    if (k->keylen != c->et->keylen) {
        (void)snprintf(err, err_size, "a %s key of %zu bytes (want %zu)",
                       c->et->name, k->keylen, c->et->keylen);
        return 0;
    }
    c->initiator = k->initiator != 0;
    c->acceptor_subkey = k->acceptor_subkey != 0;
    c->conf = conf != 0;
    c->send_seq = k->send_seq;
    c->recv_seq = k->recv_seq;
    memcpy(c->base, k->key, k->keylen);
    return kc_enctype_usable(c->et, err, err_size);
}

static void
drop_key(struct kc_key **k)
{
    if (*k == NULL)
        return;
    kc_key_free(*k);
    free(*k);
    *k = NULL;
}

void
cfx_free(struct cfx *c)
{
    drop_key(&c->send);
    drop_key(&c->recv);
    drop_key(&c->recv_sealed);
    OPENSSL_cleanse(c, sizeof(*c));
}

/* The key in *slot, made on first use for `usage`: encrypt 1 or 0 (Ke
 * and Ki), -1 (Kc).  NULL if libcrypto fails (c->why set). */
static const struct kc_key *
key(struct cfx *c, struct kc_key **slot, uint32_t usage, int encrypt)
{
    char err[128];

    if (*slot != NULL)
        return *slot;
    *slot = calloc(1, sizeof(**slot));
    if (*slot == NULL) {
        c->why = "out of memory for the keys";
        return NULL;
    }
    if (!kc_key_init(*slot, c->et, c->base, usage, encrypt, err,
                     sizeof(err))) {
        free(*slot);
        *slot = NULL;
        c->why = "libcrypto cannot make the keys";
    }
    return *slot;
}

size_t
cfx_overhead(const struct cfx *c)
{
    /* sealed: header | E(confounder | data | header) | MAC;
     * integrity: header | data | checksum */
    return c->conf ? CFX_HEADER + KC_CONFOUNDER + CFX_HEADER + c->et->hlen
                   : CFX_HEADER + c->et->hlen;
}

size_t
cfx_data_offset(const struct cfx *c)
{
    return c->conf ? CFX_HEADER + KC_CONFOUNDER : CFX_HEADER;
}

static void
make_header(const struct cfx *c, uint8_t *h)
{
    h[0] = 0x05;
    h[1] = 0x04;
    h[2] = (uint8_t)((c->initiator ? 0 : FLAG_SENT_BY_ACCEPTOR) |
                     (c->conf ? FLAG_SEALED : 0) |
                     (c->acceptor_subkey ? FLAG_ACCEPTOR_SUBKEY : 0));
    h[3] = 0xff;
    put16(h + 4, 0); /* EC */
    put16(h + 6, 0); /* RRC */
    put64(h + 8, c->send_seq);
}

enum cfx_status
cfx_wrap(struct cfx *c, uint8_t *tok, size_t len)
{
    const struct kc_key *k = key(c, &c->send, send_usage(c),
                                 c->conf ? 1 : -1);
    uint8_t *body = tok + CFX_HEADER;

    if (k == NULL)
        return CFX_FAIL;
    make_header(c, tok);
    if (c->conf) {
        /* Section 4.2.4: the header (EC 0, RRC 0) is encrypted after the
         * data. */
        memcpy(body + KC_CONFOUNDER + len, tok, CFX_HEADER);
        if (!kc_encrypt(k, body, len + CFX_HEADER)) {
            c->why = "libcrypto failed to encrypt";
            return CFX_FAIL;
        }
    } else {
        /* The checksum covers data | header with EC and RRC 0; the sent
         * EC is then the checksum's length. */
        kc_checksum(k, body, len, tok, CFX_HEADER, body + len);
        put16(tok + 4, c->et->hlen);
    }
    c->send_seq++;
    return CFX_OK;
}

static void
reverse(uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n / 2; i++) {
        uint8_t t = p[i];

        p[i] = p[n - 1 - i];
        p[n - 1 - i] = t;
    }
}

/* Section 4.2.5: undo a right rotation by rrc (any value, even beyond n). */
static void
rotate_left(uint8_t *p, size_t n, size_t rrc)
{
    size_t r;

    if (n == 0)
        return;
    r = rrc % n;
    if (r == 0)
        return;
    reverse(p, r);
    reverse(p + r, n - r);
    reverse(p, n);
}

static enum cfx_status
refuse(struct cfx *c, enum cfx_status st, const char *why)
{
    c->why = why;
    return st;
}

/* The key for sealed tokens received. */
static const struct kc_key *
sealed_key(struct cfx *c)
{
    return c->conf ? key(c, &c->recv, recv_usage(c), 0)
                   : key(c, &c->recv_sealed, recv_usage(c), 0);
}

static enum cfx_status
open_sealed(struct cfx *c, uint8_t *tok, size_t len, uint8_t **msg_out,
            size_t *msg_len_out)
{
    const struct kc_key *k = sealed_key(c);
    size_t ec = get16(tok + 4), plen;
    uint8_t *body = tok + CFX_HEADER, *inner;

    if (k == NULL)
        return CFX_FAIL;
    if (len < CFX_HEADER + KC_CONFOUNDER + CFX_HEADER + c->et->hlen)
        return refuse(c, CFX_DEFECTIVE, "a sealed token too short to hold "
                      "its confounder, header copy and MAC");
    plen = len - CFX_HEADER - KC_CONFOUNDER - c->et->hlen;
    if (!kc_decrypt(k, body, plen))
        return refuse(c, CFX_BAD_MAC, "its MAC does not verify");
    /* The encrypted copy of the header must match the one sent in clear
     * (not RRC, which is not covered): else EC could cut the data. */
    inner = body + KC_CONFOUNDER + plen - CFX_HEADER;
    if (CRYPTO_memcmp(inner, tok, 6) != 0 ||
        CRYPTO_memcmp(inner + 8, tok + 8, 8) != 0)
        return refuse(c, CFX_DEFECTIVE, "its clear header differs from the "
                      "encrypted copy");
    if (ec > plen - CFX_HEADER)
        return refuse(c, CFX_DEFECTIVE, "its EC exceeds the data");
    *msg_out = body + KC_CONFOUNDER;
    *msg_len_out = plen - CFX_HEADER - ec;
    return CFX_OK;
}

static enum cfx_status
check_integ(struct cfx *c, uint8_t *tok, size_t len, uint8_t **msg_out,
            size_t *msg_len_out)
{
    uint8_t hdr[CFX_HEADER], sum[KC_MAX_HASH];
    const struct kc_key *k;
    size_t n;
    int bad;

    if (c->conf)
        return refuse(c, CFX_DEFECTIVE, "an unsealed token arrived on a "
                      "confidentiality layer");
    if (get16(tok + 4) != c->et->hlen)
        return refuse(c, CFX_DEFECTIVE, "its EC is not the checksum length");
    if (len < CFX_HEADER + c->et->hlen)
        return refuse(c, CFX_DEFECTIVE, "a token too short for its checksum");
    k = key(c, &c->recv, recv_usage(c), -1);
    if (k == NULL)
        return CFX_FAIL;
    n = len - CFX_HEADER - c->et->hlen;
    memcpy(hdr, tok, CFX_HEADER);
    memset(hdr + 4, 0, 4);
    kc_checksum(k, tok + CFX_HEADER, n, hdr, CFX_HEADER, sum);
    bad = CRYPTO_memcmp(sum, tok + CFX_HEADER + n, c->et->hlen) != 0;
    OPENSSL_cleanse(sum, sizeof(sum));
    if (bad)
        return refuse(c, CFX_BAD_MAC, "its checksum does not verify");
    *msg_out = tok + CFX_HEADER;
    *msg_len_out = n;
    return CFX_OK;
}

enum cfx_status
cfx_unwrap(struct cfx *c, uint8_t *tok, size_t len, uint8_t **msg_out,
           size_t *msg_len_out, int *sealed_out)
{
    unsigned peer_dir = c->initiator ? FLAG_SENT_BY_ACCEPTOR : 0;
    enum cfx_status st;
    uint8_t flags;

    *msg_out = NULL;
    *msg_len_out = 0;
    *sealed_out = 0;
    if (len < CFX_HEADER || tok[0] != 0x05 || tok[1] != 0x04 ||
        tok[3] != 0xff)
        return refuse(c, CFX_DEFECTIVE, "it is not an RFC 4121 Wrap token");
    flags = tok[2];
    /* Unknown flag bits are ignored (section 4.2.2), and covered by the
     * MAC like the rest of the header. */
    if ((flags & FLAG_SENT_BY_ACCEPTOR) != peer_dir)
        return refuse(c, CFX_DEFECTIVE, "it was sent in this side's own "
                      "direction (a reflected token)");
    if (!(flags & FLAG_ACCEPTOR_SUBKEY) != !c->acceptor_subkey)
        return refuse(c, CFX_DEFECTIVE, "its AcceptorSubkey flag does not "
                      "match the context");
    rotate_left(tok + CFX_HEADER, len - CFX_HEADER, get16(tok + 6));
    *sealed_out = (flags & FLAG_SEALED) != 0;
    st = *sealed_out ? open_sealed(c, tok, len, msg_out, msg_len_out)
                     : check_integ(c, tok, len, msg_out, msg_len_out);
    if (st != CFX_OK)
        return st;
    if (get64(tok + 8) != c->recv_seq) {
        *msg_out = NULL;
        *msg_len_out = 0;
        return refuse(c, CFX_BAD_SEQ, "it arrived replayed or out of order");
    }
    c->recv_seq++;
    return CFX_OK;
}
