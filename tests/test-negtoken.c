/* test-negtoken.c - the SPNEGO token codec: known answers from INTEROP.md,
 * round trips, leniencies and named malformed tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hex.h"
#include "negtoken.h"
#include "oids.h"

/* ---- helpers ---- */

static uint8_t *
must_hex(const char *hex, size_t *len_out)
{
    uint8_t *buf = hex_decode(hex, len_out);

    assert_non_null(buf);
    return buf;
}

static enum negtoken_status
decode_hex(const char *hex, unsigned lenience, struct negtoken *tok,
           der_err *err, uint8_t **buf_out)
{
    struct negtoken_opts opts = { 0, 0, lenience };
    size_t len;
    uint8_t *buf = must_hex(hex, &len);

    *buf_out = buf;
    return negtoken_decode(buf, len, &opts, tok, err);
}

/* Decode, re-encode, and require the very same bytes. */
static void
assert_round_trip(const uint8_t *buf, size_t len, unsigned lenience)
{
    struct negtoken_opts opts = { 0, 0, lenience };
    struct negtoken tok;
    der_err err;
    uint8_t *out = NULL;
    size_t out_len = 0;

    assert_int_equal(negtoken_decode(buf, len, &opts, &tok, &err),
                     NEGTOKEN_OK);
    assert_int_equal(negtoken_encode(&tok, &out, &out_len), NEGTOKEN_OK);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, buf, len);
    free(out);
}

static int
bytes_equal_oid(struct negtoken_bytes b, enum spnego_oid_id id)
{
    return spnego_oid_lookup(b.data, b.len) == id;
}

/* ---- known answers (INTEROP.md section 5) ---- */

static const char kat_mit_init2[] =
    "604706062b0601050502a03d303ba00d300b06092a864886f712010202a32a3028a0"
    "261b246e6f745f646566696e65645f696e5f5246433431373840706c656173655f69"
    "676e6f7265";
static const char kat_mit_mskrb5[] =
    "a1143012a0030a0100a10b06092a864882f712010202";
static const char kat_gokrb5_krb5[] =
    "a1143012a0030a0100a10b06092a864886f712010202";
static const char kat_counter_proposal[] =
    "a1153013a0030a0103a10c060a2b06010401823702020a";
static const char kat_win_ntlm_init[] =
    "604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa22a0428"
    "4e544c4d5353500001000000978208e2000000000000000000000000000000000a00"
    "63450000000f";
static const char kat_win_final_mic[] =
    "a11b3019a0030a0100a312041001000000791f335a883b1df000000000";

static void
kat_mit_negtokeninit2(void **state)
{
    struct negtoken tok;
    der_err err;
    uint8_t *buf = NULL;

    (void)state;
    assert_int_equal(decode_hex(kat_mit_init2, 0, &tok, &err, &buf),
                     NEGTOKEN_OK);
    assert_int_equal(tok.type, NEGTOKEN_INIT2);
    assert_true(tok.framed);
    assert_int_equal(tok.n_mechs, 1);
    assert_true(bytes_equal_oid(tok.mechs[0], SPNEGO_OID_KRB5));
    assert_true(tok.has_neg_hints);
    assert_true(tok.has_hint_name);
    assert_int_equal(tok.hint_name.len, 36);
    assert_memory_equal(tok.hint_name.data,
                        "not_defined_in_RFC4178@please_ignore", 36);
    assert_false(tok.has_hint_address);
    assert_false(tok.has_mech_token);
    assert_false(tok.has_mic);
    assert_int_equal(tok.n_unknown, 0);
    /* the received MechTypeList bytes, tag included */
    assert_int_equal(tok.mech_list_der.len, 13);
    assert_int_equal(tok.mech_list_der.data[0], 0x30);
    assert_int_equal(tok.mech_list_der.data - buf, 16);
    free(buf);
}

static void
kat_accept_completed_ms_krb5(void **state)
{
    struct negtoken tok;
    der_err err;
    uint8_t *buf = NULL;

    (void)state;
    assert_int_equal(decode_hex(kat_mit_mskrb5, 0, &tok, &err, &buf),
                     NEGTOKEN_OK);
    assert_int_equal(tok.type, NEGTOKEN_RESP);
    assert_false(tok.framed);
    assert_int_equal(tok.neg_state, NEG_STATE_ACCEPT_COMPLETED);
    assert_true(tok.has_supported_mech);
    assert_true(bytes_equal_oid(tok.supported_mech, SPNEGO_OID_MS_KRB5));
    assert_false(tok.has_response_token);
    assert_false(tok.has_mic);
    free(buf);
    assert_int_equal(decode_hex(kat_gokrb5_krb5, 0, &tok, &err, &buf),
                     NEGTOKEN_OK);
    assert_true(bytes_equal_oid(tok.supported_mech, SPNEGO_OID_KRB5));
    free(buf);
}

