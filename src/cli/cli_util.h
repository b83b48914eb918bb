/* Pure helpers of the `pipeline` client: object names, OpenMetadata run states, log chunking
 * on UTF-8 boundaries, pipeline-type task keys, and YAML → cJSON. No I/O, no API calls. */
#ifndef OMJ_CLI_UTIL_H
#define OMJ_CLI_UTIL_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

#define CLI_NAME_MAX 63
/* Largest log chunk (OpenMetadata pages logs in ~1 MiB pieces). */
#define CLI_LOG_CHUNK_MAX (1024 * 1024)
/* Caps of the YAML reader: file size and nesting. */
#define CLI_YAML_MAX_BYTES (1024 * 1024)
#define CLI_YAML_MAX_DEPTH 64

/* "<prefix>-<pipeline>[-<suffix>]" when that is a DNS-1123 label of at most 63 characters;
 * otherwise "<prefix>-<sanitised pipeline, shortened>-<h>[-<suffix>]" where h is 8 hex
 * digits of naming_hash(pipeline) (the *whole*, original name: two names that differ only
 * in case, punctuation or a long tail never collide). suffix may be NULL; prefix and suffix
 * must be short lower-case labels. Returns 0 (plain), 1 (hashed), -1 (bad input). */
int cli_object_name(char out[static CLI_NAME_MAX + 1], const char *prefix, const char *pipeline,
                    const char *suffix);

/* The first 8 characters of a run id as a label fragment: lower-cased, [a-z0-9] only
 * (other characters dropped); the hash of the id when nothing usable is left. */
void cli_run_suffix(char out[static 9], const char *run_id);

/* OpenMetadata's pipeline states. */
enum cli_state { CLI_QUEUED, CLI_RUNNING, CLI_SUCCESS, CLI_FAILED };
const char *cli_state_name(enum cli_state s);
/* From an OMJob's status.phase (NULL/unknown → QUEUED). */
enum cli_state cli_state_from_phase(const char *phase);
/* From a Job: its Complete/Failed conditions (True) and whether one of its pods runs. */
enum cli_state cli_state_from_job(bool complete, bool failed, bool pod_running);

/* The key OpenMetadata's log API uses for a pipeline type ("metadata" → "ingestion_task",
 * "profiler" → "profiler_task", …; unknown or NULL → "ingestion_task"). */
const char *cli_task_key(const char *pipeline_type);
/* The pipeline type a workflow config implies (source.sourceConfig.config.type), or NULL. */
const char *cli_pipeline_type_of(const struct cJSON *workflow);

/* The largest n <= max (and <= len) such that s[0..n) ends on a UTF-8 character boundary:
 * never splits a multi-byte sequence (invalid bytes count as one character each). When
 * max < len and the first character alone is longer than max, returns that character's
 * length so that progress is always made (max >= 4 never needs this). */
size_t cli_utf8_cut(const char *s, size_t len, size_t max);

/* A log chunker: feed bytes, get chunks of at most `chunk_bytes` cut on UTF-8 boundaries.
 * It holds at most chunk_bytes + 3 bytes. emit returns non-zero to stop. */
typedef int (*cli_chunk_fn)(void *arg, const char *chunk, size_t len);
struct cli_chunker {
    char *buf;
    size_t len, chunk_bytes;
    cli_chunk_fn emit;
    void *arg;
    int stopped;
};
int cli_chunker_init(struct cli_chunker *k, size_t chunk_bytes, cli_chunk_fn emit, void *arg);
/* Returns 0, or non-zero once emit asked to stop. */
int cli_chunker_feed(struct cli_chunker *k, const char *data, size_t len);
/* Emits what is left (nothing when empty). */
int cli_chunker_finish(struct cli_chunker *k);
void cli_chunker_free(struct cli_chunker *k);

/* Parses YAML (one document; JSON is accepted as YAML) into cJSON. Plain scalars become
 * null/true/false/numbers when they read as such; quoted or tagged !!str ones stay strings.
 * Aliases, more than one document, nesting over CLI_YAML_MAX_DEPTH and input over
 * CLI_YAML_MAX_BYTES are refused. Returns the tree (caller frees with cJSON_Delete) or NULL
 * with a message in err. */
struct cJSON *cli_yaml_to_json(const char *text, size_t len, char *err, size_t errlen);

/* A random (v4) UUID from /dev/urandom. Returns 0 or -1. */
int cli_uuid(char out[static 37]);

#endif
