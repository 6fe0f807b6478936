/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The manager the mover talks to: its version, and on a bus its unique
 * name, the only sender whose JobRemoved is believed. For the mover. */
#ifndef KS_MANAGER_H
#define KS_MANAGER_H

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "ks_bus.h"
#include "ks_log.h"

struct ks_manager {
	sd_bus *bus;
	bool bus_client;                /* through a broker: signals are checked by sender */
	char *unique;                   /* on a bus, the manager's unique name, from its replies */
	unsigned version;               /* major, 0 if unknown */
	struct ks_bus_pending setup[2]; /* Subscribe (on a bus), Version */
	bool sent;                      /* setup[] is on its way */
};

void ks_manager_init(struct ks_manager *m, sd_bus *bus);
/* Sends the Version read (and through a broker, Subscribe first) without
 * waiting: queued until the connection is up, then sent at once. */
int ks_manager_setup_send(struct ks_manager *m, uint64_t deadline);
/* Collects their answers within the deadline. A refused Subscribe or an
 * unreadable Version is a notice (version 0: only settings every version
 * knows); -errno only when the manager did not answer (on a bus: when
 * both were refused, by the broker), not logged. */
int ks_manager_setup_receive(struct ks_manager *m, uint64_t deadline, const struct ks_log *log);
/* Remembers who answered on a bus. 0 or -ENOMEM. */
int ks_manager_note(struct ks_manager *m, sd_bus_message *reply);
/* Did the manager send msg, as far as we can tell? */
bool ks_manager_sent(const struct ks_manager *m, sd_bus_message *msg);
void ks_manager_clear(struct ks_manager *m);

#endif
