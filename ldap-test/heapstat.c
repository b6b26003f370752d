/*
 * heapstat.c - preloaded into slapd by ldap-test/test-ldap-load.sh to read
 * how many bytes slapd's malloc holds, without stopping slapd.  (Calling
 * malloc_stats() through gdb corrupts the process's extended register
 * state on some kernels, and slapd then dies.)
 *
 * With HEAPSTAT_DIR set, a thread of its own waits on the FIFO
 * HEAPSTAT_DIR/request; for each line written there it writes
 * "ARENA MMAP\n" to HEAPSTAT_DIR/answer (through a rename, so a reader
 * never sees half of it): the bytes in use in malloc's arenas (mallinfo2
 * uordblks, all arenas) and in blocks mmapped one by one (hblkhd).
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static char request[4096], answer[4096], partial[4096];

static void
reply(void)
{
    struct mallinfo2 mi = mallinfo2();
    FILE *f = fopen(partial, "w");

    if (f == NULL)
        return;
    (void)fprintf(f, "%zu %zu\n", mi.uordblks, mi.hblkhd);
    if (fclose(f) == 0)
        (void)rename(partial, answer);
}

static void *
serve(void *arg)
{
    char line[64];

    (void)arg;
    for (;;) {
        FILE *f = fopen(request, "r"); /* blocks until a writer opens */

        if (f == NULL)
            return NULL;
        while (fgets(line, sizeof(line), f) != NULL)
            reply();
        (void)fclose(f);
    }
}

__attribute__((constructor)) static void
heapstat_start(void)
{
    const char *dir = getenv("HEAPSTAT_DIR");
    pthread_t t;
    int n;

    if (dir == NULL || dir[0] == '\0')
        return;
    n = snprintf(request, sizeof(request), "%s/request", dir);
    if (n < 0 || (size_t)n >= sizeof(request))
        return;
    (void)snprintf(answer, sizeof(answer), "%s/answer", dir);
    (void)snprintf(partial, sizeof(partial), "%s/answer.tmp", dir);
    if (mkfifo(request, 0600) != 0)
        return;
    if (pthread_create(&t, NULL, serve, NULL) == 0)
        (void)pthread_detach(t);
}
