/*
 * sasl-peer.c - one side of a SASL exchange over TCP on 127.0.0.1, linked
 * against libsasl2 only (never against our code), so that any GSS-SPNEGO
 * plugin directory can be put on either side: ours, or Cyrus SASL's own
 * (libgssapiv2).  Used by test-cyrus-interop.sh.
 *
 *   sasl-peer server|client --plugin-dir DIR --service SVC --host FQDN
 *             [--maxssf N] [--minssf N] [--success-data] [--size N]
 *             [--log-level N] [--mech NAME] [--no-pass-prompt]
 *             (--connect HOST:PORT | --listen PORT-FILE)
 *
 * The server binds 127.0.0.1 port 0 and, once listening, writes the port
 * to PORT-FILE (atomically, by rename), so a script can poll for it.
 *
 * Wire format (a test harness, no real protocol): every SASL message is a
 * type byte, a 4-byte big-endian length and the data:
 *   'A' client -> server: mechanism name, NUL, initial response
 *   'C' challenge, 'R' response
 *   'S' success, with the server's additional data (SASL_SUCCESS_DATA)
 *   'F' failure, with a reason as text (either direction)
 * After 'S' the connection carries the security layer's byte stream
 * (sasl_encode output, or plain bytes when the SSF is 0): the client sends
 * --size bytes of a fixed pattern, the server checks them and echoes them
 * back, the client checks the echo.  Reads use deliberately odd sizes so
 * that sasl_decode sees packets split and joined arbitrarily.
 *
 * Standard output gets two lines on success:
 *   AUTH OK mech=GSS-SPNEGO user=alice authid=alice ssf=256 maxoutbuf=...
 *   DATA OK bytes=100000
 * On failure one "FAIL: ..." line (with sasl_errdetail) and exit status 1;
 * 2 for a usage error.  libsasl2 and plugin log lines with a level up to
 * --log-level go to standard error, prefixed with the side.
 *
 * Client credentials come from the environment (KRB5CCNAME, NTLM_USER_FILE,
 * ...); SASL_PEER_USER and SASL_PEER_PASSWORD, when set, answer the
 * SASL_CB_AUTHNAME and SASL_CB_PASS callbacks.  When unset, those two are
 * still listed with no function (as OpenLDAP's client lists them: the
 * application would prompt), and a mechanism that then asks for them
 * fails the run; --no-pass-prompt leaves them out entirely, as an
 * application that only uses Kerberos does.  The authorization identity
 * (SASL_CB_USER) is always empty.  The mechanism is GSS-SPNEGO unless
 * --mech says otherwise (the server's mech_list, the client's choice).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <sasl/sasl.h>

#define MAX_MSG (1u << 20)       /* largest SASL message accepted */
#define MAX_BUF 65536u           /* maxbufsize we announce */
#define IO_TIMEOUT_S 60          /* no single socket wait lasts longer */
#define DEFAULT_SIZE 100000u
#define DEFAULT_MAXSSF 256u

enum role { ROLE_NONE = 0, ROLE_SERVER, ROLE_CLIENT };

struct options {
    enum role role;
    const char *plugin_dir;
    const char *service;
    const char *host;
    const char *mech;
    const char *connect_to;   /* HOST:PORT (client) */
    const char *port_file;    /* --listen (server) */
    unsigned maxssf, minssf;
    int success_data;
    int no_pass_prompt;       /* client: no AUTHNAME/PASS callbacks */
    size_t size;
    int log_level;
};

struct peer {
    int fd;
    sasl_conn_t *conn;
    sasl_ssf_t ssf;
    unsigned maxoutbuf;
    size_t read_round;        /* picks the next odd read size */
};

/* Callback state (one connection per process). */
static const char *g_side = "?";
static int g_log_level = SASL_LOG_WARN;
static const char *g_mech = "GSS-SPNEGO";
static char g_log_level_text[16];
static sasl_secret_t *g_secret;

/* ---- messages ---- */

