/*
 * main.c — the `spate` command: a thin command line over libspate.
 *
 *   spate --version | --help
 *   spate run JOB.so [--parallelism N] [--config KEY=VALUE ...] [--checkpoint-dir DIR]
 *             [--from-checkpoint PATH|latest] [--allow-non-restored-state] [--control-socket PATH]
 *             [--verbose] [--] [JOB ARGS ...]
 *   spate list
 *   spate savepoint JOB [DIR]
 *   spate savepoint check SAVEPOINT JOB.so [options of run] [--] [JOB ARGS ...]
 *   spate stop [--savepoint-path DIR] [--drain] JOB
 *   spate cancel JOB
 *
 * JOB names a running `spate run` (control.h): a pid, a job name or a
 * control socket path.
 * After JOB.so, the options of run are still recognised; the first other
 * argument (or everything after "--") goes to the job.
 * `run` loads the job's shared object, calls its spate_job_main(env, argc,
 * argv) to build the graph, then executes it embedded in this process
 * (unless the program executed it itself).  Settings given on the command
 * line are applied before the program runs and again after it, so they
 * override what the program sets on its environment.
 *
 * Exit status: 0 success, 1 job failure, 2 usage or loading error.
 */
#include <spate/spate.h>

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>

#include "api/api.h"
#include "control.h"
#include "runtime/checkpointing.h"

static void usage(FILE *f)
{
    fprintf(
        f, "usage: spate run JOB.so [--parallelism N] [--config KEY=VALUE ...] [--checkpoint-dir DIR]\n"
           "                 [--from-checkpoint PATH|latest] [--allow-non-restored-state]\n"
           "                 [--control-socket PATH] [--verbose] [--] [JOB ARGS ...]\n"
           "       spate list\n"
           "       spate savepoint JOB [DIR]\n"
           "       spate savepoint check SAVEPOINT JOB.so [options of run] [--] [JOB ARGS ...]\n"
           "       spate stop [--savepoint-path DIR] [--drain] JOB\n"
           "       spate cancel JOB\n"
           "       spate --version\n"
           "       spate --help\n"
           "\n"
           "Runs a Spate job, a shared object exporting\n"
           "    int spate_job_main(spate_env_t *env, int argc, char **argv)\n"
           "embedded in this process.\n"
           "\n"
           "options of run:\n"
           "  -p, --parallelism N      default parallelism of the job's operators (parallelism.default)\n"
           "  -D, --config KEY=VALUE   a configuration key by its Flink name; repeatable\n"
           "  --checkpoint-dir DIR     where checkpoints go (state.checkpoints.dir)\n"
           "  --from-checkpoint P      restore from checkpoint P (a chk-<n> directory or its _metadata), "
           "or from\n"
           "                           'latest': the newest one of this job in the checkpoint directory, "
           "if any\n"
           "                           (execution.savepoint.path); -s, --from-savepoint P is the same\n"
           "  -n, --allow-non-restored-state\n"
           "                           restore even if the savepoint holds state of operators the job no\n"
           "                           longer has (execution.savepoint.ignore-unclaimed-state)\n"
           "  --control-socket PATH    where the job listens for list/savepoint/stop/cancel (default:\n"
           "                           $SPATE_RUN_DIR, $XDG_RUNTIME_DIR/spate or /tmp/spate-<uid>, "
           "/<pid>.sock)\n"
           "  -v, --verbose            print the job graph as it runs (after projection push-down), and its\n"
           "                           checkpoints when it ends\n"
           "\n"
           "JOB (list, savepoint, stop, cancel): the pid of a running 'spate run', its job name, or its\n"
           "control socket.  savepoint and stop print the savepoint's directory (DIR, --savepoint-path:\n"
           "where it goes; default state.savepoints.dir of the job).  stop --drain fires every event-time\n"
           "window and timer before the savepoint.\n"
           "\n"
           "configuration keys:\n");
    const char *key, *type, *def, *desc;
    for (int i = 0; sp_config_key_info(i, &key, &type, &def, &desc); i++)
        fprintf(f, "  %-50s %s (default %s)\n", key, type, *def ? def : "none");
}

/* The job's name: the file name without directory and ".so". */
static char *job_name_of(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 3 && strcmp(base + n - 3, ".so") == 0) n -= 3;
    return strndup(base, n);
}

typedef struct run_opts {
    const char *job;
    const char *parallelism;
    const char *checkpoint_dir, *from_checkpoint, *control_socket;
    const char **configs;
    int nconfigs;
    bool verbose, allow_non_restored;
    int job_argc;
    char **job_argv;
} run_opts_t;

