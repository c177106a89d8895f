/*
 * The SET messages the CA answers for merchants and payment gateways (the
 * cardholder's are in registration.c; this file dispatches them too):
 *
 *	Me-AqCInitReq -> Me-AqCInitRes	the CA's certificates, its key-exchange
 *					certificate, current CRLs and the BCI
 *	CertReq -> CertRes		keys + token -> certificates, or pending
 *	CertInqReq -> CertInqRes	poll a pending request
 *
 * The data path runs one way: bytes in -> msg_parse (open the envelope,
 * verify the signature over the bytes received) -> check the fields, the
 * proof of possession and the token -> one transaction that records the
 * request, issues, and stores the reply under the RRPID -> reply. Nothing is
 * written before every check has passed, and a retried request (same RRPID,
 * same bytes) gets the stored reply without issuing twice.
 *
 * A CertReq is signed with the requester's new signature key. It has no
 * certificate yet, so it signs with a throwaway self-signed certificate for
 * that key; we accept the signature only when its key is the one in the
 * signature-key request, which makes the signature a proof of possession
 * that binds the token and both public keys together. Each PKCS#10 request's
 * own self-signature proves possession of its key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "base64.h"
#include "ca.h"
#include "hex.h"
#include "log.h"
#include "msg.h"
#include "setcert.h"
#include "xmalloc.h"

/* Finds the role and brand's CA from a request's fields. */
static struct ca_authority *
authority_for(struct ca *ca, const struct msg *m, const struct ca_role **rolep,
    const char **brandp, struct msg_error *e)
{
	const char *role_name, *brand;
	const struct ca_role *role;
	struct ca_authority *a;

	if (msg_ident(m, "role", &role_name, e) == -1 ||
	    msg_ident(m, "brand", &brand, e) == -1)
		return NULL;
	if ((role = ca_role_find(role_name)) == NULL) {
		msg_fail(e, "unknown-role",
		    "this CA enrolls merchants and "
		    "gateways, not \"%s\"",
		    role_name);
		return NULL;
	}
	if ((a = ca_find(ca, brand, role->ca_type)) == NULL) {
		msg_fail(
		    e, "unknown-brand", "this CA has no brand \"%s\"", brand);
		return NULL;
	}
	*rolep = role;
	if (brandp != NULL)
		*brandp = a->brand;
	return a;
}

static char *
handle_init(struct ca *ca, struct msg *m, int *status, size_t *len)
{
	struct msg_error e;
	const struct ca_role *role;
	struct ca_authority *a;
	json_t *body;
	char *wire;

	if ((a = authority_for(ca, m, &role, NULL, &e)) == NULL)
		return reply_error(&e, m->rrpid, NULL, status, len);
	body = json_object();
	json_object_set_new(body, "role", json_string(role->name));
	reply_ca_material(ca, a, body);
	wire = reply_signed(a, "Me-AqCInitRes", m->rrpid, body, status, len);
	json_decref(body);
	return wire;
}

/* The CertRes/CertInqRes body for a stored request. */
static json_t *
cert_res_body(struct ca *ca, struct ca_authority *a, const char *request_id)
{
	sqlite3_stmt *st;
	json_t *body = json_object(), *certs = json_object();
	const char *status = "pending";

	st = store_prepare(ca->store,
	    "SELECT status, reason FROM requests "
	    "WHERE id = ?");
	if (st != NULL) {
		sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			status =
			    strcmp((const char *)sqlite3_column_text(st, 0),
			        "issued") == 0
			    ? "issued"
			    : strcmp((const char *)sqlite3_column_text(st, 0),
			          "rejected") == 0
			    ? "rejected"
			    : "pending";
			if (sqlite3_column_type(st, 1) != SQLITE_NULL)
				json_object_set_new(body, "reason",
				    json_string(
				        (const char *)sqlite3_column_text(
				            st, 1)));
		}
		sqlite3_reset(st);
	}
	json_object_set_new(body, "status", json_string(status));
	json_object_set_new(body, "request_id", json_string(request_id));
	if (strcmp(status, "issued") == 0) {
		st = store_prepare(ca->store,
		    "SELECT usage, der FROM certs "
		    "WHERE request_id = ?");
		if (st != NULL) {
			sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
			while (sqlite3_step(st) == SQLITE_ROW)
				json_object_set_new(certs,
				    (const char *)sqlite3_column_text(st, 0),
				    reply_blob_b64(sqlite3_column_blob(st, 1),
				        (size_t)sqlite3_column_bytes(st, 1)));
			sqlite3_reset(st);
		}
		json_object_set_new(body, "certs", certs);
		reply_ca_material(ca, a, body);
	} else
		json_decref(certs);
	return body;
}

