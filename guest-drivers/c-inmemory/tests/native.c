// Native test of driver.c: the driver compiled for this machine with AddressSanitizer and
// UBSan, called through its exported functions as the host calls them, and compared with a
// model of the store.
//
//   tests/run.sh                       # seed 1, 3000 operations: a few seconds
//   SEED=7 OPS=50000 tests/run.sh      # another seed, a longer run
//
// run.sh compiles driver.c with malloc, calloc and realloc renamed test_malloc, test_calloc
// and test_realloc (defined here), compiles this file, and runs `native SEED OPS`. A failed
// check prints the seed, the operation and what differed, and aborts; the same SEED and OPS
// repeat the run exactly. A sanitizer report or a leak also ends it with a non-zero status.
//
// What it checks:
// - Operations. Random put-content, delete, move, open-writer (new or appending), write,
//   close, commit, cancel, dropping a writer, stat, list, walk, get-content, and reading
//   through a reader from a random offset while the file is replaced, deleted, or joined by a
//   get-content. Paths have up to 3 components from a few names chosen for byte order (`_`,
//   `a`, `a-b`, `a.b`, `a0`, …), so operations collide. Writes go from empty to over 64 KiB
//   (a chunk of its own), with now and then a run of writes that fills a 1 MiB buffer. Every
//   answer (success or the error's kind, sizes, bytes, entries) is compared with the model:
//   the files, and the uploads parked or held by writers.
// - The store, every 25 operations and at the end: stat of every file, directory and other
//   path; the content of every file (through get-content or a reader); the listing of every
//   directory; what an appending open-writer resumes, at what size; walks after and
//   after-subtree of every path, in small pages, and from every directory.
// - Allocation failure. Each operation runs again and again, with its first, second, …
//   allocation failing, until an attempt makes no allocation that fails (or succeeds anyway).
//   An attempt that fails must answer a `backend` error and leave the store as it was: the
//   paths it touched are checked at once, everything at the next check of the store.
// - Memory. ASan and UBSan throughout; at the end, once every file is deleted and every
//   upload cancelled, LeakSanitizer.
// - The rest, once: describe, parameters and namespaces (creating a store with each allocation
//   failing), invalid paths, and the calls answered without the store.
//
// The stubs below stand in for the functions of the generated bindings that driver.c calls,
// and do what the generated ones do. build/storage_driver.c itself is not compiled: it is made
// for wasm (its resource constructors call wasm imports).

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage_driver.h"

typedef storage_driver_string_t str_t;
typedef storage_driver_list_u8_t bytes_t;
typedef exports_wharf_storage_driver_error_t werr_t;
typedef exports_wharf_storage_driver_file_info_t file_info_t;
typedef exports_wharf_storage_driver_driver_t driver_t;
typedef exports_wharf_storage_driver_reader_t reader_t;
typedef exports_wharf_storage_driver_writer_t writer_t;

#define NOT_FOUND WHARF_STORAGE_TYPES_ERROR_PATH_NOT_FOUND
#define INVALID_PATH WHARF_STORAGE_TYPES_ERROR_INVALID_PATH
#define INVALID_OFFSET WHARF_STORAGE_TYPES_ERROR_INVALID_OFFSET
#define BACKEND WHARF_STORAGE_TYPES_ERROR_BACKEND
#define AFTER EXPORTS_WHARF_STORAGE_DRIVER_RESUME_POINT_AFTER
#define AFTER_SUBTREE EXPORTS_WHARF_STORAGE_DRIVER_RESUME_POINT_AFTER_SUBTREE
#define NO_RESUME (-1)

// The post-return functions driver.c defines (the bindings declare them only in their .c).
void __wasm_export_exports_wharf_storage_driver_method_driver_get_content_post_return(uint8_t *);
void __wasm_export_exports_wharf_storage_driver_method_reader_read_post_return(uint8_t *);
// From <sanitizer/lsan_interface.h>, which not every compiler installs.
void __lsan_do_leak_check(void);

// -----------------------------------------------------------------------------------------------
// Failed checks.

static unsigned long long seed;
static long op_number = -1; // the operation running (-1 before the first)

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *format, ...) {
    fprintf(stderr, "native.c: seed %llu, operation %ld: ", seed, op_number);
    va_list args;
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    abort();
}

#define CHECK(condition, ...)                                                                  \
    do {                                                                                       \
        if (!(condition)) fail(__VA_ARGS__);                                                   \
    } while (0)

static void *need(void *p) {
    CHECK(p != NULL, "the test itself is out of memory");
    return p;
}

// -----------------------------------------------------------------------------------------------
// Allocation failure: run.sh renames driver.c's malloc, calloc and realloc to these.

static long allocations_before_failure = -1; // the allocation after this many fails; -1: none
static long failures_injected;
static long failures_before_attempt;

static bool inject_failure(void) {
    if (allocations_before_failure < 0 || allocations_before_failure-- > 0) return false;
    failures_injected++; // one per attempt: the count is now -1
    return true;
}

void *test_malloc(size_t n) { return inject_failure() ? NULL : malloc(n); }

void *test_calloc(size_t count, size_t size) {
    return inject_failure() ? NULL : calloc(count, size);
}

void *test_realloc(void *p, size_t n) { return inject_failure() ? NULL : realloc(p, n); }

// Whether an allocation failed during the current attempt.
static bool injected(void) { return failures_injected > failures_before_attempt; }

// An attempt whose allocation after the first `k` fails.
static void begin_attempt(long k) {
    failures_before_attempt = failures_injected;
    allocations_before_failure = k;
}

// Ends an attempt: true when an allocation failed in it.
static bool end_attempt(void) {
    bool hit = injected();
    allocations_before_failure = -1;
    failures_before_attempt = failures_injected;
    return hit;
}

// -----------------------------------------------------------------------------------------------
// The bindings' functions that driver.c calls, as generated (their cabi_realloc traps when out
// of memory; here the test aborts).

void wharf_storage_host_log_log(wharf_storage_host_log_level_t level, str_t *message) {
    static const char prefix[] = "c-inmemory: ";
    CHECK(level <= WHARF_STORAGE_HOST_LOG_LEVEL_ERROR && message->len <= 512 &&
              message->len >= sizeof prefix - 1 &&
              memcmp(message->ptr, prefix, sizeof prefix - 1) == 0,
          "a log line of level %u and %zu bytes", level, message->len);
}

void storage_driver_string_free(str_t *s) {
    if (s->len > 0) free(s->ptr);
    s->ptr = NULL;
    s->len = 0;
}

void storage_driver_list_u8_free(bytes_t *b) {
    if (b->len > 0) free(b->ptr);
}

void storage_driver_list_string_free(storage_driver_list_string_t *list) {
    for (size_t i = 0; i < list->len; i++) storage_driver_string_free(&list->ptr[i]);
    if (list->len > 0) free(list->ptr);
}

void storage_driver_string_dup(str_t *ret, const char *s) {
    ret->len = strlen(s);
    ret->ptr = ret->len > 0 ? need(malloc(ret->len)) : (uint8_t *)1;
    memcpy(ret->ptr, s, ret->len);
}

void exports_wharf_storage_driver_list_param_free(exports_wharf_storage_driver_list_param_t *list) {
    for (size_t i = 0; i < list->len; i++) {
        storage_driver_string_free(&list->ptr[i].key);
        storage_driver_string_free(&list->ptr[i].value);
    }
    if (list->len > 0) free(list->ptr);
}

