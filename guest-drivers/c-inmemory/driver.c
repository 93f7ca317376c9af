// Wharf's in-memory storage driver in C, as a WebAssembly component of the world
// `storage-driver` (wharf:storage@0.2.0, wit/storage.wit), bound with wit-bindgen's C generator.
//
// The whole namespace lives in the instance's linear memory. The driver is stateful (the host
// runs one instance and serialises calls into it), so an upload closed without commit is parked
// in the instance's store, and a later open-writer(path, true) through any driver resource with
// the same configuration resumes it.
//
// Parameters: `namespace` (optional; it only tells configurations apart: drivers created with
// the same value share a store) and nothing else.
//
// The host validates every path before a call reaches the guest (a path is `/`, or `/` followed
// by non-empty components of [A-Za-z0-9._-], and `/` only reaches stat, list and walk). The
// driver checks again, cheaply, so no input can make it misbehave.
//
// Ownership, as wit-bindgen's C bindings define it:
// - arguments of an export (strings, lists) belong to the export: it frees them, or keeps them
//   (put-content, and write for 64 KiB or more, keep the bytes as file content, uncopied);
// - what an export returns is freed with free() by the generated post-return function once the
//   host has copied it, so results and error strings are fresh malloc()ed memory, except from
//   get-content and reader.read, whose post-return functions this file replaces (see `lent`):
//   they lend the stored bytes instead of copying them;
// - a list or string of length 0 may carry a dummy pointer: never free one (the generated
//   *_free helpers, used here, check the length first).
//
// Allocation failure inside an operation returns a `backend` error and leaves the store as it
// was. (Allocation failure while the host lowers an argument into the guest traps in the
// generated cabi_realloc: the component model has no way to refuse an argument.)

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage_driver.h"

#define DRIVER_NAME "c-inmemory"
#define WIT_VERSION "0.2.0"

typedef storage_driver_string_t str_t;
typedef storage_driver_list_u8_t bytes_t;
typedef exports_wharf_storage_driver_error_t werr_t;
typedef wharf_storage_types_datetime_t datetime_t;
typedef exports_wharf_storage_driver_file_info_t file_info_t;

// -----------------------------------------------------------------------------------------------
// Messages are joined from spans rather than formatted with printf: wasi-libc's printf brings
// its stdio along, and with it imports of WASI files and standard streams.

typedef struct span {
    const void *p;
    size_t n;
} span_t;

// A string literal; bytes (a path, cut at 4 KiB: it is only for reading); a C string.
#define LIT(s) ((span_t){(s), sizeof(s) - 1})
#define BYTES(p, n) ((span_t){(p), (n) > 4096 ? 4096 : (n)})
#define CSTR(s) ((span_t){(s), strlen(s)})
#define SPANS(...) (span_t[]){__VA_ARGS__}, sizeof((span_t[]){__VA_ARGS__}) / sizeof(span_t)

// The spans joined into fresh memory; empty (length 0, nothing to free) when out of memory.
static str_t join(const span_t *spans, size_t count) {
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (spans[i].n > SIZE_MAX - n) return (str_t){NULL, 0};
        n += spans[i].n;
    }
    str_t s = {NULL, 0};
    if (n == 0 || (s.ptr = malloc(n)) == NULL) return s;
    for (size_t i = 0; i < count; i++) {
        memcpy(s.ptr + s.len, spans[i].p, spans[i].n);
        s.len += spans[i].n;
    }
    return s;
}

// Logging, through the host-log import (an import borrows its arguments). Lines are cut at
// 512 bytes and need no allocation.
static void log_spans(wharf_storage_host_log_level_t level, const span_t *spans, size_t count) {
    static const char prefix[] = DRIVER_NAME ": ";
    uint8_t buf[512];
    size_t len = sizeof prefix - 1;
    memcpy(buf, prefix, len);
    for (size_t i = 0; i < count && len < sizeof buf; i++) {
        size_t take = spans[i].n < sizeof buf - len ? spans[i].n : sizeof buf - len;
        memcpy(buf + len, spans[i].p, take);
        len += take;
    }
    str_t message = {buf, len};
    wharf_storage_host_log_log(level, &message);
}

#define LOG(level, ...) log_spans(WHARF_STORAGE_HOST_LOG_LEVEL_##level, SPANS(__VA_ARGS__))

// -----------------------------------------------------------------------------------------------
// Errors. Every error string is fresh memory (the post-return frees it); when even that
// allocation fails, the string is empty (length 0, never freed).

static str_t text_copy(const void *p, size_t n) {
    str_t s = {NULL, 0};
    if (n == 0) return s;
    s.ptr = malloc(n);
    if (s.ptr == NULL) return s;
    memcpy(s.ptr, p, n);
    s.len = n;
    return s;
}

static bool fail_not_found(werr_t *err, const uint8_t *path, size_t len) {
    err->tag = WHARF_STORAGE_TYPES_ERROR_PATH_NOT_FOUND;
    err->val.path_not_found = text_copy(path, len);
    return false;
}

static bool fail_invalid_path(werr_t *err, const str_t *path) {
    err->tag = WHARF_STORAGE_TYPES_ERROR_INVALID_PATH;
    err->val.invalid_path = text_copy(path->ptr, path->len);
    return false;
}

static bool fail_unsupported(werr_t *err, const char *operation) {
    err->tag = WHARF_STORAGE_TYPES_ERROR_UNSUPPORTED;
    err->val.unsupported = text_copy(operation, strlen(operation));
    return false;
}

static bool fail_backend_spans(werr_t *err, const span_t *spans, size_t count) {
    err->tag = WHARF_STORAGE_TYPES_ERROR_BACKEND;
    err->val.backend.message = join(spans, count);
    err->val.backend.temporary = false;
    return false;
}

// A `backend` error whose message joins the spans given.
#define FAIL_BACKEND(err, ...) fail_backend_spans((err), SPANS(__VA_ARGS__))

static bool fail_oom(werr_t *err, const char *operation, const str_t *path) {
    LOG(WARN, CSTR(operation), LIT(" "), BYTES(path->ptr, path->len), LIT(": out of memory"));
    return FAIL_BACKEND(err, CSTR(operation), LIT(" "), BYTES(path->ptr, path->len),
                        LIT(": out of memory"));
}

// The string an error carries (NULL for none), for the post-return functions this file owns.
static void *error_text(const werr_t *err) {
    const str_t *s = NULL;
    switch (err->tag) {
    case WHARF_STORAGE_TYPES_ERROR_PATH_NOT_FOUND: s = &err->val.path_not_found; break;
    case WHARF_STORAGE_TYPES_ERROR_INVALID_PATH: s = &err->val.invalid_path; break;
    case WHARF_STORAGE_TYPES_ERROR_INVALID_OFFSET: s = &err->val.invalid_offset.path; break;
    case WHARF_STORAGE_TYPES_ERROR_UNSUPPORTED: s = &err->val.unsupported; break;
    case WHARF_STORAGE_TYPES_ERROR_PERMISSION_DENIED: s = &err->val.permission_denied; break;
    case WHARF_STORAGE_TYPES_ERROR_TIMEOUT: s = &err->val.timeout; break;
    case WHARF_STORAGE_TYPES_ERROR_BACKEND: s = &err->val.backend.message; break;
    default: return NULL;
    }
    return s->len > 0 ? s->ptr : NULL;
}

// -----------------------------------------------------------------------------------------------
// Growable arrays.

