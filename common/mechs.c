/* mechs.c - real mechanisms and negotiable credentials.  See mechs.h. */
#include "mechs.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>

#include "der.h"
#include "negtoken.h"
#include "ntlmmsg.h"

/* ---- operations over MIT GSS-API ---- */

static OM_uint32
gss_init_op(OM_uint32 *minor, gss_cred_id_t cred, gss_ctx_id_t *ctx,
            gss_name_t target, gss_OID mech, OM_uint32 req_flags,
            gss_channel_bindings_t cb, gss_buffer_t in, gss_buffer_t out,
            OM_uint32 *ret_flags)
{
    return gss_init_sec_context(minor, cred, ctx, target, mech, req_flags,
                                GSS_C_INDEFINITE, cb, in, NULL, out,
                                ret_flags, NULL);
}

/* gss-ntlmssp 1.2.0 crashes on a CHALLENGE with an empty TargetName
 * (gssapi/gss-ntlmssp#90, fixed upstream after Debian 12's version): such
 * a message never reaches it; no real server sends one. */
static OM_uint32
ntlm_init_op(OM_uint32 *minor, gss_cred_id_t cred, gss_ctx_id_t *ctx,
             gss_name_t target, gss_OID mech, OM_uint32 req_flags,
             gss_channel_bindings_t cb, gss_buffer_t in, gss_buffer_t out,
             OM_uint32 *ret_flags)
{
    if (in != GSS_C_NO_BUFFER && in->length > 0 &&
        !ntlm_challenge_target_ok(in->value, in->length)) {
        *minor = 0;
        return GSS_S_DEFECTIVE_TOKEN;
    }
    return gss_init_op(minor, cred, ctx, target, mech, req_flags, cb, in, out,
                       ret_flags);
}

static OM_uint32
gss_accept_op(OM_uint32 *minor, gss_ctx_id_t *ctx, gss_cred_id_t cred,
              gss_buffer_t in, gss_channel_bindings_t cb,
              gss_name_t *src_name, gss_buffer_t out, OM_uint32 *ret_flags,
              gss_cred_id_t *deleg)
{
    return gss_accept_sec_context(minor, ctx, cred, in, cb, src_name, NULL,
                                  out, ret_flags, NULL, deleg);
}

static OM_uint32
gss_get_mic_op(OM_uint32 *minor, gss_ctx_id_t ctx, gss_buffer_t msg,
               gss_buffer_t mic)
{
    return gss_get_mic(minor, ctx, GSS_C_QOP_DEFAULT, msg, mic);
}

static OM_uint32
gss_verify_mic_op(OM_uint32 *minor, gss_ctx_id_t ctx, gss_buffer_t msg,
                  gss_buffer_t mic)
{
    return gss_verify_mic(minor, ctx, msg, mic, NULL);
}

static void
gss_delete_op(gss_ctx_id_t *ctx)
{
    OM_uint32 minor;

    if (*ctx != GSS_C_NO_CONTEXT)
        (void)gss_delete_sec_context(&minor, ctx, GSS_C_NO_BUFFER);
    *ctx = GSS_C_NO_CONTEXT;
}

/* gss-ntlmssp controls (OID arc donated by Samba: 1.3.6.1.4.1.7165.655.1):
 * .2 asks whether the AUTHENTICATE message carried a MIC, so that the
 * mechListMIC is mandatory; .3 resets the RC4 state after a mechListMIC
 * (MS-SPNG 3.3.5.1). */
static gss_OID_desc ntlm_mic_present_oid = {
    11, (void *)"\x2b\x06\x01\x04\x01\xb7\x7d\x85\x0f\x01\x02"
};
static gss_OID_desc ntlm_reset_crypto_oid = {
    11, (void *)"\x2b\x06\x01\x04\x01\xb7\x7d\x85\x0f\x01\x03"
};

/* The client side asks gss-ntlmssp (which then also puts the MIC into its
 * AUTHENTICATE message); gss-ntlmssp 1.2.0 answers only there, so the
 * acceptor reads the AUTHENTICATE message it was given. */
static int
ntlm_requires_mic(gss_ctx_id_t ctx, enum spnego_role role, const uint8_t *in,
                  size_t in_len)
{
    OM_uint32 major, minor;
    gss_buffer_set_t bufs = GSS_C_NO_BUFFER_SET;
    int result;

    if (role == SPNEGO_ACCEPTOR)
        return in != NULL && ntlm_auth_has_mic(in, in_len);
    major = gss_inquire_sec_context_by_oid(&minor, ctx, &ntlm_mic_present_oid,
                                           &bufs);
    if (major != GSS_S_COMPLETE)
        return 0;
    result = bufs != GSS_C_NO_BUFFER_SET && bufs->count == 1 &&
             bufs->elements[0].length == 1 &&
             ((const uint8_t *)bufs->elements[0].value)[0] == 1;
    (void)gss_release_buffer_set(&minor, &bufs);
    return result;
}

static void
ntlm_after_mic(gss_ctx_id_t ctx, int verify)
{
    OM_uint32 minor;
    uint32_t value = verify ? 1 : 0;
    gss_buffer_desc buf = { sizeof(value), &value };

    /* Older gss-ntlmssp answers GSS_S_UNAVAILABLE: nothing to reset. */
    (void)gss_set_sec_context_option(&minor, &ctx, &ntlm_reset_crypto_oid,
                                     &buf);
}

const struct spnego_mech_ops spnego_gss_ops = {
    gss_init_op, gss_accept_op, gss_get_mic_op, gss_verify_mic_op,
    NULL, NULL, gss_delete_op
};

static const struct spnego_mech_ops ntlm_ops = {
    ntlm_init_op, gss_accept_op, gss_get_mic_op, gss_verify_mic_op,
    ntlm_requires_mic, ntlm_after_mic, gss_delete_op
};

