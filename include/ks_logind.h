/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* logind's side of a logout: its KillUserProcesses settings, and whether
 * the user is being stopped as a whole (terminate-user). */
#ifndef KS_LOGIND_H
#define KS_LOGIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "ks_bus.h"
#include "ks_strlist.h"

/* logind's KillUserProcesses, KillOnlyUsers, KillExcludeUsers. */
struct ks_logind_kill {
	bool kill_user_processes;
	struct ks_strlist only_users, exclude_users;
};

/* The three reads in flight: sent by ks_logind_kill_send(), answered by
 * ks_logind_kill_receive(), so that the caller works meanwhile. */
struct ks_logind_query {
	sd_bus *bus;
	uint64_t deadline;
	struct ks_bus_pending calls[3];
};

/* Sends the three property reads at once on bus (which must outlive the
 * query). Returns 0 or -errno; either way ks_logind_kill_receive() ends
 * the query. */
int ks_logind_kill_send(sd_bus *bus, uint64_t deadline, struct ks_logind_query *q);
/* Waits for the answers within the query's deadline and reads them into
 * *out (cleared first). Returns 0 or -errno (*out then empty). */
int ks_logind_kill_receive(struct ks_logind_query *q, int sent, struct ks_logind_kill *out);
void ks_logind_kill_clear(struct ks_logind_kill *k);

/* Both at once: the settings, within the deadline. */
int ks_logind_kill_settings(sd_bus *bus, uint64_t deadline, bool *kill_user_processes,
			    struct ks_strlist *kill_only_users,
			    struct ks_strlist *kill_exclude_users);

/*
 * Is the user stopped as a whole? logind's terminate-user queues a stop
 * job on user@UID.service (systemd 247, 252) or user-runtime-dir@UID.service
 * (257) together with the stop jobs of the session scopes, so while the
 * module's close and the stop guard run; an admin may stop user-UID.slice.
 * An ordinary last logout (even with UserStopDelaySec=0), an idle stop,
 * terminate-session and a dead sshd queue none then: logind stops the user
 * only once the session is finalized, after its scope is done. logind's
 * own User.State is "closing" in all of these alike. Wants= and After= on
 * user-runtime-dir@UID.service in kept scopes queue no job either.
 */

/* ListJobs in flight: sent by ks_user_stop_send() (queued while the
 * connection is set up), answered by ks_user_stop_receive(). */
struct ks_user_stop_query {
	sd_bus *bus;
	uint64_t deadline;
	struct ks_bus_pending call;
};

/* Sends the manager's ListJobs on bus (which must outlive the query).
 * Returns 0 or -errno; either way ks_user_stop_receive() ends the query. */
int ks_user_stop_send(sd_bus *bus, uint64_t deadline, struct ks_user_stop_query *q);
/* Is a stop job queued on user@UID.service, user-runtime-dir@UID.service
 * or user-UID.slice? 1 with that unit in unit, 0, or -errno when the jobs
 * cannot be read, within the query's deadline. */
int ks_user_stop_receive(struct ks_user_stop_query *q, int sent, uid_t uid, char *unit,
			 size_t size);
/* Both at once. */
int ks_user_stopping(sd_bus *bus, uid_t uid, uint64_t deadline, char *unit, size_t size);
/* The same question of a ListJobs reply, a(usssoo): 1, 0, or -EBADMSG,
 * -E2BIG for a list no manager sends. */
int ks_jobs_user_stopping(sd_bus_message *reply, uid_t uid, char *unit, size_t size);

#endif