static void
kat_counter_proposal_request_mic(void **state)
{
    struct negtoken tok;
    der_err err;
    uint8_t *buf = NULL;

    (void)state;
    assert_int_equal(decode_hex(kat_counter_proposal, 0, &tok, &err, &buf),
                     NEGTOKEN_OK);
    assert_int_equal(tok.neg_state, NEG_STATE_REQUEST_MIC);
    assert_true(bytes_equal_oid(tok.supported_mech, SPNEGO_OID_NTLMSSP));
    assert_false(tok.has_response_token);
    free(buf);
}

static void
kat_windows_ntlm_init(void **state)
{
    struct negtoken tok;
    der_err err;
    uint8_t *buf = NULL;

    (void)state;
    assert_int_equal(decode_hex(kat_win_ntlm_init, 0, &tok, &err, &buf),
                     NEGTOKEN_OK);
    assert_int_equal(tok.type, NEGTOKEN_INIT);
    assert_true(tok.framed);
    assert_int_equal(tok.n_mechs, 1);
    assert_true(bytes_equal_oid(tok.mechs[0], SPNEGO_OID_NTLMSSP));
    assert_true(tok.has_mech_token);
    assert_int_equal(tok.mech_token.len, 40);
    assert_memory_equal(tok.mech_token.data, "NTLMSSP\0\1\0\0\0", 12);
    assert_false(tok.has_req_flags);
    free(buf);
}

static void
kat_windows_final_mic(void **state)
{
    struct negtoken tok;
    der_err err;
    uint8_t *buf = NULL;

    (void)state;
    assert_int_equal(decode_hex(kat_win_final_mic, 0, &tok, &err, &buf),
                     NEGTOKEN_OK);
    assert_int_equal(tok.neg_state, NEG_STATE_ACCEPT_COMPLETED);
    assert_true(tok.has_mic);
    assert_int_equal(tok.mic.len, 16);
    assert_false(tok.has_supported_mech);
    free(buf);
}

static void
kat_reencode_byte_exact(void **state)
{
    static const char *const kats[] = {
        kat_mit_init2, kat_mit_mskrb5, kat_gokrb5_krb5,
        kat_counter_proposal, kat_win_ntlm_init, kat_win_final_mic
    };
    size_t i, len;

    (void)state;
    for (i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
        uint8_t *buf = must_hex(kats[i], &len);

        assert_round_trip(buf, len, 0);
        free(buf);
    }
}

/* ---- encoding from scratch ---- */

static void
encode_init2_matches_mit(void **state)
{
    const struct spnego_oid_info *krb5 = spnego_oid_info(SPNEGO_OID_KRB5);
    static const char hint[] = "not_defined_in_RFC4178@please_ignore";
    struct negtoken tok;
    uint8_t *out = NULL, *want = NULL;
    size_t out_len, want_len;

    (void)state;
    negtoken_init(&tok);
    tok.type = NEGTOKEN_INIT2;
    tok.framed = 1;
    tok.has_mech_types = 1;
    tok.n_mechs = 1;
    tok.mechs[0].data = krb5->der;
    tok.mechs[0].len = krb5->der_len;
    tok.has_neg_hints = 1;
    tok.has_hint_name = 1;
    tok.hint_name.data = (const uint8_t *)hint;
    tok.hint_name.len = strlen(hint);
    assert_int_equal(negtoken_encode(&tok, &out, &out_len), NEGTOKEN_OK);
    want = must_hex(kat_mit_init2, &want_len);
    assert_int_equal(out_len, want_len);
    assert_memory_equal(out, want, want_len);
    free(out);
    free(want);
}

