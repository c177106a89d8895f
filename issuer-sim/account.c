/*
 * Card accounts. A card number is never stored: the database keeps an HMAC
 * of it (keyed with keys/card.key) to find the account, and its first six
 * and last four digits to show it; the CVV only as an HMAC over the card
 * number and the CVV, so equal CVVs of two cards do not look alike; the
 * expiry in clear. Each card account has its own account in the ledger,
 * whose balance is what the cardholder owes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "errbuf.h"
#include "issuer.h"
#include "log.h"
#include "pan.h"
#include "xmalloc.h"

#define ACCOUNT_COLUMNS                                                        \
	"id, ledger_id, pan_first6, pan_last4, pan_len, expiry, cvv_hash, "    \
	"holder, postcode, currency, credit_limit, per_tx_limit, status, "     \
	"opened_at"

int
account_pan_ok(const char *pan)
{
	return pan_luhn_ok(pan, strlen(pan));
}

/* n random decimal digits into out (no modulo bias). */
static void
account_random_digits(char *out, size_t n)
{
	unsigned char b;
	size_t i = 0;

	while (i < n) {
		if (RAND_bytes(&b, 1) != 1)
			log_fatalx("RAND_bytes failed");
		if (b < 250)
			out[i++] = (char)('0' + b % 10);
	}
	out[n] = '\0';
}

static void
account_mask(
    const char *first6, const char *last4, int len, char *out, size_t outlen)
{
	int stars = len - 10, i;
	size_t o = 0;

	o += (size_t)snprintf(out, outlen, "%s", first6);
	for (i = 0; i < stars && o + 1 < outlen; i++)
		out[o++] = '*';
	snprintf(out + o, outlen - o, "%s", last4);
}

