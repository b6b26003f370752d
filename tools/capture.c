/* capture.c - TCP streams out of a pcap/pcapng file.  See capture.h. */
#include "capture.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

/* The most a stream keeps: a capture of binds is far smaller. */
#define STREAM_LIMIT ((size_t)256 * 1024 * 1024)

struct segment {
    uint32_t seq;
    uint8_t *data;        /* owned */
    size_t len;
    size_t order;         /* capture order, for ties */
};

/* One direction while reading. */
struct flow {
    uint32_t isn;         /* sequence number of the first data byte */
    int have_isn;         /* from a SYN (else the lowest seen) */
    struct segment *seg;
    size_t n, cap;
};

/* A connection while reading: endpoints in raw form. */
struct pending_conn {
    uint8_t addr[2][16];  /* [0] client, [1] server */
    uint16_t port[2];
    int v6;
    int client_known;     /* a SYN without ACK named the client */
    struct flow flow[2];
};

struct reader {
    struct capture *cap;
    struct pending_conn *pc;  /* parallel to cap->conns */
    size_t room;              /* entries allocated in both */
    size_t order;
    char *err;
    size_t err_size;
    int failed;
};

/* A packet's TCP facts. */
struct tcp_pkt {
    uint8_t src[16], dst[16];
    int v6;
    uint16_t sport, dport;
    uint32_t seq;
    uint8_t flags;
    const uint8_t *data;
    size_t len;
};

#define TCP_FIN 0x01u
#define TCP_SYN 0x02u
#define TCP_ACK 0x10u

static uint16_t
be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

int
capture_is_capture(const uint8_t *head, size_t len)
{
    static const uint8_t magics[][4] = {
        { 0xa1, 0xb2, 0xc3, 0xd4 }, { 0xd4, 0xc3, 0xb2, 0xa1 }, /* pcap us */
        { 0xa1, 0xb2, 0x3c, 0x4d }, { 0x4d, 0x3c, 0xb2, 0xa1 }, /* pcap ns */
        { 0x0a, 0x0d, 0x0d, 0x0a },                              /* pcapng */
    };
    size_t i;

    if (len < 4)
        return 0;
    for (i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
        if (memcmp(head, magics[i], 4) == 0)
            return 1;
    }
    return 0;
}

/* ---- link, IP and TCP headers ---- */

/* The TCP segment of an IP packet, or 0 (not TCP, a fragment, cut). */
static int
parse_tcp(const uint8_t *p, size_t len, struct tcp_pkt *t)
{
    size_t off;

    if (len < 20)
        return 0;
    off = (size_t)(p[12] >> 4) * 4;
    if (off < 20 || off > len)
        return 0;
    t->sport = be16(p);
    t->dport = be16(p + 2);
    t->seq = be32(p + 4);
    t->flags = p[13];
    t->data = p + off;
    t->len = len - off;
    return 1;
}

static int
parse_ipv4(const uint8_t *p, size_t len, struct tcp_pkt *t)
{
    size_t ihl, total;

    if (len < 20 || (p[0] >> 4) != 4 || p[9] != 6)
        return 0;
    ihl = (size_t)(p[0] & 0x0f) * 4;
    total = be16(p + 2);
    if (total > len)
        total = len; /* a snap length cut the packet: keep what is there */
    /* fragments are not reassembled: LDAP over TCP does not need it */
    if (ihl < 20 || total < ihl || (be16(p + 6) & 0x3fff) != 0)
        return 0;
    memset(t->src, 0, sizeof(t->src));
    memset(t->dst, 0, sizeof(t->dst));
    memcpy(t->src, p + 12, 4);
    memcpy(t->dst, p + 16, 4);
    t->v6 = 0;
    return parse_tcp(p + ihl, total - ihl, t);
}

static int
parse_ipv6(const uint8_t *p, size_t len, struct tcp_pkt *t)
{
    size_t payload;

    /* no extension headers: the next header must be TCP */
    if (len < 40 || (p[0] >> 4) != 6 || p[6] != 6)
        return 0;
    payload = be16(p + 4);
    if (payload > len - 40)
        payload = len - 40;
    memcpy(t->src, p + 8, 16);
    memcpy(t->dst, p + 24, 16);
    t->v6 = 1;
    return parse_tcp(p + 40, payload, t);
}

