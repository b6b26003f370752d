/*
 * bench.c - GSS-SPNEGO handshake and security-layer benchmark (issue 7).
 *
 * Six subjects, measured side by side on one CPU with client and server
 * in one process and tickets already cached (the KDC is not in the loop):
 *
 *   ours          our libgssspnego.so (GSS-SPNEGO) through libsasl2, as
 *                 installed: its security layer on the fast path (RFC 4121
 *                 tokens made on libcrypto)
 *   ours-gss-layer  the same plugin with spnego_fast_layer no: its layer
 *                 on MIT's gss_wrap_iov/gss_unwrap
 *   cyrus-spnego  Cyrus' GSS-SPNEGO from libgssapiv2 through libsasl2
 *   cyrus-gssapi  Cyrus' GSSAPI from the same libgssapiv2
 *   raw-krb5      gss_init_sec_context/gss_accept_sec_context with the
 *                 krb5 mechanism, credentials acquired once up front; its
 *                 layer is bare gss_wrap + gss_unwrap
 *   openssl-ceiling  layer figures only: what the primitives alone cost
 *                 with the same libcrypto, over the bytes of the token of
 *                 each packet: one AES-256-CBC-CTS encryption and one
 *                 decryption of confounder + data + header, and two
 *                 HMAC-SHA1 over the same (integrity: two HMAC-SHA1 over
 *                 data + header); no framing, no copies, no sequence
 *                 numbers
 *
 * libsasl2 takes one plugin path per process, so the parent runs every
 * subject in a child (this program again, with --subject NAME) once per
 * run, interleaving the subjects run by run; a child prints one line per
 * figure on its standard output:
 *
 *   F <figure> <value>      a measured value
 *   X <figure> <reason>     the measurement failed (shown as "fails")
 *   N <figure> <reason>     not applicable to this subject
 *   I <text>                a note for the report
 *
 * The parent takes the median and min-max over the runs, prints the table
 * (with every figure also as a ratio to cyrus-spnego and to raw-krb5) and,
 * with --json FILE, one JSON object per figure and subject.
 *
 * Run it inside tests/fixture/with-krb5 (bench/run does); it needs
 * SPNEGO_TEST_HOST and the fixture's environment.
 *
 *   bench [--runs N] [--quick] [--cpu N] [--plugin PATH] [--cyrus-dir DIR]
 *         [--json FILE] [--subjects a,b] [--only hs,ssf,mem,layer]
 *         [--handshakes N] [--mem-conns K] [--layer-mib M]
 *         [--hold-krb5-context]
 *   bench --subject NAME [--profile N | --profile-layer N] [...]
 *
 * --hold-krb5-context is an experiment: every child keeps one
 * krb5_context open, as a plugin or application could, which keeps MIT's
 * parsed krb5.conf alive between GSS-API calls.  --profile N does only N
 * handshakes inside profile_handshakes() after a short warm-up, for
 * callgrind --toggle-collect (bench/profile); --profile-layer N does N
 * sealed 64 KiB transfers (client encode + server decode) inside
 * profile_layer() instead (bench/profile --layer).  BENCH_VERBOSE=1 shows the
 * SASL log and every step of the exchanges on standard error.
 *
 * Handshake figures cover what an application pays per connection:
 * sasl_server_new + sasl_client_new + the whole exchange + both
 * sasl_dispose (raw-krb5: init + accept + init + display_name + both
 * deletes).  CPU time is CLOCK_PROCESS_CPUTIME_ID (client and server are
 * the same process); rates are wall clock.  Layer throughput is bytes of
 * plaintext per CPU second of encode + decode (wall-clock figures are in
 * the JSON).  Memory is glibc's mallinfo2() (uordblks + hblkhd; the
 * benchmark is single-threaded, so the main arena is all there is).
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sasl/sasl.h>

#define MAX_RUNS 101
#define MAX_LINE 2048
#define LAYER_MAXBUF 65536u       /* maxbufsize on both sides (as LDAP) */
#define CHILD_TIMEOUT_S 900       /* one child (one subject, one run) */

/* ---- subjects ---- */

enum subject {
    SUBJ_OURS = 0,
    SUBJ_OURS_GSS,
    SUBJ_CYRUS_SPNEGO,
    SUBJ_CYRUS_GSSAPI,
    SUBJ_RAW_KRB5,
    SUBJ_OPENSSL,
    N_SUBJECTS
};

static const char *const subject_names[N_SUBJECTS] = {
    "ours", "ours-gss-layer", "cyrus-spnego", "cyrus-gssapi", "raw-krb5",
    "openssl-ceiling"
};

static enum subject cur;      /* the child's subject */

/* ---- figures ---- */

struct figure {
    const char *key;
    const char *label;
    const char *unit;
    int decimals;
    int in_table;      /* 0: JSON only */
};

static const struct figure figures[] = {
    { "hs_sd.rate", "handshakes/s (SASL_SUCCESS_DATA)", "1/s", 0, 1 },
    { "hs_sd.cpu_us", "CPU per handshake, client+server (SUCCESS_DATA)",
      "us", 0, 1 },
    { "hs_nosd.rate", "handshakes/s (no SUCCESS_DATA)", "1/s", 0, 1 },
    { "hs_nosd.cpu_us", "CPU per handshake, client+server (no SUCCESS_DATA)",
      "us", 0, 1 },
    { "hs_sd.round_trips", "round trips (client messages), SUCCESS_DATA", "",
      0, 1 },
    { "hs_sd.challenges", "server challenges, SUCCESS_DATA", "", 0, 1 },
    { "hs_nosd.round_trips", "round trips (client messages), no SUCCESS_DATA",
      "", 0, 1 },
    { "hs_nosd.challenges", "server challenges, no SUCCESS_DATA", "", 0, 1 },
    { "hs_sd.c2s_bytes", "bytes client->server per handshake (SUCCESS_DATA)",
      "B", 0, 1 },
    { "hs_sd.s2c_bytes", "bytes server->client per handshake (SUCCESS_DATA)",
      "B", 0, 1 },
    { "hs_nosd.c2s_bytes", "bytes client->server per handshake (no SD)", "B",
      0, 1 },
    { "hs_nosd.s2c_bytes", "bytes server->client per handshake (no SD)", "B",
      0, 1 },
    { "ssf.max256.client", "SSF got, maxssf 256: client", "", 0, 1 },
    { "ssf.max256.server", "SSF got, maxssf 256: server", "", 0, 1 },
    { "ssf.max1.client", "SSF got, maxssf 1: client", "", 0, 1 },
    { "ssf.max1.server", "SSF got, maxssf 1: server", "", 0, 1 },
#define LAYER_FIG(mode, dir, size, label)                                    \
    { "layer." mode "." dir "." size, label, "MB/s", 0, 1 },                 \
    { "layer." mode "." dir "." size ".wall", label " (wall)", "MB/s", 0, 0 }
    LAYER_FIG("conf", "c2s", "4k", "layer conf, client enc + server dec, 4 KiB"),
    LAYER_FIG("conf", "c2s", "64k", "layer conf, client enc + server dec, 64 KiB"),
    LAYER_FIG("conf", "c2s", "1m", "layer conf, client enc + server dec, 1 MiB"),
    LAYER_FIG("conf", "s2c", "4k", "layer conf, server enc + client dec, 4 KiB"),
    LAYER_FIG("conf", "s2c", "64k", "layer conf, server enc + client dec, 64 KiB"),
    LAYER_FIG("conf", "s2c", "1m", "layer conf, server enc + client dec, 1 MiB"),
    LAYER_FIG("integ", "c2s", "4k", "layer integ (maxssf 1), c->s, 4 KiB"),
    LAYER_FIG("integ", "c2s", "64k", "layer integ (maxssf 1), c->s, 64 KiB"),
    LAYER_FIG("integ", "c2s", "1m", "layer integ (maxssf 1), c->s, 1 MiB"),
    LAYER_FIG("integ", "s2c", "4k", "layer integ (maxssf 1), s->c, 4 KiB"),
    LAYER_FIG("integ", "s2c", "64k", "layer integ (maxssf 1), s->c, 64 KiB"),
    LAYER_FIG("integ", "s2c", "1m", "layer integ (maxssf 1), s->c, 1 MiB"),
#undef LAYER_FIG
    { "mem.idle_server", "heap: idle server (server_init + first new/dispose)",
      "B", 0, 1 },
    { "mem.first_hs", "heap kept after the first handshake (conns disposed)",
      "B", 0, 1 },
    { "mem.conn_server", "heap per established connection: server", "B", 0,
      1 },
    { "mem.conn_client", "heap per established connection: client", "B", 0,
      1 },
    { "mem.conn_server_active", "heap per connection after 4 KiB each way: "
      "server", "B", 0, 1 },
    { "mem.conn_client_active", "heap per connection after 4 KiB each way: "
      "client", "B", 0, 1 },
    /* openssl-ceiling's parts, for the profile under the table */
    { "prim.cts_enc", "AES-256-CBC-CTS encryption of one sealed 64 KiB "
      "token", "us", 1, 0 },
    { "prim.cts_dec", "AES-256-CBC-CTS decryption of the same", "us", 1, 0 },
    { "prim.hmac", "HMAC-SHA1 over the same (one)", "us", 1, 0 },
    { "prim.memcpy", "memcpy of 64 KiB (one)", "us", 1, 0 },
};

#define N_FIGURES (sizeof(figures) / sizeof(figures[0]))

static const char *const layer_sizes_name[3] = { "4k", "64k", "1m" };
static const size_t layer_sizes[3] = { 4096, 65536, 1048576 };

/* ---- options ---- */

struct options {
    int runs;
    int quick;
    int cpu;
    const char *plugin;       /* our module */
    const char *cyrus_dir;    /* where libgssapiv2.so* live */
    const char *json;         /* --json FILE ("-": stdout) */
    const char *subject;      /* child mode */
    unsigned subject_mask;    /* parent: which subjects */
    int handshakes;           /* per run */
    int warmup;
    int mem_conns;            /* K for the per-connection figures */
    size_t layer_bytes;       /* plaintext per layer cell and run */
    int profile;              /* child: only N handshakes (callgrind) */
    int profile_layer;        /* child: only N 64 KiB c2s sealed transfers */
    int hold_krb5;            /* keep one krb5_context open (experiment) */
    const char *only;         /* comma list of hs,ssf,mem,layer; NULL: all */
    const char *self;         /* argv[0] resolved */
    const char *host;
};

