/* SPDX-License-Identifier: Apache-2.0 */
/* table.h - left-aligned text tables for the human output. */
#ifndef SLOTBOX_CLI_TABLE_H
#define SLOTBOX_CLI_TABLE_H

#include <stddef.h>

#define TABLE_MAX_COLS 12

struct table {
	size_t cols, rows;
	char **cells; /* rows * cols owned strings */
};

/* Start a table with its header row (cols names, NULL-terminated). */
int table_init(struct table *t, const char *const *header);
/* Add a row of exactly t->cols strings (a NULL cell shows as "-"). */
int table_add(struct table *t, const char *const *row);
void table_print(const struct table *t);
void table_free(struct table *t);

#endif
