/*
 * kcrypto.h - the Kerberos AES profiles that RFC 4121 wrap tokens need,
 * on OpenSSL 3's libcrypto: key derivation (RFC 3961 section 5.1 DK for
 * aes*-cts-hmac-sha1-96, RFC 8009 KDF-HMAC-SHA2 for aes*-cts-hmac-sha2),
 * encryption (RFC 3962: MAC over the plaintext; RFC 8009: MAC over the
 * ciphertext) and keyed checksums.  No GSS-API and no SASL here.
 *
 * Everything works in the caller's buffers: after kc_key_init nothing is
 * allocated (the HMAC states are precomputed plain structs; the cipher
 * contexts are reset, not recreated), so a packet costs no allocation.
 * Keys live in struct kc_key and are wiped by kc_key_free.
 */
#ifndef SPNEGO_KCRYPTO_H
#define SPNEGO_KCRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#define KC_CONFOUNDER 16 /* the random prefix of every encryption */
#define KC_MAX_KEY 32    /* longest base, Ke, Ki or Kc */
#define KC_MAX_HASH 24   /* longest truncated HMAC (sha384: 192 bits) */

/* The four enctypes with RFC 4121 tokens that this layer does itself. */
enum kc_enctype_id {
    KC_AES128_SHA1 = 17,   /* aes128-cts-hmac-sha1-96 */
    KC_AES256_SHA1 = 18,   /* aes256-cts-hmac-sha1-96 */
    KC_AES128_SHA256 = 19, /* aes128-cts-hmac-sha256-128 */
    KC_AES256_SHA384 = 20  /* aes256-cts-hmac-sha384-192 */
};

enum kc_digest { KC_SHA1, KC_SHA256, KC_SHA384 };

struct kc_enctype {
    int32_t id;
    const char *name;       /* "aes256-cts-hmac-sha1-96" */
    const char *cts;        /* OpenSSL cipher: "AES-256-CBC-CTS" */
    const char *cbc;        /* for KRB5KDF: "AES-256-CBC" */
    const char *digest;     /* for KBKDF: "SHA2-384" */
    enum kc_digest hash;
    size_t keylen;          /* base key and Ke */
    size_t kilen;           /* Ki: integrity key of an encryption */
    size_t kclen;           /* Kc: checksum key */
    size_t hlen;            /* truncated HMAC */
    int etm;                /* 1: RFC 8009 encrypt-then-MAC */
};

/* The enctype of a Kerberos enctype number, or NULL for any other. */
const struct kc_enctype *kc_enctype_find(int32_t id);

/* 1 if this libcrypto has what the enctype needs (its CTS cipher in the
 * CS3 mode and its KDF), else 0 with a sentence in err.  Allocates and
 * frees. */
int kc_enctype_usable(const struct kc_enctype *et, char *err,
                      size_t err_size);

/* An HMAC key: the digest states after the inner and the outer pad. */
union kc_sha {
    SHA_CTX sha1;
    SHA256_CTX sha256;
    SHA512_CTX sha512; /* also SHA-384 */
};

struct kc_hmac {
    enum kc_digest hash;
    union kc_sha inner, outer;
};

/* A key for one usage and purpose: an encryption key holds a CTS cipher
 * context for one direction (Ke) and the HMAC key Ki; a checksum key
 * holds Kc only (cts NULL). */
struct kc_key {
    const struct kc_enctype *et;
    EVP_CIPHER_CTX *cts;
    struct kc_hmac mac;
};

/*
 * Derive the key of `usage` from the base key (et->keylen bytes): for
 * encrypting (encrypt 1) or decrypting (encrypt 0) with Ke and Ki, or
 * for checksums with Kc (encrypt -1).  Returns 1, or 0 with a sentence in
 * err (libcrypto lacks an algorithm; nothing to free then).
 */
int kc_key_init(struct kc_key *k, const struct kc_enctype *et,
                const uint8_t *base, uint32_t usage, int encrypt,
                char *err, size_t err_size);

/* The same from given keys: Ke (et->keylen bytes; unused for checksums)
 * and Ki (et->kilen) or Kc (et->kclen).  For the known-answer tests. */
int kc_key_raw(struct kc_key *k, const struct kc_enctype *et,
               const uint8_t *ke, const uint8_t *ki, int encrypt, char *err,
               size_t err_size);

/* Wipe and free.  Safe on a zeroed key and twice. */
void kc_key_free(struct kc_key *k);

/*
 * Encrypt in place: buf holds KC_CONFOUNDER bytes (random, filled here)
 * then len bytes of plaintext; afterwards it holds the ciphertext and
 * buf + KC_CONFOUNDER + len the et->hlen bytes of the MAC.  len +
 * KC_CONFOUNDER must be at least 16 (one block).  Returns 1, or 0.
 */
int kc_encrypt(const struct kc_key *k, uint8_t *buf, size_t len);

/*
 * Decrypt in place: buf holds KC_CONFOUNDER + len bytes of ciphertext then
 * the MAC.  Returns 1 with the plaintext at buf + KC_CONFOUNDER, or 0 when
 * the MAC does not verify (buf is then wiped: it may hold plaintext).
 */
int kc_decrypt(const struct kc_key *k, uint8_t *buf, size_t len);

/* The keyed checksum (et->hlen bytes into out) of a then b. */
void kc_checksum(const struct kc_key *k, const uint8_t *a, size_t alen,
                 const uint8_t *b, size_t blen, uint8_t *out);

/* kc_encrypt with the confounder already in buf (known-answer tests). */
int kc_encrypt_confounded(const struct kc_key *k, uint8_t *buf, size_t len);

/* One CTS (CS3) pass in place over n >= 16 bytes with IV zero, in the
 * key's direction.  Returns 1, or 0. */
int kc_cts(const struct kc_key *k, uint8_t *buf, size_t n);

/* Raw primitives, for the known-answer tests. */
int kc_derive(const struct kc_enctype *et, const uint8_t *base,
              const uint8_t *constant, size_t clen, uint8_t *out,
              size_t outlen);
void kc_hmac_init(struct kc_hmac *h, enum kc_digest hash,
                  const uint8_t *key, size_t keylen);
/* Full-length HMAC of a then b into out (20, 32 or 48 bytes). */
void kc_hmac(const struct kc_hmac *h, const uint8_t *a, size_t alen,
             const uint8_t *b, size_t blen, uint8_t *out);

#endif /* SPNEGO_KCRYPTO_H */
