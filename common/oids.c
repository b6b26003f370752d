/* oids.c - known SPNEGO object identifiers.  See oids.h. */
#include "oids.h"

#include <string.h>

static const uint8_t oid_spnego[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02 };
static const uint8_t oid_krb5[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7,
                                    0x12, 0x01, 0x02, 0x02 };
static const uint8_t oid_ms_krb5[] = { 0x2a, 0x86, 0x48, 0x82, 0xf7,
                                       0x12, 0x01, 0x02, 0x02 };
static const uint8_t oid_krb5_old[] = { 0x2b, 0x05, 0x01, 0x05, 0x02 };
static const uint8_t oid_iakerb[] = { 0x2b, 0x06, 0x01, 0x05, 0x02, 0x05 };
static const uint8_t oid_ntlmssp[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82,
                                       0x37, 0x02, 0x02, 0x0a };
static const uint8_t oid_negoex[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82,
                                      0x37, 0x02, 0x02, 0x1e };

#define ENTRY(id, name, dotted, arr) { id, name, dotted, arr, sizeof(arr) }

static const struct spnego_oid_info table[] = {
    ENTRY(SPNEGO_OID_SPNEGO, "spnego", "1.3.6.1.5.5.2", oid_spnego),
    ENTRY(SPNEGO_OID_KRB5, "krb5", "1.2.840.113554.1.2.2", oid_krb5),
    ENTRY(SPNEGO_OID_MS_KRB5, "ms-krb5", "1.2.840.48018.1.2.2", oid_ms_krb5),
    ENTRY(SPNEGO_OID_KRB5_OLD, "krb5-old", "1.3.5.1.5.2", oid_krb5_old),
    ENTRY(SPNEGO_OID_IAKERB, "iakerb", "1.3.6.1.5.2.5", oid_iakerb),
    ENTRY(SPNEGO_OID_NTLMSSP, "ntlmssp", "1.3.6.1.4.1.311.2.2.10",
          oid_ntlmssp),
    ENTRY(SPNEGO_OID_NEGOEX, "negoex", "1.3.6.1.4.1.311.2.2.30", oid_negoex),
};

#define TABLE_LEN (sizeof(table) / sizeof(table[0]))

const struct spnego_oid_info *
spnego_oid_info(enum spnego_oid_id id)
{
    size_t i;

    for (i = 0; i < TABLE_LEN; i++) {
        if (table[i].id == id)
            return &table[i];
    }
    return NULL;
}

enum spnego_oid_id
spnego_oid_lookup(const uint8_t *der, size_t len)
{
    size_t i;

    for (i = 0; i < TABLE_LEN; i++) {
        if (table[i].der_len == len && memcmp(table[i].der, der, len) == 0)
            return table[i].id;
    }
    return SPNEGO_OID_UNKNOWN;
}

const struct spnego_oid_info *
spnego_oid_by_name(const char *name)
{
    size_t i;

    for (i = 0; i < TABLE_LEN; i++) {
        if (strcmp(table[i].name, name) == 0 ||
            strcmp(table[i].dotted, name) == 0)
            return &table[i];
    }
    return NULL;
}

int
spnego_oid_is_krb5(enum spnego_oid_id id)
{
    return id == SPNEGO_OID_KRB5 || id == SPNEGO_OID_MS_KRB5 ||
           id == SPNEGO_OID_KRB5_OLD;
}