void exports_wharf_storage_driver_resume_point_free(
    exports_wharf_storage_driver_resume_point_t *r) {
    if (r->tag == AFTER) storage_driver_string_free(&r->val.after);
    else storage_driver_string_free(&r->val.after_subtree);
}

void exports_wharf_storage_driver_list_file_info_free(
    exports_wharf_storage_driver_list_file_info_t *list) {
    for (size_t i = 0; i < list->len; i++) storage_driver_string_free(&list->ptr[i].path);
    if (list->len > 0) free(list->ptr);
}

// Resource handles: the host's table, which an own handle indexes. The test takes the
// resource's pointer out at once and calls its destructor itself when it drops it.
static void *handles[8];

static int32_t handle_new(void *rep) {
    for (int32_t i = 1; i < (int32_t)(sizeof handles / sizeof *handles); i++) {
        if (handles[i] == NULL) {
            handles[i] = rep;
            return i;
        }
    }
    fail("out of handles");
}

static void *handle_take(int32_t handle) {
    void *rep = handles[handle];
    handles[handle] = NULL;
    return rep;
}

exports_wharf_storage_driver_own_driver_t exports_wharf_storage_driver_driver_new(driver_t *rep) {
    return (exports_wharf_storage_driver_own_driver_t){handle_new(rep)};
}

exports_wharf_storage_driver_own_reader_t exports_wharf_storage_driver_reader_new(reader_t *rep) {
    return (exports_wharf_storage_driver_own_reader_t){handle_new(rep)};
}

exports_wharf_storage_driver_own_writer_t exports_wharf_storage_driver_writer_new(writer_t *rep) {
    return (exports_wharf_storage_driver_own_writer_t){handle_new(rep)};
}

// -----------------------------------------------------------------------------------------------
// The host's side of a call: arguments are fresh copies the export owns (or, for length 0, the
// dummy pointer cabi_realloc gives, never to be freed), and results are freed as the generated
// post-return functions free them.

static bytes_t host_bytes(const void *p, size_t n) {
    bytes_t b = {(uint8_t *)1, n};
    if (n > 0) {
        b.ptr = need(malloc(n));
        memcpy(b.ptr, p, n);
    }
    return b;
}

static str_t host_string(const char *s) {
    bytes_t b = host_bytes(s, strlen(s));
    return (str_t){b.ptr, b.len};
}

static void free_error(werr_t *e) {
    switch (e->tag) {
    case INVALID_OFFSET: storage_driver_string_free(&e->val.invalid_offset.path); break;
    case BACKEND: storage_driver_string_free(&e->val.backend.message); break;
    default: storage_driver_string_free(&e->val.path_not_found); break; // each other is a string
    }
}

static bool same(const str_t *s, const char *text) {
    return s->len == strlen(text) && memcmp(s->ptr, text, s->len) == 0;
}

// Checks a failed call, frees its error, and returns false: the model refuses the call too,
// with `tag`, or else an allocation failed in this attempt and the error is `backend` (also
// when the model refuses: the driver may run out of memory before it finds out).
static bool expect_failure(werr_t *e, bool refused, uint8_t tag, const char *call,
                           const char *path) {
    CHECK((injected() && e->tag == BACKEND) || (refused && e->tag == tag),
          "%s %s failed with error %u, the model %s", call, path, e->tag,
          refused ? "refuses it with another" : "does not refuse it");
    free_error(e);
    return false;
}

// -----------------------------------------------------------------------------------------------
// Random numbers (xorshift64*), paths and sizes.

static uint64_t rng;

static uint64_t random64(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717u;
}

static size_t rnd(size_t n) { return (size_t)(random64() % n); }

static uint8_t *random_bytes(size_t n) {
    uint8_t *d = need(malloc(n > 0 ? n : 1));
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = random64();
        memcpy(d + i, &r, n - i < 8 ? n - i : 8);
    }
    return d;
}

// Writes below 64 KiB are copied into a growing buffer of up to 1 MiB; larger ones are kept as
// their own chunk.
static size_t random_size(void) {
    switch (rnd(10)) {
    case 0: return 0;
    case 1: return ((size_t)64 << 10) + rnd(200000);
    case 2: return rnd((size_t)64 << 10);
    default: return rnd(3000);
    }
}

static const char *const NAMES[] = {"a", "b", "a-b", "a.b", "ab", "c", "_", "a0"};
#define NAME_COUNT (sizeof NAMES / sizeof *NAMES)
#define DEPTH 3 // of the paths operations name (a move can make deeper ones)
#define SPACE (NAME_COUNT + NAME_COUNT * NAME_COUNT + NAME_COUNT * NAME_COUNT * NAME_COUNT)
#define PATH_SIZE 64 // moves that would make a longer path delete their source instead

// Every path an operation can name.
static char space[SPACE][PATH_SIZE];

static void make_space(void) {
    size_t n = 0;
    for (size_t i = 0; i < NAME_COUNT; i++) {
        snprintf(space[n++], PATH_SIZE, "/%s", NAMES[i]);
        for (size_t j = 0; j < NAME_COUNT; j++) {
            snprintf(space[n++], PATH_SIZE, "/%s/%s", NAMES[i], NAMES[j]);
            for (size_t k = 0; k < NAME_COUNT; k++) {
                snprintf(space[n++], PATH_SIZE, "/%s/%s/%s", NAMES[i], NAMES[j], NAMES[k]);
            }
        }
    }
}

// A path of 1 to DEPTH components: as likely short as long, so operations meet.
static void random_path(char *out) {
    size_t len = 0;
    for (size_t depth = 1 + rnd(DEPTH); depth > 0; depth--) {
        len += (size_t)snprintf(out + len, PATH_SIZE - len, "/%s", NAMES[rnd(NAME_COUNT)]);
    }
}

// The parent directory of `p` (`/` for `/a`).
static void parent(const char *p, char *out) {
    size_t n = (size_t)(strrchr(p, '/') - p);
    memcpy(out, p, n > 0 ? n : 1);
    out[n > 0 ? n : 1] = '\0';
}

// -----------------------------------------------------------------------------------------------
// Paths in the contract's terms.

// True when `anc` is a strict component-prefix of `path` (`/a` of `/a/b`, not of `/ab`).
static bool is_ancestor(const char *anc, const char *path) {
    if (strcmp(anc, "/") == 0) return strcmp(path, "/") != 0;
    size_t n = strlen(anc);
    return strncmp(anc, path, n) == 0 && path[n] == '/';
}

static bool at_or_under(const char *top, const char *path) {
    return strcmp(top, path) == 0 || is_ancestor(top, path);
}

// Walk order: component by component, which is byte order with '/' taken as the lowest byte.
static int walk_cmp(const char *a, const char *b) {
    for (;; a++, b++) {
        unsigned x = *a == '/' ? 1u : (unsigned char)*a;
        unsigned y = *b == '/' ? 1u : (unsigned char)*b;
        if (x != y || x == 0) return (x > y) - (x < y);
    }
}

static int by_bytes(const void *a, const void *b) { return strcmp(a, b); }

// -----------------------------------------------------------------------------------------------
// The model: the files, uploads (shared by the writers that hold them and the parked list, so
// reference-counted), parked uploads by path, and the open writers.

