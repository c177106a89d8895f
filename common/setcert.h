/*
 * Making SET certificates, requests and CRLs, and reading and writing them.
 *
 * The hierarchy (docs/protocol.md): Root CA -> Brand CA (one per brand; the
 * brand is the BCA's subject O) -> cardholder, merchant and gateway CAs ->
 * end entities. Cardholders hold a signature certificate; merchants and
 * gateways hold a signature certificate and a separate key-exchange one.
 * Every certificate says what it is (SET's certificateType) and what its key
 * may do (keyUsage, extendedKeyUsage). All keys are ECDSA/ECDH P-256 and all
 * signatures SHA-256. The checker every verifier uses is in pki.h.
 *
 * Ownership: functions returning X509, X509_CRL, X509_REQ or EVP_PKEY give
 * the caller a new reference (free it with the matching *_free); functions
 * taking them only borrow them. char and unsigned char results are
 * xmalloc'd: free() them.
 */
#ifndef SETCERT_H
#define SETCERT_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/*
 * SET certificateType (SET Book 2: id-set-certExt 1, OID 2.23.42.7.1 =
 * NID_setCext_certType), a BIT STRING with these bit numbers; we carry it
 * NON-critical so stock `openssl verify` accepts our certificates.
 */
enum setcert_type {
	SETCERT_CARD = 1 << 0,
	SETCERT_MER = 1 << 1,
	SETCERT_PGWY = 1 << 2,
	SETCERT_CCA = 1 << 3,
	SETCERT_MCA = 1 << 4,
	SETCERT_PCA = 1 << 5,
	SETCERT_GCA = 1 << 6,
	SETCERT_BCA = 1 << 7,
	SETCERT_RCA = 1 << 8,
	SETCERT_ACQ = 1 << 9
};

/* The type bits that name a certification authority. */
#define SETCERT_CA_TYPES                                                       \
	(SETCERT_CCA | SETCERT_MCA | SETCERT_PCA | SETCERT_GCA | SETCERT_BCA | \
	    SETCERT_RCA)

/*
 * What a key may do. SIGN: keyUsage digitalSignature (+nonRepudiation);
 * KEYEX: keyUsage keyAgreement only; CA: keyCertSign + cRLSign +
 * digitalSignature (a SET CA also signs its protocol messages); TLS_SERVER /
 * TLS_CLIENT: extendedKeyUsage serverAuth / clientAuth, and keyUsage
 * digitalSignature (a TLS 1.3 key signs the handshake). A key is either for
 * signing or for key exchange, never both: setcert_issue() refuses
 * KEYEX with SIGN, CA or TLS_*.
 */
enum setcert_usage {
	SETCERT_SIGN = 1,
	SETCERT_KEYEX = 2,
	SETCERT_CA = 4,
	SETCERT_TLS_SERVER = 8,
	SETCERT_TLS_CLIENT = 16
};

/* A fresh P-256 key; fatal (log_fatalx) only if OpenSSL cannot make one. */
EVP_PKEY *setcert_keygen(void);

struct setcert_spec {
	/* The subject's key (only its public half is used). */
	EVP_PKEY *pubkey;
	/* NULL: self-signed, signed with issuer_key (the subject's key). */
	X509 *issuer;
	EVP_PKEY *issuer_key;
	/* Subject attributes; NULL ones omitted; cn required. */
	const char *cn, *o, *ou, *country;
	/* SETCERT_* type bits (0: no certificateType extension). */
	unsigned types;
	/* SETCERT_SIGN | ... */
	unsigned usage;
	/* basicConstraints critical CA:TRUE, else critical CA:FALSE; must
	 * agree with SETCERT_CA in usage. */
	int is_ca;
	/* For CAs: pathLenConstraint, -1 for none. */
	int pathlen;
	time_t not_before, not_after;
	/* CRL distribution point URI, optional. */
	const char *crl_url;
	/* NULL-terminated subjectAltName DNS names / IP addresses, optional. */
	const char *const *dns;
	const char *const *ips;
};

/*
 * Issues a certificate: random positive 128-bit serial, version 3, SKI, AKI
 * (when issued), keyUsage critical, and the extensions above. Refuses specs
 * that make no sense (an issuer key that is not the issuer's, is_ca without
 * SETCERT_CA, a CARD/MER/PGWY type on a CA, not_after <= not_before, ...).
 * Returns a new X509 (X509_free it) or NULL with a reason.
 */
X509 *setcert_issue(const struct setcert_spec *spec, char *err, size_t errlen);

/* The certificateType bits, 0 when absent or unparseable. */
unsigned setcert_types(X509 *cert);