static void fail(const struct peer *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print "FAIL: side: what [sasl_errdetail: ...]" on stdout; the detail
 * only once there is a connection. */
static void
fail(const struct peer *p, const char *fmt, ...)
{
    va_list ap;

    printf("FAIL: %s: ", g_side);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (p != NULL && p->conn != NULL)
        printf(" [sasl_errdetail: %s]", sasl_errdetail(p->conn));
    printf("\n");
    fflush(stdout);
}

static const char *
code_text(int code)
{
    return sasl_errstring(code, NULL, NULL);
}

/* ---- callbacks ---- */

static int
cb_log(void *context, int level, const char *message)
{
    (void)context;
    if (level <= g_log_level && message != NULL)
        fprintf(stderr, "[%s] sasl log %d: %s\n", g_side, level, message);
    return SASL_OK;
}

static int
cb_getopt(void *context, const char *plugin_name, const char *option,
          const char **result, unsigned *len)
{
    char env[128];

    (void)context;
    (void)plugin_name;
    /* Any other option comes from $SASL_PEER_OPT_<option>, e.g.
     * SASL_PEER_OPT_spnego_keytab. */
    (void)snprintf(env, sizeof(env), "SASL_PEER_OPT_%s", option);
    if (strcmp(option, "mech_list") == 0) {
        *result = g_mech;
    } else if (strcmp(option, "log_level") == 0) {
        *result = g_log_level_text;
    } else if ((*result = getenv(env)) == NULL) {
        return SASL_FAIL;
    }
    if (len != NULL)
        *len = (unsigned)strlen(*result);
    return SASL_OK;
}

/* SASL_CB_USER: always "" (GSS-SPNEGO carries no authorization id);
 * SASL_CB_AUTHNAME: $SASL_PEER_USER. */
static int
cb_simple(void *context, int id, const char **result, unsigned *len)
{
    const char *v = "";

    (void)context;
    if (id == SASL_CB_AUTHNAME) {
        v = getenv("SASL_PEER_USER");
        if (v == NULL)
            return SASL_FAIL;
    } else if (id != SASL_CB_USER) {
        return SASL_BADPARAM;
    }
    *result = v;
    if (len != NULL)
        *len = (unsigned)strlen(v);
    return SASL_OK;
}

/* SASL_CB_PASS: $SASL_PEER_PASSWORD. */
static int
cb_pass(sasl_conn_t *conn, void *context, int id, sasl_secret_t **psecret)
{
    const char *pw = getenv("SASL_PEER_PASSWORD");
    size_t len;

    (void)conn;
    (void)context;
    if (id != SASL_CB_PASS || pw == NULL)
        return SASL_FAIL;
    len = strlen(pw);
    if (g_secret == NULL) {
        g_secret = malloc(sizeof(*g_secret) + len);
        if (g_secret == NULL)
            return SASL_NOMEM;
        g_secret->len = len;
        memcpy(g_secret->data, pw, len + 1);
    }
    *psecret = g_secret;
    return SASL_OK;
}

/* libsasl2 stores every callback as int (*)(void); the detour through
 * void (*)(void) keeps -Wcast-function-type quiet. */
#define CB(fn) ((int (*)(void))(void (*)(void))(fn))

static const sasl_callback_t server_callbacks[] = {
    { SASL_CB_LOG, CB(cb_log), NULL },
    { SASL_CB_GETOPT, CB(cb_getopt), NULL },
    { SASL_CB_LIST_END, NULL, NULL },
};

/* The client's list is built at run time (see client_callbacks). */
#define MAX_CLIENT_CBS 6

/*
 * Like OpenLDAP's client: SASL_CB_AUTHNAME and SASL_CB_PASS are always
 * listed, answered from the environment when set there, else with a NULL
 * proc (libsasl2 then reports SASL_INTERACT, and a mechanism that asks is
 * a failure here).  no_pass_prompt leaves both out, as an application
 * that only ever uses Kerberos would.
 */
static void
client_callbacks(sasl_callback_t *cbs, int no_pass_prompt)
{
    size_t n = 0;

    cbs[n++] = (sasl_callback_t){ SASL_CB_LOG, CB(cb_log), NULL };
    cbs[n++] = (sasl_callback_t){ SASL_CB_GETOPT, CB(cb_getopt), NULL };
    cbs[n++] = (sasl_callback_t){ SASL_CB_USER, CB(cb_simple), NULL };
    if (!no_pass_prompt) {
        cbs[n++] = (sasl_callback_t){
            SASL_CB_AUTHNAME,
            getenv("SASL_PEER_USER") != NULL ? CB(cb_simple) : NULL, NULL };
        cbs[n++] = (sasl_callback_t){
            SASL_CB_PASS,
            getenv("SASL_PEER_PASSWORD") != NULL ? CB(cb_pass) : NULL, NULL };
    }
    cbs[n] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
}

/* ---- socket I/O ---- */

static int
write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        buf += n;
        len -= (size_t)n;
    }
    return 1;
}

