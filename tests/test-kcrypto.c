/*
 * test-kcrypto.c - known answers for common/kcrypto.c (the fast layer's
 * Kerberos crypto on libcrypto):
 *  - RFC 3962 appendix B: AES-128 CBC with ciphertext stealing ("chicken
 *    teriyaki", IV 0), and string-to-key's last step DK(PBKDF2 output,
 *    "kerberos"), which is the RFC 3961 DK of aes*-cts-hmac-sha1-96;
 *  - RFC 8009 appendix A: Kc, Ke and Ki of usage 2, the sample
 *    encryptions (decrypted, then encrypted again with their confounder)
 *    and the checksums of aes128-cts-hmac-sha256-128 and
 *    aes256-cts-hmac-sha384-192;
 *  - aes128/aes256-cts-hmac-sha1-96 encryptions and checksums, known
 *    answers of MIT krb5's crypto tests (t_decrypt.c, t_cksums.c);
 *  - a tampered ciphertext or MAC is refused, and the buffer wiped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hex.h"
#include "kcrypto.h"

static uint8_t *
hex(const char *s, size_t *len)
{
    uint8_t *b = hex_decode(s, len);

    assert_non_null(b);
    return b;
}

/* ---- RFC 3962 appendix B ---- */

static void
rfc3962_cts(void **state)
{
    static const struct {
        size_t len;
        const char *out;
    } v[] = {
        { 17, "c6353568f2bf8cb4d8a580362da7ff7f97" },
        { 31, "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5" },
        { 32, "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584" },
        { 47, "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e"
              "39312523a78662d5be7fcbcc98ebf5" },
        { 48, "97687268d6ecccc0c07b25e25ecfe5849dad8bbb96c4cdc03bc103e1a194bbd8"
              "39312523a78662d5be7fcbcc98ebf5a8" },
        { 64, "97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a8"
              "4807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8" },
    };
    const struct kc_enctype *et = kc_enctype_find(KC_AES128_SHA1);
    const uint8_t *key = (const uint8_t *)"chicken teriyaki";
    uint8_t ki[16] = { 0 }, buf[64], *plain, *want;
    struct kc_key enc, dec;
    char err[128];
    size_t i, n, wn;

    (void)state;
    /* "I would like the General Gau's Chicken, please, and wonton soup." */
    plain = hex("4920776f756c64206c696b652074686520"
                "47656e6572616c20476175277320"
                "436869636b656e2c20706c656173652c20"
                "616e6420776f6e746f6e20736f75702e", &n);
    assert_int_equal(n, 64);
    assert_true(kc_key_raw(&enc, et, key, ki, 1, err, sizeof(err)));
    assert_true(kc_key_raw(&dec, et, key, ki, 0, err, sizeof(err)));
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        want = hex(v[i].out, &wn);
        assert_int_equal(wn, v[i].len);
        memcpy(buf, plain, v[i].len);
        assert_true(kc_cts(&enc, buf, v[i].len));
        assert_memory_equal(buf, want, v[i].len);
        assert_true(kc_cts(&dec, buf, v[i].len));
        assert_memory_equal(buf, plain, v[i].len);
        free(want);
    }
    /* one block is plain CBC (ECB with IV 0); less is refused */
    assert_false(kc_cts(&enc, buf, 15));
    kc_key_free(&enc);
    kc_key_free(&dec);
    free(plain);
}

