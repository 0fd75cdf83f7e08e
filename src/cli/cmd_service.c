/* start, stop, restart, list, logs: instances supervised by s6.  The s6
 * side is behind src/supervise/supervise.h; this file parses arguments,
 * checks names against the current generation and prints. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/netdesc.h"
#include "supervise/supervise.h"
#include "util/cleanup.h"
#include "util/shown.h"
#include "util/strv.h"


/* What every command here needs: the store, the supervision paths and
 * the configuration in force. */
struct ctx {
	struct sp_store store;
	struct sp_sv sv;
	struct sp_config cfg;
	unsigned gen;
	bool store_open, sv_open;
};

static int ctx_open(const struct sp_cli *cli, struct ctx *c, struct sp_err *err)
{
	*c = (struct ctx){ 0 };
	if (sp_store_open(cli->state_dir, cli->run_dir, &c->store, err) < 0)
		return -1;
	c->store_open = true;
	if (sp_sv_init(&c->sv, &c->store, err) < 0)
		return -1;
	c->sv_open = true;
	return sp_cli_load_current(cli, &c->cfg, &c->gen, err);
}

static void ctx_close(struct ctx *c)
{
	sp_config_free(&c->cfg);
	if (c->sv_open)
		sp_sv_fini(&c->sv);
	if (c->store_open)
		sp_store_close(&c->store);
}

/* NAME... after the command, each valid and known: in the current
 * generation, or (for stop) still installed from an earlier one. */
static int check_names(const char *what, struct ctx *c, int argc, char **argv, bool installed_ok,
		       struct sp_err *err)
{
	if (argc < 2)
		return sp_fail(err, SP_ERR_USAGE, "%s: missing instance name (see spectrum %s --help)", what, what);
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			return sp_fail(err, SP_ERR_USAGE, "%s: %s: unknown option", what, argv[i]);
		if (!sp_name_valid(argv[i]))
			return sp_fail(err, SP_ERR_USAGE, "%s: %s: not a valid instance name", what, argv[i]);
		if (sp_config_find(&c->cfg, argv[i]))
			continue;
		if (installed_ok && sp_sv_installed(&c->sv, argv[i]))
			continue;
		return sp_fail(err, SP_ERR_USAGE, "%s: %s: no such instance in generation %u", what, argv[i], c->gen);
	}
	return 0;
}

/* Several names: every failure but the last is printed here, the last
 * goes up to main. */
static void report(struct sp_err *first, int *failures, const struct sp_err *e)
{
	char shown[sizeof first->msg * 4];

	/* One line, escaped, as main prints the last one. */
	if (*failures > 0)
		fprintf(stderr, "spectrum: %s\n", sp_shown(shown, sizeof shown, first->msg));
	*first = *e;
	(*failures)++;
}

static int start_one(struct ctx *c, const char *name, struct sp_err *err)
{
	const struct sp_instance *inst = sp_config_find(&c->cfg, name);
	struct sp_sv_status st;
	int status;
	pid_t pid;

	/* A client's link is made at its start, into its provider. */
	if (inst->net.provider) {
		if (sp_sv_status(&c->sv, inst->net.provider, &st, err) < 0)
			return -1;
		if (st.state != SP_SV_UP) {
			printf("%s: starting its net provider %s first\n", name, inst->net.provider);
			if (start_one(c, inst->net.provider, err) < 0)
				return sp_err_wrap(err, "%s: its net provider", name);
		}
	}
	if (sp_sv_install(&c->sv, inst, err) < 0)
		return -1;
	if (sp_sv_status(&c->sv, name, &st, err) < 0)
		return -1;
	if (st.state == SP_SV_UP) {
		printf("%s is already running (pid %d)\n", name, (int)st.pid);
		return 0;
	}
	if (sp_sv_start(&c->sv, name, sp_sv_start_timeout_ms(inst), &status, err) < 0)
		return -1;
	pid = sp_sv_instance_pid(&c->sv, name);
	if (pid > 0)
		printf("%s started (pid %d)\n", name, (int)pid);
	else
		printf("%s started, and its command has already exited with status %d\n", name, status);
	return 0;
}

static bool is_running(const struct sp_sv_status *st)
{
	return st->supervised && (st->want_up || st->state == SP_SV_UP || st->state == SP_SV_STARTING);
}