static const struct spnego_mech mech_krb5 = {
    "krb5", SPNEGO_OID_KRB5,
    { 9, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02" }, &spnego_gss_ops, 1
};
static const struct spnego_mech mech_iakerb = {
    "iakerb", SPNEGO_OID_IAKERB,
    { 6, (void *)"\x2b\x06\x01\x05\x02\x05" }, &spnego_gss_ops, 1
};
static const struct spnego_mech mech_ntlmssp = {
    "ntlmssp", SPNEGO_OID_NTLMSSP,
    { 10, (void *)"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a" }, &ntlm_ops, 1
};

const struct spnego_mech *
spnego_mech_for_oid(const uint8_t *der, size_t len)
{
    enum spnego_oid_id id = spnego_oid_lookup(der, len);

    if (spnego_oid_is_krb5(id))
        return &mech_krb5;
    switch (id) {
    case SPNEGO_OID_IAKERB:
        return &mech_iakerb;
    case SPNEGO_OID_NTLMSSP:
        return &mech_ntlmssp;
    default:
        return NULL;
    }
}

int
spnego_same_mech(const uint8_t *a, size_t alen, const uint8_t *b,
                 size_t blen)
{
    if (spnego_oid_is_krb5(spnego_oid_lookup(a, alen)) &&
        spnego_oid_is_krb5(spnego_oid_lookup(b, blen)))
        return 1;
    return alen == blen && memcmp(a, b, alen) == 0;
}

int
spnego_failure_allows_fallback(const struct spnego_mech *mech,
                               OM_uint32 major, OM_uint32 minor)
{
    krb5_error_code code = (krb5_error_code)minor;

    switch (GSS_ROUTINE_ERROR(major)) {
    case GSS_S_NO_CRED:
    case GSS_S_CREDENTIALS_EXPIRED:
    case GSS_S_BAD_MECH:
    case GSS_S_BAD_NAME:
    case GSS_S_BAD_NAMETYPE:
    case GSS_S_UNAVAILABLE:
        return 1;
    case GSS_S_FAILURE:
        break;
    default:
        return 0; /* defective token, bad signature, bindings, ... */
    }
    if (GSS_SUPPLEMENTARY_INFO(major) &
        (GSS_S_DUPLICATE_TOKEN | GSS_S_OLD_TOKEN))
        return 0;
    if (mech == NULL || !spnego_oid_is_krb5(mech->id))
        return 0;
    return code == KRB5_KT_NOTFOUND || code == KRB5_KT_KVNONOTFOUND ||
           code == KRB5KRB_AP_ERR_BADKEYVER || code == KRB5KRB_AP_ERR_NOKEY ||
           code == KRB5KRB_AP_ERR_NOT_US || code == KRB5KRB_AP_WRONG_PRINC ||
           code == KRB5KRB_AP_ERR_TKT_EXPIRED ||
           code == KRB5KRB_AP_ERR_TKT_NYV || code == KRB5KRB_AP_ERR_SKEW;
}

void
spnego_oid_name(const uint8_t *der, size_t len, char *buf, size_t bufsize)
{
    const struct spnego_oid_info *info;

    info = spnego_oid_info(spnego_oid_lookup(der, len));
    if (info != NULL) {
        (void)snprintf(buf, bufsize, "%s", info->name);
        return;
    }
    if (!der_oid_to_dotted(der, len, buf, bufsize))
        (void)snprintf(buf, bufsize, "(invalid OID)");
}

/* Append the text of one kind of status code to buf at *used. */
static void
append_status(OM_uint32 code, int type, const gss_OID_desc *mech, char *buf,
              size_t bufsize, size_t *used)
{
    OM_uint32 minor, ctx = 0;
    gss_buffer_desc text = GSS_C_EMPTY_BUFFER;
    int n;

    do {
        /* A minor code may come from the mechanism glue, not the
         * mechanism: then only the glue can display it. */
        if (GSS_ERROR(gss_display_status(&minor, code, type,
                                         (gss_OID)mech, &ctx, &text)) &&
            (mech == NULL ||
             GSS_ERROR(gss_display_status(&minor, code, type, GSS_C_NO_OID,
                                          &ctx, &text))))
            return;
        /* Some minor codes display as errno 0: nothing to add. */
        if (text.length == 7 && memcmp(text.value, "Success", 7) == 0) {
            (void)gss_release_buffer(&minor, &text);
            continue;
        }
        n = snprintf(buf + *used, bufsize - *used, "%s%.*s",
                     *used ? ": " : "", (int)text.length,
                     (const char *)text.value);
        (void)gss_release_buffer(&minor, &text);
        if (n < 0 || (size_t)n >= bufsize - *used) {
            *used = bufsize - 1;
            return;
        }
        *used += (size_t)n;
    } while (ctx != 0);
}

void
spnego_gss_error(const gss_OID_desc *mech, OM_uint32 major, OM_uint32 minor,
                 char *buf, size_t bufsize)
{
    size_t used = 0;

    if (bufsize == 0)
        return;
    buf[0] = '\0';
    /* "Unspecified GSS failure.  Minor code may provide more information"
     * says nothing when the minor code is there to say it. */
    if (GSS_ERROR(major) &&
        (GSS_ROUTINE_ERROR(major) != GSS_S_FAILURE || minor == 0))
        append_status(major, GSS_C_GSS_CODE, NULL, buf, bufsize, &used);
    if (minor != 0)
        append_status(minor, GSS_C_MECH_CODE, mech, buf, bufsize, &used);
    if (used == 0)
        (void)snprintf(buf, bufsize, "GSS major 0x%x, minor %u",
                       (unsigned)major, (unsigned)minor);
}

/* ---- mechanism lists ---- */

static int
is_list_sep(char c)
{
    return c == ' ' || c == ',' || c == '\t' || c == '\n';
}

/* Resolve one list word into OID contents; 0 with a reason if invalid. */
static size_t
parse_one_mech(const char *word, uint8_t oid[32], char *err, size_t errlen)
{
    const struct spnego_oid_info *info = spnego_oid_by_name(word);
    size_t len;

    if (info != NULL) {
        memcpy(oid, info->der, info->der_len);
        len = info->der_len;
    } else {
        len = der_oid_from_dotted(word, oid, 32);
    }
    if (len == 0) {
        (void)snprintf(err, errlen, "unknown mechanism \"%s\": use krb5, "
                       "ms-krb5, krb5-old, iakerb, ntlmssp or a dotted OID",
                       word);
        return 0;
    }
    switch (spnego_oid_lookup(oid, len)) {
    case SPNEGO_OID_SPNEGO:
        (void)snprintf(err, errlen, "\"%s\": SPNEGO cannot be negotiated "
                       "inside SPNEGO", word);
        return 0;
    case SPNEGO_OID_NEGOEX:
        (void)snprintf(err, errlen, "\"%s\": NEGOEX is never negotiated "
                       "(a large attack surface; see the documentation)",
                       word);
        return 0;
    default:
        return len;
    }
}

size_t
spnego_parse_mech_list(const char *list, uint8_t oids[][32], size_t lens[],
                       size_t max, char *err, size_t errlen)
{
    size_t n = 0, i;
    const char *p = list;

    while (*p != '\0') {
        char word[128];
        size_t wl = 0;

        while (is_list_sep(*p))
            p++;
        if (*p == '\0')
            break;
        while (*p != '\0' && !is_list_sep(*p)) {
            if (wl + 1 < sizeof(word))
                word[wl++] = *p;
            p++;
        }
        word[wl] = '\0';
        if (n == max) {
            (void)snprintf(err, errlen, "more than %zu mechanisms listed",
                           max);
            return 0;
        }
        lens[n] = parse_one_mech(word, oids[n], err, errlen);
        if (lens[n] == 0)
            return 0;
        for (i = 0; i < n; i++) {
            if (lens[i] == lens[n] && memcmp(oids[i], oids[n], lens[n]) == 0)
                break;
        }
        if (i == n)
            n++;
    }
    if (n == 0)
        (void)snprintf(err, errlen, "the mechanism list \"%s\" is empty",
                       list);
    return n;
}

/* ---- credentials ---- */

/* A mechanism known only by its OID, driven through plain GSS-API. */
struct owned_mech {
    struct spnego_mech mech;
    uint8_t oid[32];
    char name[96];
};

struct mech_entry {
    const struct spnego_mech *mech;
    gss_cred_id_t cred;       /* released with the set, unless borrowed */
    struct owned_mech *owned; /* NULL for the built-in mechanisms */
    int borrowed;             /* the application's (SASL_GSS_CREDS) */
};

struct neg_entry {
    size_t mech;         /* index into mechs[] */
    uint8_t wire[32];
    gss_OID_desc wire_oid;
};

struct spnego_creds {
    enum spnego_role role;
    size_t n_mechs, n_neg;
    struct mech_entry mechs[SPNEGO_MAX_NEG_MECHS];
    struct neg_entry neg[SPNEGO_MAX_NEG_MECHS];
    int explicit_order;
};

struct spnego_creds *
spnego_creds_new(enum spnego_role role)
{
    struct spnego_creds *creds = calloc(1, sizeof(*creds));

    if (creds != NULL)
        creds->role = role;
    return creds;
}

static void
release_cred(gss_cred_id_t *cred)
{
    OM_uint32 minor;

    if (*cred != GSS_C_NO_CREDENTIAL)
        (void)gss_release_cred(&minor, cred);
    *cred = GSS_C_NO_CREDENTIAL;
}

void
spnego_creds_free(struct spnego_creds *creds)
{
    size_t i;

    if (creds == NULL)
        return;
    for (i = 0; i < creds->n_mechs; i++) {
        if (!creds->mechs[i].borrowed)
            release_cred(&creds->mechs[i].cred);
        free(creds->mechs[i].owned);
    }
    free(creds);
}

static int
find_mech(const struct spnego_creds *creds, const struct spnego_mech *mech,
          size_t *index_out)
{
    size_t i;

    for (i = 0; i < creds->n_mechs; i++) {
        if (creds->mechs[i].mech == mech) {
            *index_out = i;
            return 1;
        }
    }
    return 0;
}

static void
add_neg(struct spnego_creds *creds, size_t mech, const gss_OID_desc *wire)
{
    struct neg_entry *e = &creds->neg[creds->n_neg++];

    e->mech = mech;
    memcpy(e->wire, wire->elements, wire->length);
    e->wire_oid.length = wire->length;
    e->wire_oid.elements = e->wire;
}

int
spnego_creds_add(struct spnego_creds *creds, const struct spnego_mech *mech,
                 const gss_OID_desc *wire_oid, gss_cred_id_t cred)
{
    size_t idx;

    if (wire_oid == NULL)
        wire_oid = &mech->oid;
    if (creds->n_neg == SPNEGO_MAX_NEG_MECHS || wire_oid->length > 32) {
        release_cred(&cred);
        return 0;
    }
    if (find_mech(creds, mech, &idx)) {
        release_cred(&cred); /* the first credential stays */
    } else {
        idx = creds->n_mechs++;
        creds->mechs[idx].mech = mech;
        creds->mechs[idx].cred = cred;
    }
    add_neg(creds, idx, wire_oid);
    return 1;
}

enum spnego_role
spnego_creds_role(const struct spnego_creds *creds)
{
    return creds->role;
}

size_t
spnego_creds_count(const struct spnego_creds *creds)
{
    return creds->n_neg;
}

const gss_OID_desc *
spnego_creds_wire_oid(const struct spnego_creds *creds, size_t i)
{
    return &creds->neg[i].wire_oid;
}

const struct spnego_mech *
spnego_creds_mech(const struct spnego_creds *creds, size_t i)
{
    return creds->mechs[creds->neg[i].mech].mech;
}

gss_cred_id_t
spnego_creds_cred(const struct spnego_creds *creds, size_t i)
{
    return creds->mechs[creds->neg[i].mech].cred;
}

int
spnego_creds_order_is_explicit(const struct spnego_creds *creds)
{
    return creds->explicit_order;
}

char *
spnego_creds_name(const struct spnego_creds *creds)
{
    OM_uint32 major, minor;
    gss_name_t name = GSS_C_NO_NAME;
    gss_buffer_desc disp = GSS_C_EMPTY_BUFFER;
    char *out = NULL;
    size_t len;

    if (creds->n_neg == 0)
        return NULL;
    major = gss_inquire_cred(&minor, spnego_creds_cred(creds, 0), &name, NULL,
                             NULL, NULL);
    if (GSS_ERROR(major) ||
        GSS_ERROR(gss_display_name(&minor, name, &disp, NULL)))
        goto cleanup;
    len = disp.length;
    while (len > 0 && ((const char *)disp.value)[len - 1] == '\0')
        len--;
    out = malloc(len + 1);
    if (out != NULL) {
        memcpy(out, disp.value, len);
        out[len] = '\0';
    }
cleanup:
    (void)gss_release_buffer(&minor, &disp);
    (void)gss_release_name(&minor, &name);
    return out;
}

void
spnego_creds_describe(const struct spnego_creds *creds, char *buf,
                      size_t bufsize)
{
    size_t i, used = 0;
    char name[96];
    int n;

    if (bufsize == 0)
        return;
    buf[0] = '\0';
    for (i = 0; i < creds->n_neg; i++) {
        spnego_oid_name(creds->neg[i].wire, creds->neg[i].wire_oid.length,
                        name, sizeof(name));
        n = snprintf(buf + used, bufsize - used, "%s%s", i ? ", " : "",
                     name);
        if (n < 0 || (size_t)n >= bufsize - used)
            return;
        used += (size_t)n;
    }
}

int
spnego_creds_set_neg_mechs(struct spnego_creds *creds, const char *list,
                           char *err, size_t errlen)
{
    uint8_t oids[SPNEGO_MAX_NEG_MECHS][32];
    size_t lens[SPNEGO_MAX_NEG_MECHS];
    struct neg_entry neg[SPNEGO_MAX_NEG_MECHS];
    size_t n, i, m, count = 0;
    char have[256];

    n = spnego_parse_mech_list(list, oids, lens, SPNEGO_MAX_NEG_MECHS, err,
                               errlen);
    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        for (m = 0; m < creds->n_mechs; m++) {
            const gss_OID_desc *o = &creds->mechs[m].mech->oid;

            if (spnego_same_mech(oids[i], lens[i], o->elements, o->length))
                break;
        }
        if (m == creds->n_mechs)
            continue;
        neg[count].mech = m;
        memcpy(neg[count].wire, oids[i], lens[i]);
        neg[count].wire_oid.length = (OM_uint32)lens[i];
        count++;
    }
    if (count == 0) {
        spnego_creds_describe(creds, have, sizeof(have));
        (void)snprintf(err, errlen, "none of the mechanisms \"%s\" has "
                       "credentials here (usable: %s)", list, have);
        return 0;
    }
    for (i = 0; i < count; i++) {
        creds->neg[i] = neg[i];
        creds->neg[i].wire_oid.elements = creds->neg[i].wire;
    }
    creds->n_neg = count;
    creds->explicit_order = 1;
    return 1;
}

