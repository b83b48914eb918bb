/* Log chunks of the pipeline client (cli/cli_util.c cli_chunker, cli_utf8_cut): a pod log
 * streamed to OpenMetadata in pieces of at most CLI_LOG_CHUNK_MAX bytes.
 * Input: byte 0 picks the chunk size (4..259), byte 1 the sizes of the feeds, then the log.
 * Invariants: the chunks put together are the log; no chunk is longer than the chunk size;
 * no cut falls inside a well-formed UTF-8 sequence of the log (malformed bytes count as one
 * character each, as cli_utf8_cut documents); the chunker never holds more than
 * chunk_bytes + 3 bytes. */
#include "fuzz.h"

#include "cli/cli_util.h"

#include <string.h>

struct sink {
    char *data;
    size_t len, max_chunk, chunks;
    size_t *cuts;
};

static int
emit(void *arg, const char *chunk, size_t len)
{
    struct sink *s = arg;
    FUZZ_CHECK(len > 0, "empty chunk");
    FUZZ_CHECK(len <= s->max_chunk, "chunk of %zu bytes, max %zu", len, s->max_chunk);
    memcpy(s->data + s->len, chunk, len);
    s->len += len;
    s->cuts[s->chunks++] = s->len;
    return 0;
}

/* Same sequence notion as cli_utf8_cut, over the whole log: 1 for a malformed lead or
 * continuation, the claimed length when the log ends inside the sequence. */
static size_t
seq_len(const unsigned char *u, size_t i, size_t len)
{
    unsigned c = u[i];
    size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 1;
    for (size_t k = 1; k < n && i + k < len; k++)
        if ((u[i + k] & 0xc0) != 0x80) return 1;
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t chunk_bytes = 4 + data[0];
    unsigned feed = data[1];
    const uint8_t *log = data + 2;
    size_t len = size - 2;
    struct sink s = {malloc(len + 1), 0, chunk_bytes, 0, malloc((len + 1) * sizeof(size_t))};
    struct cli_chunker k;
    FUZZ_CHECK(cli_chunker_init(&k, chunk_bytes, emit, &s) == 0, "init %zu", chunk_bytes);
    FUZZ_CHECK(cli_chunker_init(&(struct cli_chunker){0}, 3, emit, &s) != 0, "size 3 accepted");
    size_t off = 0, step = 1;
    while (off < len) {
        step = (step * 7 + feed) % (chunk_bytes * 2 + 1) + 1;
        size_t n = step < len - off ? step : len - off;
        FUZZ_CHECK(cli_chunker_feed(&k, (const char *)log + off, n) == 0, "stopped");
        FUZZ_CHECK(k.len <= chunk_bytes + 3, "holds %zu bytes", k.len);
        off += n;
    }
    FUZZ_CHECK(cli_chunker_finish(&k) == 0, "finish");
    FUZZ_CHECK(k.len == 0, "%zu bytes left after finish", k.len);
    cli_chunker_free(&k);
    FUZZ_CHECK(s.len == len && !memcmp(s.data, log, len), "chunks do not add up to the log");
    /* cuts must be sequence starts */
    unsigned char *start = calloc(len + 1, 1);
    for (size_t i = 0; i < len; i += seq_len(log, i, len))
        start[i] = 1;
    start[len] = 1;
    for (size_t c = 0; c < s.chunks; c++) {
        size_t at = s.cuts[c];
        FUZZ_CHECK(at >= len || start[at], "cut at %zu inside a UTF-8 sequence", at);
    }
    /* cli_utf8_cut on its own */
    size_t max = (size_t)data[0] % 8;
    size_t cut = cli_utf8_cut((const char *)log, len, max);
    if (len <= max)
        FUZZ_CHECK(cut == len, "cut %zu of %zu", cut, len);
    else
        FUZZ_CHECK(cut > 0 && (cut <= max || cut == seq_len(log, 0, len) || cut == len) &&
                       (cut >= len || start[cut]),
                   "cut %zu max %zu", cut, max);
    free(start);
    free(s.cuts);
    free(s.data);
    return 0;
}