enum token_state {
	TOKEN_OK,
	TOKEN_UNKNOWN,
	TOKEN_USED,
	TOKEN_EXPIRED,
	TOKEN_MISMATCH
};

static enum token_state
token_check(struct ca *ca, const char *hash, const char *role,
    const char *entity, const char *brand)
{
	sqlite3_stmt *st;
	enum token_state t = TOKEN_UNKNOWN;

	st = store_prepare(ca->store,
	    "SELECT role, entity_id, brand, "
	    "expires_at, used_at IS NOT NULL FROM tokens WHERE hash = ?");
	if (st == NULL)
		return TOKEN_UNKNOWN;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		if (sqlite3_column_int(st, 4))
			t = TOKEN_USED;
		else if (sqlite3_column_int64(st, 3) <
		    (sqlite3_int64)time(NULL))
			t = TOKEN_EXPIRED;
		else if (strcmp((const char *)sqlite3_column_text(st, 0),
		             role) != 0 ||
		    strcmp((const char *)sqlite3_column_text(st, 1), entity) !=
		        0 ||
		    strcasecmp(
		        (const char *)sqlite3_column_text(st, 2), brand) != 0)
			t = TOKEN_MISMATCH;
		else
			t = TOKEN_OK;
	}
	sqlite3_reset(st);
	return t;
}

static int
token_use(struct ca *ca, const char *hash, const char *request_id)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(ca->store,
	    "UPDATE tokens SET used_at = ?, "
	    "request_id = ? WHERE hash = ? AND used_at IS NULL");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 2, request_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE &&
	        sqlite3_changes(store_db(ca->store)) == 1
	    ? 0
	    : -1;
	sqlite3_reset(st);
	return rc;
}

