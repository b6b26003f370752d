/* gss-pair.c - an established Kerberos context pair.  See gss-pair.h. */
#include "gss-pair.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi_krb5.h>

/* The first line of GSS's message for a status, for err. */
static void
describe(const char *what, OM_uint32 major, OM_uint32 minor, char *err,
         size_t err_size)
{
    OM_uint32 m, ctx = 0;
    gss_buffer_desc maj_text = GSS_C_EMPTY_BUFFER;
    gss_buffer_desc min_text = GSS_C_EMPTY_BUFFER;

    (void)gss_display_status(&m, major, GSS_C_GSS_CODE, GSS_C_NO_OID, &ctx,
                             &maj_text);
    ctx = 0;
    (void)gss_display_status(&m, minor, GSS_C_MECH_CODE, GSS_C_NO_OID, &ctx,
                             &min_text);
    (void)snprintf(err, err_size, "%s failed: %.*s (%.*s)", what,
                   (int)maj_text.length, (const char *)maj_text.value,
                   (int)min_text.length, (const char *)min_text.value);
    (void)gss_release_buffer(&m, &maj_text);
    (void)gss_release_buffer(&m, &min_text);
}

/* gss-ntlmssp's OID, 1.3.6.1.4.1.311.2.2.10 */
static gss_OID_desc ntlmssp_oid = {
    10, (void *)"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"
};

const char *
fuzz_mech_name(enum fuzz_mech mech)
{
    switch (mech) {
    case FUZZ_KRB5:
        return "krb5";
    case FUZZ_NTLMSSP:
        return "ntlmssp";
    default:
        return "unknown";
    }
}

/* krb5: the acceptor as a Kerberos principal, ldap/HOST@REALM: with the
 * ticket in the ccache, the initiator then needs no KDC and no
 * configuration.  ntlmssp: the host-based name ldap@HOST. */
static int
import_target(enum fuzz_mech mech, gss_name_t *name_out, char *err,
              size_t err_size)
{
    const char *host = getenv("SPNEGO_TEST_HOST");
    const char *realm = getenv("SPNEGO_TEST_REALM");
    char text[512];
    gss_buffer_desc buf;
    OM_uint32 major, minor;
    int n;

    if (host == NULL || realm == NULL) {
        (void)snprintf(err, err_size, "SPNEGO_TEST_HOST or "
                       "SPNEGO_TEST_REALM is not set (run inside "
                       "tests/fixture/with-krb5)");
        return 0;
    }
    if (mech == FUZZ_KRB5)
        n = snprintf(text, sizeof(text), "ldap/%s@%s", host, realm);
    else
        n = snprintf(text, sizeof(text), "ldap@%s", host);
    if (n < 0 || (size_t)n >= sizeof(text)) {
        (void)snprintf(err, err_size, "host name too long");
        return 0;
    }
    buf.value = text;
    buf.length = (size_t)n;
    major = gss_import_name(&minor, &buf,
                            mech == FUZZ_KRB5 ? GSS_KRB5_NT_PRINCIPAL_NAME
                                              : GSS_C_NT_HOSTBASED_SERVICE,
                            name_out);
    if (GSS_ERROR(major)) {
        describe("gss_import_name", major, minor, err, err_size);
        return 0;
    }
    return 1;
}

