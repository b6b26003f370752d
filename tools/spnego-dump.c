/*
 * spnego-dump - decode one SPNEGO token and show what it holds.
 *
 * The token is read from a file or standard input as hex (whitespace
 * allowed), base64 or raw bytes, auto-detected unless forced.  It is decoded
 * with negtoken_decode() with both leniencies on (a diagnostic tool should
 * show what real peers send: gokrb5's unframed NegTokenInit, the bare
 * NTLMSSP messages of Windows LDAP clients) and printed either as a tree
 * for people or as one JSON line for scripts (see spnego-dump(1)).
 *
 * Exit status: 0 decoded, 1 the input is not a token we can decode,
 * 2 usage error or a system error (unreadable input, unwritable output,
 * out of memory).
 *
 * Nothing here parses DER by hand: the token goes through common/, and the
 * inner mechanism tokens are only sniffed (tags, signatures, TOK_IDs) by
 * the small pure identify_* functions, with der_get() for the framing.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "der.h"
#include "krbmsg.h"
#include "negtoken.h"
#include "ntlmmsg.h"
#include "oids.h"
#include "ldapstory.h"

#define PROGRAM "spnego-dump"

/* Largest input read, whatever its encoding (a token is far smaller). */
#define READ_LIMIT ((size_t)16 * 1024 * 1024)
/* Bytes of unrecognised data shown in the tree. */
#define HEXDUMP_MAX 64
/* NEGOEX messages listed per token. */
#define NEGOEX_MAX_LISTED 8

enum exit_status {
    EXIT_OK = 0,
    EXIT_MALFORMED = 1, /* not a token, or an encoding error in the input */
    EXIT_TROUBLE = 2    /* usage error, I/O error, out of memory */
};

enum input_format { FORMAT_AUTO, FORMAT_HEX, FORMAT_BASE64, FORMAT_RAW };

enum action { ACTION_DUMP, ACTION_HELP, ACTION_VERSION };

struct options {
    enum action action;
    enum input_format format;
    int json;
    size_t max_token;  /* 0: the library's default */
    const char *path;  /* NULL or "-": standard input */
};

/* ---------------------------------------------------------------------
 * Usage
 */

static const char usage_line[] =
    "Usage: " PROGRAM " [--json] [--hex | --base64 | --raw] "
    "[--max-size N] [FILE | -]\n";

static void
print_help(FILE *out)
{
    fputs(usage_line, out);
    fputs("Decode one SPNEGO token (RFC 4178, with Microsoft's NegTokenInit2\n"
          "and bare NTLMSSP messages) and show its fields.\n"
          "\n"
          "The token is read from FILE, or from standard input when FILE is\n"
          "'-' or absent, as hex (whitespace allowed), base64 or raw bytes;\n"
          "the format is detected unless one of these options forces it:\n"
          "  --hex            the input is hex digits\n"
          "  --base64         the input is base64\n"
          "  --raw            the input is the token's bytes\n"
          "Other options:\n"
          "  --json           print one JSON object on one line\n"
          "  --max-size N     reject tokens longer than N bytes (default ",
          out);
    fprintf(out, "%u)\n", (unsigned)NEGTOKEN_DEFAULT_MAX_TOKEN);
    fputs("  -h, --help       show this help and exit\n"
          "  -V, --version    show the version and exit\n"
          "\n"
          "Exit status: 0 decoded, 1 malformed or undecodable input,\n"
          "2 usage error or unreadable input.  See spnego-dump(1).\n",
          out);
}

/* Report a usage problem on stderr ("what 'arg'[: detail]", then the
 * usage line); returns the exit status for it.  detail may be NULL. */
static int
usage_error(const char *what, const char *arg, const char *detail)
{
    fprintf(stderr, "%s: %s '%s'%s%s\n", PROGRAM, what, arg,
            detail != NULL ? ": " : "", detail != NULL ? detail : "");
    fputs(usage_line, stderr);
    fputs("Try '" PROGRAM " --help' for more information.\n", stderr);
    return EXIT_TROUBLE;
}

/* ---------------------------------------------------------------------
 * Command line
 */

/* Decimal size without sign or spaces, at least 1.  Returns 1 on success. */
static int
parse_size(const char *s, size_t *size_out)
{
    size_t v = 0;

    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        size_t digit;

        if (*s < '0' || *s > '9')
            return 0;
        digit = (size_t)(*s - '0');
        if (v > (SIZE_MAX - digit) / 10)
            return 0;
        v = v * 10 + digit;
    }
    if (v == 0)
        return 0;
    *size_out = v;
    return 1;
}

static int
set_format(struct options *opts, enum input_format format, const char *arg)
{
    if (opts->format != FORMAT_AUTO && opts->format != format)
        return usage_error("conflicting input format option", arg, NULL);
    opts->format = format;
    return EXIT_OK;
}

static int
set_max_size(struct options *opts, const char *value)
{
    if (value == NULL)
        return usage_error("missing number after option", "--max-size",
                           NULL);
    if (!parse_size(value, &opts->max_token))
        return usage_error("--max-size needs a whole number of bytes >= 1, "
                           "not", value, NULL);
    return EXIT_OK;
}

static const char max_size_eq[] = "--max-size=";

/*
 * One option at argv[*i]; --max-size may consume argv[*i + 1].
 * Returns EXIT_OK (0) to go on, or the usage-error status.
 */
static int
parse_option(int argc, char **argv, int *i, struct options *opts)
{
    const char *arg = argv[*i];

    if (strcmp(arg, "--json") == 0) {
        opts->json = 1;
        return EXIT_OK;
    }
    if (strcmp(arg, "--hex") == 0)
        return set_format(opts, FORMAT_HEX, arg);
    if (strcmp(arg, "--base64") == 0)
        return set_format(opts, FORMAT_BASE64, arg);
    if (strcmp(arg, "--raw") == 0)
        return set_format(opts, FORMAT_RAW, arg);
    if (strncmp(arg, max_size_eq, sizeof(max_size_eq) - 1) == 0)
        return set_max_size(opts, arg + sizeof(max_size_eq) - 1);
    if (strcmp(arg, "--max-size") == 0) {
        if (*i + 1 >= argc)
            return set_max_size(opts, NULL);
        *i += 1;
        return set_max_size(opts, argv[*i]);
    }
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
        opts->action = ACTION_HELP;
        return EXIT_OK;
    }
    if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
        opts->action = ACTION_VERSION;
        return EXIT_OK;
    }
    return usage_error("unknown option", arg, NULL);
}

static int
set_path(struct options *opts, const char *arg, int *have_input)
{
    if (*have_input)
        return usage_error("more than one input given; one token per run, "
                           "extra input", arg, NULL);
    *have_input = 1;
    opts->path = arg;
    return EXIT_OK;
}

/* Fill *opts_out from argv.  Returns 0, or EXIT_TROUBLE (already
 * reported). */
static int
parse_args(int argc, char **argv, struct options *opts_out)
{
    struct options opts = { ACTION_DUMP, FORMAT_AUTO, 0, 0, NULL };
    int i, status = EXIT_OK, only_inputs = 0, have_input = 0;

    for (i = 1; i < argc && status == EXIT_OK; i++) {
        const char *arg = argv[i];

        if (!only_inputs && strcmp(arg, "--") == 0)
            only_inputs = 1;
        else if (!only_inputs && arg[0] == '-' && arg[1] != '\0')
            status = parse_option(argc, argv, &i, &opts);
        else
            status = set_path(&opts, arg, &have_input);
    }
    if (status == EXIT_OK)
        *opts_out = opts;
    return status;
}

/* ---------------------------------------------------------------------
 * Input: read, detect the encoding, decode hex/base64
 */

