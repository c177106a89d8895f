/*
 * The CMS layer: SignedData for every SET signature, AuthEnvelopedData for
 * every digital envelope, all through OpenSSL's CMS.
 *
 * Verification is strict because its input comes off the network: one
 * signer, ECDSA with SHA-256, signed attributes present, and a content type
 * that names the SET message, checked both in the eContentType and in the
 * signed content-type attribute (RFC 5652 section 11.1). The content type
 * is what makes a signature explicit about its purpose (see the dual
 * signature in dualsig.c): a signature over a CertReq can never pass as one
 * over a PI.
 * Certificate chains, validity and roles are the caller's PKI checks.
 *
 * Opening refuses plain EnvelopedData: CBC without a MAC lets an attacker
 * alter a payment instruction without the recipient noticing. It also
 * refuses a truncated GCM tag, which OpenSSL would otherwise accept.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "cms.h"
#include "errbuf.h"
#include "log.h"
#include "xmalloc.h"

/* The full GCM tag; OpenSSL accepts anything GCM allows, down to 4 bytes. */
#define CMS_GCM_TAG_LEN 16

/* A read-only memory BIO over data; "" stands in for empty content. */
static BIO *
cms_membio(const void *data, size_t len)
{
	return BIO_new_mem_buf(len > 0 ? data : "", (int)len);
}

static int
cms_is_p256(EVP_PKEY *key)
{
	char name[64];
	int nid;

	if (!EVP_PKEY_is_a(key, "EC"))
		return 0;
	if (!EVP_PKEY_get_group_name(key, name, sizeof(name), NULL))
		return 0;
	if ((nid = OBJ_sn2nid(name)) == NID_undef)
		nid = EC_curve_nist2nid(name);
	return nid == NID_X9_62_prime256v1;
}

/* Serializes cms into an xmalloc'd DER buffer. */
static int
cms_to_der(CMS_ContentInfo *cms, unsigned char **der, size_t *derlen, char *err,
    size_t errlen)
{
	unsigned char *buf, *p;
	int n;

	if ((n = i2d_CMS_ContentInfo(cms, NULL)) <= 0) {
		errbuf_openssl(err, errlen, "cannot encode CMS structure");
		return -1;
	}
	p = buf = xmalloc((size_t)n);
	if (i2d_CMS_ContentInfo(cms, &p) != n) {
		free(buf);
		errbuf_openssl(err, errlen, "cannot encode CMS structure");
		return -1;
	}
	*der = buf;
	*derlen = (size_t)n;
	return 0;
}

/* Parses exactly derlen bytes of DER (no trailing bytes) as a ContentInfo. */
static CMS_ContentInfo *
cms_parse(const unsigned char *der, size_t derlen, char *err, size_t errlen)
{
	CMS_ContentInfo *cms;
	const unsigned char *p = der;

	if (der == NULL || derlen == 0) {
		errbuf_set(err, errlen, "empty CMS message");
		return NULL;
	}
	if (derlen > CMS_MAX_DER) {
		errbuf_set(
		    err, errlen, "CMS message too large (%zu bytes)", derlen);
		return NULL;
	}
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)derlen)) == NULL) {
		errbuf_openssl(err, errlen, "not a CMS message");
		return NULL;
	}
	if (p != der + derlen) {
		CMS_ContentInfo_free(cms);
		errbuf_set(err, errlen, "%zu trailing bytes after CMS message",
		    derlen - (size_t)(p - der));
		return NULL;
	}
	return cms;
}

/* A printable name for an object: its short name, or its dotted OID. */
static void
cms_objname(const ASN1_OBJECT *obj, char *buf, size_t buflen)
{
	if (obj == NULL || OBJ_obj2txt(buf, (int)buflen, obj, 0) <= 0)
		snprintf(buf, buflen, "(none)");
}

