/* test-der.c - the strict DER reader and the writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "der.h"

#define VIEW(name, ...)                                                     \
    static const uint8_t name##_bytes[] = { __VA_ARGS__ };                  \
    der_view name;                                                          \
    der_view_init(&name, name##_bytes, sizeof(name##_bytes))

static void
short_and_long_lengths(void **state)
{
    uint8_t buf[300];
    der_view in, c;
    der_err err;
    uint8_t tag;

    (void)state;
    memset(buf, 0, sizeof(buf));
    buf[0] = 0x04;
    buf[1] = 0x7f;
    der_view_init(&in, buf, 2 + 0x7f);
    assert_int_equal(der_get_any(&in, "x", &tag, &c, NULL, &err), 1);
    assert_int_equal(c.len, 0x7f);
    assert_int_equal(c.offset, 2);
    assert_int_equal(in.len, 0);

    buf[1] = 0x81;
    buf[2] = 0x80;
    der_view_init(&in, buf, 3 + 0x80);
    assert_int_equal(der_get_any(&in, "x", &tag, &c, NULL, &err), 1);
    assert_int_equal(c.len, 0x80);

    buf[1] = 0x82;
    buf[2] = 0x01;
    buf[3] = 0x00;
    der_view_init(&in, buf, 4 + 0x100 - 4 - 0);
    assert_int_equal(der_get_any(&in, "x", &tag, &c, NULL, &err), 0);
    assert_non_null(strstr(err.text, "truncated"));
}

static void
rejects_indefinite_length(void **state)
{
    VIEW(in, 0x30, 0x80, 0x04, 0x00, 0x00, 0x00);
    der_view c;
    der_err err;
    uint8_t tag;

    (void)state;
    assert_int_equal(der_get_any(&in, "x", &tag, &c, NULL, &err), 0);
    assert_int_equal(err.offset, 1);
    assert_non_null(strstr(err.text, "indefinite length"));
    assert_int_equal(in.len, 6); /* unchanged on failure */
}

static void
rejects_nonminimal_long_form(void **state)
{
    VIEW(in, 0x04, 0x81, 0x05, 1, 2, 3, 4, 5);
    der_view c;
    der_err err;
    uint8_t tag;

    (void)state;
    assert_int_equal(der_get_any(&in, "x", &tag, &c, NULL, &err), 0);
    assert_non_null(strstr(err.text, "non-minimal length 0x81 05"));
}

static void
rejects_leading_zero_length_byte(void **state)
{
    uint8_t buf[0x90 + 4];
    der_view in, c;
    der_err err;
    uint8_t tag;

    (void)state;
    memset(buf, 0, sizeof(buf));
    buf[0] = 0x04;
    buf[1] = 0x82;
    buf[2] = 0x00;
    buf[3] = 0x90;
    der_view_init(&in, buf, sizeof(buf));
    assert_int_equal(der_get_any(&in, "x", &tag, &c, NULL, &err), 0);
    assert_non_null(strstr(err.text, "leading zero"));
}

static void
rejects_five_length_bytes(void **state)
{
    VIEW(in, 0x04, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00);
    der_view c;
    der_err err;
    uint8_t tag;

    (void)state;
    assert_int_equal(der_get_any(&in, "x", &tag, &c, NULL, &err), 0);
    assert_non_null(strstr(err.text, "uses 5 bytes"));
}

static void
rejects_length_past_end(void **state)
{
    VIEW(in, 0x04, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00);
    der_view c;
    der_err err;
    uint8_t tag;

    (void)state;
    assert_int_equal(der_get_any(&in, "x", &tag, &c, NULL, &err), 0);
    assert_non_null(strstr(err.text, "truncated"));
}

static void
rejects_missing_length(void **state)
{
    VIEW(in, 0x04);
    der_view c;
    der_err err;
    uint8_t tag;

    (void)state;
    assert_int_equal(der_get_any(&in, "x", &tag, &c, NULL, &err), 0);
    assert_non_null(strstr(err.text, "no length byte"));
}

static void
rejects_multibyte_tag(void **state)
{
    VIEW(in, 0x1f, 0x81, 0x01, 0x00);
    der_view c;
    der_err err;
    uint8_t tag;

    (void)state;
    assert_int_equal(der_get_any(&in, "x", &tag, &c, NULL, &err), 0);
    assert_non_null(strstr(err.text, "multi-byte tag"));
}

static void
empty_view_is_truncation(void **state)
{
    der_view in, c;
    der_err err;
    uint8_t tag;

    (void)state;
    der_view_init(&in, (const uint8_t *)"", 0);
    assert_int_equal(der_get_any(&in, "thing", &tag, &c, NULL, &err), 0);
    assert_non_null(strstr(err.text, "expected thing"));
}