static int apply_settings(spate_env_t *env, const run_opts_t *o)
{
    if (o->parallelism && spate_env_set_config(env, "parallelism.default", o->parallelism)) {
        fprintf(stderr, "spate: --parallelism: %s\n", spate_last_error());
        return -1;
    }
    if (o->checkpoint_dir && spate_env_set_config(env, "state.checkpoints.dir", o->checkpoint_dir)) {
        fprintf(stderr, "spate: --checkpoint-dir: %s\n", spate_last_error());
        return -1;
    }
    if (o->from_checkpoint && spate_env_set_config(env, "execution.savepoint.path", o->from_checkpoint)) {
        fprintf(stderr, "spate: --from-checkpoint: %s\n", spate_last_error());
        return -1;
    }
    if (o->allow_non_restored &&
        spate_env_set_config(env, "execution.savepoint.ignore-unclaimed-state", "true")) {
        fprintf(stderr, "spate: --allow-non-restored-state: %s\n", spate_last_error());
        return -1;
    }
    for (int i = 0; i < o->nconfigs; i++) {
        const char *eq = strchr(o->configs[i], '=');
        if (!eq) {
            fprintf(stderr, "spate: --config: expected KEY=VALUE, got '%s'\n", o->configs[i]);
            return -1;
        }
        /* "key = value" is accepted as well: spaces around both are dropped */
        const char *k = o->configs[i], *v = eq + 1;
        while (*k == ' ' || *k == '\t') k++;
        size_t klen = (size_t)(eq - k);
        while (klen && (k[klen - 1] == ' ' || k[klen - 1] == '\t')) klen--;
        while (*v == ' ' || *v == '\t') v++;
        size_t vlen = strlen(v);
        while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
        char *key = strndup(k, klen), *value = strndup(v, vlen);
        int rc = spate_env_set_config(env, key, value);
        free(key);
        free(value);
        if (rc) {
            fprintf(stderr, "spate: --config: %s\n", spate_last_error());
            return -1;
        }
    }
    return 0;
}

/* --verbose: per checkpoint the job took, a line, then a line per operator. */
static void print_checkpoints(spate_job_t *job, const char *name)
{
    static const char *const status[] = { "in progress", "completed", "failed" };
    size_t n = spate_job_checkpoint_count(job);
    for (size_t i = 0; i < n; i++) {
        spate_checkpoint_stats_t s;
        if (!spate_job_checkpoint_stats(job, i, &s)) break;
        fprintf(stderr,
                "spate: job '%s' checkpoint %lld %s: %lld ms, %llu bytes, %d/%d acknowledged, alignment %lld "
                "ms%s%s\n",
                name, (long long)s.id, status[s.status], (long long)s.duration_ms,
                (unsigned long long)s.state_bytes, s.acks, s.expected, (long long)s.alignment_ms,
                *s.failure ? ": " : "", s.failure);
        spate_checkpoint_operator_stats_t o;
        for (size_t op = 0; spate_job_checkpoint_operator_stats(job, i, op, &o); op++) {
            fprintf(stderr, "spate: job '%s' checkpoint %lld operator '%s' (uid %s): %d/%d acknowledged",
                    name, (long long)s.id, o.name, o.uid, o.acks, o.parallelism);
            if (o.acks) fprintf(stderr, ", last after %lld ms", (long long)o.ack_ms);
            fprintf(stderr, ", %llu bytes\n", (unsigned long long)o.state_bytes);
        }
    }
}

static volatile sig_atomic_t got_signal;

/* Only sets a flag (async-signal-safe); the waiting loop cancels the job. */
static void on_signal(int sig)
{
    (void)sig;
    got_signal = 1;
}

/*
 * Loads JOB.so and runs its spate_job_main on a new environment with the
 * command-line settings.  Returns 0 with *env and *name set when a graph was
 * built without errors; -1 when the program ran its job itself, fine;
 * otherwise the exit status to end with (a message was printed).
 */
