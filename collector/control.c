/* collector/control.c - the control socket server (cog/control.h).
 *
 * One thread, attached to cog and marked internal, serves up to
 * COG_CONTROL_MAX_CLIENTS connections with poll(), never blocking on any
 * one of them: sockets are non-blocking, each client has its own input and
 * output buffers, and a client whose output is pending is not read until
 * it takes it (back-pressure instead of waiting for it). Quick commands run
 * on this thread; the slow ones (collect, top, metrics, heap: a collection or a
 * heap walk) go to a worker thread (control_worker.c), so they never delay
 * other clients' replies. A client's lines run one at a time, in order: it
 * is not read while its command is on the worker.
 *
 * One idle or stuck client never locks another out: when every slot is
 * taken (or the process is out of descriptors) a new connection evicts
 * the client that has made no progress for the longest, and a client that
 * makes no progress (sends nothing, or does not read its reply) for
 * COG_CONTROL_IDLE_MS is dropped. The listen backlog is SOMAXCONN and each
 * wakeup accepts every pending connection (up to a bound per round), so
 * connecting does not fail with EAGAIN while the server is busy.
 *
 * The thread is offline whenever it waits (poll) and goes online only to
 * execute a quick command, so a silent or slow client never delays grace
 * periods or collections. Stop is signalled through a pipe the poll also
 * watches.
 *
 * Security: after bind the socket file is chmod'ed to 0600 (a connection
 * in the instant before is still refused by the peer-credential check,
 * which every connection passes through: SO_PEERCRED uid must equal our
 * effective uid).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cog/control.h"
#include "cog/runtime.h"
#include "collector/control_internal.h"
#include "lib/base/error.h"
#include "lib/core/runtime_internal.h"

/* A client with this much output pending is not read further until it has
 * taken some: its own commands cannot grow our memory without bound. */
#define OUT_PAUSE_BYTES 65536
/* Connections accepted per wakeup at most, so a flood of connects cannot
 * starve the clients already connected. */
#define ACCEPT_PER_ROUND 64

typedef struct client {
    int fd;
    uint64_t id;      /* connection serial: a worker reply for a client that
                         has gone (and whose slot was reused) is dropped */
    uint64_t last_ms; /* last progress: bytes read or written, a reply queued */
    int busy;         /* its command is on the worker */
    int eof;          /* the peer has shut down writing: finish, then close */
    int closing;      /* close once the output is written (line too long) */
    size_t in_len;
    char in[COG_CONTROL_MAX_LINE + 1];
    char *out;
    size_t out_off, out_len, out_cap;
} client;

/* Server state; start/stop are serialised by ctl_lock. The thread reads
 * listen_fd, wake_fd[0] and path only (set before it starts, freed after
 * it is joined). */
static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static int running; /* under ctl_lock */
static pthread_t server;
static int listen_fd = -1, wake_fd[2] = {-1, -1};
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
/* Server thread only (and the child after fork, which has no server). */
static client *clients[COG_CONTROL_MAX_CLIENTS];
static int nclients;
static uint64_t next_id;
static int have_worker; /* slow commands go to the worker */

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Best effort, never waits: for a last message to a client being closed
 * (its socket buffer is normally empty, so a short line fits). */
static void say_and_close(int fd, const char *msg) {
    ssize_t w = send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    close(fd);
}

static void drop_slot(int i, const char *msg) {
    client *c = clients[i];
    if (msg) say_and_close(c->fd, msg);
    else close(c->fd);
    free(c->out);
    free(c);
    clients[i] = NULL;
    nclients--;
}

static int peer_is_owner(int fd) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return 0;
    return cred.uid == geteuid();
}

static size_t pending(const client *c) { return c->out_len - c->out_off; }

/* Queue n bytes of output. Returns -1 if memory runs out (drop the client:
 * its reply cannot be delivered whole). */