int
cms_sign(const void *data, size_t len, int content_nid, X509 *signer,
    EVP_PKEY *key, STACK_OF(X509) *chain, int detached, unsigned char **der,
    size_t *derlen, char *err, size_t errlen)
{
	CMS_ContentInfo *cms = NULL;
	ASN1_OBJECT *type;
	BIO *in = NULL;
	unsigned int flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
	int i, j, ret = -1;

	*der = NULL;
	*derlen = 0;
	if (signer == NULL || key == NULL) {
		errbuf_set(err, errlen, "no signer certificate or key");
		goto out;
	}
	if (data == NULL && len > 0) {
		errbuf_set(err, errlen, "no content to sign");
		goto out;
	}
	if (len > CMS_MAX_DER) {
		errbuf_set(err, errlen, "content too large (%zu bytes)", len);
		goto out;
	}
	if (content_nid == NID_undef ||
	    (type = OBJ_nid2obj(content_nid)) == NULL ||
	    OBJ_length(type) == 0) {
		ERR_clear_error();
		errbuf_set(err, errlen, "unknown content type %d", content_nid);
		goto out;
	}
	if (!cms_is_p256(key)) {
		ERR_clear_error();
		errbuf_set(err, errlen, "signing key is not an EC P-256 key");
		goto out;
	}
	if (detached)
		flags |= CMS_DETACHED;

	if ((in = cms_membio(data, len)) == NULL ||
	    (cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL) {
		errbuf_openssl(err, errlen, "cannot start SignedData");
		goto out;
	}
	if (!CMS_set_detached(cms, detached ? 1 : 0) ||
	    !CMS_set1_eContentType(cms, type)) {
		errbuf_openssl(err, errlen, "cannot set content type");
		goto out;
	}
	if (CMS_add1_signer(cms, signer, key, EVP_sha256(), flags) == NULL) {
		errbuf_openssl(err, errlen, "cannot add signer");
		goto out;
	}
	/* CMS_add1_cert refuses a certificate already present: skip those. */
	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);
		int dup = X509_cmp(c, signer) == 0;

		for (j = 0; !dup && j < i; j++)
			dup = X509_cmp(c, sk_X509_value(chain, j)) == 0;
		if (!dup && !CMS_add1_cert(cms, c)) {
			errbuf_openssl(
			    err, errlen, "cannot add chain certificate");
			goto out;
		}
	}
	if (!CMS_final(cms, in, NULL, flags)) {
		errbuf_openssl(err, errlen, "cannot sign");
		goto out;
	}
	ret = cms_to_der(cms, der, derlen, err, errlen);
out:
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return ret;
}

