/*
 * control.h — the control socket of `spate run`, and its client side for
 * `spate list`, `savepoint`, `stop` and `cancel`.
 *
 * Each `spate run` listens on a Unix socket <run dir>/<pid>.sock, where the
 * run dir is $SPATE_RUN_DIR, else $XDG_RUNTIME_DIR/spate, else
 * /tmp/spate-<uid> (created with mode 0700).  `spate run --control-socket
 * PATH` names another path.  The socket is removed when the run ends.
 *
 * Protocol: one request per connection, one line each way (UTF-8, "\n").
 *
 *   info                    ok <pid> <status> <job name>
 *   savepoint [DIR]         ok <savepoint path>       (DIR: state.savepoints.dir)
 *   stop <0|1> [DIR]        ok <savepoint path>       (1: drain first)
 *   cancel                  ok
 *
 * A failure answers "error <message>".  A target (the JOB argument of the
 * commands) is a socket path (it holds a '/'), a pid, or a job name that
 * exactly one running job has.
 */
#ifndef SP_CLI_CONTROL_H
#define SP_CLI_CONTROL_H

#include <spate/spate.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct sp_control sp_control_t;

/* Starts serving requests for `job` on a thread (path NULL: <run dir>/<pid>.sock).  NULL with a
 * message in err (cap bytes) when the socket cannot be made. */
sp_control_t *sp_control_start(spate_job_t *job, const char *name, const char *path, char *err, size_t cap);
/* Stops serving and removes the socket.  NULL is fine. */
void sp_control_stop(sp_control_t *c);

/* Client: sends `request` (one line, without "\n") to the job `target`; *reply gets the answer
 * without "ok "/"error " (caller frees).  Returns 0 ok, 1 the job answered an error, 2 no such
 * job or it could not be reached (*reply says why). */
int sp_control_call(const char *target, const char *request, char **reply);
/* Client: prints one line per running job ("<pid>  <status>  <name>"); returns how many. */
int sp_control_list(FILE *out);

#endif
