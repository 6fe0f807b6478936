/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every bus call of the module is bounded by one CLOCK_MONOTONIC deadline,
 * the connection's set-up included: sd-bus's 25 s default is never used.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ks_bus.h"
#include "ks_cleanup.h"
#include "ks_log.h"

#define SD_PRIVATE_SOCKET "/run/systemd/private"

const char *ks_bus_text(const char *in, char *out, size_t size)
{
	size_t i;

	if (size < 4)
		return "";
	if (!in)
		in = "(null)";
	for (i = 0; i < size - 1 && in[i]; i++) {
		unsigned char c = (unsigned char)in[i];

		out[i] = (char)(c >= 0x20 && c < 0x7f ? c : '?');
	}
	out[i] = '\0';
	if (in[i])
		memcpy(out + size - 4, "...", 4);
	return out;
}

/* systemd's private socket needs no dbus-daemon and answers even while the
 * system bus is being restarted; only root may connect. */
static int open_private(sd_bus **ret)
{
	_cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
	int r;

	r = sd_bus_new(&bus);
	if (r < 0)
		return r;
	(void)sd_bus_set_description(bus, "keepsession-manager");
	r = sd_bus_set_address(bus, "unix:path=" SD_PRIVATE_SOCKET);
	if (r < 0)
		return r;
	/* Non-blocking connect(); authentication completes in the first
	 * bounded call. */
	r = sd_bus_start(bus);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(bus);
	return 0;
}

int ks_bus_open_manager(sd_bus **ret)
{
	if (!ret)
		return -EINVAL;
	*ret = NULL;
	if (geteuid() == 0 && access(SD_PRIVATE_SOCKET, F_OK) == 0 && open_private(ret) >= 0)
		return 0;
	return ks_bus_open_system(ret);
}

int ks_bus_open_system(sd_bus **ret)
{
	if (!ret)
		return -EINVAL;
	*ret = NULL;
	/* Connects without blocking; Hello is sent asynchronously. */
	return sd_bus_open_system(ret);
}

int ks_bus_open_manager_io(void *ctx, sd_bus **ret)
{
	(void)ctx;
	return ks_bus_open_manager(ret);
}

int ks_bus_open_logind_io(void *ctx, sd_bus **ret)
{
	(void)ctx;
	return ks_bus_open_system(ret);
}

int ks_manager_version_parse(const char *s, unsigned *major)
{
	unsigned long long v = 0;
	size_t digits = 0;

	if (!s || !major)
		return -EINVAL;
	if (strncmp(s, "systemd ", 8) == 0)
		s += 8;
	if (*s == 'v')
		s++;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > 0xffffffffULL)
			return -ERANGE;
		s++;
		digits++;
	}
	if (digits == 0)
		return -EINVAL;
	/* "252.39-1~deb12u2", "255-stable", "247 (247.3-7)": the number ends
	 * at punctuation or a blank, never inside a word ("25x"). */
	if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))
		return -EINVAL;
	/* 0 means "unknown" to the mover. */
	if (v == 0)
		return -EINVAL;
	*major = (unsigned)v;
	return 0;
}

/* Processes and waits on bus until done() says so (1) or fails (-errno),
 * within the deadline: every round looks at the clock. */
static int drive_until(sd_bus *bus, uint64_t deadline, int (*done)(sd_bus *bus))
{
	for (;;) {
		uint64_t now;
		int r = done(bus);

		if (r != 0)
			return r < 0 ? r : 0;
		now = ks_now_usec();
		if (now >= deadline)
			return -ETIMEDOUT;
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		r = sd_bus_wait(bus, deadline - now);
		if (r < 0)
			return r;
	}
}

static int is_ready(sd_bus *bus)
{
	if (sd_bus_is_ready(bus) > 0)
		return 1;
	return sd_bus_is_open(bus) <= 0 ? -ENOTCONN : 0;
}