static int
insert_request(struct ca *ca, const char *id, const char *role,
    const char *entity, const char *brand, const char *name,
    const unsigned char *sig, size_t siglen, const unsigned char *kex,
    size_t kexlen, const char *sigkey, const char *token)
{
	sqlite3_stmt *st;
	int rc;

	st = store_prepare(ca->store,
	    "INSERT INTO requests (id, role, "
	    "entity_id, brand, name, sig_csr, kex_csr, sig_key, status, "
	    "token, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, "
	    "?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, entity, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, brand, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, sig, (int)siglen, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, kex, (int)kexlen, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, sigkey, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, token, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return rc;
}

/* Everything a CertReq says, once read and checked. */
struct certreq {
	const struct ca_role *role;
	const char *entity, *brand, *name, *token;
	unsigned char *sig, *kex; /* DER PKCS#10 */
	size_t siglen, kexlen;
	X509_REQ *sigreq, *kexreq;
	char *sigkey; /* hash of the signature key */
	char *token_hash;
};

static void
certreq_clear(struct certreq *r)
{
	free(r->sig);
	free(r->kex);
	X509_REQ_free(r->sigreq);
	X509_REQ_free(r->kexreq);
	free(r->sigkey);
	free(r->token_hash);
}

static int
certreq_read(struct ca *ca, struct msg *m, struct ca_authority *opened_by,
    struct certreq *r, struct ca_authority **ap, struct msg_error *e)
{
	struct ca_authority *a;
	char err[256];

	if (!m->sealed)
		return msg_fail(e, "malformed",
		    "CertReq must be sealed to "
		    "the CA's key-exchange certificate");
	if ((a = authority_for(ca, m, &r->role, &r->brand, e)) == NULL)
		return -1;
	*ap = a;
	if (a != opened_by)
		return msg_fail(e, "malformed",
		    "this CertReq for a %s of %s "
		    "was sealed to another CA (%s)",
		    r->role->name, r->brand, opened_by->name);
	if (msg_ident(m, "id", &r->entity, e) == -1 ||
	    msg_str(m, "name", r->entity, 128, &r->name, e) == -1 ||
	    msg_str(m, "token", "", 64, &r->token, e) == -1 ||
	    msg_bytes(m, "sig_csr", 8192, &r->sig, &r->siglen, e) == -1 ||
	    msg_bytes(m, "kex_csr", 8192, &r->kex, &r->kexlen, e) == -1)
		return -1;
	if (r->name[0] == '\0')
		return msg_fail(e, "malformed", "CertReq: \"name\" is empty");
	if (issue_check_csr(r->sig, r->siglen, &r->sigreq, err, sizeof(err)) ==
	    -1)
		return msg_fail(e, "bad-csr", "signature-key request: %s", err);
	if (issue_check_csr(r->kex, r->kexlen, &r->kexreq, err, sizeof(err)) ==
	    -1)
		return msg_fail(e, "bad-csr", "key-exchange request: %s", err);
	if (EVP_PKEY_eq(X509_REQ_get0_pubkey(r->sigreq),
	        X509_REQ_get0_pubkey(r->kexreq)) == 1)
		return msg_fail(e, "bad-csr",
		    "the signature key and the "
		    "key-exchange key must be different keys");
	if (!reply_signed_with(m, X509_REQ_get0_pubkey(r->sigreq)))
		return msg_fail(e, "bad-signature",
		    "CertReq must be signed "
		    "with the key of its signature-key request (proof of "
		    "possession)");
	r->sigkey = reply_key_hash(X509_REQ_get0_pubkey(r->sigreq));
	if (r->token[0] != '\0') {
		r->token_hash = hex_sha256(r->token, strlen(r->token));
		switch (token_check(
		    ca, r->token_hash, r->role->name, r->entity, r->brand)) {
		case TOKEN_OK:
			break;
		case TOKEN_UNKNOWN:
			return msg_fail(e, "bad-token",
			    "the enrollment token "
			    "is not known to this CA");
		case TOKEN_USED:
			return msg_fail(e, "token-used",
			    "the enrollment token "
			    "has already been used");
		case TOKEN_EXPIRED:
			return msg_fail(e, "token-expired",
			    "the enrollment "
			    "token has expired: ask the CA operator for a new "
			    "one");
		case TOKEN_MISMATCH:
			return msg_fail(e, "token-mismatch",
			    "the enrollment "
			    "token was made for another role, id or brand");
		}
	}
	return 0;
}

/*
 * Renewal: a requester that connected with mutual TLS, presenting its
 * current signature certificate for the same role, id and brand, needs no
 * token. The TLS layer has already checked that certificate's chain, time
 * and CRLs; the role, brand and id are checked here.
 */
static int
renewal_ok(struct ca *ca, const struct certreq *r, X509 *peer,
    STACK_OF(X509) *peer_chain)
{
	char cn[128], err[256];

	if (peer == NULL)
		return 0;
	if (pki_verify(ca->pki, peer, peer_chain, r->role->type, SETCERT_SIGN,
	        r->brand, NULL, err, sizeof(err)) != PKI_OK) {
		log_info("no renewal for %s %s: its TLS certificate does not "
		         "qualify: %s",
		    r->role->name, r->entity, err);
		return 0;
	}
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
	        NID_commonName, cn, sizeof(cn)) <= 0 ||
	    strcmp(cn, r->entity) != 0) {
		log_info("no renewal for %s %s: its TLS certificate names %s",
		    r->role->name, r->entity, cn);
		return 0;
	}
	return 1;
}