// Makes room for `need` elements of `size` bytes in *array (capacity *cap); false when out of
// memory (the array is then unchanged).
static bool reserve(void **array, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return true;
    size_t grown = *cap < 4 ? 4 : *cap;
    while (grown < need) {
        if (grown > SIZE_MAX / 2) {
            grown = need;
            break;
        }
        grown *= 2;
    }
    if (grown > SIZE_MAX / size) return false;
    void *p = realloc(*array, grown * size);
    if (p == NULL) return false;
    *array = p;
    *cap = grown;
    return true;
}

// -----------------------------------------------------------------------------------------------
// Paths (already validated by the host; checked again here).

static bool is_root(const uint8_t *p, size_t n) { return n == 1 && p[0] == '/'; }

static bool component_char(uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

// CONTRACT §1: `^(/[A-Za-z0-9._-]+)+$` without `.` or `..` components; `/` when allow_root.
static bool path_valid(const str_t *path, bool allow_root) {
    const uint8_t *p = path->ptr;
    size_t n = path->len;
    if (n == 0 || p[0] != '/') return false;
    if (n == 1) return allow_root;
    size_t i = 0;
    while (i < n) {
        size_t start = ++i; // past the '/'
        while (i < n && p[i] != '/') {
            if (!component_char(p[i])) return false;
            i++;
        }
        size_t len = i - start;
        if (len == 0) return false;
        if (p[start] == '.' && (len == 1 || (len == 2 && p[start + 1] == '.'))) return false;
    }
    return true;
}

// Iterates over the components of a valid path: *pos starts at 0.
static bool next_component(const uint8_t *p, size_t n, size_t *pos, const uint8_t **name,
                           size_t *len) {
    size_t i = *pos;
    while (i < n && p[i] == '/') i++;
    if (i >= n) return false;
    size_t start = i;
    while (i < n && p[i] != '/') i++;
    *name = p + start;
    *len = i - start;
    *pos = i;
    return true;
}

// The length of the parent's path (`/a/b` → 2, `/a` → 0, meaning the root).
static size_t parent_len(const uint8_t *p, size_t n) {
    while (n > 0 && p[n - 1] != '/') n--;
    return n > 0 ? n - 1 : 0;
}

// Byte order of two names: memcmp, then the shorter first.
static int name_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0) return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

// The contract's walk order: component-wise byte order (`/a/c` before `/a-b`, although as whole
// strings `/a-b` < `/a/c`, since '-' and '.' sort below '/'). Comparing with '/' taken as the
// lowest byte is exactly component-wise order.
static int walk_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    size_t n = an < bn ? an : bn;
    for (size_t i = 0; i < n; i++) {
        unsigned x = a[i] == '/' ? 0u : a[i];
        unsigned y = b[i] == '/' ? 0u : b[i];
        if (x != y) return x < y ? -1 : 1;
    }
    return an < bn ? -1 : an > bn ? 1 : 0;
}

// True when `anc` is a strict component-prefix of `path` (`/a` of `/a/b`, not of `/ab`).
static bool is_ancestor(const uint8_t *anc, size_t an, const uint8_t *path, size_t pn) {
    if (is_root(anc, an)) return !is_root(path, pn);
    return pn > an && memcmp(anc, path, an) == 0 && path[an] == '/';
}

static bool same_path(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    return an == bn && memcmp(a, b, an) == 0;
}

// -----------------------------------------------------------------------------------------------
// Content: immutable once made. A file's content is the chunks it was written in, so appending
// and committing never copy earlier bytes, and a reader keeps the content it opened (a later
// put or commit replaces the file's content, never changes it). Chunks and contents are
// reference-counted: an upload that continues a committed file shares its chunks.

typedef struct chunk {
    size_t refs;
    size_t len;
    uint8_t *data; // malloc()ed; freed with the last reference
} chunk_t;

typedef struct piece {
    chunk_t *chunk;
    uint64_t start; // offset of the chunk's first byte in the content
} piece_t;

typedef struct content {
    size_t refs;
    uint64_t len;
    size_t count; // pieces
    piece_t *pieces;
} content_t;

// Writes shorter than this are copied onto a growing buffer instead of kept as their own chunk.
#define COALESCE_BELOW ((size_t)64 << 10)
// The growing buffer is sealed as a chunk once it reaches this size.
#define CHUNK_SIZE ((size_t)1 << 20)

static chunk_t *chunk_new(uint8_t *data, size_t len) {
    chunk_t *c = malloc(sizeof *c);
    if (c == NULL) return NULL;
    c->refs = 1;
    c->len = len;
    c->data = data;
    return c;
}

static void chunk_unref(chunk_t *c) {
    if (c != NULL && --c->refs == 0) {
        free(c->data);
        free(c);
    }
}

// Content made of `count` chunks (each gains a reference); NULL when out of memory.
static content_t *content_new(chunk_t *const *chunks, size_t count) {
    content_t *c = malloc(sizeof *c);
    if (c == NULL) return NULL;
    c->refs = 1;
    c->len = 0;
    c->count = count;
    c->pieces = NULL;
    if (count > 0) {
        if (count > SIZE_MAX / sizeof(piece_t)) {
            free(c);
            return NULL;
        }
        c->pieces = malloc(count * sizeof(piece_t));
        if (c->pieces == NULL) {
            free(c);
            return NULL;
        }
    }
    for (size_t i = 0; i < count; i++) {
        chunks[i]->refs++;
        c->pieces[i].chunk = chunks[i];
        c->pieces[i].start = c->len;
        c->len += chunks[i]->len;
    }
    return c;
}

static content_t *content_ref(content_t *c) {
    c->refs++;
    return c;
}

static void content_unref(content_t *c) {
    if (c == NULL || --c->refs > 0) return;
    for (size_t i = 0; i < c->count; i++) chunk_unref(c->pieces[i].chunk);
    free(c->pieces);
    free(c);
}

// Joins the chunks into one (same bytes, so readers sharing this content are unaffected): the
// next get-content finds them joined. False when out of memory (nothing changed).
static bool content_join(content_t *c) {
    if (c->count <= 1) return true;
    if (c->len > SIZE_MAX) return false;
    uint8_t *data = malloc((size_t)c->len);
    if (data == NULL) return false;
    chunk_t *joined = chunk_new(data, (size_t)c->len);
    if (joined == NULL) {
        free(data);
        return false;
    }
    for (size_t i = 0; i < c->count; i++) {
        memcpy(data + c->pieces[i].start, c->pieces[i].chunk->data, c->pieces[i].chunk->len);
        chunk_unref(c->pieces[i].chunk);
    }
    c->pieces[0] = (piece_t){joined, 0};
    c->count = 1;
    return true;
}

