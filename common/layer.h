/*
 * layer.h - the SASL security layer over an established GSS-API context:
 * each packet is a 4-byte big-endian length followed by one gss_wrap
 * token (RFC 2222 framing, as Cyrus SASL and Active Directory use for
 * GSS-SPNEGO).  No SASL types here; the plugin maps results to SASL codes.
 *
 * Encoding wraps in place with gss_wrap_iov into one reusable buffer (one
 * copy of the plaintext, none of the token); decoding reassembles packets
 * from any fragmentation of the input stream into one reusable buffer and
 * unwraps them with gss_unwrap.  Replayed or out-of-order packets fail.
 * Output pointers stay valid until the next call on the same direction.
 * One layer is used by one thread at a time.
 *
 * The fast path: for a Kerberos context with RFC 4121 tokens and an AES
 * enctype, the layer takes the context's keys and sequence numbers once
 * (MIT's lucid context, without destroying the context) and makes and
 * checks the same tokens itself on libcrypto (cfx.h), in place in the
 * same buffers.  The choice is made once, at init; from then on every
 * token of the context goes through the chosen path (two paths would
 * reuse sequence numbers).
 */
#ifndef SPNEGO_LAYER_H
#define SPNEGO_LAYER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <gssapi/gssapi.h>

enum layer_status {
    LAYER_OK = 0,
    LAYER_BAD_LENGTH, /* a packet length below 16 or above the limit */
    LAYER_BAD_MAC,    /* gss_unwrap refused the token */
    LAYER_NOMEM,
    LAYER_FAIL        /* gss_wrap failed, or the stream already failed */
};

struct cfx;

/* Whether and how to try the fast path. */
struct spnego_layer_fast {
    int enable;          /* try it (else gss_wrap/gss_unwrap) */
    unsigned peer_mics;  /* per-message tokens of the peer the context
                          * verified before the layer (SPNEGO's
                          * mechListMIC): each used a sequence number
                          * that MIT's lucid context does not count */
};

struct layer_buf {
    uint8_t *data;
    size_t cap, len;
};

struct spnego_layer {
    gss_ctx_id_t gss;   /* borrowed: the established context */
    int conf;           /* confidentiality (else integrity only) */
    int use_iov;        /* gss_wrap_iov/gss_unwrap_iov work */
    size_t send_max;    /* largest packet (4 + token) the peer takes */
    size_t recv_max;    /* largest token length accepted (data + overhead) */
    size_t maxoutbuf;   /* plaintext bytes per packet */
    struct layer_buf enc;        /* encoded packets */
    uint8_t hdr[4];
    size_t hdr_have;
    size_t need;                 /* token length of the current packet */
    struct layer_buf pkt;        /* the packet being reassembled */
    struct layer_buf dec;        /* plaintext of several packets */
    int failed;                  /* decode stream is unusable */
    struct cfx *fast;            /* owned: the fast path, or NULL */
    char path[160];              /* which path and why, for the log */
    char err[256];
};

/*
 * Set up a layer.  send_max bounds every encoded packet including its
 * 4-byte length; recv_max bounds the data of a received packet: its
 * length field may exceed recv_max by the mechanism's wrap overhead (a
 * peer such as Cyrus' libgssapiv2 fills packets with maxbufsize bytes of
 * data).
 * maxoutbuf is derived with gss_wrap_size_limit (fast path: from the
 * token overhead).  fast NULL: gss_wrap/gss_unwrap.  Returns LAYER_OK
 * with l->path saying which path was chosen and why, or an error with
 * l->err set (a fast path that cannot start is not an error: the layer
 * stays on GSS-API).  spnego_layer_cleanup is needed in both cases.
 */
enum layer_status spnego_layer_init(struct spnego_layer *l, gss_ctx_id_t gss,
                                    int conf, size_t send_max,
                                    size_t recv_max,
                                    const struct spnego_layer_fast *fast);

/* Encode the concatenation of iov[0..n) into packets of at most
 * maxoutbuf plaintext bytes each; *out points into the layer. */
enum layer_status spnego_layer_encode(struct spnego_layer *l,
                                      const struct iovec *iov, size_t n,
                                      const uint8_t **out, size_t *out_len);

/* Feed received bytes; *out gets the plaintext of every packet completed
 * by them (possibly none: *out_len 0).  After an error the stream stays
 * failed. */
enum layer_status spnego_layer_decode(struct spnego_layer *l,
                                      const uint8_t *in, size_t in_len,
                                      const uint8_t **out, size_t *out_len);

/* Zero and free the buffers (they held plaintext) and the fast path's
 * keys.  Safe twice. */
void spnego_layer_cleanup(struct spnego_layer *l);

#endif /* SPNEGO_LAYER_H */