/* By EtherType (or the BSD address family mapped to one). */
static int
parse_ip(uint16_t type, const uint8_t *p, size_t len, struct tcp_pkt *t)
{
    switch (type) {
    case 0x0800:
        return parse_ipv4(p, len, t);
    case 0x86dd:
        return parse_ipv6(p, len, t);
    default:
        return 0;
    }
}

static int
parse_link(int dlt, const uint8_t *p, size_t len, struct tcp_pkt *t)
{
    uint32_t family;

    switch (dlt) {
    case DLT_EN10MB:
        if (len < 14)
            return 0;
        if (be16(p + 12) == 0x8100 && len >= 18) /* one VLAN tag */
            return parse_ip(be16(p + 16), p + 18, len - 18, t);
        return parse_ip(be16(p + 12), p + 14, len - 14, t);
    case DLT_LINUX_SLL:
        return len >= 16 && parse_ip(be16(p + 14), p + 16, len - 16, t);
    case DLT_LINUX_SLL2:
        return len >= 20 && parse_ip(be16(p), p + 20, len - 20, t);
    case DLT_NULL:
    case DLT_LOOP:
        if (len < 4)
            return 0;
        family = dlt == DLT_LOOP ? be32(p)
                                 : (uint32_t)p[0] | (uint32_t)p[1] << 8 |
                                       (uint32_t)p[2] << 16 |
                                       (uint32_t)p[3] << 24;
        return parse_ip(family == 2 ? 0x0800 : 0x86dd, p + 4, len - 4, t);
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        return len >= 1 && parse_ip((p[0] >> 4) == 6 ? 0x86dd : 0x0800, p,
                                    len, t);
    default:
        return 0;
    }
}

static int
link_known(int dlt)
{
    switch (dlt) {
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_NULL:
    case DLT_LOOP:
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
        return 1;
    default:
        return 0;
    }
}

/* ---- connections ---- */

static void
fail(struct reader *r, const char *what)
{
    if (!r->failed)
        (void)snprintf(r->err, r->err_size, "%s", what);
    r->failed = 1;
}

static void
endpoint_text(char *buf, size_t size, const uint8_t *addr, int v6,
              uint16_t port)
{
    char a[INET6_ADDRSTRLEN];

    if (inet_ntop(v6 ? AF_INET6 : AF_INET, addr, a, sizeof(a)) == NULL)
        (void)snprintf(a, sizeof(a), "?");
    (void)snprintf(buf, size, v6 ? "[%s]:%u" : "%s:%u", a, (unsigned)port);
}

/* The connection of t and the direction of t in it (0: from the
 * client), made if new. */
static struct pending_conn *
find_conn(struct reader *r, const struct tcp_pkt *t, int *dir_out)
{
    struct capture *cap = r->cap;
    struct pending_conn *pc;
    size_t i, al = t->v6 ? 16 : 4;
    int d;

    for (i = 0; r->pc != NULL && i < cap->n_conns; i++) {
        pc = &r->pc[i];
        for (d = 0; d < 2; d++) {
            if (pc->v6 == t->v6 && pc->port[d] == t->sport &&
                pc->port[1 - d] == t->dport &&
                memcmp(pc->addr[d], t->src, al) == 0 &&
                memcmp(pc->addr[1 - d], t->dst, al) == 0) {
                *dir_out = d;
                return pc;
            }
        }
    }
    if (r->pc == NULL || cap->conns == NULL || cap->n_conns == r->room) {
        size_t n = r->room + 16;
        struct cap_conn *c = realloc(cap->conns, n * sizeof(*c));
        struct pending_conn *p;

        if (c == NULL)
            return NULL;
        cap->conns = c;
        p = realloc(r->pc, n * sizeof(*p));
        if (p == NULL)
            return NULL;
        r->pc = p;
        r->room = n;
    }
    pc = &r->pc[cap->n_conns];
    memset(pc, 0, sizeof(*pc));
    memset(&cap->conns[cap->n_conns], 0, sizeof(cap->conns[0]));
    cap->n_conns++;
    pc->v6 = t->v6;
    memcpy(pc->addr[0], t->src, sizeof(t->src));
    memcpy(pc->addr[1], t->dst, sizeof(t->dst));
    pc->port[0] = t->sport;
    pc->port[1] = t->dport;
    *dir_out = 0;
    return pc;
}