/* A provider stopped: its running clients' links went with it. */
static void report_clients(struct ctx *c, const char *provider)
{
	struct sp_sv_status st;
	struct sp_err ignored;

	for (size_t i = 0; i < c->cfg.n_instances; i++) {
		const struct sp_instance *inst = &c->cfg.instances[i];

		if (inst->net.provider && strcmp(inst->net.provider, provider) == 0 &&
		    sp_sv_status(&c->sv, inst->name, &st, &ignored) == 0 && is_running(&st))
			printf("%s: no network now (its provider %s stopped; linked again when %s starts)\n",
			       inst->name, provider, provider);
	}
}

/* Stops NAME; an instance no longer in the configuration also loses its
 * service directory. */
static int stop_one(struct ctx *c, const char *what, const char *name, bool must_run, struct sp_err *err)
{
	struct sp_sv_status st;

	if (sp_sv_status(&c->sv, name, &st, err) < 0)
		return -1;
	if (!is_running(&st)) {
		if (must_run)
			return sp_fail(err, SP_ERR_RUNTIME, "%s: %s is not running", what, name);
	} else if (sp_sv_stop(&c->sv, name, err) < 0) {
		return sp_err_wrap(err, "%s", what);
	} else {
		report_clients(c, name);
	}
	if (!sp_config_find(&c->cfg, name) && sp_sv_uninstall(&c->sv, name, err) < 0)
		return sp_err_wrap(err, "%s", what);
	if (must_run)
		printf("%s stopped\n", name);
	return 0;
}

static int help_or(const char *cmd, int argc, char **argv)
{
	if (argc > 1 && sp_is_help(argv[1])) {
		sp_command_usage(sp_command_find(cmd), stdout);
		return 1;
	}
	return 0;
}

enum action { START, STOP, RESTART };

static int act_one(struct ctx *c, enum action a, const char *name, struct sp_err *err)
{
	switch (a) {
	case START:
		if (start_one(c, name, err) < 0)
			return sp_err_wrap(err, "start");
		return 0;
	case STOP:
		return stop_one(c, "stop", name, true, err);
	case RESTART:
		if (stop_one(c, "restart", name, false, err) < 0 || start_one(c, name, err) < 0) {
			if (strncmp(err->msg, "restart:", 8) != 0)
				sp_err_wrap(err, "restart");
			return -1;
		}
		return 0;
	}
	return -1;
}

/* start, stop and restart: every name is tried; the first failure is
 * what the command reports. */
static int lifecycle(const struct sp_cli *cli, enum action a, int argc, char **argv, struct sp_err *err)
{
	static const char *const words[] = { "start", "stop", "restart" };
	const char *what = words[a];
	struct ctx c;
	struct sp_err e, first = { 0 };
	int failures = 0, ret = -1;

	if (help_or(what, argc, argv))
		return 0;
	if (ctx_open(cli, &c, err) < 0 || check_names(what, &c, argc, argv, a == STOP, err) < 0)
		goto out;
	if (a != STOP && sp_sv_scan_ensure(&c.sv, err) < 0) {
		sp_err_wrap(err, "%s", what);
		goto out;
	}
	for (int i = 1; i < argc; i++) {
		sp_err_clear(&e);
		if (act_one(&c, a, argv[i], &e) < 0)
			report(&first, &failures, &e);
	}
	if (failures) {
		*err = first;
		goto out;
	}
	ret = 0;
out:
	ctx_close(&c);
	return ret;
}

int sp_cmd_start(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	return lifecycle(cli, START, argc, argv, err);
}

int sp_cmd_stop(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	return lifecycle(cli, STOP, argc, argv, err);
}

int sp_cmd_restart(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	return lifecycle(cli, RESTART, argc, argv, err);
}

/* ---- list ---- */

struct row {
	const struct sp_instance *inst;
	struct sp_sv_status st;
	bool have_mem;
	uint64_t mem;
	bool connected; /* a client whose link to its provider is there */
};

