/*
 * The payment gateway's certificates (SET's PCertReq/PCertRes): the
 * merchant asks the gateway of each brand for its signature and
 * key-exchange certificates, checks them, and hands them to wallets in
 * PInitRes, so the wallet can seal the payment instruction to the gateway.
 *
 *	PCertReq {"brand"}		signed with our signature certificate
 *					(setct-PCertReqData), over mutual TLS
 *	PCertRes {"kex_cert","sig_cert"?,"ca_certs"?,"crls"?,"bci"?}
 *					signed by the gateway (setct-PCertResTBS)
 *
 * Checked before anything is installed: the signer is a gateway's signature
 * certificate of the brand, the key-exchange certificate is a gateway's
 * key-exchange certificate of the same brand and the same gateway (CN), both
 * with chain, validity and current CRLs. The last PCertRes is kept in the
 * database, so a merchant restarted while the gateway is away still knows
 * where to seal to; it is checked again when it is loaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base64.h"
#include "caclient.h"
#include "errbuf.h"
#include "hex.h"
#include "http.h"
#include "log.h"
#include "merchant.h"
#include "setcert.h"
#include "xmalloc.h"

/* Our key-exchange keys, for a gateway that seals its answer. */
static int
pcert_key_cb(const char *thumbprint, X509 **cert, EVP_PKEY **key, void *arg)
{
	struct merchant_brand *b = merchant_brand_by_kex(arg, thumbprint);

	if (b == NULL)
		return -1;
	*cert = b->kex;
	*key = b->kexkey;
	return 0;
}

/* 1 when both certificates name the same gateway (subject CN). */
static int
pcert_same_cn(X509 *a, X509 *b)
{
	char cna[128], cnb[128];

	return X509_NAME_get_text_by_NID(X509_get_subject_name(a),
	           NID_commonName, cna, sizeof(cna)) > 0 &&
	    X509_NAME_get_text_by_NID(X509_get_subject_name(b), NID_commonName,
	        cnb, sizeof(cnb)) > 0 &&
	    strcmp(cna, cnb) == 0;
}

/* Every certificate of a JSON list of base64 DER; NULL if one is not. */
static STACK_OF(X509) *
pcert_certs(json_t *list)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	json_t *v;
	X509 *x;
	size_t i;

	json_array_foreach(list, i, v)
	{
		if ((x = caclient_b64_cert(v)) == NULL) {
			sk_X509_pop_free(sk, X509_free);
			return NULL;
		}
		sk_X509_push(sk, x);
	}
	return sk;
}

/* The CRLs a PCertRes carries go into our checker when they are newer
 * than what it holds; one that is not is simply not taken. */
static void
pcert_crls(struct merchant *m, json_t *list)
{
	unsigned char *der;
	size_t len, i;
	X509_CRL *crl;
	json_t *v;
	char why[256];

	json_array_foreach(list, i, v)
	{
		const char *s = json_string_value(v);

		if (s == NULL ||
		    (der = base64_decode(s, strlen(s), &len)) == NULL)
			continue;
		if ((crl = setcert_crl_from_der(der, len)) != NULL &&
		    pki_set_crl(m->pki, crl, why, sizeof(why)) == -1)
			log_debug("gateway CRL not taken: %s", why);
		X509_CRL_free(crl);
		free(der);
	}
}