/* 1: got len bytes; 0: end of stream first; -1: error (errno). */
static int
read_full(int fd, uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        buf += n;
        len -= (size_t)n;
    }
    return 1;
}

static int
send_msg(struct peer *p, char type, const void *data, size_t len)
{
    uint8_t hdr[5];

    if (len > MAX_MSG) {
        fail(p, "a %zu-byte '%c' message is over our %u-byte limit", len,
             type, MAX_MSG);
        return 0;
    }
    hdr[0] = (uint8_t)type;
    hdr[1] = (uint8_t)(len >> 24);
    hdr[2] = (uint8_t)(len >> 16);
    hdr[3] = (uint8_t)(len >> 8);
    hdr[4] = (uint8_t)len;
    if (!write_all(p->fd, hdr, sizeof(hdr)) ||
        (len > 0 && !write_all(p->fd, data, len))) {
        fail(p, "sending a '%c' message: %s", type, strerror(errno));
        return 0;
    }
    return 1;
}

/* Receive one message; *data_out is malloc'd (NUL-terminated, so text can
 * be printed), the caller frees it.  Returns 1, or 0 with a FAIL line. */
static int
recv_msg(struct peer *p, char *type_out, uint8_t **data_out, size_t *len_out)
{
    uint8_t hdr[5];
    uint8_t *data = NULL;
    size_t len;
    int r;

    *data_out = NULL;
    *len_out = 0;
    r = read_full(p->fd, hdr, sizeof(hdr));
    if (r <= 0) {
        fail(p, "reading a SASL message: %s",
             r == 0 ? "the peer closed the connection" : strerror(errno));
        return 0;
    }
    len = (size_t)hdr[1] << 24 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 8 |
          hdr[4];
    if (len > MAX_MSG) {
        fail(p, "the peer announced a %zu-byte message; the limit is %u",
             len, MAX_MSG);
        return 0;
    }
    data = malloc(len + 1);
    if (data == NULL) {
        fail(p, "out of memory for a %zu-byte message", len);
        return 0;
    }
    r = read_full(p->fd, data, len);
    if (r <= 0) {
        fail(p, "reading a %zu-byte '%c' message: %s", len, (char)hdr[0],
             r == 0 ? "the peer closed the connection" : strerror(errno));
        free(data);
        return 0;
    }
    data[len] = '\0';
    *type_out = (char)hdr[0];
    *data_out = data;
    *len_out = len;
    return 1;
}

static void
set_timeouts(int fd)
{
    struct timeval tv = { IO_TIMEOUT_S, 0 };

    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* "a.b.c.d;port" for libsasl2's iplocalport/ipremoteport. */
static void
addr_text(const struct sockaddr_in *sa, char *buf, size_t size)
{
    char ip[INET_ADDRSTRLEN] = "";

    (void)inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
    (void)snprintf(buf, size, "%s;%u", ip, (unsigned)ntohs(sa->sin_port));
}

static int
endpoints(int fd, char *local, char *remote, size_t size)
{
    struct sockaddr_in a = { 0 };
    socklen_t alen = sizeof(a);

    if (getsockname(fd, (struct sockaddr *)&a, &alen) != 0)
        return 0;
    addr_text(&a, local, size);
    alen = sizeof(a);
    if (getpeername(fd, (struct sockaddr *)&a, &alen) != 0)
        return 0;
    addr_text(&a, remote, size);
    return 1;
}

/* Write the port to `path` atomically (tmp file, then rename). */
static int
write_port_file(const char *path, unsigned port)
{
    char tmp[4096];
    FILE *f;
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);

    if (n < 0 || (size_t)n >= sizeof(tmp))
        return 0;
    f = fopen(tmp, "w");
    if (f == NULL)
        return 0;
    if (fprintf(f, "%u\n", port) < 0) {
        (void)fclose(f);
        return 0;
    }
    if (fclose(f) != 0)
        return 0;
    return rename(tmp, path) == 0;
}