// The piece holding `offset` (< len): the last one starting at or before it.
static size_t content_piece_at(const content_t *c, uint64_t offset) {
    size_t lo = 0, hi = c->count - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (c->pieces[mid].start <= offset) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

// -----------------------------------------------------------------------------------------------
// Uploads: sealed chunks plus a growing buffer for small writes (its capacity doubles up to
// CHUNK_SIZE), so many small writes cost amortised linear time and few chunks. Shared by the
// writers that have it open and the store's parked uploads, so reference-counted.

typedef struct upload {
    size_t refs;
    uint64_t len; // every byte accepted, buffered ones included
    chunk_t **chunks;
    size_t count, cap;
    uint8_t *buf;
    size_t buf_len, buf_cap;
} upload_t;

static upload_t *upload_new(void) {
    upload_t *u = calloc(1, sizeof *u);
    if (u != NULL) u->refs = 1;
    return u;
}

// An upload that continues committed content (its chunks are shared, never changed).
static upload_t *upload_from(const content_t *c) {
    upload_t *u = upload_new();
    if (u == NULL) return NULL;
    if (!reserve((void **)&u->chunks, &u->cap, c->count, sizeof(chunk_t *))) {
        free(u);
        return NULL;
    }
    for (size_t i = 0; i < c->count; i++) {
        c->pieces[i].chunk->refs++;
        u->chunks[i] = c->pieces[i].chunk;
    }
    u->count = c->count;
    u->len = c->len;
    return u;
}

// Forgets every byte (cancel).
static void upload_clear(upload_t *u) {
    for (size_t i = 0; i < u->count; i++) chunk_unref(u->chunks[i]);
    u->count = 0;
    free(u->buf);
    u->buf = NULL;
    u->buf_len = u->buf_cap = 0;
    u->len = 0;
}

static void upload_unref(upload_t *u) {
    if (u == NULL || --u->refs > 0) return;
    upload_clear(u);
    free(u->chunks);
    free(u);
}

// Moves the growing buffer into the chunks (trimmed when mostly empty). False when out of
// memory (nothing changed).
static bool upload_seal(upload_t *u) {
    if (u->buf == NULL) return true;
    if (u->buf_len == 0) {
        free(u->buf);
        u->buf = NULL;
        u->buf_cap = 0;
        return true;
    }
    if (!reserve((void **)&u->chunks, &u->cap, u->count + 1, sizeof(chunk_t *))) return false;
    chunk_t *c = chunk_new(u->buf, u->buf_len);
    if (c == NULL) return false;
    if (u->buf_len * 2 < u->buf_cap) {
        uint8_t *trimmed = realloc(u->buf, u->buf_len);
        if (trimmed != NULL) c->data = trimmed; // else keep the larger buffer
    }
    u->chunks[u->count++] = c;
    u->buf = NULL;
    u->buf_len = u->buf_cap = 0;
    return true;
}

// Appends `n` bytes the bindings handed over. True: the bytes are taken (kept as a chunk or
// copied and freed). False when out of memory: nothing changed and the caller still owns them.
static bool upload_push(upload_t *u, uint8_t *data, size_t n) {
    if (n == 0) return true;
    if (n >= COALESCE_BELOW) {
        if (!upload_seal(u)) return false;
        if (!reserve((void **)&u->chunks, &u->cap, u->count + 1, sizeof(chunk_t *))) return false;
        chunk_t *c = chunk_new(data, n);
        if (c == NULL) return false;
        u->chunks[u->count++] = c;
        u->len += n;
        return true;
    }
    if (u->buf != NULL && u->buf_len + n > u->buf_cap) {
        if (u->buf_len + n > CHUNK_SIZE) {
            if (!upload_seal(u)) return false; // full: a new buffer takes this write
        } else {
            size_t cap = u->buf_cap;
            while (cap < u->buf_len + n) cap *= 2;
            if (cap > CHUNK_SIZE) cap = CHUNK_SIZE;
            uint8_t *grown = realloc(u->buf, cap);
            if (grown == NULL) return false;
            u->buf = grown;
            u->buf_cap = cap;
        }
    }
    if (u->buf == NULL) {
        size_t cap = n < 4096 ? 4096 : n;
        u->buf = malloc(cap);
        if (u->buf == NULL) return false;
        u->buf_cap = cap;
        u->buf_len = 0;
    }
    memcpy(u->buf + u->buf_len, data, n);
    u->buf_len += n;
    u->len += n;
    free(data);
    return true;
}

// The content so far, immutable (later pushes go to new buffers); NULL when out of memory.
static content_t *upload_freeze(upload_t *u) {
    if (!upload_seal(u)) return NULL;
    return content_new(u->chunks, u->count);
}

// -----------------------------------------------------------------------------------------------
// The tree: directories exist only as component-prefixes of files, so a directory left empty is
// removed at once (the root stays). Children are kept sorted by name in byte order, which is
// the order of list and of walk. Every operation is a loop, never a recursion, so a deep path
// cannot exhaust the stack.

typedef struct node node_t;
struct node {
    node_t *parent; // NULL for the root
    uint8_t *name;  // NULL (length 0) for the root
    size_t name_len;
    bool is_dir;
    // a file
    content_t *content;
    datetime_t mod_time;
    // a directory
    node_t **kids;
    size_t nkids, capkids;
};

static const datetime_t EPOCH = {0, 0};

static datetime_t now(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0) return EPOCH;
    return (datetime_t){(uint64_t)ts.tv_sec, (uint32_t)ts.tv_nsec};
}

