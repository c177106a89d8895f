/*
 * The certificate checker. OpenSSL's X509_verify_cert does the path work
 * (chain to a trusted root, signatures, validity, basicConstraints, path
 * length, CRLs for every certificate in the path, strict X.509 checks);
 * this file adds what SET asks on top: the certificateType of the leaf, the
 * key usage, that each certificate was issued by the kind of CA that may
 * issue it (a merchant certificate from a merchant CA, and so on up to the
 * root), and the brand.
 *
 * Successful results are kept in a small direct-mapped cache keyed by the
 * SHA-256 of everything the answer depends on, so a daemon that sees the
 * same merchant or gateway certificate on every message verifies it once per
 * CRL period. Failures are never cached: they are rare, and a failure can
 * turn into a success when a CA or CRL is added.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "errbuf.h"
#include "log.h"
#include "pki.h"
#include "setcert.h"
#include "xmalloc.h"

#define PKI_CACHE_SLOTS 1024
#define PKI_DEPTH 8

struct pki_cache_entry {
	int used;
	unsigned char key[32];
	time_t expires; /* valid while now < expires */
	char *brand; /* NULL if the path had no BCA */
};

struct pki {
	STACK_OF(X509) *trusted;
	STACK_OF(X509) *cas;
	STACK_OF(X509_CRL) *crls; /* at most one per issuer name */
	X509_STORE *store; /* built lazily from trusted + crls */
	time_t time; /* 0: now */
	int no_crl_check; /* bootstrap only: see pki_set_crl_check */
	struct pki_cache_entry *cache;
	unsigned long hits;
};

static void
pki_cache_drop(struct pki *pki)
{
	size_t i;

	for (i = 0; i < PKI_CACHE_SLOTS; i++) {
		free(pki->cache[i].brand);
		memset(&pki->cache[i], 0, sizeof(pki->cache[i]));
	}
}

/* The trust store is rebuilt on the next verification. */
static void
pki_changed(struct pki *pki)
{
	X509_STORE_free(pki->store);
	pki->store = NULL;
	pki_cache_drop(pki);
}

struct pki *
pki_new(void)
{
	struct pki *pki = xcalloc(1, sizeof(*pki));

	if ((pki->trusted = sk_X509_new_null()) == NULL ||
	    (pki->cas = sk_X509_new_null()) == NULL ||
	    (pki->crls = sk_X509_CRL_new_null()) == NULL)
		log_fatalx("out of memory");
	pki->cache = xcalloc(PKI_CACHE_SLOTS, sizeof(*pki->cache));
	return pki;
}

void
pki_free(struct pki *pki)
{
	if (pki == NULL)
		return;
	pki_cache_drop(pki);
	free(pki->cache);
	X509_STORE_free(pki->store);
	sk_X509_pop_free(pki->trusted, X509_free);
	sk_X509_pop_free(pki->cas, X509_free);
	sk_X509_CRL_pop_free(pki->crls, X509_CRL_free);
	free(pki);
}

static int
pki_add(struct pki *pki, STACK_OF(X509) *sk, X509 *cert)
{
	int i;

	if (cert == NULL)
		return -1;
	for (i = 0; i < sk_X509_num(sk); i++)
		if (X509_cmp(sk_X509_value(sk, i), cert) == 0)
			return 0;
	if (!X509_up_ref(cert))
		return -1;
	if (!sk_X509_push(sk, cert))
		log_fatalx("out of memory");
	pki_changed(pki);
	return 0;
}

int
pki_add_trusted(struct pki *pki, X509 *root)
{
	return pki_add(pki, pki->trusted, root);
}

int
pki_add_ca(struct pki *pki, X509 *ca)
{
	return pki_add(pki, pki->cas, ca);
}

int
pki_load_certs(
    struct pki *pki, const char *path, int trusted, char *err, size_t errlen)
{
	STACK_OF(X509) *certs;
	int i, ret = 0;

