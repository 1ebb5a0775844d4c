/*
 * config_fuzz.c - libFuzzer target for the INI reader and settings table.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "conf/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *err = NULL;
	struct config *c = config_parse("fuzz.conf", (const char *)data, size,
	    &err);

	config_free(&c);
	free(err);
	return 0;
}
