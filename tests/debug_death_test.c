/* tests/debug_death_test.c - misuse is caught in debug builds (COG_DEBUG):
 * the process aborts with a message naming the object's type and address.
 *
 * Each case runs in a forked child that starts its own runtime, prints the
 * address it is about to misuse, then misuses it; the parent checks that
 * the child died of SIGABRT and that its stderr holds the expected message
 * with that exact address. The parent never starts cog, so it has no other
 * threads when it forks.
 *
 * Built against //lib:cog_debug (COG_DEBUG on in every config). It runs
 * under asan too: a decref of a freed object reads a freed pool block,
 * which stays mapped and is not poisoned, so cog's own check reports it.
 * If the allocator ever poisons freed blocks for ASan (or hands them back
 * to malloc), ASan would report heap-use-after-free first and this test
 * must then be tagged "no_asan". Tagged no_tsan: forking a TSan process is
 * not what is tested here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/test_types.h"

#ifndef COG_DEBUG
#error "debug_death_test needs COG_DEBUG (link //lib:cog_debug)"
#endif

#define ADDR_TAG "misusing "

static void announce(const void *p) {
    fprintf(stderr, ADDR_TAG "%p\n", p);
    fflush(stderr);
}

/* Run child() in a forked process; return its stderr (static buffer) and
 * its wait status. */
static const char *run_child(void (*child)(void), int *status) {
    static char out[8192];
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], STDERR_FILENO);
        signal(SIGABRT, SIG_DFL);
        child();
        _exit(0); /* misuse went unnoticed */
    }
    close(fd[1]);
    size_t len = 0;
    ssize_t r;
    while ((r = read(fd[0], out + len, sizeof out - 1 - len)) > 0) len += (size_t)r;
    out[len] = '\0';
    close(fd[0]);
    assert_int_equal(waitpid(pid, status, 0), pid);
    return out;
}

/* The child died of SIGABRT and stderr names the announced address, the
 * expected phrase and (if not NULL) the type. */
static void expect_death_of(void (*child)(void), const char *phrase, const char *type) {
    int status;
    const char *err = run_child(child, &status);
    print_message("child stderr:\n%s", err);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    const char *tag = strstr(err, ADDR_TAG);
    assert_non_null(tag);
    char addr[64];
    assert_int_equal(sscanf(tag + strlen(ADDR_TAG), "%63s", addr), 1);
    const char *fatal = strstr(err, "cog: fatal: ");
    assert_non_null(fatal);
    assert_non_null(strstr(fatal, phrase));
    assert_non_null(strstr(fatal, addr));
    if (type) assert_non_null(strstr(fatal, type));
}

static void expect_death(void (*child)(void), const char *phrase) {
    expect_death_of(child, phrase, "Node");
}

static void child_decref_freed(void) {
    if (cog_init() != COG_OK) _exit(3);
    test_node *n = test_node_new(1);
    cog_decref(&n->ob); /* freed */
    announce(n);
    cog_decref(&n->ob);
}

static void decref_of_freed_object_aborts(void **state) {
    (void)state;
    expect_death(child_decref_freed, "freed object");
}

/* Underflow that no dealloc can hide: another thread drops two references
 * it never had; both are queued to the owner (the shared count goes to -1),
 * and the owner's merge finds a negative total. */
static test_node *victim;

static void *drop_twice(void *arg) {
    (void)arg;
    if (cog_thread_attach() != COG_OK) _exit(3);
    cog_decref(&victim->ob);
    cog_decref(&victim->ob);
    cog_thread_detach();
    return NULL;
}

static void child_underflow(void) {
    if (cog_init() != COG_OK) _exit(3);
    victim = test_node_new(1);
    announce(victim);
    pthread_t t;
    if (pthread_create(&t, NULL, drop_twice, NULL) != 0) _exit(3);
    cog_thread_offline();
    pthread_join(t, NULL);
    cog_thread_online();
    cog_safepoint(); /* merges: 1 (ours) - 1 (queued) - 1 = -1 */
}

static void refcount_underflow_aborts(void **state) {
    (void)state;
    expect_death(child_underflow, "underflow");
}

static void *incref_unattached(void *arg) {
    announce(arg);
    cog_incref(arg);
    return NULL;
}

static void child_unattached(void) {
    if (cog_init() != COG_OK) _exit(3);
    test_node *n = test_node_new(1);
    pthread_t t;
    if (pthread_create(&t, NULL, incref_unattached, n) != 0) _exit(3);
    cog_thread_offline();
    pthread_join(t, NULL);
}

static void use_from_unattached_thread_aborts(void **state) {
    (void)state;
    expect_death(child_unattached, "not attached");
}

/* A raw block freed with another size than it was allocated with: a
 * medium class read as another (600 B freed as 2000), a small block freed
 * as medium, a pooled block freed as a mapped one, a mapped block freed
 * with another mapped size. */
static void child_raw_wrong_class(void) {
    if (cog_init() != COG_OK) _exit(3);
    void *p = cog_mem_alloc(600);
    announce(p);
    cog_mem_free(p, 2000);
}

static void child_raw_small_as_medium(void) {
    if (cog_init() != COG_OK) _exit(3);
    void *p = cog_mem_alloc(100);
    announce(p);
    cog_mem_free(p, 700);
}

static void child_raw_pooled_as_large(void) {
    if (cog_init() != COG_OK) _exit(3);
    void *p = cog_mem_alloc(4000);
    announce(p);
    cog_mem_realloc(p, 100000, 10);
}

static void child_raw_large_wrong_size(void) {
    if (cog_init() != COG_OK) _exit(3);
    void *p = cog_mem_alloc(100000);
    announce(p);
    cog_mem_free(p, 200000);
}

/* The checks pass every correct use: each kind of size, realloc within a
 * class and across kinds, blocks taken from the raw-block LIFO. */
static void raw_correct_use_passes_the_checks(void **state) {
    (void)state;
    assert_int_equal(cog_init(), COG_OK);
    static const size_t sizes[] = {0, 1, 100, 512, 513, 640, 1024, 1025, 32768, 32769, 100000};
    for (int round = 0; round < 2; round++) /* the second round reuses LIFO blocks */
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            void *p = cog_mem_alloc(sizes[i]);
            assert_non_null(p);
            cog_mem_free(p, sizes[i]);
        }
    void *p = cog_mem_realloc(NULL, 0, 600);
    p = cog_mem_realloc(p, 600, 630); /* same class */
    p = cog_mem_realloc(p, 630, 50000);
    p = cog_mem_realloc(p, 50000, 60000);
    p = cog_mem_realloc(p, 60000, 10);
    cog_mem_free(p, 10);
    assert_int_equal(cog_shutdown(), COG_OK);
}

static void raw_free_with_another_size_aborts(void **state) {
    (void)state;
    expect_death_of(child_raw_wrong_class, "allocated with another size", "cog_mem_free");
    expect_death_of(child_raw_small_as_medium, "is a small", "cog_mem_free");
    expect_death_of(child_raw_pooled_as_large, "lies in a pool", "cog_mem_realloc");
    expect_death_of(child_raw_large_wrong_size, "allocated with 100000 bytes", "cog_mem_free");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decref_of_freed_object_aborts),
        cmocka_unit_test(refcount_underflow_aborts),
        cmocka_unit_test(use_from_unattached_thread_aborts),
        cmocka_unit_test(raw_correct_use_passes_the_checks),
        cmocka_unit_test(raw_free_with_another_size_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
