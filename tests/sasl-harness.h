/*
 * sasl-harness.h - a client and a server of the GSS-SPNEGO plugin in one
 * process, through the public libsasl2 API, for tests that feed the
 * plugin altered or forged tokens (test-malformed, test-mitm).
 *
 * hx_init() puts a symlink to $top_builddir/plugins/.libs/libgssspnego.so
 * into a fresh temporary directory, points libsasl2 there (so Cyrus'
 * libgssapiv2 is never loaded), unsets SPNEGO_MECHS, and calls
 * sasl_client_init and sasl_server_init once for the whole program.  Run
 * the tests under tests/fixture/with-krb5 (KDC, keytab, alice's ticket,
 * NTLM_USER_FILE).
 *
 * A session holds one client and one server connection with their own
 * plugin options (the getopt callback of each side) and records, from the
 * plugin's SASL log, which mechanism each side completed with.  Nothing
 * here knows SPNEGO: the tests decode and rewrite tokens themselves.
 */
#ifndef SASL_HARNESS_H
#define SASL_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include <sasl/sasl.h>

/* Plugin options of one side (NULL: not set).  The client reads them
 * through the same getopt callback as the server. */
struct hx_opts {
    const char *mechs;     /* spnego_mechs */
    const char *max_token; /* spnego_max_token */
    const char *send_mic;  /* spnego_send_mic */
    const char *keytab;    /* spnego_keytab */
    const char *raw_tokens; /* spnego_raw_tokens */
    const char *fast_layer; /* spnego_fast_layer */
    /* Client identity.  Each of the three SASL ids is either answered
     * through SASL_INTERACT, as libldap and SSSD do (its bit set in
     * prompt: the id is listed without a function, and the harness
     * answers with authname, password, or "" for the authorization name
     * and anything not set; s->asked records what was asked), or by a
     * callback if its value is set (libsasl2's own AUTHNAME default, the
     * login name, if not). */
    const char *authname;
    const char *password;
    unsigned prompt;       /* HX_PROMPT_* */
    /* Security properties of the side when set_props is 1 (else min_ssf
     * 0, max_ssf 256, external SSF 0, maxbufsize 65536). */
    int set_props;
    unsigned min_ssf, max_ssf, external_ssf, maxbufsize;
    unsigned security_flags; /* SASL_SEC_* the side requires */
};

#define HX_PROMPT_USER 1u
#define HX_PROMPT_AUTHNAME 2u
#define HX_PROMPT_PASS 4u
#define HX_PROMPT_ALL 7u

/* What the plugin logged on one side. */
struct hx_log {
    const char *side;      /* "client" or "server" */
    char complete[32];     /* "krb5", "ntlmssp" from "complete with X;"
                            * or "" if that side never completed */
    char text[32768];      /* every line, newline-separated (truncated) */
    size_t len;
    unsigned failures;     /* lines at SASL_LOG_FAIL or SASL_LOG_ERR
                            * (libsasl2 logs every seterror at FAIL) */
};

/* One message in transit; the hook may replace data (malloc'd, owned by
 * the harness: free the old one, put a new malloc'd buffer). */
struct hx_msg {
    uint8_t *data;
    size_t len;
};

enum hx_dir { HX_C2S = 0, HX_S2C = 1 };

/* Called for every message before it is delivered; index counts the
 * messages of that direction from 0. */
typedef void (*hx_hook)(void *arg, enum hx_dir dir, unsigned index,
                        struct hx_msg *msg);

struct hx_session {
    sasl_conn_t *client, *server;
    struct hx_opts copts, sopts;
    sasl_callback_t ccb[6], scb[3];
    char asked[64];            /* prompts, e.g. "user authname pass " */
    struct hx_log clog, slog;
    int client_rc, server_rc;  /* the last code each side returned */
    unsigned c2s, s2c;         /* messages delivered each way */
    int server_success_data;   /* the server's last token came with OK */
    const char *pending;       /* the client's next message (libsasl2's) */
    unsigned pending_len;
};

/* Set up the plugin directory and libsasl2.  Returns 0, or the exit code
 * for main (77: not under the fixture, 99: setup failed). */
int hx_init(const char *prog);
/* sasl_done() and remove the plugin directory. */
void hx_done(void);

/*
 * New client and server connections ("ldap" on $SPNEGO_TEST_HOST), in a
 * session allocated here.  copts/sopts may be NULL (no options); they are
 * copied, the strings are borrowed.  server_flags go to sasl_server_new
 * (e.g. SASL_SUCCESS_DATA).  Security properties as the options say
 * (struct hx_opts).  Asserts
 * (cmocka) on failure.  The session stays registered until
 * hx_session_free, so that hx_teardown can dispose of it when a failed
 * assertion left the test early.
 */
struct hx_session *hx_session_new(const struct hx_opts *copts,
                                  const struct hx_opts *sopts,
                                  unsigned server_flags);
/* Dispose of both connections and free s (NULL is fine). */
void hx_session_free(struct hx_session *s);
/* A cmocka teardown: frees every session still registered.  Returns 0. */
int hx_teardown(void **state);

/* sasl_client_start for GSS-SPNEGO: *tok_out is the client's first token
 * (owned by libsasl2, valid until the next call on s->client).  Prompts
 * are answered (see struct hx_opts) until the client stops asking.
 * Returns the SASL code. */
int hx_client_start(struct hx_session *s, const uint8_t **tok_out,
                    size_t *len_out);

/*
 * Run a whole exchange from sasl_client_start, passing every message
 * through hook (may be NULL).  Stops when a side returns an error, when
 * the server returns SASL_OK (its success data, if any, is handed to the
 * client first), or when the client returned SASL_OK and has nothing more
 * to send.  Sets s->client_rc and s->server_rc to the last code of each.
 */
void hx_exchange(struct hx_session *s, hx_hook hook, void *arg);

/* Replace msg's contents with a copy of data/len. */
void hx_msg_set(struct hx_msg *msg, const uint8_t *data, size_t len);

/* sasl_errdetail of a side, never NULL. */
const char *hx_errdetail(sasl_conn_t *conn);

/* SASL_USERNAME and SASL_SSF of a completed connection. */
const char *hx_username(sasl_conn_t *conn);
unsigned hx_ssf(sasl_conn_t *conn);

#endif /* SASL_HARNESS_H */