static void
encode_resp_all_fields_round_trip(void **state)
{
    const struct spnego_oid_info *ntlm = spnego_oid_info(SPNEGO_OID_NTLMSSP);
    struct negtoken tok, back;
    uint8_t *big = calloc(70000, 1), *out = NULL;
    size_t out_len;
    der_err err;
    static const uint8_t mic[16] = { 1, 0, 0, 0, 9, 9, 9, 9 };

    (void)state;
    assert_non_null(big);
    memset(big, 0x5a, 70000);
    negtoken_init(&tok);
    tok.type = NEGTOKEN_RESP;
    tok.neg_state = NEG_STATE_ACCEPT_INCOMPLETE;
    tok.has_supported_mech = 1;
    tok.supported_mech.data = ntlm->der;
    tok.supported_mech.len = ntlm->der_len;
    tok.has_response_token = 1;
    tok.response_token.data = big;
    tok.response_token.len = 70000;
    tok.has_mic = 1;
    tok.mic.data = mic;
    tok.mic.len = sizeof(mic);
    assert_int_equal(negtoken_encode(&tok, &out, &out_len), NEGTOKEN_OK);
    assert_int_equal(out[1], 0x83); /* 3-byte length */
    assert_int_equal(negtoken_decode(out, out_len, NULL, &back, &err),
                     NEGTOKEN_OK);
    assert_int_equal(back.neg_state, NEG_STATE_ACCEPT_INCOMPLETE);
    assert_true(bytes_equal_oid(back.supported_mech, SPNEGO_OID_NTLMSSP));
    assert_int_equal(back.response_token.len, 70000);
    assert_memory_equal(back.response_token.data, big, 70000);
    assert_int_equal(back.mic.len, 16);
    assert_round_trip(out, out_len, 0);
    free(out);
    free(big);
}

static void
encode_absent_negstate(void **state)
{
    struct negtoken tok, back;
    uint8_t *out = NULL;
    size_t out_len;
    der_err err;
    static const uint8_t t[3] = { 1, 2, 3 };

    (void)state;
    negtoken_init(&tok);
    tok.type = NEGTOKEN_RESP;
    tok.has_response_token = 1;
    tok.response_token.data = t;
    tok.response_token.len = 3;
    assert_int_equal(negtoken_encode(&tok, &out, &out_len), NEGTOKEN_OK);
    assert_int_equal(negtoken_decode(out, out_len, NULL, &back, &err),
                     NEGTOKEN_OK);
    assert_int_equal(back.neg_state, NEG_STATE_ABSENT);
    free(out);
}

static void
encode_req_flags_minimal(void **state)
{
    const struct spnego_oid_info *krb5 = spnego_oid_info(SPNEGO_OID_KRB5);
    struct negtoken tok, back;
    uint8_t *out = NULL;
    size_t out_len;
    der_err err;

    (void)state;
    negtoken_init(&tok);
    tok.type = NEGTOKEN_INIT;
    tok.framed = 1;
    tok.has_mech_types = 1;
    tok.n_mechs = 1;
    tok.mechs[0].data = krb5->der;
    tok.mechs[0].len = krb5->der_len;
    tok.has_req_flags = 1;
    tok.req_flags = NEGTOKEN_FLAG_MUTUAL | NEGTOKEN_FLAG_INTEG;
    assert_int_equal(negtoken_encode(&tok, &out, &out_len), NEGTOKEN_OK);
    assert_int_equal(negtoken_decode(out, out_len, NULL, &back, &err),
                     NEGTOKEN_OK);
    assert_int_equal(back.req_flags, NEGTOKEN_FLAG_MUTUAL |
                                         NEGTOKEN_FLAG_INTEG);
    assert_int_equal(back.req_flags_raw.len, 2);
    assert_int_equal(back.req_flags_raw.data[0], 1);    /* unused bits */
    assert_int_equal(back.req_flags_raw.data[1], 0x42); /* bits 1 and 6 */
    free(out);
}

static void
encode_rejects_invalid_structs(void **state)
{
    struct negtoken tok;
    uint8_t *out = (uint8_t *)&tok;
    size_t out_len = 1;

    (void)state;
    negtoken_init(&tok);
    tok.type = NEGTOKEN_INIT; /* no mechTypes */
    assert_int_equal(negtoken_encode(&tok, &out, &out_len),
                     NEGTOKEN_MALFORMED);
    assert_null(out);
    assert_int_equal(out_len, 0);
    tok.type = NEGTOKEN_NTLMSSP;
    assert_int_equal(negtoken_encode(&tok, &out, &out_len),
                     NEGTOKEN_MALFORMED);
    tok.type = NEGTOKEN_RESP;
    tok.neg_state = (enum negtoken_state)7;
    assert_int_equal(negtoken_encode(&tok, &out, &out_len),
                     NEGTOKEN_MALFORMED);
}

/* ---- leniencies, each with the peer that needs it ---- */

/* gokrb5 sends the initial NegTokenInit without GSS framing. */
static const char unframed_init[] =
    "a01d301ba019301706092a864886f712010202060a2b06010401823702020a";

