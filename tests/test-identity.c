/* test-identity.c - the identity the application gives is the one used
 * (issue 13, point 3), with our plugin on both sides through libsasl2
 * (tests/sasl-harness.h) in the fixture's realm, where alice's ticket is
 * the default credential of every case unless a case removes it.
 *
 *   - nothing given: the default ticket, and no prompt for a name or a
 *     password (ldapwhoami after kinit);
 *   - a name and a password: that name, with that password, or a failure;
 *     never the default ticket (Kerberos and NTLM, "DOMAIN\user" and
 *     "user@DOMAIN");
 *   - a name without a password: the stored credentials of that principal
 *     (the default ticket if it is that name, with or without its realm; a
 *     ticket cache of the collection), otherwise the password is asked for;
 *   - SSSD's AD provider: the name "CLIENT1$" without realm or password,
 *     over the ticket cache its keytab child made for CLIENT1$@REALM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sasl-harness.h"

/* ---- environment ---- */

/* The variables a case may change, restored by the teardown. */
static const char *const saved_names[] = { "KRB5CCNAME", "KRB5_CLIENT_KTNAME",
                                           "NTLM_USER_FILE", "USER" };
static char *saved_values[4];
static char scratch[256]; /* a temporary directory of the case, or "" */

static int
save_env(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < 4; i++) {
        const char *v = getenv(saved_names[i]);

        saved_values[i] = v != NULL ? strdup(v) : NULL;
    }
    (void)snprintf(scratch, sizeof(scratch), "/tmp/test-identity.XXXXXX");
    assert_non_null(mkdtemp(scratch));
    return 0;
}

/* Remove the scratch directory and the ticket caches in it (files only,
 * as the cases make them). */
static void
remove_scratch(void)
{
    char path[600];
    struct dirent *e;
    DIR *d;

    if (scratch[0] == '\0')
        return;
    d = opendir(scratch);
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        (void)snprintf(path, sizeof(path), "%s/%s", scratch, e->d_name);
        (void)unlink(path);
    }
    if (d != NULL)
        (void)closedir(d);
    assert_int_equal(rmdir(scratch), 0);
    scratch[0] = '\0';
}

static int
restore_env(void **state)
{
    size_t i;

    hx_teardown(state);
    for (i = 0; i < 4; i++) {
        if (saved_values[i] != NULL)
            setenv(saved_names[i], saved_values[i], 1);
        else
            unsetenv(saved_names[i]);
        free(saved_values[i]);
        saved_values[i] = NULL;
    }
    remove_scratch();
    return 0;
}

/* No default credentials at all: no ticket, no client keytab (the NTLM
 * user file stays: gss-ntlmssp's acceptor reads it too). */
static void
no_default_ticket(void)
{
    setenv("KRB5CCNAME", "FILE:/nonexistent/ccache", 1);
    setenv("KRB5_CLIENT_KTNAME", "FILE:/nonexistent/keytab", 1);
}

/* Run kinit with the n arguments args (after "kinit"), `input` on its
 * standard input; asserts that it succeeded. */
static void
run_kinit(const char *const args[], size_t n, const char *input)
{
    char copies[8][300], *argv[9];
    int fds[2], status = 0;
    size_t i;
    pid_t pid;

    assert_true(n < 8);
    argv[0] = copies[0];
    (void)snprintf(copies[0], sizeof(copies[0]), "kinit");
    for (i = 0; i < n; i++) {
        (void)snprintf(copies[i + 1], sizeof(copies[0]), "%s", args[i]);
        argv[i + 1] = copies[i + 1];
    }
    argv[n + 1] = NULL;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        (void)dup2(fds[0], 0);
        (void)close(fds[0]);
        (void)close(fds[1]);
        (void)freopen("/dev/null", "w", stdout);
        execvp(argv[0], argv);
        _exit(127);
    }
    (void)close(fds[0]);
    assert_int_equal(write(fds[1], input, strlen(input)),
                     (ssize_t)strlen(input));
    (void)close(fds[1]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("kinit of %s failed (status %d)", args[n - 1], status);
}

/* kinit `who` into the ticket cache `ccache` with a password. */
static void
kinit_password(const char *who, const char *password, const char *ccache)
{
    const char *const args[] = { "-c", ccache, who };
    char line[128];

    (void)snprintf(line, sizeof(line), "%s\n", password);
    run_kinit(args, 3, line);
}

