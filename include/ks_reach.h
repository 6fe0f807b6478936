/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How the keeper reaches systemd at a logout: logind's kill settings and the
 * manager on one system bus connection, the manager's own socket as fallback. */
#ifndef KS_REACH_H
#define KS_REACH_H

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "ks_attach.h"
#include "ks_logind.h"
#include "ks_mover.h"

/* logind's kill settings in flight: asked by ks_reach_logind_ask(),
 * answered by ks_reach_logind_kills(). */
struct ks_logind_ask {
	sd_bus *bus;
	struct ks_logind_query q;
	int sent;
};

/* The manager: its connection and mover, and the terminate-user check
 * sent with its setup. */
struct ks_reach {
	sd_bus *bus;
	struct ks_mover *mover;
	bool on_system_bus; /* logind's connection, shared */
	int connected;      /* 0, or why the manager could not be reached */
	struct ks_user_stop_query user_stop;
	int user_stop_sent;
	uint64_t deadline; /* of the setup, the check and the starts */
};

/* Opens the system bus (io->open_logind) and sends logind's three reads,
 * within a third of the timeout. */
void ks_reach_logind_ask(struct keep_run *run, struct ks_logind_ask *a);
/* Would logind kill the user's processes? An answer it cannot get is
 * yes, logged once; drops the ask's reference to the bus. */
bool ks_reach_logind_kills(const struct keep_run *run, struct ks_logind_ask *a);

/* Both ways of one keep, begun after the scan (ks_reach_begin()), or
 * before it, by ks_keep_early(), while the caller reads the opt-in file. */
struct ks_keep_early {
	uint64_t start, deadline; /* of the keep, when begun early */
	size_t calls;             /* begun early, for the keep's stats */
	struct ks_logind_ask ask;
	struct ks_reach reach;
};

/* Nothing sent yet: the keep's times, and the starts' deadline. */
void ks_keep_early_init(struct ks_keep_early *e, uint64_t start, uint64_t deadline,
			uint64_t starts_deadline);
/* Sends logind's reads (when = kill) and the manager's setup at once. */
void ks_reach_begin(struct keep_run *run, struct ks_keep_early *e);
/* Closes both, without flushing. */
void ks_reach_end(struct ks_keep_early *e);

void ks_reach_init(struct ks_reach *m, uint64_t deadline);
/* Sends the manager's setup and the terminate-user check without waiting:
 * on system_bus when given, else on io->open_manager's connection. */
void ks_reach_connect(struct keep_run *run, struct ks_reach *m, sd_bus *system_bus);
/* Waits for the setup; a system bus that is not up is left for the
 * manager's own socket once. 0, or -errno logged through the table. */
int ks_reach_ready(struct keep_run *run, struct ks_reach *m);
/* Is the user being stopped as a whole (terminate-user)? Logged either
 * way that matters; false when the caller checked already. */
bool ks_reach_user_stopping(struct keep_run *run, struct ks_reach *m);
void ks_reach_done(struct ks_reach *m);

#endif
