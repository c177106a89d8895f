/*
 * The SET messages wallets send to the merchant (POST /set), SET Book 3's
 * purchase:
 *
 *	PInitReq {"order_id","brand","lid_c","chall_c"}	(unsigned)
 *	  -> PInitRes {"xid","lid_c","lid_m","chall_c","chall_m","merchant",
 *		      "brand","gateway":{...}}	signed (setct-PInitResData)
 *	PReq {"oidata","hpi","pi","dualsig"}	(its signature is the dual
 *						 signature inside)
 *	  -> AuthReq to the gateway (authorization.c), then
 *	  -> PRes {"xid","lid_c","lid_m","chall_c","status","auth_code"?,
 *		  "amount","currency","reason"?}	signed (setct-PResData)
 *	InqReq {"xid","chall_c"}		(unsigned)
 *	  -> InqRes, as PRes: the order's current state, echoing this
 *	     chall_c
 *
 * A PReq runs one way: the RRPID reply cache; the dual signature over the
 * OIData received and H(PIData) (payment_preq_verify); the cardholder's
 * certificate (role, brand, chain, CRLs); that the OI is this order's (the
 * XID and challenges we issued, our LID, the brand, and the HOD we compute
 * from our own order description and amount); stock. Only then is the order
 * moved, once, from initiated to authorizing, with the AuthReq recorded in
 * the same commit, and the AuthReq sent. The PRes is stored under the
 * PReq's RRPID together with the order's final state, so a repeated PReq
 * gets the same PRes and one authorization only. A PReq repeated while its
 * order is unresolved asks the gateway again, with the recorded AuthReq.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "hex.h"
#include "log.h"
#include "merchant.h"
#include "setcert.h"
#include "xmalloc.h"

/* 1 for exactly n lower-case hex digits. */
static int
purchase_hex(const char *s, size_t n)
{
	return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

/* The status a PRes or InqRes reports for an order. */
static const char *
purchase_status(const struct order *o)
{
	if (strcmp(o->status, "authorizing") == 0)
		return "unresolved";
	if (strcmp(o->status, "placed") == 0)
		return "initiated";
	return o->status;
}

/* PRes and InqRes: the order's state, echoing the wallet's challenge. */
static json_t *
purchase_result(const struct order *o, const char *chall_c)
{
	const char *status = purchase_status(o);
	json_t *body;

	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "xid", o->xid,
	    "lid_c", o->lid_c, "lid_m", o->id, "chall_c", chall_c, "status",
	    status, "amount", (json_int_t)o->amount, "currency", o->currency);
	if (strcmp(status, "authorized") == 0)
		json_object_set_new(
		    body, "auth_code", json_string(o->auth_code));
	else if (o->reason != NULL)
		json_object_set_new(body, "reason", json_string(o->reason));
	return body;
}