/* kinit `who` into `ccache` from `keytab`, as SSSD's keytab child does. */
static void
kinit_keytab(const char *who, const char *keytab, const char *ccache)
{
    const char *const args[] = { "-k", "-t", keytab, "-c", ccache, who };

    run_kinit(args, 6, "");
}

/* ---- running a bind ---- */

static struct hx_session *
bind_as(const struct hx_opts *copts)
{
    struct hx_session *s = hx_session_new(copts, NULL, SASL_SUCCESS_DATA);

    hx_exchange(s, NULL, NULL);
    return s;
}

/* The bind succeeded on both sides with `mech`; the server authenticated
 * `user` (its SASL_USERNAME), the client reports the same account in the
 * mechanism's own form ("bob@SPNEGO.TEST", "SPNEGO\\bob"). */
static void
assert_bound(const struct hx_session *s, const char *user, const char *mech)
{
    size_t base = strcspn(user, "@");

    if (s->client_rc != SASL_OK || s->server_rc != SASL_OK)
        fail_msg("client %d (%s), server %d (%s)", s->client_rc,
                 hx_errdetail(s->client), s->server_rc,
                 hx_errdetail(s->server));
    assert_string_equal(hx_username(s->server), user);
    assert_string_equal(s->slog.complete, mech);
    assert_string_equal(s->clog.complete, mech);
    if (strstr(hx_username(s->client), "\\") != NULL)
        assert_memory_equal(strchr(hx_username(s->client), '\\') + 1, user,
                            base);
    else
        assert_memory_equal(hx_username(s->client), user, base);
}

/* The bind failed, the client's error says `why`, and the server
 * authenticated nobody. */
static void
assert_refused(const struct hx_session *s, int client_rc, const char *why)
{
    assert_int_equal(s->client_rc, client_rc);
    assert_int_not_equal(s->server_rc, SASL_OK);
    assert_string_equal(s->slog.complete, "");
    if (strstr(hx_errdetail(s->client), why) == NULL)
        fail_msg("client error \"%s\" lacks \"%s\"", hx_errdetail(s->client),
                 why);
}

/* ---- nothing given ---- */

static void
nothing_given_uses_default_ticket(void **st)
{
    struct hx_opts c = { .mechs = "krb5 ntlmssp" };
    struct hx_session *s;

    (void)st;
    s = bind_as(&c);
    assert_bound(s, "alice", "krb5");
    hx_session_free(s);
}

/* libldap's way (every id by interaction) after kinit: only the
 * authorization name is asked for (ldapwhoami answers it by itself),
 * never the authentication name or the password. */
static void
interactive_after_kinit_asks_no_password(void **st)
{
    struct hx_opts c = { .mechs = "krb5", .prompt = HX_PROMPT_ALL };
    struct hx_session *s;

    (void)st;
    s = bind_as(&c);
    assert_bound(s, "alice", "krb5");
    assert_string_equal(s->asked, "user ");
    hx_session_free(s);
}

/* Without any credential, the name and the password are asked for, and
 * the answers are used. */
static void
interactive_without_ticket_asks_name_and_password(void **st)
{
    struct hx_opts c = { .mechs = "krb5", .prompt = HX_PROMPT_ALL,
                         .authname = "bob", .password = "bob-pw" };
    struct hx_session *s;

    (void)st;
    no_default_ticket();
    s = bind_as(&c);
    assert_bound(s, "bob", "krb5");
    assert_string_equal(s->asked, "user authname pass ");
    /* a bind that succeeds leaves no failure in the log */
    assert_int_equal(s->clog.failures, 0);
    assert_int_equal(s->slog.failures, 0);
    hx_session_free(s);
}

/* An application that cannot answer the prompts reports the plugin's
 * reason for asking (sasl_errdetail), which names the real cause. */
static void
unanswered_prompts_name_the_cause(void **st)
{
    struct hx_opts c = { .mechs = "krb5", .prompt = HX_PROMPT_ALL };
    struct hx_session *s;
    sasl_interact_t *prompts = NULL;
    const char *out = NULL, *mech = NULL;
    unsigned len = 0;

    (void)st;
    no_default_ticket();
    s = hx_session_new(&c, NULL, SASL_SUCCESS_DATA);
    assert_int_equal(sasl_client_start(s->client, "GSS-SPNEGO", &prompts,
                                       &out, &len, &mech),
                     SASL_INTERACT);
    assert_non_null(strstr(hx_errdetail(s->client),
                           "no usable default credentials"));
    assert_non_null(strstr(hx_errdetail(s->client),
                           "did not answer the prompts"));
    assert_int_equal(s->clog.failures, 0); /* asking is no failure */
    hx_session_free(s);
}

