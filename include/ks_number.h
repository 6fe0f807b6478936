/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_NUMBER_H
#define KS_NUMBER_H

/* The one strict decimal parser for what the kernel, a record or a file
 * writes: digits only, no sign, no blank, no overflow. */

#include <stddef.h>

/* Parses len bytes at s (1 to 20 digits, no NUL needed) as a number of at
 * most max. Returns 0 or -EINVAL. */
int ks_parse_decimal(const char *s, size_t len, unsigned long long max, unsigned long long *out);

#endif