static int is_written(sd_bus *bus)
{
	uint64_t queued = 0;
	int r;

	if (sd_bus_is_open(bus) <= 0)
		return -ENOTCONN;
	r = sd_bus_get_n_queued_write(bus, &queued);
	return r < 0 ? r : queued == 0;
}

/* sd_bus_call() first waits, unbounded but for sd-bus's own 25 s or more,
 * until the connection is authenticated (and, on a bus, until Hello is
 * answered). Doing that wait here keeps it inside our deadline. */
int ks_bus_wait_ready(sd_bus *bus, uint64_t deadline)
{
	return drive_until(bus, deadline, is_ready);
}

int ks_bus_push(sd_bus *bus, uint64_t deadline)
{
	return drive_until(bus, deadline, is_written);
}

int ks_bus_call(sd_bus *bus, uint64_t deadline, sd_bus_message *msg, sd_bus_error *error,
		sd_bus_message **reply)
{
	uint64_t now;
	int r;

	r = ks_bus_wait_ready(bus, deadline);
	if (r < 0)
		return r;
	now = ks_now_usec();
	if (now >= deadline)
		return -ETIMEDOUT;
	return sd_bus_call(bus, msg, deadline - now, error, reply);
}

/* Did the call fail for lack of an answer rather than with one? */
bool ks_bus_call_lost(sd_bus *bus, int r)
{
	return r == -ETIMEDOUT || sd_bus_is_open(bus) <= 0 || r == -ENOTCONN || r == -ECONNRESET;
}

/* Did systemd refuse because a process it was given no longer exists?
 * Names from systemd 247-257; sd-bus maps the generic ones to ESRCH. */
bool ks_bus_process_gone(const sd_bus_error *error, int r)
{
	return r == -ESRCH ||
	       sd_bus_error_has_name(error, "org.freedesktop.systemd1.NoSuchProcess") ||
	       sd_bus_error_has_name(error, SD_BUS_ERROR_UNIX_PROCESS_ID_UNKNOWN);
}

const char *ks_bus_call_error_text(const char *what, const char *unit, const sd_bus_error *error,
				   int r, char *out, size_t size)
{
	char head[320];

	if (unit)
		(void)snprintf(head, sizeof(head), "%s(%s)", what, unit);
	else
		(void)snprintf(head, sizeof(head), "%s", what);
	if (r == -ETIMEDOUT || sd_bus_error_has_name(error, SD_BUS_ERROR_TIMEOUT)) {
		/* The call was sent: PID 1 may still carry it out. */
		(void)snprintf(out, size, "%s: no answer in time; systemd may still carry it out",
			       head);
	} else if (sd_bus_error_is_set(error)) {
		char name[KS_BUS_TEXT_MAX], message[KS_BUS_TEXT_MAX];

		(void)snprintf(out, size, "%s failed: %s: %s", head,
			       ks_bus_text(error->name, name, sizeof(name)),
			       ks_bus_text(error->message ? error->message : "", message,
					   sizeof(message)));
	} else {
		(void)snprintf(out, size, "%s failed: %s", head, strerror(r < 0 ? -r : r));
	}
	return out;
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct ks_bus_pending *p = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	sd_bus *bus = sd_bus_message_get_bus(reply);

	(void)ret_error;
	p->slot = sd_bus_slot_unref(p->slot);
	if (e) {
		p->r = sd_bus_error_copy(&p->error, e);
		/* A connection that closed has sd-bus answer what was left
		 * on it with NoReply, as for a timeout: it is -ECONNRESET,
		 * as a synchronous call says, not a frozen peer. */
		if (p->r != -ENOMEM && bus && sd_bus_is_open(bus) <= 0)
			p->r = -ECONNRESET;
		return 0;
	}
	p->reply = sd_bus_message_ref(reply);
	p->r = 0;
	return 0;
}

void ks_bus_pending_init(struct ks_bus_pending *p, int r)
{
	/* Field by field: older gcc (10) takes SD_BUS_ERROR_NULL in a
	 * designated initializer for a missing one. */
	p->slot = NULL;
	p->reply = NULL;
	p->error = SD_BUS_ERROR_NULL;
	p->r = r;
}