	if ((certs = setcert_read_certs(path, err, errlen)) == NULL)
		return -1;
	for (i = 0; i < sk_X509_num(certs); i++) {
		X509 *cert = sk_X509_value(certs, i);

		if ((trusted ? pki_add_trusted(pki, cert)
		             : pki_add_ca(pki, cert)) == -1) {
			errbuf_set(err, errlen, "%s: cannot add certificate %d",
			    path, i + 1);
			ret = -1;
			break;
		}
	}
	sk_X509_pop_free(certs, X509_free);
	return ret;
}

/* The subject of a certificate for messages; xmalloc'd. */
static char *
pki_name(X509 *cert)
{
	return cert ? setcert_subject(cert) : xstrdup("(unknown)");
}

static char *
pki_name_str(const X509_NAME *name)
{
	BIO *bio;
	char *data, *s;
	long n;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		log_fatalx("out of memory");
	if (X509_NAME_print_ex(
	        bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
		log_fatalx("cannot print a name");
	n = BIO_get_mem_data(bio, &data);
	s = xstrndup(data, n > 0 ? (size_t)n : 0);
	BIO_free(bio);
	return s;
}

/* A CA the pki knows, by subject, whose key verifies the CRL; or NULL. */
static X509 *
pki_crl_signer(struct pki *pki, X509_CRL *crl)
{
	STACK_OF(X509) *lists[2] = { pki->trusted, pki->cas };
	X509 *ca;
	EVP_PKEY *key;
	int i, j, ok;

	for (j = 0; j < 2; j++) {
		for (i = 0; i < sk_X509_num(lists[j]); i++) {
			ca = sk_X509_value(lists[j], i);
			if (X509_NAME_cmp(X509_get_subject_name(ca),
			        X509_CRL_get_issuer(crl)) != 0)
				continue;
			if ((key = X509_get0_pubkey(ca)) == NULL)
				continue;
			ERR_set_mark();
			ok = X509_CRL_verify(crl, key) == 1;
			ERR_pop_to_mark();
			if (ok)
				return ca;
		}
	}
	return NULL;
}

int
pki_set_crl(struct pki *pki, X509_CRL *crl, char *err, size_t errlen)
{
	ASN1_INTEGER *num = NULL, *oldnum = NULL;
	X509_CRL *old = NULL;
	X509 *ca;
	char *issuer;
	int i, crit, oldidx = -1, ret = -1;

	if (crl == NULL) {
		errbuf_set(err, errlen, "no CRL");
		return -1;
	}
	issuer = pki_name_str(X509_CRL_get_issuer(crl));
	if ((ca = pki_crl_signer(pki, crl)) == NULL) {
		errbuf_set(err, errlen,
		    "CRL of \"%s\": its signature does not verify against "
		    "any known CA",
		    issuer);
		goto out;
	}
	if (X509_check_ca(ca) == 0 ||
	    ((X509_get_extension_flags(ca) & EXFLAG_KUSAGE) &&
	        (X509_get_key_usage(ca) & KU_CRL_SIGN) == 0)) {
		errbuf_set(err, errlen,
		    "CRL of \"%s\": that certificate may not sign CRLs",
		    issuer);
		goto out;
	}
	ERR_set_mark();
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit, NULL);
	i = X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1);
	ERR_pop_to_mark();
	if (num == NULL) {
		errbuf_set(
		    err, errlen, "CRL of \"%s\" has no crlNumber", issuer);
		goto out;
	}
	if (i >= 0) {
		errbuf_set(err, errlen,
		    "CRL of \"%s\" is a delta CRL: not supported", issuer);
		goto out;
	}
	if (X509_CRL_get0_nextUpdate(crl) == NULL) {
		errbuf_set(
		    err, errlen, "CRL of \"%s\" has no nextUpdate", issuer);
		goto out;
	}
	for (i = 0; i < sk_X509_CRL_num(pki->crls); i++) {
		if (X509_NAME_cmp(
		        X509_CRL_get_issuer(sk_X509_CRL_value(pki->crls, i)),
		        X509_CRL_get_issuer(crl)) == 0) {
			oldidx = i;
			old = sk_X509_CRL_value(pki->crls, i);
			break;
		}
	}
	if (old != NULL) {
		ERR_set_mark();
		oldnum = X509_CRL_get_ext_d2i(old, NID_crl_number, &crit, NULL);
		ERR_pop_to_mark();
		if (oldnum != NULL && ASN1_INTEGER_cmp(num, oldnum) < 0) {
			errbuf_set(err, errlen,
			    "CRL of \"%s\": crlNumber %ld is older than the "
			    "installed %ld (rollback refused)",
			    issuer, ASN1_INTEGER_get(num),
			    ASN1_INTEGER_get(oldnum));
			goto out;
		}
		if (oldnum != NULL && ASN1_INTEGER_cmp(num, oldnum) == 0) {
			unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
			unsigned int alen, blen;

			if (!X509_CRL_digest(old, EVP_sha256(), a, &alen) ||
			    !X509_CRL_digest(crl, EVP_sha256(), b, &blen) ||
			    alen != blen || memcmp(a, b, alen) != 0) {
				ERR_clear_error();
				errbuf_set(err, errlen,
				    "CRL of \"%s\": a different CRL with the "
				    "same crlNumber %ld is installed",
				    issuer, ASN1_INTEGER_get(num));
				goto out;
			}
			/* The same CRL again (a periodic reload): nothing
			 * changes, so the cache stays. */
			ret = 0;
			goto out;
		}
	}
	if (!X509_CRL_up_ref(crl))
		goto out;
	if (oldidx >= 0) {
		X509_CRL_free(sk_X509_CRL_value(pki->crls, oldidx));
		(void)sk_X509_CRL_set(pki->crls, oldidx, crl);
	} else if (!sk_X509_CRL_push(pki->crls, crl))
		log_fatalx("out of memory");
	pki_changed(pki);
	log_debug("installed CRL %ld of \"%s\"", ASN1_INTEGER_get(num), issuer);
	ret = 0;
out:
	ASN1_INTEGER_free(num);
	ASN1_INTEGER_free(oldnum);
	free(issuer);
	return ret;
}