static void format_uptime(long long s, char *buf, size_t n)
{
	if (s < 60)
		snprintf(buf, n, "%llds", s);
	else if (s < 3600)
		snprintf(buf, n, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, n, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, n, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

static void format_mem(uint64_t b, char *buf, size_t n)
{
	if (b >= 1024ull * 1024 * 1024)
		snprintf(buf, n, "%.1fG", (double)b / (1024.0 * 1024 * 1024));
	else if (b >= 1024ull * 1024)
		snprintf(buf, n, "%.1fM", (double)b / (1024.0 * 1024));
	else
		snprintf(buf, n, "%lluK", (unsigned long long)(b / 1024));
}

static const char *isolation_name(enum sp_isolation i)
{
	return i == SP_ISOLATION_VM ? "vm" : "container";
}

static bool alive(const struct sp_sv_status *st)
{
	return st->state == SP_SV_UP || st->state == SP_SV_STARTING;
}

/* A client's engine records the provider it is linked to; the link goes
 * with that provider's namespace (and comes back within a second of the
 * provider's restart). */
static void mark_connected(const struct sp_sv *sv, const struct sp_config *cfg, struct row *rows)
{
	for (size_t i = 0; i < cfg->n_instances; i++) {
		const struct sp_instance *p = rows[i].inst->net.provider ? sp_config_find(cfg, rows[i].inst->net.provider)
									 : NULL;
		const struct row *pr = p ? &rows[p - cfg->instances] : NULL;

		rows[i].connected = pr && alive(&rows[i].st) && pr->st.state == SP_SV_UP && pr->st.pid > 0 &&
				    sp_sv_instance_net_provider(sv, rows[i].inst->name) == pr->st.pid;
	}
}

static void print_table(const struct row *rows, size_t n)
{
	printf("%-24s %-10s %-18s %8s %8s %8s %-28s %s\n", "NAME", "ISOLATION", "STATE", "PID", "UPTIME", "MEMORY",
	       "NETWORK", "GRANTS");
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		char state[64], pid[16] = "-", up[32] = "-", mem[32] = "-", net[96];

		if (r->st.state == SP_SV_FAILED && r->st.have_exit)
			snprintf(state, sizeof state, "failed (exit %d)", r->st.last_exit);
		else
			snprintf(state, sizeof state, "%s", sp_sv_state_name(r->st.state));
		if (r->st.pid > 0)
			snprintf(pid, sizeof pid, "%d", (int)r->st.pid);
		if (alive(&r->st))
			format_uptime(r->st.uptime, up, sizeof up);
		if (r->have_mem)
			format_mem(r->mem, mem, sizeof mem);
		sp_cli_net_short(r->inst, r->connected, net, sizeof net);
		printf("%-24s %-10s %-18s %8s %8s %8s %-28s %zu\n", r->inst->name, isolation_name(r->inst->isolation),
		       state, pid, up, mem, net, r->inst->n_data);
	}
}

static const char *const restart_words[] = { "no", "on-failure", "always" };

static int print_json(const struct sp_config *cfg, const struct row *rows, size_t n, struct sp_err *err)
{
	json_t *arr = json_array();
	char *text;

	if (!arr)
		return sp_fail_errno(err, ENOMEM, "list");
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		json_t *net = sp_cli_net_json(cfg, r->inst);

		if (net && r->inst->net.provider)
			json_object_set_new(net, "connected", json_boolean(r->connected));
		json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:I, s:o, s:s, s:b, s:I}",
				      "name", r->inst->name, "isolation", isolation_name(r->inst->isolation),
				      "state", sp_sv_state_name(r->st.state),
				      "pid", r->st.pid > 0 ? json_integer(r->st.pid) : json_null(),
				      "uptime", alive(&r->st) ? json_integer(r->st.uptime) : json_null(),
				      "memory", r->have_mem ? json_integer((json_int_t)r->mem) : json_null(),
				      "network", net, "grants", (json_int_t)r->inst->n_data,
				      "last_exit", r->st.have_exit ? json_integer(r->st.last_exit) : json_null(),
				      "restart", restart_words[r->inst->restart], "autostart", r->inst->autostart,
				      "stop_timeout", (json_int_t)r->inst->stop_timeout);
		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			return sp_fail_errno(err, ENOMEM, "list");
		}
	}
	text = json_dumps(arr, JSON_INDENT(2));
	json_decref(arr);
	if (!text)
		return sp_fail_errno(err, ENOMEM, "list");
	printf("%s\n", text);
	free(text);
	return 0;
}