/*
 * SETCERT_* usage bits derived from keyUsage/EKU: SIGN if digitalSignature,
 * KEYEX if keyAgreement, CA if a CA with keyCertSign, TLS_* from the EKU. A
 * certificate without keyUsage (or with invalid extensions) has no usage.
 */
unsigned setcert_usage_of(X509 *cert);

/* "merchant+gateway", "none", ... into buf, for messages and logs. */
void setcert_types_string(unsigned types, char *buf, size_t len);

/*
 * Checks a PKCS#10 request from a peer: its self-signature verifies (proof of
 * possession), its key is EC P-256, and it asks for nothing a requester may
 * not choose: any requested extension that is critical, a basicConstraints
 * CA:TRUE, or a certificateType / keyUsage request is refused with a clear
 * reason. 0 if acceptable, else -1.
 */
int setcert_csr_check(X509_REQ *req, char *err, size_t errlen);

/* A request signed by key with subject CN=cn, for enrollment clients. */
X509_REQ *setcert_csr_new(
    EVP_PKEY *key, const char *cn, char *err, size_t errlen);
/* xmalloc'd DER. */
unsigned char *setcert_csr_der(X509_REQ *req, size_t *len);
/* NULL on garbage or trailing bytes. */
X509_REQ *setcert_csr_from_der(const unsigned char *der, size_t len);

/*
 * serial_hex as setcert_serial_hex() gives it; reason is a CRL_REASON_* from
 * x509v3.h (NONE and UNSPECIFIED put no reasonCode in the entry, as RFC 5280
 * 5.3.1 asks).
 */
struct setcert_revoked {
	const char *serial_hex;
	time_t when;
	int reason;
};

/*
 * A version 2 CRL signed by issuer_key: crlNumber extension, AKI,
 * lastUpdate/nextUpdate, entries with reason codes. Returns a new X509_CRL
 * or NULL with a reason.
 */
X509_CRL *setcert_crl(X509 *issuer, EVP_PKEY *issuer_key,
    const struct setcert_revoked *revoked, size_t nrevoked, long crl_number,
    time_t this_update, time_t next_update, char *err, size_t errlen);
/* xmalloc'd DER. */
unsigned char *setcert_crl_der(X509_CRL *crl, size_t *len);
/* NULL on garbage or trailing bytes. */
X509_CRL *setcert_crl_from_der(const unsigned char *der, size_t len);

/*
 * Files and encodings. Writing is atomic (temporary file in the same folder,
 * fsync, rename); keys are PKCS#8 PEM created with mode 0600 (refuse to
 * overwrite an existing key file). Reading a key never prompts for a
 * passphrase: an encrypted key file is refused.
 */
int setcert_write_key(
    const char *path, EVP_PKEY *key, char *err, size_t errlen);
EVP_PKEY *setcert_read_key(const char *path, char *err, size_t errlen);
/* Certificates as PEM, mode 0644. */
int setcert_write_pem(
    const char *path, X509 *const *certs, size_t n, char *err, size_t errlen);
/* A CRL as PEM, mode 0644. */
int setcert_write_crl(
    const char *path, X509_CRL *crl, char *err, size_t errlen);
/* A CRL from a PEM or DER file (the first, for PEM). */
X509_CRL *setcert_read_crl(const char *path, char *err, size_t errlen);
/* Every CRL of a PEM file (or the one of a DER file), at least one; free
 * with sk_X509_CRL_pop_free(sk, X509_CRL_free). */
STACK_OF(X509_CRL) *setcert_read_crls(
    const char *path, char *err, size_t errlen);
/* The first certificate in a PEM file. */
X509 *setcert_read_cert(const char *path, char *err, size_t errlen);
/* All of them, at least one; free with sk_X509_pop_free(sk, X509_free). */
STACK_OF(X509) *setcert_read_certs(const char *path, char *err, size_t errlen);

/* xmalloc'd PEM text. */
char *setcert_pem(X509 *cert);
/* NULL on garbage. */
X509 *setcert_from_pem(const char *pem, size_t len);
/* xmalloc'd DER. */
unsigned char *setcert_der(X509 *cert, size_t *len);
/* NULL on garbage or trailing bytes. */
X509 *setcert_from_der(const unsigned char *der, size_t len);
/* Hex SHA-256 of the DER, xmalloc'd. */
char *setcert_thumbprint(X509 *cert);
/* Lower-case hex serial, xmalloc'd. */
char *setcert_serial_hex(X509 *cert);
/* One-line RFC 2253 subject, xmalloc'd. */
char *setcert_subject(X509 *cert);

#endif