static int queue_out(client *c, const char *p, size_t n) {
    if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        if (c->out_off) { /* compact first */
            memmove(c->out, c->out + c->out_off, pending(c));
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        size_t cap = c->out_cap ? c->out_cap : 1024;
        while (c->out_len + n > cap) cap *= 2;
        char *b = realloc(c->out, cap);
        if (!b) return -1;
        c->out = b;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    c->last_ms = now_ms();
    return 0;
}

/* Write what the socket takes now. -1: the client is gone. */
static int flush_out(client *c) {
    while (pending(c) > 0) {
        ssize_t w = send(c->fd, c->out + c->out_off, pending(c), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            c->out_off += (size_t)w;
            c->last_ms = now_ms();
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        return -1;
    }
    c->out_off = c->out_len = 0;
    if (c->out_cap > OUT_PAUSE_BYTES) { /* a big reply's buffer is not kept */
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    return 0;
}

/* The first word of line is a command the worker runs. */
static int is_slow(const char *line) {
    /* heap: snapshots and diffs walk the heap, pprof writes a file. */
    static const char *const slow[] = {"collect", "top", "metrics", "heap"};
    line += strspn(line, " \t\r");
    size_t n = strcspn(line, " \t\r");
    for (size_t i = 0; i < sizeof slow / sizeof *slow; i++)
        if (strlen(slow[i]) == n && memcmp(line, slow[i], n) == 0) return 1;
    return 0;
}

/* Run the complete lines of client i, in order, while it is not waiting for
 * the worker and its output is not piling up; handle a line that is too
 * long and the end of input. Returns -1 if the client must be dropped. */
static int run_lines(int i) {
    client *c = clients[i];
    char *nl = NULL;
    while (!c->busy && !c->closing && pending(c) < OUT_PAUSE_BYTES &&
           (nl = memchr(c->in, '\n', c->in_len)) != NULL) {
        *nl = '\0';
        if (have_worker && is_slow(c->in)) {
            if (cog_control_worker_submit(i, c->id, c->in) != 0) return -1;
            c->busy = 1;
        } else {
            char *reply;
            cog_thread_online();
            cog_control_execute_alloc(c->in, &reply);
            cog_thread_offline();
            int rc = reply ? queue_out(c, reply, strlen(reply)) : -1;
            free(reply);
            if (rc != 0) return -1;
        }
        size_t rest = c->in_len - (size_t)(nl + 1 - c->in);
        memmove(c->in, nl + 1, rest);
        c->in_len = rest;
    }
    if (!c->closing && c->in_len == COG_CONTROL_MAX_LINE && !memchr(c->in, '\n', c->in_len)) {
        char msg[80];
        snprintf(msg, sizeof msg, "error: line too long (max %d bytes)\n", COG_CONTROL_MAX_LINE);
        if (queue_out(c, msg, strlen(msg)) != 0) return -1;
        c->closing = 1;
    }
    if (c->eof && !memchr(c->in, '\n', c->in_len)) c->in_len = 0; /* partial line: discarded */
    if (flush_out(c) != 0) return -1;
    /* Done: nothing on the worker, nothing to write, no line left to run. */
    if ((c->closing || c->eof) && !c->busy && pending(c) == 0 &&
        (c->closing || c->in_len == 0))
        return -1;
    return 0;
}

static int may_read(const client *c) {
    return !c->busy && !c->eof && !c->closing && pending(c) < OUT_PAUSE_BYTES &&
           c->in_len < COG_CONTROL_MAX_LINE;
}

static void read_client(int i) {
    client *c = clients[i];
    ssize_t n = read(c->fd, c->in + c->in_len, COG_CONTROL_MAX_LINE - c->in_len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) {
        drop_slot(i, NULL);
        return;
    }
    if (n == 0) c->eof = 1;
    else {
        c->in_len += (size_t)n;
        c->last_ms = now_ms();
    }
    if (run_lines(i) != 0) drop_slot(i, NULL);
}

/* The client that has made no progress for the longest and is not waiting
 * for the worker; -1 if there is none. */
static int oldest_idle(void) {
    int best = -1;
    for (int i = 0; i < COG_CONTROL_MAX_CLIENTS; i++)
        if (clients[i] && !clients[i]->busy &&
            (best < 0 || clients[i]->last_ms < clients[best]->last_ms))
            best = i;
    return best;
}

static const char evicted_msg[] = "error: too many clients: closing the longest idle one\n";

/* Accept what is pending (bounded). Returns 1 if accepting must pause
 * (out of descriptors with nobody to evict). */
static int accept_clients(void) {
    for (int k = 0; k < ACCEPT_PER_ROUND; k++) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                int v = oldest_idle(); /* free a descriptor for the newcomer */
                if (v < 0) return 1;
                drop_slot(v, evicted_msg);
                continue;
            }
            return 0; /* EAGAIN: none left */
        }
        if (!peer_is_owner(fd)) {
            say_and_close(fd, "error: permission denied\n");
            continue;
        }
        if (nclients == COG_CONTROL_MAX_CLIENTS) {
            int v = oldest_idle();
            if (v < 0) {
                say_and_close(fd, "error: too many clients\n");
                continue;
            }
            drop_slot(v, evicted_msg);
        }
        client *c = calloc(1, sizeof *c);
        if (!c) {
            say_and_close(fd, "error: out of memory\n");
            continue;
        }
        c->fd = fd;
        c->id = ++next_id;
        c->last_ms = now_ms();
        for (int i = 0; i < COG_CONTROL_MAX_CLIENTS; i++)
            if (!clients[i]) {
                clients[i] = c;
                break;
            }
        nclients++;
    }
    return 0;
}

