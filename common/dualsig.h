/*
 * SET's dual signature, made explicit. The cardholder signs one PI-TBS that
 * binds the order information (OIData, seen by the merchant) to the payment
 * instruction (PIData, seen only by the gateway); each side verifies the
 * same signature holding one half in full and only the hash of the other.
 *
 * PI-TBS: the signed content is the compact JSON object, keys sorted,
 * {"hoi":"<hex SHA-256 of OIData bytes>","hpi":"<hex SHA-256 of PIData
 * bytes>","merchant":"<merchant id>","xid":"<xid>"}, signed detached (CMS
 * SignedData, see cms.h) with content type NID_setct_PI_TBS. The verifier
 * rebuilds these bytes from what it knows, so the signature names its
 * purpose, the merchant and the transaction (the fix for the missing
 * explicitness that Bella, Massacci and Paulson found in SET 1.0).
 *
 * merchant_id and xid must be non-empty UTF-8 strings. Functions return 0
 * or -1 with a reason in err. Nothing passed in is taken over. On success,
 * *signer (up-ref'd; X509_free it) and *certs (sk_X509_pop_free(...,
 * X509_free)) are as cms_verify() returns them; either may be NULL if
 * unwanted. The signer's chain, validity and role are the caller's checks.
 */
#ifndef DUALSIG_H
#define DUALSIG_H

#include <stddef.h>
#include <openssl/x509.h>

/* Cardholder: signs over both halves. *sig is xmalloc'd DER. */
int dualsig_sign(const void *pidata, size_t pilen, const void *oidata,
    size_t oilen, const char *merchant_id, const char *xid, X509 *cert,
    EVP_PKEY *key, STACK_OF(X509) *chain, unsigned char **sig, size_t *siglen,
    char *err, size_t errlen);

/* Merchant: has the OIData bytes and only H(PIData). */
int dualsig_verify_oi(const unsigned char *sig, size_t siglen,
    const void *oidata, size_t oilen, const unsigned char hpi[32],
    const char *merchant_id, const char *xid, X509 **signer,
    STACK_OF(X509) **certs, char *err, size_t errlen);

/* Gateway: has the PIData bytes and only H(OIData). */
int dualsig_verify_pi(const unsigned char *sig, size_t siglen,
    const void *pidata, size_t pilen, const unsigned char hoi[32],
    const char *merchant_id, const char *xid, X509 **signer,
    STACK_OF(X509) **certs, char *err, size_t errlen);

/* SHA-256 helper: out gets 32 bytes. */
void dualsig_hash(const void *data, size_t len, unsigned char out[32]);

#endif