static struct options opt;

static void
die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- measurement helpers ---- */

struct stamp {
    double wall, cpu;    /* seconds */
};

static double
ts_seconds(clockid_t clock)
{
    struct timespec ts;

    (void)clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct stamp
now(void)
{
    struct stamp s;

    s.wall = ts_seconds(CLOCK_MONOTONIC);
    s.cpu = ts_seconds(CLOCK_PROCESS_CPUTIME_ID);
    return s;
}

static size_t
heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();

    return m.uordblks + m.hblkhd;
}

static double
heap_delta(size_t after, size_t before)
{
    return (double)after - (double)before;
}

static void
pin_cpu(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0)
        die("cannot pin to CPU %d: %s", cpu, strerror(errno));
}

/* child output */
static void
emit(const char *key, double v)
{
    printf("F %s %.9g\n", key, v);
    fflush(stdout);
}

static void
emit_fail(const char *key, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    char *p;

    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    for (p = text; *p != '\0'; p++) {
        if (*p == '\n')
            *p = ' ';
    }
    printf("X %s %s\n", key, text);
    fflush(stdout);
}

static void
emit_na(const char *key, const char *why)
{
    printf("N %s %s\n", key, why);
    fflush(stdout);
}

static void
note(const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    char *p;

    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    for (p = text; *p != '\0'; p++) {
        if (*p == '\n')
            *p = ' ';
    }
    printf("I %s\n", text);
    fflush(stdout);
}

static uint8_t *
pattern(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    size_t i;

    if (p == NULL)
        die("out of memory");
    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31 + (i >> 8));
    return p;
}

/* Plaintext bytes per second, or 0 if the time is too small to say. */
static double
mbps(size_t bytes, double seconds)
{
    return seconds > 0 ? (double)bytes / seconds / 1e6 : 0;
}

/* ---- SASL subjects ---- */

struct sasl_subject {
    const char *mech;          /* "GSS-SPNEGO" or "GSSAPI" */
    char dir[256];             /* plugin directory */
    char links[8][600];
    int n_links;
};

static struct sasl_subject ss;

static int
log_cb(void *ctx, int level, const char *message)
{
    if (getenv("BENCH_VERBOSE") != NULL)
        fprintf(stderr, "  [%s %d] %s\n", (const char *)ctx, level, message);
    return SASL_OK;
}

static int
getopt_cb(void *ctx, const char *plugin, const char *option,
          const char **result, unsigned *len)
{
    (void)ctx;
    (void)plugin;
    *result = NULL;
    if (strcmp(option, "mech_list") == 0)
        *result = ss.mech;
    if (strcmp(option, "spnego_fast_layer") == 0 && cur == SUBJ_OURS_GSS)
        *result = "no";
    if (*result == NULL)
        return SASL_FAIL;
    if (len != NULL)
        *len = (unsigned)strlen(*result);
    return SASL_OK;
}

/* The authorization identity: always empty (else Cyrus' GSSAPI client
 * would take libsasl2's default, the login name). */
static int
user_cb(void *ctx, int id, const char **result, unsigned *len)
{
    (void)ctx;
    (void)id;
    *result = "";
    if (len != NULL)
        *len = 0;
    return SASL_OK;
}

#define CB(f) ((int (*)(void))(void (*)(void))(f))

static sasl_callback_t client_cbs[] = {
    { SASL_CB_USER, CB(user_cb), NULL },
    { SASL_CB_LOG, CB(log_cb), (void *)"client" },
    { SASL_CB_LIST_END, NULL, NULL },
};

static sasl_callback_t server_cbs[] = {
    { SASL_CB_GETOPT, CB(getopt_cb), NULL },
    { SASL_CB_LOG, CB(log_cb), (void *)"server" },
    { SASL_CB_LIST_END, NULL, NULL },
};

static void
remove_plugin_dir(void)
{
    int i;

    for (i = 0; i < ss.n_links; i++)
        (void)unlink(ss.links[i]);
    if (ss.dir[0] != '\0')
        (void)rmdir(ss.dir);
    ss.dir[0] = '\0';
    ss.n_links = 0;
}

static void
add_link(const char *target)
{
    const char *base = strrchr(target, '/');

    if (ss.n_links == (int)(sizeof(ss.links) / sizeof(ss.links[0])))
        die("too many plugin files");
    base = base != NULL ? base + 1 : target;
    (void)snprintf(ss.links[ss.n_links], sizeof(ss.links[0]), "%s/%s",
                   ss.dir, base);
    if (symlink(target, ss.links[ss.n_links]) != 0)
        die("symlink %s: %s", target, strerror(errno));
    ss.n_links++;
}

static void
make_plugin_dir(enum subject s)
{
    char pat[600];
    glob_t g;
    size_t i;

    (void)snprintf(ss.dir, sizeof(ss.dir), "%s/bench-plugins.XXXXXX",
                   getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(ss.dir) == NULL)
        die("mkdtemp: %s", strerror(errno));
    (void)atexit(remove_plugin_dir);
    if (s == SUBJ_OURS || s == SUBJ_OURS_GSS) {
        if (access(opt.plugin, R_OK) != 0)
            die("%s: %s (build the plugin, or give --plugin PATH)",
                opt.plugin, strerror(errno));
        add_link(opt.plugin);
        return;
    }
    (void)snprintf(pat, sizeof(pat), "%s/libgssapiv2.so*", opt.cyrus_dir);
    if (glob(pat, 0, NULL, &g) != 0 || g.gl_pathc == 0)
        die("no %s (package libsasl2-modules-gssapi-mit)", pat);
    for (i = 0; i < g.gl_pathc; i++)
        add_link(g.gl_pathv[i]);
    globfree(&g);
}

struct hs_stats {
    int round_trips;     /* client -> server messages */
    int challenges;      /* server -> client SASL_CONTINUE messages */
    int success_data;    /* the last server token came with SASL_OK */
    size_t c2s, s2c;
};

static void
set_props(sasl_conn_t *conn, unsigned max_ssf)
{
    sasl_security_properties_t p;

    memset(&p, 0, sizeof(p));
    p.min_ssf = 0;
    p.max_ssf = max_ssf;
    p.maxbufsize = LAYER_MAXBUF;
    (void)sasl_setprop(conn, SASL_SEC_PROPS, &p);
}

struct pair {
    sasl_conn_t *client, *server;
    unsigned flags;          /* the server's (SASL_SUCCESS_DATA or 0) */
};

/* libsasl2 2.1.28 returns the last challenge again with the final
 * SASL_OK when the server was made without SASL_SUCCESS_DATA; those bytes
 * cannot go on the wire, so they are not counted, only noted once. */
static int stale_noted;

static int
pair_new(struct pair *p, unsigned flags, unsigned client_max_ssf,
         char *err, size_t errlen)
{
    int r;

    p->client = p->server = NULL;
    p->flags = flags;
    r = sasl_server_new("ldap", opt.host, NULL, NULL, NULL, server_cbs, flags,
                        &p->server);
    if (r != SASL_OK) {
        (void)snprintf(err, errlen, "sasl_server_new: %s",
                       sasl_errstring(r, NULL, NULL));
        return 0;
    }
    r = sasl_client_new("ldap", opt.host, NULL, NULL, client_cbs, 0,
                        &p->client);
    if (r != SASL_OK) {
        (void)snprintf(err, errlen, "sasl_client_new: %s",
                       sasl_errstring(r, NULL, NULL));
        sasl_dispose(&p->server);
        return 0;
    }
    set_props(p->client, client_max_ssf);
    set_props(p->server, 256);
    return 1;
}

static void
pair_free(struct pair *p)
{
    sasl_dispose(&p->client);
    sasl_dispose(&p->server);
}

static int
step_failed(int r)
{
    return r != SASL_OK && r != SASL_CONTINUE;
}

static void
trace_step(const char *what, int rc, unsigned len)
{
    if (getenv("BENCH_VERBOSE") != NULL)
        fprintf(stderr, "  %s: %s, %u bytes\n", what,
                sasl_errstring(rc, NULL, NULL), len);
}

/* The whole exchange; 1 on success on both sides, else 0 with err. */
static int
exchange(struct pair *p, struct hs_stats *st, char *err, size_t errlen)
{
    const char *out = NULL, *sout = NULL, *chosen = NULL;
    unsigned outlen = 0, soutlen = 0;
    int crc, src;

    crc = sasl_client_start(p->client, ss.mech, NULL, &out, &outlen,
                            &chosen);
    trace_step("client start", crc, outlen);
    if (step_failed(crc))
        goto client_failed;
    st->round_trips++;
    st->c2s += outlen;
    src = sasl_server_start(p->server, ss.mech, out, outlen, &sout, &soutlen);
    trace_step("server start", src, soutlen);
    while (src == SASL_CONTINUE) {
        st->challenges++;
        st->s2c += soutlen;
        crc = sasl_client_step(p->client, sout, soutlen, NULL, &out, &outlen);
        if (step_failed(crc))
            goto client_failed;
        st->round_trips++;
        st->c2s += outlen;
        trace_step("client step", crc, outlen);
        src = sasl_server_step(p->server, out, outlen, &sout, &soutlen);
        trace_step("server step", src, soutlen);
    }
    if (src != SASL_OK) {
        (void)snprintf(err, errlen, "server: %s",
                       sasl_errdetail(p->server));
        return 0;
    }
    if (soutlen > 0 && !(p->flags & SASL_SUCCESS_DATA)) {
        if (!stale_noted)
            note("%s: without SASL_SUCCESS_DATA, libsasl2 returns the last "
                 "challenge again with the final SASL_OK; not counted as "
                 "sent", subject_names[cur]);
        stale_noted = 1;
        soutlen = 0;
    }
    if (soutlen > 0) {
        st->success_data = 1;
        st->s2c += soutlen;
    }
    if (crc == SASL_CONTINUE) {
        /* the outcome (with the success data, if any) reaches the client */
        crc = sasl_client_step(p->client, soutlen > 0 ? sout : NULL, soutlen,
                               NULL, &out, &outlen);
        trace_step("client final step", crc, outlen);
        if (crc != SASL_OK)
            goto client_failed;
    }
    return 1;
client_failed:
    (void)snprintf(err, errlen, "client: %s", sasl_errdetail(p->client));
    return 0;
}