/* Parses, checks and installs a PCertRes for brand b. */
static int
pcert_take(struct merchant *m, struct merchant_brand *b, const void *wire,
    size_t len, const char *want_rrpid, char *err, size_t errlen)
{
	struct msg msg;
	struct msg_error e;
	STACK_OF(X509) *cas = NULL, *untrusted = NULL;
	X509 *kex = NULL;
	json_t *list, *block = NULL, *v;
	char why[512];
	int i, rc = -1;

	if (msg_parse(wire, len, pcert_key_cb, m, &msg, &e) == -1) {
		errbuf_set(err, errlen,
		    "the gateway's answer is refused: %s: %s", e.code,
		    e.reason);
		goto done;
	}
	if (strcmp(msg.type, "Error") == 0) {
		errbuf_set(err, errlen, "the gateway refused PCertReq: %s: %s",
		    json_string_value(json_object_get(msg.json, "code")),
		    json_string_value(json_object_get(msg.json, "reason")));
		goto done;
	}
	if (strcmp(msg.type, "PCertRes") != 0 ||
	    (want_rrpid != NULL && strcmp(msg.rrpid, want_rrpid) != 0)) {
		errbuf_set(err, errlen,
		    "the gateway answered PCertReq with %s (RRPID %s)",
		    msg.type, msg.rrpid);
		goto done;
	}
	list = json_object_get(msg.json, "ca_certs");
	if (list != NULL &&
	    (!json_is_array(list) || (cas = pcert_certs(list)) == NULL)) {
		errbuf_set(err, errlen,
		    "PCertRes: \"ca_certs\" is not a list of certificates");
		goto done;
	}
	untrusted = sk_X509_new_null();
	for (i = 0; msg.certs != NULL && i < sk_X509_num(msg.certs); i++) {
		X509_up_ref(sk_X509_value(msg.certs, i));
		sk_X509_push(untrusted, sk_X509_value(msg.certs, i));
	}
	for (i = 0; cas != NULL && i < sk_X509_num(cas); i++) {
		X509_up_ref(sk_X509_value(cas, i));
		sk_X509_push(untrusted, sk_X509_value(cas, i));
	}
	list = json_object_get(msg.json, "crls");
	if (json_is_array(list))
		pcert_crls(m, list);
	if (pki_verify(m->pki, msg.signer, untrusted, SETCERT_PGWY,
	        SETCERT_SIGN, b->name, NULL, why, sizeof(why)) != PKI_OK) {
		errbuf_set(err, errlen,
		    "PCertRes is not signed by a payment gateway of %s: %s",
		    b->name, why);
		goto done;
	}
	if ((kex = caclient_b64_cert(json_object_get(msg.json, "kex_cert"))) ==
	    NULL) {
		errbuf_set(err, errlen, "PCertRes: \"kex_cert\" is missing");
		goto done;
	}
	if (pki_verify(m->pki, kex, untrusted, SETCERT_PGWY, SETCERT_KEYEX,
	        b->name, NULL, why, sizeof(why)) != PKI_OK) {
		errbuf_set(err, errlen,
		    "PCertRes: the gateway's key-exchange certificate is "
		    "refused: %s",
		    why);
		goto done;
	}
	if (!pcert_same_cn(kex, msg.signer)) {
		errbuf_set(err, errlen,
		    "PCertRes: the key-exchange certificate names another "
		    "gateway than the signature");
		goto done;
	}
	if ((v = json_object_get(msg.json, "sig_cert")) != NULL) {
		X509 *sig = caclient_b64_cert(v);
		int same = sig != NULL && X509_cmp(sig, msg.signer) == 0;

		X509_free(sig);
		if (!same) {
			errbuf_set(err, errlen,
			    "PCertRes: \"sig_cert\" is not the certificate "
			    "that signed it");
			goto done;
		}
	}

	/* What PInitRes hands the wallet: the gateway's certificates and
	 * what it needs to check them. */
	block = json_object();
	json_object_set_new(block, "kex_cert", reply_cert_b64(kex));
	json_object_set_new(block, "sig_cert", reply_cert_b64(msg.signer));
	list = json_array();
	for (i = 0; i < sk_X509_num(untrusted); i++)
		if (X509_cmp(sk_X509_value(untrusted, i), msg.signer) != 0)
			json_array_append_new(
			    list, reply_cert_b64(sk_X509_value(untrusted, i)));
	json_object_set_new(block, "ca_certs", list);
	v = json_object_get(msg.json, "crls");
	json_object_set_new(
	    block, "crls", json_is_array(v) ? json_deep_copy(v) : json_array());
	if (json_is_string(v = json_object_get(msg.json, "bci")))
		json_object_set_new(block, "bci", json_deep_copy(v));

	X509_free(b->gw_sig);
	X509_free(b->gw_kex);
	json_decref(b->gw_block);
	X509_up_ref(msg.signer);
	b->gw_sig = msg.signer;
	b->gw_kex = kex;
	kex = NULL;
	b->gw_block = block;
	block = NULL;
	b->gw_fetched = time(NULL);
	rc = 0;
done:
	json_decref(block);
	X509_free(kex);
	sk_X509_pop_free(cas, X509_free);
	sk_X509_pop_free(untrusted, X509_free);
	msg_clear(&msg);
	return rc;
}

int
pcert_fetch(
    struct merchant *m, struct merchant_brand *b, char *err, size_t errlen)
{
	struct http_resp r;
	json_t *body;
	sqlite3_stmt *st;
	char *wire = NULL, *rrpid = hex_random(20), why[512];
	size_t len;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	body = json_pack("{s:s}", "brand", b->name);
	if (msg_build("PCertReq", rrpid, body, b->sig, b->sigkey, b->chain,
	        NULL, &wire, &len, why, sizeof(why)) == -1) {
		errbuf_set(err, errlen, "cannot build PCertReq: %s", why);
		goto done;
	}
	if (http_request(b->gw_ssl, m->set.gw_host, m->set.gw_port, "POST",
	        "/set", "application/json", wire, len, m->set.gw_timeout, &r,
	        why, sizeof(why)) == -1) {
		errbuf_set(err, errlen, "the gateway at %s:%d: %s",
		    m->set.gw_host, m->set.gw_port, why);
		goto done;
	}
	if (pcert_take(m, b, r.body, r.len, rrpid, err, errlen) == -1)
		goto done;
	st = store_prepare(m->store,
	    "INSERT INTO gateway_certs (brand, wire, fetched_at) VALUES (?1, "
	    "?2, ?3) ON CONFLICT (brand) DO UPDATE SET wire = ?2, "
	    "fetched_at = ?3");
	if (st != NULL) {
		sqlite3_bind_text(st, 1, b->name, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, r.body, (int)r.len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
		if (sqlite3_step(st) != SQLITE_DONE)
			log_warnx("cannot keep the gateway's certificates: %s",
			    sqlite3_errmsg(store_db(m->store)));
		sqlite3_reset(st);
	}
	log_info("gateway certificates for %s from %s:%d", b->name,
	    m->set.gw_host, m->set.gw_port);
	rc = 0;
done:
	json_decref(body);
	free(wire);
	free(rrpid);
	http_resp_clear(&r);
	return rc;
}

int
pcert_load(
    struct merchant *m, struct merchant_brand *b, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	unsigned char *wire = NULL;
	size_t len = 0;
	int rc;

	st = store_prepare(
	    m->store, "SELECT wire FROM gateway_certs WHERE brand = ?");
	if (st == NULL) {
		errbuf_set(err, errlen, "cannot read the gateway_certs table");
		return -1;
	}
	sqlite3_bind_text(st, 1, b->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		len = (size_t)sqlite3_column_bytes(st, 0);
		wire = xmemdup(sqlite3_column_blob(st, 0), len);
	}
	sqlite3_reset(st);
	if (wire == NULL)
		return 1;
	rc = pcert_take(m, b, wire, len, NULL, err, errlen);
	free(wire);
	return rc;
}
