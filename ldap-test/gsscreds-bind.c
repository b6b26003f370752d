/* gsscreds-bind.c - a libldap client that lends a GSS-API credential to
 * the SASL bind (LDAP_OPT_X_SASL_GSS_CREDS, as PowerShell's PSOpenAD and
 * Python's bonsai do), binds with GSS-SPNEGO and prints who the server
 * says it is (ldap_whoami) and the mechanism's SASL username.
 *
 *   gsscreds-bind URI KIND
 *
 * KIND names the credential:
 *   krb5-bob      bob's Kerberos credential, from his password (bob-pw)
 *   ntlm-bob      bob's NTLM credential (SPNEGO\bob), from his password
 *   spnego-ntlm   a SPNEGO credential restricted to NTLM (gss_set_neg_mechs)
 *   default       the default credential of every mechanism (a union)
 * libldap creates the SASL connection when the bind starts, so the
 * credential is set where applications set it (Python's bonsai does so):
 * in the interaction callback, which runs when the mechanism first asks
 * for the authorization name; the mechanism's next step then sees it.
 * After the bind the credential must still be valid (the plugin borrows
 * it); the program checks that, releases it, and exits 0 only if
 * everything worked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <ldap.h>
#include <sasl/sasl.h>

static gss_OID_desc krb5_oid = { 9, (void *)"\x2a\x86\x48\x86\xf7\x12\x01"
                                            "\x02\x02" };
static gss_OID_desc ntlm_oid = { 10, (void *)"\x2b\x06\x01\x04\x01\x82\x37"
                                             "\x02\x02\x0a" };
static gss_OID_desc spnego_oid = { 6, (void *)"\x2b\x06\x01\x05\x05\x02" };

static int
with_password(gss_OID mech, const char *user, gss_cred_id_t *cred)
{
    gss_OID_set_desc set = { 1, mech };
    gss_buffer_desc name_buf = { strlen(user), (void *)user };
    gss_buffer_desc pw = { 6, (void *)"bob-pw" };
    gss_name_t name = GSS_C_NO_NAME;
    OM_uint32 major, minor;

    major = gss_import_name(&minor, &name_buf, GSS_C_NT_USER_NAME, &name);
    if (!GSS_ERROR(major))
        major = gss_acquire_cred_with_password(&minor, name, &pw,
                                               GSS_C_INDEFINITE, &set,
                                               GSS_C_INITIATE, cred, NULL,
                                               NULL);
    (void)gss_release_name(&minor, &name);
    return !GSS_ERROR(major);
}

static int
acquire(const char *kind, gss_cred_id_t *cred)
{
    gss_OID_set_desc spnego = { 1, &spnego_oid }, ntlm = { 1, &ntlm_oid };
    OM_uint32 minor;

    if (strcmp(kind, "krb5-bob") == 0)
        return with_password(&krb5_oid, "bob", cred);
    if (strcmp(kind, "ntlm-bob") == 0)
        return with_password(&ntlm_oid, "SPNEGO\\bob", cred);
    if (strcmp(kind, "spnego-ntlm") == 0)
        return !GSS_ERROR(gss_acquire_cred(&minor, GSS_C_NO_NAME,
                                           GSS_C_INDEFINITE, &spnego,
                                           GSS_C_INITIATE, cred, NULL,
                                           NULL)) &&
               !GSS_ERROR(gss_set_neg_mechs(&minor, *cred, &ntlm));
    if (strcmp(kind, "default") == 0)
        return !GSS_ERROR(gss_acquire_cred(&minor, GSS_C_NO_NAME,
                                           GSS_C_INDEFINITE, GSS_C_NO_OID_SET,
                                           GSS_C_INITIATE, cred, NULL, NULL));
    return 0;
}

/* Lend the credential (defaults); nothing to answer: it is the identity. */
static int
interact(LDAP *ld, unsigned flags, void *defaults, void *in)
{
    sasl_interact_t *p = in;

    (void)flags;
    if (ldap_set_option(ld, LDAP_OPT_X_SASL_GSS_CREDS, defaults) !=
        LDAP_OPT_SUCCESS)
        return LDAP_LOCAL_ERROR;
    for (; p->id != SASL_CB_LIST_END; p++) {
        p->result = "";
        p->len = 0;
    }
    return LDAP_SUCCESS;
}

static int
bind_and_ask(const char *uri, gss_cred_id_t cred)
{
    LDAP *ld = NULL;
    struct berval *who = NULL;
    char *user = NULL;
    int version = LDAP_VERSION3, rc, ok = 0;

    rc = ldap_initialize(&ld, uri);
    if (rc == LDAP_SUCCESS)
        rc = ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    if (rc == LDAP_SUCCESS)
        rc = ldap_sasl_interactive_bind_s(ld, NULL, "GSS-SPNEGO", NULL, NULL,
                                          LDAP_SASL_QUIET, interact, cred);
    if (rc == LDAP_SUCCESS)
        rc = ldap_whoami_s(ld, &who, NULL, NULL);
    if (rc != LDAP_SUCCESS) {
        fprintf(stderr, "gsscreds-bind: %s\n", ldap_err2string(rc));
        goto cleanup;
    }
    (void)ldap_get_option(ld, LDAP_OPT_X_SASL_USERNAME, &user);
    printf("%.*s\nusername: %s\n", who != NULL ? (int)who->bv_len : 0,
           who != NULL ? who->bv_val : "", user != NULL ? user : "");
    ok = 1;
cleanup:
    ber_bvfree(who);
    ldap_memfree(user);
    if (ld != NULL)
        (void)ldap_unbind_ext_s(ld, NULL, NULL);
    return ok;
}

int
main(int argc, char **argv)
{
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    OM_uint32 minor;
    int ok;

    if (argc != 3) {
        fprintf(stderr, "usage: gsscreds-bind URI "
                "krb5-bob|ntlm-bob|spnego-ntlm|default\n");
        return 2;
    }
    if (!acquire(argv[2], &cred)) {
        fprintf(stderr, "gsscreds-bind: cannot acquire the %s credential\n",
                argv[2]);
        return 1;
    }
    ok = bind_and_ask(argv[1], cred);
    /* borrowed by the plugin: still ours, still valid */
    if (GSS_ERROR(gss_inquire_cred(&minor, cred, NULL, NULL, NULL, NULL))) {
        fprintf(stderr, "gsscreds-bind: the credential is no longer valid "
                "after the bind\n");
        ok = 0;
    }
    (void)gss_release_cred(&minor, &cred);
    return ok ? 0 : 1;
}
