/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "ks_number.h"

int ks_parse_decimal(const char *s, size_t len, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (len == 0 || len > 20)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}