/* Listen on 127.0.0.1:0, publish the port, accept one connection. */
static int
listen_and_accept(const char *port_file, int *fd_out)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    struct pollfd pfd;
    int lfd, fd = -1, one = 1, ok = 0;

    *fd_out = -1;
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) {
        fail(NULL, "socket: %s", strerror(errno));
        return 0;
    }
    (void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
        fail(NULL, "listening on 127.0.0.1: %s", strerror(errno));
        goto cleanup;
    }
    if (!write_port_file(port_file, ntohs(a.sin_port))) {
        fail(NULL, "cannot write the port file %s: %s", port_file,
             strerror(errno));
        goto cleanup;
    }
    pfd.fd = lfd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, IO_TIMEOUT_S * 1000) != 1) {
        fail(NULL, "no client connected to 127.0.0.1:%u within %d s",
             (unsigned)ntohs(a.sin_port), IO_TIMEOUT_S);
        goto cleanup;
    }
    fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
        fail(NULL, "accept: %s", strerror(errno));
        goto cleanup;
    }
    set_timeouts(fd);
    *fd_out = fd;
    ok = 1;
cleanup:
    (void)close(lfd);
    return ok;
}

static int
connect_to(const char *hostport, int *fd_out)
{
    char host[256];
    const char *colon = strrchr(hostport, ':');
    struct sockaddr_in a;
    unsigned long port;
    char *end = NULL;
    int fd;

    *fd_out = -1;
    if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host)) {
        fail(NULL, "--connect wants HOST:PORT, not \"%s\"", hostport);
        return 0;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    port = strtoul(colon + 1, &end, 10);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    if (strcmp(host, "localhost") == 0)
        (void)snprintf(host, sizeof(host), "127.0.0.1");
    if (*end != '\0' || port == 0 || port > 65535 ||
        inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fail(NULL, "--connect wants an IPv4 address and a port, not \"%s\"",
             hostport);
        return 0;
    }
    a.sin_port = htons((uint16_t)port);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        fail(NULL, "socket: %s", strerror(errno));
        return 0;
    }
    set_timeouts(fd);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        fail(NULL, "connecting to %s: %s", hostport, strerror(errno));
        (void)close(fd);
        return 0;
    }
    *fd_out = fd;
    return 1;
}

/* ---- SASL setup shared by both roles ---- */

static int
set_props(struct peer *p, const struct options *o)
{
    sasl_security_properties_t props;
    int r;

    memset(&props, 0, sizeof(props));
    props.min_ssf = o->minssf;
    props.max_ssf = o->maxssf;
    props.maxbufsize = MAX_BUF;
    props.security_flags = 0;
    r = sasl_setprop(p->conn, SASL_SEC_PROPS, &props);
    if (r != SASL_OK) {
        fail(p, "sasl_setprop(SASL_SEC_PROPS): %s", code_text(r));
        return 0;
    }
    return 1;
}

/* Read the results and print the AUTH OK line. */
static int
report_auth(struct peer *p)
{
    const void *v = NULL;
    const char *user = NULL, *authid = NULL, *mech = NULL;
    int r;

    r = sasl_getprop(p->conn, SASL_USERNAME, &v);
    if (r == SASL_OK)
        user = v;
    v = NULL;
    if (sasl_getprop(p->conn, SASL_AUTHUSER, &v) == SASL_OK)
        authid = v;
    v = NULL;
    if (sasl_getprop(p->conn, SASL_MECHNAME, &v) == SASL_OK)
        mech = v;
    v = NULL;
    if (r != SASL_OK || sasl_getprop(p->conn, SASL_SSF, &v) != SASL_OK ||
        v == NULL) {
        fail(p, "authentication finished but the user name or SSF is "
             "unavailable");
        return 0;
    }
    p->ssf = *(const sasl_ssf_t *)v;
    v = NULL;
    if (sasl_getprop(p->conn, SASL_MAXOUTBUF, &v) != SASL_OK || v == NULL) {
        fail(p, "authentication finished but SASL_MAXOUTBUF is unavailable");
        return 0;
    }
    p->maxoutbuf = *(const unsigned *)v;
    printf("AUTH OK mech=%s user=%s authid=%s ssf=%u maxoutbuf=%u\n",
           mech != NULL ? mech : "?", user != NULL ? user : "?",
           authid != NULL ? authid : "?", p->ssf, p->maxoutbuf);
    fflush(stdout);
    if (p->ssf > 0 && p->maxoutbuf == 0) {
        fail(p, "a security layer (SSF %u) with SASL_MAXOUTBUF 0: nothing "
             "can be sent", p->ssf);
        return 0;
    }
    return 1;
}