int
cms_verify(const unsigned char *der, size_t derlen, int expect_nid,
    const void *data, size_t len, X509 **signer, STACK_OF(X509) **certs,
    unsigned char **content, size_t *contentlen, char *err, size_t errlen)
{
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	CMS_SignerInfo *si;
	STACK_OF(X509) *signers = NULL;
	X509_ALGOR *dig = NULL, *sig = NULL;
	const ASN1_OBJECT *obj, *want;
	const ASN1_OBJECT *ctattr;
	ASN1_OCTET_STRING **pos;
	BIO *dcont = NULL, *mem = NULL;
	char got[80], exp[80];
	int n, detached, ret = -1;

	if (signer != NULL)
		*signer = NULL;
	if (certs != NULL)
		*certs = NULL;
	if (content != NULL)
		*content = NULL;
	if (contentlen != NULL)
		*contentlen = 0;

	if (expect_nid == NID_undef ||
	    (want = OBJ_nid2obj(expect_nid)) == NULL || OBJ_length(want) == 0) {
		ERR_clear_error();
		errbuf_set(err, errlen, "unknown content type %d", expect_nid);
		goto out;
	}
	if ((data == NULL && len > 0) || len > CMS_MAX_DER) {
		errbuf_set(
		    err, errlen, "bad detached content (%zu bytes)", len);
		goto out;
	}
	if ((cms = cms_parse(der, derlen, err, errlen)) == NULL)
		goto out;
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		cms_objname(CMS_get0_type(cms), got, sizeof(got));
		errbuf_set(
		    err, errlen, "CMS message is %s, not SignedData", got);
		goto out;
	}
	if ((sis = CMS_get0_SignerInfos(cms)) == NULL ||
	    (n = sk_CMS_SignerInfo_num(sis)) != 1) {
		ERR_clear_error();
		errbuf_set(err, errlen, "%d signers, expected exactly one",
		    sis == NULL ? 0 : n);
		goto out;
	}
	si = sk_CMS_SignerInfo_value(sis, 0);

	/* The content type names the message: it must be the one expected. */
	obj = CMS_get0_eContentType(cms);
	if (obj == NULL || OBJ_cmp(obj, want) != 0) {
		ERR_clear_error();
		cms_objname(obj, got, sizeof(got));
		cms_objname(want, exp, sizeof(exp));
		errbuf_set(
		    err, errlen, "content type is %s, expected %s", got, exp);
		goto out;
	}
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
	obj = NULL;
	if (dig != NULL)
		X509_ALGOR_get0(&obj, NULL, NULL, dig);
	if (obj == NULL || OBJ_obj2nid(obj) != NID_sha256) {
		cms_objname(obj, got, sizeof(got));
		errbuf_set(err, errlen, "digest is %s, expected SHA-256", got);
		goto out;
	}
	/* OpenSSL would ignore this field; we accept only what we make. */
	obj = NULL;
	if (sig != NULL)
		X509_ALGOR_get0(&obj, NULL, NULL, sig);
	if (obj == NULL || OBJ_obj2nid(obj) != NID_ecdsa_with_SHA256) {
		cms_objname(obj, got, sizeof(got));
		errbuf_set(err, errlen,
		    "signature algorithm is %s, expected ecdsa-with-SHA256",
		    got);
		goto out;
	}
	/*
	 * Without signed attributes the signature would not cover the
	 * content type, and the message could be relabelled.
	 */
	if (CMS_signed_get_attr_count(si) <= 0) {
		errbuf_set(err, errlen, "no signed attributes");
		goto out;
	}
	ctattr = CMS_signed_get0_data_by_OBJ(
	    si, OBJ_nid2obj(NID_pkcs9_contentType), -3, V_ASN1_OBJECT);
	if (ctattr == NULL || OBJ_cmp(ctattr, want) != 0) {
		ERR_clear_error();
		errbuf_set(err, errlen,
		    "signed content-type attribute missing or different");
		goto out;
	}

	detached = CMS_is_detached(cms);
	if (detached && data == NULL) {
		errbuf_set(err, errlen, "detached signature but no content");
		goto out;
	}
	if (!detached && data != NULL) {
		errbuf_set(err, errlen,
		    "content is attached and was also given separately");
		goto out;
	}
	/*
	 * OpenSSL 3.0's CMS_verify() copies a memory BIO and leaks the copy
	 * when the SignedData names a digest it cannot set up (an attacker
	 * can send that). A buffering filter on top is not a memory BIO.
	 */
	if (data != NULL &&
	    ((mem = cms_membio(data, len)) == NULL ||
	        (dcont = BIO_new(BIO_f_buffer())) == NULL)) {
		errbuf_openssl(err, errlen, "cannot read content");
		goto out;
	}
	if (dcont != NULL) {
		BIO_push(dcont, mem);
		mem = NULL;
	}
	if (CMS_verify(cms, NULL, NULL, dcont, NULL,
	        CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
		errbuf_openssl(err, errlen, "signature does not verify");
		goto out;
	}
	if ((signers = CMS_get0_signers(cms)) == NULL ||
	    sk_X509_num(signers) != 1 || sk_X509_value(signers, 0) == NULL) {
		ERR_clear_error();
		errbuf_set(err, errlen, "signer's certificate not in message");
		goto out;
	}

	if (certs != NULL && (*certs = CMS_get1_certs(cms)) == NULL)
		*certs = sk_X509_new_null();
	if (certs != NULL && *certs == NULL) {
		errbuf_openssl(err, errlen, "cannot list certificates");
		goto out;
	}
	if (content != NULL && !detached) {
		pos = CMS_get0_content(cms);
		if (pos == NULL || *pos == NULL) {
			ERR_clear_error();
			errbuf_set(err, errlen, "no content");
			goto out;
		}
		*content = xmemdup(ASN1_STRING_get0_data(*pos),
		    (size_t)ASN1_STRING_length(*pos));
		if (contentlen != NULL)
			*contentlen = (size_t)ASN1_STRING_length(*pos);
	}
	if (signer != NULL) {
		*signer = sk_X509_value(signers, 0);
		X509_up_ref(*signer);
	}
	ret = 0;
out:
	if (ret == -1) {
		if (certs != NULL) {
			sk_X509_pop_free(*certs, X509_free);
			*certs = NULL;
		}
		if (content != NULL) {
			free(*content);
			*content = NULL;
		}
		if (contentlen != NULL)
			*contentlen = 0;
	}
	sk_X509_free(signers);
	BIO_free_all(dcont);
	BIO_free(mem);
	CMS_ContentInfo_free(cms);
	return ret;
}

