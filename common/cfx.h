/*
 * cfx.h - RFC 4121 section 4.2 Wrap tokens (the "CFX" tokens of
 * Kerberos contexts with AES keys), made and checked here on kcrypto.h
 * instead of by the mechanism: the same bytes as MIT's gss_wrap and
 * gss_unwrap, faster.  No GSS-API calls here: the caller gives the
 * established context's key, role and sequence numbers (layer.c takes
 * them from MIT's lucid context).
 *
 * Tokens are built and checked in place in the caller's buffer; nothing
 * is allocated per token.  The keys of a direction are derived on its
 * first token (as MIT derives its own), so an idle connection holds only
 * the base key.  Sent tokens carry EC 0 and RRC 0, as MIT's;
 * received tokens may have any EC (sealed) and any RRC.  Every received
 * token must carry exactly the next sequence number: a replayed,
 * reordered or lost token fails, as MIT's unwrap with sequence detection
 * does (the security layer treats every gap as tampering).
 */
#ifndef SPNEGO_CFX_H
#define SPNEGO_CFX_H

#include <stddef.h>
#include <stdint.h>

#include "kcrypto.h"

#define CFX_HEADER 16

/* What the established context gives. */
struct cfx_keys {
    int initiator;          /* this side initiated the context */
    int acceptor_subkey;    /* the key is the acceptor's subkey */
    int32_t enctype;        /* of the key */
    const uint8_t *key;     /* the base key (borrowed) */
    size_t keylen;
    uint64_t send_seq;      /* the number of the next token sent */
    uint64_t recv_seq;      /* the number the next received token has */
};

enum cfx_status {
    CFX_OK = 0,
    CFX_DEFECTIVE,  /* not a wrap token of this context, or a bad header */
    CFX_BAD_MAC,    /* the checksum or MAC does not verify */
    CFX_BAD_SEQ,    /* verified, but not the next sequence number */
    CFX_FAIL        /* libcrypto failed */
};

struct cfx {
    const struct kc_enctype *et;
    int initiator, acceptor_subkey, conf;
    uint64_t send_seq, recv_seq;
    /* Made on first use: Ke+Ki (sealed) or Kc (integrity) for sending,
     * the same for receiving, and Ke+Ki for sealed tokens received on an
     * integrity layer (a peer may seal although it need not). */
    struct kc_key *send, *recv, *recv_sealed;
    uint8_t base[KC_MAX_KEY];       /* the context's key */
    const char *why;                /* what the last failure was */
};

/*
 * Set up from the context's keys, for sealed tokens (conf 1) or
 * integrity-only tokens (conf 0) sent.  Returns 1, or 0 with a sentence
 * in err (an enctype not handled here, a key of the wrong size, libcrypto
 * without an algorithm: checked here, so that a layer can still choose
 * GSS-API); cfx_free is needed in both cases.
 */
int cfx_init(struct cfx *c, const struct cfx_keys *k, int conf, char *err,
             size_t err_size);

/* Wipe the keys and free the cipher contexts.  Safe twice. */
void cfx_free(struct cfx *c);

/* Bytes a token adds to len bytes of data (a constant per context). */
size_t cfx_overhead(const struct cfx *c);

/* Where the data goes in a token buffer before cfx_wrap. */
size_t cfx_data_offset(const struct cfx *c);

/*
 * Make a token in place: tok holds cfx_overhead(c) + len bytes, the data
 * at tok + cfx_data_offset(c).  The token is the whole buffer.
 */
enum cfx_status cfx_wrap(struct cfx *c, uint8_t *tok, size_t len);

/*
 * Check a received token in place (tok is rotated and decrypted where it
 * is).  On CFX_OK, *msg_out points into tok at the *msg_len_out data
 * bytes, and *sealed_out says whether the token was sealed.  On failure
 * c->why says what was wrong (a static sentence); the token's bytes are undefined.
 */
enum cfx_status cfx_unwrap(struct cfx *c, uint8_t *tok, size_t len,
                           uint8_t **msg_out, size_t *msg_len_out,
                           int *sealed_out);

#endif /* SPNEGO_CFX_H */
