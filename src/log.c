/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>

#include "ks_log.h"

void ks_log(const struct ks_log *log, int priority, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!log || !log->sink)
		return;
	if (priority == LOG_DEBUG && !log->debug)
		return;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log->sink(log->ctx, priority, line);
}
