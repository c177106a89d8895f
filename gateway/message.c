/*
 * POST /set: the SET messages the gateway answers, and how it answers.
 *
 *	AuthReq -> AuthRes	authorization.c (sealed to one of our brands'
 *				key-exchange certificates)
 *	PCertReq -> PCertRes	pcert.c
 *
 * msg_parse() opens a sealed message with the key-exchange key its "to"
 * names (each brand has its own), verifies the signature over the bytes
 * received with the message's SET content type, and only then parses the
 * body; the handlers judge the signer. Every refusal is a SET Error signed
 * by the brand that is answering, when it is known, with the code's HTTP
 * status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "gateway.h"
#include "log.h"
#include "setcert.h"
#include "xmalloc.h"

/* The HTTP status an Error code travels with. */
static int
message_status(const char *code)
{
	static const struct {
		const char *code;
		int status;
	} map[] = { { "malformed", 400 }, { "too-large", 413 },
		{ "rrpid-conflict", 409 }, { "issuer-unavailable", 503 },
		{ "issuer-error", 502 }, { "internal", 500 } };
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].code, code) == 0)
			return map[i].status;
	return 403;
}

char *
message_error(struct msg_error *e, const char *rrpid, struct gateway_brand *b,
    int *status, size_t *len)
{
	*status = message_status(e->code);
	log_info("refused: %s: %s", e->code, e->reason);
	if (b != NULL && b->enrolled)
		return msg_error_wire(
		    e, rrpid, b->sig, b->sigkey, b->chain, len);
	return msg_error_wire(e, rrpid, NULL, NULL, NULL, len);
}

char *
message_signed(struct gateway_brand *b, const char *type, const char *rrpid,
    json_t *body, X509 *seal_to, int *status, size_t *len)
{
	char *wire = NULL, err[256];
	struct msg_error e;

	memset(&e, 0, sizeof(e));
	if (msg_build(type, rrpid, body, b->sig, b->sigkey, b->chain, seal_to,
	        &wire, len, err, sizeof(err)) == -1) {
		log_warnx("cannot build %s: %s", type, err);
		msg_fail(&e, "internal", "the gateway cannot sign its reply");
		return message_error(&e, rrpid, NULL, status, len);
	}
	*status = 200;
	return wire;
}

json_t *
message_cert_b64(X509 *x)
{
	size_t len;
	unsigned char *der = setcert_der(x, &len);
	char *b = base64_encode(der, len);
	json_t *j = json_string(b);

	free(der);
	free(b);
	return j;
}

/* Which of our brands a sealed request was sealed to. */
struct message_lookup {
	struct gateway *gw;
	struct gateway_brand *found;
};

static int
message_kex_cb(const char *thumbprint, X509 **cert, EVP_PKEY **key, void *arg)
{
	struct message_lookup *l = arg;
	struct gateway_brand *b = gateway_brand_by_kex(l->gw, thumbprint);

	if (b == NULL)
		return -1;
	*cert = b->kex;
	*key = b->kexkey;
	l->found = b;
	return 0;
}

char *
message_handle(struct gateway *gw, const unsigned char *req, size_t len,
    int *status, size_t *resplen)
{
	struct msg m;
	struct msg_error e;
	struct message_lookup lookup = { gw, NULL };
	char *reply;

	if (msg_parse(req, len, message_kex_cb, &lookup, &m, &e) == -1)
		reply =
		    message_error(&e, m.rrpid, lookup.found, status, resplen);
	else if (strcmp(m.type, "AuthReq") == 0)
		reply = authorization_handle(
		    gw, &m, lookup.found, req, len, status, resplen);
	else if (strcmp(m.type, "PCertReq") == 0)
		reply = pcert_handle(gw, &m, status, resplen);
	else {
		msg_fail(&e, "malformed",
		    "the payment gateway does not answer %s", m.type);
		reply =
		    message_error(&e, m.rrpid, lookup.found, status, resplen);
	}
	msg_clear(&m);
	return reply;
}