static unsigned
ssf_of(sasl_conn_t *conn)
{
    const void *v = NULL;

    if (sasl_getprop(conn, SASL_SSF, &v) != SASL_OK || v == NULL)
        return 0;
    return *(const unsigned *)v;
}

/* One connection: new pair, exchange, dispose. */
static int
sasl_handshake(unsigned flags, unsigned max_ssf, struct hs_stats *st,
               char *err, size_t errlen)
{
    struct pair p;
    int ok;

    if (!pair_new(&p, flags, max_ssf, err, errlen))
        return 0;
    ok = exchange(&p, st, err, errlen);
    pair_free(&p);
    return ok;
}

/* ---- raw-krb5 subject ---- */

static gss_OID_desc krb5_oid = {
    9, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"
};

struct raw {
    gss_cred_id_t ccred, scred;
    gss_name_t target;
};

static struct raw raw;

static void
gss_text(OM_uint32 major, OM_uint32 minor, char *buf, size_t size)
{
    OM_uint32 tmp, ctx = 0;
    gss_buffer_desc a = GSS_C_EMPTY_BUFFER, b = GSS_C_EMPTY_BUFFER;

    (void)gss_display_status(&tmp, major, GSS_C_GSS_CODE, GSS_C_NO_OID, &ctx,
                             &a);
    ctx = 0;
    (void)gss_display_status(&tmp, minor, GSS_C_MECH_CODE, &krb5_oid, &ctx,
                             &b);
    (void)snprintf(buf, size, "%.*s: %.*s", (int)a.length,
                   (const char *)a.value, (int)b.length,
                   (const char *)b.value);
    (void)gss_release_buffer(&tmp, &a);
    (void)gss_release_buffer(&tmp, &b);
}

struct raw_conn {
    gss_ctx_id_t c, s;
};

static const OM_uint32 raw_req_flags = GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG |
                                       GSS_C_CONF_FLAG | GSS_C_SEQUENCE_FLAG |
                                       GSS_C_REPLAY_FLAG;

/* AP-REQ, AP-REP: establish one pair of contexts. */
static int
raw_establish(struct raw_conn *rc, struct hs_stats *st, char *err,
              size_t errlen)
{
    OM_uint32 major, minor, tmp;
    gss_buffer_desc t1 = GSS_C_EMPTY_BUFFER, t2 = GSS_C_EMPTY_BUFFER;
    gss_buffer_desc t3 = GSS_C_EMPTY_BUFFER;
    gss_buffer_desc disp = GSS_C_EMPTY_BUFFER;
    gss_name_t src = GSS_C_NO_NAME;
    int ok = 0;

    rc->c = rc->s = GSS_C_NO_CONTEXT;
    major = gss_init_sec_context(&minor, raw.ccred, &rc->c, raw.target,
                                 &krb5_oid, raw_req_flags, 0,
                                 GSS_C_NO_CHANNEL_BINDINGS, GSS_C_NO_BUFFER,
                                 NULL, &t1, NULL, NULL);
    if (major != GSS_S_CONTINUE_NEEDED) {
        gss_text(major, minor, err, errlen);
        goto cleanup;
    }
    st->round_trips++;
    st->c2s += t1.length;
    major = gss_accept_sec_context(&minor, &rc->s, raw.scred, &t1,
                                   GSS_C_NO_CHANNEL_BINDINGS, &src, NULL, &t2,
                                   NULL, NULL, NULL);
    if (major != GSS_S_COMPLETE) {
        gss_text(major, minor, err, errlen);
        goto cleanup;
    }
    /* the server wants to know who it is talking to */
    major = gss_display_name(&minor, src, &disp, NULL);
    if (GSS_ERROR(major)) {
        gss_text(major, minor, err, errlen);
        goto cleanup;
    }
    st->s2c += t2.length;
    st->success_data = 1;
    major = gss_init_sec_context(&minor, raw.ccred, &rc->c, raw.target,
                                 &krb5_oid, raw_req_flags, 0,
                                 GSS_C_NO_CHANNEL_BINDINGS, &t2, NULL, &t3,
                                 NULL, NULL);
    if (major != GSS_S_COMPLETE || t3.length != 0) {
        gss_text(major, minor, err, errlen);
        goto cleanup;
    }
    ok = 1;
cleanup:
    (void)gss_release_buffer(&tmp, &t1);
    (void)gss_release_buffer(&tmp, &t2);
    (void)gss_release_buffer(&tmp, &t3);
    (void)gss_release_buffer(&tmp, &disp);
    (void)gss_release_name(&tmp, &src);
    return ok;
}

static void
raw_conn_free(struct raw_conn *rc)
{
    OM_uint32 tmp;

    if (rc->c != GSS_C_NO_CONTEXT)
        (void)gss_delete_sec_context(&tmp, &rc->c, GSS_C_NO_BUFFER);
    if (rc->s != GSS_C_NO_CONTEXT)
        (void)gss_delete_sec_context(&tmp, &rc->s, GSS_C_NO_BUFFER);
}

static int
raw_handshake(struct hs_stats *st, char *err, size_t errlen)
{
    struct raw_conn rc;
    int ok = raw_establish(&rc, st, err, errlen);

    raw_conn_free(&rc);
    return ok;
}

/* The raw security layer, as a server without IOV would write it: each
 * packet is gss_wrap of at most maxin bytes, copied with its 4-byte length
 * into one reusable output buffer; decoding unwraps each packet and copies
 * the plaintext into one reusable buffer.  Both buffers grow, never shrink. */
struct rbuf {
    uint8_t *data;
    size_t len, cap;
};

static int
rbuf_reserve(struct rbuf *b, size_t need)
{
    uint8_t *p;
    size_t cap = b->cap ? b->cap : 4096;

    if (need <= b->cap)
        return 1;
    while (cap < need)
        cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL)
        return 0;
    b->data = p;
    b->cap = cap;
    return 1;
}

struct raw_layer {
    gss_ctx_id_t ctx;
    int conf;
    OM_uint32 maxin;
    struct rbuf enc, dec;
};

static int
raw_layer_init(struct raw_layer *l, gss_ctx_id_t ctx, int conf, char *err,
               size_t errlen)
{
    OM_uint32 major, minor;

    memset(l, 0, sizeof(*l));
    l->ctx = ctx;
    l->conf = conf;
    major = gss_wrap_size_limit(&minor, ctx, conf, GSS_C_QOP_DEFAULT,
                                LAYER_MAXBUF - 4, &l->maxin);
    if (GSS_ERROR(major) || l->maxin == 0) {
        gss_text(major, minor, err, errlen);
        return 0;
    }
    return 1;
}

static void
raw_layer_free(struct raw_layer *l)
{
    free(l->enc.data);
    free(l->dec.data);
    memset(&l->enc, 0, sizeof(l->enc));
    memset(&l->dec, 0, sizeof(l->dec));
}

static int
raw_encode(struct raw_layer *l, const uint8_t *in, size_t len, char *err,
           size_t errlen)
{
    OM_uint32 major, minor, tmp;
    gss_buffer_desc pt, tok = GSS_C_EMPTY_BUFFER;
    int conf_state = 0;
    size_t off = 0, n;
    uint8_t *p;

    l->enc.len = 0;
    while (off < len) {
        n = len - off < l->maxin ? len - off : l->maxin;
        pt.value = (void *)(in + off);
        pt.length = n;
        major = gss_wrap(&minor, l->ctx, l->conf, GSS_C_QOP_DEFAULT, &pt,
                         &conf_state, &tok);
        if (GSS_ERROR(major)) {
            gss_text(major, minor, err, errlen);
            return 0;
        }
        if (!rbuf_reserve(&l->enc, l->enc.len + 4 + tok.length)) {
            (void)gss_release_buffer(&tmp, &tok);
            (void)snprintf(err, errlen, "out of memory");
            return 0;
        }
        p = l->enc.data + l->enc.len;
        p[0] = (uint8_t)(tok.length >> 24);
        p[1] = (uint8_t)(tok.length >> 16);
        p[2] = (uint8_t)(tok.length >> 8);
        p[3] = (uint8_t)tok.length;
        memcpy(p + 4, tok.value, tok.length);
        l->enc.len += 4 + tok.length;
        (void)gss_release_buffer(&tmp, &tok);
        off += n;
    }
    return 1;
}

static int
raw_decode(struct raw_layer *l, const uint8_t *in, size_t len, char *err,
           size_t errlen)
{
    OM_uint32 major, minor, tmp;
    gss_buffer_desc tok, pt = GSS_C_EMPTY_BUFFER;
    size_t off = 0, plen;

    l->dec.len = 0;
    while (off < len) {
        if (len - off < 4) {
            (void)snprintf(err, errlen, "truncated packet header");
            return 0;
        }
        plen = (size_t)in[off] << 24 | (size_t)in[off + 1] << 16 |
               (size_t)in[off + 2] << 8 | in[off + 3];
        if (plen == 0 || plen > len - off - 4) {
            (void)snprintf(err, errlen, "bad packet length %zu", plen);
            return 0;
        }
        tok.value = (void *)(in + off + 4);
        tok.length = plen;
        major = gss_unwrap(&minor, l->ctx, &tok, &pt, NULL, NULL);
        if (GSS_ERROR(major)) {
            gss_text(major, minor, err, errlen);
            return 0;
        }
        if (!rbuf_reserve(&l->dec, l->dec.len + pt.length)) {
            (void)gss_release_buffer(&tmp, &pt);
            (void)snprintf(err, errlen, "out of memory");
            return 0;
        }
        memcpy(l->dec.data + l->dec.len, pt.value, pt.length);
        l->dec.len += pt.length;
        (void)gss_release_buffer(&tmp, &pt);
        off += 4 + plen;
    }
    return 1;
}