static char *
handle_certreq(struct ca *ca, struct msg *m, struct ca_authority *opened_by,
    const unsigned char *wire, size_t wirelen, X509 *peer,
    STACK_OF(X509) *peer_chain, int *status, size_t *len)
{
	struct certreq r;
	struct msg_error e;
	struct ca_authority *a = NULL;
	char *id = NULL, *reply = NULL, err[256];
	json_t *body = NULL;

	memset(&r, 0, sizeof(r));
	memset(&e, 0, sizeof(e));
	if (certreq_read(ca, m, opened_by, &r, &a, &e) == -1) {
		reply =
		    reply_error(&e, m->rrpid, a ? a : opened_by, status, len);
		goto done;
	}

	if (store_begin(ca->store) == -1)
		goto internal;
	id = hex_random(16);
	if (insert_request(ca, id, r.role->name, r.entity, r.brand, r.name,
	        r.sig, r.siglen, r.kex, r.kexlen, r.sigkey, r.token_hash) == -1)
		goto internal_tx;
	if (r.token_hash != NULL) {
		if (token_use(ca, r.token_hash, id) == -1 ||
		    issue_request(ca, id, err, sizeof(err)) == -1) {
			log_warnx("request %s: %s", id, err);
			goto internal_tx;
		}
		ca_audit(ca, "issue", id, "enrollment token");
	} else if (renewal_ok(ca, &r, peer, peer_chain)) {
		if (issue_request(ca, id, err, sizeof(err)) == -1) {
			log_warnx("request %s: %s", id, err);
			goto internal_tx;
		}
		ca_audit(ca, "renew", id,
		    "mutual TLS with the current "
		    "certificate");
	} else {
		log_info("request %s from %s %s (%s) is pending approval", id,
		    r.role->name, r.entity, r.brand);
		ca_audit(ca, "request", id, "pending approval");
	}
	body = cert_res_body(ca, a, id);
	reply = reply_signed(a, "CertRes", m->rrpid, body, status, len);
	if (*status != 200 ||
	    store_reply_save(ca->store, m->rrpid, wire, wirelen, *status, reply,
	        *len) == -1 ||
	    store_commit(ca->store) == -1)
		goto internal_tx;
	goto done;
internal_tx:
	store_rollback(ca->store);
internal:
	free(reply);
	msg_fail(&e, "internal",
	    "the CA could not record the request; "
	    "nothing was issued, try again");
	reply = reply_error(&e, m->rrpid, a, status, len);
done:
	json_decref(body);
	free(id);
	certreq_clear(&r);
	return reply;
}

static char *
handle_inquiry(struct ca *ca, struct msg *m, int *status, size_t *len)
{
	struct msg_error e;
	const char *id;
	char *sigkey = NULL, *owner = NULL, *brand = NULL, *role = NULL;
	char *reply;
	sqlite3_stmt *st;
	struct ca_authority *a = NULL;
	const struct ca_role *r;
	json_t *body;

	memset(&e, 0, sizeof(e));
	if (msg_str(m, "request_id", NULL, 64, &id, &e) == -1)
		return reply_error(&e, m->rrpid, NULL, status, len);
	st = store_prepare(ca->store,
	    "SELECT sig_key, brand, role FROM "
	    "requests WHERE id = ?");
	if (st != NULL) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			owner =
			    xstrdup((const char *)sqlite3_column_text(st, 0));
			brand =
			    xstrdup((const char *)sqlite3_column_text(st, 1));
			role =
			    xstrdup((const char *)sqlite3_column_text(st, 2));
		}
		sqlite3_reset(st);
	}
	if (owner == NULL) {
		msg_fail(&e, "not-found", "no request has id %s", id);
		reply = reply_error(&e, m->rrpid, NULL, status, len);
		goto done;
	}
	if ((r = ca_role_find(role)) != NULL)
		a = ca_find(ca, brand, r->ca_type);
	sigkey = m->signer ? reply_key_hash(X509_get0_pubkey(m->signer)) : NULL;
	if (a == NULL || sigkey == NULL || strcmp(sigkey, owner) != 0) {
		msg_fail(&e, "not-yours",
		    "only the holder of the request's "
		    "signature key may ask about it");
		reply = reply_error(&e, m->rrpid, a, status, len);
		goto done;
	}
	body = cert_res_body(ca, a, id);
	reply = reply_signed(a, "CertInqRes", m->rrpid, body, status, len);
	json_decref(body);
