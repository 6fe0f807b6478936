/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The session stack of a PAM service, resolved as libpam's pam_handlers.c
 * does, for `keepsession check`: it only reads, and everything it reads is
 * bounded (size per file, depth, lines), since a pam.d tree may be broken.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ks_cleanup.h"
#include "ks_fileio.h"
#include "ks_pamstack.h"

struct resolver {
	const char *pam_d;
	struct ks_pamstack *out;
	const struct ks_log *log;
	const char *open[KS_PAMSTACK_MAX_DEPTH + 1]; /* the include chain, for loops */
	size_t depth;
	bool over_budget; /* files or lines: the rest of the walk is skipped */
	bool loop_reported, depth_reported;
};

struct origin {
	const char *file;
	unsigned line;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

void ks_pamstack_free(struct ks_pamstack *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->lines[i].file);
		free(s->lines[i].module);
		free(s->lines[i].control);
		free(s->lines[i].args);
		free(s->lines[i].top_file);
	}
	free(s->lines);
	*s = (struct ks_pamstack){ 0 };
}

bool ks_pam_module_is(const char *module, const char *name)
{
	const char *slash = strrchr(module, '/');

	return strcmp(slash ? slash + 1 : module, name) == 0;
}

const struct ks_pam_line *ks_pamstack_find(const struct ks_pamstack *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (ks_pam_module_is(s->lines[i].module, name))
			return &s->lines[i];
	return NULL;
}

enum ks_placement ks_pamstack_placement(const struct ks_pamstack *s,
					const struct ks_pam_line **keep,
					const struct ks_pam_line **systemd)
{
	*keep = ks_pamstack_find(s, "pam_keepsession.so");
	*systemd = ks_pamstack_find(s, "pam_systemd.so");
	if (!*keep)
		return KS_PLACEMENT_ABSENT;
	if (!*systemd)
		return KS_PLACEMENT_NO_SYSTEMD;
	/* Both point into s->lines, in stack order. */
	return *keep < *systemd ? KS_PLACEMENT_OK : KS_PLACEMENT_AFTER;
}

/* Reads a whole regular file of at most KS_PAMSTACK_MAX_FILE_SIZE bytes.
 * Returns 0, or -errno (-EFBIG, -EINVAL for not a regular file). */
static int read_bounded(const char *path, char **text, size_t *len)
{
	_cleanup_(freep) char *buf = NULL;
	int r;

	/* Room for the largest file allowed and the NUL: a longer one, or
	 * one that grew, is -EFBIG. */
	buf = malloc(KS_PAMSTACK_MAX_FILE_SIZE + 1);
	if (!buf)
		return -ENOMEM;
	r = ks_read_file_at(AT_FDCWD, path, 0, buf, KS_PAMSTACK_MAX_FILE_SIZE + 1, true, len);
	if (r < 0)
		return r;
	*text = TAKE_PTR(buf);
	return 0;
}

/* Splits off the next token of *p: blank-separated, or, for the control
 * field (bracket), "[...]" whole. Returns NULL at the end of the line. An
 * unclosed '[' takes the rest. */
static char *next_token(char **p, bool bracket)
{
	char *s = *p, *end;

	while (is_blank(*s))
		s++;
	if (!*s) {
		*p = s;
		return NULL;
	}
	if (bracket && *s == '[') {
		end = strchr(s, ']');
		end = end ? end + 1 : s + strlen(s);
	} else {
		end = s;
		while (*end && !is_blank(*end))
			end++;
	}
	if (*end)
		*end++ = '\0';
	*p = end;
	return s;
}

