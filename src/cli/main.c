/*
 * main.c — the `spate` command: a thin command line over libspate.
 *
 *   spate --version | --help
 *   spate run JOB.so [--parallelism N] [--config KEY=VALUE ...] [--checkpoint-dir DIR]
 *             [--from-checkpoint PATH|latest] [--verbose] [--] [JOB ARGS ...]
 *
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

static void usage(FILE *f)
{
    fprintf(
        f, "usage: spate run JOB.so [--parallelism N] [--config KEY=VALUE ...] [--checkpoint-dir DIR]\n"
           "                 [--from-checkpoint PATH|latest] [--verbose] [--] [JOB ARGS ...]\n"
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
           "                           (execution.savepoint.path)\n"
           "  -v, --verbose            print the job graph as it runs (after projection push-down), and its\n"
           "                           checkpoints when it ends\n"
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
    const char *checkpoint_dir, *from_checkpoint;
    const char **configs;
    int nconfigs;
    bool verbose;
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

static int cmd_run(run_opts_t *o)
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
    char *name = job_name_of(o->job);
    spate_env_t *env = spate_env_create();
    int status = 0;
    if (apply_settings(env, o) != 0) {
        status = 2;
        goto out;
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
        goto out;
    }
    if (rc != SPATE_OK || *spate_env_error(env)) {
        const char *msg = *spate_env_error(env) ? spate_env_error(env) : spate_strerror(rc);
        fprintf(stderr, "spate: job '%s' could not be built: %s\n", name, msg);
        status = rc == SPATE_EINVAL || rc == SPATE_OK ? 2 : 1;
        goto out;
    }
    {
        if (apply_settings(env, o) != 0) {
            status = 2;
            goto out;
        }
        spate_job_t *job;
        rc = spate_env_start(env, name, &job);
        if (rc == SPATE_OK && o->verbose) { /* after start: the graph as it runs (projections pushed down) */
            char plan[16384];
            spate_env_describe(env, plan, sizeof plan);
            fprintf(stderr, "job graph of '%s':\n%s", name, plan);
        }
        if (rc == SPATE_OK) {
            signal(SIGINT, on_signal);
            signal(SIGTERM, on_signal);
            bool canceled = false;
            while (!spate_job_wait_for(job, 100, &rc))
                if (got_signal && !canceled) {
                    spate_job_cancel(job);
                    canceled = true;
                }
            if (o->verbose) print_checkpoints(job, name);
            int64_t skipped = spate_job_records_skipped(job);
            if (skipped > 0)
                fprintf(stderr, "spate: job '%s' skipped %lld malformed records\n", name, (long long)skipped);
            if (rc == SPATE_ECANCELED)
                fprintf(stderr, "spate: job '%s' was cancelled\n", name);
            else if (rc)
                fprintf(stderr, "spate: job '%s' failed: %s\n", name, spate_job_error(job));
            spate_job_destroy(job);
        } else {
            fprintf(stderr, "spate: job '%s' could not start: %s\n", name, spate_env_error(env));
        }
        status = rc ? 1 : 0;
    }
out:
    spate_env_destroy(env);
    free(name);
    /* The job's code may still be referenced by static destructors of libraries it used; keep it mapped. */
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("spate %s\n", spate_version());
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "spate: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    run_opts_t o = { 0 };
    o.configs = calloc((size_t)argc, sizeof *o.configs);
    int i = 2;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        } else if ((!strcmp(a, "--parallelism") || !strcmp(a, "-p")) && i + 1 < argc) {
            o.parallelism = argv[++i];
        } else if ((!strcmp(a, "--config") || !strcmp(a, "-D")) && i + 1 < argc) {
            o.configs[o.nconfigs++] = argv[++i];
        } else if (!strcmp(a, "--checkpoint-dir") && i + 1 < argc) {
            o.checkpoint_dir = argv[++i];
        } else if (!strcmp(a, "--from-checkpoint") && i + 1 < argc) {
            o.from_checkpoint = argv[++i];
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            o.verbose = true;
        } else if (o.job) {
            break; /* after JOB.so, the first argument that is not an option of run starts the job's own */
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "spate run: unknown or incomplete option '%s'\n", a);
            free(o.configs);
            return 2;
        } else {
            o.job = a;
        }
    }
    if (!o.job) {
        fprintf(stderr, "spate run: missing JOB.so\n");
        free(o.configs);
        return 2;
    }
    /* The job sees argv[0] = its path, then its own arguments. */
    o.job_argc = 1 + (argc - i);
    o.job_argv = calloc((size_t)o.job_argc + 1, sizeof(char *));
    o.job_argv[0] = (char *)o.job;
    for (int k = i; k < argc; k++) o.job_argv[1 + k - i] = argv[k];
    int status = cmd_run(&o);
    free(o.job_argv);
    free(o.configs);
    return status;
}
