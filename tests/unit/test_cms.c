/*
 * Unit tests for common/cms.c: SignedData made and verified, checked again
 * by the stock `openssl cms` command (non-repudiation a third party can
 * check), AuthEnvelopedData sealed and opened, and everything an attacker
 * can send refused: other content types, extra signers, weak digests,
 * unsigned attributes, plain EnvelopedData, truncated tags, flipped bytes,
 * truncations and garbage. Keys and certificates are made at run time.
 */
#include <sys/wait.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cms.h"
#include "xmalloc.h"
#include "unit.h"

struct ident {
	EVP_PKEY *key;
	X509 *cert;
};

static void
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	ASSERT_PTR_NOT_NULL(ext);
	ASSERT_INT_EQ(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/*
 * A fresh key on curve (e.g. "P-256") and a certificate for it, issued by
 * issuer (self-signed when issuer is NULL); ca makes it a CA certificate.
 */
static struct ident
make_ident(
    const char *curve, const char *cn, const struct ident *issuer, int ca)
{
	static long serial = 1;
	struct ident id;
	X509_NAME *name;
	X509V3_CTX ctx;

	id.key = EVP_EC_gen(curve);
	ASSERT_PTR_NOT_NULL(id.key);
	id.cert = X509_new();
	ASSERT_PTR_NOT_NULL(id.cert);
	X509_set_version(id.cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(id.cert), serial++);
	X509_gmtime_adj(X509_getm_notBefore(id.cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(id.cert), 86400);
	X509_set_pubkey(id.cert, id.key);
	name = X509_get_subject_name(id.cert);
	X509_NAME_add_entry_by_txt(
	    name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(
	    id.cert, issuer ? X509_get_subject_name(issuer->cert) : name);
	X509V3_set_ctx(
	    &ctx, issuer ? issuer->cert : id.cert, id.cert, NULL, NULL, 0);
	add_ext(id.cert, &ctx, NID_basic_constraints,
	    ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(id.cert, &ctx, NID_key_usage,
	    ca ? "critical,keyCertSign,cRLSign"
	       : "critical,digitalSignature,nonRepudiation,keyAgreement");
	add_ext(id.cert, &ctx, NID_subject_key_identifier, "hash");
	if (issuer != NULL)
		add_ext(id.cert, &ctx, NID_authority_key_identifier,
		    "keyid:always");
	ASSERT_TRUE(X509_sign(id.cert, issuer ? issuer->key : id.key,
	                EVP_sha256()) > 0);
	return id;
}

static struct ident
self_signed(const char *cn)
{
	return make_ident("P-256", cn, NULL, 0);
}

static void
free_ident(struct ident *id)
{
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
}

/* memmem(3) is a GNU extension. */
static unsigned char *
memfind(const unsigned char *hay, size_t hlen, const void *needle, size_t nlen)
{
	size_t i;

	for (i = 0; nlen > 0 && i + nlen <= hlen; i++)
		if (memcmp(hay + i, needle, nlen) == 0)
			return (unsigned char *)(uintptr_t)(hay + i);
	return NULL;
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ASSERT_PTR_NOT_NULL(f);
	ASSERT_INT_EQ(fwrite(data, 1, len, f), len);
	ASSERT_INT_EQ(fclose(f), 0);
}

static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = xmalloc(1 << 20);

	ASSERT_PTR_NOT_NULL(f);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

static void
write_pem_cert(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");

	ASSERT_PTR_NOT_NULL(f);
	ASSERT_INT_EQ(PEM_write_X509(f, x), 1);
	ASSERT_INT_EQ(fclose(f), 0);
}

/* Silences stderr (the log) around loops that fail thousands of times. */
static int
quiet_begin(void)
{
	int saved = dup(2), null = open("/dev/null", O_WRONLY);

	ASSERT_TRUE(saved >= 0 && null >= 0);
	dup2(null, 2);
	close(null);
	return saved;
}

static void
quiet_end(int saved)
{
	dup2(saved, 2);
	close(saved);
}

static int
run(const char *cmd)
{
	int rc = system(cmd);

	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static const char msg[] = "{\"amount\":1999,\"currency\":\"EUR\"}";

static unsigned char *
sign_msg(const struct ident *id, int nid, int detached, size_t *derlen)
{
	unsigned char *der;
	char err[256] = "";

	if (cms_sign(msg, strlen(msg), nid, id->cert, id->key, NULL, detached,
	        &der, derlen, err, sizeof(err)) != 0)
		unit_fail(__FILE__, __LINE__, "cms_sign: %s", err);
	return der;
}

static CMS_ContentInfo *
parse(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);

	ASSERT_PTR_NOT_NULL(cms);
	return cms;
}

static unsigned char *
to_der(CMS_ContentInfo *cms, size_t *len)
{
	unsigned char *der = NULL;
	int n = i2d_CMS_ContentInfo(cms, &der);

	ASSERT_TRUE(n > 0);
	*len = (size_t)n;
	return der;
}

static void
test_sign_attached(void)
{
	struct ident id = self_signed("cardholder");
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	STACK_OF(X509) *certs;
	unsigned char *der, *content;
	size_t derlen, clen;
	X509 *signer;
	char err[256] = "";

	der = sign_msg(&id, NID_setct_CertReqTBS, 0, &derlen);
	ASSERT_INT_EQ(cms_verify(der, derlen, NID_setct_CertReqTBS, NULL, 0,
	                  &signer, &certs, &content, &clen, err, sizeof(err)),
	    0);
	ASSERT_INT_EQ(clen, strlen(msg));
	ASSERT_MEM_EQ(content, msg, clen);
	ASSERT_INT_EQ(X509_cmp(signer, id.cert), 0);
	ASSERT_INT_EQ(sk_X509_num(certs), 1);
	ASSERT_INT_EQ(X509_cmp(sk_X509_value(certs, 0), id.cert), 0);

	/* What a third party parsing it sees. */
	cms = parse(der, derlen);
	ASSERT_INT_EQ(
	    OBJ_obj2nid(CMS_get0_eContentType(cms)), NID_setct_CertReqTBS);
	ASSERT_FALSE(CMS_is_detached(cms));
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	ASSERT_INT_EQ(CMS_signed_get_attr_count(si), 3);
	ASSERT_TRUE(
	    CMS_signed_get_attr_by_NID(si, NID_pkcs9_contentType, -1) >= 0);
	ASSERT_TRUE(
	    CMS_signed_get_attr_by_NID(si, NID_pkcs9_messageDigest, -1) >= 0);
	ASSERT_TRUE(
	    CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1) >= 0);

	/* All out-parameters are optional. */
	ASSERT_INT_EQ(cms_verify(der, derlen, NID_setct_CertReqTBS, NULL, 0,
	                  NULL, NULL, NULL, NULL, err, sizeof(err)),
	    0);
	CMS_ContentInfo_free(cms);
	sk_X509_pop_free(certs, X509_free);
	X509_free(signer);
	free(content);
	free(der);
	free_ident(&id);
}

static void
test_sign_detached(void)
{
	struct ident id = self_signed("cardholder");
	static unsigned char x[1];
	unsigned char *der, *content = x;
	size_t derlen, clen = 99;
	X509 *signer;
	char err[256] = "";

	der = sign_msg(&id, NID_setct_PI_TBS, 1, &derlen);
	/* The content is not in the message. */
	ASSERT_PTR_NULL(memfind(der, derlen, "amount", 6));
	ASSERT_INT_EQ(
	    cms_verify(der, derlen, NID_setct_PI_TBS, msg, strlen(msg), &signer,
	        NULL, &content, &clen, err, sizeof(err)),
	    0);
	ASSERT_PTR_NULL(content);
	ASSERT_INT_EQ(clen, 0);
	ASSERT_INT_EQ(X509_cmp(signer, id.cert), 0);
	X509_free(signer);

	/* An empty content signs and verifies too. */
	free(der);
	ASSERT_INT_EQ(cms_sign("", 0, NID_setct_PI_TBS, id.cert, id.key, NULL,
	                  1, &der, &derlen, err, sizeof(err)),
	    0);
	ASSERT_INT_EQ(cms_verify(der, derlen, NID_setct_PI_TBS, "", 0, NULL,
	                  NULL, NULL, NULL, err, sizeof(err)),
	    0);
	ASSERT_INT_EQ(cms_verify(der, derlen, NID_setct_PI_TBS, "x", 1, NULL,
	                  NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	free(der);
	free_ident(&id);
}

static void
test_flipped_content(void)
{
	struct ident id = self_signed("cardholder");
	unsigned char *der, *p;
	size_t derlen;
	char err[256] = "", bad[sizeof(msg)];

	/* Attached: change the amount inside the message. */
	der = sign_msg(&id, NID_setct_CertReqTBS, 0, &derlen);
	p = memfind(der, derlen, "1999", 4);
	ASSERT_PTR_NOT_NULL(p);
	p[0] = '9';
	ASSERT_INT_EQ(cms_verify(der, derlen, NID_setct_CertReqTBS, NULL, 0,
	                  NULL, NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "does not verify");
	free(der);

	/* Detached: the same change in the separate content. */
	der = sign_msg(&id, NID_setct_PI_TBS, 1, &derlen);
	memcpy(bad, msg, sizeof(msg));
	bad[11] ^= 0x01;
	ASSERT_INT_EQ(
	    cms_verify(der, derlen, NID_setct_PI_TBS, bad, strlen(bad), NULL,
	        NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "does not verify");
	free(der);
	free_ident(&id);
}

static void
test_wrong_content_type(void)
{
	struct ident id = self_signed("cardholder");
	unsigned char *der;
	size_t derlen;
	char err[256] = "";

	der = sign_msg(&id, NID_setct_CertReqTBS, 1, &derlen);
	ASSERT_INT_EQ(
	    cms_verify(der, derlen, NID_setct_CertReqTBS, msg, strlen(msg),
	        NULL, NULL, NULL, NULL, err, sizeof(err)),
	    0);
	ASSERT_INT_EQ(
	    cms_verify(der, derlen, NID_setct_PI_TBS, msg, strlen(msg), NULL,
	        NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "content type is setct-CertReqTBS");
	ASSERT_INT_EQ(cms_verify(der, derlen, NID_pkcs7_data, msg, strlen(msg),
	                  NULL, NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	ASSERT_INT_EQ(cms_verify(der, derlen, NID_undef, msg, strlen(msg), NULL,
	                  NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	free(der);

	/* cms_sign refuses an unknown content type. */
	ASSERT_INT_EQ(cms_sign(msg, strlen(msg), NID_undef, id.cert, id.key,
	                  NULL, 1, &der, &derlen, err, sizeof(err)),
	    -1);
	ASSERT_PTR_NULL(der);
	free_ident(&id);
}

/*
 * Builds, with plain OpenSSL, an attached SignedData of type setct-PI-TBS
 * that OpenSSL itself verifies, signed by a and (if b != NULL) b too.
 */
static unsigned char *
build_signed(const struct ident *a, const struct ident *b, const EVP_MD *md,
    unsigned int flags, size_t *len)
{
	CMS_ContentInfo *cms;
	BIO *in = BIO_new_mem_buf(msg, (int)strlen(msg));
	unsigned char *der;

	flags |= CMS_BINARY | CMS_PARTIAL;
	cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
	ASSERT_PTR_NOT_NULL(cms);
	ASSERT_TRUE(CMS_set1_eContentType(cms, OBJ_nid2obj(NID_setct_PI_TBS)));
	ASSERT_PTR_NOT_NULL(CMS_add1_signer(cms, a->cert, a->key, md, flags));
	if (b != NULL)
		ASSERT_PTR_NOT_NULL(
		    CMS_add1_signer(cms, b->cert, b->key, md, flags));
	ASSERT_TRUE(CMS_final(cms, in, NULL, flags));
	der = to_der(cms, len);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return der;
}

/* OpenSSL's own verdict, ignoring certificate chains. */
static int
openssl_verifies(const unsigned char *der, size_t len)
{
	CMS_ContentInfo *cms = parse(der, len);
	int ok = CMS_verify(cms, NULL, NULL, NULL, NULL,
	    CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY);

	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return ok;
}

static void
test_two_signers(void)
{
	struct ident a = self_signed("alice"), b = self_signed("bob");
	unsigned char *der;
	size_t len;
	char err[256] = "";

	der = build_signed(&a, &b, EVP_sha256(), 0, &len);
	ASSERT_INT_EQ(openssl_verifies(der, len), 1);
	ASSERT_INT_EQ(cms_verify(der, len, NID_setct_PI_TBS, NULL, 0, NULL,
	                  NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "2 signers");
	free(der);

	/* The same, with one signer, is accepted: the builder is sound. */
	der = build_signed(&a, NULL, EVP_sha256(), 0, &len);
	ASSERT_INT_EQ(cms_verify(der, len, NID_setct_PI_TBS, NULL, 0, NULL,
	                  NULL, NULL, NULL, err, sizeof(err)),
	    0);
	free(der);
	free_ident(&a);
	free_ident(&b);
}

static void
test_weak_forms_refused(void)
{
	/* The DER of OID 1.2.840.10045.4.3.2, ecdsa-with-SHA256. */
	static const unsigned char ecdsa_sha256[] = { 0x06, 0x08, 0x2a, 0x86,
		0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
	struct ident a = self_signed("alice");
	unsigned char *der, *p, *q;
	size_t len;
	char err[256] = "";

	/* SHA-1. */
	der = build_signed(&a, NULL, EVP_sha1(), 0, &len);
	ASSERT_INT_EQ(openssl_verifies(der, len), 1);
	ASSERT_INT_EQ(cms_verify(der, len, NID_setct_PI_TBS, NULL, 0, NULL,
	                  NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "expected SHA-256");
	free(der);

	/* No signed attributes: the content type would not be signed. */
	der = build_signed(&a, NULL, EVP_sha256(), CMS_NOATTR, &len);
	ASSERT_INT_EQ(openssl_verifies(der, len), 1);
	ASSERT_INT_EQ(cms_verify(der, len, NID_setct_PI_TBS, NULL, 0, NULL,
	                  NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "no signed attributes");
	free(der);

	/* A signature algorithm other than ecdsa-with-SHA256 (here -SHA384). */
	der = build_signed(&a, NULL, EVP_sha256(), 0, &len);
	/* The SignerInfo's is the last one; the certificate's come first. */
	p = memfind(der, len, ecdsa_sha256, sizeof(ecdsa_sha256));
	ASSERT_PTR_NOT_NULL(p);
	while ((q = memfind(p + 1, len - (size_t)(p + 1 - der), ecdsa_sha256,
	            sizeof(ecdsa_sha256))) != NULL)
		p = q;
	p[sizeof(ecdsa_sha256) - 1] = 0x03;
	ASSERT_INT_EQ(openssl_verifies(der, len), 1);
	ASSERT_INT_EQ(cms_verify(der, len, NID_setct_PI_TBS, NULL, 0, NULL,
	                  NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "expected ecdsa-with-SHA256");
	free(der);

	/* The signer's certificate left out of the message. */
	der = build_signed(&a, NULL, EVP_sha256(), CMS_NOCERTS, &len);
	ASSERT_INT_EQ(cms_verify(der, len, NID_setct_PI_TBS, NULL, 0, NULL,
	                  NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	free(der);
	free_ident(&a);
}

static void
test_detached_needs_data(void)
{
	struct ident id = self_signed("cardholder");
	unsigned char *der;
	size_t derlen;
	char err[256] = "";

	der = sign_msg(&id, NID_setct_PI_TBS, 1, &derlen);
	ASSERT_INT_EQ(cms_verify(der, derlen, NID_setct_PI_TBS, NULL, 0, NULL,
	                  NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "no content");
	free(der);

	der = sign_msg(&id, NID_setct_PI_TBS, 0, &derlen);
	ASSERT_INT_EQ(
	    cms_verify(der, derlen, NID_setct_PI_TBS, msg, strlen(msg), NULL,
	        NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "also given");
	free(der);
	free_ident(&id);
}

static void
test_sign_refuses_bad_keys(void)
{
	struct ident a = self_signed("alice"), b = self_signed("bob");
	struct ident p384 = make_ident("P-384", "p384", NULL, 0);
	unsigned char *der;
	size_t derlen;
	char err[256] = "";

	/* A key that is not the certificate's. */
	ASSERT_INT_EQ(cms_sign(msg, strlen(msg), NID_setct_PI_TBS, a.cert,
	                  b.key, NULL, 1, &der, &derlen, err, sizeof(err)),
	    -1);
	ASSERT_PTR_NULL(der);
	/* Not P-256. */
	ASSERT_INT_EQ(cms_sign(msg, strlen(msg), NID_setct_PI_TBS, p384.cert,
	                  p384.key, NULL, 1, &der, &derlen, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "P-256");
	free_ident(&a);
	free_ident(&b);
	free_ident(&p384);
}

static void
test_bad_framing(void)
{
	struct ident id = self_signed("cardholder");
	unsigned char *der, *big, *env;
	size_t derlen, envlen;
	char err[256] = "";

	der = sign_msg(&id, NID_setct_PI_TBS, 0, &derlen);
	/* Trailing bytes. */
	big = xmalloc(derlen + 1);
	memcpy(big, der, derlen);
	big[derlen] = 0;
	ASSERT_INT_EQ(cms_verify(big, derlen + 1, NID_setct_PI_TBS, NULL, 0,
	                  NULL, NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "trailing");
	free(big);
	/* Larger than 16 MiB, refused before parsing. */
	big = xcalloc(1, CMS_MAX_DER + 1);
	memcpy(big, der, derlen);
	ASSERT_INT_EQ(cms_verify(big, CMS_MAX_DER + 1, NID_setct_PI_TBS, NULL,
	                  0, NULL, NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "too large");
	ASSERT_INT_EQ(cms_open(big, CMS_MAX_DER + 1, id.cert, id.key, &env,
	                  &envlen, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "too large");
	free(big);
	/* Empty input. */
	ASSERT_INT_EQ(cms_verify(NULL, 0, NID_setct_PI_TBS, NULL, 0, NULL, NULL,
	                  NULL, NULL, err, sizeof(err)),
	    -1);
	/* An envelope is not a signature, and a signature not an envelope. */
	ASSERT_INT_EQ(cms_seal(msg, strlen(msg), id.cert, &env, &envlen, err,
	                  sizeof(err)),
	    0);
	ASSERT_INT_EQ(cms_verify(env, envlen, NID_setct_PI_TBS, NULL, 0, NULL,
	                  NULL, NULL, NULL, err, sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "not SignedData");
	free(env);
	ASSERT_INT_EQ(cms_open(der, derlen, id.cert, id.key, &env, &envlen, err,
	                  sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "not AuthEnvelopedData");
	free(der);
	free_ident(&id);
}

/* Root -> intermediate -> leaf; the stock command verifies the chain. */
static void
test_openssl_cli_chain(void)
{
	struct ident root = make_ident("P-256", "SET Root", NULL, 1);
	struct ident mid = make_ident("P-256", "Brand CA", &root, 1);
	struct ident leaf = make_ident("P-256", "merchant", &mid, 0);
	STACK_OF(X509) *chain = sk_X509_new_null(), *certs;
	unsigned char *der, *out, *p;
	size_t derlen, outlen;
	char err[256] = "", cmd[1024];
	const char *dir = unit_tmpdir();

	/* The leaf appears twice: it must go in once. */
	sk_X509_push(chain, mid.cert);
	sk_X509_push(chain, leaf.cert);
	sk_X509_push(chain, mid.cert);
	ASSERT_INT_EQ(
	    cms_sign(msg, strlen(msg), NID_setct_CertReqTBS, leaf.cert,
	        leaf.key, chain, 0, &der, &derlen, err, sizeof(err)),
	    0);
	ASSERT_INT_EQ(cms_verify(der, derlen, NID_setct_CertReqTBS, NULL, 0,
	                  NULL, &certs, NULL, NULL, err, sizeof(err)),
	    0);
	ASSERT_INT_EQ(sk_X509_num(certs), 2);
	sk_X509_pop_free(certs, X509_free);

	snprintf(cmd, sizeof(cmd), "%s/root.pem", dir);
	write_pem_cert(cmd, root.cert);
	snprintf(cmd, sizeof(cmd), "%s/sig.der", dir);
	write_file(cmd, der, derlen);
	snprintf(cmd, sizeof(cmd),
	    "openssl cms -verify -inform DER -in %s/sig.der -binary "
	    "-CAfile %s/root.pem -out %s/out.bin 2>%s/stderr",
	    dir, dir, dir, dir);
	ASSERT_INT_EQ(run(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/out.bin", dir);
	out = read_file(cmd, &outlen);
	ASSERT_INT_EQ(outlen, strlen(msg));
	ASSERT_MEM_EQ(out, msg, outlen);
	free(out);

	/* The command line sees a change too. */
	p = memfind(der, derlen, "1999", 4);
	ASSERT_PTR_NOT_NULL(p);
	p[0] = '2';
	snprintf(cmd, sizeof(cmd), "%s/sig.der", dir);
	write_file(cmd, der, derlen);
	snprintf(cmd, sizeof(cmd),
	    "openssl cms -verify -inform DER -in %s/sig.der -binary "
	    "-CAfile %s/root.pem -out /dev/null 2>%s/stderr",
	    dir, dir, dir);
	ASSERT_INT_NE(run(cmd), 0);

	/* And a root from another hierarchy verifies nothing. */
	p[0] = '1';
	free_ident(&root);
	root = make_ident("P-256", "SET Root", NULL, 1);
	snprintf(cmd, sizeof(cmd), "%s/root.pem", dir);
	write_pem_cert(cmd, root.cert);
	snprintf(cmd, sizeof(cmd), "%s/sig.der", dir);
	write_file(cmd, der, derlen);
	snprintf(cmd, sizeof(cmd),
	    "openssl cms -verify -inform DER -in %s/sig.der -binary "
	    "-CAfile %s/root.pem -out /dev/null 2>%s/stderr",
	    dir, dir, dir);
	ASSERT_INT_NE(run(cmd), 0);

	sk_X509_free(chain);
	free(der);
	free_ident(&root);
	free_ident(&mid);
	free_ident(&leaf);
}

/* The command from the brief, on a detached signature. */
static void
test_openssl_cli_detached(void)
{
	struct ident id = self_signed("cardholder");
	unsigned char *der;
	size_t derlen;
	char cmd[1024], bad[sizeof(msg)];
	const char *dir = unit_tmpdir();

	der = sign_msg(&id, NID_setct_PI_TBS, 1, &derlen);
	snprintf(cmd, sizeof(cmd), "%s/sig.der", dir);
	write_file(cmd, der, derlen);
	snprintf(cmd, sizeof(cmd), "%s/content", dir);
	write_file(cmd, msg, strlen(msg));
	snprintf(cmd, sizeof(cmd),
	    "openssl cms -verify -inform DER -in %s/sig.der -noverify "
	    "-binary -content %s/content -out /dev/null 2>%s/stderr",
	    dir, dir, dir);
	ASSERT_INT_EQ(run(cmd), 0);

	memcpy(bad, msg, sizeof(msg));
	bad[11] ^= 0x01;
	snprintf(cmd, sizeof(cmd), "%s/content", dir);
	write_file(cmd, bad, strlen(bad));
	snprintf(cmd, sizeof(cmd),
	    "openssl cms -verify -inform DER -in %s/sig.der -noverify "
	    "-binary -content %s/content -out /dev/null 2>%s/stderr",
	    dir, dir, dir);
	ASSERT_INT_NE(run(cmd), 0);
	free(der);
	free_ident(&id);
}

static unsigned char *
seal(const void *data, size_t len, X509 *cert, size_t *derlen)
{
	unsigned char *der;
	char err[256] = "";

	if (cms_seal(data, len, cert, &der, derlen, err, sizeof(err)) != 0)
		unit_fail(__FILE__, __LINE__, "cms_seal: %s", err);
	return der;
}

static void
test_seal_open(void)
{
	struct ident gw = self_signed("gateway key exchange");
	static const size_t sizes[] = { 0, 1, 16, 200, 100000 };
	CMS_ContentInfo *cms;
	CMS_RecipientInfo *ri;
	X509_ALGOR *alg;
	ASN1_OCTET_STRING *ukm;
	unsigned char *in, *der, *out;
	size_t i, derlen, outlen;
	char err[256] = "";

	in = xmalloc(100000);
	RAND_bytes(in, 100000);
	for (i = 0; i < UNIT_N(sizes); i++) {
		der = seal(in, sizes[i], gw.cert, &derlen);
		ASSERT_PTR_NULL(
		    sizes[i] >= 16 ? memfind(der, derlen, in, 16) : NULL);
		ASSERT_INT_EQ(cms_open(der, derlen, gw.cert, gw.key, &out,
		                  &outlen, err, sizeof(err)),
		    0);
		ASSERT_INT_EQ(outlen, sizes[i]);
		ASSERT_MEM_EQ(out, in, outlen);
		freezero_buf(out, outlen);
		free(der);
	}

	/* AuthEnvelopedData, kari, X9.63 KDF with SHA-256. */
	der = seal(msg, strlen(msg), gw.cert, &derlen);
	cms = parse(der, derlen);
	ASSERT_INT_EQ(
	    OBJ_obj2nid(CMS_get0_type(cms)), NID_id_smime_ct_authEnvelopedData);
	ASSERT_INT_EQ(
	    sk_CMS_RecipientInfo_num(CMS_get0_RecipientInfos(cms)), 1);
	ri = sk_CMS_RecipientInfo_value(CMS_get0_RecipientInfos(cms), 0);
	ASSERT_INT_EQ(CMS_RecipientInfo_type(ri), CMS_RECIPINFO_AGREE);
	ASSERT_INT_EQ(CMS_RecipientInfo_kari_get0_alg(ri, &alg, &ukm), 1);
	ASSERT_INT_EQ(OBJ_obj2nid(alg->algorithm),
	    NID_dhSinglePass_stdDH_sha256kdf_scheme);
	CMS_ContentInfo_free(cms);
	free(der);
	free(in);
	free_ident(&gw);
}

static void
test_open_wrong_key(void)
{
	struct ident gw = self_signed("gateway"), other = self_signed("other");
	unsigned char *der, *out;
	size_t derlen, outlen;
	char err[256] = "";

	der = seal(msg, strlen(msg), gw.cert, &derlen);
	/* Another party's certificate and key. */
	ASSERT_INT_EQ(cms_open(der, derlen, other.cert, other.key, &out,
	                  &outlen, err, sizeof(err)),
	    -1);
	ASSERT_PTR_NULL(out);
	ASSERT_INT_EQ(outlen, 0);
	/* The right certificate with the wrong key. */
	ASSERT_INT_EQ(cms_open(der, derlen, gw.cert, other.key, &out, &outlen,
	                  err, sizeof(err)),
	    -1);
	ASSERT_PTR_NULL(out);
	/* And the right pair still works. */
	ASSERT_INT_EQ(cms_open(der, derlen, gw.cert, gw.key, &out, &outlen, err,
	                  sizeof(err)),
	    0);
	free(out);
	free(der);
	free_ident(&gw);
	free_ident(&other);
}

/*
 * Our envelopes end with [0] encryptedContent (the ciphertext) followed by
 * the 16-byte mac: ... 80 81 c8 <200 bytes> 04 10 <16 bytes>.
 */
static void
test_open_tampered(void)
{
	struct ident gw = self_signed("gateway");
	unsigned char in[200], *der, *out;
	size_t derlen, outlen, i, ct, tag;
	char err[256] = "";
	int saved;

	memset(in, 'p', sizeof(in));
	der = seal(in, sizeof(in), gw.cert, &derlen);
	tag = derlen - 16;
	ct = tag - 2 - sizeof(in);
	ASSERT_INT_EQ(der[tag - 2], 0x04);
	ASSERT_INT_EQ(der[tag - 1], 16);
	ASSERT_INT_EQ(der[ct - 3], 0x80);
	ASSERT_INT_EQ(der[ct - 2], 0x81);
	ASSERT_INT_EQ(der[ct - 1], sizeof(in));
	saved = quiet_begin();
	for (i = ct; i < derlen; i++) {
		int rc;

		if (i == tag - 2)
			i = tag;
		der[i] ^= 0x01;
		rc = cms_open(der, derlen, gw.cert, gw.key, &out, &outlen, err,
		    sizeof(err));
		der[i] ^= 0x01;
		if (rc != -1 || out != NULL) {
			quiet_end(saved);
			unit_fail(__FILE__, __LINE__,
			    "flipped %s byte %zu was accepted",
			    i < tag ? "ciphertext" : "tag", i);
		}
	}
	quiet_end(saved);
	ASSERT_INT_EQ(cms_open(der, derlen, gw.cert, gw.key, &out, &outlen, err,
	                  sizeof(err)),
	    0);
	free(out);
	free(der);
	free_ident(&gw);
}

/* Rewrites a 4-byte (82 xx xx) DER length at der[off]. */
static void
shrink_len(unsigned char *der, size_t off, unsigned int by)
{
	unsigned int n;

	ASSERT_INT_EQ(der[off + 1], 0x82);
	n = ((unsigned int)der[off + 2] << 8 | der[off + 3]) - by;
	ASSERT_TRUE(n >= 256);
	der[off + 2] = (unsigned char)(n >> 8);
	der[off + 3] = (unsigned char)n;
}

static void
test_open_short_tag(void)
{
	struct ident gw = self_signed("gateway");
	unsigned char in[300], *der, *out;
	size_t derlen, outlen, oidend;
	CMS_ContentInfo *cms;
	BIO *bio;
	char err[256] = "";

	memset(in, 'p', sizeof(in));
	der = seal(in, sizeof(in), gw.cert, &derlen);
	/* 30 82 LL LL 06 0b <11-byte OID> a0 82 LL LL 30 82 LL LL ... */
	ASSERT_INT_EQ(der[4], 0x06);
	oidend = 6 + der[5];
	shrink_len(der, 0, 4);
	shrink_len(der, oidend, 4);
	shrink_len(der, oidend + 4, 4);
	/* Keep the first 12 bytes of the 16-byte tag. */
	ASSERT_INT_EQ(der[derlen - 17], 16);
	der[derlen - 17] = 12;
	derlen -= 4;

	/* OpenSSL alone accepts the truncated tag ... */
	cms = parse(der, derlen);
	bio = BIO_new(BIO_s_mem());
	ASSERT_INT_EQ(
	    CMS_decrypt(cms, gw.key, gw.cert, NULL, bio, CMS_BINARY), 1);
	CMS_ContentInfo_free(cms);
	BIO_free(bio);
	/* ... cms_open does not. */
	ASSERT_INT_EQ(cms_open(der, derlen, gw.cert, gw.key, &out, &outlen, err,
	                  sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "tag is 12 bytes");
	free(der);
	free_ident(&gw);
}

static void
test_open_refuses_enveloped(void)
{
	struct ident gw = self_signed("gateway");
	STACK_OF(X509) *recips = sk_X509_new_null();
	CMS_ContentInfo *cms;
	BIO *in = BIO_new_mem_buf(msg, (int)strlen(msg)), *bio;
	unsigned char *der, *out;
	size_t derlen, outlen;
	char err[256] = "";

	sk_X509_push(recips, gw.cert);
	cms = CMS_encrypt(recips, in, EVP_aes_256_cbc(), CMS_BINARY);
	ASSERT_PTR_NOT_NULL(cms);
	ASSERT_INT_EQ(OBJ_obj2nid(CMS_get0_type(cms)), NID_pkcs7_enveloped);
	der = to_der(cms, &derlen);
	/* It is a valid envelope for this key ... */
	bio = BIO_new(BIO_s_mem());
	ASSERT_INT_EQ(
	    CMS_decrypt(cms, gw.key, gw.cert, NULL, bio, CMS_BINARY), 1);
	BIO_free(bio);
	/* ... but it has no integrity, so cms_open refuses it. */
	ASSERT_INT_EQ(cms_open(der, derlen, gw.cert, gw.key, &out, &outlen, err,
	                  sizeof(err)),
	    -1);
	ASSERT_STR_CONTAINS(err, "not AuthEnvelopedData");
	ASSERT_PTR_NULL(out);
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	sk_X509_free(recips);
	free_ident(&gw);
}

/* A third party with the key opens our envelope with the stock command. */
static void
test_openssl_cli_decrypt(void)
{
	struct ident gw = self_signed("gateway");
	unsigned char *der, *out;
	size_t derlen, outlen;
	char cmd[1024];
	const char *dir = unit_tmpdir();
	FILE *f;

	der = seal(msg, strlen(msg), gw.cert, &derlen);
	snprintf(cmd, sizeof(cmd), "%s/env.der", dir);
	write_file(cmd, der, derlen);
	snprintf(cmd, sizeof(cmd), "%s/cert.pem", dir);
	write_pem_cert(cmd, gw.cert);
	snprintf(cmd, sizeof(cmd), "%s/key.pem", dir);
	ASSERT_PTR_NOT_NULL(f = fopen(cmd, "w"));
	ASSERT_INT_EQ(
	    PEM_write_PrivateKey(f, gw.key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
	    "openssl cms -decrypt -inform DER -in %s/env.der -binary "
	    "-recip %s/cert.pem -inkey %s/key.pem -out %s/out.bin "
	    "2>%s/stderr",
	    dir, dir, dir, dir, dir);
	ASSERT_INT_EQ(run(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/out.bin", dir);
	out = read_file(cmd, &outlen);
	ASSERT_INT_EQ(outlen, strlen(msg));
	ASSERT_MEM_EQ(out, msg, outlen);
	free(out);
	free(der);
	free_ident(&gw);
}

/*
 * Every single-byte change (three patterns per byte) and every truncation
 * of a valid signature: no crash, no leak (under ASan), and whatever is
 * still accepted carries the same content from the same key.
 */
static void
test_fuzz_verify(void)
{
	struct ident id = self_signed("cardholder");
	static const unsigned char masks[] = { 0x01, 0x80, 0xff };
	unsigned char *der[2], *buf, *content;
	size_t derlen[2], i, m, clen, accepted = 0;
	const char *fail = NULL;
	size_t failpos = 0;
	X509 *signer;
	char err[256];
	int d, saved;

	der[0] = sign_msg(&id, NID_setct_PI_TBS, 0, &derlen[0]);
	der[1] = sign_msg(&id, NID_setct_PI_TBS, 1, &derlen[1]);
	saved = quiet_begin();
	for (d = 0; d < 2 && fail == NULL; d++) {
		const char *data = d ? msg : NULL;
		size_t len = d ? strlen(msg) : 0;

		buf = xmalloc(derlen[d]);
		for (i = 0; i < derlen[d] && fail == NULL; i++) {
			for (m = 0; m < UNIT_N(masks); m++) {
				memcpy(buf, der[d], derlen[d]);
				buf[i] ^= masks[m];
				if (cms_verify(buf, derlen[d], NID_setct_PI_TBS,
				        data, len, &signer, NULL, &content,
				        &clen, err, sizeof(err)) != 0)
					continue;
				accepted++;
				if (!EVP_PKEY_eq(
				        X509_get0_pubkey(signer), id.key))
					fail = "accepted another signer";
				if (!d &&
				    (clen != strlen(msg) ||
				        memcmp(content, msg, clen) != 0))
					fail = "accepted other content";
				X509_free(signer);
				free(content);
				if (fail != NULL) {
					failpos = i;
					break;
				}
			}
		}
		for (i = 0; i < derlen[d] && fail == NULL; i++) {
			memcpy(buf, der[d], i);
			if (cms_verify(buf, i, NID_setct_PI_TBS, data, len,
			        NULL, NULL, NULL, NULL, err,
			        sizeof(err)) != -1) {
				fail = "accepted a truncation";
				failpos = i;
			}
		}
		free(buf);
	}
	quiet_end(saved);
	if (fail != NULL)
		unit_fail(__FILE__, __LINE__, "%s at byte %zu", fail, failpos);
	printf("    %zu of %zu changes accepted, all in unchecked fields\n",
	    accepted, 3 * (derlen[0] + derlen[1]));
	free(der[0]);
	free(der[1]);
	free_ident(&id);
}

static void
test_fuzz_open(void)
{
	struct ident gw = self_signed("gateway");
	static const unsigned char masks[] = { 0x01, 0x80, 0xff };
	unsigned char *der, *buf, *out;
	size_t derlen, i, m, outlen;
	const char *fail = NULL;
	size_t failpos = 0;
	char err[256];
	int saved;

	der = seal(msg, strlen(msg), gw.cert, &derlen);
	buf = xmalloc(derlen);
	saved = quiet_begin();
	for (i = 0; i < derlen && fail == NULL; i++) {
		for (m = 0; m < UNIT_N(masks) && fail == NULL; m++) {
			memcpy(buf, der, derlen);
			buf[i] ^= masks[m];
			if (cms_open(buf, derlen, gw.cert, gw.key, &out,
			        &outlen, err, sizeof(err)) != 0)
				continue;
			if (outlen != strlen(msg) ||
			    memcmp(out, msg, outlen) != 0) {
				fail = "opened to other content";
				failpos = i;
			}
			free(out);
		}
	}
	for (i = 0; i < derlen && fail == NULL; i++) {
		memcpy(buf, der, i);
		if (cms_open(buf, i, gw.cert, gw.key, &out, &outlen, err,
		        sizeof(err)) != -1) {
			fail = "opened a truncation";
			failpos = i;
		}
	}
	quiet_end(saved);
	if (fail != NULL)
		unit_fail(__FILE__, __LINE__, "%s at byte %zu", fail, failpos);
	free(buf);
	free(der);
	free_ident(&gw);
}

/* Random bytes, some dressed as a DER SEQUENCE, fed to both parsers. */
static void
test_garbage(void)
{
	struct ident id = self_signed("cardholder");
	unsigned char buf[2048], *out;
	size_t i, n, outlen;
	char err[256];
	int saved;

	saved = quiet_begin();
	for (i = 0; i < 2000; i++) {
		RAND_bytes((unsigned char *)&n, sizeof(n));
		n = n % sizeof(buf) + 1;
		RAND_bytes(buf, (int)n);
		if (i % 2 == 0 && n > 4) {
			buf[0] = 0x30;
			buf[1] = 0x82;
			buf[2] = (unsigned char)((n - 4) >> 8);
			buf[3] = (unsigned char)(n - 4);
		}
		if (cms_verify(buf, n, NID_setct_PI_TBS, NULL, 0, NULL, NULL,
		        NULL, NULL, err, sizeof(err)) != -1 ||
		    cms_open(buf, n, id.cert, id.key, &out, &outlen, err,
		        sizeof(err)) != -1) {
			quiet_end(saved);
			unit_fail(__FILE__, __LINE__, "garbage accepted");
		}
	}
	quiet_end(saved);
	free_ident(&id);
}

static const struct unit_case cases[] = {
	{ "sign/verify attached, three signed attributes", test_sign_attached },
	{ "sign/verify detached", test_sign_detached },
	{ "a flipped content byte fails", test_flipped_content },
	{ "wrong content type refused", test_wrong_content_type },
	{ "two signers refused", test_two_signers },
	{ "SHA-1, other signature algorithm, no signed attributes, no "
	  "signer cert refused",
	    test_weak_forms_refused },
	{ "detached needs data, attached refuses extra data",
	    test_detached_needs_data },
	{ "sign refuses a mismatched or non-P-256 key",
	    test_sign_refuses_bad_keys },
	{ "trailing bytes, oversize, wrong CMS type refused",
	    test_bad_framing },
	{ "openssl cms -verify -CAfile checks our chain",
	    test_openssl_cli_chain },
	{ "openssl cms -verify -content checks a detached signature",
	    test_openssl_cli_detached },
	{ "seal/open round trip, AuthEnvelopedData kari SHA-256 KDF",
	    test_seal_open },
	{ "open with the wrong key fails", test_open_wrong_key },
	{ "every flipped ciphertext or tag byte fails", test_open_tampered },
	{ "a truncated GCM tag is refused", test_open_short_tag },
	{ "plain EnvelopedData refused", test_open_refuses_enveloped },
	{ "openssl cms -decrypt opens our envelope", test_openssl_cli_decrypt },
	{ "verify: flipped bytes and truncations never crash",
	    test_fuzz_verify },
	{ "open: flipped bytes and truncations never crash", test_fuzz_open },
	{ "random garbage refused", test_garbage },
};

int
main(void)
{
	return unit_main("cms", cases, UNIT_N(cases));
}