static void
wrong_tag_reports_both(void **state)
{
    VIEW(in, 0x05, 0x00);
    der_view c;
    der_err err;

    (void)state;
    assert_int_equal(der_get(&in, 0x04, "blob", &c, NULL, &err), 0);
    assert_non_null(strstr(err.text, "tag 0x04"));
    assert_non_null(strstr(err.text, "found tag 0x05"));
}

static void
optional_absent_and_present(void **state)
{
    VIEW(in, 0xa1, 0x02, 0x05, 0x00);
    der_view c;
    der_err err;
    int present = -1;

    (void)state;
    assert_int_equal(der_get_optional(&in, 0xa0, "a", &c, &present, &err), 1);
    assert_int_equal(present, 0);
    assert_int_equal(in.len, 4);
    assert_int_equal(der_get_optional(&in, 0xa1, "b", &c, &present, &err), 1);
    assert_int_equal(present, 1);
    assert_int_equal(c.len, 2);
    assert_int_equal(in.len, 0);
}

static void
oid_rules(void **state)
{
    VIEW(good, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02,
         0x02);
    VIEW(leading80, 0x06, 0x04, 0x2a, 0x80, 0x86, 0x48);
    VIEW(truncated, 0x06, 0x02, 0x2a, 0x86);
    VIEW(empty, 0x06, 0x00);
    VIEW(huge, 0x06, 0x0b, 0x2a, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81,
         0x81, 0x81, 0x01);
    der_view oid;
    der_err err;

    (void)state;
    assert_int_equal(der_get_oid(&good, "o", &oid, &err), 1);
    assert_int_equal(oid.len, 9);
    assert_int_equal(der_get_oid(&leading80, "o", &oid, &err), 0);
    assert_non_null(strstr(err.text, "non-minimal OID sub-identifier at 3"));
    assert_int_equal(der_get_oid(&truncated, "o", &oid, &err), 0);
    assert_non_null(strstr(err.text, "truncated OID"));
    assert_int_equal(der_get_oid(&empty, "o", &oid, &err), 0);
    assert_non_null(strstr(err.text, "empty OBJECT IDENTIFIER"));
    assert_int_equal(der_get_oid(&huge, "o", &oid, &err), 0);
    assert_non_null(strstr(err.text, "longer than 63 bits"));
}

static void
oid_dotted_both_ways(void **state)
{
    static const char *const oids[] = {
        "1.2.840.113554.1.2.2", "1.2.840.48018.1.2.2", "1.3.5.1.5.2",
        "1.3.6.1.5.2.5", "1.3.6.1.4.1.311.2.2.10", "1.3.6.1.5.5.2",
        "2.999.1", "0.0", "1.39.18446744073709551615"
    };
    uint8_t der[64];
    char back[128];
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(oids) / sizeof(oids[0]); i++) {
        n = der_oid_from_dotted(oids[i], der, sizeof(der));
        if (i == 8) {
            assert_int_equal(n, 0); /* 2^64-1 does not fit 63 bits */
            continue;
        }
        assert_true(n > 0);
        assert_int_equal(der_oid_to_dotted(der, n, back, sizeof(back)), 1);
        assert_string_equal(back, oids[i]);
    }
    assert_int_equal(der_oid_from_dotted("1", der, sizeof(der)), 0);
    assert_int_equal(der_oid_from_dotted("3.1", der, sizeof(der)), 0);
    assert_int_equal(der_oid_from_dotted("1.40", der, sizeof(der)), 0);
    assert_int_equal(der_oid_from_dotted("1.2.", der, sizeof(der)), 0);
    assert_int_equal(der_oid_from_dotted("1.2.03", der, sizeof(der)), 0);
    assert_int_equal(der_oid_from_dotted("1.2.x", der, sizeof(der)), 0);
    assert_int_equal(der_oid_from_dotted("1.2.840.113554", der, 3), 0);
    assert_int_equal(der_oid_to_dotted(der, 0, back, sizeof(back)), 0);
}

static void
octet_string_must_be_primitive(void **state)
{
    VIEW(constructed, 0x24, 0x03, 0x04, 0x01, 0x41);
    der_view v;
    der_err err;

    (void)state;
    assert_int_equal(der_get_octet_string(&constructed, "s", &v, &err), 0);
    assert_non_null(strstr(err.text, "constructed encoding"));
}

