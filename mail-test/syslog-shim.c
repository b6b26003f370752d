/*
 * syslog-shim.c - LD_PRELOAD library for the mail integration tests:
 * sends syslog() messages of the servers under test (Cyrus imapd/master,
 * Postfix smtpd, saslauthd) to the file named by MAIL_TEST_SYSLOG instead
 * of /dev/log, which test machines and containers usually do not have.
 *
 * Each message becomes one line "ident[pid]: prio: message", appended with
 * a single write(2) on an O_APPEND descriptor (ident defaults to the
 * program name when openlog() was not called), so concurrent processes do
 * not interleave within a line.  Without MAIL_TEST_SYSLOG the messages go
 * to standard error.
 *
 * Build: cc -shared -fPIC -o syslog-shim.so syslog-shim.c
 */
#define _GNU_SOURCE /* NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): glibc's feature macro */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static char shim_ident[64];
static char shim_path[4096];

/* Read MAIL_TEST_SYSLOG once, at load time: servers such as Postfix
 * smtpd clear their environment later. */
__attribute__((constructor)) static void shim_init(void)
{
    const char *p = getenv("MAIL_TEST_SYSLOG");

    if (p != NULL)
        snprintf(shim_path, sizeof shim_path, "%s", p);
}

static const char *prio_name(int pri)
{
    static const char *const names[] = {
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"
    };
    return names[LOG_PRI(pri)];
}

static void shim_write(int pri, const char *fmt, va_list ap)
{
    char buf[8192];
    int saved = errno, n, m, fd;
    const char *path = shim_path;

    n = snprintf(buf, sizeof buf, "%s[%ld]: %s: ",
                 shim_ident[0] != '\0' ? shim_ident : program_invocation_short_name,
                 (long)getpid(), prio_name(pri));
    if (n < 0 || (size_t)n >= sizeof buf)
        n = 0;
    errno = saved;    /* for %m */
    m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > sizeof buf - 2)
        n = (int)(sizeof buf - 2);
    while (n > 0 && buf[n - 1] == '\n')
        n--;
    buf[n++] = '\n';
    if (*path != '\0') {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            (void)!write(fd, buf, (size_t)n);
            close(fd);
        }
    } else {
        (void)!write(STDERR_FILENO, buf, (size_t)n);
    }
    errno = saved;
}

void openlog(const char *ident, int option, int facility)
{
    (void)option;
    (void)facility;
    if (ident != NULL)
        snprintf(shim_ident, sizeof shim_ident, "%s", ident);
}

void closelog(void)
{
}

int setlogmask(int mask)
{
    (void)mask;
    return 0xff;
}

void vsyslog(int pri, const char *fmt, va_list ap)
{
    shim_write(pri, fmt, ap);
}

void syslog(int pri, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    shim_write(pri, fmt, ap);
    va_end(ap);
}

/* What _FORTIFY_SOURCE builds call: glibc's names, hence reserved. */
void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap) /* NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
{
    (void)flag;
    shim_write(pri, fmt, ap);
}

void __syslog_chk(int pri, int flag, const char *fmt, ...) /* NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
{
    va_list ap;
    (void)flag;
    va_start(ap, fmt);
    shim_write(pri, fmt, ap);
    va_end(ap);
}
