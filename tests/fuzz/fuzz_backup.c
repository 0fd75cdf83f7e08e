/* libFuzzer target: the readers of a backup repository (src/backup).  A
 * repository may sit on a disk someone else had: every reader must stay
 * within its input and fail cleanly.
 *
 * The first byte picks the reader: a tree (and a tree that decodes must
 * encode to the very same bytes), an index file, a pack's trailer and a
 * blob (each with an unencrypted and an encrypted key set), a snapshot
 * (one that decodes must encode and decode again), a repository's config
 * (one that decodes has fields of the exact lengths and an Argon2id cost
 * within the floor and the ceiling; its MAC is computed under a fixed
 * key set: the Argon2id derivation itself is too slow to fuzz). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup/index.h"
#include "backup/pack.h"
#include "backup/repo.h"
#include "backup/snapshot.h"
#include "backup/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void keys(struct sp_bk_keys *k, bool encrypted)
{
	memset(k, 0, sizeof *k);
	k->encrypted = encrypted;
	memset(k->enc, 0x5a, sizeof k->enc);
	memset(k->id, 0xa5, sizeof k->id);
}

static void tree(const uint8_t *data, size_t size)
{
	struct sp_bk_tree t = { 0 };
	struct sp_err err;
	uint8_t *out = NULL;
	size_t len = 0;

	if (sp_bk_tree_decode(data, size, &t, &err) < 0)
		return;
	if (sp_bk_tree_encode(&t, &out, &len, &err) < 0 || len != size || memcmp(out, data, size) != 0)
		abort(); /* the decoder took something the encoder would not write */
	free(out);
	sp_bk_tree_free(&t);
}

static void index_file(const uint8_t *data, size_t size)
{
	struct sp_bk_index *idx = sp_bk_index_new();
	struct sp_err err;
	uint8_t *out = NULL;
	size_t len;

	if (sp_bk_index_decode(data, size, idx, &err) == 0) {
		for (size_t i = 0; i < sp_bk_index_count(idx); i++)
			if (sp_bk_index_find(idx, sp_bk_index_at(idx, i)->loc.id) != sp_bk_index_at(idx, i))
				abort();
		if (sp_bk_index_encode(idx, 0, (uint32_t)sp_bk_index_pack_count(idx), &out, &len, &err) == 0)
			free(out);
	}
	sp_bk_index_free(idx);
}

static void pack(const uint8_t *data, size_t size, bool encrypted)
{
	struct sp_bk_keys k;
	struct sp_bk_blob_loc *locs = NULL;
	struct sp_err err;
	size_t n = 0;

	keys(&k, encrypted);
	if (sp_bk_pack_trailer_parse(&k, data, size, &locs, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++) {
			uint8_t *plain = NULL;
			size_t len;

			if (locs[i].offset + (uint64_t)locs[i].stored_len > size)
				abort(); /* the parser let a blob point outside the pack */
			if (sp_bk_blob_decode(&k, &locs[i], data + locs[i].offset, &plain, &len, &err) == 0)
				free(plain);
		}
		free(locs);
	}
}

/* A blob with its place given by the input's first bytes. */
static void blob(const uint8_t *data, size_t size, bool encrypted)
{
	struct sp_bk_keys k;
	struct sp_bk_blob_loc loc = { .type = SP_BK_BLOB_DATA };
	struct sp_err err;
	uint8_t *plain = NULL;
	size_t len;

	if (size < 4 + SP_BK_ID_LEN)
		return;
	keys(&k, encrypted);
	memcpy(loc.id, data, SP_BK_ID_LEN);
	loc.raw_len = (uint32_t)data[SP_BK_ID_LEN] << 16 | (uint32_t)data[SP_BK_ID_LEN + 1] << 8;
	data += SP_BK_ID_LEN + 4;
	size -= SP_BK_ID_LEN + 4;
	loc.stored_len = (uint32_t)size;
	if (size > 0 && sp_bk_blob_decode(&k, &loc, data, &plain, &len, &err) == 0)
		free(plain);
}

static void snapshot(const uint8_t *data, size_t size)
{
	struct sp_bk_snapshot s = { 0 }, again = { 0 };
	struct sp_err err;
	char *json = NULL;
	size_t len;

	if (sp_bk_snapshot_decode("0000", (const char *)data, size, &s, &err) < 0)
		return;
	if (sp_bk_snapshot_encode(&s, &json, &len, &err) < 0 ||
	    sp_bk_snapshot_decode("0000", json, len, &again, &err) < 0 || again.time != s.time ||
	    again.time_nsec != s.time_nsec || memcmp(again.tree, s.tree, sizeof s.tree) != 0)
		abort();
	free(json);
	sp_bk_snapshot_free(&again);
	sp_bk_snapshot_free(&s);
}

static void config(const uint8_t *data, size_t size)
{
	struct sp_bk_config cfg;
	struct sp_err err;
	uint8_t raw[SP_BK_KEYS_LEN];
	char mac[2 * SP_BK_ID_LEN + 1];

	if (sp_bk_config_decode("fuzz", data, size, &cfg, &err) < 0)
		return;
	if (strlen(cfg.id) != SP_BK_REPO_ID_HEX || (cfg.format != 1 && cfg.format != 2))
		abort();
	if (!cfg.encrypted) {
		if (strlen(cfg.keys) != 2 * SP_BK_KEYS_LEN || sp_bk_unhex(cfg.keys, raw, sizeof raw) < 0)
			abort();
		return;
	}
	if (cfg.ops < SP_BK_KDF_MIN_OPS || cfg.mem < SP_BK_KDF_MIN_MEM || cfg.ops > 16 || cfg.mem > (1LL << 30) ||
	    strlen(cfg.salt) != 32 || strlen(cfg.keys) != 2 * (SP_BK_KEYS_LEN + SP_BK_SEAL_OVERHEAD) ||
	    (cfg.format == 2 && strlen(cfg.mac) != 64))
		abort(); /* the decoder let a field through unchecked */
	memset(raw, 0x3c, sizeof raw);
	sp_bk_config_mac(raw, &cfg, mac);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 8) {
	case 0: tree(data + 1, size - 1); break;
	case 1: index_file(data + 1, size - 1); break;
	case 2: pack(data + 1, size - 1, false); break;
	case 3: pack(data + 1, size - 1, true); break;
	case 4: blob(data + 1, size - 1, false); break;
	case 5: blob(data + 1, size - 1, true); break;
	case 6: snapshot(data + 1, size - 1); break;
	case 7: config(data + 1, size - 1); break;
	}
	return 0;
}