// The index of the child named `name` in `dir` (true), or where it would go (false).
static bool dir_find(const node_t *dir, const uint8_t *name, size_t len, size_t *index) {
    size_t lo = 0, hi = dir->nkids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const node_t *k = dir->kids[mid];
        int c = name_cmp(k->name, k->name_len, name, len);
        if (c == 0) {
            *index = mid;
            return true;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *index = lo;
    return false;
}

static node_t *dir_child(const node_t *dir, const uint8_t *name, size_t len) {
    size_t i;
    return dir_find(dir, name, len, &i) ? dir->kids[i] : NULL;
}

// Inserts at `index`; the caller reserved room.
static void dir_insert(node_t *dir, size_t index, node_t *kid) {
    memmove(dir->kids + index + 1, dir->kids + index, (dir->nkids - index) * sizeof(node_t *));
    dir->kids[index] = kid;
    dir->nkids++;
    kid->parent = dir;
}

static void dir_remove_at(node_t *dir, size_t index) {
    memmove(dir->kids + index, dir->kids + index + 1,
            (dir->nkids - index - 1) * sizeof(node_t *));
    dir->nkids--;
}

// Takes a node out of its parent (not freed).
static void node_detach(node_t *n) {
    node_t *dir = n->parent;
    size_t i;
    if (dir != NULL && dir_find(dir, n->name, n->name_len, &i) && dir->kids[i] == n) {
        dir_remove_at(dir, i);
    }
    n->parent = NULL;
}

// A new node named `name` (a copy); NULL when out of memory.
static node_t *node_new(const uint8_t *name, size_t len, bool is_dir) {
    node_t *n = calloc(1, sizeof *n);
    if (n == NULL) return NULL;
    n->name = malloc(len > 0 ? len : 1);
    if (n->name == NULL) {
        free(n);
        return NULL;
    }
    memcpy(n->name, name, len);
    n->name_len = len;
    n->is_dir = is_dir;
    return n;
}

// Frees a detached node and everything under it, without recursion: descends to a leaf, frees
// it, and climbs back through the parent pointers.
static void node_free(node_t *top) {
    if (top == NULL) return;
    node_t *n = top;
    for (;;) {
        if (n->is_dir && n->nkids > 0) {
            n = n->kids[--n->nkids];
            continue;
        }
        node_t *up = n == top ? NULL : n->parent;
        content_unref(n->content);
        free(n->kids);
        free(n->name);
        free(n);
        if (up == NULL) return;
        n = up;
    }
}

// -----------------------------------------------------------------------------------------------
// The store: the tree and the parked uploads, by path.

typedef struct parked {
    uint8_t *path;
    size_t len;
    upload_t *upload;
} parked_t;

typedef struct store store_t;
struct store {
    store_t *next;
    bool has_namespace;
    uint8_t *namespace;
    size_t namespace_len;
    node_t *root;
    parked_t *parked;
    size_t nparked, capparked;
};

// Stores by namespace: drivers created with the same configuration share one. Never freed.
static store_t *stores;

// The node at a path (the root for `/`), or NULL. Walks components, never prefixes.
static node_t *lookup(const store_t *s, const uint8_t *p, size_t n) {
    node_t *node = s->root;
    size_t pos = 0;
    const uint8_t *name;
    size_t len;
    while (next_component(p, n, &pos, &name, &len)) {
        if (!node->is_dir) return NULL;
        node = dir_child(node, name, len);
        if (node == NULL) return NULL;
    }
    return node;
}

static node_t *lookup_file(const store_t *s, const uint8_t *p, size_t n) {
    node_t *node = lookup(s, p, n);
    return node != NULL && !node->is_dir ? node : NULL;
}

// The length of the path of the first ancestor of `p` that is a file, or 0 when none is.
static size_t file_ancestor(const store_t *s, const uint8_t *p, size_t n) {
    node_t *node = s->root;
    size_t pos = 0;
    const uint8_t *name;
    size_t len;
    while (next_component(p, n, &pos, &name, &len)) {
        if (pos >= n) return 0; // the last component is `p` itself
        node = dir_child(node, name, len);
        if (node == NULL) return 0;
        if (!node->is_dir) return pos;
    }
    return 0;
}

// Removes empty directories from the deepest existing one along `p` upwards (not the root).
static void prune(store_t *s, const uint8_t *p, size_t n) {
    node_t *dir = s->root;
    size_t pos = 0;
    const uint8_t *name;
    size_t len;
    while (next_component(p, n, &pos, &name, &len)) {
        node_t *next = dir_child(dir, name, len);
        if (next == NULL || !next->is_dir) break;
        dir = next;
    }
    while (dir != s->root && dir->nkids == 0) {
        node_t *up = dir->parent;
        node_detach(dir);
        node_free(dir);
        dir = up;
    }
}

// The directory at `p` (a directory path, "" or "/" for the root), creating missing ones;
// callers checked that no file is in the way. NULL when out of memory: the caller prunes.
static node_t *make_dirs(store_t *s, const uint8_t *p, size_t n) {
    node_t *dir = s->root;
    size_t pos = 0;
    const uint8_t *name;
    size_t len;
    while (next_component(p, n, &pos, &name, &len)) {
        size_t i;
        if (dir_find(dir, name, len, &i)) {
            dir = dir->kids[i];
            if (!dir->is_dir) return NULL; // excluded by the callers' checks
            continue;
        }
        if (!reserve((void **)&dir->kids, &dir->capkids, dir->nkids + 1, sizeof(node_t *)))
            return NULL;
        node_t *kid = node_new(name, len, true);
        if (kid == NULL) return NULL;
        dir_insert(dir, i, kid);
        dir = kid;
    }
    return dir;
}

// Makes `c` the file at path `p` in one step, creating parents. Takes the caller's reference
// to `c` on success only. On failure nothing changed.
static bool commit_file(store_t *s, const str_t *path, content_t *c, werr_t *err) {
    const uint8_t *p = path->ptr;
    size_t n = path->len;
    node_t *node = lookup(s, p, n);
    if (node != NULL && node->is_dir) {
        return FAIL_BACKEND(err, LIT("cannot write "), BYTES(p, n), LIT(": it is a directory"));
    }
    size_t blocking = file_ancestor(s, p, n);
    if (blocking > 0) {
        return FAIL_BACKEND(err, LIT("cannot write "), BYTES(p, n), LIT(": "),
                            BYTES(p, blocking), LIT(" is a file"));
    }
    if (node != NULL) { // replace a file's content: one assignment
        content_unref(node->content);
        node->content = c;
        node->mod_time = now();
        return true;
    }
    size_t dir_len = parent_len(p, n);
    node_t *dir = make_dirs(s, p, dir_len);
    node_t *file = NULL;
    size_t i = 0;
    if (dir != NULL &&
        reserve((void **)&dir->kids, &dir->capkids, dir->nkids + 1, sizeof(node_t *))) {
        file = node_new(p + dir_len + 1, n - dir_len - 1, false);
    }
    if (file == NULL) {
        prune(s, p, dir_len);
        return fail_oom(err, "write", path);
    }
    file->content = c;
    file->mod_time = now();
    dir_find(dir, file->name, file->name_len, &i);
    dir_insert(dir, i, file);
    return true;
}

static ptrdiff_t parked_find(const store_t *s, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < s->nparked; i++) {
        if (same_path(s->parked[i].path, s->parked[i].len, p, n)) return (ptrdiff_t)i;
    }
    return -1;
}

// Parks `u` at path `p` (gaining a reference), replacing what was parked there. False when out
// of memory (nothing changed).
static bool parked_set(store_t *s, const uint8_t *p, size_t n, upload_t *u) {
    ptrdiff_t i = parked_find(s, p, n);
    if (i >= 0) {
        u->refs++;
        upload_unref(s->parked[i].upload);
        s->parked[i].upload = u;
        return true;
    }
    if (!reserve((void **)&s->parked, &s->capparked, s->nparked + 1, sizeof(parked_t)))
        return false;
    uint8_t *copy = malloc(n > 0 ? n : 1);
    if (copy == NULL) return false;
    memcpy(copy, p, n);
    u->refs++;
    s->parked[s->nparked++] = (parked_t){copy, n, u};
    return true;
}

static void parked_remove_at(store_t *s, size_t i) {
    free(s->parked[i].path);
    upload_unref(s->parked[i].upload);
    s->parked[i] = s->parked[--s->nparked];
}

static store_t *store_named(bool has_namespace, const uint8_t *ns, size_t len) {
    for (store_t *s = stores; s != NULL; s = s->next) {
        if (s->has_namespace == has_namespace &&
            (!has_namespace || same_path(s->namespace, s->namespace_len, ns, len))) {
            return s;
        }
    }
    store_t *s = calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    s->root = node_new((const uint8_t *)"", 0, true);
    if (s->root == NULL) {
        free(s);
        return NULL;
    }
    if (has_namespace) {
        s->namespace = malloc(len > 0 ? len : 1);
        if (s->namespace == NULL) {
            node_free(s->root);
            free(s);
            return NULL;
        }
        memcpy(s->namespace, ns, len);
        s->namespace_len = len;
        s->has_namespace = true;
    }
    s->next = stores;
    stores = s;
    return s;
}

// -----------------------------------------------------------------------------------------------
// Lending: get-content and reader.read return bytes that stay in the store (or a buffer made
// for the answer), and their post-return functions, replaced below, release them. The generated
// post-return would free() the returned pointer; it is declared weak so it can be replaced.

static struct {
    content_t *content; // a reference held until the post-return
    void *buffer;       // freed by the post-return
    void *error_text;   // an error's string, freed by the post-return
} lent;

static void lent_release(void) {
    content_unref(lent.content);
    free(lent.buffer);
    free(lent.error_text);
    lent.content = NULL;
    lent.buffer = NULL;
    lent.error_text = NULL;
}

__attribute__((__export_name__("cabi_post_wharf:storage/driver@0.2.0#[method]driver.get-content")))
void __wasm_export_exports_wharf_storage_driver_method_driver_get_content_post_return(
    uint8_t *ret_area) {
    (void)ret_area;
    lent_release();
}

__attribute__((__export_name__("cabi_post_wharf:storage/driver@0.2.0#[method]reader.read")))
void __wasm_export_exports_wharf_storage_driver_method_reader_read_post_return(
    uint8_t *ret_area) {
    (void)ret_area;
    lent_release();
}