static char *
purchase_pinit(struct merchant *m, struct msg *msg, const unsigned char *wire,
    size_t wirelen, int *status, size_t *len)
{
	struct msg_error e;
	struct order o;
	struct merchant_brand *b = NULL;
	const char *order_id, *brand, *lid_c, *chall_c;
	char *xid = NULL, *chall_m = NULL, *reply = NULL, why[512];
	json_t *body = NULL;
	sqlite3_stmt *st;
	int r;

	memset(&e, 0, sizeof(e));
	memset(&o, 0, sizeof(o));
	if (msg_ident(msg, "order_id", &order_id, &e) == -1 ||
	    msg_ident(msg, "brand", &brand, &e) == -1 ||
	    msg_ident(msg, "lid_c", &lid_c, &e) == -1 ||
	    msg_str(msg, "chall_c", NULL, 40, &chall_c, &e) == -1)
		goto refuse;
	if (!purchase_hex(chall_c, 40)) {
		msg_fail(&e, "malformed",
		    "PInitReq: \"chall_c\" must be 40 lower-case hex digits");
		goto refuse;
	}
	if ((r = orders_load(m, "id", order_id, &o)) == 1) {
		msg_fail(&e, "unknown-order", "no order has id %s", order_id);
		goto refuse;
	}
	if (r == -1)
		goto internal;
	b = merchant_brand_find(m, o.brand);
	if (strcasecmp(brand, o.brand) != 0) {
		msg_fail(&e, "wrong-brand",
		    "order %s is to be paid with %s, not %s", o.id, o.brand,
		    brand);
		goto refuse;
	}
	if (strcmp(o.status, "declined") == 0) {
		msg_fail(&e, "order-closed",
		    "order %s was declined; place a new order", o.id);
		goto refuse;
	}
	if (strcmp(o.status, "placed") != 0 &&
	    strcmp(o.status, "initiated") != 0) {
		msg_fail(&e, "already-paid",
		    "order %s already has a purchase (%s)", o.id, o.status);
		goto refuse;
	}
	if (b == NULL || b->sig == NULL) {
		msg_fail(&e, "internal", "brand %s is not set up", o.brand);
		goto refuse;
	}
	if (b->gw_block == NULL && pcert_fetch(m, b, why, sizeof(why)) == -1) {
		log_warnx("PInitReq for %s: %s", o.id, why);
		msg_fail(&e, "gateway-unavailable",
		    "the payment gateway of %s cannot be reached; try again "
		    "later",
		    b->name);
		goto refuse;
	}

	xid = hex_random(20);
	chall_m = hex_random(20);
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "xid", xid,
	    "lid_c", lid_c, "lid_m", o.id, "chall_c", chall_c, "chall_m",
	    chall_m, "merchant", m->id, "brand", b->name, "gateway",
	    b->gw_block);
	reply = reply_signed(b, "PInitRes", msg->rrpid, body, status, len);
	if (*status != 200)
		goto done;
	if (store_begin(m->store) == -1)
		goto internal;
	st = store_prepare(m->store,
	    "UPDATE orders SET status = 'initiated', xid = ?, lid_c = ?, "
	    "chall_c = ?, chall_m = ?, updated_at = ? WHERE id = ? AND "
	    "status IN ('placed', 'initiated')");
	if (st == NULL)
		goto internal_tx;
	sqlite3_bind_text(st, 1, xid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, lid_c, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, chall_c, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, chall_m, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 6, o.id, -1, SQLITE_STATIC);
	r = sqlite3_step(st) == SQLITE_DONE &&
	    sqlite3_changes(store_db(m->store)) == 1;
	sqlite3_reset(st);
	if (!r || orders_event(m, o.id, "initiated", xid) == -1 ||
	    store_reply_save(m->store, msg->rrpid, wire, wirelen, *status,
	        reply, *len) == -1 ||
	    store_commit(m->store) == -1)
		goto internal_tx;
	log_info("order %s: PInitReq, XID %s", o.id, xid);
	goto done;
internal_tx:
	store_rollback(m->store);
internal:
	msg_fail(&e, "internal",
	    "the merchant could not record the purchase; try again");
refuse:
	free(reply);
	reply = reply_error(b, &e, msg->rrpid, status, len);
done:
	json_decref(body);
	free(xid);
	free(chall_m);
	orders_clear(&o);
	return reply;
}

/* The OI must be this order's, as we issued it in PInitRes. */
static int
purchase_check_oi(
    const struct order *o, const struct payment_oi *oi, struct msg_error *e)
{
	char hod[65];

	if (strcmp(oi->lid_m, o->id) != 0)
		return msg_fail(e, "order-mismatch",
		    "the OI names order %s, not %s", oi->lid_m, o->id);
	if (strcmp(oi->chall_m, o->chall_m) != 0)
		return msg_fail(e, "order-mismatch",
		    "the OI does not carry the merchant's challenge "
		    "(Chall-M) of this transaction");
	if (strcmp(oi->chall_c, o->chall_c) != 0 ||
	    strcmp(oi->lid_c, o->lid_c) != 0)
		return msg_fail(e, "order-mismatch",
		    "the OI's Chall-C or LID-C is not the one of the "
		    "PInitReq");
	if (strcasecmp(oi->brand, o->brand) != 0)
		return msg_fail(e, "order-mismatch",
		    "the OI is for brand %s; the order is to be paid with %s",
		    oi->brand, o->brand);
	if (payment_hod(o->od, o->amount, o->currency, oi->od_salt, hod) ==
	        -1 ||
	    strcmp(hod, oi->hod) != 0)
		return msg_fail(e, "order-mismatch",
		    "the OI's HOD does not cover this order's description "
		    "and amount");
	return 0;
}

/* Moves the order to authorizing with its AuthReq recorded: one commit,
 * before anything is sent. */