static int load(run_opts_t *o, spate_env_t **env_out, char **name_out)
{
    struct stat st;
    if (stat(o->job, &st) != 0) {
        fprintf(stderr, "spate: cannot open job '%s': %s\n", o->job, strerror(errno));
        return 2;
    }
    /* dlopen searches the library path for a name without '/': load the file the user named. */
    char *path = realpath(o->job, NULL);
    void *so = dlopen(path ? path : o->job, RTLD_NOW | RTLD_LOCAL);
    free(path);
    if (!so) {
        fprintf(stderr, "spate: cannot load job '%s': %s\n", o->job, dlerror());
        return 2;
    }
    spate_job_main_fn job_main;
    *(void **)&job_main = dlsym(so, "spate_job_main");
    if (!job_main) {
        fprintf(stderr, "spate: '%s' is not a Spate job: it does not export spate_job_main\n", o->job);
        dlclose(so);
        return 2;
    }
    /* The job's code may still be referenced by static destructors of libraries it used; keep it mapped. */
    char *name = job_name_of(o->job);
    spate_env_t *env = spate_env_create();
    int status = 0;
    if (apply_settings(env, o) != 0) {
        status = 2;
        goto fail;
    }
    int rc = job_main(env, o->job_argc, o->job_argv);
    const char *pname = spate_env_get_config(env, "pipeline.name");
    if (pname && *pname) { /* the job's own name, when set, names it in messages */
        free(name);
        name = strdup(pname);
    }
    if (env->executed) { /* the program ran its job itself */
        if (rc != SPATE_OK || *spate_env_error(env)) {
            fprintf(stderr, "spate: job '%s' failed: %s\n", name,
                    *spate_env_error(env) ? spate_env_error(env) : spate_strerror(rc));
            status = 1;
        }
        status = status ? status : -1;
        goto fail;
    }
    if (rc != SPATE_OK || *spate_env_error(env)) {
        const char *msg = *spate_env_error(env) ? spate_env_error(env) : spate_strerror(rc);
        fprintf(stderr, "spate: job '%s' could not be built: %s\n", name, msg);
        status = rc == SPATE_EINVAL || rc == SPATE_OK ? 2 : 1;
        goto fail;
    }
    if (apply_settings(env, o) != 0) { /* again: the command line overrides the program */
        status = 2;
        goto fail;
    }
    *env_out = env;
    *name_out = name;
    return 0;
fail:
    spate_env_destroy(env);
    free(name);
    return status;
}

static int cmd_run(run_opts_t *o)
{
    spate_env_t *env;
    char *name;
    int status = load(o, &env, &name);
    if (status) return status < 0 ? 0 : status; /* -1: the program ran its job itself, fine */
    spate_job_t *job;
    int rc = spate_env_start(env, name, &job);
    if (rc != SPATE_OK) {
        fprintf(stderr, "spate: job '%s' could not start: %s\n", name, spate_env_error(env));
        spate_env_destroy(env);
        free(name);
        return 1;
    }
    if (o->verbose) { /* after start: the graph as it runs (projections pushed down) */
        char plan[16384];
        spate_env_describe(env, plan, sizeof plan);
        fprintf(stderr, "job graph of '%s':\n%s", name, plan);
    }
    char why[512];
    sp_control_t *control = sp_control_start(job, name, o->control_socket, why, sizeof why);
    if (!control) fprintf(stderr, "spate: job '%s' runs without a control socket: %s\n", name, why);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    bool canceled = false;
    while (!spate_job_wait_for(job, 100, &rc))
        if (got_signal && !canceled) {
            spate_job_cancel(job);
            canceled = true;
        }
    sp_control_stop(control);
    if (o->verbose) print_checkpoints(job, name);
    int64_t skipped = spate_job_records_skipped(job);
    if (skipped > 0)
        fprintf(stderr, "spate: job '%s' skipped %lld malformed records\n", name, (long long)skipped);
    if (rc == SPATE_ECANCELED)
        fprintf(stderr, "spate: job '%s' was cancelled\n", name);
    else if (rc)
        fprintf(stderr, "spate: job '%s' failed: %s\n", name, spate_job_error(job));
    spate_job_destroy(job);
    spate_env_destroy(env);
    free(name);
    return rc ? 1 : 0;
}

/* spate savepoint check SAVEPOINT JOB.so ...: builds the job and says whether SAVEPOINT restores into it. */
static int cmd_check(run_opts_t *o, const char *savepoint)
{
    spate_env_t *env;
    char *name;
    int status = load(o, &env, &name);
    if (status) {
        if (status < 0) fprintf(stderr, "spate: job '%s' ran its job itself: nothing to check\n", o->job);
        return status < 0 ? 2 : status;
    }
    sp_error_t err = { 0 };
    int rc = sp_savepoint_check(&env->graph, env->config, savepoint, stdout, &err);
    if (rc != SPATE_OK && rc != SPATE_ESTATE) fprintf(stderr, "spate: savepoint check: %s\n", err.message);
    spate_env_destroy(env);
    free(name);
    return rc == SPATE_OK ? 0 : 1;
}

