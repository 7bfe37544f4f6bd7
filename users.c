/* SPDX-License-Identifier: MIT */
/* The users file. A password that starts with '$' is a crypt(3) hash,
 * checked with the crypt_r() (else crypt()) of libcrypt.so.1 or of the
 * libc, looked up at run time so that nothing but the libc is linked; a
 * build that finds neither (a static one) refuses hashes when the file
 * is read.
 *
 * A hash check costs a CPU for milliseconds, on purpose, and anyone who
 * knows a user name can ask for one: checks run outside every lock, at
 * most one per CPU at a time (users_hash_begin), and a client waits for
 * its turn only until its deadline. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "users.h"

/* a bound on the file, to read it whole */
#define USERS_MAXSIZE (16L * 1024 * 1024)

struct user {
	const char *name, *pass;	/* pass is NUL-terminated */
	unsigned char nlen, plen;
	unsigned char hashed;
};

struct users {
	char *text;			/* the file, that entries point in */
	size_t textsize;
	size_t n;
	struct user u[];
};

typedef char *crypt_func(const char *, const char *);
typedef char *crypt_r_func(const char *, const char *, void *);

/* Weak: a static build that does not need them leaves them out (NULL),
 * rather than carry the libc's stubs; a dynamic one finds them in the
 * libc, if there. */
#pragma weak crypt
#pragma weak crypt_r
#pragma weak dlopen
#pragma weak dlsym
extern char *crypt(const char *, const char *);
extern char *crypt_r(const char *, const char *, void *);

/* Room for a struct crypt_data, whose size differs (32 KiB in libxcrypt,
 * 128 KiB and some in glibc's old libcrypt, 260 bytes in musl) and whose
 * header may not be installed: the largest, zeroed before first use. */
#define CRYPT_DATA_SIZE (132 * 1024)

/* hash checks at once, at most: one per CPU, up to this */
#define HASH_SLOTS_MAX 16

static pthread_once_t crypt_once = PTHREAD_ONCE_INIT;
static crypt_func *crypt_fn;
static crypt_r_func *crypt_r_fn;

/* the hash checks running, and the crypt_r() data of each slot; under
 * slot_lock */
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_free;
static int slots;			/* at most at once */
static unsigned slot_busy;		/* a bit per slot */
static void *slot_data[HASH_SLOTS_MAX];
/* libxcrypt's test of a hash's method and parameters, where there */
static int (*checksalt_fn)(const char *);
/* crypt() returns a static buffer: where there is no crypt_r() */
static pthread_mutex_t crypt_lock = PTHREAD_MUTEX_INITIALIZER;

static void
crypt_find(void)
{
	void *lib;

	/* libcrypt first: a sanitizer's crypt() only wraps the one that
	 * the program was linked with */
	pthread_condattr_t ca;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (dlopen && dlsym && (lib = dlopen("libcrypt.so.1", RTLD_NOW))) {
		crypt_fn = (crypt_func *)dlsym(lib, "crypt");
		crypt_r_fn = (crypt_r_func *)dlsym(lib, "crypt_r");
		*(void **)&checksalt_fn = dlsym(lib, "crypt_checksalt");
	}
	if (!crypt_fn && crypt) {
		crypt_fn = crypt;
		crypt_r_fn = crypt_r;
	}
	/* crypt() alone has one result buffer: one check at a time */
	slots = !crypt_r_fn ? 1 : cpus < 1 ? 1 : cpus > HASH_SLOTS_MAX ?
	    HASH_SLOTS_MAX : (int)cpus;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&slot_free, &ca);
	pthread_condattr_destroy(&ca);
}

/* the whole file at path (*len bytes, in a buffer of *size), or NULL
 * with errno set */
