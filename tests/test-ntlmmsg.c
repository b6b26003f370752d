/* test-ntlmmsg.c - reading NTLMSSP messages: the message type and the
 * MIC-present flag of an AUTHENTICATE message, with hostile offsets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ntlmmsg.h"

/* The 8-byte NTLMSSP signature: seven letters and a zero byte. */
static const uint8_t ntlmssp_sig[8] = "NTLMSSP";

static void
put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

/* An AUTHENTICATE message whose NTLMv2 response (at offset 64) carries
 * the AV pairs given; returns its length. */
static size_t
make_auth(uint8_t *buf, size_t cap, const uint8_t *av, size_t av_len)
{
    size_t resp_len = 16 + 28 + av_len;

    memset(buf, 0, cap);
    memcpy(buf, ntlmssp_sig, sizeof(ntlmssp_sig));
    put32(buf + 8, 3);
    put16(buf + 20, (unsigned)resp_len);
    put16(buf + 22, (unsigned)resp_len);
    put32(buf + 24, 64);
    memcpy(buf + 64 + 44, av, av_len);
    return 64 + resp_len;
}

static const uint8_t av_with_mic[] = {
    0x01, 0x00, 0x02, 0x00, 'A', 0,          /* MsvAvNbComputerName */
    0x06, 0x00, 0x04, 0x00, 0x02, 0, 0, 0,   /* MsvAvFlags: MIC present */
    0x00, 0x00, 0x00, 0x00                   /* MsvAvEOL */
};
static const uint8_t av_without_mic[] = {
    0x06, 0x00, 0x04, 0x00, 0x01, 0, 0, 0,   /* MsvAvFlags: other bit */
    0x00, 0x00, 0x00, 0x00
};
static const uint8_t av_no_flags[] = { 0x01, 0x00, 0x02, 0x00, 'A', 0,
                                       0x00, 0x00, 0x00, 0x00 };

static void
message_types(void **state)
{
    uint8_t m[12] = { 'N', 'T', 'L', 'M', 'S', 'S', 'P', 0, 1, 0, 0, 0 };

    (void)state;
    assert_int_equal(ntlm_message_type(m, sizeof(m)), 1);
    m[8] = 3;
    assert_int_equal(ntlm_message_type(m, sizeof(m)), 3);
    m[8] = 4;
    assert_int_equal(ntlm_message_type(m, sizeof(m)), 0);
    assert_int_equal(ntlm_message_type(m, 11), 0);
    m[0] = 'X';
    m[8] = 1;
    assert_int_equal(ntlm_message_type(m, sizeof(m)), 0);
}

static void
mic_flag_found(void **state)
{
    uint8_t buf[256];
    size_t len;

    (void)state;
    len = make_auth(buf, sizeof(buf), av_with_mic, sizeof(av_with_mic));
    assert_int_equal(ntlm_auth_has_mic(buf, len), 1);
    len = make_auth(buf, sizeof(buf), av_without_mic, sizeof(av_without_mic));
    assert_int_equal(ntlm_auth_has_mic(buf, len), 0);
    len = make_auth(buf, sizeof(buf), av_no_flags, sizeof(av_no_flags));
    assert_int_equal(ntlm_auth_has_mic(buf, len), 0);
}

static void
hostile_offsets(void **state)
{
    uint8_t buf[256];
    size_t len, cut;

    (void)state;
    len = make_auth(buf, sizeof(buf), av_with_mic, sizeof(av_with_mic));
    for (cut = 0; cut < len; cut++) /* every truncation is "no MIC" */
        assert_int_equal(ntlm_auth_has_mic(buf, cut), 0);
    put32(buf + 24, 0xffffffffu); /* response offset past the end */
    assert_int_equal(ntlm_auth_has_mic(buf, len), 0);
    len = make_auth(buf, sizeof(buf), av_with_mic, sizeof(av_with_mic));
    put16(buf + 20, 0xffff); /* response length past the end */
    assert_int_equal(ntlm_auth_has_mic(buf, len), 0);
    len = make_auth(buf, sizeof(buf), av_with_mic, sizeof(av_with_mic));
    put16(buf + 64 + 44 + 2, 0x7fff); /* AV pair longer than the response */
    assert_int_equal(ntlm_auth_has_mic(buf, len), 0);
    len = make_auth(buf, sizeof(buf), av_with_mic, sizeof(av_with_mic));
    put16(buf + 20, 24); /* an NTLMv1 response: no AV pairs */
    assert_int_equal(ntlm_auth_has_mic(buf, len), 0);
    buf[8] = 1; /* not an AUTHENTICATE message */
    assert_int_equal(ntlm_auth_has_mic(buf, len), 0);
}

