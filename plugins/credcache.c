/* credcache.c - shared credentials.  See credcache.h. */
#include "credcache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct file_state {
    char path[1024];
    int exists;
    int may_grow;
    struct stat st;
};

struct cred_ref {
    struct spnego_creds *creds;
    unsigned refs;             /* the cache's own reference counts too */
    char *key;
    char *name;                /* initiator: the first credential's name */
    size_t nfiles;
    struct file_state files[CREDCACHE_MAX_FILES];
};

/* Our own mutex: libsasl2's default mutex functions do nothing unless the
 * application installs real ones with sasl_set_mutex. */
struct cred_cache {
    pthread_mutex_t mutex;
    /* most recently used first; NULL-padded */
    struct cred_ref *slot[CREDCACHE_SLOTS];
};

struct cred_cache *
cred_cache_new(void)
{
    struct cred_cache *cache = calloc(1, sizeof(*cache));

    if (cache == NULL)
        return NULL;
    if (pthread_mutex_init(&cache->mutex, NULL) != 0) {
        free(cache);
        return NULL;
    }
    return cache;
}

static void
ref_free(struct cred_ref *ref)
{
    if (ref == NULL)
        return;
    spnego_creds_free(ref->creds);
    free(ref->key);
    free(ref->name);
    free(ref);
}

void
cred_cache_release(struct cred_cache *cache, struct cred_ref *ref)
{
    int last;

    if (ref == NULL)
        return;
    pthread_mutex_lock(&cache->mutex);
    last = --ref->refs == 0;
    pthread_mutex_unlock(&cache->mutex);
    if (last)
        ref_free(ref);
}

void
cred_cache_free(struct cred_cache *cache)
{
    size_t i;

    if (cache == NULL)
        return;
    for (i = 0; i < CREDCACHE_SLOTS; i++)
        cred_cache_release(cache, cache->slot[i]);
    pthread_mutex_destroy(&cache->mutex);
    free(cache);
}

struct spnego_creds *
cred_ref_creds(const struct cred_ref *ref)
{
    return ref->creds;
}

const char *
cred_ref_name(const struct cred_ref *ref)
{
    return ref->name;
}

const char *
credcache_file_of(const char *store)
{
    if (store == NULL || store[0] == '\0')
        return NULL;
    if (strncmp(store, "FILE:", 5) == 0)
        return store + 5;
    if (strncmp(store, "WRFILE:", 7) == 0)
        return store + 7;
    if (store[0] == '/')
        return store;
    return NULL; /* KEYRING:, KCM:, MEMORY:, DIR:... */
}

static size_t
snapshot(const struct cred_request *req, struct file_state *files)
{
    size_t i, n = 0;

    for (i = 0; i < CREDCACHE_MAX_FILES; i++) {
        if (req->files[i] == NULL)
            continue;
        memset(&files[n], 0, sizeof(files[n]));
        (void)snprintf(files[n].path, sizeof(files[n].path), "%s",
                       req->files[i]);
        files[n].exists = stat(req->files[i], &files[n].st) == 0;
        files[n].may_grow = ((req->may_grow >> i) & 1u) != 0;
        n++;
    }
    return n;
}

/* a: when the entry was built; b: now. */
static int
same_state(const struct file_state *a, const struct file_state *b)
{
    if (strcmp(a->path, b->path) != 0 || a->exists != b->exists)
        return 0;
    if (!a->exists)
        return 1;
    if (a->st.st_ino != b->st.st_ino || a->st.st_dev != b->st.st_dev)
        return 0;
    if (a->may_grow)
        return b->st.st_size >= a->st.st_size;
    return a->st.st_size == b->st.st_size &&
           a->st.st_mtim.tv_sec == b->st.st_mtim.tv_sec &&
           a->st.st_mtim.tv_nsec == b->st.st_mtim.tv_nsec;
}

static int
entry_matches(const struct cred_ref *ref, const char *key,
              const struct file_state *files, size_t nfiles)
{
    size_t i;

    if (ref == NULL || strcmp(ref->key, key) != 0 || ref->nfiles != nfiles)
        return 0;
    for (i = 0; i < nfiles; i++) {
        if (!same_state(&ref->files[i], &files[i]))
            return 0;
    }
    return 1;
}