static char *
read_file(const char *path, size_t *len, size_t *size)
{
	char *buf = NULL, *p;
	size_t got = 0, cap = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return NULL;
	for (;;) {
		if (got + 1 >= cap) {
			cap = cap ? cap * 2 : 4096;
			if (cap > USERS_MAXSIZE) {
				errno = EFBIG;
				goto fail;
			}
			if (!(p = realloc(buf, cap)))
				goto fail;
			buf = p;
		}
		n = read(fd, buf + got, cap - got - 1);
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	*size = cap;
	return buf;
fail:
	err = errno;
	close(fd);
	free(buf);
	errno = err;
	return NULL;
}

static int string_equal(const char *a, const char *b);

/* 1 when pass hashes, with the method and salt of setting, to a hash, and
 * when want is not NULL, to want itself: with crypt_r() into data (NULL:
 * none to be had, no hash), or else crypt() under its lock */
static int
crypt_gives(const char *pass, const char *setting, void *data,
    const char *want)
{
	const char *h = NULL;
	int ok;

	if (!crypt_r_fn)
		pthread_mutex_lock(&crypt_lock);
	if (!crypt_r_fn)
		h = crypt_fn(pass, setting);
	else if (data)
		h = crypt_r_fn(pass, setting, data);
	ok = h && *h == '$' && (!want || string_equal(h, want));
	if (!crypt_r_fn)
		pthread_mutex_unlock(&crypt_lock);
	return ok;
}

/* 1 when crypt() can check passwords against the hash h: its method is
 * known and its parameters are good. crypt_checksalt() tells at no cost;
 * else one crypt() of an empty password must give a hash back, not NULL
 * or a failure token ("*0"). */
static int
crypt_can_check(const char *h)
{
	void *data = NULL;
	int ok;

	/* CRYPT_SALT_INVALID and _METHOD_DISABLED are 1 and 2; OK (0),
	 * _METHOD_LEGACY (3) and _TOO_CHEAP (4) are hashes it checks */
	if (checksalt_fn) {
		ok = checksalt_fn(h);
		return ok != 1 && ok != 2;
	}
	if (crypt_r_fn && !(data = calloc(1, CRYPT_DATA_SIZE)))
		return 0;
	ok = crypt_gives("", h, data, NULL);
	free(data);
	return ok;
}

static struct users *
users_parse(char *text, size_t textlen, size_t size, unsigned long *lineno,
    const char **why)
{
	struct users *us;
	struct users_line e;
	size_t lines = 1, i, len;
	char *p, *nl, *next, *end = text + textlen;
	int r;

	for (p = text; (p = memchr(p, '\n', (size_t)(end - p))); p++)
		lines++;
	us = malloc(sizeof *us + lines * sizeof us->u[0]);
	if (!us) {
		*lineno = 0;
		return NULL;
	}
	us->text = text;
	us->textsize = size;
	us->n = 0;
	for (p = text, *lineno = 1; p; p = next, ++*lineno) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		next = nl ? nl + 1 : NULL;
		r = users_line(p, len, &e, why);
		if (r < 0)
			goto fail;
		if (r > 0) {
			for (i = 0; i < us->n; i++)
				if (us->u[i].nlen == e.ulen &&
				    !memcmp(us->u[i].name, e.user, e.ulen)) {
					*why = "user given twice";
					goto fail;
				}
			us->u[us->n].name = e.user;
			us->u[us->n].nlen = (unsigned char)e.ulen;
			us->u[us->n].pass = e.pass;
			us->u[us->n].plen = (unsigned char)e.plen;
			us->u[us->n].hashed = *e.pass == '$';
			/* the password ends the line */
			((char *)e.pass)[e.plen] = '\0';
			if (us->u[us->n].hashed) {
				pthread_once(&crypt_once, crypt_find);
				if (!crypt_fn) {
					*why = "crypt(3) hashes are not "
					    "supported by this build";
					goto fail;
				}
				if (!crypt_can_check(e.pass)) {
					*why = "a password that starts with '$' "
					    "is a crypt(3) hash, and crypt(3) "
					    "cannot check this one";
					goto fail;
				}
			}
			us->n++;
		}
	}
	if (us->n == 0) {
		*lineno = 0;
		*why = "no users";
		goto fail;
	}
	return us;
fail:
	free(us);
	return NULL;
}