static void
lenient_unframed_init(void **state)
{
    struct negtoken tok;
    der_err err;
    uint8_t *buf = NULL;

    (void)state;
    assert_int_equal(decode_hex(unframed_init, 0, &tok, &err, &buf),
                     NEGTOKEN_MALFORMED);
    assert_non_null(strstr(err.text, "without the GSS [APPLICATION 0]"));
    free(buf);
    assert_int_equal(decode_hex(unframed_init, NEGTOKEN_ALLOW_UNFRAMED_INIT,
                                &tok, &err, &buf),
                     NEGTOKEN_OK);
    assert_int_equal(tok.type, NEGTOKEN_INIT);
    assert_false(tok.framed);
    assert_int_equal(tok.n_mechs, 2);
    free(buf);
}

/* Windows LDAP clients send a bare NTLMSSP message under GSS-SPNEGO. */
static void
lenient_raw_ntlmssp(void **state)
{
    static const char negotiate[] =
        "4e544c4d5353500001000000978208e2000000000000000000000000000000000a"
        "0063450000000f";
    struct negtoken tok;
    der_err err;
    uint8_t *buf = NULL;

    (void)state;
    assert_int_equal(decode_hex(negotiate, 0, &tok, &err, &buf),
                     NEGTOKEN_MALFORMED);
    assert_non_null(strstr(err.text, "outer tag 0x4e"));
    free(buf);
    assert_int_equal(decode_hex(negotiate, NEGTOKEN_ALLOW_RAW_NTLMSSP, &tok,
                                &err, &buf),
                     NEGTOKEN_OK);
    assert_int_equal(tok.type, NEGTOKEN_NTLMSSP);
    assert_int_equal(tok.ntlmssp_type, 1);
    assert_int_equal(tok.mech_token.len, 40);
    free(buf);
}

/* reqFlags in the minimal form MIT rejects (03 02 07 80). */
static void
lenient_req_flags_any_valid_bit_string(void **state)
{
    static const char minimal[] =
        "602106062b0601050502a0173015a00d300b06092a864886f712010202a1040302"
        "0780";
    static const char padded[] =
        "602406062b0601050502a01a3018a00d300b06092a864886f712010202a1070305"
        "0060000000";
    struct negtoken tok;
    der_err err;
    uint8_t *buf = NULL;
    size_t len;

    (void)state;
    assert_int_equal(decode_hex(minimal, 0, &tok, &err, &buf), NEGTOKEN_OK);
    assert_int_equal(tok.req_flags, NEGTOKEN_FLAG_DELEG);
    free(buf);
    assert_int_equal(decode_hex(padded, 0, &tok, &err, &buf), NEGTOKEN_OK);
    assert_int_equal(tok.req_flags, NEGTOKEN_FLAG_MUTUAL |
                                        NEGTOKEN_FLAG_REPLAY);
    free(buf);
    buf = must_hex(padded, &len);
    assert_round_trip(buf, len, 0); /* raw bits are kept */
    free(buf);
}

/* Unknown fields after the known ones are skipped (draft section 6);
 * Windows Server 2025 sends one ([4] in NegTokenResp). */
static void
unknown_fields_skipped(void **state)
{
    static const char init_ext[] =
        "603706062b0601050502a02d302ba019301706092a864886f712010202060a2b06"
        "010401823702020aa30504036d6963a403040178a7023000";
    static const char resp_ext[] =
        "a1163014a0030a0101a40d300b06092a864886f712010202";
    struct negtoken tok;
    der_err err;
    uint8_t *buf = NULL;

    (void)state;
    assert_int_equal(decode_hex(init_ext, 0, &tok, &err, &buf), NEGTOKEN_OK);
    assert_int_equal(tok.type, NEGTOKEN_INIT);
    assert_true(tok.has_mic);
    assert_int_equal(tok.mic.len, 3);
    assert_int_equal(tok.n_unknown, 2);
    assert_int_equal(tok.unknown_tags[0], 4);
    assert_int_equal(tok.unknown_tags[1], 7);
    free(buf);
    assert_int_equal(decode_hex(resp_ext, 0, &tok, &err, &buf), NEGTOKEN_OK);
    assert_int_equal(tok.neg_state, NEG_STATE_ACCEPT_INCOMPLETE);
    assert_int_equal(tok.n_unknown, 1);
    assert_int_equal(tok.unknown_tags[0], 4);
    free(buf);
}