/* A SYN without ACK comes from the client: swap the sides if the first
 * packet seen was the server's. */
static void
note_syn(struct pending_conn *pc, int *dir, const struct tcp_pkt *t)
{
    struct flow f;
    uint8_t a[16];
    uint16_t port;

    if (!(t->flags & TCP_SYN) || pc->client_known)
        return;
    if (t->flags & TCP_ACK) {
        if (*dir == 1)
            pc->client_known = 1;
        return;
    }
    pc->client_known = 1;
    if (*dir == 0)
        return;
    memcpy(a, pc->addr[0], 16);
    memcpy(pc->addr[0], pc->addr[1], 16);
    memcpy(pc->addr[1], a, 16);
    port = pc->port[0];
    pc->port[0] = pc->port[1];
    pc->port[1] = port;
    f = pc->flow[0];
    pc->flow[0] = pc->flow[1];
    pc->flow[1] = f;
    *dir = 0;
}

static int
add_segment(struct reader *r, struct flow *f, const struct tcp_pkt *t)
{
    struct segment *s;

    if (t->flags & TCP_SYN) {
        f->isn = t->seq + 1;
        f->have_isn = 1;
    }
    if (t->len == 0)
        return 1;
    if (f->n == f->cap) {
        size_t n = f->cap ? f->cap * 2 : 16;

        s = realloc(f->seg, n * sizeof(*s));
        if (s == NULL)
            return 0;
        f->seg = s;
        f->cap = n;
    }
    s = &f->seg[f->n];
    s->data = malloc(t->len);
    if (s->data == NULL)
        return 0;
    memcpy(s->data, t->data, t->len);
    s->len = t->len;
    s->seq = t->flags & TCP_SYN ? t->seq + 1 : t->seq;
    s->order = r->order++;
    f->n++;
    return 1;
}

static void
packet(struct reader *r, int dlt, const struct pcap_pkthdr *h,
       const uint8_t *bytes)
{
    struct tcp_pkt t;
    struct pending_conn *pc;
    int dir = 0;

    r->cap->packets++;
    if (r->failed)
        return;
    if (!parse_link(dlt, bytes, h->caplen, &t)) {
        r->cap->skipped++;
        return;
    }
    pc = find_conn(r, &t, &dir);
    if (pc == NULL) {
        fail(r, "out of memory");
        return;
    }
    note_syn(pc, &dir, &t);
    if (!add_segment(r, &pc->flow[dir], &t))
        fail(r, "out of memory");
}

/* ---- reassembly ---- */

static uint32_t sort_base;

