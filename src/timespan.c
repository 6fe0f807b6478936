/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Value parsers for the configuration: systemd's time span and boolean
 * syntax, so that admins can write what they write in logind.conf.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "ks_config.h"

#define USEC_PER_MINUTE (60 * KS_USEC_PER_SEC)
#define USEC_PER_HOUR (60 * USEC_PER_MINUTE)
#define USEC_PER_DAY (24 * USEC_PER_HOUR)

/* systemd's values: a month is a twelfth of a year of 365.25 days. */
static const struct {
	const char *name;
	uint64_t usec;
} time_units[] = {
	{ "us", 1 },
	{ "usec", 1 },
	{ "ms", 1000 },
	{ "msec", 1000 },
	{ "s", KS_USEC_PER_SEC },
	{ "sec", KS_USEC_PER_SEC },
	{ "second", KS_USEC_PER_SEC },
	{ "seconds", KS_USEC_PER_SEC },
	{ "m", USEC_PER_MINUTE },
	{ "min", USEC_PER_MINUTE },
	{ "minute", USEC_PER_MINUTE },
	{ "minutes", USEC_PER_MINUTE },
	{ "h", USEC_PER_HOUR },
	{ "hr", USEC_PER_HOUR },
	{ "hour", USEC_PER_HOUR },
	{ "hours", USEC_PER_HOUR },
	{ "d", USEC_PER_DAY },
	{ "day", USEC_PER_DAY },
	{ "days", USEC_PER_DAY },
	{ "w", 7 * USEC_PER_DAY },
	{ "week", 7 * USEC_PER_DAY },
	{ "weeks", 7 * USEC_PER_DAY },
	{ "M", 2629800 * KS_USEC_PER_SEC },
	{ "month", 2629800 * KS_USEC_PER_SEC },
	{ "months", 2629800 * KS_USEC_PER_SEC },
	{ "y", 31557600 * KS_USEC_PER_SEC },
	{ "year", 31557600 * KS_USEC_PER_SEC },
	{ "years", 31557600 * KS_USEC_PER_SEC },
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The multiplier of the unit spelled by the len letters at s; no letters
 * means seconds. Unit names are case-sensitive: "m" is a minute, "M" a month. */
static int unit_usec(const char *s, size_t len, uint64_t *usec)
{
	if (len == 0) {
		*usec = KS_USEC_PER_SEC;
		return 0;
	}
	for (size_t i = 0; i < sizeof(time_units) / sizeof(time_units[0]); i++) {
		if (strlen(time_units[i].name) == len && memcmp(time_units[i].name, s, len) == 0) {
			*usec = time_units[i].usec;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * One "<number>[<unit>]" part at *p. The number is decimal digits with an
 * optional fraction ("1.5h", like systemd); both sides of the point need a
 * digit. Fraction digits finer than a microsecond are dropped.
 */
static int parse_part(const char **p, uint64_t *usec)
{
	const char *s = *p, *frac = NULL, *unit;
	uint64_t whole = 0, mult, sum;
	size_t nfrac = 0, nunit = 0;
	int r;

	if (*s == '-')
		return -ERANGE;
	if (!is_digit(*s))
		return -EINVAL;
	for (; is_digit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (whole > (UINT64_MAX - d) / 10)
			return -ERANGE;
		whole = whole * 10 + d;
	}
	if (*s == '.') {
		frac = ++s;
		while (is_digit(s[nfrac]))
			nfrac++;
		if (nfrac == 0)
			return -EINVAL;
		s += nfrac;
	}
	while (is_blank(*s))
		s++;
	unit = s;
	while (is_alpha(unit[nunit]))
		nunit++;
	r = unit_usec(unit, nunit, &mult);
	if (r < 0)
		return r;

	if (whole > UINT64_MAX / mult)
		return -ERANGE;
	sum = whole * mult;
	for (size_t i = 0; i < nfrac && mult >= 10; i++) {
		uint64_t add;

		mult /= 10;
		add = (uint64_t)(frac[i] - '0') * mult;
		if (sum > UINT64_MAX - add)
			return -ERANGE;
		sum += add;
	}
	*usec = sum;
	*p = unit + nunit;
	return 0;
}

int ks_parse_timespan(const char *s, uint64_t *usec)
{
	uint64_t total = 0;
	bool any = false;

	if (!s)
		return -EINVAL;
	for (;;) {
		uint64_t part;
		int r;

		while (is_blank(*s))
			s++;
		if (*s == '\0')
			break;
		r = parse_part(&s, &part);
		if (r < 0)
			return r;
		if (total > UINT64_MAX - part)
			return -ERANGE;
		total += part;
		any = true;
	}
	if (!any)
		return -EINVAL;
	*usec = total;
	return 0;
}

int ks_parse_bool(const char *s, bool *b)
{
	if (!s)
		return -EINVAL;
	if (strcmp(s, "1") == 0 || strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 ||
	    strcasecmp(s, "on") == 0) {
		*b = true;
		return 0;
	}
	if (strcmp(s, "0") == 0 || strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0 ||
	    strcasecmp(s, "off") == 0) {
		*b = false;
		return 0;
	}
	return -EINVAL;
}
