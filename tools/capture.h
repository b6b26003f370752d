/*
 * capture.h - TCP connections out of a packet capture, for spnego-dump:
 * a pcap or pcapng file read with libpcap (Ethernet, Linux cooked v1/v2,
 * BSD loopback or raw IP links; IPv4 and IPv6), each TCP connection's
 * two directions reassembled into byte streams (segments ordered by
 * sequence number, retransmissions and overlaps dropped, a stream cut at
 * its first hole).
 * No LDAP and no SASL here (ldapstory.h reads the streams).
 */
#ifndef SPNEGO_CAPTURE_H
#define SPNEGO_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One direction of a connection, reassembled: the bytes from its start
 * up to the first hole (bytes never captured), if any. */
struct cap_stream {
    uint8_t *data;        /* owned */
    size_t len;
    size_t segments;      /* TCP segments with data seen */
    size_t dropped;       /* retransmitted or overlapping bytes ignored */
    int hole;             /* bytes missing at offset len: what followed
                           * them is not in data */
};

struct cap_conn {
    char client[64], server[64]; /* "127.0.0.1:40312"; client: the SYN's
                                  * sender, else the first sender */
    struct cap_stream dir[2];    /* 0: client to server, 1: back */
};

struct capture {
    struct cap_conn *conns;      /* owned, in order of first packet */
    size_t n_conns;
    size_t packets, skipped;     /* packets read; not TCP over IP */
    char link[32];               /* the link type's name */
    int cut;                     /* the file ends inside a packet */
};

/* 1 if the file starts like a pcap or pcapng capture. */
int capture_is_capture(const uint8_t *head, size_t len);

/*
 * Read and reassemble the capture in f (named name in messages; f is
 * closed here, in every case).  Returns 1 with *cap filled (capture_free
 * it), or 0 with a sentence in err (not a capture libpcap reads, a link
 * type not handled, out of memory).  A capture cut short (tcpdump
 * killed) is read up to the cut, with cap->cut set.
 */
int capture_read(FILE *f, const char *name, struct capture *cap, char *err,
                 size_t err_size);

void capture_free(struct capture *cap);

#endif /* SPNEGO_CAPTURE_H */
