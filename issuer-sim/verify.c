/*
 * POST /v1/verify-card: the CA asks, during a cardholder's registration,
 * whether the card details the applicant typed belong to one of our cards
 * (SET's RegFormReq/CertReq: the issuer vouches for its own cardholder).
 * The answer is "verified" or "refused" with a reason; verifying changes
 * nothing but is still answered from the reply cache when repeated. The CA
 * sends the fields its issuers table asks for: the number and expiry
 * always, the CVV, name and postcode when listed there; this issuer
 * checks each one sent and insists on those in its verify.required.
 *
 * The checks run in this order, so a caller who does not hold the card's
 * data learns no more than "unknown card", "wrong expiry" or "wrong CVV":
 * card number, expiry, CVV, the card's status, its expiry date, then the
 * holder's name and postcode.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "issuer.h"
#include "log.h"
#include "pan.h"
#include "xmalloc.h"

static int
verify_postcode_ok(const char *s)
{
	return strlen(s) <= 16 && api_text_ok(s);
}

int
verify_parse(const unsigned char *body, size_t len, unsigned required,
    struct verify_req *r, char *err, size_t errlen)
{
	const struct api_field fields[] = {
		{ "request_id", API_STRING, 1, r->request_id,
		    sizeof(r->request_id), api_request_id_ok, "8-64 hex digits",
		    NULL, NULL },
		{ "pan", API_STRING, 1, r->pan, sizeof(r->pan),
		    api_pan_syntax_ok, "13-19 digits", NULL, NULL },
		{ "expiry", API_STRING, 1, r->expiry, sizeof(r->expiry),
		    pan_expiry_ok, "the form YYYY-MM", NULL, NULL },
		{ "cvv", API_STRING, (required & VERIFY_CVV) != 0, r->cvv,
		    sizeof(r->cvv), api_cvv_ok, "3 or 4 digits", NULL,
		    &r->has_cvv },
		{ "name", API_STRING, (required & VERIFY_NAME) != 0, r->name,
		    sizeof(r->name), api_text_ok, "1-64 characters", NULL,
		    &r->has_name },
		{ "postcode", API_STRING, (required & VERIFY_POSTCODE) != 0,
		    r->postcode, sizeof(r->postcode), verify_postcode_ok,
		    "1-16 characters", NULL, &r->has_postcode },
	};

	memset(r, 0, sizeof(*r));
	return api_parse(
	    body, len, fields, sizeof(fields) / sizeof(fields[0]), err, errlen);
}

/* Equal after trimming surrounding spaces; fold: ignoring ASCII case. */
static int
verify_same_text(const char *a, const char *b, int fold)
{
	size_t alen, blen;

	while (isspace((unsigned char)*a))
		a++;
	while (isspace((unsigned char)*b))
		b++;
	alen = strlen(a);
	blen = strlen(b);
	while (alen > 0 && isspace((unsigned char)a[alen - 1]))
		alen--;
	while (blen > 0 && isspace((unsigned char)b[blen - 1]))
		blen--;
	if (alen != blen)
		return 0;
	return fold ? strncasecmp(a, b, alen) == 0 : strncmp(a, b, alen) == 0;
}

static json_t *
verify_refuse(const char *masked, const char *reason, const char *message)
{
	log_info("verify-card %s: refused: %s", masked, reason);
	return json_pack("{s:s, s:s, s:s}", "result", "refused", "reason",
	    reason, "message", message);
}

json_t *
verify_decide(
    struct issuer *is, const struct verify_req *r, time_t now, int *status)
{
	char masked[24], cvv_hash[ISSUER_HASH_LEN], *both;
	struct account a;
	int rc;

	pan_mask(r->pan, masked, sizeof(masked));
	*status = 200;
	if ((rc = account_find(is, r->pan, &a)) == -1) {
		*status = 500;
		return api_error("internal",
		    "the issuer cannot read its "
		    "accounts; try again");
	}
	if (rc == 1)
		return verify_refuse(masked, "unknown-card",
		    "this card number is not one of ours");
	if (strcmp(r->expiry, a.expiry) != 0)
		return verify_refuse(masked, "wrong-expiry",
		    "the expiry date does not match the card");
	if (r->has_cvv) {
		both = xasprintf("%s|%s", r->pan, r->cvv);
		issuer_hmac(is, "cvv", both, strlen(both), cvv_hash);
		freezero_buf(both, strlen(both));
		if (CRYPTO_memcmp(cvv_hash, a.cvv_hash, sizeof(cvv_hash)) != 0)
			return verify_refuse(masked, "wrong-cvv",
			    "the card security code does not match");
	}
	if (strcmp(a.status, ACCOUNT_CLOSED) == 0)
		return verify_refuse(
		    masked, "card-closed", "the card account is closed");
	if (strcmp(a.status, ACCOUNT_LOST) == 0)
		return verify_refuse(
		    masked, "card-lost", "the card was reported lost");
	if (strcmp(a.status, ACCOUNT_STOLEN) == 0)
		return verify_refuse(
		    masked, "card-stolen", "the card was reported stolen");
	if (strcmp(a.status, ACCOUNT_BLOCKED) == 0)
		return verify_refuse(
		    masked, "card-blocked", "the card is blocked by the bank");
	if (account_expired(a.expiry, now))
		return verify_refuse(
		    masked, "card-expired", "the card has expired");
	if ((r->has_name && !verify_same_text(r->name, a.holder, 1)) ||
	    (r->has_postcode && !verify_same_text(r->postcode, a.postcode, 0)))
		return verify_refuse(masked, "details-mismatch",
		    "the cardholder's name or postcode does not match");
	log_info("verify-card %s: verified", masked);
	return json_pack("{s:s, s:s, s:s}", "result", "verified", "issuer",
	    is->name, "brand", is->brand);
}
