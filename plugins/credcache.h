/*
 * credcache.h - credentials acquired once and shared by the connections of
 * a process, as a long-lived server or client would keep them.
 *
 * An entry is built for a configuration (a key string: options and the
 * environment that names credential files) and remembers the state of the
 * files it came from (keytab, ticket cache, NTLM user file).  A lookup with
 * the same key reuses it while those files are unchanged, and builds a new
 * one otherwise; connections hold a reference, so a refresh never pulls
 * credentials from under one.  The cache keeps the CREDCACHE_SLOTS most
 * recently used configurations, so that a process alternating between a
 * few (two services, two keytabs) acquires each once.  Thread-safe.
 */
#ifndef SPNEGO_CREDCACHE_H
#define SPNEGO_CREDCACHE_H

#include <stddef.h>

#include "mechs.h"

#define CREDCACHE_MAX_FILES 4
#define CREDCACHE_SLOTS 8

struct cred_cache;
struct cred_ref;

/* What to acquire, and what invalidates it. */
struct cred_request {
    const char *key;                          /* the configuration */
    const char *files[CREDCACHE_MAX_FILES];   /* NULL-padded; may be NULL */
    /* Bit i set: files[i] may grow in place without invalidating the
     * entry (a ticket cache gains service tickets; kinit or kdestroy
     * shrink, replace or remove it). */
    unsigned may_grow;
    struct spnego_cred_params params;
    const char *neg_mechs; /* spnego_creds_set_neg_mechs, or NULL */
};

/* Returns NULL on allocation failure. */
struct cred_cache *cred_cache_new(void);

/* Free the cache (NULL is fine).  Every reference must be released. */
void cred_cache_free(struct cred_cache *cache);

/*
 * A reference to credentials for req: the cached entry if its key matches
 * and its files are unchanged, else fresh ones (acquired outside the
 * lock).  Returns SPNEGO_ACQUIRE_OK and *ref_out, or the failure with a
 * sentence in err.  *how_out (if not NULL) is set to 1 when the
 * credentials were (re)acquired.
 */
enum spnego_acquire_result
cred_cache_get(struct cred_cache *cache, const struct cred_request *req,
               struct cred_ref **ref_out, int *how_out, char *err,
               size_t errlen);

struct spnego_creds *cred_ref_creds(const struct cred_ref *ref);

/* Initiator entries: the display name of the first credential ("alice@R",
 * "DOMAIN\\alice"; a trailing NUL dropped), computed once; NULL if none. */
const char *cred_ref_name(const struct cred_ref *ref);

/* Drop a reference (NULL is fine). */
void cred_cache_release(struct cred_cache *cache, struct cred_ref *ref);

/* A file name for a credential store name ("FILE:/x" -> "/x"; NULL for
 * stores that are not files, e.g. KEYRING: or KCM:). */
const char *credcache_file_of(const char *store);

#endif /* SPNEGO_CREDCACHE_H */
