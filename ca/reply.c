/*
 * Building the CA's replies: Error messages (signed by the answering CA when
 * it is known), signed responses, and the CA material every response carries
 * so the requester can check everything (chain, key-exchange certificate,
 * current CRLs, the brand's BCI). Shared by enrollment.c (merchants and
 * gateways) and registration.c (cardholders).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base64.h"
#include "ca.h"
#include "hex.h"
#include "log.h"
#include "msg.h"
#include "setcert.h"
#include "xmalloc.h"

/* The HTTP status an Error code travels with. */
static int
reply_status(const char *code)
{
	static const struct {
		const char *code;
		int status;
	} map[] = { { "malformed", 400 }, { "too-large", 413 },
		{ "rrpid-conflict", 409 }, { "not-found", 404 },
		{ "issuer-unavailable", 503 }, { "internal", 500 } };
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].code, code) == 0)
			return map[i].status;
	return 403;
}

char *
reply_error(struct msg_error *e, const char *rrpid, struct ca_authority *a,
    int *status, size_t *len)
{
	*status = reply_status(e->code);
	log_info("refused: %s: %s", e->code, e->reason);
	if (a != NULL)
		return msg_error_wire(e, rrpid, a->cert, a->key, a->chain, len);
	return msg_error_wire(e, rrpid, NULL, NULL, NULL, len);
}

json_t *
reply_cert_b64(X509 *x)
{
	size_t len;
	unsigned char *der = setcert_der(x, &len);
	char *b = base64_encode(der, len);
	json_t *j = json_string(b);

	free(der);
	free(b);
	return j;
}

json_t *
reply_blob_b64(const unsigned char *p, size_t len)
{
	char *b = base64_encode(p, len);
	json_t *j = json_string(b);

	free(b);
	return j;
}

/*
 * What every CA response carries so the requester can check everything:
 * the CA's certificate chain (issuing CA, brand CA), the current CRLs of the
 * root, the brand CA and the issuing CA, and the brand's BCI.
 */
void
reply_ca_material(struct ca *ca, struct ca_authority *a, json_t *body)
{
	json_t *chain = json_array(), *crls = json_array();
	const char *names[3];
	unsigned char *der;
	size_t len, i;
	struct ca_authority *bca = ca_find(ca, a->brand, SETCERT_BCA);

	json_array_append_new(chain, reply_cert_b64(a->cert));
	if (bca != NULL)
		json_array_append_new(chain, reply_cert_b64(bca->cert));
	json_object_set_new(body, "ca_certs", chain);
	if (a->kex != NULL)
		json_object_set_new(body, "kex_cert", reply_cert_b64(a->kex));
	names[0] = "root";
	names[1] = bca ? bca->name : a->name;
	names[2] = a->name;
	for (i = 0; i < 3; i++) {
		if (i == 2 && strcmp(names[1], names[2]) == 0)
			break;
		if (crl_latest(ca, names[i], &der, &len) == 0) {
			json_array_append_new(crls, reply_blob_b64(der, len));
			free(der);
		}
	}
	json_object_set_new(body, "crls", crls);
	if (bci_latest(ca, a->brand, &der, &len) == 0) {
		json_object_set_new(body, "bci", reply_blob_b64(der, len));
		free(der);
	}
	json_object_set_new(body, "brand", json_string(a->brand));
}

char *
reply_signed(struct ca_authority *a, const char *type, const char *rrpid,
    json_t *body, int *status, size_t *len)
{
	char *wire = NULL, err[256];
	struct msg_error e;

	if (msg_build(type, rrpid, body, a->cert, a->key, a->chain, NULL, &wire,
	        len, err, sizeof(err)) == -1) {
		log_warnx("cannot build %s: %s", type, err);
		msg_fail(&e, "internal", "the CA cannot sign its reply");
		return reply_error(&e, rrpid, NULL, status, len);
	}
	*status = 200;
	return wire;
}

/* SHA-256 (hex) of a public key's SubjectPublicKeyInfo. */
char *
reply_key_hash(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(k, &der);
	char *h;

	if (len <= 0)
		return NULL;
	h = hex_sha256(der, (size_t)len);
	OPENSSL_free(der);
	return h;
}

/* The signature on a CertReq/CertInqReq must be made with this key. */
int
reply_signed_with(const struct msg *m, EVP_PKEY *want)
{
	EVP_PKEY *k = m->signer ? X509_get0_pubkey(m->signer) : NULL;

	return k != NULL && EVP_PKEY_eq(k, want) == 1;
}
