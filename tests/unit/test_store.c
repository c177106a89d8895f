/*
 * Unit tests for common/store.c: migrations, the durability pragmas,
 * transactions, the statement cache, idempotent replies, and what survives a
 * process killed with SIGKILL.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "unit.h"
#include "xmalloc.h"

static const char *const migrations[] = {
	"CREATE TABLE t (x INTEGER PRIMARY KEY, label TEXT);"
	"INSERT INTO t (x, label) VALUES (1, 'one');",
	"INSERT INTO t (x, label) VALUES (2, 'two');",
	"INSERT INTO t (x, label) VALUES (3, 'three');",
};

static char *
db_path(void)
{
	return xasprintf("%s/test.db", unit_tmpdir());
}

static struct store *
open_ok(const char *path, size_t n)
{
	char err[256] = "";
	struct store *s = store_open(path, migrations, n, err, sizeof(err));

	if (s == NULL)
		unit_fail(__FILE__, __LINE__, "store_open %s: %s", path, err);
	return s;
}

/* The first column of the first row, as an integer. */
static long long
query_int(struct store *s, const char *sql)
{
	sqlite3_stmt *st = store_prepare(s, sql);
	long long v;

	ASSERT_PTR_NOT_NULL(st);
	if (sqlite3_step(st) != SQLITE_ROW)
		unit_fail(__FILE__, __LINE__, "%s: no row: %s", sql,
		    sqlite3_errmsg(store_db(s)));
	v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

static char *
query_text(struct store *s, const char *sql)
{
	sqlite3_stmt *st = store_prepare(s, sql);
	char *v;

	ASSERT_PTR_NOT_NULL(st);
	if (sqlite3_step(st) != SQLITE_ROW)
		unit_fail(__FILE__, __LINE__, "%s: no row: %s", sql,
		    sqlite3_errmsg(store_db(s)));
	v = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return v;
}

static void
test_migrations_once(void)
{
	char *path = db_path();
	struct store *s;

	s = open_ok(path, 2);
	ASSERT_INT_EQ(store_version(s), 2);
	ASSERT_INT_EQ(query_int(s, "SELECT count(*) FROM t"), 2);
	store_close(s);

	/* Reopening runs nothing again. */
	s = open_ok(path, 2);
	ASSERT_INT_EQ(store_version(s), 2);
	ASSERT_INT_EQ(query_int(s, "SELECT count(*) FROM t"), 2);
	ASSERT_INT_EQ(query_int(s, "PRAGMA user_version"), 2);
	store_close(s);

	/* A newer program runs only the new migration. */
	s = open_ok(path, 3);
	ASSERT_INT_EQ(store_version(s), 3);
	ASSERT_INT_EQ(query_int(s, "SELECT count(*) FROM t"), 3);
	ASSERT_INT_EQ(query_int(s, "SELECT count(*) FROM t WHERE x = 3"), 1);
	store_close(s);
	free(path);
}

static void
test_migration_fails(void)
{
	static const char *const bad[] = {
		"CREATE TABLE a (x INTEGER);",
		"CREATE TABLE b (y INTEGER);"
		"INSERT INTO nosuch VALUES (1);",
	};
	char *path = db_path(), err[256] = "";
	struct store *s;

	s = store_open(path, bad, 2, err, sizeof(err));
	ASSERT_PTR_NULL(s);
	ASSERT_STR_CONTAINS(err, path);
	ASSERT_STR_CONTAINS(err, "migration to version 2 failed");
	ASSERT_STR_CONTAINS(err, "nosuch");

	/* Version 1 is intact (one migration is not "newer"), and b is gone. */
	s = store_open(path, bad, 1, err, sizeof(err));
	if (s == NULL)
		unit_fail(__FILE__, __LINE__, "reopen: %s", err);
	ASSERT_INT_EQ(store_version(s), 1);
	ASSERT_INT_EQ(query_int(s,
	                  "SELECT count(*) FROM sqlite_master"
	                  " WHERE name = 'a'"),
	    1);
	ASSERT_INT_EQ(query_int(s,
	                  "SELECT count(*) FROM sqlite_master"
	                  " WHERE name = 'b'"),
	    0);
	store_close(s);
	free(path);
}

static void
test_newer_refused(void)
{
	char *path = db_path(), err[256] = "";
	struct store *s;

	store_close(open_ok(path, 3));
	s = store_open(path, migrations, 2, err, sizeof(err));
	ASSERT_PTR_NULL(s);
	ASSERT_STR_CONTAINS(err, path);
	ASSERT_STR_CONTAINS(err, "newer version");
	ASSERT_STR_CONTAINS(err, "version 3");

	/* Nothing was changed by the refusal. */
	s = open_ok(path, 3);
	ASSERT_INT_EQ(store_version(s), 3);
	ASSERT_INT_EQ(query_int(s, "SELECT count(*) FROM t"), 3);
	store_close(s);
	free(path);
}

static void
test_not_a_database(void)
{
	char *path = db_path(), err[256] = "", back[8192];
	char garbage[8192];
	struct store *s;
	ssize_t n;
	size_t i;
	int fd;

	for (i = 0; i < sizeof(garbage); i++)
		garbage[i] = "this is not a database\n"[i % 23];
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ASSERT_TRUE(fd >= 0);
	ASSERT_INT_EQ(write(fd, garbage, sizeof(garbage)), sizeof(garbage));
	close(fd);

	s = store_open(path, migrations, 1, err, sizeof(err));
	ASSERT_PTR_NULL(s);
	ASSERT_STR_CONTAINS(err, path);
	ASSERT_STR_CONTAINS(err, "not an SQLite database");

	/* The file is left as it was. */
	fd = open(path, O_RDONLY);
	ASSERT_TRUE(fd >= 0);
	n = read(fd, back, sizeof(back));
	close(fd);
	ASSERT_INT_EQ(n, sizeof(garbage));
	ASSERT_MEM_EQ(back, garbage, sizeof(garbage));

	/* A folder where the file should be. */
	s = store_open(unit_tmpdir(), migrations, 1, err, sizeof(err));
	ASSERT_PTR_NULL(s);
	ASSERT_STR_CONTAINS(err, unit_tmpdir());
	free(path);
}

static void
test_pragmas(void)
{
	char *path = db_path(), *mode;
	struct store *s;
	struct stat sb;

	umask(022);
	s = open_ok(path, 0);
	ASSERT_INT_EQ(store_version(s), 0);
	mode = query_text(s, "PRAGMA journal_mode");
	ASSERT_STR_EQ(mode, "wal");
	free(mode);
	ASSERT_INT_EQ(query_int(s, "PRAGMA synchronous"), 2); /* FULL */
	ASSERT_INT_EQ(query_int(s, "PRAGMA foreign_keys"), 1);
	ASSERT_INT_EQ(query_int(s, "PRAGMA busy_timeout"), 5000);
	ASSERT_INT_EQ(query_int(s,
	                  "SELECT count(*) FROM sqlite_master"
	                  " WHERE name = 'store_replies'"),
	    1);
	ASSERT_INT_EQ(stat(path, &sb), 0);
	ASSERT_INT_EQ(sb.st_mode & 0777, 0600);

	/* foreign_keys=ON is enforced, not just set. */
	ASSERT_INT_EQ(store_exec(s,
	                  "CREATE TABLE p (id INTEGER PRIMARY KEY);"
	                  "CREATE TABLE c (pid INTEGER"
	                  " REFERENCES p (id));"),
	    0);
	ASSERT_INT_EQ(store_exec(s, "INSERT INTO c VALUES (7)"), -1);
	store_close(s);
	free(path);
}

static void
test_transactions(void)
{
	char *path = db_path();
	struct store *s = open_ok(path, 1);

	/* Rolling back with no transaction open is harmless. */
	store_rollback(s);

	ASSERT_INT_EQ(store_begin(s), 0);
	ASSERT_INT_EQ(store_exec(s,
	                  "INSERT INTO t VALUES (10, 'ten');"
	                  "INSERT INTO t VALUES (11, 'eleven')"),
	    0);
	ASSERT_INT_EQ(query_int(s, "SELECT count(*) FROM t"), 3);
	store_rollback(s);
	ASSERT_INT_EQ(query_int(s, "SELECT count(*) FROM t"), 1);
	store_rollback(s);

	ASSERT_INT_EQ(store_begin(s), 0);
	/* A second BEGIN inside a transaction is an error, not a no-op. */
	ASSERT_INT_EQ(store_begin(s), -1);
	ASSERT_INT_EQ(store_exec(s, "INSERT INTO t VALUES (12, 'twelve')"), 0);
	ASSERT_INT_EQ(store_commit(s), 0);
	/* COMMIT with nothing open fails. */
	ASSERT_INT_EQ(store_commit(s), -1);
	store_close(s);

	s = open_ok(path, 1);
	ASSERT_INT_EQ(query_int(s, "SELECT count(*) FROM t"), 2);
	ASSERT_INT_EQ(query_int(s, "SELECT count(*) FROM t WHERE x = 12"), 1);
	store_close(s);
	free(path);
}

static void
test_prepare_cache(void)
{
	static const char sql[] = "SELECT label FROM t WHERE x = ?1";
	char *path = db_path();
	struct store *s = open_ok(path, 2);
	sqlite3_stmt *a, *b;

	a = store_prepare(s, sql);
	ASSERT_PTR_NOT_NULL(a);
	ASSERT_INT_EQ(sqlite3_bind_int(a, 1, 1), SQLITE_OK);
	ASSERT_INT_EQ(sqlite3_step(a), SQLITE_ROW);
	ASSERT_STR_EQ((const char *)sqlite3_column_text(a, 0), "one");
	/* Left mid-result on purpose: the cache resets it. */

	b = store_prepare(s, sql);
	ASSERT_TRUE(a == b);
	/* Bindings were cleared: x = NULL matches nothing. */
	ASSERT_INT_EQ(sqlite3_step(b), SQLITE_DONE);
	b = store_prepare(s, sql);
	ASSERT_INT_EQ(sqlite3_bind_int(b, 1, 2), SQLITE_OK);
	ASSERT_INT_EQ(sqlite3_step(b), SQLITE_ROW);
	ASSERT_STR_EQ((const char *)sqlite3_column_text(b, 0), "two");
	ASSERT_INT_EQ(sqlite3_step(b), SQLITE_DONE);

	ASSERT_PTR_NULL(store_prepare(s, "SELEKT nothing"));
	ASSERT_PTR_NULL(store_prepare(s, "SELECT 1; SELECT 2"));
	/* The cached statement still works after the failures. */
	b = store_prepare(s, sql);
	ASSERT_INT_EQ(sqlite3_bind_int(b, 1, 1), SQLITE_OK);
	ASSERT_INT_EQ(sqlite3_step(b), SQLITE_ROW);
	store_close(s);
	free(path);
}

static void
save_committed(struct store *s, const char *rrpid, const char *req, int status,
    const char *reply)
{
	ASSERT_INT_EQ(store_begin(s), 0);
	ASSERT_INT_EQ(store_reply_save(s, rrpid, req, strlen(req), status,
	                  reply, strlen(reply)),
	    0);
	ASSERT_INT_EQ(store_commit(s), 0);
}

static void
test_replies(void)
{
	static const char req[] = "{\"PReq\":\"dual-signed bytes\"}";
	static const char other[] = "{\"PReq\":\"dual-signed bytez\"}";
	static const unsigned char reply[] = { 'P', 'R', 'e', 's', 0, 0xff,
		'!' };
	char *path = db_path();
	struct store *s = open_ok(path, 1);
	unsigned char *got = NULL;
	size_t gotlen = 0;
	int status = 0;

	ASSERT_INT_EQ(store_reply_find(s, "rrpid-1", req, strlen(req), &status,
	                  &got, &gotlen),
	    STORE_REPLAY_NONE);
	ASSERT_PTR_NULL(got);

	ASSERT_INT_EQ(store_begin(s), 0);
	ASSERT_INT_EQ(store_reply_save(s, "rrpid-1", req, strlen(req), 200,
	                  reply, sizeof(reply)),
	    0);
	ASSERT_INT_EQ(store_commit(s), 0);

	ASSERT_INT_EQ(store_reply_find(s, "rrpid-1", req, strlen(req), &status,
	                  &got, &gotlen),
	    STORE_REPLAY_FOUND);
	ASSERT_INT_EQ(status, 200);
	ASSERT_INT_EQ(gotlen, sizeof(reply));
	ASSERT_MEM_EQ(got, reply, sizeof(reply));
	free(got);
	got = NULL;

	ASSERT_INT_EQ(store_reply_find(s, "rrpid-1", other, strlen(other),
	                  &status, &got, &gotlen),
	    STORE_REPLAY_CONFLICT);
	ASSERT_PTR_NULL(got);
	ASSERT_INT_EQ(store_reply_find(s, "rrpid-2", req, strlen(req), &status,
	                  &got, &gotlen),
	    STORE_REPLAY_NONE);

	/* The same RRPID cannot be saved twice. */
	ASSERT_INT_EQ(store_begin(s), 0);
	ASSERT_INT_EQ(
	    store_reply_save(s, "rrpid-1", other, strlen(other), 500, "x", 1),
	    -1);
	store_rollback(s);

	/* An empty reply is stored as empty, not as NULL. */
	save_committed(s, "rrpid-3", "", 204, "");
	ASSERT_INT_EQ(
	    store_reply_find(s, "rrpid-3", "", 0, &status, &got, &gotlen),
	    STORE_REPLAY_FOUND);
	ASSERT_INT_EQ(status, 204);
	ASSERT_INT_EQ(gotlen, 0);
	ASSERT_PTR_NOT_NULL(got);
	free(got);

	/* A reply saved in a transaction that rolls back is not kept. */
	ASSERT_INT_EQ(store_begin(s), 0);
	ASSERT_INT_EQ(store_reply_save(s, "rrpid-4", req, strlen(req), 200,
	                  reply, sizeof(reply)),
	    0);
	store_rollback(s);
	ASSERT_INT_EQ(store_reply_find(s, "rrpid-4", req, strlen(req), &status,
	                  &got, &gotlen),
	    STORE_REPLAY_NONE);
	store_close(s);
	free(path);
}

static void
test_reply_survives_reopen(void)
{
	char *path = db_path();
	struct store *s = open_ok(path, 1);
	unsigned char *got = NULL;
	size_t gotlen = 0;
	int status = 0;

	save_committed(s, "abc", "request", 402, "declined");
	store_close(s);

	s = open_ok(path, 1);
	ASSERT_INT_EQ(
	    store_reply_find(s, "abc", "request", 7, &status, &got, &gotlen),
	    STORE_REPLAY_FOUND);
	ASSERT_INT_EQ(status, 402);
	ASSERT_INT_EQ(gotlen, 8);
	ASSERT_MEM_EQ(got, "declined", 8);
	free(got);
	ASSERT_INT_EQ(
	    store_reply_find(s, "abc", "requesT", 7, &status, &got, &gotlen),
	    STORE_REPLAY_CONFLICT);
	store_close(s);
	free(path);
}

/*
 * A child opens the store, inserts a row (and commits it when commit is
 * set), then kills itself with SIGKILL: no exit handler, no close.
 */
static void
killed_child(const char *path, int commit)
{
	pid_t pid;
	int status;

	if ((pid = fork()) == -1)
		unit_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct store *s = open_ok(path, 1);

		if (store_begin(s) == -1 ||
		    store_exec(s, "INSERT INTO t VALUES (42, 'answer')") == -1)
			_exit(3);
		if (commit && store_commit(s) == -1)
			_exit(4);
		kill(getpid(), SIGKILL);
		_exit(5);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		unit_fail(__FILE__, __LINE__,
		    "child was not killed by SIGKILL (status 0x%x)", status);
}

static void
check_after_kill(const char *path, long long want)
{
	struct store *s = open_ok(path, 1);
	char *ok;

	ASSERT_INT_EQ(
	    query_int(s, "SELECT count(*) FROM t WHERE x = 42"), want);
	ASSERT_INT_EQ(query_int(s, "SELECT count(*) FROM t WHERE x = 1"), 1);
	ok = query_text(s, "PRAGMA integrity_check");
	ASSERT_STR_EQ(ok, "ok");
	free(ok);
	store_close(s);
}

static void
test_kill_committed(void)
{
	char *path = db_path();

	store_close(open_ok(path, 1));
	killed_child(path, 1);
	check_after_kill(path, 1);
	free(path);
}

static void
test_kill_uncommitted(void)
{
	char *path = db_path();

	store_close(open_ok(path, 1));
	killed_child(path, 0);
	check_after_kill(path, 0);
	/* And the database still takes writes. */
	killed_child(path, 1);
	check_after_kill(path, 1);
	free(path);
}

static const struct unit_case cases[] = {
	{ "migrations apply once", test_migrations_once },
	{ "a failing migration leaves the previous version",
	    test_migration_fails },
	{ "a database from a newer version is refused", test_newer_refused },
	{ "a file that is not a database is refused", test_not_a_database },
	{ "WAL, synchronous FULL, foreign keys, mode 0600", test_pragmas },
	{ "begin, rollback, commit", test_transactions },
	{ "prepared statement cache", test_prepare_cache },
	{ "replies: none, found, conflict", test_replies },
	{ "a reply survives close and reopen", test_reply_survives_reopen },
	{ "a committed row survives kill -9", test_kill_committed },
	{ "an uncommitted row is gone after kill -9", test_kill_uncommitted },
};

int
main(void)
{
	return unit_main("store", cases, UNIT_N(cases));
}
