/*
 * The CMS layer: every SET signature and digital envelope is a CMS structure
 * (the successor of the PKCS#7 that SET 1.0 used), so a third party can check
 * any message with the stock `openssl cms` command.
 *
 * Signatures are SignedData, ECDSA P-256 with SHA-256, whose eContentType is
 * the SET object identifier of the message (setct-PI-TBS, setct-CertReqTBS,
 * ...). Envelopes are AuthEnvelopedData, AES-256-GCM with ECDH key agreement
 * to the recipient's key-exchange certificate.
 *
 * All functions return 0 on success, or -1 with a human-readable reason in
 * err (errlen bytes, always NUL-terminated when errlen > 0). DER inputs
 * larger than CMS_MAX_DER bytes are refused, and so is content larger than
 * that. Buffers returned in out-parameters are xmalloc'd: the caller free()s
 * them.
 */
#ifndef CMS_H
#define CMS_H

#include <stddef.h>
#include <openssl/x509.h>

/* The largest DER blob (and content) accepted: 16 MiB. */
#define CMS_MAX_DER (16UL * 1024 * 1024)

/* Signs data as CMS SignedData (ECDSA P-256 with SHA-256; signed attributes:
 * content type, message digest, signing time). content_nid is the
 * eContentType, a SET OID such as NID_setct_CertReqTBS or NID_setct_PI_TBS.
 * detached: 1 leaves the content out. The signer's certificate and every
 * certificate in chain (may be NULL) go into the SignedData's certificates,
 * so a third party can run `openssl cms -verify -CAfile root.pem` on it. The
 * key must be an EC P-256 key matching signer. Nothing passed in is taken
 * over. On success *der is an xmalloc'd DER buffer. */
int cms_sign(const void *data, size_t len, int content_nid, X509 *signer,
    EVP_PKEY *key, STACK_OF(X509) *chain, int detached, unsigned char **der,
    size_t *derlen, char *err, size_t errlen);

/* Verifies a SignedData: it must parse, be SignedData, have exactly one
 * SignerInfo, carry signed attributes whose content type equals the
 * eContentType, eContentType == expect_nid (a mismatch is an error: the
 * content type names the message, so a signature made for one SET message
 * can never be presented as another), use SHA-256 (ecdsa-with-SHA256), and
 * its signature must verify. data/len: the detached content, or NULL/0 when
 * the content is attached (a detached signature given no data, or attached
 * content given external data too, is an error). It does NOT validate the
 * signer's certificate chain, time or role: the caller does that with its
 * PKI checker, using *signer and *certs. On success: *signer (up-ref'd,
 * X509_free it) is the signer's certificate (must be in the message); if
 * certs != NULL, *certs gets every certificate in the message
 * (sk_X509_pop_free(..., X509_free)); if content != NULL and the content is
 * attached, *content and *contentlen get an xmalloc'd copy (NULL/0 when
 * detached). Any pointer out-param may be NULL if unwanted. On failure every
 * out-param is NULL/0. */
int cms_verify(const unsigned char *der, size_t derlen, int expect_nid,
    const void *data, size_t len, X509 **signer, STACK_OF(X509) **certs,
    unsigned char **content, size_t *contentlen, char *err, size_t errlen);

/* Seals data for the holder of a key-exchange certificate: CMS
 * AuthEnvelopedData, AES-256-GCM, ECDH key agreement (kari, X9.63 KDF with
 * SHA-256, AES-256 key wrap) to the recipient's EC key (this is SET's
 * digital envelope). recipient is not taken over. *der xmalloc'd. */
int cms_seal(const void *data, size_t len, X509 *recipient, unsigned char **der,
    size_t *derlen, char *err, size_t errlen);

/* Opens an AuthEnvelopedData with our key-exchange certificate and key.
 * Refuses anything that is not AuthEnvelopedData (e.g. plain EnvelopedData,
 * which has no integrity), a GCM tag shorter than 16 bytes, a wrong key, or
 * a tampered ciphertext/tag. *out xmalloc'd (wipe it with freezero_buf if it
 * held a secret); nothing is returned unless the tag verified. */
int cms_open(const unsigned char *der, size_t derlen, X509 *cert, EVP_PKEY *key,
    unsigned char **out, size_t *outlen, char *err, size_t errlen);

#endif
