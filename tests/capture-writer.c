/*
 * capture-writer.c - packet captures of LDAP GSS-SPNEGO binds for
 * tests/test-capture.sh (spnego-dump reading captures, issue 16).
 *
 *   capture-writer DIR      (inside tests/fixture/with-krb5)
 *
 * Each capture is a real exchange between our client and our server
 * through libsasl2 in the test realm, its tokens put into LDAP
 * BindRequest/BindResponse messages (BER with OpenLDAP's 4-byte lengths)
 * and those into Ethernet/IPv4/TCP packets on 127.0.0.1, as tcpdump -i lo
 * would have seen them:
 *   DIR/krb5-layer.pcapng  Kerberos, success, sealed layer packets both
 *                          ways; pcapng; segments of at most 300 bytes,
 *                          one retransmitted and two swapped
 *   DIR/ntlm-nosign.pcap   NTLM without signing (client maxssf 0) against
 *                          a server that requires a layer (min_ssf 1)
 *   DIR/krb5-gap.pcap      the same, Ethernet, with one of the client's
 *                          segments never captured
 *   DIR/cb-mismatch.pcap   NTLM with channel bindings that differ between
 *                          client and server; Linux cooked header and
 *                          IPv6 (::1), as tcpdump -i any records
 *   DIR/krb5-nokey.pcap    Kerberos to a server whose keytab has no key
 *                          for the service
 * Exit status 0, or 1 with a message.
 */
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>

#include "sasl-harness.h"

/* cmocka's assertions are used by the harness; this program is not a
 * cmocka test, so a failed assertion there ends it. */

#define MAX_EVENTS 32
#define MAX_FRAMES 256

struct event {
    enum hx_dir dir;
    uint8_t *data;
    size_t len;
};

struct recording {
    struct event ev[MAX_EVENTS];
    size_t n;
};

struct frame {
    uint8_t *bytes;
    size_t len;
};

struct wire {
    struct frame f[MAX_FRAMES];
    size_t n;
    uint32_t seq[2];       /* next sequence number per direction */
    size_t mss;
    int sll_v6;            /* Linux cooked header and IPv6 (tcpdump -i any
                            * on ::1), else Ethernet and IPv4 */
};

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "capture-writer: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void *
xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);

    if (p == NULL)
        die("%s", "out of memory");
    return p;
}

static void
record(void *arg, enum hx_dir dir, unsigned index, struct hx_msg *msg)
{
    struct recording *r = arg;

    (void)index;
    if (r->n == MAX_EVENTS)
        die("%s", "too many messages");
    r->ev[r->n].dir = dir;
    r->ev[r->n].data = xmalloc(msg->len);
    memcpy(r->ev[r->n].data, msg->data, msg->len);
    r->ev[r->n].len = msg->len;
    r->n++;
}

/* ---- LDAP in BER, with OpenLDAP's 4-byte lengths ---- */

struct buf {
    uint8_t *p;
    size_t len;
};

