/* ntlmmsg.c - reading NTLMSSP messages.  See ntlmmsg.h. */
#include "ntlmmsg.h"

#include <stdarg.h>
#include <stdio.h>
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

/* ---- the whole message ---- */

static const char *const flag_names[32] = {
    "UNICODE", "OEM", "REQUEST_TARGET", NULL, "SIGN", "SEAL", "DATAGRAM",
    "LM_KEY", NULL, "NTLM", NULL, "ANONYMOUS", "OEM_DOMAIN_SUPPLIED",
    "OEM_WORKSTATION_SUPPLIED", NULL, "ALWAYS_SIGN", "TARGET_TYPE_DOMAIN",
    "TARGET_TYPE_SERVER", NULL, "EXTENDED_SESSIONSECURITY", "IDENTIFY",
    NULL, "REQUEST_NON_NT_SESSION_KEY", "TARGET_INFO", NULL, "VERSION",
    NULL, NULL, NULL, "128", "KEY_EXCH", "56"
};

const char *
ntlm_flag_name(unsigned bit)
{
    return bit < 32 ? flag_names[bit] : NULL;
}

const char *
ntlm_av_name(uint16_t id)
{
    static const char *const names[] = {
        "MsvAvEOL", "MsvAvNbComputerName", "MsvAvNbDomainName",
        "MsvAvDnsComputerName", "MsvAvDnsDomainName", "MsvAvDnsTreeName",
        "MsvAvFlags", "MsvAvTimestamp", "MsvAvSingleHost",
        "MsvAvTargetName", "MsvAvChannelBindings"
    };

    return id < sizeof(names) / sizeof(names[0]) ? names[id] : NULL;
}

static int
fail_at(char *err, size_t errlen, size_t offset, const char *fmt, ...)
{
    char text[200];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    (void)snprintf(err, errlen, "%s (at offset %zu)", text, offset);
    return 0;
}

/* The field described by the 8 bytes at `at` (Len, MaxLen, Offset). */
static int
field_at(const uint8_t *msg, size_t len, size_t at, const char *what,
         struct ntlm_field *f, char *err, size_t errlen)
{
    size_t flen, off;

    if (at > len || len - at < 8)
        return fail_at(err, errlen, at, "NTLMSSP message of %zu bytes ends "
                       "before its %s field", len, what);
    flen = le16(msg + at);
    off = le32(msg + at + 4);
    if (flen == 0) {
        f->data = NULL;
        f->len = 0;
        return 1;
    }
    if (off > len || flen > len - off)
        return fail_at(err, errlen, at, "%s: %zu bytes at offset %zu, outside "
                       "the %zu-byte message", what, flen, off, len);
    f->data = msg + off;
    f->len = flen;
    return 1;
}

/* AV pairs in [p, p + n), up to MsvAvEOL, which must be there. */
static int
parse_av(const uint8_t *p, size_t n, size_t base, struct ntlm_info *out,
         char *err, size_t errlen)
{
    size_t at = 0;

    while (n - at >= 4) {
        uint16_t id = (uint16_t)le16(p + at);
        size_t alen = le16(p + at + 2);

        if (alen > n - at - 4)
            return fail_at(err, errlen, base + at, "AV pair %u of %zu bytes "
                           "runs past its field", (unsigned)id, alen);
        if (id == NTLM_AV_EOL)
            return alen == 0 ||
                   fail_at(err, errlen, base + at, "MsvAvEOL with a length "
                           "of %zu (it must be 0)", alen);
        if (id == NTLM_AV_FLAGS && alen == 4 &&
            (le32(p + at + 4) & AV_FLAG_MIC_PRESENT))
            out->mic_present = 1;
        if (out->n_av < NTLM_MAX_AV) {
            out->av[out->n_av].id = id;
            out->av[out->n_av].value.data = p + at + 4;
            out->av[out->n_av].value.len = alen;
            out->n_av++;
        } else {
            out->av_truncated = 1;
        }
        at += 4 + alen;
    }
    return fail_at(err, errlen, base + at, "AV pairs end without MsvAvEOL");
}

static void
read_version(const uint8_t *msg, size_t len, size_t at,
             struct ntlm_info *out)
{
    if (!(out->flags & NTLM_FLAG_VERSION) || at > len || len - at < 8)
        return;
    out->has_version = 1;
    out->major = msg[at];
    out->minor = msg[at + 1];
    out->build = (uint16_t)le16(msg + at + 2);
    out->revision = msg[at + 7];
}

