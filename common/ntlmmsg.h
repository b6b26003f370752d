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

#endif /* SPNEGO_NTLMMSG_H */