/* Parses the options of run (also those of savepoint check) from argv[i]; 0, or 2 for a usage error. */
static int parse_run(int argc, char **argv, int i, run_opts_t *o)
{
    o->configs = calloc((size_t)argc, sizeof *o->configs);
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        } else if ((!strcmp(a, "--parallelism") || !strcmp(a, "-p")) && i + 1 < argc) {
            o->parallelism = argv[++i];
        } else if ((!strcmp(a, "--config") || !strcmp(a, "-D")) && i + 1 < argc) {
            o->configs[o->nconfigs++] = argv[++i];
        } else if (!strcmp(a, "--checkpoint-dir") && i + 1 < argc) {
            o->checkpoint_dir = argv[++i];
        } else if ((!strcmp(a, "--from-checkpoint") || !strcmp(a, "--from-savepoint") || !strcmp(a, "-s")) &&
                   i + 1 < argc) {
            o->from_checkpoint = argv[++i];
        } else if (!strcmp(a, "--allow-non-restored-state") || !strcmp(a, "-n")) {
            o->allow_non_restored = true;
        } else if (!strcmp(a, "--control-socket") && i + 1 < argc) {
            o->control_socket = argv[++i];
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            o->verbose = true;
        } else if (o->job) {
            break; /* after JOB.so, the first argument that is not an option of run starts the job's own */
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "spate run: unknown or incomplete option '%s'\n", a);
            return 2;
        } else {
            o->job = a;
        }
    }
    if (!o->job) {
        fprintf(stderr, "spate run: missing JOB.so\n");
        return 2;
    }
    /* The job sees argv[0] = its path, then its own arguments. */
    o->job_argc = 1 + (argc - i);
    o->job_argv = calloc((size_t)o->job_argc + 1, sizeof(char *));
    o->job_argv[0] = (char *)o->job;
    for (int k = i; k < argc; k++) o->job_argv[1 + k - i] = argv[k];
    return 0;
}

/* Sends a request to a running job and prints the answer; the exit status. */
static int control(const char *cmd, const char *target, const char *request, const char *done_fmt)
{
    char *reply;
    int rc = sp_control_call(target, request, &reply);
    if (rc == 0)
        printf(done_fmt, reply);
    else
        fprintf(stderr, "spate %s: %s\n", cmd, reply);
    free(reply);
    return rc ? 1 : 0;
}

static int cmd_savepoint(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || argv[2][0] == '-') {
        fprintf(stderr,
                "usage: spate savepoint JOB [DIR]\n       spate savepoint check SAVEPOINT JOB.so ...\n");
        return 2;
    }
    char request[4200];
    snprintf(request, sizeof request, "savepoint%s%s", argc == 4 ? " " : "", argc == 4 ? argv[3] : "");
    return control("savepoint", argv[2], request, "Savepoint completed. Path: %s\n");
}

static int cmd_stop(int argc, char **argv)
{
    const char *dir = NULL, *target = NULL;
    bool drain = false;
    for (int i = 2; i < argc; i++) {
        if ((!strcmp(argv[i], "--savepoint-path") || !strcmp(argv[i], "-p")) && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--drain") || !strcmp(argv[i], "-d"))
            drain = true;
        else if (argv[i][0] != '-' && !target)
            target = argv[i];
        else
            target = NULL, i = argc; /* a usage error */
    }
    if (!target) {
        fprintf(stderr, "usage: spate stop [--savepoint-path DIR] [--drain] JOB\n");
        return 2;
    }
    char request[4200];
    snprintf(request, sizeof request, "stop %d%s%s", drain, dir ? " " : "", dir ? dir : "");
    return control("stop", target, request, "Savepoint completed. Path: %s\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("spate %s\n", spate_version());
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "list")) {
        if (sp_control_list(stdout) == 0) printf("no running jobs\n");
        return 0;
    }
    if (!strcmp(cmd, "cancel")) {
        if (argc != 3) {
            fprintf(stderr, "usage: spate cancel JOB\n");
            return 2;
        }
        return control("cancel", argv[2], "cancel", "Cancelled%s\n");
    }
    if (!strcmp(cmd, "stop")) return cmd_stop(argc, argv);
    if (!strcmp(cmd, "savepoint") && !(argc > 2 && !strcmp(argv[2], "check")))
        return cmd_savepoint(argc, argv);
    bool check = !strcmp(cmd, "savepoint");
    if (!check && strcmp(cmd, "run") != 0) {
        fprintf(stderr, "spate: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
    }
    if (check && argc < 5) {
        fprintf(stderr,
                "usage: spate savepoint check SAVEPOINT JOB.so [options of run] [--] [JOB ARGS ...]\n");
        return 2;
    }
    run_opts_t o = { 0 };
    int status = parse_run(argc, argv, check ? 4 : 2, &o);
    if (status == 0) status = check ? cmd_check(&o, argv[3]) : cmd_run(&o);
    free(o.job_argv);
    free(o.configs);
    return status;
}
