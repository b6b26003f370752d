/* ntlmmsg.c - reading NTLMSSP messages.  See ntlmmsg.h. */
#include "ntlmmsg.h"

#include <string.h>

#define AUTH_NT_RESPONSE_FIELDS 20 /* NtChallengeResponseFields */
#define CHALLENGE_TARGET_FIELDS 12 /* TargetNameFields */
#define NTPROOF_LEN 16
#define CLIENT_CHALLENGE_HEADER 28 /* up to the AV pairs */
#define AV_EOL 0
#define AV_FLAGS 6
#define AV_FLAG_MIC_PRESENT 0x2u

static uint32_t
le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t
le32(const uint8_t *p)
{
    return le16(p) | le16(p + 2) << 16;
}

uint32_t
ntlm_message_type(const uint8_t *msg, size_t len)
{
    static const uint8_t sig[8] = { 'N', 'T', 'L', 'M', 'S', 'S', 'P', 0 };
    uint32_t type;

    if (len < 12 || memcmp(msg, sig, sizeof(sig)) != 0)
        return 0;
    type = le32(msg + 8);
    return type >= 1 && type <= 3 ? type : 0;
}

/* Walk the AV pairs in [p, end) for MsvAvFlags. */
static int
av_pairs_have_mic(const uint8_t *p, const uint8_t *end)
{
    while (end - p >= 4) {
        uint32_t id = le16(p), alen = le16(p + 2);

        p += 4;
        if (id == AV_EOL || alen > (size_t)(end - p))
            return 0;
        if (id == AV_FLAGS)
            return alen == 4 && (le32(p) & AV_FLAG_MIC_PRESENT) != 0;
        p += alen;
    }
    return 0;
}

int
ntlm_auth_has_mic(const uint8_t *msg, size_t len)
{
    size_t nt_len, nt_off;

    if (ntlm_message_type(msg, len) != 3 ||
        len < AUTH_NT_RESPONSE_FIELDS + 8)
        return 0;
    nt_len = le16(msg + AUTH_NT_RESPONSE_FIELDS);
    nt_off = le32(msg + AUTH_NT_RESPONSE_FIELDS + 4);
    if (nt_off > len || nt_len > len - nt_off ||
        nt_len < NTPROOF_LEN + CLIENT_CHALLENGE_HEADER)
        return 0; /* NTLMv1, or out of bounds */
    return av_pairs_have_mic(msg + nt_off + NTPROOF_LEN +
                                 CLIENT_CHALLENGE_HEADER,
                             msg + nt_off + nt_len);
}

int
ntlm_challenge_target_ok(const uint8_t *msg, size_t len)
{
    size_t name_len, name_off;

    if (ntlm_message_type(msg, len) != 2)
        return 1;
    if (len < CHALLENGE_TARGET_FIELDS + 8)
        return 0;
    name_len = le16(msg + CHALLENGE_TARGET_FIELDS);
    name_off = le32(msg + CHALLENGE_TARGET_FIELDS + 4);
    return name_len > 0 && name_off <= len && name_len <= len - name_off;
}