/* An application with a password callback and no name callback: libsasl2
 * answers the name with the login name (USER).  Without a ticket, the
 * password is used for that name. */
static void
password_for_login_name(void **st)
{
    struct hx_opts c = { .mechs = "krb5", .password = "bob-pw" };
    struct hx_session *s;

    (void)st;
    setenv("USER", "bob", 1);
    no_default_ticket();
    s = bind_as(&c);
    assert_bound(s, "bob", "krb5");
    hx_session_free(s);
}

/* ---- a name and a password ---- */

static void
password_beats_default_ticket_krb5(void **st)
{
    struct hx_opts c = { .mechs = "krb5", .authname = "bob",
                         .password = "bob-pw" };
    struct hx_session *s;

    (void)st;
    s = bind_as(&c);
    assert_bound(s, "bob", "krb5");
    hx_session_free(s);
    /* the realm given, and the Windows form with the NetBIOS domain */
    c.authname = "bob@SPNEGO.TEST";
    s = bind_as(&c);
    assert_bound(s, "bob", "krb5");
    hx_session_free(s);
    c.authname = "SPNEGO\\bob";
    s = bind_as(&c);
    assert_bound(s, "bob", "krb5");
    hx_session_free(s);
}

static void
password_beats_default_ntlm(void **st)
{
    struct hx_opts c = { .mechs = "ntlmssp", .authname = "SPNEGO\\bob",
                         .password = "bob-pw" };
    struct hx_session *s;

    (void)st;
    s = bind_as(&c);
    assert_bound(s, "bob@SPNEGO", "ntlmssp");
    hx_session_free(s);
    c.authname = "bob@SPNEGO";
    s = bind_as(&c);
    assert_bound(s, "bob@SPNEGO", "ntlmssp");
    hx_session_free(s);
}

/* Both mechanisms offered: Kerberos refuses the password at once, NTLM's
 * refusal comes from the server; nobody is authenticated, least of all
 * the owner of the default ticket. */
static void
wrong_password_never_falls_back(void **st)
{
    struct hx_opts c = { .mechs = "krb5 ntlmssp", .authname = "bob",
                         .password = "wrong" };
    struct hx_session *s;

    (void)st;
    s = bind_as(&c);
    assert_int_not_equal(s->server_rc, SASL_OK);
    assert_string_equal(s->slog.complete, "");
    assert_string_equal(s->clog.complete, "");
    /* the client says why Kerberos was left out */
    assert_non_null(strstr(s->clog.text, "left out for \"bob\" with the "
                                         "password given: krb5: "));
    assert_non_null(strstr(s->clog.text, "offering ntlmssp only"));
    hx_session_free(s);
    c.mechs = "krb5";
    s = bind_as(&c);
    assert_refused(s, SASL_BADAUTH, "the password for \"bob\" was refused");
    assert_non_null(strstr(hx_errdetail(s->client), "default credentials "
                                                    "are not used"));
    hx_session_free(s);
}

/* A NetBIOS domain that is not the realm's names no Kerberos principal:
 * Kerberos is left out for that name, and the bind says why. */
static void
foreign_domain_is_not_kerberos(void **st)
{
    struct hx_opts c = { .mechs = "krb5", .authname = "OTHER\\bob",
                         .password = "bob-pw" };
    struct hx_session *s;

    (void)st;
    s = bind_as(&c);
    assert_refused(s, SASL_BADAUTH, "krb5: ");
    hx_session_free(s);
    /* a second backslash would be an escape to Kerberos */
    c.authname = "SPNEGO\\a\\b";
    s = bind_as(&c);
    assert_refused(s, SASL_BADAUTH, "krb5: ");
    hx_session_free(s);
}

/* ---- a name without a password ---- */

static void
name_of_default_ticket_uses_it(void **st)
{
    static const char *const names[] = { "alice", "alice@SPNEGO.TEST",
                                         "SPNEGO\\alice" };
    struct hx_opts c = { .mechs = "krb5" };
    struct hx_session *s;
    size_t i;

    (void)st;
    for (i = 0; i < 3; i++) {
        c.authname = names[i];
        s = bind_as(&c);
        assert_bound(s, "alice", "krb5");
        hx_session_free(s);
    }
}

/* bob has no ticket and the application has no password for him (no
 * callback, no prompt): refused, not bound as alice. */