enum read_status { READ_OK, READ_TOO_BIG, READ_IO_ERROR, READ_NOMEM };

/* Read all of f, at most READ_LIMIT bytes, into a malloc'd *buf_out. */
static enum read_status
read_all(FILE *f, uint8_t **buf_out, size_t *len_out)
{
    uint8_t *buf = NULL, *bigger;
    size_t len = 0, cap = 0, want, got;
    enum read_status status = READ_OK;

    *buf_out = NULL;
    *len_out = 0;
    for (;;) {
        if (len == cap) {
            cap = cap == 0 ? 4096 : cap * 2;
            if (cap > READ_LIMIT + 1)
                cap = READ_LIMIT + 1;
            bigger = realloc(buf, cap);
            if (bigger == NULL) {
                status = READ_NOMEM;
                goto cleanup;
            }
            buf = bigger;
        }
        want = cap - len;
        got = fread(buf + len, 1, want, f);
        len += got;
        if (len > READ_LIMIT) {
            status = READ_TOO_BIG;
            goto cleanup;
        }
        if (got < want)
            break;
    }
    if (ferror(f)) {
        status = READ_IO_ERROR;
        goto cleanup;
    }
    *buf_out = buf;
    *len_out = len;
    buf = NULL;
cleanup:
    free(buf);
    return status;
}

static int
is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/* Value of a hex digit, or -1. */
static int
hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Value of a base64 character (standard alphabet), or -1. */
static int
base64_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* 1 if every byte is a hex digit or whitespace. */
static int
is_hex_text(const uint8_t *in, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (!is_space(in[i]) && hex_value(in[i]) < 0)
            return 0;
    }
    return 1;
}

/*
 * Decode hex text with whitespace anywhere.  out (room for len / 2 bytes)
 * may be NULL to only check.  Returns 1, or 0 with *err (offsets count
 * bytes of the input text).
 */
static int
hex_decode(const uint8_t *in, size_t len, uint8_t *out, size_t *len_out,
           der_err *err)
{
    size_t i, n = 0, last = 0;
    int high = -1, v;

    *len_out = 0;
    for (i = 0; i < len; i++) {
        if (is_space(in[i]))
            continue;
        v = hex_value(in[i]);
        if (v < 0)
            return der_fail(err, i, "hex input: byte 0x%02x at input offset "
                            "%zu is not a hex digit (use --base64 or --raw "
                            "if the input is not hex)", in[i], i);
        last = i;
        if (high < 0) {
            high = v;
            continue;
        }
        if (out != NULL)
            out[n] = (uint8_t)((high << 4) | v);
        n++;
        high = -1;
    }
    if (high >= 0)
        return der_fail(err, last, "hex input has an odd number of hex "
                        "digits: the last one, at input offset %zu, has no "
                        "partner (is the token cut short?)", last);
    *len_out = n;
    return 1;
}

/* Emit the bytes of a complete or final base64 group of `count`
 * sextets held in acc. */
static size_t
base64_flush(uint32_t acc, unsigned count, uint8_t *out)
{
    size_t n = count == 4 ? 3 : count - 1;
    uint32_t bits = acc << (6 * (4 - count));

    if (out != NULL) {
        out[0] = (uint8_t)(bits >> 16);
        if (n > 1)
            out[1] = (uint8_t)(bits >> 8);
        if (n > 2)
            out[2] = (uint8_t)bits;
    }
    return n;
}

/* Check the end of base64 text: `count` sextets pending, `pad` '='. */
static int
base64_end_ok(unsigned count, size_t pad, size_t len, der_err *err)
{
    if (count == 1)
        return der_fail(err, len, "base64 input ends with a lone character "
                        "(a group needs at least 2; is the token cut "
                        "short?)");
    if (pad > 0 && count + pad != 4)
        return der_fail(err, len, "base64 input has %zu '=' after a group "
                        "of %u characters (padding must complete a group of "
                        "4)", pad, count);
    return 1;
}

/*
 * Decode base64 text (standard alphabet, optional '=' padding, whitespace
 * anywhere).  out (room for len * 3 / 4 + 3 bytes) may be NULL to only
 * check.  Returns 1, or 0 with *err (offsets count bytes of the text).
 */
static int
base64_decode(const uint8_t *in, size_t len, uint8_t *out, size_t *len_out,
              der_err *err)
{
    size_t i, n = 0, pad = 0;
    uint32_t acc = 0;
    unsigned count = 0;
    int v;

    *len_out = 0;
    for (i = 0; i < len; i++) {
        if (is_space(in[i]))
            continue;
        if (in[i] == '=' && pad < 2) {
            pad++;
            continue;
        }
        v = base64_value(in[i]);
        if (v < 0 || pad > 0)
            return der_fail(err, i, "base64 input: byte 0x%02x at input "
                            "offset %zu is %s (use --hex or --raw if the "
                            "input is not base64)", in[i], i,
                            pad > 0 ? "after the '=' padding"
                                    : "not a base64 character");
        acc = (acc << 6) | (uint32_t)v;
        if (++count == 4) {
            n += base64_flush(acc, count, out == NULL ? NULL : out + n);
            acc = 0;
            count = 0;
        }
    }
    if (!base64_end_ok(count, pad, len, err))
        return 0;
    if (count > 0)
        n += base64_flush(acc, count, out == NULL ? NULL : out + n);
    *len_out = n;
    return 1;
}

/*
 * Guess the encoding: hex if every non-space byte is a hex digit (an odd
 * number of them is then reported as a cut-short hex token rather than
 * read as unpadded base64); else base64 if the text is valid base64; else
 * the bytes themselves.  No real token is mistaken: the first byte of a
 * DER token (0x60, 0xa0, 0xa1) is in neither alphabet, an NTLMSSP message
 * holds NUL bytes, and base64 of a token starts with "YI", "oA" or "oQ"
 * ("TlRMTVNTUA" for NTLMSSP), which are not hex.
 */
static enum input_format
detect_format(const uint8_t *in, size_t len)
{
    size_t n;

    if (is_hex_text(in, len))
        return FORMAT_HEX;
    if (base64_decode(in, len, NULL, &n, NULL))
        return FORMAT_BASE64;
    return FORMAT_RAW;
}

/*
 * Turn text into bytes for hex or base64 (*decoded_out is malloc'd, the
 * caller frees it).  Returns 1; 0 with *err on an encoding error; -1 if
 * out of memory.
 */
static int
decode_text(enum input_format format, const uint8_t *in, size_t len,
            uint8_t **decoded_out, size_t *decoded_len_out, der_err *err)
{
    uint8_t *buf = NULL;
    int ok;

    *decoded_out = NULL;
    *decoded_len_out = 0;
    buf = malloc(len / 2 + len / 4 + 4);
    if (buf == NULL)
        return -1;
    if (format == FORMAT_BASE64)
        ok = base64_decode(in, len, buf, decoded_len_out, err);
    else
        ok = hex_decode(in, len, buf, decoded_len_out, err);
    if (!ok) {
        free(buf);
        return 0;
    }
    *decoded_out = buf;
    return 1;
}

/* ---------------------------------------------------------------------
 * Identifying the inner (mechanism) token.  All pure: they look at bytes
 * and return names; printing is elsewhere.
 */

enum inner_kind {
    INNER_UNKNOWN = 0,
    INNER_EMPTY,
    INNER_GSS,      /* 0x60 + thisMech OID + TOK_ID (RFC 2743 3.1) */
    INNER_KERBEROS, /* an unframed Kerberos message [APPLICATION n] */
    INNER_NTLMSSP,  /* "NTLMSSP\0" + message type */
    INNER_NEGOEX    /* "NEGOEXTS" messages */
};

