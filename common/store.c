/*
 * The SQLite store every daemon keeps its state in. Opening sets WAL mode
 * with synchronous=FULL, so a commit that returned has reached the disk and
 * survives a kill -9 or a power cut; then the schema is migrated one version
 * at a time, each step in its own transaction with the user_version bump.
 * Prepared statements are cached by their SQL text for the life of the
 * store. The store_replies table holds the replies to requests by RRPID, so
 * a daemon answers a repeated request from here instead of acting twice.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hex.h"
#include "errbuf.h"
#include "log.h"
#include "store.h"
#include "xmalloc.h"

#define STORE_BUSY_TIMEOUT_MS 5000

struct store_stmt {
	char *sql;
	sqlite3_stmt *stmt;
};

struct store {
	sqlite3 *db;
	char *path;
	int version;
	struct store_stmt *stmts;
	size_t nstmts;
};

static const char store_replies_sql[] =
    "CREATE TABLE IF NOT EXISTS store_replies ("
    " rrpid TEXT PRIMARY KEY NOT NULL,"
    " req_sha256 TEXT NOT NULL,"
    " status INTEGER NOT NULL,"
    " reply BLOB NOT NULL,"
    " created INTEGER NOT NULL"
    "  DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)))";

/* Runs sql; on failure writes "path: what: reason" into err. */
static int
store_open_exec(struct store *s, const char *sql, const char *what, char *err,
    size_t errlen)
{
	int rc;

	if ((rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL)) == SQLITE_OK)
		return 0;
	if ((rc & 0xff) == SQLITE_NOTADB)
		errbuf_set(err, errlen, "%s: not an SQLite database (%s)",
		    s->path, sqlite3_errmsg(s->db));
	else
		errbuf_set(err, errlen, "%s: %s: %s", s->path, what,
		    sqlite3_errmsg(s->db));
	return -1;
}

/* A pragma that returns one row; its first column as text into buf. */
static int
store_open_pragma(struct store *s, const char *sql, char *buf, size_t buflen,
    char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *text;
	int rc, ret = -1;

	if ((rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL)) != SQLITE_OK)
		goto fail;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		goto fail;
	text = sqlite3_column_text(st, 0);
	snprintf(buf, buflen, "%s", text ? (const char *)text : "");
	ret = 0;
	goto done;
fail:
	if ((rc & 0xff) == SQLITE_NOTADB)
		errbuf_set(err, errlen, "%s: not an SQLite database (%s)",
		    s->path, sqlite3_errmsg(s->db));
	else
		errbuf_set(err, errlen, "%s: %s: %s", s->path, sql,
		    sqlite3_errmsg(s->db));
done:
	sqlite3_finalize(st);
	return ret;
}

/*
 * Brings the schema from its version up to nmigrations, one transaction per
 * step. The version is read inside the write transaction, so two processes
 * opening the same file at once never run a migration twice.
 */
static int
store_migrate(struct store *s, const char *const *migrations,
    size_t nmigrations, char *err, size_t errlen)
{
	char buf[64], *reason;
	long v;

	for (;;) {
		if (store_open_exec(
		        s, "BEGIN IMMEDIATE", "BEGIN", err, errlen) == -1)
			return -1;
		if (store_open_pragma(s, "PRAGMA user_version", buf,
		        sizeof(buf), err, errlen) == -1)
			goto fail;
		v = strtol(buf, NULL, 10);
		if (v < 0 || (unsigned long)v > nmigrations) {
			errbuf_set(err, errlen,
			    "%s: schema version %ld was made by a newer "
			    "version of this program (this one knows up to "
			    "version %zu)",
			    s->path, v, nmigrations);
			goto fail;
		}
		if ((size_t)v == nmigrations) {
			if (store_open_exec(
			        s, "COMMIT", "COMMIT", err, errlen) == -1)
				goto fail;
			s->version = (int)v;
			return 0;
		}
		if (migrations[v] == NULL) {
			errbuf_set(err, errlen,
			    "%s: migration to version %ld is missing", s->path,
			    v + 1);
			goto fail;
		}
		if (sqlite3_exec(s->db, migrations[v], NULL, NULL, NULL) !=
		    SQLITE_OK) {
			reason = xstrdup(sqlite3_errmsg(s->db));
			errbuf_set(err, errlen,
			    "%s: migration to version %ld failed: %s", s->path,
			    v + 1, reason);
			free(reason);
			goto fail;
		}
		snprintf(buf, sizeof(buf), "PRAGMA user_version = %ld", v + 1);
		if (store_open_exec(s, buf, "user_version", err, errlen) ==
		        -1 ||
		    store_open_exec(s, "COMMIT", "COMMIT", err, errlen) == -1)
			goto fail;
		log_info("%s: schema migrated to version %ld", s->path, v + 1);
	}
fail:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

struct store *
store_open(const char *path, const char *const *migrations, size_t nmigrations,
    char *err, size_t errlen)
{
	struct store *s;
	char mode[32];
	int fd, rc;

	s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);

	/* Create it ourselves so the file is 0600 whatever the umask. */
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	close(fd);

	rc = sqlite3_open_v2(
	    path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		errbuf_set(err, errlen, "%s: %s", path,
		    s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);

	/* The first statement reads the header: a non-database fails here. */
	if (store_open_pragma(s, "PRAGMA journal_mode = WAL", mode,
	        sizeof(mode), err, errlen) == -1)
		goto fail;
	if (strcmp(mode, "wal") != 0) {
		errbuf_set(err, errlen,
		    "%s: cannot use WAL journal mode (got \"%s\")", path, mode);
		goto fail;
	}
	if (store_open_exec(s, "PRAGMA synchronous = FULL", "synchronous", err,
	        errlen) == -1 ||
	    store_open_exec(s, "PRAGMA foreign_keys = ON", "foreign_keys", err,
	        errlen) == -1)
		goto fail;

	if (store_migrate(s, migrations, nmigrations, err, errlen) == -1)
		goto fail;
	if (store_open_exec(
	        s, store_replies_sql, "store_replies", err, errlen) == -1)
		goto fail;
	return s;
fail:
	store_close(s);
	return NULL;
}

void
store_close(struct store *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nstmts; i++) {
		sqlite3_finalize(s->stmts[i].stmt);
		free(s->stmts[i].sql);
	}
	free(s->stmts);
	if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK) {
		log_warnx(
		    "store: %s: close: %s", s->path, sqlite3_errmsg(s->db));
		sqlite3_close_v2(s->db);
	}
	free(s->path);
	free(s);
}

