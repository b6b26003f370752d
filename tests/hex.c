/* hex.c - test helper: hex strings to bytes.  See hex.h. */
#include "hex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

static int
nibble(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

uint8_t *
hex_decode(const char *hex, size_t *len_out)
{
    size_t cap = 0, n = 0;
    const char *p;
    uint8_t *out = NULL;
    int hi = -1;

    *len_out = 0;
    for (p = hex; *p != '\0'; p++)
        cap++;
    out = malloc(cap / 2 + 1);
    if (out == NULL)
        return NULL;
    for (p = hex; *p != '\0'; p++) {
        int v;

        if (isspace((unsigned char)*p))
            continue;
        v = nibble((unsigned char)*p);
        if (v < 0)
            goto fail;
        if (hi < 0) {
            hi = v;
        } else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0)
        goto fail;
    *len_out = n;
    return out;
fail:
    free(out);
    return NULL;
}

char *
read_text_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0)
        goto cleanup;
    buf = malloc((size_t)size + 1);
    if (buf == NULL)
        goto cleanup;
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
        goto cleanup;
    }
    buf[size] = '\0';
cleanup:
    fclose(f);
    return buf;
}