static int
decode_negotiate(const uint8_t *msg, size_t len, struct ntlm_info *out,
                 char *err, size_t errlen)
{
    if (len < 16)
        return fail_at(err, errlen, len, "NEGOTIATE of %zu bytes has no "
                       "NegotiateFlags", len);
    out->flags = le32(msg + 12);
    /* the domain and workstation fields came later (NTLMv1 clients may
     * stop after the flags) */
    if (len >= 32 &&
        (!field_at(msg, len, 16, "DomainName", &out->domain, err, errlen) ||
         !field_at(msg, len, 24, "Workstation", &out->workstation, err,
                   errlen)))
        return 0;
    read_version(msg, len, 32, out);
    out->unicode = 0; /* NEGOTIATE's names are OEM */
    return 1;
}

static int
decode_challenge(const uint8_t *msg, size_t len, struct ntlm_info *out,
                 char *err, size_t errlen)
{
    struct ntlm_field info = { NULL, 0 };

    if (len < 48)
        return fail_at(err, errlen, len, "CHALLENGE of %zu bytes is shorter "
                       "than its 48-byte header", len);
    out->flags = le32(msg + 20);
    out->unicode = (out->flags & NTLM_FLAG_UNICODE) != 0;
    memcpy(out->server_challenge, msg + 24, 8);
    if (!field_at(msg, len, 12, "TargetName", &out->target, err, errlen) ||
        !field_at(msg, len, 40, "TargetInfo", &info, err, errlen))
        return 0;
    read_version(msg, len, 48, out);
    return info.len == 0 ||
           parse_av(info.data, info.len, (size_t)(info.data - msg), out, err,
                    errlen);
}

static int
decode_authenticate(const uint8_t *msg, size_t len, struct ntlm_info *out,
                    char *err, size_t errlen)
{
    struct ntlm_field lm = { NULL, 0 }, nt = { NULL, 0 }, key = { NULL, 0 };

    if (len < 64)
        return fail_at(err, errlen, len, "AUTHENTICATE of %zu bytes is "
                       "shorter than its 64-byte header", len);
    out->flags = le32(msg + 60);
    out->unicode = (out->flags & NTLM_FLAG_UNICODE) != 0;
    if (!field_at(msg, len, 12, "LmChallengeResponse", &lm, err, errlen) ||
        !field_at(msg, len, 20, "NtChallengeResponse", &nt, err, errlen) ||
        !field_at(msg, len, 28, "DomainName", &out->domain, err, errlen) ||
        !field_at(msg, len, 36, "UserName", &out->user, err, errlen) ||
        !field_at(msg, len, 44, "Workstation", &out->workstation, err,
                  errlen) ||
        !field_at(msg, len, 52, "EncryptedRandomSessionKey", &key, err,
                  errlen))
        return 0;
    out->lm_len = lm.len;
    out->nt_len = nt.len;
    out->session_key_len = key.len;
    read_version(msg, len, 64, out);
    out->ntlmv2 = nt.len > 24;
    if (out->ntlmv2) {
        if (nt.len < NTPROOF_LEN + CLIENT_CHALLENGE_HEADER)
            return fail_at(err, errlen, (size_t)(nt.data - msg), "NTLMv2 "
                           "response of %zu bytes is shorter than its "
                           "header", nt.len);
        if (!parse_av(nt.data + NTPROOF_LEN + CLIENT_CHALLENGE_HEADER,
                      nt.len - NTPROOF_LEN - CLIENT_CHALLENGE_HEADER,
                      (size_t)(nt.data - msg) + NTPROOF_LEN +
                          CLIENT_CHALLENGE_HEADER,
                      out, err, errlen))
            return 0;
    }
    if (out->mic_present) {
        if (len < 88)
            return fail_at(err, errlen, 72, "MsvAvFlags says a MIC is "
                           "present, but the message ends before it");
        memcpy(out->mic, msg + 72, 16);
    }
    return 1;
}

int
ntlm_decode(const uint8_t *msg, size_t len, struct ntlm_info *out,
            char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->type = ntlm_message_type(msg, len);
    switch (out->type) {
    case 1:
        return decode_negotiate(msg, len, out, err, errlen);
    case 2:
        return decode_challenge(msg, len, out, err, errlen);
    case 3:
        return decode_authenticate(msg, len, out, err, errlen);
    default:
        return fail_at(err, errlen, 0, "not an NTLMSSP NEGOTIATE, CHALLENGE "
                       "or AUTHENTICATE message");
    }
}