static int
account_exists(struct issuer *is, const char *pan_hash)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(
	    is->store, "SELECT 1 FROM accounts WHERE pan_hash = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, pan_hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* The default expiry: this month, expiry_years on. */
static void
account_default_expiry(struct issuer *is, time_t now, char out[8])
{
	struct tm tm;

	gmtime_r(&now, &tm);
	snprintf(out, 8, "%04u-%02u",
	    (unsigned)(tm.tm_year + 1900 + is->expiry_years) % 10000u,
	    (unsigned)tm.tm_mon % 12u + 1u);
}

int
account_expired(const char *expiry, time_t now)
{
	struct tm tm;
	int y, m;

	if (!pan_expiry_ok(expiry))
		return 1;
	y = atoi(expiry);
	m = atoi(expiry + 5);
	gmtime_r(&now, &tm);
	return tm.tm_year + 1900 > y ||
	    (tm.tm_year + 1900 == y && tm.tm_mon + 1 > m);
}

/* Checks a spec and fills in the defaults. */
static int
account_spec_check(struct issuer *is, const struct account_spec *sp,
    const char **bin, const char **currency, char *err, size_t errlen)
{
	size_t i;

	if (!api_text_ok(sp->holder) || strlen(sp->postcode) == 0 ||
	    strlen(sp->postcode) > 16 || !api_text_ok(sp->postcode)) {
		errbuf_set(err, errlen,
		    "the holder's name must be 1-64 "
		    "printable characters and the postcode 1-16");
		return -1;
	}
	*currency = sp->currency != NULL ? sp->currency : is->currency;
	if (!issuer_currency_ok(*currency)) {
		errbuf_set(err, errlen,
		    "currency: expected an ISO 4217 code "
		    "such as EUR");
		return -1;
	}
	if (sp->limit < 0 || sp->limit > ISSUER_MAX_AMOUNT || sp->per_tx < 0 ||
	    sp->per_tx > ISSUER_MAX_AMOUNT) {
		errbuf_set(err, errlen,
		    "limits are amounts from 0 to %lld "
		    "minor units",
		    ISSUER_MAX_AMOUNT);
		return -1;
	}
	*bin = sp->bin != NULL ? sp->bin : is->bins[0];
	if (!issuer_bin_ok(is, *bin)) {
		errbuf_set(
		    err, errlen, "BIN %s is not one of this issuer's", *bin);
		return -1;
	}
	if (sp->pan != NULL) {
		for (i = 0; i < is->nbins; i++)
			if (strncmp(
			        sp->pan, is->bins[i], strlen(is->bins[i])) == 0)
				break;
		if (i == is->nbins || strlen(sp->pan) != ISSUER_PAN_LEN ||
		    !account_pan_ok(sp->pan)) {
			errbuf_set(err, errlen,
			    "a card number must be 16 "
			    "Luhn-valid digits in one of the issuer's BINs");
			return -1;
		}
	}
	if (sp->cvv != NULL && !api_cvv_ok(sp->cvv)) {
		errbuf_set(err, errlen, "a CVV is 3 or 4 digits");
		return -1;
	}
	return 0;
}

static int
account_insert(struct issuer *is, const struct account_spec *sp,
    const char *pan, const char *pan_hash, const char *cvv_hash,
    const char *expiry, const char *currency, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char first6[7], masked[24];
	long long ledger;
	time_t now = time(NULL);
	int rc;

	memcpy(first6, pan, 6);
	first6[6] = '\0';
	account_mask(first6, pan + strlen(pan) - 4, (int)strlen(pan), masked,
	    sizeof(masked));
	if (ledger_card_account(is, pan_hash, masked, currency, &ledger) ==
	    -1) {
		errbuf_set(err, errlen, "cannot make the ledger account: %s",
		    sqlite3_errmsg(store_db(is->store)));
		return -1;
	}
	st = store_prepare(is->store,
	    "INSERT INTO accounts (ledger_id, pan_hash, pan_first6, "
	    "pan_last4, pan_len, expiry, cvv_hash, holder, postcode, "
	    "currency, credit_limit, per_tx_limit, status, demo, opened_at, "
	    "status_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "?)");
	if (st == NULL) {
		errbuf_set(err, errlen, "cannot record the account");
		return -1;
	}
	sqlite3_bind_int64(st, 1, ledger);
	sqlite3_bind_text(st, 2, pan_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, first6, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, pan + strlen(pan) - 4, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, (int)strlen(pan));
	sqlite3_bind_text(st, 6, expiry, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, cvv_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, sp->holder, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, sp->postcode, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, currency, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, sp->limit);
	sqlite3_bind_int64(st, 12, sp->per_tx);
	sqlite3_bind_text(st, 13, sp->status ? sp->status : ACCOUNT_ACTIVE, -1,
	    SQLITE_STATIC);
	sqlite3_bind_int(st, 14, sp->demo);
	sqlite3_bind_int64(st, 15, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 16, (sqlite3_int64)now);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	if (rc == -1)
		errbuf_set(err, errlen, "cannot record the account: %s",
		    sqlite3_errmsg(store_db(is->store)));
	sqlite3_reset(st);
	return rc;
}

int
account_open(struct issuer *is, const struct account_spec *sp,
    char pan[ISSUER_PAN_LEN + 4], char cvv[5], char expiry[8], char *err,
    size_t errlen)
{
	char pan_hash[ISSUER_HASH_LEN], cvv_hash[ISSUER_HASH_LEN];
	const char *bin, *currency;
	char *both;
	size_t binlen;
	int tries, e;

	if (account_spec_check(is, sp, &bin, &currency, err, errlen) == -1)
		return -1;
	if (sp->expiry != NULL) {
		if (!pan_expiry_ok(sp->expiry) ||
		    (!sp->demo && account_expired(sp->expiry, time(NULL)))) {
			errbuf_set(err, errlen,
			    "expiry: expected YYYY-MM, this "
			    "month or later");
			return -1;
		}
		snprintf(expiry, 8, "%s", sp->expiry);
	} else
		account_default_expiry(is, time(NULL), expiry);

	binlen = strlen(bin);
	for (tries = 0;; tries++) {
		if (tries == 20) {
			errbuf_set(err, errlen,
			    "no free card number found in BIN "
			    "%s",
			    bin);
			return -1;
		}
		if (sp->pan != NULL)
			snprintf(pan, ISSUER_PAN_LEN + 1, "%s", sp->pan);
		else {
			memcpy(pan, bin, binlen);
			account_random_digits(
			    pan + binlen, ISSUER_PAN_LEN - 1 - binlen);
			pan[ISSUER_PAN_LEN - 1] =
			    pan_luhn_digit(pan, ISSUER_PAN_LEN - 1);
			pan[ISSUER_PAN_LEN] = '\0';
		}
		issuer_hmac(is, "pan", pan, strlen(pan), pan_hash);
		if ((e = account_exists(is, pan_hash)) == -1) {
			errbuf_set(err, errlen, "cannot read the accounts");
			return -1;
		}
		if (e == 0)
			break;
		if (sp->pan != NULL) {
			errbuf_set(err, errlen, "that card number is taken");
			return -1;
		}
	}
	if (sp->cvv != NULL)
		snprintf(cvv, 5, "%s", sp->cvv);
	else
		account_random_digits(cvv, 3);
	both = xasprintf("%s|%s", pan, cvv);
	issuer_hmac(is, "cvv", both, strlen(both), cvv_hash);
	freezero_buf(both, strlen(both));
	return account_insert(
	    is, sp, pan, pan_hash, cvv_hash, expiry, currency, err, errlen);
}

static void
account_from_row(sqlite3_stmt *st, struct account *a)
{
	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(st, 0);
	a->ledger = sqlite3_column_int64(st, 1);
	account_mask((const char *)sqlite3_column_text(st, 2),
	    (const char *)sqlite3_column_text(st, 3), sqlite3_column_int(st, 4),
	    a->masked, sizeof(a->masked));
	snprintf(a->expiry, sizeof(a->expiry), "%s",
	    (const char *)sqlite3_column_text(st, 5));
	snprintf(a->cvv_hash, sizeof(a->cvv_hash), "%s",
	    (const char *)sqlite3_column_text(st, 6));
	snprintf(a->holder, sizeof(a->holder), "%s",
	    (const char *)sqlite3_column_text(st, 7));
	snprintf(a->postcode, sizeof(a->postcode), "%s",
	    (const char *)sqlite3_column_text(st, 8));
	snprintf(a->currency, sizeof(a->currency), "%s",
	    (const char *)sqlite3_column_text(st, 9));
	a->limit = sqlite3_column_int64(st, 10);
	a->per_tx = sqlite3_column_int64(st, 11);
	snprintf(a->status, sizeof(a->status), "%s",
	    (const char *)sqlite3_column_text(st, 12));
	a->opened_at = (time_t)sqlite3_column_int64(st, 13);
}

int
account_find(struct issuer *is, const char *pan, struct account *a)
{
	char hash[ISSUER_HASH_LEN];
	sqlite3_stmt *st;
	int rc;

	if (!account_pan_ok(pan))
		return 1;
	issuer_hmac(is, "pan", pan, strlen(pan), hash);
	st = store_prepare(is->store,
	    "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE pan_hash = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		account_from_row(st, a);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

int
account_by_id(struct issuer *is, long long id, struct account *a)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(
	    is->store, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		account_from_row(st, a);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

/* Which status may follow which. */
static int
account_transition_ok(const char *from, const char *to)
{
	if (strcmp(from, ACCOUNT_CLOSED) == 0)
		return 0;
	if (strcmp(to, ACCOUNT_ACTIVE) == 0)
		return strcmp(from, ACCOUNT_BLOCKED) == 0;
	if (strcmp(to, ACCOUNT_BLOCKED) == 0)
		return strcmp(from, ACCOUNT_ACTIVE) == 0;
	if (strcmp(to, ACCOUNT_LOST) == 0 || strcmp(to, ACCOUNT_STOLEN) == 0)
		return strcmp(from, ACCOUNT_ACTIVE) == 0 ||
		    strcmp(from, ACCOUNT_BLOCKED) == 0;
	return strcmp(to, ACCOUNT_CLOSED) == 0;
}

int
account_set_status(struct issuer *is, struct account *a, const char *status,
    char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc;

	if (!account_transition_ok(a->status, status)) {
		if (strcmp(a->status, ACCOUNT_LOST) == 0 ||
		    strcmp(a->status, ACCOUNT_STOLEN) == 0)
			errbuf_set(err, errlen,
			    "the card is %s: it can only be "
			    "closed (issue a new card)",
			    a->status);
		else
			errbuf_set(err, errlen,
			    "the card is %s: it cannot "
			    "become %s",
			    a->status, status);
		return -1;
	}
	st = store_prepare(is->store,
	    "UPDATE accounts SET status = ?, "
	    "status_at = ? WHERE id = ?");
	if (st == NULL) {
		errbuf_set(err, errlen, "cannot update the account");
		return -1;
	}
	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
	sqlite3_bind_int64(st, 3, a->id);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	if (rc == -1) {
		errbuf_set(err, errlen, "cannot update the account: %s",
		    sqlite3_errmsg(store_db(is->store)));
		return -1;
	}
	snprintf(a->status, sizeof(a->status), "%s", status);
	return 0;
}

int
account_funds(struct issuer *is, const struct account *a, time_t now,
    long long *balance, long long *held, long long *available)
{
	sqlite3_stmt *st;
	int rc;

	if (ledger_balance(is, a->ledger, balance) == -1)
		return -1;
	/* An expired hold no longer counts, whether or not anything has
	 * marked it yet. */
	st = store_prepare(is->store,
	    "SELECT coalesce(sum(remaining), 0) "
	    "FROM holds WHERE account_id = ? AND status = 'active' AND "
	    "expires_at > ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, a->id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*held = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return -1;
	*available = a->limit - *balance - *held;
	return 0;
}
