/* switch's reconciliation: the plan is the diff of the two generations;
 * each entry becomes at most a stop, an install and a start. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supervise/supervise.h"


static bool running(const struct sp_sv *sv, const char *name)
{
	struct sp_sv_status st;
	struct sp_err ignored;

	if (sp_sv_status(sv, name, &st, &ignored) < 0)
		return false;
	return st.supervised && (st.want_up || st.state == SP_SV_UP || st.state == SP_SV_STARTING);
}

static void failed(struct sp_sv_outcome *o, const char *verb, const struct sp_err *err)
{
	o->failed = true;
	snprintf(o->what, sizeof o->what, "%s failed: %.500s", verb, err->msg);
}

static void start_new(const struct sp_sv *sv, const struct sp_instance *inst, struct sp_sv_outcome *o)
{
	struct sp_err err = { 0 };
	int status;

	if (sp_sv_install(sv, inst, &err) < 0)
		return failed(o, "install", &err);
	if (!inst->autostart) {
		snprintf(o->what, sizeof o->what, "new, not started (autostart is off)");
		return;
	}
	if (sp_sv_start(sv, inst->name, sp_sv_start_timeout_ms(inst), &status, &err) < 0)
		return failed(o, "start", &err);
	snprintf(o->what, sizeof o->what, "started (new)");
}

static void remove_old(const struct sp_sv *sv, const char *name, struct sp_sv_outcome *o)
{
	struct sp_err err = { 0 };
	bool was = running(sv, name);

	if (!sp_sv_installed(sv, name)) {
		snprintf(o->what, sizeof o->what, "removed (it was not running)");
		return;
	}
	if (was && sp_sv_stop(sv, name, &err) < 0)
		return failed(o, "stop", &err);
	if (sp_sv_uninstall(sv, name, &err) < 0)
		return failed(o, "remove", &err);
	snprintf(o->what, sizeof o->what, was ? "stopped (removed)" : "removed (it was not running)");
}

/* A changed instance that runs and must restart is stopped first, with
 * every removed one, before anything starts: a new instance may take
 * what the old ones held (a client's address moves when a new name takes
 * it).  Returns whether it was running. */
static bool stop_changed(const struct sp_sv *sv, const struct sp_instance_diff *d, struct sp_sv_outcome *o)
{
	struct sp_err err = { 0 };
	bool was = running(sv, d->name);

	if (was && d->needs_restart && sp_sv_stop(sv, d->name, &err) < 0)
		failed(o, "restart", &err);
	return was;
}

static void update(const struct sp_sv *sv, const struct sp_instance *inst, const struct sp_instance_diff *d,
		   bool was, struct sp_sv_outcome *o)
{
	struct sp_err err = { 0 };
	int status;

	if (o->failed)
		return;
	if (sp_sv_installed(sv, inst->name) && sp_sv_install(sv, inst, &err) < 0)
		return failed(o, "update", &err);
	if (!was) {
		snprintf(o->what, sizeof o->what, "changed (not running)");
		return;
	}
	if (!d->needs_restart) {
		snprintf(o->what, sizeof o->what, "changed, no restart needed (left running)");
		return;
	}
	if (sp_sv_start(sv, inst->name, sp_sv_start_timeout_ms(inst), &status, &err) < 0)
		return failed(o, "restart", &err);
	snprintf(o->what, sizeof o->what, "restarted");
}

int sp_sv_reconcile(const struct sp_sv *sv, const struct sp_config *cfg, const struct sp_instance_diff *diff,
		    size_t n, struct sp_sv_outcome **out, struct sp_err *err)
{
	struct sp_sv_outcome *o = calloc(n + 1, sizeof *o);
	bool *was = calloc(n + 1, sizeof *was);

	*out = NULL;
	if (!o || !was) {
		free(o);
		free(was);
		return sp_fail_errno(err, ENOMEM, "reconcile");
	}
	if (sp_sv_scan_ensure(sv, err) < 0) {
		free(o);
		free(was);
		return -1;
	}
	/* Stops first. */
	for (size_t i = 0; i < n; i++) {
		o[i].name = diff[i].name;
		if (diff[i].kind == SP_DIFF_REMOVED)
			remove_old(sv, diff[i].name, &o[i]);
		else if (diff[i].kind == SP_DIFF_CHANGED)
			was[i] = stop_changed(sv, &diff[i], &o[i]);
	}
	/* Then starts, providers first: a client's start needs its
	 * provider running. */
	for (size_t k = 0; k < 2 * n; k++) {
		size_t i = k % n;
		const struct sp_instance_diff *d = &diff[i];
		const struct sp_instance *inst = sp_config_find(cfg, d->name);

		if (!inst || (k < n) != inst->provides_net)
			continue;
		switch (d->kind) {
		case SP_DIFF_ADDED:
			start_new(sv, inst, &o[i]);
			break;
		case SP_DIFF_CHANGED:
			update(sv, inst, d, was[i], &o[i]);
			break;
		case SP_DIFF_SAME:
			snprintf(o[i].what, sizeof o[i].what, "unchanged");
			break;
		case SP_DIFF_REMOVED:
			break;
		}
	}
	free(was);
	*out = o;
	return 0;
}