/* ---- per-subject driver: one interface over SASL and raw ---- */

/* One handshake; `sd` selects SASL_SUCCESS_DATA (raw: the same either way). */
static int
handshake(int sd, struct hs_stats *st, char *err, size_t errlen)
{
    if (cur == SUBJ_RAW_KRB5)
        return raw_handshake(st, err, errlen);
    return sasl_handshake(sd ? SASL_SUCCESS_DATA : 0, 256, st, err, errlen);
}

/* Everything the connection holds, as a generic "established pair". */
struct conn_pair {
    struct pair sasl;
    struct raw_conn raw;
    struct raw_layer rl_c, rl_s;
    int raw_layers;
};

static int
pair_establish(struct conn_pair *cp, unsigned max_ssf, char *err,
               size_t errlen)
{
    struct hs_stats st;

    memset(cp, 0, sizeof(*cp));
    memset(&st, 0, sizeof(st));
    if (cur == SUBJ_RAW_KRB5)
        return raw_establish(&cp->raw, &st, err, errlen);
    if (!pair_new(&cp->sasl, SASL_SUCCESS_DATA, max_ssf, err, errlen))
        return 0;
    return exchange(&cp->sasl, &st, err, errlen);
}

static void
pair_release_client(struct conn_pair *cp)
{
    OM_uint32 tmp;

    if (cur != SUBJ_RAW_KRB5) {
        sasl_dispose(&cp->sasl.client);
        return;
    }
    if (cp->raw_layers)
        raw_layer_free(&cp->rl_c);
    if (cp->raw.c != GSS_C_NO_CONTEXT)
        (void)gss_delete_sec_context(&tmp, &cp->raw.c, GSS_C_NO_BUFFER);
}

static void
pair_release_server(struct conn_pair *cp)
{
    OM_uint32 tmp;

    if (cur != SUBJ_RAW_KRB5) {
        sasl_dispose(&cp->sasl.server);
        return;
    }
    if (cp->raw_layers)
        raw_layer_free(&cp->rl_s);
    cp->raw_layers = 0;
    if (cp->raw.s != GSS_C_NO_CONTEXT)
        (void)gss_delete_sec_context(&tmp, &cp->raw.s, GSS_C_NO_BUFFER);
}

/* Move `len` bytes one way: from's encode, to's decode.  `c2s` says which
 * way for raw.  Checks the plaintext when `verify`. */
static int
transfer(struct conn_pair *cp, int c2s, const uint8_t *data, size_t len,
         int verify, char *err, size_t errlen)
{
    const char *enc = NULL, *dec = NULL;
    unsigned enclen = 0, declen = 0;
    sasl_conn_t *from, *to;
    int r;

    if (cur == SUBJ_RAW_KRB5) {
        struct raw_layer *a = c2s ? &cp->rl_c : &cp->rl_s;
        struct raw_layer *b = c2s ? &cp->rl_s : &cp->rl_c;

        if (!raw_encode(a, data, len, err, errlen) ||
            !raw_decode(b, a->enc.data, a->enc.len, err, errlen))
            return 0;
        if (b->dec.len != len ||
            (verify && memcmp(b->dec.data, data, len) != 0)) {
            (void)snprintf(err, errlen, "decoded %zu bytes of %zu, or "
                           "different ones", b->dec.len, len);
            return 0;
        }
        return 1;
    }
    from = c2s ? cp->sasl.client : cp->sasl.server;
    to = c2s ? cp->sasl.server : cp->sasl.client;
    r = sasl_encode(from, (const char *)data, (unsigned)len, &enc, &enclen);
    if (r != SASL_OK) {
        (void)snprintf(err, errlen, "sasl_encode of %zu bytes: %s (%s)", len,
                       sasl_errstring(r, NULL, NULL), sasl_errdetail(from));
        return 0;
    }
    r = sasl_decode(to, enc, enclen, &dec, &declen);
    if (r != SASL_OK) {
        const uint8_t *e = (const uint8_t *)enc;
        unsigned first = enclen >= 4 ? (unsigned)e[0] << 24 |
                                           (unsigned)e[1] << 16 |
                                           (unsigned)e[2] << 8 | e[3]
                                     : 0;

        /* Cyrus' _plug_decode says why only to syslog (utils->log with
         * no connection), so state the sizes: */
        (void)snprintf(err, errlen, "sasl_decode of %u bytes (%zu of "
                       "plaintext; first packet 4 + %u bytes, receiver's "
                       "maxbufsize %u): %s", enclen, len, first,
                       LAYER_MAXBUF, sasl_errstring(r, NULL, NULL));
        return 0;
    }
    if (declen != len || (verify && memcmp(dec, data, len) != 0)) {
        (void)snprintf(err, errlen, "sent %zu bytes in %u encoded, "
                       "decoded %u%s", len, enclen, declen,
                       declen == len ? " different ones" : "");
        return 0;
    }
    return 1;
}

/* ---- the measurements ---- */

static void
measure_handshakes(int sd)
{
    const char *tag = sd ? "hs_sd" : "hs_nosd";
    struct hs_stats st;
    struct stamp t0, t1;
    char err[1024], key[64];
    int i, n = opt.handshakes;

    memset(&st, 0, sizeof(st));
    t0 = now();
    for (i = 0; i < n; i++) {
        if (!handshake(sd, &st, err, sizeof(err))) {
            (void)snprintf(key, sizeof(key), "%s.rate", tag);
            emit_fail(key, "handshake %d failed: %s", i, err);
            (void)snprintf(key, sizeof(key), "%s.cpu_us", tag);
            emit_fail(key, "handshake %d failed", i);
            return;
        }
    }
    t1 = now();
    (void)snprintf(key, sizeof(key), "%s.rate", tag);
    emit(key, n / (t1.wall - t0.wall));
    (void)snprintf(key, sizeof(key), "%s.cpu_us", tag);
    emit(key, (t1.cpu - t0.cpu) * 1e6 / n);
    (void)snprintf(key, sizeof(key), "%s.round_trips", tag);
    emit(key, (double)st.round_trips / n);
    (void)snprintf(key, sizeof(key), "%s.challenges", tag);
    emit(key, (double)st.challenges / n);
    (void)snprintf(key, sizeof(key), "%s.c2s_bytes", tag);
    emit(key, (double)st.c2s / n);
    (void)snprintf(key, sizeof(key), "%s.s2c_bytes", tag);
    emit(key, (double)st.s2c / n);
}

static void
measure_ssf(void)
{
    static const unsigned maxes[2] = { 256, 1 };
    struct conn_pair cp;
    char err[1024], key[64];
    int i;

    for (i = 0; i < 2; i++) {
        if (cur == SUBJ_RAW_KRB5) {
            (void)snprintf(key, sizeof(key), "ssf.max%u.client", maxes[i]);
            emit_na(key, "no SASL");
            (void)snprintf(key, sizeof(key), "ssf.max%u.server", maxes[i]);
            emit_na(key, "no SASL");
            continue;
        }
        if (!pair_establish(&cp, maxes[i], err, sizeof(err))) {
            (void)snprintf(key, sizeof(key), "ssf.max%u.client", maxes[i]);
            emit_fail(key, "%s", err);
            (void)snprintf(key, sizeof(key), "ssf.max%u.server", maxes[i]);
            emit_fail(key, "%s", err);
        } else {
            (void)snprintf(key, sizeof(key), "ssf.max%u.client", maxes[i]);
            emit(key, ssf_of(cp.sasl.client));
            (void)snprintf(key, sizeof(key), "ssf.max%u.server", maxes[i]);
            emit(key, ssf_of(cp.sasl.server));
        }
        pair_release_client(&cp);
        pair_release_server(&cp);
    }
}

static int
start_raw_layers(struct conn_pair *cp, int conf, char *err, size_t errlen)
{
    if (!raw_layer_init(&cp->rl_c, cp->raw.c, conf, err, errlen))
        return 0;
    if (!raw_layer_init(&cp->rl_s, cp->raw.s, conf, err, errlen)) {
        raw_layer_free(&cp->rl_c);
        return 0;
    }
    cp->raw_layers = 1;
    return 1;
}

/* K pairs at once; the server share is what remains after the clients
 * are disposed.  `active`: 4 KiB each way through every pair first. */
static int
memory_round(int active, double *server_out, double *client_out, char *err,
             size_t errlen)
{
    struct conn_pair *cps;
    uint8_t *msg = pattern(4096);
    size_t m0, m1, m2;
    int i, k = opt.mem_conns, made = 0, ok = 0;

    cps = calloc((size_t)k, sizeof(*cps));
    if (cps == NULL)
        die("out of memory");
    m0 = heap_in_use();
    for (i = 0; i < k; i++, made++) {
        if (!pair_establish(&cps[i], 256, err, errlen) ||
            (cur == SUBJ_RAW_KRB5 && !start_raw_layers(&cps[i], 1, err, errlen))) {
            made++;
            goto cleanup;
        }
        if (active && (!transfer(&cps[i], 1, msg, 4096, 0, err, errlen) ||
                       !transfer(&cps[i], 0, msg, 4096, 0, err, errlen))) {
            made++;
            goto cleanup;
        }
    }
    m1 = heap_in_use();
    for (i = 0; i < k; i++)
        pair_release_client(&cps[i]);
    m2 = heap_in_use();
    *server_out = heap_delta(m2, m0) / k;
    *client_out = heap_delta(m1, m2) / k;
    ok = 1;
cleanup:
    for (i = 0; i < made; i++) {
        pair_release_client(&cps[i]);
        pair_release_server(&cps[i]);
    }
    free(msg);
    free(cps);
    return ok;
}

static void
measure_memory(void)
{
    double server, client;
    char err[1024];

    if (memory_round(0, &server, &client, err, sizeof(err))) {
        emit("mem.conn_server", server);
        emit("mem.conn_client", client);
    } else {
        emit_fail("mem.conn_server", "%s", err);
        emit_fail("mem.conn_client", "%s", err);
    }
    if (memory_round(1, &server, &client, err, sizeof(err))) {
        emit("mem.conn_server_active", server);
        emit("mem.conn_client_active", client);
    } else {
        emit_fail("mem.conn_server_active", "%s", err);
        emit_fail("mem.conn_client_active", "%s", err);
    }
}