int
pki_load_crl(struct pki *pki, const char *path, char *err, size_t errlen)
{
	STACK_OF(X509_CRL) *crls;
	int i, ret = 0;

	if ((crls = setcert_read_crls(path, err, errlen)) == NULL)
		return -1;
	for (i = 0; i < sk_X509_CRL_num(crls) && ret == 0; i++)
		ret = pki_set_crl(pki, sk_X509_CRL_value(crls, i), err, errlen);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return ret;
}

void
pki_set_time(struct pki *pki, time_t t)
{
	pki->time = t;
	pki_cache_drop(pki);
}

void
pki_set_crl_check(struct pki *pki, int on)
{
	pki->no_crl_check = !on;
	pki_cache_drop(pki);
}

unsigned long
pki_cache_hits(const struct pki *pki)
{
	return pki->hits;
}

const char *
pki_result_code(enum pki_result r)
{
	switch (r) {
	case PKI_OK:
		return "ok";
	case PKI_ERR_UNKNOWN_ISSUER:
		return "unknown-issuer";
	case PKI_ERR_SIGNATURE:
		return "bad-signature";
	case PKI_ERR_EXPIRED:
		return "expired";
	case PKI_ERR_NOT_YET_VALID:
		return "not-yet-valid";
	case PKI_ERR_REVOKED:
		return "revoked";
	case PKI_ERR_ROLE:
		return "wrong-role";
	case PKI_ERR_USAGE:
		return "wrong-usage";
	case PKI_ERR_PATHLEN:
		return "path-length";
	case PKI_ERR_CRL:
		return "crl-unavailable";
	case PKI_ERR_BRAND:
		return "wrong-brand";
	case PKI_ERR_OTHER:
		break;
	}
	return "invalid-certificate";
}