/* Replies the worker finished: to their clients, if still connected. */
static void take_replies(void) {
    cog_control_job *r = cog_control_worker_replies();
    while (r) {
        cog_control_job *next = r->next;
        client *c = clients[r->slot];
        if (c && c->id == r->id) {
            c->busy = 0;
            int rc = r->text ? queue_out(c, r->text, strlen(r->text)) : -1;
            if (rc != 0 || run_lines(r->slot) != 0) drop_slot(r->slot, NULL);
        }
        free(r->text);
        free(r);
        r = next;
    }
}

static void drop_idle(uint64_t now) {
    for (int i = 0; i < COG_CONTROL_MAX_CLIENTS; i++)
        if (clients[i] && !clients[i]->busy && now - clients[i]->last_ms > COG_CONTROL_IDLE_MS)
            drop_slot(i, "error: idle timeout\n");
}

static struct pollfd pf[3 + COG_CONTROL_MAX_CLIENTS]; /* server thread only */
static int who[3 + COG_CONTROL_MAX_CLIENTS];

static void *server_main(void *arg) {
    (void)arg;
    cog_thread_offline();
    /* Without a worker (no thread could be started) slow commands run here,
     * as they always did: slower for the others, still correct. */
    int done_fd = cog_control_worker_start();
    have_worker = done_fd >= 0;
    uint64_t accept_paused_until = 0;
    for (;;) {
        int n = 0;
        pf[n++] = (struct pollfd){.fd = wake_fd[0], .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = done_fd, .events = POLLIN}; /* -1: ignored */
        uint64_t now = now_ms();
        int listening = now >= accept_paused_until;
        pf[n++] = (struct pollfd){.fd = listening ? listen_fd : -1, .events = POLLIN};
        for (int i = 0; i < COG_CONTROL_MAX_CLIENTS; i++) {
            client *c = clients[i];
            if (!c) continue;
            short ev = (short)((may_read(c) ? POLLIN : 0) | (pending(c) ? POLLOUT : 0));
            if (!ev) continue; /* waiting for the worker: nothing to watch */
            who[n] = i;
            pf[n++] = (struct pollfd){.fd = c->fd, .events = ev};
        }
        int rc = poll(pf, (nfds_t)n, listening ? 1000 : 100);
        if (rc < 0 && errno != EINTR) break;
        if (pf[0].revents) break; /* cog_control_stop */
        if (rc > 0 && pf[1].revents) {
            cog_control_worker_drain(done_fd);
            take_replies();
        }
        for (int k = 3; rc > 0 && k < n; k++) {
            int i = who[k];
            client *c = clients[i];
            if (!pf[k].revents || !c || c->fd != pf[k].fd) continue;
            if (pending(c) && (pf[k].revents & (POLLOUT | POLLERR | POLLHUP))) {
                if (flush_out(c) != 0) {
                    drop_slot(i, NULL);
                    continue;
                }
                if (pending(c) == 0 && run_lines(i) != 0) { /* unpaused */
                    drop_slot(i, NULL);
                    continue;
                }
            }
            if (clients[i] == c && may_read(c) && (pf[k].revents & (POLLIN | POLLERR | POLLHUP)))
                read_client(i);
        }
        if (rc > 0 && (pf[2].revents & POLLIN) && accept_clients())
            accept_paused_until = now_ms() + 100;
        drop_idle(now_ms());
    }
    if (have_worker) cog_control_worker_stop(); /* waits for a command in progress */
    for (int i = 0; i < COG_CONTROL_MAX_CLIENTS; i++)
        if (clients[i]) drop_slot(i, NULL);
    have_worker = 0;
    cog_thread_online();
    return NULL;
}

static void server_body(void *arg) { server_main(arg); }

/* A socket file nobody accepts on is stale (a crashed process's): reuse. */
static int path_available(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT;
    if (!S_ISSOCK(st.st_mode)) return 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    int live = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno != ECONNREFUSED;
    close(fd);
    return !live && unlink(path) == 0;
}