// The offsets, in ascending order, where a put or a write into a file's content ended: every
// boundary between the driver's chunks is one of them, so reads aim at them.
typedef struct marks {
    size_t *at;
    size_t n;
} marks_t;

static void marks_add(marks_t *m, size_t offset) {
    m->at = need(realloc(m->at, (m->n + 1) * sizeof *m->at));
    m->at[m->n++] = offset;
}

static marks_t marks_copy(const marks_t *m) {
    marks_t copy = {NULL, 0};
    for (size_t i = 0; i < m->n; i++) marks_add(&copy, m->at[i]);
    return copy;
}

typedef struct mfile {
    char path[PATH_SIZE];
    uint8_t *data;
    size_t len;
    marks_t marks;
} mfile_t;

#define MAX_FILES 4096
static mfile_t files[MAX_FILES];
static size_t nfiles;

typedef struct mupload {
    size_t refs;
    uint8_t *data;
    size_t len;
    marks_t marks;
} mupload_t;

typedef struct mparked {
    char path[PATH_SIZE];
    mupload_t *up;
} mparked_t;

static mparked_t parked[MAX_FILES];
static size_t nparked;

enum wstate { OPEN, CLOSED, COMMITTED, CANCELLED };

typedef struct hwriter {
    writer_t *w;
    char path[PATH_SIZE];
    mupload_t *up;
    enum wstate state;
    uint64_t accepted;
} hwriter_t;

#define MAX_WRITERS 4
static hwriter_t writers[MAX_WRITERS];
static size_t nwriters;

static driver_t *drv; // the driver under test (default namespace)

static long mfile_find(const char *p) {
    for (size_t i = 0; i < nfiles; i++) {
        if (strcmp(files[i].path, p) == 0) return (long)i;
    }
    return -1;
}

static bool mdir_exists(const char *p) {
    if (strcmp(p, "/") == 0) return true;
    for (size_t i = 0; i < nfiles; i++) {
        if (is_ancestor(p, files[i].path)) return true;
    }
    return false;
}

static bool mexists(const char *p) { return mfile_find(p) >= 0 || mdir_exists(p); }

// Whether a file is a strict ancestor of `p`.
static bool mfile_above(const char *p) {
    for (size_t i = 0; i < nfiles; i++) {
        if (is_ancestor(files[i].path, p)) return true;
    }
    return false;
}

// Whether writing a file at `p` is refused: `p` is a directory, or under a file.
static bool mblocked(const char *p) { return mdir_exists(p) || mfile_above(p); }

static void mfile_free(mfile_t *f) {
    free(f->data);
    free(f->marks.at);
}

// Makes `data` the file at `p`: written in one piece, or as `marks` tell.
static void mput(const char *p, const uint8_t *data, size_t len, const marks_t *marks) {
    long i = mfile_find(p);
    if (i < 0) {
        CHECK(nfiles < MAX_FILES, "more than %d files", MAX_FILES);
        i = (long)nfiles++;
        snprintf(files[i].path, PATH_SIZE, "%s", p);
    } else {
        mfile_free(&files[i]);
    }
    files[i].data = need(malloc(len > 0 ? len : 1));
    if (len > 0) memcpy(files[i].data, data, len);
    files[i].len = len;
    files[i].marks = (marks_t){NULL, 0};
    if (marks != NULL) files[i].marks = marks_copy(marks);
    else if (len > 0) marks_add(&files[i].marks, len);
}

// An empty upload, or one that continues `file`.
static mupload_t *mupload_new(const mfile_t *file) {
    mupload_t *u = need(calloc(1, sizeof *u));
    u->refs = 1;
    u->data = need(malloc(file != NULL && file->len > 0 ? file->len : 1));
    if (file != NULL) {
        memcpy(u->data, file->data, file->len);
        u->len = file->len;
        u->marks = marks_copy(&file->marks);
    }
    return u;
}

static void mupload_unref(mupload_t *u) {
    if (--u->refs > 0) return;
    free(u->data);
    free(u->marks.at);
    free(u);
}

static long mparked_find(const char *p) {
    for (size_t i = 0; i < nparked; i++) {
        if (strcmp(parked[i].path, p) == 0) return (long)i;
    }
    return -1;
}

// Parks `u` at `p` (a new reference), replacing what was parked there.
static void mpark(const char *p, mupload_t *u) {
    long i = mparked_find(p);
    u->refs++;
    if (i >= 0) {
        mupload_unref(parked[i].up);
        parked[i].up = u;
        return;
    }
    CHECK(nparked < MAX_FILES, "more than %d parked uploads", MAX_FILES);
    snprintf(parked[nparked].path, PATH_SIZE, "%s", p);
    parked[nparked++].up = u;
}

static void munpark_at(size_t i) {
    mupload_unref(parked[i].up);
    parked[i] = parked[--nparked];
}

// Unparks `u` from `p`, not a newer upload parked there since.
static void munpark(const char *p, const mupload_t *u) {
    long i = mparked_find(p);
    if (i >= 0 && parked[i].up == u) munpark_at((size_t)i);
}

// delete: the files and parked uploads at or under `p`.
static void mdelete(const char *p) {
    for (size_t i = nfiles; i-- > 0;) {
        if (at_or_under(p, files[i].path)) {
            mfile_free(&files[i]);
            files[i] = files[--nfiles];
        }
    }
    for (size_t i = nparked; i-- > 0;) {
        if (at_or_under(p, parked[i].path)) munpark_at(i);
    }
}

// move: the files at or under `p` go under `q`, replacing what was there (parked uploads
// stay).
static void mmove(const char *p, const char *q) {
    static mfile_t moved[MAX_FILES];
    size_t n = 0;
    if (strcmp(p, q) == 0) return;
    for (size_t i = nfiles; i-- > 0;) {
        if (!at_or_under(p, files[i].path)) continue;
        moved[n] = files[i];
        snprintf(moved[n++].path, PATH_SIZE, "%s%s", q, files[i].path + strlen(p));
        files[i] = files[--nfiles];
    }
    for (size_t i = nfiles; i-- > 0;) {
        if (at_or_under(q, files[i].path)) {
            mfile_free(&files[i]);
            files[i] = files[--nfiles];
        }
    }
    for (size_t i = 0; i < n; i++) files[nfiles++] = moved[i];
}

// Whether moving `p` to `q` keeps every path shorter than PATH_SIZE.
static bool move_fits(const char *p, const char *q) {
    for (size_t i = 0; i < nfiles; i++) {
        if (at_or_under(p, files[i].path) &&
            strlen(q) + strlen(files[i].path) - strlen(p) >= PATH_SIZE) {
            return false;
        }
    }
    return true;
}

// The model's tree in walk order: every directory but the root, and every file.
typedef struct entry {
    char path[PATH_SIZE];
    bool is_dir;
    size_t size;
} entry_t;

static entry_t entries[MAX_FILES * 4];
static size_t nentries;

static int entry_order(const void *a, const void *b) {
    return walk_cmp(((const entry_t *)a)->path, ((const entry_t *)b)->path);
}

static void add_entry(const char *path, size_t len, bool is_dir, size_t size) {
    CHECK(nentries < sizeof entries / sizeof *entries, "too many paths");
    entry_t *e = &entries[nentries++];
    memcpy(e->path, path, len);
    e->path[len] = '\0';
    e->is_dir = is_dir;
    e->size = size;
}

