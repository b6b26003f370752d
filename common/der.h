/*
 * der.h - strict DER reader over views, and a size-then-fill writer.
 *
 * The reader never allocates: every sub-view points into the caller's
 * buffer, which must outlive the views.  Each reading function returns 1 on
 * success and 0 on failure; on failure it fills the caller's der_err (if not
 * NULL) with a sentence and the byte offset (from the start of the buffer
 * given to der_view_init) where the problem was found, and leaves the view
 * it was reading unchanged.
 *
 * Strictness (X.690 DER) lives in der_get_any(): single-byte tags only,
 * definite lengths only, minimal length encoding, at most 4 length bytes,
 * and no length past the end of the enclosing view.  Typed getters add the
 * per-type rules (primitive OCTET/BIT STRING, minimal OID sub-identifiers,
 * BIT STRING unused bits).  Nothing here recurses.
 *
 * The writer is size-then-fill: callers compute the exact size with
 * der_tlv_size(), allocate once with der_writer_init(), fill with the put
 * functions, and check der_writer_finish() (which asserts the fill matched).
 */
#ifndef SPNEGO_DER_H
#define SPNEGO_DER_H

#include <stddef.h>
#include <stdint.h>

/* Universal and context tags used by SPNEGO (single-byte identifiers). */
enum {
    DER_TAG_INTEGER = 0x02,
    DER_TAG_BIT_STRING = 0x03,
    DER_TAG_OCTET_STRING = 0x04,
    DER_TAG_OID = 0x06,
    DER_TAG_ENUMERATED = 0x0a,
    DER_TAG_GENERAL_STRING = 0x1b,
    DER_TAG_SEQUENCE = 0x30,
    DER_TAG_APPLICATION_0 = 0x60, /* [APPLICATION 0] constructed */
    DER_CONSTRUCTED = 0x20,
    DER_CLASS_MASK = 0xc0,
    DER_CLASS_CONTEXT = 0x80
};

/* Context-specific constructed tag [n] (explicit tagging), n < 31. */
#define DER_CONTEXT(n) ((uint8_t)(DER_CLASS_CONTEXT | DER_CONSTRUCTED | (n)))

/* Largest length the reader accepts (4 length bytes). */
#define DER_MAX_LENGTH_BYTES 4

/* A read-only window into a buffer.  Owns nothing. */
typedef struct der_view {
    const uint8_t *data;
    size_t len;
    size_t offset; /* offset of data[0] from the start of the whole buffer */
} der_view;

/* An empty view, to initialise locals. */
#define DER_VIEW_EMPTY { NULL, 0, 0 }

/* Where and why a read failed. */
typedef struct der_err {
    size_t offset;
    char text[200];
} der_err;

/* Point v at buf[0..len).  Offsets reported in errors start at 0. */
void der_view_init(der_view *v, const uint8_t *buf, size_t len);

/* Record an error at offset (printf-style).  Always returns 0, so callers
 * can write `return der_fail(err, off, "...")`.  err may be NULL. */
int der_fail(der_err *err, size_t offset, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Split the next n bytes off the front of in into out_opt (may be NULL).
 * Returns 0 without an error record if fewer than n bytes remain. */
int der_skip(der_view *in, size_t n, der_view *out_opt);

/* Peek at the next identifier byte without consuming it.  Returns 0 if the
 * view is empty. */
int der_peek_tag(const der_view *in, uint8_t *tag_out);

/*
 * Read one TLV of any tag.  On success: *tag_out is the identifier byte,
 * *contents_out the value bytes, and *whole_out_opt (if not NULL) the whole
 * TLV including tag and length.  `what` names the element for errors.
 */
int der_get_any(der_view *in, const char *what, uint8_t *tag_out,
                der_view *contents_out, der_view *whole_out_opt,
                der_err *err);

/* Read one TLV that must carry exactly `tag`. */
int der_get(der_view *in, uint8_t tag, const char *what,
            der_view *contents_out, der_view *whole_out_opt, der_err *err);

/* If the next element has `tag`, read it and set *present_out to 1;
 * otherwise consume nothing and set *present_out to 0.  Fails only on a
 * malformed element with that tag. */
int der_get_optional(der_view *in, uint8_t tag, const char *what,
                     der_view *contents_out, int *present_out, der_err *err);

/* OBJECT IDENTIFIER: the contents must be non-empty, every sub-identifier
 * minimal (no leading 0x80) and complete, and none longer than 63 bits. */
int der_check_oid(const der_view *contents, const char *what, der_err *err);
int der_get_oid(der_view *in, const char *what, der_view *oid_out,
                der_err *err);

/* OCTET STRING in primitive form (constructed is BER only). */
int der_get_octet_string(der_view *in, const char *what, der_view *out,
                         der_err *err);

/* BIT STRING in primitive form: first byte is the unused-bit count (0..7),
 * the unused bits are zero, and an empty string has count 0.  *out gets the
 * whole contents (count byte included). */
int der_get_bit_string(der_view *in, const char *what, der_view *out,
                       der_err *err);

/* ENUMERATED in minimal form whose value is within [0, max]. */
int der_get_enumerated(der_view *in, const char *what, unsigned max,
                       unsigned *value_out, der_err *err);

/* Succeeds if nothing is left in `in`; otherwise reports the trailing
 * bytes inside `what`. */
int der_expect_end(const der_view *in, const char *what, der_err *err);

/* Format OID contents as a dotted string into buf (always terminated).
 * Returns 1 on success, 0 if the contents are invalid or buf too small. */
int der_oid_to_dotted(const uint8_t *oid, size_t len, char *buf,
                      size_t bufsize);

/* Parse a dotted OID ("1.2.840.113554.1.2.2") into DER contents.
 * Returns the number of bytes written, or 0 if invalid or too long. */
size_t der_oid_from_dotted(const char *dotted, uint8_t *out, size_t outsize);

/* ---- writer ---- */

typedef struct der_writer {
    uint8_t *buf;   /* owned until der_writer_finish hands it over */
    size_t cap;
    size_t len;
    int failed;     /* sticky: a put past cap, or allocation failure */
} der_writer;

/* Total size of a TLV with a single-byte tag and content_len bytes. */
size_t der_tlv_size(size_t content_len);

/* Allocate exactly `size` bytes.  Returns 1, or 0 on allocation failure
 * (the writer is then failed and der_writer_cleanup is still safe). */
int der_writer_init(der_writer *w, size_t size);
void der_put_header(der_writer *w, uint8_t tag, size_t content_len);
void der_put_bytes(der_writer *w, const uint8_t *data, size_t len);
void der_put_tlv(der_writer *w, uint8_t tag, const uint8_t *data, size_t len);

/* On success (not failed and completely filled) hand the buffer to the
 * caller (*buf_out, *len_out; free with free()) and return 1.  Otherwise
 * free it and return 0. */
int der_writer_finish(der_writer *w, uint8_t **buf_out, size_t *len_out);
void der_writer_cleanup(der_writer *w);

#endif /* SPNEGO_DER_H */