/* ---- acquisition ---- */

static int
mech_available(gss_OID_set avail, const gss_OID_desc *oid)
{
    size_t i;

    for (i = 0; avail != GSS_C_NO_OID_SET && i < avail->count; i++) {
        if (avail->elements[i].length == oid->length &&
            memcmp(avail->elements[i].elements, oid->elements,
                   oid->length) == 0)
            return 1;
    }
    return 0;
}

/* 1 if `label` is the first label of `realm` (no dot in it) or the whole
 * realm, ignoring case ("SPNEGO" and "spnego.test" name the realm
 * SPNEGO.TEST; "CHILD.CORP" does not name CHILD.CORP.COM). */
static int
domain_names_realm(const char *label, size_t len, const char *realm)
{
    size_t rl = strlen(realm), i;

    if (len == 0 || len > rl || (len < rl && realm[len] != '.') ||
        (len < rl && memchr(label, '.', len) != NULL))
        return 0;
    for (i = 0; i < len; i++) {
        if (tolower((unsigned char)label[i]) !=
            tolower((unsigned char)realm[i]))
            return 0;
    }
    return 1;
}

/*
 * The Kerberos principal for a Windows-style "DOMAIN\user": "user" in the
 * default realm when DOMAIN is that realm or its first label (the NetBIOS
 * domain of an AD realm, "SAMBA" for SAMBA.TEST).  Any other domain names
 * no realm we know: GSS_S_BAD_NAME, and Kerberos is left out for that name
 * (NTLM takes DOMAIN\user as it is).  Names without a backslash
 * ("user", "user@REALM") are for Kerberos to parse.
 */