/* ---- the data phase ---- */

static uint8_t
pattern_byte(size_t i)
{
    /* Not periodic over any small block, so dropped, repeated or swapped
     * packets show up. */
    return (uint8_t)(((i ^ (i >> 8) ^ (i >> 16)) * 131u + 17u) & 0xffu);
}

static int
check_pattern(struct peer *p, const uint8_t *buf, size_t n,
              const char *what)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (buf[i] != pattern_byte(i)) {
            fail(p, "%s differs from the pattern at byte %zu of %zu (got "
                 "0x%02x, want 0x%02x)", what, i, n, buf[i],
                 pattern_byte(i));
            return 0;
        }
    }
    return 1;
}

/* Send n bytes: sasl_encode in chunks of at most maxoutbuf, or raw. */
static int
send_data(struct peer *p, const uint8_t *data, size_t n)
{
    size_t off = 0;

    if (p->ssf == 0) {
        if (!write_all(p->fd, data, n)) {
            fail(p, "sending %zu raw bytes: %s", n, strerror(errno));
            return 0;
        }
        return 1;
    }
    while (off < n) {
        size_t chunk = n - off < p->maxoutbuf ? n - off : p->maxoutbuf;
        const char *out = NULL;
        unsigned outlen = 0;
        int r;

        r = sasl_encode(p->conn, (const char *)data + off, (unsigned)chunk,
                        &out, &outlen);
        if (r != SASL_OK) {
            fail(p, "sasl_encode of %zu bytes at offset %zu: %s", chunk, off,
                 code_text(r));
            return 0;
        }
        if (!write_all(p->fd, (const uint8_t *)out, outlen)) {
            fail(p, "sending %u encoded bytes: %s", outlen, strerror(errno));
            return 0;
        }
        off += chunk;
    }
    return 1;
}

/* The next read size: odd sizes, tiny to large, so packets arrive split
 * at every possible place and several at once. */
static size_t
next_read_size(struct peer *p)
{
    static const size_t sizes[] = { 1, 3, 4, 5, 4096, 2, 7, 65536,
                                    13, 1500, 9000, 6, 16384, 1, 40000 };

    return sizes[p->read_round++ % (sizeof(sizes) / sizeof(sizes[0]))];
}

/* Receive exactly n bytes of plaintext into buf. */
static int
recv_data(struct peer *p, uint8_t *buf, size_t n)
{
    static uint8_t raw[65536];
    size_t have = 0;

    while (have < n) {
        size_t want = next_read_size(p);
        const char *out;
        unsigned outlen;
        ssize_t got;
        int r;

        if (p->ssf == 0 && want > n - have)
            want = n - have;
        got = read(p->fd, raw, want);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            fail(p, "after %zu of %zu bytes: %s", have, n,
                 got == 0 ? "the peer closed the connection"
                          : strerror(errno));
            return 0;
        }
        out = (const char *)raw;
        outlen = (unsigned)got;
        if (p->ssf > 0) {
            r = sasl_decode(p->conn, (const char *)raw, (unsigned)got, &out,
                            &outlen);
            if (r != SASL_OK) {
                fail(p, "sasl_decode of %zd bytes after %zu plaintext "
                     "bytes: %s", got, have, code_text(r));
                return 0;
            }
        }
        if (outlen > n - have) {
            fail(p, "the peer sent %zu bytes; %zu were expected",
                 have + outlen, n);
            return 0;
        }
        if (outlen > 0)
            memcpy(buf + have, out, outlen);
        have += outlen;
    }
    return 1;
}

/* After the exchange, read until the peer closes (nothing may come). */
static int
await_close(struct peer *p)
{
    uint8_t b[256];
    ssize_t got;

    do {
        got = read(p->fd, b, sizeof(b));
    } while (got < 0 && errno == EINTR);
    if (got != 0) {
        fail(p, "%s while waiting for the peer to close",
             got > 0 ? "unexpected data" : strerror(errno));
        return 0;
    }
    return 1;
}

