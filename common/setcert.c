/*
 * SET certificates, requests and CRLs: what the CA daemon issues, what an
 * enrolling party asks for, and the files and encodings they travel in.
 *
 * The certificateType extension (SET Book 2, id-set-certExt 1) has no
 * OpenSSL method, so it is encoded here as a plain DER BIT STRING inside a
 * non-critical extension. Every other extension is built from OpenSSL's own
 * structures (never from configuration strings, so no subject name or URL
 * can inject extension syntax). Files are written atomically: a temporary
 * file in the same folder, fsync, then rename (or link, for keys, so an
 * existing key is never replaced).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "hex.h"
#include "errbuf.h"
#include "log.h"
#include "setcert.h"
#include "xmalloc.h"

/* Bit numbers of keyUsage (RFC 5280 4.2.1.3). */
#define KU_BIT_DIGITAL_SIGNATURE 0
#define KU_BIT_NON_REPUDIATION 1
#define KU_BIT_KEY_AGREEMENT 4
#define KU_BIT_KEY_CERT_SIGN 5
#define KU_BIT_CRL_SIGN 6

#define SETCERT_NTYPES 10
#define SETCERT_MAX_FILE (64L * 1024 * 1024)

#define SETCERT_ENTITY_TYPES (SETCERT_CARD | SETCERT_MER | SETCERT_PGWY)

EVP_PKEY *
setcert_keygen(void)
{
	EVP_PKEY *key;

	if ((key = EVP_EC_gen("P-256")) == NULL) {
		log_openssl("EC key generation", NULL, 0);
		log_fatalx("cannot generate a P-256 key");
	}
	return key;
}

void
setcert_types_string(unsigned types, char *buf, size_t len)
{
	static const char *names[SETCERT_NTYPES] = { "cardholder", "merchant",
		"gateway", "cardholder-CA", "merchant-CA", "gateway-CA",
		"geopolitical-CA", "brand-CA", "root-CA", "acquirer" };
	size_t used = 0;
	int i, n;

	if (len == 0)
		return;
	buf[0] = '\0';
	if ((types & ((1u << SETCERT_NTYPES) - 1)) == 0) {
		snprintf(buf, len, "none");
		return;
	}
	for (i = 0; i < SETCERT_NTYPES; i++) {
		if ((types & (1u << i)) == 0)
			continue;
		n = snprintf(
		    buf + used, len - used, "%s%s", used ? "+" : "", names[i]);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}

/* A BIT STRING with the given bit numbers set (DER: trailing zeros cut). */
static ASN1_BIT_STRING *
setcert_bits(unsigned bits, int nbits)
{
	ASN1_BIT_STRING *bs;
	int i;

	if ((bs = ASN1_BIT_STRING_new()) == NULL)
		return NULL;
	for (i = 0; i < nbits; i++) {
		if ((bits & (1u << i)) && !ASN1_BIT_STRING_set_bit(bs, i, 1)) {
			ASN1_BIT_STRING_free(bs);
			return NULL;
		}
	}
	return bs;
}

static int
setcert_add_certtype(X509 *cert, unsigned types)
{
	ASN1_BIT_STRING *bs = NULL;
	ASN1_OCTET_STRING *os = NULL;
	X509_EXTENSION *ext = NULL;
	unsigned char *der = NULL;
	int len, ret = -1;

	if ((bs = setcert_bits(types, SETCERT_NTYPES)) == NULL)
		goto out;
	if ((len = i2d_ASN1_BIT_STRING(bs, &der)) <= 0)
		goto out;
	if ((os = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(os, der, len))
		goto out;
	ext = X509_EXTENSION_create_by_NID(NULL, NID_setCext_certType, 0, os);
	if (ext == NULL || !X509_add_ext(cert, ext, -1))
		goto out;
	ret = 0;
out:
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	OPENSSL_free(der);
	ASN1_BIT_STRING_free(bs);
	return ret;
}

unsigned
setcert_types(X509 *cert)
{
	X509_EXTENSION *ext;
	const ASN1_OCTET_STRING *os;
	const unsigned char *p;
	ASN1_BIT_STRING *bs;
	unsigned types = 0;
	int i, idx;

	if (cert == NULL)
		return 0;
	if ((idx = X509_get_ext_by_NID(cert, NID_setCext_certType, -1)) < 0)
		return 0;
	/* Two of them is ambiguous: no type at all. */
	if (X509_get_ext_by_NID(cert, NID_setCext_certType, idx) >= 0)
		return 0;
	ext = X509_get_ext(cert, idx);
	os = X509_EXTENSION_get_data(ext);
	p = ASN1_STRING_get0_data(os);
	ERR_set_mark();
	bs = d2i_ASN1_BIT_STRING(NULL, &p, ASN1_STRING_length(os));
	ERR_pop_to_mark();
	if (bs == NULL)
		return 0;
	if (p != ASN1_STRING_get0_data(os) + ASN1_STRING_length(os)) {
		ASN1_BIT_STRING_free(bs);
		return 0;
	}
	for (i = 0; i < SETCERT_NTYPES; i++)
		if (ASN1_BIT_STRING_get_bit(bs, i))
			types |= 1u << i;
	ASN1_BIT_STRING_free(bs);
	return types;
}

unsigned
setcert_usage_of(X509 *cert)
{
	uint32_t flags, ku, xku;
	unsigned usage = 0;

	if (cert == NULL)
		return 0;
	flags = X509_get_extension_flags(cert);
	if (flags & EXFLAG_INVALID)
		return 0;
	if (flags & EXFLAG_KUSAGE) {
		ku = X509_get_key_usage(cert);
		if (ku & KU_DIGITAL_SIGNATURE)
			usage |= SETCERT_SIGN;
		if (ku & KU_KEY_AGREEMENT)
			usage |= SETCERT_KEYEX;
		if ((ku & KU_KEY_CERT_SIGN) && X509_check_ca(cert) == 1)
			usage |= SETCERT_CA;
	}
	if (flags & EXFLAG_XKUSAGE) {
		xku = X509_get_extended_key_usage(cert);
		if (xku & XKU_SSL_SERVER)
			usage |= SETCERT_TLS_SERVER;
		if (xku & XKU_SSL_CLIENT)
			usage |= SETCERT_TLS_CLIENT;
	}
	return usage;
}

static int
setcert_add_name(X509_NAME *name, int nid, const char *value)
{
	if (value == NULL)
		return 0;
	if (!X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
	        (const unsigned char *)value, -1, -1, 0))
		return -1;
	return 0;
}

static X509_NAME *
setcert_make_name(const struct setcert_spec *spec, char *err, size_t errlen)
{
	X509_NAME *name;

	if ((name = X509_NAME_new()) == NULL)
		log_fatalx("out of memory");
	if (setcert_add_name(name, NID_countryName, spec->country) == -1) {
		errbuf_openssl(err, errlen, "country name failed");
		goto fail;
	}
	if (setcert_add_name(name, NID_organizationName, spec->o) == -1 ||
	    setcert_add_name(name, NID_organizationalUnitName, spec->ou) ==
	        -1 ||
	    setcert_add_name(name, NID_commonName, spec->cn) == -1) {
		errbuf_openssl(err, errlen, "subject name failed");
		goto fail;
	}
	return name;
fail:
	X509_NAME_free(name);
	return NULL;
}

static int
setcert_add_keyusage(X509 *cert, unsigned usage)
{
	ASN1_BIT_STRING *bs;
	unsigned bits = 0;
	int ret;

	if (usage & SETCERT_SIGN)
		bits |= 1u << KU_BIT_DIGITAL_SIGNATURE |
		    1u << KU_BIT_NON_REPUDIATION;
	if (usage & (SETCERT_TLS_SERVER | SETCERT_TLS_CLIENT))
		bits |= 1u << KU_BIT_DIGITAL_SIGNATURE;
	if (usage & SETCERT_KEYEX)
		bits |= 1u << KU_BIT_KEY_AGREEMENT;
	if (usage & SETCERT_CA)
		bits |= 1u << KU_BIT_KEY_CERT_SIGN | 1u << KU_BIT_CRL_SIGN |
		    1u << KU_BIT_DIGITAL_SIGNATURE;
	if ((bs = setcert_bits(bits, 9)) == NULL)
		return -1;
	ret = X509_add1_ext_i2d(cert, NID_key_usage, bs, 1, X509V3_ADD_DEFAULT);
	ASN1_BIT_STRING_free(bs);
	return ret == 1 ? 0 : -1;
}

static int
setcert_add_eku(X509 *cert, unsigned usage)
{
	EXTENDED_KEY_USAGE *eku;
	int ret;

	if ((usage & (SETCERT_TLS_SERVER | SETCERT_TLS_CLIENT)) == 0)
		return 0;
	if ((eku = sk_ASN1_OBJECT_new_null()) == NULL)
		return -1;
	/* OBJ_nid2obj() gives static objects: free the stack only. */
	if ((usage & SETCERT_TLS_SERVER) &&
	    !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)))
		goto fail;
	if ((usage & SETCERT_TLS_CLIENT) &&
	    !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)))
		goto fail;
	ret = X509_add1_ext_i2d(
	    cert, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT);
	sk_ASN1_OBJECT_free(eku);
	return ret == 1 ? 0 : -1;