static enum spnego_acquire_result
build(const struct cred_request *req, const struct file_state *files,
      size_t nfiles, struct cred_ref **out, char *err, size_t errlen)
{
    struct cred_ref *ref = calloc(1, sizeof(*ref));
    enum spnego_acquire_result ok = SPNEGO_ACQUIRE_NOMEM;

    *out = NULL;
    if (ref == NULL || (ref->key = strdup(req->key)) == NULL) {
        (void)snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    ok = spnego_creds_acquire(&req->params, &ref->creds, err, errlen);
    if (ok != SPNEGO_ACQUIRE_OK)
        goto cleanup;
    ok = SPNEGO_ACQUIRE_FAILED;
    if (req->neg_mechs != NULL &&
        !spnego_creds_set_neg_mechs(ref->creds, req->neg_mechs, err, errlen))
        goto cleanup;
    if (req->params.role == SPNEGO_INITIATOR)
        ref->name = spnego_creds_name(ref->creds);
    memcpy(ref->files, files, nfiles * sizeof(*files));
    ref->nfiles = nfiles;
    ref->refs = 1;
    *out = ref;
    ref = NULL;
    ok = SPNEGO_ACQUIRE_OK;
cleanup:
    ref_free(ref);
    return ok;
}

/* The slot holding key, or the last slot (the least recently used, or
 * empty) if none does.  Called with the mutex held. */
static size_t
slot_for(const struct cred_cache *cache, const char *key)
{
    size_t i;

    for (i = 0; i < CREDCACHE_SLOTS; i++) {
        if (cache->slot[i] != NULL && strcmp(cache->slot[i]->key, key) == 0)
            return i;
    }
    return CREDCACHE_SLOTS - 1;
}

/* Put ref in slot i at the front, the slots before it one down.  Returns
 * what ref replaced there (the entry in slot i), for the caller to release
 * after unlocking; NULL if ref was already there.  With the mutex held. */
static struct cred_ref *
to_front(struct cred_cache *cache, size_t i, struct cred_ref *ref)
{
    struct cred_ref *out = cache->slot[i] != ref ? cache->slot[i] : NULL;
    size_t j;

    for (j = i; j > 0; j--)
        cache->slot[j] = cache->slot[j - 1];
    cache->slot[0] = ref;
    return out;
}

enum spnego_acquire_result
cred_cache_get(struct cred_cache *cache, const struct cred_request *req,
               struct cred_ref **ref_out, int *how_out, char *err,
               size_t errlen)
{
    struct file_state files[CREDCACHE_MAX_FILES];
    struct cred_ref *fresh = NULL, *old;
    size_t nfiles = snapshot(req, files), i;
    enum spnego_acquire_result built;

    *ref_out = NULL;
    if (how_out != NULL)
        *how_out = 0;
    pthread_mutex_lock(&cache->mutex);
    i = slot_for(cache, req->key);
    if (entry_matches(cache->slot[i], req->key, files, nfiles)) {
        *ref_out = cache->slot[i];
        (void)to_front(cache, i, *ref_out);
        (*ref_out)->refs++;
        pthread_mutex_unlock(&cache->mutex);
        return SPNEGO_ACQUIRE_OK;
    }
    pthread_mutex_unlock(&cache->mutex);
    built = build(req, files, nfiles, &fresh, err, errlen);
    if (built != SPNEGO_ACQUIRE_OK)
        return built;
    /* another thread may have changed the slots meanwhile: look again */
    pthread_mutex_lock(&cache->mutex);
    old = to_front(cache, slot_for(cache, req->key), fresh);
    fresh->refs++; /* the caller's reference */
    pthread_mutex_unlock(&cache->mutex);
    cred_cache_release(cache, old);
    if (how_out != NULL)
        *how_out = 1;
    *ref_out = fresh;
    return SPNEGO_ACQUIRE_OK;
}
