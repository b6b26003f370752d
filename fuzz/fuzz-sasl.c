/* fuzz-sasl.c - libsasl2 set-up and input format shared by the SASL fuzz
 * targets.  See fuzz-sasl.h. */
#include "fuzz-sasl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libsasl2 stores every callback as int (*)(void); going through
 * void (*)(void) is the cast C allows between function types. */
#define CB(f) ((int (*)(void))(void (*)(void))(f))

static const char *host;
static const char cb_data[] = "tls-server-end-point:fuzz-channel-binding";

int
fuzz_verbose(void)
{
    static int v = -1;

    if (v < 0)
        v = getenv("FUZZ_VERBOSE") != NULL;
    return v;
}

/* ---- input format ---- */

void
fuzz_config_from_byte(uint8_t byte, struct fuzz_config *cfg_out)
{
    static const char *const client_mechs[4] = { NULL, "krb5", "ntlmssp",
                                                 "ntlmssp krb5" };
    static const char *const server_mechs[4] = { NULL, "krb5", "ntlmssp",
                                                 "krb5" };
    static const unsigned ssf[4] = { 0, 1, 256, 256 };
    unsigned m = (byte >> 1) & 3u;

    memset(cfg_out, 0, sizeof(*cfg_out));
    cfg_out->flags = (byte & 1u) ? SASL_SUCCESS_DATA : 0;
    cfg_out->client_mechs = client_mechs[m];
    cfg_out->server_mechs = server_mechs[m];
    cfg_out->send_mic = (byte & 8u) ? "always" : "auto";
    cfg_out->max_ssf = ssf[(byte >> 4) & 3u];
    cfg_out->cb = (byte & 0x40u) != 0;
    cfg_out->max_token = (byte & 0x80u) ? "1000" : NULL;
}

void
fuzz_split(const uint8_t *data, size_t size, struct fuzz_input *in_out)
{
    size_t off = 1;

    memset(in_out, 0, sizeof(*in_out));
    if (size == 0)
        return;
    in_out->config = data[0];
    while (in_out->n < FUZZ_MAX_MSGS && size - off >= 2) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];

        off += 2;
        if (len > size - off)
            len = size - off;
        in_out->msg[in_out->n] = data + off;
        in_out->len[in_out->n] = len;
        in_out->n++;
        off += len;
    }
}

int
fuzz_write_input(const char *path, uint8_t config,
                 const uint8_t *const *msg, const size_t *len, size_t n)
{
    FILE *f = NULL;
    size_t i;
    int ok = 0;

    for (i = 0; i < n; i++) {
        if (len[i] > 0xffff) {
            errno = EMSGSIZE;
            return 0;
        }
    }
    f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    if (fputc(config, f) == EOF)
        goto cleanup;
    for (i = 0; i < n; i++) {
        uint8_t hdr[2] = { (uint8_t)(len[i] >> 8), (uint8_t)len[i] };

        if (fwrite(hdr, 1, 2, f) != 2 ||
            (len[i] > 0 && fwrite(msg[i], 1, len[i], f) != len[i]))
            goto cleanup;
    }
    ok = 1;
cleanup:
    if (fclose(f) != 0)
        ok = 0;
    return ok;
}

/* ---- callbacks ---- */

static int
global_log_cb(void *ctx, int level, const char *message)
{
    /* At set-up, warnings and errors always show: a plugin that does not
     * load says why here (e.g. an undefined __asan symbol). */
    if (level <= SASL_LOG_WARN || fuzz_verbose())
        fprintf(stderr, "[%s libsasl2 %d] %s\n", (const char *)ctx, level,
                message);
    return SASL_OK;
}

static int
log_cb(void *ctx, int level, const char *message)
{
    const struct fuzz_conn *fc = ctx;

    if (fuzz_verbose())
        fprintf(stderr, "  [%s %d] %s\n", fc->role, level, message);
    return SASL_OK;
}

