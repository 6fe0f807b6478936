/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_CLEANUP_H
#define KS_CLEANUP_H

/*
 * Scope-bound cleanup, in the style of systemd's _cleanup_: a variable
 * declared _cleanup_(freep) is freed when it goes out of scope, and
 * TAKE_PTR / TAKE_FD hand its ownership on. libsystemd's public headers
 * provide the sd-bus ones (sd_bus_message_unrefp, sd_bus_flush_close_unrefp,
 * sd_bus_error_free as a cleanup of an sd_bus_error).
 */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

/* Closes *fd if it is open; keeps errno, so that a caller may still read it. */
static inline void closep(const int *fd)
{
	if (*fd >= 0) {
		int saved = errno;

		(void)close(*fd);
		errno = saved;
	}
}

/* Returns *p and leaves NULL behind: the cleanup then has nothing to free. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) *ks_take_ptr_ = &(p);                                                \
		__typeof__(p) ks_take_val_ = *ks_take_ptr_;                                        \
		*ks_take_ptr_ = NULL;                                                              \
		ks_take_val_;                                                                      \
	})

/* Returns fd and leaves -1 behind. */
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int *ks_take_fdp_ = &(fd);                                                         \
		int ks_take_fd_ = *ks_take_fdp_;                                                   \
		*ks_take_fdp_ = -1;                                                                \
		ks_take_fd_;                                                                       \
	})

#endif