static void model_entries(void) {
    nentries = 0;
    for (size_t i = 0; i < nfiles; i++) {
        const char *p = files[i].path;
        for (size_t j = 1; p[j] != '\0'; j++) {
            if (p[j] == '/') add_entry(p, j, true, 0);
        }
        add_entry(p, strlen(p), false, files[i].len);
    }
    qsort(entries, nentries, sizeof *entries, entry_order);
    size_t n = 0;
    for (size_t i = 0; i < nentries; i++) {
        if (n == 0 || strcmp(entries[n - 1].path, entries[i].path) != 0) entries[n++] = entries[i];
    }
    nentries = n;
}

// -----------------------------------------------------------------------------------------------
// Checks of the store against the model. Those that return whether the driver answered success
// also run as operations, where an allocation may fail.

static bool check_stat(const char *p) {
    str_t path = host_string(p);
    file_info_t info = {0};
    werr_t e = {0};
    bool ok = exports_wharf_storage_driver_method_driver_stat(drv, &path, &info, &e);
    long f = mfile_find(p);
    bool dir = mdir_exists(p);
    if (!ok) return expect_failure(&e, f < 0 && !dir, NOT_FOUND, "stat", p);
    CHECK(f >= 0 || dir, "stat %s succeeded, the model has nothing there", p);
    CHECK(same(&info.path, p) && info.is_dir == dir, "stat %s: %.*s, a %s", p,
          (int)info.path.len, (const char *)info.path.ptr, info.is_dir ? "directory" : "file");
    if (dir) {
        CHECK(info.size == 0 && info.mod_time.seconds == 0 && info.mod_time.nanoseconds == 0,
              "stat %s: a directory of size %llu", p, (unsigned long long)info.size);
    } else {
        CHECK(info.size == files[f].len && info.mod_time.seconds > 0,
              "stat %s: size %llu, the model's %zu", p, (unsigned long long)info.size,
              files[f].len);
    }
    storage_driver_string_free(&info.path);
    return true;
}

static bool check_get(const char *p) {
    str_t path = host_string(p);
    exports_wharf_storage_driver_content_t c = {0};
    werr_t e = {0};
    bool ok = exports_wharf_storage_driver_method_driver_get_content(drv, &path, &c, &e);
    long f = mfile_find(p);
    if (!ok) { // the error's string is the post-return's to free
        CHECK((injected() && e.tag == BACKEND) || (f < 0 && e.tag == NOT_FOUND),
              "get-content %s failed with error %u", p, e.tag);
    } else {
        CHECK(f >= 0 && c.tag == EXPORTS_WHARF_STORAGE_DRIVER_CONTENT_BYTES,
              "get-content %s succeeded, the model has no file there", p);
        CHECK(c.val.bytes.len == files[f].len &&
                  memcmp(c.val.bytes.ptr, files[f].data, files[f].len) == 0,
              "get-content %s: %zu bytes, not the model's %zu", p, c.val.bytes.len,
              files[f].len);
    }
    // Releases the lent bytes, or frees the error's string.
    __wasm_export_exports_wharf_storage_driver_method_driver_get_content_post_return(NULL);
    return ok;
}

// Changes the file `p` a reader is reading, with no allocation failing: replaces it, deletes
// it, or gets its content (which joins the chunks the reader reads too).
static void disturb(const char *p) {
    long saved = allocations_before_failure;
    allocations_before_failure = -1;
    switch (rnd(3)) {
    case 0: {
        uint8_t byte = (uint8_t)rnd(256);
        str_t path = host_string(p);
        bytes_t content = host_bytes(&byte, 1);
        werr_t e = {0};
        CHECK(exports_wharf_storage_driver_method_driver_put_content(drv, &path, &content, &e),
              "put-content %s while it is read failed with error %u", p, e.tag);
        mput(p, &byte, 1, NULL);
        break;
    }
    case 1: {
        str_t path = host_string(p);
        werr_t e = {0};
        bool ok = exports_wharf_storage_driver_method_driver_delete(drv, &path, &e);
        CHECK(ok == mexists(p), "delete %s while it is read: %s", p, ok ? "deleted" : "failed");
        if (ok) mdelete(p);
        else free_error(&e);
        break;
    }
    default: check_get(p);
    }
    allocations_before_failure = saved;
}

// The size of a read from `pos`: half the time, one that ends 1 byte before, at, or 1 or 2
// bytes past the next mark (which may be a chunk boundary); else up to 5000 bytes (now and then
// up to 200000).
static uint32_t read_size(const marks_t *marks, size_t pos) {
    if (rnd(2) == 0) {
        for (size_t i = 0; i < marks->n; i++) {
            if (marks->at[i] <= pos) continue;
            size_t n = marks->at[i] - pos + rnd(4);
            return (uint32_t)(n > 1 ? n - 1 : 1);
        }
    }
    return (uint32_t)(1 + rnd(rnd(4) == 0 ? 200000 : 5000));
}

// Reads `r` to its end, comparing with want[pos..len) (written as `marks` tell). A read that
// fails (from an injected allocation failure) is retried, so it must not have moved the reader.
// With `disturb_path`, that file is changed between reads, which must not change what the
// reader reads. False when a read failed.
static bool read_to_end(reader_t *r, const uint8_t *want, size_t len, const marks_t *marks,
                        size_t pos, const char *disturb_path) {
    bool complete = true;
    for (;;) {
        uint32_t max = read_size(marks, pos);
        bytes_t out = {0};
        werr_t e = {0};
        bool ok = exports_wharf_storage_driver_method_reader_read(r, max, &out, &e);
        if (!ok) {
            CHECK(injected() && e.tag == BACKEND, "read failed with error %u", e.tag);
            complete = false;
        } else {
            size_t n = len - pos < max ? len - pos : max;
            CHECK(out.len == n && memcmp(out.ptr, want + pos, n) == 0,
                  "read of %u bytes at %zu of %zu: %zu bytes%s", max, pos, len, out.len,
                  out.len == n ? ", not the model's" : "");
            pos += n;
        }
        // Releases the lent bytes or the read buffer, or frees the error's string.
        __wasm_export_exports_wharf_storage_driver_method_reader_read_post_return(NULL);
        if (ok && out.len == 0) return complete;
        if (disturb_path != NULL && rnd(4) == 0) disturb(disturb_path);
    }
}

// Opens a reader on `p` at `offset`; NULL (and *e) when refused.
static reader_t *open_reader(const char *p, uint64_t offset, werr_t *e) {
    str_t path = host_string(p);
    exports_wharf_storage_driver_opened_reader_t o = {0};
    if (!exports_wharf_storage_driver_method_driver_open_reader(drv, &path, offset, &o, e)) {
        return NULL;
    }
    CHECK(!o.stream.is_some, "open-reader %s: a stream", p);
    return handle_take(o.reader.__handle);
}

// Through a reader mostly: a get-content joins the file's chunks, which leaves fewer reads that
// span chunks.
static void check_content(const mfile_t *file) {
    if (rnd(4) == 0) {
        check_get(file->path);
        return;
    }
    werr_t e = {0};
    reader_t *r = open_reader(file->path, 0, &e);
    CHECK(r != NULL, "open-reader %s failed with error %u", file->path, e.tag);
    read_to_end(r, file->data, file->len, &file->marks, 0, NULL);
    exports_wharf_storage_driver_reader_destructor(r);
}

