/* collector/control.c - the control socket server (cog/control.h).
 *
 * One thread, attached to cog and marked internal, serves up to
 * COG_CONTROL_MAX_CLIENTS connections with poll(). It is offline whenever it
 * waits (poll, and the short non-blocking reads and writes around it) and
 * goes online only to execute a complete command line, so a silent or slow
 * client never delays grace periods, collections or other clients. Stop is
 * signalled through a pipe the poll also watches.
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

typedef struct client {
    int fd; /* -1: free slot */
    size_t len;
    uint64_t last_ms; /* last activity, for the idle timeout */
    char buf[COG_CONTROL_MAX_LINE + 1];
} client;

/* Server state; start/stop are serialised by ctl_lock. The thread reads
 * listen_fd, wake_fd[0] and path only (set before it starts, freed after
 * it is joined). */
static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;
static int running; /* under ctl_lock */
static pthread_t server;
static int listen_fd = -1, wake_fd[2] = {-1, -1};
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static client clients[COG_CONTROL_MAX_CLIENTS]; /* server thread only */

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Best effort, bounded: replies are small and the socket non-blocking; a
 * client that does not read (full buffer for 1 s) is dropped. */
static int send_all(int fd, const char *p, size_t n) {
    uint64_t deadline = now_ms() + 1000;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && now_ms() < deadline) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            poll(&pf, 1, 100);
            continue;
        }
        return -1;
    }
    return 0;
}

static void drop(client *c) {
    close(c->fd);
    c->fd = -1;
    c->len = 0;
}

static void refuse(int fd, const char *msg) {
    send_all(fd, msg, strlen(msg));
    close(fd);
}

static int peer_is_owner(int fd) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return 0;
    return cred.uid == geteuid();
}

static void accept_client(void) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    if (!peer_is_owner(fd)) {
        refuse(fd, "error: permission denied\n");
        return;
    }
    for (int i = 0; i < COG_CONTROL_MAX_CLIENTS; i++) {
        if (clients[i].fd < 0) {
            clients[i].fd = fd;
            clients[i].len = 0;
            clients[i].last_ms = now_ms();
            return;
        }
    }
    refuse(fd, "error: too many clients\n");
}

/* Execute every complete line in the buffer. The thread goes online only
 * around cog_control_execute. Returns -1 if the client must be dropped. */
static int run_lines(client *c) {
    char *start = c->buf;
    char *nl;
    while ((nl = memchr(start, '\n', c->len - (size_t)(start - c->buf))) != NULL) {
        *nl = '\0';
        cog_thread_online();
        char *reply;
        cog_control_execute_alloc(start, &reply);
        cog_thread_offline();
        int sent = reply ? send_all(c->fd, reply, strlen(reply)) : -1;
        free(reply);
        if (sent != 0) return -1;
        start = nl + 1;
    }
    size_t rest = c->len - (size_t)(start - c->buf);
    memmove(c->buf, start, rest);
    c->len = rest;
    if (c->len == COG_CONTROL_MAX_LINE) {
        char msg[80];
        snprintf(msg, sizeof msg, "error: line too long (max %d bytes)\n", COG_CONTROL_MAX_LINE);
        send_all(c->fd, msg, strlen(msg));
        return -1;
    }
    return 0;
}

static void serve_client(client *c) {
    ssize_t n = read(c->fd, c->buf + c->len, COG_CONTROL_MAX_LINE - c->len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) { /* EOF (a partial line is discarded) or error */
        drop(c);
        return;
    }
    c->len += (size_t)n;
    c->last_ms = now_ms();
    if (run_lines(c) != 0) drop(c);
}

static void *server_main(void *arg) {
    (void)arg;
    for (int i = 0; i < COG_CONTROL_MAX_CLIENTS; i++) clients[i].fd = -1;
    cog_thread_offline();
    for (;;) {
        struct pollfd pf[2 + COG_CONTROL_MAX_CLIENTS];
        int who[2 + COG_CONTROL_MAX_CLIENTS];
        int n = 0;
        pf[n++] = (struct pollfd){.fd = wake_fd[0], .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
        for (int i = 0; i < COG_CONTROL_MAX_CLIENTS; i++)
            if (clients[i].fd >= 0) {
                who[n] = i;
                pf[n++] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
            }
        int rc = poll(pf, (nfds_t)n, 1000);
        if (rc < 0 && errno != EINTR) break;
        if (pf[0].revents) break; /* cog_control_stop */
        if (rc > 0 && (pf[1].revents & POLLIN)) accept_client();
        for (int k = 2; rc > 0 && k < n; k++)
            if (pf[k].revents && clients[who[k]].fd >= 0) {
                serve_client(&clients[who[k]]);
            }
        uint64_t now = now_ms();
        for (int i = 0; i < COG_CONTROL_MAX_CLIENTS; i++)
            if (clients[i].fd >= 0 && now - clients[i].last_ms > COG_CONTROL_IDLE_MS) {
                refuse(clients[i].fd, "error: idle timeout\n");
                clients[i].fd = -1;
                clients[i].len = 0;
            }
    }
    for (int i = 0; i < COG_CONTROL_MAX_CLIENTS; i++)
        if (clients[i].fd >= 0) drop(&clients[i]);
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
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close_fds();
        return cog_error(COG_ENOMEM, "cog_control_start: cannot bind %s: %s", path, strerror(e));
    }
    if (chmod(path, 0600) != 0 || listen(listen_fd, 16) != 0 ||
        pipe2(wake_fd, O_CLOEXEC) != 0) {
        int e = errno;
        close_fds();
        unlink(path);
        return cog_error(COG_ENOMEM, "cog_control_start: %s: %s", path, strerror(e));
    }
    int rc = cog_thread_start_internal(&server, "cog_control_start: server", server_body, NULL);
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
    for (int i = 0; i < COG_CONTROL_MAX_CLIENTS; i++) {
        if (clients[i].fd >= 0) close(clients[i].fd);
        clients[i].fd = -1;
    }
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
