/*
 * client/billing/fees.h - the fee schedule's reader (fees.c), offered to
 * the tests: the bytes of a fee-schedule CSV read and checked as
 * `chartsync fees import` reads them before it writes anything
 * (tests/fuzz/fuzz_fees.c). billing.h has the file's form.
 */
#ifndef CHS_CLIENT_BILLING_FEES_H
#define CHS_CLIENT_BILLING_FEES_H

#include <stddef.h>
#include <stdint.h>

/* One line of the schedule, checked: a CPT or HCPCS code (upper case),
 * a date YYYY-MM-DD, the fee in cents (0 to 999999999), and a description
 * on one line (malloc'ed, may be ""). */
typedef struct chs_fee_line {
	int line;             /* where the line starts in the file, from 1 */
	char code[8];
	char effective[11];
	char *description;
	int64_t cents;
} chs_fee_line;

typedef struct chs_fee_file {
	chs_fee_line *lines;
	size_t n, cap;
} chs_fee_file;

/* Read and check a whole fee schedule (`len` bytes, no NUL needed) into
 * `ff` (zeroed by the caller; its lines in file order, no (code,
 * effective) twice). CHS_EINVALID naming the first bad line, CHS_ENOMEM;
 * on error `ff` may hold the lines before the bad one. Dispose of `ff`
 * in every case. */
int chs_billing__fees_read(const char *text, size_t len, chs_fee_file *ff);
void chs_billing__fees_dispose(chs_fee_file *ff);

#endif /* CHS_CLIENT_BILLING_FEES_H */
