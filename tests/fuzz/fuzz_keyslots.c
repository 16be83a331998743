/*
 * Fuzz target: the key slot file, DIR/keyslots (client/store/keyslots.c),
 * which is read before the store is unlocked: from a backup being
 * restored, or a disk someone else could write. The parser is the
 * store's own (its private header, on this target's include path alone);
 * nothing is unwrapped, so no Argon2id runs. Never crash or leak; a file
 * that parses, written back and read again, gives the same slots.
 */
#define _GNU_SOURCE /* memfd_create */
#include "store_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/chartsync-fuzz-keyslots.XXXXXX";
static char written[sizeof(dir) + 16];

static void cleanup(void)
{
	unlink(written);
	rmdir(dir);
}

static void same(const chs_slot_file *a, const chs_slot_file *b)
{
	size_t i;

	if (strcmp(a->store_id, b->store_id) != 0 || a->count != b->count)
		abort();
	for (i = 0; i < a->count; i++) {
		const chs_slot *x = &a->entries[i].slot, *y;
		chs_slot_entry *e = chs_store__slots_find((chs_slot_file *)b, a->entries[i].user);

		if (!e)
			abort();
		y = &e->slot;
		if (x->version != y->version || x->kdf.ops != y->kdf.ops ||
		    x->kdf.mem != y->kdf.mem || memcmp(x->salt, y->salt, sizeof(x->salt)) != 0 ||
		    memcmp(x->wrapped, y->wrapped, sizeof(x->wrapped)) != 0 ||
		    (x->version == 2 && (memcmp(x->box_pk, y->box_pk, sizeof(x->box_pk)) != 0 ||
					 memcmp(x->sealed, y->sealed, sizeof(x->sealed)) != 0)))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	chs_slot_file sf, back;
	char path[64];

	if (fd < 0) {
		if (chs_crypto_init() != 0 || !mkdtemp(dir) ||
		    (fd = memfd_create("keyslots", 0)) < 0)
			abort();
		snprintf(written, sizeof(written), "%s/keyslots", dir);
		atexit(cleanup);
	}
	/* the bytes as a file, without touching the disk */
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (chs_store__slots_read(&sf, path) != 0)
		return 0;
	if (chs_store__slots_write(&sf, written) != 0 || chs_store__slots_read(&back, written) != 0)
		abort();
	same(&sf, &back);
	chs_store__slots_dispose(&back);
	chs_store__slots_dispose(&sf);
	return 0;
}
