/*
 * Authorization with the payment gateway (SET's AuthReq/AuthRes):
 *
 *	AuthReq {"xid","lid_m","hod","amount","currency","brand","hoi","pi",
 *		 "dualsig","merchant_kex"}
 *		signed with our signature certificate (setct-AuthReqTBS),
 *		sealed to the gateway's key-exchange certificate; "pi" is the
 *		cardholder's sealed payment instruction, which we carry
 *		unopened, "hoi" the SHA-256 of the OIData we verified
 *	AuthRes {"xid","status":"approved"|"declined","auth_code",
 *		 "capture_token","reason"}
 *		signed by the gateway (setct-AuthResTBS), sealed to the
 *		key-exchange certificate we named in "merchant_kex"
 *
 * The AuthReq's exact bytes and RRPID are recorded on the order before
 * they are sent (purchase.c), so when the gateway does not answer the order
 * is "unresolved", never paid, and asking again later sends the same bytes
 * with the same RRPID: the gateway answers from its reply cache and nothing
 * is authorized twice. A decline is a normal outcome; so is a refusal (a
 * SET Error) from the gateway, which ends the purchase. Only an answer that
 * did not arrive, did not verify or says the gateway is unavailable leaves
 * the order unresolved.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "hex.h"
#include "http.h"
#include "log.h"
#include "merchant.h"
#include "setcert.h"
#include "xmalloc.h"

void
authorization_outcome_clear(struct auth_outcome *out)
{
	free(out->capture_token);
	memset(out, 0, sizeof(*out));
}

int
authorization_build(struct merchant *m, struct merchant_brand *b,
    const struct order *o, const struct payment_preq *p, char **wire,
    size_t *len, char **rrpid, char *err, size_t errlen)
{
	json_t *body;
	char *hoi = hex_encode(p->hoi, sizeof(p->hoi));
	int rc;

	*wire = NULL;
	*rrpid = NULL;
	if (b->gw_kex == NULL) {
		snprintf(err, errlen,
		    "no key-exchange certificate of the "
		    "gateway is known");
		free(hoi);
		return -1;
	}
	body = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:o, s:o, s:o}",
	    "xid", o->xid, "lid_m", o->id, "hod", p->oi.hod, "amount",
	    (json_int_t)o->amount, "currency", o->currency, "brand", b->name,
	    "hoi", hoi, "pi", reply_b64(p->pi, p->pilen), "dualsig",
	    reply_b64(p->dualsig, p->siglen), "merchant_kex",
	    reply_cert_b64(b->kex));
	*rrpid = hex_random(20);
	rc = msg_build("AuthReq", *rrpid, body, b->sig, b->sigkey, b->chain,
	    b->gw_kex, wire, len, err, errlen);
	if (rc == -1) {
		free(*rrpid);
		*rrpid = NULL;
	}
	json_decref(body);
	free(hoi);
	return rc;
}

/* The AuthRes is sealed to our key-exchange certificate. */
static int
authorization_key_cb(
    const char *thumbprint, X509 **cert, EVP_PKEY **key, void *arg)
{
	struct merchant_brand *b = merchant_brand_by_kex(arg, thumbprint);

	if (b == NULL)
		return -1;
	*cert = b->kex;
	*key = b->kexkey;
	return 0;
}

/* Error codes that say "not now" rather than "no": the order stays
 * unresolved and may be asked about again. */