static void
emit_layer_fail_rest(const char *mode, int from_size, int dir, const char *why)
{
    char key[64];
    int s, d;

    for (d = dir; d < 2; d++) {
        for (s = d == dir ? from_size : 0; s < 3; s++) {
            (void)snprintf(key, sizeof(key), "layer.%s.%s.%s", mode,
                           d == 0 ? "c2s" : "s2c", layer_sizes_name[s]);
            emit_fail(key, "%s", why);
            (void)snprintf(key, sizeof(key), "layer.%s.%s.%s.wall", mode,
                           d == 0 ? "c2s" : "s2c", layer_sizes_name[s]);
            emit_fail(key, "%s", why);
        }
    }
}

static void
measure_layer(int conf)
{
    const char *mode = conf ? "conf" : "integ";
    struct conn_pair cp;
    char err[1024], key[64];
    int d, s;

    if (!pair_establish(&cp, conf ? 256 : 1, err, sizeof(err)) ||
        (cur == SUBJ_RAW_KRB5 &&
         !start_raw_layers(&cp, conf, err, sizeof(err)))) {
        emit_layer_fail_rest(mode, 0, 0, err);
        pair_release_client(&cp);
        pair_release_server(&cp);
        return;
    }
    if (cur != SUBJ_RAW_KRB5) {
        const void *mo = NULL;
        unsigned cm = 0, sm = 0;

        if (sasl_getprop(cp.sasl.client, SASL_MAXOUTBUF, &mo) == SASL_OK)
            cm = *(const unsigned *)mo;
        if (sasl_getprop(cp.sasl.server, SASL_MAXOUTBUF, &mo) == SASL_OK)
            sm = *(const unsigned *)mo;
        note("%s layer %s: SSF client %u server %u, maxoutbuf client %u "
             "server %u", subject_names[cur], mode, ssf_of(cp.sasl.client),
             ssf_of(cp.sasl.server), cm, sm);
    } else {
        note("raw-krb5 layer %s: gss_wrap_size_limit(%u) = %u", mode,
             LAYER_MAXBUF - 4, (unsigned)cp.rl_c.maxin);
    }
    for (d = 0; d < 2; d++) {
        for (s = 0; s < 3; s++) {
            size_t len = layer_sizes[s];
            size_t iters = opt.layer_bytes / len, i;
            uint8_t *data = pattern(len);
            struct stamp t0, t1;

            if (iters < 4)
                iters = 4;
            (void)snprintf(key, sizeof(key), "layer.%s.%s.%s", mode,
                           d == 0 ? "c2s" : "s2c", layer_sizes_name[s]);
            if (!transfer(&cp, d == 0, data, len, 1, err, sizeof(err))) {
                emit_fail(key, "%s", err);
                (void)snprintf(key, sizeof(key), "layer.%s.%s.%s.wall", mode,
                               d == 0 ? "c2s" : "s2c", layer_sizes_name[s]);
                emit_fail(key, "%s", err);
                free(data);
                continue;
            }
            t0 = now();
            for (i = 0; i < iters; i++) {
                if (!transfer(&cp, d == 0, data, len, 0, err, sizeof(err)))
                    break;
            }
            t1 = now();
            if (i < iters) {
                emit_fail(key, "after %zu packets: %s", i, err);
            } else {
                emit(key, mbps(iters * len, t1.cpu - t0.cpu));
                (void)snprintf(key, sizeof(key), "layer.%s.%s.%s.wall", mode,
                               d == 0 ? "c2s" : "s2c", layer_sizes_name[s]);
                emit(key, mbps(iters * len, t1.wall - t0.wall));
            }
            free(data);
        }
    }
    pair_release_client(&cp);
    pair_release_server(&cp);
}

/* For callgrind --toggle-collect=profile_handshakes: only this counts. */
__attribute__((noinline)) static int
profile_handshakes(int n)
{
    struct hs_stats st;
    char err[1024];
    int i;

    memset(&st, 0, sizeof(st));
    for (i = 0; i < n; i++) {
        if (!handshake(1, &st, err, sizeof(err))) {
            fprintf(stderr, "bench: handshake %d: %s\n", i, err);
            return 0;
        }
    }
    return 1;
}

/* For callgrind --toggle-collect=profile_layer: n transfers of 64 KiB,
 * client encode + server decode, sealed; only they count. */
__attribute__((noinline)) static int
profile_layer(struct conn_pair *cp, const uint8_t *data, int n)
{
    char err[1024];
    int i;

    for (i = 0; i < n; i++) {
        if (!transfer(cp, 1, data, 65536, 0, err, sizeof(err))) {
            fprintf(stderr, "bench: transfer %d: %s\n", i, err);
            return 0;
        }
    }
    return 1;
}

static int
run_profile_layer(int n)
{
    struct conn_pair cp;
    uint8_t *data = pattern(65536);
    char err[1024];
    int ok;

    if (!pair_establish(&cp, 256, err, sizeof(err)) ||
        (cur == SUBJ_RAW_KRB5 && !start_raw_layers(&cp, 1, err, sizeof(err)))) {
        fprintf(stderr, "bench: %s\n", err);
        free(data);
        return 0;
    }
    ok = transfer(&cp, 1, data, 65536, 1, err, sizeof(err)) &&
         profile_layer(&cp, data, n);
    pair_release_client(&cp);
    pair_release_server(&cp);
    free(data);
    return ok;
}

/* ---- child: set up one subject, measure, report ---- */

static int
raw_setup(char *err, size_t errlen)
{
    OM_uint32 major, minor;
    gss_OID_set_desc set = { 1, &krb5_oid };
    gss_buffer_desc nb;
    char name[512];

    (void)snprintf(name, sizeof(name), "ldap@%s", opt.host);
    nb.value = name;
    nb.length = strlen(name);
    major = gss_import_name(&minor, &nb, GSS_C_NT_HOSTBASED_SERVICE,
                            &raw.target);
    if (!GSS_ERROR(major))
        major = gss_acquire_cred(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE,
                                 &set, GSS_C_INITIATE, &raw.ccred, NULL,
                                 NULL);
    if (GSS_ERROR(major)) {
        gss_text(major, minor, err, errlen);
        return 0;
    }
    return 1;
}

static int
raw_acquire_acceptor(char *err, size_t errlen)
{
    OM_uint32 major, minor;
    gss_OID_set_desc set = { 1, &krb5_oid };

    major = gss_acquire_cred(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &set,
                             GSS_C_ACCEPT, &raw.scred, NULL, NULL);
    if (GSS_ERROR(major)) {
        gss_text(major, minor, err, errlen);
        return 0;
    }
    return 1;
}

static void
raw_teardown(void)
{
    OM_uint32 tmp;

    (void)gss_release_cred(&tmp, &raw.ccred);
    (void)gss_release_cred(&tmp, &raw.scred);
    (void)gss_release_name(&tmp, &raw.target);
}

/* Set up the subject; the idle-server figure is taken on the way.
 * Returns 1, or 0 with err. */
static int
subject_setup(char *err, size_t errlen)
{
    size_t m0, m1;
    sasl_conn_t *s = NULL;
    int r;

    if (cur == SUBJ_RAW_KRB5) {
        m0 = heap_in_use();
        if (!raw_acquire_acceptor(err, errlen))
            return 0;
        m1 = heap_in_use();
        emit("mem.idle_server", heap_delta(m1, m0));
        return raw_setup(err, errlen);
    }
    make_plugin_dir(cur);
    ss.mech = cur == SUBJ_CYRUS_GSSAPI ? "GSSAPI" : "GSS-SPNEGO";
    /* the client has no getopt callback: its option from the environment */
    if (cur == SUBJ_OURS_GSS && setenv("SPNEGO_FAST_LAYER", "no", 1) != 0)
        die("setenv: %s", strerror(errno));
    m0 = heap_in_use();
    if (sasl_set_path(SASL_PATH_TYPE_PLUGIN, ss.dir) != SASL_OK ||
        sasl_set_path(SASL_PATH_TYPE_CONFIG, ss.dir) != SASL_OK ||
        sasl_server_init(server_cbs, "bench") != SASL_OK) {
        (void)snprintf(err, errlen, "sasl_server_init failed");
        return 0;
    }
    r = sasl_server_new("ldap", opt.host, NULL, NULL, NULL, server_cbs,
                        SASL_SUCCESS_DATA, &s);
    if (r != SASL_OK) {
        (void)snprintf(err, errlen, "sasl_server_new: %s",
                       sasl_errstring(r, NULL, NULL));
        return 0;
    }
    sasl_dispose(&s);
    m1 = heap_in_use();
    emit("mem.idle_server", heap_delta(m1, m0));
    if (sasl_client_init(client_cbs) != SASL_OK) {
        (void)snprintf(err, errlen, "sasl_client_init failed");
        return 0;
    }
    return 1;
}

static void
subject_teardown(void)
{
    if (cur == SUBJ_RAW_KRB5) {
        raw_teardown();
        return;
    }
    sasl_done();
    remove_plugin_dir();
}