struct inner_id {
    enum inner_kind kind;
    /* INNER_GSS */
    struct negtoken_bytes gss_mech; /* thisMech OID contents */
    int has_tok_id;
    uint8_t tok_id[2];
    const char *tok_id_name;        /* NULL if not known */
    /* INNER_GSS and INNER_KERBEROS: the Kerberos message found, or NULL */
    const char *krb_name;
    /* INNER_NTLMSSP */
    uint32_t ntlmssp_type;
    /* INNER_NEGOEX */
    size_t negoex_count;            /* messages walked */
    uint32_t negoex_types[NEGOEX_MAX_LISTED];
    size_t negoex_leftover;         /* bytes that are not whole messages */
};

static const uint8_t ntlmssp_signature[8] = { 'N', 'T', 'L', 'M',
                                              'S', 'S', 'P', 0 };
static const uint8_t negoex_signature[8] = { 'N', 'E', 'G', 'O',
                                             'E', 'X', 'T', 'S' };

/* NEGOEX message header (MS-NEGOEX 2.2.6.1): signature, type, sequence
 * number, header length, message length, conversation id. */
#define NEGOEX_HEADER_MIN 40
#define NEGOEX_TYPE_AT 8
#define NEGOEX_LENGTH_AT 20
/* NTLMSSP: signature, then the 32-bit message type (MS-NLMP 2.2.1). */
#define NTLMSSP_TYPE_AT 8
#define NTLMSSP_MIN 12

static uint32_t
load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static int
starts_with(const uint8_t *p, size_t len, const uint8_t *sig, size_t n)
{
    return len >= n && memcmp(p, sig, n) == 0;
}

/* Kerberos message by its [APPLICATION n] constructed tag (RFC 4120 5.10);
 * NULL if the tag is not one. */
static const char *
krb_message_name(uint8_t tag)
{
    switch (tag) {
    case 0x6a:
        return "Kerberos AS-REQ";
    case 0x6b:
        return "Kerberos AS-REP";
    case 0x6c:
        return "Kerberos TGS-REQ";
    case 0x6d:
        return "Kerberos TGS-REP";
    case 0x6e:
        return "Kerberos AP-REQ";
    case 0x6f:
        return "Kerberos AP-REP";
    case 0x7e:
        return "Kerberos KRB-ERROR";
    default:
        return NULL;
    }
}

/* Token id of a GSS-framed Kerberos or IAKERB token (RFC 4121 4.1,
 * draft-ietf-kitten-iakerb); NULL if unknown. */
static const char *
tok_id_name(const uint8_t tok_id[2])
{
    switch ((unsigned)tok_id[0] << 8 | tok_id[1]) {
    case 0x0100:
        return "Kerberos AP-REQ";
    case 0x0200:
        return "Kerberos AP-REP";
    case 0x0300:
        return "Kerberos KRB-ERROR";
    case 0x0501:
        return "IAKERB proxy message";
    case 0x0502:
        return "IAKERB message";
    default:
        return NULL;
    }
}

/* "NEGOTIATE", "CHALLENGE", "AUTHENTICATE", or NULL (MS-NLMP 2.2.1). */
static const char *
ntlmssp_type_name(uint32_t type)
{
    switch (type) {
    case 1:
        return "NEGOTIATE";
    case 2:
        return "CHALLENGE";
    case 3:
        return "AUTHENTICATE";
    default:
        return NULL;
    }
}

/* MS-NEGOEX 2.2.6.1 MESSAGE_TYPE; NULL if unknown. */
static const char *
negoex_type_name(uint32_t type)
{
    static const char *const names[] = {
        "INITIATOR_NEGO", "ACCEPTOR_NEGO", "INITIATOR_META_DATA",
        "ACCEPTOR_META_DATA", "CHALLENGE", "AP_REQUEST", "VERIFY", "ALERT"
    };

    if (type >= sizeof(names) / sizeof(names[0]))
        return NULL;
    return names[type];
}

/* Walk concatenated NEGOEX messages by their cbMessageLength. */
static void
identify_negoex(const uint8_t *p, size_t len, struct inner_id *id)
{
    id->kind = INNER_NEGOEX;
    while (len >= NEGOEX_HEADER_MIN &&
           starts_with(p, len, negoex_signature, sizeof(negoex_signature))) {
        uint32_t msg_len = load_le32(p + NEGOEX_LENGTH_AT);

        if (msg_len < NEGOEX_HEADER_MIN || msg_len > len)
            break;
        if (id->negoex_count < NEGOEX_MAX_LISTED)
            id->negoex_types[id->negoex_count] =
                load_le32(p + NEGOEX_TYPE_AT);
        id->negoex_count++;
        p += msg_len;
        len -= msg_len;
    }
    id->negoex_leftover = len;
}

/* The Kerberos message in the body of a GSS Kerberos/IAKERB token: right
 * after the TOK_ID, or after the IAKERB-HEADER SEQUENCE for IAKERB. */
static const char *
gss_body_krb_name(der_view body, const uint8_t tok_id[2])
{
    int iakerb = tok_id[0] == 0x05 &&
                 (tok_id[1] == 0x01 || tok_id[1] == 0x02);
    der_view header;
    uint8_t tag;

    if (iakerb &&
        !der_get(&body, DER_TAG_SEQUENCE, "IAKERB-HEADER", &header, NULL,
                 NULL))
        return NULL;
    if (!der_peek_tag(&body, &tag))
        return NULL;
    return krb_message_name(tag);
}

/* RFC 2743 3.1 framing: [APPLICATION 0] { thisMech OID, TOK_ID, body }.
 * Returns 0 (id untouched) if p is not framed that way. */
static int
identify_gss(const uint8_t *p, size_t len, struct inner_id *id)
{
    der_view in, contents, oid, tok_id;

    der_view_init(&in, p, len);
    if (!der_get(&in, DER_TAG_APPLICATION_0, "GSS token", &contents, NULL,
                 NULL) ||
        !der_get_oid(&contents, "thisMech", &oid, NULL))
        return 0;
    id->kind = INNER_GSS;
    id->gss_mech.data = oid.data;
    id->gss_mech.len = oid.len;
    if (!der_skip(&contents, 2, &tok_id))
        return 1;
    id->has_tok_id = 1;
    id->tok_id[0] = tok_id.data[0];
    id->tok_id[1] = tok_id.data[1];
    id->tok_id_name = tok_id_name(id->tok_id);
    id->krb_name = gss_body_krb_name(contents, id->tok_id);
    return 1;
}

/* Say what a mechToken/responseToken is.  Never fails: unknown data is
 * INNER_UNKNOWN. */
static void
identify_inner(const uint8_t *p, size_t len, struct inner_id *id)
{
    static const struct inner_id unknown = { .kind = INNER_UNKNOWN };

    *id = unknown;
    if (len == 0) {
        id->kind = INNER_EMPTY;
        return;
    }
    if (starts_with(p, len, ntlmssp_signature, sizeof(ntlmssp_signature))) {
        id->kind = INNER_NTLMSSP;
        if (len >= NTLMSSP_MIN)
            id->ntlmssp_type = load_le32(p + NTLMSSP_TYPE_AT);
        return;
    }
    if (starts_with(p, len, negoex_signature, sizeof(negoex_signature))) {
        identify_negoex(p, len, id);
        return;
    }
    if (p[0] == DER_TAG_APPLICATION_0 && identify_gss(p, len, id))
        return;
    id->krb_name = krb_message_name(p[0]);
    if (id->krb_name != NULL)
        id->kind = INNER_KERBEROS;
}

/* ---------------------------------------------------------------------
 * Output helpers
 */

