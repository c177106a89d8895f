/*
 * The merchant's replies: SET messages for POST /set (Error messages,
 * signed with the brand's merchant certificate when the brand is known, and
 * signed responses), and the plain JSON of the shop's own endpoints
 * (catalog, orders, accounts), whose errors are {"error":CODE,
 * "reason":TEXT}.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64.h"
#include "log.h"
#include "merchant.h"
#include "setcert.h"
#include "xmalloc.h"

/* The HTTP status an Error code travels with. */
static int
reply_status(const char *code)
{
	static const struct {
		const char *code;
		int status;
	} map[] = { { "malformed", 400 }, { "too-large", 413 },
		{ "rrpid-conflict", 409 }, { "unknown-order", 404 },
		{ "duplicate-purchase", 409 }, { "already-paid", 409 },
		{ "order-closed", 409 }, { "out-of-stock", 409 },
		{ "gateway-unavailable", 503 }, { "internal", 500 } };
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].code, code) == 0)
			return map[i].status;
	return 403;
}

char *
reply_error(struct merchant_brand *b, struct msg_error *e, const char *rrpid,
    int *status, size_t *len)
{
	*status = reply_status(e->code);
	log_info("refused: %s: %s", e->code, e->reason);
	if (b != NULL && b->sig != NULL)
		return msg_error_wire(
		    e, rrpid, b->sig, b->sigkey, b->chain, len);
	return msg_error_wire(e, rrpid, NULL, NULL, NULL, len);
}

char *
reply_signed(struct merchant_brand *b, const char *type, const char *rrpid,
    json_t *body, int *status, size_t *len)
{
	char *wire = NULL, err[256];
	struct msg_error e;

	if (msg_build(type, rrpid, body, b->sig, b->sigkey, b->chain, NULL,
	        &wire, len, err, sizeof(err)) == -1) {
		log_warnx("cannot build %s: %s", type, err);
		memset(&e, 0, sizeof(e));
		msg_fail(&e, "internal", "the merchant cannot sign its reply");
		return reply_error(NULL, &e, rrpid, status, len);
	}
	*status = 200;
	return wire;
}

void
reply_json(struct http_req *req, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);

	if (text == NULL) {
		static const char internal[] = "{\"error\":\"internal\"}";

		http_reply(req, 500, "application/json", internal,
		    sizeof(internal) - 1);
	} else
		http_reply(req, status, "application/json", text, strlen(text));
	free(text);
	json_decref(body);
}

void
reply_json_error(
    struct http_req *req, int status, const char *code, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_info("%s %s from %s: %d %s: %s", req->method, req->path,
	    req->remote, status, code, reason);
	reply_json(req, status,
	    json_pack("{s:s, s:s}", "error", code, "reason", reason));
}

json_t *
reply_b64(const unsigned char *p, size_t len)
{
	char *b = base64_encode(p, len);
	json_t *j = json_string(b);

	free(b);
	return j;
}

json_t *
reply_cert_b64(X509 *x)
{
	size_t len;
	unsigned char *der = setcert_der(x, &len);
	json_t *j = reply_b64(der, len);

	free(der);
	return j;
}

json_t *
reply_parse_body(struct http_req *req)
{
	json_error_t jerr;
	json_t *j;

	j = json_loadb((const char *)req->body, req->bodylen,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL) {
		reply_json_error(req, 400, "malformed",
		    "not JSON: %s (line %d, column %d)", jerr.text, jerr.line,
		    jerr.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		reply_json_error(
		    req, 400, "malformed", "the body must be a JSON object");
		return NULL;
	}
	return j;
}