/* Is the group of measurements `what` selected by --only? */
static int
wanted(const char *what)
{
    size_t n = strlen(what);
    const char *p;

    if (opt.only == NULL)
        return 1;
    for (p = opt.only; (p = strstr(p, what)) != NULL; p += n) {
        if ((p == opt.only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    }
    return 0;
}

/* ---- openssl-ceiling: the primitives alone ---- */

struct ceiling {
    EVP_CIPHER_CTX *enc, *dec;
    EVP_MAC_CTX *mac[2];
    uint8_t *buf;
};

static void
ceiling_free(struct ceiling *c)
{
    EVP_CIPHER_CTX_free(c->enc);
    EVP_CIPHER_CTX_free(c->dec);
    EVP_MAC_CTX_free(c->mac[0]);
    EVP_MAC_CTX_free(c->mac[1]);
    free(c->buf);
    memset(c, 0, sizeof(*c));
}

static int
ceiling_init(struct ceiling *c, size_t cap)
{
    static const uint8_t key[32] = { 1, 2, 3 }, iv[16];
    OSSL_PARAM cp[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_CIPHER_PARAM_CTS_MODE,
                                         (char *)"CS3", 0),
        OSSL_PARAM_construct_end()
    };
    OSSL_PARAM mp[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                         (char *)"SHA1", 0),
        OSSL_PARAM_construct_end()
    };
    EVP_CIPHER *cts = EVP_CIPHER_fetch(NULL, "AES-256-CBC-CTS", NULL);
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    int i, ok = 0;

    memset(c, 0, sizeof(*c));
    c->buf = calloc(1, cap);
    c->enc = EVP_CIPHER_CTX_new();
    c->dec = EVP_CIPHER_CTX_new();
    if (cts == NULL || hmac == NULL || c->buf == NULL || c->enc == NULL ||
        c->dec == NULL || !EVP_CipherInit_ex2(c->enc, cts, key, iv, 1, cp) ||
        !EVP_CipherInit_ex2(c->dec, cts, key, iv, 0, cp))
        goto cleanup;
    for (i = 0; i < 2; i++) {
        c->mac[i] = EVP_MAC_CTX_new(hmac);
        if (c->mac[i] == NULL || !EVP_MAC_init(c->mac[i], key, 32, mp))
            goto cleanup;
    }
    ok = 1;
cleanup:
    EVP_CIPHER_free(cts);
    EVP_MAC_free(hmac);
    if (!ok)
        ceiling_free(c);
    return ok;
}

static int
ceiling_hmac(EVP_MAC_CTX *m, const uint8_t *p, size_t n)
{
    uint8_t out[EVP_MAX_MD_SIZE];
    size_t outl = 0;

    return EVP_MAC_init(m, NULL, 0, NULL) && EVP_MAC_update(m, p, n) &&
           EVP_MAC_final(m, out, &outl, sizeof(out));
}

static int
ceiling_cts(EVP_CIPHER_CTX *x, uint8_t *p, size_t n)
{
    static const uint8_t iv[16];
    int outl = 0;

    return EVP_CipherInit_ex2(x, NULL, NULL, iv, -1, NULL) &&
           EVP_CipherUpdate(x, p, &outl, p, (int)n);
}

/* One packet of len bytes of data: what its token costs in primitives
 * (the confounder and the header copy are encrypted too). */
static int
ceiling_packet(struct ceiling *c, int conf, size_t len)
{
    size_t n = conf ? 16 + len + 16 : len + 16;

    if (!conf)
        return ceiling_hmac(c->mac[0], c->buf, n) &&
               ceiling_hmac(c->mac[1], c->buf, n);
    return ceiling_hmac(c->mac[0], c->buf, n) &&
           ceiling_cts(c->enc, c->buf, n) && ceiling_cts(c->dec, c->buf, n) &&
           ceiling_hmac(c->mac[1], c->buf, n);
}

/* The data of one layer cell, cut into packets as our layer cuts it. */
static int
ceiling_cell(struct ceiling *c, int conf, size_t len, size_t maxout)
{
    size_t done, chunk;

    for (done = 0; done < len; done += chunk) {
        chunk = len - done < maxout ? len - done : maxout;
        if (!ceiling_packet(c, conf, chunk))
            return 0;
    }
    return 1;
}

static void
measure_ceiling(int conf)
{
    const char *mode = conf ? "conf" : "integ";
    /* our layer's maxoutbuf for 64 KiB packets (aes256-sha1) */
    size_t maxout = LAYER_MAXBUF - 4 - (conf ? 60 : 28);
    struct ceiling c;
    char key[64];
    int d, s;

    if (!ceiling_init(&c, LAYER_MAXBUF + 64)) {
        emit_layer_fail_rest(mode, 0, 0, "libcrypto has no AES-256-CBC-CTS "
                             "or HMAC-SHA1");
        return;
    }
    for (d = 0; d < 2; d++) {
        for (s = 0; s < 3; s++) {
            size_t len = layer_sizes[s], iters = opt.layer_bytes / len, i;
            struct stamp t0, t1;
            int ok = 1;

            if (iters < 4)
                iters = 4;
            t0 = now();
            for (i = 0; i < iters && ok; i++)
                ok = ceiling_cell(&c, conf, len, maxout);
            t1 = now();
            (void)snprintf(key, sizeof(key), "layer.%s.%s.%s", mode,
                           d == 0 ? "c2s" : "s2c", layer_sizes_name[s]);
            if (!ok) {
                emit_fail(key, "libcrypto failed");
                continue;
            }
            emit(key, mbps(iters * len, t1.cpu - t0.cpu));
            (void)snprintf(key, sizeof(key), "layer.%s.%s.%s.wall", mode,
                           d == 0 ? "c2s" : "s2c", layer_sizes_name[s]);
            emit(key, mbps(iters * len, t1.wall - t0.wall));
        }
    }
    ceiling_free(&c);
}

/* One primitive over a sealed 64 KiB token's bytes, many times: CPU us
 * per call. */
static void
measure_part(struct ceiling *c, const char *key, int which)
{
    static uint8_t copy[65536];
    size_t n = 16 + 65472 + 16, i, iters = 2000;
    struct stamp t0, t1;
    int ok = 1;

    t0 = now();
    for (i = 0; i < iters && ok; i++) {
        switch (which) {
        case 0:
            ok = ceiling_cts(c->enc, c->buf, n);
            break;
        case 1:
            ok = ceiling_cts(c->dec, c->buf, n);
            break;
        case 2:
            ok = ceiling_hmac(c->mac[0], c->buf, n);
            break;
        default:
            memcpy(copy, c->buf + (i & 1), sizeof(copy));
            /* the copy must happen: nothing reads it */
            __asm__ volatile("" : : "r"(copy) : "memory");
            break;
        }
    }
    t1 = now();
    if (!ok)
        emit_fail(key, "libcrypto failed");
    else
        emit(key, (t1.cpu - t0.cpu) * 1e6 / (double)iters);
}

/* openssl-ceiling has layer figures only, and their parts. */
static int
measure_openssl_ceiling(void)
{
    static const char *const parts[4] = { "prim.cts_enc", "prim.cts_dec",
                                          "prim.hmac", "prim.memcpy" };
    struct ceiling c;
    size_t f;
    int i;

    for (f = 0; f < N_FIGURES; f++) {
        if (strncmp(figures[f].key, "layer.", 6) != 0 &&
            strncmp(figures[f].key, "prim.", 5) != 0)
            emit_na(figures[f].key, "the primitives alone: no SASL, no "
                    "handshake");
    }
    if (!wanted("layer"))
        return 0;
    measure_ceiling(1);
    measure_ceiling(0);
    if (!ceiling_init(&c, LAYER_MAXBUF + 64)) {
        for (i = 0; i < 4; i++)
            emit_fail(parts[i], "libcrypto has no AES-256-CBC-CTS or HMAC");
        return 0;
    }
    for (i = 0; i < 4; i++)
        measure_part(&c, parts[i], i);
    ceiling_free(&c);
    return 0;
}

/* Set up, the first handshake, warm-up, then every measurement. */
static int
measure_subject(void)
{
    struct hs_stats st;
    char err[1024];
    size_t m0, m1;
    int i;

    if (cur == SUBJ_OPENSSL)
        return measure_openssl_ceiling();
    if (!subject_setup(err, sizeof(err))) {
        note("%s: setup failed: %s", subject_names[cur], err);
        return 1;
    }
    /* The first handshake: fetches the service ticket into the ccache if
     * it is not there yet (the only time the KDC is involved), and loads
     * whatever the libraries load lazily. */
    memset(&st, 0, sizeof(st));
    m0 = heap_in_use();
    if (!handshake(1, &st, err, sizeof(err))) {
        note("%s: the first handshake failed: %s", subject_names[cur], err);
        subject_teardown();
        return 1;
    }
    m1 = heap_in_use();
    emit("mem.first_hs", heap_delta(m1, m0));
    for (i = 0; i < opt.warmup; i++) {
        if (!handshake(1, &st, err, sizeof(err)))
            break;
    }
    if (opt.profile_layer > 0) {
        i = run_profile_layer(opt.profile_layer);
        subject_teardown();
        return i ? 0 : 1;
    }
    if (opt.profile > 0) {
        i = profile_handshakes(opt.profile);
        subject_teardown();
        return i ? 0 : 1;
    }
    if (wanted("hs")) {
        measure_handshakes(1);
        measure_handshakes(0);
    }
    if (wanted("ssf"))
        measure_ssf();
    if (wanted("mem"))
        measure_memory();
    if (wanted("layer")) {
        measure_layer(1);
        measure_layer(0);
    }
    subject_teardown();
    return 0;
}

static int
child_main(void)
{
    krb5_context held = NULL;
    int rc;

    pin_cpu(opt.cpu);
    /* --hold-krb5-context, an experiment: while any krb5_context is open,
     * MIT keeps the parsed krb5.conf, and the krb5_init_context that MIT's
     * GSS-API makes in nearly every call only stat()s the file instead of
     * parsing it again.  It shows what a plugin (or application) holding
     * one context for its lifetime would gain. */
    if (opt.hold_krb5 && krb5_init_context(&held) != 0)
        die("krb5_init_context failed");
    rc = measure_subject();
    if (held != NULL)
        krb5_free_context(held);
    return rc;
}

/* ---- parent: run the children, collect, print ---- */

enum cell_state { CELL_NONE = 0, CELL_OK, CELL_FAIL, CELL_NA };

struct cell {
    double v[MAX_RUNS];
    int n;
    enum cell_state state;       /* worst seen: FAIL > NA > OK */
    char why[256];
    double median, min, max;
};

static struct cell cells[N_SUBJECTS][N_FIGURES];
static char notes[64][512];
static int n_notes;

static int
figure_index(const char *key)
{
    size_t i;

    for (i = 0; i < N_FIGURES; i++) {
        if (strcmp(figures[i].key, key) == 0)
            return (int)i;
    }
    return -1;
}