sqlite3 *
store_db(struct store *s)
{
	return s->db;
}

int
store_version(struct store *s)
{
	return s->version;
}

int
store_exec(struct store *s, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	log_warnx("store: %s: \"%s\": %s", s->path, sql,
	    msg ? msg : sqlite3_errmsg(s->db));
	sqlite3_free(msg);
	return -1;
}

int
store_begin(struct store *s)
{
	return store_exec(s, "BEGIN IMMEDIATE");
}

int
store_commit(struct store *s)
{
	if (store_exec(s, "COMMIT") == 0)
		return 0;
	store_rollback(s);
	return -1;
}

void
store_rollback(struct store *s)
{
	if (sqlite3_get_autocommit(s->db))
		return;
	store_exec(s, "ROLLBACK");
}

sqlite3_stmt *
store_prepare(struct store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	size_t i;

	for (i = 0; i < s->nstmts; i++) {
		if (strcmp(s->stmts[i].sql, sql) == 0) {
			st = s->stmts[i].stmt;
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	}
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
	        &tail) != SQLITE_OK) {
		log_warnx("store: %s: prepare \"%s\": %s", s->path, sql,
		    sqlite3_errmsg(s->db));
		return NULL;
	}
	if (st == NULL) {
		log_warnx(
		    "store: %s: prepare \"%s\": no statement", s->path, sql);
		return NULL;
	}
	while (tail != NULL &&
	    (*tail == ' ' || *tail == '\t' || *tail == '\n' || *tail == ';'))
		tail++;
	if (tail != NULL && *tail != '\0') {
		log_warnx("store: %s: prepare \"%s\": more than one statement",
		    s->path, sql);
		sqlite3_finalize(st);
		return NULL;
	}
	s->stmts = xrealloc(s->stmts, (s->nstmts + 1) * sizeof(*s->stmts));
	s->stmts[s->nstmts].sql = xstrdup(sql);
	s->stmts[s->nstmts].stmt = st;
	s->nstmts++;
	return st;
}

int
store_reply_find(struct store *s, const char *rrpid, const void *req,
    size_t reqlen, int *status, unsigned char **reply, size_t *replylen)
{
	sqlite3_stmt *st;
	const char *stored;
	const void *blob;
	char *hash = NULL;
	int rc, ret = -1;

	*reply = NULL;
	*replylen = 0;
	st = store_prepare(s,
	    "SELECT req_sha256, status, reply FROM store_replies"
	    " WHERE rrpid = ?1");
	if (st == NULL)
		return -1;
	if (sqlite3_bind_text(st, 1, rrpid, -1, SQLITE_STATIC) != SQLITE_OK)
		goto dberr;
	if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
		ret = STORE_REPLAY_NONE;
		goto done;
	}
	if (rc != SQLITE_ROW)
		goto dberr;
	hash = hex_sha256(req ? req : "", reqlen);
	stored = (const char *)sqlite3_column_text(st, 0);
	if (stored == NULL || strcmp(stored, hash) != 0) {
		ret = STORE_REPLAY_CONFLICT;
		goto done;
	}
	*status = sqlite3_column_int(st, 1);
	blob = sqlite3_column_blob(st, 2);
	*replylen = (size_t)sqlite3_column_bytes(st, 2);
	*reply = xmemdup(blob, *replylen);
	ret = STORE_REPLAY_FOUND;
	goto done;
dberr:
	log_warnx("store: %s: reply for RRPID %s: %s", s->path, rrpid,
	    sqlite3_errmsg(s->db));
done:
	sqlite3_reset(st);
	free(hash);
	return ret;
}

int
store_reply_save(struct store *s, const char *rrpid, const void *req,
    size_t reqlen, int status, const void *reply, size_t replylen)
{
	sqlite3_stmt *st;
	char *hash;
	int rc, ret = -1;

	st = store_prepare(s,
	    "INSERT INTO store_replies (rrpid, req_sha256, status, reply)"
	    " VALUES (?1, ?2, ?3, ?4)");
	if (st == NULL)
		return -1;
	hash = hex_sha256(req ? req : "", reqlen);
	if (sqlite3_bind_text(st, 1, rrpid, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int(st, 3, status) != SQLITE_OK)
		goto dberr;
	/* A NULL pointer would bind SQL NULL: an empty reply is a zeroblob. */
	if (replylen == 0 || reply == NULL)
		rc = sqlite3_bind_zeroblob(st, 4, 0);
	else
		rc = sqlite3_bind_blob64(st, 4, reply, replylen, SQLITE_STATIC);
	if (rc != SQLITE_OK)
		goto dberr;
	if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
		if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			log_warnx("store: %s: a reply for RRPID %s is already "
			          "saved",
			    s->path, rrpid);
		else
			goto dberr;
		goto done;
	}
	ret = 0;
	goto done;
dberr:
	log_warnx("store: %s: save reply for RRPID %s: %s", s->path, rrpid,
	    sqlite3_errmsg(s->db));
done:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	free(hash);
	return ret;
}