/* DK(tkey, "kerberos"): the last step of RFC 3962 string-to-key. */
static void
rfc3962_derive(void **state)
{
    static const struct {
        int32_t et;
        const char *tkey, *key;
    } v[] = {
        { KC_AES128_SHA1, "cdedb5281bb2f801565a1122b2563515",
          "42263c6e89f4fc28b8df68ee09799f15" },
        { KC_AES256_SHA1, "cdedb5281bb2f801565a1122b2563515"
                          "0ad1f7a04bb9f3a333ecc0e2e1f70837",
          "fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161" },
        { KC_AES128_SHA1, "6b9cf26d45455a43a5b8bb276a403b39",
          "f149c1f2e154a73452d43e7fe62a56e5" },
        { KC_AES256_SHA1, "6b9cf26d45455a43a5b8bb276a403b39"
                          "e7fe37a0c41e02c281ff3069e1e94f52",
          "4b6d9839f84406df1f09cc166db4b83c571848b784a3d6bdc346589a3e393f9e" },
    };
    uint8_t out[32], *tkey, *key;
    size_t i, n, kn;

    (void)state;
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const struct kc_enctype *et = kc_enctype_find(v[i].et);

        tkey = hex(v[i].tkey, &n);
        key = hex(v[i].key, &kn);
        assert_true(kc_derive(et, tkey, (const uint8_t *)"kerberos", 8, out,
                              kn));
        assert_memory_equal(out, key, kn);
        free(tkey);
        free(key);
    }
}

/* ---- RFC 8009 appendix A ---- */

/* its base keys */
#define KEY128 "3705d96080c17728a0e800eab6e0d23c"
#define KEY256 "6d404d37faf79f9df0d33568d320669800eb4836472ea8a026d16b7182460c52"

static void
rfc8009_derive(void **state)
{
    static const struct {
        int32_t et;
        uint8_t kind;
        const char *out;
    } v[] = {
        { KC_AES128_SHA256, 0x99, "b31a018a48f54776f403e9a396325dc3" },
        { KC_AES128_SHA256, 0xaa, "9b197dd1e8c5609d6e67c3e37c62c72e" },
        { KC_AES128_SHA256, 0x55, "9fda0e56ab2d85e1569a688696c26a6c" },
        { KC_AES256_SHA384, 0x99,
          "ef5718be86cc84963d8bbb5031e9f5c4ba41f28faf69e73d" },
        { KC_AES256_SHA384, 0xaa,
          "56ab22bee63d82d7bc5227f6773f8ea7a5eb1c825160c38312980c442e5c7e49" },
        { KC_AES256_SHA384, 0x55,
          "69b16514e3cd8e56b82010d5c73012b622c4d00ffc23ed1f" },
    };
    uint8_t out[32], *base, *want;
    size_t i, n, wn;

    (void)state;
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const struct kc_enctype *et = kc_enctype_find(v[i].et);
        const uint8_t c[5] = { 0, 0, 0, 2, v[i].kind };

        base = hex(v[i].et == KC_AES128_SHA256 ? KEY128 : KEY256, &n);
        want = hex(v[i].out, &wn);
        assert_true(kc_derive(et, base, c, sizeof(c), out, wn));
        assert_memory_equal(out, want, wn);
        free(base);
        free(want);
    }
}

/* Decrypt the vector, check the plaintext, encrypt again with the
 * confounder it had: the same bytes.  Then a flipped bit is refused. */
static void
check_encryption(int32_t id, uint32_t usage, const char *base_hex,
                 const char *plain_hex, const char *cipher_hex)
{
    const struct kc_enctype *et = kc_enctype_find(id);
    struct kc_key enc, dec;
    uint8_t *base, *plain, *cipher, *buf;
    size_t bn, pn, cn;
    char err[128];

    base = hex(base_hex, &bn);
    plain = hex(plain_hex, &pn);
    cipher = hex(cipher_hex, &cn);
    assert_int_equal(bn, et->keylen);
    assert_int_equal(cn, KC_CONFOUNDER + pn + et->hlen);
    assert_true(kc_key_init(&enc, et, base, usage, 1, err, sizeof(err)));
    assert_true(kc_key_init(&dec, et, base, usage, 0, err, sizeof(err)));
    buf = malloc(cn);
    assert_non_null(buf);
    memcpy(buf, cipher, cn);
    assert_true(kc_decrypt(&dec, buf, pn));
    if (pn > 0)
        assert_memory_equal(buf + KC_CONFOUNDER, plain, pn);
    assert_true(kc_encrypt_confounded(&enc, buf, pn));
    assert_memory_equal(buf, cipher, cn);
    buf[cn / 2] ^= 0x10;
    assert_false(kc_decrypt(&dec, buf, pn));
    memcpy(buf, cipher, cn);
    buf[cn - 1] ^= 0x01;
    assert_false(kc_decrypt(&dec, buf, pn));
    kc_key_free(&enc);
    kc_key_free(&dec);
    free(buf);
    free(base);
    free(plain);
    free(cipher);
}