int ks_bus_send(sd_bus *bus, uint64_t deadline, sd_bus_message *msg, struct ks_bus_pending *p)
{
	uint64_t now = ks_now_usec();
	int r;

	ks_bus_pending_init(p, 1);
	if (now >= deadline) {
		p->r = -ETIMEDOUT;
		return p->r;
	}
	/* sd-bus answers a call it times out itself with an error reply. */
	r = sd_bus_call_async(bus, &p->slot, msg, on_reply, p, deadline - now);
	if (r < 0)
		p->r = r;
	return r < 0 ? r : 0;
}

static size_t pending(const struct ks_bus_pending *p, size_t n)
{
	size_t left = 0;

	for (size_t i = 0; i < n; i++)
		if (p[i].r > 0)
			left++;
	return left;
}

static void fail_pending(struct ks_bus_pending *p, size_t n, int r)
{
	for (size_t i = 0; i < n; i++)
		if (p[i].r > 0) {
			p[i].slot = sd_bus_slot_unref(p[i].slot);
			p[i].r = r;
		}
}

int ks_bus_collect(sd_bus *bus, uint64_t deadline, struct ks_bus_pending *p, size_t n)
{
	while (pending(p, n) > 0) {
		uint64_t now;
		int r;

		r = sd_bus_process(bus, NULL);
		/* Closed under the calls: -ECONNRESET, as sd_bus_call() says. */
		if (r == 0 && sd_bus_is_open(bus) <= 0)
			r = -ECONNRESET;
		if (r < 0) {
			fail_pending(p, n, r);
			return r;
		}
		/* Every round checks the deadline, however busy the bus. */
		now = ks_now_usec();
		if (now >= deadline || pending(p, n) == 0)
			break;
		if (r > 0)
			continue;
		r = sd_bus_wait(bus, deadline - now);
		if (r < 0) {
			fail_pending(p, n, r);
			return r;
		}
	}
	fail_pending(p, n, -ETIMEDOUT);
	return 0;
}

void ks_bus_pending_clear(struct ks_bus_pending *p)
{
	p->slot = sd_bus_slot_unref(p->slot);
	p->reply = sd_bus_message_unref(p->reply);
	sd_bus_error_free(&p->error);
}

int ks_bus_get_property(sd_bus *bus, uint64_t deadline, const char *destination, const char *path,
			const char *interface, const char *property, sd_bus_message **reply)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
	int r;

	r = sd_bus_message_new_method_call(bus, &msg, destination, path, KS_PROPERTIES_IFACE,
					   "Get");
	if (r >= 0)
		r = sd_bus_message_append(msg, "ss", interface, property);
	if (r >= 0)
		r = ks_bus_call(bus, deadline, msg, NULL, reply);
	return r;
}

int ks_manager_get(sd_bus *bus, uint64_t deadline, const char *path, const char *interface,
		   const char *property, sd_bus_message **reply)
{
	return ks_bus_get_property(bus, deadline, KS_MANAGER_SERVICE, path, interface, property,
				   reply);
}

int ks_manager_unit_path(sd_bus *bus, uint64_t deadline, const char *unit, char **path)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL, *reply = NULL;
	const char *value = NULL;
	int r;

	r = sd_bus_message_new_method_call(bus, &msg, KS_MANAGER_SERVICE, KS_MANAGER_PATH,
					   KS_MANAGER_IFACE, "GetUnit");
	if (r >= 0)
		r = sd_bus_message_append(msg, "s", unit);
	if (r >= 0)
		r = ks_bus_call(bus, deadline, msg, &error, &reply);
	if (r < 0)
		return sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit") ?
			       -ENOENT :
			       r;
	if (sd_bus_message_read(reply, "o", &value) <= 0 || !value)
		return -EBADMSG;
	*path = strdup(value);
	return *path ? 0 : -ENOMEM;
}
