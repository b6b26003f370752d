/*
 * ntlmmsg.h - the little the engine must read inside NTLMSSP messages
 * (MS-NLMP 2.2.1).  gss-ntlmssp 1.2.0 reports "the AUTHENTICATE message
 * carried a MIC" only on the client side; the acceptor learns it from the
 * message itself: the MsvAvFlags pair of the NTLMv2 response, bit 0x2.
 */
#ifndef SPNEGO_NTLMMSG_H
#define SPNEGO_NTLMMSG_H

#include <stddef.h>
#include <stdint.h>

/* The message type (1 NEGOTIATE, 2 CHALLENGE, 3 AUTHENTICATE), or 0 if
 * msg is not an NTLMSSP message. */
uint32_t ntlm_message_type(const uint8_t *msg, size_t len);

/* 1 if msg is an AUTHENTICATE message whose NTLMv2 response carries
 * MsvAvFlags with the MIC-present bit; 0 otherwise (including NTLMv1 and
 * malformed messages).  Every offset is bounds-checked. */
int ntlm_auth_has_mic(const uint8_t *msg, size_t len);

/* 0 if msg is a CHALLENGE message whose TargetName field is empty or out
 * of bounds (gss-ntlmssp 1.2.0 writes through NULL on an empty one:
 * gssapi/gss-ntlmssp#90); 1 otherwise (including non-CHALLENGE input). */
int ntlm_challenge_target_ok(const uint8_t *msg, size_t len);

/* ---- the whole message, for spnego-dump (MS-NLMP 2.2.1, 2.2.2) ---- */

/* A field of the message: a view into it (never outside it). */
struct ntlm_field {
    const uint8_t *data;
    size_t len;
};

#define NTLM_MAX_AV 16

struct ntlm_av {
    uint16_t id;               /* MsvAv* (2.2.2.1) */
    struct ntlm_field value;
};

struct ntlm_info {
    uint32_t type;             /* 1, 2, 3 */
    uint32_t flags;            /* NegotiateFlags */
    int has_version;
    uint8_t major, minor;      /* Version: product */
    uint16_t build;
    uint8_t revision;          /* NTLMSSP revision (15 for NTLMv2) */
    int unicode;               /* strings are UTF-16LE (else OEM) */
    /* NEGOTIATE: domain, workstation; CHALLENGE: target (name);
     * AUTHENTICATE: domain, user, workstation */
    struct ntlm_field domain, user, workstation, target;
    /* CHALLENGE */
    uint8_t server_challenge[8];
    /* CHALLENGE: the target info; AUTHENTICATE: the AV pairs of the NTLMv2
     * response (absent for NTLMv1) */
    size_t n_av;
    struct ntlm_av av[NTLM_MAX_AV];
    int av_truncated;          /* more than NTLM_MAX_AV pairs */
    /* AUTHENTICATE */
    size_t lm_len, nt_len;     /* the challenge responses' sizes */
    int ntlmv2;                /* NtChallengeResponse longer than 24 */
    int mic_present;           /* MsvAvFlags bit 0x2: a MIC at offset 72 */
    uint8_t mic[16];
    size_t session_key_len;    /* EncryptedRandomSessionKey (KEY_EXCH) */
};

/* Decode an NTLMSSP message strictly: every field's offset and length
 * inside the message, AV pairs ending with MsvAvEOL within their field.
 * Returns 1, or 0 with a sentence and the offset in err. */
int ntlm_decode(const uint8_t *msg, size_t len, struct ntlm_info *out,
                char *err, size_t errlen);

/* The name of NegotiateFlags bit `bit` (0..31, "SIGN", "KEY_EXCH"...), or
 * NULL for an unassigned bit. */
const char *ntlm_flag_name(unsigned bit);

/* The name of an AV pair id ("MsvAvFlags"...), or NULL. */
const char *ntlm_av_name(uint16_t id);

#define NTLM_AV_EOL 0
#define NTLM_AV_FLAGS 6
#define NTLM_AV_TIMESTAMP 7
#define NTLM_AV_CHANNEL_BINDINGS 10
#define NTLM_FLAG_UNICODE 0x00000001u
#define NTLM_FLAG_SIGN 0x00000010u
#define NTLM_FLAG_SEAL 0x00000020u
#define NTLM_FLAG_VERSION 0x02000000u

#endif /* SPNEGO_NTLMMSG_H */
