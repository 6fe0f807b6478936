/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bus: opening the manager's and the system bus, calls bounded by one
 * deadline (alone or several at once), manager reads, bus text in logs. */
#ifndef KS_BUS_H
#define KS_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "ks_clock.h"
#include "ks_log.h"

#define KS_MANAGER_SERVICE "org.freedesktop.systemd1"
#define KS_MANAGER_PATH "/org/freedesktop/systemd1"
#define KS_MANAGER_IFACE "org.freedesktop.systemd1.Manager"
#define KS_PROPERTIES_IFACE "org.freedesktop.DBus.Properties"

/* Room for bus-supplied text in a log line (ks_bus_text()). */
#define KS_BUS_TEXT_MAX 160

/* Opens systemd's private socket (/run/systemd/private; root only, no
 * dbus-daemon needed), else the system bus. Nothing blocks here: the
 * connection completes within the first call's deadline. */
int ks_bus_open_manager(sd_bus **ret);
/* The system bus, for org.freedesktop.login1. */
int ks_bus_open_system(sd_bus **ret);
/* The same two as the keeper's openers (struct ks_keep_io); ctx unused. */
int ks_bus_open_manager_io(void *ctx, sd_bus **ret);
int ks_bus_open_logind_io(void *ctx, sd_bus **ret);

/* Waits, within the deadline, until the connection is authenticated (and
 * on a bus, Hello answered). */
int ks_bus_wait_ready(sd_bus *bus, uint64_t deadline);
/* Waits, within the deadline, until what is queued on the connection is
 * written (sd-bus holds it back until the authentication is answered);
 * answers that come meanwhile are dispatched. Returns 0 or -errno: the
 * calls' own pending states tell what became of them. */
int ks_bus_push(sd_bus *bus, uint64_t deadline);

/* One method call within the deadline, the connection's authentication
 * included; never sd-bus's 25 s default. Returns what sd_bus_call()
 * returns, or -ETIMEDOUT past the deadline. */
int ks_bus_call(sd_bus *bus, uint64_t deadline, sd_bus_message *msg, sd_bus_error *error,
		sd_bus_message **reply);

/* A call sent with ks_bus_send(), its answer collected by ks_bus_collect(). */
struct ks_bus_pending {
	sd_bus_slot *slot;
	sd_bus_message *reply; /* a method return */
	sd_bus_error error;    /* or the error it answered */
	int r;                 /* 0 answered, -errno failed, 1 still pending */
};

/* Not sent yet (r), nothing held. */
void ks_bus_pending_init(struct ks_bus_pending *p, int r);
/* Sends msg without waiting for its answer (queued while the connection
 * is still being set up). Returns 0 or -errno. */
int ks_bus_send(sd_bus *bus, uint64_t deadline, sd_bus_message *msg, struct ks_bus_pending *p);
/* Waits until every pending call of p[] is answered or the deadline
 * passes (those left: -ETIMEDOUT). Returns 0, or -errno when the
 * connection failed. */
int ks_bus_collect(sd_bus *bus, uint64_t deadline, struct ks_bus_pending *p, size_t n);
void ks_bus_pending_clear(struct ks_bus_pending *p);

/* Did the call fail for lack of an answer rather than with one? */
bool ks_bus_call_lost(sd_bus *bus, int r);
/* Did systemd refuse because a process it was given no longer exists? */
bool ks_bus_process_gone(const sd_bus_error *error, int r);
/* Room for ks_bus_call_error_text(): what, a unit name, an error's name
 * and message. */
#define KS_BUS_ERROR_TEXT_MAX (2 * KS_BUS_TEXT_MAX + 320)
/* What a failed call says, for the caller's one line: no answer in time,
 * the error's name and message (sanitized), or r. what(unit) leads it,
 * or what alone when unit is NULL. Returns out. */
const char *ks_bus_call_error_text(const char *what, const char *unit, const sd_bus_error *error,
				   int r, char *out, size_t size);

/* Copies untrusted text for a log line or a unit description: control
 * characters (a newline would forge a second syslog line) and non-ASCII
 * become '?' (sd-bus refuses invalid UTF-8), long text is cut and marked
 * with "...". Returns out. */
const char *ks_bus_text(const char *in, char *out, size_t size);

/* Parses the manager's Version property ("252.39-1~deb12u2",
 * "systemd 247 (247.3-7)", "v255-stable") to its major number. */
int ks_manager_version_parse(const char *s, unsigned *major);

/* Properties.Get, within the deadline; *reply holds the variant. */
int ks_bus_get_property(sd_bus *bus, uint64_t deadline, const char *destination, const char *path,
			const char *interface, const char *property, sd_bus_message **reply);
/* Properties.Get of a manager object; *reply is left for the caller to
 * read the variant from. */
int ks_manager_get(sd_bus *bus, uint64_t deadline, const char *path, const char *interface,
		   const char *property, sd_bus_message **reply);
/* GetUnit(unit): its object path into *path (malloc'd); -ENOENT when no
 * such unit is loaded. */
int ks_manager_unit_path(sd_bus *bus, uint64_t deadline, const char *unit, char **path);

#endif
