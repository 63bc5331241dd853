/* tests/gc_helper_test.c - who runs the second half of a big scan step
 * (collector/gc_helper.c).
 *
 * The collector posts the half as a job. Whether the job wakes the helper
 * thread is decided when it is posted: only while a core is spare, because
 * a woken helper takes the CPU of a mutator that spins in a paced wait.
 * A job left open is run by an assistant that comes for it, else by the
 * poster when it waits. Here the test thread plays the collector (only the
 * collector posts and waits; automatic collection is off, so the real one
 * posts nothing meanwhile). */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cog/cog.h"
#include "collector/gc_internal.h"
#include "tests/fixture.h"

typedef struct job_record {
    atomic_int runs;
    pthread_t ran_on;
} job_record;

static void record_job(void *arg) {
    job_record *r = arg;
    r->ran_on = pthread_self();
    atomic_fetch_add(&r->runs, 1);
}

/* Posts a job with the helper thread used only if a core is spare, from
 * this thread pinned to the CPU it is on: then no core is spare (this
 * thread is online and alone on its one CPU), and the job is left open
 * for assistants. */
static void post_without_a_spare_core(job_record *r) {
    cpu_set_t all;
    assert_int_equal(test_pin_to_current_cpu(&all), 0);
    assert_int_equal(cog_gc_spare_core(), 0);
    cog_gc_helper_use_thread(COG_GC_HELPER_IF_SPARE);
    assert_int_equal(cog_gc_helper_post(record_job, r), 1);
    assert_int_equal(sched_setaffinity(0, sizeof all, &all), 0);
    assert_int_equal(cog_gc_helper_job_open(), 1);
}

static void without_a_spare_core_the_poster_runs_the_job(void **state) {
    (void)state;
    job_record r = {0};
    post_without_a_spare_core(&r);
    cog_gc_helper_wait();
    assert_int_equal(atomic_load(&r.runs), 1);
    assert_true(pthread_equal(r.ran_on, pthread_self()));
    assert_int_equal(cog_gc_helper_job_open(), 0);
}

/* An attached thread at a safe point; *arg: whether it ran a job, or -1
 * if it could not attach or detach (cmocka asserts on the main thread). */
static void *assist(void *arg) {
    int *ran = arg;
    if (cog_thread_attach() != COG_OK) return *ran = -1, NULL;
    *ran = cog_gc_helper_assist();
    if (cog_thread_detach() != COG_OK) *ran = -1;
    return NULL;
}

static void an_assistant_runs_an_open_job_once(void **state) {
    (void)state;
    job_record r = {0};
    post_without_a_spare_core(&r);
    pthread_t t;
    int ran = 0;
    assert_int_equal(pthread_create(&t, NULL, assist, &ran), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(ran, 1);
    assert_true(pthread_equal(r.ran_on, t));
    cog_gc_helper_wait(); /* finds it done: does not run it again */
    assert_int_equal(atomic_load(&r.runs), 1);
    /* Nothing left for the next assistant. */
    assert_int_equal(pthread_create(&t, NULL, assist, &ran), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(ran, 0);
}

static void the_helper_thread_runs_a_job_given_to_it(void **state) {
    (void)state;
    job_record r = {0};
    cog_gc_helper_use_thread(COG_GC_HELPER_ALWAYS);
    assert_int_equal(cog_gc_helper_post(record_job, &r), 1);
    cog_gc_helper_wait();
    assert_int_equal(atomic_load(&r.runs), 1);
    /* The poster waits for a woken helper rather than taking the job. */
    assert_false(pthread_equal(r.ran_on, pthread_self()));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST_CASE_GC_OFF(without_a_spare_core_the_poster_runs_the_job),
        TEST_CASE_GC_OFF(an_assistant_runs_an_open_job_once),
        TEST_CASE_GC_OFF(the_helper_thread_runs_a_job_given_to_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