static bool check_list(const char *dir) {
    char want[NAME_COUNT][PATH_SIZE]; // the children; their names all come from NAMES
    size_t n = 0;
    size_t base = strcmp(dir, "/") == 0 ? 0 : strlen(dir);
    for (size_t i = 0; i < nfiles; i++) {
        const char *p = files[i].path;
        if (!is_ancestor(dir, p)) continue;
        const char *end = strchr(p + base + 1, '/');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        size_t j = 0;
        while (j < n && !(strlen(want[j]) == len && memcmp(want[j], p, len) == 0)) j++;
        if (j < n) continue;
        memcpy(want[n], p, len);
        want[n++][len] = '\0';
    }
    qsort(want, n, PATH_SIZE, by_bytes);
    str_t path = host_string(dir);
    storage_driver_list_string_t list = {0};
    werr_t e = {0};
    if (!exports_wharf_storage_driver_method_driver_list(drv, &path, &list, &e)) {
        return expect_failure(&e, !mdir_exists(dir), NOT_FOUND, "list", dir);
    }
    CHECK(mdir_exists(dir), "list %s succeeded, the model has no directory there", dir);
    CHECK(list.len == n, "list %s: %zu children, the model has %zu", dir, list.len, n);
    for (size_t i = 0; i < n; i++) {
        CHECK(same(&list.ptr[i], want[i]), "list %s: child %zu is %.*s, the model's %s", dir, i,
              (int)list.ptr[i].len, (const char *)list.ptr[i].ptr, want[i]);
    }
    storage_driver_list_string_free(&list);
    return true;
}

static bool walks_past(int resume, const char *point, const char *path) {
    if (resume == NO_RESUME) return true;
    if (walk_cmp(path, point) <= 0) return false;
    return resume == AFTER || !is_ancestor(point, path);
}

// A walk of `under` (after `point`, unless NO_RESUME) against the entries of model_entries().
static bool check_walk(const char *under, int resume, const char *point, uint32_t limit) {
    str_t path = host_string(under);
    exports_wharf_storage_driver_resume_point_t r = {.tag = (uint8_t)resume};
    if (resume == AFTER) r.val.after = host_string(point);
    if (resume == AFTER_SUBTREE) r.val.after_subtree = host_string(point);
    exports_wharf_storage_driver_walk_page_t page = {0};
    werr_t e = {0};
    if (!exports_wharf_storage_driver_method_driver_walk(drv, &path,
                                                         resume == NO_RESUME ? NULL : &r, limit,
                                                         &page, &e)) {
        return expect_failure(&e, !mdir_exists(under), NOT_FOUND, "walk", under);
    }
    const char *from = resume == NO_RESUME ? "-" : point;
    CHECK(mdir_exists(under), "walk %s succeeded, the model has no directory there", under);
    size_t got = 0;
    bool more = false;
    for (size_t i = 0; i < nentries && !more; i++) {
        const entry_t *x = &entries[i];
        if (!is_ancestor(under, x->path) || !walks_past(resume, point, x->path)) continue;
        if (got == limit) {
            more = true;
            continue;
        }
        CHECK(got < page.entries.len, "walk %s (resume %d %s, limit %u): %zu entries, not more",
              under, resume, from, limit, page.entries.len);
        const file_info_t *info = &page.entries.ptr[got++];
        CHECK(same(&info->path, x->path) && info->is_dir == x->is_dir && info->size == x->size,
              "walk %s (resume %d %s, limit %u): entry %zu is %.*s (%s, %llu bytes), the "
              "model's %s (%s, %zu bytes)",
              under, resume, from, limit, got - 1, (int)info->path.len,
              (const char *)info->path.ptr, info->is_dir ? "dir" : "file",
              (unsigned long long)info->size, x->path, x->is_dir ? "dir" : "file", x->size);
    }
    CHECK(page.entries.len == got && page.done == !more,
          "walk %s (resume %d %s, limit %u): %zu entries, done %d; the model's %zu, done %d",
          under, resume, from, limit, page.entries.len, page.done, got, !more);
    exports_wharf_storage_driver_list_file_info_free(&page.entries);
    return true;
}

// What an appending open-writer finds at `p`: the parked upload, else the file, else nothing.
// The writer is then dropped (the upload it resumed stays parked) or cancelled (it continued
// the file, and nothing stays parked), so the store is as it was.
static void check_resume(const char *p) {
    long pi = mparked_find(p);
    long f = mfile_find(p);
    str_t path = host_string(p);
    exports_wharf_storage_driver_opened_writer_t o = {0};
    werr_t e = {0};
    bool ok = exports_wharf_storage_driver_method_driver_open_writer(drv, &path, true, &o, &e);
    if (pi < 0 && f < 0) {
        CHECK(!ok && e.tag == NOT_FOUND, "open-writer %s (append): nothing to resume", p);
        free_error(&e);
        return;
    }
    CHECK(ok, "open-writer %s (append) failed with error %u", p, e.tag);
    size_t want = pi >= 0 ? parked[pi].up->len : files[f].len;
    CHECK(o.size == want, "open-writer %s (append): size %llu, the model's %zu", p,
          (unsigned long long)o.size, want);
    writer_t *w = handle_take(o.writer.__handle);
    if (pi < 0) {
        CHECK(exports_wharf_storage_driver_method_writer_cancel(w, &e), "cancel %s failed", p);
    }
    exports_wharf_storage_driver_writer_destructor(w);
}

// `p`, its ancestors, and what is parked there.
static void check_path(const char *p) {
    char prefix[PATH_SIZE];
    check_stat("/");
    check_list("/");
    for (size_t i = 1; p[i - 1] != '\0'; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        memcpy(prefix, p, i);
        prefix[i] = '\0';
        check_stat(prefix);
        long f = mfile_find(prefix);
        if (f >= 0) check_content(&files[f]);
        else check_list(prefix);
    }
    check_resume(p);
}

// Everything: every file and directory, every path an operation can name, every parked upload.
static void check_store(void) {
    model_entries();
    check_stat("/");
    check_list("/");
    check_walk("/", NO_RESUME, NULL, UINT32_MAX);
    check_walk("/", NO_RESUME, NULL, 1 + (uint32_t)rnd(5));
    for (size_t i = 0; i < nentries; i++) {
        const entry_t *x = &entries[i];
        check_stat(x->path);
        if (x->is_dir) {
            check_list(x->path);
            check_walk(x->path, NO_RESUME, NULL, 1 + (uint32_t)rnd(4));
            check_walk(x->path, (int)rnd(2), space[rnd(SPACE)], 1 + (uint32_t)rnd(4));
        } else {
            check_content(&files[mfile_find(x->path)]);
            check_walk(x->path, NO_RESUME, NULL, 1); // not a directory
        }
        check_walk("/", AFTER, x->path, 1 + (uint32_t)rnd(5));
        check_walk("/", AFTER_SUBTREE, x->path, 1 + (uint32_t)rnd(5));
        check_resume(x->path);
    }
    for (size_t i = 0; i < SPACE; i++) {
        if (mexists(space[i])) continue; // checked above
        check_stat(space[i]);
        check_list(space[i]);
        check_walk(space[i], NO_RESUME, NULL, 1);
        check_walk("/", (int)rnd(2), space[i], 1 + (uint32_t)rnd(5));
        check_resume(space[i]);
    }
    for (size_t i = 0; i < nparked; i++) check_resume(parked[i].path);
}