fail:
	sk_ASN1_OBJECT_free(eku);
	return -1;
}

static int
setcert_add_bcons(X509 *cert, int is_ca, int pathlen)
{
	BASIC_CONSTRAINTS *bc;
	int ret = -1;

	if ((bc = BASIC_CONSTRAINTS_new()) == NULL)
		return -1;
	bc->ca = is_ca ? 0xff : 0;
	if (is_ca && pathlen >= 0) {
		if ((bc->pathlen = ASN1_INTEGER_new()) == NULL ||
		    !ASN1_INTEGER_set(bc->pathlen, pathlen))
			goto out;
	}
	if (X509_add1_ext_i2d(
	        cert, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) == 1)
		ret = 0;
out:
	BASIC_CONSTRAINTS_free(bc);
	return ret;
}

/*
 * The RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey; an
 * issuer's own SKI when it has one (use_ski). Never use_ski on a certificate
 * under construction: OpenSSL would cache its extensions half-made.
 */
static ASN1_OCTET_STRING *
setcert_keyid(X509 *cert, int use_ski)
{
	const ASN1_OCTET_STRING *ski;
	ASN1_OCTET_STRING *id;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if (use_ski && (ski = X509_get0_subject_key_id(cert)) != NULL)
		return ASN1_OCTET_STRING_dup(ski);
	if (!X509_pubkey_digest(cert, EVP_sha1(), md, &mdlen))
		return NULL;
	if ((id = ASN1_OCTET_STRING_new()) == NULL)
		return NULL;
	if (!ASN1_OCTET_STRING_set(id, md, (int)mdlen)) {
		ASN1_OCTET_STRING_free(id);
		return NULL;
	}
	return id;
}

static AUTHORITY_KEYID *
setcert_akid(X509 *issuer)
{
	AUTHORITY_KEYID *akid;

	if ((akid = AUTHORITY_KEYID_new()) == NULL)
		return NULL;
	if ((akid->keyid = setcert_keyid(issuer, 1)) == NULL) {
		AUTHORITY_KEYID_free(akid);
		return NULL;
	}
	return akid;
}