static int
authorization_transient(const char *code, int http_status)
{
	static const char *const codes[] = { "internal", "issuer-unavailable",
		"issuer-error", "gateway-unavailable", "unavailable", "busy",
		"timeout" };
	size_t i;

	if (http_status >= 500)
		return 1;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

static void
authorization_error(struct msg *msg, int http_status, struct auth_outcome *out)
{
	const char *code =
	    json_string_value(json_object_get(msg->json, "code"));
	const char *reason =
	    json_string_value(json_object_get(msg->json, "reason"));

	if (code == NULL)
		code = "unknown";
	if (reason == NULL)
		reason = "";
	snprintf(out->detail, sizeof(out->detail), "gateway Error %s: %s", code,
	    reason);
	if (authorization_transient(code, http_status)) {
		out->status = AUTH_UNRESOLVED;
		snprintf(out->reason, sizeof(out->reason),
		    "the gateway cannot answer now (%s)", code);
		return;
	}
	/* Sealed to a key the gateway no longer holds: its certificates
	 * changed since we last asked. */
	if (strcmp(code, "unknown-recipient") == 0 ||
	    strcmp(code, "bad-envelope") == 0)
		out->refresh = 1;
	out->status = AUTH_DECLINED;
	snprintf(out->reason, sizeof(out->reason), "%s", code);
}

/* Reads a verified AuthRes body. */
static void
authorization_res(
    const struct order *o, struct msg *msg, struct auth_outcome *out)
{
	const char *xid = json_string_value(json_object_get(msg->json, "xid"));
	const char *status =
	    json_string_value(json_object_get(msg->json, "status"));
	const char *code =
	    json_string_value(json_object_get(msg->json, "auth_code"));
	const char *reason =
	    json_string_value(json_object_get(msg->json, "reason"));
	json_t *amount = json_object_get(msg->json, "amount");
	json_t *token = json_object_get(msg->json, "capture_token");

	if (xid == NULL || strcmp(xid, o->xid) != 0) {
		snprintf(out->reason, sizeof(out->reason),
		    "the AuthRes is for another transaction");
		return;
	}
	if (status == NULL) {
		snprintf(out->reason, sizeof(out->reason),
		    "the AuthRes has no status");
		return;
	}
	if (strcmp(status, "declined") == 0) {
		out->status = AUTH_DECLINED;
		if (reason == NULL)
			reason = json_string_value(
			    json_object_get(msg->json, "code"));
		snprintf(out->reason, sizeof(out->reason), "%s",
		    reason != NULL && merchant_text_ok(reason, 200)
		        ? reason
		        : "declined");
		snprintf(out->detail, sizeof(out->detail),
		    "AuthRes declined: %.200s", out->reason);
		return;
	}
	if (strcmp(status, "approved") != 0 &&
	    strcmp(status, "authorized") != 0) {
		snprintf(out->reason, sizeof(out->reason),
		    "the AuthRes says \"%.32s\"", status);
		return;
	}
	if (code == NULL || !merchant_text_ok(code, 64)) {
		snprintf(out->reason, sizeof(out->reason),
		    "the AuthRes approves without an authorization code");
		return;
	}
	if (amount != NULL &&
	    (!json_is_integer(amount) ||
	        json_integer_value(amount) != o->amount)) {
		/* We asked for the whole amount; anything else is not the
		 * sale the cardholder signed. */
		log_warnx(
		    "order %s: the gateway approved another amount", o->id);
		out->status = AUTH_DECLINED;
		snprintf(out->reason, sizeof(out->reason), "amount-mismatch");
		snprintf(out->detail, sizeof(out->detail),
		    "AuthRes approved another amount than %lld", o->amount);
		return;
	}
	out->status = AUTH_APPROVED;
	snprintf(out->auth_code, sizeof(out->auth_code), "%s", code);
	if (json_is_string(token))
		out->capture_token = xstrdup(json_string_value(token));
	else if (token != NULL)
		out->capture_token = json_dumps(
		    token, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	snprintf(out->detail, sizeof(out->detail), "AuthRes approved, code %s",
	    code);
}

void
authorization_send(struct merchant *m, struct merchant_brand *b,
    const struct order *o, struct auth_outcome *out)
{
	struct http_resp r;
	struct msg msg;
	struct msg_error e;
	char why[512];

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	memset(&msg, 0, sizeof(msg));
	out->status = AUTH_UNRESOLVED;
	if (o->authreq == NULL) {
		snprintf(out->reason, sizeof(out->reason),
		    "no AuthReq was recorded for this order");
		return;
	}
	if (http_request(b->gw_ssl, m->set.gw_host, m->set.gw_port, "POST",
	        "/set", "application/json", o->authreq, o->authreqlen,
	        m->set.gw_timeout, &r, why, sizeof(why)) == -1) {
		snprintf(out->reason, sizeof(out->reason),
		    "the gateway did not answer");
		snprintf(out->detail, sizeof(out->detail), "%.255s", why);
		goto done;
	}
	if (msg_parse(r.body, r.len, authorization_key_cb, m, &msg, &e) == -1) {
		snprintf(out->reason, sizeof(out->reason),
		    "the gateway's answer does not verify");
		snprintf(out->detail, sizeof(out->detail),
		    "HTTP %d, refused: %.31s: %.180s", r.status, e.code,
		    e.reason);
		goto done;
	}
	if (strcmp(msg.rrpid, o->authreq_rrpid) != 0) {
		snprintf(out->reason, sizeof(out->reason),
		    "the gateway answered another request");
		goto done;
	}
	if (strcmp(msg.type, "Error") == 0) {
		authorization_error(&msg, r.status, out);
		goto done;
	}
	if (strcmp(msg.type, "AuthRes") != 0 || !msg.sealed) {
		snprintf(out->reason, sizeof(out->reason),
		    "the gateway answered with a%s %s",
		    msg.sealed ? "" : "n unsealed", msg.type);
		goto done;
	}
	if (pki_verify(m->pki, msg.signer, msg.certs, SETCERT_PGWY,
	        SETCERT_SIGN, b->name, NULL, why, sizeof(why)) != PKI_OK) {
		snprintf(out->reason, sizeof(out->reason),
		    "the AuthRes is not signed by a gateway of %s", b->name);
		snprintf(out->detail, sizeof(out->detail), "%.255s", why);
		goto done;
	}
	if (b->gw_sig != NULL && X509_cmp(b->gw_sig, msg.signer) != 0)
		out->refresh = 1;
	authorization_res(o, &msg, out);
done:
	if (out->detail[0] == '\0')
		snprintf(out->detail, sizeof(out->detail), "%s", out->reason);
	if (out->status == AUTH_UNRESOLVED)
		log_warnx("order %s unresolved: %s (%s)", o->id, out->reason,
		    out->detail);
	msg_clear(&msg);
	http_resp_clear(&r);
}

int
authorization_record(
    struct merchant *m, const struct order *o, const struct auth_outcome *out)
{
	static const char *const names[] = { "authorized", "declined",
		"unresolved" };
	const char *status = names[out->status];
	sqlite3_stmt *st;
	int rc = -1;

	st = store_prepare(m->store,
	    "UPDATE orders SET status = ?, auth_code = ?, capture_token = ?, "
	    "reason = ?, updated_at = ? WHERE id = ? AND status IN "
	    "('authorizing', 'unresolved')");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	if (out->status == AUTH_APPROVED) {
		sqlite3_bind_text(st, 2, out->auth_code, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, out->capture_token, -1, SQLITE_STATIC);
	} else
		sqlite3_bind_text(st, 4, out->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 6, o->id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE)
		rc = sqlite3_changes(store_db(m->store)) == 1 ? 0 : 1;
	sqlite3_reset(st);
	if (rc != 0)
		return rc;
	if (out->status == AUTH_APPROVED && orders_take_stock(m, o->id) == -1)
		return -1;
	return orders_event(m, o->id, status, out->detail);
}

int
authorization_resolve(
    struct merchant *m, struct order *o, char *err, size_t errlen)
{
	struct merchant_brand *b;
	struct auth_outcome out;
	char why[512], id[65];
	int rc = -1;

	if (strcmp(o->status, "unresolved") != 0 &&
	    strcmp(o->status, "authorizing") != 0)
		return 0;
	if ((b = merchant_brand_find(m, o->brand)) == NULL || b->sig == NULL) {
		snprintf(err, errlen, "order %s: brand %s is not set up here",
		    o->id, o->brand);
		return -1;
	}
	authorization_send(m, b, o, &out);
	if (store_begin(m->store) == -1 ||
	    authorization_record(m, o, &out) == -1 ||
	    store_commit(m->store) == -1) {
		store_rollback(m->store);
		snprintf(err, errlen, "order %s: cannot record the outcome: %s",
		    o->id, sqlite3_errmsg(store_db(m->store)));
		goto done;
	}
	log_info("order %s: asked the gateway again: %s", o->id, out.detail);
	if (out.refresh && pcert_fetch(m, b, why, sizeof(why)) == -1)
		log_warnx("gateway certificates not refreshed: %s", why);
	snprintf(id, sizeof(id), "%s", o->id);
	orders_clear(o);
	if (orders_load(m, "id", id, o) != 0) {
		snprintf(err, errlen, "order %s: cannot read it back", id);
		goto done;
	}
	rc = 0;
done:
	authorization_outcome_clear(&out);
	return rc;
}
