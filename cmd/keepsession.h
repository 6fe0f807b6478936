/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* keepsession(1)'s commands (check.c, status.c, list.c, release.c) and
 * what they share (common.c): options, messages, the config and logind. */
#ifndef KS_CMD_KEEPSESSION_H
#define KS_CMD_KEEPSESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "ks_config.h"
#include "ks_json.h"
#include "ks_kept.h"
#include "ks_pamstack.h"
#include "ks_policy.h"
#include "ks_strlist.h"

#define EXIT_PROBLEM 1
#define EXIT_USAGE 2
#define EXIT_NOT_KEPT 3 /* like systemctl is-active */

/* Every bus conversation of one command is bounded by this. */
#define BUS_BOUND_USEC (10 * KS_USEC_PER_SEC)

struct opts {
	bool json;
	bool color;
	const char *pam_d;
	const char *conf;    /* --conf, or NULL: the module's own choice */
	const char *service; /* whose module arguments status applies */
};

extern const char *const cmd_program_name;

/* One clear line on stderr; returns the exit code to use. */
int cmd_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

const char *cmd_paint(const struct opts *o, const char *color, const char *text, char *buf,
		      size_t size);
#define GOOD(o, t) cmd_paint(o, "1;32", t, (char[64]){ 0 }, 64)
#define BAD(o, t) cmd_paint(o, "1;31", t, (char[64]){ 0 }, 64)

/* A time span as systemd writes one: "infinity", "0", "1d 2h", "90ms". */
void cmd_format_span(uint64_t usec, char *buf, size_t size);
/* The list's entries joined by blanks, cut at size. */
void cmd_join(const struct ks_strlist *l, char *buf, size_t size);
void cmd_json_list(struct ks_json *j, const char *key, const struct ks_strlist *l);

/* A ks_log sink that keeps warnings and errors in the strlist ctx. */
void cmd_collect_sink(void *ctx, int priority, const char *message);

/* The module's membership and user lookup, on getgrnam()/getpwnam(). */
enum ks_membership cmd_in_group(void *ctx, const struct ks_user *u, const char *group);
int cmd_lookup_user(void *ctx, const char *name, struct ks_user *u);

/* The configuration as the module loads it, with module_args (may be
 * NULL) on top of the file; problems collected one line each. */
int cmd_load_config(const struct opts *o, const char *module_args, struct ks_config *c,
		    struct ks_strlist *problems);
/* The pam_keepsession.so line of service's session stack. */
int cmd_service_line(const struct opts *o, const char *service, struct ks_pamstack *stack,
		     const struct ks_pam_line **line);

struct logind_settings {
	bool known;
	bool kill_user_processes;
	struct ks_strlist kill_only_users, kill_exclude_users;
	uint64_t stop_idle_session_usec; /* UINT64_MAX: infinity */
	bool stop_idle_known;
	uint64_t user_stop_delay_usec;
	bool user_stop_delay_known;
	int remove_ipc; /* -1: unknown */
	char error[128];
};

/* logind's settings; s->known false and s->error say why when unread. */
void cmd_logind_read(struct logind_settings *s);
void cmd_logind_free(struct logind_settings *s);

/* The commands: each returns the exit code. */
int cmd_check(const struct opts *o);
int cmd_status(const struct opts *o, const char *who);
int cmd_list(const struct opts *o, const char *user);
int cmd_release(int argc, char **argv, const char *user);

/* Shared by list and release (list.c). */
uid_t cmd_uid_of_user(const char *user);
bool cmd_scope_of_user(const struct ks_kept_scope *s, const char *user, uid_t uid);
int cmd_list_scopes(struct ks_kept_list *l, bool manager);

#endif