static int
setcert_add_keyids(X509 *cert, X509 *issuer)
{
	ASN1_OCTET_STRING *ski;
	AUTHORITY_KEYID *akid;
	int ret;

	if ((ski = setcert_keyid(cert, 0)) == NULL)
		return -1;
	ret = X509_add1_ext_i2d(
	    cert, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT);
	ASN1_OCTET_STRING_free(ski);
	if (ret != 1)
		return -1;
	if (issuer == NULL)
		return 0;
	if ((akid = setcert_akid(issuer)) == NULL)
		return -1;
	ret = X509_add1_ext_i2d(
	    cert, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT);
	AUTHORITY_KEYID_free(akid);
	return ret == 1 ? 0 : -1;
}

/* A DNS name or URI must be printable ASCII without spaces. */
static int
setcert_ia5_ok(const char *value)
{
	const char *p;

	if (value[0] == '\0')
		return 0;
	for (p = value; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e)
			return 0;
	return 1;
}

static GENERAL_NAME *
setcert_gen_ia5(int type, const char *value)
{
	GENERAL_NAME *gn;
	ASN1_IA5STRING *s;

	if (!setcert_ia5_ok(value))
		return NULL;
	if ((s = ASN1_IA5STRING_new()) == NULL)
		return NULL;
	if (!ASN1_STRING_set(s, value, -1) ||
	    (gn = GENERAL_NAME_new()) == NULL) {
		ASN1_IA5STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, type, s);
	return gn;
}

static int
setcert_add_san(
    X509 *cert, const struct setcert_spec *spec, char *err, size_t errlen)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *gn;
	ASN1_OCTET_STRING *ip;
	size_t i;
	int ret = -1;

	if ((spec->dns == NULL || spec->dns[0] == NULL) &&
	    (spec->ips == NULL || spec->ips[0] == NULL))
		return 0;
	if ((gens = GENERAL_NAMES_new()) == NULL)
		log_fatalx("out of memory");
	for (i = 0; spec->dns != NULL && spec->dns[i] != NULL; i++) {
		if ((gn = setcert_gen_ia5(GEN_DNS, spec->dns[i])) == NULL) {
			errbuf_set(
			    err, errlen, "bad DNS name \"%s\"", spec->dns[i]);
			goto out;
		}
		if (!sk_GENERAL_NAME_push(gens, gn)) {
			GENERAL_NAME_free(gn);
			errbuf_openssl(err, errlen, "subjectAltName failed");
			goto out;
		}
	}
	for (i = 0; spec->ips != NULL && spec->ips[i] != NULL; i++) {
		ERR_set_mark();
		ip = a2i_IPADDRESS(spec->ips[i]);
		ERR_pop_to_mark();
		if (ip == NULL) {
			errbuf_set(err, errlen, "\"%s\" is not an IP address",
			    spec->ips[i]);
			goto out;
		}
		if ((gn = GENERAL_NAME_new()) == NULL)
			log_fatalx("out of memory");
		GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
		if (!sk_GENERAL_NAME_push(gens, gn)) {
			GENERAL_NAME_free(gn);
			errbuf_openssl(err, errlen, "subjectAltName failed");
			goto out;
		}
	}
	if (X509_add1_ext_i2d(
	        cert, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1) {
		errbuf_openssl(err, errlen, "subjectAltName failed");
		goto out;
	}
	ret = 0;
out:
	GENERAL_NAMES_free(gens);
	return ret;
}

static int
setcert_add_crldp(X509 *cert, const char *url)
{
	CRL_DIST_POINTS *dps = NULL;
	DIST_POINT *dp = NULL;
	GENERAL_NAME *gn = NULL;
	int ret = -1;

	if (url == NULL)
		return 0;
	if ((dps = CRL_DIST_POINTS_new()) == NULL ||
	    (dp = DIST_POINT_new()) == NULL ||
	    (dp->distpoint = DIST_POINT_NAME_new()) == NULL ||
	    (dp->distpoint->name.fullname = GENERAL_NAMES_new()) == NULL)
		goto out;
	dp->distpoint->type = 0;
	if ((gn = setcert_gen_ia5(GEN_URI, url)) == NULL)
		goto out;
	if (!sk_GENERAL_NAME_push(dp->distpoint->name.fullname, gn))
		goto out;
	gn = NULL;
	if (!sk_DIST_POINT_push(dps, dp))
		goto out;
	dp = NULL;
	if (X509_add1_ext_i2d(cert, NID_crl_distribution_points, dps, 0,
	        X509V3_ADD_DEFAULT) == 1)
		ret = 0;
out:
	GENERAL_NAME_free(gn);
	DIST_POINT_free(dp);
	CRL_DIST_POINTS_free(dps);
	return ret;
}

static int
setcert_random_serial(X509 *cert)
{
	BIGNUM *bn;
	ASN1_INTEGER *serial = NULL;
	int ret = -1;

	if ((bn = BN_new()) == NULL)
		return -1;
	do {
		if (!BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY))
			goto out;
	} while (BN_is_zero(bn));
	if ((serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)
		goto out;
	if (X509_set_serialNumber(cert, serial))
		ret = 0;
out:
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return ret;
}

/*
 * An object built in memory lacks what OpenSSL computes when it decodes one
 * (cached extension flags, key identifiers, a CRL's number and scope), so
 * what we hand out is always the decoding of what we signed. NULL if it
 * does not decode.
 */
static X509 *
setcert_redecode(X509 *cert)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *out = NULL;
	int n;

	if ((n = i2d_X509(cert, &der)) > 0) {
		p = der;
		out = d2i_X509(NULL, &p, n);
	}
	OPENSSL_free(der);
	return out;
}