static OM_uint32
krb5_user_text(OM_uint32 *minor, const char *user, char *buf, size_t size)
{
    const char *sep = strchr(user, '\\');
    krb5_context kc = NULL;
    char *realm = NULL;
    OM_uint32 major = GSS_S_BAD_NAME;
    krb5_error_code ret;

    *minor = 0;
    if (sep == NULL)
        return (size_t)snprintf(buf, size, "%s", user) < size
                   ? GSS_S_COMPLETE : GSS_S_BAD_NAME;
    ret = krb5_init_context(&kc);
    if (ret == 0)
        ret = krb5_get_default_realm(kc, &realm);
    if (ret == ENOMEM) {
        *minor = ENOMEM;
        major = GSS_S_FAILURE;
    }
    if (ret != 0)
        goto cleanup;
    /* one backslash only: a second one would reach krb5_parse_name as
     * an escape */
    if (domain_names_realm(user, (size_t)(sep - user), realm) &&
        strpbrk(sep + 1, "@\\") == NULL && sep[1] != '\0' &&
        (size_t)snprintf(buf, size, "%s@%s", sep + 1, realm) < size)
        major = GSS_S_COMPLETE;
cleanup:
    if (realm != NULL)
        krb5_free_default_realm(kc, realm);
    if (kc != NULL)
        krb5_free_context(kc);
    return major;
}

