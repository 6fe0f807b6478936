/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ks_busget.h"
#include "ks_cleanup.h"
#include "ks_kept.h"
#include "ks_strlist.h"
#include "ks_unitlist.h"
#include "ks_unitname.h"

#define SYSTEMD_SERVICE "org.freedesktop.systemd1"
#define UNIT_IFACE "org.freedesktop.systemd1.Unit"
#define SCOPE_IFACE "org.freedesktop.systemd1.Scope"
#define PREFIX "keepsession-"
#define SUFFIX ".scope"
#define MAX_COUNTED_PROCS 65536

bool ks_kept_unit_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len > KS_UNIT_NAME_MAX || len <= strlen(PREFIX) + strlen(SUFFIX) ||
	    strncmp(name, PREFIX, strlen(PREFIX)) != 0 ||
	    strcmp(name + len - strlen(SUFFIX), SUFFIX) != 0)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(":-_.\\@", *p)))
			return false;
	return true;
}

pid_t ks_kept_unit_pid(const char *name)
{
	size_t len = strlen(name), end, start;
	long long pid = 0;

	if (!ks_kept_unit_name_valid(name))
		return 0;
	end = len - strlen(SUFFIX);
	start = end;
	while (start > 0 && name[start - 1] >= '0' && name[start - 1] <= '9')
		start--;
	if (start == end || start <= strlen(PREFIX) + 1 || name[start - 1] != '-' ||
	    end - start > 10)
		return 0;
	for (size_t i = start; i < end; i++)
		pid = pid * 10 + (name[i] - '0');
	return pid > 0 && pid <= INT_MAX ? (pid_t)pid : 0;
}

/* The user part of a name ks_kept_unit_pid() accepts: *len bytes from the
 * returned pointer, or NULL when the name has no (non-empty) user part. */
static const char *unit_user_part(const char *unit, size_t *len)
{
	size_t end = strlen(unit) - strlen(SUFFIX), plen = strlen(PREFIX);

	while (end > plen && unit[end - 1] >= '0' && unit[end - 1] <= '9')
		end--;
	end--; /* the '-' before the pid */
	/* The program part: escaped, so without '-'. */
	while (end > plen && unit[end - 1] != '-')
		end--;
	if (end <= plen + 1)
		return NULL;
	*len = end - 1 - plen;
	return unit + plen;
}

enum ks_kept_owner ks_kept_unit_owner(const char *unit, const char *user)
{
	/* The user part is shorter than a unit name: the escape of the first
	 * KS_UNIT_NAME_MAX bytes of user is long enough to compare with, and
	 * a prefix of the whole escape. */
	char head[KS_UNIT_NAME_MAX + 1], escaped[4 * KS_UNIT_NAME_MAX + 1];
	const char *part;
	size_t part_len;
	int n;

	if (!unit || !user || !*user || ks_kept_unit_pid(unit) == 0)
		return KS_KEPT_NOT_OWNED;
	part = unit_user_part(unit, &part_len);
	if (!part)
		return KS_KEPT_NOT_OWNED;
	(void)snprintf(head, sizeof(head), "%s", user);
	n = ks_unit_name_escape(head, escaped, sizeof(escaped));
	if (n <= 0 || (size_t)n < part_len || memcmp(part, escaped, part_len) != 0)
		return KS_KEPT_NOT_OWNED;
	/* A name this long may have been cut (ks_scope_name()): then its user
	 * part may be user's cut short, or the start of a longer name. */
	if (strlen(unit) >= KS_KEPT_SHORTENED_MIN && part_len >= KS_KEPT_SHORTENED_USER_MIN)
		return KS_KEPT_OWNED_UNSURE;
	return (size_t)n == part_len ? KS_KEPT_OWNED : KS_KEPT_NOT_OWNED;
}

enum ks_kept_owner ks_kept_scope_owner(const struct ks_kept_scope *s, const char *user, uid_t uid)
{
	enum ks_kept_owner owner = ks_kept_unit_owner(s->unit, user);
	char slice[64];

	if (owner != KS_KEPT_OWNED_UNSURE || uid == (uid_t)-1 || !s->slice)
		return owner;
	(void)snprintf(slice, sizeof(slice), "user-%lu.slice", (unsigned long)uid);
	return strcmp(s->slice, slice) == 0 ? KS_KEPT_OWNED : KS_KEPT_OWNED_UNSURE;
}

int ks_kept_parse_description(const char *desc, char **program, char **user, char **session)
{
	static const char of_user[] = " of user ", from[] = " kept from session ",
			  by[] = " by pam_keepsession";
	const char *a = strstr(desc, of_user), *b, *c;
	size_t len = strlen(desc);

	*program = *user = *session = NULL;
	if (!a || a == desc)
		return -EINVAL;
	b = strstr(a + strlen(of_user), from);
	if (!b || b == a + strlen(of_user))
		return -EINVAL;
	c = b + strlen(from);
	if (len < strlen(by) || strcmp(desc + len - strlen(by), by) != 0 ||
	    desc + len - strlen(by) <= c)
		return -EINVAL;
	*program = strndup(desc, (size_t)(a - desc));
	*user = strndup(a + strlen(of_user), (size_t)(b - a - strlen(of_user)));
	*session = strndup(c, (size_t)(desc + len - strlen(by) - c));
	if (!*program || !*user || !*session) {
		free(*program);
		free(*user);
		free(*session);
		*program = *user = *session = NULL;
		return -ENOMEM;
	}
	return 0;
}