static const struct {
    unsigned bit;
    const char *name;
} req_flag_names[] = {
    { NEGTOKEN_FLAG_DELEG, "deleg" },
    { NEGTOKEN_FLAG_MUTUAL, "mutual" },
    { NEGTOKEN_FLAG_REPLAY, "replay" },
    { NEGTOKEN_FLAG_SEQUENCE, "sequence" },
    { NEGTOKEN_FLAG_ANON, "anon" },
    { NEGTOKEN_FLAG_CONF, "conf" },
    { NEGTOKEN_FLAG_INTEG, "integ" },
};

#define N_REQ_FLAGS (sizeof(req_flag_names) / sizeof(req_flag_names[0]))

/*
 * Write OID contents as dotted decimal.  The decoder has checked them
 * (der_check_oid: complete, minimal, at most 63 bits per arc), so this
 * only does the arithmetic; it streams, so no OID is too long to print.
 */
static void
put_dotted_oid(FILE *out, const struct negtoken_bytes *oid)
{
    uint64_t sub = 0, arc1;
    size_t i;
    int first = 1;

    for (i = 0; i < oid->len; i++) {
        sub = (sub << 7) | (oid->data[i] & 0x7fu);
        if (oid->data[i] & 0x80u)
            continue;
        if (first) {
            arc1 = sub < 40 ? 0 : sub < 80 ? 1 : 2;
            fprintf(out, "%" PRIu64 ".%" PRIu64, arc1, sub - arc1 * 40);
            first = 0;
        } else {
            fprintf(out, ".%" PRIu64, sub);
        }
        sub = 0;
    }
}

/* "krb5 (1.2.840.113554.1.2.2)", or "unknown OID 1.2.3" */
static void
put_named_oid(FILE *out, const struct negtoken_bytes *oid)
{
    const struct spnego_oid_info *info =
        spnego_oid_info(spnego_oid_lookup(oid->data, oid->len));

    if (info == NULL) {
        fputs("unknown OID ", out);
        put_dotted_oid(out, oid);
        return;
    }
    fprintf(out, "%s (%s)", info->name, info->dotted);
}

/* A JSON string from arbitrary bytes: quotes and backslashes escaped,
 * control characters and every byte >= 0x7f as \u00XX (bytes read as
 * Latin-1), so the output is valid JSON whatever the input. */
static void
put_json_string(FILE *out, const uint8_t *s, size_t len)
{
    size_t i;

    fputc('"', out);
    for (i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            fprintf(out, "\\%c", s[i]);
        else if (s[i] < 0x20 || s[i] >= 0x7f)
            fprintf(out, "\\u%04x", (unsigned)s[i]);
        else
            fputc(s[i], out);
    }
    fputc('"', out);
}

static void
put_json_cstring(FILE *out, const char *s)
{
    put_json_string(out, (const uint8_t *)s, strlen(s));
}

/* A GeneralString for people: printable ASCII as is, the rest \xNN. */
static void
put_quoted(FILE *out, const struct negtoken_bytes *s)
{
    size_t i;

    fputc('"', out);
    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '"' || s->data[i] == '\\')
            fprintf(out, "\\%c", s->data[i]);
        else if (s->data[i] < 0x20 || s->data[i] >= 0x7f)
            fprintf(out, "\\x%02x", (unsigned)s->data[i]);
        else
            fputc(s->data[i], out);
    }
    fputc('"', out);
}

static void
put_hex_bytes(FILE *out, const uint8_t *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        fprintf(out, "%s%02x", i == 0 ? "" : " ", (unsigned)p[i]);
}

