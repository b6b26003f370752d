/* replay.c - run a fuzz target over its committed seed corpus without
 * libFuzzer, printing TAP (one line per input).  With no arguments the
 * corpus is $top_srcdir/fuzz/corpus/<FUZZ_NAME>; otherwise every argument
 * is a file or a directory of files. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The file being replayed, for a target that checks an expected outcome
 * named in the file name (fuzz-layer.c declares it weak: under libFuzzer
 * it does not exist). */
const char *fuzz_replay_input;

static unsigned long count;

static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long size;
    int ok = 0;

    if (f == NULL)
        goto cleanup;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0)
        goto cleanup;
    buf = malloc((size_t)size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size)
        goto cleanup;
    fuzz_replay_input = path;
    (void)LLVMFuzzerTestOneInput(buf, (size_t)size);
    fuzz_replay_input = NULL;
    ok = 1;
cleanup:
    printf("%s %lu - %s\n", ok ? "ok" : "not ok", ++count, path);
    free(buf);
    if (f != NULL)
        fclose(f);
    return ok;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int ok = 1;

    if (d == NULL) {
        printf("not ok %lu - cannot open corpus directory %s\n", ++count, dir);
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        char **grown;

        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            grown = realloc(names, cap * sizeof(*names));
            if (grown == NULL)
                break;
            names = grown;
        }
        (void)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        names[n] = strdup(path);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    if (names == NULL)
        return ok; /* an empty directory */
    qsort(names, n, sizeof(*names), name_cmp);
    for (i = 0; i < n; i++) {
        ok &= run_file(names[i]);
        free(names[i]);
    }
    free(names);
    return ok;
}

static int
run_path(const char *path)
{
    struct stat st;

    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return run_dir(path);
    return run_file(path);
}

int
main(int argc, char **argv)
{
    char def[4096];
    const char *top = getenv("top_srcdir");
    int i, ok = 1;

    /* every TAP line out before a target that aborts on a broken
     * invariant takes the process down */
    (void)setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        /* the seed corpus, and the inputs that once found a problem */
        (void)snprintf(def, sizeof(def), "%s/fuzz/corpus/%s",
                       top != NULL ? top : ".", FUZZ_NAME);
        ok = run_path(def);
        (void)snprintf(def, sizeof(def), "%s/fuzz/findings/%s",
                       top != NULL ? top : ".", FUZZ_NAME);
        if (access(def, F_OK) == 0)
            ok &= run_path(def);
    }
    for (i = 1; i < argc; i++)
        ok &= run_path(argv[i]);
    printf("1..%lu\n", count);
    return ok && count > 0 ? 0 : 1;
}