static OM_uint32
import_user(OM_uint32 *minor, const gss_OID_desc *mech, const char *user,
            gss_name_t *name_out)
{
    gss_buffer_desc buf;
    char text[1024];
    OM_uint32 major;

    *name_out = GSS_C_NO_NAME;
    if (user == NULL)
        return GSS_S_COMPLETE;
    if (spnego_oid_is_krb5(spnego_oid_lookup(mech->elements,
                                             mech->length))) {
        major = krb5_user_text(minor, user, text, sizeof(text));
        if (GSS_ERROR(major))
            return major;
        user = text;
    }
    buf.value = (void *)user;
    buf.length = strlen(user);
    return gss_import_name(minor, &buf, GSS_C_NT_USER_NAME, name_out);
}

static OM_uint32
acquire_acceptor(OM_uint32 *minor, const struct spnego_cred_params *p,
                 gss_OID_set_desc *set, gss_cred_id_t *cred)
{
    gss_key_value_element_desc kv = { "keytab", p->keytab };
    gss_key_value_set_desc store = { 1, &kv };
    gss_buffer_desc buf;
    gss_name_t name = GSS_C_NO_NAME;
    OM_uint32 major, tmp;
    int krb5 = spnego_oid_is_krb5(spnego_oid_lookup(set->elements[0].elements,
                                                    set->elements[0].length));

    /* The service name binds Kerberos to one principal; NTLM has none. */
    if (krb5 && p->service != NULL) {
        buf.value = (void *)p->service;
        buf.length = strlen(p->service);
        major = gss_import_name(minor, &buf, GSS_C_NT_HOSTBASED_SERVICE,
                                &name);
        if (GSS_ERROR(major))
            return major;
    }
    if (krb5 && p->keytab != NULL)
        major = gss_acquire_cred_from(minor, name, GSS_C_INDEFINITE, set,
                                      GSS_C_ACCEPT, &store, cred, NULL, NULL);
    else
        major = gss_acquire_cred(minor, name, GSS_C_INDEFINITE, set,
                                 GSS_C_ACCEPT, cred, NULL, NULL);
    (void)gss_release_name(&tmp, &name);
    return major;
}

/* MIT's krb5 mechanism adds CONF and INTEG to every context unless the
 * credential says otherwise; then the flags are the caller's request, and
 * a caller asking for no security layer gets none (and the acceptor, which
 * reads the flags from the authenticator, agrees). */
static OM_uint32
suppress_implicit_flags(OM_uint32 *minor, const gss_OID_set_desc *set,
                        gss_cred_id_t *cred)
{
    gss_buffer_desc empty = GSS_C_EMPTY_BUFFER;

    if (!spnego_oid_is_krb5(spnego_oid_lookup(set->elements[0].elements,
                                              set->elements[0].length)))
        return GSS_S_COMPLETE;
    return gss_set_cred_option(minor, cred, GSS_KRB5_CRED_NO_CI_FLAGS_X,
                               &empty);
}

static OM_uint32
acquire_initiator(OM_uint32 *minor, const struct spnego_cred_params *p,
                  gss_OID_set_desc *set, gss_cred_id_t *cred)
{
    OM_uint32 major, tmp, lifetime = 0;
    gss_name_t name = GSS_C_NO_NAME;
    gss_buffer_desc pw;

    major = import_user(minor, set->elements, p->user, &name);
    if (GSS_ERROR(major))
        goto cleanup;
    if (p->password != NULL) {
        pw.value = (void *)p->password;
        pw.length = strlen(p->password);
        major = gss_acquire_cred_with_password(minor, name, &pw,
                                               GSS_C_INDEFINITE, set,
                                               GSS_C_INITIATE, cred, NULL,
                                               NULL);
    } else {
        major = gss_acquire_cred(minor, name, GSS_C_INDEFINITE, set,
                                 GSS_C_INITIATE, cred, NULL, NULL);
    }
    if (GSS_ERROR(major))
        goto cleanup;
    major = suppress_implicit_flags(minor, set, cred);
    if (GSS_ERROR(major))
        goto cleanup;
    /* A Kerberos cache whose tickets expired is not usable: say so now
     * rather than offer a mechanism that cannot produce a token. */
    major = gss_inquire_cred_by_mech(minor, *cred, set->elements, NULL,
                                     &lifetime, NULL, NULL);
    if (GSS_ROUTINE_ERROR(major) == GSS_S_CREDENTIALS_EXPIRED ||
        (major == GSS_S_COMPLETE && lifetime == 0)) {
        major = GSS_S_CREDENTIALS_EXPIRED;
        *minor = 0;
    } else {
        major = GSS_S_COMPLETE; /* a mechanism that cannot say is fine */
    }
cleanup:
    if (GSS_ERROR(major))
        release_cred(cred);
    (void)gss_release_name(&tmp, &name);
    return major;
}

/* Append "name: why; " to err. */
static void
note_failure(char *err, size_t errlen, const char *name, const char *why)
{
    size_t used = strlen(err);

    if (used < errlen)
        (void)snprintf(err + used, errlen - used, "%s%s: %s",
                       used ? "; " : "", name, why);
}

static struct owned_mech *
new_owned_mech(const uint8_t *oid, size_t len)
{
    struct owned_mech *om = calloc(1, sizeof(*om));

    if (om == NULL)
        return NULL;
    memcpy(om->oid, oid, len);
    spnego_oid_name(oid, len, om->name, sizeof(om->name));
    om->mech.name = om->name;
    om->mech.id = SPNEGO_OID_UNKNOWN;
    om->mech.oid.length = (OM_uint32)len;
    om->mech.oid.elements = om->oid;
    om->mech.bindings = 0; /* unknown: not offered when bindings are required */
    om->mech.ops = &spnego_gss_ops;
    return om;
}

/* The mechanism already in creds that `oid` names, if any. */
static const struct spnego_mech *
existing_mech(const struct spnego_creds *creds, const uint8_t *oid,
              size_t len)
{
    size_t i;

    for (i = 0; i < creds->n_mechs; i++) {
        const gss_OID_desc *o = &creds->mechs[i].mech->oid;

        if (spnego_same_mech(oid, len, o->elements, o->length))
            return creds->mechs[i].mech;
    }
    return NULL;
}

