/* kcrypto.c - Kerberos AES profiles on libcrypto.  See kcrypto.h.
 *
 * The HMACs use OpenSSL's SHA-1/SHA-2 block functions (SHA1_Init...),
 * deprecated in OpenSSL 3 but present in every build with the 3.x API:
 * in 3.0 each EVP digest or EVP_MAC (re)initialisation allocates, and a
 * packet must not.  They run the same SHA-NI/AVX code as EVP. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "kcrypto.h"

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

static const struct kc_enctype enctypes[] = {
    { KC_AES128_SHA1, "aes128-cts-hmac-sha1-96", "AES-128-CBC-CTS",
      "AES-128-CBC", "SHA1", KC_SHA1, 16, 16, 16, 12, 0 },
    { KC_AES256_SHA1, "aes256-cts-hmac-sha1-96", "AES-256-CBC-CTS",
      "AES-256-CBC", "SHA1", KC_SHA1, 32, 32, 32, 12, 0 },
    { KC_AES128_SHA256, "aes128-cts-hmac-sha256-128", "AES-128-CBC-CTS",
      "AES-128-CBC", "SHA2-256", KC_SHA256, 16, 16, 16, 16, 1 },
    { KC_AES256_SHA384, "aes256-cts-hmac-sha384-192", "AES-256-CBC-CTS",
      "AES-256-CBC", "SHA2-384", KC_SHA384, 32, 24, 24, 24, 1 },
};

static const uint8_t zero_iv[16];

const struct kc_enctype *
kc_enctype_find(int32_t id)
{
    size_t i;

    for (i = 0; i < sizeof(enctypes) / sizeof(enctypes[0]); i++) {
        if (enctypes[i].id == id)
            return &enctypes[i];
    }
    return NULL;
}

/* ---- SHA block functions behind one interface ---- */

static size_t
hash_block(enum kc_digest h)
{
    return h == KC_SHA384 ? 128 : 64;
}

static size_t
hash_len(enum kc_digest h)
{
    switch (h) {
    case KC_SHA1:
        return SHA_DIGEST_LENGTH;
    case KC_SHA256:
        return SHA256_DIGEST_LENGTH;
    case KC_SHA384:
    default:
        return SHA384_DIGEST_LENGTH;
    }
}

static void
hash_init(enum kc_digest h, union kc_sha *s)
{
    switch (h) {
    case KC_SHA1:
        (void)SHA1_Init(&s->sha1);
        break;
    case KC_SHA256:
        (void)SHA256_Init(&s->sha256);
        break;
    case KC_SHA384:
    default:
        (void)SHA384_Init(&s->sha512);
        break;
    }
}

static void
hash_update(enum kc_digest h, union kc_sha *s, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    switch (h) {
    case KC_SHA1:
        (void)SHA1_Update(&s->sha1, p, n);
        break;
    case KC_SHA256:
        (void)SHA256_Update(&s->sha256, p, n);
        break;
    case KC_SHA384:
    default:
        (void)SHA384_Update(&s->sha512, p, n);
        break;
    }
}

static void
hash_final(enum kc_digest h, union kc_sha *s, uint8_t *out)
{
    switch (h) {
    case KC_SHA1:
        (void)SHA1_Final(out, &s->sha1);
        break;
    case KC_SHA256:
        (void)SHA256_Final(out, &s->sha256);
        break;
    case KC_SHA384:
    default:
        (void)SHA384_Final(out, &s->sha512);
        break;
    }
}

/* ---- HMAC (RFC 2104) with precomputed pad states ---- */

