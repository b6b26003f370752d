/*
 * oids.h - the object identifiers SPNEGO deals with, as DER contents
 * (no tag, no length), and their short names.
 */
#ifndef SPNEGO_OIDS_H
#define SPNEGO_OIDS_H

#include <stddef.h>
#include <stdint.h>

enum spnego_oid_id {
    SPNEGO_OID_UNKNOWN = 0,
    SPNEGO_OID_SPNEGO,   /* 1.3.6.1.5.5.2 */
    SPNEGO_OID_KRB5,     /* 1.2.840.113554.1.2.2 */
    SPNEGO_OID_MS_KRB5,  /* 1.2.840.48018.1.2.2 (Microsoft's truncated copy) */
    SPNEGO_OID_KRB5_OLD, /* 1.3.5.1.5.2 (pre-RFC 1964) */
    SPNEGO_OID_IAKERB,   /* 1.3.6.1.5.2.5 */
    SPNEGO_OID_NTLMSSP,  /* 1.3.6.1.4.1.311.2.2.10 */
    SPNEGO_OID_NEGOEX    /* 1.3.6.1.4.1.311.2.2.30 */
};

struct spnego_oid_info {
    enum spnego_oid_id id;
    const char *name;     /* short name: "krb5", "ms-krb5", ... */
    const char *dotted;
    const uint8_t *der;
    size_t der_len;
};

/* The table entry for a known id; NULL for SPNEGO_OID_UNKNOWN. */
const struct spnego_oid_info *spnego_oid_info(enum spnego_oid_id id);

/* Identify OID contents; SPNEGO_OID_UNKNOWN if not in the table. */
enum spnego_oid_id spnego_oid_lookup(const uint8_t *der, size_t len);

/* Find a table entry by short name ("krb5") or dotted form. */
const struct spnego_oid_info *spnego_oid_by_name(const char *name);

/* 1 if id is one of the names of Kerberos 5 (krb5, ms-krb5, krb5-old). */
int spnego_oid_is_krb5(enum spnego_oid_id id);

#endif /* SPNEGO_OIDS_H */