static uint8_t no_bytes[1];

// -----------------------------------------------------------------------------------------------
// The exported resources.

struct exports_wharf_storage_driver_driver_t {
    store_t *store;
};

struct exports_wharf_storage_driver_reader_t {
    content_t *content; // the content opened, kept whatever happens to the file
    uint64_t position;
};

enum writer_state { OPEN, CLOSED, COMMITTED, CANCELLED };

static const char *const STATE_NAMES[] = {"open", "closed", "committed", "cancelled"};

struct exports_wharf_storage_driver_writer_t {
    store_t *store;
    uint8_t *path;
    size_t path_len;
    upload_t *upload; // shared with the store's parked uploads
    enum writer_state state;
    uint64_t accepted;
};

// Never made: begin-put answers none, so contents come through put-content.
struct exports_wharf_storage_driver_put_t {
    int unused;
};

// --- manifest

void exports_wharf_storage_manifest_describe(exports_wharf_storage_manifest_info_t *ret) {
    // No error channel here: the generated string helpers trap if this first, tiny allocation
    // fails.
    storage_driver_string_dup(&ret->name, DRIVER_NAME);
    storage_driver_string_dup(&ret->wit_version, WIT_VERSION);
    ret->stateful = true;
    ret->requested = (exports_wharf_storage_manifest_list_capability_t){NULL, 0};
}

// --- driver

static bool key_is(const str_t *key, const char *want) {
    size_t n = strlen(want);
    if (key->len != n) return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = key->ptr[i];
        if (c >= 'A' && c <= 'Z') c = (uint8_t)(c - 'A' + 'a');
        if (c != (uint8_t)want[i]) return false;
    }
    return true;
}

bool exports_wharf_storage_driver_static_driver_create(
    exports_wharf_storage_driver_list_param_t *params,
    exports_wharf_storage_driver_own_driver_t *ret, werr_t *err) {
    bool ok = true;
    const str_t *ns = NULL; // the last one wins
    for (size_t i = 0; i < params->len; i++) {
        const exports_wharf_storage_driver_param_t *param = &params->ptr[i];
        if (key_is(&param->key, "namespace")) {
            ns = &param->value;
        } else {
            ok = FAIL_BACKEND(err, LIT("unknown parameter "),
                              BYTES(param->key.ptr, param->key.len),
                              LIT(" (accepted: namespace)"));
            break;
        }
    }
    exports_wharf_storage_driver_driver_t *d = NULL;
    if (ok) {
        store_t *s = store_named(ns != NULL, ns != NULL ? ns->ptr : NULL, ns != NULL ? ns->len : 0);
        d = s != NULL ? malloc(sizeof *d) : NULL;
        if (d == NULL) {
            ok = FAIL_BACKEND(err, LIT("create: out of memory"));
        } else {
            d->store = s;
            if (ns != NULL) {
                LOG(DEBUG, LIT("driver created (namespace \""), BYTES(ns->ptr, ns->len),
                    LIT("\")"));
            } else {
                LOG(DEBUG, LIT("driver created (default namespace)"));
            }
        }
    }
    exports_wharf_storage_driver_list_param_free(params);
    if (ok) *ret = exports_wharf_storage_driver_driver_new(d);
    return ok;
}

void exports_wharf_storage_driver_driver_destructor(exports_wharf_storage_driver_driver_t *d) {
    free(d); // the store stays, for the next driver of the same configuration
}

static bool get_content(store_t *s, const str_t *path, bytes_t *ret, werr_t *err) {
    if (!path_valid(path, false)) return fail_invalid_path(err, path);
    node_t *file = lookup_file(s, path->ptr, path->len);
    if (file == NULL) return fail_not_found(err, path->ptr, path->len);
    content_t *c = file->content;
    if (!content_join(c)) return fail_oom(err, "get-content", path);
    ret->ptr = c->count > 0 ? c->pieces[0].chunk->data : no_bytes;
    ret->len = (size_t)c->len;
    lent.content = content_ref(c); // the bytes stay in the store; nothing to free
    return true;
}

bool exports_wharf_storage_driver_method_driver_get_content(
    exports_wharf_storage_driver_borrow_driver_t self, str_t *path,
    exports_wharf_storage_driver_content_t *ret, werr_t *err) {
    lent_release(); // (already released by the last post-return)
    ret->tag = EXPORTS_WHARF_STORAGE_DRIVER_CONTENT_BYTES;
    bool ok = get_content(self->store, path, &ret->val.bytes, err);
    if (!ok) lent.error_text = error_text(err);
    storage_driver_string_free(path);
    return ok;
}

bool exports_wharf_storage_driver_method_driver_put_content(
    exports_wharf_storage_driver_borrow_driver_t self, str_t *path, bytes_t *content,
    werr_t *err) {
    bool ok;
    content_t *c = NULL;
    if (!path_valid(path, false)) {
        ok = fail_invalid_path(err, path);
    } else if (content->len == 0) {
        c = content_new(NULL, 0);
        ok = c != NULL || fail_oom(err, "put-content", path);
    } else {
        // The argument is the bindings' fresh copy: kept as it is, no second copy.
        chunk_t *chunk = chunk_new(content->ptr, content->len);
        if (chunk != NULL) {
            content->len = 0; // now the chunk's
            c = content_new(&chunk, 1);
            chunk_unref(chunk); // the content holds it (or, without one, this frees it)
        }
        ok = c != NULL || fail_oom(err, "put-content", path);
    }
    if (ok) {
        ok = commit_file(self->store, path, c, err);
        if (!ok) content_unref(c);
    }
    storage_driver_list_u8_free(content);
    storage_driver_string_free(path);
    return ok;
}

bool exports_wharf_storage_driver_method_driver_begin_put(
    exports_wharf_storage_driver_borrow_driver_t self, str_t *path, uint64_t length,
    exports_wharf_storage_driver_option_opened_put_t *ret, werr_t *err) {
    (void)self;
    (void)length;
    (void)err;
    ret->is_some = false; // contents come through put-content
    storage_driver_string_free(path);
    return true;
}

bool exports_wharf_storage_driver_method_put_finish(exports_wharf_storage_driver_borrow_put_t self,
                                                    uint64_t written, werr_t *err) {
    (void)self;
    (void)written;
    return fail_unsupported(err, "put.finish");
}

void exports_wharf_storage_driver_put_destructor(exports_wharf_storage_driver_put_t *p) {
    free(p);
}

static bool open_reader(store_t *s, const str_t *path, uint64_t offset,
                        exports_wharf_storage_driver_opened_reader_t *ret, werr_t *err) {
    if (!path_valid(path, false)) return fail_invalid_path(err, path);
    node_t *file = lookup_file(s, path->ptr, path->len);
    if (file == NULL) return fail_not_found(err, path->ptr, path->len);
    if (offset > file->content->len) {
        err->tag = WHARF_STORAGE_TYPES_ERROR_INVALID_OFFSET;
        err->val.invalid_offset.path = text_copy(path->ptr, path->len);
        err->val.invalid_offset.offset = offset;
        return false;
    }
    exports_wharf_storage_driver_reader_t *r = malloc(sizeof *r);
    if (r == NULL) return fail_oom(err, "open-reader", path);
    // The reader keeps the content it opened: a later put or commit replaces the file's
    // content, never changes it.
    r->content = content_ref(file->content);
    r->position = offset;
    ret->reader = exports_wharf_storage_driver_reader_new(r);
    ret->stream.is_some = false; // the host calls read
    return true;
}

