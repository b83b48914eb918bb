/* Replays inputs through one fuzz target without libFuzzer (built with gcc + ASan/UBSan, so
 * `make test` needs no clang): each argument is a file or a directory of files; every input
 * is run once. A failed invariant aborts (see fuzz.h); a clean run prints how many ran. */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

__attribute__((weak)) int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *data = malloc(cap);
    size_t n;
    while (data && (n = fread(data + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *bigger = realloc(data, cap * 2);
            if (!bigger) {
                free(data);
                data = NULL;
                break;
            }
            data = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (!data) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    /* Like libFuzzer: the input is a heap block of exactly its size (overreads are caught). */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(data);
        return -1;
    }
    memcpy(exact, data, len);
    free(data);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    unsigned ran = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) < 0) rc = 1;
            ran++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) {
            perror(argv[i]);
            return 1;
        }
        char **names = NULL;
        size_t nn = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char **more = realloc(names, (nn + 1) * sizeof *names);
            if (!more) return 1;
            names = more;
            names[nn] = malloc(strlen(argv[i]) + strlen(e->d_name) + 2);
            if (!names[nn]) return 1;
            sprintf(names[nn], "%s/%s", argv[i], e->d_name);
            nn++;
        }
        closedir(d);
        if (nn) qsort(names, nn, sizeof *names, by_name);
        for (size_t k = 0; k < nn; k++) {
            if (run_file(names[k]) < 0) rc = 1;
            ran++;
            free(names[k]);
        }
        free(names);
    }
    printf("%s: %u inputs replayed\n", argv[0], ran);
    return rc;
}
