/* The pipeline client's configuration file (cli/build.c cli_config_load).
 * Invariants: a refused file leaves nothing allocated and says why; an accepted one
 * normalises to a configuration that, written back as a file, loads to the same values
 * (normalisation is idempotent) and whose typed getters answer without failing. */
#include "fuzz.h"

#include "cli/build.h"

#include <cjson/cJSON.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file("client.yaml", data, size);
    struct cli_config cfg;
    char err[512];
    err[0] = '\0';
    if (cli_config_load(&cfg, path, err, sizeof err) < 0) {
        FUZZ_CHECK(err[0] != '\0' && cfg.v == NULL, "refusal: err \"%s\", v %p", err,
                   (void *)cfg.v);
        return 0;
    }
    char *printed = cJSON_PrintUnformatted(cfg.v);
    FUZZ_CHECK(printed != NULL, "print");
    const char *again = fuzz_write_file("client2.yaml", (const uint8_t *)printed, strlen(printed));
    struct cli_config cfg2;
    FUZZ_CHECK(cli_config_load(&cfg2, again, err, sizeof err) == 0, "own output refused: %s: %.300s",
               err, printed);
    char *printed2 = cJSON_PrintUnformatted(cfg2.v);
    FUZZ_CHECK(printed2 && !strcmp(printed, printed2), "reload changed the configuration: %.300s",
               printed);
    free(printed2);
    const cJSON *e;
    cJSON_ArrayForEach(e, cfg.v)
    {
        (void)cli_config_str(&cfg, e->string);
        (void)cli_config_long(&cfg, e->string);
        (void)cli_config_bool(&cfg, e->string);
    }
    free(printed);
    cli_config_free(&cfg2);
    cli_config_free(&cfg);
    return 0;
}
