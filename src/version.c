#include "version.h"

#include "util/buf.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <yaml.h>

/* Written by the Makefile: build/gen/deps.h from vendor/deps.lock, build/gen/build_version.h
 * from VERSION and the git commit. */
#include "build_version.h"
#include "deps.h"

#ifndef OMJ_VERSION
#define OMJ_VERSION "0.0.0-unknown"
#endif
#ifndef OMJ_BUILD_FLAVOR
#define OMJ_BUILD_FLAVOR "unknown"
#endif

const char *
version_string(void)
{
    return OMJ_VERSION;
}

void
version_print(FILE *out)
{
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    fprintf(out, "omjob-operator %s (%s)\n", OMJ_VERSION, OMJ_BUILD_FLAVOR);
    fprintf(out, "  libcurl  %s (Debian %s), TLS %s\n", cv->version, DEP_CURL,
            cv->ssl_version ? cv->ssl_version : "none");
    fprintf(out, "  BearSSL  Debian %s\n", DEP_BEARSSL);
    fprintf(out, "  cJSON    %s (Debian %s)\n", cJSON_Version(), DEP_CJSON);
    fprintf(out, "  libyaml  %s (Debian %s)\n", yaml_get_version_string(), DEP_LIBYAML);
    fprintf(out, "  libc     %s\n", DEP_LIBC);
}

int
version_json(struct buf *out)
{
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    return buf_printf(out,
                      "{\"version\":\"%s\",\"build\":\"%s\",\"dependencies\":{"
                      "\"libcurl\":\"%s (Debian %s)\",\"bearssl\":\"Debian %s\","
                      "\"cjson\":\"%s (Debian %s)\",\"libyaml\":\"%s (Debian %s)\","
                      "\"libc\":\"%s\"}}",
                      OMJ_VERSION, OMJ_BUILD_FLAVOR, cv->version, DEP_CURL, DEP_BEARSSL,
                      cJSON_Version(), DEP_CJSON, yaml_get_version_string(), DEP_LIBYAML,
                      DEP_LIBC);
}