static void
unknown_oids_kept(void **state)
{
    /* mechTypes: an unknown OID 1.2.3.4 between krb5 and ntlmssp */
    static const char hex[] =
        "602c06062b0601050502a0223020a01e301c06092a864886f71201020206032a03"
        "04060a2b06010401823702020a";
    struct negtoken tok;
    der_err err;
    uint8_t *buf = NULL;

    (void)state;
    assert_int_equal(decode_hex(hex, 0, &tok, &err, &buf), NEGTOKEN_OK);
    assert_int_equal(tok.n_mechs, 3);
    assert_true(bytes_equal_oid(tok.mechs[1], SPNEGO_OID_UNKNOWN));
    assert_int_equal(tok.mechs[1].len, 3);
    free(buf);
}

static void
w2k_duplicate_mic_detected(void **state)
{
    static const char hex[] =
        "a1153013a0030a0101a2050403616263a3050403616263";
    static const char real_mic[] =
        "a1153013a0030a0101a2050403616263a3050403646566";
    struct negtoken tok;
    der_err err;
    uint8_t *buf = NULL;

    (void)state;
    assert_int_equal(decode_hex(hex, 0, &tok, &err, &buf), NEGTOKEN_OK);
    assert_true(negtoken_mic_is_w2k_copy(&tok));
    free(buf);
    assert_int_equal(decode_hex(real_mic, 0, &tok, &err, &buf), NEGTOKEN_OK);
    assert_false(negtoken_mic_is_w2k_copy(&tok));
    free(buf);
}

/* ---- limits ---- */

static uint8_t *
token_with_mechs(size_t n, size_t *len_out)
{
    const struct spnego_oid_info *krb5 = spnego_oid_info(SPNEGO_OID_KRB5);
    struct negtoken tok;
    uint8_t *out = NULL;
    size_t i;

    negtoken_init(&tok);
    tok.type = NEGTOKEN_INIT;
    tok.framed = 1;
    tok.has_mech_types = 1;
    tok.n_mechs = n;
    for (i = 0; i < n; i++) {
        tok.mechs[i].data = krb5->der;
        tok.mechs[i].len = krb5->der_len;
    }
    assert_int_equal(negtoken_encode(&tok, &out, len_out), NEGTOKEN_OK);
    return out;
}

static void
limit_max_mechs(void **state)
{
    struct negtoken_opts opts = { 0, 3, 0 };
    struct negtoken tok;
    der_err err;
    size_t len;
    uint8_t *buf = token_with_mechs(NEGTOKEN_MAX_MECHS, &len);

    (void)state;
    assert_int_equal(negtoken_decode(buf, len, NULL, &tok, &err),
                     NEGTOKEN_OK);
    assert_int_equal(tok.n_mechs, NEGTOKEN_MAX_MECHS);
    assert_int_equal(negtoken_decode(buf, len, &opts, &tok, &err),
                     NEGTOKEN_TOO_MANY_MECHS);
    assert_non_null(strstr(err.text, "more than 3 mechanisms"));
    assert_int_equal(tok.n_mechs, 0); /* nothing half-done */
    free(buf);
}

static void
limit_max_mechs_64(void **state)
{
    /* 65 OIDs cannot be built through the struct; splice one in. */
    static const char extra[] = "06092a864886f712010202";
    size_t len, i;
    uint8_t *base = token_with_mechs(1, &len);
    char *hex = malloc(2 * len + 65 * sizeof(extra) + 64);
    uint8_t *buf = NULL;
    struct negtoken tok;
    der_err err;
    size_t list = (size_t)65 * 11, n;

    (void)state;
    assert_non_null(hex);
    /* 60 82 LLLL 06062b0601050502 a0 82 LLLL 30 82 LLLL a0 82 LLLL
     * 30 82 LLLL (65 x OID) */
    n = (size_t)sprintf(hex, "608202%02zx06062b0601050502a08202%02zx308202"
                        "%02zxa08202%02zx308202%02zx",
                        (list + 24) & 0xff, (list + 12) & 0xff,
                        (list + 8) & 0xff, (list + 4) & 0xff, list & 0xff);
    for (i = 0; i < 65; i++)
        n += (size_t)sprintf(hex + n, "%s", extra);
    buf = must_hex(hex, &len);
    assert_int_equal(negtoken_decode(buf, len, NULL, &tok, &err),
                     NEGTOKEN_TOO_MANY_MECHS);
    assert_non_null(strstr(err.text, "more than 64 mechanisms"));
    free(buf);
    free(hex);
    free(base);
}