static void
other_name_without_password_is_refused(void **st)
{
    struct hx_opts c = { .mechs = "krb5", .authname = "bob" };
    struct hx_session *s;

    (void)st;
    s = bind_as(&c);
    assert_refused(s, SASL_BADAUTH, "no stored credentials of \"bob\"");
    hx_session_free(s);
}

/* The same with a password prompt: the password is asked for, and used. */
static void
other_name_asks_for_password(void **st)
{
    struct hx_opts c = { .mechs = "krb5", .authname = "bob",
                         .password = "bob-pw", .prompt = HX_PROMPT_PASS };
    struct hx_session *s;

    (void)st;
    s = bind_as(&c);
    assert_bound(s, "bob", "krb5");
    assert_string_equal(s->asked, "pass ");
    assert_int_equal(s->clog.failures, 0); /* no failure logged */
    hx_session_free(s);
    /* an empty answer is no password */
    c.password = NULL;
    s = bind_as(&c);
    assert_refused(s, SASL_BADAUTH, "no stored credentials of \"bob\"");
    assert_string_equal(s->asked, "pass ");
    hx_session_free(s);
}

/* A collection (DIR:) holding alice's cache (the primary) and bob's: the
 * name picks bob's, nothing given picks alice's. */
static void
name_picks_cache_of_collection(void **st)
{
    char coll[300], alice[300], bob[300];
    struct hx_opts c = { .mechs = "krb5", .authname = "bob" };
    struct hx_session *s;

    (void)st;
    (void)snprintf(coll, sizeof(coll), "DIR:%s", scratch);
    (void)snprintf(alice, sizeof(alice), "DIR::%s/tkt", scratch);
    (void)snprintf(bob, sizeof(bob), "DIR::%s/tktbob", scratch);
    kinit_password("alice", "alice-pw", alice); /* the first: primary */
    kinit_password("bob", "bob-pw", bob);
    setenv("KRB5CCNAME", coll, 1);
    setenv("KRB5_CLIENT_KTNAME", "FILE:/nonexistent/keytab", 1);
    s = bind_as(&c);
    assert_bound(s, "bob", "krb5");
    hx_session_free(s);
    c.authname = NULL;
    s = bind_as(&c);
    assert_bound(s, "alice", "krb5");
    hx_session_free(s);
}

/* SSSD's AD provider: its keytab child made a ticket cache for the
 * machine account; the LDAP bind gives the name "CLIENT1$" (no realm, no
 * password) and answers every prompt, "" for what it does not have. */
static void
sssd_machine_account(void **st)
{
    const char *kt = getenv("SPNEGO_TEST_MACHINE_KEYTAB");
    char ccache[300];
    struct hx_opts c = { .mechs = "krb5 ntlmssp", .authname = "CLIENT1$",
                         .prompt = HX_PROMPT_ALL };
    struct hx_session *s;

    (void)st;
    assert_non_null(kt);
    (void)snprintf(ccache, sizeof(ccache), "FILE:%s/sssd_ccache", scratch);
    kinit_keytab("CLIENT1$", kt, ccache);
    setenv("KRB5CCNAME", ccache, 1);
    setenv("KRB5_CLIENT_KTNAME", "FILE:/nonexistent/keytab", 1);
    unsetenv("NTLM_USER_FILE");
    s = bind_as(&c);
    assert_bound(s, "CLIENT1$", "krb5");
    hx_session_free(s);
    /* the same name by a callback: it names the cache's principal */
    c.prompt = 0;
    s = bind_as(&c);
    assert_bound(s, "CLIENT1$", "krb5");
    hx_session_free(s);
}

#define T(f) cmocka_unit_test_setup_teardown(f, save_env, restore_env)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(nothing_given_uses_default_ticket),
        T(interactive_after_kinit_asks_no_password),
        T(interactive_without_ticket_asks_name_and_password),
        T(unanswered_prompts_name_the_cause),
        T(password_for_login_name),
        T(password_beats_default_ticket_krb5),
        T(password_beats_default_ntlm),
        T(wrong_password_never_falls_back),
        T(foreign_domain_is_not_kerberos),
        T(name_of_default_ticket_uses_it),
        T(other_name_without_password_is_refused),
        T(other_name_asks_for_password),
        T(name_picks_cache_of_collection),
        T(sssd_machine_account),
    };
    int rc;

    rc = hx_init("test-identity");
    if (rc != 0)
        return rc;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    hx_done();
    return rc;
}
