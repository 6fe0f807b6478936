/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_KEEPER_H
#define KS_KEEPER_H

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "ks_config.h"
#include "ks_log.h"
#include "ks_cgroup.h"
#include "ks_proctree.h"
#include "ks_strlist.h"

/*
 * The close_session work, with every outside thing passed in so that it
 * runs in tests against a fake /proc, a fake cgroup tree and a fake
 * manager: scan first (local and cheap), connect to systemd only when
 * there is something to keep, move, wait, then catch stragglers. Nothing
 * is kept while the user is being stopped as a whole (ks_user_stopping():
 * loginctl terminate-user).
 */
/* What one ks_keep() did, for tests and the bound's accounting. */
struct ks_keep_stats {
	size_t scans;      /* session scans begun */
	size_t calls;      /* bus calls begun (a mover open counts one) */
	size_t late_calls; /* of which begun at or past their deadline: never */
	size_t scopes;     /* StartTransientUnit calls */
	size_t selected;   /* trees selected by the first scan */
	size_t kept;
	uint64_t deadline, end; /* CLOCK_MONOTONIC usec */
};

/* A keep's connections to systemd begun before the user is known to be
 * kept (ks_keep_early()). Opaque. */
struct ks_keep_early;

struct ks_keep_io {
	const char *proc_root;   /* "/proc" */
	const char *cgroup_root; /* from ks_cgroup_mode_detect() */
	enum ks_cgroup_mode cgroup_mode;
	/* The session's cgroup path (".../session-N.scope"), read by the
	 * caller: its own in sshd, the session's scope in the stop guard. */
	const char *session_cgroup;
	/* The system bus (logind; with when = kill the manager too), and
	 * the manager's own connection when that is not asked or not up. */
	int (*open_manager)(void *ctx, sd_bus **bus);
	int (*open_logind)(void *ctx, sd_bus **bus);
	void *ctx;
	/* The caller asked already whether the user is being stopped as a
	 * whole (the stop guard does, before the keeper): not asked again. */
	bool user_stop_checked;
	/* Processes per AttachProcessesToUnit, at most; 0: the default,
	 * 128. Smaller in tests, to have several batches in flight. */
	size_t attach_batch_max;
	struct ks_keep_stats *stats; /* filled in when not NULL */
	/* From ks_keep_early(), or NULL: connected after the scan, and only
	 * when it selects something. ks_keep() takes it over. */
	struct ks_keep_early *early;
};

/* Would logind kill this user's processes at logout, given its settings?
 * The policy's rule (ks_policy_logind_kills), passed in from above. */
typedef bool (*ks_logind_kills_fn)(const char *user, bool kill_user_processes,
				   const struct ks_strlist *kill_only_users,
				   const struct ks_strlist *kill_exclude_users);

struct ks_keep_target {
	const char *user;
	uid_t uid;
	const char *session_id; /* for log lines and descriptions */
	const struct ks_strlist *programs;
	/* Asked with when = kill; NULL: taken as yes, as an unread logind. */
	ks_logind_kills_fn logind_kills;
};

/* Rounds of rescan-and-attach for the rest of the trees after their
 * scopes started, one rescan per round for all trees: enough for what
 * forks during a logout, bounded for what forks without end. */
#define KS_MAX_ATTACH_ROUNDS 4

/*
 * Begins reaching systemd for a keep that is likely but not decided: the
 * glue calls it while the opt-in file is read (once the session runs one
 * of the admin's programs), so that systemd answers meanwhile. It waits
 * for the connection to take its calls until push_until at most. The
 * keep's time counts from here, to deadline at most. Returns 0 and *out
 * for io->early, or -errno (the keep then connects after its scan). Not
 * logged: whatever failed is met again, and said, by the keep.
 */
int ks_keep_early(const struct ks_config *c, const struct ks_keep_target *t,
		  const struct ks_keep_io *io, const struct ks_log *log, uint64_t deadline,
		  uint64_t push_until, struct ks_keep_early **out);
/* Drops a keep begun early that is not made. */
void ks_keep_early_free(struct ks_keep_early *early);

/* Returns the number of trees kept (>= 0), or -errno. Never blocks past
 * c->timeout_usec from the call, or from ks_keep_early() when io->early. */
int ks_keep(const struct ks_config *c, const struct ks_keep_target *t, const struct ks_keep_io *io,
	    const struct ks_log *log);

#endif
