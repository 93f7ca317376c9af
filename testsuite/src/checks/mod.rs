//! The checks, one module per CONTRACT §6 group. Each check is an
//! `async fn(Arc<dyn Fixture>, RunOptions) -> CheckResult` that runs on its own fresh, empty
//! storage and leaves no files behind; the list and its order live in
//! [`conformance_tests!`](crate::conformance_tests), which also builds [`all`].
//!
//! Where the reference's 36 tests (`registry/storage/driver/testsuites`) went:
//!
//! | reference | check |
//! |---|---|
//! | RootExists, ValidPaths, InvalidPaths | `paths::{root_exists, valid_paths, invalid_paths}` |
//! | WriteRead1–4, WriteReadNonUTF8 | `content::put_get_*` |
//! | Truncate, PutContentMultipleTimes, ReadNonexistent | `content::{put_truncates, put_twice, get_missing}` |
//! | WriteReadStreams1–4, WriteReadStreamsNonUTF8 | `streams::writer_{1_byte, 2_bytes_utf8, 32_bytes, 1_mib, non_utf8}` |
//! | WriteReadLargeStreams | `streams::writer_large_stream_sha256` |
//! | ReaderWithOffset, ReadNonexistentStream | `streams::{reader_offsets, reader_missing}` |
//! | ContinueStreamAppendLarge / Small | `resume::append_three_sessions_{10_mib, 32_bytes}` |
//! | WriteZeroByteStreamThenAppend / ContentThenAppend | `resume::{append_after_zero_byte_commit, append_after_empty_put}` |
//! | StatCall | `stat::{stat_missing, stat_file, stat_mod_time_advances, stat_directory, stat_root}` |
//! | List | `list::{list_missing, list_tree}` |
//! | Move, MoveOverwrite, MoveNonexistent, MoveInvalid | `rename::{move_file, move_overwrite, move_missing_source, move_source_under_file}` |
//! | Delete, DeleteNonexistent, DeleteFolder, DeleteOnlyDeletesSubpaths | `delete::{delete_file, delete_missing, delete_folder, delete_only_subpaths}` |
//! | RedirectURL | `redirect::redirect_get_and_head` |
//! | ConcurrentStreamReads, ConcurrentFileStreams | `concurrency::{concurrent_readers, concurrent_writers}` |
//!
//! The reference's walk cases are `walk::walk_*`; every other check turns a decision of
//! CONTRACT.md into a test.

pub(crate) mod concurrency;
pub(crate) mod content;
pub(crate) mod delete;
pub(crate) mod list;
pub(crate) mod paths;
pub(crate) mod redirect;
pub(crate) mod rename;
pub(crate) mod resume;
pub(crate) mod stat;
pub(crate) mod streams;
pub(crate) mod walk;

use crate::Check;

/// Every check, in CONTRACT §6 order.
pub(crate) fn all() -> Vec<Check> {
    crate::conformance_tests!(@list [checks])
}