static OM_uint32
acquire_for(const struct spnego_cred_params *p, const struct spnego_mech *m,
            gss_cred_id_t *cred, OM_uint32 *minor)
{
    gss_OID_set_desc set = { 1, (gss_OID)&m->oid };

    if (p->role == SPNEGO_ACCEPTOR)
        return acquire_acceptor(minor, p, &set, cred);
    return acquire_initiator(minor, p, &set, cred);
}

/* Acquire for one mechanism and add it; a failure is noted in err.
 * Returns 1 if it failed for want of memory. */
static int
acquire_one(struct spnego_creds *creds, const struct spnego_cred_params *p,
            gss_OID_set avail, const uint8_t *oid, size_t len, char *err,
            size_t errlen)
{
    const struct spnego_mech *mech = existing_mech(creds, oid, len);
    struct owned_mech *om = NULL;
    gss_OID_desc wire = { (OM_uint32)len, (void *)oid };
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    OM_uint32 major, minor = 0;
    char name[96], why[512];
    size_t idx;
    int nomem = 0;

    spnego_oid_name(oid, len, name, sizeof(name));
    if (mech != NULL) {
        (void)spnego_creds_add(creds, mech, &wire, GSS_C_NO_CREDENTIAL);
        return 0;
    }
    mech = spnego_mech_for_oid(oid, len);
    if (mech == NULL) {
        om = new_owned_mech(oid, len);
        if (om == NULL) {
            note_failure(err, errlen, name, "out of memory");
            return 1;
        }
        mech = &om->mech;
    }
    if (!mech_available(avail, &mech->oid)) {
        note_failure(err, errlen, name, "mechanism not installed");
        goto cleanup;
    }
    major = acquire_for(p, mech, &cred, &minor);
    if (GSS_ROUTINE_ERROR(major) == GSS_S_BAD_MECH) {
        note_failure(err, errlen, name, "mechanism not installed (its GSS "
                     "module is configured but cannot be loaded)");
        goto cleanup;
    }
    if (GSS_ERROR(major)) {
        spnego_gss_error(&mech->oid, major, minor, why, sizeof(why));
        note_failure(err, errlen, name, why);
        nomem = minor == ENOMEM;
        goto cleanup;
    }
    if (!spnego_creds_add(creds, mech, &wire, cred))
        goto cleanup;
    if (om != NULL && find_mech(creds, mech, &idx)) {
        creds->mechs[idx].owned = om;
        om = NULL;
    }
cleanup:
    free(om);
    return nomem;
}

enum spnego_acquire_result
spnego_creds_acquire(const struct spnego_cred_params *params,
                     struct spnego_creds **creds_out, char *err,
                     size_t errlen)
{
    uint8_t oids[SPNEGO_MAX_NEG_MECHS][32];
    size_t lens[SPNEGO_MAX_NEG_MECHS], n, i;
    struct spnego_creds *creds = NULL;
    gss_OID_set avail = GSS_C_NO_OID_SET;
    OM_uint32 major, minor;
    char failures[1024] = "";
    enum spnego_acquire_result result = SPNEGO_ACQUIRE_FAILED;
    int nomem = 0;

    *creds_out = NULL;
    n = spnego_parse_mech_list(params->mechs != NULL ? params->mechs
                                                     : "krb5 ntlmssp",
                               oids, lens, SPNEGO_MAX_NEG_MECHS, err, errlen);
    if (n == 0)
        goto cleanup;
    creds = spnego_creds_new(params->role);
    if (creds == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        result = SPNEGO_ACQUIRE_NOMEM;
        goto cleanup;
    }
    major = gss_indicate_mechs(&minor, &avail);
    if (GSS_ERROR(major)) {
        spnego_gss_error(NULL, major, minor, err, errlen);
        goto cleanup;
    }
    for (i = 0; i < n; i++)
        nomem |= acquire_one(creds, params, avail, oids[i], lens[i],
                             failures, sizeof(failures));
    if (creds->n_neg == 0) {
        (void)snprintf(err, errlen, "no usable credentials for any "
                       "mechanism (%s)", failures);
        result = nomem ? SPNEGO_ACQUIRE_NOMEM : SPNEGO_ACQUIRE_FAILED;
        goto cleanup;
    }
    /* Success: err says which mechanisms were left out, and why. */
    (void)snprintf(err, errlen, "%s", failures);
    *creds_out = creds;
    creds = NULL;
    result = SPNEGO_ACQUIRE_OK;
cleanup:
    (void)gss_release_oid_set(&minor, &avail);
    spnego_creds_free(creds);
    return result;
}

/* ---- credentials the application lends (SASL_GSS_CREDS) ---- */

static const gss_OID_desc spnego_oid = { 6,
                                         (void *)"\x2b\x06\x01\x05\x05\x02" };

/* Split a display name ("user@REALM", "DOMAIN\\user", "user@DOMAIN"; a
 * trailing NUL, as gss-ntlmssp 1.2.0 adds, ignored) into its user and
 * domain (or realm) parts; never reads past its length. */
static void
split_account(const gss_buffer_desc *disp, char *user, size_t usize,
              char *domain, size_t dsize)
{
    const char *t = disp->value, *at, *bs;
    size_t n = disp->length;

    while (n > 0 && t[n - 1] == '\0')
        n--;
    user[0] = domain[0] = '\0';
    bs = memchr(t, '\\', n);
    if (bs != NULL) {
        (void)snprintf(domain, dsize, "%.*s", (int)(bs - t), t);
        (void)snprintf(user, usize, "%.*s", (int)(n - (size_t)(bs - t) - 1),
                       bs + 1);
        return;
    }
    at = memchr(t, '@', n);
    if (at == NULL) {
        (void)snprintf(user, usize, "%.*s", (int)n, t);
        return;
    }
    (void)snprintf(user, usize, "%.*s", (int)(at - t), t);
    (void)snprintf(domain, dsize, "%.*s", (int)(n - (size_t)(at - t) - 1),
                   at + 1);
}

