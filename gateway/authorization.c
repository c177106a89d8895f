/*
 * AuthReq -> AuthRes: SET's authorization (Book 2, Payment Authorization),
 * the gateway's reason to exist.
 *
 * The merchant signs the AuthReq (setct-AuthReqTBS) and seals it to our
 * key-exchange certificate of the brand. Its body carries what the merchant
 * knows of the purchase (XID, LID-M, HOD, amount, currency, brand, H(OIData))
 * and, as baggage it cannot open, the cardholder's sealed payment
 * instruction and dual signature, plus the merchant's key-exchange
 * certificate for our answer.
 *
 * The data path runs one way, every check before anything is written:
 *
 *	the merchant's signature certificate (merchant id = its CN) and
 *	key-exchange certificate -> the RRPID reply cache (a repeat gets the
 *	stored AuthRes) -> the message's date -> open the PI and verify the
 *	dual signature over PIData and the merchant's H(OIData) -> the
 *	cardholder certificate -> the card number belongs to it (PAN
 *	blinding) -> the merchant's HOD, amount, currency and LID-M are the
 *	PI's (what binds the order to the payment) -> the PI is new and the
 *	XID not authorized yet -> route to the issuer and ask -> ONE
 *	transaction: the transaction and the reply -> the AuthRes, signed by
 *	us and sealed to the merchant.
 *
 * The reply cache comes before the date: a repeat changes nothing, and a
 * merchant that retries late (the gateway was down, the network cut) must
 * still learn the answer the gateway gave, or a held authorization would be
 * lost to it. Only a new request must be fresh.
 *
 * An issuer that does not answer gets the merchant an Error and nothing is
 * stored, so the merchant may retry; the request_id the issuer sees is
 * derived from the PI, so the retry is recognised there too. A decline is a
 * normal AuthRes, not an Error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "base64.h"
#include "cms.h"
#include "gateway.h"
#include "hex.h"
#include "log.h"
#include "payment.h"
#include "setcert.h"
#include "xmalloc.h"

/* The largest merchant key-exchange certificate accepted (DER). */
#define AUTHORIZATION_MAX_CERT 8192

/* Everything an AuthReq says, once read, and what the checks find. */
struct authreq {
	struct gateway_brand *b;
	const char *xid, *lid_m, *hod, *currency, *brand;
	long long amount;
	unsigned char hoi[32];
	unsigned char *pi, *dualsig, *kexder;
	size_t pilen, siglen, kexlen;
	X509 *kex; /* the merchant's key-exchange certificate */
	char merchant[65]; /* the signer's CN */
	/* From the payment instruction. */
	struct payment_pi p;
	unsigned char hpi[32];
	char hpi_hex[65];
	X509 *cardholder;
	STACK_OF(X509) *card_certs;
	char masked[24];
};

static void
authreq_clear(struct authreq *r)
{
	free(r->pi);
	free(r->dualsig);
	free(r->kexder);
	X509_free(r->kex);
	X509_free(r->cardholder);
	sk_X509_pop_free(r->card_certs, X509_free);
	payment_pi_clear(&r->p);
	memset(r, 0, sizeof(*r));
}