static X509_CRL *
setcert_crl_redecode(X509_CRL *crl)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509_CRL *out = NULL;
	int n;

	if ((n = i2d_X509_CRL(crl, &der)) > 0) {
		p = der;
		out = d2i_X509_CRL(NULL, &p, n);
	}
	OPENSSL_free(der);
	return out;
}

/* The spec checks that do not need OpenSSL. */
static int
setcert_spec_check(const struct setcert_spec *spec, char *err, size_t errlen)
{
	if (spec->cn == NULL || spec->cn[0] == '\0') {
		errbuf_set(err, errlen, "a certificate needs a common name");
		return -1;
	}
	if (spec->pubkey == NULL || spec->issuer_key == NULL) {
		errbuf_set(
		    err, errlen, "certificate \"%s\": missing key", spec->cn);
		return -1;
	}
	if (spec->not_after <= spec->not_before) {
		errbuf_set(err, errlen,
		    "certificate \"%s\": not_after is not after not_before",
		    spec->cn);
		return -1;
	}
	if (!spec->is_ca != !(spec->usage & SETCERT_CA)) {
		errbuf_set(err, errlen,
		    "certificate \"%s\": is_ca and usage CA must agree",
		    spec->cn);
		return -1;
	}
	if (spec->is_ca && (spec->types & SETCERT_ENTITY_TYPES)) {
		errbuf_set(err, errlen,
		    "certificate \"%s\": a CA cannot be a cardholder, "
		    "merchant or gateway",
		    spec->cn);
		return -1;
	}
	if ((spec->usage & SETCERT_KEYEX) &&
	    (spec->usage & ~(unsigned)SETCERT_KEYEX)) {
		errbuf_set(err, errlen,
		    "certificate \"%s\": a key-exchange key cannot also sign",
		    spec->cn);
		return -1;
	}
	if (spec->usage == 0 ||
	    (spec->usage &
	        ~(unsigned)(SETCERT_SIGN | SETCERT_KEYEX | SETCERT_CA |
	            SETCERT_TLS_SERVER | SETCERT_TLS_CLIENT))) {
		errbuf_set(err, errlen, "certificate \"%s\": bad usage 0x%x",
		    spec->cn, spec->usage);
		return -1;
	}
	if (spec->crl_url != NULL && !setcert_ia5_ok(spec->crl_url)) {
		errbuf_set(
		    err, errlen, "certificate \"%s\": bad CRL URL", spec->cn);
		return -1;
	}
	if (spec->types & ~((1u << SETCERT_NTYPES) - 1)) {
		errbuf_set(err, errlen, "certificate \"%s\": bad types 0x%x",
		    spec->cn, spec->types);
		return -1;
	}
	return 0;
}

X509 *
setcert_issue(const struct setcert_spec *spec, char *err, size_t errlen)
{
	X509 *cert = NULL, *out;
	X509_NAME *name = NULL;

	if (setcert_spec_check(spec, err, errlen) == -1)
		return NULL;
	if (spec->issuer == NULL) {
		if (EVP_PKEY_eq(spec->pubkey, spec->issuer_key) != 1) {
			errbuf_set(err, errlen,
			    "certificate \"%s\": a self-signed certificate "
			    "must be signed with its own key",
			    spec->cn);
			goto fail;
		}
	} else if (X509_check_private_key(spec->issuer, spec->issuer_key) !=
	    1) {
		ERR_clear_error();
		errbuf_set(err, errlen,
		    "certificate \"%s\": the issuer key does not match the "
		    "issuer certificate",
		    spec->cn);
		goto fail;
	}
	if ((name = setcert_make_name(spec, err, errlen)) == NULL)
		goto fail;
	if ((cert = X509_new()) == NULL)
		log_fatalx("out of memory");
	if (!X509_set_version(cert, X509_VERSION_3) ||
	    setcert_random_serial(cert) == -1 ||
	    !X509_set_subject_name(cert, name) ||
	    !X509_set_issuer_name(cert,
	        spec->issuer ? X509_get_subject_name(spec->issuer) : name) ||
	    ASN1_TIME_set(X509_getm_notBefore(cert), spec->not_before) ==
	        NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(cert), spec->not_after) == NULL ||
	    !X509_set_pubkey(cert, spec->pubkey)) {
		errbuf_openssl(err, errlen, "certificate fields failed");
		goto fail;
	}
	if (setcert_add_bcons(cert, spec->is_ca, spec->pathlen) == -1 ||
	    setcert_add_keyusage(cert, spec->usage) == -1 ||
	    setcert_add_eku(cert, spec->usage) == -1 ||
	    setcert_add_keyids(cert, spec->issuer) == -1 ||
	    setcert_add_crldp(cert, spec->crl_url) == -1 ||
	    (spec->types != 0 &&
	        setcert_add_certtype(cert, spec->types) == -1)) {
		errbuf_openssl(err, errlen, "certificate extensions failed");
		goto fail;
	}
	if (setcert_add_san(cert, spec, err, errlen) == -1)
		goto fail;
	if (X509_sign(cert, spec->issuer_key, EVP_sha256()) <= 0) {
		errbuf_openssl(err, errlen, "certificate signature failed");
		goto fail;
	}
	if ((out = setcert_redecode(cert)) == NULL) {
		errbuf_openssl(
		    err, errlen, "re-reading the certificate failed");
		goto fail;
	}
	X509_NAME_free(name);
	X509_free(cert);
	return out;
fail:
	X509_NAME_free(name);
	X509_free(cert);
	return NULL;
}

/* True if the key is an EC key on P-256. */
static int
setcert_is_p256(EVP_PKEY *key)
{
	char group[64];

	if (key == NULL || !EVP_PKEY_is_a(key, "EC"))
		return 0;
	if (!EVP_PKEY_get_group_name(key, group, sizeof(group), NULL)) {
		ERR_clear_error();
		return 0;
	}
	return strcmp(group, SN_X9_62_prime256v1) == 0;
}