bool exports_wharf_storage_driver_method_driver_open_reader(
    exports_wharf_storage_driver_borrow_driver_t self, str_t *path, uint64_t offset,
    exports_wharf_storage_driver_opened_reader_t *ret, werr_t *err) {
    bool ok = open_reader(self->store, path, offset, ret, err);
    storage_driver_string_free(path);
    return ok;
}

bool exports_wharf_storage_driver_method_reader_read(exports_wharf_storage_driver_borrow_reader_t self,
                                                     uint32_t max, bytes_t *ret, werr_t *err) {
    lent_release(); // (already released by the last post-return)
    content_t *c = self->content;
    uint64_t left = c->len - self->position;
    size_t n = left < max ? (size_t)left : (size_t)max;
    ret->ptr = no_bytes;
    ret->len = 0;
    if (n == 0) return true; // the end (or a request for nothing)
    size_t i = content_piece_at(c, self->position);
    const chunk_t *first = c->pieces[i].chunk;
    size_t within = (size_t)(self->position - c->pieces[i].start);
    if (first->len - within >= n) {
        ret->ptr = first->data + within; // lent: one chunk holds the bytes
        lent.content = content_ref(c);
    } else {
        uint8_t *out = malloc(n);
        if (out == NULL) {
            LOG(WARN, LIT("read: out of memory"));
            FAIL_BACKEND(err, LIT("read: out of memory"));
            lent.error_text = error_text(err);
            return false;
        }
        size_t filled = 0;
        while (filled < n && i < c->count) {
            const chunk_t *chunk = c->pieces[i++].chunk;
            size_t take = chunk->len - within;
            if (take > n - filled) take = n - filled;
            memcpy(out + filled, chunk->data + within, take);
            filled += take;
            within = 0;
        }
        ret->ptr = out;
        lent.buffer = out;
    }
    ret->len = n;
    self->position += n;
    return true;
}

void exports_wharf_storage_driver_reader_destructor(exports_wharf_storage_driver_reader_t *r) {
    content_unref(r->content);
    free(r);
}

static bool open_writer(store_t *s, const str_t *path, bool append,
                        exports_wharf_storage_driver_opened_writer_t *ret, werr_t *err) {
    if (!path_valid(path, false)) return fail_invalid_path(err, path);
    upload_t *u = NULL;
    if (append) {
        // Resume the parked upload, else continue the committed file (its content stays intact
        // until commit), else there is nothing to resume.
        ptrdiff_t i = parked_find(s, path->ptr, path->len);
        if (i >= 0) {
            u = s->parked[i].upload;
            u->refs++;
        } else {
            node_t *file = lookup_file(s, path->ptr, path->len);
            if (file == NULL) return fail_not_found(err, path->ptr, path->len);
            u = upload_from(file->content);
        }
    } else {
        u = upload_new();
    }
    exports_wharf_storage_driver_writer_t *w = u != NULL ? malloc(sizeof *w) : NULL;
    uint8_t *copy = w != NULL ? malloc(path->len) : NULL;
    // Parked at once (replacing an earlier uncommitted upload), so a writer dropped without
    // close leaves its upload resumable, like close.
    if (copy == NULL || !parked_set(s, path->ptr, path->len, u)) {
        free(copy);
        free(w);
        upload_unref(u);
        return fail_oom(err, "open-writer", path);
    }
    memcpy(copy, path->ptr, path->len);
    w->store = s;
    w->path = copy;
    w->path_len = path->len;
    w->upload = u;
    w->state = OPEN;
    w->accepted = u->len;
    ret->writer = exports_wharf_storage_driver_writer_new(w);
    ret->size = u->len;
    ret->part_size = 0; // bytes come through write
    ret->first_part = 0;
    return true;
}

bool exports_wharf_storage_driver_method_driver_open_writer(
    exports_wharf_storage_driver_borrow_driver_t self, str_t *path, bool append,
    exports_wharf_storage_driver_opened_writer_t *ret, werr_t *err) {
    bool ok = open_writer(self->store, path, append, ret, err);
    storage_driver_string_free(path);
    return ok;
}

static void fill_info(file_info_t *info, str_t path, const node_t *node) {
    info->path = path;
    if (node->is_dir) {
        info->size = 0;
        info->mod_time = EPOCH;
        info->is_dir = true;
    } else {
        info->size = node->content->len;
        info->mod_time = node->mod_time;
        info->is_dir = false;
    }
}

bool exports_wharf_storage_driver_method_driver_stat(
    exports_wharf_storage_driver_borrow_driver_t self, str_t *path, file_info_t *ret,
    werr_t *err) {
    bool ok;
    node_t *node = NULL;
    if (!path_valid(path, true)) {
        ok = fail_invalid_path(err, path);
    } else if ((node = lookup(self->store, path->ptr, path->len)) == NULL) {
        ok = fail_not_found(err, path->ptr, path->len);
    } else {
        // The answer's path is the argument itself: handed on, not copied.
        fill_info(ret, *path, node);
        *path = (str_t){NULL, 0};
        ok = true;
    }
    storage_driver_string_free(path);
    return ok;
}

static bool list(store_t *s, const str_t *path, storage_driver_list_string_t *ret, werr_t *err) {
    if (!path_valid(path, true)) return fail_invalid_path(err, path);
    node_t *dir = lookup(s, path->ptr, path->len);
    if (dir == NULL || !dir->is_dir) return fail_not_found(err, path->ptr, path->len);
    size_t base = is_root(path->ptr, path->len) ? 0 : path->len;
    ret->ptr = NULL;
    ret->len = 0;
    if (dir->nkids == 0) return true;
    if (dir->nkids > SIZE_MAX / sizeof(str_t)) return fail_oom(err, "list", path);
    ret->ptr = malloc(dir->nkids * sizeof(str_t));
    if (ret->ptr == NULL) return fail_oom(err, "list", path);
    for (size_t i = 0; i < dir->nkids; i++) {
        const node_t *k = dir->kids[i];
        size_t n = base + 1 + k->name_len;
        uint8_t *p = malloc(n);
        if (p == NULL) {
            for (size_t j = 0; j < i; j++) free(ret->ptr[j].ptr);
            free(ret->ptr);
            ret->ptr = NULL;
            ret->len = 0;
            return fail_oom(err, "list", path);
        }
        memcpy(p, path->ptr, base);
        p[base] = '/';
        memcpy(p + base + 1, k->name, k->name_len);
        ret->ptr[i] = (str_t){p, n};
    }
    ret->len = dir->nkids;
    return true;
}

bool exports_wharf_storage_driver_method_driver_list(
    exports_wharf_storage_driver_borrow_driver_t self, str_t *path,
    storage_driver_list_string_t *ret, werr_t *err) {
    bool ok = list(self->store, path, ret, err);
    storage_driver_string_free(path);
    return ok;
}

