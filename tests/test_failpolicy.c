/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The failure policy is written three times: src/failpolicy.c (what the
 * code logs through), man/pam_keepsession.8 (FAILURE POLICY) and
 * CONTRIBUTING.md. These tests fail when they disagree. They read the
 * files from the source tree: make check runs from there (KS_SRCDIR
 * overrides).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ks_failpolicy.h"
#include "logcap.h"

#define DOC_MAX (512 * 1024)

static char *read_doc(const char *name)
{
	const char *dir = getenv("KS_SRCDIR");
	char path[4096];
	char *text = malloc(DOC_MAX);
	size_t len;
	FILE *f;

	assert_non_null(text);
	(void)snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", name);
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s (run from the source tree or set KS_SRCDIR)", path);
	len = fread(text, 1, DOC_MAX - 1, f);
	fclose(f);
	text[len] = '\0';
	return text;
}

/* The man page's words for what the code has: ".B name" then a line
 * opening with "Outcome: X. Log: Y.". */
static void expect_man_entry(const char *section, const struct ks_fail_policy *p)
{
	char head[128], body[256];
	const char *at;

	(void)snprintf(head, sizeof(head), "\n.TP\n.B %s\n", p->name);
	(void)snprintf(body, sizeof(body), "Outcome: %s. Log: %s. ",
		       ks_fail_outcome_text(p->outcome), ks_fail_level_text(p->level));
	at = strstr(section, head);
	if (!at)
		fail_msg("man page: no entry for %s", p->name);
	if (strncmp(at + strlen(head), body, strlen(body)) != 0)
		fail_msg("man page: %s does not say \"%s\"", p->name, body);
}

static unsigned count(const char *s, const char *needle)
{
	unsigned n = 0;

	for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_man_page_agrees(void **state)
{
	char *man = read_doc("man/pam_keepsession.8");
	char *section = strstr(man, "\n.SH \"FAILURE POLICY\"\n");
	char *end;

	(void)state;
	assert_non_null(section);
	end = strstr(section + 1, "\n.SH ");
	assert_non_null(end);
	end[1] = '\0';
	for (int f = 0; f < KS_FAIL_COUNT; f++)
		expect_man_entry(section, ks_fail_policy((enum ks_failure)f));
	/* And no case that the code does not have. */
	assert_int_equal(count(section, "\n.TP\n.B "), KS_FAIL_COUNT);
	free(man);
}

static void test_contributing_agrees(void **state)
{
	char *doc = read_doc("CONTRIBUTING.md");
	const char *section = strstr(doc, "\n## Failure policy\n");
	char row[256];

	(void)state;
	assert_non_null(section);
	for (int f = 0; f < KS_FAIL_COUNT; f++) {
		const struct ks_fail_policy *p = ks_fail_policy((enum ks_failure)f);

		(void)snprintf(row, sizeof(row), "\n| %s | %s | %s | ", p->name,
			       ks_fail_outcome_text(p->outcome), ks_fail_level_text(p->level));
		if (!strstr(section, row))
			fail_msg("CONTRIBUTING.md: no row \"%s\"", row + 1);
	}
	/* Rows of the table: every one below its header line is a case. */
	assert_int_equal(count(section, "\n| ") - 1, KS_FAIL_COUNT);
	free(doc);
}

static void test_names_unique_and_set(void **state)
{
	(void)state;
	for (int f = 0; f < KS_FAIL_COUNT; f++) {
		const struct ks_fail_policy *p = ks_fail_policy((enum ks_failure)f);

		assert_non_null(p->name);
		assert_string_not_equal(ks_fail_level_text(p->level), "unknown");
		for (int g = 0; g < f; g++)
			assert_string_not_equal(p->name, ks_fail_policy((enum ks_failure)g)->name);
	}
	assert_null(ks_fail_policy(KS_FAIL_COUNT));
}

/* ks_fail_log() logs at the table's level, and nothing for "none". */
static void test_log_level_from_table(void **state)
{
	struct logcap cap;
	const struct ks_log log = logcap_log(&cap);

	(void)state;
	ks_fail_log(&log, KS_FAIL_CONFIG_NOMEM, "out of %s", "memory");
	ks_fail_log(&log, KS_FAIL_TERMINATE_USER, "stopping");
	ks_fail_log(&log, KS_FAIL_CONFIG_MISSING, "never seen");
	assert_int_equal(cap.n, 2);
	assert_int_equal(cap.prio[0], LOG_CRIT);
	assert_string_equal(cap.line[0], "out of memory");
	assert_int_equal(cap.prio[1], LOG_NOTICE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_man_page_agrees),
		cmocka_unit_test(test_contributing_agrees),
		cmocka_unit_test(test_names_unique_and_set),
		cmocka_unit_test(test_log_level_from_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
