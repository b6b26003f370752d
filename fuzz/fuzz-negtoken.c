/* fuzz-negtoken.c - libFuzzer target for the token codec.  The DER
 * property: whatever decodes re-encodes to the very same bytes (unless it
 * carried unknown extension fields, which are skipped), and an encoding
 * always decodes again to the same encoding.  The NTLMSSP and Kerberos
 * decoders of spnego-dump (ntlm_decode, krb_decode) read every inner
 * token found, and the raw input too: the sanitizers watch their bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "krbmsg.h"
#include "negtoken.h"
#include "ntlmmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct negtoken_opts lenient = {
    0, 0, NEGTOKEN_ALLOW_UNFRAMED_INIT | NEGTOKEN_ALLOW_RAW_NTLMSSP
};

static void
check_reencode(const struct negtoken *tok, const uint8_t *data, size_t size)
{
    struct negtoken again;
    uint8_t *out = NULL, *out2 = NULL;
    size_t out_len = 0, out2_len = 0;
    der_err err;

    if (tok->type == NEGTOKEN_NTLMSSP)
        return;
    if (negtoken_encode(tok, &out, &out_len) != NEGTOKEN_OK)
        abort();
    if (tok->n_unknown == 0 && (out_len != size || memcmp(out, data, size) != 0))
        abort();
    if (negtoken_decode(out, out_len, &lenient, &again, &err) != NEGTOKEN_OK)
        abort();
    if (again.type != tok->type || again.n_mechs != tok->n_mechs ||
        again.n_unknown != 0)
        abort();
    if (negtoken_encode(&again, &out2, &out2_len) != NEGTOKEN_OK ||
        out2_len != out_len || memcmp(out2, out, out_len) != 0)
        abort();
    free(out2);
    free(out);
}

/* spnego-dump's decoders of mechanism tokens. */
static void
inner(const uint8_t *data, size_t size)
{
    struct ntlm_info ntlm;
    struct krb_info krb;
    char text[256];

    (void)ntlm_decode(data, size, &ntlm, text, sizeof(text));
    (void)krb_decode(data, size, &krb, text, sizeof(text));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct negtoken tok;
    der_err err;

    inner(data, size);
    if (negtoken_decode(data, size, &lenient, &tok, &err) == NEGTOKEN_OK) {
        if (tok.has_mech_token)
            inner(tok.mech_token.data, tok.mech_token.len);
        if (tok.has_response_token)
            inner(tok.response_token.data, tok.response_token.len);
        check_reencode(&tok, data, size);
    }
    if (negtoken_decode(data, size, NULL, &tok, &err) == NEGTOKEN_OK)
        check_reencode(&tok, data, size);
    return 0;
}