static bool move(store_t *s, const str_t *source, const str_t *dest, werr_t *err) {
    if (!path_valid(source, false)) return fail_invalid_path(err, source);
    if (!path_valid(dest, false)) return fail_invalid_path(err, dest);
    const uint8_t *sp = source->ptr, *dp = dest->ptr;
    size_t sn = source->len, dn = dest->len;
    node_t *node = lookup(s, sp, sn);
    if (node == NULL) return fail_not_found(err, sp, sn);
    if (same_path(sp, sn, dp, dn)) return true;
    if (is_ancestor(sp, sn, dp, dn)) {
        return FAIL_BACKEND(err, LIT("cannot move "), BYTES(sp, sn), LIT(" into itself ("),
                            BYTES(dp, dn), LIT(")"));
    }
    size_t blocking = file_ancestor(s, dp, dn);
    if (blocking > 0) {
        return FAIL_BACKEND(err, LIT("cannot move "), BYTES(sp, sn), LIT(" to "), BYTES(dp, dn),
                            LIT(": "), BYTES(dp, blocking), LIT(" is a file"));
    }
    // Everything that can fail first, so a failure leaves the tree as it was.
    size_t dir_len = parent_len(dp, dn);
    size_t name_len = dn - dir_len - 1;
    uint8_t *name = malloc(name_len);
    node_t *dir = name != NULL ? make_dirs(s, dp, dir_len) : NULL;
    if (dir == NULL ||
        !reserve((void **)&dir->kids, &dir->capkids, dir->nkids + 1, sizeof(node_t *))) {
        free(name);
        prune(s, dp, dir_len);
        return fail_oom(err, "move", source);
    }
    memcpy(name, dp + dir_len + 1, name_len);
    // Then, with nothing left to fail: the node leaves its parent, takes its new name, and
    // replaces whatever was at the destination (which cannot contain `dir`, and no longer
    // contains the node).
    node_detach(node);
    free(node->name);
    node->name = name;
    node->name_len = name_len;
    size_t i;
    if (dir_find(dir, name, name_len, &i)) {
        node_t *old = dir->kids[i];
        dir->kids[i] = node;
        node->parent = dir;
        old->parent = NULL;
        node_free(old);
    } else {
        dir_insert(dir, i, node);
    }
    // The source's old parents may be empty now; found again by path, since the replaced
    // destination may have been one of them.
    prune(s, sp, parent_len(sp, sn));
    return true;
}

bool exports_wharf_storage_driver_method_driver_move(exports_wharf_storage_driver_borrow_driver_t self,
                                                     str_t *source, str_t *dest, werr_t *err) {
    bool ok = move(self->store, source, dest, err);
    storage_driver_string_free(source);
    storage_driver_string_free(dest);
    return ok;
}

static bool delete(store_t *s, const str_t *path, werr_t *err) {
    if (!path_valid(path, false)) return fail_invalid_path(err, path);
    node_t *node = lookup(s, path->ptr, path->len);
    if (node == NULL) return fail_not_found(err, path->ptr, path->len);
    node_detach(node);
    node_free(node);
    prune(s, path->ptr, parent_len(path->ptr, path->len));
    for (size_t i = s->nparked; i-- > 0;) {
        const parked_t *p = &s->parked[i];
        if (same_path(p->path, p->len, path->ptr, path->len) ||
            is_ancestor(path->ptr, path->len, p->path, p->len)) {
            parked_remove_at(s, i);
        }
    }
    return true;
}

bool exports_wharf_storage_driver_method_driver_delete(
    exports_wharf_storage_driver_borrow_driver_t self, str_t *path, werr_t *err) {
    bool ok = delete(self->store, path, err);
    storage_driver_string_free(path);
    return ok;
}

bool exports_wharf_storage_driver_method_driver_redirect_url(
    exports_wharf_storage_driver_borrow_driver_t self,
    exports_wharf_storage_driver_redirect_method_t method, str_t *path, uint64_t expiry_seconds,
    storage_driver_option_string_t *ret, werr_t *err) {
    (void)self;
    (void)method;
    (void)expiry_seconds;
    (void)err;
    ret->is_some = false; // none: the registry serves the content
    storage_driver_string_free(path);
    return true;
}

// --- walk

enum position { SKIP, DESCEND, EMIT };

typedef struct resume {
    bool subtree; // after-subtree rather than after
    const uint8_t *point;
    size_t len;
} resume_t;

// Where `path` stands relative to the resume point: SKIP (at or before it, nothing after it
// underneath), DESCEND (not emitted, but entries after it lie underneath), EMIT (after it).
static enum position position(const uint8_t *path, size_t n, const resume_t *r) {
    int order = walk_cmp(path, n, r->point, r->len);
    if (!r->subtree) {
        if (order > 0) return EMIT;
        if (order == 0 || is_ancestor(path, n, r->point, r->len)) return DESCEND;
        return SKIP;
    }
    if (order > 0) return is_ancestor(r->point, r->len, path, n) ? SKIP : EMIT;
    if (order < 0 && is_ancestor(path, n, r->point, r->len)) return DESCEND;
    return SKIP;
}

// A growable path: the directory being walked, then a child's name.
typedef struct pathbuf {
    uint8_t *p;
    size_t len, cap;
} pathbuf_t;

static bool pathbuf_child(pathbuf_t *b, size_t dir_len, const node_t *kid) {
    if (kid->name_len > SIZE_MAX - dir_len - 1) return false;
    size_t n = dir_len + 1 + kid->name_len;
    if (!reserve((void **)&b->p, &b->cap, n, 1)) return false;
    b->p[dir_len] = '/';
    memcpy(b->p + dir_len + 1, kid->name, kid->name_len);
    b->len = n;
    return true;
}

// The first child of `dir` (at path b[0..dir_len]) that the resume point does not skip:
// siblings run SKIP…, at most one DESCEND, then EMIT…, so a binary search finds it.
static bool first_not_skipped(const node_t *dir, pathbuf_t *b, size_t dir_len, const resume_t *r,
                              size_t *first) {
    size_t lo = 0, hi = dir->nkids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (!pathbuf_child(b, dir_len, dir->kids[mid])) return false;
        if (position(b->p, b->len, r) == SKIP) lo = mid + 1;
        else hi = mid;
    }
    *first = lo;
    return true;
}

typedef struct frame {
    const node_t *dir;
    size_t next;     // the next child to visit
    size_t dir_len;  // the directory's path length in the path buffer
    bool resuming;   // entries here may still be at or before the resume point
} frame_t;

typedef struct walk_out {
    file_info_t *entries;
    size_t len, cap;
} walk_out_t;

static void walk_out_free(walk_out_t *out) {
    exports_wharf_storage_driver_list_file_info_t list = {out->entries, out->len};
    exports_wharf_storage_driver_list_file_info_free(&list);
    if (out->len == 0) free(out->entries);
    out->entries = NULL;
    out->len = out->cap = 0;
}

// The entries under `top` (at path b[0..b->len]) in walk order, after `r` (NULL: all), at most
// `limit`; *done tells whether there are no more. Once a directory is emitted, everything under
// it is too, so the resume point is only consulted on the way to it. False when out of memory.
static bool walk_tree(const node_t *top, pathbuf_t *b, const resume_t *r, size_t limit,
                      walk_out_t *out, bool *done) {
    frame_t *stack = NULL;
    size_t depth = 0, cap = 0;
    bool ok = false;
    *done = true;
    size_t first = 0;
    size_t top_len = b->len;
    if (r != NULL && !first_not_skipped(top, b, top_len, r, &first)) goto end;
    if (!reserve((void **)&stack, &cap, 1, sizeof *stack)) goto end;
    stack[depth++] = (frame_t){top, first, top_len, r != NULL};
    while (depth > 0) {
        frame_t *f = &stack[depth - 1];
        if (f->next >= f->dir->nkids) {
            depth--;
            continue;
        }
        const node_t *kid = f->dir->kids[f->next++];
        bool resuming = f->resuming;
        if (!pathbuf_child(b, f->dir_len, kid)) goto end;
        enum position pos = resuming ? position(b->p, b->len, r) : EMIT;
        if (pos == SKIP) continue;
        if (pos == EMIT) {
            if (out->len == limit) { // one more entry exists
                *done = false;
                break;
            }
            if (!reserve((void **)&out->entries, &out->cap, out->len + 1, sizeof(file_info_t)))
                goto end;
            str_t path = text_copy(b->p, b->len);
            if (path.ptr == NULL) goto end;
            fill_info(&out->entries[out->len++], path, kid);
        }
        if (kid->is_dir && kid->nkids > 0) {
            bool below = resuming && pos != EMIT;
            size_t kid_len = b->len;
            size_t start = 0;
            if (below && !first_not_skipped(kid, b, kid_len, r, &start)) goto end;
            if (!reserve((void **)&stack, &cap, depth + 1, sizeof *stack)) goto end;
            stack[depth++] = (frame_t){kid, start, kid_len, below};
        }
    }
    ok = true;
end:
    free(stack);
    return ok;
}