done:
	free(sigkey);
	free(owner);
	free(brand);
	free(role);
	return reply;
}

/* Which of our key-exchange keys a sealed request was sealed to. */
struct kex_lookup {
	struct ca *ca;
	struct ca_authority *found;
};

static int
kex_lookup_cb(const char *thumbprint, X509 **cert, EVP_PKEY **key, void *arg)
{
	struct kex_lookup *l = arg;
	struct ca_authority *a = ca_find_kex(l->ca, thumbprint);

	if (a == NULL)
		return -1;
	*cert = a->kex;
	*key = a->kexkey;
	l->found = a;
	return 0;
}

/* A CertReq from a cardholder goes to registration.c. */
static int
is_cardholder(const struct msg *m)
{
	const char *role = json_string_value(json_object_get(m->json, "role"));

	return role != NULL && strcmp(role, "cardholder") == 0;
}

char *
enrollment_handle(struct ca *ca, const unsigned char *req, size_t len,
    X509 *peer, STACK_OF(X509) *peer_chain, int *status, size_t *resplen)
{
	struct msg m;
	struct msg_error e;
	struct kex_lookup lookup = { ca, NULL };
	unsigned char *stored = NULL;
	size_t storedlen;
	char *reply = NULL;
	int replay;

	if (msg_parse(req, len, kex_lookup_cb, &lookup, &m, &e) == -1) {
		reply = reply_error(&e, m.rrpid, lookup.found, status, resplen);
		goto done;
	}
	/* SET's idempotency rule: the same RRPID and bytes get the stored
	 * reply; the same RRPID with other bytes is an Error. */
	replay = store_reply_find(
	    ca->store, m.rrpid, req, len, status, &stored, &storedlen);
	if (replay == STORE_REPLAY_FOUND) {
		log_info("%s %s: repeated request, stored reply sent", m.type,
		    m.rrpid);
		reply = (char *)stored;
		*resplen = storedlen;
		goto done;
	}
	if (replay == STORE_REPLAY_CONFLICT) {
		msg_fail(&e, "rrpid-conflict",
		    "RRPID %s was already used "
		    "for a different request",
		    m.rrpid);
		reply = reply_error(&e, m.rrpid, lookup.found, status, resplen);
		goto done;
	}
	if (replay == -1) {
		msg_fail(&e, "internal", "the CA cannot read its database");
		reply = reply_error(&e, m.rrpid, NULL, status, resplen);
		goto done;
	}

	if (strcmp(m.type, "Me-AqCInitReq") == 0)
		reply = handle_init(ca, &m, status, resplen);
	else if (strcmp(m.type, "CardCInitReq") == 0)
		reply = registration_init(ca, &m, status, resplen);
	else if (strcmp(m.type, "RegFormReq") == 0)
		reply =
		    registration_form(ca, &m, lookup.found, status, resplen);
	else if (strcmp(m.type, "CertReq") == 0 && is_cardholder(&m))
		reply = registration_certreq(
		    ca, &m, lookup.found, req, len, status, resplen);
	else if (strcmp(m.type, "CertReq") == 0 && lookup.found != NULL)
		reply = handle_certreq(ca, &m, lookup.found, req, len, peer,
		    peer_chain, status, resplen);
	else if (strcmp(m.type, "CertReq") == 0) {
		msg_fail(&e, "malformed",
		    "CertReq must be sealed to the CA's key-exchange "
		    "certificate");
		reply = reply_error(&e, m.rrpid, NULL, status, resplen);
	} else if (strcmp(m.type, "CertInqReq") == 0)
		reply = handle_inquiry(ca, &m, status, resplen);
	else {
		msg_fail(&e, "malformed", "the CA does not answer %s", m.type);
		reply = reply_error(&e, m.rrpid, NULL, status, resplen);
	}
done:
	msg_clear(&m);
	return reply;
}
