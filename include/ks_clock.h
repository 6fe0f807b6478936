/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_CLOCK_H
#define KS_CLOCK_H

/* The one clock every bound is measured on: CLOCK_MONOTONIC in usec. */

#include <stdint.h>

#define KS_USEC_PER_SEC 1000000ULL

/* Now. UINT64_MAX if the clock cannot be read (it cannot fail on Linux):
 * every deadline then looks passed, which fails safe. */
uint64_t ks_now_usec(void);

#endif