struct enc_vector {
    int32_t enctype;
    uint32_t usage;
    const char *base, *plain, *cipher; /* hex */
};

static void
check_encryptions(const struct enc_vector *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        check_encryption(v[i].enctype, v[i].usage, v[i].base, v[i].plain,
                         v[i].cipher);
}

/* RFC 8009 appendix A: usage 2, plaintexts of 0, 6, 16 and 21 bytes */
static const struct enc_vector rfc8009_encryptions[] = {
    { KC_AES128_SHA256, 2, KEY128,
      "",
      "ef85fb890bb8472f4dab20394dca781d"
      "ad877eda39d50c870c0d5a0a8e48c718" },
    { KC_AES128_SHA256, 2, KEY128,
      "000102030405",
      "84d7f30754ed987bab0bf3506beb09cfb55402cef7e6877ce99e247e"
      "52d16ed4421dfdf8976c" },
    { KC_AES128_SHA256, 2, KEY128,
      "000102030405060708090a0b0c0d0e0f",
      "3517d640f50ddc8ad3628722b3569d2ae07493fa8263254080ea65c1"
      "008e8fc295fb4852e7d83e1e7c48c37eebe6b0d3" },
    { KC_AES128_SHA256, 2, KEY128,
      "000102030405060708090a0b0c0d0e0f1011121314",
      "720f73b18d9859cd6ccb4346115cd336c70f58edc0c4437c5573544c"
      "31c813bce1e6d072c186b39a413c2f92ca9b8334a287ffcbfc" },
    { KC_AES256_SHA384, 2, KEY256,
      "",
      "41f53fa5bfe7026d91faf9be959195a058707273a96a40f0a0196062"
      "1ac612748b9bbfbe7eb4ce3c" },
    { KC_AES256_SHA384, 2, KEY256,
      "000102030405",
      "4ed7b37c2bcac8f74f23c1cf07e62bc7b75fb3f637b9f559c7f664f6"
      "9eab7b6092237526ea0d1f61cb20d69d10f2" },
    { KC_AES256_SHA384, 2, KEY256,
      "000102030405060708090a0b0c0d0e0f",
      "bc47ffec7998eb91e8115cf8d19dac4bbbe2e163e87dd37f49beca92"
      "027764f68cf51f14d798c2273f35df574d1f932e40c4ff255b36a266" },
    { KC_AES256_SHA384, 2, KEY256,
      "000102030405060708090a0b0c0d0e0f1011121314",
      "40013e2df58e8751957d2878bcd2d6fe101ccfd556cb1eae79db3c3e"
      "e86429f2b2a602ac86fef6ecb647d6295fae077a1feb517508d2c16b"
      "4192e01f62" },
};

static void
rfc8009_encrypt(void **state)
{
    (void)state;
    check_encryptions(rfc8009_encryptions,
                      sizeof(rfc8009_encryptions) /
                          sizeof(rfc8009_encryptions[0]));
}

static void
check_checksum(int32_t id, uint32_t usage, const char *base_hex,
               const char *data_hex, const char *sum_hex)
{
    const struct kc_enctype *et = kc_enctype_find(id);
    struct kc_key k;
    uint8_t *base, *data, *want, out[KC_MAX_HASH];
    size_t bn, dn, wn;
    char err[128];

    base = hex(base_hex, &bn);
    data = hex(data_hex, &dn);
    want = hex(sum_hex, &wn);
    assert_int_equal(wn, et->hlen);
    assert_true(kc_key_init(&k, et, base, usage, -1, err, sizeof(err)));
    assert_null(k.cts);
    /* in one piece and in two */
    kc_checksum(&k, data, dn, NULL, 0, out);
    assert_memory_equal(out, want, wn);
    kc_checksum(&k, data, dn / 2, data + dn / 2, dn - dn / 2, out);
    assert_memory_equal(out, want, wn);
    kc_key_free(&k);
    free(base);
    free(data);
    free(want);
}