void
kc_hmac_init(struct kc_hmac *h, enum kc_digest hash, const uint8_t *key,
             size_t keylen)
{
    uint8_t pad[128];
    size_t block = hash_block(hash), i;

    h->hash = hash;
    memset(pad, 0, sizeof(pad));
    memcpy(pad, key, keylen < block ? keylen : block); /* keys <= 32 */
    for (i = 0; i < block; i++)
        pad[i] ^= 0x36;
    hash_init(hash, &h->inner);
    hash_update(hash, &h->inner, pad, block);
    for (i = 0; i < block; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    hash_init(hash, &h->outer);
    hash_update(hash, &h->outer, pad, block);
    OPENSSL_cleanse(pad, sizeof(pad));
}

void
kc_hmac(const struct kc_hmac *h, const uint8_t *a, size_t alen,
        const uint8_t *b, size_t blen, uint8_t *out)
{
    union kc_sha s = h->inner;
    uint8_t inner[SHA384_DIGEST_LENGTH];

    hash_update(h->hash, &s, a, alen);
    hash_update(h->hash, &s, b, blen);
    hash_final(h->hash, &s, inner);
    s = h->outer;
    hash_update(h->hash, &s, inner, hash_len(h->hash));
    hash_final(h->hash, &s, out);
    OPENSSL_cleanse(inner, sizeof(inner));
    OPENSSL_cleanse(&s, sizeof(s));
}

/* ---- key derivation ---- */

int
kc_derive(const struct kc_enctype *et, const uint8_t *base,
          const uint8_t *constant, size_t clen, uint8_t *out, size_t outlen)
{
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM p[6], *q = p;
    int ok = 0;

    if (et->etm) {
        /* RFC 8009 section 3: HMAC(key, 00000001 | label | 00 | bits),
         * SP 800-108 counter mode, whose defaults KBKDF has. */
        kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
        *q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC,
                                                (char *)"HMAC", 0);
        *q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                (char *)et->digest, 0);
        *q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE,
                                                (char *)"COUNTER", 0);
        *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                 (void *)constant, clen);
    } else {
        /* RFC 3961 section 5.1 DK with the identity random-to-key of
         * AES; KRB5KDF makes exactly the cipher's key length. */
        if (outlen != et->keylen)
            return 0;
        kdf = EVP_KDF_fetch(NULL, "KRB5KDF", NULL);
        *q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_CIPHER,
                                                (char *)et->cbc, 0);
        *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_CONSTANT,
                                                 (void *)constant, clen);
    }
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)base,
                                             et->keylen);
    *q = OSSL_PARAM_construct_end();
    if (kdf == NULL)
        goto cleanup;
    kctx = EVP_KDF_CTX_new(kdf);
    if (kctx == NULL)
        goto cleanup;
    ok = EVP_KDF_derive(kctx, out, outlen, p) > 0;
cleanup:
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return ok;
}

/* Derive one key of a usage: constant usage (32-bit big-endian) | kind. */
static int
derive_usage(const struct kc_enctype *et, const uint8_t *base, uint32_t usage,
             uint8_t kind, uint8_t *out, size_t outlen)
{
    const uint8_t c[5] = { (uint8_t)(usage >> 24), (uint8_t)(usage >> 16),
                           (uint8_t)(usage >> 8), (uint8_t)usage, kind };

    return kc_derive(et, base, c, sizeof(c), out, outlen);
}

static int
cipher_init(struct kc_key *k, const uint8_t *ke, int encrypt, char *err,
            size_t err_size)
{
    OSSL_PARAM p[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_CIPHER_PARAM_CTS_MODE,
                                         (char *)"CS3", 0),
        OSSL_PARAM_construct_end()
    };
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, k->et->cts, NULL);
    int ok = 0;

    if (c == NULL) {
        (void)snprintf(err, err_size, "libcrypto has no %s", k->et->cts);
        goto cleanup;
    }
    k->cts = EVP_CIPHER_CTX_new();
    if (k->cts == NULL ||
        !EVP_CipherInit_ex2(k->cts, c, ke, zero_iv, encrypt, p)) {
        (void)snprintf(err, err_size, "libcrypto cannot set up %s in the "
                       "CS3 (Kerberos) mode", k->et->cts);
        goto cleanup;
    }
    ok = 1;
cleanup:
    EVP_CIPHER_free(c);
    return ok;
}

int
kc_enctype_usable(const struct kc_enctype *et, char *err, size_t err_size)
{
    static const uint8_t base[KC_MAX_KEY];
    struct kc_key k;
    int ok = kc_key_init(&k, et, base, 0, 1, err, err_size);

    kc_key_free(&k);
    return ok;
}

int
kc_key_raw(struct kc_key *k, const struct kc_enctype *et, const uint8_t *ke,
           const uint8_t *ki, int encrypt, char *err, size_t err_size)
{
    memset(k, 0, sizeof(*k));
    k->et = et;
    kc_hmac_init(&k->mac, et->hash, ki, encrypt < 0 ? et->kclen : et->kilen);
    if (encrypt >= 0 && !cipher_init(k, ke, encrypt, err, err_size)) {
        kc_key_free(k);
        return 0;
    }
    return 1;
}

