/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What logind will do at this logout. Its kill settings are three property
 * reads, sent at once so that they cost one round trip; the terminate-user
 * check is one ListJobs of the manager, sent with them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_cleanup.h"
#include "ks_logind.h"

#define LOGIND_SERVICE "org.freedesktop.login1"
#define LOGIND_PATH "/org/freedesktop/login1"
#define LOGIND_IFACE "org.freedesktop.login1.Manager"

/* A list longer than this is hostile. */
#define MAX_LOGIND_USERS 65536

static const char *const kill_properties[] = {
	"KillUserProcesses",
	"KillOnlyUsers",
	"KillExcludeUsers",
};

static int send_get(struct ks_logind_query *q, const char *property, struct ks_bus_pending *p)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
	int r;

	r = sd_bus_message_new_method_call(q->bus, &msg, LOGIND_SERVICE, LOGIND_PATH,
					   KS_PROPERTIES_IFACE, "Get");
	if (r >= 0)
		r = sd_bus_message_append(msg, "ss", LOGIND_IFACE, property);
	if (r < 0)
		return r;
	return ks_bus_send(q->bus, q->deadline, msg, p);
}

int ks_logind_kill_send(sd_bus *bus, uint64_t deadline, struct ks_logind_query *q)
{
	int r = 0;

	*q = (struct ks_logind_query){ .bus = bus, .deadline = deadline };
	for (size_t i = 0; i < 3; i++)
		ks_bus_pending_init(&q->calls[i], -ECANCELED);
	if (!bus)
		return -EINVAL;
	for (size_t i = 0; i < 3 && r >= 0; i++)
		r = send_get(q, kill_properties[i], &q->calls[i]);
	return r;
}

/* An "as" variant, appended to list. */
static int read_names(sd_bus_message *reply, struct ks_strlist *list)
{
	if (sd_bus_message_enter_container(reply, 'v', "as") <= 0 ||
	    sd_bus_message_enter_container(reply, 'a', "s") <= 0)
		return -EBADMSG;
	for (size_t n = 0;; n++) {
		const char *s;
		int r = sd_bus_message_read(reply, "s", &s);

		if (r < 0)
			return -EBADMSG;
		if (r == 0)
			return 0;
		if (n >= MAX_LOGIND_USERS)
			return -E2BIG;
		r = ks_strlist_add(list, s, strlen(s));
		if (r < 0)
			return r;
	}
}

static int read_kill(struct ks_bus_pending *calls, struct ks_logind_kill *out)
{
	int v, r;

	for (size_t i = 0; i < 3; i++)
		if (calls[i].r < 0)
			return calls[i].r;
	if (sd_bus_message_read(calls[0].reply, "v", "b", &v) <= 0)
		return -EBADMSG;
	out->kill_user_processes = v != 0;
	r = read_names(calls[1].reply, &out->only_users);
	if (r >= 0)
		r = read_names(calls[2].reply, &out->exclude_users);
	return r;
}

int ks_logind_kill_receive(struct ks_logind_query *q, int sent, struct ks_logind_kill *out)
{
	int r = sent;

	*out = (struct ks_logind_kill){ 0 };
	if (r >= 0)
		r = ks_bus_collect(q->bus, q->deadline, q->calls, 3);
	if (r >= 0)
		r = read_kill(q->calls, out);
	for (size_t i = 0; i < 3; i++)
		ks_bus_pending_clear(&q->calls[i]);
	if (r < 0)
		ks_logind_kill_clear(out);
	return r;
}

void ks_logind_kill_clear(struct ks_logind_kill *k)
{
	ks_strlist_clear(&k->only_users);
	ks_strlist_clear(&k->exclude_users);
}

int ks_logind_kill_settings(sd_bus *bus, uint64_t deadline, bool *kill_user_processes,
			    struct ks_strlist *kill_only_users,
			    struct ks_strlist *kill_exclude_users)
{
	struct ks_logind_query q;
	struct ks_logind_kill k;
	int r;

	if (!bus || !kill_user_processes || !kill_only_users || !kill_exclude_users)
		return -EINVAL;
	/* Into temporaries first: a failure leaves the outputs as they were. */
	r = ks_logind_kill_receive(&q, ks_logind_kill_send(bus, deadline, &q), &k);
	if (r < 0)
		return r;
	*kill_user_processes = k.kill_user_processes;
	ks_strlist_clear(kill_only_users);
	*kill_only_users = k.only_users;
	ks_strlist_clear(kill_exclude_users);
	*kill_exclude_users = k.exclude_users;
	return 0;
}

/* A job list longer than this is hostile. */
#define MAX_JOBS 65536

/* Is unit one of uid's units whose stop job means the user is stopped? */
static bool user_unit(const char *unit, uid_t uid)
{
	static const char *const names[][2] = {
		{ "user@", ".service" },
		{ "user-runtime-dir@", ".service" },
		{ "user-", ".slice" },
	};
	char name[64];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		(void)snprintf(name, sizeof(name), "%s%u%s", names[i][0], (unsigned)uid,
			       names[i][1]);
		if (strcmp(unit, name) == 0)
			return true;
	}
	return false;
}

int ks_jobs_user_stopping(sd_bus_message *reply, uid_t uid, char *unit, size_t size)
{
	if (!reply || !unit || size == 0)
		return -EINVAL;
	if (sd_bus_message_enter_container(reply, 'a', "(usssoo)") <= 0)
		return -EBADMSG;
	for (size_t n = 0;; n++) {
		const char *name, *type, *state, *job_path, *unit_path;
		uint32_t id;
		int r;

		r = sd_bus_message_read(reply, "(usssoo)", &id, &name, &type, &state, &job_path,
					&unit_path);
		if (r < 0)
			return -EBADMSG;
		if (r == 0)
			return 0;
		if (n >= MAX_JOBS)
			return -E2BIG;
		if (strcmp(type, "stop") == 0 && user_unit(name, uid)) {
			(void)snprintf(unit, size, "%s", name);
			return 1;
		}
	}
}

int ks_user_stop_send(sd_bus *bus, uint64_t deadline, struct ks_user_stop_query *q)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
	int r;

	*q = (struct ks_user_stop_query){ .bus = bus, .deadline = deadline };
	ks_bus_pending_init(&q->call, -ECANCELED);
	if (!bus)
		return -EINVAL;
	r = sd_bus_message_new_method_call(bus, &msg, KS_MANAGER_SERVICE, KS_MANAGER_PATH,
					   KS_MANAGER_IFACE, "ListJobs");
	/* As the manager's setup: held by no broker for a PID 1 not on it. */
	if (r >= 0)
		r = sd_bus_message_set_auto_start(msg, 0);
	if (r < 0)
		return r;
	return ks_bus_send(bus, deadline, msg, &q->call);
}

int ks_user_stop_receive(struct ks_user_stop_query *q, int sent, uid_t uid, char *unit, size_t size)
{
	int r = sent;

	if (r >= 0)
		r = ks_bus_collect(q->bus, q->deadline, &q->call, 1);
	if (r >= 0)
		r = q->call.r;
	if (r >= 0)
		r = ks_jobs_user_stopping(q->call.reply, uid, unit, size);
	ks_bus_pending_clear(&q->call);
	return r;
}

int ks_user_stopping(sd_bus *bus, uid_t uid, uint64_t deadline, char *unit, size_t size)
{
	struct ks_user_stop_query q;

	return ks_user_stop_receive(&q, ks_user_stop_send(bus, deadline, &q), uid, unit, size);
}
