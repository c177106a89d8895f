/*
 * Money for people. Every amount in this project is an integer count of
 * minor units with an ISO 4217 currency; these functions print one in major
 * units ("1999", "EUR" -> "19.99 EUR") with integer arithmetic only, using
 * the currency's minor-unit exponent (0 for JPY, 3 for KWD, 4 for CLF, else
 * 2). Nothing here ever goes through a float.
 */
#ifndef MONEY_H
#define MONEY_H

#include <stddef.h>

/* The currency's ISO 4217 minor-unit exponent (2 when unknown). */
int money_exponent(const char *currency);

/* "19.99" (the number only). */
void money_digits(long long minor, const char *currency, char *buf, size_t len);

/* "19.99 EUR". */
void money_format(long long minor, const char *currency, char *buf, size_t len);

#endif
