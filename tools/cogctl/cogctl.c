/* tools/cogctl/cogctl.c - talk to a cog process's control socket.
 *
 *   cogctl SOCKET stats | collect [gen] | threshold [t0 [t1 [t2]]] |
 *                 enable | disable | gctrace [on|off] | top [n] | metrics |
 *                 heap [start [interval] | stop | reset | snapshot |
 *                       diff [type|stack] [n] | pprof PATH | folded PATH] | help
 *
 * Sends the command as one line, prints the reply (the terminating "ok"
 * line is not printed; an "error: ..." line goes to stderr) and exits 0 on
 * "ok", 1 on an error reply, 2 on bad usage or when the socket cannot be
 * reached or the reply is cut short. So stdout holds exactly the reply's
 * body, byte for byte: `cogctl SOCKET metrics > x.prom.tmp && mv x.prom.tmp
 * x.prom` feeds node_exporter's textfile collector (the rename keeps it
 * from reading a file cut short, which the exit status reports). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_LINE 1024

static int usage(void) {
    fprintf(stderr,
            "usage: cogctl SOCKET stats | collect [gen] | threshold [t0 [t1 [t2]]] | enable |\n"
            "              disable | gctrace [on|off] | top [n] | metrics |\n"
            "              heap [start [interval] | stop | reset | snapshot |\n"
            "                    diff [type|stack] [n] | pprof PATH | folded PATH] | help\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 3) return usage();
    char line[MAX_LINE + 1];
    size_t len = 0;
    for (int i = 2; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (len + n + 2 > sizeof line) {
            fprintf(stderr, "cogctl: command longer than %d bytes\n", MAX_LINE - 1);
            return 2;
        }
        if (i > 2) line[len++] = ' ';
        memcpy(line + len, argv[i], n);
        len += n;
    }
    line[len++] = '\n';

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof sa.sun_path) {
        fprintf(stderr, "cogctl: socket path too long\n");
        return 2;
    }
    strcpy(sa.sun_path, argv[1]);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "cogctl: cannot connect to %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, line + off, len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            fprintf(stderr, "cogctl: write: %s\n", strerror(errno));
            return 2;
        }
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR); /* one command per connection */

    /* Print lines as they come, whole (any length); the last one decides
     * the exit status. */
    char buf[4096], *cur = NULL;
    size_t cl = 0, cap = 0;
    int status = 2;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "cogctl: read: %s\n", strerror(errno));
            return 2;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (cl + 1 >= cap) {
                cap = cap ? cap * 2 : 256;
                if (!(cur = realloc(cur, cap))) {
                    fprintf(stderr, "cogctl: out of memory\n");
                    return 2;
                }
            }
            if (buf[i] != '\n') {
                cur[cl++] = buf[i];
                continue;
            }
            cur[cl] = '\0';
            cl = 0;
            if (strcmp(cur, "ok") == 0) {
                status = 0;
            } else if (strncmp(cur, "error:", 6) == 0) {
                fprintf(stderr, "cogctl: %s\n", cur);
                status = 1;
            } else {
                puts(cur);
            }
        }
    }
    free(cur);
    close(fd);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "cogctl: writing stdout: %s\n", strerror(errno));
        return 2;
    }
    if (status == 2) fprintf(stderr, "cogctl: connection closed before the reply ended\n");
    return status;
}