static void
add_note(const char *text)
{
    int i;

    for (i = 0; i < n_notes; i++) {
        if (strcmp(notes[i], text) == 0)
            return;
    }
    if (n_notes < (int)(sizeof(notes) / sizeof(notes[0])))
        (void)snprintf(notes[n_notes++], sizeof(notes[0]), "%s", text);
}

static void
parse_line(enum subject s, char *line)
{
    char *key, *rest;
    struct cell *c;
    int fi;

    line[strcspn(line, "\n")] = '\0';
    if (line[0] == 'I' && line[1] == ' ') {
        add_note(line + 2);
        return;
    }
    if ((line[0] != 'F' && line[0] != 'X' && line[0] != 'N') || line[1] != ' ')
        return;
    key = line + 2;
    rest = strchr(key, ' ');
    if (rest == NULL)
        return;
    *rest++ = '\0';
    fi = figure_index(key);
    if (fi < 0)
        return;
    c = &cells[s][fi];
    switch (line[0]) {
    case 'F':
        if (c->n < MAX_RUNS)
            c->v[c->n++] = strtod(rest, NULL);
        if (c->state == CELL_NONE)
            c->state = CELL_OK;
        break;
    case 'X':
        if (c->state != CELL_FAIL)
            (void)snprintf(c->why, sizeof(c->why), "%s", rest);
        c->state = CELL_FAIL;
        break;
    case 'N':
        if (c->state != CELL_FAIL) {
            c->state = CELL_NA;
            (void)snprintf(c->why, sizeof(c->why), "%s", rest);
        }
        break;
    default:
        break;
    }
}

static const char *
child_args[32];

/* Run one child; its lines go into cells[s]. */
static void
run_child(enum subject s, int run)
{
    int fds[2], status, n = 0;
    char cpu[16], hs[16], conns[16], mib[16];
    pid_t pid;
    FILE *in;
    char line[MAX_LINE];

    if (pipe(fds) != 0)
        die("pipe: %s", strerror(errno));
    (void)snprintf(cpu, sizeof(cpu), "%d", opt.cpu);
    (void)snprintf(hs, sizeof(hs), "%d", opt.handshakes);
    (void)snprintf(conns, sizeof(conns), "%d", opt.mem_conns);
    (void)snprintf(mib, sizeof(mib), "%zu", opt.layer_bytes >> 20);
    child_args[n++] = opt.self;
    child_args[n++] = "--subject";
    child_args[n++] = subject_names[s];
    child_args[n++] = "--cpu";
    child_args[n++] = cpu;
    child_args[n++] = "--plugin";
    child_args[n++] = opt.plugin;
    child_args[n++] = "--cyrus-dir";
    child_args[n++] = opt.cyrus_dir;
    child_args[n++] = "--handshakes";
    child_args[n++] = hs;
    child_args[n++] = "--mem-conns";
    child_args[n++] = conns;
    child_args[n++] = "--layer-mib";
    child_args[n++] = mib;
    if (opt.quick)
        child_args[n++] = "--quick";
    if (opt.hold_krb5)
        child_args[n++] = "--hold-krb5-context";
    if (opt.only != NULL) {
        child_args[n++] = "--only";
        child_args[n++] = opt.only;
    }
    child_args[n] = NULL;
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        (void)close(fds[0]);
        if (dup2(fds[1], STDOUT_FILENO) < 0)
            _exit(127);
        (void)close(fds[1]);
        alarm(CHILD_TIMEOUT_S);
        execv(opt.self, (char *const *)child_args);
        fprintf(stderr, "bench: exec %s: %s\n", opt.self, strerror(errno));
        _exit(127);
    }
    (void)close(fds[1]);
    in = fdopen(fds[0], "r");
    if (in == NULL)
        die("fdopen: %s", strerror(errno));
    while (fgets(line, sizeof(line), in) != NULL)
        parse_line(s, line);
    fclose(in);
    if (waitpid(pid, &status, 0) < 0)
        die("waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char text[256];

        if (WIFSIGNALED(status))
            (void)snprintf(text, sizeof(text), "%s run %d: the child died "
                           "of signal %d (%s)", subject_names[s], run,
                           WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            (void)snprintf(text, sizeof(text), "%s run %d: the child "
                           "exited with status %d", subject_names[s], run,
                           WEXITSTATUS(status));
        add_note(text);
        fprintf(stderr, "bench: %s\n", text);
    }
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void
summarise(void)
{
    int s;
    size_t f;

    for (s = 0; s < N_SUBJECTS; s++) {
        for (f = 0; f < N_FIGURES; f++) {
            struct cell *c = &cells[s][f];
            double sorted[MAX_RUNS];

            if (c->n == 0)
                continue;
            memcpy(sorted, c->v, (size_t)c->n * sizeof(double));
            qsort(sorted, (size_t)c->n, sizeof(double), cmp_double);
            c->min = sorted[0];
            c->max = sorted[c->n - 1];
            c->median = c->n % 2 ? sorted[c->n / 2]
                                 : (sorted[c->n / 2 - 1] +
                                    sorted[c->n / 2]) / 2;
        }
    }
}

static int
usable(const struct cell *c)
{
    return c->state == CELL_OK && c->n > 0;
}

static void
fmt_num(char *buf, size_t size, double v, int decimals)
{
    double a = v < 0 ? -v : v;

    if (decimals == 0 && a >= 100)
        (void)snprintf(buf, size, "%.0f", v);
    else if (a >= 10 || v == (double)(long long)v)
        (void)snprintf(buf, size, "%.*f", v == (double)(long long)v ? 0 : 1,
                       v);
    else
        (void)snprintf(buf, size, "%.2f", v);
}

static void
fmt_ratio(char *buf, size_t size, const struct cell *c,
          const struct cell *ref)
{
    if (!usable(c) || !usable(ref) || ref->median == 0)
        (void)snprintf(buf, size, "-");
    else
        (void)snprintf(buf, size, "%.2f", c->median / ref->median);
}

static void
fmt_value(char *buf, size_t size, const struct cell *c, int decimals)
{
    char a[32], b[32], m[32];

    switch (c->state) {
    case CELL_FAIL:
        (void)snprintf(buf, size, "fails");
        return;
    case CELL_NA:
        (void)snprintf(buf, size, "n/a");
        return;
    case CELL_NONE:
        (void)snprintf(buf, size, "missing");
        return;
    case CELL_OK:
    default:
        break;
    }
    fmt_num(m, sizeof(m), c->median, decimals);
    if (c->min == c->max) {
        (void)snprintf(buf, size, "%s", m);
        return;
    }
    fmt_num(a, sizeof(a), c->min, decimals);
    fmt_num(b, sizeof(b), c->max, decimals);
    if (strcmp(a, b) == 0)
        (void)snprintf(buf, size, "%s", m);
    else
        (void)snprintf(buf, size, "%s (%s-%s)", m, a, b);
}

/* Did any subject report figure f (--only leaves some out)? */
static int
measured(size_t f)
{
    int s;

    for (s = 0; s < N_SUBJECTS; s++) {
        if (cells[s][f].state != CELL_NONE)
            return 1;
    }
    return 0;
}

static void
print_table(FILE *out)
{
    size_t f;
    int s, first;

    fprintf(out, "| figure | subject | median (min-max) | x cyrus-spnego | "
                 "x raw-krb5 | x openssl-ceiling |\n");
    fprintf(out, "|---|---|---:|---:|---:|---:|\n");
    for (f = 0; f < N_FIGURES; f++) {
        if (!figures[f].in_table || !measured(f))
            continue;
        first = 1;
        for (s = 0; s < N_SUBJECTS; s++) {
            char val[128], r1[16], r2[16], r3[16], label[160];

            if (!(opt.subject_mask & (1u << s)))
                continue;
            fmt_value(val, sizeof(val), &cells[s][f], figures[f].decimals);
            fmt_ratio(r1, sizeof(r1), &cells[s][f],
                      &cells[SUBJ_CYRUS_SPNEGO][f]);
            fmt_ratio(r2, sizeof(r2), &cells[s][f], &cells[SUBJ_RAW_KRB5][f]);
            fmt_ratio(r3, sizeof(r3), &cells[s][f], &cells[SUBJ_OPENSSL][f]);
            if (first)
                (void)snprintf(label, sizeof(label), "%s%s%s%s",
                               figures[f].label,
                               figures[f].unit[0] ? " [" : "",
                               figures[f].unit, figures[f].unit[0] ? "]" : "");
            else
                label[0] = '\0';
            first = 0;
            fprintf(out, "| %s | %s | %s | %s | %s | %s |\n", label,
                    subject_names[s], val, r1, r2, r3);
        }
    }
}

static void
print_failures(FILE *out)
{
    size_t f;
    int s, any = 0;

    for (s = 0; s < N_SUBJECTS; s++) {
        for (f = 0; f < N_FIGURES; f++) {
            const struct cell *c = &cells[s][f];

            if (c->state != CELL_FAIL || !figures[f].in_table)
                continue;
            if (!any)
                fprintf(out, "\nFailures:\n");
            any = 1;
            fprintf(out, "- %s %s: %s\n", subject_names[s], figures[f].key,
                    c->why);
        }
    }
    if (n_notes > 0)
        fprintf(out, "\nNotes from the runs:\n");
    for (s = 0; s < n_notes; s++)
        fprintf(out, "- %s\n", notes[s]);
}

/* The cell of subject s for the figure called key, or NULL. */
static const struct cell *
cell_of(int s, const char *key)
{
    size_t f;

    for (f = 0; f < N_FIGURES; f++) {
        if (strcmp(figures[f].key, key) == 0)
            return &cells[s][f];
    }
    return NULL;
}

/* Where the fast layer's time goes at 64 KiB, sealed, client encode +
 * server decode: its measured time per 64 KiB against openssl-ceiling's
 * parts, timed natively (callgrind would run another code path: valgrind
 * hides the CPU's SHA instructions). */
static void
print_profile(FILE *out)
{
    const struct cell *ours = cell_of(SUBJ_OURS, "layer.conf.c2s.64k");
    const struct cell *enc = cell_of(SUBJ_OPENSSL, "prim.cts_enc");
    const struct cell *dec = cell_of(SUBJ_OPENSSL, "prim.cts_dec");
    const struct cell *mac = cell_of(SUBJ_OPENSSL, "prim.hmac");
    const struct cell *cpy = cell_of(SUBJ_OPENSSL, "prim.memcpy");
    double total, parts;

    if (ours == NULL || !usable(ours) || ours->median <= 0 || enc == NULL ||
        !usable(enc) || dec == NULL || !usable(dec) || mac == NULL ||
        !usable(mac) || cpy == NULL || !usable(cpy))
        return;
    total = 65536.0 / ours->median; /* MB/s = bytes per us */
    parts = enc->median + dec->median + 2 * mac->median + 2 * cpy->median;
    fprintf(out, "\nWhere the fast layer's time goes (ours, sealed, 64 KiB, "
                 "client encode + server decode; medians, CPU time):\n\n");
    fprintf(out, "| part | us per 64 KiB | share |\n|---|---:|---:|\n");
    fprintf(out, "| AES-256-CBC-CTS encryption (serial CBC) | %.1f | %.0f%% |\n",
            enc->median, 100 * enc->median / total);
    fprintf(out, "| AES-256-CBC-CTS decryption | %.1f | %.0f%% |\n",
            dec->median, 100 * dec->median / total);
    fprintf(out, "| HMAC-SHA1, twice (sender and receiver) | %.1f | %.0f%% |\n",
            2 * mac->median, 200 * mac->median / total);
    fprintf(out, "| two copies of 64 KiB (plaintext into the packet; "
                 "received bytes into the reassembly buffer) | %.1f | %.0f%% |\n",
            2 * cpy->median, 200 * cpy->median / total);
    fprintf(out, "| the rest: framing, headers, libsasl2, the benchmark loop "
                 "| %.1f | %.0f%% |\n", total - parts,
            100 * (total - parts) / total);
    fprintf(out, "| total (ours, measured) | %.1f | 100%% |\n", total);
}

static void
json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(out, "\\u%04x", (unsigned char)*s);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

static void
json_ratio(FILE *out, const char *name, const struct cell *c,
           const struct cell *ref)
{
    fprintf(out, ",\"%s\":", name);
    if (!usable(c) || !usable(ref) || ref->median == 0)
        fprintf(out, "null");
    else
        fprintf(out, "%.6g", c->median / ref->median);
}

static void
write_json(const char *path)
{
    FILE *out = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    static const char *const state_names[] = { "missing", "ok", "fails",
                                               "n/a" };
    size_t f;
    int s, i;

    if (out == NULL)
        die("%s: %s", path, strerror(errno));
    for (f = 0; f < N_FIGURES; f++) {
        if (!measured(f))
            continue;
        for (s = 0; s < N_SUBJECTS; s++) {
            const struct cell *c = &cells[s][f];

            if (!(opt.subject_mask & (1u << s)))
                continue;
            fprintf(out, "{\"figure\":\"%s\",\"label\":", figures[f].key);
            json_string(out, figures[f].label);
            fprintf(out, ",\"unit\":\"%s\",\"subject\":\"%s\",\"status\":"
                         "\"%s\"", figures[f].unit, subject_names[s],
                    state_names[c->state]);
            if (usable(c)) {
                fprintf(out, ",\"median\":%.9g,\"min\":%.9g,\"max\":%.9g,"
                             "\"runs\":[", c->median, c->min, c->max);
                for (i = 0; i < c->n; i++)
                    fprintf(out, "%s%.9g", i ? "," : "", c->v[i]);
                fputc(']', out);
            }
            json_ratio(out, "vs_cyrus_spnego", c,
                       &cells[SUBJ_CYRUS_SPNEGO][f]);
            json_ratio(out, "vs_raw_krb5", c, &cells[SUBJ_RAW_KRB5][f]);
            json_ratio(out, "vs_openssl_ceiling", c, &cells[SUBJ_OPENSSL][f]);
            if (c->why[0] != '\0') {
                fprintf(out, ",\"why\":");
                json_string(out, c->why);
            }
            fprintf(out, "}\n");
        }
    }
    if (out != stdout)
        fclose(out);
}

static int
parent_main(void)
{
    int r, s;

    pin_cpu(opt.cpu);
    for (r = 1; r <= opt.runs; r++) {
        for (s = 0; s < N_SUBJECTS; s++) {
            if (!(opt.subject_mask & (1u << s)))
                continue;
            fprintf(stderr, "bench: run %d/%d: %s\n", r, opt.runs,
                    subject_names[s]);
            run_child((enum subject)s, r);
        }
    }
    summarise();
    printf("GSS-SPNEGO benchmark: %d runs, %d handshakes per run and mode, "
           "%zu MiB per layer cell and run, %d connections for memory, "
           "pinned to CPU %d\n\n", opt.runs, opt.handshakes,
           opt.layer_bytes >> 20, opt.mem_conns, opt.cpu);
    print_table(stdout);
    print_profile(stdout);
    print_failures(stdout);
    if (opt.json != NULL)
        write_json(opt.json);
    return 0;
}

/* ---- main ---- */

static void
usage(void)
{
    fprintf(stderr,
            "usage: bench [--runs N] [--quick] [--cpu N] [--plugin PATH]\n"
            "             [--cyrus-dir DIR] [--json FILE] [--subjects "
            "a,b,...]\n"
            "             [--handshakes N] [--layer-mib N] [--mem-conns N]\n"
            "             [--hold-krb5-context] [--only hs,ssf,mem,layer]\n"
            "       bench --subject NAME [--profile N] [...]   (one "
            "subject, raw lines)\n"
            "subjects: ours, cyrus-spnego, cyrus-gssapi, raw-krb5\n"
            "Run under tests/fixture/with-krb5.\n");
    exit(2);
}

static int
parse_int(const char *s, int lo, int hi)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);

    if (end == s || *end != '\0' || v < lo || v > hi)
        die("\"%s\" is not a number from %d to %d", s, lo, hi);
    return (int)v;
}

