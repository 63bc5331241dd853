/* stress/fuzz_replay.c - run every input of a fuzz corpus through a fuzz
 * target once (no libFuzzer needed: plain gcc build, every config), with
 * the full memory checks after every input.
 * Usage: fuzz_replay DIR|FILE...  (the Bazel test passes
 * stress/fuzz_corpus). Fails if a path cannot be read or holds no input. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#include "cog/runtime.h"
#include "stress/fuzz_check.h"

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *b = realloc(buf, cap);
            if (!b) abort();
            buf = b;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    int inputs = 0;
    cog_fuzz_strict_every = 1; /* check memory after every input */
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i]) != 0) return 1;
            inputs++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) return 1;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (run_file(path) != 0) return 1;
            inputs++;
        }
        closedir(d);
    }
    printf("fuzz_replay: %d inputs replayed\n", inputs);
    if (fuzz_shutdown() != COG_OK) return 1;
    return inputs > 0 ? 0 : 1;
}