void ks_kept_list_free(struct ks_kept_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].unit);
		free(l->v[i].object_path);
		free(l->v[i].user);
		free(l->v[i].program);
		free(l->v[i].session);
		free(l->v[i].cgroup);
		free(l->v[i].slice);
	}
	free(l->v);
	*l = (struct ks_kept_list){ 0 };
}

/* A string property of the scope: NULL when unset, empty or unreadable;
 * only -ENOMEM fails. */
static int scope_string(sd_bus *bus, uint64_t deadline, const char *path, const char *iface,
			const char *property, char **value)
{
	int r;

	r = ks_bus_get_string(bus, deadline, SYSTEMD_SERVICE, path, iface, property, value);
	if (r == -ENOMEM)
		return r;
	if (*value && !(*value)[0]) {
		free(*value);
		*value = NULL;
	}
	return 0;
}

/* The rest of what list shows, per unit; a property that cannot be read
 * stays unknown rather than failing the list. */
static int fill_scope(sd_bus *bus, uint64_t deadline, const char *path, struct ks_kept_scope *s)
{
	_cleanup_(freep) char *desc = NULL;
	int r;

	r = scope_string(bus, deadline, path, UNIT_IFACE, "Description", &desc);
	if (r >= 0 && desc)
		r = ks_kept_parse_description(desc, &s->program, &s->user, &s->session) == -ENOMEM ?
			    -ENOMEM :
			    0;
	if (r >= 0)
		r = scope_string(bus, deadline, path, SCOPE_IFACE, "ControlGroup", &s->cgroup);
	if (r >= 0)
		r = scope_string(bus, deadline, path, SCOPE_IFACE, "Slice", &s->slice);
	if (r < 0)
		return r;
	if (ks_bus_get_u64(bus, deadline, SYSTEMD_SERVICE, path, UNIT_IFACE, "ActiveEnterTimestamp",
			   &s->since_usec) < 0)
		s->since_usec = 0;
	if (ks_bus_get_u64(bus, deadline, SYSTEMD_SERVICE, path, SCOPE_IFACE, "RuntimeMaxUSec",
			   &s->runtime_max_usec) < 0)
		s->runtime_max_usec = UINT64_MAX;
	return 0;
}

static int add_scope(struct ks_kept_list *out, const char *unit, const char *path)
{
	struct ks_kept_scope *grown;

	grown = realloc(out->v, (out->n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	out->v = grown;
	out->v[out->n] = (struct ks_kept_scope){
		.unit = strdup(unit),
		.object_path = strdup(path),
		.pid = ks_kept_unit_pid(unit),
		.runtime_max_usec = UINT64_MAX,
	};
	out->n++;
	if (!out->v[out->n - 1].unit || !out->v[out->n - 1].object_path)
		return -ENOMEM;
	return 0;
}

/* A unit ListUnitsByPatterns gave: the pattern is systemd's glob, the
 * name rule is ours. */
static int visit_unit(void *ctx, const char *name, const char *path)
{
	struct ks_kept_list *out = ctx;

	if (!ks_kept_unit_name_valid(name))
		return 0;
	if (out->n >= KS_KEPT_MAX)
		return -E2BIG;
	return add_scope(out, name, path);
}

int ks_kept_list(sd_bus *bus, uint64_t deadline, struct ks_kept_list *out)
{
	static const char *const states[] = { "active", "activating", "deactivating", NULL };
	int r;

	*out = (struct ks_kept_list){ 0 };
	r = ks_unit_list(bus, deadline, states, KS_KEPT_PATTERN, visit_unit, out);
	for (size_t i = 0; r >= 0 && i < out->n; i++)
		r = fill_scope(bus, deadline, out->v[i].object_path, &out->v[i]);
	if (r < 0) {
		ks_kept_list_free(out);
		return r;
	}
	return (int)out->n;
}

int ks_kept_stop(sd_bus *bus, uint64_t deadline, const char *unit, sd_bus_error *error)
{
	if (!ks_kept_unit_name_valid(unit))
		return -EINVAL;
	return ks_unit_stop(bus, deadline, unit, error);
}

long ks_kept_count_procs(const char *cgroup_root, const char *cgroup)
{
	char path[PATH_MAX], buf[8192];
	_cleanup_(closep) int fd = -1;
	long count = 0;
	ssize_t n;

	if (cgroup[0] != '/' || strstr(cgroup, "/../") ||
	    snprintf(path, sizeof(path), "%s%s/cgroup.procs", cgroup_root, cgroup) >=
		    (int)sizeof(path))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0 && count < MAX_COUNTED_PROCS)
		for (ssize_t i = 0; i < n; i++)
			count += buf[i] == '\n';
	return n < 0 ? -errno : count;
}
