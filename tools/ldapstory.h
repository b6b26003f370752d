/*
 * ldapstory.h - the SASL GSS-SPNEGO binds of LDAP connections, told as a
 * story: for spnego-dump reading a capture (capture.h).  Each bind's
 * rounds (the client's credentials in BindRequest, the server's in
 * BindResponse), what the client offered and the server chose, the
 * mechanism tokens (NTLM flags and channel bindings, the Kerberos ticket's
 * service, etype and kvno, a KRB-ERROR), whether a mechListMIC was due and
 * sent, the result, the security-layer packets that followed, and for a
 * failed bind the most likely cause in one sentence.
 */
#ifndef SPNEGO_LDAPSTORY_H
#define SPNEGO_LDAPSTORY_H

#include <stdio.h>

#include "capture.h"

/*
 * Print the story of every connection of cap that carries LDAP (text, or
 * with json one JSON object per SASL bind).  Returns the number of
 * GSS-SPNEGO binds found.
 */
size_t ldapstory_print(FILE *out, const struct capture *cap, int json);

#endif /* SPNEGO_LDAPSTORY_H */