static void
rfc8009_checksum(void **state)
{
    static const char *const data = "000102030405060708090a0b0c0d0e0f1011121314";

    (void)state;
    check_checksum(KC_AES128_SHA256, 2, KEY128, data,
                   "d78367186643d67b411cba9139fc1dee");
    check_checksum(KC_AES256_SHA384, 2, KEY256, data,
                   "45ee791567eefca37f4ac1e0222de80d43c3bfa06699672a");
}

/* ---- aes-sha1: MIT krb5's known answers ---- */

/* MIT krb5's known answers (t_decrypt.c) */
static const struct enc_vector sha1_encryptions[] = {
    { KC_AES128_SHA1, 0, "5a5c0f0ba54f3828b2195e66ca24a289",
      "",
      "49ff8e11c173d9583a3254fbe7b1f1df36c538e8416784a1672e6676" },
    { KC_AES128_SHA1, 3, "033ee6502c54fd23e27791e987983827",
      "31332062797465732062797465",
      "ec366d0327a933bf49330e650e49bc6b974637fe80bf532fe51795b4"
      "809718e6194724db948d1fd637" },
    { KC_AES256_SHA1, 1, "b9477e1ff0329c0050e20ce6c72d2dff"
"27e8fe541ab0954429a9cb5b4f7b1e2a",
      "31",
      "406150b97aeb76d43b36b62cc1ecdfbe6f40e95755e0beb5c27825f3"
      "a4" },
    { KC_AES256_SHA1, 4, "f1c795e9248a09338d82c3f8d5b56704"
"0b0110736845041347235b1404231398",
      "333020627974657320627974657320627974657320627974657320"
      "627974",
      "d1137a4d634cfece924dbc3bf6790648bd5cff7de0e7b99460211d0d"
      "aef3d79a295c688858f3b34b9cbd6eebae81daf6b734d4d498b6714f"
      "1c1d" },
};

static void
sha1_encrypt(void **state)
{
    (void)state;
    check_encryptions(sha1_encryptions,
                      sizeof(sha1_encryptions) / sizeof(sha1_encryptions[0]));
}

static void
sha1_checksum(void **state)
{
    (void)state;
    /* "eight nine ten eleven twelve thirteen", "fourteen" */
    check_checksum(KC_AES128_SHA1, 3, "9062430c8cda3388922e6d6a509f5b7a",
                   "6569676874206e696e652074656e20656c6576656e2074776"
                   "56c766520746869727465656e",
                   "01a4b088d45628f6946614e3");
    check_checksum(KC_AES256_SHA1, 4,
                   "b1ae4cd8462aff1677053cc9279aac30"
                   "b796fb81ce21474dd3ddbcfea4ec76d7",
                   "666f75727465656e", "e08739e3279e2903ec8e3836");
}

/* Other enctypes have no profile here. */
static void
unknown_enctypes(void **state)
{
    (void)state;
    assert_null(kc_enctype_find(23)); /* rc4-hmac */
    assert_null(kc_enctype_find(16)); /* des3 */
    assert_null(kc_enctype_find(26)); /* camellia256 */
    assert_non_null(kc_enctype_find(18));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc3962_cts),
        cmocka_unit_test(rfc3962_derive),
        cmocka_unit_test(rfc8009_derive),
        cmocka_unit_test(rfc8009_encrypt),
        cmocka_unit_test(rfc8009_checksum),
        cmocka_unit_test(sha1_encrypt),
        cmocka_unit_test(sha1_checksum),
        cmocka_unit_test(unknown_enctypes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