static int
getopt_cb(void *ctx, const char *plugin, const char *option,
          const char **result, unsigned *len)
{
    const struct fuzz_conn *fc = ctx;

    (void)plugin;
    *result = NULL;
    if (strcmp(option, "mech_list") == 0)
        *result = "GSS-SPNEGO";
    else if (strcmp(option, "spnego_mechs") == 0)
        *result = fc->server ? fc->cfg.server_mechs : fc->cfg.client_mechs;
    else if (strcmp(option, "spnego_send_mic") == 0)
        *result = fc->cfg.send_mic;
    else if (strcmp(option, "spnego_max_token") == 0)
        *result = fc->cfg.max_token;
    if (*result == NULL)
        return SASL_FAIL;
    if (len != NULL)
        *len = (unsigned)strlen(*result);
    return SASL_OK;
}

/* ---- process set-up ---- */

static void
find_plugin(const char *prog, char *buf)
{
    const char *env = getenv("SPNEGO_PLUGIN");
    const char *top = getenv("top_builddir");
    char want[PATH_MAX];

    if (env != NULL && env[0] != '\0')
        (void)snprintf(want, sizeof(want), "%s", env);
    else
        (void)snprintf(want, sizeof(want), "%s/plugins/.libs/libgssspnego.so",
                       top != NULL ? top : ".");
    if (realpath(want, buf) == NULL) {
        fprintf(stderr, "%s: cannot find the plugin %s (%s); set "
                "SPNEGO_PLUGIN to the libgssspnego.so to load, or "
                "top_builddir to the build directory\n", prog, want,
                strerror(errno));
        exit(1);
    }
}

static int
mech_loaded(void)
{
    const char **m = sasl_global_listmech();

    for (; m != NULL && *m != NULL; m++) {
        if (strcmp(*m, "GSS-SPNEGO") == 0)
            return 1;
    }
    return 0;
}

/*
 * The plugin directory: /tmp/spnego-fuzz-plugins.UID.HASH, HASH of the
 * plugin's path, holding one symlink to the plugin.  It is kept after
 * the run (and reused by the next with the same plugin): libsasl2
 * dlopens the plugin under this path, and sanitizer reports, at a crash
 * or at exit, symbolize the plugin's frames from it.  A directory that
 * is not ours alone is refused.
 */
static void
make_plugin_dir(const char *prog, const char *so, char *dir, size_t size)
{
    char link_path[PATH_MAX + 32], tmp_path[PATH_MAX + 64];
    unsigned long h = 5381;
    const char *p;
    struct stat st;

    for (p = so; *p != '\0'; p++)
        h = (h * 33u) ^ (unsigned char)*p;
    (void)snprintf(dir, size, "/tmp/spnego-fuzz-plugins.%lu.%08lx",
                   (unsigned long)getuid(), h & 0xffffffffu);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: cannot make the plugin directory %s: %s\n",
                prog, dir, strerror(errno));
        exit(1);
    }
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != getuid() || (st.st_mode & 077) != 0) {
        fprintf(stderr, "%s: %s is not a directory of ours alone (mode "
                "0700); remove it\n", prog, dir);
        exit(1);
    }
    (void)snprintf(link_path, sizeof(link_path), "%s/libgssspnego.so", dir);
    (void)snprintf(tmp_path, sizeof(tmp_path), "%s/.libgssspnego.so.%ld",
                   dir, (long)getpid());
    (void)unlink(tmp_path);
    if (symlink(so, tmp_path) != 0 || rename(tmp_path, link_path) != 0) {
        fprintf(stderr, "%s: cannot link %s to %s: %s\n", prog, link_path,
                so, strerror(errno));
        (void)unlink(tmp_path);
        exit(1);
    }
}