static int
purchase_record(struct merchant *m, const struct order *o,
    const struct payment_preq *p, const char *preq_rrpid, const char *preq_hash,
    const char *authreq, size_t authreqlen, const char *authreq_rrpid)
{
	sqlite3_stmt *st;
	char *thumb = setcert_thumbprint(p->cardholder);
	int rc = -1;

	if (store_begin(m->store) == -1)
		goto done;
	st = store_prepare(m->store,
	    "UPDATE orders SET status = 'authorizing', od_salt = ?, hod = ?, "
	    "cardholder = ?, preq_rrpid = ?, preq_hash = ?, authreq_rrpid = "
	    "?, authreq = ?, updated_at = ? WHERE id = ? AND status = "
	    "'initiated'");
	if (st == NULL)
		goto fail;
	sqlite3_bind_text(st, 1, p->oi.od_salt, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, p->oi.hod, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, thumb, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, preq_rrpid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, preq_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, authreq_rrpid, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, authreq, (int)authreqlen, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 9, o->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	if (rc == 0 && sqlite3_changes(store_db(m->store)) != 1)
		rc = 1;
	if (rc != 0 ||
	    orders_event(m, o->id, "authorizing", authreq_rrpid) == -1 ||
	    store_commit(m->store) == -1) {
		rc = rc == 1 ? 1 : -1;
		goto fail;
	}
	goto done;
fail:
	store_rollback(m->store);
done:
	free(thumb);
	return rc;
}

/* Answers a PReq from the order's stored state; when that state is final,
 * the answer is stored under the PReq's RRPID. */
static char *
purchase_answer(struct merchant *m, struct merchant_brand *b,
    const struct order *o, struct msg *msg, const unsigned char *wire,
    size_t wirelen, int *status, size_t *len)
{
	json_t *body = purchase_result(o, o->chall_c);
	char *reply = reply_signed(b, "PRes", msg->rrpid, body, status, len);

	json_decref(body);
	if (*status == 200 && strcmp(purchase_status(o), "unresolved") != 0 &&
	    store_reply_save(m->store, msg->rrpid, wire, wirelen, *status,
	        reply, *len) == -1)
		log_warnx("order %s: the PRes could not be kept", o->id);
	return reply;
}

static char *
purchase_preq(struct merchant *m, struct msg *msg, const unsigned char *wire,
    size_t wirelen, int *status, size_t *len)
{
	struct msg_error e;
	struct payment_preq p;
	struct order o;
	struct auth_outcome out;
	struct merchant_brand *b = NULL;
	json_t *body = NULL, *pres = NULL;
	char *hash = hex_sha256(wire, wirelen), *reply = NULL, why[512];
	char *authreq = NULL, *authreq_rrpid = NULL, id[65];
	size_t authreqlen;
	int r;

	memset(&e, 0, sizeof(e));
	memset(&p, 0, sizeof(p));
	memset(&o, 0, sizeof(o));
	memset(&out, 0, sizeof(out));

	/* payment_preq_verify wants the PReq's own fields, without the
	 * envelope's msg, rrpid and date. */
	body = json_deep_copy(msg->json);
	json_object_del(body, "msg");
	json_object_del(body, "rrpid");
	json_object_del(body, "date");
	if ((r = payment_preq_verify(body, m->id, &p, why, sizeof(why))) != 0) {
		msg_fail(&e,
		    r == PAYMENT_ERR_SIGNATURE ? "bad-signature" : "malformed",
		    "%s", why);
		goto refuse;
	}
	if ((r = orders_load(m, "xid", p.oi.xid, &o)) == 1) {
		msg_fail(&e, "order-mismatch",
		    "no order has XID %s: this merchant did not issue it",
		    p.oi.xid);
		goto refuse;
	}
	if (r == -1)
		goto internal;
	if ((b = merchant_brand_find(m, o.brand)) == NULL || b->sig == NULL) {
		msg_fail(&e, "internal", "brand %s is not set up", o.brand);
		goto refuse;
	}

	/* A PReq produces at most one purchase. The same PReq again while
	 * its order is unresolved asks the gateway again. */
	if (strcmp(o.status, "initiated") != 0) {
		if (strcmp(o.preq_hash, hash) != 0) {
			msg_fail(&e, "duplicate-purchase",
			    "order %s already has a purchase (%s); a PReq "
			    "produces at most one purchase",
			    o.id, purchase_status(&o));
			goto refuse;
		}
		if (authorization_resolve(m, &o, why, sizeof(why)) == -1)
			log_warnx("%s", why);
		reply =
		    purchase_answer(m, b, &o, msg, wire, wirelen, status, len);
		goto done;
	}

	r = pki_verify(m->pki, p.cardholder, p.certs, SETCERT_CARD,
	    SETCERT_SIGN, o.brand, NULL, why, sizeof(why));
	if (r != PKI_OK) {
		char *thumb = setcert_thumbprint(p.cardholder);

		msg_fail(&e, "bad-cardholder-certificate", "%s: %s",
		    pki_result_code(r), why);
		snprintf(e.thumbprint, sizeof(e.thumbprint), "%s", thumb);
		free(thumb);
		goto refuse;
	}
	if (purchase_check_oi(&o, &p.oi, &e) == -1)
		goto refuse;
	if ((r = orders_in_stock(m, o.id, why, sizeof(why))) != 1) {
		if (r == -1)
			goto internal;
		msg_fail(&e, "out-of-stock", "order %s: %s", o.id, why);
		goto refuse;
	}
	if (b->gw_kex == NULL && pcert_fetch(m, b, why, sizeof(why)) == -1) {
		log_warnx("PReq for %s: %s", o.id, why);
		msg_fail(&e, "gateway-unavailable",
		    "the payment gateway of %s cannot be reached; nothing was "
		    "charged, try again later",
		    b->name);
		goto refuse;
	}
	if (authorization_build(m, b, &o, &p, &authreq, &authreqlen,
	        &authreq_rrpid, why, sizeof(why)) == -1) {
		log_warnx("order %s: cannot build the AuthReq: %s", o.id, why);
		goto internal;
	}
	if ((r = purchase_record(m, &o, &p, msg->rrpid, hash, authreq,
	         authreqlen, authreq_rrpid)) != 0) {
		if (r == -1)
			goto internal;
		msg_fail(&e, "duplicate-purchase",
		    "order %s already has a purchase", o.id);
		goto refuse;
	}
	snprintf(id, sizeof(id), "%s", o.id);
	orders_clear(&o);
	if (orders_load(m, "id", id, &o) != 0)
		goto internal;
	log_info("order %s: PReq verified, asking the gateway (AuthReq %s)",
	    o.id, o.authreq_rrpid);

	authorization_send(m, b, &o, &out);
	pres = purchase_result(&o, o.chall_c);
	if (store_begin(m->store) == -1 ||
	    (r = authorization_record(m, &o, &out)) == -1) {
		store_rollback(m->store);
		goto unrecorded;
	}
	if (r == 1) {
		/* Someone asked the gateway meanwhile (set-merchant resolve)
		 * and recorded its answer: report that. */
		store_rollback(m->store);
		orders_clear(&o);
		if (orders_load(m, "id", id, &o) != 0)
			goto internal;
		reply =
		    purchase_answer(m, b, &o, msg, wire, wirelen, status, len);
		goto done;
	}
	json_object_set_new(pres, "status",
	    json_string(out.status == AUTH_APPROVED ? "authorized"
	            : out.status == AUTH_DECLINED   ? "declined"
	                                            : "unresolved"));
	if (out.status == AUTH_APPROVED)
		json_object_set_new(
		    pres, "auth_code", json_string(out.auth_code));
	else
		json_object_set_new(pres, "reason", json_string(out.reason));
	reply = reply_signed(b, "PRes", msg->rrpid, pres, status, len);
	if (*status != 200 ||
	    (out.status != AUTH_UNRESOLVED &&
	        store_reply_save(m->store, msg->rrpid, wire, wirelen, *status,
	            reply, *len) == -1) ||
	    store_commit(m->store) == -1) {
		store_rollback(m->store);
		goto unrecorded;
	}
	log_info("order %s: %s", o.id, out.detail);
	if (out.refresh && pcert_fetch(m, b, why, sizeof(why)) == -1)
		log_warnx("gateway certificates not refreshed: %s", why);
	goto done;
unrecorded:
	/* The order stays authorizing: `set-merchant resolve` or an InqReq
	 * asks the gateway again with the same AuthReq. */
	log_warnx("order %s: the gateway's answer could not be recorded: %s",
	    id, sqlite3_errmsg(store_db(m->store)));
	msg_fail(&e, "internal",
	    "the merchant could not record the outcome; ask again with "
	    "InqReq");
	goto refuse;
internal:
	msg_fail(&e, "internal",
	    "the merchant could not record the purchase; nothing was charged");
refuse:
	free(reply);
	reply = reply_error(b, &e, msg->rrpid, status, len);
done:
	json_decref(body);
	json_decref(pres);
	free(hash);
	free(authreq);
	free(authreq_rrpid);
	authorization_outcome_clear(&out);
	payment_preq_clear(&p);
	orders_clear(&o);
	return reply;
}

static char *
purchase_inquiry(struct merchant *m, struct msg *msg, int *status, size_t *len)
{
	struct msg_error e;
	struct order o;
	struct merchant_brand *b = NULL;
	const char *xid, *chall_c;
	char *reply, why[512];
	json_t *body;
	int r;

	memset(&e, 0, sizeof(e));
	memset(&o, 0, sizeof(o));
	if (msg_str(msg, "xid", NULL, 40, &xid, &e) == -1 ||
	    msg_str(msg, "chall_c", NULL, 40, &chall_c, &e) == -1)
		goto refuse;
	if (!purchase_hex(xid, 40) || !purchase_hex(chall_c, 40)) {
		msg_fail(&e, "malformed",
		    "InqReq: \"xid\" and \"chall_c\" are 40 lower-case hex "
		    "digits");
		goto refuse;
	}
	if ((r = orders_load(m, "xid", xid, &o)) != 0) {
		if (r == 1)
			msg_fail(
			    &e, "unknown-order", "no order has XID %s", xid);
		else
			msg_fail(&e, "internal",
			    "the merchant cannot read "
			    "its orders now");
		goto refuse;
	}
	if ((b = merchant_brand_find(m, o.brand)) == NULL || b->sig == NULL) {
		msg_fail(&e, "internal", "brand %s is not set up", o.brand);
		goto refuse;
	}
	if (authorization_resolve(m, &o, why, sizeof(why)) == -1)
		log_warnx("%s", why);
	body = purchase_result(&o, chall_c);
	reply = reply_signed(b, "InqRes", msg->rrpid, body, status, len);
	json_decref(body);
	orders_clear(&o);
	return reply;
refuse:
	orders_clear(&o);
	return reply_error(b, &e, msg->rrpid, status, len);
}

char *
purchase_handle(struct merchant *m, const unsigned char *req, size_t len,
    int *status, size_t *resplen)
{
	struct msg msg;
	struct msg_error e;
	unsigned char *stored = NULL;
	size_t storedlen;
	char *reply = NULL;
	int replay;

	if (msg_parse(req, len, NULL, NULL, &msg, &e) == -1) {
		reply = reply_error(NULL, &e, msg.rrpid, status, resplen);
		goto done;
	}
	if (strcmp(msg.type, "InqReq") == 0) {
		reply = purchase_inquiry(m, &msg, status, resplen);
		goto done;
	}
	if (strcmp(msg.type, "PInitReq") != 0 &&
	    strcmp(msg.type, "PReq") != 0) {
		msg_fail(&e, "malformed",
		    "the merchant answers PInitReq, PReq and InqReq, not %s",
		    msg.type);
		reply = reply_error(NULL, &e, msg.rrpid, status, resplen);
		goto done;
	}
	/* SET's idempotency rule: the same RRPID and bytes get the stored
	 * reply; the same RRPID with other bytes is an Error. */
	replay = store_reply_find(
	    m->store, msg.rrpid, req, len, status, &stored, &storedlen);
	if (replay == STORE_REPLAY_FOUND) {
		log_info("%s %s: repeated request, stored reply sent", msg.type,
		    msg.rrpid);
		reply = (char *)stored;
		*resplen = storedlen;
	} else if (replay == STORE_REPLAY_CONFLICT) {
		msg_fail(&e, "rrpid-conflict",
		    "RRPID %s was already used for a different request",
		    msg.rrpid);
		reply = reply_error(NULL, &e, msg.rrpid, status, resplen);
	} else if (replay == -1) {
		msg_fail(
		    &e, "internal", "the merchant cannot read its database");
		reply = reply_error(NULL, &e, msg.rrpid, status, resplen);
	} else if (strcmp(msg.type, "PInitReq") == 0)
		reply = purchase_pinit(m, &msg, req, len, status, resplen);
	else
		reply = purchase_preq(m, &msg, req, len, status, resplen);
done:
	msg_clear(&msg);
	return reply;
}
