/*
 * SET's dual signature (Book 3, PReq: PI-TBS). The cardholder hashes the
 * OIData and the PIData bytes exactly as they travel, and signs one PI-TBS
 * over both hashes, the merchant id and the XID; the merchant verifies with
 * OIData + H(PIData), the gateway with PIData + H(OIData). Each verifier
 * rebuilds the PI-TBS bytes itself from its own merchant id and XID, so a
 * signature made for another merchant or another purchase cannot verify, and
 * the content type setct-PI-TBS (checked by cms_verify) keeps it from being
 * taken for any other SET message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

#include "cms.h"
#include "dualsig.h"
#include "hex.h"
#include "log.h"

void
dualsig_hash(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 0;

	if (!EVP_Digest(
	        len > 0 ? data : "", len, out, &n, EVP_sha256(), NULL) ||
	    n != 32)
		log_fatalx("dualsig_hash: SHA-256 failed");
}

/* The PI-TBS bytes (NUL-terminated; free() them), or NULL. */
static char *
dualsig_tbs(const unsigned char hpi[32], const unsigned char hoi[32],
    const char *merchant_id, const char *xid, char *err, size_t errlen)
{
	json_t *o;
	char *hpihex, *hoihex, *s = NULL;

	if (merchant_id == NULL || *merchant_id == '\0' || xid == NULL ||
	    *xid == '\0') {
		snprintf(
		    err, errlen, "dual signature: empty merchant id or XID");
		return NULL;
	}
	hpihex = hex_encode(hpi, 32);
	hoihex = hex_encode(hoi, 32);
	o = json_pack("{s:s, s:s, s:s, s:s}", "hoi", hoihex, "hpi", hpihex,
	    "merchant", merchant_id, "xid", xid);
	if (o == NULL)
		snprintf(err, errlen,
		    "dual signature: merchant id or XID is not valid UTF-8");
	else if ((s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		snprintf(err, errlen, "dual signature: cannot encode PI-TBS");
	json_decref(o);
	free(hpihex);
	free(hoihex);
	return s;
}

int
dualsig_sign(const void *pidata, size_t pilen, const void *oidata, size_t oilen,
    const char *merchant_id, const char *xid, X509 *cert, EVP_PKEY *key,
    STACK_OF(X509) *chain, unsigned char **sig, size_t *siglen, char *err,
    size_t errlen)
{
	unsigned char hpi[32], hoi[32];
	char *tbs;
	int ret;

	*sig = NULL;
	*siglen = 0;
	if ((pidata == NULL && pilen > 0) || (oidata == NULL && oilen > 0)) {
		snprintf(err, errlen, "dual signature: no PIData or OIData");
		return -1;
	}
	dualsig_hash(pidata, pilen, hpi);
	dualsig_hash(oidata, oilen, hoi);
	if ((tbs = dualsig_tbs(hpi, hoi, merchant_id, xid, err, errlen)) ==
	    NULL)
		return -1;
	ret = cms_sign(tbs, strlen(tbs), NID_setct_PI_TBS, cert, key, chain, 1,
	    sig, siglen, err, errlen);
	free(tbs);
	return ret;
}

static int
dualsig_verify(const unsigned char *sig, size_t siglen,
    const unsigned char hpi[32], const unsigned char hoi[32],
    const char *merchant_id, const char *xid, X509 **signer,
    STACK_OF(X509) **certs, char *err, size_t errlen)
{
	char *tbs;
	int ret;

	if (signer != NULL)
		*signer = NULL;
	if (certs != NULL)
		*certs = NULL;
	if ((tbs = dualsig_tbs(hpi, hoi, merchant_id, xid, err, errlen)) ==
	    NULL)
		return -1;
	ret = cms_verify(sig, siglen, NID_setct_PI_TBS, tbs, strlen(tbs),
	    signer, certs, NULL, NULL, err, errlen);
	free(tbs);
	return ret;
}

int
dualsig_verify_oi(const unsigned char *sig, size_t siglen, const void *oidata,
    size_t oilen, const unsigned char hpi[32], const char *merchant_id,
    const char *xid, X509 **signer, STACK_OF(X509) **certs, char *err,
    size_t errlen)
{
	unsigned char hoi[32];

	if (hpi == NULL || (oidata == NULL && oilen > 0)) {
		snprintf(err, errlen, "dual signature: no OIData or H(PIData)");
		if (signer != NULL)
			*signer = NULL;
		if (certs != NULL)
			*certs = NULL;
		return -1;
	}
	dualsig_hash(oidata, oilen, hoi);
	return dualsig_verify(sig, siglen, hpi, hoi, merchant_id, xid, signer,
	    certs, err, errlen);
}

int
dualsig_verify_pi(const unsigned char *sig, size_t siglen, const void *pidata,
    size_t pilen, const unsigned char hoi[32], const char *merchant_id,
    const char *xid, X509 **signer, STACK_OF(X509) **certs, char *err,
    size_t errlen)
{
	unsigned char hpi[32];

	if (hoi == NULL || (pidata == NULL && pilen > 0)) {
		snprintf(err, errlen, "dual signature: no PIData or H(OIData)");
		if (signer != NULL)
			*signer = NULL;
		if (certs != NULL)
			*certs = NULL;
		return -1;
	}
	dualsig_hash(pidata, pilen, hpi);
	return dualsig_verify(sig, siglen, hpi, hoi, merchant_id, xid, signer,
	    certs, err, errlen);
}
