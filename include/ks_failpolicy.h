/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The failure policy: every case where the module fails open or closed, its
 * outcome and its log level, in one table that the code logs through. */
#ifndef KS_FAILPOLICY_H
#define KS_FAILPOLICY_H

#include <stddef.h>

#include "ks_log.h"

/* What happens to the session when a case occurs. A login, logout or scope
 * stop is never failed by the module in any case. */
enum ks_fail_outcome {
	KS_OUTCOME_DEFAULTS,     /* the built-in defaults, then module arguments */
	KS_OUTCOME_SKIP_SETTING, /* that setting or line is ignored, the rest applies */
	KS_OUTCOME_KEEP_NOTHING, /* nothing is kept from this session */
	KS_OUTCOME_ADMIN_LIST,   /* a listed user: the admin's programs; others: nothing */
	KS_OUTCOME_VALID_LINES,  /* the valid lines apply; none valid: nothing kept */
	KS_OUTCOME_NOT_LISTED,   /* as if not in users =: may still opt in */
	KS_OUTCOME_PROCEED,      /* decided as if the check had passed */
	KS_OUTCOME_KEEP_SOME,    /* what was kept stays, the rest is not kept */
};

enum ks_failure {
	KS_FAIL_CONFIG_MISSING,
	KS_FAIL_CONFIG_UNREADABLE,
	KS_FAIL_CONFIG_UNTRUSTED,
	KS_FAIL_CONFIG_BAD_SETTING,
	KS_FAIL_CONFIG_NOMEM,
	KS_FAIL_OPTIN_ABSENT,
	KS_FAIL_OPTIN_UNTRUSTED,
	KS_FAIL_OPTIN_UNREADABLE,
	KS_FAIL_OPTIN_READER_FAILED,
	KS_FAIL_OPTIN_READER_TIMEOUT,
	KS_FAIL_OPTIN_READER_LEFT,
	KS_FAIL_OPTIN_INVALID_LINES,
	KS_FAIL_OPTIN_NOMEM,
	KS_FAIL_USER_LOOKUP,
	KS_FAIL_DENY_GROUP_LOOKUP,
	KS_FAIL_USERS_GROUP_LOOKUP,
	KS_FAIL_DECIDE_NOMEM,
	KS_FAIL_MISPLACED,
	KS_FAIL_CGROUP_UNKNOWN,
	KS_FAIL_LOGIND_UNREACHABLE,
	KS_FAIL_STOP_UNKNOWN,
	KS_FAIL_TERMINATE_USER,
	KS_FAIL_MANAGER_UNREACHABLE,
	KS_FAIL_MANAGER_FROZEN,
	KS_FAIL_DEADLINE,
	KS_FAIL_MAX_TREES,
	KS_FAIL_ATTACH_PARTIAL,
	KS_FAIL_SCOPE_FAILED,
	KS_FAIL_MAX_AGE_UNSUPPORTED,
	KS_FAIL_RECORD_UNWRITABLE,
	KS_FAIL_STATE_UNRECORDED,
	KS_FAIL_KEPT_UNNOTED,
	KS_FAIL_RECORD_UNUSABLE,
	KS_FAIL_SESSION_LOOKUP,
	KS_FAIL_NO_TIME_LEFT,
	KS_FAIL_USER_CHANGED,
	KS_FAIL_KEPT_STOP_FAILED,
	KS_FAIL_COUNT,
};

struct ks_fail_policy {
	const char *name; /* as in the man page's FAILURE POLICY table */
	enum ks_fail_outcome outcome;
	int level; /* syslog priority of its one line; -1: none */
};

/* The entry of one case. */
const struct ks_fail_policy *ks_fail_policy(enum ks_failure f);
/* The outcome's words in the man page ("keep nothing"...). */
const char *ks_fail_outcome_text(enum ks_fail_outcome o);
/* The level's words in the man page ("err", "warning"..., "none"). */
const char *ks_fail_level_text(int level);

/* Logs the one line of a case at the table's level (nothing for a case
 * logged at none). */
void ks_fail_log(const struct ks_log *log, enum ks_failure f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