static void
put(struct buf *b, const void *data, size_t n)
{
    uint8_t *grown = realloc(b->p, b->len + n + 1);

    if (grown == NULL)
        die("%s", "out of memory");
    b->p = grown;
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void
put_tlv(struct buf *b, uint8_t tag, const void *data, size_t n)
{
    uint8_t h[6] = { tag, 0x84, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
                     (uint8_t)(n >> 8), (uint8_t)n };

    put(b, h, sizeof(h));
    put(b, data, n);
}

static struct buf
ldap_message(unsigned id, uint8_t op, const struct buf *body)
{
    struct buf msg = { NULL, 0 }, out = { NULL, 0 };
    uint8_t idb[3] = { 0x02, 0x01, (uint8_t)id };

    put(&msg, idb, sizeof(idb));
    put_tlv(&msg, op, body->p, body->len);
    put_tlv(&out, 0x30, msg.p, msg.len);
    free(msg.p);
    return out;
}

static struct buf
bind_request(unsigned id, const struct event *e)
{
    struct buf sasl = { NULL, 0 }, body = { NULL, 0 }, out;
    static const uint8_t version[] = { 0x02, 0x01, 0x03, 0x04, 0x00 };

    put_tlv(&sasl, 0x04, "GSS-SPNEGO", 10);
    if (e != NULL)
        put_tlv(&sasl, 0x04, e->data, e->len);
    put(&body, version, sizeof(version));
    put_tlv(&body, 0xa3, sasl.p, sasl.len);
    out = ldap_message(id, 0x60, &body);
    free(sasl.p);
    free(body.p);
    return out;
}

static struct buf
bind_response(unsigned id, unsigned code, const char *diag,
              const struct event *e)
{
    struct buf body = { NULL, 0 }, out;
    uint8_t rc[3] = { 0x0a, 0x01, (uint8_t)code };

    put(&body, rc, sizeof(rc));
    put_tlv(&body, 0x04, "", 0);
    put_tlv(&body, 0x04, diag, strlen(diag));
    if (e != NULL && e->len > 0)
        put_tlv(&body, 0x87, e->data, e->len);
    out = ldap_message(id, 0x61, &body);
    free(body.p);
    return out;
}

/* ---- TCP/IP/Ethernet frames ---- */

static void
be16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void
be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#define CLIENT_PORT 40312
#define SERVER_PORT 389

/* One frame from dir (0: client) with TCP flags and data. */
/* The link and IP headers of a frame; returns where TCP starts. */
static uint8_t *
link_ip(const struct wire *w, uint8_t *f, size_t tcp_len)
{
    uint8_t *ip;

    if (w->sll_v6) {
        /* Linux cooked v1: packet type, ARPHRD_LOOPBACK, address, proto */
        memset(f, 0, 16 + 40);
        be16(f + 2, 772);
        be16(f + 14, 0x86dd);
        ip = f + 16;
        ip[0] = 0x60;
        be16(ip + 4, (unsigned)tcp_len);
        ip[6] = 6;
        ip[7] = 64;
        ip[23] = 1; /* ::1 */
        ip[39] = 1;
        return ip + 40;
    }
    memset(f, 0, 14 + 20);
    f[12] = 0x08; /* IPv4 */
    ip = f + 14;
    ip[0] = 0x45;
    be16(ip + 2, (unsigned)(20 + tcp_len));
    ip[8] = 64;
    ip[9] = 6;
    ip[12] = 127;
    ip[15] = 1;
    ip[16] = 127;
    ip[19] = 1;
    return ip + 20;
}

static void
frame(struct wire *w, int dir, uint8_t flags, const uint8_t *data, size_t n)
{
    size_t head = w->sll_v6 ? 16 + 40 : 14 + 20, len = head + 20 + n;
    uint8_t *f = xmalloc(len), *tcp;

    if (w->n == MAX_FRAMES)
        die("%s", "too many frames");
    tcp = link_ip(w, f, 20 + n);
    memset(tcp, 0, 20);
    be16(tcp, dir == 0 ? CLIENT_PORT : SERVER_PORT);
    be16(tcp + 2, dir == 0 ? SERVER_PORT : CLIENT_PORT);
    be32(tcp + 4, w->seq[dir]);
    be32(tcp + 8, w->seq[1 - dir]);
    tcp[12] = 0x50;
    tcp[13] = flags;
    be16(tcp + 14, 65535);
    if (n > 0)
        memcpy(tcp + 20, data, n);
    w->f[w->n].bytes = f;
    w->f[w->n].len = len;
    w->n++;
    w->seq[dir] += (uint32_t)n + ((flags & 0x03) ? 1u : 0u);
}

static void
send_bytes(struct wire *w, int dir, const struct buf *b)
{
    size_t off = 0, n;

    while (off < b->len) {
        n = b->len - off < w->mss ? b->len - off : w->mss;
        frame(w, dir, 0x18, b->p + off, n); /* PSH ACK */
        off += n;
    }
}

static void
handshake(struct wire *w)
{
    w->seq[0] = 1000000;
    w->seq[1] = 4294966000u; /* wraps around during the connection */
    frame(w, 0, 0x02, NULL, 0);
    frame(w, 1, 0x12, NULL, 0);
    frame(w, 0, 0x10, NULL, 0);
}

/* ---- the exchanges as LDAP ---- */

/* The recorded exchange as LDAP binds on the wire; result/diag of the
 * server's final answer when it failed. */
static void
binds(struct wire *w, const struct recording *r, int server_ok,
      unsigned fail_code, const char *diag)
{
    unsigned id = 1;
    size_t i;
    struct buf m;

    for (i = 0; i < r->n; i++) {
        const struct event *e = &r->ev[i];

        if (e->dir == HX_C2S) {
            m = bind_request(id, e);
            send_bytes(w, 0, &m);
            free(m.p);
            if (i + 1 < r->n && r->ev[i + 1].dir == HX_S2C)
                continue;
            if (!server_ok) {
                m = bind_response(id, fail_code, diag, NULL);
                send_bytes(w, 1, &m);
                free(m.p);
            }
            continue;
        }
        m = bind_response(id, server_ok && i + 1 == r->n ? 0 : 14,
                          "", e);
        send_bytes(w, 1, &m);
        free(m.p);
        id++;
    }
}

/* Layer packets: sasl_encode on one side, as the next LDAP bytes. */
static void
layer(struct wire *w, sasl_conn_t *conn, int dir, size_t len)
{
    const char *out = NULL;
    unsigned outlen = 0;
    char *data = xmalloc(len);
    struct buf b = { NULL, 0 };

    memset(data, 'x', len);
    if (sasl_encode(conn, data, (unsigned)len, &out, &outlen) != SASL_OK)
        die("%s", "sasl_encode failed");
    put(&b, out, outlen);
    send_bytes(w, dir, &b);
    free(b.p);
    free(data);
}

static void
finish(struct wire *w)
{
    frame(w, 0, 0x11, NULL, 0); /* FIN ACK */
    frame(w, 1, 0x11, NULL, 0);
}

/* ---- output ---- */

static void
write_pcap(const struct wire *w, const char *path)
{
    pcap_t *p = pcap_open_dead(w->sll_v6 ? DLT_LINUX_SLL : DLT_EN10MB,
                               262144);
    pcap_dumper_t *d;
    struct pcap_pkthdr h;
    size_t i;

    if (p == NULL || (d = pcap_dump_open(p, path)) == NULL)
        die("cannot write %s", path);
    for (i = 0; i < w->n; i++) {
        memset(&h, 0, sizeof(h));
        h.ts.tv_sec = 1700000000 + (long)i / 10;
        h.ts.tv_usec = (long)(i % 10) * 1000;
        h.caplen = h.len = (bpf_u_int32)w->f[i].len;
        pcap_dump((u_char *)d, &h, w->f[i].bytes);
    }
    pcap_dump_close(d);
    pcap_close(p);
}

static void
le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* pcapng (libpcap reads it but does not write it): a section header, one
 * Ethernet interface, an enhanced packet block per frame. */
static void
write_pcapng(const struct wire *w, const char *path)
{
    static const uint8_t shb[28] = {
        0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a,
        1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        28, 0, 0, 0 };
    static const uint8_t idb[20] = {
        1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 4, 0, 20, 0, 0, 0 };
    FILE *f = fopen(path, "wb");
    uint8_t head[28], tail[4], pad[4] = { 0, 0, 0, 0 };
    size_t i, padded, total;
    uint64_t ts;

    if (f == NULL)
        die("cannot write %s", path);
    (void)fwrite(shb, 1, sizeof(shb), f);
    (void)fwrite(idb, 1, sizeof(idb), f);
    for (i = 0; i < w->n; i++) {
        padded = (w->f[i].len + 3) & ~(size_t)3;
        total = 28 + padded + 4;
        ts = (uint64_t)(1700000000 + i / 10) * 1000000u + (i % 10) * 1000u;
        le32(head, 6);
        le32(head + 4, (uint32_t)total);
        le32(head + 8, 0);
        le32(head + 12, (uint32_t)(ts >> 32));
        le32(head + 16, (uint32_t)ts);
        le32(head + 20, (uint32_t)w->f[i].len);
        le32(head + 24, (uint32_t)w->f[i].len);
        le32(tail, (uint32_t)total);
        (void)fwrite(head, 1, sizeof(head), f);
        (void)fwrite(w->f[i].bytes, 1, w->f[i].len, f);
        (void)fwrite(pad, 1, padded - w->f[i].len, f);
        (void)fwrite(tail, 1, sizeof(tail), f);
    }
    if (fclose(f) != 0)
        die("cannot write %s", path);
}

static void
wire_free(struct wire *w)
{
    size_t i;

    for (i = 0; i < w->n; i++)
        free(w->f[i].bytes);
    memset(w, 0, sizeof(*w));
}

static void
recording_free(struct recording *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        free(r->ev[i].data);
    r->n = 0;
}

/* ---- the four captures ---- */

static struct hx_session *
session(struct hx_opts *c, struct hx_opts *s, struct recording *r)
{
    struct hx_session *x = hx_session_new(c, s, SASL_SUCCESS_DATA);

    memset(r, 0, sizeof(*r));
    return x;
}

static void
krb5_layer(const char *dir)
{
    struct hx_opts c, s;
    struct recording r;
    struct wire w;
    struct hx_session *x;
    char path[4096];
    struct frame t;

    memset(&c, 0, sizeof(c));
    memset(&s, 0, sizeof(s));
    c.mechs = s.mechs = "krb5,ntlmssp";
    x = session(&c, &s, &r);
    hx_exchange(x, record, &r);
    if (x->server_rc != SASL_OK)
        die("the Kerberos exchange failed: %s", hx_errdetail(x->server));
    memset(&w, 0, sizeof(w));
    w.mss = 300;
    handshake(&w);
    binds(&w, &r, 1, 0, "");
    layer(&w, x->client, 0, 100);
    layer(&w, x->server, 1, 900);
    layer(&w, x->client, 0, 40);
    layer(&w, x->server, 1, 20);
    layer(&w, x->client, 0, 500);
    finish(&w);
    /* reassembly: frame 4 (the first BindRequest's first segment) sent
     * again later, frames 5 and 6 swapped */
    t = w.f[5];
    w.f[5] = w.f[6];
    w.f[6] = t;
    if (w.n < MAX_FRAMES) {
        w.f[w.n].len = w.f[4].len;
        w.f[w.n].bytes = xmalloc(w.f[4].len);
        memcpy(w.f[w.n].bytes, w.f[4].bytes, w.f[4].len);
        w.n++;
    }
    (void)snprintf(path, sizeof(path), "%s/krb5-layer.pcapng", dir);
    write_pcapng(&w, path);
    /* the same with one of the client's segments never captured */
    free(w.f[7].bytes);
    memmove(&w.f[7], &w.f[8], (w.n - 8) * sizeof(w.f[0]));
    w.n--;
    (void)snprintf(path, sizeof(path), "%s/krb5-gap.pcap", dir);
    write_pcap(&w, path);
    wire_free(&w);
    recording_free(&r);
    hx_session_free(x);
}

/* One refused exchange, as the capture DIR/FILE: the options of both
 * sides, channel bindings (client, server) or NULL, and how the server's
 * LDAP answer carries the refusal (slapd: invalidCredentials 49 or
 * inappropriateAuthentication 48 with the SASL error text).  Dies if the
 * server accepted (what says what it should have refused). */
struct refusal {
    const char *file, *what;
    unsigned code;
    int sll_v6;   /* Linux cooked header and IPv6 */
    const sasl_channel_binding_t *cb[2];
};

static void
write_refused(const char *dir, struct hx_opts *c, struct hx_opts *s,
              const struct refusal *f)
{
    struct recording r;
    struct hx_session *x = session(c, s, &r);
    struct wire w;
    char path[4096], diag[1024];

    if (f->cb[0] != NULL &&
        (sasl_setprop(x->client, SASL_CHANNEL_BINDING, f->cb[0]) != SASL_OK ||
         sasl_setprop(x->server, SASL_CHANNEL_BINDING, f->cb[1]) != SASL_OK))
        die("%s", "sasl_setprop SASL_CHANNEL_BINDING failed");
    hx_exchange(x, record, &r);
    if (x->server_rc >= 0)
        die("the server accepted %s", f->what);
    (void)snprintf(diag, sizeof(diag), "%s", hx_errdetail(x->server));
    memset(&w, 0, sizeof(w));
    w.sll_v6 = f->sll_v6;
    w.mss = 1400;
    handshake(&w);
    binds(&w, &r, 0, f->code, diag);
    finish(&w);
    (void)snprintf(path, sizeof(path), "%s/%s", dir, f->file);
    write_pcap(&w, path);
    wire_free(&w);
    recording_free(&r);
    hx_session_free(x);
}

static void
ntlm_nosign(const char *dir)
{
    static const struct refusal f = { "ntlm-nosign.pcap",
                                      "NTLM without signing", 48, 0,
                                      { NULL, NULL } };
    struct hx_opts c, s;

    memset(&c, 0, sizeof(c));
    memset(&s, 0, sizeof(s));
    c.mechs = s.mechs = "ntlmssp";
    c.set_props = 1;
    c.max_ssf = 0;            /* no layer: NTLM without SIGN */
    c.maxbufsize = 65536;
    s.set_props = 1;
    s.min_ssf = 1;            /* the server requires a layer */
    s.max_ssf = 256;
    s.maxbufsize = 65536;
    write_refused(dir, &c, &s, &f);
}

static void
cb_mismatch(const char *dir)
{
    static const sasl_channel_binding_t cc = {
        "tls-server-end-point", 0, 1, (const unsigned char *)"A" };
    static const sasl_channel_binding_t sc = {
        "tls-server-end-point", 0, 1, (const unsigned char *)"B" };
    static const struct refusal f = { "cb-mismatch.pcap",
                                      "mismatched channel bindings", 49, 1,
                                      { &cc, &sc } };
    struct hx_opts c, s;

    memset(&c, 0, sizeof(c));
    memset(&s, 0, sizeof(s));
    c.mechs = s.mechs = "ntlmssp";
    write_refused(dir, &c, &s, &f);
}

static void
krb5_nokey(const char *dir)
{
    static const struct refusal f = { "krb5-nokey.pcap",
                                      "a ticket it has no key for", 49, 0,
                                      { NULL, NULL } };
    struct hx_opts c, s;
    char keytab[4096];

    (void)snprintf(keytab, sizeof(keytab), "%s/imap-only.keytab",
                   getenv("SPNEGO_TEST_DIR"));
    memset(&c, 0, sizeof(c));
    memset(&s, 0, sizeof(s));
    c.mechs = s.mechs = "krb5";
    s.keytab = keytab;
    write_refused(dir, &c, &s, &f);
}

int
main(int argc, char **argv)
{
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: capture-writer DIR\n");
        return 2;
    }
    if (getenv("SPNEGO_TEST_DIR") == NULL)
        die("%s", "run it inside tests/fixture/with-krb5");
    rc = hx_init("capture-writer");
    if (rc != 0)
        return rc;
    krb5_layer(argv[1]);
    ntlm_nosign(argv[1]);
    cb_mismatch(argv[1]);
    krb5_nokey(argv[1]);
    hx_done();
    return 0;
}