/* Classic 16-per-row dump of the first HEXDUMP_MAX bytes. */
static void
put_hexdump(FILE *out, const char *indent, const uint8_t *p, size_t len)
{
    size_t shown = min_size(len, HEXDUMP_MAX), row, i;

    for (row = 0; row < shown; row += 16) {
        fprintf(out, "%s%04zx ", indent, row);
        for (i = row; i < row + 16; i++) {
            if (i < shown)
                fprintf(out, " %02x", (unsigned)p[i]);
            else
                fputs("   ", out);
        }
        fputs("  |", out);
        for (i = row; i < row + 16 && i < shown; i++)
            fputc(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.', out);
        fputs("|\n", out);
    }
    if (shown < len)
        fprintf(out, "%s... %zu more bytes\n", indent, len - shown);
}

/* ---------------------------------------------------------------------
 * JSON output: one object, keys in a fixed order, present only when the
 * field is present.
 */

struct json {
    FILE *out;
    size_t keys; /* keys written so far in the current object */
};

static void
json_key(struct json *j, const char *key)
{
    fprintf(j->out, "%s\"%s\": ", j->keys > 0 ? ", " : "", key);
    j->keys++;
}

static void
json_mech_types(struct json *j, const struct negtoken *tok)
{
    size_t i;

    json_key(j, "mechTypes");
    fputc('[', j->out);
    for (i = 0; i < tok->n_mechs; i++) {
        fputs(i == 0 ? "\"" : ", \"", j->out);
        put_dotted_oid(j->out, &tok->mechs[i]);
        fputc('"', j->out);
    }
    fputc(']', j->out);
}

static void
json_req_flags(struct json *j, const struct negtoken *tok)
{
    size_t i, n = 0;

    json_key(j, "reqFlags");
    fputc('[', j->out);
    for (i = 0; i < N_REQ_FLAGS; i++) {
        if ((tok->req_flags & req_flag_names[i].bit) == 0)
            continue;
        fprintf(j->out, "%s\"%s\"", n++ > 0 ? ", " : "",
                req_flag_names[i].name);
    }
    fputc(']', j->out);
}

static void
json_neg_hints(struct json *j, const struct negtoken *tok)
{
    struct json hints = { j->out, 0 };

    json_key(j, "negHints");
    fputc('{', j->out);
    if (tok->has_hint_name) {
        json_key(&hints, "hintName");
        put_json_string(j->out, tok->hint_name.data, tok->hint_name.len);
    }
    if (tok->has_hint_address) {
        json_key(&hints, "hintAddress");
        fprintf(j->out, "%zu", tok->hint_address.len);
    }
    fputc('}', j->out);
}

static void
json_unknown_fields(struct json *j, const struct negtoken *tok)
{
    size_t i;

    json_key(j, "unknownFields");
    fputc('[', j->out);
    for (i = 0; i < tok->n_unknown; i++)
        fprintf(j->out, "%s%u", i == 0 ? "" : ", ", tok->unknown_tags[i]);
    fputc(']', j->out);
}

static void
json_length(struct json *j, const char *key, const struct negtoken_bytes *b)
{
    json_key(j, key);
    fprintf(j->out, "%zu", b->len);
}

static void json_ntlm(FILE *out, const uint8_t *msg, size_t len);

static void json_krb(FILE *out, const uint8_t *tok, size_t len);
static int krb_detailed(const struct inner_id *id);

/* {"error": TEXT}: an inner message that does not decode. */
static void
put_json_error_object(FILE *out, const char *text)
{
    fputs("{\"error\": ", out);
    put_json_cstring(out, text);
    fputc('}', out);
}

/* FIELDNtlm or FIELDKrb5: the NTLMSSP or Kerberos message a token field
 * holds, if it holds one. */
static void
json_inner(struct json *j, const char *field, const struct negtoken_bytes *b)
{
    struct inner_id id;
    char key[40];

    if (ntlm_message_type(b->data, b->len) != 0) {
        (void)snprintf(key, sizeof(key), "%sNtlm", field);
        json_key(j, key);
        json_ntlm(j->out, b->data, b->len);
        return;
    }
    identify_inner(b->data, b->len, &id);
    if (!krb_detailed(&id))
        return;
    (void)snprintf(key, sizeof(key), "%sKrb5", field);
    json_key(j, key);
    json_krb(j->out, b->data, b->len);
}

static void
print_json(FILE *out, const struct negtoken *tok)
{
    struct json j = { out, 0 };
    const char *ntlm = ntlmssp_type_name(tok->ntlmssp_type);

    fputc('{', out);
    json_key(&j, "framed");
    fputs(tok->framed ? "true" : "false", out);
    json_key(&j, "type");
    put_json_cstring(out, negtoken_type_name(tok->type));
    if (tok->type == NEGTOKEN_NTLMSSP) {
        json_key(&j, "ntlmsspType");
        put_json_cstring(out, ntlm != NULL ? ntlm : "unknown");
    }
    if (tok->has_mech_types)
        json_mech_types(&j, tok);
    if (tok->has_req_flags)
        json_req_flags(&j, tok);
    if (tok->has_mech_token)
        json_length(&j, "mechToken", &tok->mech_token);
    if (tok->type == NEGTOKEN_NTLMSSP) {
        json_key(&j, "ntlm");
        json_ntlm(out, tok->mech_token.data, tok->mech_token.len);
    } else if (tok->has_mech_token) {
        json_inner(&j, "mechToken", &tok->mech_token);
    }
    if (tok->has_neg_hints)
        json_neg_hints(&j, tok);
    if (tok->neg_state != NEG_STATE_ABSENT) {
        json_key(&j, "negState");
        put_json_cstring(out, negtoken_state_name(tok->neg_state));
    }
    if (tok->has_supported_mech) {
        json_key(&j, "supportedMech");
        fputc('"', out);
        put_dotted_oid(out, &tok->supported_mech);
        fputc('"', out);
    }
    if (tok->has_response_token) {
        json_length(&j, "responseToken", &tok->response_token);
        json_inner(&j, "responseToken", &tok->response_token);
    }
    if (tok->has_mic)
        json_length(&j, "mechListMIC", &tok->mic);
    if (tok->n_unknown > 0)
        json_unknown_fields(&j, tok);
    fputs("}\n", out);
}

static void
print_json_error(FILE *out, const der_err *err)
{
    fputs("{\"error\": ", out);
    put_json_cstring(out, err->text);
    fprintf(out, ", \"offset\": %zu}\n", err->offset);
}

/* ---------------------------------------------------------------------
 * Tree output
 */

static void
tree_negoex(FILE *out, const char *indent, const struct inner_id *id)
{
    size_t i, listed = min_size(id->negoex_count, NEGOEX_MAX_LISTED);

    fprintf(out, "%sNEGOEX, %zu message%s:", indent, id->negoex_count,
            id->negoex_count == 1 ? "" : "s");
    for (i = 0; i < listed; i++) {
        const char *name = negoex_type_name(id->negoex_types[i]);

        if (name != NULL)
            fprintf(out, " %s", name);
        else
            fprintf(out, " type-%" PRIu32, id->negoex_types[i]);
    }
    if (listed < id->negoex_count)
        fputs(" ...", out);
    fputc('\n', out);
    if (id->negoex_leftover > 0)
        fprintf(out, "%s%zu bytes after the last whole NEGOEX message\n",
                indent, id->negoex_leftover);
}

static void
tree_ntlmssp(FILE *out, const char *indent, uint32_t type)
{
    const char *name = ntlmssp_type_name(type);

    if (name != NULL)
        fprintf(out, "%sNTLMSSP %s\n", indent, name);
    else
        fprintf(out, "%sNTLMSSP message of unknown type %" PRIu32 "\n",
                indent, type);
}

static void
tree_gss(FILE *out, const char *indent, const struct inner_id *id)
{
    fputs(indent, out);
    if (!id->has_tok_id)
        fputs("GSS token too short for a TOK_ID", out);
    else if (id->tok_id_name != NULL)
        fprintf(out, "%s (TOK_ID %02x %02x)", id->tok_id_name,
                (unsigned)id->tok_id[0], (unsigned)id->tok_id[1]);
    else
        fprintf(out, "unknown TOK_ID %02x %02x", (unsigned)id->tok_id[0],
                (unsigned)id->tok_id[1]);
    /* Say what the body holds when the TOK_ID did not already say it
     * (IAKERB proxies KDC messages; a mismatch is worth seeing). */
    if (id->krb_name != NULL && (id->tok_id_name == NULL ||
                                 strcmp(id->krb_name, id->tok_id_name) != 0))
        fprintf(out, " carrying a %s", id->krb_name);
    fprintf(out, "\n%sGSS-framed, thisMech ", indent);
    put_named_oid(out, &id->gss_mech);
    fputc('\n', out);
}

/* ---- NTLMSSP messages in detail (MS-NLMP 2.2.1) ---- */

/* An NTLM string: UTF-16LE (unicode) or OEM; printable ASCII as is, the
 * rest as \uNNNN (JSON) or \xNN.  In quotes. */
/* One character of a name inside quotes: printable ASCII as it is, the
 * rest escaped (JSON: \uXXXX, tree: \xXX). */
static void
put_escaped_char(FILE *out, unsigned c, int json)
{
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
        fputc((int)c, out);
    else if (json)
        fprintf(out, "\\u%04x", c);
    else
        fprintf(out, "\\x%02x", c);
}

static void
put_ntlm_string(FILE *out, const struct ntlm_field *f, int unicode,
                int json)
{
    size_t i, step = unicode ? 2 : 1;

    fputc('"', out);
    for (i = 0; f->data != NULL && i + step <= f->len; i += step) {
        put_escaped_char(out, unicode ? (unsigned)f->data[i] |
                                            (unsigned)f->data[i + 1] << 8
                                      : f->data[i],
                         json);
    }
    fputc('"', out);
}

static void
put_ntlm_flags(FILE *out, uint32_t flags, int json)
{
    unsigned bit;
    int first = 1;

    for (bit = 0; bit < 32; bit++) {
        const char *name = ntlm_flag_name(bit);

        if (!(flags & (1u << bit)))
            continue;
        fputs(first ? "" : json ? ", " : " ", out);
        first = 0;
        if (json)
            fputc('"', out);
        if (name != NULL)
            fputs(name, out);
        else
            fprintf(out, "0x%08x", 1u << bit);
        if (json)
            fputc('"', out);
    }
}

/* "zero", "set" or NULL (absent): MsvAvChannelBindings, the MD5 hash of
 * the channel bindings, all zero when the client had none. */
static const char *
ntlm_cb_state(const struct ntlm_info *m)
{
    size_t i, j;

    for (i = 0; i < m->n_av; i++) {
        if (m->av[i].id != NTLM_AV_CHANNEL_BINDINGS)
            continue;
        for (j = 0; j < m->av[i].value.len; j++) {
            if (m->av[i].value.data[j] != 0)
                return "set";
        }
        return "zero";
    }
    return NULL;
}

static void
tree_ntlm_names(FILE *out, const char *indent, const struct ntlm_info *m)
{
    static const char *const what[] = { "domain", "user", "workstation",
                                        "target" };
    const struct ntlm_field *f[] = { &m->domain, &m->user, &m->workstation,
                                     &m->target };
    size_t i;

    for (i = 0; i < 4; i++) {
        if (f[i]->len == 0)
            continue;
        fprintf(out, "%s%s: ", indent, what[i]);
        put_ntlm_string(out, f[i], m->unicode, 0);
        fputc('\n', out);
    }
}

static void
tree_ntlm_av(FILE *out, const char *indent, const struct ntlm_info *m)
{
    size_t i;

    for (i = 0; i < m->n_av; i++) {
        const struct ntlm_av *a = &m->av[i];
        const char *name = ntlm_av_name(a->id);

        fprintf(out, "%s  %s", indent, name != NULL ? name : "AV pair");
        if (name == NULL)
            fprintf(out, " %u", (unsigned)a->id);
        if (a->id == NTLM_AV_FLAGS && a->value.len == 4)
            fprintf(out, ": 0x%08x%s",
                    (unsigned)a->value.data[0] |
                        (unsigned)a->value.data[1] << 8 |
                        (unsigned)a->value.data[2] << 16 |
                        (unsigned)a->value.data[3] << 24,
                    (a->value.data[0] & 2) ? " (MIC present)" : "");
        else if (a->id >= 1 && a->id <= 5)
            put_ntlm_string((fputs(": ", out), out), &a->value, 1, 0);
        else if (a->id == NTLM_AV_CHANNEL_BINDINGS)
            fputs(ntlm_cb_state(m) != NULL &&
                          strcmp(ntlm_cb_state(m), "zero") == 0
                      ? ": all zero (no channel bindings)"
                      : ": set",
                  out);
        else
            fprintf(out, " (%zu bytes)", a->value.len);
        fputc('\n', out);
    }
    if (m->av_truncated)
        fprintf(out, "%s  ... more AV pairs\n", indent);
}

/* The fields of an NTLMSSP message, at indent. */
static void
tree_ntlm_detail(FILE *out, const char *indent, const uint8_t *msg,
                 size_t len)
{
    struct ntlm_info m;
    char err[256];

    if (!ntlm_decode(msg, len, &m, err, sizeof(err))) {
        fprintf(out, "%smalformed: %s\n", indent, err);
        return;
    }
    fprintf(out, "%sflags 0x%08x: ", indent, (unsigned)m.flags);
    put_ntlm_flags(out, m.flags, 0);
    fputc('\n', out);
    if (m.has_version)
        fprintf(out, "%sversion %u.%u build %u, NTLMSSP revision %u\n",
                indent, m.major, m.minor, m.build, m.revision);
    tree_ntlm_names(out, indent, &m);
    if (m.type == 2)
        fprintf(out, "%starget info: %zu AV pair%s\n", indent, m.n_av,
                m.n_av == 1 ? "" : "s");
    if (m.type == 3) {
        fprintf(out, "%s%s response (%zu bytes), LM response %zu bytes%s\n",
                indent, m.ntlmv2 ? "NTLMv2" : "NTLMv1", m.nt_len, m.lm_len,
                m.session_key_len > 0 ? ", exchanged session key" : "");
        fprintf(out, "%sMIC: %s\n", indent,
                m.mic_present ? "present" : "absent");
        if (m.ntlmv2)
            fprintf(out, "%sAV pairs of the NTLMv2 response:\n", indent);
    }
    tree_ntlm_av(out, indent, &m);
}

/* The same as a JSON object value. */
static void
json_ntlm(FILE *out, const uint8_t *msg, size_t len)
{
    struct ntlm_info m;
    char err[256];
    const char *cb;
    size_t i;

    if (!ntlm_decode(msg, len, &m, err, sizeof(err))) {
        put_json_error_object(out, err);
        return;
    }
    fprintf(out, "{\"message\": \"%s\", \"flags\": [",
            ntlmssp_type_name(m.type));
    put_ntlm_flags(out, m.flags, 1);
    fputc(']', out);
    if (m.has_version)
        fprintf(out, ", \"version\": \"%u.%u.%u\", \"revision\": %u",
                m.major, m.minor, m.build, m.revision);
    if (m.domain.len > 0)
        put_ntlm_string((fputs(", \"domain\": ", out), out), &m.domain,
                        m.unicode, 1);
    if (m.user.len > 0)
        put_ntlm_string((fputs(", \"user\": ", out), out), &m.user,
                        m.unicode, 1);
    if (m.workstation.len > 0)
        put_ntlm_string((fputs(", \"workstation\": ", out), out),
                        &m.workstation, m.unicode, 1);
    if (m.target.len > 0)
        put_ntlm_string((fputs(", \"target\": ", out), out), &m.target,
                        m.unicode, 1);
    if (m.type == 3)
        fprintf(out, ", \"ntlmv2\": %s, \"mic\": %s",
                m.ntlmv2 ? "true" : "false", m.mic_present ? "true" : "false");
    if (m.n_av > 0) {
        fputs(", \"avPairs\": [", out);
        for (i = 0; i < m.n_av; i++) {
            const char *name = ntlm_av_name(m.av[i].id);

            fputs(i > 0 ? ", " : "", out);
            if (name != NULL)
                fprintf(out, "\"%s\"", name);
            else
                fprintf(out, "%u", (unsigned)m.av[i].id);
        }
        fputc(']', out);
    }
    cb = ntlm_cb_state(&m);
    if (cb != NULL)
        fprintf(out, ", \"channelBindings\": \"%s\"", cb);
    fputc('}', out);
}

/* ---- Kerberos messages in detail (RFC 4120) ---- */

static void
put_krb_str(FILE *out, const struct krb_str *s, int json)
{
    struct ntlm_field f = { s->data, s->len };

    put_ntlm_string(out, &f, 0, json);
}

static void
put_etype(FILE *out, int32_t etype)
{
    const char *name = krb_etype_name(etype);

    if (name != NULL)
        fprintf(out, "%s (%d)", name, (int)etype);
    else
        fprintf(out, "etype %d", (int)etype);
}

/* Bytes of a Kerberos string without quotes: printable ASCII as is,
 * the rest (and, for JSON, the quote and backslash) escaped. */
static void
put_krb_bytes(FILE *out, const uint8_t *p, size_t len, int json)
{
    size_t j;

    for (j = 0; j < len; j++)
        put_escaped_char(out, p[j], json);
}

/* The service principal's components joined by '/'. */
static void
put_sname(FILE *out, const struct krb_info *k, int json)
{
    size_t i;

    for (i = 0; i < k->n_sname; i++) {
        if (i > 0)
            fputc('/', out);
        put_krb_bytes(out, k->sname[i].data, k->sname[i].len, json);
    }
    if (k->sname_truncated)
        fputs("/...", out);
}

/* 1 if the inner token is a Kerberos AP-REQ, AP-REP or KRB-ERROR (the
 * messages krb_decode reads), framed or not. */
static int
krb_detailed(const struct inner_id *id)
{
    return (id->kind == INNER_GSS || id->kind == INNER_KERBEROS) &&
           id->krb_name != NULL &&
           (strcmp(id->krb_name, "Kerberos AP-REQ") == 0 ||
            strcmp(id->krb_name, "Kerberos AP-REP") == 0 ||
            strcmp(id->krb_name, "Kerberos KRB-ERROR") == 0);
}

static void
tree_krb_detail(FILE *out, const char *indent, const uint8_t *tok,
                size_t len)
{
    struct krb_info k;
    const char *name;
    char err[256];

    if (!krb_decode(tok, len, &k, err, sizeof(err))) {
        fprintf(out, "%smalformed: %s\n", indent, err);
        return;
    }
    if (k.type == KRB_MSG_AP_REQ) {
        fprintf(out, "%sticket for ", indent);
        put_sname(out, &k, 0);
        fputc('@', out);
        put_krb_bytes(out, k.realm.data, k.realm.len, 0);
        fprintf(out, "\n%sticket enc-part: ", indent);
        put_etype(out, k.etype);
        if (k.has_kvno)
            fprintf(out, ", kvno %u", (unsigned)k.kvno);
        fprintf(out, "\n%sauthenticator: ", indent);
        put_etype(out, k.auth_etype);
        fprintf(out, "\n%sap-options 0x%08x%s%s\n", indent,
                (unsigned)k.ap_options,
                (k.ap_options & 0x40000000u) ? " use-session-key" : "",
                (k.ap_options & 0x20000000u) ? " mutual-required" : "");
    } else if (k.type == KRB_MSG_AP_REP) {
        fprintf(out, "%senc-part: ", indent);
        put_etype(out, k.etype);
        fputc('\n', out);
    } else {
        name = krb_error_name(k.error_code);
        fprintf(out, "%serror %d (%s) from ", indent, (int)k.error_code,
                name != NULL ? name : "unknown code");
        put_sname(out, &k, 0);
        fputc('@', out);
        put_krb_bytes(out, k.realm.data, k.realm.len, 0);
        fputc('\n', out);
        if (k.has_e_text) {
            fprintf(out, "%se-text: ", indent);
            put_krb_str(out, &k.e_text, 0);
            fputc('\n', out);
        }
    }
}

static void
json_krb(FILE *out, const uint8_t *tok, size_t len)
{
    static const char *const types[] = { "AP-REQ", "AP-REP", "KRB-ERROR" };
    struct krb_info k;
    const char *name;
    char err[256];

    if (!krb_decode(tok, len, &k, err, sizeof(err))) {
        put_json_error_object(out, err);
        return;
    }
    fprintf(out, "{\"message\": \"%s\"",
            types[k.type == KRB_MSG_AP_REQ ? 0
                  : k.type == KRB_MSG_AP_REP ? 1 : 2]);
    if (k.type != KRB_MSG_AP_REP) {
        fputs(", \"service\": \"", out);
        put_sname(out, &k, 1);
        fputs("\", \"realm\": ", out);
        put_krb_str(out, &k.realm, 1);
    }
    if (k.type != KRB_MSG_ERROR)
        fprintf(out, ", \"etype\": %d", (int)k.etype);
    if (k.has_kvno)
        fprintf(out, ", \"kvno\": %u", (unsigned)k.kvno);
    if (k.type == KRB_MSG_AP_REQ)
        fprintf(out, ", \"authenticatorEtype\": %d, \"apOptions\": %u",
                (int)k.auth_etype, (unsigned)k.ap_options);
    if (k.type == KRB_MSG_ERROR) {
        name = krb_error_name(k.error_code);
        fprintf(out, ", \"errorCode\": %d", (int)k.error_code);
        if (name != NULL)
            fprintf(out, ", \"errorName\": \"%s\"", name);
        if (k.has_e_text) {
            fputs(", \"eText\": ", out);
            put_krb_str(out, &k.e_text, 1);
        }
    }
    fputc('}', out);
}

/* What a mechToken/responseToken holds, one or two lines at indent. */
static void
tree_inner(FILE *out, const char *indent, const struct negtoken_bytes *b)
{
    struct inner_id id;

    identify_inner(b->data, b->len, &id);
    switch (id.kind) {
    case INNER_EMPTY:
        fprintf(out, "%s(empty)\n", indent);
        break;
    case INNER_GSS:
        tree_gss(out, indent, &id);
        if (krb_detailed(&id))
            tree_krb_detail(out, indent, b->data, b->len);
        break;
    case INNER_KERBEROS:
        fprintf(out, "%s%s (unframed)\n", indent, id.krb_name);
        if (krb_detailed(&id))
            tree_krb_detail(out, indent, b->data, b->len);
        break;
    case INNER_NTLMSSP:
        tree_ntlmssp(out, indent, id.ntlmssp_type);
        tree_ntlm_detail(out, indent, b->data, b->len);
        break;
    case INNER_NEGOEX:
        tree_negoex(out, indent, &id);
        break;
    case INNER_UNKNOWN:
    default:
        fprintf(out, "%sunrecognised data:\n", indent);
        put_hexdump(out, indent, b->data, b->len);
        break;
    }
}

static void
tree_header(FILE *out, const struct negtoken *tok, size_t token_len)
{
    fprintf(out, "%s, %zu bytes, ", negtoken_type_name(tok->type),
            token_len);
    if (tok->framed)
        fputs("GSS-framed (thisMech spnego 1.3.6.1.5.5.2)\n", out);
    else if (tok->type == NEGTOKEN_NTLMSSP)
        fputs("a bare NTLMSSP message, no SPNEGO wrapper\n", out);
    else if (tok->type == NEGTOKEN_RESP)
        fputs("not framed\n", out);
    else
        fputs("not framed (RFC 2743 3.1 wants the GSS header here)\n",
              out);
}

static void
tree_mech_types(FILE *out, const struct negtoken *tok)
{
    size_t i;

    fprintf(out, "  mechTypes: %zu mechanism%s\n", tok->n_mechs,
            tok->n_mechs == 1 ? "" : "s");
    for (i = 0; i < tok->n_mechs; i++) {
        fputs("    ", out);
        put_named_oid(out, &tok->mechs[i]);
        fputc('\n', out);
    }
}

static void
tree_req_flags(FILE *out, const struct negtoken *tok)
{
    size_t i, n = 0;

    fputs("  reqFlags:", out);
    for (i = 0; i < N_REQ_FLAGS; i++) {
        if (tok->req_flags & req_flag_names[i].bit) {
            fprintf(out, "%s%s", n == 0 ? " " : ", ", req_flag_names[i].name);
            n++;
        }
    }
    fprintf(out, "%s (BIT STRING ", n == 0 ? " none" : "");
    put_hex_bytes(out, tok->req_flags_raw.data, tok->req_flags_raw.len);
    fputs(")\n", out);
}

static void
tree_neg_hints(FILE *out, const struct negtoken *tok)
{
    fputs("  negHints:\n", out);
    if (tok->has_hint_name) {
        fputs("    hintName: ", out);
        put_quoted(out, &tok->hint_name);
        fputc('\n', out);
    }
    if (tok->has_hint_address) {
        fprintf(out, "    hintAddress: %zu bytes\n", tok->hint_address.len);
        put_hexdump(out, "      ", tok->hint_address.data,
                    tok->hint_address.len);
    }
    if (!tok->has_hint_name && !tok->has_hint_address)
        fputs("    (empty)\n", out);
}

static void
tree_token_field(FILE *out, const char *name, const struct negtoken_bytes *b)
{
    fprintf(out, "  %s: %zu bytes\n", name, b->len);
    tree_inner(out, "    ", b);
}

/* A MIC of up to 16 bytes (NTLM's, Kerberos' are 28) fits on its line. */
static void
tree_mic(FILE *out, const struct negtoken *tok)
{
    fprintf(out, "  mechListMIC: %zu bytes", tok->mic.len);
    if (tok->mic.len > 0 && tok->mic.len <= 16) {
        fputs(": ", out);
        put_hex_bytes(out, tok->mic.data, tok->mic.len);
        fputc('\n', out);
    } else {
        fputc('\n', out);
        put_hexdump(out, "    ", tok->mic.data, tok->mic.len);
    }
    if (negtoken_mic_is_w2k_copy(tok))
        fputs("    (a copy of the responseToken: the Windows 2000 quirk;\n"
              "    peers treat the MIC as absent)\n", out);
}

static void
tree_unknown_fields(FILE *out, const struct negtoken *tok)
{
    size_t i;

    for (i = 0; i < tok->n_unknown; i++)
        fprintf(out, "  unknown field [%u]: skipped (extension)\n",
                tok->unknown_tags[i]);
}

static void
print_tree(FILE *out, const struct negtoken *tok, size_t token_len)
{
    tree_header(out, tok, token_len);
    if (tok->type == NEGTOKEN_NTLMSSP) {
        tree_inner(out, "  ", &tok->mech_token);
        return;
    }
    if (tok->has_mech_types)
        tree_mech_types(out, tok);
    if (tok->has_req_flags)
        tree_req_flags(out, tok);
    if (tok->has_mech_token)
        tree_token_field(out, "mechToken", &tok->mech_token);
    if (tok->has_neg_hints)
        tree_neg_hints(out, tok);
    if (tok->neg_state != NEG_STATE_ABSENT)
        fprintf(out, "  negState: %s (%d)\n",
                negtoken_state_name(tok->neg_state), (int)tok->neg_state);
    else if (tok->type == NEGTOKEN_RESP)
        fputs("  negState: absent\n", out);
    if (tok->has_supported_mech) {
        fputs("  supportedMech: ", out);
        put_named_oid(out, &tok->supported_mech);
        fputc('\n', out);
    }
    if (tok->has_response_token)
        tree_token_field(out, "responseToken", &tok->response_token);
    if (tok->has_mic)
        tree_mic(out, tok);
    tree_unknown_fields(out, tok);
}

/* ---------------------------------------------------------------------
 * Main flow
 */

/* A malformed input: JSON on stdout or a line on stderr.  Returns 1. */
static int
report_malformed(const struct options *opts, const der_err *err)
{
    if (opts->json)
        print_json_error(stdout, err);
    else
        fprintf(stderr, "%s: error at offset %zu: %s\n", PROGRAM,
                err->offset, err->text);
    return EXIT_MALFORMED;
}

static int
report_system(const char *what, const char *name, int errnum)
{
    fprintf(stderr, "%s: %s %s: %s\n", PROGRAM, what, name,
            strerror(errnum));
    return EXIT_TROUBLE;
}

/* Read the whole input named by opts.  Returns 0, or the exit status
 * (already reported). */
static int
load_input(const struct options *opts, uint8_t **buf_out, size_t *len_out)
{
    int use_stdin = opts->path == NULL || strcmp(opts->path, "-") == 0;
    const char *name = use_stdin ? "standard input" : opts->path;
    FILE *f = NULL;
    enum read_status rs;
    der_err err = { 0, "" };
    int status = EXIT_OK, saved;

    f = use_stdin ? stdin : fopen(opts->path, "rb");
    if (f == NULL) {
        saved = errno;
        status = usage_error("cannot open input file", opts->path,
                             strerror(saved));
        goto cleanup;
    }
    errno = 0;
    rs = read_all(f, buf_out, len_out);
    switch (rs) {
    case READ_OK:
        break;
    case READ_TOO_BIG:
        (void)der_fail(&err, READ_LIMIT, "%s is larger than the read "
                       "limit of %zu bytes (16 MiB); give one token per "
                       "run", name, READ_LIMIT);
        status = report_malformed(opts, &err);
        break;
    case READ_IO_ERROR:
        status = usage_error("cannot read input", name,
                             strerror(errno != 0 ? errno : EIO));
        break;
    case READ_NOMEM:
    default:
        status = report_system("out of memory reading", name, ENOMEM);
        break;
    }
cleanup:
    if (f != NULL && f != stdin)
        fclose(f);
    return status;
}

/* Decode the token and print it.  Returns the exit status. */
static int
dump_token(const struct options *opts, const uint8_t *token, size_t len)
{
    struct negtoken_opts nopts = { 0, 0, 0 };
    struct negtoken tok;
    der_err err = { 0, "" };

    nopts.max_token = opts->max_token;
    nopts.lenience = NEGTOKEN_ALLOW_UNFRAMED_INIT | NEGTOKEN_ALLOW_RAW_NTLMSSP;
    if (negtoken_decode(token, len, &nopts, &tok, &err) != NEGTOKEN_OK)
        return report_malformed(opts, &err);
    if (opts->json)
        print_json(stdout, &tok);
    else
        print_tree(stdout, &tok, len);
    return EXIT_OK;
}

/* A packet capture (pcap or pcapng) in f: the story of its GSS-SPNEGO
 * binds.  f is closed here. */
static int
dump_capture(const struct options *opts, FILE *f, const char *name)
{
    struct capture cap;
    char err[512];
    size_t binds;

    if (!capture_read(f, name, &cap, err, sizeof(err))) {
        fprintf(stderr, "%s: %s\n", PROGRAM, err);
        return EXIT_MALFORMED;
    }
    binds = ldapstory_print(stdout, &cap, opts->json);
    if (!opts->json) {
        printf("%zu GSS-SPNEGO bind%s in %zu TCP connection%s (%zu packets, "
               "link %s)%s\n", binds, binds == 1 ? "" : "s", cap.n_conns,
               cap.n_conns == 1 ? "" : "s", cap.packets, cap.link,
               cap.cut ? "; the file ends inside a packet" : "");
    }
    capture_free(&cap);
    if (binds == 0) {
        fprintf(stderr, "%s: %s: no LDAP SASL GSS-SPNEGO bind found (only "
                "clear LDAP is read: not LDAPS, not after StartTLS)\n",
                PROGRAM, name);
        return EXIT_MALFORMED;
    }
    return EXIT_OK;
}

/* A named file that starts like a capture: read it as one, without the
 * token size limit.  Returns -1 if it is not one (or cannot be opened:
 * load_input reports that). */
static int
try_capture_file(const struct options *opts)
{
    uint8_t head[4];
    FILE *f;

    if (opts->path == NULL || strcmp(opts->path, "-") == 0)
        return -1;
    f = fopen(opts->path, "rb");
    if (f == NULL)
        return -1;
    if (fread(head, 1, sizeof(head), f) != sizeof(head) ||
        !capture_is_capture(head, sizeof(head)) || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return -1;
    }
    return dump_capture(opts, f, opts->path);
}

/* A capture given on standard input, already read. */
static int
capture_from_memory(const struct options *opts, uint8_t *input, size_t len)
{
    FILE *f = fmemopen(input, len, "rb");

    if (f == NULL)
        return report_system("cannot read", "standard input", errno);
    return dump_capture(opts, f, "standard input");
}

static int
run(const struct options *opts)
{
    uint8_t *input = NULL, *decoded = NULL;
    size_t input_len = 0, decoded_len = 0;
    enum input_format format;
    der_err err = { 0, "" };
    int status, r;

    status = try_capture_file(opts);
    if (status >= 0)
        return status;
    status = load_input(opts, &input, &input_len);
    if (status != EXIT_OK)
        goto cleanup;
    if (opts->format == FORMAT_AUTO && capture_is_capture(input, input_len)) {
        status = capture_from_memory(opts, input, input_len);
        goto cleanup;
    }
    format = opts->format;
    if (format == FORMAT_AUTO)
        format = detect_format(input, input_len);
    if (format == FORMAT_RAW) {
        status = dump_token(opts, input, input_len);
        goto cleanup;
    }
    r = decode_text(format, input, input_len, &decoded, &decoded_len, &err);
    if (r < 0)
        status = report_system("out of memory decoding", "the input",
                               ENOMEM);
    else if (r == 0)
        status = report_malformed(opts, &err);
    else
        status = dump_token(opts, decoded, decoded_len);
cleanup:
    free(input);
    free(decoded);
    return status;
}

/* Flush stdout; a failed write (disk full, closed pipe) is exit 2. */
static int
finish_output(int status)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        return report_system("cannot write", "the output",
                             errno != 0 ? errno : EIO);
    return status;
}

int
main(int argc, char **argv)
{
    struct options opts;
    int status;

    status = parse_args(argc, argv, &opts);
    if (status != EXIT_OK)
        return status;
    switch (opts.action) {
    case ACTION_HELP:
        print_help(stdout);
        break;
    case ACTION_VERSION:
        printf("%s (sasl-spnego) %s\n", PROGRAM, PACKAGE_VERSION);
        break;
    case ACTION_DUMP:
    default:
        status = run(&opts);
        break;
    }
    return finish_output(status);
}
