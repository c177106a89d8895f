/*
 * POST /v1/authorize and POST /v1/reverse: the issuer's authorization
 * decisions, which the payment gateway will ask for when it has opened a
 * cardholder's payment instruction (SET's AuthReq/AuthRevReq reach the
 * issuer this way).
 *
 * An approval places a hold: it reserves the amount on the card account
 * until it is captured, reversed or expires, without touching the ledger
 * (a hold is a promise, not money moved). Available credit is the credit
 * limit, less the balance owed (from the ledger), less the active holds
 * that have not expired. A decline names its reason. The checks run in
 * this order: a test amount's forced decline, card number, expiry, CVV
 * (when sent), the card's status, its expiry date, currency, the
 * per-transaction limit, the available credit.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hex.h"
#include "issuer.h"
#include "log.h"
#include "pan.h"
#include "xmalloc.h"

static const char *const authorize_reasons[] = { "insufficient-funds",
	"expired-card", "wrong-cvv", "wrong-expiry", "lost-or-stolen",
	"blocked", "unknown-card", "over-limit", "closed", "currency-mismatch",
	NULL };

int
authorize_reason_ok(const char *reason)
{
	size_t i;

	for (i = 0; authorize_reasons[i] != NULL; i++)
		if (strcmp(authorize_reasons[i], reason) == 0)
			return 1;
	return 0;
}

int
authorize_parse(const unsigned char *body, size_t len, struct authorize_req *r,
    char *err, size_t errlen)
{
	const struct api_field fields[] = {
		{ "request_id", API_STRING, 1, r->request_id,
		    sizeof(r->request_id), api_request_id_ok, "8-64 hex digits",
		    NULL, NULL },
		{ "pan", API_STRING, 1, r->pan, sizeof(r->pan),
		    api_pan_syntax_ok, "13-19 digits", NULL, NULL },
		{ "expiry", API_STRING, 1, r->expiry, sizeof(r->expiry),
		    pan_expiry_ok, "the form YYYY-MM", NULL, NULL },
		{ "cvv", API_STRING, 0, r->cvv, sizeof(r->cvv), api_cvv_ok,
		    "3 or 4 digits", NULL, &r->has_cvv },
		{ "amount", API_AMOUNT, 1, NULL, 0, NULL, NULL, &r->amount,
		    NULL },
		{ "currency", API_STRING, 1, r->currency, sizeof(r->currency),
		    issuer_currency_ok, "3 upper-case letters (ISO 4217)", NULL,
		    NULL },
		{ "merchant_id", API_STRING, 1, r->merchant_id,
		    sizeof(r->merchant_id), api_text_ok, "1-64 characters",
		    NULL, NULL },
	};

	memset(r, 0, sizeof(*r));
	return api_parse(
	    body, len, fields, sizeof(fields) / sizeof(fields[0]), err, errlen);
}

static json_t *
authorize_decline(const struct authorize_req *r, const char *masked,
    const char *reason, const char *message)
{
	log_info("authorize %s %lld %s for %s: declined: %s", masked, r->amount,
	    r->currency, r->merchant_id, reason);
	return json_pack("{s:s, s:s, s:s}", "result", "declined", "reason",
	    reason, "message", message);
}

/* Six characters from A-Z and 0-9, without modulo bias. */
static void
authorize_code(char out[7])
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char b;
	size_t i = 0;

	while (i < 6) {
		if (RAND_bytes(&b, 1) != 1)
			log_fatalx("RAND_bytes failed");
		if (b < 252)
			out[i++] = set[b % 36];
	}
	out[6] = '\0';
}

static int
authorize_hold(struct issuer *is, const struct authorize_req *r,
    const struct account *a, const char *id, const char *code, time_t now,
    time_t expires)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(is->store,
	    "INSERT INTO holds (id, account_id, "
	    "auth_code, amount, remaining, currency, merchant_id, request_id, "
	    "status, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
	    "'active', ?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, a->id);
	sqlite3_bind_text(st, 3, code, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, r->amount);
	sqlite3_bind_int64(st, 5, r->amount);
	sqlite3_bind_text(st, 6, r->currency, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, r->merchant_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, r->request_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)expires);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

static json_t *
authorize_internal(int *status)
{
	*status = 500;
	return api_error("internal",
	    "the issuer could not record the "
	    "decision; nothing was authorized, try again");
}

json_t *
authorize_decide(
    struct issuer *is, const struct authorize_req *r, time_t now, int *status)
{
	const struct issuer_magic *magic;
	char masked[24], cvv_hash[ISSUER_HASH_LEN], code[7], *both, *id;
	long long balance, held, available;
	struct account a;
	time_t expires;
	json_t *reply;
	int rc;

