/* collector/control_worker.c - the control server's worker thread: runs the
 * slow commands (a collection, a heap walk) so that the server thread keeps
 * answering other clients meanwhile (control.c).
 *
 * The server hands a job over (cog_control_worker_submit) and later takes
 * the finished ones back (cog_control_worker_replies); both lists live
 * under `lock`, which is the only shared state, so there is no racy path.
 * The pipe only wakes the server's poll. No wakeup is lost: the worker
 * appends a finished job and then writes a byte, and the server drains the
 * pipe before it takes the list, so a job finished after the server took
 * the list has its byte written after the drain and wakes the poll again
 * (a byte whose job was already taken just costs an empty round).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cog/control.h"
#include "cog/runtime.h"
#include "collector/control_internal.h"
#include "lib/core/runtime_internal.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER;
static cog_control_job *todo_head, *todo_tail; /* under lock */
static cog_control_job *done_head, *done_tail; /* under lock */
static int quit;                               /* under lock */
static int done_fd[2] = {-1, -1}; /* written by the worker, read by the server */
static pthread_t worker;

static void append(cog_control_job **head, cog_control_job **tail, cog_control_job *j) {
    j->next = NULL;
    if (*tail) (*tail)->next = j;
    else *head = j;
    *tail = j;
}

static void free_list(cog_control_job *j) {
    while (j) {
        cog_control_job *next = j->next;
        free(j->text);
        free(j);
        j = next;
    }
}

/* Offline while it waits for work (never delays grace periods), online
 * only while it executes a command. */
static void worker_body(void *arg) {
    (void)arg;
    cog_thread_offline();
    pthread_mutex_lock(&lock);
    for (;;) {
        while (!todo_head && !quit) pthread_cond_wait(&work, &lock);
        if (quit) break;
        cog_control_job *j = todo_head;
        todo_head = j->next;
        if (!todo_head) todo_tail = NULL;
        pthread_mutex_unlock(&lock);
        cog_thread_online();
        cog_control_execute_alloc(j->line, &j->text);
        cog_thread_offline();
        pthread_mutex_lock(&lock);
        append(&done_head, &done_tail, j);
        char b = 1; /* non-blocking: a full pipe already wakes the server */
        ssize_t w = write(done_fd[1], &b, 1);
        (void)w;
    }
    pthread_mutex_unlock(&lock);
    cog_thread_online();
}

int cog_control_worker_start(void) {
    if (pipe2(done_fd, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
    quit = 0;
    if (cog_thread_start_internal(&worker, "cog-ctl-worker", "cog_control_start: worker",
                                  worker_body, NULL) != COG_OK) {
        close(done_fd[0]);
        close(done_fd[1]);
        done_fd[0] = done_fd[1] = -1;
        return -1;
    }
    return done_fd[0];
}

int cog_control_worker_submit(int slot, uint64_t id, const char *line) {
    cog_control_job *j = calloc(1, sizeof *j);
    if (!j) return -1;
    j->slot = slot;
    j->id = id;
    strncpy(j->line, line, COG_CONTROL_MAX_LINE);
    pthread_mutex_lock(&lock);
    append(&todo_head, &todo_tail, j);
    pthread_cond_signal(&work);
    pthread_mutex_unlock(&lock);
    return 0;
}

void cog_control_worker_drain(int fd) {
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0 || errno == EINTR) {
    }
}

cog_control_job *cog_control_worker_replies(void) {
    pthread_mutex_lock(&lock);
    cog_control_job *j = done_head;
    done_head = done_tail = NULL;
    pthread_mutex_unlock(&lock);
    return j;
}

void cog_control_worker_stop(void) {
    pthread_mutex_lock(&lock);
    quit = 1;
    pthread_cond_signal(&work);
    pthread_mutex_unlock(&lock);
    pthread_join(worker, NULL); /* the caller (the server) is offline */
    free_list(todo_head);
    free_list(done_head);
    todo_head = todo_tail = done_head = done_tail = NULL;
    close(done_fd[0]);
    close(done_fd[1]);
    done_fd[0] = done_fd[1] = -1;
}

/* The child has no worker; the lock may have been held at the fork. */
void cog_control_worker_after_fork_child(void) {
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&work, NULL);
    free_list(todo_head);
    free_list(done_head);
    todo_head = todo_tail = done_head = done_tail = NULL;
    if (done_fd[0] >= 0) close(done_fd[0]);
    if (done_fd[1] >= 0) close(done_fd[1]);
    done_fd[0] = done_fd[1] = -1;
}