static int
data_phase(struct peer *p, size_t n, int is_client)
{
    uint8_t *buf = malloc(n > 0 ? n : 1);
    size_t i;
    int ok = 0;

    if (buf == NULL) {
        fail(p, "out of memory for %zu bytes", n);
        return 0;
    }
    if (is_client) {
        for (i = 0; i < n; i++)
            buf[i] = pattern_byte(i);
        if (!send_data(p, buf, n))
            goto cleanup;
        memset(buf, 0, n);
        if (!recv_data(p, buf, n) ||
            !check_pattern(p, buf, n, "the server's echo"))
            goto cleanup;
    } else {
        if (!recv_data(p, buf, n) ||
            !check_pattern(p, buf, n, "the client's data") ||
            !send_data(p, buf, n))
            goto cleanup;
        if (!await_close(p))
            goto cleanup;
    }
    printf("DATA OK bytes=%zu\n", n);
    fflush(stdout);
    ok = 1;
cleanup:
    free(buf);
    return ok;
}

/* ---- server ---- */

static int
server_auth(struct peer *p)
{
    char type = 0;
    uint8_t *msg = NULL;
    size_t len = 0, mlen;
    const char *out = NULL;
    unsigned outlen = 0;
    int r, ok = 0;

    if (!recv_msg(p, &type, &msg, &len))
        goto cleanup;
    if (type != 'A') {
        fail(p, "expected the client's 'A' (start) message, got '%c'", type);
        goto cleanup;
    }
    mlen = strnlen((const char *)msg, len);
    if (mlen == len) {
        fail(p, "the 'A' message has no NUL after the mechanism name");
        goto cleanup;
    }
    r = sasl_server_start(p->conn, (const char *)msg, (const char *)msg +
                          mlen + 1, (unsigned)(len - mlen - 1), &out,
                          &outlen);
    for (;;) {
        if (r == SASL_OK) {
            if (!send_msg(p, 'S', out, outlen))
                goto cleanup;
            break;
        }
        if (r != SASL_CONTINUE) {
            const char *why = sasl_errdetail(p->conn);

            (void)send_msg(p, 'F', why, strlen(why));
            fail(p, "authentication failed: %s", code_text(r));
            goto cleanup;
        }
        if (!send_msg(p, 'C', out, outlen))
            goto cleanup;
        free(msg);
        msg = NULL;
        if (!recv_msg(p, &type, &msg, &len))
            goto cleanup;
        if (type == 'F') {
            fail(p, "the client gave up: %s", (const char *)msg);
            goto cleanup;
        }
        if (type != 'R') {
            fail(p, "expected a response, got a '%c' message", type);
            goto cleanup;
        }
        out = NULL;
        outlen = 0;
        r = sasl_server_step(p->conn, (const char *)msg, (unsigned)len, &out,
                             &outlen);
    }
    ok = 1;
cleanup:
    free(msg);
    return ok;
}

static int
run_server(const struct options *o)
{
    struct peer p = { -1, NULL, 0, 0, 0 };
    char local[64], remote[64];
    int r, ok = 0;

    r = sasl_server_init(server_callbacks, "sasl-peer");
    if (r != SASL_OK) {
        fail(NULL, "sasl_server_init: %s", code_text(r));
        return 1;
    }
    if (!listen_and_accept(o->port_file, &p.fd))
        goto cleanup;
    if (!endpoints(p.fd, local, remote, sizeof(local))) {
        fail(NULL, "getsockname/getpeername: %s", strerror(errno));
        goto cleanup;
    }
    r = sasl_server_new(o->service, o->host, NULL, local, remote,
                        server_callbacks,
                        o->success_data ? SASL_SUCCESS_DATA : 0, &p.conn);
    if (r != SASL_OK) {
        fail(NULL, "sasl_server_new: %s", code_text(r));
        goto cleanup;
    }
    if (!set_props(&p, o) || !server_auth(&p) || !report_auth(&p) ||
        !data_phase(&p, o->size, 0))
        goto cleanup;
    ok = 1;
cleanup:
    sasl_dispose(&p.conn);
    if (p.fd >= 0)
        (void)close(p.fd);
    (void)sasl_server_done();
    return ok ? 0 : 1;
}

/* ---- client ---- */