int
cms_seal(const void *data, size_t len, X509 *recipient, unsigned char **der,
    size_t *derlen, char *err, size_t errlen)
{
	CMS_ContentInfo *cms = NULL;
	CMS_RecipientInfo *ri;
	EVP_PKEY_CTX *pctx;
	EVP_PKEY *pub;
	BIO *in = NULL;
	int ret = -1;

	*der = NULL;
	*derlen = 0;
	if (recipient == NULL) {
		errbuf_set(err, errlen, "no recipient certificate");
		goto out;
	}
	if ((data == NULL && len > 0) || len > CMS_MAX_DER) {
		errbuf_set(err, errlen, "bad content to seal (%zu bytes)", len);
		goto out;
	}
	if ((pub = X509_get0_pubkey(recipient)) == NULL ||
	    !EVP_PKEY_is_a(pub, "EC")) {
		ERR_clear_error();
		errbuf_set(err, errlen, "recipient's key is not an EC key");
		goto out;
	}
	if ((in = cms_membio(data, len)) == NULL ||
	    (cms = CMS_AuthEnvelopedData_create(EVP_aes_256_gcm())) == NULL) {
		errbuf_openssl(err, errlen, "cannot start AuthEnvelopedData");
		goto out;
	}
	/* A new AuthEnvelopedData leaves the ciphertext out unless told. */
	if (!CMS_set_detached(cms, 0)) {
		errbuf_openssl(err, errlen, "cannot start AuthEnvelopedData");
		goto out;
	}
	if ((ri = CMS_add1_recipient_cert(cms, recipient, CMS_BINARY)) ==
	    NULL) {
		errbuf_openssl(err, errlen, "cannot add recipient");
		goto out;
	}
	/* OpenSSL's default key-derivation hash for ECDH is SHA-1. */
	if ((pctx = CMS_RecipientInfo_get0_pkey_ctx(ri)) == NULL ||
	    EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) <= 0) {
		errbuf_openssl(
		    err, errlen, "cannot set key derivation to SHA-256");
		goto out;
	}
	if (!CMS_final(cms, in, NULL, CMS_BINARY)) {
		errbuf_openssl(err, errlen, "cannot seal");
		goto out;
	}
	ret = cms_to_der(cms, der, derlen, err, errlen);
out:
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return ret;
}

/* Reads one DER header; refuses errors and indefinite lengths (BER). */
static int
cms_der_next(const unsigned char **p, const unsigned char *end, long *len,
    int *tag, int *xclass, int *constructed)
{
	int r;

	if (*p >= end)
		return -1;
	r = ASN1_get_object(p, len, tag, xclass, (long)(end - *p));
	if ((r & 0x80) != 0 || r == (V_ASN1_CONSTRUCTED | 1)) {
		ERR_clear_error();
		return -1;
	}
	*constructed = (r & V_ASN1_CONSTRUCTED) != 0;
	return 0;
}