static void
bit_string_rules(void **state)
{
    VIEW(minimal, 0x03, 0x02, 0x07, 0x80);
    VIEW(padded, 0x03, 0x05, 0x00, 0x80, 0x00, 0x00, 0x00);
    VIEW(empty_ok, 0x03, 0x01, 0x00);
    VIEW(no_count, 0x03, 0x00);
    VIEW(count8, 0x03, 0x02, 0x08, 0x00);
    VIEW(empty_count, 0x03, 0x01, 0x03);
    VIEW(dirty, 0x03, 0x02, 0x07, 0x81);
    VIEW(constructed, 0x23, 0x04, 0x03, 0x02, 0x00, 0x80);
    der_view v;
    der_err err;

    (void)state;
    assert_int_equal(der_get_bit_string(&minimal, "f", &v, &err), 1);
    assert_int_equal(der_get_bit_string(&padded, "f", &v, &err), 1);
    assert_int_equal(der_get_bit_string(&empty_ok, "f", &v, &err), 1);
    assert_int_equal(der_get_bit_string(&no_count, "f", &v, &err), 0);
    assert_non_null(strstr(err.text, "no unused-bits byte"));
    assert_int_equal(der_get_bit_string(&count8, "f", &v, &err), 0);
    assert_non_null(strstr(err.text, "8 unused bits"));
    assert_int_equal(der_get_bit_string(&empty_count, "f", &v, &err), 0);
    assert_int_equal(der_get_bit_string(&dirty, "f", &v, &err), 0);
    assert_non_null(strstr(err.text, "not zero"));
    assert_int_equal(der_get_bit_string(&constructed, "f", &v, &err), 0);
    assert_non_null(strstr(err.text, "constructed"));
}

static void
enumerated_rules(void **state)
{
    VIEW(three, 0x0a, 0x01, 0x03);
    VIEW(nine, 0x0a, 0x01, 0x09);
    VIEW(empty, 0x0a, 0x00);
    VIEW(padded, 0x0a, 0x02, 0x00, 0x01);
    VIEW(negative, 0x0a, 0x01, 0xff);
    unsigned v = 99;
    der_err err;

    (void)state;
    assert_int_equal(der_get_enumerated(&three, "e", 3, &v, &err), 1);
    assert_int_equal(v, 3);
    assert_int_equal(der_get_enumerated(&nine, "negState", 3, &v, &err), 0);
    assert_non_null(strstr(err.text, "negState value 9"));
    assert_int_equal(der_get_enumerated(&empty, "e", 3, &v, &err), 0);
    assert_non_null(strstr(err.text, "zero-length"));
    assert_int_equal(der_get_enumerated(&padded, "e", 3, &v, &err), 0);
    assert_non_null(strstr(err.text, "not minimally encoded"));
    assert_int_equal(der_get_enumerated(&negative, "e", 3, &v, &err), 0);
}

static void
expect_end_reports_trailing(void **state)
{
    VIEW(in, 0x00, 0x01);
    der_err err;

    (void)state;
    assert_int_equal(der_expect_end(&in, "thing", &err), 0);
    assert_non_null(strstr(err.text, "2 unexpected bytes at offset 0 after "
                                     "the end of thing"));
}

static void
writer_lengths(void **state)
{
    static const size_t lens[] = { 0, 1, 127, 128, 255, 256, 65535, 65536,
                                   16777216 };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t *content = calloc(lens[i] + 1, 1);
        uint8_t *buf = NULL;
        size_t len = 0;
        der_writer w;
        der_view in, c;
        uint8_t tag;

        assert_non_null(content);
        assert_int_equal(der_writer_init(&w, der_tlv_size(lens[i])), 1);
        der_put_tlv(&w, 0x04, content, lens[i]);
        assert_int_equal(der_writer_finish(&w, &buf, &len), 1);
        der_view_init(&in, buf, len);
        assert_int_equal(der_get_any(&in, "x", &tag, &c, NULL, NULL), 1);
        assert_int_equal(c.len, lens[i]);
        assert_int_equal(in.len, 0);
        free(buf);
        free(content);
    }
}

static void
writer_overflow_is_sticky(void **state)
{
    static const uint8_t data[4] = { 1, 2, 3, 4 };
    der_writer w;

    (void)state;
    assert_int_equal(der_writer_init(&w, 3), 1);
    der_put_bytes(&w, data, 4);
    assert_int_equal(w.failed, 1);
    der_put_bytes(&w, data, 1);
    assert_int_equal(w.len, 0);
    der_writer_cleanup(&w);
    der_writer_cleanup(&w); /* safe twice */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(short_and_long_lengths),
        cmocka_unit_test(rejects_indefinite_length),
        cmocka_unit_test(rejects_nonminimal_long_form),
        cmocka_unit_test(rejects_leading_zero_length_byte),
        cmocka_unit_test(rejects_five_length_bytes),
        cmocka_unit_test(rejects_length_past_end),
        cmocka_unit_test(rejects_missing_length),
        cmocka_unit_test(rejects_multibyte_tag),
        cmocka_unit_test(empty_view_is_truncation),
        cmocka_unit_test(wrong_tag_reports_both),
        cmocka_unit_test(optional_absent_and_present),
        cmocka_unit_test(oid_rules),
        cmocka_unit_test(oid_dotted_both_ways),
        cmocka_unit_test(octet_string_must_be_primitive),
        cmocka_unit_test(bit_string_rules),
        cmocka_unit_test(enumerated_rules),
        cmocka_unit_test(expect_end_reports_trailing),
        cmocka_unit_test(writer_lengths),
        cmocka_unit_test(writer_overflow_is_sticky),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
