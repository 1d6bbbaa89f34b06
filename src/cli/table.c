/* SPDX-License-Identifier: Apache-2.0 */
/* table.c - left-aligned text tables for the human output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/table.h"

int table_init(struct table *t, const char *const *header)
{
	memset(t, 0, sizeof *t);
	while (header[t->cols] && t->cols < TABLE_MAX_COLS)
		t->cols++;
	return table_add(t, header);
}

int table_add(struct table *t, const char *const *row)
{
	char **cells =
		realloc(t->cells, (t->rows + 1) * t->cols * sizeof *cells);
	if (!cells)
		return -1;
	t->cells = cells;
	char **r = cells + t->rows * t->cols;
	for (size_t i = 0; i < t->cols; i++)
		r[i] = strdup(row[i] ? row[i] : "-");
	t->rows++;
	for (size_t i = 0; i < t->cols; i++)
		if (!r[i])
			return -1;
	return 0;
}

void table_print(const struct table *t)
{
	size_t width[TABLE_MAX_COLS] = {0};
	for (size_t r = 0; r < t->rows; r++)
		for (size_t i = 0; i < t->cols; i++) {
			const char *cell = t->cells[r * t->cols + i];
			size_t n = cell ? strlen(cell) : 0;
			if (n > width[i])
				width[i] = n;
		}
	for (size_t r = 0; r < t->rows; r++) {
		for (size_t i = 0; i < t->cols; i++) {
			const char *cell = t->cells[r * t->cols + i];
			if (i + 1 == t->cols)
				printf("%s\n", cell ? cell : "");
			else
				printf("%-*s  ", (int)width[i],
				       cell ? cell : "");
		}
	}
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->rows * t->cols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof *t);
}