struct users *
users_load(const char *path, unsigned long *lineno, const char **why)
{
	struct users *us;
	size_t len, size;
	char *text = read_file(path, &len, &size);

	*lineno = 0;
	*why = NULL;
	if (!text)
		return NULL;
	us = users_parse(text, len, size, lineno, why);
	if (!us) {
		explicit_bzero(text, size);
		free(text);
	}
	return us;
}

void
users_free(struct users *us)
{
	if (!us)
		return;
	explicit_bzero(us->text, us->textsize);
	free(us->text);
	free(us);
}

/* user (ulen bytes) in us, or NULL */
static const struct user *
find(const struct users *us, const char *user, size_t ulen)
{
	size_t i;

	for (i = 0; us && i < us->n; i++)
		if (us->u[i].nlen == ulen && !memcmp(us->u[i].name, user, ulen))
			return &us->u[i];
	return NULL;
}

int
users_has(const struct users *us, const char *user, size_t ulen)
{
	return find(us, user, ulen) != NULL;
}

size_t
users_count(const struct users *us)
{
	return us->n;
}

int
users_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	volatile unsigned char d = alen != blen;
	size_t i;

	for (i = 0; i < 256; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* a and b (NUL-terminated, at most 255 bytes) are equal */
static int
string_equal(const char *a, const char *b)
{
	char pa[256] = { 0 }, pb[256] = { 0 };
	size_t alen = strlen(a), blen = strlen(b);
	int eq;

	if (alen > 255 || blen > 255)
		return 0;
	memcpy(pa, a, alen);
	memcpy(pb, b, blen);
	eq = users_secret_equal(pa, alen, pb, blen);
	explicit_bzero(pa, sizeof pa);
	explicit_bzero(pb, sizeof pb);
	return eq;
}

int
users_find(const struct users *us, const char *user, size_t ulen,
    struct users_entry *e)
{
	const struct user *u = find(us, user, ulen);

	if (!u)
		return 0;
	memset(e->pass, 0, sizeof e->pass);
	memcpy(e->pass, u->pass, u->plen);
	e->plen = u->plen;
	e->hashed = u->hashed;
	return 1;
}

int
users_hash_begin(long long deadline)
{
	struct timespec ts;
	int i, r = 0;

	pthread_once(&crypt_once, crypt_find);
	ts.tv_sec = (time_t)(deadline / 1000);
	ts.tv_nsec = (long)(deadline % 1000) * 1000000L;
	pthread_mutex_lock(&slot_lock);
	while (slot_busy == (1u << slots) - 1 && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&slot_free, &slot_lock, &ts);
	for (i = 0; i < slots && (slot_busy & (1u << i)); i++)
		;
	if (i < slots)
		slot_busy |= 1u << i;
	pthread_mutex_unlock(&slot_lock);
	return i < slots ? i : -1;
}

void
users_hash_end(int slot)
{
	pthread_mutex_lock(&slot_lock);
	slot_busy &= ~(1u << slot);
	pthread_cond_signal(&slot_free);
	pthread_mutex_unlock(&slot_lock);
}

int
users_hash_check(int slot, const struct users_entry *e, const char *pass,
    size_t plen)
{
	char copy[256];
	int ok;

	/* crypt() stops at a NUL: a password with one is not the same */
	if (memchr(pass, '\0', plen)) {
		users_hash_end(slot);
		return 0;
	}
	memcpy(copy, pass, plen);
	copy[plen] = '\0';
	/* the slot's own data, made once: no lock while it hashes */
	if (crypt_r_fn && !slot_data[slot])
		slot_data[slot] = calloc(1, CRYPT_DATA_SIZE);
	ok = crypt_gives(copy, e->pass, slot_data[slot], e->pass);
	explicit_bzero(copy, sizeof copy);
	users_hash_end(slot);
	return ok;
}