static int
subject_by_name(const char *name)
{
    int s;

    for (s = 0; s < N_SUBJECTS; s++) {
        if (strcmp(subject_names[s], name) == 0)
            return s;
    }
    die("unknown subject \"%s\" (ours, cyrus-spnego, cyrus-gssapi, "
        "raw-krb5)", name);
    return -1;
}

static unsigned
parse_subjects(const char *list)
{
    char buf[256], *tok, *save = NULL;
    unsigned mask = 0;

    (void)snprintf(buf, sizeof(buf), "%s", list);
    for (tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save))
        mask |= 1u << subject_by_name(tok);
    return mask;
}

static char default_plugin[1024];
static char self_path[PATH_MAX];

int
main(int argc, char **argv)
{
    const char *top = getenv("top_builddir");
    int i, handshakes = 0, mem_conns = 0, layer_mib = 0;
    ssize_t n;

    (void)snprintf(default_plugin, sizeof(default_plugin),
                   "%s/plugins/.libs/libgssspnego.so",
                   top != NULL ? top : ".");
    opt.runs = 5;
    opt.cpu = 0;
    opt.plugin = default_plugin;
    opt.cyrus_dir = "/usr/lib/x86_64-linux-gnu/sasl2";
    opt.subject_mask = (1u << N_SUBJECTS) - 1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--quick") == 0) {
            opt.quick = 1;
            continue;
        }
        if (strcmp(a, "--hold-krb5-context") == 0) {
            opt.hold_krb5 = 1;
            continue;
        }
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--runs") == 0)
            opt.runs = parse_int(v, 1, MAX_RUNS);
        else if (strcmp(a, "--cpu") == 0)
            opt.cpu = parse_int(v, 0, CPU_SETSIZE - 1);
        else if (strcmp(a, "--plugin") == 0)
            opt.plugin = v;
        else if (strcmp(a, "--cyrus-dir") == 0)
            opt.cyrus_dir = v;
        else if (strcmp(a, "--json") == 0)
            opt.json = v;
        else if (strcmp(a, "--subject") == 0)
            opt.subject = v;
        else if (strcmp(a, "--subjects") == 0)
            opt.subject_mask = parse_subjects(v);
        else if (strcmp(a, "--handshakes") == 0)
            handshakes = parse_int(v, 1, 1000000);
        else if (strcmp(a, "--mem-conns") == 0)
            mem_conns = parse_int(v, 1, 100000);
        else if (strcmp(a, "--layer-mib") == 0)
            layer_mib = parse_int(v, 1, 65536);
        else if (strcmp(a, "--only") == 0)
            opt.only = v;
        else if (strcmp(a, "--profile") == 0)
            opt.profile = parse_int(v, 1, 1000000);
        else if (strcmp(a, "--profile-layer") == 0)
            opt.profile_layer = parse_int(v, 1, 1000000);
        else
            usage();
    }
    opt.handshakes = handshakes ? handshakes : opt.quick ? 100 : 400;
    /* --profile: a short warm-up (the first handshake stores the service
     * ticket, which changes the ccache and makes the next one re-acquire
     * credentials), so that the call counts callgrind keeps for the whole
     * run cover N + 5 handshakes. */
    opt.warmup = opt.profile || opt.profile_layer ? 4 : opt.quick ? 5 : 20;
    opt.mem_conns = mem_conns ? mem_conns : opt.quick ? 20 : 100;
    opt.layer_bytes = (size_t)(layer_mib ? layer_mib : opt.quick ? 4 : 32)
                      << 20;
    opt.host = getenv("SPNEGO_TEST_HOST");
    if (opt.host == NULL) {
        fprintf(stderr, "bench: run me under tests/fixture/with-krb5 "
                        "(SPNEGO_TEST_HOST is not set)\n");
        return 77;
    }
    /* A relative --plugin must survive the children's own lookups. */
    if (opt.plugin[0] != '/') {
        static char abs_plugin[PATH_MAX];

        if (realpath(opt.plugin, abs_plugin) != NULL)
            opt.plugin = abs_plugin;
    }
    n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
    if (n <= 0)
        die("readlink /proc/self/exe: %s", strerror(errno));
    self_path[n] = '\0';
    opt.self = self_path;
    if (opt.subject != NULL) {
        cur = (enum subject)subject_by_name(opt.subject);
        return child_main();
    }
    return parent_main();
}