static int
setcert_csr_ext_check(X509_EXTENSION *ext, char *err, size_t errlen)
{
	ASN1_OBJECT *obj = X509_EXTENSION_get_object(ext);
	BASIC_CONSTRAINTS *bc;
	char oid[80];
	int nid = OBJ_obj2nid(obj), ca;

	OBJ_obj2txt(oid, sizeof(oid), obj, 0);
	if (X509_EXTENSION_get_critical(ext)) {
		errbuf_set(err, errlen,
		    "request asks for a critical %s extension", oid);
		return -1;
	}
	switch (nid) {
	case NID_setCext_certType:
		errbuf_set(err, errlen,
		    "request asks for a certificateType: the CA decides it");
		return -1;
	case NID_key_usage:
		errbuf_set(err, errlen,
		    "request asks for a keyUsage: the CA decides it");
		return -1;
	case NID_basic_constraints:
		ERR_set_mark();
		bc = X509V3_EXT_d2i(ext);
		ERR_pop_to_mark();
		if (bc == NULL) {
			errbuf_set(err, errlen,
			    "request has a malformed basicConstraints");
			return -1;
		}
		ca = bc->ca;
		BASIC_CONSTRAINTS_free(bc);
		if (ca) {
			errbuf_set(err, errlen,
			    "request asks to be a CA (basicConstraints "
			    "CA:TRUE)");
			return -1;
		}
		break;
	default:
		break;
	}
	return 0;
}

int
setcert_csr_check(X509_REQ *req, char *err, size_t errlen)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	EVP_PKEY *key;
	int i, ret = -1;

	if (req == NULL) {
		errbuf_set(err, errlen, "no certificate request");
		return -1;
	}
	if (X509_REQ_get_version(req) != X509_REQ_VERSION_1) {
		errbuf_set(err, errlen, "request version %ld is not 1",
		    X509_REQ_get_version(req) + 1);
		return -1;
	}
	if ((key = X509_REQ_get0_pubkey(req)) == NULL) {
		ERR_clear_error();
		errbuf_set(err, errlen, "request has no usable public key");
		return -1;
	}
	if (!setcert_is_p256(key)) {
		errbuf_set(err, errlen, "request key is %s, not EC P-256",
		    EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key)
		                                 : "unknown");
		return -1;
	}
	if (X509_REQ_verify(req, key) != 1) {
		ERR_clear_error();
		errbuf_set(err, errlen,
		    "request signature does not verify (no proof of "
		    "possession of the key)");
		return -1;
	}
	ERR_set_mark();
	exts = X509_REQ_get_extensions(req);
	ERR_pop_to_mark();
	if (exts == NULL &&
	    (X509_REQ_get_attr_by_NID(req, NID_ext_req, -1) >= 0 ||
	        X509_REQ_get_attr_by_NID(req, NID_ms_ext_req, -1) >= 0)) {
		errbuf_set(
		    err, errlen, "request has a malformed extension request");
		return -1;
	}
	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++)
		if (setcert_csr_ext_check(
		        sk_X509_EXTENSION_value(exts, i), err, errlen) == -1)
			goto out;
	ret = 0;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return ret;
}

X509_REQ *
setcert_csr_new(EVP_PKEY *key, const char *cn, char *err, size_t errlen)
{
	X509_REQ *req;
	X509_NAME *name;

	if (key == NULL || cn == NULL || cn[0] == '\0') {
		errbuf_set(err, errlen, "a request needs a key and a name");
		return NULL;
	}
	if ((req = X509_REQ_new()) == NULL)
		log_fatalx("out of memory");
	name = X509_REQ_get_subject_name(req);
	if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	        (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    X509_REQ_sign(req, key, EVP_sha256()) <= 0) {
		errbuf_openssl(err, errlen, "certificate request failed");
		X509_REQ_free(req);
		return NULL;
	}
	return req;
}

unsigned char *
setcert_csr_der(X509_REQ *req, size_t *len)
{
	unsigned char *der, *p;
	int n;

	if ((n = i2d_X509_REQ(req, NULL)) <= 0)
		log_fatalx("cannot encode a certificate request");
	p = der = xmalloc((size_t)n);
	if (i2d_X509_REQ(req, &p) != n)
		log_fatalx("cannot encode a certificate request");
	*len = (size_t)n;
	return der;
}

X509_REQ *
setcert_csr_from_der(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509_REQ *req;

	if (der == NULL || len == 0 || len > LONG_MAX)
		return NULL;
	ERR_set_mark();
	req = d2i_X509_REQ(NULL, &p, (long)len);
	ERR_pop_to_mark();
	if (req != NULL && p != der + len) {
		X509_REQ_free(req);
		return NULL;
	}
	return req;
}

/* Parses a strict hex serial (as setcert_serial_hex gives) to an INTEGER. */
static ASN1_INTEGER *
setcert_hex_serial(const char *hex)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai;
	size_t i, n;

	if (hex == NULL || (n = strlen(hex)) == 0 || n > 64)
		return NULL;
	for (i = 0; i < n; i++)
		if (strchr("0123456789abcdefABCDEF", hex[i]) == NULL)
			return NULL;
	if (BN_hex2bn(&bn, hex) != (int)n)
		return NULL;
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return ai;
}

