/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The failure policy in one place, as pam_slurm_adopt keeps its action_*
 * settings: what each failure leads to and how loudly it is said. The man
 * page's FAILURE POLICY table and CONTRIBUTING.md repeat it; test_failpolicy
 * checks that they agree.
 */
#include <stdarg.h>
#include <stdio.h>

#include "ks_failpolicy.h"

#define NO_LINE (-1)

static const struct ks_fail_policy policy[KS_FAIL_COUNT] = {
	[KS_FAIL_CONFIG_MISSING] = { "config-missing", KS_OUTCOME_DEFAULTS, NO_LINE },
	[KS_FAIL_CONFIG_UNREADABLE] = { "config-unreadable", KS_OUTCOME_DEFAULTS, LOG_ERR },
	[KS_FAIL_CONFIG_UNTRUSTED] = { "config-untrusted", KS_OUTCOME_DEFAULTS, LOG_ERR },
	[KS_FAIL_CONFIG_BAD_SETTING] = { "config-bad-setting", KS_OUTCOME_SKIP_SETTING, LOG_ERR },
	[KS_FAIL_CONFIG_NOMEM] = { "config-nomem", KS_OUTCOME_KEEP_NOTHING, LOG_CRIT },
	[KS_FAIL_OPTIN_ABSENT] = { "optin-absent", KS_OUTCOME_ADMIN_LIST, NO_LINE },
	[KS_FAIL_OPTIN_UNTRUSTED] = { "optin-untrusted", KS_OUTCOME_ADMIN_LIST, LOG_WARNING },
	[KS_FAIL_OPTIN_UNREADABLE] = { "optin-unreadable", KS_OUTCOME_ADMIN_LIST, LOG_WARNING },
	[KS_FAIL_OPTIN_READER_FAILED] = { "optin-reader-failed", KS_OUTCOME_ADMIN_LIST, LOG_ERR },
	[KS_FAIL_OPTIN_READER_TIMEOUT] = { "optin-reader-timeout", KS_OUTCOME_ADMIN_LIST,
					   LOG_WARNING },
	[KS_FAIL_OPTIN_READER_LEFT] = { "optin-reader-left", KS_OUTCOME_PROCEED, LOG_WARNING },
	[KS_FAIL_OPTIN_INVALID_LINES] = { "optin-invalid-lines", KS_OUTCOME_VALID_LINES,
					  LOG_WARNING },
	[KS_FAIL_OPTIN_NOMEM] = { "optin-nomem", KS_OUTCOME_ADMIN_LIST, LOG_ERR },
	[KS_FAIL_USER_LOOKUP] = { "user-lookup", KS_OUTCOME_KEEP_NOTHING, LOG_ERR },
	[KS_FAIL_DENY_GROUP_LOOKUP] = { "deny-group-lookup", KS_OUTCOME_KEEP_NOTHING, LOG_WARNING },
	[KS_FAIL_USERS_GROUP_LOOKUP] = { "users-group-lookup", KS_OUTCOME_NOT_LISTED, LOG_WARNING },
	[KS_FAIL_DECIDE_NOMEM] = { "decide-nomem", KS_OUTCOME_KEEP_NOTHING, LOG_ERR },
	[KS_FAIL_MISPLACED] = { "misplaced", KS_OUTCOME_KEEP_NOTHING, LOG_WARNING },
	[KS_FAIL_CGROUP_UNKNOWN] = { "cgroup-unknown", KS_OUTCOME_KEEP_NOTHING, LOG_ERR },
	[KS_FAIL_LOGIND_UNREACHABLE] = { "logind-unreachable", KS_OUTCOME_PROCEED, LOG_WARNING },
	[KS_FAIL_STOP_UNKNOWN] = { "stop-unknown", KS_OUTCOME_PROCEED, LOG_WARNING },
	[KS_FAIL_TERMINATE_USER] = { "terminate-user", KS_OUTCOME_KEEP_NOTHING, LOG_NOTICE },
	[KS_FAIL_MANAGER_UNREACHABLE] = { "manager-unreachable", KS_OUTCOME_KEEP_NOTHING, LOG_ERR },
	[KS_FAIL_MANAGER_FROZEN] = { "manager-frozen", KS_OUTCOME_KEEP_NOTHING, LOG_ERR },
	[KS_FAIL_DEADLINE] = { "deadline", KS_OUTCOME_KEEP_SOME, LOG_WARNING },
	[KS_FAIL_MAX_TREES] = { "max-trees", KS_OUTCOME_KEEP_SOME, LOG_WARNING },
	[KS_FAIL_ATTACH_PARTIAL] = { "attach-partial", KS_OUTCOME_KEEP_SOME, LOG_WARNING },
	[KS_FAIL_SCOPE_FAILED] = { "scope-failed", KS_OUTCOME_KEEP_SOME, LOG_ERR },
	[KS_FAIL_MAX_AGE_UNSUPPORTED] = { "max-age-unsupported", KS_OUTCOME_PROCEED, LOG_NOTICE },
	[KS_FAIL_RECORD_UNWRITABLE] = { "record-unwritable", KS_OUTCOME_KEEP_NOTHING, LOG_WARNING },
	[KS_FAIL_STATE_UNRECORDED] = { "state-unrecorded", KS_OUTCOME_KEEP_NOTHING, LOG_ERR },
	[KS_FAIL_KEPT_UNNOTED] = { "kept-unnoted", KS_OUTCOME_PROCEED, LOG_WARNING },
	[KS_FAIL_RECORD_UNUSABLE] = { "record-unusable", KS_OUTCOME_KEEP_NOTHING, LOG_WARNING },
	[KS_FAIL_SESSION_LOOKUP] = { "session-lookup", KS_OUTCOME_KEEP_NOTHING, LOG_ERR },
	[KS_FAIL_NO_TIME_LEFT] = { "no-time-left", KS_OUTCOME_KEEP_NOTHING, LOG_ERR },
	[KS_FAIL_USER_CHANGED] = { "user-changed", KS_OUTCOME_KEEP_NOTHING, LOG_ERR },
	[KS_FAIL_KEPT_STOP_FAILED] = { "kept-stop-failed", KS_OUTCOME_KEEP_SOME, LOG_ERR },
};