/*
 * The length of the mac of an AuthEnvelopedData ContentInfo (RFC 5083), or
 * -1. OpenSSL hands the tag to GCM whatever its length, and GCM compares only
 * that many bytes: a tag cut to 4 bytes would leave 2^32 forgery attempts.
 * The mac is the only universal OCTET STRING directly in the
 * AuthEnvelopedData SEQUENCE.
 */
static long
cms_aenv_maclen(const unsigned char *der, size_t derlen)
{
	const unsigned char *p = der, *end = der + derlen;
	long len;
	int tag, xclass, cons;

	/* ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content } */
	if (cms_der_next(&p, end, &len, &tag, &xclass, &cons) == -1 ||
	    xclass != V_ASN1_UNIVERSAL || tag != V_ASN1_SEQUENCE)
		return -1;
	end = p + len;
	if (cms_der_next(&p, end, &len, &tag, &xclass, &cons) == -1 ||
	    xclass != V_ASN1_UNIVERSAL || tag != V_ASN1_OBJECT)
		return -1;
	p += len;
	if (cms_der_next(&p, end, &len, &tag, &xclass, &cons) == -1 ||
	    xclass != V_ASN1_CONTEXT_SPECIFIC || tag != 0 || !cons)
		return -1;
	end = p + len;
	if (cms_der_next(&p, end, &len, &tag, &xclass, &cons) == -1 ||
	    xclass != V_ASN1_UNIVERSAL || tag != V_ASN1_SEQUENCE)
		return -1;
	end = p + len;
	while (p < end) {
		if (cms_der_next(&p, end, &len, &tag, &xclass, &cons) == -1)
			return -1;
		if (xclass == V_ASN1_UNIVERSAL && tag == V_ASN1_OCTET_STRING &&
		    !cons)
			return len;
		p += len;
	}
	return -1;
}

int
cms_open(const unsigned char *der, size_t derlen, X509 *cert, EVP_PKEY *key,
    unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
	CMS_ContentInfo *cms = NULL;
	BIO *bio = NULL;
	BUF_MEM *mem = NULL;
	char got[80];
	long maclen;
	int ret = -1;

	*out = NULL;
	*outlen = 0;
	if (cert == NULL || key == NULL) {
		errbuf_set(err, errlen, "no key-exchange certificate or key");
		goto out;
	}
	if ((cms = cms_parse(der, derlen, err, errlen)) == NULL)
		goto out;
	if (OBJ_obj2nid(CMS_get0_type(cms)) !=
	    NID_id_smime_ct_authEnvelopedData) {
		cms_objname(CMS_get0_type(cms), got, sizeof(got));
		errbuf_set(err, errlen,
		    "CMS message is %s, not AuthEnvelopedData", got);
		goto out;
	}
	if ((maclen = cms_aenv_maclen(der, derlen)) != CMS_GCM_TAG_LEN) {
		errbuf_set(err, errlen,
		    "authentication tag is %ld bytes, expected %d", maclen,
		    CMS_GCM_TAG_LEN);
		goto out;
	}
	/* A secure memory BIO wipes the plaintext when it is freed. */
	if ((bio = BIO_new(BIO_s_secmem())) == NULL) {
		errbuf_openssl(err, errlen, "cannot allocate");
		goto out;
	}
	/* Fails on a wrong key, no matching recipient, or a bad GCM tag. */
	if (!CMS_decrypt(cms, key, cert, NULL, bio, CMS_BINARY)) {
		errbuf_openssl(err, errlen, "cannot open envelope");
		goto out;
	}
	BIO_get_mem_ptr(bio, &mem);
	if (mem == NULL) {
		errbuf_openssl(err, errlen, "cannot read plaintext");
		goto out;
	}
	*out = xmalloc(mem->length > 0 ? mem->length : 1);
	if (mem->length > 0)
		memcpy(*out, mem->data, mem->length);
	*outlen = mem->length;
	ret = 0;
out:
	BIO_free(bio);
	CMS_ContentInfo_free(cms);
	return ret;
}