// -----------------------------------------------------------------------------------------------
// Operations. Each returns whether the driver answered success.

enum kind { PUT, DELETE, MOVE, OPEN_WRITER, WRITE, CLOSE, COMMIT, CANCEL, DROP_WRITER, READ, LOOK };

static bool on_writer(enum kind kind) {
    return kind == WRITE || kind == CLOSE || kind == COMMIT || kind == CANCEL ||
           kind == DROP_WRITER;
}

typedef struct op {
    enum kind kind;
    char p[PATH_SIZE]; // the path (for a writer, its path)
    char q[PATH_SIZE]; // a move's destination; for LOOK, the parent of p
    uint8_t *data;
    size_t len;
    size_t writer; // an index into writers
    bool append;
    unsigned look;   // LOOK: stat p, list q, walk q (resuming at p), or get-content p
    int resume;      // LOOK's walk: NO_RESUME, AFTER or AFTER_SUBTREE
    uint32_t limit;  // LOOK's walk
    uint64_t offset; // READ: modulo the file's length + 2, so up to one past the end
} op_t;

static bool op_put(const op_t *op) {
    str_t path = host_string(op->p);
    bytes_t content = host_bytes(op->data, op->len);
    werr_t e = {0};
    bool ok = exports_wharf_storage_driver_method_driver_put_content(drv, &path, &content, &e);
    bool refused = mblocked(op->p);
    if (!ok) return expect_failure(&e, refused, BACKEND, "put-content", op->p);
    CHECK(!refused, "put-content %s succeeded, the model refuses it", op->p);
    mput(op->p, op->data, op->len, NULL);
    return true;
}

static bool op_delete(const op_t *op) {
    str_t path = host_string(op->p);
    werr_t e = {0};
    bool ok = exports_wharf_storage_driver_method_driver_delete(drv, &path, &e);
    bool refused = !mexists(op->p);
    if (!ok) return expect_failure(&e, refused, NOT_FOUND, "delete", op->p);
    CHECK(!refused, "delete %s succeeded, the model has nothing there", op->p);
    mdelete(op->p);
    return true;
}

static bool op_move(const op_t *op) {
    str_t source = host_string(op->p);
    str_t dest = host_string(op->q);
    werr_t e = {0};
    bool ok = exports_wharf_storage_driver_method_driver_move(drv, &source, &dest, &e);
    bool exists = mexists(op->p);
    // Into itself, or under a file, is refused; whatever is at the destination is replaced.
    bool refused = !exists || (strcmp(op->p, op->q) != 0 &&
                               (is_ancestor(op->p, op->q) || mfile_above(op->q)));
    if (!ok) return expect_failure(&e, refused, exists ? BACKEND : NOT_FOUND, "move", op->p);
    CHECK(!refused, "move %s %s succeeded, the model refuses it", op->p, op->q);
    mmove(op->p, op->q);
    return true;
}

static bool op_open_writer(const op_t *op) {
    str_t path = host_string(op->p);
    exports_wharf_storage_driver_opened_writer_t o = {0};
    werr_t e = {0};
    bool ok =
        exports_wharf_storage_driver_method_driver_open_writer(drv, &path, op->append, &o, &e);
    long pi = mparked_find(op->p);
    long f = mfile_find(op->p);
    bool refused = op->append && pi < 0 && f < 0;
    if (!ok) return expect_failure(&e, refused, NOT_FOUND, "open-writer", op->p);
    CHECK(!refused, "open-writer %s (append) succeeded with nothing to resume", op->p);
    mupload_t *u;
    if (op->append && pi >= 0) {
        u = parked[pi].up;
        u->refs++;
    } else {
        u = mupload_new(op->append ? &files[f] : NULL);
    }
    CHECK(o.size == u->len && o.part_size == 0 && o.first_part == 0,
          "open-writer %s: size %llu, the model's %zu", op->p, (unsigned long long)o.size,
          u->len);
    mpark(op->p, u);
    hwriter_t *hw = &writers[nwriters++];
    hw->w = handle_take(o.writer.__handle);
    snprintf(hw->path, PATH_SIZE, "%s", op->p);
    hw->up = u;
    hw->state = OPEN;
    hw->accepted = u->len;
    return true;
}

static bool op_write(const op_t *op) {
    hwriter_t *hw = &writers[op->writer];
    bytes_t data = host_bytes(op->data, op->len);
    werr_t e = {0};
    bool ok = exports_wharf_storage_driver_method_writer_write(hw->w, &data, &e);
    bool refused = hw->state != OPEN;
    if (!ok) {
        expect_failure(&e, refused, BACKEND, "write", hw->path);
    } else {
        CHECK(!refused, "write %s succeeded on a writer in state %d", hw->path, hw->state);
        mupload_t *u = hw->up;
        u->data = need(realloc(u->data, u->len + op->len + 1));
        if (op->len > 0) memcpy(u->data + u->len, op->data, op->len);
        u->len += op->len;
        if (op->len > 0) marks_add(&u->marks, u->len);
        hw->accepted += op->len;
    }
    uint64_t size = exports_wharf_storage_driver_method_writer_size(hw->w);
    CHECK(size == hw->accepted, "writer %s: size %llu, the model's %llu", hw->path,
          (unsigned long long)size, (unsigned long long)hw->accepted);
    return ok;
}

static bool op_close(const op_t *op) {
    hwriter_t *hw = &writers[op->writer];
    werr_t e = {0};
    bool ok = exports_wharf_storage_driver_method_writer_close(hw->w, &e);
    bool refused = hw->state == CLOSED;
    if (!ok) return expect_failure(&e, refused, BACKEND, "close", hw->path);
    CHECK(!refused, "close %s succeeded twice", hw->path);
    if (hw->state == OPEN) {
        hw->state = CLOSED;
        if (mparked_find(hw->path) < 0) mpark(hw->path, hw->up); // a delete unparked it
    }
    return true;
}

static bool op_commit(const op_t *op) {
    hwriter_t *hw = &writers[op->writer];
    werr_t e = {0};
    bool ok = exports_wharf_storage_driver_method_writer_commit(hw->w, &e);
    bool refused = hw->state != OPEN || mblocked(hw->path);
    if (!ok) return expect_failure(&e, refused, BACKEND, "commit", hw->path);
    CHECK(!refused, "commit %s succeeded, the model refuses it (writer state %d)", hw->path,
          hw->state);
    mput(hw->path, hw->up->data, hw->up->len, &hw->up->marks);
    munpark(hw->path, hw->up);
    hw->state = COMMITTED;
    return true;
}

static bool op_cancel(const op_t *op) {
    hwriter_t *hw = &writers[op->writer];
    werr_t e = {0};
    bool ok = exports_wharf_storage_driver_method_writer_cancel(hw->w, &e);
    bool refused = hw->state == COMMITTED;
    if (!ok) return expect_failure(&e, refused, BACKEND, "cancel", hw->path);
    CHECK(!refused, "cancel %s succeeded after commit", hw->path);
    if (hw->state != CANCELLED) {
        munpark(hw->path, hw->up);
        hw->up->len = 0; // the upload is emptied, for every writer that shares it
        hw->up->marks.n = 0;
        hw->state = CANCELLED;
    }
    return true;
}

