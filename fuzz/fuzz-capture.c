/*
 * fuzz-capture.c - libFuzzer target for spnego-dump's capture reading
 * (tools/capture.c: libpcap, link/IP/TCP headers, reassembly) and its
 * story of the LDAP binds found (tools/ldapstory.c: a lenient BER reader,
 * the SPNEGO and mechanism decoders, the security-layer scan).  The input
 * is a pcap or pcapng file; the story goes to /dev/null, as JSON when the
 * last input byte is odd.  Checks: no crash, no out-of-bounds read, no
 * leak (the sanitizers).  Seeds: fuzz/corpus/capture, captures written by
 * tests/capture-writer (a Kerberos bind with a layer, NTLM without
 * signing, mismatched channel bindings, Kerberos without the key).
 */
#include <stdint.h>
#include <stdio.h>

#include "capture.h"
#include "ldapstory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct capture cap;
    char err[512];
    FILE *in, *out;

    if (size == 0)
        return 0;
    in = fmemopen((void *)data, size, "rb");
    if (in == NULL)
        return 0;
    if (!capture_read(in, "input", &cap, err, sizeof(err)))
        return 0; /* capture_read closed it */
    out = fopen("/dev/null", "w");
    if (out != NULL) {
        (void)ldapstory_print(out, &cap, data[size - 1] & 1);
        (void)fclose(out);
    }
    capture_free(&cap);
    return 0;
}
