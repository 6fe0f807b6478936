/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_LOG_H
#define KS_LOG_H

#include <stdbool.h>
#include <syslog.h>

/*
 * Every unit logs through this small seam instead of calling pam_syslog()
 * directly, so that the units can be tested without PAM: the PAM glue routes
 * messages to pam_syslog(), tests capture them.
 */
typedef void (*ks_log_sink)(void *ctx, int priority, const char *message);

struct ks_log {
	ks_log_sink sink;
	void *ctx;
	bool debug; /* LOG_DEBUG messages are dropped unless set */
};

/* Formats one line (truncated at 512 bytes) and hands it to the sink.
 * A NULL log or sink drops the message. */
void ks_log(const struct ks_log *log, int priority, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