static void
limit_token_size(void **state)
{
    struct negtoken_opts opts = { 16, 0, 0 };
    struct negtoken tok;
    der_err err;
    size_t len;
    uint8_t *buf = must_hex(kat_mit_mskrb5, &len);

    (void)state;
    assert_int_equal(negtoken_decode(buf, len, &opts, &tok, &err),
                     NEGTOKEN_TOO_BIG);
    assert_non_null(strstr(err.text, "22 bytes exceeds the limit of 16"));
    opts.max_token = 22;
    assert_int_equal(negtoken_decode(buf, len, &opts, &tok, &err),
                     NEGTOKEN_OK);
    free(buf);
}

static void
limit_default_256k(void **state)
{
    size_t len = NEGTOKEN_DEFAULT_MAX_TOKEN + 1;
    uint8_t *buf = calloc(len, 1);
    struct negtoken tok;
    der_err err;

    (void)state;
    assert_non_null(buf);
    assert_int_equal(negtoken_decode(buf, len, NULL, &tok, &err),
                     NEGTOKEN_TOO_BIG);
    assert_non_null(strstr(err.text, "262144"));
    free(buf);
}

/* ---- named malformed tokens ---- */

struct malformed_case {
    const char *name;
    const char *hex;
    unsigned lenience;
    enum negtoken_status status;
    const char *text;  /* a substring of the error */
    size_t offset;
};