static X509_STORE *
pki_store(struct pki *pki)
{
	X509_STORE *store;
	int i;

	if (pki->store != NULL)
		return pki->store;
	if ((store = X509_STORE_new()) == NULL)
		log_fatalx("out of memory");
	for (i = 0; i < sk_X509_num(pki->trusted); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(pki->trusted, i)))
			goto fail;
	for (i = 0; i < sk_X509_CRL_num(pki->crls); i++)
		if (!X509_STORE_add_crl(store, sk_X509_CRL_value(pki->crls, i)))
			goto fail;
	pki->store = store;
	return store;
fail:
	log_openssl("building the trust store", NULL, 0);
	X509_STORE_free(store);
	return NULL;
}

static enum pki_result
pki_map_error(int e)
{
	switch (e) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_REJECTED:
	case X509_V_ERR_AKID_SKID_MISMATCH:
	case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH:
	case X509_V_ERR_SUBJECT_ISSUER_MISMATCH:
		return PKI_ERR_UNKNOWN_ISSUER;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
		return PKI_ERR_SIGNATURE;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return PKI_ERR_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return PKI_ERR_NOT_YET_VALID;
	case X509_V_ERR_CERT_REVOKED:
		return PKI_ERR_REVOKED;
	case X509_V_ERR_INVALID_CA:
		return PKI_ERR_ROLE;
	case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
	case X509_V_ERR_INVALID_PURPOSE:
		return PKI_ERR_USAGE;
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
	case X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED:
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
		return PKI_ERR_PATHLEN;
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
	case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
	case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
	case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
	case X509_V_ERR_DIFFERENT_CRL_SCOPE:
	case X509_V_ERR_CRL_PATH_VALIDATION_ERROR:
		return PKI_ERR_CRL;
	default:
		return PKI_ERR_OTHER;
	}
}

/* ASN1_TIME to time_t; 0 if it cannot be read. */
static time_t
pki_time_t(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

static void
pki_hash_update(EVP_MD_CTX *md, const void *p, size_t n)
{
	if (!EVP_DigestUpdate(md, p, n))
		log_fatalx("SHA-256 failed");
}

static void
pki_hash_u32(EVP_MD_CTX *md, unsigned v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24),
		(unsigned char)(v >> 16), (unsigned char)(v >> 8),
		(unsigned char)v };

	pki_hash_update(md, b, sizeof(b));
}

static void
pki_hash_cert(EVP_MD_CTX *md, X509 *cert)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n;

	if (!X509_digest(cert, EVP_sha256(), d, &n))
		log_fatalx("cannot hash a certificate");
	pki_hash_update(md, d, n);
}

/*
 * The cache key: SHA-256 over the leaf's SHA-256, the wanted types, usage
 * and brand (length-prefixed), and the SHA-256 of each untrusted cert.
 */
static void
pki_cache_key(X509 *leaf, STACK_OF(X509) *untrusted, unsigned want_types,
    unsigned want_usage, const char *want_brand, unsigned char key[32])
{
	EVP_MD_CTX *md;
	unsigned int n;
	int i;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		log_fatalx("SHA-256 failed");
	pki_hash_cert(md, leaf);
	pki_hash_u32(md, want_types);
	pki_hash_u32(md, want_usage);
	if (want_brand != NULL) {
		pki_hash_u32(md, 1);
		pki_hash_u32(md, (unsigned)strlen(want_brand));
		pki_hash_update(md, want_brand, strlen(want_brand));
	} else
		pki_hash_u32(md, 0);
	pki_hash_u32(md, (unsigned)sk_X509_num(untrusted));
	for (i = 0; i < sk_X509_num(untrusted); i++)
		pki_hash_cert(md, sk_X509_value(untrusted, i));
	if (!EVP_DigestFinal_ex(md, key, &n) || n != 32)
		log_fatalx("SHA-256 failed");
	EVP_MD_CTX_free(md);
}