int sp_cmd_list(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	struct ctx c;
	struct row *rows = NULL;
	bool json = false;
	int ret = -1;

	for (int i = 1; i < argc; i++) {
		if (sp_is_help(argv[i])) {
			sp_command_usage(sp_command_find("list"), stdout);
			return 0;
		}
		if (strcmp(argv[i], "--json") != 0)
			return sp_fail(err, SP_ERR_USAGE, "list: %s: unknown argument", argv[i]);
		json = true;
	}
	if (ctx_open(cli, &c, err) < 0)
		goto out;
	rows = calloc(c.cfg.n_instances + 1, sizeof *rows);
	if (!rows) {
		sp_fail_errno(err, ENOMEM, "list");
		goto out;
	}
	for (size_t i = 0; i < c.cfg.n_instances; i++) {
		struct row *r = &rows[i];
		r->inst = &c.cfg.instances[i];
		if (sp_sv_status(&c.sv, r->inst->name, &r->st, err) < 0) {
			sp_err_wrap(err, "list");
			goto out;
		}
		if (r->st.pid > 0)
			r->have_mem = sp_sv_memory(r->st.pid, &r->mem);
	}
	mark_connected(&c.sv, &c.cfg, rows);
	if (json ? print_json(&c.cfg, rows, c.cfg.n_instances, err) < 0 : (print_table(rows, c.cfg.n_instances), 0))
		goto out;
	ret = 0;
out:
	free(rows);
	ctx_close(&c);
	return ret;
}

/* ---- logs ---- */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Copies what FD has from where it is to stdout: through SHOWN, escaped
 * (util/shown.h: what the instance printed must not drive the admin's
 * terminal), or raw when SHOWN is NULL (`--raw`). */
static void pump(int fd, struct sp_shown *shown)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof buf)) > 0) {
		if (shown ? sp_shown_write(shown, stdout, buf, (size_t)n) < 0
			  : fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			break;
	}
	fflush(stdout);
}

static int follow(const char *path, int fd, struct sp_shown *shown, struct sp_err *err)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct stat now, was;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (fstat(fd, &was) < 0)
		return sp_fail_errno(err, errno, "logs: %s", path);
	while (!interrupted) {
		struct timespec ts = { 0, 200 * 1000000L };
		nanosleep(&ts, NULL);
		pump(fd, shown);
		/* s6-log rotates by renaming `current` and making a new one. */
		if (stat(path, &now) == 0 && (now.st_ino != was.st_ino || now.st_dev != was.st_dev)) {
			int nfd = open(path, O_RDONLY | O_CLOEXEC);
			if (nfd >= 0) {
				pump(fd, shown);
				close(fd);
				fd = nfd;
				fstat(fd, &was);
				pump(fd, shown);
			}
		}
	}
	close(fd);
	return 0;
}

int sp_cmd_logs(const struct sp_cli *cli, int argc, char **argv, struct sp_err *err)
{
	cleanup_free char *path = NULL;
	const char *name = NULL;
	bool follow_it = false, raw = false;
	struct sp_shown shown = { .flags = SP_SHOWN_LINES };
	struct ctx c;
	int fd, ret = -1;

	for (int i = 1; i < argc; i++) {
		if (sp_is_help(argv[i])) {
			sp_command_usage(sp_command_find("logs"), stdout);
			return 0;
		}
		if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--follow") == 0)
			follow_it = true;
		else if (strcmp(argv[i], "--raw") == 0)
			raw = true;
		else if (argv[i][0] == '-')
			return sp_fail(err, SP_ERR_USAGE, "logs: %s: unknown option", argv[i]);
		else if (!name)
			name = argv[i];
		else
			return sp_fail(err, SP_ERR_USAGE, "logs: %s: one instance at a time", argv[i]);
	}
	if (!name)
		return sp_fail(err, SP_ERR_USAGE, "logs: missing instance name (see spectrum logs --help)");
	if (ctx_open(cli, &c, err) < 0)
		goto out;
	path = sp_printf("%s/log/%s/current", c.store.root, name);
	if (!path) {
		sp_fail_errno(err, ENOMEM, "logs");
		goto out;
	}
	if (!sp_name_valid(name) || (!sp_config_find(&c.cfg, name) && access(path, F_OK) < 0)) {
		sp_fail(err, SP_ERR_USAGE, "logs: %s: no such instance in generation %u", name, c.gen);
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			sp_fail(err, SP_ERR_RUNTIME, "logs: %s: no log yet (it has not run under supervision)", name);
		else
			sp_fail_errno(err, errno, "logs: %s", path);
		goto out;
	}
	pump(fd, raw ? NULL : &shown);
	if (follow_it) {
		ret = follow(path, fd, raw ? NULL : &shown, err);
	} else {
		close(fd);
		ret = 0;
	}
	/* A UTF-8 sequence the log ends in the middle of. */
	sp_shown_flush(&shown, stdout);
	fflush(stdout);
out:
	ctx_close(&c);
	return ret;
}