static int
setcert_crl_entry(
    X509_CRL *crl, const struct setcert_revoked *r, char *err, size_t errlen)
{
	X509_REVOKED *rev = NULL;
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *when = NULL;
	ASN1_ENUMERATED *reason = NULL;
	int ret = -1;

	if (r->reason < CRL_REASON_NONE || r->reason == 7 ||
	    r->reason > CRL_REASON_AA_COMPROMISE) {
		errbuf_set(err, errlen, "revoked serial %s: bad reason %d",
		    r->serial_hex ? r->serial_hex : "(null)", r->reason);
		return -1;
	}
	if ((serial = setcert_hex_serial(r->serial_hex)) == NULL) {
		errbuf_set(err, errlen, "bad revoked serial \"%s\"",
		    r->serial_hex ? r->serial_hex : "(null)");
		return -1;
	}
	if ((rev = X509_REVOKED_new()) == NULL ||
	    (when = ASN1_TIME_set(NULL, r->when)) == NULL ||
	    !X509_REVOKED_set_serialNumber(rev, serial) ||
	    !X509_REVOKED_set_revocationDate(rev, when))
		goto ossl;
	if (r->reason > CRL_REASON_UNSPECIFIED) {
		if ((reason = ASN1_ENUMERATED_new()) == NULL ||
		    !ASN1_ENUMERATED_set(reason, r->reason) ||
		    X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, reason, 0,
		        X509V3_ADD_DEFAULT) != 1)
			goto ossl;
	}
	if (!X509_CRL_add0_revoked(crl, rev))
		goto ossl;
	rev = NULL;
	ret = 0;
	goto out;
ossl:
	errbuf_openssl(err, errlen, "CRL entry failed");
out:
	ASN1_ENUMERATED_free(reason);
	ASN1_TIME_free(when);
	ASN1_INTEGER_free(serial);
	X509_REVOKED_free(rev);
	return ret;
}

X509_CRL *
setcert_crl(X509 *issuer, EVP_PKEY *issuer_key,
    const struct setcert_revoked *revoked, size_t nrevoked, long crl_number,
    time_t this_update, time_t next_update, char *err, size_t errlen)
{
	X509_CRL *crl = NULL, *out;
	ASN1_TIME *tm = NULL;
	ASN1_INTEGER *num = NULL;
	AUTHORITY_KEYID *akid = NULL;
	size_t i;

	if (issuer == NULL || issuer_key == NULL) {
		errbuf_set(err, errlen, "a CRL needs an issuer and its key");
		return NULL;
	}
	if (crl_number < 0 || next_update <= this_update) {
		errbuf_set(err, errlen, "bad CRL number %ld or update times",
		    crl_number);
		return NULL;
	}
	if (X509_check_private_key(issuer, issuer_key) != 1) {
		ERR_clear_error();
		errbuf_set(err, errlen,
		    "the CRL key does not match the issuer certificate");
		return NULL;
	}
	if ((crl = X509_CRL_new()) == NULL)
		log_fatalx("out of memory");
	if (!X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) ||
	    (tm = ASN1_TIME_set(NULL, this_update)) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, tm) ||
	    ASN1_TIME_set(tm, next_update) == NULL ||
	    !X509_CRL_set1_nextUpdate(crl, tm) ||
	    (num = ASN1_INTEGER_new()) == NULL ||
	    !ASN1_INTEGER_set(num, crl_number) ||
	    X509_CRL_add1_ext_i2d(
	        crl, NID_crl_number, num, 0, X509V3_ADD_DEFAULT) != 1 ||
	    (akid = setcert_akid(issuer)) == NULL ||
	    X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0,
	        X509V3_ADD_DEFAULT) != 1) {
		errbuf_openssl(err, errlen, "CRL fields failed");
		goto fail;
	}
	for (i = 0; i < nrevoked; i++)
		if (setcert_crl_entry(crl, &revoked[i], err, errlen) == -1)
			goto fail;
	if (!X509_CRL_sort(crl) ||
	    X509_CRL_sign(crl, issuer_key, EVP_sha256()) <= 0) {
		errbuf_openssl(err, errlen, "CRL signature failed");
		goto fail;
	}
	if ((out = setcert_crl_redecode(crl)) == NULL) {
		errbuf_openssl(err, errlen, "re-reading the CRL failed");
		goto fail;
	}
	AUTHORITY_KEYID_free(akid);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(tm);
	X509_CRL_free(crl);
	return out;
fail:
	AUTHORITY_KEYID_free(akid);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(tm);
	X509_CRL_free(crl);
	return NULL;
}

unsigned char *
setcert_crl_der(X509_CRL *crl, size_t *len)
{
	unsigned char *der, *p;
	int n;

	if ((n = i2d_X509_CRL(crl, NULL)) <= 0)
		log_fatalx("cannot encode a CRL");
	p = der = xmalloc((size_t)n);
	if (i2d_X509_CRL(crl, &p) != n)
		log_fatalx("cannot encode a CRL");
	*len = (size_t)n;
	return der;
}

X509_CRL *
setcert_crl_from_der(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509_CRL *crl;

	if (der == NULL || len == 0 || len > LONG_MAX)
		return NULL;
	ERR_set_mark();
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	ERR_pop_to_mark();
	if (crl != NULL && p != der + len) {
		X509_CRL_free(crl);
		return NULL;
	}
	return crl;
}

/*
 * Writes data to path atomically: a temporary file in the same folder with
 * the final mode, fsync, then rename; with exclusive, link() instead of
 * rename() so an existing file is never replaced. The folder is synced too.
 */
