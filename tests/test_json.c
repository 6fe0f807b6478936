/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ks_json.h"

static char *escaped(const char *s)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	assert_non_null(f);
	ks_json_escape(f, s);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void check_escape(const char *in, const char *want)
{
	char *got = escaped(in);

	assert_string_equal(got, want);
	free(got);
}

static void test_escape(void **state)
{
	(void)state;
	check_escape("plain", "\"plain\"");
	check_escape("", "\"\"");
	check_escape("a\"b\\c", "\"a\\\"b\\\\c\"");
	check_escape("tab\there\nnl\r\x01\x1f\x7f",
		     "\"tab\\there\\nnl\\u000d\\u0001\\u001f\\u007f\"");
	/* Valid UTF-8 passes through. */
	check_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* Invalid: a lone continuation byte, a truncated sequence, an
	 * overlong '/', a surrogate, past U+10FFFF, 0xff. */
	check_escape("\x80", "\"\\ufffd\"");
	check_escape("\xc3", "\"\\ufffd\"");
	check_escape("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	check_escape("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
	check_escape("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	check_escape("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	check_escape("a\xffz", "\"a\\ufffdz\"");
}

static void test_document(void **state)
{
	struct ks_json j;
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	(void)state;
	assert_non_null(f);
	ks_json_init(&j, f);
	ks_json_open(&j, NULL, '{');
	ks_json_str(&j, "user", "al\"ice");
	ks_json_uint(&j, "uid", 1000);
	ks_json_int(&j, "delta", -5);
	ks_json_bool(&j, "kept", true);
	ks_json_null(&j, "max_age");
	ks_json_str(&j, "none", NULL);
	ks_json_int_or_null(&j, "procs", true, -1);
	ks_json_int_or_null(&j, "no_procs", false, 7);
	ks_json_uint_or_null(&j, "left", true, 30);
	ks_json_uint_or_null(&j, "no_left", false, 30);
	ks_json_bool_or_null(&j, "ipc", true, false);
	ks_json_bool_or_null(&j, "no_ipc", false, true);
	ks_json_open(&j, "programs", '[');
	ks_json_str(&j, NULL, "tmux");
	ks_json_str(&j, NULL, "screen");
	ks_json_close(&j, ']');
	ks_json_open(&j, "empty", '[');
	ks_json_close(&j, ']');
	ks_json_open(&j, "sessions", '[');
	ks_json_open(&j, NULL, '{');
	ks_json_str(&j, "id", "3");
	ks_json_close(&j, '}');
	ks_json_open(&j, NULL, '{');
	ks_json_close(&j, '}');
	ks_json_close(&j, ']');
	ks_json_close(&j, '}');
	assert_int_equal(fclose(f), 0);
	assert_string_equal(buf, "{\"user\":\"al\\\"ice\",\"uid\":1000,\"delta\":-5,\"kept\":true,"
				 "\"max_age\":null,\"none\":null,\"procs\":-1,\"no_procs\":null,"
				 "\"left\":30,\"no_left\":null,\"ipc\":false,\"no_ipc\":null,"
				 "\"programs\":[\"tmux\",\"screen\"],"
				 "\"empty\":[],\"sessions\":[{\"id\":\"3\"},{}]}\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_document),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
