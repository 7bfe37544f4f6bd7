/* SPDX-License-Identifier: MIT */
/* A small growable array of fixed-size items, stored by value. */
#include <stdlib.h>
#include <string.h>

#include "sblist.h"

sblist *
sblist_new(size_t itemsize, size_t blockitems)
{
	sblist *l = calloc(1, sizeof *l);

	if (l) {
		l->itemsize = itemsize;
		l->blockitems = blockitems ? blockitems : 1;
	}
	return l;
}

void
sblist_free(sblist *l)
{
	if (l) {
		free(l->items);
		free(l);
	}
}

int
sblist_add(sblist *l, const void *item)
{
	char *p;

	if (l->count == l->capa) {
		if (l->capa + l->blockitems > (size_t)-1 / l->itemsize)
			return -1;
		p = realloc(l->items, (l->capa + l->blockitems) * l->itemsize);
		if (!p)
			return -1;
		l->items = p;
		l->capa += l->blockitems;
	}
	memcpy(l->items + l->count * l->itemsize, item, l->itemsize);
	l->count++;
	return 0;
}

void *
sblist_get(const sblist *l, size_t idx)
{
	if (idx >= l->count)
		return NULL;
	return l->items + idx * l->itemsize;
}