static struct pki_cache_entry *
pki_cache_slot(struct pki *pki, const unsigned char key[32])
{
	return &pki->cache[((size_t)key[0] << 8 | key[1]) % PKI_CACHE_SLOTS];
}

/* The installed CRL of an issuer name, or NULL. */
static X509_CRL *
pki_crl_of(struct pki *pki, const X509_NAME *issuer)
{
	int i;

	for (i = 0; i < sk_X509_CRL_num(pki->crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(pki->crls, i);

		if (X509_NAME_cmp(X509_CRL_get_issuer(crl), issuer) == 0)
			return crl;
	}
	return NULL;
}

/* Until when a successful answer for this chain holds. */
static time_t
pki_chain_expiry(struct pki *pki, STACK_OF(X509) *chain)
{
	time_t expires = 0, t;
	X509_CRL *crl;
	X509 *cert;
	int i;

	for (i = 0; i < sk_X509_num(chain); i++) {
		cert = sk_X509_value(chain, i);
		t = pki_time_t(X509_get0_notAfter(cert));
		if (t == 0)
			return 0;
		if (expires == 0 || t < expires)
			expires = t;
		crl = pki_crl_of(pki, X509_get_issuer_name(cert));
		if (crl == NULL)
			continue;
		t = pki_time_t(X509_CRL_get0_nextUpdate(crl));
		if (t == 0)
			return 0;
		if (t < expires)
			expires = t;
	}
	return expires;
}

/* The issuer type bits a certificate of these types needs. 0: none can. */
static unsigned
pki_issuer_needs(unsigned types)
{
	unsigned need = 0;

	types &= ~(unsigned)SETCERT_ACQ;
	if (types == 0)
		return SETCERT_BCA;
	if (types & SETCERT_RCA)
		return 0;
	if (types & SETCERT_CARD)
		need |= SETCERT_CCA;
	if (types & SETCERT_MER)
		need |= SETCERT_MCA;
	if (types & SETCERT_PGWY)
		need |= SETCERT_PCA;
	if (types & (SETCERT_CCA | SETCERT_MCA | SETCERT_PCA | SETCERT_GCA))
		need |= SETCERT_BCA;
	if (types & SETCERT_BCA)
		need |= SETCERT_RCA;
	return need;
}

/* The first O of a certificate's subject, xmalloc'd UTF-8, or NULL. */
static char *
pki_org(X509 *cert)
{
	X509_NAME *name = X509_get_subject_name(cert);
	unsigned char *utf8;
	char *s;
	int idx, n;

	if ((idx = X509_NAME_get_index_by_NID(name, NID_organizationName, -1)) <
	    0)
		return NULL;
	n = ASN1_STRING_to_UTF8(
	    &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
	if (n < 0) {
		ERR_clear_error();
		return NULL;
	}
	s = xstrndup((const char *)utf8, (size_t)n);
	OPENSSL_free(utf8);
	if (strlen(s) != (size_t)n) { /* an embedded NUL */
		free(s);
		return NULL;
	}
	return s;
}

/* "signing, key exchange" for messages. */
static void
pki_usage_string(unsigned usage, char *buf, size_t len)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = { { SETCERT_SIGN, "signing" },
		{ SETCERT_KEYEX, "key exchange" },
		{ SETCERT_CA, "issuing certificates" },
		{ SETCERT_TLS_SERVER, "TLS server" },
		{ SETCERT_TLS_CLIENT, "TLS client" } };
	size_t i, used = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((usage & names[i].bit) == 0)
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
		    names[i].name);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}

