/*
 * PCertReq -> PCertRes: a merchant fetches the gateway's current
 * certificates for a brand (SET Book 2, Payment Gateway Certificate
 * Request). The merchant forwards them to the wallet in PInitRes, and the
 * wallet seals the payment instruction to the key-exchange certificate.
 *
 * The request is signed by the merchant (its signature certificate, role
 * merchant, of that brand). The response is signed by our signature
 * certificate of the brand and carries our signature and key-exchange
 * certificates, the CAs above them (payment gateway CA, brand CA) and the
 * CRLs of root, brand CA and payment gateway CA, so the merchant and the
 * wallet can check everything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64.h"
#include "gateway.h"
#include "log.h"
#include "setcert.h"
#include "xmalloc.h"

char *
pcert_handle(struct gateway *gw, struct msg *m, int *status, size_t *resplen)
{
	struct msg_error e;
	struct gateway_brand *b;
	const char *brand, *key;
	char why[256], *thumb, *b64;
	unsigned char *der;
	size_t len;
	enum pki_result res;
	json_t *body, *certs, *crls, *v;
	char *reply;
	int i;

	memset(&e, 0, sizeof(e));
	json_object_foreach(m->json, key, v)
	{
		if (strcmp(key, "msg") != 0 && strcmp(key, "rrpid") != 0 &&
		    strcmp(key, "date") != 0 && strcmp(key, "brand") != 0) {
			msg_fail(&e, "malformed",
			    "PCertReq: unknown field \"%.32s\"", key);
			return message_error(
			    &e, m->rrpid, NULL, status, resplen);
		}
	}
	if (msg_ident(m, "brand", &brand, &e) == -1)
		return message_error(&e, m->rrpid, NULL, status, resplen);
	if ((b = gateway_brand_find(gw, brand)) == NULL) {
		msg_fail(&e, "unknown-brand",
		    "this gateway does not serve the brand %s", brand);
		return message_error(&e, m->rrpid, NULL, status, resplen);
	}
	res = pki_verify(gw->pki, m->signer, m->certs, SETCERT_MER,
	    SETCERT_SIGN, b->name, NULL, why, sizeof(why));
	if (res != PKI_OK) {
		msg_fail(&e, "bad-merchant-certificate",
		    "the merchant's signature certificate is refused: %s: %s",
		    pki_result_code(res), why);
		thumb = setcert_thumbprint(m->signer);
		snprintf(e.thumbprint, sizeof(e.thumbprint), "%s", thumb);
		free(thumb);
		return message_error(&e, m->rrpid, b, status, resplen);
	}

	certs = json_array();
	for (i = 0; i < sk_X509_num(b->chain); i++)
		json_array_append_new(
		    certs, message_cert_b64(sk_X509_value(b->chain, i)));
	crls = json_array();
	for (i = 0; i < sk_X509_CRL_num(b->crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(b->crls, i);
		const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);

		/* A CRL past its next update helps nobody: leave it out. */
		if (next == NULL || X509_cmp_current_time(next) <= 0) {
			char issuer[256];

			X509_NAME_oneline(
			    X509_CRL_get_issuer(crl), issuer, sizeof(issuer));
			log_warnx(
			    "PCertRes %s: the CRL of %s in certs/%s/crl.pem "
			    "is past its next update: left out",
			    b->name, issuer, b->name);
			continue;
		}
		der = setcert_crl_der(crl, &len);
		b64 = base64_encode(der, len);
		json_array_append_new(crls, json_string(b64));
		free(b64);
		free(der);
	}
	body = json_pack("{s:s, s:o, s:o, s:o, s:o}", "brand", b->name,
	    "sig_cert", message_cert_b64(b->sig), "kex_cert",
	    message_cert_b64(b->kex), "ca_certs", certs, "crls", crls);
	reply = message_signed(
	    b, "PCertRes", m->rrpid, body, NULL, status, resplen);
	json_decref(body);
	return reply;
}