/* Send 'A': mechanism name, NUL, initial response. */
static int
send_start(struct peer *p, const char *mech, const char *out,
           unsigned outlen)
{
    size_t mlen = strlen(mech);
    uint8_t *buf = malloc(mlen + 1 + outlen);
    int ok;

    if (buf == NULL) {
        fail(p, "out of memory");
        return 0;
    }
    memcpy(buf, mech, mlen + 1);
    if (outlen > 0)
        memcpy(buf + mlen + 1, out, outlen);
    ok = send_msg(p, 'A', buf, mlen + 1 + outlen);
    free(buf);
    return ok;
}

/* A client step failed: tell the server, print why. */
static void
client_gives_up(struct peer *p, const char *what, int r)
{
    const char *why = sasl_errdetail(p->conn);

    (void)send_msg(p, 'F', why, strlen(why));
    fail(p, "%s: %s", what, code_text(r));
}

static int
client_auth(struct peer *p, const struct options *o)
{
    sasl_interact_t *interact = NULL;
    const char *out = NULL, *mech = NULL;
    unsigned outlen = 0;
    char type = 0;
    uint8_t *msg = NULL;
    size_t len = 0;
    int r, done, ok = 0;

    r = sasl_client_start(p->conn, o->mech, &interact, &out, &outlen, &mech);
    if (r != SASL_OK && r != SASL_CONTINUE) {
        fail(p, "sasl_client_start(%s): %s%s", o->mech, code_text(r),
             r == SASL_INTERACT ? " (an unanswered prompt)" : "");
        goto cleanup;
    }
    if (!send_start(p, mech != NULL ? mech : o->mech, out, outlen))
        goto cleanup;
    done = r == SASL_OK;
    for (;;) {
        free(msg);
        msg = NULL;
        if (!recv_msg(p, &type, &msg, &len))
            goto cleanup;
        if (type == 'F') {
            fail(p, "the server refused: %s", (const char *)msg);
            goto cleanup;
        }
        if (type == 'S')
            break;
        if (type != 'C') {
            fail(p, "expected a challenge, got a '%c' message", type);
            goto cleanup;
        }
        out = NULL;
        outlen = 0;
        r = sasl_client_step(p->conn, (const char *)msg, (unsigned)len,
                             &interact, &out, &outlen);
        if (r != SASL_OK && r != SASL_CONTINUE) {
            client_gives_up(p, done ? "sasl_client_step on a challenge "
                            "after the client had completed"
                            : "sasl_client_step", r);
            goto cleanup;
        }
        if (!send_msg(p, 'R', out, outlen))
            goto cleanup;
        done = r == SASL_OK;
    }
    /* 'S': the server is done; its success data (if any) is the last
     * token, which the client must still process. */
    if (done && len > 0) {
        fail(p, "the server sent %zu bytes of success data after the "
             "client had completed", len);
        goto cleanup;
    }
    if (!done) {
        out = NULL;
        outlen = 0;
        r = sasl_client_step(p->conn, (const char *)msg, (unsigned)len,
                             &interact, &out, &outlen);
        if (r != SASL_OK) {
            fail(p, "sasl_client_step on the server's success (%zu bytes "
                 "of data): %s", len, code_text(r));
            goto cleanup;
        }
        if (outlen > 0) {
            fail(p, "the client still had %u bytes to send after the "
                 "server's success", outlen);
            goto cleanup;
        }
    }
    ok = 1;
cleanup:
    free(msg);
    return ok;
}

static int
run_client(const struct options *o)
{
    struct peer p = { -1, NULL, 0, 0, 0 };
    sasl_callback_t cbs[MAX_CLIENT_CBS];
    char local[64], remote[64];
    int r, ok = 0;

    client_callbacks(cbs, o->no_pass_prompt);
    r = sasl_client_init(cbs);
    if (r != SASL_OK) {
        fail(NULL, "sasl_client_init: %s", code_text(r));
        return 1;
    }
    if (!connect_to(o->connect_to, &p.fd))
        goto cleanup;
    if (!endpoints(p.fd, local, remote, sizeof(local))) {
        fail(NULL, "getsockname/getpeername: %s", strerror(errno));
        goto cleanup;
    }
    r = sasl_client_new(o->service, o->host, local, remote, cbs, 0, &p.conn);
    if (r != SASL_OK) {
        fail(NULL, "sasl_client_new: %s", code_text(r));
        goto cleanup;
    }
    if (!set_props(&p, o) || !client_auth(&p, o) || !report_auth(&p) ||
        !data_phase(&p, o->size, 1))
        goto cleanup;
    ok = 1;
cleanup:
    sasl_dispose(&p.conn);
    if (p.fd >= 0)
        (void)close(p.fd);
    (void)sasl_client_done();
    if (g_secret != NULL) {
        explicit_bzero(g_secret->data, g_secret->len);
        free(g_secret);
        g_secret = NULL;
    }
    return ok ? 0 : 1;
}