static const struct malformed_case malformed[] = {
    { "empty token", "", 0, NEGTOKEN_MALFORMED, "empty token", 0 },
    { "truncated outer TLV", "a1153013a0030a0103a1", 0, NEGTOKEN_MALFORMED,
      "TLV at 0 declares 21 content bytes, only 8 available", 0 },
    { "indefinite length", "a1803013a0030a0103a10c060a2b06010401823702020a"
      "0000", 0, NEGTOKEN_MALFORMED, "indefinite length at offset 1", 1 },
    { "non-minimal length 81 05", "a108308105a0030a0100", 0,
      NEGTOKEN_MALFORMED, "non-minimal length 0x81 05", 3 },
    { "five length bytes", "a1850000000005a0030a0100", 0, NEGTOKEN_MALFORMED,
      "uses 5 bytes", 1 },
    { "trailing garbage after the token", "a1073005a0030a0100deadbeef", 0,
      NEGTOKEN_MALFORMED, "4 bytes of trailing data after the outer token "
      "(ends at 9, buffer 13)", 9 },
    { "wrong outer tag 0x61", "61053003a00100", 0, NEGTOKEN_MALFORMED,
      "outer tag 0x61 is not 0x60", 0 },
    { "bare SEQUENCE without choice tag", "3005a0030a0100", 0,
      NEGTOKEN_MALFORMED, "outer tag 0x30", 0 },
    { "negState 9", "a1073005a0030a0109", 0, NEGTOKEN_MALFORMED,
      "negState value 9", 8 },
    { "negState empty ENUMERATED", "a1063004a0020a00", 0, NEGTOKEN_MALFORMED,
      "zero-length", 8 },
    { "negState non-minimal", "a1083006a0040a020001", 0, NEGTOKEN_MALFORMED,
      "not minimally encoded", 8 },
    { "mechTypes empty SEQUENCE", "601006062b0601050502a0063004a0023000", 0,
      NEGTOKEN_MALFORMED, "mechTypes is an empty SEQUENCE", 16 },
    { "non-minimal OID sub-identifier",
      "a110300ea10c060a2a80864886f712010202", 0, NEGTOKEN_MALFORMED,
      "non-minimal OID sub-identifier at 9", 9 },
    { "fields out of order",
      "a1153013a0030a0101a30504036d6963a2050403746f6b", 0,
      NEGTOKEN_MALFORMED, "field [2] out of order or duplicated at 16", 16 },
    { "duplicated field", "a10c300aa0030a0100a0030a0100", 0,
      NEGTOKEN_MALFORMED, "field [0] out of order or duplicated at 9", 9 },
    { "multi-byte tag", "a1073005bf1f020500", 0, NEGTOKEN_MALFORMED,
      "multi-byte tag 0xbf", 4 },
    { "unframed NegTokenInit without leniency", unframed_init, 0,
      NEGTOKEN_MALFORMED, "without the GSS [APPLICATION 0] framing", 0 },
    { "NegTokenResp inside GSS framing",
      "601106062b0601050502a1073005a0030a0100", 0, NEGTOKEN_MALFORMED,
      "NegTokenResp inside the GSS initial-token framing at offset 10", 10 },
    { "GSS token of another mechanism (krb5)",
      "601006092a864886f712010202010078797a", 0, NEGTOKEN_NOT_SPNEGO,
      "mechanism krb5 (1.2.840.113554.1.2.2)", 4 },
    { "trailing byte inside GSS framing",
      "602806062b0601050502a01d301ba019301706092a864886f712010202060a2b0601"
      "0401823702020a00", 0, NEGTOKEN_MALFORMED,
      "1 unexpected byte at offset 41 after the end of the GSS initial "
      "token", 41 },
    { "NegTokenInit missing mechTypes",
      "601306062b0601050502a0093007a2050403616263", 0, NEGTOKEN_MALFORMED,
      "has no mechTypes [0]", 12 },
    { "constructed OCTET STRING mechToken",
      "602f06062b0601050502a0253023a019301706092a864886f712010202060a2b0601"
      "0401823702020aa206240404026162", 0, NEGTOKEN_MALFORMED,
      "constructed encoding of mechToken", 43 },
    { "reqFlags with 8 unused bits",
      "602d06062b0601050502a0233021a019301706092a864886f712010202060a2b0601"
      "0401823702020aa10403020800", 0, NEGTOKEN_MALFORMED,
      "declares 8 unused bits", 45 },
    { "reqFlags unused bits not zero",
      "602d06062b0601050502a0233021a019301706092a864886f712010202060a2b0601"
      "0401823702020aa10403020181", 0, NEGTOKEN_MALFORMED,
      "unused bits at offset 46 are not zero", 46 },
    { "non-context tag inside NegTokenResp", "a10a3008a0030a0100040178", 0,
      NEGTOKEN_MALFORMED, "unexpected tag 0x04 at offset 9", 9 },
    { "primitive context tag inside NegTokenResp", "a1053003800100", 0,
      NEGTOKEN_MALFORMED, "unexpected tag 0x80 at offset 4", 4 },
    { "trailing bytes inside an explicit tag", "a1093007a0050a01000000", 0,
      NEGTOKEN_MALFORMED, "2 unexpected bytes at offset 9 after the end of "
      "negState", 9 },
    { "trailing bytes after the NegTokenResp SEQUENCE",
      "a1093005a0030a01000500", 0, NEGTOKEN_MALFORMED,
      "2 unexpected bytes at offset 9 after the end of NegTokenResp", 9 },
    { "negHints with an extra field",
      "603806062b0601050502a02e302ca019301706092a864886f712010202060a2b0601"
      "0401823702020aa30f300da0031b0168a1020400a2020400", 0,
      NEGTOKEN_MALFORMED, "4 unexpected bytes at offset 54 after the end of "
      "negHints", 54 },
    { "hintName not a GeneralString",
      "603006062b0601050502a0263024a019301706092a864886f712010202060a2b0601"
      "0401823702020aa3073005a003040168", 0, NEGTOKEN_MALFORMED,
      "expected hintName (tag 0x1b)", 47 },
    { "supportedMech not an OID", "a10f300da10b04092a864886f712010202", 0,
      NEGTOKEN_MALFORMED, "expected supportedMech (tag 0x06)", 6 },
    { "MechType not an OID",
      "601e06062b0601050502a0143012a010300e06092a864886f712010202040178", 0,
      NEGTOKEN_MALFORMED, "expected MechType (tag 0x06) at offset 29", 29 },
    { "truncated OID sub-identifier", "a10a3008a10606042a864886", 0,
      NEGTOKEN_MALFORMED, "truncated OID sub-identifier at 11", 11 },
    { "inner TLV longer than its parent", "a1073005a00a0a0100", 0,
      NEGTOKEN_MALFORMED, "TLV at 4 declares 10 content bytes, only 3", 4 },
    { "NegTokenResp choice with nothing inside", "a100", 0,
      NEGTOKEN_MALFORMED, "expected NegTokenResp", 2 },
    { "mechTypes not a SEQUENCE",
      "601906062b0601050502a00f300da00b06092a864886f712010202", 0,
      NEGTOKEN_MALFORMED, "expected mechTypes (tag 0x30)", 16 },
    { "mechListMIC [3] in NegTokenResp is a SEQUENCE", "a1063004a3023000", 0,
      NEGTOKEN_MALFORMED, "expected mechListMIC (tag 0x04)", 6 },
    { "bare NTLMSSP with an unknown message type", "4e544c4d5353500007000000",
      NEGTOKEN_ALLOW_RAW_NTLMSSP, NEGTOKEN_MALFORMED,
      "NTLMSSP message type 7", 8 },
    { "bare NTLMSSP too short", "4e544c4d5353500001",
      NEGTOKEN_ALLOW_RAW_NTLMSSP, NEGTOKEN_MALFORMED, "too short", 9 },
    { "length byte missing", "a1", 0, NEGTOKEN_MALFORMED, "no length byte",
      0 },
    { "wrong tag inside GSS framing", "600a06062b0601050502a200", 0,
      NEGTOKEN_MALFORMED, "carries tag 0xa2 at offset 10", 10 },
};