/* SET's rules on a chain OpenSSL has accepted; PKI_OK or the refusal. */
static enum pki_result
pki_check_roles(STACK_OF(X509) *chain, unsigned want_types, unsigned want_usage,
    const char *want_brand, char **brand, char *err, size_t errlen)
{
	X509 *leaf = sk_X509_value(chain, 0), *cert, *issuer;
	unsigned types = setcert_types(leaf), usage = setcert_usage_of(leaf);
	unsigned need, itypes;
	char have[160], want[160], *subj = NULL, *isubj = NULL;
	enum pki_result r = PKI_ERR_ROLE;
	int i, n = sk_X509_num(chain);

	*brand = NULL;
	if (want_types != 0 && (types & want_types) != want_types) {
		setcert_types_string(types, have, sizeof(have));
		setcert_types_string(want_types, want, sizeof(want));
		subj = pki_name(leaf);
		if (types == 0)
			errbuf_set(err, errlen,
			    "certificate \"%s\" has no SET type, it is not a "
			    "%s certificate",
			    subj, want);
		else
			errbuf_set(err, errlen,
			    "certificate \"%s\" is a %s certificate, not a %s "
			    "one",
			    subj, have, want);
		goto out;
	}
	if ((X509_check_ca(leaf) != 0 || (types & SETCERT_CA_TYPES)) &&
	    (want_types & SETCERT_CA_TYPES) == 0) {
		subj = pki_name(leaf);
		errbuf_set(err, errlen,
		    "certificate \"%s\" belongs to a CA: not accepted as an "
		    "end entity",
		    subj);
		goto out;
	}
	if (want_usage != 0 && (usage & want_usage) != want_usage) {
		pki_usage_string(want_usage & ~usage, want, sizeof(want));
		subj = pki_name(leaf);
		errbuf_set(err, errlen,
		    "certificate \"%s\" may not be used for %s", subj, want);
		r = PKI_ERR_USAGE;
		goto out;
	}
	/* One key, one job: SET keeps signing and key exchange apart. */
	if ((want_usage & (SETCERT_SIGN | SETCERT_KEYEX)) &&
	    (usage & SETCERT_SIGN) && (usage & SETCERT_KEYEX)) {
		subj = pki_name(leaf);
		errbuf_set(err, errlen,
		    "certificate \"%s\" mixes signing and key exchange", subj);
		r = PKI_ERR_USAGE;
		goto out;
	}
	for (i = 0; i + 1 < n; i++) {
		cert = sk_X509_value(chain, i);
		issuer = sk_X509_value(chain, i + 1);
		need = pki_issuer_needs(setcert_types(cert));
		itypes = setcert_types(issuer);
		if (need != 0 && (itypes & need) == need)
			continue;
		setcert_types_string(setcert_types(cert), have, sizeof(have));
		setcert_types_string(itypes, want, sizeof(want));
		subj = pki_name(cert);
		isubj = pki_name(issuer);
		errbuf_set(err, errlen,
		    "certificate \"%s\" (%s) may not be issued by \"%s\" (%s)",
		    subj, have, isubj, want);
		goto out;
	}
	for (i = 0; i < n; i++) {
		cert = sk_X509_value(chain, i);
		if (setcert_types(cert) & SETCERT_BCA) {
			*brand = pki_org(cert);
			break;
		}
	}
	if (want_brand != NULL &&
	    (*brand == NULL || strcmp(*brand, want_brand) != 0)) {
		subj = pki_name(leaf);
		errbuf_set(err, errlen,
		    "certificate \"%s\" is of brand \"%s\", not \"%s\"", subj,
		    *brand ? *brand : "(none)", want_brand);
		r = PKI_ERR_BRAND;
		goto out;
	}
	r = PKI_OK;
out:
	if (r != PKI_OK) {
		free(*brand);
		*brand = NULL;
	}
	free(subj);
	free(isubj);
	return r;
}