int
spnego_same_account(const char *krb5_name, const char *ntlm_name)
{
    gss_buffer_desc k = { strlen(krb5_name), (void *)krb5_name };
    gss_buffer_desc n = { strlen(ntlm_name), (void *)ntlm_name };
    char ku[256], kr[256], nu[256], nd[256];

    split_account(&k, ku, sizeof(ku), kr, sizeof(kr));
    split_account(&n, nu, sizeof(nu), nd, sizeof(nd));
    return ku[0] != '\0' && strcasecmp(ku, nu) == 0 &&
           domain_names_realm(nd, strlen(nd), kr);
}

/* 1 if `cred` (the default NTLM credential) is for the account `name` (a
 * Kerberos principal) names: same user, and a domain that names its
 * realm. */
static int
same_user(gss_cred_id_t cred, gss_name_t name)
{
    gss_name_t other = GSS_C_NO_NAME;
    gss_buffer_desc a = GSS_C_EMPTY_BUFFER, b = GSS_C_EMPTY_BUFFER;
    char an[512] = "", bn[512] = "";
    OM_uint32 minor;

    if (!GSS_ERROR(gss_inquire_cred(&minor, cred, &other, NULL, NULL,
                                    NULL)) &&
        !GSS_ERROR(gss_display_name(&minor, other, &a, NULL)) &&
        !GSS_ERROR(gss_display_name(&minor, name, &b, NULL))) {
        (void)snprintf(an, sizeof(an), "%.*s", (int)a.length,
                       (const char *)a.value);
        (void)snprintf(bn, sizeof(bn), "%.*s", (int)b.length,
                       (const char *)b.value);
    }
    (void)gss_release_buffer(&minor, &a);
    (void)gss_release_buffer(&minor, &b);
    (void)gss_release_name(&minor, &other);
    return an[0] != '\0' && bn[0] != '\0' && spnego_same_account(bn, an);
}

/* One mechanism's credential for the identity of a SPNEGO credential
 * (MIT keeps the mechanisms' credentials inside it out of reach, and
 * gss-ntlmssp 1.2.0 cannot import the credential it exports): acquired
 * for its name; for NTLM, whose names are not Kerberos principals, the
 * default NTLM credential when it is for the same user name.  Owned by
 * the caller; GSS_C_NO_CREDENTIAL if there is none. */
static gss_cred_id_t
cred_for_identity(gss_name_t name, const gss_OID_desc *mech,
                  gss_cred_usage_t usage)
{
    gss_OID_set_desc set = { 1, (gss_OID)mech };
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    OM_uint32 major, minor;

    major = gss_acquire_cred(&minor, name, GSS_C_INDEFINITE, &set, usage,
                             &cred, NULL, NULL);
    if (!GSS_ERROR(major))
        return cred;
    if (spnego_oid_lookup(mech->elements, mech->length) !=
        SPNEGO_OID_NTLMSSP)
        return GSS_C_NO_CREDENTIAL;
    major = gss_acquire_cred(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &set,
                             usage, &cred, NULL, NULL);
    if (GSS_ERROR(major))
        return GSS_C_NO_CREDENTIAL;
    if (usage == GSS_C_INITIATE && !same_user(cred, name))
        (void)gss_release_cred(&minor, &cred);
    return cred;
}

/* The list and order of a SPNEGO initiator credential (what
 * gss_set_neg_mechs set, which MIT does not let one read): the mechTypes
 * of the NegTokenInit MIT's SPNEGO makes with it for `target`, as DER
 * OIDs in oids[]; returns how many (0 on failure, with err). */
static size_t
probe_neg_mechs(gss_cred_id_t cred, gss_name_t target,
                uint8_t oids[][32], size_t *lens, size_t max, char *err,
                size_t errlen)
{
    gss_OID_desc spnego = spnego_oid;
    gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
    gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
    struct negtoken tok;
    OM_uint32 major, minor = 0, tmp;
    size_t i, n = 0;
    der_err derr;

    major = gss_init_sec_context(&minor, cred, &ctx, target, &spnego, 0,
                                 GSS_C_INDEFINITE, NULL, GSS_C_NO_BUFFER,
                                 NULL, &out, NULL, NULL);
    if (GSS_ERROR(major)) {
        spnego_gss_error(&spnego, major, minor, err, errlen);
        goto cleanup;
    }
    if (negtoken_decode(out.value, out.length, NULL, &tok, &derr) !=
        NEGTOKEN_OK) {
        (void)snprintf(err, errlen, "MIT's SPNEGO made an unreadable "
                       "NegTokenInit: %s", derr.text);
        goto cleanup;
    }
    for (i = 0; i < tok.n_mechs && n < max; i++) {
        if (tok.mechs[i].len > 32)
            continue;
        memcpy(oids[n], tok.mechs[i].data, tok.mechs[i].len);
        lens[n++] = tok.mechs[i].len;
    }
cleanup:
    (void)gss_release_buffer(&tmp, &out);
    (void)gss_delete_sec_context(&tmp, &ctx, GSS_C_NO_BUFFER);
    return n;
}

/* Keep those of oids[] (in their order) that the allow list `mechs` (NULL:
 * any) names; returns how many are left. */
static size_t
keep_allowed(uint8_t oids[][32], size_t *lens, size_t n, const char *mechs)
{
    uint8_t allowed[SPNEGO_MAX_NEG_MECHS][32];
    size_t alens[SPNEGO_MAX_NEG_MECHS], na, i, j, kept = 0;
    char err[256];

    if (mechs == NULL)
        return n;
    na = spnego_parse_mech_list(mechs, allowed, alens, SPNEGO_MAX_NEG_MECHS,
                                err, sizeof(err));
    for (i = 0; i < n; i++) {
        for (j = 0; j < na; j++) {
            if (spnego_same_mech(oids[i], lens[i], allowed[j], alens[j]))
                break;
        }
        if (j == na)
            continue;
        memmove(oids[kept], oids[i], lens[i]);
        lens[kept++] = lens[i];
    }
    return kept;
}