int
fuzz_gss_pair(enum fuzz_mech mech, gss_ctx_id_t *init_out,
              gss_ctx_id_t *acc_out, char *err, size_t err_size)
{
    gss_ctx_id_t ictx = GSS_C_NO_CONTEXT, actx = GSS_C_NO_CONTEXT;
    gss_buffer_desc to_acc = GSS_C_EMPTY_BUFFER, to_init = GSS_C_EMPTY_BUFFER;
    gss_name_t target = GSS_C_NO_NAME;
    gss_OID oid = mech == FUZZ_KRB5 ? gss_mech_krb5 : &ntlmssp_oid;
    OM_uint32 imaj = GSS_S_CONTINUE_NEEDED, amaj = GSS_S_CONTINUE_NEEDED;
    OM_uint32 minor, m, flags = 0;
    OM_uint32 need = GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG;
    int rounds, ok = 0;

    *init_out = GSS_C_NO_CONTEXT;
    *acc_out = GSS_C_NO_CONTEXT;
    if (!import_target(mech, &target, err, err_size))
        goto cleanup;
    for (rounds = 0; rounds < 4; rounds++) {
        imaj = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &ictx,
                                    target, oid, FUZZ_GSS_FLAGS, 0,
                                    GSS_C_NO_CHANNEL_BINDINGS, &to_init,
                                    NULL, &to_acc, &flags, NULL);
        (void)gss_release_buffer(&m, &to_init);
        if (GSS_ERROR(imaj)) {
            describe("gss_init_sec_context", imaj, minor, err, err_size);
            goto cleanup;
        }
        if (to_acc.length == 0)
            break;
        amaj = gss_accept_sec_context(&minor, &actx, GSS_C_NO_CREDENTIAL,
                                      &to_acc, GSS_C_NO_CHANNEL_BINDINGS,
                                      NULL, NULL, &to_init, NULL, NULL,
                                      NULL);
        (void)gss_release_buffer(&m, &to_acc);
        if (GSS_ERROR(amaj)) {
            describe("gss_accept_sec_context", amaj, minor, err, err_size);
            goto cleanup;
        }
        if (imaj == GSS_S_COMPLETE && to_init.length == 0)
            break;
    }
    if (imaj != GSS_S_COMPLETE || amaj != GSS_S_COMPLETE ||
        (flags & need) != need) {
        (void)snprintf(err, err_size, "the %s exchange did not complete "
                       "with integrity and confidentiality (flags 0x%x)",
                       fuzz_mech_name(mech), (unsigned)flags);
        goto cleanup;
    }
    *init_out = ictx;
    *acc_out = actx;
    ictx = actx = GSS_C_NO_CONTEXT;
    ok = 1;
cleanup:
    (void)gss_release_buffer(&m, &to_acc);
    (void)gss_release_buffer(&m, &to_init);
    (void)gss_release_name(&m, &target);
    fuzz_gss_delete(&ictx);
    fuzz_gss_delete(&actx);
    return ok;
}

int
fuzz_gss_export(gss_ctx_id_t *ctx, gss_buffer_desc *tok_out)
{
    OM_uint32 minor;

    return !GSS_ERROR(gss_export_sec_context(&minor, ctx, tok_out));
}

int
fuzz_gss_import(const gss_buffer_desc *tok, gss_ctx_id_t *ctx_out)
{
    OM_uint32 minor;
    gss_buffer_desc copy = *tok; /* gss_import_sec_context is not const */

    *ctx_out = GSS_C_NO_CONTEXT;
    return !GSS_ERROR(gss_import_sec_context(&minor, &copy, ctx_out));
}

void
fuzz_gss_delete(gss_ctx_id_t *ctx)
{
    OM_uint32 minor;

    if (*ctx != GSS_C_NO_CONTEXT)
        (void)gss_delete_sec_context(&minor, ctx, GSS_C_NO_BUFFER);
    *ctx = GSS_C_NO_CONTEXT;
}

int
fuzz_read_file(const char *path, gss_buffer_desc *tok_out)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long size;
    int ok = 0;

    tok_out->value = NULL;
    tok_out->length = 0;
    if (f == NULL)
        return 0;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        errno = EINVAL;
        goto cleanup;
    }
    buf = malloc((size_t)size);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size)
        goto cleanup;
    tok_out->value = buf;
    tok_out->length = (size_t)size;
    buf = NULL;
    ok = 1;
cleanup:
    free(buf);
    fclose(f);
    return ok;
}

int
fuzz_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (f == NULL)
        return 0;
    ok = len == 0 || fwrite(data, 1, len, f) == len;
    if (fclose(f) != 0)
        ok = 0;
    return ok;
}