static int
cmp_segment(const void *a, const void *b)
{
    const struct segment *x = a, *y = b;
    uint32_t rx = x->seq - sort_base, ry = y->seq - sort_base;

    if (rx != ry)
        return rx < ry ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The lowest sequence number, taking wrap-around into account. */
static uint32_t
lowest_seq(const struct flow *f)
{
    uint32_t low = f->seg[0].seq;
    size_t i;

    for (i = 1; i < f->n; i++) {
        if ((int32_t)(f->seg[i].seq - low) < 0)
            low = f->seg[i].seq;
    }
    return low;
}

static int
assemble(struct flow *f, struct cap_stream *s)
{
    uint32_t base;
    size_t i, expected = 0;

    memset(s, 0, sizeof(*s));
    s->segments = f->n;
    if (f->n == 0)
        return 1;
    base = f->have_isn ? f->isn : lowest_seq(f);
    sort_base = base;
    qsort(f->seg, f->n, sizeof(f->seg[0]), cmp_segment);
    for (i = 0; i < f->n; i++) {
        const struct segment *g = &f->seg[i];
        size_t rel = (size_t)(uint32_t)(g->seq - base), skip;
        uint8_t *grown;

        if ((int32_t)(g->seq - base) < 0) { /* before the SYN */
            s->dropped += g->len;
            continue;
        }
        if (rel > expected) {
            s->hole = 1;
            break;
        }
        skip = expected - rel;
        if (skip >= g->len) {
            s->dropped += g->len;
            continue;
        }
        s->dropped += skip;
        if (s->len + g->len - skip > STREAM_LIMIT)
            return 0;
        grown = realloc(s->data, s->len + g->len - skip);
        if (grown == NULL)
            return 0;
        s->data = grown;
        memcpy(s->data + s->len, g->data + skip, g->len - skip);
        s->len += g->len - skip;
        expected = s->len;
    }
    return 1;
}

static void
flow_free(struct flow *f)
{
    size_t i;

    for (i = 0; i < f->n; i++)
        free(f->seg[i].data);
    free(f->seg);
    memset(f, 0, sizeof(*f));
}

static int
finish(struct reader *r)
{
    size_t i;
    int d, ok = 1;

    for (i = 0; r->pc != NULL && i < r->cap->n_conns; i++) {
        struct pending_conn *pc = &r->pc[i];
        struct cap_conn *c = &r->cap->conns[i];

        endpoint_text(c->client, sizeof(c->client), pc->addr[0], pc->v6,
                      pc->port[0]);
        endpoint_text(c->server, sizeof(c->server), pc->addr[1], pc->v6,
                      pc->port[1]);
        for (d = 0; d < 2; d++) {
            if (ok && !assemble(&pc->flow[d], &c->dir[d]))
                ok = 0;
            flow_free(&pc->flow[d]);
        }
    }
    return ok;
}

int
capture_read(FILE *f, const char *path, struct capture *cap, char *err,
             size_t err_size)
{
    char perr[PCAP_ERRBUF_SIZE];
    struct reader r;
    struct pcap_pkthdr *h;
    const u_char *bytes;
    pcap_t *p = NULL;
    int dlt, rc, ok = 0;

    memset(cap, 0, sizeof(*cap));
    memset(&r, 0, sizeof(r));
    r.cap = cap;
    r.err = err;
    r.err_size = err_size;
    perr[0] = '\0';
    p = pcap_fopen_offline(f, perr); /* closes f with pcap_close */
    if (p == NULL) {
        (void)fclose(f);
        (void)snprintf(err, err_size, "libpcap cannot read %s: %s", path,
                       perr);
        goto cleanup;
    }
    dlt = pcap_datalink(p);
    (void)snprintf(cap->link, sizeof(cap->link), "%s",
                   pcap_datalink_val_to_name(dlt) != NULL
                       ? pcap_datalink_val_to_name(dlt) : "?");
    if (!link_known(dlt)) {
        (void)snprintf(err, err_size, "%s: link type %s (%d) is not one of "
                       "Ethernet, Linux cooked, loopback or raw IP; capture "
                       "with tcpdump -i lo or -i any", path, cap->link, dlt);
        goto cleanup;
    }
    while ((rc = pcap_next_ex(p, &h, &bytes)) == 1)
        packet(&r, dlt, h, bytes);
    /* a capture cut short (tcpdump killed) still has its packets */
    cap->cut = rc == PCAP_ERROR;
    if (r.failed || !finish(&r)) {
        if (!r.failed)
            (void)snprintf(err, err_size, "out of memory");
        goto cleanup;
    }
    ok = 1;
cleanup:
    if (!ok) {
        size_t i;

        for (i = 0; r.pc != NULL && i < cap->n_conns; i++) {
            flow_free(&r.pc[i].flow[0]);
            flow_free(&r.pc[i].flow[1]);
        }
        capture_free(cap);
    }
    free(r.pc);
    if (p != NULL)
        pcap_close(p);
    return ok;
}

void
capture_free(struct capture *cap)
{
    size_t i;

    for (i = 0; i < cap->n_conns; i++) {
        free(cap->conns[i].dir[0].data);
        free(cap->conns[i].dir[1].data);
    }
    free(cap->conns);
    memset(cap, 0, sizeof(*cap));
}
