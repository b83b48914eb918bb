/* The pipeline client's YAML reader (cli/cli_util.c cli_yaml_to_json): workflow configs
 * and client config files handed over by OpenMetadata.
 * Invariants: refusals carry a message; an accepted tree is no deeper than
 * CLI_YAML_MAX_DEPTH + 1; printing it as JSON and reading that back gives the same tree
 * (when it holds no infinity/NaN, which JSON cannot carry); output of printing is bounded. */
#include "fuzz.h"

#include "cli/cli_util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

static int
depth_of(const cJSON *j)
{
    int max = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, j)
    {
        int d = depth_of(c);
        max = d > max ? d : max;
    }
    return cJSON_IsArray(j) || cJSON_IsObject(j) ? max + 1 : 0;
}

static int
finite_only(const cJSON *j)
{
    if (cJSON_IsNumber(j) && !isfinite(j->valuedouble)) return 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, j) if (!finite_only(c)) return 0;
    return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    err[0] = '\0';
    cJSON *j = cli_yaml_to_json((const char *)data, size, err, sizeof err);
    if (!j) {
        FUZZ_CHECK(err[0] != '\0', "refused without a message");
        return 0;
    }
    FUZZ_CHECK(depth_of(j) <= CLI_YAML_MAX_DEPTH + 1, "depth %d", depth_of(j));
    if (finite_only(j)) {
        char *printed = cJSON_PrintUnformatted(j);
        FUZZ_CHECK(printed != NULL, "print");
        char err2[256] = "";
        cJSON *back = cli_yaml_to_json(printed, strlen(printed), err2, sizeof err2);
        FUZZ_CHECK(back != NULL, "its own JSON refused: %s: %.200s", err2, printed);
        /* printed text, not cJSON_Compare: that one is exponential in the depth */
        char *again = cJSON_PrintUnformatted(back);
        FUZZ_CHECK(again && !strcmp(again, printed), "round trip changed the tree: %.300s", printed);
        free(again);
        cJSON_Delete(back);
        free(printed);
    }
    (void)cli_pipeline_type_of(j);
    cJSON_Delete(j);
    return 0;
}
