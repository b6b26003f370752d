/*
 * fuzz-sasl.h - what the SASL fuzz targets (fuzz-sasl-server.c,
 * fuzz-sasl-client.c) and their seed generator (gen-sasl-seeds.c) share:
 * libsasl2 set up once with a plugin directory holding only our plugin,
 * the callbacks of both roles, and the input format.
 *
 * Input format: one configuration byte (struct fuzz_config), then up to
 * FUZZ_MAX_MSGS messages, each a 2-byte big-endian length and that many
 * bytes (fewer if the input ends first; trailing bytes after the last
 * message are ignored).
 *
 * Everything here needs the throwaway realm of tests/fixture/with-krb5.
 */
#ifndef SPNEGO_FUZZ_SASL_H
#define SPNEGO_FUZZ_SASL_H

#include <stddef.h>
#include <stdint.h>

#include <sasl/sasl.h>

#define FUZZ_MAX_MSGS 8

/* The configuration byte, bit by bit:
 *   0     server: SASL_SUCCESS_DATA
 *   1-2   spnego_mechs, client / server:
 *           0 default / default, 1 krb5 / krb5, 2 ntlmssp / ntlmssp,
 *           3 "ntlmssp krb5" / krb5 (a counter-proposal)
 *   3     spnego_send_mic: 0 auto, 1 always
 *   4-5   max_ssf: 0 -> 0, 1 -> 1, 2 and 3 -> 256
 *   6     channel bindings (the same on both sides)
 *   7     spnego_max_token 1000 (else the default) */
struct fuzz_config {
    unsigned flags;          /* sasl_server_new flags */
    const char *client_mechs;
    const char *server_mechs;
    const char *send_mic;
    const char *max_token;   /* NULL: the default */
    unsigned max_ssf;
    int cb;
};

void fuzz_config_from_byte(uint8_t byte, struct fuzz_config *cfg_out);

struct fuzz_input {
    uint8_t config;
    const uint8_t *msg[FUZZ_MAX_MSGS]; /* point into the input */
    size_t len[FUZZ_MAX_MSGS];
    size_t n;
};

/* Split an input (see above).  Never fails: an empty input is config 0
 * and no messages. */
void fuzz_split(const uint8_t *data, size_t size, struct fuzz_input *in_out);

/* Write an input in the format above to `path`; messages longer than
 * 65535 bytes are refused.  Returns 1, or 0 (with errno) on failure. */
int fuzz_write_input(const char *path, uint8_t config,
                     const uint8_t *const *msg, const size_t *len, size_t n);

/*
 * Process setup, once (later calls return at once): check that we run
 * inside tests/fixture/with-krb5, point libsasl2 at a plugin directory
 * holding only a symlink to the plugin ($SPNEGO_PLUGIN, else
 * $top_builddir/plugins/.libs/libgssspnego.so), sasl_client_init and
 * sasl_server_init, check that GSS-SPNEGO loaded.  The directory,
 * /tmp/spnego-fuzz-plugins.UID.HASH, stays for sanitizer reports to
 * symbolize the plugin and is reused by later runs.  Does not return on
 * failure: prints what is wrong to stderr and exits 1, or, when tap_skip
 * is set (the corpus replayer) and the fixture is missing, prints a TAP
 * skip plan and exits 0.
 */
void fuzz_sasl_setup(const char *prog, int tap_skip);

/* One connection and the callbacks it points to (they must outlive it). */
struct fuzz_conn {
    sasl_conn_t *conn;
    sasl_callback_t cb[4];
    struct fuzz_config cfg;
    int server;
    const char *role;        /* "client" or "server", for the log */
    sasl_channel_binding_t binding;
};

/* A fresh connection of one role with cfg's options and security
 * properties (min_ssf 0, maxbufsize 65536).  fc must stay at its address
 * until fuzz_conn_free.  Returns a SASL code. */
int fuzz_conn_new(struct fuzz_conn *fc, int server,
                  const struct fuzz_config *cfg);
void fuzz_conn_free(struct fuzz_conn *fc);

/* Read every byte of out[0..len) (so ASan checks the buffer); returns
 * a value that depends on them. */
unsigned fuzz_touch(const char *out, unsigned len);

/* msg in a malloc'd buffer of its own (never NULL; aborts when out of
 * memory), so that ASan sees a read past its end instead of into the next
 * message of the input.  Free with free(). */
char *fuzz_own_copy(const uint8_t *msg, size_t len);

/* 1 if $FUZZ_VERBOSE is set: log callbacks and outcomes go to stderr. */
int fuzz_verbose(void);

#endif /* SPNEGO_FUZZ_SASL_H */