/* gss-ntlmssp 1.2.0 crashes on a CHALLENGE with an empty TargetName. */
static void
challenge_target_checked(void **state)
{
    uint8_t m[64];

    (void)state;
    memset(m, 0, sizeof(m));
    memcpy(m, ntlmssp_sig, sizeof(ntlmssp_sig));
    put32(m + 8, 2);
    put16(m + 12, 4);  /* TargetName: 4 bytes ... */
    put16(m + 14, 4);
    put32(m + 16, 48); /* ... at offset 48 */
    assert_int_equal(ntlm_challenge_target_ok(m, sizeof(m)), 1);
    put16(m + 12, 0); /* empty */
    assert_int_equal(ntlm_challenge_target_ok(m, sizeof(m)), 0);
    put16(m + 12, 40); /* past the end */
    assert_int_equal(ntlm_challenge_target_ok(m, sizeof(m)), 0);
    assert_int_equal(ntlm_challenge_target_ok(m, 16), 0); /* truncated */
    put32(m + 8, 3); /* not a CHALLENGE: not ours to judge */
    assert_int_equal(ntlm_challenge_target_ok(m, sizeof(m)), 1);
}

/* ---- ntlm_decode ---- */

/* make_auth's message with its MIC flag: AUTHENTICATE, NTLMv2 response at
 * 64 (so the 64-byte header has no Version and the MIC at 72 overlaps the
 * response: ntlm_decode only copies 16 bytes, in bounds). */
static void
decode_authenticate(void **state)
{
    uint8_t buf[256];
    struct ntlm_info m;
    char err[256];
    size_t len;

    (void)state;
    len = make_auth(buf, sizeof(buf), av_with_mic, sizeof(av_with_mic));
    assert_int_equal(ntlm_decode(buf, len, &m, err, sizeof(err)), 1);
    assert_int_equal(m.type, 3);
    assert_true(m.ntlmv2);
    assert_true(m.mic_present);
    assert_int_equal(m.n_av, 2);
    assert_int_equal(m.av[0].id, 1);
    assert_int_equal(m.av[1].id, NTLM_AV_FLAGS);
    assert_int_equal(m.av[0].value.len, 2);
    assert_memory_equal(m.av[0].value.data, "A", 2);
    len = make_auth(buf, sizeof(buf), av_without_mic, sizeof(av_without_mic));
    assert_int_equal(ntlm_decode(buf, len, &m, err, sizeof(err)), 1);
    assert_false(m.mic_present);
}

static void
expect_decode_error(const uint8_t *buf, size_t len, const char *why)
{
    struct ntlm_info m;
    char err[256] = "";

    assert_int_equal(ntlm_decode(buf, len, &m, err, sizeof(err)), 0);
    if (strstr(err, why) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err, why);
}

static void
decode_refuses_hostile_fields(void **state)
{
    static const uint8_t no_eol[] = { 0x01, 0x00, 0x02, 0x00, 'A', 0 };
    uint8_t buf[256];
    size_t len, cut;
    struct ntlm_info m;
    char err[256];

    (void)state;
    len = make_auth(buf, sizeof(buf), av_with_mic, sizeof(av_with_mic));
    put32(buf + 40, 250); /* UserName at 250, 4 bytes: past the end */
    put16(buf + 36, 4);
    expect_decode_error(buf, len, "UserName: 4 bytes at offset 250");
    len = make_auth(buf, sizeof(buf), no_eol, sizeof(no_eol));
    expect_decode_error(buf, len, "without MsvAvEOL");
    len = make_auth(buf, sizeof(buf), av_with_mic, sizeof(av_with_mic));
    put16(buf + 64 + 44 + 2, 0x7fff); /* AV pair past its field */
    expect_decode_error(buf, len, "runs past its field");
    len = make_auth(buf, sizeof(buf), av_with_mic, sizeof(av_with_mic));
    expect_decode_error(buf, 63, "shorter than its 64-byte header");
    buf[8] = 2;
    expect_decode_error(buf, 40, "shorter than its 48-byte header");
    buf[8] = 9;
    expect_decode_error(buf, len, "not an NTLMSSP");
    /* every truncation decodes or fails cleanly (ASan watches) */
    len = make_auth(buf, sizeof(buf), av_with_mic, sizeof(av_with_mic));
    for (cut = 0; cut <= len; cut++)
        (void)ntlm_decode(buf, cut, &m, err, sizeof(err));
}

static void
flag_and_av_names(void **state)
{
    (void)state;
    assert_string_equal(ntlm_flag_name(4), "SIGN");
    assert_string_equal(ntlm_flag_name(30), "KEY_EXCH");
    assert_null(ntlm_flag_name(3));
    assert_null(ntlm_flag_name(32));
    assert_string_equal(ntlm_av_name(NTLM_AV_CHANNEL_BINDINGS),
                        "MsvAvChannelBindings");
    assert_null(ntlm_av_name(11));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(message_types),
        cmocka_unit_test(mic_flag_found),
        cmocka_unit_test(hostile_offsets),
        cmocka_unit_test(challenge_target_checked),
        cmocka_unit_test(decode_authenticate),
        cmocka_unit_test(decode_refuses_hostile_fields),
        cmocka_unit_test(flag_and_av_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
