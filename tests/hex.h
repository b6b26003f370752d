/* hex.h - test helper: hex strings to bytes. */
#ifndef SPNEGO_TEST_HEX_H
#define SPNEGO_TEST_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Decode hex (whitespace ignored) into a malloc'd buffer.  Returns NULL on
 * invalid input.  *len_out gets the byte count. */
uint8_t *hex_decode(const char *hex, size_t *len_out);

/* Read a whole file into a malloc'd, NUL-terminated buffer, or NULL. */
char *read_text_file(const char *path);

#endif
