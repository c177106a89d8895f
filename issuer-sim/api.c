/*
 * The JSON of the issuer's HTTP API: one table-driven parser for every
 * request body (an object of known fields with the right types, nothing
 * else, so a typo surfaces as an error instead of a silent default), the
 * field checks the endpoints share, and the serializer every reply goes
 * through (compact, sorted keys: the bytes the reply cache stores).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "issuer.h"
#include "xmalloc.h"

static const struct api_field *
api_field_find(const struct api_field *fields, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

static int
api_field_take(const struct api_field *f, json_t *v, char *err, size_t errlen)
{
	const char *s;
	long long a;

	switch (f->type) {
	case API_STRING:
		if (!json_is_string(v) || json_string_length(v) >= f->bufsize ||
		    strlen(json_string_value(v)) != json_string_length(v) ||
		    (f->check != NULL && !f->check(json_string_value(v)))) {
			errbuf_set(err, errlen, "%s: expected a string of %s",
			    f->name, f->what);
			return -1;
		}
		s = json_string_value(v);
		memcpy(f->buf, s, strlen(s) + 1);
		break;
	case API_AMOUNT:
		/* Only JSON integers: 19.99, 1e3 and "1999" are refused. */
		a = json_is_integer(v) ? json_integer_value(v) : 0;
		if (!json_is_integer(v) || a < 1 || a > ISSUER_MAX_AMOUNT) {
			errbuf_set(err, errlen,
			    "%s: expected an integer from 1 to "
			    "%lld (minor units)",
			    f->name, ISSUER_MAX_AMOUNT);
			return -1;
		}
		*f->amount = a;
		break;
	}
	if (f->present != NULL)
		*f->present = 1;
	return 0;
}

int
api_parse(const unsigned char *body, size_t len, const struct api_field *fields,
    size_t nfields, char *err, size_t errlen)
{
	const struct api_field *f;
	json_error_t jerr;
	const char *k;
	json_t *root, *v;
	size_t i;
	int rc = -1;

	root =
	    json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		errbuf_set(err, errlen, "not JSON: %s", jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		errbuf_set(err, errlen, "the body must be a JSON object");
		goto done;
	}
	json_object_foreach(root, k, v)
	{
		if ((f = api_field_find(fields, nfields, k)) == NULL) {
			errbuf_set(err, errlen, "unknown field \"%.64s\"", k);
			goto done;
		}
		if (api_field_take(f, v, err, errlen) == -1)
			goto done;
	}
	for (i = 0; i < nfields; i++)
		if (fields[i].required &&
		    json_object_get(root, fields[i].name) == NULL) {
			errbuf_set(err, errlen, "missing field \"%s\"",
			    fields[i].name);
			goto done;
		}
	rc = 0;
done:
	json_decref(root);
	return rc;
}

char *
api_dump(json_t *obj, size_t *len)
{
	char *s = NULL, *out;

	/* json_pack() gives NULL only for a string that is not UTF-8, and
	 * every string here came from parsed JSON. */
	if (obj != NULL)
		s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	out = xstrdup(s != NULL ? s : "{\"error\":\"internal\"}");
	free(s);
	json_decref(obj);
	*len = strlen(out);
	return out;
}

json_t *
api_error(const char *code, const char *message)
{
	return json_pack("{s:s, s:s}", "error", code, "message", message);
}

int
api_request_id_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 8 && n <= 64 && strspn(s, "0123456789abcdefABCDEF") == n;
}

int
api_pan_syntax_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 13 && n <= 19 && strspn(s, "0123456789") == n;
}

int
api_cvv_ok(const char *s)
{
	size_t n = strlen(s);

	return (n == 3 || n == 4) && strspn(s, "0123456789") == n;
}

/* 1-64 bytes without control characters (UTF-8 is fine). */
int
api_text_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}