void
fuzz_sasl_setup(const char *prog, int tap_skip)
{
    static int done;
    static sasl_callback_t global_cb[2];
    char so[PATH_MAX], dir[PATH_MAX];

    if (done)
        return;
    host = getenv("SPNEGO_TEST_HOST");
    if (host == NULL || getenv("KRB5_KTNAME") == NULL) {
        if (tap_skip) {
            printf("1..0 # SKIP %s: not inside tests/fixture/with-krb5\n",
                   prog);
            exit(0);
        }
        fprintf(stderr, "%s: KRB5_KTNAME or SPNEGO_TEST_HOST is not set: "
                "this target needs the test realm; run it as\n"
                "  tests/fixture/with-krb5 fuzz/%s [libFuzzer options] "
                "[CORPUS_DIR...]\n", prog, prog);
        exit(1);
    }
    /* The client would read its mechanisms from here; the configuration
     * byte decides them. */
    (void)unsetenv("SPNEGO_MECHS");
    find_plugin(prog, so);
    make_plugin_dir(prog, so, dir, sizeof(dir));
    global_cb[0].id = SASL_CB_LOG;
    global_cb[0].proc = CB(global_log_cb);
    global_cb[0].context = (void *)prog;
    global_cb[1].id = SASL_CB_LIST_END;
    if (sasl_set_path(SASL_PATH_TYPE_PLUGIN, dir) != SASL_OK ||
        sasl_client_init(global_cb) != SASL_OK ||
        sasl_server_init(global_cb, "spnego-fuzz") != SASL_OK) {
        fprintf(stderr, "%s: libsasl2 initialisation failed\n", prog);
        exit(1);
    }
    if (!mech_loaded()) {
        fprintf(stderr, "%s: libsasl2 did not load GSS-SPNEGO from %s (see "
                "its messages above); a plugin built with a sanitizer must "
                "be loaded into a process built with the same compiler's "
                "sanitizer\n", prog, so);
        exit(1);
    }
    if (fuzz_verbose())
        fprintf(stderr, "%s: plugin %s (in %s), host %s\n", prog, so, dir,
                host);
    done = 1;
}

/* ---- connections ---- */

int
fuzz_conn_new(struct fuzz_conn *fc, int server, const struct fuzz_config *cfg)
{
    sasl_security_properties_t p;
    int r;

    memset(fc, 0, sizeof(*fc));
    fc->cfg = *cfg;
    fc->server = server;
    fc->role = server ? "server" : "client";
    fc->cb[0].id = SASL_CB_GETOPT;
    fc->cb[0].proc = CB(getopt_cb);
    fc->cb[0].context = fc;
    fc->cb[1].id = SASL_CB_LOG;
    fc->cb[1].proc = CB(log_cb);
    fc->cb[1].context = fc;
    fc->cb[2].id = SASL_CB_LIST_END;
    if (server)
        r = sasl_server_new("ldap", host, NULL, NULL, NULL, fc->cb,
                            cfg->flags, &fc->conn);
    else
        r = sasl_client_new("ldap", host, NULL, NULL, fc->cb, 0, &fc->conn);
    if (r != SASL_OK)
        return r;
    memset(&p, 0, sizeof(p));
    p.min_ssf = 0;
    p.max_ssf = cfg->max_ssf;
    p.maxbufsize = 65536;
    r = sasl_setprop(fc->conn, SASL_SEC_PROPS, &p);
    if (r == SASL_OK && cfg->cb) {
        fc->binding.name = "tls-server-end-point";
        fc->binding.critical = 0;
        fc->binding.len = sizeof(cb_data) - 1;
        fc->binding.data = (const unsigned char *)cb_data;
        r = sasl_setprop(fc->conn, SASL_CHANNEL_BINDING, &fc->binding);
    }
    return r;
}

void
fuzz_conn_free(struct fuzz_conn *fc)
{
    sasl_dispose(&fc->conn);
}

unsigned
fuzz_touch(const char *out, unsigned len)
{
    unsigned h = 0, i;

    for (i = 0; i < len; i++)
        h = h * 31u + (unsigned char)out[i];
    return h;
}

char *
fuzz_own_copy(const uint8_t *msg, size_t len)
{
    char *p = malloc(len > 0 ? len : 1);

    if (p == NULL)
        abort();
    if (len > 0)
        memcpy(p, msg, len);
    return p;
}
