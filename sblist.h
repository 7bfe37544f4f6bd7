/* SPDX-License-Identifier: MIT */
/* A small growable array of fixed-size items, stored by value. */
#ifndef SBLIST_H
#define SBLIST_H

#include <stddef.h>

typedef struct {
	size_t itemsize;
	size_t blockitems;	/* growth step, in items */
	size_t count;
	size_t capa;
	char *items;
} sblist;

/* NULL when out of memory */
sblist *sblist_new(size_t itemsize, size_t blockitems);
void sblist_free(sblist *l);
/* copies item in; 0, or -1 when out of memory (the list is unchanged) */
int sblist_add(sblist *l, const void *item);
/* the item at idx, or NULL past the end */
void *sblist_get(const sblist *l, size_t idx);

#define sblist_getsize(l) ((l)->count)

#endif /* SBLIST_H */