int
kc_key_init(struct kc_key *k, const struct kc_enctype *et,
            const uint8_t *base, uint32_t usage, int encrypt, char *err,
            size_t err_size)
{
    uint8_t ke[KC_MAX_KEY], ki[KC_MAX_KEY];
    int ok = 0;

    memset(k, 0, sizeof(*k));
    if (encrypt < 0 ? !derive_usage(et, base, usage, 0x99, ki, et->kclen)
                    : !derive_usage(et, base, usage, 0xAA, ke, et->keylen) ||
                          !derive_usage(et, base, usage, 0x55, ki,
                                        et->kilen)) {
        (void)snprintf(err, err_size, "libcrypto cannot derive %s keys (%s)",
                       et->name, et->etm ? "KBKDF" : "KRB5KDF");
        goto cleanup;
    }
    ok = kc_key_raw(k, et, ke, ki, encrypt, err, err_size);
cleanup:
    OPENSSL_cleanse(ke, sizeof(ke));
    OPENSSL_cleanse(ki, sizeof(ki));
    return ok;
}

void
kc_key_free(struct kc_key *k)
{
    EVP_CIPHER_CTX_free(k->cts); /* clears the key schedule */
    OPENSSL_cleanse(k, sizeof(*k));
}

/* One CTS pass over n bytes (n >= 16), IV zero: RFC 4121 tokens start
 * every message from cipher state zero. */
int
kc_cts(const struct kc_key *k, uint8_t *buf, size_t n)
{
    int outl = 0;

    if (n < 16 || n > INT32_MAX ||
        !EVP_CipherInit_ex2(k->cts, NULL, NULL, zero_iv, -1, NULL) ||
        !EVP_CipherUpdate(k->cts, buf, &outl, buf, (int)n))
        return 0;
    return (size_t)outl == n;
}

int
kc_encrypt(const struct kc_key *k, uint8_t *buf, size_t len)
{
    return RAND_bytes(buf, KC_CONFOUNDER) == 1 &&
           kc_encrypt_confounded(k, buf, len);
}

int
kc_encrypt_confounded(const struct kc_key *k, uint8_t *buf, size_t len)
{
    uint8_t mac[SHA384_DIGEST_LENGTH];
    size_t n = KC_CONFOUNDER + len;

    if (!k->et->etm) /* RFC 3962: H over the plaintext */
        kc_hmac(&k->mac, buf, n, NULL, 0, mac);
    if (!kc_cts(k, buf, n))
        return 0;
    if (k->et->etm) /* RFC 8009: H over IV | C */
        kc_hmac(&k->mac, zero_iv, sizeof(zero_iv), buf, n, mac);
    memcpy(buf + n, mac, k->et->hlen);
    OPENSSL_cleanse(mac, sizeof(mac));
    return 1;
}

int
kc_decrypt(const struct kc_key *k, uint8_t *buf, size_t len)
{
    uint8_t mac[SHA384_DIGEST_LENGTH];
    size_t n = KC_CONFOUNDER + len;
    int ok = 0;

    if (k->et->etm) { /* verify before decrypting */
        kc_hmac(&k->mac, zero_iv, sizeof(zero_iv), buf, n, mac);
        if (CRYPTO_memcmp(mac, buf + n, k->et->hlen) != 0)
            goto cleanup;
        ok = kc_cts(k, buf, n);
        goto cleanup;
    }
    if (!kc_cts(k, buf, n))
        goto cleanup;
    kc_hmac(&k->mac, buf, n, NULL, 0, mac);
    ok = CRYPTO_memcmp(mac, buf + n, k->et->hlen) == 0;
cleanup:
    if (!ok)
        OPENSSL_cleanse(buf, n);
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok;
}

void
kc_checksum(const struct kc_key *k, const uint8_t *a, size_t alen,
            const uint8_t *b, size_t blen, uint8_t *out)
{
    uint8_t mac[SHA384_DIGEST_LENGTH];

    kc_hmac(&k->mac, a, alen, b, blen, mac);
    memcpy(out, mac, k->et->hlen);
    OPENSSL_cleanse(mac, sizeof(mac));
}