/* Add each of oids[] that `cred` holds and this project drives, with
 * cred borrowed. */
static void
add_borrowed(struct spnego_creds *creds, gss_cred_id_t cred,
             gss_OID_set held, uint8_t oids[][32], const size_t *lens,
             size_t n)
{
    size_t i, idx;

    for (i = 0; i < n; i++) {
        const struct spnego_mech *mech = spnego_mech_for_oid(oids[i],
                                                             lens[i]);
        gss_OID_desc wire = { (OM_uint32)lens[i], oids[i] };

        if (mech == NULL || !mech_available(held, &mech->oid))
            continue;
        if (!spnego_creds_add(creds, mech, &wire, GSS_C_NO_CREDENTIAL))
            continue;
        if (find_mech(creds, mech, &idx) &&
            creds->mechs[idx].cred == GSS_C_NO_CREDENTIAL) {
            creds->mechs[idx].cred = cred;
            creds->mechs[idx].borrowed = 1;
        }
    }
}

/* A SPNEGO credential: each of oids[] this project drives, with a
 * credential of its own for the SPNEGO credential's identity. */
static void
add_for_identity(struct spnego_creds *creds, gss_cred_id_t spnego,
                 uint8_t oids[][32], const size_t *lens, size_t n)
{
    gss_name_t name = GSS_C_NO_NAME;
    gss_cred_usage_t usage = creds->role == SPNEGO_INITIATOR
                                 ? GSS_C_INITIATE : GSS_C_ACCEPT;
    OM_uint32 minor;
    size_t i;

    if (GSS_ERROR(gss_inquire_cred(&minor, spnego, &name, NULL, NULL,
                                   NULL)))
        return;
    for (i = 0; i < n; i++) {
        const struct spnego_mech *mech = spnego_mech_for_oid(oids[i],
                                                             lens[i]);
        gss_OID_desc wire = { (OM_uint32)lens[i], oids[i] };
        gss_cred_id_t cred;

        if (mech == NULL)
            continue;
        cred = cred_for_identity(name, &mech->oid, usage);
        if (cred != GSS_C_NO_CREDENTIAL)
            (void)spnego_creds_add(creds, mech, &wire, cred);
    }
    (void)gss_release_name(&minor, &name);
}

/* 1 if the credential holds a mechanism this project drives itself (a
 * mechanism credential, or a union such as the default one). */
static int
holds_ours(gss_OID_set held)
{
    size_t i;

    for (i = 0; held != GSS_C_NO_OID_SET && i < held->count; i++) {
        if (spnego_mech_for_oid(held->elements[i].elements,
                                held->elements[i].length) != NULL)
            return 1;
    }
    return 0;
}

enum spnego_acquire_result
spnego_creds_borrow(enum spnego_role role, gss_cred_id_t cred,
                    const char *mechs, gss_name_t target,
                    struct spnego_creds **creds_out, char *err,
                    size_t errlen)
{
    uint8_t oids[SPNEGO_MAX_NEG_MECHS][32];
    size_t lens[SPNEGO_MAX_NEG_MECHS], n = 0;
    struct spnego_creds *creds = NULL;
    gss_OID_set held = GSS_C_NO_OID_SET;
    OM_uint32 major, minor = 0;
    enum spnego_acquire_result result = SPNEGO_ACQUIRE_FAILED;
    gss_cred_usage_t usage = GSS_C_BOTH;
    int spnego_only;

    *creds_out = NULL;
    creds = spnego_creds_new(role);
    if (creds == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        return SPNEGO_ACQUIRE_NOMEM;
    }
    major = gss_inquire_cred(&minor, cred, NULL, NULL, &usage, &held);
    if (GSS_ERROR(major)) {
        spnego_gss_error(NULL, major, minor, err, errlen);
        goto cleanup;
    }
    if (usage != GSS_C_BOTH &&
        usage != (role == SPNEGO_INITIATOR ? GSS_C_INITIATE : GSS_C_ACCEPT)) {
        (void)snprintf(err, errlen, "the credential given (SASL_GSS_CREDS) "
                       "is for %s only", usage == GSS_C_ACCEPT
                                             ? "accepting" : "initiating");
        goto cleanup;
    }
    spnego_only = !holds_ours(held) &&
                  mech_available(held, &spnego_oid);
    if (spnego_only && role == SPNEGO_ACCEPTOR) {
        (void)snprintf(err, errlen, "a SPNEGO acceptor credential "
                       "(SASL_GSS_CREDS) keeps the keytab and the mechanisms' "
                       "credentials it was made from out of reach: lend the "
                       "mechanism credential (Kerberos, NTLM) instead");
        goto cleanup;
    }
    if (spnego_only && target != GSS_C_NO_NAME) {
        n = probe_neg_mechs(cred, target, oids, lens, SPNEGO_MAX_NEG_MECHS,
                            err, errlen);
        if (n == 0)
            goto cleanup;
        n = keep_allowed(oids, lens, n, mechs);
    }
    if (n == 0) /* the configured order over what the credential holds */
        n = spnego_parse_mech_list(mechs != NULL ? mechs : "krb5 ntlmssp",
                                   oids, lens, SPNEGO_MAX_NEG_MECHS, err,
                                   errlen);
    if (spnego_only)
        add_for_identity(creds, cred, oids, lens, n);
    else
        add_borrowed(creds, cred, held, oids, lens, n);
    if (creds->n_neg == 0) {
        (void)snprintf(err, errlen, "the credential given (SASL_GSS_CREDS) "
                       "holds none of the mechanisms negotiated here (%s)",
                       mechs != NULL ? mechs : "krb5 ntlmssp");
        goto cleanup;
    }
    *creds_out = creds;
    creds = NULL;
    err[0] = '\0';
    result = SPNEGO_ACQUIRE_OK;
cleanup:
    (void)gss_release_oid_set(&minor, &held);
    spnego_creds_free(creds);
    return result;
}
