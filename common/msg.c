/*
 * The SET message envelope: build (serialize once, sign, seal) and parse
 * (open, verify the bytes received, then parse them). See msg.h for the wire
 * format. Every message type and the SET content type its signature carries
 * is listed in one table, so a signature made for one message can never be
 * accepted as another.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/obj_mac.h>

#include "base64.h"
#include "cms.h"
#include "hex.h"
#include "log.h"
#include "msg.h"
#include "setcert.h"
#include "xmalloc.h"

/*
 * The messages and the SET object identifier of what their signature
 * covers (SET Book 2's "TBS" content types; OpenSSL knows them all).
 * nid 0: the message travels unsigned, as in SET.
 */
static const struct {
	const char *type;
	int nid;
} msg_types[] = {
	{ "Error", NID_setct_ErrorTBS },
	{ "Me-AqCInitReq", 0 },
	{ "Me-AqCInitRes", NID_setct_MeAqCInitResTBS },
	{ "CardCInitReq", 0 },
	{ "CardCInitRes", NID_setct_CardCInitResTBS },
	{ "RegFormReq", 0 }, /* sealed, but the cardholder has no key yet */
	{ "RegFormRes", NID_setct_RegFormResTBS },
	{ "CertReq", NID_setct_CertReqTBS },
	{ "CertRes", NID_setct_CertResData },
	{ "CertInqReq", NID_setct_CertInqReqTBS },
	{ "CertInqRes", NID_setct_CertResData },
	{ "PInitReq", 0 },
	{ "PInitRes", NID_setct_PInitResData },
	{ "PReq", 0 }, /* its signature is the dual signature inside */
	{ "PRes", NID_setct_PResData },
	{ "InqReq", 0 },
	{ "InqRes", NID_setct_PResData },
	{ "AuthReq", NID_setct_AuthReqTBS },
	{ "AuthRes", NID_setct_AuthResTBS },
	{ "AuthRevReq", NID_setct_AuthRevReqTBS },
	{ "AuthRevRes", NID_setct_AuthRevResTBS },
	{ "CapReq", NID_setct_CapReqTBS },
	{ "CapRes", NID_setct_CapResData },
	{ "CapRevReq", NID_setct_CapRevReqTBS },
	{ "CapRevRes", NID_setct_CapRevResData },
	{ "CredReq", NID_setct_CredReqTBS },
	{ "CredRes", NID_setct_CredResData },
	{ "CredRevReq", NID_setct_CredRevReqTBS },
	{ "CredRevRes", NID_setct_CredRevResData },
	{ "PCertReq", NID_setct_PCertReqData },
	{ "PCertRes", NID_setct_PCertResTBS },
	{ "BatchAdminReq", NID_setct_BatchAdminReqData },
	{ "BatchAdminRes", NID_setct_BatchAdminResData },
};

int
msg_type_nid(const char *type)
{
	size_t i;

	for (i = 0; i < sizeof(msg_types) / sizeof(msg_types[0]); i++)
		if (strcmp(msg_types[i].type, type) == 0)
			return msg_types[i].nid;
	return -1;
}

