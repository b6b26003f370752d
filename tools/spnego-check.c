/*
 * spnego-check - check a host's GSS-SPNEGO setup before the first bind
 * fails (issue 16, part 4).  For SERVICE@HOST it checks, and for each
 * problem says what to change:
 *   - the keytab: there, readable (by --user too: the service's user);
 *   - the principal a client will ask for (krb5.conf's canonicalization
 *     and rdns applied, as libkrb5 does) and its keys in the keytab;
 *   - the KDC: an AS exchange with those keys (a key the KDC no longer
 *     has fails here), the clock against the KDC's, and a ticket for the
 *     service itself whose kvno and enctype the keytab must hold;
 *   - which plugin libsasl2 will use for GSS-SPNEGO;
 *   - NTLM_USER_FILE: readable by the service's user, not by everyone;
 *   - slapd's SASL file (Debian reads SASL options only from it).
 *
 *   spnego-check [--keytab KT] [--user NAME] [--slapd-conf FILE] SERVICE@HOST
 *
 * Exit status: 0 nothing wrong, 1 problems found, 2 usage.
 */
#include "config.h"

#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <krb5.h>
#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#define MAX_SKEW 300 /* seconds, libkrb5's default clockskew */

static int problems;

static void
ok(const char *fmt, ...)
{
    va_list ap;

    fputs("ok: ", stdout);
    va_start(ap, fmt);
    (void)vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

/* A problem and what to change. */
static void
problem(const char *fix, const char *fmt, ...)
{
    va_list ap;

    problems++;
    fputs("PROBLEM: ", stdout);
    va_start(ap, fmt);
    (void)vprintf(fmt, ap);
    va_end(ap);
    printf("\n  fix: %s\n", fix);
}

/* ---- files and users ---- */

/* 1 if the user `name` can read the file with `st` (owner, group or other
 * read bit; root reads everything). */
static int
user_can_read(const struct passwd *pw, const struct stat *st)
{
    gid_t groups[256];
    int n = 256, i;

    if (pw->pw_uid == 0)
        return 1;
    if (st->st_uid == pw->pw_uid)
        return (st->st_mode & S_IRUSR) != 0;
    if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
        n = 0;
    for (i = 0; i < n; i++) {
        if (groups[i] == st->st_gid)
            return (st->st_mode & S_IRGRP) != 0;
    }
    return (st->st_mode & S_IROTH) != 0;
}

/* The file must exist and be readable (by us, and by `user` if given). */
static int
check_readable(const char *what, const char *path, const char *user,
               const char *fix)
{
    struct stat st;
    struct passwd *pw;

    if (stat(path, &st) != 0) {
        problem(fix, "%s %s does not exist", what, path);
        return 0;
    }
    if (access(path, R_OK) != 0) {
        problem(fix, "%s %s cannot be read by this process", what, path);
        return 0;
    }
    if (user != NULL) {
        pw = getpwnam(user);
        if (pw == NULL) {
            problem("give the user the service runs as", "no user %s", user);
            return 0;
        }
        if (!user_can_read(pw, &st)) {
            problem("make it readable by that user only (chown or chgrp, "
                    "mode 0640)", "%s %s cannot be read by %s (mode %04o, "
                    "owner %u:%u)", what, path, user,
                    (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
                    (unsigned)st.st_gid);
            return 0;
        }
    }
    ok("%s %s is readable%s%s", what, path, user ? " by " : "",
       user ? user : "");
    return 1;
}

/* ---- Kerberos ---- */

/* libkrb5's message for ret, copied into buf (the library's copy freed). */
static const char *
krb_text(krb5_context ctx, krb5_error_code ret, char *buf, size_t size)
{
    const char *msg = krb5_get_error_message(ctx, ret);

    (void)snprintf(buf, size, "%s", msg != NULL ? msg : "unknown error");
    krb5_free_error_message(ctx, msg);
    return buf;
}

static const char *
keytab_path(const char *name)
{
    if (strncmp(name, "FILE:", 5) == 0)
        return name + 5;
    if (strncmp(name, "WRFILE:", 7) == 0)
        return name + 7;
    return strchr(name, ':') == NULL ? name : NULL;
}

/* The keys the keytab holds for princ: prints them; returns how many. */
static int
list_keys(krb5_context ctx, krb5_keytab kt, krb5_principal princ,
          krb5_kvno kvno_want, krb5_enctype etype_want, int *has_wanted)
{
    krb5_kt_cursor cur;
    krb5_keytab_entry e;
    char etype[64];
    int n = 0;

    *has_wanted = 0;
    if (krb5_kt_start_seq_get(ctx, kt, &cur) != 0)
        return 0;
    while (krb5_kt_next_entry(ctx, kt, &e, &cur) == 0) {
        if (krb5_principal_compare(ctx, e.principal, princ)) {
            if (krb5_enctype_to_name(e.key.enctype, 0, etype,
                                     sizeof(etype)) != 0)
                (void)snprintf(etype, sizeof(etype), "etype %d",
                               (int)e.key.enctype);
            if (kvno_want == 0)
                printf("  key: kvno %u, %s\n", (unsigned)e.vno, etype);
            if (e.vno == kvno_want && e.key.enctype == etype_want)
                *has_wanted = 1;
            n++;
        }
        (void)krb5_free_keytab_entry_contents(ctx, &e);
    }
    (void)krb5_kt_end_seq_get(ctx, kt, &cur);
    return n;
}

/* A ticket for the service, from the KDC, with its own keys: its kvno and
 * enctype must be in the keytab. */
static void
check_service_ticket(krb5_context ctx, krb5_keytab kt, krb5_principal princ,
                     krb5_creds *tgt, const char *pname)
{
    krb5_ccache cc = NULL;
    krb5_creds in, *out = NULL;
    krb5_ticket *tkt = NULL;
    krb5_error_code ret;
    char etype[64], text[512];
    int has = 0;

    memset(&in, 0, sizeof(in));
    ret = krb5_cc_new_unique(ctx, "MEMORY", NULL, &cc);
    if (ret == 0)
        ret = krb5_cc_initialize(ctx, cc, princ);
    if (ret == 0)
        ret = krb5_cc_store_cred(ctx, cc, tgt);
    in.client = princ;
    in.server = princ;
    if (ret == 0)
        ret = krb5_get_credentials(ctx, 0, cc, &in, &out);
    if (ret == 0)
        ret = krb5_decode_ticket(&out->ticket, &tkt);
    if (ret != 0) {
        problem("check the KDC's log", "no service ticket for %s: %s",
                pname, krb_text(ctx, ret, text, sizeof(text)));
        goto cleanup;
    }
    if (krb5_enctype_to_name(tkt->enc_part.enctype, 0, etype,
                             sizeof(etype)) != 0)
        (void)snprintf(etype, sizeof(etype), "etype %d",
                       (int)tkt->enc_part.enctype);
    (void)list_keys(ctx, kt, princ, tkt->enc_part.kvno,
                    tkt->enc_part.enctype, &has);
    if (has)
        ok("the KDC issues tickets for %s with kvno %u, %s, and the keytab "
           "holds that key", pname, (unsigned)tkt->enc_part.kvno, etype);
    else
        problem("export the current key again (kadmin: ktadd -k KEYTAB "
                "PRINCIPAL, or adcli update / msktutil on AD) and keep only "
                "the keytab that has it",
                "the KDC issues tickets for %s with kvno %u, %s, which the "
                "keytab does not hold: every client's ticket will be "
                "refused", pname, (unsigned)tkt->enc_part.kvno, etype);
cleanup:
    krb5_free_ticket(ctx, tkt);
    krb5_free_creds(ctx, out);
    if (cc != NULL)
        (void)krb5_cc_destroy(ctx, cc);
}

/* The keytab's key is not the KDC's: with the caller's own ticket (the
 * default ccache), ask for a ticket for the service and say which kvno the
 * KDC uses now. */
static void
explain_stale_key(krb5_context ctx, krb5_principal princ, const char *pname)
{
    krb5_ccache cc = NULL;
    krb5_creds in, *out = NULL;
    krb5_ticket *tkt = NULL;

    memset(&in, 0, sizeof(in));
    in.server = princ;
    if (krb5_cc_default(ctx, &cc) != 0 ||
        krb5_cc_get_principal(ctx, cc, &in.client) != 0 ||
        krb5_get_credentials(ctx, 0, cc, &in, &out) != 0 ||
        krb5_decode_ticket(&out->ticket, &tkt) != 0) {
        printf("  (no ticket of the caller's to ask the KDC for %s's current "
               "kvno: run kinit to see it)\n", pname);
        goto cleanup;
    }
    printf("  the KDC issues tickets for %s with kvno %u now\n", pname,
           (unsigned)tkt->enc_part.kvno);
cleanup:
    krb5_free_ticket(ctx, tkt);
    krb5_free_creds(ctx, out);
    krb5_free_principal(ctx, in.client);
    if (cc != NULL)
        (void)krb5_cc_close(ctx, cc);
}

/* An AS exchange with the service's keys: the KDC knows the principal and
 * one of the keys; the clocks agree. */
static void
check_kdc(krb5_context ctx, krb5_keytab kt, krb5_principal princ,
          const char *pname)
{
    krb5_get_init_creds_opt *opts = NULL;
    krb5_creds creds;
    krb5_error_code ret;
    char text[512];
    long skew;

    memset(&creds, 0, sizeof(creds));
    if (krb5_get_init_creds_opt_alloc(ctx, &opts) != 0)
        return;
    ret = krb5_get_init_creds_keytab(ctx, &creds, princ, kt, 0, NULL, opts);
    if (ret == KRB5KRB_AP_ERR_SKEW) {
        problem("synchronise the clocks (NTP)", "the clock differs from the "
                "KDC's by more than libkrb5 allows: %s",
                krb_text(ctx, ret, text, sizeof(text)));
        goto cleanup;
    }
    if (ret == KRB5KRB_AP_ERR_BAD_INTEGRITY ||
        ret == KRB5KDC_ERR_PREAUTH_FAILED) {
        problem("export the current key again (kadmin: ktadd -k KEYTAB "
                "PRINCIPAL, or adcli update / msktutil on AD)",
                "the keytab's keys for %s are not the KDC's (%s): the "
                "password or key was changed since the keytab was made, so "
                "every client's ticket will be refused", pname,
                krb_text(ctx, ret, text, sizeof(text)));
        explain_stale_key(ctx, princ, pname);
        goto cleanup;
    }
    if (ret != 0) {
        problem("check that the KDC is reachable (krb5.conf) and that the "
                "principal exists", "the KDC refused %s's keys: %s", pname,
                krb_text(ctx, ret, text, sizeof(text)));
        goto cleanup;
    }
    ok("the KDC accepts %s's keys", pname);
    skew = (long)creds.times.authtime - (long)time(NULL);
    if (skew > MAX_SKEW || skew < -MAX_SKEW)
        problem("synchronise the clocks (NTP)", "the clock differs from the "
                "KDC's by %ld s (libkrb5 allows %d)", skew, MAX_SKEW);
    else
        ok("the clock agrees with the KDC's (%ld s apart)", skew);
    check_service_ticket(ctx, kt, princ, &creds, pname);
    krb5_free_cred_contents(ctx, &creds);
cleanup:
    krb5_get_init_creds_opt_free(ctx, opts);
}

static void
check_kerberos(const char *service, const char *host, const char *ktopt,
               const char *user)
{
    krb5_context ctx = NULL;
    krb5_keytab kt = NULL;
    krb5_principal princ = NULL;
    char ktname[1024], *pname = NULL;
    const char *path;
    int has;

    if (krb5_init_context(&ctx) != 0) {
        problem("check krb5.conf (KRB5_CONFIG)", "libkrb5 cannot start");
        return;
    }
    if (ktopt != NULL)
        (void)snprintf(ktname, sizeof(ktname), "%s", ktopt);
    else if (krb5_kt_default_name(ctx, ktname, sizeof(ktname)) != 0)
        ktname[0] = '\0';
    path = keytab_path(ktname);
    if (path != NULL)
        (void)check_readable("keytab", path, user, "create it with the "
                             "service's keys (kadmin ktadd, adcli join), or "
                             "point KRB5_KTNAME or spnego_keytab at it");
    if (krb5_sname_to_principal(ctx, host, service, KRB5_NT_SRV_HST,
                                &princ) != 0 ||
        krb5_unparse_name(ctx, princ, &pname) != 0) {
        problem("check the host name", "no principal for %s@%s", service,
                host);
        goto cleanup;
    }
    ok("a client asks for %s (krb5.conf's dns_canonicalize_hostname and "
       "rdns applied)", pname);
    if (krb5_kt_resolve(ctx, ktname, &kt) != 0 ||
        list_keys(ctx, kt, princ, 0, 0, &has) == 0) {
        problem("add the principal's keys to the keytab (kadmin: ktadd -k "
                "KEYTAB PRINCIPAL), or fix the host name the clients use",
                "the keytab %s holds no key for %s", ktname, pname);
        goto cleanup;
    }
    ok("the keytab %s holds keys for %s", ktname, pname);
    check_kdc(ctx, kt, princ, pname);
cleanup:
    krb5_free_unparsed_name(ctx, pname);
    krb5_free_principal(ctx, princ);
    if (kt != NULL)
        (void)krb5_kt_close(ctx, kt);
    krb5_free_context(ctx);
}

/* ---- libsasl2 ---- */

static char first_plugin[256];
static int n_plugins;

static void
plugin_cb(server_sasl_mechanism_t *m, sasl_info_callback_stage_t stage,
          void *rock)
{
    (void)rock;
    if (stage != SASL_INFO_LIST_MECH || m == NULL || m->plug == NULL ||
        strcmp(m->plug->mech_name, "GSS-SPNEGO") != 0)
        return;
    if (n_plugins++ == 0)
        (void)snprintf(first_plugin, sizeof(first_plugin), "%s",
                       m->plugname != NULL ? m->plugname : "?");
}

static void
check_sasl(void)
{
    const char *path = getenv("SASL_PATH");

    if (sasl_server_init(NULL, "spnego-check") != SASL_OK) {
        problem("check libsasl2's installation", "libsasl2 cannot start");
        return;
    }
    (void)sasl_server_plugin_info("GSS-SPNEGO", plugin_cb, NULL);
    if (n_plugins == 0)
        problem("install this plugin (libgssspnego.so) in libsasl2's plugin "
                "directory", "libsasl2 has no GSS-SPNEGO plugin%s%s",
                path ? " in SASL_PATH " : "", path ? path : "");
    else if (strcmp(first_plugin, "gssspnego") != 0)
        problem("install this plugin beside the other (libsasl2 2.1.28 then "
                "chooses it), or point SASL_PATH at a directory holding it",
                "libsasl2 will use %s for GSS-SPNEGO, not this plugin",
                first_plugin);
    else
        ok("libsasl2 will use this plugin for GSS-SPNEGO (%d provider%s)",
           n_plugins, n_plugins == 1 ? "" : "s");
    sasl_done();
}

/* ---- NTLM and slapd ---- */

static void
check_ntlm(const char *user)
{
    const char *file = getenv("NTLM_USER_FILE");
    struct stat st;

    if (file == NULL) {
        ok("NTLM_USER_FILE is not set (NTLM needs it on a server without "
           "winbind)");
        return;
    }
    if (!check_readable("NTLM_USER_FILE", file, user, "create it (lines "
                        "DOMAIN:user:password) readable by the service"))
        return;
    if (stat(file, &st) == 0 && (st.st_mode & S_IROTH))
        problem("chmod o-r: it holds passwords", "NTLM_USER_FILE %s can be "
                "read by every user (mode %04o)", file,
                (unsigned)(st.st_mode & 07777));
}

static void
check_slapd_conf(const char *file, const char *user)
{
    struct stat st;

    if (stat(file, &st) != 0) {
        ok("%s does not exist (Debian's slapd reads its SASL options only "
           "from it; create it to set mech_list or spnego_keytab)", file);
        return;
    }
    (void)check_readable("slapd's SASL file", file, user,
                         "make it readable by slapd's user");
}

static void
usage(void)
{
    fputs("usage: spnego-check [--keytab KEYTAB] [--user NAME] "
          "[--slapd-conf FILE] SERVICE@HOST\n", stderr);
    exit(2);
}

int
main(int argc, char **argv)
{
    const char *ktopt = NULL, *user = NULL;
    const char *slapd_conf = "/etc/ldap/sasl2/slapd.conf";
    char service[256], *at;
    int i;

    (void)setvbuf(stdout, NULL, _IOLBF, 0); /* whole lines, even on abort */
    for (i = 1; i < argc - 1; i += 2) {
        if (strcmp(argv[i], "--keytab") == 0)
            ktopt = argv[i + 1];
        else if (strcmp(argv[i], "--user") == 0)
            user = argv[i + 1];
        else if (strcmp(argv[i], "--slapd-conf") == 0)
            slapd_conf = argv[i + 1];
        else
            usage();
    }
    if (i != argc - 1 || strlen(argv[i]) >= sizeof(service))
        usage();
    (void)snprintf(service, sizeof(service), "%s", argv[i]);
    at = strchr(service, '@');
    if (at == NULL || at == service || at[1] == '\0')
        usage();
    *at = '\0';
    check_kerberos(service, at + 1, ktopt, user);
    check_sasl();
    check_ntlm(user);
    check_slapd_conf(slapd_conf, user);
    printf("%d problem%s\n", problems, problems == 1 ? "" : "s");
    return problems > 0 ? 1 : 0;
}
