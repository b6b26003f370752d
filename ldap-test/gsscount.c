/*
 * gsscount.c - preloaded into slapd or an LDAP client by
 * ldap-test/test-ldap.sh to see which security layer a process used: each
 * call of gss_wrap or gss_wrap_iov appends "w", each call of gss_unwrap or
 * gss_unwrap_iov appends "u" to the file GSSCOUNT_FILE, then the call goes
 * on to libgssapi_krb5.  Our fast layer makes its tokens itself, so a
 * process that moved data through it leaves no letter; MIT's layer (ours
 * with spnego_fast_layer no, or Cyrus' plugin) leaves one per packet.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>

static void
note(const char *letter)
{
    const char *path = getenv("GSSCOUNT_FILE");
    int fd;

    if (path == NULL)
        return;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    (void)!write(fd, letter, 1);
    (void)close(fd);
}

/* libgssapi_krb5's definition of a gss_ function.  (Not RTLD_NEXT: a
 * SASL plugin that loaded the library came with dlopen, outside the
 * global scope.) */
static void *
next(const char *name)
{
    static void *lib;
    void *f;

    if (lib == NULL)
        lib = dlopen("libgssapi_krb5.so.2", RTLD_NOW | RTLD_NOLOAD);
    f = lib != NULL ? dlsym(lib, name) : NULL;

    if (f == NULL)
        abort();
    return f;
}

typedef OM_uint32 (*wrap_fn)(OM_uint32 *, gss_ctx_id_t, int, gss_qop_t,
                             gss_buffer_t, int *, gss_buffer_t);
typedef OM_uint32 (*unwrap_fn)(OM_uint32 *, gss_ctx_id_t, gss_buffer_t,
                               gss_buffer_t, int *, gss_qop_t *);
typedef OM_uint32 (*wrap_iov_fn)(OM_uint32 *, gss_ctx_id_t, int, gss_qop_t,
                                 int *, gss_iov_buffer_desc *, int);
typedef OM_uint32 (*unwrap_iov_fn)(OM_uint32 *, gss_ctx_id_t, int *,
                                   gss_qop_t *, gss_iov_buffer_desc *, int);

OM_uint32
gss_wrap(OM_uint32 *minor, gss_ctx_id_t ctx, int conf, gss_qop_t qop,
         gss_buffer_t in, int *conf_state, gss_buffer_t out)
{
    wrap_fn f = (wrap_fn)next("gss_wrap");

    note("w");
    return f(minor, ctx, conf, qop, in, conf_state, out);
}

OM_uint32
gss_unwrap(OM_uint32 *minor, gss_ctx_id_t ctx, gss_buffer_t in,
           gss_buffer_t out, int *conf_state, gss_qop_t *qop)
{
    unwrap_fn f = (unwrap_fn)next("gss_unwrap");

    note("u");
    return f(minor, ctx, in, out, conf_state, qop);
}

OM_uint32
gss_wrap_iov(OM_uint32 *minor, gss_ctx_id_t ctx, int conf, gss_qop_t qop,
             int *conf_state, gss_iov_buffer_desc *iov, int n)
{
    wrap_iov_fn f = (wrap_iov_fn)next("gss_wrap_iov");

    note("w");
    return f(minor, ctx, conf, qop, conf_state, iov, n);
}

OM_uint32
gss_unwrap_iov(OM_uint32 *minor, gss_ctx_id_t ctx, int *conf_state,
               gss_qop_t *qop, gss_iov_buffer_desc *iov, int n)
{
    unwrap_iov_fn f = (unwrap_iov_fn)next("gss_unwrap_iov");

    note("u");
    return f(minor, ctx, conf_state, qop, iov, n);
}