static int
setcert_write_file(const char *path, const void *data, size_t len, mode_t mode,
    int exclusive, char *err, size_t errlen)
{
	const unsigned char *p = data;
	char *tmp, *dircopy = NULL;
	size_t off = 0;
	ssize_t n;
	int fd, dfd, ret = -1;

	tmp = xasprintf("%s.tmpXXXXXX", path);
	if ((fd = mkstemp(tmp)) == -1) {
		errbuf_set(err, errlen, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if (fchmod(fd, mode) == -1) {
		errbuf_set(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	while (off < len) {
		if ((n = write(fd, p + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			errbuf_set(err, errlen, "%s: %s", tmp, strerror(errno));
			goto fail;
		}
		off += (size_t)n;
	}
	if (fsync(fd) == -1) {
		errbuf_set(err, errlen, "%s: fsync: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		errbuf_set(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (exclusive) {
		if (link(tmp, path) == -1) {
			if (errno == EEXIST)
				errbuf_set(err, errlen,
				    "%s already exists: refusing to "
				    "overwrite it",
				    path);
			else
				errbuf_set(err, errlen, "%s: %s", path,
				    strerror(errno));
			goto fail;
		}
		unlink(tmp);
	} else if (rename(tmp, path) == -1) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	dircopy = xstrdup(path);
	if ((dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY)) != -1) {
		if (fsync(dfd) == -1)
			log_warn("fsync of the folder of %s", path);
		close(dfd);
	}
	ret = 0;
	goto out;
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
out:
	free(dircopy);
	free(tmp);
	return ret;
}

/* Reads a whole file (at most SETCERT_MAX_FILE bytes), NUL-terminated. */
static unsigned char *
setcert_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	unsigned char *buf = NULL;
	size_t size = 0, cap = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - size < 4096) {
			if (cap >= (size_t)SETCERT_MAX_FILE) {
				errbuf_set(
				    err, errlen, "%s: file too large", path);
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			buf = xrealloc(buf, cap + 1);
		}
		if ((n = read(fd, buf + size, cap - size)) == -1) {
			if (errno == EINTR)
				continue;
			errbuf_set(
			    err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		size += (size_t)n;
	}
	close(fd);
	buf[size] = '\0';
	*len = size;
	return buf;
fail:
	close(fd);
	freezero_buf(buf, cap + 1);
	return NULL;
}

/* The contents of a memory BIO, NUL-terminated, xmalloc'd. */
static char *
setcert_bio_string(BIO *bio, size_t *lenp)
{
	char *data, *s;
	long n;

	n = BIO_get_mem_data(bio, &data);
	if (n < 0)
		log_fatalx("memory BIO");
	s = xmalloc((size_t)n + 1);
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	if (lenp != NULL)
		*lenp = (size_t)n;
	return s;
}

static BIO *
setcert_mem_bio(void)
{
	BIO *bio;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		log_fatalx("out of memory");
	return bio;
}

int
setcert_write_key(const char *path, EVP_PKEY *key, char *err, size_t errlen)
{
	struct stat st;
	BIO *bio;
	char *data;
	long n;
	int ret;

	if (lstat(path, &st) == 0) {
		errbuf_set(err, errlen,
		    "%s already exists: refusing to overwrite it", path);
		return -1;
	}
	bio = setcert_mem_bio();
	if (!PEM_write_bio_PKCS8PrivateKey(
	        bio, key, NULL, NULL, 0, NULL, NULL)) {
		errbuf_openssl(err, errlen, "writing the private key failed");
		BIO_free(bio);
		return -1;
	}
	n = BIO_get_mem_data(bio, &data);
	ret = setcert_write_file(path, data, (size_t)n, 0600, 1, err, errlen);
	OPENSSL_cleanse(data, (size_t)n);
	BIO_free(bio);
	return ret;
}

static int
setcert_no_passphrase_cb(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

EVP_PKEY *
setcert_read_key(const char *path, char *err, size_t errlen)
{
	unsigned char *buf;
	struct stat st;
	EVP_PKEY *key = NULL;
	BIO *bio;
	size_t len;

	if ((buf = setcert_read_file(path, &len, err, errlen)) == NULL)
		return NULL;
	if (stat(path, &st) == 0 && (st.st_mode & 077))
		log_warnx("%s: private key readable by others (mode %03o)",
		    path, (unsigned)(st.st_mode & 0777));
	if (len > INT_MAX || (bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
		errbuf_set(err, errlen, "%s: file too large", path);
		goto out;
	}
	key =
	    PEM_read_bio_PrivateKey(bio, NULL, setcert_no_passphrase_cb, NULL);
	BIO_free(bio);
	if (key == NULL) {
		log_openssl(path, NULL, 0);
		errbuf_set(
		    err, errlen, "%s: no unencrypted PEM private key", path);
	}
out:
	freezero_buf(buf, len + 1);
	return key;
}

int
setcert_write_pem(
    const char *path, X509 *const *certs, size_t n, char *err, size_t errlen)
{
	BIO *bio;
	char *data;
	size_t i, len;
	int ret;

	if (n == 0) {
		errbuf_set(err, errlen, "%s: no certificate to write", path);
		return -1;
	}
	bio = setcert_mem_bio();
	for (i = 0; i < n; i++) {
		if (!PEM_write_bio_X509(bio, certs[i])) {
			errbuf_openssl(err, errlen, "PEM certificate failed");
			BIO_free(bio);
			return -1;
		}
	}
	data = setcert_bio_string(bio, &len);
	BIO_free(bio);
	ret = setcert_write_file(path, data, len, 0644, 0, err, errlen);
	free(data);
	return ret;
}

int
setcert_write_crl(const char *path, X509_CRL *crl, char *err, size_t errlen)
{
	BIO *bio;
	char *data;
	size_t len;
	int ret;

	bio = setcert_mem_bio();
	if (!PEM_write_bio_X509_CRL(bio, crl)) {
		errbuf_openssl(err, errlen, "PEM CRL failed");
		BIO_free(bio);
		return -1;
	}
	data = setcert_bio_string(bio, &len);
	BIO_free(bio);
	ret = setcert_write_file(path, data, len, 0644, 0, err, errlen);
	free(data);
	return ret;
}

STACK_OF(X509_CRL) *
setcert_read_crls(const char *path, char *err, size_t errlen)
{
	STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
	unsigned char *buf;
	X509_CRL *crl = NULL;
	BIO *bio;
	size_t len;

	if ((buf = setcert_read_file(path, &len, err, errlen)) == NULL)
		goto fail;
	if (len > 0 && buf[0] == 0x30) {
		/* A DER SEQUENCE: one CRL. */
		if ((crl = setcert_crl_from_der(buf, len)) == NULL) {
			errbuf_set(err, errlen, "%s: not a DER CRL", path);
			goto fail;
		}
		sk_X509_CRL_push(crls, crl);
	} else if (len <= INT_MAX &&
	    (bio = BIO_new_mem_buf(buf, (int)len)) != NULL) {
		/* PEM: every CRL in the file. */
		ERR_set_mark();
		while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) !=
		    NULL)
			sk_X509_CRL_push(crls, crl);
		ERR_pop_to_mark();
		BIO_free(bio);
		if (sk_X509_CRL_num(crls) == 0) {
			errbuf_set(err, errlen, "%s: no PEM CRL", path);
			goto fail;
		}
	} else {
		errbuf_set(err, errlen, "%s: file too large", path);
		goto fail;
	}
	free(buf);
	return crls;
fail:
	free(buf);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return NULL;
}

X509_CRL *
setcert_read_crl(const char *path, char *err, size_t errlen)
{
	STACK_OF(X509_CRL) *crls = setcert_read_crls(path, err, errlen);
	X509_CRL *crl;

	if (crls == NULL)
		return NULL;
	crl = sk_X509_CRL_shift(crls);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return crl;
}

STACK_OF(X509) *
setcert_read_certs(const char *path, char *err, size_t errlen)
{
	STACK_OF(X509) *certs;
	unsigned char *buf;
	unsigned long e;
	X509 *cert;
	BIO *bio;
	size_t len;

	if ((buf = setcert_read_file(path, &len, err, errlen)) == NULL)
		return NULL;
	if (len > INT_MAX || (bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
		errbuf_set(err, errlen, "%s: file too large", path);
		free(buf);
		return NULL;
	}
	if ((certs = sk_X509_new_null()) == NULL)
		log_fatalx("out of memory");
	ERR_set_mark();
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(certs, cert))
			log_fatalx("out of memory");
	}
	/* The loop ends at the end of the file, or at a broken block. */
	e = ERR_peek_last_error();
	ERR_pop_to_mark();
	BIO_free(bio);
	free(buf);
	if (ERR_GET_LIB(e) != ERR_LIB_PEM ||
	    ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
		errbuf_set(err, errlen, "%s: broken PEM certificate", path);
		goto fail;
	}
	if (sk_X509_num(certs) == 0) {
		errbuf_set(err, errlen, "%s: no certificate", path);
		goto fail;
	}
	return certs;
fail:
	sk_X509_pop_free(certs, X509_free);
	return NULL;
}

X509 *
setcert_read_cert(const char *path, char *err, size_t errlen)
{
	STACK_OF(X509) *certs;
	X509 *cert;

	if ((certs = setcert_read_certs(path, err, errlen)) == NULL)
		return NULL;
	cert = sk_X509_shift(certs);
	sk_X509_pop_free(certs, X509_free);
	return cert;
}

char *
setcert_pem(X509 *cert)
{
	BIO *bio = setcert_mem_bio();
	char *s;

	if (!PEM_write_bio_X509(bio, cert))
		log_fatalx("cannot encode a certificate");
	s = setcert_bio_string(bio, NULL);
	BIO_free(bio);
	return s;
}

X509 *
setcert_from_pem(const char *pem, size_t len)
{
	X509 *cert;
	BIO *bio;

	if (pem == NULL || len == 0 || len > INT_MAX)
		return NULL;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		log_fatalx("out of memory");
	ERR_set_mark();
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	ERR_pop_to_mark();
	BIO_free(bio);
	return cert;
}

unsigned char *
setcert_der(X509 *cert, size_t *len)
{
	unsigned char *der, *p;
	int n;

	if ((n = i2d_X509(cert, NULL)) <= 0)
		log_fatalx("cannot encode a certificate");
	p = der = xmalloc((size_t)n);
	if (i2d_X509(cert, &p) != n)
		log_fatalx("cannot encode a certificate");
	*len = (size_t)n;
	return der;
}

X509 *
setcert_from_der(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *cert;

	if (der == NULL || len == 0 || len > LONG_MAX)
		return NULL;
	ERR_set_mark();
	cert = d2i_X509(NULL, &p, (long)len);
	ERR_pop_to_mark();
	if (cert != NULL && p != der + len) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

char *
setcert_thumbprint(X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n;

	if (!X509_digest(cert, EVP_sha256(), md, &n))
		log_fatalx("cannot hash a certificate");
	return hex_encode(md, n);
}

char *
setcert_serial_hex(X509 *cert)
{
	BIGNUM *bn;
	char *hex, *s, *p;

	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL)) ==
	    NULL)
		log_fatalx("cannot read a certificate serial");
	if ((hex = BN_bn2hex(bn)) == NULL)
		log_fatalx("out of memory");
	BN_free(bn);
	s = xstrdup(hex);
	OPENSSL_free(hex);
	for (p = s; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	return s;
}

char *
setcert_subject(X509 *cert)
{
	BIO *bio = setcert_mem_bio();
	char *s;

	/* RFC 2253, but UTF-8 left readable rather than \XX-escaped. */
	if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
	        XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
		log_fatalx("cannot print a certificate subject");
	s = setcert_bio_string(bio, NULL);
	BIO_free(bio);
	return s;
}