int
msg_fail(struct msg_error *e, const char *code, const char *fmt, ...)
{
	va_list ap;

	snprintf(e->code, sizeof(e->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
	va_end(ap);
	return -1;
}

char *
msg_now(void)
{
	char buf[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}

/* Serializes a JSON value once, compact with sorted keys. */
static char *
dump(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	char *out;

	if (s == NULL)
		return NULL;
	out = xstrdup(s);
	free(s);
	return out;
}

int
msg_build(const char *type, const char *rrpid, json_t *body, X509 *signer,
    EVP_PKEY *key, STACK_OF(X509) *chain, X509 *seal_to, char **wire,
    size_t *wirelen, char *err, size_t errlen)
{
	json_t *b = NULL, *outer = NULL, *inner = NULL;
	char *bytes = NULL, *date = NULL, *fresh = NULL, *b64 = NULL;
	char *innertext = NULL, *thumb = NULL;
	unsigned char *der = NULL;
	size_t derlen;
	int nid, rc = -1;

	if ((nid = msg_type_nid(type)) < 0) {
		snprintf(err, errlen, "unknown message type %s", type);
		return -1;
	}
	/* An Error may go unsigned: its sender may hold no key yet. */
	if (nid != 0 && strcmp(type, "Error") != 0 &&
	    (signer == NULL || key == NULL)) {
		snprintf(err, errlen, "%s must be signed", type);
		return -1;
	}
	if (rrpid == NULL)
		rrpid = fresh = hex_random(20);
	date = msg_now();
	b = json_deep_copy(body);
	if (b == NULL || !json_is_object(b)) {
		snprintf(
		    err, errlen, "%s: the body is not a JSON object", type);
		goto done;
	}
	json_object_set_new(b, "msg", json_string(type));
	json_object_set_new(b, "rrpid", json_string(rrpid));
	json_object_set_new(b, "date", json_string(date));
	if ((bytes = dump(b)) == NULL) {
		snprintf(err, errlen, "%s: cannot serialize the body", type);
		goto done;
	}

	inner = json_object();
	b64 = base64_encode(bytes, strlen(bytes));
	json_object_set_new(inner, "body", json_string(b64));
	free(b64);
	b64 = NULL;
	if (nid != 0 && signer != NULL && key != NULL) {
		if (cms_sign(bytes, strlen(bytes), nid, signer, key, chain, 1,
		        &der, &derlen, err, errlen) == -1)
			goto done;
		b64 = base64_encode(der, derlen);
		json_object_set_new(inner, "sig", json_string(b64));
		free(b64);
		b64 = NULL;
		free(der);
		der = NULL;
	}

	if (seal_to == NULL) {
		outer = inner;
		inner = NULL;
	} else {
		if ((innertext = dump(inner)) == NULL) {
			snprintf(err, errlen, "%s: cannot serialize", type);
			goto done;
		}
		if (cms_seal(innertext, strlen(innertext), seal_to, &der,
		        &derlen, err, errlen) == -1)
			goto done;
		outer = json_object();
		b64 = base64_encode(der, derlen);
		json_object_set_new(outer, "sealed", json_string(b64));
		thumb = setcert_thumbprint(seal_to);
		json_object_set_new(outer, "to", json_string(thumb));
	}
	json_object_set_new(outer, "set", json_integer(1));
	json_object_set_new(outer, "type", json_string(type));
	json_object_set_new(outer, "rrpid", json_string(rrpid));
	if ((*wire = dump(outer)) == NULL) {
		snprintf(err, errlen, "%s: cannot serialize", type);
		goto done;
	}
	*wirelen = strlen(*wire);
	rc = 0;
done:
	json_decref(b);
	json_decref(inner);
	json_decref(outer);
	free(bytes);
	free(date);
	free(fresh);
	free(b64);
	free(der);
	free(thumb);
	if (innertext != NULL)
		freezero_buf(innertext, strlen(innertext));
	return rc;
}

/* A string member of a JSON object, or NULL. */
static const char *
member(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int
is_hex_id(const char *s, size_t minlen, size_t maxlen)
{
	size_t n = strlen(s), i;

	if (n < minlen || n > maxlen)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		        (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Decodes a base64 member into bytes; "what" names it in the reason. */
static unsigned char *
b64_member(json_t *o, const char *key, size_t *len, struct msg_error *e)
{
	const char *s = member(o, key);
	unsigned char *p;

	if (s == NULL) {
		msg_fail(e, "malformed",
		    "the \"%s\" field is missing or not "
		    "a string",
		    key);
		return NULL;
	}
	if ((p = base64_decode(s, strlen(s), len)) == NULL)
		msg_fail(e, "malformed",
		    "the \"%s\" field is not valid "
		    "base64",
		    key);
	return p;
}

/* Opens a sealed envelope into its inner {"body","sig"} object. */
static json_t *
open_sealed(json_t *outer, msg_key_fn key_fn, void *arg, struct msg_error *e)
{
	const char *to = member(outer, "to");
	unsigned char *der = NULL, *plain = NULL;
	size_t derlen, plainlen = 0;
	X509 *cert;
	EVP_PKEY *key;
	json_t *inner = NULL;
	json_error_t jerr;
	char err[256];

	if (key_fn == NULL) {
		msg_fail(e, "malformed",
		    "a sealed message was not expected "
		    "here");
		return NULL;
	}
	if (to == NULL) {
		msg_fail(e, "malformed",
		    "a sealed message must name its "
		    "recipient in \"to\"");
		return NULL;
	}
	if (key_fn(to, &cert, &key, arg) == -1) {
		msg_fail(e, "unknown-recipient",
		    "the message is sealed to a "
		    "key-exchange certificate we do not hold (%.64s)",
		    to);
		return NULL;
	}
	if ((der = b64_member(outer, "sealed", &derlen, e)) == NULL)
		return NULL;
	if (cms_open(der, derlen, cert, key, &plain, &plainlen, err,
	        sizeof(err)) == -1) {
		msg_fail(e, "bad-envelope",
		    "the digital envelope does not "
		    "open: %s",
		    err);
		goto done;
	}
	inner = json_loadb(
	    (const char *)plain, plainlen, JSON_REJECT_DUPLICATES, &jerr);
	if (inner == NULL || !json_is_object(inner)) {
		json_decref(inner);
		inner = NULL;
		msg_fail(e, "malformed",
		    "the sealed content is not a JSON "
		    "object");
	}
done:
	free(der);
	freezero_buf(plain, plainlen);
	return inner;
}

int
msg_parse(const void *wire, size_t len, msg_key_fn key_fn, void *arg,
    struct msg *m, struct msg_error *e)
{
	json_t *outer = NULL, *inner = NULL, *sigpart;
	json_error_t jerr;
	const char *type, *rrpid, *btype, *brrpid, *date;
	unsigned char *sig = NULL;
	size_t siglen;
	int nid, rc = -1;
	char err[256];

	memset(m, 0, sizeof(*m));
	memset(e, 0, sizeof(*e));
	if (len > MSG_MAX)
		return msg_fail(e, "too-large",
		    "the message is %zu bytes; "
		    "the limit is %d",
		    len, MSG_MAX);
	outer = json_loadb(wire, len, JSON_REJECT_DUPLICATES, &jerr);
	if (outer == NULL)
		return msg_fail(e, "malformed",
		    "not JSON: %s (line %d, "
		    "column %d)",
		    jerr.text, jerr.line, jerr.column);
	if (!json_is_object(outer)) {
		msg_fail(e, "malformed", "the message is not a JSON object");
		goto done;
	}
	if (json_integer_value(json_object_get(outer, "set")) != 1 ||
	    !json_is_integer(json_object_get(outer, "set"))) {
		msg_fail(e, "malformed",
		    "\"set\" must be the integer 1 "
		    "(this protocol version)");
		goto done;
	}
	type = member(outer, "type");
	rrpid = member(outer, "rrpid");
	if (type == NULL || (nid = msg_type_nid(type)) < 0) {
		msg_fail(e, "malformed",
		    "\"type\" is missing or names no "
		    "SET message");
		goto done;
	}
	if (rrpid == NULL || !is_hex_id(rrpid, 16, 64)) {
		msg_fail(e, "malformed",
		    "\"rrpid\" must be 16-64 lower-case "
		    "hex digits");
		goto done;
	}
	m->type = xstrdup(type);
	m->rrpid = xstrdup(rrpid);

	if (json_object_get(outer, "sealed") != NULL) {
		if ((inner = open_sealed(outer, key_fn, arg, e)) == NULL)
			goto done;
		m->sealed = 1;
		sigpart = inner;
	} else
		sigpart = outer;

	if ((m->body = b64_member(sigpart, "body", &m->bodylen, e)) == NULL)
		goto done;
	if (json_object_get(sigpart, "sig") != NULL) {
		if ((sig = b64_member(sigpart, "sig", &siglen, e)) == NULL)
			goto done;
		if (nid == 0) {
			msg_fail(e, "malformed", "%s travels unsigned", type);
			goto done;
		}
		if (cms_verify(sig, siglen, nid, m->body, m->bodylen,
		        &m->signer, &m->certs, NULL, NULL, err,
		        sizeof(err)) == -1) {
			msg_fail(e, "bad-signature",
			    "the signature on %s "
			    "does not verify: %s",
			    type, err);
			goto done;
		}
	} else if (nid != 0 && strcmp(type, "Error") != 0) {
		msg_fail(e, "bad-signature", "%s must be signed", type);
		goto done;
	}

	m->json = json_loadb(
	    (const char *)m->body, m->bodylen, JSON_REJECT_DUPLICATES, &jerr);
	if (m->json == NULL || !json_is_object(m->json)) {
		msg_fail(e, "malformed", "the body is not a JSON object");
		goto done;
	}
	btype = member(m->json, "msg");
	brrpid = member(m->json, "rrpid");
	date = member(m->json, "date");
	if (btype == NULL || strcmp(btype, type) != 0 || brrpid == NULL ||
	    strcmp(brrpid, rrpid) != 0) {
		msg_fail(e, "malformed",
		    "the signed body's msg/rrpid do not "
		    "match the envelope");
		goto done;
	}
	if (date == NULL) {
		msg_fail(e, "malformed", "the body has no \"date\"");
		goto done;
	}
	m->date = xstrdup(date);
	rc = 0;
done:
	json_decref(outer);
	json_decref(inner);
	free(sig);
	return rc;
}

void
msg_clear(struct msg *m)
{
	free(m->type);
	free(m->rrpid);
	free(m->date);
	if (m->body != NULL)
		freezero_buf(m->body, m->bodylen);
	json_decref(m->json);
	X509_free(m->signer);
	sk_X509_pop_free(m->certs, X509_free);
	memset(m, 0, sizeof(*m));
}

char *
msg_error_wire(const struct msg_error *e, const char *rrpid, X509 *signer,
    EVP_PKEY *key, STACK_OF(X509) *chain, size_t *len)
{
	json_t *body = json_object();
	char *wire = NULL, err[256];

	json_object_set_new(body, "code", json_string(e->code));
	json_object_set_new(body, "reason", json_string(e->reason));
	if (e->thumbprint[0] != '\0')
		json_object_set_new(
		    body, "thumbprint", json_string(e->thumbprint));
	if (msg_build("Error", rrpid, body, signer, key, chain, NULL, &wire,
	        len, err, sizeof(err)) == -1 &&
	    msg_build("Error", rrpid, body, NULL, NULL, NULL, NULL, &wire, len,
	        err, sizeof(err)) == -1)
		log_fatalx("cannot build an Error message: %s", err);
	json_decref(body);
	return wire;
}

int
msg_str(const struct msg *m, const char *field, const char *def, size_t maxlen,
    const char **out, struct msg_error *e)
{
	json_t *v = json_object_get(m->json, field);

	if (v == NULL) {
		if (def == NULL)
			return msg_fail(e, "malformed",
			    "%s: the field \"%s\" "
			    "is missing",
			    m->type, field);
		*out = def;
		return 0;
	}
	if (!json_is_string(v))
		return msg_fail(e, "malformed", "%s: \"%s\" must be a string",
		    m->type, field);
	if (json_string_length(v) > maxlen ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return msg_fail(e, "malformed",
		    "%s: \"%s\" is longer than "
		    "%zu characters or holds a NUL",
		    m->type, field, maxlen);
	*out = json_string_value(v);
	return 0;
}

int
msg_ident(const struct msg *m, const char *field, const char **out,
    struct msg_error *e)
{
	const char *s;
	size_t i;

	if (msg_str(m, field, NULL, 64, &s, e) == -1)
		return -1;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= 'A' && s[i] <= 'Z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		        s[i] == '_' || s[i] == '-'))
			break;
	if (i == 0 || s[i] != '\0')
		return msg_fail(e, "malformed",
		    "%s: \"%s\" must be 1-64 "
		    "characters from A-Z a-z 0-9 . _ -",
		    m->type, field);
	*out = s;
	return 0;
}

int
msg_bytes(const struct msg *m, const char *field, size_t maxlen,
    unsigned char **out, size_t *outlen, struct msg_error *e)
{
	const char *s;

	if (msg_str(m, field, NULL, 4 * (maxlen / 3 + 1), &s, e) == -1)
		return -1;
	if ((*out = base64_decode(s, strlen(s), outlen)) == NULL)
		return msg_fail(e, "malformed",
		    "%s: \"%s\" is not valid "
		    "base64",
		    m->type, field);
	if (*outlen > maxlen) {
		free(*out);
		*out = NULL;
		return msg_fail(e, "too-large",
		    "%s: \"%s\" is over %zu "
		    "bytes",
		    m->type, field, maxlen);
	}
	return 0;
}
