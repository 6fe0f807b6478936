/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who the mover talks to: on systemd's private socket there is no broker
 * and no sender name, whatever arrives comes from the manager; on a bus,
 * only the unique name that answered our calls is believed. Subscribe (on
 * a bus) and Version are sent together, and answered while we work.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ks_cleanup.h"
#include "ks_manager.h"

enum { SETUP_SUBSCRIBE, SETUP_VERSION };

/* On a bus, anyone may send a JobRemoved, and a match on the well-known
 * name lets any sender through: only the manager's unique name, as it
 * answered our calls, is believed. */
bool ks_manager_sent(const struct ks_manager *m, sd_bus_message *msg)
{
	const char *sender;

	if (!m->unique)
		return !m->bus_client;
	sender = sd_bus_message_get_sender(msg);
	return sender && strcmp(sender, m->unique) == 0;
}

/* Remembers who answered for the manager on a bus: the unique name that
 * JobRemoved must come from. */
int ks_manager_note(struct ks_manager *m, sd_bus_message *reply)
{
	const char *sender;

	if (!m->bus_client || m->unique)
		return 0;
	sender = sd_bus_message_get_sender(reply);
	if (!sender || sender[0] != ':')
		return 0;
	m->unique = strdup(sender);
	return m->unique ? 0 : -ENOMEM;
}

/* The Version property's answer: what the manager is, or a notice and 0
 * (only settings every version knows). Returns -errno only when the
 * manager did not answer at all. */
static int read_version(struct ks_manager *m, const struct ks_bus_pending *p,
			const struct ks_log *log)
{
	char text[KS_BUS_TEXT_MAX];
	const char *s;
	unsigned major;
	int r = p->r;

	if (r >= 0)
		r = ks_manager_note(m, p->reply);
	if (r < 0) {
		if (ks_bus_call_lost(m->bus, r) || r == -ENOMEM)
			return r; /* the caller says it, once */
		ks_log(log, LOG_NOTICE,
		       "cannot read the manager's Version (%s); "
		       "using only settings every version knows",
		       ks_bus_text(p->error.name, text, sizeof(text)));
		return 0;
	}
	if (sd_bus_message_read(p->reply, "v", "s", &s) <= 0) {
		ks_log(log, LOG_NOTICE,
		       "the manager's Version is not a string; "
		       "using only settings every version knows");
		return 0;
	}
	if (ks_manager_version_parse(s, &major) < 0) {
		ks_log(log, LOG_NOTICE,
		       "cannot parse the manager's Version \"%s\"; "
		       "using only settings every version knows",
		       ks_bus_text(s, text, sizeof(text)));
		return 0;
	}
	m->version = major;
	ks_log(log, LOG_DEBUG, "systemd manager version %u", major);
	return 0;
}

/* Subscribe's answer. systemd also sends JobRemoved to whoever queued the
 * job, so a refused Subscribe costs nothing. */
static int read_subscribe(struct ks_manager *m, const struct ks_bus_pending *p,
			  const struct ks_log *log)
{
	int r = p->r;

	if (r >= 0)
		return ks_manager_note(m, p->reply);
	if (ks_bus_call_lost(m->bus, r))
		return r; /* the caller says it, once */
	ks_log(log, LOG_DEBUG, "Subscribe refused; relying on job tracking");
	return 0;
}

static int send_call(struct ks_manager *m, uint64_t deadline, const char *interface,
		     const char *member, const char *property, struct ks_bus_pending *p)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
	int r;

	r = sd_bus_message_new_method_call(m->bus, &msg, KS_MANAGER_SERVICE, KS_MANAGER_PATH,
					   interface, member);
	/* PID 1 is never started by a call: dbus-daemon would hold one for
	 * a manager not on the bus (yet) until it connects, and answers one
	 * without auto-start at once (NameHasNoOwner). */
	if (r >= 0)
		r = sd_bus_message_set_auto_start(msg, 0);
	if (r >= 0 && property)
		r = sd_bus_message_append(msg, "ss", KS_MANAGER_IFACE, property);
	if (r < 0)
		return r;
	return ks_bus_send(m->bus, deadline, msg, p);
}

void ks_manager_init(struct ks_manager *m, sd_bus *bus)
{
	*m = (struct ks_manager){ .bus = bus, .bus_client = sd_bus_is_bus_client(bus) > 0 };
	for (size_t i = 0; i < 2; i++)
		ks_bus_pending_init(&m->setup[i], 0);
}

static int send_setup(struct ks_manager *m, uint64_t deadline)
{
	/* The private socket gets every signal unconditionally; through the
	 * bus systemd sends them to subscribers (and to a job's own client). */
	if (m->bus_client) {
		int r = send_call(m, deadline, KS_MANAGER_IFACE, "Subscribe", NULL,
				  &m->setup[SETUP_SUBSCRIBE]);
		if (r < 0)
			return r;
	}
	m->sent = true;
	return send_call(m, deadline, KS_PROPERTIES_IFACE, "Get", "Version",
			 &m->setup[SETUP_VERSION]);
}

int ks_manager_setup_send(struct ks_manager *m, uint64_t deadline)
{
	/* The calls wait in sd-bus's queue until we are authenticated, and
	 * then go at once: on a bus right behind Hello, together with
	 * whatever else was queued (logind's reads). */
	return send_setup(m, deadline);
}

int ks_manager_setup_receive(struct ks_manager *m, uint64_t deadline, const struct ks_log *log)
{
	int r;

	/* The connection first, as every call does: a manager that never
	 * authenticates us answers nothing, and says so as a timeout. */
	r = ks_bus_wait_ready(m->bus, deadline);
	if (r >= 0 && !m->sent)
		r = send_setup(m, deadline);
	if (r >= 0)
		r = ks_bus_collect(m->bus, deadline, m->setup, 2);
	if (r >= 0 && m->bus_client)
		r = read_subscribe(m, &m->setup[SETUP_SUBSCRIBE], log);
	/* On a bus, both refused and no name noted: the broker answered
	 * for a manager that is not on it (dbus restarted, PID 1 not back),
	 * and no JobRemoved could be believed. A failure, with its answer. */
	if (r >= 0 && m->bus_client && !m->unique && m->setup[SETUP_VERSION].r < 0)
		r = m->setup[SETUP_VERSION].r;
	if (r >= 0)
		r = read_version(m, &m->setup[SETUP_VERSION], log);
	for (size_t i = 0; i < 2; i++)
		ks_bus_pending_clear(&m->setup[i]);
	return r;
}

void ks_manager_clear(struct ks_manager *m)
{
	for (size_t i = 0; i < 2; i++)
		ks_bus_pending_clear(&m->setup[i]);
	free(m->unique);
	m->unique = NULL;
}
