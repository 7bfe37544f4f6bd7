/* SPDX-License-Identifier: MIT */
/* Runs a fuzz target over its corpus without libFuzzer, so that any
 * compiler builds it and `make test` replays every committed input:
 *
 *   tests/fuzz/NAME_replay [FILE|DIR]...
 *
 * Without arguments it reads corpus/NAME/ beside the binary. It prints a
 * line for each input that broke the target's contract, then one line for
 * the whole corpus and the "N passed, N failed" summary of the unit tests.
 * A crash (or a sanitizer report, in `make asan`) ends it at once. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* a bound on an input: the parsers' messages are a few hundred bytes */
#define REPLAY_MAXSIZE (1L << 20)

static jmp_buf fail_jmp;
static const char *fail_file, *fail_cond;
static int fail_line;

_Noreturn void
fuzz_replay_fail(const char *file, int line, const char *cond)
{
	fail_file = file;
	fail_line = line;
	fail_cond = cond;
	longjmp(fail_jmp, 1);
}

static unsigned long inputs, broken, unreadable;

/* runs the target once over the file at path */
static void
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long size;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 ||
	    size > REPLAY_MAXSIZE || fseek(f, 0, SEEK_SET) < 0) {
		printf("  %s: cannot read: %s\n", path,
		    f ? "too big or not a file" : strerror(errno));
		unreadable++;
		if (f)
			fclose(f);
		return;
	}
	/* exactly size bytes, so that ASan sees a read past the end */
	buf = malloc(size ? (size_t)size : 1);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
		printf("  %s: cannot read\n", path);
		unreadable++;
		free(buf);
		fclose(f);
		return;
	}
	fclose(f);
	inputs++;
	if (setjmp(fail_jmp) == 0) {
		LLVMFuzzerTestOneInput(buf, (size_t)size);
	} else {
		printf("  %s: %s:%d: FUZZ_CHECK(%s) failed\n", path, fail_file,
		    fail_line, fail_cond);
		broken++;
	}
	free(buf);
}

static void
replay_path(const char *path)
{
	struct dirent *de;
	struct stat st;
	char *sub;
	DIR *d;

	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		replay_file(path);
		return;
	}
	if (!(d = opendir(path))) {
		printf("  %s: %s\n", path, strerror(errno));
		unreadable++;
		return;
	}
	for (;;) {
		/* a directory that cannot be listed (EOVERFLOW from a 32-bit
		 * readdir on a 64-bit file system) must not pass as empty */
		errno = 0;
		if (!(de = readdir(d))) {
			if (errno) {
				printf("  %s: %s\n", path, strerror(errno));
				unreadable++;
			}
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		if (!(sub = malloc(strlen(path) + strlen(de->d_name) + 2))) {
			unreadable++;
			break;
		}
		sprintf(sub, "%s/%s", path, de->d_name);
		replay_path(sub);
		free(sub);
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	const char *self = argv[0], *base = strrchr(self, '/');
	char *dflt, *name;
	size_t dirlen, namelen;
	int i, ok;

	/* NAME from NAME_replay; the corpus from next to the binary */
	base = base ? base + 1 : self;
	dirlen = (size_t)(base - self);
	namelen = strlen(base);
	if (namelen > 7 && !strcmp(base + namelen - 7, "_replay"))
		namelen -= 7;
	name = malloc(namelen + 1);
	dflt = malloc(dirlen + namelen + sizeof "corpus/");
	if (!name || !dflt)
		return 1;
	memcpy(name, base, namelen);
	name[namelen] = '\0';
	sprintf(dflt, "%.*scorpus/%s", (int)dirlen, self, name);
	if (argc < 2)
		replay_path(dflt);
	for (i = 1; i < argc; i++)
		replay_path(argv[i]);
	ok = !broken && !unreadable && inputs > 0;
	printf("%s fuzz_replay_%s: %lu inputs, %lu broke the contract%s\n",
	    ok ? "ok" : "FAIL", name, inputs, broken,
	    unreadable ? ", some unreadable" : "");
	printf("%d passed, %d failed\n", ok, !ok);
	free(name);
	free(dflt);
	return !ok;
}
