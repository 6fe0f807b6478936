/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <time.h>

#include "ks_clock.h"

uint64_t ks_now_usec(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return UINT64_MAX;
	return (uint64_t)ts.tv_sec * KS_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000ULL;
}