	pan_mask(r->pan, masked, sizeof(masked));
	*status = 200;
	if ((magic = issuer_magic_find(is, r->amount)) != NULL &&
	    magic->decline != NULL)
		return authorize_decline(r, masked, magic->decline,
		    "declined on purpose: a test amount (the "
		    "issuer's test section)");
	if ((rc = account_find(is, r->pan, &a)) == -1)
		return authorize_internal(status);
	if (rc == 1)
		return authorize_decline(r, masked, "unknown-card",
		    "this card number is not one of ours");
	if (strcmp(r->expiry, a.expiry) != 0)
		return authorize_decline(r, masked, "wrong-expiry",
		    "the expiry date does not match the card");
	if (r->has_cvv) {
		both = xasprintf("%s|%s", r->pan, r->cvv);
		issuer_hmac(is, "cvv", both, strlen(both), cvv_hash);
		freezero_buf(both, strlen(both));
		if (CRYPTO_memcmp(cvv_hash, a.cvv_hash, sizeof(cvv_hash)) != 0)
			return authorize_decline(r, masked, "wrong-cvv",
			    "the card security code does not match");
	}
	if (strcmp(a.status, ACCOUNT_CLOSED) == 0)
		return authorize_decline(
		    r, masked, "closed", "the card account is closed");
	if (strcmp(a.status, ACCOUNT_LOST) == 0 ||
	    strcmp(a.status, ACCOUNT_STOLEN) == 0)
		return authorize_decline(r, masked, "lost-or-stolen",
		    "the card was reported lost or stolen");
	if (strcmp(a.status, ACCOUNT_BLOCKED) == 0)
		return authorize_decline(
		    r, masked, "blocked", "the card is blocked by the bank");
	if (account_expired(a.expiry, now))
		return authorize_decline(
		    r, masked, "expired-card", "the card has expired");
	if (strcmp(r->currency, a.currency) != 0)
		return authorize_decline(r, masked, "currency-mismatch",
		    "the card account is kept in another currency");
	if (a.per_tx > 0 && r->amount > a.per_tx)
		return authorize_decline(r, masked, "over-limit",
		    "the amount is over the card's per-transaction limit");
	if (account_funds(is, &a, now, &balance, &held, &available) == -1)
		return authorize_internal(status);
	if (r->amount > available)
		return authorize_decline(r, masked, "insufficient-funds",
		    "not enough available credit");

	id = hex_random(16);
	authorize_code(code);
	expires = now + (time_t)is->set.hold_secs;
	if (authorize_hold(is, r, &a, id, code, now, expires) == -1) {
		free(id);
		return authorize_internal(status);
	}
	log_info("authorize %s %lld %s for %s: approved %s, hold %s", masked,
	    r->amount, r->currency, r->merchant_id, code, id);
	reply = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I}", "result",
	    "approved", "auth_code", code, "hold_id", id, "amount",
	    (json_int_t)r->amount, "currency", r->currency, "expires_at",
	    (json_int_t)expires);
	free(id);
	return reply;
}

int
reverse_parse(const unsigned char *body, size_t len, struct reverse_req *r,
    char *err, size_t errlen)
{
	const struct api_field fields[] = {
		{ "request_id", API_STRING, 1, r->request_id,
		    sizeof(r->request_id), api_request_id_ok, "8-64 hex digits",
		    NULL, NULL },
		{ "hold_id", API_STRING, 1, r->hold_id, sizeof(r->hold_id),
		    api_request_id_ok, "8-64 hex digits", NULL, NULL },
		{ "amount", API_AMOUNT, 0, NULL, 0, NULL, NULL, &r->amount,
		    NULL },
	};

	memset(r, 0, sizeof(*r));
	return api_parse(
	    body, len, fields, sizeof(fields) / sizeof(fields[0]), err, errlen);
}

/*
 * Releases all of a hold, or part of it with "amount". An expired hold
 * already holds nothing; reversing it closes it.
 */
json_t *
reverse_decide(
    struct issuer *is, const struct reverse_req *r, time_t now, int *status)
{
	sqlite3_stmt *st;
	char currency[8] = "", *msg;
	long long remaining = 0, release, left;
	json_t *reply;
	int rc, active = 0;

	st = store_prepare(is->store,
	    "SELECT remaining, currency, "
	    "status = 'active' AND expires_at > ? FROM holds WHERE id = ?");
	if (st == NULL)
		return authorize_internal(status);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	sqlite3_bind_text(st, 2, r->hold_id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		remaining = sqlite3_column_int64(st, 0);
		snprintf(currency, sizeof(currency), "%s",
		    sqlite3_column_text(st, 1));
		active = sqlite3_column_int(st, 2);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		*status = 404;
		log_info("reverse %s: no such hold", r->hold_id);
		return api_error("not-found", "no hold with this hold_id");
	}
	if (rc != SQLITE_ROW)
		return authorize_internal(status);
	if (!active)
		remaining = 0;
	release = r->amount > 0 ? r->amount : remaining;
	if (release > remaining) {
		*status = 422;
		msg = xasprintf(
		    "the hold has only %lld %s left", remaining, currency);
		log_info("reverse %s: %lld asked, %lld left", r->hold_id,
		    release, remaining);
		reply = json_pack("{s:s, s:s, s:I}", "error", "exceeds-hold",
		    "message", msg, "remaining", (json_int_t)remaining);
		free(msg);
		return reply;
	}
	left = remaining - release;
	st = store_prepare(is->store,
	    "UPDATE holds SET remaining = ?, "
	    "status = CASE WHEN ? = 0 AND status = 'active' THEN 'reversed' "
	    "ELSE status END, closed_at = CASE WHEN ? = 0 THEN coalesce("
	    "closed_at, ?) END WHERE id = ?");
	if (st == NULL)
		return authorize_internal(status);
	sqlite3_bind_int64(st, 1, left);
	sqlite3_bind_int64(st, 2, left);
	sqlite3_bind_int64(st, 3, left);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)now);
	sqlite3_bind_text(st, 5, r->hold_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return authorize_internal(status);
	*status = 200;
	log_info("reverse %s: released %lld %s, %lld left", r->hold_id, release,
	    currency, left);
	return json_pack("{s:s, s:s, s:I, s:I, s:s}", "result", "reversed",
	    "hold_id", r->hold_id, "remaining", (json_int_t)left, "released",
	    (json_int_t)release, "currency", currency);
}
