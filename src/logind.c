/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What logind will do at this logout. Its kill settings are three property
 * reads, sent at once so that they cost one round trip; the terminate-user
 * check asks the manager about the user's units.
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
#define SD_UNIT_IFACE "org.freedesktop.systemd1.Unit"
#define SD_JOB_IFACE "org.freedesktop.systemd1.Job"

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

/* The JobType of the job at job_path: 1 when "stop". */
static int job_is_stop(sd_bus *bus, const char *job_path, uint64_t deadline)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const char *type = NULL;
	int r;

	r = ks_manager_get(bus, deadline, job_path, SD_JOB_IFACE, "JobType", &reply);
	if (r < 0)
		return r;
	if (sd_bus_message_read(reply, "v", "s", &type) <= 0 || !type)
		return -EBADMSG;
	return strcmp(type, "stop") == 0;
}

int ks_unit_stopping(void *bus, const char *unit, uint64_t deadline)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	_cleanup_(freep) char *path = NULL;
	const char *job_path = NULL;
	uint32_t job_id = 0;
	int r;

	r = ks_manager_unit_path(bus, deadline, unit, &path);
	if (r == -ENOENT)
		return 0; /* not loaded: no job either */
	if (r < 0)
		return r;
	r = ks_manager_get(bus, deadline, path, SD_UNIT_IFACE, "Job", &reply);
	if (r < 0)
		return r;
	if (sd_bus_message_read(reply, "v", "(uo)", &job_id, &job_path) <= 0 || !job_path)
		return -EBADMSG;
	if (job_id == 0)
		return 0; /* no job */
	/* job_path is the reply's, which lives until we return. */
	return job_is_stop(bus, job_path, deadline);
}

int ks_user_stopping(ks_unit_stopping_fn unit_stopping, void *ctx, uid_t uid, uint64_t deadline,
		     char *unit, size_t size)
{
	static const char *const names[][2] = {
		{ "user@", ".service" },
		{ "user-runtime-dir@", ".service" },
		{ "user-", ".slice" },
	};
	int result = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int r;

		(void)snprintf(unit, size, "%s%u%s", names[i][0], (unsigned)uid, names[i][1]);
		r = unit_stopping(ctx, unit, deadline);
		if (r > 0)
			return 1;
		if (r < 0 && result == 0)
			result = r;
	}
	return result;
}