static void
malformed_token_rejected(void **state)
{
    const struct malformed_case *c = *state;
    struct negtoken tok;
    der_err err;
    uint8_t *buf = NULL;
    enum negtoken_status got;

    memset(&err, 0, sizeof(err));
    got = decode_hex(c->hex, c->lenience, &tok, &err, &buf);
    free(buf);
    if (got != c->status || strstr(err.text, c->text) == NULL ||
        err.offset != c->offset)
        fail_msg("case \"%s\": status %d (want %d), offset %zu (want %zu), "
                 "error \"%s\" (want it to contain \"%s\")", c->name, got,
                 c->status, err.offset, c->offset, err.text, c->text);
    assert_int_equal(tok.type, 0); /* nothing half-done */
    assert_int_equal(tok.n_mechs, 0);
}

static void
every_truncation_rejected(void **state)
{
    static const char *const valid[] = {
        kat_mit_init2, kat_win_ntlm_init, kat_win_final_mic,
        kat_counter_proposal
    };
    size_t i, cut, len;

    (void)state;
    for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        uint8_t *buf = must_hex(valid[i], &len);

        for (cut = 0; cut < len; cut++) {
            struct negtoken tok;
            der_err err;
            uint8_t *copy = malloc(cut + 1);

            assert_non_null(copy);
            memcpy(copy, buf, cut);
            assert_int_not_equal(negtoken_decode(copy, cut, NULL, &tok, &err),
                                 NEGTOKEN_OK);
            free(copy);
        }
        free(buf);
    }
}

static const struct CMUnitTest fixed_tests[] = {
    cmocka_unit_test(kat_mit_negtokeninit2),
    cmocka_unit_test(kat_accept_completed_ms_krb5),
    cmocka_unit_test(kat_counter_proposal_request_mic),
    cmocka_unit_test(kat_windows_ntlm_init),
    cmocka_unit_test(kat_windows_final_mic),
    cmocka_unit_test(kat_reencode_byte_exact),
    cmocka_unit_test(encode_init2_matches_mit),
    cmocka_unit_test(encode_resp_all_fields_round_trip),
    cmocka_unit_test(encode_absent_negstate),
    cmocka_unit_test(encode_req_flags_minimal),
    cmocka_unit_test(encode_rejects_invalid_structs),
    cmocka_unit_test(lenient_unframed_init),
    cmocka_unit_test(lenient_raw_ntlmssp),
    cmocka_unit_test(lenient_req_flags_any_valid_bit_string),
    cmocka_unit_test(unknown_fields_skipped),
    cmocka_unit_test(unknown_oids_kept),
    cmocka_unit_test(w2k_duplicate_mic_detected),
    cmocka_unit_test(limit_max_mechs),
    cmocka_unit_test(limit_max_mechs_64),
    cmocka_unit_test(limit_token_size),
    cmocka_unit_test(limit_default_256k),
    cmocka_unit_test(every_truncation_rejected),
};

int
main(void)
{
    enum { N_FIXED = sizeof(fixed_tests) / sizeof(fixed_tests[0]),
           N_BAD = sizeof(malformed) / sizeof(malformed[0]) };
    struct CMUnitTest tests[N_FIXED + N_BAD];
    char names[N_BAD][96];
    size_t i;

    memcpy(tests, fixed_tests, sizeof(fixed_tests));
    for (i = 0; i < N_BAD; i++) {
        /* cmocka's state is a plain void *; malformed_token_rejected only
         * reads the case back through a const pointer. */
        struct CMUnitTest t = cmocka_unit_test_prestate(
            malformed_token_rejected, (void *)&malformed[i]);

        (void)snprintf(names[i], sizeof(names[i]), "malformed: %s",
                       malformed[i].name);
        t.name = names[i];
        tests[N_FIXED + i] = t;
    }
    return _cmocka_run_group_tests("negtoken", tests, N_FIXED + N_BAD, NULL,
                                   NULL);
}