static bool walk(store_t *s, const str_t *path, const resume_t *r, uint32_t limit,
                 exports_wharf_storage_driver_walk_page_t *ret, werr_t *err) {
    if (!path_valid(path, true)) return fail_invalid_path(err, path);
    const node_t *dir = lookup(s, path->ptr, path->len);
    if (dir == NULL || !dir->is_dir) return fail_not_found(err, path->ptr, path->len);
    pathbuf_t b = {NULL, 0, 0};
    size_t base = is_root(path->ptr, path->len) ? 0 : path->len;
    walk_out_t out = {NULL, 0, 0};
    bool done = true;
    bool ok = reserve((void **)&b.p, &b.cap, base > 0 ? base : 1, 1);
    if (ok) {
        memcpy(b.p, path->ptr, base);
        b.len = base;
        ok = walk_tree(dir, &b, r, limit > 0 ? limit : 1, &out, &done);
    }
    free(b.p);
    if (!ok) {
        walk_out_free(&out);
        return fail_oom(err, "walk", path);
    }
    ret->entries = (exports_wharf_storage_driver_list_file_info_t){out.entries, out.len};
    if (out.len == 0) { // nothing to hand over (the post-return frees only non-empty lists)
        free(out.entries);
        ret->entries.ptr = NULL;
    }
    ret->done = done;
    return true;
}

bool exports_wharf_storage_driver_method_driver_walk(
    exports_wharf_storage_driver_borrow_driver_t self, str_t *path,
    exports_wharf_storage_driver_resume_point_t *maybe_resume, uint32_t limit,
    exports_wharf_storage_driver_walk_page_t *ret, werr_t *err) {
    resume_t resume, *r = NULL;
    if (maybe_resume != NULL) {
        bool subtree = maybe_resume->tag == EXPORTS_WHARF_STORAGE_DRIVER_RESUME_POINT_AFTER_SUBTREE;
        const str_t *point = subtree ? &maybe_resume->val.after_subtree : &maybe_resume->val.after;
        resume = (resume_t){subtree, point->ptr, point->len};
        r = &resume;
    }
    bool ok = walk(self->store, path, r, limit, ret, err);
    if (maybe_resume != NULL) exports_wharf_storage_driver_resume_point_free(maybe_resume);
    storage_driver_string_free(path);
    return ok;
}

// --- writer

static bool refuse(exports_wharf_storage_driver_writer_t *w, const char *op, werr_t *err) {
    return FAIL_BACKEND(err, CSTR(op), LIT(": writer already "), CSTR(STATE_NAMES[w->state]));
}

// Removes this writer's upload from the parked ones (not a newer one at the same path).
static void forget(exports_wharf_storage_driver_writer_t *w) {
    ptrdiff_t i = parked_find(w->store, w->path, w->path_len);
    if (i >= 0 && w->store->parked[i].upload == w->upload) parked_remove_at(w->store, (size_t)i);
}

// Parks the upload again if a delete of the path removed it meanwhile (but never over a newer
// upload another writer started).
static bool repark(exports_wharf_storage_driver_writer_t *w) {
    if (parked_find(w->store, w->path, w->path_len) >= 0) return true;
    return parked_set(w->store, w->path, w->path_len, w->upload);
}

bool exports_wharf_storage_driver_method_writer_write(exports_wharf_storage_driver_borrow_writer_t self,
                                                      bytes_t *data, werr_t *err) {
    bool ok;
    if (self->state != OPEN) {
        ok = refuse(self, "write", err);
    } else if (upload_push(self->upload, data->ptr, data->len)) {
        self->accepted += data->len;
        data->len = 0; // taken by the upload
        ok = true;
    } else {
        str_t path = {self->path, self->path_len};
        ok = fail_oom(err, "write", &path);
    }
    storage_driver_list_u8_free(data);
    return ok;
}

bool exports_wharf_storage_driver_method_writer_begin_part(
    exports_wharf_storage_driver_borrow_writer_t self, uint64_t length,
    exports_wharf_storage_driver_part_kind_t kind,
    exports_wharf_storage_driver_own_output_stream_t *ret, werr_t *err) {
    (void)self;
    (void)length;
    (void)kind;
    (void)ret;
    return fail_unsupported(err, "begin-part"); // part-size is 0: the host calls write
}

bool exports_wharf_storage_driver_method_writer_end_part(
    exports_wharf_storage_driver_borrow_writer_t self, uint64_t written, werr_t *err) {
    (void)self;
    (void)written;
    return fail_unsupported(err, "end-part");
}

uint64_t exports_wharf_storage_driver_method_writer_size(exports_wharf_storage_driver_borrow_writer_t self) {
    return self->accepted;
}

bool exports_wharf_storage_driver_method_writer_close(exports_wharf_storage_driver_borrow_writer_t self,
                                                      werr_t *err) {
    switch (self->state) {
    case OPEN:
        if (!repark(self)) {
            str_t path = {self->path, self->path_len};
            return fail_oom(err, "close", &path);
        }
        self->state = CLOSED;
        return true;
    case COMMITTED:
    case CANCELLED:
        return true; // only frees resources
    default:
        return refuse(self, "close", err);
    }
}

bool exports_wharf_storage_driver_method_writer_commit(exports_wharf_storage_driver_borrow_writer_t self,
                                                       werr_t *err) {
    if (self->state != OPEN) return refuse(self, "commit", err);
    str_t path = {self->path, self->path_len};
    content_t *c = upload_freeze(self->upload);
    if (c == NULL) return fail_oom(err, "commit", &path);
    // commit_file checks before it changes anything, so a refused commit leaves the upload
    // whole.
    if (!commit_file(self->store, &path, c, err)) {
        content_unref(c);
        return false;
    }
    forget(self);
    self->state = COMMITTED;
    return true;
}

bool exports_wharf_storage_driver_method_writer_cancel(exports_wharf_storage_driver_borrow_writer_t self,
                                                       werr_t *err) {
    switch (self->state) {
    case OPEN:
    case CLOSED:
        self->state = CANCELLED;
        forget(self);
        upload_clear(self->upload);
        return true;
    case CANCELLED:
        return true;
    default:
        return refuse(self, "cancel", err);
    }
}

void exports_wharf_storage_driver_writer_destructor(exports_wharf_storage_driver_writer_t *w) {
    // Dropped while open: like close, the upload stays resumable (never committed).
    if (w->state == OPEN && !repark(w)) {
        LOG(WARN, LIT("out of memory parking the upload of "), BYTES(w->path, w->path_len),
            LIT(": it is lost"));
    }
    upload_unref(w->upload);
    free(w->path);
    free(w);
}
