/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The admin's configuration: its defaults, its keys and values (configkey.c)
 * and its load from the file and the module arguments (config.c). */
#ifndef KS_CONFIG_H
#define KS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ks_log.h"
#include "ks_strlist.h"

/* What separates keys, values and entries (no newline: lines are split). */
#define KS_CONFIG_BLANKS " \t\r\f\v"
#define KS_DEFAULT_CONF "/etc/security/keepsession.conf"
#define KS_DEFAULT_COMMANDS "tmux,screen,zellij,dtach,abduco,mosh-server,tmate,shpool"
#define KS_USEC_PER_SEC 1000000ULL
#define KS_DEFAULT_TIMEOUT_USEC (3 * KS_USEC_PER_SEC)
/* A PAM close must never hang: larger timeouts are refused. */
#define KS_MAX_TIMEOUT_USEC (60 * KS_USEC_PER_SEC)
/* The config file is small; anything larger is refused, not truncated. */
#define KS_CONFIG_MAX_SIZE (256 * 1024)
/* Trees kept per logout: each is a scope in PID 1 and a job to wait for. */
#define KS_DEFAULT_MAX_TREES 16
#define KS_MAX_MAX_TREES 4096

enum ks_when {
	KS_WHEN_KILL,   /* act only when logind would kill this user's processes */
	KS_WHEN_ALWAYS, /* act regardless of logind's settings */
};

struct ks_config {
	bool debug;
	char *conf_path;            /* NULL: KS_DEFAULT_CONF */
	struct ks_strlist commands; /* base names or absolute paths */
	struct ks_strlist users;    /* names, @group, or "*" */
	struct ks_strlist deny;     /* names and @group; wins over all */
	bool optin;                 /* may others opt in with ~/.keepsession */
	bool user_commands;         /* may ~/.keepsession name other programs */
	uint64_t max_age_usec;      /* 0: no limit */
	char *slice;                /* NULL: default by manager version; "%U" expands to the uid */
	enum ks_when when;
	uint64_t timeout_usec;
	unsigned max_trees; /* trees kept per logout, 1..KS_MAX_MAX_TREES */
};

/* Fills in the defaults. Returns 0 or -ENOMEM. */
int ks_config_init(struct ks_config *c);
void ks_config_free(struct ks_config *c);

/*
 * The whole load, as the PAM hooks do it: defaults (c comes from
 * ks_config_init()), then the file named by conf= (or the default file; a
 * missing file means defaults), then every key=value module argument on top.
 * trusted_owner is the uid that must own the file (root in production).
 * Problems are logged one line each; the rest still applies. Returns the
 * number of problems, or -ENOMEM: then c keeps no one (no users, no
 * commands, no opt-in), so that a half-loaded configuration (users read,
 * deny not yet) cannot be acted on even by a caller that went on.
 */
int ks_config_load(struct ks_config *c, int argc, const char **argv, uid_t trusted_owner,
		   const struct ks_log *log);

/* Reads and applies a file. Refuses (logs, applies nothing) a file that is
 * not a regular file, not owned by trusted_owner, or writable by group or
 * others, like sshd's StrictModes. A missing file is not a problem.
 * Returns the number of problems, or -ENOMEM. */
int ks_config_parse_file(struct ks_config *c, const char *path, uid_t trusted_owner,
			 const struct ks_log *log);

/* Applies "key = value" lines from a buffer (not NUL-terminated);
 * origin names the source in log lines. */
int ks_config_parse_text(struct ks_config *c, const char *text, size_t len, const char *origin,
			 const struct ks_log *log);

/* Applies one key. Returns the number of logged problems (0, 1, or one per
 * dropped entry of a list), or -ENOMEM. */
int ks_config_set(struct ks_config *c, const char *key, const char *value, const char *origin,
		  unsigned line, const struct ks_log *log);

/* systemd time span: "90min", "12h", "1h 30min", "7d", a bare number is
 * seconds. Returns 0 or -EINVAL / -ERANGE. */
int ks_parse_timespan(const char *s, uint64_t *usec);
/* yes/no/true/false/on/off/1/0. Returns 0 or -EINVAL. */
int ks_parse_bool(const char *s, bool *b);

#endif
