//! What Wharf's object-store drivers (s3, azure, gcs, swift) share, so that each one implements
//! only its service's calls:
//!
//! - [`KeyLayout`]: where a contract path lives in a bucket or container — the reference
//!   registry's layout, `<rootdirectory>/<path without its leading />` — and back;
//! - [`PartPipeline`]: a writer's buffer, its parts in flight (a bounded number, sent in the
//!   background) and the bytes the service acknowledged, in order, which is all `size()` may
//!   count. A driver plugs in its part call (an S3 part, an Azure block, a Swift segment, a GCS
//!   resumable chunk) and its commit;
//! - [`walk`]: the walk on flat listings (one request per page, not one per directory and file),
//!   given a store's listing call ([`FlatListing`]).

#![forbid(unsafe_code)]

mod layout;
mod parts;
pub mod walk;

pub use layout::KeyLayout;
pub use parts::PartPipeline;
pub use walk::{FlatListing, name_is_visible};