static int add_line(struct resolver *rs, const char *file, unsigned line, const struct origin *top,
		    const char *type, const char *control, const char *module, const char *args)
{
	struct ks_pamstack *out = rs->out;
	struct ks_pam_line *grown, *l;

	/* No cap of its own: out->n <= out->parsed <= KS_PAMSTACK_MAX_LINES. */
	grown = realloc(out->lines, (out->n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	out->lines = grown;
	l = &out->lines[out->n];
	*l = (struct ks_pam_line){
		.file = strdup(file),
		.line = line,
		.module = strdup(module),
		.control = strdup(control),
		.args = strdup(args),
		.top_file = strdup(top->file),
		.top_line = top->line,
		.dash = type[0] == '-',
	};
	out->n++;
	if (!l->file || !l->module || !l->control || !l->args || !l->top_file)
		return -ENOMEM;
	return 0;
}

static int resolve_file(struct resolver *rs, const char *name, const char *from_file,
			unsigned from_line, const struct origin *top);

static void problem(struct resolver *rs, const char *file, unsigned line, const char *what)
{
	ks_log(rs->log, LOG_WARNING, "%s:%u: %s", file, line, what);
	rs->out->problems++;
}

/* Spends one of what (files or lines) from the resolve's budget. Returns
 * false, with the one line that says so, once it is spent. */
static bool spend(struct resolver *rs, unsigned *used, unsigned max, const char *what,
		  const char *file, unsigned line)
{
	if (rs->over_budget)
		return false;
	if (*used < max) {
		(*used)++;
		return true;
	}
	ks_log(rs->log, LOG_WARNING,
	       "%s:%u: more than %u %s read for one service (includes counted each time), "
	       "rest ignored",
	       file, line, max, what);
	rs->out->problems++;
	rs->over_budget = true;
	return false;
}

/* One logical line, comments and continuations already gone. */
static int parse_line(struct resolver *rs, char *s, const char *file, unsigned line,
		      const struct origin *parent_top)
{
	/* At the service file's own level, each line is its own origin. */
	const struct origin top = parent_top ? *parent_top : (struct origin){ file, line };
	const char *type, *control, *module;
	char *p = s;

	type = next_token(&p, false);
	if (!type)
		return 0;
	if (!spend(rs, &rs->out->parsed, KS_PAMSTACK_MAX_LINES, "lines", file, line))
		return 0;
	if (strcmp(type, "@include") == 0) {
		const char *target = next_token(&p, false);

		if (!target) {
			problem(rs, file, line, "@include without a file");
			return 0;
		}
		return resolve_file(rs, target, file, line, &top);
	}
	if (strcasecmp(type[0] == '-' ? type + 1 : type, "session") != 0)
		return 0; /* another stack's line: libpam checks those in their own stack */
	control = next_token(&p, true);
	module = next_token(&p, false);
	if (control && control[0] == '[' && control[strlen(control) - 1] != ']') {
		problem(rs, file, line, "unclosed '[' in the control field");
		return 0;
	}
	if (!control || !module) {
		problem(rs, file, line, "session line without a control and a module");
		return 0;
	}
	if (strcasecmp(control, "include") == 0 || strcasecmp(control, "substack") == 0)
		return resolve_file(rs, module, file, line, &top);
	while (is_blank(*p))
		p++;
	return add_line(rs, file, line, &top, type, control, module, p);
}

/*
 * Walks the logical lines of text: a '#' ends a line (and its
 * continuation, as in libpam), a trailing '\' joins the next physical line
 * with a blank. Each logical line is reported at its first physical line.
 */
static int parse_text(struct resolver *rs, char *text, size_t len, const char *file,
		      const struct origin *top)
{
	char *logical = calloc(1, len + 1);
	unsigned physical = 0, first = 0;
	size_t pos = 0, used = 0;
	int r = 0;

	if (!logical)
		return -ENOMEM;
	while (pos < len && r >= 0 && !rs->over_budget) {
		char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *s = text + pos, *hash;
		bool more = false;

		pos += n + (nl ? 1 : 0);
		physical++;
		if (used == 0)
			first = physical;
		hash = memchr(s, '#', n);
		if (hash)
			n = (size_t)(hash - s);
		while (n > 0 && is_blank(s[n - 1]))
			n--;
		if (!hash && n > 0 && s[n - 1] == '\\') {
			n--;
			more = true;
		}
		if (memchr(s, '\0', n)) {
			problem(rs, file, physical, "NUL byte: line ignored");
			used = 0;
			continue;
		}
		memcpy(logical + used, s, n);
		used += n;
		if (more && pos < len) {
			logical[used++] = ' ';
			continue;
		}
		logical[used] = '\0';
		r = parse_line(rs, logical, file, first, top);
		used = 0;
	}
	free(logical);
	return r;
}

/* Is the include of path cut, by a loop or by depth? Loops and depth:
 * the first of each is reported; in a tree that fans out, the same cut
 * would otherwise be reported once per branch. */
static bool include_cut(struct resolver *rs, const char *path, const char *from_file,
			unsigned from_line)
{
	for (size_t i = 0; i < rs->depth; i++)
		if (strcmp(rs->open[i], path) == 0) {
			if (!rs->loop_reported)
				ks_log(rs->log, LOG_WARNING,
				       "%s:%u: include loop: %s includes itself", from_file,
				       from_line, path);
			rs->out->problems += !rs->loop_reported;
			rs->loop_reported = true;
			return true;
		}
	if (rs->depth > KS_PAMSTACK_MAX_DEPTH) {
		if (!rs->depth_reported)
			ks_log(rs->log, LOG_WARNING,
			       "%s:%u: includes nested deeper than %d: %s ignored", from_file,
			       from_line, KS_PAMSTACK_MAX_DEPTH, path);
		rs->out->problems += !rs->depth_reported;
		rs->depth_reported = true;
		return true;
	}
	return false;
}

static int resolve_file(struct resolver *rs, const char *name, const char *from_file,
			unsigned from_line, const struct origin *top)
{
	_cleanup_(freep) char *text = NULL;
	char path[4096];
	size_t len = 0;
	int r;

	if (name[0] == '/')
		r = snprintf(path, sizeof(path), "%s", name);
	else
		r = snprintf(path, sizeof(path), "%s/%s", rs->pam_d, name);
	if (r < 0 || (size_t)r >= sizeof(path)) {
		if (from_file)
			problem(rs, from_file, from_line, "include path too long");
		return from_file ? 0 : -ENAMETOOLONG;
	}
	/* The service file (no from_file) opens the walk: nothing to cut. */
	if (from_file && include_cut(rs, path, from_file, from_line))
		return 0;
	/* The service file itself always fits: the budget starts with it. */
	if (!spend(rs, &rs->out->files, KS_PAMSTACK_MAX_FILES, "files", from_file, from_line))
		return 0;
	r = read_bounded(path, &text, &len);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		const char *why = r == -EFBIG  ? "larger than 256 KiB" :
				  r == -EINVAL ? "not a regular file" :
						 strerror(-r);

		if (!from_file) {
			ks_log(rs->log, LOG_WARNING, "%s: cannot read: %s", path, why);
			return r;
		}
		ks_log(rs->log, LOG_WARNING, "%s:%u: cannot include %s: %s", from_file, from_line,
		       path, why);
		rs->out->problems++;
		return 0;
	}
	rs->open[rs->depth++] = path;
	r = parse_text(rs, text, len, path, top);
	rs->open[--rs->depth] = NULL; /* path dies with this frame */
	return r;
}

int ks_pamstack_resolve(const char *pam_d, const char *service, struct ks_pamstack *out,
			const struct ks_log *log)
{
	struct resolver rs = { .pam_d = pam_d, .out = out, .log = log };
	int r;

	*out = (struct ks_pamstack){ 0 };
	r = resolve_file(&rs, service, NULL, 0, NULL);
	if (r < 0)
		ks_pamstack_free(out);
	return r;
}