enum pki_result
pki_verify(struct pki *pki, X509 *leaf, STACK_OF(X509) *untrusted,
    unsigned want_types, unsigned want_usage, const char *want_brand,
    char **brand_out, char *err, size_t errlen)
{
	X509_STORE_CTX *ctx = NULL;
	X509_STORE *store;
	X509_VERIFY_PARAM *param;
	STACK_OF(X509) *chain = NULL, *path;
	struct pki_cache_entry *slot;
	unsigned char key[32];
	enum pki_result r = PKI_ERR_OTHER;
	char *brand = NULL, *subj, *lsubj;
	X509 *cur;
	time_t now = pki->time ? pki->time : time(NULL);
	int i, e, rc;

	if (brand_out != NULL)
		*brand_out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (leaf == NULL) {
		errbuf_set(err, errlen, "no certificate");
		return PKI_ERR_OTHER;
	}

	pki_cache_key(leaf, untrusted, want_types, want_usage, want_brand, key);
	slot = pki_cache_slot(pki, key);
	if (slot->used && memcmp(slot->key, key, sizeof(key)) == 0 &&
	    now < slot->expires) {
		pki->hits++;
		if (brand_out != NULL && slot->brand != NULL)
			*brand_out = xstrdup(slot->brand);
		return PKI_OK;
	}

	if ((store = pki_store(pki)) == NULL) {
		errbuf_set(err, errlen, "cannot build the trust store");
		return PKI_ERR_OTHER;
	}
	if ((chain = sk_X509_dup(pki->cas)) == NULL)
		log_fatalx("out of memory");
	for (i = 0; i < sk_X509_num(untrusted); i++)
		if (!sk_X509_push(chain, sk_X509_value(untrusted, i)))
			log_fatalx("out of memory");
	if ((ctx = X509_STORE_CTX_new()) == NULL)
		log_fatalx("out of memory");
	if (!X509_STORE_CTX_init(ctx, store, leaf, chain)) {
		log_openssl("X509_STORE_CTX_init", err, errlen);
		goto out;
	}
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
	if (!pki->no_crl_check)
		X509_VERIFY_PARAM_set_flags(
		    param, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	X509_VERIFY_PARAM_set_depth(param, PKI_DEPTH);
	X509_VERIFY_PARAM_set_time(param, now);

	rc = X509_verify_cert(ctx);
	if (rc != 1) {
		e = X509_STORE_CTX_get_error(ctx);
		if (rc < 0 || e == X509_V_OK) {
			log_openssl("X509_verify_cert", NULL, 0);
			subj = pki_name(leaf);
			errbuf_set(err, errlen,
			    "certificate \"%s\": verification failed", subj);
			free(subj);
			r = PKI_ERR_OTHER;
			goto out;
		}
		ERR_clear_error();
		r = pki_map_error(e);
		cur = X509_STORE_CTX_get_current_cert(ctx);
		subj = pki_name(cur);
		if (cur != NULL && X509_cmp(cur, leaf) != 0) {
			lsubj = pki_name(leaf);
			errbuf_set(err, errlen,
			    "certificate \"%s\" (in the path of \"%s\"): %s",
			    subj, lsubj, X509_verify_cert_error_string(e));
			free(lsubj);
		} else
			errbuf_set(err, errlen, "certificate \"%s\": %s", subj,
			    X509_verify_cert_error_string(e));
		free(subj);
		goto out;
	}
	path = X509_STORE_CTX_get0_chain(ctx);
	if ((r = pki_check_roles(path, want_types, want_usage, want_brand,
	         &brand, err, errlen)) != PKI_OK)
		goto out;

	free(slot->brand);
	memset(slot, 0, sizeof(*slot));
	slot->expires = pki_chain_expiry(pki, path);
	if (slot->expires > now) {
		slot->used = 1;
		memcpy(slot->key, key, sizeof(key));
		slot->brand = brand ? xstrdup(brand) : NULL;
	}
	if (brand_out != NULL) {
		*brand_out = brand;
		brand = NULL;
	}
out:
	free(brand);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(chain);
	return r;
}
