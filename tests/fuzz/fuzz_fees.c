/*
 * Fuzz target: a fee-schedule CSV as `chartsync fees import` reads it
 * (client/billing/fees.c, through its offered reader fees.h) before it
 * writes anything. Never crash or leak; a file it takes holds only lines
 * of the form billing.h promises: a code of upper-case letters and
 * digits, a real day, a fee within bounds, a description on one line,
 * line numbers rising, no (code, effective) twice.
 */
#include "client/billing/fees.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const chs_fee_line *fl, int after)
{
	size_t i, n = strlen(fl->code);

	if (fl->line <= after || n != 5 || !fl->description)
		abort();
	for (i = 0; i < n; i++)
		if (!((fl->code[i] >= '0' && fl->code[i] <= '9') ||
		      (fl->code[i] >= 'A' && fl->code[i] <= 'Z')))
			abort();
	if (strlen(fl->effective) != 10 || fl->effective[4] != '-' || fl->effective[7] != '-')
		abort();
	if (fl->cents < 0 || fl->cents > 999999999)
		abort();
	if (strpbrk(fl->description, "\r\n\t"))
		abort(); /* one line, as the record's field must be */
	n = strlen(fl->description);
	if (n && (fl->description[0] == ' ' || fl->description[n - 1] == ' '))
		abort(); /* trimmed */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	chs_fee_file ff;
	size_t i, j;

	memset(&ff, 0, sizeof(ff));
	if (chs_billing__fees_read((const char *)data, size, &ff) == 0) {
		if (memchr(data, '\0', size))
			abort();
		for (i = 0; i < ff.n; i++) {
			check_line(&ff.lines[i], i ? ff.lines[i - 1].line : 1);
			for (j = 0; j < i; j++)
				if (strcmp(ff.lines[i].code, ff.lines[j].code) == 0 &&
				    strcmp(ff.lines[i].effective, ff.lines[j].effective) == 0)
					abort();
		}
	}
	chs_billing__fees_dispose(&ff);
	return 0;
}