/* ---- command line ---- */

static void
usage(void)
{
    fprintf(stderr,
            "usage: sasl-peer server|client --plugin-dir DIR --service SVC "
            "--host FQDN\n"
            "         [--maxssf N] [--minssf N] [--success-data] [--size N]\n"
            "         [--log-level N] [--mech NAME] [--no-pass-prompt]\n"
            "         (--connect HOST:PORT | --listen PORT-FILE)\n");
}

static int
parse_uint(const char *text, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    unsigned long long v;

    if (text == NULL || text[0] < '0' || text[0] > '9')
        return 0;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return 0;
    *out = v;
    return 1;
}

static int
parse_args(int argc, char **argv, struct options *o)
{
    unsigned long long v;
    int i;

    memset(o, 0, sizeof(*o));
    o->maxssf = DEFAULT_MAXSSF;
    o->size = DEFAULT_SIZE;
    o->log_level = SASL_LOG_WARN;
    o->mech = "GSS-SPNEGO";
    if (argc < 2)
        return 0;
    if (strcmp(argv[1], "server") == 0)
        o->role = ROLE_SERVER;
    else if (strcmp(argv[1], "client") == 0)
        o->role = ROLE_CLIENT;
    else
        return 0;
    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--success-data") == 0) {
            o->success_data = 1;
            continue;
        }
        if (strcmp(a, "--no-pass-prompt") == 0) {
            o->no_pass_prompt = 1;
            continue;
        }
        if (val == NULL)
            return 0;
        i++;
        if (strcmp(a, "--plugin-dir") == 0) {
            o->plugin_dir = val;
        } else if (strcmp(a, "--service") == 0) {
            o->service = val;
        } else if (strcmp(a, "--host") == 0) {
            o->host = val;
        } else if (strcmp(a, "--mech") == 0) {
            o->mech = val;
        } else if (strcmp(a, "--connect") == 0) {
            o->connect_to = val;
        } else if (strcmp(a, "--listen") == 0) {
            o->port_file = val;
        } else if (strcmp(a, "--maxssf") == 0 && parse_uint(val, UINT_MAX, &v)) {
            o->maxssf = (unsigned)v;
        } else if (strcmp(a, "--minssf") == 0 && parse_uint(val, UINT_MAX, &v)) {
            o->minssf = (unsigned)v;
        } else if (strcmp(a, "--size") == 0 && parse_uint(val, SIZE_MAX, &v)) {
            o->size = (size_t)v;
        } else if (strcmp(a, "--log-level") == 0 && parse_uint(val, 7, &v)) {
            o->log_level = (int)v;
        } else {
            return 0;
        }
    }
    if (o->plugin_dir == NULL || o->service == NULL || o->host == NULL)
        return 0;
    if (o->role == ROLE_SERVER)
        return o->port_file != NULL && o->connect_to == NULL;
    return o->connect_to != NULL && o->port_file == NULL;
}

int
main(int argc, char **argv)
{
    struct options o;
    static char plugin_dir[4096];
    int r;

    if (!parse_args(argc, argv, &o)) {
        usage();
        return 2;
    }
    g_side = o.role == ROLE_SERVER ? "server" : "client";
    g_log_level = o.log_level;
    g_mech = o.mech;
    (void)snprintf(g_log_level_text, sizeof(g_log_level_text), "%d",
                   o.log_level);
    /* sasl_set_path keeps the pointer and wants it writable. */
    (void)snprintf(plugin_dir, sizeof(plugin_dir), "%s", o.plugin_dir);
    r = sasl_set_path(SASL_PATH_TYPE_PLUGIN, plugin_dir);
    if (r == SASL_OK)
        /* No <app>.conf is read from the system's directories either. */
        r = sasl_set_path(SASL_PATH_TYPE_CONFIG, plugin_dir);
    if (r != SASL_OK) {
        fail(NULL, "sasl_set_path(%s): %s", o.plugin_dir, code_text(r));
        return 1;
    }
    return o.role == ROLE_SERVER ? run_server(&o) : run_client(&o);
}