const struct ks_fail_policy *ks_fail_policy(enum ks_failure f)
{
	return (unsigned)f < KS_FAIL_COUNT ? &policy[f] : NULL;
}

const char *ks_fail_outcome_text(enum ks_fail_outcome o)
{
	switch (o) {
	case KS_OUTCOME_DEFAULTS:
		return "defaults";
	case KS_OUTCOME_SKIP_SETTING:
		return "rest applies";
	case KS_OUTCOME_KEEP_NOTHING:
		return "keep nothing";
	case KS_OUTCOME_ADMIN_LIST:
		return "admin's list";
	case KS_OUTCOME_VALID_LINES:
		return "valid lines";
	case KS_OUTCOME_NOT_LISTED:
		return "not listed";
	case KS_OUTCOME_PROCEED:
		return "proceed";
	case KS_OUTCOME_KEEP_SOME:
		return "keep what fits";
	}
	return "unknown";
}

const char *ks_fail_level_text(int level)
{
	switch (level) {
	case LOG_CRIT:
		return "crit";
	case LOG_ERR:
		return "err";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	case LOG_DEBUG:
		return "debug";
	case NO_LINE:
		return "none";
	default:
		return "unknown";
	}
}

void ks_fail_log(const struct ks_log *log, enum ks_failure f, const char *fmt, ...)
{
	const struct ks_fail_policy *p = ks_fail_policy(f);
	char line[512];
	va_list ap;

	if (!p || p->level == NO_LINE)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ks_log(log, p->level, "%s", line);
}
