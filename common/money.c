/* Printing amounts in major units, integers only: see money.h. */
#include <stdio.h>
#include <string.h>

#include "money.h"

int
money_exponent(const char *currency)
{
	static const char zero[] = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF "
	                           "UGX UYI VND VUV XAF XOF XPF";
	static const char three[] = "BHD IQD JOD KWD LYD OMR TND";
	static const char four[] = "CLF UYW";

	if (currency == NULL || strlen(currency) != 3 ||
	    strspn(currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
		return 2;
	if (strstr(zero, currency) != NULL)
		return 0;
	if (strstr(three, currency) != NULL)
		return 3;
	if (strstr(four, currency) != NULL)
		return 4;
	return 2;
}

void
money_digits(long long minor, const char *currency, char *buf, size_t len)
{
	unsigned long long a, unit = 1;
	int e = money_exponent(currency), i;

	a = minor < 0 ? 0ULL - (unsigned long long)minor
	              : (unsigned long long)minor;
	for (i = 0; i < e; i++)
		unit *= 10;
	if (e == 0)
		snprintf(buf, len, "%s%llu", minor < 0 ? "-" : "", a);
	else
		snprintf(buf, len, "%s%llu.%0*llu", minor < 0 ? "-" : "",
		    a / unit, e, a % unit);
}

void
money_format(long long minor, const char *currency, char *buf, size_t len)
{
	char digits[32];

	money_digits(minor, currency, digits, sizeof(digits));
	snprintf(buf, len, "%s %s", digits, currency);
}
