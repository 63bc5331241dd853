/* lib/base/rcu_fork.c - liburcu reader records across fork.
 *
 * fork() copies only the forking thread. liburcu-qsbr keeps one reader
 * record per registered thread, in that thread's TLS, on a global list,
 * and has no call to unregister another thread. In a child, the records
 * of threads that were not copied would stay on the list: online ones
 * would block every grace period, and their memory (the dead threads'
 * stacks) may already be unmapped by glibc's stack cache trimming in the
 * child, or handed to the child's next pthread_create, whose TLS set-up
 * would corrupt the list. The child cannot even read them safely.
 *
 * So the forking thread takes them off the list in the PARENT, just
 * before fork, where their memory is valid, and puts them back in the
 * parent afterwards: exactly the cds_list_del / cds_list_add that
 * urcu_qsbr_unregister_thread / register_thread do under liburcu's
 * registry lock. That lock is free and nobody walks the list at that
 * point: every other thread is stopped outside liburcu (lib/core/runtime.c
 * "Fork"), the collector is stopped and liburcu's own workers are paused
 * and unregistered (call_rcu_before_fork). Re-linking needs a record that
 * stays on the list as an anchor: the forking thread's own.
 *
 * The record's layout comes from liburcu's static header (the one its
 * inline fast paths use); only this file includes it. */
#include <urcu/static/urcu-qsbr.h>

#include "lib/base/rcu.h"

void *cog_rcu_reader_self(void) { return &URCU_TLS(urcu_qsbr_reader); }

void cog_rcu_unlink_reader(void *reader) {
    struct urcu_qsbr_reader *r = reader;
    cds_list_del(&r->node);
}

void cog_rcu_relink_reader(void *reader, void *anchor) {
    struct urcu_qsbr_reader *r = reader, *a = anchor;
    cds_list_add(&r->node, &a->node);
}
