/* cog/control.h - an optional control endpoint: a Unix-domain socket served
 * by a thread inside the library, so a running process can be inspected and
 * tuned from outside (tools/cogctl). Off unless started, by
 * cog_control_start or by COG_CONTROL_SOCKET=path at cog_init.
 *
 * Protocol: the client sends command lines (at most COG_CONTROL_MAX_LINE
 * bytes each, the ending '\n' included); for each the server writes reply
 * lines that end with a terminating line, either "ok" or
 * "error: <message>":
 *
 *   stats                   enabled, thresholds, counts, per-generation
 *                           statistics, heap bytes, gctrace
 *   collect [gen]           collect generation gen (default 2); replies
 *                           "collected N"
 *   threshold [t0 [t1 [t2]]]  without values: "threshold t0 t1 t2"; with
 *                           values: set them (omitted ones unchanged)
 *   enable | disable        automatic collection on / off
 *   gctrace [on|off]        set, or without argument show, gctrace
 *   top [n]                 live objects and bytes per type, largest first
 *                           (default 20 types)
 *   metrics                 the Prometheus text of cog_metrics_write
 *                           (cog/metrics.h)
 *   help                    the command list
 *
 * Bad commands, bad arguments, empty lines get an "error:" reply and the
 * connection stays usable; a line longer than COG_CONTROL_MAX_LINE gets
 * "error: line too long" and the connection is closed. A client's lines run
 * one at a time, in order. A client that disconnects mid-line has its
 * partial line discarded.
 *
 * Limits: up to COG_CONTROL_MAX_CLIENTS clients are served at once, and no
 * client can lock others out. The server never waits on one client: a
 * client that does not read its replies is not read any further until it
 * does (its commands wait, others do not). The slow commands (collect, top,
 * metrics) run on a second thread, one at a time (they queue behind each
 * other), so other clients' replies never wait for a collection or a heap
 * walk. A client that makes no progress (sends
 * nothing, or does not take its pending reply) for COG_CONTROL_IDLE_MS is
 * told "error: idle timeout" and disconnected. When every slot is taken (or
 * the process has no descriptor left), a new connection evicts the client
 * that has made no progress for the longest (it is told "error: too many
 * clients: closing the longest idle one"), never one whose command is
 * running; only if every client has a command running is the newcomer
 * refused with "error: too many clients".
 *
 * Security: the socket file is created with permissions 0600 and every
 * connection's peer credentials (SO_PEERCRED) are checked: a peer whose
 * user id is not the process's effective user id is refused.
 *
 * Thread model: the server thread and its worker (which runs collect, top
 * and metrics) are attached to cog (they do not count for cog_shutdown's
 * busy check) and are offline whenever they wait, for clients or for work,
 * so they never delay grace periods or collections. cog_shutdown stops
 * them.
 */
#ifndef COG_CONTROL_H
#define COG_CONTROL_H

#include <stddef.h>

#include "cog/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define COG_CONTROL_MAX_LINE 1024
#define COG_CONTROL_MAX_CLIENTS 1024
#define COG_CONTROL_IDLE_MS 10000

/* Create the socket at path (which must not exist, or be a stale socket
 * nobody listens on; it is removed at stop) and start the server thread.
 * Returns COG_OK; COG_ESTATE if the runtime is not running or a control
 * socket is already running; COG_EINVAL for a NULL, empty or too long path,
 * or a path that exists and is not a stale socket; COG_ENOMEM if the socket
 * or thread cannot be created (cog_last_error() has the system error).
 * Any thread may call it. */
int cog_control_start(const char *path);

/* Stop the server thread, close every connection and remove the socket
 * file. COG_ESTATE if no control socket is running. Called by cog_shutdown. */
int cog_control_stop(void);

/* Execute one command line (without the '\n') as the server would and write
 * the whole reply, terminating line included, into reply (truncated to
 * cap - 1 bytes, always NUL-terminated when cap > 0). Returns COG_OK when
 * the reply ends with "ok", else the negative status of the failure
 * (COG_EINVAL for unknown commands and bad arguments). For programs that
 * expose the same commands over their own transport. Call it from an
 * attached thread (commands like collect and top need one). */
int cog_control_execute(const char *line, char *reply, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* COG_CONTROL_H */