static void close_fds(void) {
    if (listen_fd >= 0) close(listen_fd);
    if (wake_fd[0] >= 0) close(wake_fd[0]);
    if (wake_fd[1] >= 0) close(wake_fd[1]);
    listen_fd = wake_fd[0] = wake_fd[1] = -1;
}

static int start_locked(const char *path) {
    if (!cog_runtime_running())
        return cog_error(COG_ESTATE, "cog_control_start: runtime not initialised");
    if (running) return cog_error(COG_ESTATE, "cog_control_start: already serving %s", sock_path);
    if (!path || !*path) return cog_error(COG_EINVAL, "cog_control_start: empty socket path");
    if (strlen(path) >= sizeof sock_path)
        return cog_error(COG_EINVAL, "cog_control_start: socket path longer than %zu bytes",
                         sizeof sock_path - 1);
    if (!path_available(path))
        return cog_error(COG_EINVAL, "cog_control_start: %s exists and is not a stale socket",
                         path);
    strcpy(sock_path, path);
    /* Non-blocking: the server accepts until EAGAIN. */
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close_fds();
        return cog_error(COG_ENOMEM, "cog_control_start: cannot bind %s: %s", path, strerror(e));
    }
    if (chmod(path, 0600) != 0 || listen(listen_fd, SOMAXCONN) != 0 ||
        pipe2(wake_fd, O_CLOEXEC) != 0) {
        int e = errno;
        close_fds();
        unlink(path);
        return cog_error(COG_ENOMEM, "cog_control_start: %s: %s", path, strerror(e));
    }
    int rc = cog_thread_start_internal(&server, "cog-ctl", "cog_control_start: server",
                                       server_body, NULL);
    if (rc != COG_OK) {
        close_fds();
        unlink(path);
        return rc;
    }
    running = 1;
    return COG_OK;
}

int cog_control_start(const char *path) {
    pthread_mutex_lock(&ctl_lock);
    int rc = start_locked(path);
    pthread_mutex_unlock(&ctl_lock);
    return rc;
}

int cog_control_stop(void) {
    pthread_mutex_lock(&ctl_lock);
    if (!running) {
        pthread_mutex_unlock(&ctl_lock);
        return cog_error(COG_ESTATE, "cog_control_stop: no control socket running");
    }
    char b = 1;
    while (write(wake_fd[1], &b, 1) < 0 && errno == EINTR) {
    }
    /* The server may be executing a command that waits for the collector
     * or a grace period: join offline. */
    int was_online = cog_thread_is_attached();
    if (was_online) cog_thread_offline();
    pthread_join(server, NULL);
    if (was_online) cog_thread_online();
    close_fds();
    unlink(sock_path);
    running = 0;
    pthread_mutex_unlock(&ctl_lock);
    return COG_OK;
}

/* ---- subsystem: COG_CONTROL_SOCKET at cog_init, stop at cog_shutdown ---- */

static int control_subsystem_start(void) {
    const char *path = getenv("COG_CONTROL_SOCKET");
    if (path && *path && cog_control_start(path) != COG_OK)
        fprintf(stderr, "cog: ignoring COG_CONTROL_SOCKET=\"%s\": %s\n", path, cog_last_error());
    return COG_OK; /* the control socket is optional: never fail cog_init */
}

static void control_subsystem_stop(void) {
    pthread_mutex_lock(&ctl_lock);
    int on = running;
    pthread_mutex_unlock(&ctl_lock);
    if (on) cog_control_stop();
    cog_control_heap_shutdown(); /* the `heap snapshot` baseline */
}

/* The child of a fork has no server thread, and the socket (its path, its
 * clients) belongs to the parent: close the child's copies of the
 * descriptors, leave the file alone, and start clean. The server may have
 * held ctl_lock (or been inside a command) when the world stopped; the
 * child has only the forking thread, so the lock is reinitialised. */
static void control_after_fork_child(void) {
    pthread_mutex_init(&ctl_lock, NULL);
    if (!running) return;
    close_fds();
    for (int i = 0; i < COG_CONTROL_MAX_CLIENTS; i++)
        if (clients[i]) drop_slot(i, NULL);
    cog_control_worker_after_fork_child();
    have_worker = 0;
    running = 0;
}

static const cog_subsystem control_subsystem = {
    .name = "control",
    .start = control_subsystem_start,
    .stop = control_subsystem_stop,
    .after_fork_child = control_after_fork_child,
};

__attribute__((constructor)) static void register_control(void) {
    cog_runtime_register(&control_subsystem);
}
