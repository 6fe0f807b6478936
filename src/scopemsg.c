/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mover's two requests, built for the manager's version:
 * StartTransientUnit with the properties it knows, AttachProcessesToUnit.
 */
#include <inttypes.h>
#include <stdio.h>

#include "ks_cleanup.h"
#include "ks_bus.h"
#include "ks_scopemsg.h"

static int append_pids(sd_bus_message *msg, const char *name, const char *type,
		       const struct ks_scope_request *r, bool fds, bool only_without_fd)
{
	const char contents[3] = { 'a', type[0], '\0' };
	int q;

	q = sd_bus_message_open_container(msg, 'r', "sv");
	if (q >= 0)
		q = sd_bus_message_append(msg, "s", name);
	if (q >= 0)
		q = sd_bus_message_open_container(msg, 'v', contents);
	if (q >= 0)
		q = sd_bus_message_open_container(msg, 'a', type);
	for (size_t i = 0; q >= 0 && i < r->n; i++) {
		if (fds) {
			if (r->pidfds[i] >= 0)
				q = sd_bus_message_append(msg, "h", r->pidfds[i]);
		} else if (!only_without_fd || r->pidfds[i] < 0) {
			q = sd_bus_message_append(msg, "u", (uint32_t)r->pids[i]);
		}
	}
	for (int depth = 0; q >= 0 && depth < 3; depth++)
		q = sd_bus_message_close_container(msg);
	return q;
}

/* A pidfd names the process, not a number that may have been reused;
 * processes without one still go by PID. */
static int append_processes(sd_bus_message *msg, const struct ks_scope_request *r, bool use_pidfds)
{
	size_t with_fd = 0;
	int q;

	if (!use_pidfds)
		return append_pids(msg, "PIDs", "u", r, false, false);
	for (size_t i = 0; i < r->n; i++)
		if (r->pidfds[i] >= 0)
			with_fd++;
	q = append_pids(msg, "PIDFDs", "h", r, true, false);
	if (q >= 0 && with_fd < r->n)
		q = append_pids(msg, "PIDs", "u", r, false, true);
	return q;
}

static int append_runtime_dir(sd_bus_message *msg, uid_t uid)
{
	char unit[64];
	int q;

	(void)snprintf(unit, sizeof(unit), "user-runtime-dir@%" PRIu32 ".service", (uint32_t)uid);
	q = sd_bus_message_append(msg, "(sv)", "Wants", "as", 1, unit);
	if (q >= 0)
		q = sd_bus_message_append(msg, "(sv)", "After", "as", 1, unit);
	return q;
}

static int append_properties(unsigned version, sd_bus_message *msg,
			     const struct ks_scope_request *r, const char *slice, bool use_pidfds)
{
	int q;

	/* One (name, type, value) per line. */
	/* clang-format off */
	q = sd_bus_message_append(msg, "(sv)(sv)(sv)(sv)",
				  "Description", "s", r->description ? r->description : r->unit,
				  "Slice", "s", slice,
				  "CollectMode", "s", "inactive-or-failed",
				  /* AttachProcessesToUnit, for the rest of the
				   * tree, works on delegated units only. */
				  "Delegate", "b", 1);
	/* clang-format on */
	/* $XDG_RUNTIME_DIR (zellij's and shpool's sockets, tmux -S there)
	 * outlives the user's last logout while a kept scope wants it: up to
	 * systemd 256, logind stops only user@UID.service and lets
	 * StopWhenUnneeded= take user-runtime-dir@UID.service. After= orders
	 * the directory's removal after the scope's stop. Never Requires= or
	 * BindsTo=: from 257 logind stops the directory itself, and that would
	 * stop the kept scope with it. */
	if (q >= 0)
		q = append_runtime_dir(msg, r->uid);
	/* One OOM kill inside a multiplexer must not stop the whole scope. */
	if (q >= 0 && version >= KS_SD_SCOPE_OOM_POLICY)
		q = sd_bus_message_append(msg, "(sv)", "OOMPolicy", "s", "continue");
	if (q >= 0 && r->runtime_max_usec > 0 && version >= KS_SD_SCOPE_RUNTIME_MAX)
		q = sd_bus_message_append(msg, "(sv)", "RuntimeMaxUSec", "t", r->runtime_max_usec);
	if (q >= 0)
		q = append_processes(msg, r, use_pidfds);
	return q;
}

/* A call to the manager that never waits for a polkit prompt. */
static int new_manager_call(sd_bus *bus, const char *method, sd_bus_message **ret)
{
	int r;

	r = sd_bus_message_new_method_call(bus, ret, KS_MANAGER_SERVICE, KS_MANAGER_PATH,
					   KS_MANAGER_IFACE, method);
	if (r >= 0)
		(void)sd_bus_message_set_allow_interactive_authorization(*ret, 0);
	return r;
}

int ks_scope_message_start(sd_bus *bus, unsigned version, const struct ks_scope_request *r,
			   const char *slice, bool use_pidfds, sd_bus_message **ret)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
	int q;

	q = new_manager_call(bus, "StartTransientUnit", &msg);
	if (q >= 0)
		q = sd_bus_message_append(msg, "ss", r->unit, "fail");
	if (q >= 0)
		q = sd_bus_message_open_container(msg, 'a', "(sv)");
	if (q >= 0)
		q = append_properties(version, msg, r, slice, use_pidfds);
	if (q >= 0)
		q = sd_bus_message_close_container(msg);
	if (q >= 0)
		q = sd_bus_message_append(msg, "a(sa(sv))", 0);
	if (q < 0)
		return q;
	*ret = TAKE_PTR(msg);
	return 0;
}

int ks_scope_message_attach(sd_bus *bus, const char *unit, const pid_t *pids, size_t n,
			    sd_bus_message **ret)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
	int r;

	r = new_manager_call(bus, "AttachProcessesToUnit", &msg);
	if (r >= 0)
		r = sd_bus_message_append(msg, "ss", unit, "");
	if (r >= 0)
		r = sd_bus_message_open_container(msg, 'a', "u");
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = sd_bus_message_append(msg, "u", (uint32_t)pids[i]);
	if (r >= 0)
		r = sd_bus_message_close_container(msg);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(msg);
	return 0;
}