static int
authorization_hex(const char *s, size_t n)
{
	return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

/* The body holds these fields and nothing else. */
static int
authorization_keys(const struct msg *m, struct msg_error *e)
{
	static const char *const allowed[] = { "msg", "rrpid", "date", "xid",
		"lid_m", "hod", "amount", "currency", "brand", "hoi", "pi",
		"dualsig", "merchant_kex" };
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(m->json, key, v)
	{
		for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (i == sizeof(allowed) / sizeof(allowed[0]))
			return msg_fail(e, "malformed",
			    "AuthReq: unknown field \"%.32s\"", key);
	}
	return 0;
}

/* Reads and checks the form of every field. */
static int
authreq_read(struct gateway *gw, struct msg *m, struct gateway_brand *opened_by,
    struct authreq *r, struct msg_error *e)
{
	const char *hoi;
	json_t *amount;

	if (!m->sealed || opened_by == NULL)
		return msg_fail(e, "malformed",
		    "AuthReq must be sealed to the gateway's key-exchange "
		    "certificate");
	if (authorization_keys(m, e) == -1 ||
	    msg_str(m, "xid", NULL, 40, &r->xid, e) == -1 ||
	    msg_ident(m, "lid_m", &r->lid_m, e) == -1 ||
	    msg_str(m, "hod", NULL, 64, &r->hod, e) == -1 ||
	    msg_str(m, "currency", NULL, 3, &r->currency, e) == -1 ||
	    msg_ident(m, "brand", &r->brand, e) == -1 ||
	    msg_str(m, "hoi", NULL, 64, &hoi, e) == -1)
		return -1;
	if (!authorization_hex(r->xid, 40))
		return msg_fail(
		    e, "malformed", "AuthReq: \"xid\" must be 40 hex digits");
	if (!authorization_hex(r->hod, 64))
		return msg_fail(
		    e, "malformed", "AuthReq: \"hod\" must be 64 hex digits");
	if (!authorization_hex(hoi, 64) ||
	    hex_decode(hoi, r->hoi, sizeof(r->hoi)) == -1)
		return msg_fail(
		    e, "malformed", "AuthReq: \"hoi\" must be 64 hex digits");
	if (strlen(r->currency) != 3 ||
	    strspn(r->currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
		return msg_fail(e, "malformed",
		    "AuthReq: \"currency\" must be 3 upper-case letters");
	amount = json_object_get(m->json, "amount");
	if (!json_is_integer(amount) || json_integer_value(amount) < 1 ||
	    json_integer_value(amount) > PAYMENT_MAX_AMOUNT)
		return msg_fail(e, "malformed",
		    "AuthReq: \"amount\" must be an integer from 1 to %lld "
		    "(minor units)",
		    PAYMENT_MAX_AMOUNT);
	r->amount = (long long)json_integer_value(amount);
	if (msg_bytes(m, "pi", PAYMENT_MAX_PI, &r->pi, &r->pilen, e) == -1 ||
	    msg_bytes(m, "dualsig", PAYMENT_MAX_DUALSIG, &r->dualsig,
	        &r->siglen, e) == -1 ||
	    msg_bytes(m, "merchant_kex", AUTHORIZATION_MAX_CERT, &r->kexder,
	        &r->kexlen, e) == -1)
		return -1;
	if ((r->kex = setcert_from_der(r->kexder, r->kexlen)) == NULL)
		return msg_fail(e, "malformed",
		    "AuthReq: \"merchant_kex\" is not a DER certificate");
	if ((r->b = gateway_brand_find(gw, r->brand)) == NULL)
		return msg_fail(e, "unknown-brand",
		    "this gateway does not serve the brand %s", r->brand);
	if (r->b != opened_by)
		return msg_fail(e, "malformed",
		    "this AuthReq for %s was sealed to the key-exchange "
		    "certificate of %s",
		    r->b->name, opened_by->name);
	return 0;
}

/* Fills e for a certificate pki refused. */
static int
authorization_cert_fail(struct msg_error *e, const char *code, const char *what,
    X509 *x, enum pki_result res, const char *why)
{
	char *thumb = setcert_thumbprint(x);

	msg_fail(
	    e, code, "%s is refused: %s: %s", what, pki_result_code(res), why);
	snprintf(e->thumbprint, sizeof(e->thumbprint), "%s", thumb);
	free(thumb);
	return -1;
}

/*
 * The merchant: its signature certificate (role merchant, signing, the
 * brand of the request; chain, time, CRLs) names the merchant; its
 * key-exchange certificate must be the same merchant's, for the same brand.
 */
static int
authorization_merchant(
    struct gateway *gw, struct msg *m, struct authreq *r, struct msg_error *e)
{
	char why[256], kexcn[128];
	enum pki_result res;

	res = pki_verify(gw->pki, m->signer, m->certs, SETCERT_MER,
	    SETCERT_SIGN, r->b->name, NULL, why, sizeof(why));
	if (res != PKI_OK)
		return authorization_cert_fail(e, "bad-merchant-certificate",
		    "the merchant's signature certificate", m->signer, res,
		    why);
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(m->signer),
	        NID_commonName, r->merchant, sizeof(r->merchant)) <= 0 ||
	    strlen(r->merchant) == 0 ||
	    strspn(r->merchant,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789._-") != strlen(r->merchant))
		return msg_fail(e, "bad-merchant-certificate",
		    "the merchant's certificate names no usable merchant id");
	res = pki_verify(gw->pki, r->kex, m->certs, SETCERT_MER, SETCERT_KEYEX,
	    r->b->name, NULL, why, sizeof(why));
	if (res != PKI_OK)
		return authorization_cert_fail(e, "bad-merchant-kex",
		    "the merchant's key-exchange certificate", r->kex, res,
		    why);
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(r->kex),
	        NID_commonName, kexcn, sizeof(kexcn)) <= 0 ||
	    strcmp(kexcn, r->merchant) != 0)
		return msg_fail(e, "bad-merchant-kex",
		    "the merchant's key-exchange certificate belongs to "
		    "another merchant");
	return 0;
}

/* RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" as seconds; -1 when it is not. */
static int
authorization_date(const char *s, time_t *out)
{
	struct tm tm;
	int n = 0;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != 20 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon,
	        &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 20 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = timegm(&tm);
	return 0;
}

static int
authorization_fresh(
    struct gateway *gw, const struct msg *m, struct msg_error *e)
{
	time_t t, now = time(NULL);
	long long skew;

	if (authorization_date(m->date, &t) == -1)
		return msg_fail(e, "malformed",
		    "AuthReq: \"date\" must be RFC 3339 UTC "
		    "(YYYY-MM-DDTHH:MM:SSZ)");
	skew = (long long)now - (long long)t;
	if (skew > gw->set.message_age || -skew > gw->set.message_age)
		return msg_fail(e, "stale",
		    "the AuthReq is dated %s, more than %lld seconds from "
		    "the gateway's clock",
		    m->date, gw->set.message_age);
	return 0;
}

/* The payment instruction, the cardholder and the binding to the order. */
static int
authorization_pi(struct gateway *gw, struct authreq *r, struct msg_error *e)
{
	char why[256], *hex;
	enum pki_result res;

	/* Which half is wrong tells the merchant what to look at. */
	switch (payment_pi_open(r->pi, r->pilen, r->b->kex, r->b->kexkey,
	    r->dualsig, r->siglen, r->hoi, r->merchant, r->xid, &r->p, r->hpi,
	    &r->cardholder, &r->card_certs, why, sizeof(why))) {
	case 0:
		break;
	case PAYMENT_ERR_SIGNATURE:
		return msg_fail(e, "bad-dual-signature",
		    "the dual signature does not bind this payment instruction "
		    "to this order, merchant and XID: %s",
		    why);
	case PAYMENT_ERR_ENVELOPE:
		return msg_fail(e, "bad-pi",
		    "the payment instruction does not open: %s", why);
	default:
		return msg_fail(e, "bad-pi", "%s", why);
	}
	pan_mask(r->p.pan, r->masked, sizeof(r->masked));
	res = pki_verify(gw->pki, r->cardholder, r->card_certs, SETCERT_CARD,
	    SETCERT_SIGN, r->b->name, NULL, why, sizeof(why));
	if (res != PKI_OK)
		return authorization_cert_fail(e, "bad-cardholder-certificate",
		    "the cardholder certificate", r->cardholder, res, why);
	if (!payment_pan_matches(&r->p, r->cardholder))
		return msg_fail(e, "pan-mismatch",
		    "the card number in the payment instruction does not "
		    "belong to the cardholder certificate that signed it");
	/* What binds order to payment: the merchant asks for exactly what
	 * the cardholder signed. */
	if (strcmp(r->p.hod, r->hod) != 0)
		return msg_fail(e, "hod-mismatch",
		    "the order (HOD) in the AuthReq is not the one the "
		    "cardholder signed");
	if (r->p.amount != r->amount || strcmp(r->p.currency, r->currency) != 0)
		return msg_fail(e, "amount-mismatch",
		    "the AuthReq asks for %lld %s; the cardholder signed for "
		    "%lld %s",
		    r->amount, r->currency, r->p.amount, r->p.currency);
	if (strcmp(r->p.lid_m, r->lid_m) != 0)
		return msg_fail(e, "lid-mismatch",
		    "the merchant's LID-M is not the one in the payment "
		    "instruction");
	if (strcmp(r->p.brand, r->b->name) != 0)
		return msg_fail(e, "brand-mismatch",
		    "the payment instruction is for brand %s, the AuthReq "
		    "for %s",
		    r->p.brand, r->b->name);
	hex = hex_encode(r->hpi, sizeof(r->hpi));
	memcpy(r->hpi_hex, hex, sizeof(r->hpi_hex));
	free(hex);
	switch (gateway_pi_seen(gw, r->hpi_hex)) {
	case 0:
		break;
	case 1:
		return msg_fail(e, "pi-replay",
		    "this payment instruction was already presented for "
		    "authorization");
	default:
		return msg_fail(
		    e, "internal", "the gateway cannot read its database");
	}
	/* One purchase, one authorization: a second payment instruction for
	 * a transaction already authorized would charge the cardholder
	 * twice. (After a decline the cardholder may pay otherwise.) */
	switch (gateway_xid_approved(gw, r->merchant, r->xid)) {
	case 0:
		return 0;
	case 1:
		return msg_fail(e, "xid-authorized",
		    "transaction %s of %s is already authorized", r->xid,
		    r->merchant);
	default:
		return msg_fail(
		    e, "internal", "the gateway cannot read its database");
	}
}

/*
 * The capture token: what a later CapReq must hand back, sealed by the
 * gateway to its own key-exchange certificate, so it is opaque to the
 * merchant and cannot be altered.
 */
static char *
authorization_capture_token(struct authreq *r, const char *auth_code,
    const char *hold_id, const char *issuer)
{
	json_t *t;
	char *bytes, *b64 = NULL, err[256];
	unsigned char *der = NULL;
	size_t derlen;

	t = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "xid", r->xid,
	    "merchant", r->merchant, "amount", (json_int_t)r->amount,
	    "currency", r->currency, "auth_code", auth_code, "hold_id", hold_id,
	    "issuer", issuer);
	if (t == NULL ||
	    (bytes = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		log_fatalx("cannot build a capture token");
	json_decref(t);
	if (cms_seal(bytes, strlen(bytes), r->b->kex, &der, &derlen, err,
	        sizeof(err)) == -1)
		log_warnx("cannot seal a capture token: %s", err);
	else
		b64 = base64_encode(der, derlen);
	free(bytes);
	free(der);
	return b64;
}

char *
authorization_handle(struct gateway *gw, struct msg *m,
    struct gateway_brand *opened_by, const unsigned char *wire, size_t len,
    int *status, size_t *resplen)
{
	struct authreq r;
	struct msg_error e;
	struct gateway_tx t;
	struct routing_request q;
	struct routing_answer a;
	const struct gateway_issuer *is;
	enum routing_outcome o;
	unsigned char *stored = NULL;
	size_t storedlen;
	char *reply = NULL, *token = NULL, request_id[33], hmac[65];
	json_t *body = NULL;
	time_t received = time(NULL);
	int replay;

	memset(&r, 0, sizeof(r));
	memset(&e, 0, sizeof(e));
	if (authreq_read(gw, m, opened_by, &r, &e) == -1 ||
	    authorization_merchant(gw, m, &r, &e) == -1)
		goto refuse;

	/* SET's idempotency rule: the same RRPID and bytes get the stored
	 * AuthRes; the same RRPID with other bytes is an Error. */
	replay = store_reply_find(
	    gw->store, m->rrpid, wire, len, status, &stored, &storedlen);
	if (replay == STORE_REPLAY_FOUND) {
		log_info("AuthReq %s from %s: repeated, stored reply sent",
		    r.xid, r.merchant);
		reply = (char *)stored;
		*resplen = storedlen;
		goto done;
	}
	if (replay == STORE_REPLAY_CONFLICT) {
		msg_fail(&e, "rrpid-conflict",
		    "RRPID %s was already used for a different request",
		    m->rrpid);
		goto refuse;
	}
	if (replay == -1) {
		msg_fail(
		    &e, "internal", "the gateway cannot read its database");
		goto refuse;
	}
	if (authorization_fresh(gw, m, &e) == -1)
		goto refuse;

	if (authorization_pi(gw, &r, &e) == -1)
		goto refuse;

	memset(&a, 0, sizeof(a));
	if ((is = routing_find(gw, r.b->name, r.p.pan)) == NULL) {
		o = ROUTING_DECLINED;
		snprintf(a.reason, sizeof(a.reason), "unknown-card");
	} else {
		memcpy(request_id, r.hpi_hex, 32);
		request_id[32] = '\0';
		q.request_id = request_id;
		q.pan = r.p.pan;
		q.expiry = r.p.expiry;
		q.cvv = r.p.cvv;
		q.amount = r.p.amount;
		q.currency = r.p.currency;
		q.merchant_id = r.merchant;
		o = routing_authorize(gw, is, &q, &a);
	}
	if (o == ROUTING_UNAVAILABLE) {
		log_warnx("AuthReq %s: card %s: %s", r.xid, r.masked, a.detail);
		msg_fail(&e, "issuer-unavailable",
		    "the card's issuer did not answer; nothing was authorized, "
		    "try again later");
		goto refuse;
	}
	if (o == ROUTING_BAD_ANSWER) {
		log_warnx("AuthReq %s: card %s: %s", r.xid, r.masked, a.detail);
		msg_fail(&e, "issuer-error",
		    "the card's issuer gave no usable answer; nothing was "
		    "authorized, try again later");
		goto refuse;
	}

	body = json_pack("{s:s, s:s, s:I, s:s}", "xid", r.xid, "status",
	    o == ROUTING_APPROVED ? "approved" : "declined", "amount",
	    (json_int_t)r.amount, "currency", r.currency);
	if (o == ROUTING_APPROVED) {
		if ((token = authorization_capture_token(
		         &r, a.auth_code, a.hold_id, is->name)) == NULL) {
			msg_fail(&e, "internal",
			    "the gateway cannot make the capture token; try "
			    "again");
			goto refuse;
		}
		json_object_set_new(
		    body, "auth_code", json_string(a.auth_code));
		json_object_set_new(body, "capture_token", json_string(token));
	} else
		json_object_set_new(body, "reason", json_string(a.reason));
	reply = message_signed(
	    r.b, "AuthRes", m->rrpid, body, r.kex, status, resplen);
	if (*status != 200)
		goto done;

	gateway_pan_hmac(gw, r.p.pan, hmac);
	memset(&t, 0, sizeof(t));
	t.xid = r.xid;
	t.rrpid = m->rrpid;
	t.merchant = r.merchant;
	t.brand = r.b->name;
	t.lid_m = r.lid_m;
	t.amount = r.amount;
	t.currency = r.currency;
	t.status = o == ROUTING_APPROVED ? "approved" : "declined";
	t.reason = o == ROUTING_APPROVED ? NULL : a.reason;
	t.auth_code = o == ROUTING_APPROVED ? a.auth_code : NULL;
	t.hold_id = o == ROUTING_APPROVED ? a.hold_id : NULL;
	t.hold_expires =
	    o == ROUTING_APPROVED && a.expires_at[0] ? a.expires_at : NULL;
	t.issuer = is != NULL ? is->name : NULL;
	t.pan_masked = r.masked;
	t.pan_hmac = hmac;
	t.hpi = r.hpi_hex;
	t.received = received;
	t.decided = time(NULL);
	if (store_begin(gw->store) == -1)
		goto internal;
	if (gateway_tx_put(gw, &t) == -1 ||
	    store_reply_save(gw->store, m->rrpid, wire, len, *status, reply,
	        *resplen) == -1 ||
	    store_commit(gw->store) == -1) {
		store_rollback(gw->store);
		goto internal;
	}
	log_info("AuthReq %s from %s: card %s, %lld %s: %s %s%s%s", r.xid,
	    r.merchant, r.masked, r.amount, r.currency, t.status,
	    o == ROUTING_APPROVED ? a.auth_code : a.reason,
	    is != NULL ? " by " : "", is != NULL ? is->name : "");
	goto done;
internal:
	free(reply);
	reply = NULL;
	msg_fail(&e, "internal",
	    "the gateway could not record the authorization; try again with "
	    "the same request");
refuse:
	reply =
	    message_error(&e, m->rrpid, r.b ? r.b : opened_by, status, resplen);
done:
	json_decref(body);
	free(token);
	authreq_clear(&r);
	return reply;
}
