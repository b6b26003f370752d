/*
 * gss-pair.h - established context pairs (Kerberos or NTLM) for
 * fuzz-layer.c and gen-layer-seeds.c: made live inside the test realm
 * (tests/fixture/with-krb5), or imported from contexts exported by
 * gen-layer-seeds in the same test run (which needs no realm: the
 * exported token carries the keys, sequence numbers and cipher state, so
 * every import starts from the same state and the seed packets verify).
 */
#ifndef SPNEGO_FUZZ_GSS_PAIR_H
#define SPNEGO_FUZZ_GSS_PAIR_H

#include <stddef.h>

#include <gssapi/gssapi.h>

/* What the plugin's client asks for with confidentiality (client.c). */
#define FUZZ_GSS_FLAGS                                                    \
    (GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG |             \
     GSS_C_SEQUENCE_FLAG | GSS_C_REPLAY_FLAG)

enum fuzz_mech {
    FUZZ_KRB5 = 0,  /* MIT krb5: gss_wrap_iov and gss_unwrap_iov */
    FUZZ_NTLMSSP    /* gss-ntlmssp: no IOV, the layer's plain path */
};

/* "krb5" or "ntlmssp" (also the file name prefix of exported contexts). */
const char *fuzz_mech_name(enum fuzz_mech mech);

/*
 * Run gss_init_sec_context against gss_accept_sec_context with default
 * credentials on both sides and FUZZ_GSS_FLAGS, inside the test realm:
 * krb5: alice's ticket (KRB5CCNAME) to ldap/$SPNEGO_TEST_HOST@
 * $SPNEGO_TEST_REALM (KRB5_KTNAME); once the service ticket is in the
 * ccache this needs neither the KDC nor KRB5_CONFIG.  ntlmssp: alice of
 * NTLM_USER_FILE to ldap@$SPNEGO_TEST_HOST.  Returns 1 with both
 * contexts set (the caller deletes them), or 0 with a sentence in err.
 */
int fuzz_gss_pair(enum fuzz_mech mech, gss_ctx_id_t *init_out,
                  gss_ctx_id_t *acc_out, char *err, size_t err_size);

/* gss_export_sec_context: *ctx is consumed (GSS_C_NO_CONTEXT after).
 * Returns 1 with *tok_out set (release with gss_release_buffer), or 0. */
int fuzz_gss_export(gss_ctx_id_t *ctx, gss_buffer_desc *tok_out);

/* gss_import_sec_context of a token; returns 1 with *ctx_out set, or 0. */
int fuzz_gss_import(const gss_buffer_desc *tok, gss_ctx_id_t *ctx_out);

void fuzz_gss_delete(gss_ctx_id_t *ctx);

/* Read a whole file into tok_out->value (malloc; free() it).  Returns 1,
 * or 0 with errno set. */
int fuzz_read_file(const char *path, gss_buffer_desc *tok_out);

/* Write len bytes to path.  Returns 1, or 0 with errno set. */
int fuzz_write_file(const char *path, const void *data, size_t len);

#endif /* SPNEGO_FUZZ_GSS_PAIR_H */