// The host drops a writer: its destructor parks an open writer's upload again if a delete
// unparked it.
static void drop_writer(size_t i) {
    hwriter_t *hw = &writers[i];
    exports_wharf_storage_driver_writer_destructor(hw->w);
    if (hw->state == OPEN && mparked_find(hw->path) < 0) mpark(hw->path, hw->up);
    mupload_unref(hw->up);
    writers[i] = writers[--nwriters];
}

static bool op_read(const op_t *op) {
    long f = mfile_find(op->p);
    size_t len = f >= 0 ? files[f].len : 0;
    uint64_t offset = op->offset % (len + 2);
    werr_t e = {0};
    reader_t *r = open_reader(op->p, offset, &e);
    if (r == NULL) {
        return expect_failure(&e, f < 0 || offset > len, f < 0 ? NOT_FOUND : INVALID_OFFSET,
                              "open-reader", op->p);
    }
    CHECK(f >= 0 && offset <= len, "open-reader %s at %llu succeeded, the model refuses it",
          op->p, (unsigned long long)offset);
    mupload_t *opened = mupload_new(&files[f]); // a copy: the file may change meanwhile
    bool complete = read_to_end(r, opened->data, len, &opened->marks, (size_t)offset, op->p);
    exports_wharf_storage_driver_reader_destructor(r);
    mupload_unref(opened);
    return complete;
}

static bool op_look(const op_t *op) {
    switch (op->look) {
    case 0: return check_stat(op->p);
    case 1: return check_list(op->q);
    case 2: model_entries(); return check_walk(op->q, op->resume, op->p, op->limit);
    default: return check_get(op->p);
    }
}

static bool apply(const op_t *op) {
    switch (op->kind) {
    case PUT: return op_put(op);
    case DELETE: return op_delete(op);
    case MOVE: return op_move(op);
    case OPEN_WRITER: return op_open_writer(op);
    case WRITE: return op_write(op);
    case CLOSE: return op_close(op);
    case COMMIT: return op_commit(op);
    case CANCEL: return op_cancel(op);
    case READ: return op_read(op);
    case LOOK: return op_look(op);
    case DROP_WRITER: break;
    }
    fail("no operation %d", op->kind);
}

// An open writer, most of the time there is one.
static size_t pick_writer(void) {
    size_t open[MAX_WRITERS], n = 0;
    for (size_t i = 0; i < nwriters; i++) {
        if (writers[i].state == OPEN) open[n++] = i;
    }
    return n > 0 && rnd(4) != 0 ? open[rnd(n)] : rnd(nwriters);
}

// An existing file half the time (when there is one), else any path.
static void random_target(char *out) {
    if (nfiles > 0 && rnd(2) == 0) snprintf(out, PATH_SIZE, "%s", files[rnd(nfiles)].path);
    else random_path(out);
}

// Now and then the next 16 to 48 operations write 32 to 64 KiB each to one writer: enough to
// fill its growing buffer past 1 MiB.
static size_t run_left, run_writer;

static op_t random_op(void) {
    static const enum kind MIX[] = {PUT,   PUT,   DELETE, MOVE,   OPEN_WRITER, OPEN_WRITER,
                                    WRITE, WRITE, WRITE,  WRITE,  CLOSE,       COMMIT,
                                    COMMIT, CANCEL, DROP_WRITER, READ, READ,   LOOK, LOOK};
    op_t op = {
        .kind = MIX[rnd(sizeof MIX / sizeof *MIX)],
        .len = random_size(),
        .append = rnd(2) == 0,
        .look = (unsigned)rnd(4),
        .resume = (int)rnd(3) - 1,
        .limit = 1 + (uint32_t)rnd(8),
        .offset = random64(),
    };
    bool in_run = run_left > 0;
    if (in_run) {
        run_left--;
        op.kind = WRITE;
        op.len = ((size_t)32 << 10) + rnd((size_t)32 << 10);
    }
    if (on_writer(op.kind) && nwriters == 0) op.kind = OPEN_WRITER;
    if (op.kind == OPEN_WRITER && nwriters == MAX_WRITERS) op.kind = DROP_WRITER;
    if (op.kind == PUT || op.kind == DELETE) random_path(op.p);
    else random_target(op.p);
    if (op.kind == LOOK) parent(op.p, op.q);
    else random_path(op.q);
    if (op.kind == MOVE && !move_fits(op.p, op.q)) op.kind = DELETE;
    if (on_writer(op.kind)) {
        op.writer = in_run ? run_writer : pick_writer();
        snprintf(op.p, PATH_SIZE, "%s", writers[op.writer].path);
        if (op.kind == WRITE && !in_run && writers[op.writer].state == OPEN && rnd(64) == 0) {
            run_left = 16 + rnd(32);
            run_writer = op.writer;
        }
    }
    op.data = random_bytes(op.len);
    return op;
}

// Runs `op` with its first, second, … allocation failing, until an attempt reaches no
// failing allocation, or succeeds anyway (a success cannot be repeated). A failed attempt must
// have left the store as it was.
static void run(const op_t *op) {
    if (op->kind == DROP_WRITER) { // a destructor has no way to report a failure
        drop_writer(op->writer);
        return;
    }
    for (long k = 0;; k++) {
        begin_attempt(k);
        bool ok = apply(op);
        if (!end_attempt() || ok) return;
        check_path(op->p);
        if (op->kind == MOVE) check_path(op->q);
    }
}

// -----------------------------------------------------------------------------------------------
// What random operations do not reach.

static bool create(const char *key, const char *value, driver_t **d, werr_t *e) {
    exports_wharf_storage_driver_list_param_t params = {NULL, 0};
    if (key != NULL) {
        params.ptr = need(malloc(sizeof *params.ptr));
        params.len = 1;
        params.ptr[0].key = host_string(key);
        params.ptr[0].value = host_string(value);
    }
    exports_wharf_storage_driver_own_driver_t own = {0};
    if (!exports_wharf_storage_driver_static_driver_create(&params, &own, e)) return false;
    *d = handle_take(own.__handle);
    return true;
}

static void check_describe(void) {
    exports_wharf_storage_manifest_info_t info = {0};
    exports_wharf_storage_manifest_describe(&info);
    CHECK(same(&info.name, "c-inmemory") && same(&info.wit_version, "0.2.0") && info.stateful &&
              info.requested.len == 0,
          "describe: %.*s %.*s", (int)info.name.len, (const char *)info.name.ptr,
          (int)info.wit_version.len, (const char *)info.wit_version.ptr);
    storage_driver_string_free(&info.name);
    storage_driver_string_free(&info.wit_version);
}

