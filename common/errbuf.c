/* Reasons for the caller: see errbuf.h. */
#include <stdarg.h>
#include <stdio.h>

#include "errbuf.h"
#include "log.h"

void
errbuf_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void
errbuf_openssl(char *err, size_t errlen, const char *what)
{
	char reason[256];

	log_openssl(what, reason, sizeof(reason));
	if (reason[0] != '\0')
		errbuf_set(err, errlen, "%s: %s", what, reason);
	else
		errbuf_set(err, errlen, "%s", what);
}