// An unknown key is refused; `namespace` (in any case) gives drivers a store of their own,
// made with each allocation failing in turn first.
static void check_parameters(void) {
    driver_t *a, *b;
    werr_t e = {0};
    CHECK(!create("root", "/tmp", &a, &e) && e.tag == BACKEND, "create accepts a key `root`");
    free_error(&e);
    for (long k = 0;; k++) {
        begin_attempt(k);
        bool ok = create("namespace", "other", &a, &e);
        if (!end_attempt() || ok) {
            CHECK(ok, "create with a namespace failed with error %u", e.tag);
            break;
        }
        CHECK(e.tag == BACKEND, "create failed with error %u", e.tag);
        free_error(&e);
    }
    CHECK(create("NAMESPACE", "other", &b, &e), "create failed with error %u", e.tag);
    uint8_t byte = 1;
    str_t path = host_string("/n");
    bytes_t content = host_bytes(&byte, 1);
    CHECK(exports_wharf_storage_driver_method_driver_put_content(a, &path, &content, &e),
          "put-content in a namespace failed");
    file_info_t info = {0};
    path = host_string("/n");
    CHECK(exports_wharf_storage_driver_method_driver_stat(b, &path, &info, &e) && info.size == 1,
          "a driver of the same namespace does not see its file");
    storage_driver_string_free(&info.path);
    check_stat("/n"); // the driver of the default namespace does not
    path = host_string("/n");
    CHECK(exports_wharf_storage_driver_method_driver_delete(b, &path, &e), "delete failed");
    exports_wharf_storage_driver_driver_destructor(a);
    exports_wharf_storage_driver_driver_destructor(b);
}

// Paths the host would refuse (the driver checks again): `invalid-path`.
static void check_invalid_paths(void) {
    static const char *const INVALID[] = {"",     "a",     "/a/", "//a",  "/a//b",
                                          "/.",   "/a/..", "/..", "/a b", "/\xc3\xa9"};
    werr_t e = {0};
    for (size_t i = 0; i < sizeof INVALID / sizeof *INVALID; i++) {
        const char *p = INVALID[i];
        str_t path = host_string(p);
        file_info_t info = {0};
        CHECK(!exports_wharf_storage_driver_method_driver_stat(drv, &path, &info, &e) &&
                  e.tag == INVALID_PATH,
              "stat accepts `%s`", p);
        free_error(&e);
        path = host_string(p);
        bytes_t content = host_bytes("x", 1);
        CHECK(!exports_wharf_storage_driver_method_driver_put_content(drv, &path, &content, &e) &&
                  e.tag == INVALID_PATH,
              "put-content accepts `%s`", p);
        free_error(&e);
        str_t source = host_string("/a");
        path = host_string(p);
        CHECK(!exports_wharf_storage_driver_method_driver_move(drv, &source, &path, &e) &&
                  e.tag == INVALID_PATH,
              "move accepts `%s`", p);
        free_error(&e);
        path = host_string(p);
        exports_wharf_storage_driver_opened_writer_t o = {0};
        CHECK(!exports_wharf_storage_driver_method_driver_open_writer(drv, &path, false, &o, &e) &&
                  e.tag == INVALID_PATH,
              "open-writer accepts `%s`", p);
        free_error(&e);
    }
    str_t root = host_string("/");
    bytes_t content = host_bytes("x", 1);
    CHECK(!exports_wharf_storage_driver_method_driver_put_content(drv, &root, &content, &e) &&
              e.tag == INVALID_PATH,
          "put-content accepts /");
    free_error(&e);
}

// No redirect URLs, no streamed puts, no parts (the writers ask for none).
static void check_fixed_answers(void) {
    werr_t e = {0};
    str_t path = host_string("/a");
    storage_driver_option_string_t url = {.is_some = true};
    CHECK(exports_wharf_storage_driver_method_driver_redirect_url(
              drv, WHARF_STORAGE_TYPES_REDIRECT_METHOD_GET, &path, 60, &url, &e) &&
              !url.is_some,
          "redirect-url gives a URL");
    path = host_string("/a");
    exports_wharf_storage_driver_option_opened_put_t put = {.is_some = true};
    CHECK(exports_wharf_storage_driver_method_driver_begin_put(drv, &path, 1, &put, &e) &&
              !put.is_some,
          "begin-put gives a put");
    path = host_string("/a");
    exports_wharf_storage_driver_opened_writer_t o = {0};
    CHECK(exports_wharf_storage_driver_method_driver_open_writer(drv, &path, false, &o, &e),
          "open-writer failed");
    writer_t *w = handle_take(o.writer.__handle);
    exports_wharf_storage_driver_own_output_stream_t stream;
    CHECK(!exports_wharf_storage_driver_method_writer_begin_part(
              w, 1, EXPORTS_WHARF_STORAGE_DRIVER_PART_KIND_FULL, &stream, &e) &&
              e.tag == WHARF_STORAGE_TYPES_ERROR_UNSUPPORTED,
          "begin-part is supported");
    free_error(&e);
    CHECK(!exports_wharf_storage_driver_method_writer_end_part(w, 0, &e) &&
              e.tag == WHARF_STORAGE_TYPES_ERROR_UNSUPPORTED,
          "end-part is supported");
    free_error(&e);
    CHECK(exports_wharf_storage_driver_method_writer_cancel(w, &e), "cancel failed");
    exports_wharf_storage_driver_writer_destructor(w);
}

// Drops the writers, deletes everything and cancels what stays parked: the store is empty,
// and all that the driver still holds is its store's root.
static void finish(void) {
    while (nwriters > 0) drop_writer(nwriters - 1);
    while (nfiles > 0) {
        op_t op = {.kind = DELETE};
        snprintf(op.p, PATH_SIZE, "%s", files[0].path);
        char *slash = strchr(op.p + 1, '/');
        if (slash != NULL) *slash = '\0';
        CHECK(op_delete(&op), "delete %s failed", op.p);
    }
    while (nparked > 0) {
        str_t path = host_string(parked[0].path);
        exports_wharf_storage_driver_opened_writer_t o = {0};
        werr_t e = {0};
        CHECK(exports_wharf_storage_driver_method_driver_open_writer(drv, &path, false, &o, &e),
              "open-writer %s failed", parked[0].path);
        writer_t *w = handle_take(o.writer.__handle);
        CHECK(exports_wharf_storage_driver_method_writer_cancel(w, &e), "cancel failed");
        exports_wharf_storage_driver_writer_destructor(w);
        munpark_at(0);
    }
    check_store();
    exports_wharf_storage_driver_driver_destructor(drv);
}

static bool parse_number(const char *s, unsigned long long *n) {
    char *end;
    errno = 0;
    *n = strtoull(s, &end, 10);
    return s[0] >= '0' && s[0] <= '9' && *end == '\0' && errno == 0;
}

int main(int argc, char **argv) {
    unsigned long long ops;
    if (argc != 3 || !parse_number(argv[1], &seed) || !parse_number(argv[2], &ops) ||
        ops > LONG_MAX) {
        fprintf(stderr, "usage: %s SEED OPS (two numbers)\n", argv[0]);
        return 2;
    }
    rng = seed ^ 0x9e3779b97f4a7c15u;
    if (rng == 0) rng = 1;
    make_space();
    werr_t e = {0};
    CHECK(create(NULL, NULL, &drv, &e), "create failed");
    check_describe();
    check_parameters();
    check_invalid_paths();
    check_fixed_answers();
    for (op_number = 0; op_number < (long)ops; op_number++) {
        op_t op = random_op();
        run(&op);
        free(op.data);
        if (op_number % 25 == 24) check_store();
    }
    check_store();
    finish();
    __lsan_do_leak_check(); // exits with an error when something leaked
    printf("%llu operations, seed %llu, %ld allocation failures injected: ok\n", ops, seed,
           failures_injected);
    return 0;
}
